"""Per-block linear algebra in JAX for the embedded Laplace approximation
(:mod:`formulang.lower.laplace`): stacks of small positive definite matrices ``(..., q, q)``,
one per block of group effects, factored and solved with ``q <= 2`` written out by hand
(tiny batched LAPACK calls are slow on CPU).

>>> import jax.numpy as jnp
>>> H = jnp.array([[[4.0, 2.0], [2.0, 3.0]]])
>>> [round(float(x), 4) for x in newton_step(H, jnp.array([[1.0, 1.0]]))[0]]
[0.125, 0.25]
>>> bool(jnp.allclose(chol_inverse(cholesky(H)) @ H, jnp.eye(2), atol=1e-6))
True
"""

from __future__ import annotations


def cholesky(H):
    """Lower Cholesky factors of ``(..., q, q)`` positive definite matrices (``q <= 2`` by
    hand: tiny batched LAPACK calls are slow on CPU)."""
    import jax.numpy as jnp

    q = H.shape[-1]
    if q == 1:
        return jnp.sqrt(H)
    if q == 2:
        l00 = jnp.sqrt(H[..., 0, 0])
        l10 = H[..., 1, 0] / l00
        l11 = jnp.sqrt(jnp.maximum(H[..., 1, 1] - l10 * l10, 1e-12))
        zero = jnp.zeros_like(l00)
        return jnp.stack([jnp.stack([l00, zero], -1), jnp.stack([l10, l11], -1)], -2)
    return jnp.linalg.cholesky(H)


def chol_solve(L, b, transpose: bool = False):
    """``L^-1 b`` (``transpose``: ``L'^-1 b``) per block, ``b`` ``(..., q)``."""
    import jax.numpy as jnp
    import jax.scipy.linalg as jsl

    q = L.shape[-1]
    if q == 1:
        return b / L[..., 0]
    if q == 2:
        l00, l10, l11 = L[..., 0, 0], L[..., 1, 0], L[..., 1, 1]
        if transpose:
            x1 = b[..., 1] / l11
            return jnp.stack([(b[..., 0] - l10 * x1) / l00, x1], -1)
        x0 = b[..., 0] / l00
        return jnp.stack([x0, (b[..., 1] - l10 * x0) / l11], -1)
    L = jnp.broadcast_to(L, b.shape[:-1] + L.shape[-2:])
    return jsl.solve_triangular(L, b[..., None], lower=True, trans=int(transpose))[..., 0]


def newton_step(H, grad):
    """``H^-1 grad`` per block."""
    L = cholesky(H)
    return chol_solve(L, chol_solve(L, grad), transpose=True)


def chol_inverse(L):
    """``H^-1`` from ``H``'s Cholesky factors ``L`` (``(..., q, q)``), column by column."""
    import jax.numpy as jnp

    eye = jnp.eye(L.shape[-1], dtype=L.dtype)
    cols = [chol_solve(L, chol_solve(L, jnp.broadcast_to(e, L.shape[:-1])), transpose=True)
            for e in eye]
    return jnp.stack(cols, -1)


__all__ = ["chol_inverse", "chol_solve", "cholesky", "newton_step"]
