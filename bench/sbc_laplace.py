"""Simulation-based calibration of the embedded Laplace path (issue 23; Talts et al. 2018).

    python bench/sbc_laplace.py --check             # 500 simulations, 2 chains x (500 + 500)
    python bench/sbc_laplace.py --sims 40 --draws 300 --tune 300      # quicker
    python bench/sbc_laplace.py --rows 10 --out sbc_laplace_10rows    # 12 groups x 10 rows

``--check``: also fit the first dataset by ``Model.fit`` and compare the draws.

Model: ``y ~ x + (1 + x | g)``, Bernoulli (logit), on a fixed design of 12 groups x 50 rows
(x ~ N(0, 1)), with explicit priors (``PRIORS``: SBC's identity needs a prior fixed before the
data; formulang's defaults would not look at a Bernoulli response either, but are written out).
Each simulation draws every parameter from the prior and a dataset from the model
(``model.simulate`` on the design model), builds ``fl.Model(FORMULA, data,
family="bernoulli", priors=PRIORS, collapse="laplace")`` on that dataset, exactly as a user
would (its own pilot fit, parameterisation, Laplace start statistics and mass matrix), and
fits it: NUTS over the population, SD and correlation parameters with the effects integrated
out by the Laplace approximation, then the effects drawn and the importance weights computed.

Ranks of the truths (``b_Intercept``, ``b_x``, ``sd_g__Intercept``, ``sd_g__x``,
``cor_g__Intercept__x``, and the first level's effects ``r_g[g0,...]``), two ways:

- ``unweighted``: the usual SBC rank among ``L`` draws thinned at equal spacing (ranks 0..L);
- ``weighted``: ``u = sum of the fit's importance weights (fit.importance_weights, PSIS,
  summing to 1) of all draws below the truth``, the posterior CDF at the truth that the
  weighted summaries estimate, as a rank ``min(floor(u (L + 1)), L)``. Where the fit's
  weights are None (parameters' k-hat > 0.7) the summaries use the plain draws and so does
  this rank (the count is reported). As a control of the construction itself,
  ``unweighted_cdf`` is the same with equal weights: if it agrees with ``unweighted``, a
  difference of ``weighted`` comes from the weights.

Each is tested for uniformity as ``bench/sbc.py`` does (chi-square over ``bins`` equal bins,
Kolmogorov-Smirnov on jittered ranks). Per simulation: the parameters' and the joint PSIS
k-hat (``fit.diagnostics()``), divergences, max R-hat, min bulk ESS and seconds.

Compilation: every ``Model`` keeps its compiled samplers for its own refits, so a new Model
per dataset would trace and compile the Laplace NUTS program and the effect-draw program
again (tens of seconds on two cores). :func:`fit_laplace` is ``Model._sample_laplace``'s
sequence, written here with formulang's public pieces (``make_laplace_model``,
``laplace_data``, ``make_mcmc``, ``run_nuts``, ``draw_runner``, ``complete_samples``,
``initial_inverse_mass``, ``Fit``), reusing one compiled sampler and one draw program for
every dataset whose model plan is the same (the data, including the pilot's Laplace start
and mass matrix, are arguments of the compiled programs, not constants in them). ``--check``
fits the first dataset with ``Model.fit`` too and records that the draws are identical.

Results: ``bench/results/sbc_laplace.json`` and ``sbc_laplace_ranks.png`` (unweighted and
weighted rank histograms), written every 10 simulations too (``"complete": false`` until the
end). The committed run (``--check``, 500 simulations, 2026-12-05, 2 shared cores with another
job running): 580 s (0.7 s per simulation, 13 compiles: one per pattern of centred levels that
``reparam="auto"`` chose), the helper's draws and weights identical to ``Model.fit``'s; every
rank histogram uniform (42 p-values, the smallest 0.048: ``cor_g__Intercept__x``, KS,
unweighted; 0.085 weighted); parameters' k-hat median -0.03, 90% 0.15, 2 of 500 above 0.7.
Simulation 288 (fit seed 289) had one chain stuck far out (``sd_g__x`` 1,856, 484 divergences,
R-hat 2.25, 142 s), reproducibly with ``Model.fit``; seeds 290 and 291 and ``collapse=False``
fit the same data normally. ``--rows 10 --sims 300 --out sbc_laplace_10rows``: the unweighted
ranks of both SDs sit high (the approximation understates them; mean rank/L 0.547 and 0.545,
KS p 0.017 each), the weighted ones much less (0.530, 0.524; KS p 0.19, 0.15; chi-square p
0.027 for ``sd_g__Intercept``).
"""

from __future__ import annotations

