"""Benchmark: the pilot fit behind the automatic centered/non-centered choice.

Times ``choose_parameterization`` (the pilot plus the per-level weights) against ``bind`` on
the same data, in the same process:

- ``radon``: ``log_radon ~ floor + (1 + floor | county)`` and ``(1 | county)`` (919 rows,
  85 counties); target: well under 50 ms;
- ``large``: 1,000,000 rows, 10,000 levels, ``y ~ x + z + c + (1 + x | g)`` (the bind
  benchmark's formula, with group effects ``tau = (0.3, 0.1)`` added so the choice is not
  trivial); target: under 1 s.

Wall seconds are the best of a few runs. Run: ``python bench/bench_reparam.py [--rows N]
[--levels L] [--repeat R]``; writes ``bench/results/reparam.json``.
"""

from __future__ import annotations

import argparse
import gc
import json
import platform
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

import formulang
from formulang.data import bind
from formulang.lower.families import family
from formulang.lower.reparam import choose_parameterization

LARGE_FORMULA = "y ~ x + z + c + (1 + x | g)"
RADON_FORMULAS = ("log_radon ~ floor + (1 | county)", "log_radon ~ floor + (1 + floor | county)")
RADON_TARGET_S = 0.05
LARGE_TARGET_S = 1.0


def make_data(rows: int, levels: int, seed: int = 1) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    g = rng.integers(0, levels, rows)
    c = rng.integers(0, 5, rows)
    x = rng.normal(size=rows)
    z = rng.normal(size=rows)
    a = rng.normal(0.0, 0.3, levels)
    s = rng.normal(0.0, 0.1, levels)
    y = 1.0 + 0.5 * x - 0.2 * z + 0.1 * c + a[g] + s[g] * x + rng.normal(size=rows)
    names = ["alpha", "beta", "gamma", "delta", "epsilon"]
    return pd.DataFrame({"y": y, "x": x, "z": z, "c": pd.Categorical.from_codes(c, names),
                         "g": g.astype(np.int64)})


def best_of(fn, repeat: int) -> tuple[float, object]:
    times, out = [], None
    for _ in range(repeat):
        gc.collect()
        start = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - start)
    return min(times), out


def run(name: str, formula: str, df: pd.DataFrame, repeat: int, target: float) -> dict:
    fam = family("gaussian")
    bind_s, bound = best_of(lambda: bind(formula, df), repeat)
    choose_parameterization(bound, fam)  # warm up imports
    pilot_s, choice = best_of(lambda: choose_parameterization(bound, fam), repeat)
    return {
        "name": name,
        "formula": formula,
        "rows": bound.n,
        "levels": [g.n_levels for g in bound.groups],
        "bind_seconds": round(bind_s, 5),
        "pilot_seconds": round(pilot_s, 5),
        "pilot_to_bind": round(pilot_s / bind_s, 3),
        "target_seconds": target,
        "meets_target": bool(pilot_s < target),
        "choice": [{"label": p.label, "mode": p.mode, "centered": p.n_centered,
                    "levels": len(p.centered), "reason": p.reason} for p in choice],
    }


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--levels", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--out", type=Path,
                        default=Path(__file__).resolve().parent / "results" / "reparam.json")
    args = parser.parse_args(argv)

    radon = formulang.datasets.load("radon")
    runs = [run("radon", f, radon, max(args.repeat, 5), RADON_TARGET_S) for f in RADON_FORMULAS]
    runs.append(run("large", LARGE_FORMULA, make_data(args.rows, args.levels), args.repeat,
                    LARGE_TARGET_S))
    result = {
        "benchmark": "reparam",
        "runs": runs,
        "meets_targets": all(r["meets_target"] for r in runs),
        "python": sys.version.split()[0],
        "numpy": np.__version__,
        "machine": f"{platform.machine()} {platform.processor() or ''}".strip(),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")

    print("pilot (choose_parameterization) vs bind, best of runs, same process")
    for r in runs:
        print(f"  {r['name']:<6} {r['rows']:>9,} rows  {r['formula']}")
        print(f"         bind {r['bind_seconds'] * 1e3:8.1f} ms   pilot "
              f"{r['pilot_seconds'] * 1e3:8.1f} ms   pilot/bind {r['pilot_to_bind']:.2f}   "
              f"target < {r['target_seconds'] * 1e3:g} ms: {r['meets_target']}")
        for c in r["choice"]:
            print(f"         {c['label']}: {c['reason']}")
    print(f"  -> {args.out}")
    return result


if __name__ == "__main__":
    main()
