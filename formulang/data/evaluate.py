"""Evaluating IR expressions on data: numbers, categoricals, and stateful transforms.

This is a small interpreter over :mod:`formulang.ir.expr` nodes. It never calls ``eval``: every
function a formula may call (:data:`formulang.ir.functions.FUNCTIONS`) maps to a numpy
implementation here. ``^`` is a power; comparisons give 0/1 floats; a division by zero gives
``inf``, which the finiteness check then reports with the row and the input values.

Stateful transforms (``scale``, ``center``, ``standardize``) learn their statistics from the
training rows (those kept after missing-value handling) and reuse them on new data. R's
``scale`` is followed exactly: the centre is the mean; the scale is the sample standard
deviation (``n - 1``) of the centred values, or with ``center = FALSE`` the root mean square
``sqrt(sum(x^2) / (n - 1))``.

>>> import pandas as pd
>>> from formulang.ir import Call, Column
>>> from formulang.data.frame import as_frame
>>> ctx = Context(as_frame({"x": [1.0, 2.0, 3.0]}))
>>> ctx.numeric(Call("scale", (Column("x"),))).tolist()
[-1.0, 0.0, 1.0]
>>> ctx.transforms["scale(x)"]
TransformStats(center=2.0, scale=1.0)
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..errors import DataError
from ..ir.expr import BinOp, Call, Column, Expr, Neg, Number, columns_of
from ..ir.functions import FUNCTIONS, NUMPY_NAMES
from .bases import BasisError, BasisState, evaluate_basis, learn_basis, locate
from .frame import Frame

NUMERIC = "numeric"
CATEGORICAL = "categorical"
BASIS = "basis"  # a factor of several columns: poly(), bs(), ns() (formulang.data.bases)

ELEMENTWISE = {
    "log": np.log, "log1p": np.log1p, "log2": np.log2, "log10": np.log10,
    "exp": np.exp, "expm1": np.expm1, "sqrt": np.sqrt, "abs": np.abs,
}
# numpy's spellings are names of the same functions (never looked up in numpy by name)
ELEMENTWISE |= {f"{prefix}.{name}": ELEMENTWISE[ours] for prefix in ("np", "numpy")
                for name, ours in NUMPY_NAMES.items()}
ELEMENTWISE["round"] = lambda x, digits=0.0: r_round(x, digits)  # R's; digits from its kwarg
BINARY = {"np.power": np.power, "numpy.power": np.power}

_BINARY = {
    "+": np.add, "-": np.subtract, "*": np.multiply, "/": np.true_divide, "^": np.power,
    "<": np.less, "<=": np.less_equal, ">": np.greater, ">=": np.greater_equal,
    "==": np.equal, "!=": np.not_equal,
}


@dataclass(frozen=True)
class TransformStats:
    """What a stateful transform learned: subtract ``center``, then divide by ``scale``."""

    center: float = 0.0
    scale: float = 1.0


# ---------------------------------------------------------------------------------------------
# Column kinds and level labels


def column_kind(series: pd.Series, name: str) -> str:
    """``"numeric"`` or ``"categorical"`` for a data column, from its dtype."""
    dtype = series.dtype
    if isinstance(dtype, pd.CategoricalDtype) or pd.api.types.is_bool_dtype(dtype):
        return CATEGORICAL
    if pd.api.types.is_numeric_dtype(dtype):
        return NUMERIC
    if pd.api.types.is_string_dtype(dtype) or pd.api.types.is_object_dtype(dtype):
        return CATEGORICAL
    raise DataError(f"column {name!r} has dtype {dtype}, which a formula cannot use; "
                    f"convert it to numbers or strings")


# A text column is "mostly numbers" when at least this share of its non-missing cells read as
# numbers, or all but FEW_STRAY of them do (and numbers are the majority).
MOSTLY_NUMBERS = 0.9
FEW_STRAY = 5


def not_numbers(series: pd.Series) -> np.ndarray:
    """Positions of the non-missing cells of ``series`` that do not read as a number.

    >>> not_numbers(pd.Series(["1", "2.5", "1.2x", None, "<0.5"])).tolist()
    [2, 4]
    """
    parsed = pd.to_numeric(series, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
    return np.flatnonzero(np.isnan(parsed) & ~series.isna().to_numpy(dtype=bool))


def stray_text(series: pd.Series) -> np.ndarray | None:
    """For a text column that is mostly numbers but not all: the positions of the cells that
    are not numbers; otherwise ``None``. Mostly numbers: at least :data:`MOSTLY_NUMBERS` of
    the non-missing cells read as numbers, or all but at most :data:`FEW_STRAY` of them and
    numbers are the majority. A categorical dtype is categorical on purpose and never counts.

    >>> stray_text(pd.Series([str(i) for i in range(19)] + ["1.2x"])).tolist()
    [19]
    >>> stray_text(pd.Series(["a", "b", "1"])) is None
    True
    """
    dtype = series.dtype
    if isinstance(dtype, pd.CategoricalDtype) or pd.api.types.is_bool_dtype(dtype) or not (
            pd.api.types.is_string_dtype(dtype) or pd.api.types.is_object_dtype(dtype)):
        return None
    bad = not_numbers(series)
    present = int((~series.isna()).sum())
    numbers = present - len(bad)
    if len(bad) and (numbers >= MOSTLY_NUMBERS * present
                     or (len(bad) <= FEW_STRAY and numbers > len(bad))):
        return bad
    return None


def cells_text(frame: Frame, series: pd.Series, bad: np.ndarray, limit: int = 5) -> str:
    """``row position 17: '1.2x', row position 40: '?'`` (the first ``limit``, then a count)."""
    shown = ", ".join(f"row position {frame.position(int(i))}: {_show(series.iloc[int(i)])}"
                      for i in bad[:limit])
    return shown + (f" and {len(bad) - limit} more" if len(bad) > limit else "")


def level_label(value) -> str:
    """The label of a level, as R's ``as.character`` would print it.

    >>> [level_label(v) for v in ["a", 2, 2.0, 0.1, True, np.int64(3)]]
    ['a', '2', '2', '0.1', 'TRUE', '3']
    """
    if isinstance(value, str):
        return value
    if isinstance(value, (bool, np.bool_)):
        return "TRUE" if value else "FALSE"
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        v = float(value)
        if v.is_integer() and abs(v) < 1e15:
            return str(int(v))
        short = f"{v:.15g}"
        return short if float(short) == v else repr(v)
    return str(value)


def _sort_order(uniques: list) -> list[int]:
    """Indices that sort level values: numbers numerically, strings lexicographically,
    booleans False < True; a mix sorts numbers, then booleans, then the rest by label."""
    def key(v):
        if isinstance(v, (bool, np.bool_)):
            return (1, int(v), "")
        if isinstance(v, (int, float, np.integer, np.floating)):
            return (0, float(v), "")
        return (2, 0.0, level_label(v))
    return sorted(range(len(uniques)), key=lambda i: key(uniques[i]))


@dataclass(frozen=True)
class Factorized:
    """Per-row integer codes into ``labels`` (the distinct values present, as labels)."""

    codes: np.ndarray
    labels: tuple[str, ...]


def factorize(values, name: str, order: bool = True) -> Factorized:
    """Codes and level labels for the values of a categorical (no missing values allowed).

    With ``order`` the levels follow R: a pandas Categorical keeps its category order (unused
    categories dropped), anything else is sorted. Without it, levels are in order of first
    appearance (enough for looking values up in known levels).
    """
    if isinstance(values, pd.Series) and isinstance(values.dtype, pd.CategoricalDtype):
        codes = values.cat.codes.to_numpy().astype(np.intp)
        categories = list(values.cat.categories)
        present = np.bincount(codes, minlength=len(categories)) > 0
        if not present.all():
            remap = np.cumsum(present) - 1
            codes = remap[codes]
            categories = [c for c, p in zip(categories, present) if p]
        return Factorized(codes, _unique_labels([level_label(c) for c in categories], name))
    codes, uniques = pd.factorize(values, sort=False)
    codes = np.asarray(codes, dtype=np.intp)
    uniques = list(uniques)
    if order and len(uniques) > 1:
        perm = _sort_order(uniques)
        rank = np.empty(len(perm), dtype=np.intp)
        rank[perm] = np.arange(len(perm))
        codes = rank[codes]
        uniques = [uniques[i] for i in perm]
    return Factorized(codes, _unique_labels([level_label(u) for u in uniques], name))


def _unique_labels(labels: list[str], name: str) -> tuple[str, ...]:
    if len(set(labels)) != len(labels):
        seen: dict[str, int] = {}
        for label in labels:
            seen[label] = seen.get(label, 0) + 1
        clash = next(k for k, v in seen.items() if v > 1)
        raise DataError(f"{name}: different values share the level label {clash!r} "
                        f"(e.g. the number 1 and the text '1'); make the column one type")
    return tuple(labels)


# ---------------------------------------------------------------------------------------------
# The evaluator


@dataclass
class Context:
    """Evaluation state for one frame.

    ``transforms`` maps a stateful call's text (``"scale(x)"``) to its statistics (a basis's,
    ``"poly(x, 2)"``, to its :class:`BasisState`). With ``learn=True`` missing statistics are
    computed from this frame and recorded; with ``learn=False`` (new data) they must already be
    there. ``text``: the formula as printed, for a caret under a call the data cannot support.
    """

    frame: Frame
    transforms: dict[str, TransformStats | BasisState] = field(default_factory=dict)
    learn: bool = True
    text: str = ""
    _numeric_columns: dict = field(default_factory=dict, repr=False)

    @property
    def n(self) -> int:
        return self.frame.n

    # -- kinds ---------------------------------------------------------------------------------

    def kind(self, expr: Expr) -> str:
        """Whether ``expr`` (a term factor) is numeric or categorical, from the data."""
        if isinstance(expr, Column):
            return column_kind(self.frame.get(expr.name), expr.name)
        if isinstance(expr, Call) and FUNCTIONS[expr.func].role == "categorical":
            return CATEGORICAL
        if isinstance(expr, Call) and FUNCTIONS[expr.func].role == "basis":
            return BASIS
        return NUMERIC

    # -- numbers -------------------------------------------------------------------------------

    def numeric(self, expr: Expr) -> np.ndarray:
        """Evaluate ``expr`` to a float64 vector of length n; every value must be finite.

        The result may share memory with the input: never write into it.
        """
        with np.errstate(all="ignore"):
            value = self._eval(expr)
        value = np.asarray(value, dtype=np.float64)
        if value.ndim == 0:
            value = np.full(self.n, float(value))
        self._check_finite(expr, value)
        return value

    def _eval(self, e: Expr):
        if isinstance(e, Column):
            return self._column(e.name, e)
        if isinstance(e, Number):
            return e.value
        if isinstance(e, Neg):
            return np.negative(self._eval(e.operand))
        if isinstance(e, BinOp):
            left, right = self._eval(e.left), self._eval(e.right)
            out = _BINARY[e.op](left, right)
            if e.op in _COMPARISONS:
                out = np.asarray(out, dtype=np.float64)
            return out
        if isinstance(e, Call):
            role = FUNCTIONS[e.func].role if e.func in FUNCTIONS else None
            if e.func == "round":
                return r_round(self._eval(e.args[0]), float(e.kwarg("digits", 0.0)))
            if role == "elementwise":
                return ELEMENTWISE[e.func](self._eval(e.args[0]))
            if role == "binary":
                return BINARY[e.func](self._eval(e.args[0]), self._eval(e.args[1]))
            if role == "indicator":
                return self._dummy(e)
            if role == "basis":
                raise DataError(f"{e} makes several columns and cannot be used inside an "
                                f"expression")
            if role == "identity":
                return self._eval(e.args[0])
            if role == "stateful":
                return self._stateful(e)
            if role == "categorical":
                raise DataError(f"{e} is categorical and cannot be used as a number")
            raise DataError(f"{e.func}() cannot be used inside an expression")
        raise TypeError(f"not an expression: {e!r}")

    def _column(self, name: str, expr: Expr) -> np.ndarray:
        cached = self._numeric_columns.get(name)
        if cached is not None:
            return cached
        s = self.frame.get(name)
        dtype = s.dtype
        if pd.api.types.is_bool_dtype(dtype):
            values = s.to_numpy(dtype=np.float64)
        elif (pd.api.types.is_numeric_dtype(dtype)
              and not isinstance(dtype, pd.CategoricalDtype)):
            values = s.to_numpy(dtype=np.float64, na_value=np.nan)
            bad = np.flatnonzero(~np.isfinite(values))
            if len(bad):
                i = int(bad[0])
                raise DataError(f"column {name!r} has {len(bad)} infinite value(s), e.g. at "
                                f"row position {self.frame.position(i)}: {values[i]}")
        else:
            raise self._not_numeric(name, s)
        self._numeric_columns[name] = values
        return values

    def _not_numeric(self, name: str, s: pd.Series) -> DataError:
        if isinstance(s.dtype, pd.CategoricalDtype):
            value = s.iloc[0] if len(s) else None
            cells = f"e.g. row position {self.frame.position(0)}: {_show(value)}"
            what = "categorical"
        else:
            failing = not_numbers(s)
            cells = (f"{len(failing)} of {len(s)} cells are not numbers: "
                     f"{cells_text(self.frame, s, failing)}" if len(failing) else
                     "its cells are numbers written as text")  # new rows read as text
            what = "text" if pd.api.types.is_string_dtype(s.dtype) else f"{s.dtype}"
        return DataError(
            f"column {name!r} is {what}, not numbers, but the formula uses it as a number "
            f"({cells}); use C({name}) for a categorical, or convert the column to numbers")

    def _stateful(self, call: Call) -> np.ndarray:
        values = np.asarray(self._eval(call.args[0]), dtype=np.float64)
        if values.ndim == 0:
            values = np.full(self.n, float(values))
        key = str(call)
        stats = self.transforms.get(key)
        if stats is None:
            if not self.learn:
                raise DataError(f"no training statistics for {key}; bind the training data first")
            # Inputs must be finite before statistics are learned from them.
            self._check_finite(call.args[0], values)
            stats = _learn_stats(call, values)
            self.transforms[key] = stats
        return (values - stats.center) / stats.scale

    # -- bases ---------------------------------------------------------------------------------

    def basis(self, call: Call) -> np.ndarray:
        """The n x k columns of a basis factor (``poly(x, 2)``), its state learned from this
        frame (training) or taken from :attr:`transforms` (new data). What the data cannot
        support is a :class:`~formulang.data.bases.BasisError`, with a caret under the call
        in :attr:`text`."""
        try:
            return self._basis(call)
        except BasisError as error:
            raise locate(error, self.text, str(call)) from None

    def _basis(self, call: Call) -> np.ndarray:
        inner = call.args[0]
        if self.kind(inner) != NUMERIC:
            raise BasisError(f"{call}: {call.func}() takes numbers, but {inner} is "
                             f"categorical; a basis of a factor has no meaning (use {inner} "
                             f"itself for one coefficient per level)")
        values = self.numeric(inner)
        key = str(call)
        state = self.transforms.get(key)
        if state is None:
            if not self.learn:
                raise DataError(f"no training state for {key}; bind the training data first")
            state = learn_basis(call, values)
            self.transforms[key] = state
        return evaluate_basis(state, values, key)

    def _dummy(self, call: Call) -> np.ndarray:
        """lme4's ``dummy(f, "level")``: 1 where f is that level (its label), else 0."""
        inner, level = call.args[0], str(call.kwarg("level"))
        values = (self.categorical_values(inner) if self.kind(inner) == CATEGORICAL
                  else pd.Series(self.numeric(inner)))
        fz = factorize(values, str(inner), order=False)
        if self.learn and level not in fz.labels:
            raise locate(BasisError(f"{call}: {level!r} is not a level of {inner} in the data "
                                    f"(levels: {_shown_levels(sorted(fz.labels))})"),
                         self.text, str(call))
        match = np.array([label == level for label in fz.labels], dtype=np.float64)
        return match[fz.codes] if len(match) else np.zeros(self.n)

    def _check_finite(self, expr: Expr, values: np.ndarray) -> None:
        finite = np.isfinite(values)
        if finite.all():
            return
        bad = np.flatnonzero(~finite)
        i = int(bad[0])
        v = values[i]
        what = "NaN" if np.isnan(v) else ("inf" if v > 0 else "-inf")
        inputs = []
        for name in columns_of(expr):
            try:
                inputs.append(f"{name} = {_show(self.frame.get(name).iloc[i])}")
            except (KeyError, IndexError):
                pass
        where = f" where {', '.join(inputs)}" if inputs else ""
        raise DataError(f"{expr} is {what} at row position {self.frame.position(i)}{where} "
                        f"({len(bad)} non-finite value(s) in all; columns: "
                        f"{', '.join(columns_of(expr)) or '-'})")

    # -- categoricals --------------------------------------------------------------------------

    def categorical_values(self, expr: Expr):
        """The raw values of a categorical factor, and the label that names it in messages."""
        if isinstance(expr, Column):
            return self.frame.get(expr.name)
        if isinstance(expr, Call) and FUNCTIONS[expr.func].role == "categorical":
            inner = expr.args[0]
            if isinstance(inner, Column) or (isinstance(inner, Call) and
                                            FUNCTIONS[inner.func].role == "categorical"):
                if self.kind(inner) == CATEGORICAL:
                    return self.categorical_values(inner)
            return pd.Series(self.numeric(inner))
        raise TypeError(f"{expr} is not categorical")

    def learn_levels(self, expr: Expr) -> Factorized:
        """Codes and levels (R order, ``ref`` first) of a categorical factor on training data."""
        fz = factorize(self.categorical_values(expr), str(expr))
        order = _levels_of(expr)
        if order is not None:
            try:
                return _in_order(expr, fz, order)
            except BasisError as error:
                raise locate(error, self.text, str(expr)) from None
        ref = _ref_of(expr)
        if ref is not None:
            if ref not in fz.labels:
                shown = ", ".join(repr(x) for x in fz.labels[:20])
                raise DataError(f"{expr}: reference level {ref!r} is not a level of "
                                f"{', '.join(columns_of(expr))} (levels: {shown})")
            j = fz.labels.index(ref)
            perm = [j] + [i for i in range(len(fz.labels)) if i != j]
            rank = np.empty(len(perm), dtype=np.intp)
            rank[perm] = np.arange(len(perm))
            fz = Factorized(rank[fz.codes], tuple(fz.labels[i] for i in perm))
        return fz

    def encode_levels(self, expr: Expr, levels: tuple[str, ...]) -> np.ndarray:
        """Codes of a categorical factor's values in the training ``levels``; an unseen level
        is an error naming the column and the level."""
        fz = factorize(self.categorical_values(expr), str(expr), order=False)
        index = {label: i for i, label in enumerate(levels)}
        lookup = np.array([index.get(label, -1) for label in fz.labels], dtype=np.intp)
        if (lookup < 0).any():
            unseen = [label for label, j in zip(fz.labels, lookup) if j < 0]
            first = int(np.flatnonzero(lookup[fz.codes] < 0)[0])
            shown = ", ".join(repr(x) for x in levels[:20])
            more = f" and {len(levels) - 20} more" if len(levels) > 20 else ""
            raise DataError(
                f"{expr}: level {unseen[0]!r} of column {', '.join(columns_of(expr))} was not "
                f"seen in the training data (row position {self.frame.position(first)}"
                + (f"; {len(unseen)} unseen levels in all" if len(unseen) > 1 else "")
                + f"); training levels: {shown}{more}")
        return lookup[fz.codes]


