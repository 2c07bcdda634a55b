"""Every crossed Gaussian effect integrated out: the partial collapse's blocks, then the other
factors' effects through a dense Schur complement (issue 20).

The partial collapse (:mod:`formulang.lower.collapsed_crossed`) integrates out the collapsed
set ``a`` (block-diagonal given everything else) and leaves NUTS the other terms' effects
``u_d``. Its marginal is a Gaussian function of ``u_d``, so they integrate out too, in closed
form. With the partial statistics, ``t = theta - theta0``, each block's ``M_o = I + A_o =
L_o L_o'`` and ``T_o`` (:func:`~formulang.lower.collapsed.block_terms`)::

    w = L^-1 T' (Z_a'y0 - K_t t) / sigma^2        F = L^-1 T' K_u / sigma^2      (per block)
    P = W_uu'W_uu / sigma^2 - F'F                  h = (W_u'y0 - W_u'W_t t) / sigma^2 - F'w
    S = I + Lam' P Lam                             h_v = Lam' h

``P`` is the precision of ``u_d`` the rows give once ``u_a`` is integrated out, ``h`` its
linear term at ``u_d = 0`` and ``Lam = blockdiag(I_J (x) T_g)`` the ``d`` terms' scale, so::

    log p(y | theta, sigma, T) = partial(t, u_d = 0) - 1/2 log|S| + 1/2 h_v' S^-1 h_v

exactly (no approximation; Lai, Domke & Sheldon 2024 integrate one factor, this integrates
both). NUTS then runs over the population, SD, correlation and sigma sites alone: on crossed
subjects x items it needs about a quarter of the gradients the effects' ridge costs otherwise.
A gradient costs ``O(B q K_d^2 + K_d^3)`` (``K_d`` the effects of the ``d`` terms), nothing per
row, so it runs only where that is small (:data:`SCHUR_MAX_COST`); InstEval's 1,156 ``d``
effects stay sampled. The effects come out as exact draws: ``v_d ~ N(S^-1 h_v, S^-1)`` per
posterior draw (:func:`formulang.infer.collapsed_draws.schur_sites`), then the collapsed set given them, as the partial
collapse draws it.

>>> import formulang as fl
>>> m = fl.Model("diameter ~ 1 + (1 | plate) + (1 | sample)", fl.datasets.load("Penicillin"))
>>> m.partial.schur, m.partial.sampled_labels
(True, ('sample',))
"""

from __future__ import annotations

import numpy as np

from .collapsed import block_scale, block_terms, chol2, group_scale, population_sites
from .plan import ModelPlan, subplan
from .units import response_unit_sites, standardize_sites

# most multiply-adds of one gradient's dense part, B q K_d^2 + K_d^3: subjects x items (120 x
# 80) is 1.3e6; InstEval (2,972 x 1,156) would be 5.5e9 and stays partially collapsed
SCHUR_MAX_COST = 2e7


def schur_cost(n_block_effects: int, n_dense: int) -> float:
    """Multiply-adds of the dense part of one gradient (see :data:`SCHUR_MAX_COST`)."""
    return float(n_block_effects) * n_dense**2 + float(n_dense) ** 3


def schur_eligible(plan: ModelPlan, collapsed, sampled, block_effects: int) -> bool:
    """Whether the ``sampled`` terms' effects can go through the Schur complement: no term
    of theirs nests in another (a parent would centre them on sampled effects) and the dense
    part is cheap."""
    if any(plan.groups[i].parent is not None for i in sampled):
        return False
    n_dense = sum(len(plan.groups[i].levels) * plan.groups[i].k for i in sampled)
    return schur_cost(block_effects, n_dense) <= SCHUR_MAX_COST


def dense_shapes(plan: ModelPlan, part) -> tuple[tuple[int, int], ...]:
    """(levels, effects) of each ``d`` term, in ``part.sampled``'s order."""
    return tuple((len(plan.groups[i].levels), plan.groups[i].k) for i in part.sampled)


