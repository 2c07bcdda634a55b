"""marginaleffects' verbs on posterior draws: :func:`predictions`, :func:`comparisons`,
:func:`slopes`.

Each prediction is computed per posterior draw (through
:func:`formulang.infer.predict.predict`); averages over rows (``by``) are taken per draw and
then summarised, never averaged summaries. The summary is marginaleffects' for Bayesian
models: ``estimate`` the median of the draws, ``conf.low``/``conf.high`` the equal-tailed
``prob`` interval. ``return_draws=True`` also returns the draws, (draws, rows of the table).

- ``kind``: ``"mean"`` (default; marginaleffects' ``type = "response"``, brms's
  ``posterior_epred``), ``"linpred"`` (``type = "link"``), ``"response"`` (a drawn response,
  ``posterior_predict``), ``"prob"`` (binomial: per trial).
- Group effects are included, as marginaleffects does for brms (``re_formula = NULL``): the
  rows' own levels, unseen levels by ``new_levels``; ``group_effects=False`` leaves them out
  (``re_formula = NA``).
- Rows: the training rows (``newdata=None``) or ``newdata``. :func:`predictions` gives one row
  per row unless ``by``; :func:`comparisons` and :func:`slopes` average over the rows (as
  ``avg_comparisons``, ``avg_slopes``) unless ``newdata`` is given (one row per row, a grid) or
  ``by=False``. ``by``: a column or a list of columns (averages per group), ``True`` (one
  overall average).
- :func:`comparisons`: a numeric variable changes by +1 from each row's value (or by the
  number given, ``{"x": 10}``); a factor's each level against its reference (the first).
- :func:`slopes`: ``(f(x + eps) - f(x)) / eps`` with ``eps = 1e-4 * (max(x) - min(x))`` over
  the training rows (marginaleffects' ``numderiv = "fdforward"``); ``numderiv="fdcenter"``
  takes ``x +- eps / 2``.

>>> fit.comparisons("floor")                                  # doctest: +SKIP
>>> fit.slopes("Days", by="Subject")                           # doctest: +SKIP
"""

from __future__ import annotations

import contextvars
import functools
import warnings

import numpy as np
import pandas as pd

from ...errors import FormulangError
from ...phrasing import knows_other_names
from .data import (check_prob, factor_levels, grouping_columns, predict_draws,
                   predictor_columns, training_frame)

KINDS = ("mean", "linpred", "response", "prob")
_TOLD: contextvars.ContextVar = contextvars.ContextVar("told", default=None)


def _once(verb):
    """Within one verb call, each distinct warning is shown once."""
    @functools.wraps(verb)
    def wrapped(*args, **kwargs):
        token = _TOLD.set(set())
        try:
            return verb(*args, **kwargs)
        finally:
            _TOLD.reset(token)
    return wrapped
NUMDERIV = ("fdforward", "fdcenter")


@_once
@knows_other_names
def predictions(fit, newdata=None, *, by=None, kind: str = "mean", prob: float = 0.95,
                group_effects: bool = True, new_levels: str = "gaussian", trials=None,
                seed: int = 0, return_draws: bool = False):
    """marginaleffects' ``predictions``: the ``kind`` prediction per row of ``newdata``
    (default: the training rows) with ``estimate``, ``conf.low``, ``conf.high``; ``by``
    averages per draw within groups (see the module docstring)."""
    rows = _rows(fit, newdata, by)
    trials = _training_trials(fit, newdata, rows, trials)
    draws = _draws(fit, rows, kind, group_effects, new_levels, seed, trials)
    by = _by(by, rows, default=False)
    table, draws = _aggregate(rows, draws, by)
    return _finish(table, draws, prob, return_draws)


@_once
@knows_other_names
def comparisons(fit, variables=None, newdata=None, *, by=None, kind: str = "mean",
                prob: float = 0.95, group_effects: bool = True, new_levels: str = "gaussian",
                trials=None, seed: int = 0, return_draws: bool = False):
    """marginaleffects' ``comparisons`` (``avg_comparisons`` over the training rows): the
    change in the ``kind`` prediction when ``variables`` change (a column, a list, or a dict
    column -> numeric step; default: every predictor), per draw, then summarised."""
    rows = _rows(fit, newdata, by)
    trials = _training_trials(fit, newdata, rows, trials)
    by = _by(by, rows, default=newdata is None)
    tables, all_draws = [], []
    for name, step in _variables(fit, variables, rows).items():
        for label, lo, hi in _contrasts(fit, name, step, rows):
            d = (_draws(fit, hi, kind, group_effects, new_levels, seed, trials)
                 - _draws(fit, lo, kind, group_effects, new_levels, seed, trials))
            t, d = _aggregate(rows, d, by)
            t.insert(0, "contrast", label)
            t.insert(0, "term", name)
            tables.append(t)
            all_draws.append(d)
    return _finish(pd.concat(tables, ignore_index=True), np.concatenate(all_draws, axis=1),
                   prob, return_draws)


