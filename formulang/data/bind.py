"""``bind(formula, data)``: evaluate a formula on data into arrays a model can use.

The result, :class:`BoundData`, holds the response (``y``, ``trials``, ``weights``), the fixed
design matrix ``X`` with R's column names, one :class:`GroupData` per group term (level codes
per row, the per-row values of the term's columns, covariance blocks) and the summed
``offset``. Its :attr:`~BoundData.spec` (a :class:`~formulang.data.spec.DataSpec`) records every
encoding learned from the training rows; :meth:`BoundData.apply` encodes new rows with them.

Group terms on one grouping factor are one :class:`GroupData` (as brms names them):
``(1 | g) + (0 + x | g)`` binds as ``(1 + x || g)``, one covariance block per term, each term's
columns coded as written on its own. An effect in two terms on one factor is an error.

>>> import pandas as pd
>>> df = pd.DataFrame({"y": [1.0, 2.0, 4.0, 3.0, 5.0], "x": [1.0, 2.0, 3.0, 5.0, 4.0],
...                    "g": ["a", "b", "a", "b", "c"]})
>>> b = bind("y ~ x + g + (1 + x | g)", df)
>>> b.X_columns
('Intercept', 'x', 'gb', 'gc')
>>> b.X[:2].tolist()
[[1.0, 1.0, 0.0, 0.0], [1.0, 2.0, 1.0, 0.0]]
>>> grp = b.groups[0]
>>> grp.levels, grp.codes.tolist(), grp.columns, grp.blocks
(('a', 'b', 'c'), [0, 1, 0, 1, 2], ('Intercept', 'x'), ((0, 1),))
>>> new = b.apply(pd.DataFrame({"x": [2.5], "g": ["c"]}))
>>> new.y is None, new.X.tolist()
(True, [[1.0, 2.5, 0.0, 1.0]])
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from ..errors import DataError
from ..ir.expr import BinOp, Column, Expr, columns_of
from ..ir.formula import Formula, GroupTerm, Response, smooth_columns
from ..parse import parse
from ..phrasing import option
from .additions import NONE, Additions, bind_additions, unchecked_columns
from .design import dependent_columns, fill_design
from .encoding import design_spec
from .evaluate import (BASIS, CATEGORICAL, NUMERIC, Context, cells_text, not_numbers,
                       stray_text)
from .frame import NA_ACTIONS, Frame, as_frame, handle_missing, require_columns
from .groups import (by_factor, encode_group, factor_design, learn_group, outer_first,
                     spec_group_terms)
from .notices import GroupingWarning, RankDeficiencyWarning, tell
from .response_levels import bind_response, ordinal_design
from .smooths import (SmoothData, apply_smooths, by_codes, by_levels, learn_smooths,
                      smooth_values, with_smooths)
from .spec import DataSpec, GroupSpec, VariableSpec


@dataclass(frozen=True, eq=False)
class GroupData:
    """One group term ``(lhs | factor)`` bound to data.

    - ``codes``: per-row level index, 0..L-1 into :attr:`levels` (-1 for a level new to the
      training data, only from :meth:`BoundData.apply`);
    - ``values``: n x k array, the per-row values of the term's columns (:attr:`columns`);
      the group-specific effect of row i is ``values[i] @ b[codes[i]]``;
    - ``new_levels``/``new_codes``: names of the levels new to training, and per-row indices
      into them (-1 for known levels); ``None`` when there are none.
    """

    spec: GroupSpec
    codes: np.ndarray
    values: np.ndarray
    new_levels: tuple[str, ...] = ()
    new_codes: np.ndarray | None = None

    @property
    def factor(self) -> tuple[str, ...]:
        return self.spec.factor

    @property
    def label(self) -> str:
        """The grouping factor's name, ``"county"`` or ``"batch:cask"``."""
        return self.spec.label

    @property
    def levels(self) -> tuple[str, ...]:
        return self.spec.levels

    @property
    def n_levels(self) -> int:
        return len(self.spec.levels)

    @property
    def columns(self) -> tuple[str, ...]:
        return self.spec.columns

    @property
    def blocks(self) -> tuple[tuple[int, ...], ...]:
        """Covariance blocks as column-index groups into :attr:`columns`."""
        return self.spec.blocks

    @property
    def new(self) -> np.ndarray:
        """Boolean mask of rows whose group level was not seen in training."""
        return self.codes < 0

    def values_frame(self) -> pd.DataFrame:
        return pd.DataFrame(self.values, columns=list(self.columns), copy=False)

    def __repr__(self) -> str:
        return (f"GroupData({self.label!r}, levels={self.n_levels}, columns={self.columns}, "
                f"blocks={self.blocks}, new_levels={len(self.new_levels)})")


