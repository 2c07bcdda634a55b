"""Conditional effects, as brms's ``conditional_effects``: the posterior of the response along
a grid of one predictor (or two: ``"x:g"``), the others held at typical values.

brms 2.18's rules, followed here:

- the grid: ``resolution`` (100) points from the training minimum to the maximum of a
  numeric predictor; the levels present of a factor;
- ``"x:g"``: numeric predictors first; a numeric second predictor at its mean and mean +- 1 SD
  (three curves), a factor at each of its levels;
- every other predictor at its training mean (numeric) or reference level (factor, the first);
  a binomial model's trials at 1 (so the mean is the probability of success);
- group effects left out (``re_formula = NA``): ``group_effects=True`` keeps them, each
  grouping factor at a level no training data has (drawn from the fitted population);
- ``method``: ``"posterior_epred"`` (the response's mean, default), ``"posterior_predict"``
  (a response drawn per draw) or ``"posterior_linpred"`` (the link scale); ``dpar``: a family
  parameter (``"sigma"``, ``"zi"``) in the response's place;
- the summary per grid row (``robust=True``): the median (``estimate__``), the MAD
  (``se__``) and the equal-tailed ``prob`` interval (``lower__``, ``upper__``);
- ordinal models give the expected category index (brms warns; ``categorical=True`` gives one
  curve per category's probability, column ``cats__``); categorical models need
  ``categorical=True``.

>>> ce = fit.conditional_effects("Days")                       # doctest: +SKIP
>>> ce.data[["Days", "estimate__", "lower__", "upper__"]].head() # doctest: +SKIP
>>> ce.plot().savefig("days.png")                                # doctest: +SKIP
"""

from __future__ import annotations

import re

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ...errors import FormulangError
from ...phrasing import knows_other_names
from ..plots.lines import NEW_LEVEL
from .data import (METHODS, binomial_trials, category_labels, check_prob, factor_levels,
                   grouping_columns, predict_draws, predictor_columns, summarise,
                   training_frame, typical_value)

RESOLUTION = 100  # brms's default number of points along a numeric predictor


@dataclass(frozen=True, eq=False)
class ConditionalEffects:
    """The result of :func:`conditional_effects`: ``data`` (brms's table: the grid and
    conditions, ``effect1__`` (``effect2__``), ``estimate__``, ``se__``, ``lower__``,
    ``upper__``), the ``effects`` plotted and their ``types`` (``"numeric"``/``"factor"``),
    the ``draws`` (draws x rows of ``data``), and :meth:`plot`."""

    data: pd.DataFrame
    effects: tuple[str, ...]
    types: tuple[str, ...]
    response: str
    method: str
    prob: float
    draws: np.ndarray = field(repr=False)
    points: pd.DataFrame | None = field(default=None, repr=False)

    def plot(self, points: bool = False):
        """A matplotlib Figure: a line with its interval ribbon along a numeric predictor
        (one per level of a second predictor), points with error bars for a factor;
        ``points=True`` adds the training data (of a plain response)."""
        from ..plots.effects import draw_conditional_effects

        return draw_conditional_effects(self, points=points)

    def __str__(self) -> str:
        return self.data.to_string(index=False, max_rows=30)


@knows_other_names
def conditional_effects(fit, effect: str | None = None, *, method: str = "posterior_epred",
                        prob: float = 0.95, robust: bool = True,
                        resolution: int = RESOLUTION, conditions: dict | None = None,
                        categorical: bool = False, group_effects: bool = False,
                        seed: int = 0, dpar: str | None = None) -> ConditionalEffects:
    """brms's ``conditional_effects(fit, effect)`` (see the module docstring).

    ``effect``: a predictor column (``"Days"``) or two (``"x:g"``); ``None``: the first
    predictor. ``conditions``: column ->
    value overriding the typical values of the others (brms's ``conditions``, one row).
    ``dpar``: a family parameter (``"sigma"``) instead of the response (brms's ``dpar``;
    ``method="posterior_epred"`` its value, ``"posterior_linpred"`` its link scale).
    """
    if method not in METHODS:
        raise FormulangError(f"unknown method {method!r}; methods: {', '.join(METHODS)}")
    if dpar is not None and (categorical or method == "posterior_predict"):
        raise FormulangError(f"dpar={dpar!r} shows a parameter's value (method="
                             f"'posterior_epred') or its link scale ('posterior_linpred'), "
                             f"one curve")
    prob = check_prob(prob)
    if not isinstance(resolution, (int, np.integer)) or resolution < 2:
        raise FormulangError(f"resolution={resolution!r}: the number of grid points must be "
                             f"a whole number >= 2")
    family = fit.plan.family
    polytomous = family.spec.probabilities is not None
    if categorical and (not polytomous or method != "posterior_epred"):
        raise FormulangError("categorical=True is for ordinal and categorical models, with "
                             "method='posterior_epred'" +
                             ("" if polytomous else f"; this model is {family.name}"))
    effects = _parse_effect(fit, effect)
    if categorical and len(effects) == 2:
        raise FormulangError(f"categorical=True draws one curve per category of the response: "
                             f"ask for one predictor, not {effect!r}")
    frame = training_frame(fit, [c for c in predictor_columns(fit)
                                 if c not in grouping_columns(fit)])
    types = tuple("numeric" if factor_levels(fit, e, frame[e]) is None else "factor"
                  for e in effects)
    order = sorted(range(len(effects)), key=lambda i: types[i] != "numeric")  # numeric first
    effects = tuple(effects[i] for i in order)
    types = tuple(types[i] for i in order)
    grid = _grid(fit, frame, effects, types, resolution)
    given = dict(conditions or {})
    unknown = [c for c in given if c not in frame.columns or c in effects]
    if unknown:
        raise FormulangError(f"conditions names {', '.join(map(repr, unknown))}, not a "
                             f"predictor other than the effect; predictors: "
                             f"{', '.join(c for c in frame.columns if c not in effects)}")
    for c in frame.columns:
        if c not in effects:
            grid[c] = given[c] if c in given else typical_value(fit, c, frame[c])
    table = grid.copy()
    if group_effects:  # brms's re_formula = NULL: a new level, drawn from the population
        for c in grouping_columns(fit):
            grid[c] = NEW_LEVEL
    draws = predict_draws(fit, grid, METHODS[method], group_effects=group_effects,
                          seed=seed, trials=binomial_trials(fit), categories=categorical,
                          quiet=True, dpar=dpar)
    table["effect1__"] = grid[effects[0]]
    if len(effects) == 2:
        table["effect2__"] = _effect2(grid[effects[1]], types[1])
    if categorical:  # one block of rows per category, as brms's cats__
        k = draws.shape[2]
        labels = category_labels(fit, k)
        table = pd.concat([table] * k, ignore_index=True)
        table["cats__"] = pd.Categorical(np.repeat(labels, len(grid)), categories=labels)
        table["effect2__"] = table["cats__"]
        draws = np.concatenate([draws[:, :, j] for j in range(k)], axis=1)
        effects, types = (effects[0], "cats__"), (types[0], "factor")
    s = summarise(draws, prob, robust)
    table["estimate__"], table["se__"] = s["estimate"], s["error"]
    table["lower__"], table["upper__"] = s["lower"], s["upper"]
    response = dpar or (str(fit.compiled.formula.response.value)
                        if fit.compiled.formula.response is not None else "y")
    return ConditionalEffects(table, tuple(effects), tuple(types), response, method, prob,
                              draws, None if dpar else _points(fit, effects, frame))


