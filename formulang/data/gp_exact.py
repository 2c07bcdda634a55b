"""Exact Gaussian processes ``gp(x)`` (no ``k``), as brms builds them: the squared-exponential
kernel ``sdgp^2 exp(-d^2 / (2 lscale^2))`` on ``x`` divided by its largest pairwise distance
(brms's ``scale = TRUE``), over the **unique** values of ``x`` (brms's ``gr = TRUE``; in the
order of their first rows, as brms, so ``zgp_gpx[j]`` is brms's),
non-centred: ``f = sdgp L zgp``, ``L`` the Cholesky factor of the correlation matrix plus a
jitter, ``zgp ~ N(0, 1)``; a row adds ``f`` at its value's index (brms's ``Jgp``).

The jitter: brms adds ``1e-12`` to the covariance's diagonal, in double precision. formulang
samples in float32 (JAX's default), where 1e-12 is far below round-off and the Cholesky factor
of a smooth kernel's matrix is undefined for long length-scales; it adds ``jitter * sdgp^2``
instead, ``jitter = 1e-5 max(1, N / 100)`` for ``N`` unique values (float32 round-off in the
factor grows with ``N``): a white-noise part of SD ``0.003 sdgp`` (``0.01 sdgp`` at the
``GP_EXACT_MAX`` of 1,000 values) at the unique values, far below any posterior's Monte Carlo
error (tests/test_gp_exact.py agrees with brms). Even so, in float32 a length-scale many
times the data's span (1,000 values: over ~9 times; under brms's default prior 1% of its mass
is above 1) leaves the factor undefined: the sampler rejects the step, as Stan rejects
brms's. Predictions use the same factor, so the training values come back exactly.

New values (brms's ``posterior_epred(newdata =)`` of an exact GP, ``.predictor_gp_new``): per
draw, ``f`` at the training values, then a draw of ``f`` at the new values from its
conditional (kriging) normal given them: mean ``k*' K^-1 f``, covariance ``k** - k*' K^-1 k*
+ 1e-8 I``, jointly over the new values (brms's ``rmulti_normal``). A new value equal to a
training one gets that value's ``f`` exactly (brms: ``f`` plus noise of SD ~1e-4 at most).

>>> import numpy as np
>>> from formulang.data.smooths import learn_smooth
>>> st = learn_smooth("gp", np.array([0.0, 2.0, 2.0, 4.0]))  # no k: exact
>>> st.bs, st.k, st.get("u").tolist(), gp_exact_index(st, np.array([4.0, 2.0, 3.0])).tolist()
('exact', 3, [0.0, 0.5, 1.0], [2, 1, -1])
>>> learn_smooth("gp", np.array([4.0, 0.0, 4.0, 2.0])).get("u").tolist()  # first rows' order
[1.0, 0.0, 0.5]
"""

from __future__ import annotations

import numpy as np

GP_EXACT_MAX = 1000  # unique values of an exact gp(): O(N^3) per gradient beyond
GP_EXACT_JITTER = 1e-5  # on the correlation's diagonal, per 100 unique values (float32)
GP_NEW_NUGGET = 1e-8  # brms's, on the conditional covariance of new values
_DRAW_CHUNK = 256  # draws per batch of conditional covariances (memory: chunk x m x m)


def gp_exact_arrays(x) -> tuple:
    """The named arrays of an exact GP of the training values ``x`` (the state's, made by
    :func:`formulang.data.smooths.learn_smooth`): ``u`` the unique values divided by ``dmax``
    (their range), in the order of their first rows (brms's), ``centre`` their mean, ``gap``
    the smallest step between them (brms's length-scale prior), ``jitter``."""
    x = np.asarray(x, dtype=float)
    dmax = float(np.max(x) - np.min(x))
    first = np.unique(x, return_index=True)[1]
    u = x[np.sort(first)] / dmax
    gap = float(np.min(np.diff(np.sort(u)))) if len(u) > 1 else 1.0
    return (("dmax", dmax), ("u", u), ("centre", float(np.mean(u))), ("gap", gap),
            ("jitter", GP_EXACT_JITTER * max(1.0, len(u) / 100)))


def gp_exact_index(state, x) -> np.ndarray:
    """Each value's index among the training unique values (-1: not one of them). Equal
    means equal after dividing by ``dmax``, to 1e-12 of the scaled range."""
    xs = np.asarray(x, dtype=float) / float(state.get("dmax"))
    order = np.argsort(state.get("u"), kind="stable")
    u = state.get("u")[order]
    j = np.clip(np.searchsorted(u, xs), 0, len(u) - 1)
    best = np.where((j > 0) & (np.abs(u[np.maximum(j - 1, 0)] - xs) < np.abs(u[j] - xs)),
                    j - 1, j)
    return np.where(np.abs(u[best] - xs) <= 1e-12, order[best], -1).astype(np.int64)


