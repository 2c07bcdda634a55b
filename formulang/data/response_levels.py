"""A response made of categories: an ordinal response, or a two-level factor for bernoulli.

The family says what it takes (its row's ``response_levels``, passed to
:func:`formulang.data.bind.bind` as ``response=``):

- ``"ordinal"`` (``cumulative``): a pandas Categorical (ordered or not) keeps its categories in
  their order; a text column gets its sorted levels (numbers written as text in numeric
  order: ``"2" < "10"``), with a :class:`ResponseLevelsWarning` saying so; whole numbers
  ``1..K`` are the categories in numeric order, as brms. ``K >= 2``,
  and every category needs rows: an empty one is a :class:`~formulang.DataError` naming it
  (brms would keep a threshold the data say nothing about).
- ``"categorical"`` (``categorical``): as ``"ordinal"`` (the order only says which category is
  the reference, the first), without the warning for a text column: its sorted levels are
  R's ``factor()`` default.
- ``"binary"`` (``bernoulli``): numbers and booleans as they are; a factor with exactly two
  levels (a Categorical's categories, or a text column's sorted values) as R's ``glm``: the
  first level is failure (0), the second success (1).

The model's ``y`` is the category's code ``0..K-1``; :class:`ResponseLevels` (kept in the
:class:`~formulang.data.spec.DataSpec`) encodes new rows the same way and turns codes back
into labels.

>>> import pandas as pd
>>> y = pd.Series(pd.Categorical(["lo", "hi", "mid", "hi"], categories=["lo", "mid", "hi"]))
>>> codes, levels = learn_response(y, "ordinal", "rating")
>>> codes.tolist(), levels.levels, levels.labels([2, 0]).tolist()
([0.0, 2.0, 1.0, 2.0], ('lo', 'mid', 'hi'), ['hi', 'lo'])
>>> codes, levels = learn_response(pd.Series([1, 3, 2, 3]), "ordinal", "stars")
>>> codes.tolist(), levels.integer, levels.labels([0, 2]).tolist()
([0.0, 2.0, 1.0, 2.0], True, [1, 3])
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..errors import DataError
from .evaluate import level_label
from .notices import FormulangWarning, tell

MODES = ("ordinal", "categorical", "binary")


class ResponseLevelsWarning(FormulangWarning):
    """A text response's categories were put in sorted order: say the order if it is not."""


@dataclass(frozen=True)
class ResponseLevels:
    """The categories of a response, in order (``levels``, as text); ``integer``: they are
    the numbers ``1..K`` (labels are then ints); ``mode``: one of :data:`MODES`."""

    levels: tuple[str, ...]
    integer: bool = False
    mode: str = "ordinal"

    @property
    def k(self) -> int:
        return len(self.levels)

    def labels(self, codes) -> np.ndarray:
        """Codes ``0..K-1`` as the categories' labels (ints ``1..K`` for integer levels)."""
        codes = np.asarray(codes).astype(int)
        if self.integer:
            return codes + 1
        return np.asarray(self.levels, dtype=object)[codes]

    def to_dict(self) -> dict:
        return {"levels": list(self.levels), "integer": bool(self.integer), "mode": self.mode}

    @classmethod
    def from_dict(cls, d: dict | None) -> "ResponseLevels | None":
        if d is None:
            return None
        return cls(tuple(d["levels"]), bool(d["integer"]), d.get("mode", "ordinal"))


def _is_factor(series: pd.Series) -> bool:
    return isinstance(series.dtype, pd.CategoricalDtype) or not (
        pd.api.types.is_numeric_dtype(series.dtype) or pd.api.types.is_bool_dtype(series.dtype))


def learn_response(series: pd.Series, mode: str, name: str,
                   position=lambda i: i) -> tuple[np.ndarray, ResponseLevels | None]:
    """``(codes, levels)`` of a training response for a family that takes ``mode``
    (``levels`` None: a numeric response the family reads as numbers). ``position(i)``: the
    user's row position of row ``i``, for messages."""
    if mode == "binary":
        if not _is_factor(series):
            return None, None
        categories = _categories(series, name, "binary")
        if len(categories) != 2:
            raise DataError(f"the bernoulli family takes a factor response with two levels "
                            f"(the first is failure, the second success, as R's glm); {name} "
                            f"has {len(categories)}: {_shown(categories)}")
        levels = ResponseLevels(tuple(categories), False, "binary")
        return encode_response(series, levels, name, position), levels
    if _is_factor(series):
        categories = _categories(series, name, mode)
        levels = ResponseLevels(tuple(categories), False, mode)
        codes = encode_response(series, levels, name, position)
    else:
        values = np.asarray(series, dtype=float)
        bad = np.flatnonzero(~np.isclose(values, np.round(values)) | (values < 1))
        if len(bad):
            shown = ", ".join(f"row {position(int(i))} ({values[i]:g})" for i in bad[:5])
            raise DataError(f"an {_WHAT[mode]} response is a factor, or whole numbers 1, 2, "
                            f"..., K (the categories in order, as brms); {name} has {shown}"
                            + (f" and {len(bad) - 5} more" if len(bad) > 5 else ""))
        k = int(np.max(values)) if len(values) else 0
        levels = ResponseLevels(tuple(str(i) for i in range(1, k + 1)), True, mode)
        codes = np.round(values) - 1.0
    _check_ordinal(codes, levels, name)
    return codes, levels


