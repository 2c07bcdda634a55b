"""How should k-fold's folds run? The library's ways (``kfold(..., parallel=)``), timed here.

    FORMULANG_COMPILATION_CACHE=0 python bench/bench_kfold_batched.py [--K 4] [--draws 300]
        [--chains 4 1] [--ways sequential devices vectorized]

Radon ``log_radon ~ floor + (1 + floor | county)``, random folds by county, one compiled
program per way (held-out rows get weight 0, so every fold has the same shapes), through
:func:`formulang.infer.kfold.kfold` itself (:mod:`formulang.infer.kfold_parallel`):

- ``sequential``: one fold after another, the fold's chains in parallel, one per host device;
- ``devices``: one fold per host device (``shard_map``), several folds at once, the fold's
  chains one after another on its device (``lax.map``, on CPU);
- ``vectorized``: every fold in one program, ``vmap`` over folds (one device).

Each way runs k-fold twice on one model: the first run includes compiling its program (run
with ``FORMULANG_COMPILATION_CACHE=0``, or the persistent cache serves an earlier run's), the
second reuses it; both are reported, with the second per fold. Also reported: what
``parallel="auto"`` picks here, and the largest difference of the pointwise held-out elpd from
the sequential way's (0 when the draws are the same). Results go to
``bench/results/kfold_batched.json``, with the load average: the machine may be shared.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
import warnings
from pathlib import Path

import numpy as np

FORMULA = "log_radon ~ floor + (1 + floor | county)"
RESULTS = Path(__file__).parent / "results"


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--K", type=int, default=4)
    ap.add_argument("--draws", type=int, default=300)
    ap.add_argument("--chains", type=int, nargs="+", default=[4, 1])
    ap.add_argument("--ways", nargs="+", default=["sequential", "devices", "vectorized"])
    ap.add_argument("--out", default=str(RESULTS / "kfold_batched.json"))
    args = ap.parse_args(argv)
    warnings.simplefilter("ignore")
    import formulang as fl
    from formulang.infer.jax_setup import configure
    from formulang.infer.kfold import kfold
    from formulang.infer.kfold_parallel import choose
    from formulang.infer.nuts import SamplerSettings

    configure()
    import jax

    radon = fl.datasets.load("radon")
    out = {"formula": FORMULA, "K": args.K, "draws": args.draws, "tune": args.draws,
           "host_devices": jax.local_device_count(), "platform": jax.default_backend(),
           "cores": len(os.sched_getaffinity(0)),
           "compilation_cache": os.environ.get("FORMULANG_COMPILATION_CACHE", "1") != "0",
           "machine": platform.processor() or platform.machine(),
           "note": "timings on a machine shared with other jobs: compare ways within one "
                   "run (ratios), and see load_average",
           "load_average_before": [round(x, 1) for x in os.getloadavg()]}
    for chains in args.chains:
        settings = SamplerSettings(args.draws, args.draws, chains, 0.8)
        row = {"auto_picks": choose("auto", args.K, chains)}
        reference = None
        for way in args.ways:
            model = fl.Model(FORMULA, radon)  # a fresh model: nothing compiled yet
            start = time.perf_counter()
            kfold(model, args.K, "random", "county", seed=0, settings=settings,
                  progress=False, parallel=way)
            first = time.perf_counter() - start
            start = time.perf_counter()
            r = kfold(model, args.K, "random", "county", seed=0, settings=settings,
                      progress=False, parallel=way)
            second = time.perf_counter() - start
            reference = r.pointwise if reference is None else reference
            row[way] = {"first_run_with_compilation_s": round(first, 2),
                        "compiled_run_s": round(second, 2),
                        "compiled_per_fold_s": round(second / args.K, 2),
                        "sampling_runs": len(r.sampling_seconds), "width": r.width,
                        "elpd": round(r.elpd, 3),
                        "max_pointwise_diff_to_first_way": float(np.max(np.abs(
                            r.pointwise - reference)))}
            print(chains, way, json.dumps(row[way]), flush=True)
        out[f"chains_{chains}"] = row
    out["load_average_after"] = [round(x, 1) for x in os.getloadavg()]
    print(json.dumps(out, indent=1))
    Path(args.out).write_text(json.dumps(out, indent=1) + "\n")
    return out


if __name__ == "__main__":
    main()
