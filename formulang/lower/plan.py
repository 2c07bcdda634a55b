"""The model plan: every decision the lowering makes, before any JAX code runs.

A :class:`ModelPlan` says which parameters exist, their priors (grouped into vectorised sample
sites), how each group term is parameterised, and how the data arrays are laid out. The NumPyro
model (:mod:`formulang.lower.numpyro_model`), the generated source (:mod:`formulang.lower.codegen`)
and the results all read the plan, so they cannot disagree.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from ..data.groups import enclosing
from ..errors import FormulaError
from ..ir.prior import Prior
from . import joint as joints
from . import ordinal
from .families import Family
from .priors import PriorTable
from .reparam import WELL_IDENTIFIED
from .response import ResponsePlan, response_plan
from .smooth_plan import SmoothPlan, smooth_arrays, smooth_plans
from .sites import (POPULATION, GroupSites, PopulationSites, dpar_group, dpar_population,
                    group_names, piece_names)


@dataclass(frozen=True)
class VectorSite:
    """A vector parameter sampled in pieces, one per prior distribution used by its entries.

    ``name`` is its sampler site (``b_c``, ``sd_<g>``); ``pieces`` is ``((distribution,
    indices, prior parameter key), ...)``; the model samples each piece as one of
    :attr:`piece_names` and scatters it into a vector of length ``size``.
    """

    name: str
    size: int
    pieces: tuple[tuple[str, tuple[int, ...], str], ...]

    @property
    def piece_names(self) -> tuple[str, ...]:
        """The sites its pieces are sampled as (:func:`~formulang.lower.sites.piece_names`)."""
        return piece_names(self.name, len(self.pieces))


@dataclass(frozen=True)
class GroupPlan:
    name: str  # the term's stem, its grouping factor: its sites are ``sites`` (sd_<name>...)
    label: str  # the grouping factor as written ("batch:cask")
    columns: tuple[str, ...]  # effects ("Intercept", "floor")
    levels: tuple[str, ...]
    blocks: tuple[tuple[int, ...], ...]  # covariance blocks (column indices)
    centered: tuple[bool, ...]  # per level
    sd: VectorSite
    lkj_key: str | None  # prior parameter key of the LKJ eta, when a block has 2+ effects
    reason: str  # why this parameterisation
    # Nested terms ((1 | a/b): a:b inside a) centre their centred levels on the enclosing
    # term's effect: parent = index of that term in plan.groups, parent_levels[l] = the
    # enclosing level of level l. None when the term is not nested in an earlier term with
    # the same effects.
    parent: int | None = None
    parent_levels: tuple[int, ...] | None = None
    # The centred levels' intercept effect is centred on the model's intercept too (its
    # column index here; None: not): with strong data the intercept and centred effects
    # otherwise form a ridge. Set on the first top-level term with an intercept effect when
    # every level is strongly identified, and on the terms nested in it
    # (:func:`~formulang.lower.sites.centred_loc`).
    intercept_loc: int | None = None
    dpar: str = ""  # the family parameter whose sub-formula it is in ("": the response's)
    # A term spanning formulas ((1 |p| g) in two of them, lower/joint.py): the formula of
    # each column (its columns are then named as brms: "sigma_Intercept"); () otherwise.
    column_dpars: tuple[str, ...] = ()

    @property
    def k(self) -> int:
        return len(self.columns)

    @property
    def correlated_pairs(self) -> tuple[tuple[int, int], ...]:
        return tuple((a, b) for block in self.blocks for i, a in enumerate(block)
                     for b in block[i + 1:])

    @property
    def sites(self) -> GroupSites:
        """The names of this term's sites and parameters (:mod:`formulang.lower.sites`)."""
        return GroupSites(self.name, self.blocks)

    @property
    def mode(self) -> str:
        n = sum(self.centered)
        return "centered" if n == len(self.centered) else ("noncentered" if n == 0 else "mixed")