@dataclass(frozen=True, eq=False)
class BoundData:
    """A formula evaluated on data; see :func:`bind`.

    Arrays are float64 (codes are integers) and read-only. ``y`` is ``None`` when the formula
    has no response or new data lacks it; ``trials`` and ``weights`` are ``None`` unless the
    response has them; ``additions`` holds the other response additions (censoring,
    truncation, known standard errors, exposure). ``offset`` is zeros when the formula has
    none, and includes ``log(rate)`` for ``rate()``.
    """

    spec: DataSpec
    y: np.ndarray | None
    trials: np.ndarray | None
    weights: np.ndarray | None
    X: np.ndarray
    offset: np.ndarray
    groups: tuple[GroupData, ...]
    kept_rows: np.ndarray | None  # input positions of the rows kept (None: all of them)
    n_input: int
    additions: Additions = NONE  # censoring, truncation, se, rate (data/additions.py)
    # the sub-formulas of family parameters, bound on the same rows: (name, BoundData
    # without a response)
    dpars: tuple[tuple[str, "BoundData"], ...] = ()
    # the smooth terms (s(), gp()): their penalised bases; their unpenalised columns end X
    smooths: tuple[SmoothData, ...] = ()

    @property
    def formula(self) -> Formula:
        return self.spec.formula

    @property
    def n(self) -> int:
        """Rows after missing-value handling."""
        return self.X.shape[0]

    @property
    def rows(self) -> np.ndarray:
        """Input positions (0-based) of the rows bound, in order."""
        return np.arange(self.n_input) if self.kept_rows is None else self.kept_rows

    @property
    def X_columns(self) -> tuple[str, ...]:
        return self.spec.fixed.columns + tuple(c for sm in self.spec.smooths for c in sm.fixed)

    @property
    def X_frame(self) -> pd.DataFrame:
        """``X`` as a DataFrame (no copy) indexed by input row position."""
        return self.to_frame()

    def to_frame(self) -> pd.DataFrame:
        return pd.DataFrame(self.X, columns=list(self.X_columns), index=self.rows, copy=False)

    @property
    def response_name(self) -> str | None:
        """The response as written (``"Reaction"``, ``"cbind(incidence, size - incidence)"``)."""
        r = self.spec.formula.response
        return None if r is None else str(r)

    @property
    def response_columns(self) -> tuple[str, ...]:
        r = self.spec.formula.response
        return () if r is None else r.columns()

    def group(self, label: str) -> GroupData:
        """The group term whose grouping factor is ``label`` (first match)."""
        for g in self.groups:
            if g.label == label:
                return g
        raise KeyError(f"no group term with grouping factor {label!r}; "
                       f"have {[g.label for g in self.groups]}")

    def apply(self, data, *, na_action: str | None = None) -> "BoundData":
        """Encode new rows with the training encodings.

        Same columns, contrasts, levels and transform statistics as training. The response is
        optional: without its value (successes) ``y`` is ``None``, while ``trials`` and
        ``weights`` are still bound when their columns are there. An unseen level of a fixed
        categorical is a :class:`DataError`; an unseen group level gets code -1 and is listed
        in the group's ``new_levels``.
        """
        return apply_spec(self.spec, data, na_action=na_action)

    def __repr__(self) -> str:
        return (f"BoundData(n={self.n}, X={self.X.shape} {self.X_columns}, "
                f"groups={[g.label for g in self.groups]}, "
                f"response={self.response_name!r})")


