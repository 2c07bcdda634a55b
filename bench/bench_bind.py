"""Benchmark: bind 1,000,000 rows to ``y ~ x + z + c + (1 + x | g)``.

Two numeric predictors (x, z), one categorical predictor (c, 5 levels) and a group term with
10,000 levels, in two layouts of the same data:

- ``text``: c and g are pandas text columns (what ``read_csv`` gives);
- ``compact``: c is a pandas Categorical and g holds integer ids, so the input is small and
  the memory ratio is the stricter test.

Reports wall seconds (best of a few runs, no tracing) and peak memory traced by tracemalloc
during one more run (numpy and pandas allocations; without pyarrow, pandas' text columns hold
Python strings, which tracemalloc sees), against the bytes of the input columns
(``memory_usage(deep=True)``). Targets: under 2 s and under 5x the input bytes.

Run: ``python bench/bench_bind.py [--rows N] [--levels L] [--repeat R]``; writes
``bench/results/bind.json``.
"""

from __future__ import annotations

import argparse
import gc
import json
import platform
import sys
import time
import tracemalloc
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from formulang.data import bind

FORMULA = "y ~ x + z + c + (1 + x | g)"
TIME_TARGET_S = 2.0
MEMORY_TARGET_RATIO = 5.0


LAYOUTS = ("text", "compact")


def make_data(rows: int, levels: int, layout: str, seed: int = 1) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    g_codes = rng.integers(0, levels, rows)
    c_codes = rng.integers(0, 5, rows)
    c_names = ["alpha", "beta", "gamma", "delta", "epsilon"]
    x = rng.normal(size=rows)
    z = rng.normal(size=rows)
    if layout == "text":
        g_names = np.array([f"g{i:05d}" for i in range(levels)], dtype=object)
        c = pd.array(np.array(c_names, dtype=object)[c_codes], dtype="str")
        g = pd.array(g_names[g_codes], dtype="str")
    else:
        c = pd.Categorical.from_codes(c_codes, c_names)
        g = g_codes.astype(np.int64)
    return pd.DataFrame({"y": 1.0 + 0.5 * x - 0.2 * z + rng.normal(size=rows),
                         "x": x, "z": z, "c": c, "g": g})


def run(rows: int, levels: int, repeat: int, layout: str) -> dict:
    df = make_data(rows, levels, layout)
    input_bytes = int(df.memory_usage(deep=True, index=False).sum())

    times = []
    for _ in range(repeat):
        gc.collect()
        start = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # the benchmark data must bind cleanly
            bound = bind(FORMULA, df)
        times.append(time.perf_counter() - start)
        del bound

    gc.collect()
    tracemalloc.start()
    bound = bind(FORMULA, df)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()

    output_bytes = int(bound.X.nbytes + bound.y.nbytes + bound.offset.nbytes
                       + sum(g.codes.nbytes + g.values.nbytes for g in bound.groups))
    return {
        "layout": layout,
        "formula": FORMULA,
        "rows": rows,
        "group_levels": levels,
        "x_columns": list(bound.X_columns),
        "seconds_best": round(min(times), 4),
        "seconds_all": [round(t, 4) for t in times],
        "input_bytes": input_bytes,
        "output_bytes": output_bytes,
        "peak_traced_bytes": int(peak),
        "peak_to_input": round(peak / input_bytes, 3),
        "targets": {"seconds": TIME_TARGET_S, "peak_to_input": MEMORY_TARGET_RATIO},
        "meets_targets": bool(min(times) < TIME_TARGET_S
                              and peak / input_bytes < MEMORY_TARGET_RATIO),
    }


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--levels", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--out", type=Path,
                        default=Path(__file__).resolve().parent / "results" / "bind.json")
    args = parser.parse_args(argv)
    runs = [run(args.rows, args.levels, args.repeat, layout) for layout in LAYOUTS]
    result = {
        "benchmark": "bind",
        "formula": FORMULA,
        "runs": runs,
        "meets_targets": all(r["meets_targets"] for r in runs),
        "python": sys.version.split()[0],
        "numpy": np.__version__,
        "pandas": pd.__version__,
        "machine": f"{platform.machine()} {platform.processor() or ''}".strip(),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")

    mib = 1 << 20
    rows = [
        ("rows", lambda r: f"{r['rows']:,}"),
        ("group levels", lambda r: f"{r['group_levels']:,}"),
        ("X columns", lambda r: str(len(r["x_columns"]))),
        ("seconds (best)", lambda r: f"{r['seconds_best']:.3f}"),
        ("input MiB", lambda r: f"{r['input_bytes'] / mib:.1f}"),
        ("output MiB", lambda r: f"{r['output_bytes'] / mib:.1f}"),
        ("peak traced MiB", lambda r: f"{r['peak_traced_bytes'] / mib:.1f}"),
        ("peak / input", lambda r: f"{r['peak_to_input']:.2f}x"),
        ("meets targets", lambda r: str(r["meets_targets"])),
    ]
    width = max(len(k) for k, _ in rows)
    print(f"bind benchmark: {FORMULA}  (targets: < {TIME_TARGET_S:g} s, "
          f"peak < {MEMORY_TARGET_RATIO:g}x input bytes)")
    print(f"  {'':<{width}}  " + "  ".join(f"{r['layout']:>12}" for r in runs))
    for name, cell in rows:
        print(f"  {name:<{width}}  " + "  ".join(f"{cell(r):>12}" for r in runs))
    print(f"  -> {args.out}")
    return result


if __name__ == "__main__":
    main()