@dataclass(frozen=True)
class DparPlan:
    """The sub-formula of family parameter ``name`` (``sigma ~ x + (1 | g)``): its parameter
    is ``link^-1(eta)`` per row, ``eta`` built as the response's (centred slopes, group
    terms named ``<g>__<name>``, :func:`~formulang.lower.sites.dpar_group`). ``link``: a name
    in :data:`~formulang.lower.links.LINKS`, from the family's
    :class:`~formulang.lower.families.Aux` row."""

    name: str
    link: str
    columns: tuple[str, ...]
    intercept: bool
    x_means: tuple[float, ...]
    b: VectorSite | None
    groups: tuple[GroupPlan, ...]
    thresholds = None  # a sub-formula has an intercept of its own, never thresholds

    @property
    def dpar(self) -> str:
        return self.name

    @property
    def sites(self) -> PopulationSites:
        return dpar_population(self.name)

    @property
    def slope_columns(self) -> tuple[str, ...]:
        return tuple(c for c in self.columns if c != "Intercept")


@dataclass(frozen=True)
class ModelPlan:
    family: Family
    columns: tuple[str, ...]  # X columns, "Intercept" first if present
    intercept: bool
    x_means: tuple[float, ...]  # means of the non-intercept columns (centred when intercept)
    b: VectorSite | None  # the non-intercept coefficients
    groups: tuple[GroupPlan, ...]
    priors: PriorTable
    prior_params: dict  # key -> float array (n_params, n)
    n: int
    response: ResponsePlan = ResponsePlan()  # censoring, truncation, se, rate
    thresholds: VectorSite | None = None  # ordinal: the ordered thresholds (lower/ordinal.py)
    dpars: tuple[DparPlan, ...] = ()  # family parameters predicted by their own formulas
    smooths: tuple[SmoothPlan, ...] = ()  # s(), gp() terms (lower/smooth_plan.py)

    @property
    def aux(self) -> tuple[str, ...]:
        """The family parameters the model samples as one value (``se(s)`` alone: no
        ``sigma``; one with a sub-formula is predicted per row: :attr:`dpars`)."""
        predicted = {d.name for d in self.dpars}
        return tuple(a for a in self.family.spec.aux
                     if a not in self.response.dropped and a not in predicted)

    @property
    def dpar(self) -> str:
        """"": the response's formula (a :class:`DparPlan` says whose it is)."""
        return ""

    @property
    def family_inputs(self) -> tuple[str, ...]:
        """The reported parameters the family's distribution takes besides ``eta``: the
        family parameters, and an ordinal model's thresholds."""
        extra = (self.sites.threshold_values,) if self.thresholds is not None else ()
        return self.aux + extra

    @property
    def centred(self) -> bool:
        """Whether the predictors are centred (``x_means``): an intercept or thresholds
        absorb the shift."""
        return self.intercept or self.thresholds is not None

    @property
    def sites(self) -> PopulationSites:
        """The names of the population-level sites and parameters."""
        return POPULATION

    @property
    def slope_columns(self) -> tuple[str, ...]:
        return tuple(c for c in self.columns if c != "Intercept")

    @property
    def dense_mass(self) -> tuple[str, ...]:
        """The sampled sites NUTS adapts one dense mass-matrix block over (:func:`dense_mass`);
        () for a diagonal mass matrix."""
        return dense_mass(self)


def _vector_site(site: str, key: str, priors: list[Prior], params: dict) -> VectorSite:
    """The sampler site ``site``, its pieces' prior parameters under ``key`` (or its piece
    names) in ``params``."""
    by_dist: dict[str, list[int]] = {}
    for i, p in enumerate(priors):
        by_dist.setdefault(p.distribution, []).append(i)
    pieces = []
    for key_j, (dist_name, idx) in zip(piece_names(key, len(by_dist)), by_dist.items()):
        params[key_j] = np.array([[v for _, v in priors[i].params] for i in idx], dtype=float).T
        pieces.append((dist_name, tuple(idx), key_j))
    return VectorSite(site, len(priors), tuple(pieces))


