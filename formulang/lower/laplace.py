"""The embedded Laplace approximation: group effects of a non-Gaussian model integrated out
approximately inside the sampler (issue 23).

For a family whose log-likelihood ``l(eta)`` is concave in the linear predictor (bernoulli,
binomial, poisson, negative_binomial: ``FamilySpec.log_concave``), with ``eta = eta0 + Z u``,
``eta0 = offset + X theta`` and the effects standardised as in the exact Gaussian collapse
(:mod:`formulang.lower.collapsed`: ``u = T v``, ``v ~ N(0, I)``, one block per level of the
coarsest factor)::

    f(v) = sum_i l_i(eta_i) - |v|^2 / 2,      H(v) = I + T' Z' W Z T,  W = diag(-l_i'')
    log p(y | theta) ~ f(v*) - 1/2 log|H(v*)|                (v* the mode of f)

``H`` is block-diagonal (``q x q`` per block), so the mode is found by Newton steps vectorised
over blocks (per-row sums by ``segment_sum``: ``O(N q^2)`` per step), each block halving its
own step while its objective would fall. No inverse of the group covariance appears, so it
stays stable as SDs go to 0, as in the exact collapse.

Gradients come through the implicit function theorem, not by differentiating the Newton
loop: the loop runs on stopped inputs (forward only), and the marginal is evaluated at
``v_d = v* + s - stop_gradient(s)`` with ``s = H(v*)^-1 grad f(v*)`` and ``H`` stopped: its
value is ``v*`` and its derivative ``dv*/dtheta = H^-1 d grad f / dtheta``, exactly the
implicit function theorem's. ``f`` is stationary at ``v*``, so only ``log|H|`` uses it.

NUTS then runs over the population, SD, correlation and family parameters (the full model's
sites and priors); the effects are drawn afterwards from ``N(v*, H^-1)`` per draw, with
importance weights on the full joint (:mod:`formulang.infer.laplace_draws`).

Crossed factors are refused: their effects couple across blocks, so ``H`` is no longer
block-diagonal and a dense ``(levels x levels)`` factorisation per gradient would cost more
than sampling the effects.

>>> import formulang as fl
>>> d = fl.datasets.load("cbpp")
>>> m = fl.Model("cbind(incidence, size - incidence) ~ period + (1 | herd)", d,
...              collapse="laplace")
>>> m.collapsed, m.compiled.laplace, m.collapse_layout.n_blocks
(True, True, 15)
"""

from __future__ import annotations

import numpy as np

from .collapsed import BlockLayout, block_scale, group_scale, population_sites, scatter_index
from .plan import ModelPlan

MAX_NEWTON = 30  # Newton steps per mode (typically 3-6 from v = 0)
MAX_HALVINGS = 12  # step halvings per Newton step, for blocks whose objective would fall
STEP_TOL = 1e-4  # stop when no block's Newton step moves v (unit: prior SDs) by more


# ---- data ------------------------------------------------------------------------------------

def laplace_data(plan: ModelPlan, data: dict, layout: BlockLayout) -> dict:
    """The pytree the Laplace model takes: priors, and the rows sorted by block with ``Z``
    as a dense ``(rows, q)`` matrix in block coordinates (``Z[i, j]``: the effect at slot
    ``j`` of row ``i``'s block), ``block`` per row, the population design, response, trials
    and the additions' arrays (rate()); ``T_index`` where blocks differ in layout."""
    codes = [np.asarray(c, dtype=np.intp) for c in data["codes"]]
    values = [np.asarray(v, dtype=np.float64) for v in data["values"]]
    n = len(data["y"])
    block = np.asarray(layout.level_block[layout.outer], dtype=np.intp)[codes[layout.outer]]
    Z = np.zeros((n, layout.q))
    for gi, (c, v) in enumerate(zip(codes, values)):
        slot = layout.level_slot[gi][c]
        for j in range(v.shape[1]):
            Z[np.arange(n), slot + j] = v[:, j]
    order = np.argsort(block, kind="stable")
    rows = {"Z": Z[order], "block": block[order].astype(np.int32),
            "X": np.asarray(data["X"], dtype=np.float64)[order],
            "offset": np.asarray(data["offset"], dtype=np.float64)[order],
            "y": np.asarray(data["y"])[order]}
    for key in ("trials", *plan.response.data_keys()):
        if data.get(key) is not None:
            rows[key] = np.asarray(data[key])[order]
    out = {"priors": data["priors"], "rows": rows}
    if not layout.shared:
        out["T_index"] = scatter_index(plan, layout)
    return out


