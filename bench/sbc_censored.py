"""Simulation-based calibration of censored models (issue 18): a continuous and a discrete family.

    python bench/sbc_censored.py                  # both families, 200 simulations each
    python bench/sbc_censored.py --sims 100 --family poisson

The machinery is ``bench/sbc.py``'s (one compiled NUTS program over every simulated dataset,
data as arguments, ranks of the truths among ``L`` thinned draws, chi-square and KS uniformity
tests); the models are censored:

- ``lognormal``: ``y | cens(c) ~ x + (1 | g)``; rows below a per-row detection limit are
  left censored (``P(Y <= lo)``), rows above a per-row follow-up time right censored
  (``P(Y > hi)``);
- ``poisson``: the same formula with counts; rows at or below ``lo`` are reported as
  "at most lo" (left, ``P(Y <= lo)``), rows above ``hi`` as "more than hi" (right,
  ``P(Y > hi)``, as brms).

The censoring points are fixed per row before any simulation: quantiles of the prior
predictive distribution of that row (:func:`limits`), so they depend on neither the parameters
nor the data of a simulation, and censoring is ignorable, as SBC needs: the posterior given the
censored data is the censored likelihood times the prior. About 45% of all rows are censored
(``censored_fraction`` in the JSON; each simulation's own fraction varies with its parameters).
Each simulation draws its parameters from the (explicit) priors, the uncensored responses from
the model (``model.simulate``), censors them at the fixed points, and fits the censored model.
Results: ``bench/results/sbc_censored.json`` and ``sbc_censored_ranks.png``.
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

FORMULA = "y | cens(c) ~ x + (1 | g)"
GROUPS, ROWS = 6, 8
# family -> (explicit priors, quantiles of each row's prior predictive: left and right limits)
CASES = {
    "lognormal": ({"Intercept": "normal(0, 1)", "b": "normal(0, 1)", "sd": "half_normal(1)",
                   "sigma": "half_normal(1)"}, (0.15, 0.7)),
    "poisson": ({"Intercept": "normal(1.5, 0.5)", "b": "normal(0, 0.5)",
                 "sd": "half_normal(0.5)"}, (0.15, 0.6)),
}


def censored_model(family: str, seed: int = 0):
    """The censored model on a fixed design (6 groups x 8 rows, x ~ N(0, 1)); the response
    and censoring codes are placeholders that every simulation replaces."""
    import formulang as fl

    rng = np.random.default_rng(seed)
    design = pd.DataFrame({"g": np.repeat([f"g{i}" for i in range(GROUPS)], ROWS),
                           "x": rng.normal(size=GROUPS * ROWS), "y": 1.0, "c": "none"})
    return fl.Model(FORMULA, design, family=family, priors=CASES[family][0],
                    reparam="noncentered")


def limits(model, family: str, draws: int = 4000, seed: int = 12345):
    """Per row, the left and right censoring points: quantiles of that row's prior predictive
    distribution (from ``draws`` draws with their own seed), fixed before any simulation.
    Discrete families: whole numbers (``floor``)."""
    q_lo, q_hi = CASES[family][1]
    y = model.simulate(seed=seed, draws=draws).y
    lo, hi = np.quantile(y, q_lo, axis=0), np.quantile(y, q_hi, axis=0)
    if model.plan.family.spec.discrete:
        lo, hi = np.floor(lo), np.maximum(np.floor(hi), np.floor(lo) + 1)
    return lo, hi


def censor(y: np.ndarray, lo: np.ndarray, hi: np.ndarray, discrete: bool):
    """Observed values and codes (-1 left, 0 none, 1 right) of responses ``y`` (sims, rows)
    censored at the fixed points ``lo`` and ``hi``: a discrete ``y <= lo`` is reported as
    ``lo``, a continuous ``y < lo`` too; ``y > hi`` as ``hi``."""
    left = (y <= lo) if discrete else (y < lo)
    right = y > hi
    codes = np.where(right, 1, np.where(left, -1, 0)).astype(np.int32)
    return np.where(right, hi, np.where(left, lo, y)), codes


def simulate_and_fit(family: str, sims: int, draws: int, tune: int, chains: int = 2,
                     seed: int = 0, batch: int | None = None, observe_censored: bool = False):
    """(model, simulation, sampler sites, censoring codes, seconds). ``observe_censored``
    fits the censored values as if observed (a wrong likelihood, to check SBC detects it)."""
    model = censored_model(family)
    start = time.perf_counter()
    lo, hi = limits(model, family)
    sim = model.simulate(seed=seed, draws=sims)
    y, codes = censor(np.asarray(sim.y), lo, hi, model.plan.family.spec.discrete)
    data = []
    for i in range(sims):
        d = sbc.with_response(model, y[i])
        d["cens"] = np.zeros_like(codes[i]) if observe_censored else codes[i]
        data.append(d)
    sites = sbc.fit_data(model, data, draws=draws, tune=tune, chains=chains, seed=seed + 1,
                         batch=batch)
    return model, sim, sites, codes, time.perf_counter() - start


def run(family: str, sims: int, draws: int, tune: int, chains: int, thin_to: int, bins: int,
        seed: int) -> dict:
    model, sim, sites, codes, seconds = simulate_and_fit(family, sims, draws, tune, chains, seed)
    r = sbc.ranks(model, sim, sites, thin_to)
    div = sites["diverging"].reshape(sims, -1).sum(axis=1)
    per_sim = (codes != 0).mean(axis=1)
    return {
        "model": FORMULA, "family": family, "priors": CASES[family][0],
        "censoring_quantiles": CASES[family][1], "design": f"{GROUPS} groups x {ROWS} rows",
        "censored_fraction": float((codes != 0).mean()),
        "left_fraction": float((codes == -1).mean()), "right_fraction": float((codes == 1).mean()),
        "censored_fraction_per_simulation": {"min": float(per_sim.min()),
                                             "median": float(np.median(per_sim)),
                                             "max": float(per_sim.max())},
        "simulations": sims, "chains": chains, "tune": tune, "draws": draws, "L": thin_to,
        "bins": bins, "seed": seed, "seconds": round(seconds, 1),
        "divergent_simulations": int(np.sum(div > 0)), "divergences": int(np.sum(div)),
        "parameters": {k: sbc.uniformity(v, thin_to, bins) for k, v in r.items()},
        "ranks": {k: v.tolist() for k, v in r.items()},
    }


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--family", choices=list(CASES), action="append")
    ap.add_argument("--sims", type=int, default=200)
    ap.add_argument("--draws", type=int, default=300, help="draws per chain")
    ap.add_argument("--tune", type=int, default=300, help="warm-up per chain")
    ap.add_argument("--chains", type=int, default=2)
    ap.add_argument("--thin-to", type=int, default=49, help="L: posterior draws per rank")
    ap.add_argument("--bins", type=int, default=10)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    out = {"families": {}, "machine": {"platform": platform.platform(),
                                       "python": sys.version.split()[0]}}
    ranks = {}
    for family in args.family or list(CASES):
        res = run(family, args.sims, args.draws, args.tune, args.chains, args.thin_to,
                  args.bins, args.seed)
        out["families"][family] = res
        ranks.update({f"{family}: {k}": np.asarray(v) for k, v in res["ranks"].items()})
        for name, t in res["parameters"].items():
            print(f"{family:9s} {name:20s} chi2 p = {t['chi2_p']:.3f}  KS p = {t['ks_p']:.3f}  "
                  f"{t['counts']}")
        print(f"{family}: {args.sims} simulations in {res['seconds']:.0f} s, "
              f"{res['censored_fraction']:.0%} of rows censored; "
              f"{res['divergent_simulations']} with divergences")
    sbc.RESULTS.mkdir(exist_ok=True)
    (sbc.RESULTS / "sbc_censored.json").write_text(json.dumps(out, indent=1))
    sbc.plot(ranks, args.thin_to, args.bins, sbc.RESULTS / "sbc_censored_ranks.png",
             f"SBC, censored: {FORMULA}, {args.sims} simulations, L = {args.thin_to}")


if __name__ == "__main__":
    main()
