"""Benchmark: exact row compression (identical rows merged into counts) against every row.

The same formulang model fitted twice in one process, ``compress=False`` (one likelihood term
per row) and the default (one per distinct row; :mod:`formulang.lower.compress`), each with
its compiled sampler run twice (the first run compiles; the second is timed). Models:

- ``bernoulli``: 20,000 rows, ``y ~ x + f + (1 + x | g)`` with x and f binary and 50 groups,
  so at most 200 distinct rows (a typical survey / A-B-test shape);
- ``poisson``: 20,000 rows, ``y ~ f + offset(log(exposure)) + (1 | g)``, f with 4 levels, 50
  groups, a different exposure on every row (merged with summed exposure).

Figures: compression ratio (rows / distinct rows), sampling seconds of the timed run, min
bulk ESS over b, sd and cor, ESS per sampling second, and the ratio compressed / every row.
Both fits sample the same posterior, so their means must agree: the largest difference in
combined Monte Carlo standard errors is reported as a check. A ratio is only judged when both
fits mixed (max R-hat < 1.01 and min bulk ESS >= 400, as ``bench_paired.py`` requires): an ESS
of a fit that has not mixed measures nothing, so such a row says "not judged" and why. Run:
``python bench/bench_compress.py [--rows N] [--draws D] [--models poisson]``; writes (merges
into) ``bench/results/compress.json``.
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

import formulang as fl

RESULTS = Path(__file__).parent / "results"
MAX_RHAT, MIN_ESS = 1.01, 400  # both fits must have mixed for their ESS ratio to mean anything
FORMULAS = {"bernoulli": "y ~ x + f + (1 + x | g)",
            "poisson": "y ~ f + offset(log(exposure)) + (1 | g)"}


def make_data(kind: str, rows: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    g = rng.integers(0, 50, rows)
    a = rng.normal(0, 0.5, 50)
    if kind == "bernoulli":
        x, f = rng.integers(0, 2, rows), rng.integers(0, 2, rows)
        s = rng.normal(0, 0.3, 50)
        eta = -0.5 + 0.7 * x - 0.4 * f + a[g] + s[g] * x
        y = rng.binomial(1, 1 / (1 + np.exp(-eta)))
        return pd.DataFrame({"y": y, "x": x, "f": np.where(f, "b", "a"), "g": g.astype(str)})
    f = rng.integers(0, 4, rows)
    exposure = rng.uniform(0.2, 2.0, rows)
    y = rng.poisson(exposure * np.exp(0.3 + 0.2 * f + a[g]))
    return pd.DataFrame({"y": y, "f": np.array(list("abcd"))[f], "exposure": exposure,
                         "g": g.astype(str)})


def timed_fit(model, draws: int) -> tuple[float, object]:
    settings = dict(draws=draws, tune=draws, chains=4, progress=False)
    model.fit(seed=0, **settings)  # compiles
    start = time.perf_counter()
    fit = model.fit(seed=1, **settings)
    return time.perf_counter() - start, fit


def figures(fit, seconds: float) -> dict:
    table = fit.summary()
    table = table[table.index.str.startswith(("b_", "sd_", "cor_"))]
    ess = float(table["ess_bulk"].min())
    return {"sampling_seconds": seconds, "min_bulk_ess": ess,
            "ess_per_sampling_second": ess / seconds,
            "max_rhat": float(table["rhat"].max()),
            "divergences": int(np.sum(fit.stats["diverging"])),
            "mean": table["mean"].to_dict(),
            "mcse": (table["sd"] / np.sqrt(table["ess_bulk"])).to_dict()}


def run(kind: str, rows: int, draws: int) -> dict:
    data = make_data(kind, rows)
    family = "bernoulli" if kind == "bernoulli" else "poisson"
    every = fl.Model(FORMULAS[kind], data, family=family, compress=False)
    merged = fl.Model(FORMULAS[kind], data, family=family)
    assert merged.compression is not None, merged.compression_reason
    out = {"formula": FORMULAS[kind], "rows": rows, "distinct_rows": merged.compression.kept,
           "compression_ratio": merged.compression.ratio}
    for label, model in (("every_row", every), ("compressed", merged)):
        seconds, fit = timed_fit(model, draws)
        out[label] = figures(fit, seconds)
        print(f"{kind:10s} {label:10s} {seconds:6.1f} s  min ESS {out[label]['min_bulk_ess']:6.0f}"
              f"  ESS/s {out[label]['ess_per_sampling_second']:8.1f}", flush=True)
    a, b = out["compressed"], out["every_row"]
    out["speed_ratio"] = a["ess_per_sampling_second"] / b["ess_per_sampling_second"]
    out["max_mean_difference_in_mcse"] = max(
        abs(a["mean"][k] - b["mean"][k]) / np.hypot(a["mcse"][k], b["mcse"][k]) for k in a["mean"])
    out["judged"] = mixing_verdict(a, b)
    return out


def mixing_verdict(*sides: dict) -> str:
    """'judged' when every fit mixed, else 'not judged: ...' with the figures that failed."""
    bad = [f"R-hat {s['max_rhat']:.3f}, min ESS {s['min_bulk_ess']:.0f}" for s in sides
           if not (s["max_rhat"] < MAX_RHAT and s["min_bulk_ess"] >= MIN_ESS)]
    return "judged" if not bad else (f"not judged: a fit did not mix (needs R-hat < {MAX_RHAT}, "
                                     f"ESS >= {MIN_ESS}): " + "; ".join(bad))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rows", type=int, default=20000)
    ap.add_argument("--draws", type=int, default=1000, help="warm-up and draws per chain")
    ap.add_argument("--models", default=",".join(FORMULAS), help="comma-separated: "
                    + ", ".join(FORMULAS))
    args = ap.parse_args()
    results = {kind: run(kind, args.rows, args.draws) for kind in args.models.split(",")}
    for kind, r in results.items():
        print(f"{kind}: {r['rows']} rows -> {r['distinct_rows']} ({r['compression_ratio']:.0f}x); "
              f"ESS per sampling s x{r['speed_ratio']:.1f}; means within "
              f"{r['max_mean_difference_in_mcse']:.1f} combined MCSE; {r['judged']}")
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / "compress.json"
    models = json.loads(path.read_text())["models"] if path.exists() else {}
    for r in models.values():  # rows from before the gate get its verdict too
        r.setdefault("judged", mixing_verdict(r["compressed"], r["every_row"]))
    models.update({kind: dict(r, measured=time.strftime("%Y-%m-%d"), commit=_commit())
                   for kind, r in results.items()})
    path.write_text(json.dumps({
        "machine": {"platform": platform.platform(), "python": sys.version.split()[0]},
        "settings": {"chains": 4, "draws": args.draws, "tune": args.draws},
        "models": models}, indent=1) + "\n")


def _commit() -> str:
    import subprocess

    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], check=True, text=True,
                              capture_output=True, cwd=Path(__file__).parent).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


if __name__ == "__main__":
    main()