def build_plan(bound, fam: Family, priors: PriorTable, parameterization) -> ModelPlan:
    """Collect every decision into a plan. ``parameterization`` comes from
    :func:`formulang.lower.reparam.choose_parameterization` (one entry per group term of the
    response's formula; the sub-formulas' group terms are non-centred)."""
    params: dict[str, np.ndarray] = {}
    thresholds = _thresholds(bound, fam, priors, params)
    spanning = joints.find(bound)
    columns, intercept, x_means, b, groups = _predictor(
        bound, priors, params, parameterization, centre=thresholds is not None)
    groups = _with_joints(groups, "", spanning, bound, priors, params)
    dpars = []
    for name, sub in bound.dpars:
        choices = [_noncentred(gd, name) for gd in sub.groups]
        pred = _predictor(sub, priors, params, choices, name)
        pred = pred[:-1] + (_with_joints(pred[-1], name, spanning, bound, priors, params),)
        dpars.append(DparPlan(name, fam.spec.dpar(name).link, *pred))
    c = bound.additions.counts()
    response = replace(response_plan(bound.formula.response, fam),
                       counts=(c["left"], c["right"], c["interval"]))
    predicted = {d.name for d in dpars}
    for aux in fam.spec.aux:
        if aux not in response.dropped and aux not in predicted:
            params[aux] = _params(priors.lookup(aux))
    if not columns and not groups and thresholds is None and \
            not any(a not in response.dropped for a in fam.spec.aux):
        # y ~ 0 with a family without parameters of its own: a fixed distribution
        raise FormulaError(f"{bound.spec.formula} has nothing to estimate: a {fam.name} model "
                           "with no intercept, no population-level and no group term has no "
                           "parameters; write 1 for an intercept")
    smooths = smooth_plans(bound, priors, params)
    return ModelPlan(fam, columns, intercept, x_means, b, groups, priors, params,
                     int(bound.n), response, thresholds, tuple(dpars), smooths)


def _thresholds(bound, fam: Family, priors: PriorTable, params: dict) -> VectorSite | None:
    """An ordinal family's thresholds: one prior per threshold (brms's ``Intercept[k]``), and
    where the chains start (the link of the cumulative proportions; no response: 0s)."""
    if not fam.spec.thresholds:
        return None
    k = ordinal.n_categories(bound)
    site = _vector_site(POPULATION.thresholds, POPULATION.thresholds,
                        [priors.lookup("Intercept", coef=c) for c in ordinal.threshold_coefs(k)],
                        params)
    params[POPULATION.threshold_start] = np.zeros(k - 1) if bound.y is None else \
        ordinal.start(bound.y, k, fam.link)
    return site


def _predictor(bound, priors: PriorTable, params: dict, parameterization, dpar: str = "",
               centre: bool = False):
    """``(columns, intercept, x_means, b, groups)`` of one formula (``dpar``: a family
    parameter's sub-formula), its priors' parameters added to ``params``. Predictors are
    centred when the formula has an intercept or ``centre`` (an ordinal model's thresholds
    take the intercept's place)."""
    pop = dpar_population(dpar)
    columns = tuple(bound.X_columns)
    intercept = "Intercept" in columns
    slopes = [j for j, c in enumerate(columns) if c != "Intercept"]
    if intercept:
        params[pop.intercept_key] = _params(priors.lookup("Intercept", dpar=dpar))
    if intercept or centre:
        x_means = tuple(float(np.mean(bound.X[:, j])) for j in slopes)
    else:
        x_means = tuple(0.0 for _ in slopes)
    b = _vector_site(pop.slopes, pop.slopes_key,
                     [priors.lookup("b", coef=columns[j], dpar=dpar) for j in slopes],
                     params) if slopes else None
    groups = []
    parents = _parents(bound) if not dpar else [(None, None)] * len(bound.groups)
    on_intercept = _centred_on_intercept(bound, parents, parameterization) \
        if intercept and not dpar else set()
    for gi, (label, gd, choice) in enumerate(zip(group_names(bound), bound.groups,
                                                 parameterization)):
        names = GroupSites(dpar_group(label, dpar), gd.blocks)
        sd = _vector_site(names.sd, names.sd, [priors.lookup("sd", label, c, dpar)
                                               for c in gd.columns], params)
        lkj_key = None
        if names.lkj:
            lkj_key = names.cor
            params[lkj_key] = _params(priors.lookup("cor", label, dpar=dpar))
        parent, parent_levels = parents[gi]
        groups.append(GroupPlan(names.name, gd.label, tuple(gd.columns), tuple(gd.levels),
                                tuple(tuple(b) for b in gd.blocks), tuple(choice.centered),
                                sd, lkj_key, choice.reason, parent, parent_levels,
                                gd.columns.index("Intercept") if gi in on_intercept else None,
                                dpar))
    return columns, intercept, x_means, b, tuple(groups)


