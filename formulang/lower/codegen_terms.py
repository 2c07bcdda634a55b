"""The linear predictor's part of generated source (:mod:`formulang.lower.codegen`): the
population-level coefficients and each group term's SDs, correlations and effects, sampled
under the sites, priors and per-level parameterisation of the plan.

>>> import formulang as fl
>>> from formulang.lower.codegen_layout import Writer
>>> m = fl.Model("Reaction ~ Days + (Days | Subject)", fl.datasets.load("sleepstudy"))
>>> print(describe_group(m.plan.groups[0], "(1 + Days | Subject)"))
(1 + Days | Subject): 18 levels, correlated, centered
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .codegen_layout import Writer, array, distribution, int_list, num
from .codegen_smooth import smooth_source
from .plan import GroupPlan, VectorSite
from .sites import GroupSites, column_dpars, effect_names, uses

FLAG_LEVELS = 200  # above this many levels, a mixed term's layout is one 0/1 character a level


def _sample_vector(w: Writer, params: dict, site: VectorSite, var: str, coef_names) -> None:
    """``var = numpyro.sample(site.name, ...)``: one site, or one per prior distribution used,
    scattered into a vector (as the compiled model's ``_sample_vector``)."""
    if len(site.pieces) == 1:
        dist_name, _, key = site.pieces[0]
        w.line(f'{var} = numpyro.sample("{site.name}", '
               f'{distribution(dist_name, params[key], site.size)})')
        return
    w.line(f"{var} = jnp.zeros({site.size})")
    for i, (piece, (dist_name, idx, key)) in enumerate(zip(site.piece_names, site.pieces)):
        names = ", ".join(coef_names[j] for j in idx)
        w.comment(f"{names}: {dist_name}")
        w.line(f'{var}_{i} = numpyro.sample("{piece}", '
               f'{distribution(dist_name, params[key], len(idx))})')
        w.line(f"{var} = {var}.at[np.array({int_list(idx)})].set({var}_{i})")


@dataclass(frozen=True)
class Predictor:
    """One formula as the generated source writes it: ``pred``, the plan itself (the
    response's formula) or a :class:`~formulang.lower.plan.DparPlan` (``sigma ~ x``);
    ``suffix``, what its variables and arguments end with (``""``; ``"_sigma"``: ``eta_sigma``,
    ``X_sigma``); ``idents``, the Python identifier of each group term; ``terms``, each group
    term as written; ``offset``: whether ``model()`` takes an offset for it; ``uses``, the
    group terms in its linear predictor (:func:`~formulang.lower.sites.uses`): ``(term name,
    its column indices, the identifier of this formula's codes and values, the variable of
    the term's effects)``; a term spanning formulas (``(1 |p| g)``) gives each formula its
    columns of one block, sampled by the formula that holds it."""

    pred: object
    suffix: str
    idents: tuple[str, ...]
    terms: tuple[str, ...]
    offset: bool = True
    uses: tuple[tuple[str, tuple[int, ...], str, str], ...] = ()

    @property
    def eta(self) -> str:
        return "eta" + self.suffix

    @property
    def X(self) -> str:
        return "X" + self.suffix

    @property
    def offset_arg(self) -> str:
        return "offset" + self.suffix

    def key(self, cls: str, *index: str, dpar: str | None = None) -> str:
        """A prior's key as users write it: ``b[x]``; of a sub-formula ``b_sigma[x]``
        (``dpar``: another formula's, for a term spanning formulas)."""
        dpar = self.pred.dpar if dpar is None else dpar
        return cls + (f"_{dpar}" if dpar else "") + "".join(f"[{i}]" for i in index)


class _Eta:
    """Writes a formula's linear predictor term by term: the first assigns it."""

    def __init__(self, w: Writer, name: str):
        self.w, self.name, self.started = w, name, False

    def add(self, expression: str) -> None:
        self.w.line(f"{self.name} = {self.name} + {expression}" if self.started
                    else f"{self.name} = {expression}")
        self.started = True


def predictor(w: Writer, plan, p: Predictor) -> None:
    """The source of one formula: its population-level coefficients, each group term's
    effects, and its linear predictor ``eta`` (``p.eta``) per row."""
    eta = _Eta(w, p.eta)
    population(w, plan, p, eta)
    for gi in range(len(p.pred.groups)):
        w.line()
        group(w, plan, p, gi, eta)
    own = {g.name for g in p.pred.groups}
    sizes = {g.name: g.k for g, _ in uses(plan, p.pred.dpar)}
    for name, cols, ident, r in p.uses:
        if name not in own:  # another formula's block: this formula's columns of it
            w.line()
            w.comment(f"this formula's columns of {r}, the block shared across formulas by "
                      f"an ID (sampled above)")
            eta.add(_effect_term(ident, r, cols, sizes[name]))
    smooth_source(w, plan, p.pred.dpar, eta.add)  # s(), gp() of this formula
    if not eta.started:  # nothing to add (a formula of no terms): 0 per row
        w.line(f"{p.eta} = jnp.zeros_like(offset)")


def _effect_term(ident: str, r: str, cols: tuple[int, ...], k: int) -> str:
    """``sum(values * r[codes])`` per row; of a block spanning formulas, its ``cols``."""
    r = r if len(cols) == k else f"{r}[:, np.array({int_list(cols)})]"
    return f"jnp.sum({ident}_values * {r}[{ident}_codes], axis=-1)"


def _column_keys(p: Predictor, g: GroupPlan) -> list[tuple[str, str, str]]:
    """``(prior key, column, formula)`` of each of ``g``'s columns: a term spanning formulas
    takes each column's prior from its own formula (``sd_sigma[g][Intercept]``)."""
    return [(p.key("sd", g.label, col, dpar=dpar), col, dpar)
            for col, dpar in zip(effect_names(g), column_dpars(g))]


def population(w: Writer, plan, p: Predictor, eta: _Eta) -> None:
    pred = p.pred
    slopes = pred.slope_columns
    priors, dpar = plan.priors, pred.dpar
    ic, bc = pred.sites.intercept, pred.sites.slopes  # sites and local names alike
    coefficients = pred.sites.coefficients
    w.comment("Population-level effects" + (
        f". The intercept is sampled on centred predictors ({ic}), as brms does; "
        f"{coefficients} reports it for the predictors as given." if pred.intercept and slopes
        else "."))
    if pred.intercept:
        w.comment(f"  {p.key('Intercept')} ~ {priors.lookup('Intercept', dpar=dpar)}"
                  + (" (on centred predictors)" if slopes else ""))
    for col in slopes:
        w.comment(f"  {p.key('b', col)} ~ {priors.lookup('b', coef=col, dpar=dpar)}")
    if p.offset:
        eta.add(p.offset_arg)
    x_means = "x_means" + p.suffix
    if pred.b is not None:
        X = p.X
        if pred.intercept or pred.thresholds is not None:  # centred (ModelPlan.centred)
            w.line(f"{x_means} = {array(pred.x_means)}  # column means of "
                   f"{', '.join(slopes)}")
            X = "Xc" + p.suffix
            w.line(f"{X} = {p.X} - {x_means}")
        _sample_vector(w, plan.prior_params, pred.b, bc, [p.key("b", c) for c in slopes])
        eta.add(f"{X} @ {bc}")
    if pred.intercept:
        prior = priors.lookup("Intercept", dpar=dpar)
        values = plan.prior_params[pred.sites.intercept_key][:, 0]
        w.line(f'{ic} = numpyro.sample("{ic}", {distribution(prior.distribution, values)})')
        eta.add(ic)
    if pred.intercept and pred.b is not None:
        w.line(f'numpyro.deterministic("{coefficients}", jnp.concatenate([jnp.reshape({ic} - '
               f'{x_means} @ {bc}, (1,)), {bc}]))')
    elif pred.intercept:
        w.line(f'numpyro.deterministic("{coefficients}", jnp.reshape({ic}, (1,)))')
    elif pred.b is not None:
        w.line(f'numpyro.deterministic("{coefficients}", {bc})')


def _level_layout(w: Writer, g: GroupPlan, ident: str) -> tuple[str, str]:
    """Write the static level indices of a mixed term; return the two index expressions."""
    centered = np.asarray(g.centered, dtype=bool)
    nc, c = f"nc_{ident}", f"c_{ident}"
    if len(centered) > FLAG_LEVELS:
        flags = "".join("1" if v else "0" for v in centered)
        w.comment(f"per level of {g.label}, in level order: 1 = centred, 0 = non-centred")
        w.line(f"centered_{ident} = np.array(list(")
        for i in range(0, len(flags), 80):
            w.line(f'    "{flags[i:i + 80]}"')
        w.line(')) == "1"')
        w.line(f"{nc}, {c} = np.flatnonzero(~centered_{ident}), "
               f"np.flatnonzero(centered_{ident})")
    else:
        w.comment(f"levels of {g.label} (indices into its {len(centered)} levels) sampled "
                  f"non-centred and centred")
        w.line(f"{nc} = np.array({int_list(np.flatnonzero(~centered))})")
        w.line(f"{c} = np.array({int_list(np.flatnonzero(centered))})")
    return nc, c


def describe_group(g: GroupPlan, term: str) -> str:
    parts = [f"{term}: {len(g.levels)} levels"]
    if g.k > 1:
        if len(g.blocks) == 1:
            parts.append("correlated")
        elif g.correlated_pairs:
            parts.append("correlated within blocks " + ", ".join(
                "(" + ", ".join(g.columns[j] for j in block) + ")" for block in g.blocks
                if len(block) > 1))
        else:
            parts.append("independent")
    mode = {"centered": "centered", "noncentered": "non-centered"}.get(g.mode)
    if mode is None:
        n = sum(g.centered)
        mode = f"mixed ({n} of {len(g.centered)} levels centered, the rest non-centered)"
    parts.append(mode)
    return ", ".join(parts)


def group(w: Writer, plan, p: Predictor, gi: int, eta: _Eta) -> None:
    """The source of group term ``gi`` of formula ``p``: SDs, correlations, effects, and
    its part of the linear predictor."""
    g: GroupPlan = p.pred.groups[gi]
    ident, term = p.idents[gi], p.terms[gi]
    params, priors = plan.prior_params, plan.priors
    n_levels, k = len(g.levels), g.k
    w.comment(describe_group(g, term))
    w.comment(f"  {g.reason}")
    keys = _column_keys(p, g)
    for key, col, dpar in keys:
        w.comment(f"  {key} ~ {priors.lookup('sd', g.label, col, dpar)}")
    if g.lkj_key:
        w.comment(f"  {p.key('cor', g.label)} ~ {priors.lookup('cor', g.label, dpar=g.dpar)}")
    local = GroupSites(ident)  # the code's variables, named as the sites they hold
    sd = local.sd
    _sample_vector(w, params, g.sd, sd, [key for key, _, _ in keys])

    sites = g.sites.lkj
    L, scale = local.L, f"scale_tril_{ident}"
    if sites:
        eta_lkj = num(params[g.lkj_key][0, 0])
        if len(sites) == 1 and len(sites[0][1]) == k:
            w.line(f'{L} = numpyro.sample("{sites[0][0]}", '
                   f'dist.LKJCholesky({k}, concentration={eta_lkj}))')
        else:
            w.line(f"{L} = jnp.eye({k})")
            for i, (site, block) in enumerate(sites):
                var = L if len(sites) == 1 else f"{L}_{i}"
                var = f"{L}_block" if var == L else var
                w.line(f'{var} = numpyro.sample("{site}", '
                       f'dist.LKJCholesky({len(block)}, concentration={eta_lkj}))')
                idx = int_list(block)
                w.line(f"{L} = {L}.at[np.ix_({idx}, {idx})].set({var})")
        w.line(f"{scale} = {sd}[:, None] * {L}  # Cholesky factor of the covariance")

    centered = np.asarray(g.centered, dtype=bool)
    n_c = int(centered.sum())
    n_nc = n_levels - n_c
    r = local.r
    noncentered_expr = centered_var = None
    if n_nc:
        z = local.z
        w.line(f'{z} = numpyro.sample("{g.sites.z}", '
               f'dist.Normal(0.0, 1.0).expand([{n_nc}, {k}]).to_event(2))')
        noncentered_expr = f"{z} @ {scale}.T" if sites else f"{z} * {sd}"
    if n_c:
        centered_var = local.rc
        locs = []
        if g.parent is not None:
            # hierarchical centring: a nested level is centred on its enclosing level's effect
            parent_r = GroupSites(p.idents[g.parent]).r
            parents = np.asarray(g.parent_levels)[np.flatnonzero(centered)]
            w.comment(f"  centred levels are centred on their "
                      f"{p.pred.groups[g.parent].label} level's effect")
            locs.append(f"{parent_r}[np.array({int_list(parents)})]")
        if g.intercept_loc is not None:
            # strong data identify intercept + effect, not each: centre on the intercept
            w.comment("  the centred levels' intercept effect is centred on the intercept")
            unit = [1.0 if j == g.intercept_loc else 0.0 for j in range(k)]
            ic = p.pred.sites.intercept
            locs.append(f"{ic} * jnp.array({unit})" if k > 1 else ic)
        if locs:
            loc = f"loc_{ident}"
            w.line(f"{loc} = jnp.broadcast_to({' + '.join(locs)}, ({n_c}, {k}))")
            if sites:
                prior = f"dist.MultivariateNormal({loc}, scale_tril={scale}).to_event(1)"
            else:
                prior = f"dist.Normal({loc}, {sd}).to_event(2)"
            w.line(f'{centered_var} = numpyro.sample("{g.sites.rc}", {prior}) - {loc}')
        else:
            if sites:
                prior = (f"dist.MultivariateNormal(jnp.zeros({k}), scale_tril={scale})"
                         f".expand([{n_c}]).to_event(1)")
            else:
                prior = f"dist.Normal(0.0, {sd}).expand([{n_c}, {k}]).to_event(2)"
            w.line(f'{centered_var} = numpyro.sample("{g.sites.rc}", {prior})')
    if not n_c:
        w.line(f"{r} = {noncentered_expr}")
    elif not n_nc:
        w.line(f"{r} = {centered_var}")
    else:
        nc_idx, c_idx = _level_layout(w, g, ident)
        w.line(f"{r} = jnp.zeros(({n_levels}, {k}))")
        w.line(f"{r} = {r}.at[{nc_idx}].set({noncentered_expr})")
        w.line(f"{r} = {r}.at[{c_idx}].set({centered_var})")
    w.line(f'numpyro.deterministic("{g.sites.r}", {r})  # levels x '
           f'({", ".join(g.columns)})')
    if g.correlated_pairs:
        if len(sites) == 1 and len(sites[0][1]) == k:
            w.line(f'numpyro.deterministic("{g.sites.cor}", '
                   f'({L} @ {L}.T)[jnp.triu_indices({k}, 1)])')
        else:
            a, b = zip(*g.correlated_pairs)
            w.line(f'numpyro.deterministic("{g.sites.cor}", '
                   f'({L} @ {L}.T)[np.array({int_list(a)}), np.array({int_list(b)})])')
    for name, cols, arg, _ in p.uses:  # its columns in this formula (all, unless it spans)
        if name == g.name:
            eta.add(_effect_term(arg, r, cols, k))


__all__ = ["FLAG_LEVELS", "Predictor", "describe_group", "group", "population", "predictor"]
