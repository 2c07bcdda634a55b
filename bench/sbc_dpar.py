"""Simulation-based calibration of a distributional Gaussian model, the cumulative family, a
zero-inflated Poisson with ``zi ~ x``, the categorical family and the other zero-inflated and
hurdle families (issue 17).

    python bench/sbc_dpar.py                          # every model, 200 simulations each
    python bench/sbc_dpar.py --sims 100 --model cumulative   # one; the others' results kept

The machinery is ``bench/sbc.py``'s (one compiled NUTS program over every simulated dataset,
data as arguments, ranks of the truths among ``L`` thinned draws, chi-square and KS uniformity
tests); the models, on a fixed design of 8 groups x 12 rows (x ~ N(0, 1)), with explicit
priors (SBC's identity needs priors fixed before the data):

- ``gaussian_sigma``: ``y ~ x + (1 | g); sigma ~ x``, log sigma linear in x;
- ``cumulative``: ``y ~ x + (1 | g)``, cumulative (logit), K = 4 categories. The three
  thresholds have one prior (the key ``Intercept``), so drawing them independently and
  sorting (order statistics) is the ordered prior the model has: the product of the priors on
  the ordered set;
- ``zero_inflated_poisson``: ``y ~ x + (1 | g); zi ~ x`` (logit zi linear in x);
- ``categorical``: ``y ~ x + (1 | g)``, K = 3: mu2 and mu3 each with an intercept, a slope
  and a group term on g (``sd_g__mu2_Intercept``...).

Ranked: every population coefficient, threshold, group SD and dpar coefficient, and the group
effect of the first level (``r_g[g0,Intercept]``). Each simulation draws its parameters from
the priors and a dataset from the model (``model.simulate``) and fits it with NUTS
(non-centred effects). Results: ``bench/results/sbc_dpar.json`` and ``sbc_dpar_ranks.png``.
The committed runs: ``python bench/sbc_dpar.py --sims 200`` (the first two models) and
``python bench/sbc_dpar.py --model zero_inflated_poisson --model categorical`` (200
simulations each, 2 chains x (300 + 300), L = 49; 98, 56, 99 and 77 s on two shared cores):
every rank histogram uniform; the smallest of the first two models' 24 p-values (chi-square
over 10 bins, KS) 0.065 (cumulative ``b_Intercept[1]``), of the other two's 24 0.016
(categorical ``b_mu3_x``, KS; of 24 uniform p-values the smallest is under 0.016 with
probability 0.32). Fits with a divergence: 13 of the 200 distributional Gaussian ones (26 in
all), 2 cumulative, 29 zero-inflated (44), 10 categorical (16). ``tests/test_sbc_dpar.py``
runs a reduced version of the first two (the other two stay here: that file takes ~1.5 min).
The six other zero-inflated and hurdle families (``CASES``' last six; ``hurdle_poisson`` with
``hu ~ x``): ``python bench/sbc_dpar.py --model zero_inflated_negbinomial ...`` (200 each, 3
minutes in all): every histogram uniform, the smallest of 72 p-values 0.009 (``hurdle_poisson``
``b_hu_Intercept``, KS; Bonferroni's family-wise 5% bound is 0.0007).
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).parent))
import sbc  # noqa: E402

GROUPS, ROWS = 8, 12
K = 4  # ordinal categories
CASES = {  # name: (formula, family, explicit priors)
    "gaussian_sigma": ("y ~ x + (1 | g); sigma ~ x", "gaussian",
                       {"Intercept": "normal(0, 1)", "b": "normal(0, 1)", "sd": "half_normal(1)",
                        "Intercept_sigma": "normal(0, 0.5)", "b_sigma": "normal(0, 0.5)"}),
    "cumulative": ("y ~ x + (1 | g)", "cumulative",
                   {"Intercept": "normal(0, 1.5)", "b": "normal(0, 1)",
                    "sd": "half_normal(1)"}),
    "zero_inflated_poisson": ("y ~ x + (1 | g); zi ~ x", "zero_inflated_poisson",
                              {"Intercept": "normal(0, 1)", "b": "normal(0, 0.5)",
                               "sd": "half_normal(0.5)", "Intercept_zi": "normal(-1, 1)",
                               "b_zi": "normal(0, 1)"}),
    "categorical": ("y ~ x + (1 | g)", "categorical",
                    {"Intercept_mu2": "normal(0, 1.5)", "b_mu2": "normal(0, 1)",
                     "sd_mu2": "half_normal(1)", "Intercept_mu3": "normal(0, 1.5)",
                     "b_mu3": "normal(0, 1)", "sd_mu3": "half_normal(1)"}),
}
_COUNT = {"Intercept": "normal(0.5, 0.5)", "b": "normal(0, 0.5)", "sd": "half_normal(0.5)"}
CASES.update({  # the other zero-inflated and hurdle families: constant zi / hu, or hu ~ x
    "zero_inflated_negbinomial": ("y ~ x + (1 | g)", "zero_inflated_negbinomial",
                                  {**_COUNT, "phi": "gamma(4, 1)", "zi": "beta(2, 5)"}),
    "zero_inflated_binomial": ("y | trials(n) ~ x + (1 | g)", "zero_inflated_binomial",
                               {"Intercept": "normal(0, 1)", "b": "normal(0, 0.5)",
                                "sd": "half_normal(0.5)", "zi": "beta(2, 5)"}),
    "hurdle_poisson": ("y ~ x + (1 | g); hu ~ x", "hurdle_poisson",
                       {**_COUNT, "Intercept_hu": "normal(-0.5, 1)", "b_hu": "normal(0, 1)"}),
    "hurdle_negbinomial": ("y ~ x + (1 | g)", "hurdle_negbinomial",
                           {**_COUNT, "phi": "gamma(4, 1)", "hu": "beta(2, 3)"}),
    "hurdle_gamma": ("y ~ x + (1 | g)", "hurdle_gamma",
                     {**_COUNT, "shape": "gamma(4, 1)", "hu": "beta(2, 3)"}),
    "hurdle_lognormal": ("y ~ x + (1 | g)", "hurdle_lognormal",
                         {**_COUNT, "sigma": "half_normal(1)", "hu": "beta(2, 3)"}),
})
TRIALS = 10  # zero_inflated_binomial's trials per row
CATEGORIES = {"cumulative": K, "categorical": 3}  # placeholder responses: every category


def sbc_model(name: str, seed: int = 0):
    """The model on the fixed design; the response is a placeholder in the family's support
    (every category for the ordinal one) that each simulation replaces."""
    import formulang as fl

    formula, family, priors = CASES[name]
    rng = np.random.default_rng(seed)
    g = np.repeat(np.arange(GROUPS), ROWS)
    k = CATEGORIES.get(name)
    y = np.arange(g.size) % k + 1 if k else np.zeros(g.size)
    design = pd.DataFrame({"g": [f"g{i}" for i in g], "x": rng.normal(size=g.size), "y": y,
                           "n": TRIALS})
    return fl.Model(formula, design, family=family, priors=priors, reparam="noncentered")


def response(model, y: np.ndarray) -> dict:
    """The data pytree with a simulated response; categories (ordinal or not) as the model's
    integer category codes 0..K-1 (what ``simulate`` gives, and the sampler's ``y``)."""
    data = sbc.with_response(model, y)
    if model.plan.family.spec.probabilities is not None:
        k = model.bound.spec.response_levels.k
        if not np.isin(y, np.arange(k)).all():
            raise ValueError("simulate's categories are no longer the codes 0..K-1")
        data["y"] = np.asarray(y, dtype=model.data["y"].dtype)
    return data


def simulate_and_fit(name: str, sims: int, draws: int, tune: int, chains: int = 2,
                     seed: int = 0, batch: int | None = None):
    """(model, simulation, sampler sites, seconds)."""
    model = sbc_model(name)
    start = time.perf_counter()
    sim = model.simulate(seed=seed, draws=sims)
    data = [response(model, sim.y[i]) for i in range(sims)]
    sites = sbc.fit_data(model, data, draws=draws, tune=tune, chains=chains, seed=seed + 1,
                         batch=batch)
    return model, sim, sites, time.perf_counter() - start


def run(name: str, sims: int, draws: int, tune: int, chains: int, thin_to: int, bins: int,
        seed: int) -> dict:
    model, sim, sites, seconds = simulate_and_fit(name, sims, draws, tune, chains, seed)
    r = sbc.ranks(model, sim, sites, thin_to)
    div = sites["diverging"].reshape(sims, -1).sum(axis=1)
    formula, family, priors = CASES[name]
    return {
        "model": formula, "family": family, "priors": priors,
        "design": f"{GROUPS} groups x {ROWS} rows", "simulations": sims, "chains": chains,
        "tune": tune, "draws": draws, "L": thin_to, "bins": bins, "seed": seed,
        "seconds": round(seconds, 1),
        "divergent_simulations": int(np.sum(div > 0)), "divergences": int(np.sum(div)),
        "parameters": {k: sbc.uniformity(v, thin_to, bins) for k, v in r.items()},
        "ranks": {k: v.tolist() for k, v in r.items()},
    }


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", choices=list(CASES), action="append")
    ap.add_argument("--sims", type=int, default=200)
    ap.add_argument("--draws", type=int, default=300, help="draws per chain")
    ap.add_argument("--tune", type=int, default=300, help="warm-up per chain")
    ap.add_argument("--chains", type=int, default=2)
    ap.add_argument("--thin-to", type=int, default=49, help="L: posterior draws per rank")
    ap.add_argument("--bins", type=int, default=10)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    out = {"command": "python bench/sbc_dpar.py " + " ".join(argv or sys.argv[1:]),
           "models": {}, "machine": {"platform": platform.platform(),
                                     "python": sys.version.split()[0]}}
    ranks = {}
    for name in args.model or list(CASES):
        res = run(name, args.sims, args.draws, args.tune, args.chains, args.thin_to,
                  args.bins, args.seed)
        out["models"][name] = res
        ranks.update({f"{name}: {k}": np.asarray(v) for k, v in res["ranks"].items()})
        for param, t in res["parameters"].items():
            print(f"{name:14s} {param:20s} chi2 p = {t['chi2_p']:.3f}  KS p = {t['ks_p']:.3f}  "
                  f"{t['counts']}")
        print(f"{name}: {args.sims} simulations in {res['seconds']:.0f} s; "
              f"{res['divergent_simulations']} with divergences ({res['divergences']} in all)",
              flush=True)
    sbc.RESULTS.mkdir(exist_ok=True)
    path = sbc.RESULTS / "sbc_dpar.json"
    if args.model and path.exists():  # some models rerun: the others' results stay
        kept = json.loads(path.read_text())
        runs = kept.get("commands", [kept.get("command")])
        out["commands"] = [c for c in runs if c] + [out.pop("command")]
        out["models"] = {**kept["models"], **out["models"]}
        ranks = {f"{name}: {k}": np.asarray(v) for name, res in out["models"].items()
                 for k, v in res["ranks"].items()}
    path.write_text(json.dumps(out, indent=1))
    sims = sorted({res["simulations"] for res in out["models"].values()})
    sbc.plot(ranks, args.thin_to, args.bins, sbc.RESULTS / "sbc_dpar_ranks.png",
             f"SBC of issue 17's models: {'/'.join(map(str, sims))} simulations each, "
             f"L = {args.thin_to}\n")


if __name__ == "__main__":
    main()
