"""Benchmark (issue 20): the dense mass-matrix block over crossed factors' effects, against a
diagonal matrix, as the block grows (``formulang.infer.dense_adaptation``).

    python bench/bench_dense_block.py [--levels 38,100,200,400] [--label "..."]

A negative binomial, ``count ~ x + (1 | a) + (1 | b)``, 1,500 simulated rows, ``A`` levels of
``a`` crossed with 25 of ``b`` (:func:`simulate`; the block has ``2 + A + 25`` entries, fewer
where a level has no rows), every default of ``Model`` and ``fit`` (4 chains x (1000 +
1000)), seed 1, each fit in a fresh process with an empty compilation cache. Per ``A``, two
fits: with the block (the cap, ``lower/plan.py``'s ``DENSE_MASS_MAX``, raised so that every
``A`` gets one) and with a diagonal matrix (the cap at 0). Figures: the fit's wall seconds
(compiling included), min bulk ESS and max R-hat over the reported parameters, the
intercept's bulk ESS, warm-up leapfrog steps per chain. Rows go to
``bench/results/dense_block.json`` under ``--label``.

The intercept is the parameter the block is there for: crossed intercepts leave a ridge (the
intercept and one factor's levels up, the other's down) that only the second factor's prior
holds, and a diagonal matrix cannot follow it.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results" / "dense_block.json"
FORMULA = "count ~ x + (1 | a) + (1 | b)"


def simulate(levels: int, rows: int = 1500, seed: int = 3):
    """``rows`` negative-binomial counts (shape 3), log mean ``0.5 + 0.4 x + u_a + u_b``,
    ``u_a ~ N(0, 0.5)`` over ``levels`` levels, ``u_b ~ N(0, 0.3)`` over 25."""
    import pandas as pd

    rng = np.random.default_rng(seed)
    a, b = rng.integers(0, levels, rows), rng.integers(0, 25, rows)
    x = rng.normal(size=rows)
    mu = np.exp(0.5 + 0.4 * x + rng.normal(0, 0.5, levels)[a] + rng.normal(0, 0.3, 25)[b])
    y = rng.negative_binomial(3.0, 3.0 / (3.0 + mu))
    return pd.DataFrame({"count": y, "x": x, "a": [f"a{i}" for i in a],
                         "b": [f"b{i}" for i in b]})


def child(levels: int, cap: int) -> dict:
    import warnings

    import formulang as fl
    import formulang.lower.plan as plan

    warnings.simplefilter("ignore")
    plan.DENSE_MASS_MAX = cap
    model = fl.Model(FORMULA, simulate(levels), family="negative_binomial")
    start = time.perf_counter()
    fit = model.fit(seed=1, progress=False)
    seconds = time.perf_counter() - start
    table = fit.summary()
    p = model.plan  # the block's entries: the coefficients and every level's effects
    entries = 1 + (p.b.size if p.b is not None else 0) + sum(len(g.centered) * g.k
                                                             for g in p.groups)
    return {"levels": levels, "block_entries": entries if p.dense_mass else 0,
            "dense_mass": list(p.dense_mass), "seconds": seconds,
            "min_bulk_ess": float(table["ess_bulk"].min()),
            "intercept_bulk_ess": float(table.loc["b_Intercept", "ess_bulk"]),
            "max_rhat": float(table["rhat"].max()),
            "warmup_gradients_per_chain": float(np.mean(fit.run.warmup_gradients))}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--levels", default="38,100,200,400")
    parser.add_argument("--label", default="dense block, shrunk warm-up (2026-12-06)")
    parser.add_argument("--child", nargs=2, type=int)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(*args.child)))
        return
    rows = []
    for levels in (int(v) for v in args.levels.split(",")):
        for name, cap in (("block", 100_000), ("diagonal", 0)):
            with tempfile.TemporaryDirectory() as cache:  # an empty compilation cache
                out = subprocess.run([sys.executable, __file__, "--child", str(levels),
                                      str(cap)], capture_output=True, text=True, check=True,
                                     env={**os.environ, "FORMULANG_CACHE_DIR": cache})
            row = {"matrix": name, **json.loads(out.stdout.strip().splitlines()[-1])}
            print(json.dumps(row), flush=True)
            rows.append(row)
    results = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    results[args.label] = rows
    RESULTS.write_text(json.dumps(results, indent=1) + "\n")


if __name__ == "__main__":
    main()
