"""What conditional effects and the marginaleffects verbs share: the training rows as columns,
typical values of the other predictors, predictions per draw with or without group effects,
and the summary of draws (median and equal-tailed interval, as brms and marginaleffects)."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from ...errors import FormulangError
from ..plots.lines import NEW_LEVEL

# brms's method names -> formulang's prediction kinds (infer/predict.py)
METHODS = {"posterior_epred": "mean", "posterior_predict": "response",
           "posterior_linpred": "linpred"}


def check_prob(prob) -> float:
    """``prob`` as a float strictly between 0 and 1, or a clear error."""
    try:
        p = float(prob)
    except (TypeError, ValueError):
        p = float("nan")
    if not 0 < p < 1:
        raise FormulangError(f"prob={prob!r}: the interval's probability must be between 0 "
                             f"and 1 (e.g. 0.95)")
    return p


def summarise(draws: np.ndarray, prob: float, robust: bool = True) -> dict:
    """Per column of ``draws`` (draws first): the estimate (median, or mean when not
    ``robust``), its error (MAD scaled as R's ``mad``, or SD) and the equal-tailed interval.

    >>> s = summarise(np.arange(101.0)[:, None], 0.9)
    >>> [round(float(s[k][0]), 9) for k in ("estimate", "lower", "upper")]
    [50.0, 5.0, 95.0]
    """
    draws = np.asarray(draws, dtype=float)
    tail = (1 - prob) / 2
    if robust:
        centre = np.median(draws, axis=0)
        error = 1.4826 * np.median(np.abs(draws - centre), axis=0)
    else:
        centre = draws.mean(axis=0)
        error = draws.std(axis=0, ddof=1)
    lower, upper = np.quantile(draws, [tail, 1 - tail], axis=0)
    return {"estimate": centre, "error": error, "lower": lower, "upper": upper}


def predictor_columns(fit) -> list[str]:
    """The data columns the right-hand sides read (the response's own columns left out)."""
    formula = fit.compiled.formula
    response = set(formula.response.columns()) if formula.response is not None else set()
    return [c for c in formula.columns() if c not in response]


def grouping_columns(fit) -> list[str]:
    """The grouping factors' columns of every formula: the response's and each family
    parameter's (``zi ~ (1 | g)``, a categorical model's ``mub``, ...)."""
    spec = fit.compiled.spec
    specs = (spec, *(sub for _, sub in spec.dpars))
    return list(dict.fromkeys(c for s in specs for g in s.groups for c in g.factor))


def factor_levels(fit, column: str, values: pd.Series | None = None) -> tuple | None:
    """The levels of a factor column in coding order (the first is the reference), or
    ``None`` for a numeric column: from the model's encoding when the column enters as
    itself, else from the data (a pandas categorical's order, or sorted, as R's factor)."""
    for v in fit.compiled.spec.variables:
        if v.label == column:
            return tuple(v.levels) if v.kind != "numeric" else None
    if values is None:
        return None
    if _coded_as_factor(fit, column):  # factor(k) of a numeric k: its values, sorted, as R
        return tuple(sorted(pd.unique(values.dropna())))
    if isinstance(values.dtype, pd.CategoricalDtype):
        return tuple(str(c) for c in values.cat.categories)
    if pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
        return None
    return tuple(sorted({str(v) for v in values.dropna()}))


def _coded_as_factor(fit, column: str) -> bool:
    """Whether the formula reads ``column`` only through a factor of its own
    (``factor(k)``, ``C(k)``): a numeric column whose values are levels."""
    from ...ir.expr import columns_of

    formula = fit.compiled.formula
    kinds = {v.label: v.kind for v in fit.compiled.spec.variables}
    factors = [factor for f in (formula, *(sub for _, sub in formula.dpars))
               for t in (*f.terms, *(t for g in f.groups for t in g.terms))
               for factor in t.factors]
    reading = [e for e in factors if column in columns_of(e)]
    return bool(reading) and all(kinds.get(str(e), "numeric") != "numeric"
                                 and tuple(columns_of(e)) == (column,) for e in reading)


def training_frame(fit, columns=None) -> pd.DataFrame:
    """The training rows the fit used, as the data's own columns (all predictor columns, or
    ``columns``). A fit loaded from a file holds only its encoded rows: plain numeric columns
    are read back from them; anything else needs the data (``fit.attach_data`` does not keep
    the raw columns, so such a fit's effects need ``newdata=``/``conditions=``)."""
    columns = predictor_columns(fit) if columns is None else list(columns)
    bound = fit.bound
    if bound is None:
        raise FormulangError("this fit does not hold its training rows (it was saved without "
                             "them): effects over the data need them; build the model again "
                             "from its data, or give the rows as newdata=")
    raw = getattr(fit.model, "_frame", None)
    if raw is not None:
        from ...data.frame import as_frame

        frame = as_frame(raw)
        rows = bound.rows
        return pd.DataFrame({c: frame.series[c].to_numpy()[rows] for c in columns
                             if c in frame.series})
    out = {}
    for c in columns:
        values = encoded_column(fit, bound, c)
        if values is None:
            raise FormulangError(
                f"this fit was loaded from a file, which holds the encoded rows, not "
                f"column {c!r} itself: give the rows as newdata= (or the value of {c!r} "
                f"as conditions=)")
        out[c] = values
    return pd.DataFrame(out)


def encoded_column(fit, bound, column: str):
    """A column read back from the encoded rows: a numeric one entering as itself, a factor
    from its treatment-contrast dummies, a grouping factor from its codes; else ``None``."""
    names = bound.X_columns
    if column in names:
        return np.asarray(bound.X[:, names.index(column)], dtype=float)
    gd = next((g for b in (bound, *(sub for _, sub in bound.dpars)) for g in b.groups
               if g.factor == (column,)), None)
    if gd is not None:
        return np.asarray(gd.levels, dtype=object)[np.asarray(gd.codes)]
    levels = factor_levels(fit, column)
    dummies = [column + lev for lev in (levels or ())[1:]]
    if not levels or not all(d in names for d in dummies):
        return None
    codes = np.zeros(bound.n, dtype=int)
    for j, d in enumerate(dummies, start=1):
        codes[np.asarray(bound.X[:, names.index(d)]) == 1] = j
    return np.asarray(levels, dtype=object)[codes]


def typical_value(fit, column: str, values: pd.Series):
    """brms's condition for a column not plotted: the mean of a numeric column, the
    reference (first) level of a factor."""
    levels = factor_levels(fit, column, values)
    if levels is None:
        return float(pd.to_numeric(values, errors="coerce").mean())
    return levels[0]


def predict_draws(fit, newdata: pd.DataFrame, kind: str, *, group_effects: bool,
                  new_levels: str = "gaussian", seed: int = 0, trials=None,
                  categories: bool = False, quiet: bool = False,
                  dpar: str | None = None) -> np.ndarray:
    """Predictions per draw through :func:`formulang.infer.predict.predict`, (S, rows) or,
    for ``categories`` (ordinal and categorical), (S, rows, K). Without ``group_effects``
    (brms's ``re_formula = NA``) every grouping column is set to a level no training data
    has, predicted with effect 0 (``new_levels="population"``), its warning not shown: it is
    not the user's (nor with ``quiet``: rows set to a new level on purpose). ``dpar``: a
    family parameter's values (``kind="mean"``) or link scale (``"linpred"``) instead."""
    from ...data.notices import NewLevelsWarning
    from ...infer.predict import predict

    newdata = newdata.copy()
    grouping = grouping_columns(fit)
    if not group_effects:
        for c in grouping:
            newdata[c] = NEW_LEVEL
        new_levels = "population"
    else:
        missing = [c for c in grouping if c not in newdata.columns]
        if missing:
            raise FormulangError(
                f"newdata lacks the grouping column{'s' if len(missing) > 1 else ''} "
                f"{', '.join(map(repr, missing))}, which predictions with group effects "
                f"need: add {'it' if len(missing) == 1 else 'them'}, or use "
                f"group_effects=False (population-level predictions, brms's re_formula = NA)")
    family = fit.plan.family
    if categories:
        kind = "prob"
    elif kind == "mean" and family.spec.probabilities is not None \
            and family.spec.linpred is not None and dpar is None:
        raise FormulangError(
            f"the mean of a {family.name} model is one probability per category: ask for "
            f"them with categorical=True (one curve per category, brms's categorical = TRUE)")
    with warnings.catch_warnings():
        if quiet or not group_effects:
            warnings.simplefilter("ignore", NewLevelsWarning)
        out = predict(fit, newdata, kind=kind, new_levels=new_levels, seed=seed,
                      trials=trials, labels=False, dpar=dpar)
    if kind == "response" and family.spec.probabilities is not None:
        out = np.asarray(out, dtype=float) + 1  # category index 1..K, brms's scale
    return np.asarray(out, dtype=float)


def category_labels(fit, k: int) -> list[str]:
    """The names of a categorical or ordinal response's ``k`` categories."""
    levels = fit.compiled.spec.response_levels
    if levels is not None and len(levels.levels) == k:
        return [str(v) for v in levels.levels]
    return [str(i + 1) for i in range(k)]


def binomial_trials(fit):
    """brms's ``conditional_effects`` sets the trials of a binomial model to 1 (the
    probability of success); ``None`` for other families."""
    return 1 if fit.plan.family.spec.trials else None