import argparse
import datetime
import json
import platform
import sys
import time
import warnings
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).parent))
from provenance import commit  # noqa: E402 (bench/ on sys.path)
from sbc import scalars, uniformity  # bench/sbc.py's conventions

RESULTS = Path(__file__).parent / "results"
FORMULA = "y ~ x + (1 + x | g)"
FAMILY = "bernoulli"
PRIORS = {"Intercept": "normal(0, 1)", "b": "normal(0, 1)", "sd": "half_normal(1)",
          "cor": "lkj(2)"}
GROUPS, ROWS = 12, 50
PARAMS = ("b_Intercept", "b_x", "sd_g__Intercept", "sd_g__x", "cor_g__Intercept__x")


def design(seed: int = 0) -> pd.DataFrame:
    """The fixed design; ``y`` a placeholder (alternating 0/1) that simulations replace."""
    rng = np.random.default_rng(seed)
    n = GROUPS * ROWS
    return pd.DataFrame({"g": np.repeat([f"g{i}" for i in range(GROUPS)], ROWS),
                         "x": rng.normal(size=n), "y": np.arange(n) % 2})


def model_for(data: pd.DataFrame):
    import formulang as fl

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pilot notes on a simulated dataset: not the point
        return fl.Model(FORMULA, data, family=FAMILY, priors=PRIORS, collapse="laplace")


# ---- one compiled Laplace sampler for many datasets ----------------------------------------

def plan_key(model) -> str:
    """What the compiled programs depend on besides their arguments: the plan (the reasons,
    free text that quotes the pilot, left out) and the block layout."""
    plan = model.plan
    plan = replace(plan, groups=tuple(replace(g, reason="") for g in plan.groups))
    return repr(plan) + repr(model.collapse_layout)


def fit_laplace(model, settings, seed: int, cache: dict):
    """``model.fit(...)`` for a ``collapse="laplace"`` model, as ``Model._sample_laplace``
    runs it, with the compiled sampler and effect-draw program taken from ``cache`` (by
    :func:`plan_key`) so that a new Model of the same plan does not compile them again."""
    import formulang as fl
    from formulang.infer.laplace_draws import complete_samples, draw_runner
    from formulang.infer.mass_matrix import initial_inverse_mass
    from formulang.infer.nuts import make_mcmc, run_nuts
    from formulang.lower.laplace import laplace_data, make_laplace_model

    assert model.compiled.laplace, model.collapse_reason
    plan, layout = model.plan, model.collapse_layout
    key = (plan_key(model), settings)
    if key not in cache:
        cache[key] = (make_mcmc(make_laplace_model(plan, layout), settings, False),
                      draw_runner(plan, layout))
    mcmc, runner = cache[key]
    data = laplace_data(plan, model.data, layout, model.pilot)
    run = run_nuts(mcmc, data, settings, seed,
                   initial_inverse_mass(plan, model.pilot, collapsed=True))
    start = time.perf_counter()
    samples, weights = complete_samples(plan, layout, data, run.samples, seed, runner)
    run.timings["conditional_draws_s"] = time.perf_counter() - start
    run.samples = samples
    run.stats = {**run.stats, **weights}
    fit = fl.Fit(model, samples, run.stats, method="nuts", run=run)
    fit.collapsed = True
    return fit


# ---- ranks -----------------------------------------------------------------------------------

def flat(a: np.ndarray) -> np.ndarray:
    return np.asarray(a).reshape((-1,) + np.shape(a)[2:])


def ranks_of(model, fit, truths: dict, thin_to: int) -> dict:
    """Per parameter: the unweighted rank among ``thin_to`` thinned draws, and the weighted
    and equal-weight CDF ranks (module docstring)."""
    from formulang.infer.simulate import parameters_from_sites

    values = parameters_from_sites(model.plan, {k: v for k, v in fit.samples.items()})
    post = scalars(model, {k: flat(v) for k, v in values.items()}, effects=True)
    w = fit.importance_weights
    w = None if w is None else w.ravel()
    out = {}
    for name, draws in post.items():
        truth = truths[name]
        pick = np.linspace(0, len(draws) - 1, thin_to).round().astype(int)
        below = draws < truth
        u_w = float(np.sum(w[below])) if w is not None else float(np.mean(below))
        out[name] = {"unweighted": int(np.sum(draws[pick] < truth)),
                     "weighted": min(int(np.floor(u_w * (thin_to + 1))), thin_to),
                     "unweighted_cdf": min(int(np.floor(np.mean(below) * (thin_to + 1))),
                                           thin_to)}
    return out