def _with_joints(groups, dpar: str, spanning, bound, priors: PriorTable, params: dict):
    """Formula ``dpar``'s group terms with those spanning formulas (:mod:`~formulang.lower.
    joint`) in place: the whole term where ``dpar`` owns it, none where another formula
    does. A nested term is not centred on one of them (its effects have other columns)."""
    owned = {(j.owner, j.members[0][1]): j for j in spanning}
    others = {m for j in spanning for m in j.members[1:]}
    out, index = [], {}
    for gi, g in enumerate(groups):
        if (dpar, gi) in others:
            continue
        index[gi] = len(out)
        j = owned.get((dpar, gi))
        out.append(g if j is None else _joint_plan(j, bound, priors, params))
    spanning_at = {index[gi] for (d, gi) in owned if d == dpar}
    return tuple(replace(g, parent=None, parent_levels=None)
                 if g.parent is not None and (g.parent not in index
                                              or index[g.parent] in spanning_at)
                 else replace(g, parent=index[g.parent]) if g.parent is not None else g
                 for g in out)


def _joint_plan(j, bound, priors: PriorTable, params: dict) -> GroupPlan:
    """The plan of a term spanning formulas: one SD per column (each with its formula's
    prior), one LKJ per correlated block (the owner's ``cor`` prior), non-centred."""
    columns, dpars, raw, blocks = joints.layout(j, bound)
    names = GroupSites(dpar_group(j.label, j.owner), blocks)
    sd = _vector_site(names.sd, names.sd, [priors.lookup("sd", j.label, c, d)
                                           for c, d in zip(raw, dpars)], params)
    lkj_key = None
    if names.lkj:
        lkj_key = names.cor
        params[lkj_key] = _params(priors.lookup("cor", j.label, dpar=j.owner))
    levels = joints.member_data(j, bound)[0].levels
    formulas = ", ".join(d or "the response" for d, _ in j.members)
    # Non-centred: the pilot fits the response's formula only, so it cannot say how well
    # the data identify the levels' effects on the other parameters.
    reason = f"non-centred: its effects span formulas ({formulas}), which the pilot does not fit"
    return GroupPlan(names.name, j.label, columns, tuple(levels), blocks,
                     (False,) * len(levels), sd, lkj_key, reason, dpar=j.owner,
                     column_dpars=dpars)


@dataclass(frozen=True)
class _Choice:
    centered: tuple[bool, ...]
    reason: str


def _noncentred(gd, dpar: str) -> _Choice:
    """A sub-formula's group term: non-centred (the pilot fits the response's formula only,
    so nothing says its levels are well identified)."""
    return _Choice((False,) * gd.n_levels,
                   f"non-centred: the pilot fit does not see {dpar}'s formula")