_COMPARISONS = ("<", "<=", ">", ">=", "==", "!=")


def _show(value) -> str:
    """A data value for messages: ``'text'``, ``2.5``, ``True`` (no numpy type names)."""
    if isinstance(value, np.generic):
        value = value.item()
    return repr(value)


def _ref_of(expr: Expr) -> str | None:
    if isinstance(expr, Call) and FUNCTIONS[expr.func].role == "categorical":
        ref = expr.kwarg("ref")
        return None if ref is None else str(ref)
    return None


def _levels_of(expr: Expr) -> tuple[str, ...] | None:
    if isinstance(expr, Call) and FUNCTIONS[expr.func].role == "categorical":
        levels = expr.kwarg("levels")
        return None if levels is None else tuple(str(v) for v in levels)
    return None


def _shown_levels(levels) -> str:
    levels = list(levels)
    return ", ".join(repr(x) for x in levels[:20]) + (" ..." if len(levels) > 20 else "")


def _in_order(expr: Expr, fz: Factorized, order: tuple[str, ...]) -> Factorized:
    """The levels of ``C(x, levels = [...])`` in the order given: every value of the data is
    one of them and each of them is in the data (an absent one would be a column of zeros)."""
    unknown = [label for label in fz.labels if label not in order]
    if unknown:
        raise BasisError(f"{expr}: the data have the level {unknown[0]!r}, which levels = "
                        f"[...] does not list (levels in the data: {_shown_levels(fz.labels)})")
    absent = [label for label in order if label not in fz.labels]
    if absent:
        raise BasisError(f"{expr}: levels = [...] lists {absent[0]!r}, which is not a level of "
                        f"{', '.join(columns_of(expr))} in the rows used (levels in the data: "
                        f"{_shown_levels(fz.labels)})")
    position = {label: i for i, label in enumerate(order)}
    remap = np.array([position[label] for label in fz.labels], dtype=np.intp)
    return Factorized(remap[fz.codes], order)