def bind(formula: Formula | str, data, *, na_action: str = "drop",
         response: str | None = None) -> BoundData:
    """Evaluate ``formula`` (a :class:`Formula` or formula text) on ``data``.

    ``data`` is a pandas DataFrame, a dict of arrays/lists, or anything with ``to_pandas()``.
    Rows with a missing value in a column the formula uses are dropped with a
    :class:`~formulang.data.MissingValuesWarning` (``na_action="drop"``, lme4's ``na.omit``) or
    refused (``na_action="raise"``). ``response``: the family's kind of categorical response
    (``"ordinal"``, ``"binary"``: :mod:`formulang.data.response_levels`). Raises
    :class:`~formulang.DataError` for data that does
    not fit the formula; warns (:class:`~formulang.data.RankDeficiencyWarning`) when fixed-effect
    columns are linear combinations of earlier ones.

    >>> b = bind("y ~ log(x) + (1 | g)", {"y": [1, 2, 3], "x": [1.0, 2.0, 4.0],
    ...                                  "g": [10, 20, 10]})
    >>> b.X_columns, b.groups[0].levels, b.y.tolist()
    (('Intercept', 'log(x)'), ('10', '20'), [1.0, 2.0, 3.0])
    """
    formula = _as_formula(formula)
    frame = as_frame(data)
    require_columns(frame, formula.columns())
    unchecked = unchecked_columns(formula.response)  # missing y2 / se: additions.py judges
    frame = handle_missing(frame, [c for c in formula.columns() if c not in unchecked],
                           na_action)
    _require_rows(frame)
    ctx = Context(frame, learn=True, text=str(formula))

    parts = _Parts.of(formula.response)
    coded, y_levels = bind_response(parts.value, ctx, response)  # a factor response: codes
    y, trials, weights = _response(parts if coded is None else replace(parts, value=None), ctx)
    y = y if coded is None else _frozen(coded)
    additions = bind_additions(formula.response, ctx, y)

    # Every factor of every term (fixed and group, of every formula), once, in order of
    # appearance; sub-formulas bind on the same rows as the response's formula.
    variables: dict[str, VariableSpec] = {}
    values: dict[str, np.ndarray] = {}
    for expr in _factors(formula):
        label = str(expr)
        if ctx.kind(expr) == NUMERIC:
            variables[label] = VariableSpec(label, NUMERIC)
            values[label] = ctx.numeric(expr)
        elif ctx.kind(expr) == BASIS:  # several columns, named by their suffixes
            values[label] = ctx.basis(expr)
            variables[label] = VariableSpec(label, BASIS, ctx.transforms[label].columns)
        else:
            _refuse_stray_text(ctx, expr)
            fz = ctx.learn_levels(expr)
            variables[label] = VariableSpec(label, CATEGORICAL, fz.labels)
            values[label] = fz.codes
    n_levels = {k: len(v.levels) for k, v in variables.items()}

    fixed, X, group_specs, group_data = _learn_predictor(formula, frame, variables, values,
                                                         n_levels, response)
    smooth_specs, smooth_data = learn_smooths(formula, lambda e: smooth_values(ctx, e),
                                              frame.n, lambda name: by_levels(ctx, name))
    X = with_smooths(X, smooth_data)
    offset = _offset(formula, ctx, additions)

    def spec_of(f, fx, gs, subs=(), levels=None, sms=()):
        return DataSpec(f, tuple(variables.values()), tuple(ctx.transforms.items()), fx,
                        tuple(gs), na_action, levels, subs, sms)

    sub_specs, bound_dpars = [], []
    for name, sub in formula.dpars:
        d_fixed, d_X, d_specs, d_data = _learn_predictor(sub, frame, variables, values,
                                                         n_levels)
        d_smooth_specs, d_smooth_data = learn_smooths(  # sigma ~ s(x): as the response's
            sub, lambda e: smooth_values(ctx, e), frame.n, lambda name: by_levels(ctx, name))
        sub_specs.append((name, spec_of(sub, d_fixed, d_specs, sms=d_smooth_specs)))
        bound_dpars.append((name, BoundData(sub_specs[-1][1], None, None, None,
                                            _frozen(with_smooths(d_X, d_smooth_data)),
                                            _offset(sub, ctx), tuple(d_data), frame.rows,
                                            frame.n_input, smooths=d_smooth_data)))
    spec = spec_of(formula, fixed, group_specs, tuple(sub_specs), y_levels, smooth_specs)
    return BoundData(spec, y, trials, weights, _frozen(X), offset, tuple(group_data),
                     frame.rows, frame.n_input, additions, tuple(bound_dpars), smooth_data)