_WHAT = {"ordinal": "ordinal", "categorical": "unordered categorical"}
# why an empty category is refused, per mode
_EMPTY = {"ordinal": "a threshold next to an empty category is not identified by the data",
          "categorical": "the linear predictor of an empty category is not identified by the "
                         "data (its coefficients would go to minus infinity)"}


def _categories(series: pd.Series, name: str, mode: str) -> list[str]:
    if isinstance(series.dtype, pd.CategoricalDtype):
        return [level_label(c) for c in series.cat.categories]
    uniques = sorted({level_label(v) for v in series})
    if mode == "ordinal" and _all_numbers(uniques):  # "1" < "2" < "10", not "1" < "10" < "2"
        uniques.sort(key=float)
    if mode == "ordinal" and len(uniques) > 1:
        tell(ResponseLevelsWarning(
            f"the ordinal response {name} is text: its categories are taken in sorted order "
            f"({' < '.join(uniques[:10])}{' ...' if len(uniques) > 10 else ''}); give it as "
            f"an ordered pandas Categorical to set the order"))
    return uniques


def _all_numbers(labels) -> bool:
    """Whether every label reads as a number (``"2"``, ``"10"``, ``"-1.5"``).

    >>> _all_numbers(["1", "10", "2"]), _all_numbers(["1", "low"])
    (True, False)
    """
    try:
        return all(np.isfinite(float(lab)) for lab in labels)
    except ValueError:
        return False


def _check_ordinal(codes: np.ndarray, levels: ResponseLevels, name: str) -> None:
    what = _WHAT[levels.mode]
    if levels.k < 2:
        raise DataError(f"an {what} response needs at least two categories; {name} has "
                        f"{levels.k}: {_shown(levels.levels)}")
    counts = np.bincount(codes.astype(int), minlength=levels.k)
    empty = [levels.levels[j] for j in np.flatnonzero(counts == 0)]
    if empty:
        raise DataError(
            f"the {what} response {name} has no rows in categor"
            f"{'ies' if len(empty) > 1 else 'y'} {_shown(empty)} of {_shown(levels.levels)}: "
            f"{_EMPTY[levels.mode]}; drop the "
            f"unused categories (Series.cat.remove_unused_categories()) or merge them")


def encode_response(series: pd.Series, levels: ResponseLevels, name: str,
                    position=lambda i: i) -> np.ndarray:
    """Codes ``0..K-1`` of a response in known ``levels`` (new rows, or training rows once
    learned); a value outside them is a :class:`~formulang.DataError` naming its row."""
    if levels.integer and not _is_factor(series):
        values = np.asarray(series, dtype=float)
        labels = [level_label(v) for v in values]
    else:
        labels = [level_label(v) for v in series]
    index = {label: i for i, label in enumerate(levels.levels)}
    codes = np.array([index.get(label, -1) for label in labels], dtype=float)
    bad = np.flatnonzero(codes < 0)
    if len(bad):
        i = int(bad[0])
        raise DataError(f"the response {name} has {labels[i]!r} at row {position(i)}, which is "
                        f"not one of its categories {_shown(levels.levels)}"
                        + (f" ({len(bad)} such rows)" if len(bad) > 1 else ""))
    return codes


# ---- glue for bind: the response expression on a Context ----------------------------------------

def _series(expr, ctx) -> pd.Series:
    from ..ir.expr import Column

    if isinstance(expr, Column):
        return ctx.frame.get(expr.name)
    if ctx.kind(expr) != "numeric":  # factor(y), C(y): the categorical's own values
        return ctx.categorical_values(expr)
    return pd.Series(ctx.numeric(expr))


def bind_response(expr, ctx, mode: str | None, levels: ResponseLevels | None = None):
    """``(codes, levels)`` of the response ``expr`` on ``ctx`` (a
    :class:`~formulang.data.evaluate.Context`) for a family taking ``mode``, with the training
    ``levels`` when given (new rows); ``(None, levels)`` when the response is read as numbers
    as usual (no mode, no value, or a numeric bernoulli response)."""
    if expr is None or (mode is None and levels is None):
        return None, levels
    series = _series(expr, ctx)
    name = str(expr)
    if levels is None:
        return learn_response(series, mode, name, ctx.frame.position)
    return encode_response(series, levels, name, ctx.frame.position), levels


def ordinal_design(fixed, mode: str | None, formula):
    """The population design of a family whose thresholds replace the intercept (``mode``
    ``"ordinal"``): coded as with an intercept (factors lose their first level), without the
    Intercept column, as brms; a formula without an intercept is refused."""
    if mode != "ordinal":
        return fixed
    from ..errors import FormulaError

    if not fixed.intercept:
        raise FormulaError(f"{formula}: an ordinal model cannot remove the intercept: its "
                           f"thresholds Intercept[1], ..., Intercept[K-1] are the intercept "
                           f"(write 1 + ... or leave the 0 out)")
    return type(fixed)(False, fixed.terms)


def _shown(labels) -> str:
    labels = list(labels)
    return ", ".join(repr(x) for x in labels[:10]) + (" ..." if len(labels) > 10 else "")


__all__ = ["MODES", "ResponseLevels", "ResponseLevelsWarning", "bind_response",
           "encode_response", "learn_response", "ordinal_design"]
