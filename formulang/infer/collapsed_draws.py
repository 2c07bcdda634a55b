"""Exact draws of the group effects of a collapsed Gaussian model, given each posterior draw.

With the group effects integrated out (:mod:`formulang.lower.collapsed`), NUTS samples only the
population, SD, correlation and family parameters. Given one such draw, the standardised
effects of outer block ``o`` are Gaussian::

    v_o | y, rest ~ N(M_o^-1 c_o, M_o^-1),   u_o = T_o v_o

so one exact draw is ``v_o = R_o^-T (R_o^-1 c_o + e)`` with ``M_o = R_o R_o'`` and ``e ~ N(0,
I)``. Every posterior draw gets one, vectorised over (draws x blocks) in float64 numpy, in
chunks of draws (to bound memory) run on threads. The effects are then written as the full
model's sites, per the plan's per-level choice: ``z_<g>`` (= ``v``, non-centred levels) and
``rc_<g>`` (= the effect plus its parent's, centred levels), so everything downstream
(summaries, ArviZ data, log-likelihood, predictions, save/load) reads the fit as if the full
model had been sampled.

>>> import numpy as np
>>> v = conditional_standardized((np.array([3.0]),), (np.array([1.5]),), np.zeros((1, 1)))
>>> v.tolist()  # mean M^-1 c = 1.5 / (1 + 3)
[[0.375]]
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from ..lower.collapsed import block_scale, block_terms, chol2, scatter_index
from ..lower.plan import GroupPlan, ModelPlan, subplan
from ..lower.sites import centred_loc, correlation_cholesky, vector
from ..lower.units import response_unit_sites, restore_units

_CHUNK_FLOATS = 1 << 20  # floats of one (draws x blocks x q x q) chunk: 8 MB (InstEval: 64 MB
# chunks added 270 MB to the fit's peak memory, 8 MB ones 40 MB, and ran faster)
SEED_STREAM = 7  # second word of the seed: keeps these draws apart from other uses of the seed


def conditional_standardized(A, c, eps: np.ndarray) -> np.ndarray:
    """``v = R^-T (R^-1 c + eps)`` per block, ``M = I + A = R R'`` (``A``, ``c`` as from
    :func:`~formulang.lower.collapsed.block_terms`); ``eps = 0`` gives the conditional mean
    ``M^-1 c``, standard normal ``eps`` an exact draw. Returns ``(..., B, q)``."""
    if isinstance(A, tuple) and len(A) == 1:
        m = 1.0 + A[0]
        return (c[0] / m + eps[..., 0] / np.sqrt(m))[..., None]
    if isinstance(A, tuple):
        l00, l10, l11 = chol2(*A, xp=np)
        w0 = c[0] / l00 + eps[..., 0]
        w1 = (c[1] - l10 * c[0] / l00) / l11 + eps[..., 1]
        v1 = w1 / l11
        return np.stack([(w0 - l10 * v1) / l00, v1], axis=-1)
    R = np.linalg.cholesky(A + np.eye(A.shape[-1]))
    w = np.linalg.solve(R, c[..., None])[..., 0] + eps
    return np.linalg.solve(np.swapaxes(R, -1, -2), w[..., None])[..., 0]


def scale_tril_draws(g: GroupPlan, flat: dict) -> np.ndarray:
    """``diag(sd) @ L`` of term ``g`` per draw, ``(D, k, k)``, from the sampled sites."""
    sd = np.asarray(vector(flat, g.sd), dtype=np.float64)
    L = np.asarray(correlation_cholesky(g, flat, sd.shape[:-1]), dtype=np.float64)
    return sd[..., :, None] * L


def theta_draws(plan: ModelPlan, flat: dict) -> np.ndarray:
    """``(Intercept_c, b_c)`` per draw, ``(D, p)``, in the order of the collapsed design."""
    parts = []
    if plan.intercept:
        parts.append(np.asarray(flat[plan.sites.intercept], dtype=np.float64).reshape(-1, 1))
    if plan.b is not None:
        parts.append(np.asarray(vector(flat, plan.b), dtype=np.float64))
    if not parts:
        return np.zeros((len(flat["sigma"]), 0))
    return np.concatenate(parts, axis=1)


def draw_group_effects(plan: ModelPlan, layout, stats: dict, samples: dict,
                       seed: int) -> tuple[dict, dict]:
    """Exact conditional draws of every group effect, one per posterior draw in ``samples``
    (the collapsed sampler's sites in the response's own unit, shaped (chains, draws, ...);
    ``stats`` in units of ``stats["scale"]``, as :func:`~formulang.lower.collapsed.
    sufficient_statistics` gives them).

    Returns ``(sites, effects)``: ``sites`` the full model's group sites (``z_<g>`` for
    non-centred levels, ``rc_<g>`` for centred ones), ``effects`` ``r_<g>`` (levels x
    effects), all shaped (chains, draws, ...). Deterministic given ``seed``.
    """
    chains, draws = np.shape(samples["sigma"])[:2]
    D = chains * draws
    flat = {k: np.reshape(v, (D,) + np.shape(v)[2:]) for k, v in samples.items()}
    dtype = np.result_type(flat["sigma"].dtype, np.float32)
    index = None if layout.shared else scatter_index(plan, layout)
    stats64 = {k: np.asarray(v, dtype=np.float64) for k, v in stats.items()}
    unit = float(stats64.get("scale", 1.0))
    B, q = layout.n_blocks, layout.q
    sites, effects = {}, {}
    for g in plan.groups:
        s = g.sites
        centered = np.asarray(g.centered, dtype=bool)
        if (~centered).any():
            sites[s.z] = np.empty((D, int((~centered).sum()), g.k), dtype)
        if centered.any():
            sites[s.rc] = np.empty((D, int(centered.sum()), g.k), dtype)
        effects[s.r] = np.empty((D, len(g.levels), g.k), dtype)
    step = max(1, _CHUNK_FLOATS // (B * q * max(q, 2)))

    def draw_chunk(start: int) -> None:
        part = slice(start, min(start + step, D))
        chunk = {k: v[part] for k, v in flat.items()}
        trils = [scale_tril_draws(g, chunk) for g in plan.groups]
        T = block_scale(plan, layout, trils, index, xp=np)
        theta = theta_draws(plan, chunk)
        sigma = np.asarray(chunk["sigma"], dtype=np.float64)
        # A and c in the statistics' unit (A has none; c is T' Z'r / sigma^2 with r in it)
        _, A, c = block_terms(stats64, theta / unit - stats64["theta0"], sigma / unit,
                              T / unit, xp=np)
        # each chunk its own stream, so the draws do not depend on which thread runs it
        rng = np.random.default_rng([int(seed), SEED_STREAM, start])
        eps = rng.standard_normal((theta.shape[0], B, q))
        v = conditional_standardized(A, c, eps)
        if layout.shared:  # u = v T' as one (blocks x q) @ (q x q) product per draw
            u = v @ np.swapaxes(T[:, 0], -1, -2)
        else:
            u = (T @ v[..., None])[..., 0]
        store_effects(plan, layout, v, u, part, chunk, sites, effects)  # disjoint slices

    starts = range(0, D, step)
    if len(starts) == 1:
        draw_chunk(0)
    else:  # NumPy's array arithmetic releases the GIL: chunks run on all cores
        with ThreadPoolExecutor(max_workers=max(1, min(os.cpu_count() or 1, 8))) as pool:
            list(pool.map(draw_chunk, starts))
    reshape = lambda a: a.reshape((chains, draws) + a.shape[1:])  # noqa: E731
    return ({k: reshape(v) for k, v in sites.items()},
            {k: reshape(v) for k, v in effects.items()})


def store_effects(plan, layout, v, u, part, chunk, sites, effects) -> None:
    """Write one chunk of block vectors into the full model's per-term sites (``chunk``: the
    chunk's sampled parameters)."""
    for gi, g in enumerate(plan.groups):
        s = g.sites
        r, z = _term_slice(layout, gi, g.k, u), _term_slice(layout, gi, g.k, v)
        effects[s.r][part] = r
        centered = np.asarray(g.centered, dtype=bool)
        if not centered.any():
            sites[s.z][part] = z
            continue
        if (~centered).any():
            sites[s.z][part] = z[:, ~centered]
        # hierarchical centring: rc is the own effect + parent's (+ intercept)
        parent_r = None if g.parent is None else effects[plan.groups[g.parent].sites.r][part]
        loc = centred_loc(g, parent_r, None if g.intercept_loc is None
                          else np.asarray(chunk[plan.sites.intercept]))
        sites[s.rc][part] = r[:, centered] if loc is None else r[:, centered] + loc