def _learn_predictor(formula: Formula, frame: Frame, variables: dict, values: dict,
                     n_levels: dict, response: str | None = None):
    """The fixed design (spec and X) and the group terms (specs and data) of one formula's
    right-hand side, learned from the training rows (``response``: the family's kind of
    response, whose thresholds may replace the intercept)."""
    fixed = ordinal_design(design_spec(formula.terms, formula.intercept, variables), response,
                           formula)
    X = fill_design(fixed, formula.terms, values, n_levels, frame.n)
    _warn_rank(X, fixed.columns)
    group_specs, group_data = [], []
    for terms in by_factor(formula.groups):
        factor = terms[0].factor
        codes, levels = learn_group(frame, factor)
        if len(levels) < 2:
            tell(GroupingWarning(
                f"grouping factor {':'.join(factor)!r} has a single level "
                f"({levels[0]!r}) in the rows used, so the variation between its groups "
                f"cannot be learned from the data"))
        design, blocks, ids = factor_design(terms, variables)
        gspec = GroupSpec(factor, levels, design, blocks,
                          len(terms) == 1 and terms[0].correlated, ids if any(ids) else ())
        Z = fill_design(design, _lhs_terms(terms), values, n_levels, frame.n)
        group_specs.append(gspec)
        group_data.append(GroupData(gspec, _frozen(codes), _frozen(Z)))
    order = outer_first([g.codes for g in group_data], [g.n_levels for g in group_data])
    return fixed, X, [group_specs[i] for i in order], [group_data[i] for i in order]


def apply_spec(spec: DataSpec, data, *, na_action: str | None = None,
               keep_empty: bool = False) -> BoundData:
    """Encode ``data`` with a training :class:`DataSpec` (``keep_empty``: even no rows left)."""
    formula = spec.formula
    na_action = spec.na_action if na_action is None else na_action
    frame = as_frame(data)
    parts = _prediction_parts(formula.response, frame)
    rate = formula.response.rate if formula.response is not None else None
    needed = _columns(formula, parts) + (columns_of(rate) if rate is not None else ())
    require_columns(frame, needed, grouping=[
        c for s in (spec, *(sub for _, sub in spec.dpars)) for g in s.groups for c in g.factor])
    frame = handle_missing(frame, needed, na_action)
    _require_rows(frame, keep_empty)
    ctx = Context(frame, transforms=spec.transform_stats(), learn=False, text=str(formula))

    coded, _ = bind_response(parts.value, ctx, None, spec.response_levels)
    y, trials, weights = _response(parts if coded is None else replace(parts, value=None), ctx)
    y = y if coded is None else _frozen(coded)
    additions = bind_additions(formula.response, ctx, y, present=lambda e: all(
        c in frame.series for c in columns_of(e)))

    values: dict[str, np.ndarray] = {}
    for expr in _factors(formula):
        v = spec.variable(str(expr))
        if v.kind == NUMERIC:
            values[v.label] = ctx.numeric(expr)
        elif v.kind == BASIS:
            values[v.label] = ctx.basis(expr)
        else:
            values[v.label] = ctx.encode_levels(expr, v.levels)
    n_levels = {v.label: len(v.levels) for v in spec.variables}

    cache: dict = {}
    X, group_data = _apply_predictor(spec, frame, values, n_levels, cache)
    smooth_data = apply_smooths(spec.smooths, lambda e: smooth_values(ctx, e),
                                lambda name, levels: by_codes(ctx, name, levels))
    X = with_smooths(X, smooth_data)
    offset = _offset(formula, ctx, additions)
    dpars = []
    for name, sub_spec in spec.dpars:
        d_X, d_groups = _apply_predictor(sub_spec, frame, values, n_levels, cache)
        d_smooths = apply_smooths(sub_spec.smooths, lambda e: smooth_values(ctx, e),
                                  lambda name, levels: by_codes(ctx, name, levels))
        dpars.append((name, BoundData(sub_spec, None, None, None,
                                      _frozen(with_smooths(d_X, d_smooths)),
                                      _offset(sub_spec.formula, ctx), tuple(d_groups),
                                      frame.rows, frame.n_input, smooths=d_smooths)))
    return BoundData(spec, y, trials, weights, _frozen(X), offset, tuple(group_data),
                     frame.rows, frame.n_input, additions, tuple(dpars), smooth_data)


