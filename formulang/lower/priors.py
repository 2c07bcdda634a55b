"""Priors: weakly informative defaults scaled to the data, user overrides, the prior table.

Every parameter gets a proper prior (a flat prior on coefficients breaks prior predictive
checks). Defaults, with ``s`` the response scale on the link scale (``sd(y)`` for identity
links, ``sd(log y)`` for lognormal, ``1`` for other links, as rstanarm's autoscale) and ``m``
the response mean on the link scale:

==========================  =====================================================
class                       default
==========================  =====================================================
``Intercept``               ``student_t(3, m, 2.5 s)``, on centred predictors
``b[x]``                    ``normal(0, 2.5 s / sd(x))``
``sd[g][x]``                ``half_student_t(3, 2.5 s / sd(x))`` (``sd(x) = 1`` for intercepts)
``cor[g]``                  ``lkj(2)``
``sds``, ``sdgp``, ``lscale``  smooth terms' (:mod:`~formulang.lower.smooth_plan`)
``sigma``                   ``half_student_t(3, 2.5 s)``
other family parameters     their family's row (:data:`~formulang.lower.families.FAMILIES`):
                            ``gamma(2, 0.1)`` for ``nu``, ``shape`` and beta's ``phi``;
                            ``inv_gamma(0.4, 0.3)`` for the negative binomial's ``phi``;
                            ``beta(1, 1)`` for the probabilities ``zi`` and ``hu``
==========================  =====================================================

``lkj(2)`` rather than brms's uniform ``lkj(1)``: with the handful of groups typical of mixed
models, the likelihood barely constrains a correlation and a uniform prior lets the posterior
pile up at ±1 (lme4's "singular fits"); η = 2 puts density ∝ (1 − r²) on each correlation of a
pair, gently away from the boundary and still wide (central 95% of r within ±0.82).

Without an intercept, coefficients play its role, so ``b`` defaults to
``normal(0, 2.5 sqrt(s² + m²) / sd(x))``, wide enough to reach the response's location.

Users override by brms's class vocabulary: ``{"b": "normal(0, 1)", "b[floor]": ...,
"sd": ..., "sd[county]": ..., "sd[county][floor]": ..., "cor": ..., "cor[county]": ...,
"sigma": ..., "Intercept": ...}``; the most specific key wins.

A family parameter with a sub-formula (``y ~ x; sigma ~ z``) has no prior of its own: its
formula's coefficients do, on its link scale (log for ``sigma``), under the class followed by
``_<parameter>`` (brms's ``dpar = sigma``; its Stan names ``Intercept_sigma``, ``b_sigma``):
``Intercept_sigma`` ``student_t(3, link(c), 2.5)`` with ``c`` the typical value of the
parameter's own default prior, ``b_sigma[z]`` ``normal(0, 2.5 / sd(z))``, ``sd_sigma[g]...``
and ``cor_sigma[g]`` as for the response's formula with ``s = 1``.

>>> from formulang import bind
>>> from formulang.lower.families import family
>>> b = bind("y ~ x + (1 | g)", {"y": [1.0, 2.0, 4.0, 3.0], "x": [0.0, 1.0, 2.0, 3.0],
...                             "g": ["a", "a", "b", "b"]})
>>> table = resolve_priors(b, family("gaussian"), {"sd": "half_normal(1)"})
>>> str(table.lookup("sd", group="g", coef="Intercept")), table.source("sd", "g", "Intercept")
('half_normal(1)', 'user')
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from ..errors import FormulangError
from ..ir.prior import Prior
from ..parse import parse_prior
from .families import AUX_NAMES, AUX_SUPPORTS, Family
from .ordinal import n_categories, threshold_coefs
from .response import dropped_aux
from .smooth_plan import SMOOTH_CLASSES, default_smooth_rows

PRIOR_CLASSES = ("Intercept", "b", "sd", "cor") + SMOOTH_CLASSES + AUX_NAMES
POSITIVE_CLASSES = ("sd",) + SMOOTH_CLASSES + tuple(a for a in AUX_NAMES if AUX_SUPPORTS[a] == "positive")
UNIT_CLASSES = tuple(a for a in AUX_NAMES if AUX_SUPPORTS[a] == "unit")  # zi, hu
_KEY = re.compile(r"^(\w+)(?:\[([^\]]+)\])?(?:\[([^\]]+)\])?$")
_FOLDABLE = {"normal": "half_normal", "cauchy": "half_cauchy", "student_t": "half_student_t"}


class PriorSpecError(FormulangError):
    """A prior key or value that does not fit the model."""


@dataclass(frozen=True)
class PriorRow:
    """One line of the prior table: which parameter, which prior, and where it came from."""

    cls: str
    group: str
    coef: str
    prior: Prior
    source: str  # "default" or "user"
    dpar: str = ""  # the family parameter whose sub-formula it is in ("": the response's)

    @property
    def key(self) -> str:
        return self.cls + (f"_{self.dpar}" if self.dpar else "") + \
            (f"[{self.group}]" if self.group else "") + (f"[{self.coef}]" if self.coef else "")


@dataclass(frozen=True)
class PriorTable:
    """Every prior of a model, one row per parameter (like brms's ``prior_summary``)."""

    rows: tuple[PriorRow, ...]

    def _row(self, cls: str, group: str = "", coef: str = "", dpar: str = "") -> PriorRow:
        for row in self.rows:
            if (row.cls, row.group, row.coef, row.dpar) == (cls, group, coef, dpar):
                return row
        raise KeyError(f"no prior for {cls}[{group}][{coef}]" + (f" of {dpar}" if dpar else ""))

    def lookup(self, cls: str, group: str = "", coef: str = "", dpar: str = "") -> Prior:
        return self._row(cls, group, coef, dpar).prior

    def source(self, cls: str, group: str = "", coef: str = "", dpar: str = "") -> str:
        return self._row(cls, group, coef, dpar).source

    def to_frame(self) -> pd.DataFrame:
        dpars = any(r.dpar for r in self.rows)  # brms's dpar column, when there is one
        return pd.DataFrame([{"class": r.cls, "group": r.group, "coef": r.coef,
                              **({"dpar": r.dpar} if dpars else {}),
                              "prior": str(r.prior), "source": r.source} for r in self.rows])

    def __str__(self) -> str:
        return self.to_frame().to_string(index=False)

    def _repr_html_(self) -> str:
        """The table in a notebook (pandas escapes the cells: user text stays text)."""
        return self.to_frame().to_html(index=False, escape=True, border=0)


def _sd(x: np.ndarray) -> float:
    sd = float(np.std(x, ddof=1)) if len(x) > 1 else 0.0
    return sd if np.isfinite(sd) and sd > 0 else 1.0


def response_scale(bound, fam: Family) -> tuple[float, float]:
    """(m, s): the response's mean and scale on the link scale, for data-scaled priors."""
    # on the scale the family's pilot fits (log y for lognormal, proportions for binomial)
    y, n = fam.spec.working_response(np.asarray(bound.y, dtype=float), bound.trials)
    mean = float(np.mean(y)) if n is None else float(np.sum(y * n) / max(np.sum(n), 1.0))
    if fam.link.is_identity:  # the rows the pilot fits (a hurdle's positive ones)
        return mean, _sd(y if n is None else y[np.asarray(n) > 0])
    return float(fam.link.location(mean)), 1.0


def _default_rows(bound, fam: Family) -> list[PriorRow]:
    if getattr(bound, "smooths", ()) and fam.spec.per_category:
        raise FormulangError(f"{bound.smooths[0].spec.term}: smooth terms in a {fam.name} "
                             "model are not supported yet")
    m, s = response_scale(bound, fam)
    rows = _predictor_rows(bound, m, s, thresholds=fam.spec.thresholds)
    rows += default_smooth_rows(bound, s, PriorRow, _prior)  # sds, sdgp, lscale
    with_formula = {name for name, _ in bound.dpars}
    dropped = dropped_aux(bound.formula.response, fam)  # se(s) alone: no sigma
    for aux in fam.spec.parameters:
        if aux.name in with_formula:
            rows += _dpar_rows(dict(bound.dpars)[aux.name], aux, s)
        elif aux.name not in dropped:
            rows.append(PriorRow(aux.name, "", "", _prior(*aux.prior(s)), "default"))
    for aux, _ in fam.spec.fixed_aux:  # fixed (disc = 1) unless predicted
        if aux.name in with_formula:
            rows += _dpar_rows(dict(bound.dpars)[aux.name], aux, s)
    return rows + _joint_rows(bound, rows)


def _joint_rows(bound, rows) -> list[PriorRow]:
    """The LKJ prior of a term correlated across formulas ((1 |p| g) in two of them,
    :mod:`~formulang.lower.joint`), under its owner's formula, when its own term had none."""
    from .joint import find, layout

    have = {(r.group, r.dpar) for r in rows if r.cls == "cor"}
    return [PriorRow("cor", j.label, "", _prior("lkj", 2), "default", j.owner)
            for j in find(bound)
            if (j.label, j.owner) not in have and any(len(b) > 1 for b in layout(j, bound)[3])]


def _dpar_rows(bound, aux, s: float) -> list[PriorRow]:
    """The default priors of ``aux``'s sub-formula: its intercept's is the row's own where it
    has one (brms's disc: normal(0, 1))."""
    rows = _predictor_rows(bound, _dpar_centre(aux, s), 1.0, aux.name)
    if aux.intercept is None:
        return rows
    return [replace(r, prior=_prior(*aux.intercept)) if r.cls == "Intercept" else r
            for r in rows]


def _dpar_centre(aux, s: float) -> float:
    """Where the intercept of ``aux``'s sub-formula is centred: its own default prior's typical
    value, on its link scale."""
    from ..ir.prior import DISTRIBUTIONS
    from .links import LINKS

    name, *params = aux.prior(s)
    return float(LINKS[aux.link].forward(float(DISTRIBUTIONS[name].centre(params, np))))


def _predictor_rows(bound, m: float, s: float, dpar: str = "",
                    thresholds: bool = False) -> list[PriorRow]:
    """The default priors of one formula's coefficients (``dpar``: a family parameter's
    sub-formula), ``m`` and ``s`` its location and scale on the link scale; ``thresholds``:
    an ordinal model's, which replace the intercept."""
    rows = []
    intercept = "Intercept" in bound.X_columns
    if intercept:
        rows.append(PriorRow("Intercept", "", "", _prior("student_t", 3, m, 2.5 * s),
                             "default", dpar))
    if thresholds:  # ordinal: brms's Intercept[k], student_t(3, 0, 2.5) each
        rows += [PriorRow("Intercept", "", c, _prior("student_t", 3, 0, 2.5), "default")
                 for c in threshold_coefs(n_categories(bound))]
    reach = s if intercept or thresholds else float(np.hypot(s, m))
    for j, name in enumerate(bound.X_columns):
        if name == "Intercept":
            continue
        rows.append(PriorRow("b", "", name,
                             _prior("normal", 0, 2.5 * reach / _sd(bound.X[:, j])), "default",
                             dpar))
    for g in _group_names(bound):
        gd = bound.groups[g[1]]
        for j, col in enumerate(gd.columns):
            scale = 2.5 * s / (1.0 if col == "Intercept" else _sd(gd.values[:, j]))
            rows.append(PriorRow("sd", g[0], col, _prior("half_student_t", 3, scale), "default",
                                 dpar))
        if any(len(block) > 1 for block in gd.blocks):
            rows.append(PriorRow("cor", g[0], "", _prior("lkj", 2), "default", dpar))
    return rows


def _group_names(bound) -> list[tuple[str, int]]:
    """(name, index) of each group term: its grouping factor, one term per factor."""
    from .sites import group_names

    return list(zip(group_names(bound), range(len(bound.groups))))


def _prior(name: str, *values: float) -> Prior:
    from ..ir.prior import DISTRIBUTIONS

    # Defaults are rounded to 4 significant digits: they only need to set a scale, and round
    # numbers read better in the prior table and in generated code.
    return Prior(name, tuple(zip(DISTRIBUTIONS[name].params,
                                 (float(f"{float(v):.4g}") for v in values))))


def _as_prior(key: str, value) -> Prior:
    if isinstance(value, Prior):
        return value
    if not isinstance(value, str):
        raise PriorSpecError(f"prior for '{key}' must be text such as \"normal(0, 1)\", "
                             f"not {type(value).__name__}")
    return parse_prior(value)


def _check_support(key: str, cls: str, prior: Prior) -> Prior:
    support = prior.spec.support
    if cls == "cor":
        if prior.distribution != "lkj":
            raise PriorSpecError(f"'{key}': correlations take an lkj(eta) prior, "
                                 f"not {prior}")
        return prior
    if prior.distribution == "lkj":
        raise PriorSpecError(f"'{key}': lkj() is a prior on correlations (class cor)")
    if cls in UNIT_CLASSES:
        if support == "unit" or (support == "interval" and prior["lower"] >= 0
                                 and prior["upper"] <= 1):
            return prior
        raise PriorSpecError(f"'{key}' is a probability: give it a prior on (0, 1), e.g. "
                             f"beta(1, 1) or uniform(0, 1), not {prior}")
    if cls in POSITIVE_CLASSES:
        if support in ("positive", "unit"):
            return prior
        if support == "interval" and prior["lower"] >= 0:
            return prior
        if prior.distribution in _FOLDABLE and prior["mu"] == 0:
            # brms truncates at zero; a centred normal/student_t/cauchy folds to its half.
            folded = _FOLDABLE[prior.distribution]
            return _prior(folded, *[v for k, v in prior.params if k != "mu"])
        raise PriorSpecError(f"'{key}' is positive: give it a prior on positive values, e.g. "
                             f"half_normal(1) or exponential(1), not {prior}")
    return prior


def resolve_priors(bound, fam: Family, user: dict | None = None) -> PriorTable:
    """The full prior table: defaults, overridden by the user's most specific keys."""
    rows = _default_rows(bound, fam)
    if user is not None and not isinstance(user, Mapping):  # brms's prior(...) string, a list
        raise PriorSpecError(f"priors is a dict {{key: prior}}, e.g. {{'b': 'normal(0, 1)', "
                             f"'sd[g]': 'half_normal(1)'}} (brms's prior(normal(0, 1), class = "
                             f"b)), not a {type(user).__name__}")
    user = dict(user or {})
    valid = _valid_keys(rows)
    dpars = {r.dpar for r in rows if r.dpar}
    parsed: dict[tuple[str, str, str, str], tuple[str, Prior]] = {}
    for key, value in user.items():
        m = _KEY.match(key.strip()) if isinstance(key, str) else None
        cls, a, b = (m.group(1), m.group(2) or "", m.group(3) or "") if m else ("", "", "")
        cls, dpar = _class_and_dpar(cls, dpars)
        target = _target(cls, a, b)
        target = None if target is None else target + (dpar,)
        if target is None or not any(_matches(target, r) for r in rows):
            close = difflib.get_close_matches(str(key), valid, n=1, cutoff=0.6)
            hint = f"did you mean {close[0]!r}? " if close else ""  # b_Days: b[Days]
            raise PriorSpecError(f"unknown prior key {key!r} for this model; {hint}valid keys: "
                                 f"{', '.join(valid)}")
        parsed[target] = (key, _check_support(key, cls, _as_prior(key, value)))
    out = []
    for row in rows:
        best = max((t for t in parsed if _matches(t, row)), key=_specificity, default=None)
        if best is None:
            out.append(row)
        else:
            out.append(PriorRow(row.cls, row.group, row.coef, parsed[best][1], "user",
                                row.dpar))
    return PriorTable(tuple(out))


def _class_and_dpar(cls: str, dpars: set[str]) -> tuple[str, str]:
    """``b_sigma`` -> ``("b", "sigma")`` when ``sigma`` has a sub-formula (brms's ``class = b,
    dpar = sigma``); other classes as they are."""
    head, _, tail = cls.rpartition("_")
    if tail in dpars and head in ("Intercept", "b", "sd", "cor") + SMOOTH_CLASSES:
        return head, tail
    return cls, ""


def _target(cls: str, a: str, b: str):
    """(class, group, coef) a key addresses; '*' for "any"."""
    if cls == "Intercept":  # Intercept[k]: an ordinal model's k-th threshold
        return None if b else ("Intercept", "", a or "*")
    if cls in AUX_NAMES:
        return (cls, "", "") if not a and not b else None
    if cls == "b":
        return None if b else ("b", "", a or "*")
    if cls == "sd":
        return ("sd", a or "*", b or "*")
    if cls == "cor":
        return None if b else ("cor", a or "*", "")
    if cls in SMOOTH_CLASSES:  # sds[stimes], sdgp[gpx], lscale[gpx]
        return None if b else (cls, "", a or "*")
    return None


def _matches(target, row: PriorRow) -> bool:
    return all(t in ("*", v) for t, v in zip(target, (row.cls, row.group, row.coef, row.dpar)))


def _specificity(target) -> int:
    return sum(t != "*" for t in target)


def _valid_keys(rows) -> list[str]:
    keys: dict[str, None] = {}
    for r in rows:
        cls = r.cls + (f"_{r.dpar}" if r.dpar else "")
        keys.setdefault(cls, None)
        if r.group:
            keys.setdefault(f"{cls}[{r.group}]", None)
        if r.coef:
            keys.setdefault(r.key, None)
    return list(keys)


# ---- to NumPyro --------------------------------------------------------------------------------

def numpyro_distribution(name: str, params):
    """A NumPyro distribution for a prior ``name`` with stacked parameter arrays ``params``
    (the row :data:`formulang.ir.prior.DISTRIBUTIONS` builds it)."""
    from ..ir.prior import DISTRIBUTIONS

    return DISTRIBUTIONS[name].numpyro(params)