# ---- the per-block pass over rows --------------------------------------------------------------

def row_loglik(plan: ModelPlan, rows: dict, aux: dict):
    """``eta -> l_i(eta_i)`` per row: the family's log density of the response (with
    trials and rate() where given), from its row."""
    from .response import observation

    def loglik(eta):
        dist = observation(plan.family, plan.response, eta, aux, rows.get("trials"), rows)
        return dist.log_prob(rows["y"])

    return loglik


def population_eta(plan: ModelPlan, rows: dict, theta):
    """``eta0 = offset + X_c theta`` (``theta``: the intercept first, then the slopes)."""
    eta = rows["offset"]
    if plan.intercept:
        eta = eta + theta[0]
        theta = theta[1:]
    if rows["X"].shape[1]:
        eta = eta + rows["X"] @ theta
    return eta


def block_pass(loglik, eta0, rows: dict, T, v, n_blocks: int, second: bool = True):
    """At standardised effects ``v`` (``(B, q)``): per block the objective ``f_o(v)``, its
    gradient ``T_o' Z_o' l' - v_o`` and (``second``) ``H_o = I + T_o' Z_o' W_o Z_o T_o``,
    ``W = diag(-l'')`` (None otherwise). One pass over the rows."""
    import jax
    import jax.numpy as jnp

    Z, block = rows["Z"], rows["block"]
    u = (T @ v[..., None])[..., 0]
    eta = eta0 + jnp.sum(Z * u[block], axis=-1)
    ones = jnp.ones_like(eta)

    def value_and_slope(e):
        value, pullback = jax.vjp(loglik, e)
        return value, pullback(ones)[0]  # separable: the gradient is l'_i per row

    def seg(x):
        return jax.ops.segment_sum(x, block, num_segments=n_blocks, indices_are_sorted=True)

    if second:
        (ll, d), (_, h) = jax.jvp(value_and_slope, (eta,), (ones,))
    else:
        ll, d = value_and_slope(eta)
    Tt = jnp.swapaxes(T, -1, -2)
    f = seg(ll) - 0.5 * jnp.sum(v * v, axis=-1)
    grad = (Tt @ seg(d[:, None] * Z)[..., None])[..., 0] - v
    if not second:
        return f, grad, None
    S = seg((-h)[:, None, None] * Z[:, :, None] * Z[:, None, :])
    return f, grad, jnp.eye(v.shape[-1]) + Tt @ S @ T


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
    return jsl.solve_triangular(L, b[..., None], lower=True, trans=int(transpose))[..., 0]


def newton_step(H, grad):
    """``H^-1 grad`` per block."""
    L = cholesky(H)
    return chol_solve(L, chol_solve(L, grad), transpose=True)