def _apply_predictor(spec: DataSpec, frame: Frame, values: dict, n_levels: dict, cache: dict):
    """X and the group terms' data of one formula's right-hand side on new rows."""
    X = fill_design(spec.fixed, spec.formula.terms, values, n_levels, frame.n)
    group_data = []
    for terms, gspec in zip(spec_group_terms(spec), spec.groups):
        if gspec.factor not in cache:
            cache[gspec.factor] = encode_group(frame, gspec.factor, gspec.levels)
        enc = cache[gspec.factor]
        Z = fill_design(gspec.design, _lhs_terms(terms), values, n_levels, frame.n)
        group_data.append(GroupData(gspec, _frozen(enc.codes), _frozen(Z), enc.new_levels,
                                    _frozen(enc.new_codes) if enc.new_levels else None))
    return X, group_data


# ---------------------------------------------------------------------------------------------


def _refuse_stray_text(ctx: Context, expr: Expr) -> None:
    """A column of numbers with a few stray text cells (``1.2x``, ``<0.5``, ``?``) is read as
    text, and coding it as a categorical would fit one coefficient per distinct number: refuse,
    naming the cells. ``C(x)`` and ``factor(x)`` say a categorical is meant."""
    if not isinstance(expr, Column):
        return
    s = ctx.frame.get(expr.name)
    bad = stray_text(s)
    if bad is None:
        return
    name = expr.name
    raise DataError(
        f"column {name!r} is mostly numbers, but {len(bad)} of {len(s)} cells are not: "
        f"{cells_text(ctx.frame, s, bad)}; as written, {name} would be a categorical with "
        f"{s.nunique()} levels. Correct those cells or make them missing values, or write "
        f"C({name}) (or factor({name})) to use {name} as a categorical on purpose")


def _lhs_terms(terms: tuple[GroupTerm, ...]) -> list:
    return [term for t in terms for term in t.terms]


def _as_formula(formula) -> Formula:
    if isinstance(formula, Formula):
        return formula
    if isinstance(formula, str):
        return parse(formula)
    raise TypeError(f"bind() takes a Formula or formula text, not {type(formula).__name__}")


@dataclass(frozen=True)
class _Parts:
    """The parts of a response to evaluate (``None``: absent), and its text for messages."""

    text: str = ""
    value: Expr | None = None
    failures: Expr | None = None
    trials: Expr | None = None
    weights: Expr | None = None

    @classmethod
    def of(cls, r: Response | None) -> "_Parts":
        if r is None:
            return cls()
        return cls(str(r), r.value, r.failures, r.trials, r.weights)

    def columns(self) -> list[str]:
        exprs = [self.value, self.failures, self.trials, self.weights]
        return [c for e in exprs if e is not None for c in columns_of(e)]