def schur_data(plan: ModelPlan, partial: dict) -> dict:
    """:func:`~formulang.lower.collapsed_crossed.partial_data`'s statistics, plus the dense
    pieces the Schur complement reads: ``Kt`` (B q x p) and ``Ku`` (B, q, K_d) from ``K =
    Zc'W``, and ``WtW`` dense (``K``'s triples stay, for the collapsed set's draws)."""
    B, q = np.shape(partial["ZtZ"])[:2]
    P = np.shape(partial["Wty"])[0]
    rows, cols, vals = (np.asarray(a) for a in partial["K"])
    K = np.zeros((B * q, P))
    np.add.at(K, (rows, cols), vals)
    r, c, v = (np.asarray(a) for a in partial["WtW"])
    WtW = np.zeros((P, P))
    np.add.at(WtW, (r, c), v)
    p = int(plan.intercept) + (plan.b.size if plan.b is not None else 0)
    keep = {k: partial[k] for k in ("priors", "ZtZ", "unit", "theta0", "Zty", "Wty", "yty",
                                     "n", "K") + (("T_index",) if "T_index" in partial else ())}
    return {**keep, "Kt": K[:, :p], "Ku": K[:, p:].reshape(B, q, P - p), "WtW": WtW}


def _block_solve(A, G, xp):
    """``L^-1 G`` per block, ``M = I + A = L L'`` (``A`` as :func:`block_terms` gives it),
    ``G`` (..., B, q, m); and ``log|M|`` summed over blocks."""
    if isinstance(A, tuple) and len(A) == 1:
        m = 1.0 + A[0]
        return G / xp.sqrt(m)[..., None, None], xp.sum(xp.log(m), axis=-1)
    if isinstance(A, tuple):
        l00, l10, l11 = chol2(*A, xp=xp)
        x0 = G[..., 0, :] / l00[..., None]
        x1 = (G[..., 1, :] - l10[..., None] * x0) / l11[..., None]
        return (xp.stack([x0, x1], axis=-2),
                2.0 * xp.sum(xp.log(l00) + xp.log(l11), axis=-1))
    R = xp.linalg.cholesky(A + xp.eye(A.shape[-1]))
    logdet = 2.0 * xp.sum(xp.log(xp.diagonal(R, axis1=-2, axis2=-1)), axis=(-2, -1))
    return _tri_solve(R, G, xp), logdet


def _tri_solve(R, G, xp):
    """``R^-1 G`` for lower-triangular ``R``."""
    if xp is np:
        return np.linalg.solve(R, G)
    import jax.scipy.linalg as jsl

    return jsl.solve_triangular(R, G, lower=True)


def small_transpose_product(T, X, xp):
    """``T' X`` for tiny ``T`` (..., q, q) against ``X`` (..., q, m), broadcasting, as a sum
    over ``q`` of elementwise products: XLA's CPU batched matmul makes one small GEMM call per
    batch entry (a block, a level), which made these products most of a gradient's cost."""
    return xp.sum(T[..., :, :, None] * X[..., :, None, :], axis=-3)


def scale_rows(M, trils, shapes, xp):
    """``Lam' M`` for ``Lam = blockdiag(I_J (x) T_g)`` over the ``d`` terms (``trils``: each
    term's ``(..., k, k)`` scale; ``shapes``: (levels, k) each); ``M`` (..., K_d, m)."""
    parts, start = [], 0
    lead, m = M.shape[:-2], M.shape[-1]
    for T, (J, k) in zip(trils, shapes):
        block = xp.reshape(M[..., start:start + J * k, :], lead + (J, k, m))
        moved = small_transpose_product(T[..., None, :, :], block, xp)  # T' per level
        parts.append(xp.reshape(moved, lead + (J * k, m)))
        start += J * k
    return parts[0] if len(parts) == 1 else xp.concatenate(parts, axis=-2)


