"""Sampler sites and reported parameters: the one module that names them, and the map between.

The NumPyro model samples *sites*; users see *parameters*. Every other module asks this one
for a name, and for the translation from sites to parameters (:func:`to_params`; the other way:
:func:`formulang.lower.site_values.to_sites`).

Sampler sites (NUTS moves on these; a saved fit stores them as drawn):

- ``Intercept_c``, the intercept on centred predictors, and ``b_c``, the slopes
  (:class:`PopulationSites`);
- per group term ``g`` (:class:`GroupSites`): ``sd_<g>``, ``L_<g>`` (the LKJ Cholesky factor of
  its one correlated block; ``L_<g>_<i>`` when there are several), ``z_<g>`` (standardised
  effects of non-centred levels), ``rc_<g>`` (effects of centred levels, :func:`centred_loc`);
- the family parameters under their own names (``sigma``...).

A vector whose entries have different prior distributions is sampled in pieces,
``<site>_0``, ``<site>_1``... (:func:`piece_names`).

Reported parameters (ArviZ variables, and ``model.simulate``'s names): ``b`` (the real
intercept first; dim ``coef``), ``sd_<g>`` (``<g>__effect``), ``cor_<g>`` (``<g>__pair``),
``r_<g>`` (``<g>__level`` x ``<g>__effect``), family parameters. Flat names, one per scalar,
are brms's: ``b_<col>``, ``sd_<g>__<col>``, ``cor_<g>__<a>__<b>``, ``r_<g>[<level>,<col>]``.

A group term is named by its grouping factor (``Subject``, ``batch:cask``): terms on one factor
are one group term (:mod:`formulang.data.bind`), so brms's names hold for every spelling.

>>> s = GroupSites("Subject", ((0, 1),))
>>> s.sd, s.z, s.rc, s.r, s.cor, s.lkj
('sd_Subject', 'z_Subject', 'rc_Subject', 'r_Subject', 'cor_Subject', (('L_Subject', (0, 1)),))
>>> POPULATION.intercept, POPULATION.slopes, piece_names("b_c", 2)
('Intercept_c', 'b_c', ('b_c_0', 'b_c_1'))
>>> sd_name("Subject", "Days"), cor_name("Subject", "Intercept", "Days")
('sd_Subject__Days', 'cor_Subject__Intercept__Days')
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .brms_names import brms_column
from .sites_smooth import smooth_b_names, smooth_flat, smooth_parameters, smooth_reported


SEP = "__"  # brms's separator inside flat names and ArviZ dims

# ---- names ---------------------------------------------------------------------------------------


def piece_names(stem: str, n: int) -> tuple[str, ...]:
    """The sites a vector is sampled as: ``stem`` itself, or ``stem_0``... for ``n`` pieces."""
    return (stem,) if n == 1 else tuple(f"{stem}_{i}" for i in range(n))


def standardized_site(site: str) -> str:
    """The site the approximations sample for ``site`` in units of its scale."""
    return f"{site}_std"


@dataclass(frozen=True)
class PopulationSites:
    """Names of the population-level quantities of one formula: the response's
    (:data:`POPULATION`) or a family parameter's sub-formula (:func:`dpar_population`).
    ``intercept_key``/``slopes_key``: the keys of their priors' parameters."""

    intercept: str = "Intercept_c"  # sampled: the intercept on centred predictors
    slopes: str = "b_c"  # sampled: the slopes
    coefficients: str = "b"  # reported: every coefficient, the real intercept first
    dim: str = "coef"
    # ordinal models (lower/ordinal.py): thresholds sampled on centred predictors, reported
    # for the predictors as given (brms's b_Intercept[k]), and where their chains start
    thresholds: str = "thres_c"
    threshold_values: str = "b_Intercept"
    threshold_dim: str = "thres"
    threshold_start: str = "thres_c_start"
    intercept_key: str = "Intercept"
    slopes_key: str = "b"


POPULATION = PopulationSites()