def _prediction_parts(r: Response | None, frame: Frame) -> _Parts:
    """New data may lack the response. With its value (successes) every part is required; without
    it, ``trials()`` and ``weights()`` are still evaluated when their columns are there."""
    if r is None:
        return _Parts()

    def present(e: Expr | None) -> bool:
        return e is not None and all(c in frame.series for c in columns_of(e))

    if present(r.value):
        return _Parts.of(r)
    trials = trials_expression(r)
    return _Parts(str(r), trials=trials if present(trials) else None,
                  weights=r.weights if present(r.weights) else None)


def trials_expression(r: Response | None) -> Expr | None:
    """The trials of a binomial response as an expression of other columns than the
    successes: ``n`` of ``s | trials(n)``, and ``n`` of ``cbind(s, n - s)`` (successes plus
    failures), so new rows need not carry the successes; ``None`` otherwise.

    >>> str(trials_expression(parse("cbind(incidence, size - incidence) ~ 1").response))
    'size'
    """
    if r is None:
        return None
    if r.trials is not None:
        return r.trials
    f = r.failures
    if isinstance(f, BinOp) and f.op == "-" and f.right == r.value:
        return f.left
    return None


def _columns(formula: Formula, parts: _Parts) -> tuple[str, ...]:
    cols = parts.columns()
    for f in (formula, *(sub for _, sub in formula.dpars)):
        cols += [c for t in f.terms for c in t.columns()]
        cols += [c for g in f.groups for c in g.columns()]
        cols += [c for o in f.offsets for c in columns_of(o)]
        cols += [c for sm in f.smooths for c in smooth_columns(sm)]
    return tuple(dict.fromkeys(cols))


def _factors(formula: Formula) -> list[Expr]:
    """Every factor of every term of ``formula`` and its sub-formulas, once, in order."""
    seen: dict[Expr, None] = {}
    for f in (formula, *(sub for _, sub in formula.dpars)):
        for t in f.terms:
            for factor in t.factors:
                seen.setdefault(factor, None)
        for g in f.groups:
            for t in g.terms:
                for factor in t.factors:
                    seen.setdefault(factor, None)
    return list(seen)


def _require_rows(frame: Frame, keep_empty: bool = False) -> None:
    if frame.n == 0 and frame.n_input == 0:
        raise DataError("the data has no rows")
    if frame.n == 0 and not keep_empty:
        raise DataError(f"no rows left: all {frame.n_input} rows have a missing value in a "
                        f"column the formula uses")


def _frozen(a: np.ndarray) -> np.ndarray:
    """``a`` as a read-only array that owns its memory (never a view of the input)."""
    if a.base is not None or not a.flags.owndata:
        a = a.copy()
    a.flags.writeable = False
    return a


def _rows_text(ctx: Context, bad: np.ndarray, limit: int = 5) -> str:
    shown = ", ".join(str(ctx.frame.position(int(i))) for i in bad[:limit])
    more = ", ..." if len(bad) > limit else ""
    return f"row position{'s' if len(bad) > 1 else ''} {shown}{more} ({len(bad)} in all)"


def _response(parts: _Parts, ctx: Context):
    what = parts.text
    y = trials = weights = None
    if parts.value is not None:
        y = _response_value(parts.value, ctx, what)
        if parts.failures is not None or parts.trials is not None:
            _check_counts(ctx, y, f"successes ({parts.value})", what)
        if parts.failures is not None:
            failures = _response_value(parts.failures, ctx, what)
            _check_counts(ctx, failures, f"failures ({parts.failures})", what)
            trials = y + failures
    if parts.trials is not None:
        trials = _response_value(parts.trials, ctx, what)
        _check_counts(ctx, trials, f"trials ({parts.trials})", what)
        if y is not None:
            over = np.flatnonzero(y > trials)
            if len(over):
                i = int(over[0])
                raise DataError(f"{what}: successes ({parts.value}) exceed trials "
                                f"({parts.trials}) at {_rows_text(ctx, over)}, e.g. "
                                f"{y[i]:g} > {trials[i]:g}")
    if parts.weights is not None:
        weights = _response_value(parts.weights, ctx, what)
        negative = np.flatnonzero(weights < 0)
        if len(negative):
            raise DataError(f"{what}: weights ({parts.weights}) are negative at "
                            f"{_rows_text(ctx, negative)}")
    return tuple(None if a is None else _frozen(a) for a in (y, trials, weights))