def schur_terms(data: dict, t, sigma, T, trils_d, shapes, xp=None):
    """``(partial, S, h_v)`` of the module docstring for one point (jax) or a batch of
    draws (numpy; leading axis), all in the statistics' unit: ``partial`` the partial
    marginal at ``u_d = 0``, ``S`` (..., K_d, K_d), ``h_v`` (..., K_d)."""
    import jax.numpy as jnp

    xp = jnp if xp is None else xp
    ZtZ, Ku = data["ZtZ"], data["Ku"]
    B, q = ZtZ.shape[-3], ZtZ.shape[-2]
    Kd = Ku.shape[-1]
    p = data["Kt"].shape[-1]
    Ztr = xp.reshape(data["Zty"] - t @ xp.swapaxes(data["Kt"], -1, -2), t.shape[:-1] + (B, q))
    WtW, Wty = data["WtW"], data["Wty"]
    Wtt, Wut, Wuu = WtW[:p, :p], WtW[p:, :p], WtW[p:, p:]
    rr = (data["yty"] - 2.0 * xp.sum(Wty[:p] * t, axis=-1)
          + xp.sum((t @ Wtt) * t, axis=-1))
    s2 = xp.asarray(sigma) ** 2
    stats = {"ZtZ": ZtZ, "ZtX": xp.zeros((B, q, 0)), "Zty": Ztr, "yty": rr,
             "Xty": xp.zeros(0), "XtX": xp.zeros((0, 0))}
    _, A, _ = block_terms(stats, xp.zeros(t.shape[:-1] + (0,)), sigma, T, xp=xp)
    G = small_transpose_product(T, xp.concatenate(
        [Ztr[..., None], xp.broadcast_to(Ku, Ztr.shape[:-2] + Ku.shape)], axis=-1), xp)
    LG, logdet = _block_solve(A, G / s2[..., None, None, None], xp)
    w = xp.reshape(LG[..., 0], t.shape[:-1] + (B * q,))
    F = xp.reshape(LG[..., 1:], t.shape[:-1] + (B * q, Kd))
    partial = (-0.5 * data["n"] * xp.log(2.0 * np.pi * s2) - 0.5 * rr / s2
               + 0.5 * (xp.sum(w * w, axis=-1) - logdet))
    Ft = xp.swapaxes(F, -1, -2)
    P = Wuu / s2[..., None, None] - Ft @ F
    h = ((Wty[p:] - t @ xp.swapaxes(Wut, -1, -2)) / s2[..., None]
         - (Ft @ w[..., None])[..., 0])
    S = xp.eye(Kd) + scale_rows(xp.swapaxes(scale_rows(P, trils_d, shapes, xp), -1, -2),
                                trils_d, shapes, xp)
    h_v = scale_rows(h[..., None], trils_d, shapes, xp)[..., 0]
    return partial, S, h_v


def make_schur_model(plan: ModelPlan, part):
    """``model(data)`` over the population, SD, correlation and sigma sites of the full model
    (no effect sites), ``data`` from :func:`schur_data`: ``numpyro.factor("y_marginal",
    log p(y | theta, sigma, T))`` with every group effect integrated out (module
    docstring). Sites in the response's unit are sampled divided by ``data["unit"]``."""
    collapsed = subplan(plan, part.collapsed)
    dense = [plan.groups[i] for i in part.sampled]
    shapes = dense_shapes(plan, part)
    unit_sites = response_unit_sites(plan)
    layout = part.layout

    def model(data):
        import jax.numpy as jnp
        import jax.scipy.linalg as jsl
        import numpyro

        from .numpyro_model import family_parameters

        params, unit = data["priors"], data["unit"]
        with standardize_sites(unit_sites, unit):
            theta = population_sites(plan, params)
            trils = [group_scale(g, params) for g in collapsed.groups]
            trils_d = [group_scale(g, params) for g in dense]
            sigma = family_parameters(plan, data)["sigma"]
        T = block_scale(collapsed, layout, trils, data.get("T_index"))
        partial, S, h_v = schur_terms(data, theta - data["theta0"], sigma, T, trils_d, shapes)
        R = jnp.linalg.cholesky(S)
        z = jsl.solve_triangular(R, h_v, lower=True)
        numpyro.factor("y_marginal", partial - jnp.sum(jnp.log(jnp.diagonal(R)))
                       + 0.5 * jnp.sum(z * z) - data["n"] * jnp.log(unit))

    return model


__all__ = ["SCHUR_MAX_COST", "dense_shapes", "make_schur_model",
           "schur_cost", "schur_data", "schur_eligible", "schur_terms", "scale_rows"]
