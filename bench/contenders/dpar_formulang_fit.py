"""Contender (distributional models): formulang, from ``import formulang`` to the printed summary.

    python bench/contenders/dpar_formulang_fit.py MODEL auto CACHE_DIR DRAWS RERUNS [CHAINS]

``fl.Model(formula, data, family=...)``, every default (priors, parameterisation), as a user
runs it; NUTS with CHAINS chains (default 4) x (DRAWS warm-up + DRAWS draws). Wall time: process
start to ``str(fit)`` (summary and diagnostics) and ``fit.posterior`` (ArviZ), as
``formulang_fit.py`` and as bambi's contender (``common.timed_fits``). ESS and R-hat over
every population coefficient (the response's and each dpar's: ``b``, ``b_sigma``, ``b_zi``),
the group SDs and any constant family parameter: the same set as bambi's contender. Then RERUNS
compiled refits with other seeds (sampling speed).
"""

from __future__ import annotations

import os
import sys
import time

from common import (arguments, report, rerun_figures, sampler_figures, since_start,
                    timed_fits)

model_name, variant, cache, draws, reruns = arguments()
chains = int(sys.argv[6]) if len(sys.argv) > 6 else 4
os.environ["FORMULANG_CACHE_DIR"] = cache

import formulang as fl  # noqa: E402

from dpar_models import load  # noqa: E402

stages = {"import": since_start()}
contender = "formulang"
bench = load(model_name)
t0 = time.perf_counter()
model = fl.Model(bench.formula, bench.data, family=bench.family)
stages["model build"] = time.perf_counter() - t0


def fit_figures(fit) -> dict:
    """Everything in the posterior but the group effects (``r_*``): coefficients of every
    formula, group SDs (and correlations), constant family parameters."""
    posterior = fit.posterior.posterior
    names = [k for k in posterior.data_vars if not k.startswith("r_")]
    return sampler_figures({k: posterior[k].values for k in names}, fit.stats["diverging"],
                           names)


fit, wall, first, runs = timed_fits(model, fit_figures, draws, chains, reruns, stages)
report(contender=contender, model=model_name, status="ok", wall_seconds=wall, chains=chains,
       stages=stages, fit_seconds=stages["first fit"], **first, **rerun_figures(runs),
       estimates={k: [float(v) for v in fit.posterior.posterior[k].mean(("chain", "draw"))
                      .values.ravel()] for k in first["parameters"]})