def dpar_population(dpar: str) -> PopulationSites:
    """The population-level names of ``dpar``'s sub-formula (brms's ``b_sigma_x``): sampled
    ``Intercept_sigma_c`` and ``b_sigma_c``, reported ``b_sigma`` (dim ``sigma__coef``)."""
    if not dpar:
        return POPULATION
    return PopulationSites(f"Intercept_{dpar}_c", f"b_{dpar}_c", f"b_{dpar}",
                           f"{dpar}{SEP}coef", intercept_key=f"Intercept_{dpar}",
                           slopes_key=f"b_{dpar}")


def category_dpars(levels) -> tuple[str, ...]:
    """brms's names of a categorical response's linear predictors, one per category but the
    first (the reference): ``mu<label>``, the label's letters and digits only (``mu2`` for
    category ``2``, ``mub`` for ``b``); by position, ``mu2``...``muK``, when that leaves a
    label empty or two alike.

    >>> category_dpars(("1", "2", "3")), category_dpars(("lo", "mid", "high"))
    (('mu2', 'mu3'), ('mumid', 'muhigh'))
    >>> category_dpars(("a", "-", "+"))  # nothing left of the labels: by position
    ('mu2', 'mu3')
    """
    clean = ["".join(ch for ch in str(label) if ch.isascii() and ch.isalnum())
             for label in levels[1:]]
    if all(clean) and len(set(clean)) == len(clean):
        return tuple(f"mu{c}" for c in clean)
    return tuple(f"mu{k}" for k in range(2, len(levels) + 1))


def dpar_group(label: str, dpar: str) -> str:
    """The stem of a group term of ``dpar``'s sub-formula on factor ``label``: ``g__sigma``
    (its sites ``sd_g__sigma``, ``z_g__sigma``..., its effects ``r_g__sigma`` as brms's)."""
    return f"{label}{SEP}{dpar}" if dpar else label


@dataclass(frozen=True)
class GroupSites:
    """Names of one group term's sites and parameters. ``name``: the term's stem (its grouping
    factor); ``blocks``: its covariance blocks (column indices), which name the LKJ sites."""

    name: str
    blocks: tuple[tuple[int, ...], ...] = ()

    @property
    def sd(self) -> str:
        """Sampled and reported alike: the SDs of the term's effects."""
        return f"sd_{self.name}"

    @property
    def z(self) -> str:
        return f"z_{self.name}"

    @property
    def rc(self) -> str:
        return f"rc_{self.name}"

    @property
    def r(self) -> str:
        return f"r_{self.name}"

    @property
    def cor(self) -> str:
        """The reported correlations (also the key of the LKJ prior's parameter)."""
        return f"cor_{self.name}"

    @property
    def L(self) -> str:
        return f"L_{self.name}"

    @property
    def lkj(self) -> tuple[tuple[str, tuple[int, ...]], ...]:
        """(site, column indices) of each LKJ Cholesky factor: one per covariance block of 2+
        effects, ``L_<g>`` when there is one such block, else ``L_<g>_<i>``."""
        multi = [tuple(block) for block in self.blocks if len(block) > 1]
        return tuple(zip(piece_names(self.L, len(multi)), multi)) if multi else ()

    @property
    def effect_dim(self) -> str:
        return f"{self.name}{SEP}effect"

    @property
    def level_dim(self) -> str:
        return f"{self.name}{SEP}level"

    @property
    def pair_dim(self) -> str:
        return f"{self.name}{SEP}pair"


def group_names(bound) -> list[str]:
    """The stem of each group term of bound data: its grouping factor (one term per factor)."""
    return [g.label for g in bound.groups]


# ---- reported parameters and their flat names -----------------------------------------------------

def pair_name(a: str, b: str) -> str:
    """A correlation's entry (``Intercept__Days``): the coordinate of ``cor_<g>``."""
    return f"{a}{SEP}{b}"


