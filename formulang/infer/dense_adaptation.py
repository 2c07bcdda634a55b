"""Warm-up's mass-matrix adaptation when the matrix has a dense block
(:attr:`ModelPlan.dense_mass <formulang.lower.plan.ModelPlan.dense_mass>`): NumPyro's windows,
with the dense block's covariance shrunk toward its own diagonal by ``d / (n + d)`` (``d``
entries, ``n`` draws in the window).

NumPyro (as Stan) estimates a dense block from each slow window's draws alone, and shrinks it
toward ``1e-3 I`` by ``5 / (n + 5)``: a block of ``d`` entries estimated from the 25, 50, 100
and 200 draws of the early windows is then nearly singular when ``d`` is near or above ``n``,
and the next window runs with tiny steps and deep trees. A negative binomial with 38 x 25
crossed levels (a block of 65) spent 42,600 warm-up gradients a chain against 14,500 with a
diagonal matrix; 100 x 25 (127) spent 158,600 against 22,200. Shrunk toward the diagonal,
an early window's block is nearly the diagonal matrix, and the last window's (500 draws of
1,000 warm-up) keeps most of what the draws say: the crossed factors' ridge the block is
there to follow.

Diagonal blocks are adapted exactly as NumPyro does. NUTS is built with
``adapt_mass_matrix=False`` (:class:`~formulang.infer.nuts.NutsSampler`) and this module sets
the matrices in its state before the iteration that ends each window, so that NumPyro's step
size search at the window's end already uses them.

>>> windows = adaptation_windows(1000)
>>> int(windows.ends.sum()), int(windows.middle.sum())  # five slow windows, 875 iterations
(5, 875)
>>> shrinkage(127, 500)
0.2025...
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def shrinkage(d: int, n) -> float:
    """The weight of the diagonal in a ``d``-entry block estimated from ``n`` draws."""
    return d / (n + d)


@dataclass(frozen=True)
class AdaptationWindows:
    """Per warm-up iteration: ``middle`` (the draw counts toward a slow window) and ``ends``
    (a slow window ends at this iteration: the matrices are set before it)."""

    middle: np.ndarray
    ends: np.ndarray


def adaptation_windows(tune: int) -> AdaptationWindows:
    """NumPyro's (Stan's) warm-up windows (``build_adaptation_schedule``) as per-iteration
    flags; the first and last windows are buffers, with no mass-matrix update."""
    from numpyro.infer.hmc_util import build_adaptation_schedule

    schedule = build_adaptation_schedule(tune) if tune > 0 else []
    middle, ends = np.zeros(max(tune, 1), bool), np.zeros(max(tune, 1), bool)
    for window in schedule[1:-1]:
        middle[window.start:window.end + 1] = True
        ends[window.end] = True
    return AdaptationWindows(middle, ends)


def _final(state):
    """``(inverse_mass, mass_sqrt, mass_sqrt_inv)`` of one block's Welford state, as
    NumPyro's ``welford_covariance`` final step with Stan's regularisation, a dense block
    then shrunk toward its diagonal (:func:`shrinkage`)."""
    import jax.numpy as jnp
    from jax.scipy.linalg import solve_triangular

    mean, m2, n = state
    cov = m2 / (n - 1)
    cov = (n / (n + 5.0)) * cov + 1e-3 * (5.0 / (n + 5.0)) * (
        jnp.identity(mean.shape[0]) if cov.ndim == 2 else 1.0)
    if cov.ndim == 1:
        root = jnp.sqrt(cov)
        return cov, 1.0 / root, root
    lam = shrinkage(cov.shape[0], n)
    cov = (1.0 - lam) * cov + lam * jnp.diag(jnp.diag(cov))
    # NumPyro's factors: the inverse of the Cholesky factor of the precision, and its inverse
    tril_inv = jnp.swapaxes(jnp.linalg.cholesky(cov[::-1, ::-1])[::-1, ::-1], -2, -1)
    return cov, solve_triangular(tril_inv, jnp.identity(cov.shape[0]), lower=True), tril_inv


def adapter(tune: int):
    """``(init(state), before(i, state, acc) -> (state, acc), after(i, state, acc) -> acc)``
    for a chain's loop over an ``HMCState`` with a block-structured mass matrix (a dict by
    tuples of sites, as NumPyro keeps one with a dense block): ``before`` sets the window's
    matrices into ``state`` at a window's last iteration, ``after`` adds the iteration's
    draw to the window's running moments ``acc``."""
    import jax.numpy as jnp
    from jax import lax
    from numpyro.infer.hmc_util import welford_covariance

    windows = adaptation_windows(tune)
    middle, ends = jnp.asarray(windows.middle), jnp.asarray(windows.ends)
    start, update, _ = welford_covariance(diagonal=False)  # each block's shape decides

    def init(state):
        return start({k: v.shape for k, v in state.adapt_state.inverse_mass_matrix.items()})

    def set_matrices(state, acc):
        blocks = {k: _final(v) for k, v in acc.items()}
        inverse_mass, sqrt, sqrt_inv = ({k: b[j] for k, b in blocks.items()} for j in range(3))
        adapt = state.adapt_state._replace(inverse_mass_matrix=inverse_mass,
                                           mass_matrix_sqrt=sqrt, mass_matrix_sqrt_inv=sqrt_inv)
        return state._replace(adapt_state=adapt), init(state)

    def flag(flags, i):
        return (i < tune) & flags[jnp.minimum(i, flags.shape[0] - 1)]

    def before(i, state, acc):
        return lax.cond(flag(ends, i), set_matrices, lambda s, a: (s, a), state, acc)

    def after(i, state, acc):
        return lax.cond(flag(middle, i), lambda a: update(state.z, a), lambda a: a, acc)

    return init, before, after
