"""Distribution functions of the families' likelihoods, for censoring and truncation (JAX).

Each ``log_cdfs`` function takes the family's NumPyro distribution (the row's
``likelihood``) and values ``y`` and returns ``(log F(y), log S(y))``: ``F(y) = P(Y <= y)``
and ``S(y) = P(Y > y)``, as Stan's ``_lcdf`` and ``_lccdf`` (for discrete families ``S(y)``
excludes ``y`` itself). Each is finite, with finite gradients, wherever ``y`` is a value the
response can take (censored rows contribute these, and unused branches must not poison the
gradient). ``icdf`` functions (continuous families) invert ``F``; discrete families are
inverted by bisection (:func:`discrete_icdf`), and so are the Student t and gamma (NumPyro's
own inverses need TensorFlow Probability).

The ``*_moments`` functions (NumPy and SciPy, float64: for predictions) give, at values ``y``,
``(F(y), S(y), E[Y; Y <= y], E[Y; Y > y])``: the distribution functions and the partial first
moments, in closed form, from which :func:`formulang.lower.response.truncated_mean` takes the
mean of a truncated response (``E[Y | a < Y <= b] = (M(b) - M(a)) / (F(b) - F(a))``). Each
accepts ``y = -inf`` and ``+inf``. For counts ``k P(k)`` is the mean times a shifted pmf
(poisson: ``lambda P(k - 1)``; negative binomial: ``mu`` times the pmf with shape ``phi + 1``;
binomial: ``n p`` times that of ``n - 1`` trials), so no sums are needed.

>>> import jax.numpy as jnp, numpyro.distributions as dist
>>> lf, ls = normal(dist.Normal(0.0, 1.0), jnp.array([0.0]))
>>> float(jnp.exp(lf)[0]), float(jnp.exp(ls)[0])
(0.5, 0.5)
>>> lf, ls = poisson(dist.Poisson(2.0), jnp.array([0.0]))
>>> round(float(jnp.exp(lf)[0]), 4)  # P(Y = 0) = exp(-2)
0.1353
>>> F, S, below, above = normal_moments(0.0, 1.0, 0.0)
>>> round(float(above / S), 4)  # E[Y | Y > 0] of a standard normal: 2 phi(0)
0.7979
"""

from __future__ import annotations

import numpy as np


def _j():
    import jax.numpy as jnp
    import jax.scipy.special as jsp

    return jnp, jsp


def _log_both(jnp, F, S):
    tiny = 1e-30
    return jnp.log(jnp.clip(F, tiny, 1.0)), jnp.log(jnp.clip(S, tiny, 1.0))


def normal(d, y):
    jnp, jsp = _j()
    z = (y - d.loc) / d.scale
    return jsp.log_ndtr(z), jsp.log_ndtr(-z)


def lognormal(d, y):
    jnp, jsp = _j()
    safe = jnp.where(y > 0, y, 1.0)
    z = jnp.where(y > 0, (jnp.log(safe) - d.loc) / d.scale, -1e30)
    return jsp.log_ndtr(z), jsp.log_ndtr(-z)


def student_t(d, y):
    jnp, jsp = _j()
    t = (y - d.loc) / d.scale
    x = d.df / (d.df + t**2)
    tail = 0.5 * jsp.betainc(0.5 * d.df, 0.5, x)  # P(T > |t|)
    log_tail, log_body = jnp.log(jnp.clip(tail, 1e-30)), jnp.log1p(-tail)
    return jnp.where(t < 0, log_tail, log_body), jnp.where(t < 0, log_body, log_tail)


def gamma(d, y):
    jnp, jsp = _j()
    x = jnp.clip(y, 0.0) * d.rate
    return _log_both(jnp, jsp.gammainc(d.concentration, x), jsp.gammaincc(d.concentration, x))


def weibull(d, y):
    jnp, _ = _j()
    z = (jnp.clip(y, 0.0) / d.scale) ** d.concentration
    return jnp.log(-jnp.expm1(-jnp.clip(z, 1e-30))), -z


def exponential(d, y):
    jnp, _ = _j()
    z = jnp.clip(y, 0.0) * d.rate
    return jnp.log(-jnp.expm1(-jnp.clip(z, 1e-30))), -z


def poisson(d, y):
    jnp, jsp = _j()
    k = jnp.floor(jnp.clip(y, 0.0)) + 1.0
    F, S = jsp.gammaincc(k, d.rate), jsp.gammainc(k, d.rate)
    F, S = jnp.where(y < 0, 0.0, F), jnp.where(y < 0, 1.0, S)
    return _log_both(jnp, F, S)


