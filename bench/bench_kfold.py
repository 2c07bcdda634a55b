"""K-fold cross-validation cost: 10-fold CV of radon against ten fits' sampling time.

    python bench/bench_kfold.py            # draws=1000, tune=1000, chains=4
    python bench/bench_kfold.py --quick    # draws=300, tune=300, chains=2

Run it with ``FORMULANG_COMPILATION_CACHE=0`` to time a cold compilation (the persistent
cache would otherwise serve the first fold a compiled program from an earlier run).

The claim (issue 22): 10-fold CV of ``log_radon ~ floor + (1 + floor | county)`` costs at most
3x the sampling time of ten fits, with one compilation. The folds share one compiled program
(held-out rows get weight 0, so every fold has the same shapes: :mod:`formulang.infer.kfold`),
so the first fold pays the compilation and the other nine only sample, plus the held-out
scoring (the log-likelihood of every draw on the held-out rows, and the posterior mean).

The reference is one fit's sampling time with compilation excluded (a second fit of the same
model reuses its compiled sampler), times ten, for the model k-fold samples (the full model:
``collapse=False``) and for the default fit (radon's gaussian model is collapsed by default,
which samples faster; k-fold refits the full model because weights do not enter the collapsed
sufficient statistics). Results go to ``bench/results/kfold.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
import warnings
from pathlib import Path

import formulang as fl
from formulang.infer.kfold import kfold
from formulang.infer.nuts import SamplerSettings

RESULTS = Path(__file__).parent / "results"
FORMULA = "log_radon ~ floor + (1 + floor | county)"


def sampling_seconds(model, settings: SamplerSettings) -> float:
    """One fit's sampling time, compilation excluded (the second of two fits)."""
    options = dict(draws=settings.draws, tune=settings.tune, chains=settings.chains,
                   progress=False)
    model.fit(**options, seed=1)
    return model.fit(**options, seed=2).run.seconds


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("-K", type=int, default=10)
    args = ap.parse_args(argv)
    settings = SamplerSettings(300, 300, 2) if args.quick else SamplerSettings()
    warnings.simplefilter("ignore")
    radon = fl.datasets.load("radon")
    model = fl.Model(FORMULA, radon)
    full_fit = sampling_seconds(fl.Model(FORMULA, radon, collapse=False), settings)
    default_fit = sampling_seconds(model, settings)
    out = {"formula": FORMULA, "K": args.K, "rows": int(model.bound.n),
           "compilation_cache": os.environ.get("FORMULANG_COMPILATION_CACHE", "1") != "0",
           "settings": {"draws": settings.draws, "tune": settings.tune,
                        "chains": settings.chains}, "machine": platform.platform(),
           "one_fit_sampling_s": {"full": full_fit, "collapsed (default)": default_fit}}
    for folds in ("random", "grouped"):
        before = {k for k in model._samplers}
        start = time.perf_counter()
        result = kfold(model, args.K, folds, "county", seed=0, settings=settings,
                       progress=False)
        total = time.perf_counter() - start
        # the NUTS programs made (the model also caches the fold plan and the compiled
        # held-out log-likelihood, one each)
        compiled = sum(1 for key in set(model._samplers) - before
                       if key[0] == "kfold" and key[1] == folds)
        times = result.sampling_seconds
        out[folds] = {
            "elpd_kfold": result.elpd, "se": result.se, "rmse": result.rmse,
            "divergences": result.divergences, "total_s": total,
            "first_fold_s (compiles)": times[0], "other_folds_sampling_s": list(times[1:]),
            "compiled_samplers": compiled,
            "ratio_to_ten_full_fits": total / (10 * full_fit),
            "ratio_to_ten_default_fits": total / (10 * default_fit),
        }
        print(folds, json.dumps(out[folds], indent=1), flush=True)
    RESULTS.mkdir(exist_ok=True)
    name = "kfold_quick.json" if args.quick else "kfold.json"
    (RESULTS / name).write_text(json.dumps(out, indent=2) + "\n")
    return out


if __name__ == "__main__":
    main()
