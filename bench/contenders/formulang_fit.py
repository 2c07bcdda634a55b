"""Contender: formulang, from Model(...) to the printed summary.

    python bench/contenders/formulang_fit.py MODEL REPARAM [CACHE_DIR]
"""

from __future__ import annotations

import os
import sys
import time

from common import START, report, sampler_figures

model_name, reparam = sys.argv[1], sys.argv[2]
if len(sys.argv) > 3:
    os.environ["FORMULANG_CACHE_DIR"] = sys.argv[3]
else:
    os.environ["FORMULANG_COMPILATION_CACHE"] = "0"

import formulang as fl  # noqa: E402

from models import MODELS, load  # noqa: E402

t_import = time.perf_counter() - START
model = fl.Model(MODELS[model_name], load(model_name)[0], reparam=reparam)
t0 = time.perf_counter()
fit = model.fit(draws=1000, tune=1000, chains=4, seed=1, progress=False)
t_fit = time.perf_counter() - t0
t1 = time.perf_counter()
fit2 = model.fit(draws=1000, tune=1000, chains=4, seed=2, progress=False)  # compiled: sampling
t_sampling = time.perf_counter() - t1
text = str(fit)
names = [k for k in ("b", *(f"sd_{g.name}" for g in model.plan.groups),
                     *(f"cor_{g.name}" for g in model.plan.groups if g.correlated_pairs),
                     *model.plan.aux) if k in fit.posterior.posterior]
post = {k: fit.posterior.posterior[k].values for k in names}
figures = sampler_figures(post, fit.stats["diverging"], names)
report(contender=f"formulang ({reparam})", model=model_name, import_seconds=t_import,
       fit_seconds=t_fit, sampling_seconds=t_sampling,
       parameterization=[c.reason for c in model.parameterization], **figures)