def negative_binomial(d, y):
    """NumPyro's NegativeBinomial2 is a GammaPoisson: ``P(Y <= k) = I_p(r, k + 1)`` with
    ``p = beta / (1 + beta)``, ``r`` the concentration, ``beta`` the rate."""
    jnp, jsp = _j()
    r, p = d.concentration, d.rate / (1.0 + d.rate)
    k = jnp.floor(jnp.clip(y, 0.0)) + 1.0
    F, S = jsp.betainc(r, k, p), jsp.betainc(k, r, 1.0 - p)
    F, S = jnp.where(y < 0, 0.0, F), jnp.where(y < 0, 1.0, S)
    return _log_both(jnp, F, S)


def binomial(d, y):
    """``P(Y <= k) = I_(1-p)(n - k, k + 1)`` for ``0 <= k < n``."""
    jnp, jsp = _j()
    n = d.total_count
    p = d.probs
    k = jnp.clip(jnp.floor(y), 0.0, jnp.maximum(n - 1.0, 0.0))
    a = jnp.maximum(n - k, 1e-30)
    F, S = jsp.betainc(a, k + 1.0, 1.0 - p), jsp.betainc(k + 1.0, a, p)
    F = jnp.where(y < 0, 0.0, jnp.where(y >= n, 1.0, F))
    S = jnp.where(y < 0, 1.0, jnp.where(y >= n, 0.0, S))
    return _log_both(jnp, F, S)


# ---- inverses ------------------------------------------------------------------------------

def normal_icdf(d, u):
    _, jsp = _j()
    return d.loc + d.scale * jsp.ndtri(u)


def lognormal_icdf(d, u):
    jnp, jsp = _j()
    return jnp.exp(d.loc + d.scale * jsp.ndtri(u))


def weibull_icdf(d, u):
    jnp, _ = _j()
    return d.scale * (-jnp.log1p(-u)) ** (1.0 / d.concentration)


def exponential_icdf(d, u):
    jnp, _ = _j()
    return -jnp.log1p(-u) / d.rate


def _bisect(log_cdfs, d, u, lo, hi, log_space: bool = False, steps: int = 64):
    """``F^-1(u)`` by bisection between ``lo`` and ``hi`` (in ``log y`` with ``log_space``):
    NumPyro's Student t and gamma inverses need TensorFlow Probability."""
    jnp, _ = _j()
    import jax

    lo = jnp.broadcast_to(jnp.asarray(lo, dtype=u.dtype), u.shape)
    hi = jnp.broadcast_to(jnp.asarray(hi, dtype=u.dtype), u.shape)
    log_u = jnp.log(u)

    def step(_, bounds):
        a, b = bounds
        m = 0.5 * (a + b)
        above = log_cdfs(d, jnp.exp(m) if log_space else m)[0] >= log_u
        return jnp.where(above, a, m), jnp.where(above, m, b)

    a, b = jax.lax.fori_loop(0, steps, step, (lo, hi))
    m = 0.5 * (a + b)
    return jnp.exp(m) if log_space else m


def student_t_icdf(d, u):
    return _bisect(student_t, d, u, d.loc - 1e7 * d.scale, d.loc + 1e7 * d.scale, steps=80)


def gamma_icdf(d, u):
    jnp, _ = _j()
    mean = d.concentration / d.rate
    return _bisect(gamma, d, u, jnp.log(mean) - 60.0,
                   jnp.log(mean * (40.0 + 40.0 / d.concentration)), log_space=True)


def discrete_icdf(log_cdfs, d, u, lo, hi, steps: int = 25):
    """The smallest whole ``k`` in ``(lo, hi]`` with ``F(k) >= u``, by bisection (``hi`` at
    most ``2**24``, where float32 still counts whole numbers exactly)."""
    jnp, _ = _j()
    import jax

    lo = jnp.broadcast_to(jnp.asarray(lo, dtype=u.dtype), u.shape)
    hi = jnp.broadcast_to(jnp.asarray(hi, dtype=u.dtype), u.shape)
    log_u = jnp.log(u)

    def step(_, bounds):
        a, b = bounds  # F(a) < u <= F(b)
        m = jnp.floor((a + b) / 2.0)
        above = log_cdfs(d, m)[0] >= log_u
        return jnp.where(above, a, m), jnp.where(above, m, b)

    _, b = jax.lax.fori_loop(0, steps, step, (lo, hi))
    return b


DISCRETE_CAP = float(2**24)


# ---- partial moments (NumPy float64, for the mean of truncated responses) ------------------

