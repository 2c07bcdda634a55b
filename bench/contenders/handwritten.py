"""Contender: the same models written by hand in NumPyro (no formulang import).

    python bench/contenders/handwritten.py MODEL centered|noncentered [CACHE_DIR]

Same priors as formulang's defaults (computed here from the data the same way), same
parameterisation, same NUTS settings and chain layout.
"""

from __future__ import annotations

import sys
import time
from common import START, report, sampler_figures, setup_jax
from models import load

model_name, reparam = sys.argv[1], sys.argv[2]
setup_jax(sys.argv[3] if len(sys.argv) > 3 else None)

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import numpyro  # noqa: E402
import numpyro.distributions as dist  # noqa: E402
import pandas as pd  # noqa: E402
from numpyro.infer import MCMC, NUTS  # noqa: E402

t_import = time.perf_counter() - START

df, response, covariate, grouping = load(model_name)
y, x = df[response].to_numpy(float), df[covariate].to_numpy(float)
k = 1 if model_name == "radon_intercept" else 2
codes_np, levels = pd.factorize(df[grouping], sort=True)
J = len(levels)
sy, sx = np.std(y, ddof=1), np.std(x, ddof=1)
xc = x - x.mean()
centered = reparam == "centered"


def half_t(scale):
    return dist.FoldedDistribution(dist.StudentT(3.0, 0.0, scale))


def model(x, xc, codes, y):
    a = numpyro.sample("a", dist.StudentT(3.0, y.mean(), 2.5 * sy))
    b = numpyro.sample("b", dist.Normal(0.0, 2.5 * sy / sx))
    mu = a + b * xc
    if k == 1:
        sd = numpyro.sample("sd", half_t(2.5 * sy))
        if centered:
            r = numpyro.sample("r", dist.Normal(0.0, sd).expand([J]).to_event(1))
        else:
            r = sd * numpyro.sample("z", dist.Normal(0.0, 1.0).expand([J]).to_event(1))
        mu = mu + r[codes]
    else:
        sd = numpyro.sample("sd", half_t(jnp.array([2.5 * sy, 2.5 * sy / sx])))
        L = numpyro.sample("L", dist.LKJCholesky(2, 2.0))
        tril = sd[:, None] * L
        if centered:
            r = numpyro.sample("r", dist.MultivariateNormal(jnp.zeros(2), scale_tril=tril)
                               .expand([J]).to_event(1))
        else:
            r = numpyro.sample("z", dist.Normal(0.0, 1.0).expand([J, 2]).to_event(2)) @ tril.T
        numpyro.deterministic("cor", (L @ L.T)[0, 1])
        mu = mu + r[codes, 0] + r[codes, 1] * x
    sigma = numpyro.sample("sigma", half_t(2.5 * sy))
    numpyro.deterministic("intercept", a - b * x.mean())
    numpyro.sample("y", dist.Normal(mu, sigma), obs=y)


args = (jnp.asarray(x), jnp.asarray(xc), jnp.asarray(codes_np), jnp.asarray(y))
mcmc = MCMC(NUTS(model), num_warmup=1000, num_samples=1000, num_chains=4,
            chain_method="parallel", progress_bar=False, jit_model_args=True)
t0 = time.perf_counter()
mcmc.run(jax.random.PRNGKey(1), *args, extra_fields=("diverging",))
t_fit = time.perf_counter() - t0
t1 = time.perf_counter()
mcmc.run(jax.random.PRNGKey(2), *args, extra_fields=("diverging",))
t_sampling = time.perf_counter() - t1
samples = {k_: np.asarray(v) for k_, v in mcmc.get_samples(group_by_chain=True).items()}
names = ["intercept", "b", "sd", "sigma"] + (["cor"] if k == 2 else [])
figures = sampler_figures(samples, mcmc.get_extra_fields()["diverging"], names)
report(contender=f"hand-written NumPyro ({reparam})", model=model_name, import_seconds=t_import,
       fit_seconds=t_fit, sampling_seconds=t_sampling, **figures)