@_once
@knows_other_names
def slopes(fit, variables=None, newdata=None, *, by=None, kind: str = "mean",
           prob: float = 0.95, eps: float | None = None, numderiv: str = "fdforward",
           group_effects: bool = True, new_levels: str = "gaussian", trials=None,
           seed: int = 0, return_draws: bool = False):
    """marginaleffects' ``slopes`` (``avg_slopes`` over the training rows): dY/dx of the
    ``kind`` prediction by a finite difference per draw (default: every numeric predictor),
    then summarised; ``contrast`` is ``"dY/dX"``."""
    if numderiv not in NUMDERIV:
        raise FormulangError(f"numderiv={numderiv!r}; choose one of: {', '.join(NUMDERIV)}")
    rows = _rows(fit, newdata, by)
    trials = _training_trials(fit, newdata, rows, trials)
    by = _by(by, rows, default=newdata is None)
    names = _variables(fit, variables, rows, numeric_only=True)
    tables, all_draws = [], []
    for name in names:
        h = eps if eps is not None else _step(fit, name)
        x = pd.to_numeric(rows[name], errors="coerce").to_numpy(dtype=float)
        lo, hi = rows.copy(), rows.copy()
        if numderiv == "fdcenter":
            lo[name], hi[name] = x - h / 2, x + h / 2
        else:
            hi[name] = x + h
        # the same seed on both sides: new-level effects cancel, as the draws are shared
        d = (_draws(fit, hi, kind, group_effects, new_levels, seed, trials)
             - _draws(fit, lo, kind, group_effects, new_levels, seed, trials)) / h
        t, d = _aggregate(rows, d, by)
        t.insert(0, "contrast", "dY/dX")
        t.insert(0, "term", name)
        tables.append(t)
        all_draws.append(d)
    return _finish(pd.concat(tables, ignore_index=True), np.concatenate(all_draws, axis=1),
                   prob, return_draws)


# ---- helpers ------------------------------------------------------------------------------------

def _rows(fit, newdata, by=None) -> pd.DataFrame:
    """``newdata`` as a DataFrame, or the training rows: the predictors, the trials' columns
    and the ``by`` columns (any column of the data, as marginaleffects')."""
    if newdata is None:
        extra = [] if by is None or isinstance(by, bool) else \
            [by] if isinstance(by, str) else list(by)
        needed = list(dict.fromkeys(predictor_columns(fit) + extra))
        return training_frame(fit, needed).reset_index(drop=True)
    if isinstance(newdata, pd.DataFrame):
        return newdata.reset_index(drop=True)
    try:
        return pd.DataFrame(dict(newdata))
    except (TypeError, ValueError) as e:
        raise FormulangError(f"newdata must be a data frame or a dict of columns ({e})") \
            from None


def _training_trials(fit, newdata, rows, trials):
    """A binomial model's trials of the training rows (as bound), unless given: the rows of
    a loaded fit hold its predictors, not the response's columns. New rows need their own
    (:func:`formulang.infer.predict.predict` says how, when they lack them)."""
    if trials is not None or newdata is not None or not fit.plan.family.spec.trials:
        return trials
    return np.asarray(fit.bound.trials, dtype=float)


def _draws(fit, rows, kind, group_effects, new_levels, seed, trials) -> np.ndarray:
    """Predictions per draw; a warning (new levels, missing values) told once per verb
    call, not once per side of each contrast."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = _predicted(fit, rows, kind, group_effects, new_levels, seed, trials)
    for w in caught:
        key, told = (w.category, str(w.message)), _TOLD.get()
        if told is None or key not in told:
            if told is not None:
                told.add(key)
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    return out


def _predicted(fit, rows, kind, group_effects, new_levels, seed, trials) -> np.ndarray:
    if kind not in KINDS:
        raise FormulangError(f"unknown kind {kind!r}; kinds: {', '.join(KINDS)}")
    if fit.plan.family.spec.probabilities is not None and kind in ("mean", "prob") \
            and fit.plan.family.spec.linpred is not None:
        raise FormulangError(f"the verbs summarise one number per row; a "
                             f"{fit.plan.family.name} model's mean is one probability per "
                             f"category: use fit.predict(newdata, kind='prob')")
    if kind == "prob" and fit.plan.family.spec.probabilities is not None:
        raise FormulangError("kind='prob' of an ordinal model is one probability per "
                             "category; the verbs take kind='mean' (the expected category)")
    if kind in ("linpred", "prob"):
        trials = None  # the link scale and the per-trial probability need none
    return predict_draws(fit, rows, kind, group_effects=group_effects,
                         new_levels=new_levels, seed=seed, trials=trials)


def _by(by, rows, default: bool):
    """``None`` -> the verb's default; ``True`` one average; ``False`` none; else columns."""
    if by is None:
        by = default
    if by is True or by is False:
        return by
    cols = [by] if isinstance(by, str) else list(by)
    missing = [c for c in cols if c not in rows.columns]
    if missing:
        raise FormulangError(f"by={by!r}: no column {missing[0]!r} in the rows; columns: "
                             f"{', '.join(map(str, rows.columns))}")
    return cols