def _term_slice(layout, gi: int, k: int, blocks: np.ndarray) -> np.ndarray:
    """Term ``gi``'s (draws, levels, k) entries of (draws, blocks, q) block vectors."""
    level_block, slot = layout.level_block[gi], layout.level_slot[gi]
    if layout.shared:  # one level per block, at the same position in every block
        window = blocks[:, :, slot[0]:slot[0] + k]
        same_order = np.array_equal(level_block, np.arange(len(level_block)))
        return window if same_order else np.take(window, level_block, axis=1)
    return blocks[:, level_block[:, None], slot[:, None] + np.arange(k)[None, :]]


def complete_samples(plan: ModelPlan, layout, stats: dict, samples: dict, seed: int) -> dict:
    """The collapsed sampler's draws, back in the response's unit (it samples them divided by
    ``stats["scale"]``: :func:`~formulang.lower.collapsed.make_collapsed_model`), plus the
    group sites the full model would have sampled (``Fit`` derives ``b``, ``r_<g>`` and
    ``cor_<g>`` from them, as for the full model)."""
    samples = restore_units(samples, response_unit_sites(plan), stats.get("scale", 1.0))
    sites, _ = draw_group_effects(plan, layout, stats, samples, seed)
    return {**samples, **sites}


def draw_partial_effects(plan: ModelPlan, part, data: dict, samples: dict,
                         seed: int) -> dict:
    """Exact conditional draws of a partially collapsed model's collapsed set
    (:mod:`formulang.lower.collapsed_crossed`), one per posterior draw in ``samples`` (every
    other site, in the response's unit, shaped (chains, draws, ...)); ``data``:
    :func:`~formulang.lower.collapsed_crossed.partial_data`'s statistics. Given a draw's
    sampled coefficients ``w``, the blocks' ``Z'r = Zc'y0 - K w`` (one sparse product for a
    chunk of draws) and the conditional is the full collapse's, per block. Returns the
    collapsed terms' sites (``z_<g>``/``rc_<g>``), shaped (chains, draws, ...); float64.
    Deterministic given ``seed``."""
    from scipy import sparse

    from ..lower.sites import group_effects

    collapsed = subplan(plan, part.collapsed)
    layout = part.layout
    chains, draws = np.shape(samples["sigma"])[:2]
    D = chains * draws
    flat = {k: np.reshape(v, (D,) + np.shape(v)[2:]) for k, v in samples.items()}
    dtype = np.result_type(flat["sigma"].dtype, np.float32)
    B, q = layout.n_blocks, layout.q
    unit = float(data["unit"])
    rows, cols, vals = (np.asarray(a) for a in data["K"])
    P = int(cols.max()) + 1 if len(cols) else 0
    K = sparse.csr_matrix((np.asarray(vals, np.float64), (rows, cols)), shape=(B * q, P))
    stats = {"ZtZ": np.asarray(data["ZtZ"], dtype=np.float64), "ZtX": np.zeros((B, q, 0)),
             "Xty": np.zeros(0), "XtX": np.zeros((0, 0)), "n": np.float64(data["n"]),
             "yty": np.float64(0.0)}  # r'r: not needed for the conditional
    Zty = np.asarray(data["Zty"], np.float64) * unit
    theta0 = np.asarray(data["theta0"], np.float64) * unit
    index = None if layout.shared else scatter_index(collapsed, layout)
    sites, effects = {}, {}
    dense = [plan.groups[i] for i in part.sampled] if part.schur else []
    for g in list(collapsed.groups) + dense:
        centered = np.asarray(g.centered, dtype=bool)
        if (~centered).any():
            sites[g.sites.z] = np.empty((D, int((~centered).sum()), g.k), dtype)
        if centered.any():
            sites[g.sites.rc] = np.empty((D, int(centered.sum()), g.k), dtype)
        effects[g.sites.r] = np.empty((D, len(g.levels), g.k), dtype)
    n_dense = sum(len(g.levels) * g.k for g in dense)
    step = max(1, _CHUNK_FLOATS // max(P, B * q * max(q, 2),
                                       B * q * (n_dense + 1) + n_dense * n_dense))
    for start in range(0, D, step):
        part_ = slice(start, min(start + step, D))
        chunk = {k: np.asarray(v[part_], dtype=np.float64) for k, v in flat.items()}
        rng = np.random.default_rng([int(seed), SEED_STREAM, start])
        if dense:  # every effect integrated out: the d terms' first, then the blocks' given them
            for name, value in schur_sites(plan, part, data, chunk, rng).items():
                sites[name][part_] = chunk[name] = value
        w, own = [theta_draws(plan, chunk) - theta0], {}
        for i in part.sampled:
            g = plan.groups[i]
            own[i] = group_effects(g, chunk, None if g.parent is None else own[g.parent])
            w.append(own[i].reshape(own[i].shape[0], -1))
        w = np.concatenate(w, axis=1)
        Ztr = (Zty - np.asarray(K @ w.T).T).reshape(-1, B, q)
        trils = [scale_tril_draws(g, chunk) for g in collapsed.groups]
        T = block_scale(collapsed, layout, trils, index, xp=np)
        _, A, c = block_terms({**stats, "Zty": Ztr}, np.zeros((w.shape[0], 0)),
                              chunk["sigma"], T, xp=np)
        v = conditional_standardized(A, c, rng.standard_normal((w.shape[0], B, q)))
        u = v @ np.swapaxes(T[:, 0], -1, -2) if layout.shared else (T @ v[..., None])[..., 0]
        store_effects(collapsed, layout, v, u, part_, chunk, sites, effects)
    return {k: v.reshape((chains, draws) + v.shape[1:]) for k, v in sites.items()}