def pair_names(g) -> tuple[str, ...]:
    return tuple(pair_name(g.columns[a], g.columns[b]) for a, b in g.correlated_pairs)


def b_name(col: str, dpar: str = "") -> str:
    """``b_x``; of a sub-formula ``b_sigma_x`` (brms's; a basis column as brms spells it,
    ``b_polyx21``: :mod:`~formulang.lower.brms_names`)."""
    return f"{dpar_population(dpar).coefficients}_{brms_column(col)}"


def threshold_name(coef: str) -> str:
    """An ordinal threshold's name in summaries, brms's: ``Intercept[1]`` (flat name
    ``b_Intercept[1]``)."""
    return f"Intercept[{coef}]"


def dpar_column(col: str, dpar: str = "") -> str:
    """A column as brms names it across formulas: ``sigma_x`` of ``sigma``'s (``x`` of the
    response's)."""
    return f"{dpar}_{col}" if dpar else col


def sd_name(group: str, col: str, dpar: str = "") -> str:
    """``sd_g__x``; of a sub-formula ``sd_g__sigma_x`` (brms's)."""
    return f"{GroupSites(group).sd}{SEP}{dpar_column(brms_column(col), dpar)}"


def cor_name(group: str, a: str, b: str, dpar: str = "") -> str:
    """``cor_g__a__b``; of a sub-formula ``cor_g__sigma_a__sigma_b`` (brms's)."""
    a, b = (dpar_column(brms_column(c), dpar) for c in (a, b))
    return f"{GroupSites(group).cor}{SEP}{pair_name(a, b)}"


def r_name(group: str, level: str, col: str, dpar: str = "") -> str:
    """``r_g[level,x]``; of a sub-formula ``r_g__sigma[level,x]`` (brms's)."""
    return f"{GroupSites(dpar_group(group, dpar)).r}[{level},{brms_column(col)}]"


@dataclass(frozen=True)
class Parameter:
    """A reported parameter: ``kind`` is ``"b"``, ``"sd"``, ``"cor"``, ``"r"`` or
    ``"family"``; ``group`` the group term's stem (``None`` outside group terms);
    ``entries`` the names along its last axis (the levels for ``r``)."""

    name: str
    kind: str
    group: str | None
    entries: tuple[str, ...]


def predictors(plan) -> tuple:
    """The plan's formulas: itself (the response's), then each family parameter's
    (:class:`~formulang.lower.plan.DparPlan`); each has ``columns``, ``intercept``,
    ``x_means``, ``b``, ``groups``, ``sites`` and ``dpar``."""
    return (plan, *getattr(plan, "dpars", ()))


def _factor(g) -> str:
    """The grouping factor a group term's flat names use (its label; the stem of the
    response's terms is their label)."""
    return g.label if getattr(g, "dpar", "") or getattr(g, "column_dpars", ()) else g.name


def _flat_dpar(g) -> str:
    """The formula a term's flat SD and correlation names prefix its columns with: its own;
    none for a term spanning formulas, whose columns are prefixed already."""
    return "" if getattr(g, "column_dpars", ()) else g.dpar


def column_dpars(g) -> tuple[str, ...]:
    """The formula of each of ``g``'s columns (a term spanning formulas: :mod:`~formulang.
    lower.joint`)."""
    return tuple(g.column_dpars) or (g.dpar,) * g.k


def effect_names(g) -> tuple[str, ...]:
    """``g``'s columns as their formula names them (``Intercept`` for ``sigma_Intercept``)."""
    if not getattr(g, "column_dpars", ()):
        return tuple(g.columns)
    return tuple(c[len(d) + 1:] if d else c for c, d in zip(g.columns, g.column_dpars))


def uses(plan, dpar: str) -> tuple:
    """``(group term, its column indices)`` of each group term in formula ``dpar``'s linear
    predictor: its own terms, and its columns of the terms spanning formulas that another
    formula owns (:mod:`~formulang.lower.joint`). The data arrays of a formula follow this
    order (:func:`~formulang.lower.plan.model_data`)."""
    out = []
    for g in all_groups(plan):
        cols = tuple(j for j, d in enumerate(column_dpars(g)) if d == dpar)
        if cols:
            out.append((g, cols))
    return tuple(out)