def check_dpars(formula, fam: Family, text: str | None = None) -> None:
    """Refuse a sub-formula for a parameter the family does not have (or that the response's
    additions fix), with the caret under its name in ``text`` (the formula as written)."""
    from ..parse.dpars import dpar_span

    if not formula.dpars or fam.spec.per_category:  # categories: named by the data, checked
        return                                       # once bound (lower/categorical_model.py)
    text = str(formula) if text is None else text
    dropped = response_plan(formula.response, fam).dropped
    own = [a for a in fam.spec.aux if a not in dropped] + list(fam.spec.fixed)
    for name, _ in formula.dpars:
        if name in own:
            continue
        if name in fam.spec.aux:
            why = (f"{name} is not estimated in this model (the response's additions give "
                   f"it), so it takes no formula")
        elif own:
            why = (f"{name} is not a parameter of the {fam.name} family; its parameters: "
                   f"{', '.join(own)}")
        else:
            why = (f"{name} is not a parameter of the {fam.name} family, which has no "
                   f"parameters besides its mean")
        raise FormulaError(why, text, *(dpar_span(text, name) or (None, None)))


def _parents(bound) -> list[tuple[int | None, tuple[int, ...] | None]]:
    """For each group term, the finest earlier term it is nested in with the same effects.

    Centring a nested level on zero leaves the sampler a ridge to walk (the data identify the
    parent's effect plus the child's, not each); centring it on its parent's effect removes it
    (hierarchical centring; on Pastes (1 | batch/cask) it took divergences from hundreds to
    none).
    """
    out: list[tuple[int | None, tuple[int, ...] | None]] = []
    for gi, found in enumerate(enclosing(bound)):
        same = [(hi, parent) for hi, parent in found
                if hi < gi and bound.groups[hi].columns == bound.groups[gi].columns]
        if not same:
            out.append((None, None))
            continue
        hi, parent = max(same, key=lambda item: bound.groups[item[0]].n_levels)
        out.append((hi, tuple(int(v) for v in parent)))
    return out


# tau^2 / (tau^2 + sigma^2 / n_j), the level weight of the pilot. For a Gaussian one-way model
# the intercept's autocorrelation is about w with levels centred on zero and 1 - w with levels
# centred on the intercept, so the latter wins from w = 0.5 on; 0.8 keeps a margin for the
# pilot's approximate weights in other families (cbpp, binomial, min weight 0.48, gained a
# divergence at a weakly identified level), and takes the heteroscedastic brms fixture
# (min 0.86, sigma ~ x) from a b_Intercept bulk ESS of 462 to 3,200-4,100 of 4,000.
STRONG_WEIGHT = 0.8
WEAK_TAU_STRONG_WEIGHT = 0.9


def _centred_on_intercept(bound, parents, parameterization) -> set[int]:
    """The terms whose centred levels centre their intercept effect on the model's intercept:
    the first top-level term with an intercept effect, when every level's data identify it
    (pilot weight >= STRONG_WEIGHT: the strong-data ridge; on cbpp, whose levels are centred at
    lower weights, it added a divergence at a weakly identified level; WEAK_TAU_STRONG_WEIGHT
    where the levels barely identify the SD, reparam's ``sum w^2 < WELL_IDENTIFIED``), and the
    terms nested in it. One family of terms only, so the intercept stays identified by one set of levels."""
    root = next((gi for gi, gd in enumerate(bound.groups)
                 if parents[gi][0] is None and "Intercept" in gd.columns), None)
    if root is not None:
        w = np.asarray(parameterization[root].weights, dtype=float)
        # every level data-dominated; where the levels barely identify tau (reparam's
        # J_eff = sum w^2 < WELL_IDENTIFIED, e.g. (1 | h/g) with 3 h levels) the stricter
        # threshold of earlier sessions stays, as tau's funnel reaches those levels
        weak = float(np.sum(w ** 2)) < WELL_IDENTIFIED
        if w.size == 0 or w.min() < (WEAK_TAU_STRONG_WEIGHT if weak else STRONG_WEIGHT):
            root = None
    chosen = set() if root is None else {root}
    for gi in range(len(bound.groups)):  # parents come before their children
        if parents[gi][0] in chosen:
            chosen.add(gi)
    return chosen


