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
both). NUTS then runs over the population, SD, correlation and sigma sites alone: on
simulated subjects x items it needs a tenth to a twentieth of the gradients per effective
draw that the hand-written model, effects sampled, needs. A gradient costs ``O(B q K_d^2 +
K_d^3)`` (``K_d`` the effects of the ``d`` terms), nothing per row, so it runs only where
that is small (:data:`SCHUR_MAX_COST`); InstEval's 1,156 ``d`` effects stay sampled. Where
blocks are alike (a balanced design) ``F'F`` comes from fixed products per class of blocks
(:func:`block_classes`), and the last step's gradient is written out
(:func:`_gaussian_integral`): 306 -> 151 us a gradient on 60 subjects x 40 items. The
effects come out as exact draws: ``v_d ~ N(S^-1 h_v, S^-1)`` per posterior draw
(:func:`formulang.infer.collapsed_draws.schur_sites`), then the collapsed set given them, as
the partial collapse draws it.

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


def schur_eligible(plan: ModelPlan, sampled, block_effects: int) -> bool:
    """Whether the ``sampled`` terms' effects can go through the Schur complement, next to
    blocks of ``block_effects`` effects in all: no term of theirs nests in another (a parent
    would centre them on sampled effects) and the dense part is cheap."""
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
    Ku = K[:, p:].reshape(B, q, P - p)
    out = {**keep, "Kt": K[:, :p], "Ku": Ku, "WtW": WtW}
    if "T_index" not in partial:  # one T for every block: blocks alike share G_o
        out.update(block_classes(np.asarray(partial["ZtZ"], np.float64), Ku))
    return out


def block_classes(ZtZ: np.ndarray, Ku: np.ndarray) -> dict:
    """Blocks with the same ``Z_o'Z_o`` (a balanced design: every subject sees every item the
    same way) share ``M_o`` and so ``G_o = T M_o^-1 T' / sigma^4``, which makes ``F'F =
    sum_o Ku_o' G_o Ku_o = sum_c sum_ab G_c[a, b] Pi_c[a, b]`` with ``Pi_c[a, b] = sum_{o in
    c} Ku_o[a] Ku_o[b]'`` fixed: ``m q^2 K_d^2`` multiply-adds a gradient (m classes) instead
    of ``B q K_d^2``. Used where there are at most a quarter as many classes as blocks
    (``{}`` otherwise): ``ZtZ_class`` (m, q, q) and ``Pi`` (m, q, q, K_d, K_d)."""
    B, q, Kd = Ku.shape
    classes, which = np.unique(ZtZ.reshape(B, q * q), axis=0, return_inverse=True)
    m = len(classes)
    if 4 * m > B or m * q * q * Kd * Kd > (1 << 22):
        return {}
    Pi = np.zeros((m, q, q, Kd, Kd))
    for c in range(m):
        rows = Ku[np.ravel(which) == c]
        Pi[c] = np.einsum("oai,obj->abij", rows, rows)
    return {"ZtZ_class": classes.reshape(m, q, q), "Pi": Pi}


def _block_factor(A, xp):
    """The Cholesky factor of each block's ``M = I + A`` (``A`` as :func:`block_terms` gives
    it: ``(l,)``, ``(l00, l10, l11)`` or a matrix ``R``) and ``log|M|`` summed over blocks."""
    if isinstance(A, tuple) and len(A) == 1:
        m = 1.0 + A[0]
        return (xp.sqrt(m),), xp.sum(xp.log(m), axis=-1)
    if isinstance(A, tuple):
        l00, l10, l11 = chol2(*A, xp=xp)
        return (l00, l10, l11), 2.0 * xp.sum(xp.log(l00) + xp.log(l11), axis=-1)
    R = xp.linalg.cholesky(A + xp.eye(A.shape[-1]))
    return R, 2.0 * xp.sum(xp.log(xp.diagonal(R, axis1=-2, axis2=-1)), axis=(-2, -1))


def _forward(L, G, xp):
    """``L^-1 G`` per block, ``G`` (..., B, q, m)."""
    if isinstance(L, tuple) and len(L) == 1:
        return G / L[0][..., None, None]
    if isinstance(L, tuple):
        l00, l10, l11 = (x[..., None] for x in L)
        x0 = G[..., 0, :] / l00
        return xp.stack([x0, (G[..., 1, :] - l10 * x0) / l11], axis=-2)
    return _tri_solve(L, G, xp, lower=True)


def _backward(L, x, xp):
    """``L'^-1 x`` per block, ``x`` (..., B, q)."""
    if isinstance(L, tuple) and len(L) == 1:
        return x / L[0][..., None]
    if isinstance(L, tuple):
        l00, l10, l11 = L
        x1 = x[..., 1] / l11
        return xp.stack([(x[..., 0] - l10 * x1) / l00, x1], axis=-1)
    return _tri_solve(xp.swapaxes(L, -1, -2), x[..., None], xp, lower=False)[..., 0]


def _tri_solve(R, G, xp, lower: bool):
    """``R^-1 G`` for triangular ``R``."""
    if xp is np:
        return np.linalg.solve(R, G)
    import jax.scipy.linalg as jsl

    return jsl.solve_triangular(R, G, lower=lower)