def schur_sites(plan: ModelPlan, part, data: dict, flat: dict, rng) -> dict:
    """Exact draws ``v_d ~ N(S^-1 h_v, S^-1)`` of the dense (``part.sampled``) terms'
    standardised effects when every crossed effect is integrated out
    (:mod:`formulang.lower.collapsed_schur`), one per draw in ``flat`` (sites in the
    response's unit, a leading draw axis, float64), as the full model's sites: ``z_<g>``, and
    ``rc_<g>`` (the effect plus its centring location) for centred levels."""
    from ..lower.collapsed_schur import dense_shapes, schur_terms

    unit = float(data["unit"])
    stats = {k: np.asarray(v, np.float64) for k, v in data.items()
             if k not in ("priors", "T_index", "K")}
    collapsed = subplan(plan, part.collapsed)
    shapes = dense_shapes(plan, part)
    scaled = {**flat, "sigma": np.asarray(flat["sigma"], np.float64) / unit}
    trils = [scale_tril_draws(g, flat) / unit for g in collapsed.groups]
    trils_d = [scale_tril_draws(plan.groups[i], flat) / unit for i in part.sampled]
    T = block_scale(collapsed, part.layout, trils, data.get("T_index"), xp=np)
    t = theta_draws(plan, flat) / unit - stats["theta0"]
    _, S, h_v = schur_terms(stats, t, scaled["sigma"], T, trils_d, shapes, xp=np)
    R = np.linalg.cholesky(S)
    e = triangular_solve_each(R, h_v) + rng.standard_normal(h_v.shape)
    v = triangular_solve_each(R, e, transposed=True)
    sites, start = {}, 0
    for i, Tg, (J, k) in zip(part.sampled, trils_d, shapes):
        g = plan.groups[i]
        vg = v[:, start:start + J * k].reshape(-1, J, k)
        start += J * k
        centered = np.asarray(g.centered, dtype=bool)
        if (~centered).any():
            sites[g.sites.z] = vg[:, ~centered]
        if centered.any():
            r = (vg @ np.swapaxes(Tg, -1, -2))[:, centered] * unit
            loc = centred_loc(g, None, None if g.intercept_loc is None
                              else np.asarray(flat[plan.sites.intercept], np.float64))
            sites[g.sites.rc] = r if loc is None else r + loc
    return sites


