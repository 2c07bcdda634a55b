"""Contender (smooth models): bambi with nutpie (or PyMC's NUTS).

    python bench/contenders/smooth_bambi_fit.py MODEL nutpie|pymc CACHE_DIR DRAWS RERUNS [CHAINS]

``bmb.Model(formula, data, priors=...)`` with formulang's default priors (environment variable
``SMOOTH_PRIORS``: formulang's prior table as JSON, see ``smooth_formulang_fit.py``), sampled
through bambi (``inference_method="nutpie"``), CHAINS chains (default 4) x (DRAWS warm-up +
DRAWS draws). Compilation caches under CACHE_DIR, as ``bambi_fit.py``. Wall time: process start
to ``az.summary``. ESS and R-hat over the shared parameters (``smooth_formulang_fit.py``):
``Intercept``, the spline coefficients, ``1|g_sigma``, the GP's ``sigma`` and ``ell``,
``sigma``, and the population-level curve at the grid.
"""

from __future__ import annotations

import json
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

from smooth_models import curve_figures, grid_frame, load  # noqa: E402

stages = {"import": since_start()}
bench = load(model_name)
contender = f"bambi {backend}"
BAMBI = {"normal": ("Normal", {"mu": "mu", "sigma": "sigma"}),
         "student_t": ("StudentT", {"df": "nu", "mu": "mu", "sigma": "sigma"}),
         "half_student_t": ("HalfStudentT", {"df": "nu", "sigma": "sigma"}),
         "inv_gamma": ("InverseGamma", {"alpha": "alpha", "beta": "beta"})}


def prior(row) -> "bmb.Prior":
    name, params = BAMBI[row["distribution"]]
    return bmb.Prior(name, **{params[k]: v for k, v in row["params"].items()})


def bambi_priors(rows: list[dict]) -> dict:
    """formulang's prior rows as bambi's ``priors=``: coefficient rows of one term become one
    vector prior (bambi's priors are per term)."""
    out, coefs = {}, []
    for row in rows:
        if row["cls"] == "Intercept":
            out["Intercept"] = prior(row)
        elif row["cls"] == "b":
            coefs.append(row["params"]["sigma"])
        elif row["cls"] == "sd":
            out[f"1|{row['group']}"] = bmb.Prior("Normal", mu=0, sigma=prior(row))
        elif row["cls"] == "sigma":
            out["sigma"] = prior(row)
    if coefs:
        out[bench.smooth_term] = bmb.Prior("Normal", mu=0, sigma=coefs)
    gp = {r["cls"]: r for r in rows if r["cls"] in ("sdgp", "lscale")}
    if gp:
        out[bench.smooth_term] = {"sigma": prior(gp["sdgp"]), "ell": prior(gp["lscale"])}
    return out


t0 = time.perf_counter()
model = bmb.Model(bench.bambi_formula, bench.data,
                  priors=bambi_priors(json.loads(os.environ["SMOOTH_PRIORS"])))
terms = model.components["mu"].terms
given = terms[bench.smooth_term].prior  # bambi ignores an unknown key: check it took them
assert "Exponential" not in str(given) and "Normal(mu: 0.0, sigma: [" in str(given) or \
    "HalfStudentT" in str(given), f"bambi did not take formulang's priors: {given}"
model.set_alias({bench.smooth_term: bench.alias})
stages["model build"] = time.perf_counter() - t0


def fit(seed: int):
    return model.fit(draws=draws, tune=draws, chains=chains, inference_method=backend,
                     random_seed=seed, progressbar=False)


def shared(posterior) -> dict:
    """The shared parameters (bambi's names), and the curve."""
    names = ["Intercept", bench.alias, "1|g_sigma", "sigma", f"{bench.alias}_sigma",
             f"{bench.alias}_ell"]
    return {n: posterior[n].values for n in names
            if n in posterior and "__obs__" not in posterior[n].dims}  # not hsgp_x per row


def curve(idata):
    new = model.predict(idata, data=grid_frame(bench, bench.data["g"].iloc[0] if "g" in
                                               bench.data else ""),
                        kind="response_params", include_group_specific=False, inplace=False)
    return new.posterior["mu"].values


def figures(idata) -> dict:
    values = shared(idata.posterior)
    values["curve"] = curve(idata)
    out = sampler_figures(values, idata.sample_stats["diverging"].values, list(values))
    out["seconds"] = float(idata.posterior.attrs["sampling_time"])
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
sigma = idata.posterior["sigma"].values
report(contender=contender, model=model_name, status="ok", wall_seconds=wall, chains=chains,
       stages=stages, fit_seconds=stages["first fit"], **first, **rerun_figures(runs),
       **curve_figures(curve(idata)), sigma_mean=float(sigma.mean()),
       sigma_sd=float(sigma.std()))