def parameters(plan) -> dict[str, Parameter]:
    """Every reported parameter of ``plan``, by name, in the order users see them."""
    out: dict[str, Parameter] = {}

    def add(name, kind, group, entries):
        out[name] = Parameter(name, kind, group, tuple(entries))

    if plan.thresholds is not None:
        add(POPULATION.threshold_values, "thresholds", None, _threshold_coefs(plan))
    for pred in predictors(plan):
        if pred.columns:
            add(pred.sites.coefficients, "b", None, pred.columns)
    for pred in predictors(plan):
        for g in pred.groups:
            s = g.sites
            add(s.sd, "sd", g.name, g.columns)
            if g.correlated_pairs:
                add(s.cor, "cor", g.name, pair_names(g))
            add(s.r, "r", g.name, g.levels)
    for name, label, entries in smooth_parameters(plan):  # s(), t2(), gp()
        add(name, "smooth", label, entries)
    for aux in plan.aux:
        add(aux, "family", None, ())
    return out


@dataclass(frozen=True)
class Flat:
    """One scalar under its flat (brms) name: ``variable[..., index]`` (``index`` None: the
    variable is a scalar). ``entries``: the effect (sd), pair (cor), column (b) or level and
    column (r) it is."""

    name: str
    variable: str
    index: int | None
    kind: str
    group: str | None
    entries: tuple[str, ...]
    dpar: str = ""  # the family parameter whose sub-formula it is in
    label: str | None = None  # a term spanning formulas: its grouping factor

    @property
    def short(self) -> str:
        """The name within its block of a summary: ``sd(Days)``, ``cor(Intercept,Days)``; of
        a sub-formula as brms: ``sd(sigma_Intercept)``, ``sigma_x``."""
        entries = [dpar_column(e, self.dpar) for e in self.entries]
        if self.kind in ("sd", "cor"):
            return f"{self.kind}({','.join(entries)})"
        if self.kind == "b":
            return entries[0]
        return self.name

    @property
    def section(self) -> str:
        """The summary block it is in: ``population``, ``family``, or ``~<factor>`` (a
        sub-formula's group terms with the response's on the same factor, as brms)."""
        if self.kind in ("b", "family", "smooth"):
            return {"b": "population", "family": "family", "smooth": "smooth"}[self.kind]
        if self.label is not None:
            return f"~{self.label}"
        factor = self.group[:-len(dpar_group("", self.dpar))] if self.dpar else self.group
        return f"~{factor}"


def flat_parameters(plan) -> list[Flat]:
    """The scalars of the summary, in its order: each term's SDs and correlations, the
    coefficients, the family parameters (not the group effects: :func:`flat_effects`); the
    sub-formulas' after the response's, as brms orders them."""
    out = []
    for pred in predictors(plan):
        for g in pred.groups:
            s, f, d = g.sites, _factor(g), _flat_dpar(g)
            label = g.label if g.column_dpars else None
            out += [Flat(sd_name(f, col, d), s.sd, j, "sd", g.name, (col,), d, label)
                    for j, col in enumerate(g.columns)]
            out += [Flat(cor_name(f, g.columns[a], g.columns[b], d), s.cor, j, "cor", g.name,
                         (g.columns[a], g.columns[b]), d, label)
                    for j, (a, b) in enumerate(g.correlated_pairs)]
    if plan.thresholds is not None:  # brms's b_Intercept[k], shown as Intercept[k]
        out += [Flat(b_name(threshold_name(c)), POPULATION.threshold_values, j, "b", None,
                     (threshold_name(c),)) for j, c in enumerate(_threshold_coefs(plan))]
    for pred in predictors(plan):  # brms's bs_<col> for a smooth's unpenalised columns
        smooth_b = smooth_b_names(plan, pred.dpar)
        out += [Flat(smooth_b.get(col, b_name(col, pred.dpar)),
                     pred.sites.coefficients, j, "b", None, (col,), pred.dpar)
                for j, col in enumerate(pred.columns)]
    out += [Flat(name, var, j, "smooth", None, ()) for name, var, j in smooth_flat(plan)]
    out += [Flat(aux, aux, None, "family", None, ()) for aux in plan.aux]
    return out


