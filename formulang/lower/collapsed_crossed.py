"""Partial collapse of crossed Gaussian models: one factor's effects integrated out exactly
(issue 20).

When grouping factors are crossed (students x instructors, subjects x items), the group
effects do not split into independent blocks, so :mod:`formulang.lower.collapsed` cannot
integrate them all out. It can integrate out the effects of *one* factor, the **collapsed
set**: a term ``o`` and every term whose levels nest in ``o``'s, given the others' effects
(Lai, Domke & Sheldon, NeurIPS 2024). With ``u_s`` the sampled terms' effects, the residual

    r_i = y*_i - x_i theta - sum_{sampled g} z_ig u_g[level]

changes with every gradient, so the per-block statistics that depend on it, ``Z_o' r`` and
``r'r``, are recomputed each time by one segment sum over rows (``O(N)``, as the sampled
effects' own gather already costs), while ``Z_o'Z_o`` is fixed. The marginal is then the
collapsed formula of :func:`formulang.lower.collapsed.marginal_log_likelihood` with those
statistics: exact, so no accuracy rule decides whether to use it.

Which set: the candidate that removes the most sampled parameters (levels x effects), among
those whose blocks hold at most :data:`~formulang.lower.collapsed.MAX_BLOCK` effects and
whose nested terms' parents are in the set too. NUTS samples the rest (population, SDs,
correlations, sigma, the other terms' effects, centred or not as the plan says); the
collapsed set's effects are drawn afterwards from their exact conditional given each draw
(:func:`formulang.infer.collapsed_draws.draw_partial_effects`), under the full model's site
names, so predictions, LOO, save/load and simulation read the fit as the full model's.

>>> import formulang as fl
>>> m = fl.Model("diameter ~ 1 + (1 | plate) + (1 | sample)", fl.datasets.load("Penicillin"))
>>> m.partial.collapsed_labels, m.partial.sampled_labels
(('plate',), ('sample',))
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import FormulangError
from .collapsed import (BlockLayout, CollapseChoice, Ineligible, block_scale,
                        check_collapsible, choose_collapse, group_scale,
                        marginal_log_likelihood, nested_layout, population_design_chunk,
                        population_sites, scatter_index)
from .collapsed_schur import schur_eligible
from .laplace_choice import auto_laplace
from .plan import ModelPlan, dense_mass, subplan
from .sparse_product import matvec, triples
from .units import response_unit_sites, standardize_sites


@dataclass(frozen=True, eq=False)
class PartialCollapse:
    """Which terms are integrated out (``collapsed``, indices into ``plan.groups``) and which
    sampled; ``layout``: the collapsed set's outer blocks (its terms in ``collapsed``'s
    order)."""

    collapsed: tuple[int, ...]
    sampled: tuple[int, ...]
    layout: BlockLayout
    collapsed_labels: tuple[str, ...]
    sampled_labels: tuple[str, ...]
    n_levels: int  # levels of the collapsed set's outer factor
    # the other terms' effects integrated out too, through a dense Schur complement
    # (lower/collapsed_schur.py), where that is cheap: then NUTS samples no effect at all
    schur: bool = False


def choose(bound, fam, plan: ModelPlan, collapse="auto", reparam="auto",
           parameterization=(), pilot=None,
           sampler_rows: int | None = None) -> tuple[CollapseChoice, PartialCollapse | None]:
    """The full collapse where every factor nests in the coarsest
    (:func:`~formulang.lower.collapsed.choose_collapse`, unchanged); else, for crossed
    factors, the partial collapse (``collapse="auto"`` with ``reparam="auto"``, or
    ``collapse=True``); else neither, with the reason. A family with no closed-form integral
    under ``collapse="auto"`` (and ``reparam="auto"``): the embedded Laplace path where the
    pilot says it is accurate and ``sampler_rows`` (the rows NUTS would see, after exact
    compression) are many (:func:`formulang.lower.laplace_choice.auto_laplace`).

    >>> import formulang as fl
    >>> from formulang.lower.families import family
    >>> m = fl.Model("diameter ~ 1 + (1 | plate) + (1 | sample)", "Penicillin")
    >>> c, p = choose(m.bound, family("gaussian"), m.plan, collapse=False)
    >>> c.collapsed, p
    (False, None)
    """
    if collapse == "auto" and isinstance(reparam, str) and reparam == "auto":
        auto = auto_laplace(bound, fam, parameterization, pilot, sampler_rows)
        if auto is not None:
            return auto, None
    try:
        full = choose_collapse(bound, fam, collapse, reparam)
    except FormulangError as refused:  # collapse=True on a crossed model: try the partial one
        full, error = None, refused
    else:
        error = None
    if full is not None and (full.collapsed or collapse is False or full.layout is not None):
        return full, None
    try:
        check_collapsible(bound, fam)
        part = partial_layout(bound, plan)
    except Ineligible:
        if error is not None:
            raise error from None
        return full, None
    if collapse == "auto" and not (isinstance(reparam, str) and reparam == "auto"):
        return CollapseChoice(False, f"not collapsed: reparam={reparam!r} was given, so the "
                                     f"group effects are sampled that way (collapse=True "
                                     f"integrates crossed factors' effects out)"), None
    return CollapseChoice(False, partial_reason(part)), part


def partial_reason(part: PartialCollapse) -> str:
    """What was integrated out and why, in words (``print(model)``'s line)."""
    if part.schur:
        return (f"collapsed: every effect integrated out exactly: "
                f"{', '.join(part.collapsed_labels)} ({part.n_levels:,} levels) by blocks, "
                f"{', '.join(part.sampled_labels)} through a dense Schur complement "
                f"(crossed factors; collapse=False samples everything)")
    return (f"collapsed: {', '.join(part.collapsed_labels)} ({part.n_levels:,} "
            f"levels) integrated out exactly; {', '.join(part.sampled_labels)} sampled "
            f"(crossed factors: the set with the most effects is integrated out given the "
            f"sampled effects, exactly; collapse=False samples everything)")


def _nests(inner, outer) -> bool:
    """Whether each level of bound term ``inner`` lies inside one level of ``outer``."""
    codes = np.asarray(inner.codes, dtype=np.intp)
    outer_codes = np.asarray(outer.codes, dtype=np.intp)
    inside = np.zeros(inner.n_levels, dtype=np.intp)
    inside[codes] = outer_codes
    return bool(np.array_equal(inside[codes], outer_codes))


def partial_layout(bound, plan: ModelPlan) -> PartialCollapse:
    """The collapsed set of the most effects (see the module docstring), the other terms'
    effects integrated out too where :func:`~formulang.lower.collapsed_schur.schur_eligible`
    allows; raises ``Ineligible`` when no set qualifies."""
    groups = bound.groups
    if len(groups) != len(plan.groups) or len(groups) < 2:
        raise Ineligible("no crossed group terms to integrate out one at a time")
    best, best_size = None, 0
    for o, outer in enumerate(groups):
        members = tuple(i for i, g in enumerate(groups) if _nests(g, outer))
        if len(members) == len(groups):
            continue  # everything nests: the full collapse's case
        if any(plan.groups[i].parent is not None and plan.groups[i].parent not in members
               for i in members):
            continue  # a nested term centred on a sampled parent: keep both sampled
        size = sum(len(plan.groups[i].levels) * plan.groups[i].k for i in members)
        if size <= best_size:
            continue
        try:
            layout = nested_layout([groups[i] for i in members])
        except Ineligible:
            continue
        best, best_size = (members, layout, outer), size
    if best is None:
        raise Ineligible("no crossed factor's effects fit the collapsed sampler's blocks")
    members, layout, outer = best
    sampled = tuple(i for i in range(len(groups)) if i not in members)
    return PartialCollapse(members, sampled, layout,
                           tuple(plan.groups[i].label for i in members),
                           tuple(plan.groups[i].label for i in sampled), outer.n_levels,
                           schur_eligible(plan, sampled, layout.n_blocks * layout.q))


def partial_dense_mass(plan: ModelPlan, collapsed_terms) -> tuple[str, ...]:
    """One dense mass-matrix block over the intercept and the effects of the terms not in
    ``collapsed_terms`` (names) where the full model would have one
    (:func:`~formulang.lower.plan.dense_mass`: crossed intercepts leave a ridge, and it stays
    between the intercept and the sampled factor's levels with the other integrated out) and
    it has at most ``DENSE_MASS_MAX`` entries; () otherwise.

    >>> import formulang as fl
    >>> m = fl.Model("diameter ~ 1 + (1 | plate) + (1 | sample)", "Penicillin")
    >>> partial_dense_mass(m.plan, ("plate",))
    ('Intercept_c', 'rc_sample')
    """
    return dense_mass(plan, excluded=tuple(collapsed_terms))


def design_columns(plan: ModelPlan, data: dict, part: PartialCollapse):
    """``(W, Zc)`` as scipy sparse matrices (rows x columns): ``W`` the sampled coefficients'
    design, the population columns ``X_c`` (:func:`~formulang.lower.collapsed.
    population_design_chunk`) then each sampled term's levels x effects (level-major), and
    ``Zc`` the collapsed set's design over its blocks' positions (block x q + slot)."""
    from scipy import sparse

    layout = part.layout
    B, q = layout.n_blocks, layout.q
    Xc = population_design_chunk(data["X"], plan.intercept)
    n = Xc.shape[0]
    rows = np.arange(n)
    parts = [sparse.csr_matrix(Xc)]
    for i in part.sampled:
        g = plan.groups[i]
        codes, values = np.asarray(data["codes"][i]), np.asarray(data["values"][i], float)
        cols = codes[:, None] * g.k + np.arange(g.k)[None, :]
        parts.append(sparse.csr_matrix((values.ravel(), (np.repeat(rows, g.k), cols.ravel())),
                                       shape=(n, len(g.levels) * g.k)))
    W = sparse.hstack(parts, format="csr")
    pos, val = [], []
    for gi, i in enumerate(part.collapsed):
        codes = np.asarray(data["codes"][i], dtype=np.intp)
        values = np.asarray(data["values"][i], dtype=np.float64)
        base = layout.level_block[gi][codes] * q + layout.level_slot[gi][codes]
        for j in range(values.shape[1]):
            pos.append(base + j)
            val.append(values[:, j])
    pos, val = np.concatenate(pos), np.concatenate(val)
    Zc = sparse.csr_matrix((val, (np.tile(rows, len(pos) // n), pos)), shape=(n, B * q))
    return W, Zc


def partial_data(plan: ModelPlan, data: dict, part: PartialCollapse, unit: float) -> dict:
    """The pytree of :func:`make_partial_model`: statistics computed once, in float64, so a
    gradient never touches the rows. With ``w`` the sampled coefficients (``theta - theta0``
    then each sampled term's effects, as :func:`design_columns` orders ``W``), ``y0 = y* -
    X_c theta0`` (``theta0`` the least-squares fit, which keeps ``y0'y0`` free of the
    cancellation a large mean brings) and the collapsed set's design ``Zc``::

        Z'r = Zc'y0 - (Zc'W) w          r'r = y0'y0 - 2 (W'y0)'w + w'(W'W) w

    ``K = Zc'W`` and ``W'W`` are sparse (their nonzeros: the pairs of levels that share rows)
    and stored as (row, column, value) triples (:func:`~formulang.lower.sparse_product.triples`,
    in the order a CPU scatters fastest); ``Zc'Zc`` as the blocks ``ZtZ (B, q, q)``.
    Everything in the response's unit is divided by ``unit`` (the sampler's unit,
    :mod:`formulang.lower.units`)."""
    layout = part.layout
    B, q = layout.n_blocks, layout.q
    W, Zc = design_columns(plan, data, part)
    p = int(plan.intercept) + (plan.b.size if plan.b is not None else 0)
    y = np.asarray(data["y"], np.float64) - np.asarray(data["offset"], np.float64)
    XtX = (W[:, :p].T @ W[:, :p]).toarray()
    theta0 = np.linalg.lstsq(XtX, W[:, :p].T @ y, rcond=None)[0] if p else np.zeros(0)
    theta0 = theta0.astype(np.float32).astype(np.float64)
    y0 = y - W[:, :p] @ theta0
    ZtZ = (Zc.T @ Zc).tocoo()
    blocks = np.zeros((B, q, q))
    blocks[ZtZ.row // q, ZtZ.row % q, ZtZ.col % q] = ZtZ.data  # block-diagonal by design
    u = float(unit)
    out = {"priors": data["priors"], "ZtZ": blocks, "unit": np.float64(u),
           "theta0": theta0 / u, "Zty": (Zc.T @ y0) / u, "Wty": (W.T @ y0) / u,
           "yty": np.float64(y0 @ y0 / u**2), "n": np.float64(len(y)),
           "K": triples(Zc.T @ W), "WtW": triples(W.T @ W)}
    if not layout.shared:
        out["T_index"] = scatter_index(subplan(plan, part.collapsed), layout)
    return out


def sampled_coefficients(plan: ModelPlan, part: PartialCollapse, params: dict):
    """Sample the population sites and the sampled terms' effects (centred or not, as the
    plan says, with the full model's names and priors); return ``w`` as
    :func:`design_columns` orders it, less ``theta0``'s shift (the caller subtracts it)."""
    import jax.numpy as jnp

    from .numpyro_model import group_effects

    theta = population_sites(plan, params)
    intercept = theta[0] if plan.intercept else None
    own, parts = {}, [theta]
    for i in part.sampled:
        g = plan.groups[i]
        r = group_effects(g, params, None if g.parent is None else own[g.parent], intercept)
        own[i] = r
        parts.append(jnp.ravel(r))
    return jnp.concatenate(parts), theta.shape[0]


def make_partial_model(plan: ModelPlan, part: PartialCollapse):
    """``model(data)`` over every site of the full model but the collapsed set's effects
    (``z_<g>``/``rc_<g>``), ``data`` from :func:`partial_data`:
    ``numpyro.factor("y_marginal", log p(y | theta, sampled effects, SDs, sigma))``, the
    collapsed set's effects integrated out given the sampled ones, from the statistics alone
    (a gradient costs the nonzeros of ``K`` and ``W'W``, not the rows). The sites in the
    response's unit are sampled divided by ``data["unit"]``, as
    :func:`~formulang.lower.units.in_unit` does for the full model."""
    collapsed = subplan(plan, part.collapsed)
    unit_sites = response_unit_sites(plan)
    layout = part.layout
    B, q = layout.n_blocks, layout.q

    def model(data):
        import jax.numpy as jnp
        import numpyro

        from .numpyro_model import family_parameters

        params, unit = data["priors"], data["unit"]
        with standardize_sites(unit_sites, unit):
            w, p = sampled_coefficients(plan, part, params)
            trils = [group_scale(g, params) for g in collapsed.groups]
            sigma = family_parameters(plan, data)["sigma"]
        w = w.at[:p].add(-data["theta0"]) if p else w
        Ztr = data["Zty"] - matvec(data["K"], w, B * q)
        rr = data["yty"] - 2.0 * data["Wty"] @ w + w @ matvec(data["WtW"], w, w.shape[0])
        stats = {"ZtZ": data["ZtZ"], "ZtX": jnp.zeros((B, q, 0)), "Zty": Ztr.reshape(B, q),
                 "yty": rr, "Xty": jnp.zeros(0), "XtX": jnp.zeros((0, 0)), "n": data["n"]}
        T = block_scale(collapsed, layout, trils, data.get("T_index"))
        numpyro.factor("y_marginal", marginal_log_likelihood(stats, jnp.zeros(0), sigma, T)
                       - data["n"] * jnp.log(unit))

    return model


def partial_inverse_mass(plan: ModelPlan, part: PartialCollapse, full: dict) -> dict:
    """The full model's starting inverse mass matrix (:mod:`formulang.infer.mass_matrix`)
    less the effect sites the partial model does not sample (the collapsed set's; every
    term's with ``part.schur``)."""
    gone = set()
    for i in part.collapsed + (part.sampled if part.schur else ()):
        gone.update((plan.groups[i].sites.z, plan.groups[i].sites.rc))
    return {k: v for k, v in full.items() if k not in gone}


__all__ = ["PartialCollapse", "choose", "design_columns", "make_partial_model", "partial_data",
           "partial_dense_mass", "partial_inverse_mass", "partial_layout", "partial_reason",
           "subplan"]