def exp_quad_corr(a, b, lscale, xp=np):
    """``exp(-(a_i - b_j)^2 / (2 lscale^2))``; ``lscale``'s leading axes batch (draws)."""
    lscale = xp.asarray(lscale)[..., None, None]
    d = xp.asarray(a)[:, None] - xp.asarray(b)[None, :]
    return xp.exp(-0.5 * (d / lscale) ** 2)


def gp_exact_values(u, sdgp, lscale, z, jitter: float = GP_EXACT_JITTER, xp=None):
    """``f = sdgp chol(C + jitter I) z`` at the unique values ``u`` (jax or numpy; leading
    axes of ``sdgp``, ``lscale``, ``z`` batch draws).

    >>> f = gp_exact_values(np.array([0.0, 0.5, 1.0]), 2.0, 0.3, np.array([1.0, 0.0, 0.0]))
    >>> bool(np.isclose(f[0], 2 * np.sqrt(1 + 1e-5)))
    True
    """
    if xp is None:
        import jax.numpy as jnp
        xp = np if isinstance(z, np.ndarray) else jnp
    C = exp_quad_corr(u, u, lscale, xp) + jitter * xp.eye(len(u))
    L = xp.linalg.cholesky(C) if xp is np or len(u) > SCAN_CHOLESKY_MAX else _scan_cholesky(C)
    return xp.asarray(sdgp)[..., None] * xp.einsum("...ij,...j->...i", L, xp.asarray(z))


SCAN_CHOLESKY_MAX = 256  # up to this size the sampler factors with _scan_cholesky


def _scan_cholesky(A):
    """The Cholesky factor of one matrix by columns in a ``lax.scan`` (the same arithmetic as
    LAPACK's unblocked left-looking factor). Why: on CPU, XLA's gradient of
    ``jnp.linalg.cholesky`` of a 32 x 32 matrix took ~1-5 ms, this one's ~0.13 ms (a 40-row
    exact GP fit 10-30x faster); the scan keeps each step's factor for the gradient
    (``N^3`` numbers), hence ``SCAN_CHOLESKY_MAX``. A non-positive pivot gives NaN, as
    LAPACK's failure does in JAX."""
    import jax.numpy as jnp
    from jax import lax

    n = A.shape[-1]
    idx = jnp.arange(n)

    def column(L, j):
        s = A[:, j] - L @ L[j, :]
        return L.at[:, j].set(jnp.where(idx >= j, s / jnp.sqrt(s[j]), 0.0)), None

    return lax.scan(column, jnp.zeros_like(A), idx)[0]


def gp_exact_draws(state, sdgp, lscale, z, x, rng) -> np.ndarray:
    """The GP at the values ``x`` per draw, (S, len(x)) (``sdgp``, ``lscale`` (S,), ``z``
    (S, k)): a training value's ``f``; new values drawn jointly from their conditional normal
    given ``f`` (module docstring)."""
    u, jitter = state.get("u"), float(state.get("jitter"))
    sdgp, lscale = np.asarray(sdgp, dtype=float), np.asarray(lscale, dtype=float)
    z = np.asarray(z, dtype=float)
    index = gp_exact_index(state, x)
    xs = np.asarray(x, dtype=float) / float(state.get("dmax"))
    new_values, where = np.unique(xs[index < 0], return_inverse=True)
    S, m = len(sdgp), len(new_values)
    out = np.empty((S, len(xs)))
    for start in range(0, S, _DRAW_CHUNK):
        part = slice(start, min(S, start + _DRAW_CHUNK))
        L = np.linalg.cholesky(exp_quad_corr(u, u, lscale[part]) + jitter * np.eye(len(u)))
        w = z[part]
        f = sdgp[part, None] * np.einsum("sij,sj->si", L, w)
        out[part][:, index >= 0] = f[:, index[index >= 0]]
        if not m:
            continue
        # K = sdgp^2 L L', k* = sdgp^2 C*, v = L^-1 C*: the mean k*' K^-1 f = sdgp v' z, the
        # covariance sdgp^2 (C** - v'v) + nugget
        Cs = exp_quad_corr(u, new_values, lscale[part])  # (s, N, m)
        v = np.linalg.solve(L, Cs)
        mean = sdgp[part, None] * np.einsum("sim,si->sm", v, w)
        cov = (sdgp[part, None, None] ** 2 * (exp_quad_corr(new_values, new_values, lscale[part])
                                              - np.einsum("sim,sin->smn", v, v))
               + GP_NEW_NUGGET * np.eye(m))
        e = rng.standard_normal((len(mean), m))
        draw = mean + np.einsum("smn,sn->sm", _sqrt_psd(cov), e)
        out[part][:, index < 0] = draw[:, where]
    return out


def _sqrt_psd(cov: np.ndarray) -> np.ndarray:
    """A square root of each (nearly) positive semi-definite matrix: its Cholesky factor, or
    (round-off made one indefinite, as brms's ``try_nug`` guards) ``V sqrt(max(w, 0))``."""
    try:
        return np.linalg.cholesky(cov)
    except np.linalg.LinAlgError:
        w, V = np.linalg.eigh(cov)
        return V * np.sqrt(np.clip(w, 0, None))[..., None, :]
