"""Contender: the same models written by hand in NumPyro (no formulang import).

    python bench/contenders/handwritten.py MODEL centered|noncentered CACHE_DIR DRAWS RERUNS

The model and its sampler: ``handwritten_model.py``.
"""

from __future__ import annotations

import time

from common import arguments, report, rerun_figures, sampler_figures, setup_jax, since_start

model_name, reparam, cache, draws, reruns = arguments()
setup_jax(cache)

import jax  # noqa: E402, F401 - after its set-up; imported here so "import" counts it
import numpyro  # noqa: E402, F401
import pandas  # noqa: E402, F401
from handwritten_model import build  # noqa: E402

stages = {"import": since_start()}
model = build(model_name, reparam, draws)

t0 = time.perf_counter()
samples, diverging, _, _ = model.fit(1)
stages["first fit"] = time.perf_counter() - t0
t0 = time.perf_counter()
first = sampler_figures(samples, diverging, model.names)
stages["summary"] = time.perf_counter() - t0
wall = since_start()

runs = []
for seed in range(2, 2 + reruns):
    t0 = time.perf_counter()
    samples, diverging, _, _ = model.fit(seed)
    seconds = time.perf_counter() - t0
    runs.append({"seed": seed, "seconds": seconds,
                 **sampler_figures(samples, diverging, model.names)})

report(contender=f"hand-written NumPyro ({reparam})", model=model_name, status="ok",
       wall_seconds=wall, stages=stages, fit_seconds=stages["first fit"], **first,
       **rerun_figures(runs))