# Entries of the dense block at most. Warm-up estimates it from each window's draws, shrunk
# toward its diagonal by d / (n + d) (formulang.infer.dense_adaptation), and each leapfrog step
# multiplies by the d x d factor. bench/bench_dense_block.py (a negative binomial, 1,500 rows):
# 200 x 25 crossed levels (a block of 227), min bulk ESS 3,162 in 20.7 s against 1,199 in 17.5 s
# with a diagonal matrix; 400 x 25 (418): 1,500 in 29.0 s against 634 in 18.7 s, the block's
# cost per step growing as d^2. Penicillin's block has 31.
DENSE_MASS_MAX = 256


def dense_mass(plan: ModelPlan, excluded=()) -> tuple[str, ...]:
    """The sites of one dense mass-matrix block: the population coefficients (intercept and
    ``b_c``) and every effect of the response's group terms, when two or more top-level terms
    have an intercept effect (crossed factors: plates x samples), and the block has at most
    :data:`DENSE_MASS_MAX` entries; where the effects do not fit, the population coefficients
    alone (an intercept and two or more columns); () otherwise (a diagonal matrix), and
    where every effect is integrated out (the block then only added estimation noise:
    subjects x items' min bulk ESS fell 2,392 -> 1,588). ``excluded``: names of terms whose
    effects are not sampled (integrated out, :mod:`formulang.lower.collapsed_crossed`).

    Crossed intercepts leave a ridge no centring removes: adding c to the intercept and to
    the levels of one factor and subtracting it from the other's leaves the likelihood as it
    is; only the second factor's prior on its levels' mean holds it (on Penicillin its sd is
    about 8x the next widest direction's). A diagonal mass matrix cannot follow a direction
    across 31 coordinates (intercept R-hat 1.03-1.05, bulk ESS 120-200 of 4,000); a dense
    block learns it in warm-up. The posterior is the same either way: only the sampler's
    metric changes. Without the effects, the block still follows the population
    coefficients' correlations (an intercept moved against both factors' means, interactions'
    columns): VerbAgg's 15 (316 x 24 crossed, Bernoulli) took 67 leapfrog steps a draw with a
    diagonal matrix and 31 with the block, min bulk ESS 624-670 against 1,036-1,122, 3.0x the
    ESS per second (``bench/bench_crossed.py --design verbagg``).

    >>> import formulang as fl
    >>> m = fl.Model("diameter ~ 1 + (1 | plate) + (1 | sample)", fl.datasets.load("Penicillin"))
    >>> dense_mass(m.plan)
    ('Intercept_c', 'rc_plate', 'rc_sample')
    """
    if not plan.intercept:
        return ()
    terms = [g for g in plan.groups if not g.column_dpars and not g.dpar]
    if sum(g.parent is None and "Intercept" in g.columns for g in terms) < 2:
        return ()
    population = [plan.sites.intercept] + ([plan.b.name] if plan.b is not None else [])
    sites, size = list(population), 1 + (plan.b.size if plan.b is not None else 0)
    if size > DENSE_MASS_MAX:
        return ()
    sampled = [g for g in terms if g.name not in excluded]
    if not sampled:  # every effect integrated out: no ridge left to follow
        return ()
    for g in sampled:
        n_centred = sum(g.centered)
        for site, n in ((g.sites.rc, n_centred), (g.sites.z, len(g.centered) - n_centred)):
            if n:
                sites.append(site)
                size += n * g.k
    if size > DENSE_MASS_MAX:  # the effects do not fit: the population coefficients alone,
        # where there are several columns to correlate (an intercept and one centred column
        # gain nothing: InstEval's took 4.5 s more)
        sites = population if plan.b is not None and plan.b.size > 1 else []
    return tuple(sites) if len(sites) > 1 else ()  # the intercept alone needs no block


def _params(prior: Prior) -> np.ndarray:
    return np.array([[v] for _, v in prior.params], dtype=float)