def find_mode(loglik, eta0, rows: dict, T, n_blocks: int, q: int):
    """``(v*, H(v*))`` per block, by damped Newton from ``v = 0`` (forward only: call it on
    stopped inputs). Each block halves its own step while its objective would fall (a Bernoulli
    block with a large SD can overshoot); the loop ends when no block moves by more than
    :data:`STEP_TOL` or after :data:`MAX_NEWTON` steps."""
    import jax.numpy as jnp
    from jax import lax

    v0 = jnp.zeros((n_blocks, q), dtype=eta0.dtype)
    f0, g0, H0 = block_pass(loglik, eta0, rows, T, v0, n_blocks)

    def better(f_new, f_old):  # rounding slack: float32 objectives of many rows
        return jnp.isfinite(f_new) & (f_new >= f_old - 1e-6 * (1.0 + jnp.abs(f_old)))

    def body(state):
        v, f, g, H, it, _ = state
        step = newton_step(H, g)
        step = jnp.where(jnp.isfinite(step), step, 0.0)

        def try_step(t):
            return block_pass(loglik, eta0, rows, T, v + t[:, None] * step, n_blocks)

        def halve_cond(s):
            t, f_new, _, _, k = s
            return jnp.any(~better(f_new, f)) & (k < MAX_HALVINGS)

        def halve(s):
            t, f_new, g_new, H_new, k = s
            t = jnp.where(better(f_new, f), t, 0.5 * t)
            f_new, g_new, H_new = try_step(t)
            return t, f_new, g_new, H_new, k + 1

        t = jnp.ones((n_blocks,), dtype=v.dtype)
        t, f_new, g_new, H_new, _ = lax.while_loop(halve_cond, halve,
                                                   (t, *try_step(t), 0))
        ok = better(f_new, f)  # a block that never improved keeps its point
        v_new = jnp.where(ok[:, None], v + t[:, None] * step, v)
        f_new = jnp.where(ok, f_new, f)
        g_new = jnp.where(ok[:, None], g_new, g)
        H_new = jnp.where(ok[:, None, None], H_new, H)
        moved = jnp.max(jnp.where(ok[:, None], jnp.abs(t[:, None] * step), 0.0))
        return v_new, f_new, g_new, H_new, it + 1, moved

    def cond(state):
        return (state[4] < MAX_NEWTON) & (state[5] > STEP_TOL)

    state = (v0, f0, g0, H0, 0, jnp.asarray(jnp.inf, dtype=eta0.dtype))
    v, _, _, H, _, _ = lax.while_loop(cond, body, state)
    return v, H


def laplace_marginal(plan: ModelPlan, layout: BlockLayout, data: dict, theta, trils, aux,
                     with_mode: bool = False):
    """``log p(y | theta, T, aux)`` with the group effects integrated out by the Laplace
    approximation, differentiable (the implicit function theorem, module docstring).
    ``with_mode``: also return ``v*`` and the Cholesky factor of ``H(v*)``."""
    import jax
    import jax.numpy as jnp

    rows = data["rows"]
    sg = jax.lax.stop_gradient
    T = block_scale(plan, layout, trils, data.get("T_index"))
    eta0 = population_eta(plan, rows, theta)
    B, q = layout.n_blocks, layout.q
    v_star, H_star = sg(find_mode(row_loglik(plan, rows, sg(aux)), sg(eta0), rows, sg(T),
                                  B, q))
    loglik = row_loglik(plan, rows, aux)
    _, g, _ = block_pass(loglik, eta0, rows, T, v_star, B, second=False)
    s = newton_step(H_star, g)
    v = v_star + s - sg(s)  # value v*, derivative dv*/dtheta (implicit function theorem)
    f, _, H = block_pass(loglik, eta0, rows, T, v, B)
    L = cholesky(H)
    logdet = 2.0 * jnp.sum(jnp.log(jnp.diagonal(L, axis1=-2, axis2=-1)), axis=-1)
    value = jnp.sum(f - 0.5 * logdet)
    return (value, v_star, sg(L)) if with_mode else value


def make_laplace_model(plan: ModelPlan, layout: BlockLayout):
    """``model(data)`` over the full model's non-group sites (same names and priors), with
    the group effects integrated out by the Laplace approximation:
    ``numpyro.factor("y_marginal", log p_LA(y | theta, sd, L, aux))``. ``data``:
    :func:`laplace_data`'s pytree."""

    def model(data):
        import numpyro

        from .numpyro_model import family_parameters

        params = data["priors"]
        theta = population_sites(plan, params)
        trils = [group_scale(g, params) for g in plan.groups]
        aux = family_parameters(plan, data)
        numpyro.factor("y_marginal", laplace_marginal(plan, layout, data, theta, trils, aux))

    return model


__all__ = ["block_pass", "find_mode", "laplace_data", "laplace_marginal",
           "make_laplace_model", "population_eta", "row_loglik"]