def record(fit, seconds: float) -> dict:
    d = fit.diagnostics()
    s = fit.summary()
    s = s.loc[[p for p in PARAMS if p in s.index]]
    return {"khat_parameters": round(float(d.laplace_khat_parameters), 3),
            "khat_joint": round(float(d.laplace_khat), 3),
            "weighted": fit.importance_weights is not None,
            "divergences": int(d.divergences or 0),
            "max_rhat": round(float(s["rhat"].max()), 4),
            "min_ess_bulk": round(float(s["ess_bulk"].min()), 1),
            "seconds": round(seconds, 2)}


# ---- the run ---------------------------------------------------------------------------------

def run_sbc(sims: int, draws: int, tune: int, chains: int, thin_to: int, seed: int,
            check: bool, progress_every: int = 10, on_progress=None) -> dict:
    """Simulate and fit ``sims`` datasets; ``on_progress(partial)`` every ``progress_every``
    simulations gets the results so far (written out, so a stopped run keeps them)."""
    from formulang.infer.nuts import SamplerSettings

    design_model = model_for(design(seed))
    sim = design_model.simulate(seed=seed, draws=sims)
    truths = scalars(design_model, sim.params, effects=True)
    settings = SamplerSettings(draws, tune, chains)
    cache: dict = {}
    rows, records, compiles = [], [], []
    check_out = None
    start_all = time.perf_counter()
    for i in range(sims):
        data = design(seed).assign(y=np.asarray(sim.y[i]).astype(int))
        start = time.perf_counter()
        model = model_for(data)
        before = len(cache)
        fit = fit_laplace(model, settings, seed + 1 + i, cache)
        seconds = time.perf_counter() - start
        if len(cache) > before:
            compiles.append(i)
        if check and i == 0:
            check_out = compare_with_model_fit(model, fit, draws, tune, chains, seed + 1)
        truth_i = {k: float(np.asarray(v)[i]) for k, v in truths.items()}
        rows.append(ranks_of(model, fit, truth_i, thin_to))
        records.append(record(fit, seconds))
        if (i + 1) % progress_every == 0 or i + 1 == sims:
            print(f"{i + 1}/{sims} simulations, {time.perf_counter() - start_all:.0f} s "
                  f"({len(cache)} compiled sampler(s))", flush=True)
            res = partial(rows, records, compiles, start_all, check_out, truths)
            if on_progress is not None and i + 1 < sims:
                on_progress(res)
    return res


def partial(rows, records, compiles, start_all, check_out, truths) -> dict:
    n = len(rows)
    ranks = {kind: {name: np.array([r[name][kind] for r in rows]) for name in rows[0]}
             for kind in ("unweighted", "weighted", "unweighted_cdf")}
    return {"ranks": ranks, "records": records, "compiled_at": compiles, "sims_done": n,
            "seconds": time.perf_counter() - start_all, "check": check_out,
            "truths": {k: np.round(np.asarray(v, dtype=float)[:n], 5).tolist()
                       for k, v in truths.items() if k in PARAMS}}


def compare_with_model_fit(model, fit, draws, tune, chains, seed) -> dict:
    """``Model.fit`` on the same model and seed: the helper's draws should be identical."""
    start = time.perf_counter()
    ref = model.fit(draws=draws, tune=tune, chains=chains, seed=seed, progress=False)
    seconds = time.perf_counter() - start
    diffs = {k: float(np.max(np.abs(np.asarray(ref.samples[k], float)
                                    - np.asarray(fit.samples[k], float))))
             for k in ref.samples if k in fit.samples and np.size(ref.samples[k])}
    from formulang.infer.laplace_draws import PARAMETERS

    return {"max_abs_diff_by_site": diffs,
            "weights_max_abs_diff": float(np.max(np.abs(ref.stats[PARAMETERS]
                                                        - fit.stats[PARAMETERS]))),
            "model_fit_seconds_with_compile": round(seconds, 1)}