def model_data(plan: ModelPlan, bound) -> dict:
    """The arrays the NumPyro model takes, as one pytree (data are arguments, not constants,
    so one compiled sampler serves every dataset of the same shapes)."""
    X = np.asarray(bound.X, dtype=float)
    slopes = [j for j, c in enumerate(plan.columns) if c != "Intercept"]
    Xs = X[:, slopes] - np.asarray(plan.x_means, dtype=float)
    data = {
        "X": Xs,
        "y": None if bound.y is None else np.asarray(bound.y, dtype=float),
        "offset": np.asarray(bound.offset, dtype=float),
        **group_arrays(plan, "", bound),
        "priors": {k: np.asarray(v) for k, v in plan.prior_params.items()},
    }
    data.update(smooth_arrays(bound))  # the smooth terms' penalised bases
    if plan.family.spec.probabilities is not None and data["y"] is not None:  # categories
        # index probabilities
        data["y"] = data["y"].astype(np.int32)
    if bound.trials is not None:  # integers: NumPyro's binomial sampler indexes with them
        data["trials"] = np.asarray(np.rint(bound.trials), dtype=np.int32)
    if bound.weights is not None:
        data["weights"] = np.asarray(bound.weights, dtype=float)
    data.update(addition_data(plan, bound))
    if plan.dpars:
        subs = dict(bound.dpars)
        data["dpars"] = {d.name: predictor_data(d, subs[d.name], plan) for d in plan.dpars}
    return data


def group_arrays(plan: ModelPlan, dpar: str, bound) -> dict:
    """Formula ``dpar``'s group ``codes`` and ``values`` (``bound`` its rows), one of each
    per group term in its linear predictor, in :func:`~formulang.lower.sites.uses` order
    (its own terms' order, unless a term spans formulas)."""
    gds = [gd for _, _, gd in joints.terms_of(plan, dpar, bound)]
    return {"codes": tuple(np.asarray(g.codes, dtype=np.int32) for g in gds),
            "values": tuple(np.asarray(g.values, dtype=float) for g in gds)}


def predictor_data(pred, bound, plan: ModelPlan) -> dict:
    """A sub-formula's arrays: centred slopes ``X``, ``offset``, group ``codes``/``values``."""
    X = np.asarray(bound.X, dtype=float)
    slopes = [j for j, c in enumerate(pred.columns) if c != "Intercept"]
    return {"X": X[:, slopes] - np.asarray(pred.x_means, dtype=float),
            "offset": np.asarray(bound.offset, dtype=float),
            **group_arrays(plan, pred.dpar, bound), **smooth_arrays(bound)}


def addition_data(plan: ModelPlan, bound) -> dict:
    """The arrays of the response additions (:class:`~formulang.lower.response.ResponsePlan`):
    ``cens`` codes, ``y2`` (outside interval rows a stand-in above ``y``, so the unused branch
    of the censored density stays finite), truncation bounds ``lb``/``ub``, known ``se``,
    exposures ``rate``. Arrays new data lack are left out."""
    a = bound.additions
    out = {}
    for key in plan.response.data_keys():
        value = getattr(a, key)
        if value is None:
            continue
        value = np.asarray(value, dtype=float)
        if key == "cens":
            value = value.astype(np.int32)
        if key == "y2":
            y = np.zeros_like(value) if bound.y is None else np.asarray(bound.y, dtype=float)
            value = np.where(np.isfinite(value), value, y + np.maximum(1.0, np.abs(y)))
        out[key] = value
    return out


def subplan(plan: ModelPlan, terms) -> ModelPlan:
    """``plan`` with only the group terms ``terms`` (indices; parents re-indexed)."""
    where = {old: new for new, old in enumerate(terms)}
    groups = tuple(replace(plan.groups[i], parent=None if plan.groups[i].parent is None
                           else where[plan.groups[i].parent]) for i in terms)
    return replace(plan, groups=groups)