def _threshold_coefs(plan) -> tuple[str, ...]:
    return tuple(str(j) for j in range(1, plan.thresholds.size + 1))


def all_groups(plan) -> tuple:
    """Every group term of the plan: the response's formula's, then each sub-formula's."""
    return tuple(g for pred in predictors(plan) for g in pred.groups)


def group_sd_name(g, col: str) -> str:
    """The flat name of ``g``'s SD of ``col`` (``sd_g__sigma_x`` in a sub-formula)."""
    return sd_name(_factor(g), col, _flat_dpar(g))


def flat_effects(g) -> list[str]:
    """The flat names of ``r_<g>``'s entries, levels x effects in row-major order (a term
    spanning formulas: each column under its formula's name, ``r_g__sigma[a,Intercept]``)."""
    parts = list(zip(effect_names(g), column_dpars(g)))
    return [r_name(_factor(g), level, col, d) for level in g.levels for col, d in parts]


def parse_flat(name: str, plan) -> Flat | None:
    """Read a flat name of ``plan`` back apart: which variable, entry, kind and group term it
    is (None: not one of its flat names). Matched against the plan's own names, so labels
    holding ``_``, ``,`` or ``:`` read back exactly; a group effect's ``index`` is left None
    (:func:`flat_effects` orders them)."""
    stems = [(GroupSites(dpar_group(_factor(g), d)).r, g, j, col)
             for g in all_groups(plan)
             for j, (col, d) in enumerate(zip(effect_names(g), column_dpars(g)))]
    for r, g, j, col in sorted(stems, key=lambda item: len(item[0]), reverse=True):
        if name.startswith(r + "[") and name.endswith("]"):
            inner = name[len(r) + 1:-1]
            flat = brms_column(col)
            if inner.endswith("," + flat):
                return Flat(name, g.sites.r, None, "r", g.name,
                            (inner[:-len(flat) - 1], g.columns[j]), g.dpar)
    return next((p for p in flat_parameters(plan) if p.name == name), None)


# ---- sites -> parameters ---------------------------------------------------------------------------

def vector(samples: dict, site) -> np.ndarray:
    """A vector site's draws (:class:`~formulang.lower.plan.VectorSite`), its pieces put back
    in place."""
    if site.name in samples:
        return np.asarray(samples[site.name])
    names = site.piece_names
    first = np.asarray(samples[names[0]])
    out = np.zeros(first.shape[:-1] + (site.size,), dtype=first.dtype)
    for name, (_, idx, _) in zip(names, site.pieces):
        out[..., list(idx)] = samples[name]
    return out


def split(site, values: np.ndarray) -> dict:
    """The inverse of :func:`vector`: a vector's entries (last axis) as the sites of its
    pieces."""
    if len(site.pieces) == 1:
        return {site.name: values}
    return {name: values[..., list(idx)] for name, (_, idx, _) in zip(site.piece_names,
                                                                       site.pieces)}


def _has_vector(samples: dict, site) -> bool:
    return site.name in samples or all(name in samples for name in site.piece_names)


def correlation_cholesky(g, samples: dict, shape: tuple) -> np.ndarray:
    """L (draws x k x k): block-diagonal, one LKJ Cholesky factor per correlated block."""
    lkj = g.sites.lkj
    if len(lkj) == 1 and len(lkj[0][1]) == g.k:
        return np.asarray(samples[lkj[0][0]])
    L = np.zeros(shape + (g.k, g.k))
    L[...] = np.eye(g.k)
    for name, block in lkj:
        idx = np.asarray(block)
        L[..., idx[:, None], idx[None, :]] = samples[name]
    return L