def plot(ranks: dict, thin_to: int, bins: int, path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from scipy import stats

    kinds = ("unweighted", "weighted")
    names = list(ranks["unweighted"])
    fig, axes = plt.subplots(len(kinds), len(names), figsize=(2.9 * len(names), 5.6),
                             squeeze=False)
    n = len(ranks["unweighted"][names[0]])
    lo, hi = stats.binom.ppf([0.005, 0.995], n, 1 / bins)  # 99% band per bin if uniform
    for row, kind in zip(axes, kinds):
        for ax, name in zip(row, names):
            r = ranks[kind][name]
            counts = np.bincount(r * bins // (thin_to + 1), minlength=bins)
            ax.axhspan(lo, hi, color="0.85")
            ax.axhline(n / bins, color="0.5", lw=1)
            ax.bar(np.arange(bins), counts, width=0.9,
                   color="tab:blue" if kind == "unweighted" else "tab:orange")
            p = uniformity(r, thin_to, bins)["chi2_p"]
            ax.set_title(f"{name}\n{kind}, chi2 p = {p:.2f}", fontsize=8)
            ax.set_xticks([])
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sims", type=int, default=500)
    ap.add_argument("--draws", type=int, default=500, help="draws per chain")
    ap.add_argument("--tune", type=int, default=500, help="warm-up per chain")
    ap.add_argument("--chains", type=int, default=2)
    ap.add_argument("--thin-to", type=int, default=99, help="L: posterior draws per rank")
    ap.add_argument("--bins", type=int, default=10)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--rows", type=int, default=50, help="rows per group")
    ap.add_argument("--check", action="store_true",
                    help="also fit the first dataset by Model.fit and compare the draws")
    ap.add_argument("--out", default="sbc_laplace", help="result stem in bench/results")
    args = ap.parse_args(argv)
    global ROWS  # the design's rows per group (a module constant for design())
    ROWS = args.rows
    RESULTS.mkdir(exist_ok=True)
    res = run_sbc(args.sims, args.draws, args.tune, args.chains, args.thin_to, args.seed,
                  args.check, on_progress=lambda r: write(r, args, final=False))
    out, tests = write(res, args, final=True)
    for kind, by in tests.items():
        for name, t in by.items():
            print(f"{kind:15s} {name:24s} chi2 p = {t['chi2_p']:.3f}  KS p = {t['ks_p']:.3f}"
                  f"  {t['counts']}")
    print(json.dumps(out["summary"], indent=1))
    print(f"{res['sims_done']} simulations in {res['seconds']:.0f} s")


def write(res: dict, args, final: bool) -> tuple[dict, dict]:
    """The results so far into ``bench/results/<out>.json`` and the rank histograms' png."""
    tests = {kind: {name: uniformity(r, args.thin_to, args.bins)
                    for name, r in by_name.items()} for kind, by_name in res["ranks"].items()}
    recs = res["records"]
    khat = np.array([r["khat_parameters"] for r in recs])
    div = np.array([r["divergences"] for r in recs])
    rhat = np.array([r["max_rhat"] for r in recs])
    out = {
        "model": FORMULA, "family": FAMILY, "priors": PRIORS,
        "design": f"{GROUPS} groups x {ROWS} rows, x ~ N(0, 1) (fixed)",
        "sampler": "collapse='laplace' (embedded Laplace, NUTS over population/SD/cor)",
        "simulations": res["sims_done"], "simulations_planned": args.sims,
        "complete": final, "chains": args.chains, "tune": args.tune,
        "draws": args.draws, "L": args.thin_to, "bins": args.bins, "seed": args.seed,
        "commit": commit(), "date": datetime.datetime.now(datetime.timezone.utc)
        .strftime("%Y-%m-%d %H:%M UTC"), "seconds": round(res["seconds"], 1),
        "compiled_at_simulation": res["compiled_at"], "check_against_model_fit": res["check"],
        "summary": {
            "unweighted_fallbacks (khat_parameters > 0.7)":
                int(sum(not r["weighted"] for r in recs)),
            "khat_parameters_quantiles (0, 50, 90, 100%)":
                np.round(np.quantile(khat[np.isfinite(khat)], [0, 0.5, 0.9, 1]), 3).tolist()
                if np.isfinite(khat).any() else None,
            "divergent_simulations": int(np.sum(div > 0)), "divergences": int(div.sum()),
            "simulations_max_rhat_over_1.01": int(np.sum(rhat > 1.01)),
            "max_rhat": float(rhat.max()),
            "min_ess_bulk_min": float(min(r["min_ess_bulk"] for r in recs)),
            "median_seconds_per_simulation": float(np.median([r["seconds"] for r in recs]))},
        "tests": tests, "truths": res["truths"],
        "ranks": {kind: {k: v.tolist() for k, v in by.items()}
                  for kind, by in res["ranks"].items()},
        "per_simulation": recs,
        "machine": {"platform": platform.platform(), "python": sys.version.split()[0],
                    "note": "2 cores, shared"},
    }
    (RESULTS / f"{args.out}.json").write_text(json.dumps(out, indent=1))
    plot(res["ranks"], args.thin_to, args.bins, RESULTS / f"{args.out}_ranks.png",
         f"SBC, embedded Laplace: {FORMULA} (bernoulli, {GROUPS}x{ROWS}), "
         f"{res['sims_done']} simulations, L = {args.thin_to}")
    return out, tests


if __name__ == "__main__":
    main()