def r_round(x, digits: float = 0.0):
    """R's ``round(x, digits)`` (R 4.0.0 and later): half to even for whole numbers; with
    digits, the nearer of the two candidates x rounded down and up, the even one on a tie.

    >>> r_round(np.array([0.5, 1.5, 2.5, -0.5, 0.15, 2.675, 0.125]), 0).tolist()
    [0.0, 2.0, 2.0, -0.0, 0.0, 3.0, 0.0]
    >>> r_round(np.array([0.15, 0.25, 2.675, -0.15]), 1).tolist()
    [0.1, 0.2, 2.7, -0.1]
    """
    x = np.asarray(x, dtype=np.float64)
    dig = int(math.floor(digits + 0.5))
    if dig == 0:
        return np.rint(x)
    sign = np.where(x < 0, -1.0, 1.0)
    a = np.abs(x)
    with np.errstate(all="ignore"):
        pow10 = 10.0 ** dig
        x10 = pow10 * a
        i10 = np.floor(x10)
        down, up = i10 / pow10, np.ceil(x10) / pow10
        du, dd = up - a, a - down
        out = np.where((du < dd) | ((du == dd) & (np.fmod(i10, 2.0) == 1)), up, down)
        # too many digits for a double to round further: x itself (R's DBL_DIG rule)
        keep = ~np.isfinite(a) | (a == 0) | (dig + (np.log10(np.where(a > 0, a, 1.0))) > 15)
    return np.where(keep, x, sign * out)


def _learn_stats(call: Call, values: np.ndarray) -> TransformStats:
    n = len(values)
    if call.func == "scale":
        do_center = bool(call.kwarg("center", True))
        do_scale = bool(call.kwarg("scale", True))
    elif call.func == "center":
        do_center, do_scale = True, False
    elif call.func == "standardize":
        do_center, do_scale = True, True
    else:
        raise DataError(f"unknown stateful transform {call.func}()")
    center = float(values.mean()) if do_center else 0.0
    scale = 1.0
    if do_scale:
        centred = values - center if do_center else values
        scale = math.sqrt(float(np.dot(centred, centred)) / max(1, n - 1))
        if not scale > 0 or not math.isfinite(scale):
            raise DataError(f"{call}: the values of {', '.join(columns_of(call))} are constant "
                            f"in the training data (standard deviation 0), so they cannot be "
                            f"scaled")
    return TransformStats(center, scale)


__all__ = ["BASIS", "BINARY", "BasisState", "CATEGORICAL", "Context", "ELEMENTWISE", "FEW_STRAY", "Factorized", "MOSTLY_NUMBERS", "NUMERIC",
           "TransformStats", "cells_text", "column_kind", "factorize", "level_label", "not_numbers",
           "r_round", "stray_text"]
