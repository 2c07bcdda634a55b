"""Benchmark (issue 20): crossed random effects, Penicillin's intercept ridge.

    python bench/bench_crossed.py [--seeds 0,1,2,3,4] [--label after] [--markdown]

``diameter ~ 1 + (1 | plate) + (1 | sample)`` on Penicillin (144 rows, 24 plates x 6 samples,
crossed), every default of ``Model`` and ``fit`` (4 chains x (1000 warm-up + 1000 draws)), one
fit per seed in one process (the first fit compiles: its seconds include it). Per seed: min
bulk ESS and max R-hat over *every* reported parameter (intercept, both SDs, sigma, all 30
effects), divergences, leapfrog steps per draw, ESS per 1,000 sampling gradients (the
sampler's work, which a busy machine does not change) and the fit's wall seconds.

Target (issue 20): R-hat < 1.01 and bulk ESS >= 400 for every parameter on seeds 0-4.

Rows merge into ``bench/results/crossed.json`` under ``--label`` (one row per label and seed);
``--markdown`` prints the table of every label there. The "before" rows were made by this
script with ``PYTHONPATH`` at the commit before the dense mass-matrix block (ee7e1a5, a
diagonal mass matrix): ``git archive ee7e1a5 | tar -x -C /tmp/base`` and
``PYTHONPATH=/tmp/base python bench/bench_crossed.py --label "before (ee7e1a5)"``.
"""

from __future__ import annotations

import argparse
import json
import time
import warnings
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results" / "crossed.json"
FORMULA = "diameter ~ 1 + (1 | plate) + (1 | sample)"
TARGET_ESS, TARGET_RHAT = 400.0, 1.01


def figures(fit) -> dict:
    """min bulk ESS / max R-hat over every element of every reported parameter."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=FutureWarning)
        import arviz as az
    post = fit.idata.posterior
    ess = az.ess(post, method="bulk")
    rhat = az.rhat(post)
    min_ess = min(float(ess[k].min()) for k in ess.data_vars)
    max_rhat = max(float(rhat[k].max()) for k in rhat.data_vars)
    steps = np.asarray(fit.stats["num_steps"])
    return {"min_bulk_ess": min_ess, "max_rhat": max_rhat,
            "divergences": int(np.sum(fit.stats["diverging"])),
            "steps_per_draw": float(steps.mean()),
            "ess_per_1k_gradients": 1000.0 * min_ess / float(steps.sum())}


def penicillin(seeds: list[int]) -> list[dict]:
    import formulang as fl

    model = fl.Model(FORMULA, fl.datasets.load("Penicillin"))
    rows = []
    for seed in seeds:
        start = time.perf_counter()
        fit = model.fit(seed=seed, progress=False)
        seconds = time.perf_counter() - start
        row = {"seed": seed, "seconds": seconds, **figures(fit)}
        print(json.dumps(row), flush=True)
        rows.append(row)
    return rows


def markdown(results: dict) -> str:
    lines = ["| run | seed | min bulk ESS | max R-hat | divergences | steps/draw | "
             "ESS / 1k gradients | wall s |", "|---|---|---|---|---|---|---|---|"]
    for label, rows in results.get("penicillin", {}).items():
        for r in rows:
            lines.append(f"| {label} | {r['seed']} | {r['min_bulk_ess']:.0f} | "
                         f"{r['max_rhat']:.3f} | {r['divergences']} | {r['steps_per_draw']:.1f}"
                         f" | {r['ess_per_1k_gradients']:.1f} | {r['seconds']:.1f} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="0,1,2,3,4")
    parser.add_argument("--label", default="after")
    parser.add_argument("--markdown", action="store_true", help="print the table and stop")
    args = parser.parse_args()
    results = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    if not args.markdown:
        rows = penicillin([int(s) for s in args.seeds.split(",")])
        results.setdefault("penicillin", {})[args.label] = rows
        results["target"] = {"min_bulk_ess": TARGET_ESS, "max_rhat": TARGET_RHAT}
        RESULTS.write_text(json.dumps(results, indent=1) + "\n")
    print(markdown(results))


if __name__ == "__main__":
    main()