def _parse_effect(fit, effect) -> tuple[str, ...]:
    predictors = [c for c in predictor_columns(fit) if c not in grouping_columns(fit)]
    if effect is None:
        if not predictors:
            raise FormulangError(f"the model {fit.compiled.formula} has no predictor to show "
                                 f"the effect of")
        effect = predictors[0]
    if not isinstance(effect, str) or not effect.strip():
        raise FormulangError(f"effect={effect!r}: name a predictor column, or two as 'x:g'")
    # a name quoted as the formula quotes it (`x var`) is that column
    parts = tuple(p.strip()[1:-1] if re.fullmatch(r"\s*`[^`]+`\s*", p) else p.strip()
                  for p in effect.split(":"))
    for p in parts:
        if p in grouping_columns(fit):
            raise FormulangError(f"{p!r} is a grouping factor: conditional effects are of "
                                 f"the predictors ({', '.join(predictors)}); see fit.ranef()")
        if p not in predictors:
            raise FormulangError(f"effect {p!r} is not a predictor of "
                                 f"{fit.compiled.formula}; predictors: "
                                 f"{', '.join(predictors) or 'none'}")
    if len(parts) > 2 or len(set(parts)) != len(parts):
        raise FormulangError(f"effect={effect!r}: one predictor, or two different ones "
                             f"joined by ':' ('x:g')")
    return parts


def _grid(fit, frame, effects, types, resolution) -> pd.DataFrame:
    """brms's ``prepare_cond_data``: the values of each effect, crossed, sorted."""
    values = []
    for i, (e, t) in enumerate(zip(effects, types)):
        col = frame[e]
        if t == "factor":
            present = {str(v) for v in col.dropna()}
            values.append([lev for lev in factor_levels(fit, e, col) if str(lev) in present])
        elif i == 0:
            x = pd.to_numeric(col, errors="coerce")
            values.append(np.linspace(x.min(), x.max(), resolution))
        else:  # a numeric moderator: mean - SD, mean, mean + SD
            x = pd.to_numeric(col, errors="coerce")
            values.append(list(x.mean() + np.array([-1.0, 0.0, 1.0]) * x.std(ddof=1)))
    if len(effects) == 1:
        return pd.DataFrame({effects[0]: values[0]})
    a, b = np.meshgrid(np.arange(len(values[0])), np.arange(len(values[1])), indexing="ij")
    return pd.DataFrame({effects[0]: np.asarray(values[0], dtype=object)[a.ravel()],
                         effects[1]: np.asarray(values[1], dtype=object)[b.ravel()]}
                        ).infer_objects()


def _effect2(values: pd.Series, kind: str):
    """brms's ``effect2__``: a numeric moderator's values rounded to 2 decimals, as a factor
    ordered from the largest; a factor's levels as they are."""
    if kind == "factor":
        return values.to_numpy()
    rounded = np.round(values.astype(float), 2)
    return pd.Categorical(rounded, categories=sorted(set(rounded), reverse=True))


def _points(fit, effects, frame) -> pd.DataFrame | None:
    """The training rows' effect columns and response, for ``plot(points=True)``."""
    y = getattr(fit, "observed", None)
    if y is None or fit.plan.family.spec.trials:
        return None
    cols = {e: frame[e].to_numpy() for e in effects if e in frame.columns}
    if len(cols) != len([e for e in effects if e != "cats__"]):
        return None
    return pd.DataFrame({**cols, "y": np.asarray(y, dtype=float)})