def _aggregate(rows: pd.DataFrame, draws: np.ndarray, by):
    """Per row (``by=False``), one average (``True``), or averages per group of the ``by``
    columns, each per draw: (table, draws x table rows). NaN rows (not predicted) are left
    out of averages."""
    if by is False:
        return rows.copy(), draws
    if by is True:
        return pd.DataFrame(index=[0]), np.nanmean(draws, axis=1, keepdims=True)
    groups = rows[by].groupby(by, sort=True, observed=True).indices
    keys = sorted(groups, key=_natural)  # herd "2" before "10", as the model's levels
    table = pd.DataFrame(keys, columns=by) if len(by) > 1 else pd.DataFrame({by[0]: keys})
    out = np.stack([np.nanmean(draws[:, groups[k]], axis=1) for k in keys], axis=1)
    return table, out


def _natural(key) -> tuple:
    """A sort key for a group's key (a value, or a tuple of them): numbers, and numbers
    written as text, by value, before other text.

    >>> sorted(["10", "2", "b", "a"], key=_natural)
    ['2', '10', 'a', 'b']
    """
    def one(value):
        try:
            return (0, float(value), "")
        except (TypeError, ValueError):
            return (1, 0.0, str(value))
    return tuple(one(v) for v in key) if isinstance(key, tuple) else (one(key),)


def _finish(table: pd.DataFrame, draws: np.ndarray, prob, return_draws: bool):
    prob = check_prob(prob)
    tail = (1 - prob) / 2
    table = table.reset_index(drop=True)
    table["estimate"] = np.median(draws, axis=0)
    table["conf.low"], table["conf.high"] = np.quantile(draws, [tail, 1 - tail], axis=0)
    return (table, draws) if return_draws else table


def _variables(fit, variables, rows, numeric_only: bool = False) -> dict:
    """Column -> step (``None`` for a factor): the variables asked for, checked."""
    grouping = grouping_columns(fit)
    candidates = [c for c in predictor_columns(fit) if c not in grouping]
    if variables is None:
        variables = [c for c in candidates if not numeric_only
                     or factor_levels(fit, c, rows.get(c)) is None]
    if isinstance(variables, str):
        variables = [variables]
    out = dict(variables) if isinstance(variables, dict) else {v: None for v in variables}
    for name, step in out.items():
        if name not in candidates:
            what = "a grouping factor" if name in grouping else "not a predictor"
            raise FormulangError(f"variables: {name!r} is {what} of "
                                 f"{fit.compiled.formula}; predictors: "
                                 f"{', '.join(candidates) or 'none'}")
        if name not in rows.columns:
            raise FormulangError(f"newdata lacks column {name!r}")
        numeric = factor_levels(fit, name, rows[name]) is None
        if numeric_only and not numeric:
            raise FormulangError(f"slopes are of numeric predictors; {name!r} is a factor: "
                                 f"use comparisons({name!r})")
        if step is not None and not numeric:
            raise FormulangError(f"variables: {name!r} is a factor, compared level by level; "
                                 f"a step ({step!r}) is for numeric predictors")
        out[name] = (1.0 if step is None else float(step)) if numeric else None
    if not out:
        raise FormulangError("no variables to compare: name one (variables='x')")
    return out


def _contrasts(fit, name, step, rows):
    """(label, rows at lo, rows at hi) per contrast of ``name``."""
    if step is not None:
        x = pd.to_numeric(rows[name], errors="coerce").to_numpy(dtype=float)
        hi = rows.copy()
        hi[name] = x + step
        return [(f"+{step:g}", rows, hi)]
    levels = factor_levels(fit, name, rows[name])
    out = []
    ref = rows.copy()
    ref[name] = levels[0]
    for level in levels[1:]:
        hi = rows.copy()
        hi[name] = level
        out.append((f"{level} - {levels[0]}", ref, hi))
    return out


def _step(fit, name) -> float:
    """marginaleffects' default step: 1e-4 times the training range of ``name``."""
    x = pd.to_numeric(training_frame(fit, [name])[name], errors="coerce")
    span = float(x.max() - x.min())
    return 1e-4 * (span if span > 0 else 1.0)
