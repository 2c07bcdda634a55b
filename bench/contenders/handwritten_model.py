"""The benchmark models written by hand in NumPyro (no formulang import).

:func:`build` returns a compiled sampler for one model and parameterisation. Same priors as
formulang's data-scaled defaults (computed here the way formulang/lower/priors.py does, rounded
to 4 significant digits as it does), the intercept sampled on centred predictors, the same
parameterisation of the group effects (all levels centred, or all non-centred), the same
NUTS settings and chain layout. Chains start at NumPyro's default (uniform in (-2, 2),
unconstrained), as a hand-written model's do; formulang's start at its priors' centres.
Gaussian (identity link) or binomial (logit link) response; one group term ``(1 | g)`` or
``(1 + x | g)``. Call after JAX is set up (``common.setup_jax``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from models import design, load


@dataclass(frozen=True)
class HandWritten:
    """``fit(seed)`` -> (draws by chain {name: (chains, draws, ...)}, diverging (chains,
    draws), leapfrog steps per draw (chains, draws), warm-up leapfrog steps (chains,));
    ``names``: the variables compared
    across contenders."""

    fit: Callable
    names: list[str]


def _rounded(value: float) -> float:
    return float(f"{float(value):.4g}")


def _sd(x) -> float:
    import numpy as np

    value = float(np.std(x, ddof=1))
    return value if np.isfinite(value) and value > 0 else 1.0


def build(model_name: str, reparam: str, draws: int, chains: int = 4,
          centre_on_intercept: bool = False) -> HandWritten:
    """The hand-written model ``model_name`` with every level ``reparam`` ("centered" or
    "noncentered"), compiled on its first fit. ``centre_on_intercept``: centred effects are
    centred on the intercept (``rc = a + r``), as formulang does where every level is strongly
    identified (``GroupPlan.intercept_loc``); else on 0."""
    import jax
    import jax.numpy as jnp
    import numpy as np
    import numpyro
    import numpyro.distributions as dist
    import pandas as pd
    from numpyro.infer import NUTS

    bench = load(model_name)
    centered = reparam == "centered"

    # ---- data and formulang's default priors ---------------------------------------------
    y = bench.data[bench.response].to_numpy(float)
    X, _ = design(bench)
    x_means = X.mean(axis=0)
    codes_np, levels = pd.factorize(bench.data[bench.grouping], sort=True)
    J = len(levels)
    if bench.slope is None:
        Z = np.ones((len(y), 1))
    else:
        Z = np.column_stack([np.ones(len(y)), bench.data[bench.slope].to_numpy(float)])
    k = Z.shape[1]
    if bench.trials is None:
        trials = None
        m, s = float(np.mean(y)), _sd(y)
    else:
        trials = bench.data[bench.trials].to_numpy(float)
        p = float(np.clip(y.sum() / trials.sum(), 0.01, 0.99))
        m, s = float(np.log(p / (1 - p))), 1.0
    intercept_prior = (3.0, _rounded(m), _rounded(2.5 * s))
    b_scale = np.array([_rounded(2.5 * s / _sd(X[:, j])) for j in range(X.shape[1])])
    sd_scale = np.array([_rounded(2.5 * s / (1.0 if j == 0 else _sd(Z[:, j])))
                         for j in range(k)])
    sigma_scale = _rounded(2.5 * s)

    def half_t(scale):
        return dist.FoldedDistribution(dist.StudentT(3.0, 0.0, scale))

    def model(Xc, Z, codes, trials, y):
        a = numpyro.sample("a", dist.StudentT(*intercept_prior))
        b = numpyro.sample("b", dist.Normal(0.0, b_scale).to_event(1))
        eta = a + Xc @ b
        tau = numpyro.sample("sd", half_t(sd_scale).to_event(1))
        # centred: the intercept effect centred on the intercept (rc = a + r) or on 0
        loc = jnp.zeros(k).at[0].set(a) if centre_on_intercept else jnp.zeros(k)
        if k == 1:
            if centered:
                r = numpyro.sample("rc", dist.Normal(loc, tau).expand([J, 1]).to_event(2)) - loc
            else:
                r = tau * numpyro.sample("z", dist.Normal(0.0, 1.0).expand([J, 1]).to_event(2))
        else:
            L = numpyro.sample("L", dist.LKJCholesky(k, 2.0))
            tril = tau[:, None] * L
            if centered:
                r = numpyro.sample("rc", dist.MultivariateNormal(loc, scale_tril=tril)
                                   .expand([J]).to_event(1)) - loc
            else:
                r = numpyro.sample("z", dist.Normal(0.0, 1.0).expand([J, k]).to_event(2)) @ tril.T
            numpyro.deterministic("cor", (L @ L.T)[0, 1])
        eta = eta + jnp.sum(Z * r[codes], axis=-1)
        numpyro.deterministic("intercept", a - jnp.dot(x_means, b))
        if trials is None:
            sigma = numpyro.sample("sigma", half_t(sigma_scale))
            numpyro.sample("y", dist.Normal(eta, sigma), obs=y)
        else:
            numpyro.sample("y", dist.BinomialLogits(eta, total_count=trials), obs=y)

    args = (jnp.asarray(X - x_means), jnp.asarray(Z), jnp.asarray(codes_np),
            None if trials is None else jnp.asarray(trials), jnp.asarray(y))
    names = ["intercept", "b", "sd"] + (["cor"] if k == 2 else []) + \
        (["sigma"] if trials is None else [])
    kernel = NUTS(model)

    def one_chain(rng_key, data):
        """Warm-up then draws, two lax.scan loops over NumPyro's NUTS kernel. NumPyro's
        MCMC.run builds a new pmap per run, so each refit traces and compiles again; this
        function is compiled once and the refits measure sampling alone (the same scheme as
        formulang's sampler, so the two differ only in the model code)."""
        state = kernel.init(rng_key, draws, None, model_args=data, model_kwargs={})
        def warm(st, _):
            st = kernel.sample(st, data, {})
            return st, st.num_steps

        state, warmup = jax.lax.scan(warm, state, None, length=draws)

        def draw(st, _):
            st = kernel.sample(st, data, {})
            return st, (st.z, st.diverging, st.num_steps)

        _, (z, diverging, steps) = jax.lax.scan(draw, state, None, length=draws)
        return (jax.vmap(kernel.postprocess_fn(data, {}))(z), diverging, steps,
                jnp.sum(warmup))

    run_chains = jax.pmap(one_chain, in_axes=(0, None))

    def fit(seed: int):
        keys = jax.random.split(jax.random.PRNGKey(seed), chains)
        samples, diverging, steps, warmup = jax.block_until_ready(run_chains(keys, args))
        return ({name: np.asarray(v) for name, v in samples.items()}, np.asarray(diverging),
                np.asarray(steps), np.asarray(warmup))

    return HandWritten(fit, names)