def _class_inverse(A, xp):
    """``(I + A)^-1`` per class (``A`` as :func:`block_terms` gives it), (..., m, q, q)."""
    if isinstance(A, tuple) and len(A) == 1:
        return (1.0 / (1.0 + A[0]))[..., None, None]
    if isinstance(A, tuple):
        a00, a01, a11 = A
        det = (1.0 + a00) * (1.0 + a11) - a01 * a01
        return xp.stack([xp.stack([1.0 + a11, -a01], -1), xp.stack([-a01, 1.0 + a00], -1)],
                        -2) / det[..., None, None]
    return xp.linalg.inv(A + xp.eye(A.shape[-1]))


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
    L, logdet = _block_factor(A, xp)
    h = (Wty[p:] - t @ xp.swapaxes(Wut, -1, -2)) / s2[..., None]
    if "Pi" in data:  # blocks alike (block_classes): F'F from the classes' fixed Pi
        w = _forward(L, small_transpose_product(T, Ztr[..., None], xp), xp)[..., 0] \
            / s2[..., None, None]
        Tw = small_transpose_product(xp.swapaxes(T, -1, -2), _backward(L, w, xp)[..., None],
                                     xp)[..., 0] / s2[..., None, None]  # T L'^-1 w / s^2
        h = h - xp.reshape(Tw, t.shape[:-1] + (B * q,)) @ xp.reshape(Ku, (B * q, Kd))
        m = data["ZtZ_class"].shape[-3]
        cls = {"ZtZ": data["ZtZ_class"], "ZtX": xp.zeros((m, q, 0)), "Xty": stats["Xty"],
               "XtX": stats["XtX"], "yty": rr, "Zty": xp.zeros(t.shape[:-1] + (m, q))}
        _, Ac, _ = block_terms(cls, xp.zeros(t.shape[:-1] + (0,)), sigma, T, xp=xp)
        Tt = xp.swapaxes(T, -1, -2)
        Gc = small_transpose_product(Tt, xp.swapaxes(small_transpose_product(
            Tt, _class_inverse(Ac, xp), xp), -1, -2), xp) / (s2 * s2)[..., None, None, None]
        FtF = xp.reshape(xp.reshape(Gc, t.shape[:-1] + (m * q * q,))
                         @ xp.reshape(data["Pi"], (m * q * q, Kd * Kd)), t.shape[:-1] + (Kd, Kd))
        w = xp.reshape(w, t.shape[:-1] + (B * q,))
    else:
        G = small_transpose_product(T, xp.concatenate(
            [Ztr[..., None], xp.broadcast_to(Ku, Ztr.shape[:-2] + Ku.shape)], axis=-1), xp)
        LG = _forward(L, G / s2[..., None, None, None], xp)
        w = xp.reshape(LG[..., 0], t.shape[:-1] + (B * q,))
        F = xp.reshape(LG[..., 1:], t.shape[:-1] + (B * q, Kd))
        Ft = xp.swapaxes(F, -1, -2)
        FtF = Ft @ F
        h = h - (Ft @ w[..., None])[..., 0]
    partial = (-0.5 * data["n"] * xp.log(2.0 * np.pi * s2) - 0.5 * rr / s2
               + 0.5 * (xp.sum(w * w, axis=-1) - logdet))
    P = Wuu / s2[..., None, None] - FtF
    S = xp.eye(Kd) + scale_rows(xp.swapaxes(scale_rows(P, trils_d, shapes, xp), -1, -2),
                                trils_d, shapes, xp)
    h_v = scale_rows(h[..., None], trils_d, shapes, xp)[..., 0]
    return partial, S, h_v


def _gaussian_integral(S, h):
    """``-1/2 log|S| + 1/2 h' S^-1 h`` for symmetric positive definite ``S`` (jax), with its
    gradient written out: ``-1/2 (S^-1 + a a')`` and ``a = S^-1 h``. ``S^-1`` comes from one
    triangular inverse and one product; differentiating through the Cholesky factor took
    about twice as long on CPU (two triangular solves with matrix right-hand sides and
    several products, for an 80 x 80 ``S``)."""
    import jax
    import jax.numpy as jnp
    import jax.scipy.linalg as jsl

    @jax.custom_vjp
    def integral(S, h):
        return value(S, h)[0]

    def value(S, h):
        R = jnp.linalg.cholesky(S)
        z = jsl.solve_triangular(R, h, lower=True)
        out = 0.5 * jnp.sum(z * z) - jnp.sum(jnp.log(jnp.diagonal(R)))
        return out, (R, jsl.solve_triangular(R, z, lower=True, trans=1))

    def backward(saved, g):
        R, a = saved
        Rinv = jsl.solve_triangular(R, jnp.eye(R.shape[-1], dtype=R.dtype), lower=True)
        return -0.5 * g * (Rinv.T @ Rinv + jnp.outer(a, a)), g * a

    integral.defvjp(value, backward)
    return integral(S, h)


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
        numpyro.factor("y_marginal", partial + _gaussian_integral(S, h_v)
                       - data["n"] * jnp.log(unit))

    return model


__all__ = ["SCHUR_MAX_COST", "dense_shapes", "make_schur_model",
           "schur_cost", "schur_data", "schur_eligible", "schur_terms", "scale_rows"]
