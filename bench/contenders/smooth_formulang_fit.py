"""Contender (smooth models): formulang, from ``import formulang`` to the printed summary.

    python bench/contenders/smooth_formulang_fit.py MODEL auto CACHE_DIR DRAWS RERUNS [CHAINS]
    python bench/contenders/smooth_formulang_fit.py MODEL priors - 0 0   # its prior table

``fl.Model(formula, data)``, every default, as a user runs it; NUTS with CHAINS chains (default
4) x (DRAWS warm-up + DRAWS draws). Wall time: process start to ``str(fit)``. ESS and R-hat
over the parameters both contenders share, whatever their parameterisation: the population
coefficients (``b``: intercept and spline coefficients), the group SD, the GP's SD and
length-scale, ``sigma``, and the population-level curve at the comparison grid (not the
standardised basis weights ``zgp``, which bambi names and scales its own way). Then RERUNS
compiled refits with other seeds (sampling speed). The ``priors`` variant prints formulang's
default prior table as ``PRIORS [...]``, which ``bench_smooth.py`` hands to bambi.
"""

from __future__ import annotations

import json
import os
import sys
import time
import warnings

from common import (arguments, report, rerun_figures, sampler_figures, since_start,
                    timed_fits)

model_name, variant, cache, draws, reruns = arguments()
chains = int(sys.argv[6]) if len(sys.argv) > 6 else 4
if variant != "priors":
    os.environ["FORMULANG_CACHE_DIR"] = cache

import formulang as fl  # noqa: E402

from smooth_models import curve_figures, grid_frame, load  # noqa: E402

stages = {"import": since_start()}
bench = load(model_name)
t0 = time.perf_counter()
model = fl.Model(bench.formula, bench.data)
stages["model build"] = time.perf_counter() - t0
if variant == "priors":
    print("PRIORS " + json.dumps([{"cls": r.cls, "group": r.group, "coef": r.coef,
                                   "distribution": r.prior.distribution,
                                   "params": dict(r.prior.params)} for r in model.priors.rows]))
    sys.exit(0)
SHARED = ("b", "sd_g", "sigma", "sdgp_gpx", "lscale_gpx")


def curve(fit):
    with warnings.catch_warnings():  # the grid's level is new on purpose: population curve
        warnings.simplefilter("ignore")
        mu = fit.predict(grid_frame(bench, "__new__"), kind="linpred", new_levels="population")
    return mu.reshape(chains, -1, mu.shape[-1])


def fit_figures(fit) -> dict:
    posterior = fit.posterior.posterior
    values = {k: posterior[k].values for k in SHARED if k in posterior}
    values["curve"] = curve(fit)
    return sampler_figures(values, fit.stats["diverging"], list(values))


fit, wall, first, runs = timed_fits(model, fit_figures, draws, chains, reruns, stages)
sigma = fit.posterior.posterior["sigma"].values
report(contender="formulang", model=model_name, status="ok", wall_seconds=wall, chains=chains,
       stages=stages, fit_seconds=stages["first fit"], **first, **rerun_figures(runs),
       **curve_figures(curve(fit)), sigma_mean=float(sigma.mean()), sigma_sd=float(sigma.std()))
