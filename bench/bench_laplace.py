"""Benchmark (issue 23): the embedded Laplace path against the full sampled model.

    python bench/bench_laplace.py [--rows 100000] [--groups 1000] [--draws 1000] [--tune 1000]
                                  [--chains 4] [--seed 0] [--label NAME]

Data: ``rows`` simulated Bernoulli rows in ``groups`` equal groups, a continuous ``x`` (so no
rows merge), ``logit p = -0.5 + 0.5 x + u0[g] + u1[g] x`` with SDs 0.8 and 0.4 and
correlation 0.3. Model: ``y ~ x + (1 + x | g)``, default priors, the same for both fits (the
Laplace model has the full model's non-group sites and priors). In one process, one after the
other: ``collapse="laplace"`` and ``collapse=False`` (every effect sampled), each with the
same ``fit`` settings; the first fit of each compiles (its wall seconds include it, as a new
user's would).

Figures per fit: wall seconds of ``model.fit`` (the Laplace one includes drawing the effects
and the importance weights), sampling seconds, min bulk ESS over the population, SD and
correlation parameters (the Laplace fit's summary is importance-weighted toward the full
model, and its ESS is the chains' times the weights' efficiency, ``weights_efficiency``), ESS per
wall second and per 1,000 sampling gradients, leapfrog steps per draw, max R-hat, divergences; for
the Laplace fit the PSIS k-hats of its importance weights (joint; parameters alone). Agreement: per
parameter ``z = (mean_LA - mean_full) / sqrt(mcse_LA^2 + mcse_full^2)`` with ``mcse = sd /
sqrt(ess_bulk)``; "within MC error" is ``|z| < 3`` for each. ``--only laplace`` fits one side (no
ratio), for a machine too busy.

Results merge into ``bench/results/laplace.json`` under ``--label`` (default: the settings),
with the whole process's seconds (imports, simulation and every fit) and peak memory, the
date and the commit.
The machine is often shared: compare only within one run (the ratio), never across runs.
"""

from __future__ import annotations

import time

_START = time.perf_counter()  # whole-process seconds count from here (imports included)

import argparse  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import resource  # noqa: E402
import subprocess  # noqa: E402
from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results" / "laplace.json"
FORMULA = "y ~ x + (1 + x | g)"
TRUE = {"b_Intercept": -0.5, "b_x": 0.5, "sd_g__Intercept": 0.8, "sd_g__x": 0.4,
        "cor_g__Intercept__x": 0.3}


def simulate(rows: int, groups: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    g = np.repeat(np.arange(groups), -(-rows // groups))[:rows]
    x = rng.normal(size=rows)
    sd, rho = np.array([0.8, 0.4]), 0.3
    L = np.linalg.cholesky(np.array([[1.0, rho], [rho, 1.0]]))
    u = (rng.normal(size=(groups, 2)) @ L.T) * sd
    eta = -0.5 + 0.5 * x + u[g, 0] + u[g, 1] * x
    y = (rng.uniform(size=rows) < 1.0 / (1.0 + np.exp(-eta))).astype(int)
    return pd.DataFrame({"y": y, "x": x, "g": [f"g{i}" for i in g]})


def figures(fit, seconds: float) -> dict:
    s = fit.summary()
    s = s.loc[[k for k in TRUE if k in s.index]]
    ess = float(s["ess_bulk"].min())
    grads = float(np.sum(fit.stats["num_steps"]))  # sampling gradients, all chains
    out = {"wall_s": round(seconds, 1), "sampling_s": round(float(fit.run.seconds), 1),
           "min_ess_bulk": round(ess, 1), "ess_per_s": round(ess / seconds, 3),
           "ess_per_1000_gradients": round(1000 * ess / grads, 2),
           "steps_per_draw": round(float(np.mean(fit.stats["num_steps"])), 2),
           "max_rhat": round(float(s["rhat"].max()), 4),
           "divergences": int(np.sum(fit.stats["diverging"])),
           "means": {k: round(float(v), 4) for k, v in s["mean"].items()},
           "mcse": {k: round(float(sd / np.sqrt(e)), 5)
                    for k, sd, e in zip(s.index, s["sd"], s["ess_bulk"])}}
    if "laplace_log_weight" in fit.stats:
        from formulang.infer.laplace_draws import pareto_khat

        w = fit.importance_weights  # the summary's means are weighted by these (None: not)
        out["weighted"] = w is not None
        if w is not None:
            out["weights_efficiency"] = round(float(1 / (w.size * np.sum(w ** 2))), 3)
        out["khat"] = round(pareto_khat(fit.stats["laplace_log_weight"]), 3)
        out["khat_parameters"] = round(pareto_khat(fit.stats["laplace_log_weight_theta"]), 3)
        out["effect_draws_s"] = round(float(fit.run.timings.get("conditional_draws_s", 0)), 1)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=100_000)
    ap.add_argument("--groups", type=int, default=1000)
    ap.add_argument("--draws", type=int, default=1000)
    ap.add_argument("--tune", type=int, default=1000)
    ap.add_argument("--chains", type=int, default=4)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--label", default=None)
    ap.add_argument("--only", choices=("laplace", "full"), default=None,
                    help="fit one side only (no ratio): for a machine too busy for both")
    a = ap.parse_args()
    import formulang as fl

    data = simulate(a.rows, a.groups, a.seed)
    settings = dict(draws=a.draws, tune=a.tune, chains=a.chains, seed=a.seed, progress=False)
    out = {"rows": a.rows, "groups": a.groups, "formula": FORMULA, "settings": settings,
           "true": TRUE}
    for name, collapse in (("laplace", "laplace"), ("full", False)):
        if a.only not in (None, name):
            continue
        start = time.perf_counter()
        fit = fl.Model(FORMULA, data, family="bernoulli", collapse=collapse).fit(**settings)
        out[name] = figures(fit, time.perf_counter() - start)
        print(name, json.dumps(out[name]), flush=True)
    out["whole_process_s"] = round(time.perf_counter() - _START, 1)
    out["peak_rss_gb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 2)
    out["date"] = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    out["commit"] = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=HERE,
                                   capture_output=True, text=True).stdout.strip()
    out["machine"] = (f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at the "
                      f"end: compare only within this run")
    if a.only is None:
        compare(out)
    label = a.label or f"rows={a.rows} groups={a.groups} chains={a.chains} " \
                       f"draws={a.draws} tune={a.tune}" + (f" only={a.only}" if a.only else "")
    results = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    results[label] = out
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=1) + "\n")


def compare(out: dict) -> None:
    """The agreement z-scores and the ESS-per-second ratio, into ``out``."""
    la, full = out["laplace"], out["full"]
    z = {k: round((la["means"][k] - full["means"][k])
                  / float(np.hypot(la["mcse"][k], full["mcse"][k])), 2) for k in la["means"]}
    out["z"] = z
    out["all_within_mc_error"] = bool(all(abs(v) < 3 for v in z.values()))
    out["ess_per_s_ratio"] = round(la["ess_per_s"] / full["ess_per_s"], 2)
    out["ess_per_gradient_ratio"] = round(la["ess_per_1000_gradients"]
                                          / full["ess_per_1000_gradients"], 2)
    print(json.dumps({k: out[k] for k in ("z", "all_within_mc_error", "ess_per_s_ratio",
                                          "ess_per_gradient_ratio")}))


if __name__ == "__main__":
    main()