def normal_moments(mu, sigma, y):
    from scipy import special

    z = (y - mu) / sigma
    pdf = np.exp(-0.5 * np.square(np.where(np.isfinite(z), z, 0.0))) / np.sqrt(2 * np.pi)
    pdf = np.where(np.isfinite(z), pdf, 0.0)
    F, S = special.ndtr(z), special.ndtr(-z)
    return F, S, mu * F - sigma * pdf, mu * S + sigma * pdf


def lognormal_moments(mu, sigma, y):
    """``E[Y; Y <= y] = exp(mu + sigma^2 / 2) Phi((log y - mu - sigma^2) / sigma)``."""
    from scipy import special

    with np.errstate(divide="ignore", invalid="ignore"):
        log_y = np.where(y > 0, np.log(np.where(y > 0, y, 1.0)), -np.inf)
    z = (log_y - mu) / sigma
    mean = np.exp(mu + 0.5 * sigma**2)
    return (special.ndtr(z), special.ndtr(-z), mean * special.ndtr(z - sigma),
            mean * special.ndtr(sigma - z))


def student_t_moments(mu, sigma, nu, y):
    """``int t f(t) dt = -(nu + t^2) f(t) / (nu - 1)`` for the standard t's density ``f``;
    at an infinite ``y`` the term is 0 when ``nu > 1`` (else the mean is infinite)."""
    from scipy import stats

    t = (y - mu) / sigma
    finite = np.isfinite(t)
    tf = np.where(finite, t, 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        g = (nu + tf**2) * stats.t.pdf(tf, nu) / (nu - 1.0)
    g = np.where(finite, g, np.where(nu > 1.0, 0.0, -np.inf))
    F, S = stats.t.cdf(t, nu), stats.t.sf(t, nu)
    return F, S, mu * F - sigma * g, mu * S + sigma * g


def gamma_moments(shape, mean, y):
    """``E[Y; Y <= y] = mean P(shape + 1, rate y)`` (``P`` the regularised incomplete gamma)."""
    from scipy import special

    x = np.clip(y, 0.0, np.inf) * shape / mean
    return (special.gammainc(shape, x), special.gammaincc(shape, x),
            mean * special.gammainc(shape + 1.0, x), mean * special.gammaincc(shape + 1.0, x))


def weibull_moments(shape, mean, y):
    """With ``z = (y / scale)^shape``: ``E[Y; Y <= y] = mean P(1 + 1/shape, z)``."""
    from scipy import special

    scale = mean / special.gamma(1.0 + 1.0 / shape)
    z = (np.clip(y, 0.0, np.inf) / scale) ** shape
    a = 1.0 + 1.0 / shape
    return (-np.expm1(-z), np.exp(-z), mean * special.gammainc(a, z),
            mean * special.gammaincc(a, z))


def poisson_moments(rate, y):
    from scipy import stats

    F, S = stats.poisson.cdf(y, rate), stats.poisson.sf(y, rate)
    return F, S, rate * stats.poisson.cdf(y - 1, rate), rate * stats.poisson.sf(y - 1, rate)


def negative_binomial_moments(mean, phi, y):
    """SciPy's ``nbinom(n = phi, p = phi / (phi + mean))`` has mean ``mean``."""
    from scipy import stats

    p = phi / (phi + mean)
    return (stats.nbinom.cdf(y, phi, p), stats.nbinom.sf(y, phi, p),
            mean * stats.nbinom.cdf(y - 1, phi + 1.0, p),
            mean * stats.nbinom.sf(y - 1, phi + 1.0, p))


def binomial_moments(trials, p, y):
    from scipy import stats

    n = np.asarray(trials, dtype=float)
    below = np.where(n > 0, stats.binom.cdf(y - 1, np.maximum(n - 1, 0), p), 0.0)
    above = np.where(n > 0, stats.binom.sf(y - 1, np.maximum(n - 1, 0), p), 0.0)
    return stats.binom.cdf(y, n, p), stats.binom.sf(y, n, p), n * p * below, n * p * above

__all__ = ["DISCRETE_CAP", "binomial", "binomial_moments", "discrete_icdf", "exponential",
           "exponential_icdf", "gamma", "gamma_icdf", "gamma_moments", "lognormal",
           "lognormal_icdf", "lognormal_moments", "negative_binomial",
           "negative_binomial_moments", "normal", "normal_icdf", "normal_moments", "poisson",
           "poisson_moments", "student_t", "student_t_icdf", "student_t_moments", "weibull",
           "weibull_icdf", "weibull_moments"]
