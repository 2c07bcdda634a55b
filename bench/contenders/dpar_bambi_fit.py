"""Contender (distributional models): bambi with nutpie (or PyMC's NUTS).

    python bench/contenders/dpar_bambi_fit.py MODEL nutpie|pymc CACHE_DIR DRAWS RERUNS [CHAINS]

``bmb.Model(bmb.Formula(mu, dpar), data, family=...)``, bambi's defaults (its priors, its
non-centred group effects), sampled through bambi (``inference_method="nutpie"``) as a bambi
user runs it, CHAINS chains (default 4) x (DRAWS warm-up + DRAWS draws). Compilation caches
under CACHE_DIR, as ``bambi_fit.py``. Wall time: process start to ``az.summary``. Sampling
seconds: the sampler's own ``sampling_time``. ESS and R-hat over every scalar or per-coefficient
variable of the posterior that is not per observation or per group level: ``Intercept``, ``x``,
``sigma_Intercept``, ``sigma_x`` / ``psi_Intercept``, ``psi_x``, ``1|g_sigma`` (formulang's
``b``, ``b_sigma`` / ``b_zi``, ``sd_g``).
"""

from __future__ import annotations

import os
import sys
import time

from common import arguments, report, rerun_figures, sampler_figures, since_start

model_name, backend, cache, draws, reruns = arguments()
chains = int(sys.argv[6]) if len(sys.argv) > 6 else 4
os.environ["PYTENSOR_FLAGS"] = f"base_compiledir={os.path.join(cache, 'pytensor')}"
os.environ["NUMBA_CACHE_DIR"] = os.path.join(cache, "numba")

import warnings  # noqa: E402

warnings.filterwarnings("ignore")
import arviz as az  # noqa: E402
import bambi as bmb  # noqa: E402

from dpar_models import load  # noqa: E402

stages = {"import": since_start()}
bench = load(model_name)
contender = f"bambi {backend}"
t0 = time.perf_counter()
model = bmb.Model(bmb.Formula(*bench.bambi_formulas), bench.data, family=bench.bambi_family)
stages["model build"] = time.perf_counter() - t0


def fit(seed: int):
    return model.fit(draws=draws, tune=draws, chains=chains, inference_method=backend,
                     random_seed=seed, progressbar=False)


def parameters(posterior) -> list[str]:
    """Variables that are neither per observation nor per group level (dims beyond chain and
    draw named ``__obs__`` or after a grouping factor), nor a sampler's transformed copy
    (``1|g_sigma_log__``, which nutpie keeps in the posterior)."""
    out = []
    for name, var in posterior.data_vars.items():
        if name.endswith("__"):
            continue
        extra = [d for d in var.dims if d not in ("chain", "draw")]
        if any(d.endswith("__obs__") or d.endswith("_obs") or "__factor_dim" in d
               for d in extra):
            continue
        out.append(name)
    return out


def figures(idata) -> dict:
    posterior = idata.posterior
    names = parameters(posterior)
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
report(contender=contender, model=model_name, status="ok", wall_seconds=wall, chains=chains,
       stages=stages, fit_seconds=stages["first fit"], **first, **rerun_figures(runs),
       estimates={k: [float(v) for v in idata.posterior[k].mean(("chain", "draw"))
                      .values.ravel()] for k in first["parameters"]})
