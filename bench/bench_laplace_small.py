"""Benchmark (issue 23): the embedded Laplace path on small models, against today's fits.

    python bench/bench_laplace_small.py [--draws 1000] [--tune 1000] [--chains 2] [--seed 0]
                                        [--case cbpp --case epilepsy] [--persistent-cache]

Issue 23: "cbpp and epilepsy-like Poisson models: no worse than today's fits in ESS per wall
second. At equal settings, their posteriors agree with the sampled model." Two models:

- ``cbpp``: ``cbind(incidence, size - incidence) ~ period + (1 | herd)`` on the shipped cbpp
  data (56 rows, 15 herds), binomial;
- ``epilepsy``: brms's epilepsy shape, simulated (:func:`epilepsy`): 59 patients x 4 visits,
  ``count ~ zAge + zBase * Trt + (1 | patient)``, Poisson, log-mean about 1.8, patient SD 0.5.

Each is fitted, in one process, with the default (``collapse="auto"``: ``m.collapse_reason``
says what it chose), with ``collapse=False`` where the default chose something else, and with
``collapse="laplace"``, all with the same settings and seed. Each model is fitted more than
once: the first fit includes tracing and compiling (``cold``), the later ones reuse the
compiled sampler (``warm``: the median wall of ``--warm-reruns`` refits, 5 by default, same
seed, so the same draws; a warm fit of these models takes under a second, so one alone is
noisy). By default the persistent compilation cache is a fresh temporary directory, so
``cold`` is a first compile ever (``--persistent-cache`` uses the user's cache instead: then
``cold`` is tracing plus a cache read, if it was there).

Figures per fit: cold and warm wall seconds of ``model.fit`` (a Laplace fit's include drawing
the effects and the importance weights), min bulk ESS over the population, SD and correlation
parameters from ``fit.summary()`` (a Laplace fit's summary is importance-weighted, and its ESS
is the chains' times the weights' efficiency), ESS per warm and per cold wall second, leapfrog
steps per draw, max R-hat, divergences, and for the Laplace fit the parameters' and joint
PSIS k-hat. Per model: the ratio of Laplace's ESS per (warm) second to the default's, and
agreement ``z = (mean_LA - mean_full) / sqrt(mcse_LA^2 + mcse_full^2)``, ``mcse = sd /
sqrt(ess_bulk)``, per parameter ("within MC error": ``|z| < 3`` for each).

Results: ``bench/results/laplace_small.json`` (merged by case). The machine is shared: compare
only within one run. The committed run (defaults, 2026-12-05, another job on one of the two
cores): both defaults sample (too few rows for the rule); Laplace/default ESS per warm second
2.09 (cbpp) and 4.97 (epilepsy; 2.30 in an earlier run with one warm refit), per cold second
1.10 and 1.62; every |z| <= 1.73; Laplace parameters' k-hat 0.11 and 0.03.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from provenance import commit  # bench/: the script's own folder is on sys.path

RESULTS = Path(__file__).parent / "results" / "laplace_small.json"
CASES = {
    "cbpp": ("cbind(incidence, size - incidence) ~ period + (1 | herd)", "binomial"),
    "epilepsy": ("count ~ zAge + zBase * Trt + (1 | patient)", "poisson"),
}
EPILEPSY_TRUE = {"Intercept": 1.8, "zAge": 0.1, "zBase": 0.6, "Trt": -0.25, "zBase:Trt": 0.1,
                 "sd_patient": 0.5}


def epilepsy(seed: int = 0) -> pd.DataFrame:
    """59 patients x 4 visits, as brms's epilepsy: standardised age and baseline count per
    patient, treatment for about half (0/1), Poisson counts with a patient effect
    (``EPILEPSY_TRUE``)."""
    rng = np.random.default_rng(seed)
    patients, visits = 59, 4
    age = rng.normal(size=patients)
    base = rng.normal(size=patients)
    trt = (np.arange(patients) >= 28).astype(int)  # 28 placebo, 31 treated, as in brms's
    u = rng.normal(scale=EPILEPSY_TRUE["sd_patient"], size=patients)
    t = EPILEPSY_TRUE
    eta = t["Intercept"] + t["zAge"] * age + t["zBase"] * base + t["Trt"] * trt \
        + t["zBase:Trt"] * base * trt + u
    p = np.repeat(np.arange(patients), visits)
    count = rng.poisson(np.exp(eta[p]))
    return pd.DataFrame({"count": count, "zAge": age[p], "zBase": base[p], "Trt": trt[p],
                         "patient": [f"p{i}" for i in p], "visit": np.tile(np.arange(1, 5),
                                                                           patients)})


def data_for(case: str, seed: int):
    return "cbpp" if case == "cbpp" else epilepsy(seed)


def figures(fit, cold_s: float, warm: list) -> dict:
    warm_s = float(np.median(warm))
    s = fit.summary()
    s = s.loc[[k for k in s.index if k.startswith(("b_", "sd_", "cor_"))]]
    ess = float(s["ess_bulk"].min())
    out = {"cold_wall_s": round(cold_s, 2), "warm_wall_s": round(warm_s, 3),
           "warm_walls_s": [round(w, 3) for w in warm],
           "sampling_s_warm": round(float(fit.run.seconds), 2),
           "min_ess_bulk": round(ess, 1), "min_ess_bulk_param": str(s["ess_bulk"].idxmin()),
           "ess_per_s_warm": round(ess / warm_s, 2), "ess_per_s_cold": round(ess / cold_s, 2),
           "steps_per_draw": round(float(np.mean(fit.stats["num_steps"])), 2),
           "max_rhat": round(float(s["rhat"].max()), 4),
           "divergences": int(np.sum(fit.stats["diverging"])),
           "means": {k: round(float(v), 4) for k, v in s["mean"].items()},
           "sds": {k: round(float(v), 4) for k, v in s["sd"].items()},
           "mcse": {k: round(float(sd / np.sqrt(e)), 5)
                    for k, sd, e in zip(s.index, s["sd"], s["ess_bulk"])}}
    if fit.compiled.laplace:
        d = fit.diagnostics()
        w = fit.importance_weights
        out["weighted"] = w is not None
        if w is not None:
            out["weights_efficiency"] = round(float(1 / (w.size * np.sum(w ** 2))), 3)
        out["khat_parameters"] = round(float(d.laplace_khat_parameters), 3)
        out["khat_joint"] = round(float(d.laplace_khat), 3)
        out["effect_draws_s_warm"] = round(float(fit.run.timings.get("conditional_draws_s",
                                                                      0.0)), 2)
    return out


def fit_twice(model, settings: dict, reruns: int) -> tuple:
    """The first fit (with compilation) and ``reruns`` warm ones with the same settings and
    seed (the same draws): the fit, the cold wall and the warm walls."""
    t0 = time.perf_counter()
    model.fit(**settings)
    cold = time.perf_counter() - t0
    warm = []
    for _ in range(reruns):
        t0 = time.perf_counter()
        fit = model.fit(**settings)
        warm.append(time.perf_counter() - t0)
    return fit, cold, warm


def z_scores(a: dict, b: dict) -> dict:
    return {k: round((a["means"][k] - b["means"][k]) / float(np.hypot(a["mcse"][k],
                                                                        b["mcse"][k])), 2)
            for k in a["means"] if k in b["means"]}


def run_case(case: str, settings: dict, seed: int, reruns: int = 5) -> dict:
    import formulang as fl

    formula, family = CASES[case]
    data = data_for(case, seed)
    out = {"formula": formula, "family": family,
           "data": "shipped cbpp (56 rows, 15 herds)" if case == "cbpp" else
           f"simulated, 59 patients x 4 visits (seed {seed}), truth {EPILEPSY_TRUE}"}
    default = fl.Model(formula, data, family=family)
    out["default_collapse_reason"] = default.collapse_reason
    out["default_is_laplace"] = bool(default.compiled.laplace)
    variants = [("default", default)]
    if default.collapsed or default.compiled.laplace:  # not the sampled model: add it
        variants.append(("sampled", fl.Model(formula, data, family=family, collapse=False)))
    variants.append(("laplace", fl.Model(formula, data, family=family, collapse="laplace")))
    for name, model in variants:
        fit, cold, warm = fit_twice(model, settings, reruns)
        out[name] = figures(fit, cold, warm)
        print(case, name, json.dumps({k: v for k, v in out[name].items()
                                      if k not in ("means", "sds", "mcse")}), flush=True)
    full = out["sampled"] if "sampled" in out else out["default"]
    la = out["laplace"]
    out["z_laplace_vs_sampled"] = z_scores(la, full)
    out["all_within_mc_error"] = bool(all(abs(v) < 3 for v in out["z_laplace_vs_sampled"]
                                          .values()))
    out["ess_per_s_ratio_laplace_over_default_warm"] = round(
        la["ess_per_s_warm"] / out["default"]["ess_per_s_warm"], 3)
    out["ess_per_s_ratio_laplace_over_default_cold"] = round(
        la["ess_per_s_cold"] / out["default"]["ess_per_s_cold"], 3)
    print(case, json.dumps({k: out[k] for k in ("z_laplace_vs_sampled", "all_within_mc_error",
                                                "ess_per_s_ratio_laplace_over_default_warm",
                                                "ess_per_s_ratio_laplace_over_default_cold")}),
          flush=True)
    return out


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--draws", type=int, default=1000)
    ap.add_argument("--tune", type=int, default=1000)
    ap.add_argument("--chains", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--case", action="append", choices=sorted(CASES))
    ap.add_argument("--warm-reruns", type=int, default=5,
                    help="warm refits after the first (the warm wall: their median)")
    ap.add_argument("--persistent-cache", action="store_true",
                    help="use the user's compilation cache (default: a fresh, empty one)")
    a = ap.parse_args(argv)
    tmp = None
    if not a.persistent_cache:  # before formulang configures JAX
        tmp = tempfile.TemporaryDirectory(prefix="laplace_small_cache_")
        os.environ["FORMULANG_CACHE_DIR"] = tmp.name
    from formulang.infer.jax_setup import configure

    configure()
    import jax.numpy as jnp

    jnp.zeros(1).block_until_ready()  # JAX's start-up out of the first cold fit
    settings = {"draws": a.draws, "tune": a.tune, "chains": a.chains, "seed": a.seed,
                "progress": False}
    results = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    for case in a.case or list(CASES):
        load = os.getloadavg()[0]
        out = run_case(case, settings, a.seed, a.warm_reruns)
        out.update(settings={k: v for k, v in settings.items() if k != "progress"},
                   compilation_cache="fresh (empty)" if tmp else "user's persistent cache",
                   commit=commit(), date=datetime.datetime.now(datetime.timezone.utc)
                   .strftime("%Y-%m-%d %H:%M UTC"),
                   machine="2 cores, shared: compare only within this run",
                   load_average_1min={"before": round(load, 2),
                                      "after": round(os.getloadavg()[0], 2)},
                   python=sys.version.split()[0])
        results[case] = out
        RESULTS.parent.mkdir(exist_ok=True)
        RESULTS.write_text(json.dumps(results, indent=1) + "\n")
    if tmp is not None:
        tmp.cleanup()


if __name__ == "__main__":
    main()