def centred_loc(g, parent_r, intercept):
    """Where the centred levels' effects are centred: ``rc_<g> = r + loc``, loc (draws...,
    centred levels or 1, k) or None for 0. The enclosing level's effect ``parent_r`` (draws...,
    parent levels, k) for a nested term, plus the intercept (``Intercept_c``, draws...) on the
    intercept effect where :attr:`~formulang.lower.plan.GroupPlan.intercept_loc` says so
    (hierarchical centring, Gelfand, Sahu & Carlin 1995; the centred parameterisation of
    Papaspiliopoulos, Roberts & Skold 2007 centres on the mean). NumPy and JAX arrays alike, so
    the model, its reported parameters and the simulator cannot disagree."""
    loc = None
    if g.parent is not None:
        centered = np.flatnonzero(np.asarray(g.centered, dtype=bool))
        loc = parent_r[..., np.asarray(g.parent_levels)[centered], :]
    if g.intercept_loc is not None:
        unit = np.zeros(g.k, dtype=intercept.dtype)
        unit[g.intercept_loc] = 1
        shift = intercept[..., None, None] * unit
        loc = shift if loc is None else loc + shift
    return loc


def group_effects(g, samples: dict, parent_r: np.ndarray | None) -> np.ndarray:
    """r (draws x levels x effects) from z (non-centred levels) and rc (centred levels,
    r = rc - :func:`centred_loc`)."""
    s = g.sites
    sd = vector(samples, g.sd)
    shape = sd.shape[:-1]
    L = correlation_cholesky(g, samples, shape)
    centered = np.asarray(g.centered, dtype=bool)
    r = np.zeros(shape + (len(centered), g.k), dtype=sd.dtype)
    if (~centered).any():
        scale_tril = sd[..., :, None] * L
        # batched matmul: einsum's generic loop took ~10 s at 10,000 levels x 4000 draws
        r[..., ~centered, :] = np.matmul(samples[s.z], np.swapaxes(scale_tril, -1, -2))
    if centered.any():
        rc = np.asarray(samples[s.rc])
        loc = centred_loc(g, parent_r, None if g.intercept_loc is None
                          else np.asarray(samples[POPULATION.intercept]))
        r[..., centered, :] = rc if loc is None else rc - loc
    return r


def _reported(plan, samples: dict) -> dict:
    """``b``, ``r_<g>`` and ``cor_<g>`` (a sub-formula's ``b_<dpar>``... too) from the sites
    in ``samples``; each one whose sites are absent is left out (or kept as given, for
    ``r_<g>`` a nested term needs)."""
    out = {k: v for pred in predictors(plan) for k, v in _reported_one(pred, samples).items()}
    return {**out, **smooth_reported(plan, samples)}


def _reported_one(plan, samples: dict) -> dict:
    out = {}
    pop = plan.sites
    if ((not plan.intercept or pop.intercept in samples)
            and (plan.b is None or _has_vector(samples, plan.b))):
        coefficients = []
        slopes = vector(samples, plan.b) if plan.b is not None else None
        if plan.intercept:
            intercept = np.asarray(samples[pop.intercept])
            if slopes is not None:  # the sampler's intercept is on centred predictors
                intercept = intercept - slopes @ np.asarray(plan.x_means, dtype=slopes.dtype)
            coefficients.append(intercept[..., None])
        if slopes is not None:
            coefficients.append(slopes)
        if coefficients:
            out[pop.coefficients] = np.concatenate(coefficients, axis=-1)
    if plan.thresholds is not None and pop.thresholds in samples and (
            plan.b is None or _has_vector(samples, plan.b)):
        theta = np.asarray(samples[pop.thresholds])  # on centred predictors, as Intercept_c
        if plan.b is not None:
            theta = theta + (vector(samples, plan.b) @ np.asarray(plan.x_means))[..., None]
        out[pop.threshold_values] = theta
    effects: list[np.ndarray | None] = []
    for g in plan.groups:
        s = g.sites
        lkj = [name for name, _ in s.lkj]
        if g.correlated_pairs and all(name in samples for name in lkj):
            L = correlation_cholesky(g, samples, np.shape(samples[lkj[0]])[:-2])
            corr = L @ np.swapaxes(L, -1, -2)
            a, b = (np.asarray(v) for v in zip(*g.correlated_pairs))
            out[s.cor] = corr[..., a, b]
        parent_r = None if g.parent is None else effects[g.parent]
        if not _has_effect_sites(g, samples) or (g.parent is not None and parent_r is None):
            effects.append(samples.get(s.r))
            continue
        r = group_effects(g, samples, parent_r)
        effects.append(r)
        out[s.r] = r
    return out