def _response_value(expr: Expr, ctx: Context, what: str) -> np.ndarray:
    if ctx.kind(expr) != NUMERIC and not _is_bool_column(expr, ctx):
        name = ", ".join(columns_of(expr))
        cells = ""
        if isinstance(expr, Column) and not isinstance(ctx.frame.get(name).dtype,
                                                       pd.CategoricalDtype):
            s = ctx.frame.get(name)
            bad = not_numbers(s)
            if 0 < len(bad) < s.notna().sum():  # a few stray cells: named, as for a predictor
                cells = f" ({len(bad)} of {len(s)} cells are not numbers: " \
                        f"{cells_text(ctx.frame, s, bad)})"
        k = len(pd.unique(ctx.frame.get(name).dropna())) if isinstance(expr, Column) else 0
        hint = "" if cells or not 2 <= k <= 20 else (  # a factor: a family for categories
            f"; for its {k} categories use {option('family', 'bernoulli')}" if k == 2 else
            f"; for its {k} categories use {option('family', 'cumulative')} (ordered) or "
            f"{option('family', 'categorical')}")
        raise DataError(f"the response {what} must be numeric, but {name} is "
                        f"categorical{cells}{hint}")
    return ctx.numeric(expr)


def _is_bool_column(expr: Expr, ctx: Context) -> bool:
    return isinstance(expr, Column) and pd.api.types.is_bool_dtype(ctx.frame.get(expr.name).dtype)


def _check_counts(ctx: Context, values: np.ndarray, part: str, what: str) -> None:
    negative = np.flatnonzero(values < 0)
    if len(negative):
        i = int(negative[0])
        raise DataError(f"{what}: {part} are negative at {_rows_text(ctx, negative)}, "
                        f"e.g. {values[i]:g}")
    fractional = np.flatnonzero(values != np.round(values))
    if len(fractional):
        i = int(fractional[0])
        raise DataError(f"{what}: {part} must be whole numbers, but are not at "
                        f"{_rows_text(ctx, fractional)}, e.g. {values[i]:g}")


def _offset(formula: Formula, ctx: Context, additions: Additions = NONE) -> np.ndarray:
    total = np.zeros(ctx.n, dtype=np.float64)
    for expr in formula.offsets:
        total += ctx.numeric(expr)
    if additions.rate is not None:  # brms's rate(n): the mean scales with the exposure
        total += np.log(additions.rate)
    return _frozen(total)


def _warn_rank(X: np.ndarray, columns: tuple[str, ...]) -> None:
    dependent = dependent_columns(X)
    if not dependent:
        return
    names = ", ".join(columns[j] for j in dependent[:20])
    more = f" and {len(dependent) - 20} more" if len(dependent) > 20 else ""
    verb = "is a linear combination" if len(dependent) == 1 else "are linear combinations"
    tell(RankDeficiencyWarning(
        f"the fixed-effect design is rank deficient (rank {X.shape[1] - len(dependent)} of "
        f"{X.shape[1]} columns): {names}{more} {verb} of earlier columns, "
        f"so {'its coefficient is' if len(dependent) == 1 else 'their coefficients are'} "
        f"identified only by the prior"))


__all__ = ["BoundData", "GroupData", "NA_ACTIONS", "apply_spec", "bind", "spec_group_terms",
           "trials_expression"]
