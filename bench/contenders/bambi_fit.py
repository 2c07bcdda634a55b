"""Contender: bambi (PyMC), with PyMC's own NUTS or with nutpie.

    python bench/contenders/bambi_fit.py MODEL pymc|nutpie CACHE_DIR DRAWS RERUNS

Compilation caches live under CACHE_DIR: PyTensor's C modules (``PYTENSOR_FLAGS=
base_compiledir=CACHE_DIR/pytensor``, used by PyMC's sampler) and numba's (``NUMBA_CACHE_DIR``,
nutpie compiles the model through PyTensor's numba backend). A fresh CACHE_DIR is "cold", a
second process on the same one "warm".

bambi's defaults throughout: its own priors (not formulang's), its non-centred group effects,
and ``(1 + x | g)`` fitted as independent intercept and slope (bambi has no correlated group
effects: the row is labelled "(uncorrelated)"). ``nutpie`` goes through bambi
(``inference_method="nutpie"``), as a bambi user would run it.

Sampling seconds are the sampler's own ``sampling_time`` (warm-up + draws, compilation
excluded; for PyMC it includes starting its worker processes), of this fit and of each of
RERUNS refits with other seeds; the same median-of-ratios rule as the other contenders.
ESS and R-hat over ``Intercept``, the population slopes, the group SDs (``1|g_sigma``,
``x|g_sigma``) and ``sigma``: the parameters the other contenders report, less the correlation.
"""

from __future__ import annotations

import os
import time

from common import arguments, report, rerun_figures, sampler_figures, since_start

model_name, backend, cache, draws, reruns = arguments()
os.environ["PYTENSOR_FLAGS"] = f"base_compiledir={os.path.join(cache, 'pytensor')}"
os.environ["NUMBA_CACHE_DIR"] = os.path.join(cache, "numba")

import warnings  # noqa: E402

warnings.filterwarnings("ignore")
import arviz as az  # noqa: E402
import bambi as bmb  # noqa: E402

from models import BAMBI_FORMULAS, load  # noqa: E402

stages = {"import": since_start()}
bench = load(model_name)
correlated = bench.slope is not None
contender = f"bambi {backend}" + (" (uncorrelated)" if correlated else "")
t0 = time.perf_counter()
model = bmb.Model(BAMBI_FORMULAS[model_name], bench.data, family=bench.family)
stages["model build"] = time.perf_counter() - t0


def fit(seed: int):
    return model.fit(draws=draws, tune=draws, chains=4, inference_method=backend,
                     random_seed=seed, progressbar=False)


def figures(idata) -> dict:
    posterior = idata.posterior
    names = [name for name in posterior.data_vars
             if name == "Intercept" or name in bench.fixed or name == "sigma"
             or (name.endswith("_sigma") and "|" in name)]
    draws_by_name = {name: posterior[name].values for name in names}
    out = sampler_figures(draws_by_name, idata.sample_stats["diverging"].values, names)
    out["seconds"] = float(posterior.attrs["sampling_time"])
    return out


t0 = time.perf_counter()
idata = fit(1)
stages["first fit"] = time.perf_counter() - t0
t0 = time.perf_counter()
az.summary(idata)
stages["summary"] = time.perf_counter() - t0
wall = since_start()
first = figures(idata)
runs = [{"seed": 1, **first}]
for seed in range(2, 2 + reruns):
    runs.append({"seed": seed, **figures(fit(seed))})
first.pop("seconds")
report(contender=contender, model=model_name, status="ok", wall_seconds=wall, stages=stages,
       fit_seconds=stages["first fit"], **first, **rerun_figures(runs))
