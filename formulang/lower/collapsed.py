"""The collapsed Gaussian model: group effects integrated out exactly (issue 7).

For a Gaussian response with the identity link, ``y* = y - offset = X theta + Z u + eps`` with
``eps ~ N(0, sigma^2 I)`` and ``u = T v``, ``v ~ N(0, I)``: ``T`` is block-diagonal with one
``diag(sd_g) L_g`` (the term's ``scale_tril``) per (term, level), ``theta`` the population
sites ``(Intercept_c, b_c)`` on the centred design. The effects ``u`` enter linearly, so they
integrate out in closed form. Rows are grouped into *outer blocks*, the levels of the coarsest
grouping factor, when every other term's levels lie each inside one of them (one factor,
several terms on one factor, nested ``(1 | a/b)``); block ``o`` stacks the ``q_o`` effects of
its (term, level) pairs, padded to ``q = max q_o`` (padding: zero columns of ``Z`` and zero
rows of ``T``, which contribute nothing). With ``r = y* - X theta``,
``A_o = T_o' Z_o'Z_o T_o``, ``M_o = I + A_o / sigma^2`` and ``c_o = T_o' Z_o' r_o / sigma^2``::

    log p(y* | theta, sigma, T) = -n/2 log(2 pi sigma^2) - r'r / (2 sigma^2)
                                  + sum_o [ -1/2 log|M_o| + 1/2 c_o' M_o^-1 c_o ]

(matrix determinant lemma and Woodbury). No inverse of the group covariance appears, so it is
stable as SDs go to 0. Everything is a function of sufficient statistics computed once per
model (:func:`sufficient_statistics`): per block ``Z'Z``, ``Z'X``, ``Z'y*``; globally
``X'X``, ``X'y*``, ``y*'y*`` and ``n``. A gradient costs ``O(blocks q^3)``, whatever the rows.

NUTS then runs over the population, SD, correlation and family parameters only (the same
sites, with the same priors, as the full model); the effects are drawn afterwards from their
exact conditional (:mod:`formulang.infer.collapsed_draws`). It runs in a standardised unit:
the statistics are those of ``y* / s`` and the sites in the response's unit are sampled
divided by ``s`` (:mod:`formulang.lower.units`), so the same data in other units give the
same posterior up to scale (issue 21: a response around 1e12 or 1e-6 stalled NUTS).

>>> import formulang as fl
>>> m = fl.Model("Reaction ~ Days + (Days | Subject)", fl.datasets.load("sleepstudy"))
>>> m.collapsed, m.collapse_layout.n_blocks, m.collapse_layout.q
(True, 18, 2)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import FormulangError
from .plan import GroupPlan, ModelPlan
from .units import response_unit_sites, standardize_sites, unit_scale

SAMPLED = "not collapsed: the group effects are sampled"
"""How a reason not to integrate the effects out may begin (``print(model)`` says it once)."""

MAX_BLOCK = 64  # largest block (effects per outer level) the collapsed sampler factors
_CHUNK_ENTRIES = 1 << 22  # bincount entries per chunk of rows: bounds temporary memory
COLLAPSE_CHOICES = ("auto", True, False, "laplace")


@dataclass(frozen=True, eq=False)
class BlockLayout:
    """Where each group effect sits in the outer blocks.

    ``level_block[g][l]`` is the block of level ``l`` of term ``g``; its ``k_g`` effects take
    positions ``level_slot[g][l] .. + k_g - 1`` of that block. ``shared`` is True when every
    block has the same layout (one level of each term per block: one factor, or several terms
    on one factor), so one ``T`` serves all blocks.
    """

    outer: int  # index of the term whose levels are the blocks
    n_blocks: int
    q: int
    level_block: tuple[np.ndarray, ...]
    level_slot: tuple[np.ndarray, ...]
    shared: bool


@dataclass(frozen=True, eq=False)
class CollapseChoice:
    """Whether a model is collapsed, and why (or why not), in words."""

    collapsed: bool
    reason: str
    layout: BlockLayout | None = None
    # "exact" (the Gaussian integral) or "laplace" (the embedded Laplace approximation of a
    # non-Gaussian family: formulang.lower.laplace)
    method: str = "exact"


class Ineligible(Exception):
    """A model, or a group term, that the collapsed sampler cannot integrate out; the
    message says why (printed by ``print(model)``)."""


# ---- eligibility ---------------------------------------------------------------------------

def choose_collapse(bound, fam, collapse="auto", reparam="auto") -> CollapseChoice:
    """Decide whether to integrate the group effects out.

    ``collapse="auto"`` collapses when the model is eligible and ``reparam == "auto"`` (a
    forced parameterisation means the user wants the effects sampled that way);
    ``collapse=True`` insists (a :class:`FormulangError` says why it cannot);
    ``collapse=False`` never collapses. For a family whose log-likelihood is concave in the
    linear predictor (bernoulli, binomial, poisson, negative_binomial), ``collapse="laplace"``
    (or ``True``, which says so in the reason) integrates the effects out by the embedded
    Laplace approximation (:mod:`formulang.lower.laplace`); ``"auto"`` samples them.

    >>> import formulang as fl
    >>> b = fl.bind("diameter ~ 1 + (1 | plate) + (1 | sample)", fl.datasets.load("Penicillin"))
    >>> from formulang.lower.families import family
    >>> choose_collapse(b, family("gaussian")).collapsed
    False
    """
    if not (collapse is True or collapse is False or collapse in ("auto", "laplace")):
        raise FormulangError(f"collapse must be 'auto', True, False or 'laplace', not "
                             f"{collapse!r}")
    if collapse is False:
        return CollapseChoice(False, "collapse=False: the group effects are sampled")
    if collapse == "laplace" or (collapse is True and not fam.collapsible
                                 and fam.spec.log_concave):
        return _choose_laplace(bound, fam, collapse)
    try:
        layout = block_layout(bound, fam)
    except Ineligible as why:
        if collapse is True:
            raise FormulangError(f"collapse=True, but the group effects cannot be integrated "
                                 f"out exactly: {why}") from None
        return CollapseChoice(False, f"not collapsed: {why}")
    if collapse == "auto" and not (isinstance(reparam, str) and reparam == "auto"):
        return CollapseChoice(False, f"not collapsed: reparam={reparam!r} was given, so the "
                                     f"group effects are sampled that way (collapse=True "
                                     f"integrates them out)", layout)
    return CollapseChoice(True, "collapsed", layout)


def _choose_laplace(bound, fam, collapse) -> CollapseChoice:
    """The embedded Laplace path (``collapse="laplace"``, or ``True`` for a family without a
    closed form), or a :class:`FormulangError` saying why it cannot run."""
    asked = "collapse='laplace'" if collapse == "laplace" else "collapse=True"
    try:
        layout = block_layout(bound, fam, laplace=True)
    except Ineligible as why:
        raise FormulangError(f"{asked}, but the group effects cannot be integrated out by "
                             f"the Laplace approximation: {why}") from None
    how = ("" if collapse == "laplace" else
           f"the {fam} family has no closed-form integral, so collapse=True uses ")
    return CollapseChoice(True, f"{how}the embedded Laplace approximation ({asked}; "
                                f"collapse=False samples the effects exactly)", layout,
                          "laplace")


def block_layout(bound, fam, laplace: bool = False) -> BlockLayout:
    """The outer blocks of an eligible model; raises ``Ineligible`` with the reason.
    ``laplace``: for the embedded Laplace path, which needs a log-likelihood concave in the
    linear predictor rather than a Gaussian one."""
    check_collapsible(bound, fam, laplace)
    return nested_layout(bound.groups)


def check_collapsible(bound, fam, laplace: bool = False) -> None:
    """Raises ``Ineligible`` when the family, the response or the terms rule out
    integrating group effects out in closed form, or (``laplace``) by the embedded Laplace
    approximation (whatever the terms' nesting)."""
    if laplace and fam.collapsible:
        raise Ineligible(f"the family is {fam}, whose group effects integrate out exactly: "
                          f"collapse=True does that")
    if laplace and not fam.spec.log_concave:
        raise Ineligible(f"the family is {fam}; the Laplace path takes the families whose "
                          f"log-likelihood is concave in the linear predictor (bernoulli, "
                          f"binomial, poisson, negative_binomial)")
    if not laplace and not fam.collapsible:
        raise Ineligible(f"the family is {fam}; only gaussian(identity) has group effects "
                          f"that integrate out in closed form")
    for name, sub in bound.dpars:
        raise Ineligible(f"{name} varies by row ({name} {sub.formula}): the group effects "
                          f"cannot be integrated out in closed form")
    if getattr(bound, "smooths", ()):  # their coefficients are sampled (lower/smooth_plan.py)
        raise Ineligible("the model has smooth terms (s(), gp())")
    if bound.weights is not None:
        raise Ineligible("the response has observation weights(), which scale the "
                          "likelihood of each row and break the Gaussian integral")
    a = bound.additions
    if a.cens is not None or a.truncated or a.se is not None:
        raise Ineligible("the response is censored, truncated or has known standard errors "
                          "(cens(), trunc(), se()): the Gaussian integral does not apply")
    if not bound.groups:
        raise Ineligible("the model has no group terms to integrate out")
    if bound.y is None:
        raise Ineligible("the data have no response")


def nested_layout(groups) -> BlockLayout:
    """The outer blocks of bound group terms ``groups`` when every term's levels lie each
    inside one level of the coarsest; raises ``Ineligible`` with the reason (crossed
    factors, or blocks over :data:`MAX_BLOCK` effects)."""
    counts = [g.n_levels for g in groups]
    outer = int(np.argmin(counts))  # the coarsest factor: every other term must nest in it
    outer_codes = np.asarray(groups[outer].codes, dtype=np.intp)
    level_block = []
    for gi, g in enumerate(groups):
        codes = np.asarray(g.codes, dtype=np.intp)
        inside = np.zeros(g.n_levels, dtype=np.intp)
        inside[codes] = outer_codes  # the outer level of some row of each level
        if not np.array_equal(inside[codes], outer_codes):
            raise Ineligible(f"the grouping factors {groups[outer].label!r} and {g.label!r} "
                              f"are crossed (a level of {g.label!r} spans several levels of "
                              f"{groups[outer].label!r}), so the effects do not split into "
                              f"independent blocks")
        level_block.append(inside)
    n_blocks = counts[outer]
    per_block = [np.bincount(lb, minlength=n_blocks) * len(g.columns)
                 for lb, g in zip(level_block, groups)]
    sizes = np.sum(per_block, axis=0)
    q = int(sizes.max())
    if q > MAX_BLOCK:
        big = int(np.argmax(sizes))
        raise Ineligible(f"level {groups[outer].levels[big]!r} of {groups[outer].label!r} "
                          f"holds {q} group effects; the collapsed sampler factors a q x q "
                          f"matrix per level per gradient step, which beyond q = {MAX_BLOCK} "
                          f"costs more than sampling the effects")
    level_slot = []
    start = np.zeros(n_blocks, dtype=np.intp)  # next free position in each block
    for lb, g in zip(level_block, groups):
        k = len(g.columns)
        order = np.argsort(lb, kind="stable")
        first = np.searchsorted(lb[order], np.arange(n_blocks))  # first level of each block
        rank = np.empty(len(lb), dtype=np.intp)
        rank[order] = np.arange(len(lb)) - first[lb[order]]
        level_slot.append(start[lb] + rank * k)
        start = start + np.bincount(lb, minlength=n_blocks) * k
    shared = all(len(lb) == n_blocks for lb in level_block)  # one level of each term per block
    return BlockLayout(outer, n_blocks, q, tuple(level_block), tuple(level_slot), shared)


def n_sampled_parameters(plan: ModelPlan) -> int:
    """The dimension NUTS runs over when the group effects are integrated out."""
    n = int(plan.intercept) + (plan.b.size if plan.b is not None else 0) + len(plan.aux)
    for g in plan.groups:
        n += g.k + sum(len(b) * (len(b) - 1) // 2 for b in g.blocks)
    return n


def describe_collapse(compiled, method: str | None = None) -> str:
    """The line ``print(model)`` shows about the collapsed path, from its
    :class:`~formulang.compiled.CompiledModel`; ``method``: the fitting method about to run
    (None: any). Only NUTS integrates the effects out; map and vi sample the full model."""
    plan = compiled.plan
    if not plan.groups:
        return ""
    if getattr(compiled, "collapsed_terms", ()):  # crossed: one factor integrated out
        if method in ("map", "vi"):
            return f"Group effects: sampled ({method} fits the full model, not the collapsed one)"
        return f"Group effects: {compiled.collapse_reason}"
    if compiled.collapsed and method in ("map", "vi"):
        return f"Group effects: sampled ({method} fits the full model, not the collapsed one)"
    if compiled.collapsed and compiled.laplace:
        return (f"Group effects: integrated out by the embedded Laplace approximation (NUTS "
                f"runs over {n_sampled_parameters(plan)} parameters; effects drawn from the "
                f"Gaussian approximation of their conditional, PSIS k-hat in "
                f"fit.diagnostics()): {compiled.collapse_reason}"
                + ("; map and vi sample the full model" if method is None else ""))
    if compiled.collapsed:
        return (f"Group effects: integrated out exactly (collapsed Gaussian: NUTS runs over "
                f"{n_sampled_parameters(plan)} parameters; effects drawn from their exact "
                f"conditional) — collapse=False samples them"
                + ("; map and vi sample the full model" if method is None else ""))
    reason = compiled.collapse_reason
    if reason.startswith(SAMPLED + "; "):  # said once: "sampled (collapse='laplace' ...)"
        reason = reason[len(SAMPLED) + 2:]
    return f"Group effects: sampled ({reason})" if reason else ""


# ---- sufficient statistics -----------------------------------------------------------------

def population_design_chunk(X_slopes: np.ndarray, intercept: bool) -> np.ndarray:
    """``X_c``: the intercept column (if any) then the centred slopes, as the full model uses
    them (``Intercept_c + X @ b_c``)."""
    X = np.asarray(X_slopes, dtype=np.float64)
    if intercept:
        X = np.concatenate([np.ones((X.shape[0], 1)), X], axis=1)
    return X


def sufficient_statistics(plan: ModelPlan, data: dict, layout: BlockLayout,
                          scale: float | None = None) -> dict:
    """Everything the collapsed likelihood needs, in float64, streaming over rows in chunks.

    The statistics are taken around ``theta0``, the least-squares fit of ``y*`` on ``X_c``
    rounded to float32 (so the sampler's float32 copy is exact): with ``y0 = y* - X_c
    theta0``, ``r'r = y0'y0 - 2 d'X'y0 + d'X'X d`` for ``d = theta - theta0``, and ``X'y0`` is
    about 0, so ``r'r`` is computed without the cancellation ``y*'y*`` would bring when the
    response's mean is large. They are in units of ``scale`` (the response divided by it;
    default: :func:`~formulang.lower.units.unit_scale` of the least-squares residuals' root
    mean square), so the float32 sampler sees numbers near 1 whatever the response's unit.
    Returns ``ZtZ (B,q,q)``, ``ZtX (B,q,p)``, ``Zty (B,q)``, ``XtX (p,p)``, ``Xty (p,)``,
    ``yty``, ``n``, ``theta0 (p,)`` and ``scale``.
    """
    y = np.asarray(data["y"], dtype=np.float64) - np.asarray(data["offset"], dtype=np.float64)
    X_slopes = np.asarray(data["X"], dtype=np.float64)
    n = y.shape[0]
    p = X_slopes.shape[1] + int(plan.intercept)
    B, q = layout.n_blocks, layout.q
    codes = [np.asarray(c, dtype=np.intp) for c in data["codes"]]
    values = [np.asarray(v, dtype=np.float64) for v in data["values"]]
    entries = sum(v.shape[1] for v in values)  # nonzeros of a row of Z
    rows = max(1, _CHUNK_ENTRIES // max(1, entries * (entries + p + 1) + p))
    chunks = [slice(s, min(s + rows, n)) for s in range(0, n, rows)]

    XtX, Xty = np.zeros((p, p)), np.zeros(p)
    for s in chunks:
        Xc = population_design_chunk(X_slopes[s], plan.intercept)
        XtX += Xc.T @ Xc
        Xty += Xc.T @ y[s]
    theta0 = np.linalg.lstsq(XtX, Xty, rcond=None)[0] if p else np.zeros(0)
    theta0 = theta0.astype(np.float32).astype(np.float64)

    ZtZ, ZtX, Zty = np.zeros(B * q * q), np.zeros(B * q * p), np.zeros(B * q)
    yty, Xty0 = 0.0, np.zeros(p)
    for s in chunks:
        Xc = population_design_chunk(X_slopes[s], plan.intercept)
        r0 = y[s] - Xc @ theta0
        yty += float(r0 @ r0)
        Xty0 += Xc.T @ r0
        block = codes[layout.outer][s]
        pos, val = [], []  # per nonzero of Z: its position in the block and its value
        for gi, (c, v) in enumerate(zip(codes, values)):
            slot = layout.level_slot[gi][c[s]]
            for j in range(v.shape[1]):
                pos.append(slot + j)
                val.append(v[s, j])
        ZtZ += _bincount([block * q * q + a * q + b for a in pos for b in pos],
                         [va * vb for va in val for vb in val], B * q * q)
        if p:
            ZtX += _bincount([block * q * p + a * p + j for a in pos for j in range(p)],
                             [va * Xc[:, j] for va in val for j in range(p)], B * q * p)
        Zty += _bincount([block * q + a for a in pos], [va * r0 for va in val], B * q)
    if scale is None:
        scale = unit_scale(np.sqrt(yty / max(n, 1)))
    s = float(scale)  # a power of two: dividing by it is exact
    return {"ZtZ": ZtZ.reshape(B, q, q), "ZtX": ZtX.reshape(B, q, p),
            "Zty": Zty.reshape(B, q) / s, "XtX": XtX, "Xty": Xty0 / s,
            "yty": np.float64(yty / s**2), "n": np.float64(n), "theta0": theta0 / s,
            "scale": np.float64(s)}


def _bincount(index: list, weights: list, size: int) -> np.ndarray:
    return np.bincount(np.concatenate(index), weights=np.concatenate(weights), minlength=size)


def scatter_index(plan: ModelPlan, layout: BlockLayout) -> dict:
    """Where each term's ``scale_tril`` entries go in the per-block ``T`` (block, row, col),
    level by level, term by term; unused when ``layout.shared``."""
    blk, row, col = [], [], []
    for g, lb, slot in zip(plan.groups, layout.level_block, layout.level_slot):
        i, j = np.divmod(np.arange(g.k * g.k), g.k)
        blk.append(np.repeat(lb, g.k * g.k))
        row.append((slot[:, None] + i[None]).ravel())
        col.append((slot[:, None] + j[None]).ravel())
    return {k: np.concatenate(v).astype(np.int32) for k, v in
            (("block", blk), ("row", row), ("col", col))}


def collapsed_data(plan: ModelPlan, data: dict, layout: BlockLayout, stats=None,
                   scale: float | None = None) -> dict:
    """The pytree the collapsed NumPyro model takes: priors, statistics and the ``T`` index.
    ``scale``: the unit the sampler runs in (:func:`sufficient_statistics`; ``1.0``: the
    response's own)."""
    stats = sufficient_statistics(plan, data, layout, scale) if stats is None else stats
    out = {"priors": data["priors"], "stats": stats}
    if not layout.shared:
        out["T_index"] = scatter_index(plan, layout)
    return out


# ---- the marginal likelihood ---------------------------------------------------------------

def block_scale(plan: ModelPlan, layout: BlockLayout, trils, index=None, xp=None):
    """``T`` as ``(..., B, q, q)``, or ``(..., 1, q, q)`` when every block shares it, from the
    terms' ``scale_tril`` (each ``(..., k, k)``; numpy may add a leading draw axis)."""
    import jax.numpy as jnp

    xp = jnp if xp is None else xp
    lead = trils[0].shape[:-2]
    if layout.shared:
        if len(trils) == 1:
            return trils[0][..., None, :, :]
        T = xp.zeros(lead + (1, layout.q, layout.q))
        start = 0
        for g, t in zip(plan.groups, trils):
            window = (Ellipsis, 0, slice(start, start + g.k), slice(start, start + g.k))
            T = _set(T, window, t, xp)
            start += g.k
        return T
    entries = xp.concatenate([xp.repeat(t.reshape(lead + (1, g.k * g.k)), len(g.levels),
                                        axis=-2).reshape(lead + (-1,))
                              for g, t in zip(plan.groups, trils)], axis=-1)
    T = xp.zeros(lead + (layout.n_blocks, layout.q, layout.q))
    return _set(T, (Ellipsis, index["block"], index["row"], index["col"]), entries, xp)


def _set(a, where, value, xp):
    if xp is np:
        a[where] = value
        return a
    return a.at[where].set(value)


def block_terms(stats: dict, delta, sigma, T, xp=None):
    """``(r'r, A, c)`` of the formula, with ``A = T' Z'Z T / sigma^2`` and ``c = T' Z'r /
    sigma^2`` per block, given ``delta = theta - theta0`` and ``T`` from :func:`block_scale`.

    For ``q <= 2``, ``A`` and ``c`` are tuples of their distinct entries (``q = 1``:
    ``(a00,)``; ``q = 2``: ``(a00, a01, a11)``), each ``(..., B)``, written out by hand: tiny
    batched matrix products and LAPACK calls are slow on CPU, elementwise arithmetic fuses
    into one loop.
    """
    import jax.numpy as jnp

    xp = jnp if xp is None else xp
    ZtZ, ZtX, Zty = stats["ZtZ"], stats["ZtX"], stats["Zty"]
    B, q, p = ZtX.shape
    # Z'r = Z'y0 - Z'X delta, as one (draws x p) @ (p x B q) product (numpy's einsum is slow)
    Ztr = Zty - (delta @ xp.reshape(ZtX, (B * q, p)).T).reshape(delta.shape[:-1] + (B, q))
    rr = (stats["yty"] - 2.0 * xp.einsum("p,...p->...", stats["Xty"], delta)
          + xp.einsum("...p,pk,...k->...", delta, stats["XtX"], delta))
    s2 = (xp.asarray(sigma) ** 2)[..., None]
    if q == 1:
        t = T[..., 0, 0]
        return rr, (t * t * ZtZ[..., 0, 0] / s2,), (t * Ztr[..., 0] / s2,)
    if q == 2:
        t00, t01, t10, t11 = T[..., 0, 0], T[..., 0, 1], T[..., 1, 0], T[..., 1, 1]
        s00, s01, s11 = ZtZ[..., 0, 0], ZtZ[..., 0, 1], ZtZ[..., 1, 1]
        u00, u01 = s00 * t00 + s01 * t10, s00 * t01 + s01 * t11  # U = S T
        u10, u11 = s01 * t00 + s11 * t10, s01 * t01 + s11 * t11
        a00 = (t00 * u00 + t10 * u10) / s2
        a01 = (t00 * u01 + t10 * u11) / s2
        a11 = (t01 * u01 + t11 * u11) / s2
        r0, r1 = Ztr[..., 0], Ztr[..., 1]
        return rr, (a00, a01, a11), ((t00 * r0 + t10 * r1) / s2, (t01 * r0 + t11 * r1) / s2)
    Tt = xp.swapaxes(T, -1, -2)
    A = Tt @ ZtZ @ T
    c = (Tt @ Ztr[..., None])[..., 0]
    return rr, A / s2[..., None, None], c / s2[..., None]


def logdet_quad(A, c, xp=None):
    """Per block ``log|M|`` and ``c' M^-1 c`` for ``M = I + A`` (``A`` as from
    :func:`block_terms`). ``M >= I``, so its Cholesky factor always exists."""
    import jax.numpy as jnp

    xp = jnp if xp is None else xp
    if isinstance(A, tuple) and len(A) == 1:
        m = 1.0 + A[0]
        return xp.log(m), c[0] * c[0] / m
    if isinstance(A, tuple):
        l00, l10, l11 = chol2(*A, xp=xp)
        w0 = c[0] / l00
        w1 = (c[1] - l10 * w0) / l11
        return 2.0 * (xp.log(l00) + xp.log(l11)), w0 * w0 + w1 * w1
    M = A + xp.eye(A.shape[-1])
    R = xp.linalg.cholesky(M)
    if xp is np:
        w = np.linalg.solve(R, c[..., None])[..., 0]
    else:
        import jax.scipy.linalg as jsl

        w = jsl.solve_triangular(R, c[..., None], lower=True)[..., 0]
    logdet = 2.0 * xp.sum(xp.log(xp.diagonal(R, axis1=-2, axis2=-1)), axis=-1)
    return logdet, xp.sum(w * w, axis=-1)


def chol2(a00, a01, a11, xp=None):
    """Cholesky factor ``(l00, l10, l11)`` of ``I + [[a00, a01], [a01, a11]]``, elementwise.

    The Schur complement ``1 + a11 - a01^2 / (1 + a00)`` is >= 1 for a PSD ``A``; the floor
    at 1 only absorbs rounding (float32), it never changes an exact value.
    """
    import jax.numpy as jnp

    xp = jnp if xp is None else xp
    m00 = 1.0 + a00
    l00 = xp.sqrt(m00)
    l10 = a01 / l00
    l11 = xp.sqrt(xp.maximum(1.0 + a11 - a01 * a01 / m00, 1.0))
    return l00, l10, l11


def marginal_log_likelihood(stats: dict, delta, sigma, T, closed_form: bool = True):
    """``log p(y* | theta, sigma, T)`` with the group effects integrated out (jax).

    ``closed_form=False`` uses ``jnp.linalg`` for every ``q`` (kept for timing comparisons)."""
    import jax.numpy as jnp

    rr, A, c = block_terms(stats, delta, sigma, T)
    if not closed_form and isinstance(A, tuple):
        A, c = _dense(A, c)
    logdet, quad = logdet_quad(A, c)
    n, s2 = stats["n"], sigma ** 2
    return (-0.5 * n * jnp.log(2.0 * jnp.pi * s2) - 0.5 * rr / s2
            + 0.5 * jnp.sum(quad - logdet, axis=-1))


def _dense(A, c):
    import jax.numpy as jnp

    if len(A) == 1:
        return A[0][..., None, None], c[0][..., None]
    a00, a01, a11 = A
    M = jnp.stack([jnp.stack([a00, a01], -1), jnp.stack([a01, a11], -1)], -2)
    return M, jnp.stack(c, -1)


# ---- the NumPyro model ---------------------------------------------------------------------

def group_scale(g: GroupPlan, params: dict):
    """Sample ``sd_<g>`` and ``L_<g>`` as the full model does; return ``diag(sd) @ L``."""
    from .numpyro_model import _sample_vector, sample_correlation_cholesky

    sd = _sample_vector(g.sd, params)
    return sd[:, None] * sample_correlation_cholesky(g, params)


def population_sites(plan: ModelPlan, params: dict):
    """Sample ``Intercept_c`` and ``b_c`` as the full model does; return ``theta``."""
    import jax.numpy as jnp
    import numpyro

    from .numpyro_model import _sample_vector
    from .priors import numpyro_distribution

    parts = []
    if plan.intercept:
        parts.append(jnp.reshape(numpyro.sample(plan.sites.intercept, numpyro_distribution(
            plan.priors.lookup("Intercept").distribution, params["Intercept"][:, 0])), (1,)))
    if plan.b is not None:
        parts.append(_sample_vector(plan.b, params))
    return jnp.concatenate(parts) if parts else jnp.zeros(0)


def make_collapsed_model(plan: ModelPlan, layout: BlockLayout, closed_form: bool = True):
    """``model(data)`` over the full model's non-group sites, with the group effects
    integrated out: ``numpyro.factor("y_marginal", log p(y | theta, sd, L, sigma))``.
    ``data`` is :func:`collapsed_data`'s pytree.

    The sites in the response's unit (:func:`~formulang.lower.units.response_unit_sites`) are
    sampled divided by the statistics' ``scale``, under their own priors carried over
    (:func:`~formulang.lower.units.standardize_sites`): NUTS moves on numbers near 1 whatever
    the response's unit; :func:`formulang.infer.collapsed_draws.complete_samples` multiplies
    the draws back."""
    unit_sites = response_unit_sites(plan)

    def model(data):
        import jax.numpy as jnp
        import numpyro

        from .numpyro_model import family_parameters

        params, stats = data["priors"], data["stats"]
        with standardize_sites(unit_sites, stats["scale"]):
            theta = population_sites(plan, params)
            trils = [group_scale(g, params) for g in plan.groups]
            sigma = family_parameters(plan, data)["sigma"]
        T = block_scale(plan, layout, trils, data.get("T_index"))
        # log p(y*) = log p(y* / scale) - n log(scale): the density of the response as given
        numpyro.factor("y_marginal", marginal_log_likelihood(
            stats, theta - stats["theta0"], sigma, T, closed_form=closed_form)
            - stats["n"] * jnp.log(stats["scale"]))

    return model


__all__ = ["BlockLayout", "CollapseChoice", "MAX_BLOCK", "block_layout", "choose_collapse",
           "collapsed_data", "make_collapsed_model", "marginal_log_likelihood",
           "n_sampled_parameters", "sufficient_statistics"]