def _has_effect_sites(g, samples: dict) -> bool:
    s = g.sites
    centered = np.asarray(g.centered, dtype=bool)
    names = [name for name, _ in s.lkj]
    names += [s.z] * bool((~centered).any()) + [s.rc] * bool(centered.any())
    names += [POPULATION.intercept] * (bool(centered.any()) and g.intercept_loc is not None)
    return all(name in samples for name in names) and _has_vector(samples, g.sd)


def derive(plan, samples: dict) -> dict:
    """``samples`` plus ``b``, ``r_<g>`` and ``cor_<g>`` (draws in the leading axes): what a
    fit holds. Computing these inside the model as ``numpyro.deterministic`` sites would re-run
    the model for every draw inside the sampler; here they are a few array operations over all
    draws at once, for NUTS, the approximations and loaded fits alike. A quantity whose sites
    are absent (draws that come with ``r_<g>`` already) is left as given.

    >>> import numpy as np, formulang as fl
    >>> m = fl.Model("Reaction ~ Days + (Days | Subject)", fl.datasets.load("sleepstudy"),
    ...              reparam="noncentered")
    >>> draws = {"Intercept_c": np.zeros((1, 2)), "b_c": np.ones((1, 2, 1)),
    ...          "sd_Subject": np.ones((1, 2, 2)), "L_Subject": np.tile(np.eye(2), (1, 2, 1, 1)),
    ...          "z_Subject": np.zeros((1, 2, 18, 2))}
    >>> out = derive(m.plan, draws)
    >>> out["b"].shape, out["r_Subject"].shape, out["cor_Subject"].shape
    ((1, 2, 2), (1, 2, 18, 2), (1, 2, 1))
    """
    return {**samples, **_reported(plan, samples)}


def to_params(plan, samples: dict) -> dict:
    """The reported parameters (:func:`parameters`) from the sampler's sites, in any leading
    shape; each one whose sites are absent is left out."""
    reported = _reported(plan, samples)
    out = {}
    groups = all_groups(plan)
    for name, p in parameters(plan).items():
        if p.kind == "sd":
            g = next(h for h in groups if h.name == p.group)
            if _has_vector(samples, g.sd):
                out[name] = vector(samples, g.sd)
        elif name in reported:
            out[name] = reported[name]
        elif name in samples:  # given as it is (a family parameter; effects from elsewhere)
            out[name] = np.asarray(samples[name])
    return out


__all__ = ["Flat", "GroupSites", "POPULATION", "Parameter", "PopulationSites", "all_groups",
           "b_name", "category_dpars", "centred_loc", "column_dpars", "cor_name",
           "correlation_cholesky", "derive", "dpar_column", "dpar_group", "dpar_population",
           "effect_names", "flat_effects", "flat_parameters", "group_effects",
           "group_names", "group_sd_name", "pair_name", "pair_names", "parameters",
           "parse_flat", "piece_names", "predictors", "r_name", "sd_name", "split",
           "standardized_site", "threshold_name", "to_params", "uses", "vector"]