def triangular_solve_each(R, b, transposed: bool = False) -> np.ndarray:
    """``R_i^-1 b_i`` (or ``R_i'^-1 b_i``) for each lower-triangular ``R_i`` of ``R`` (D, K,
    K) and ``b_i`` of ``b`` (D, K). A loop of LAPACK triangular solves: ``np.linalg.solve``
    would factor each ``R_i`` again (LU), 4x the time for 80 x 80 factors.

    >>> R = np.array([[[2.0, 0.0], [1.0, 1.0]]])
    >>> triangular_solve_each(R, np.array([[2.0, 3.0]])), triangular_solve_each(
    ...     R, np.array([[2.0, 3.0]]), transposed=True)
    (array([[1., 2.]]), array([[-0.5,  3. ]]))
    """
    from scipy.linalg import get_lapack_funcs

    out = np.empty(np.shape(b), np.result_type(R, b))
    R, b = np.asarray(R, out.dtype), np.asarray(b, out.dtype)
    trtrs, = get_lapack_funcs(("trtrs",), (R,))  # scipy's solve_triangular, minus its checks
    for i in range(len(out)):
        out[i], info = trtrs(R[i], b[i], lower=1, trans=int(transposed))
        if info != 0:  # a zero on the diagonal: a singular factor
            raise np.linalg.LinAlgError(f"singular triangular factor (draw {i})")
    return out


__all__ = ["complete_samples", "conditional_standardized", "draw_group_effects",
           "draw_partial_effects", "schur_sites",
           "scale_tril_draws", "theta_draws", "triangular_solve_each"]
