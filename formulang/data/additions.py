"""The response additions beyond trials and weights, bound to data: censoring, truncation,
known standard errors and exposure (brms's ``cens``, ``trunc``, ``se``, ``rate``).

:func:`bind_additions` evaluates them on the rows kept and checks them, naming the rows and
columns at fault:

- censoring codes: ``"left"``, ``"none"``, ``"right"``, ``"interval"`` (any case), brms's
  numbers ``-1, 0, 1, 2``, or booleans (``True``: right censored, as brms); anything else is
  refused. Interval rows need ``y2`` above ``y``; other rows ignore ``y2``, which may be
  missing there.
- truncation: every value must lie within its row's bounds ``[lb, ub]``.
- standard errors: positive and present (a missing one is an error, not a dropped row).
- exposure: positive; it enters the model as a ``log(rate)`` offset.

>>> import pandas as pd
>>> from formulang import parse
>>> from formulang.data.evaluate import Context
>>> from formulang.data.frame import as_frame
>>> f = parse("y | cens(c, hi) ~ 1")
>>> df = pd.DataFrame({"y": [1.0, 2.0, 3.0], "c": ["none", "interval", "right"],
...                    "hi": [None, 2.5, None]})
>>> a = bind_additions(f.response, Context(as_frame(df)), df["y"].to_numpy())
>>> a.cens.tolist(), a.counts()
([0, 2, 1], {'left': 0, 'right': 1, 'interval': 1})
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np
import pandas as pd

from ..errors import DataError
from ..ir.expr import Column, Expr, columns_of
from .evaluate import CATEGORICAL, Context

CENSORING = {"left": -1, "none": 0, "right": 1, "interval": 2}
"""Censoring codes by name, as brms numbers them."""
# text a censoring column may hold: the names, brms's numbers, booleans (True: right censored)
_TEXT = {**CENSORING, "-1": -1, "0": 0, "1": 1, "2": 2, "true": 1, "false": 0}


@dataclass(frozen=True, eq=False)
class Additions:
    """Per-row arrays of the additions a response has (``None``: it has not, or new data lack
    its columns). ``cens``: int8 codes (:data:`CENSORING`); ``y2``: the upper end of interval
    rows (``NaN`` elsewhere); ``lb``, ``ub``: truncation bounds (``-inf``/``inf`` where there is
    none); ``se``: known standard errors; ``rate``: exposures."""

    cens: np.ndarray | None = None
    y2: np.ndarray | None = None
    lb: np.ndarray | None = None
    ub: np.ndarray | None = None
    se: np.ndarray | None = None
    rate: np.ndarray | None = None

    @property
    def truncated(self) -> bool:
        return self.lb is not None or self.ub is not None

    def counts(self) -> dict[str, int]:
        """Rows censored on the left, on the right, and in an interval."""
        c = np.zeros(0) if self.cens is None else self.cens
        return {name: int(np.sum(c == code)) for name, code in CENSORING.items()
                if name != "none"}

    def subset(self, rows: np.ndarray) -> "Additions":
        return Additions(**{f.name: None if getattr(self, f.name) is None
                            else getattr(self, f.name)[rows] for f in fields(self)})


NONE = Additions()


def unchecked_columns(response) -> tuple[str, ...]:
    """Columns whose missing values are this module's to judge, not the missing-value rule's:
    ``y2`` (missing outside interval rows is fine) and ``se`` (missing is an error)."""
    if response is None:
        return ()
    own = [c for e in (response.y2, response.se) if e is not None for c in columns_of(e)]
    others = [c for e in (response.value, response.failures, response.trials, response.weights,
                          response.cens, response.lb, response.ub, response.rate)
              if e is not None for c in columns_of(e)]
    return tuple(c for c in dict.fromkeys(own) if c not in others)


def bind_additions(response, ctx: Context, y: np.ndarray | None,
                   present=lambda e: True) -> Additions:
    """Evaluate and check the response's additions on ``ctx``'s rows (``y``: the response
    values, ``None`` for new data without it). ``present(expr)`` says whether new data have an
    addition's columns; those without are left out (``None``)."""
    if response is None:
        return NONE
    what = str(response)
    out: dict[str, np.ndarray] = {}
    if response.cens is not None and present(response.cens):
        out["cens"] = _codes(response.cens, ctx, what)
        if response.y2 is not None and present(response.y2):
            out["y2"] = _upper(response, ctx, y, out["cens"], what)
        elif (out["cens"] == 2).any() and y is not None:
            raise DataError(f"{what}: interval-censored rows need the upper end of the "
                            f"interval: write cens({response.cens}, y2) (at "
                            f"{_rows(ctx, np.flatnonzero(out['cens'] == 2))})")
    if (response.lb is not None or response.ub is not None) and all(
            present(e) for e in (response.lb, response.ub) if e is not None):
        out["lb"], out["ub"] = _bounds(response, ctx, y, out.get("cens"), out.get("y2"), what)
    if response.se is not None and present(response.se):
        out["se"] = _positive(response.se, ctx, what, "standard errors", missing_ok=False)
    if response.rate is not None and present(response.rate):
        out["rate"] = _positive(response.rate, ctx, what, "exposures (rate)")
    for a in out.values():
        a.flags.writeable = False
    return Additions(**out)


def _rows(ctx: Context, bad: np.ndarray, limit: int = 5) -> str:
    shown = ", ".join(str(ctx.frame.position(int(i))) for i in bad[:limit])
    more = ", ..." if len(bad) > limit else ""
    return f"row position{'s' if len(bad) > 1 else ''} {shown}{more} ({len(bad)} in all)"


def _codes(expr: Expr, ctx: Context, what: str) -> np.ndarray:
    """Censoring codes from names, brms's numbers or booleans."""
    name = ", ".join(columns_of(expr)) or str(expr)
    if isinstance(expr, Column) and ctx.kind(expr) == CATEGORICAL:
        raw = ctx.frame.get(expr.name)
        text = pd.Series(raw).astype(str).str.strip().str.lower().to_numpy()
        codes = np.array([_TEXT.get(t, 9) for t in text], dtype=np.int8)
        bad = np.flatnonzero(codes == 9)
        shown = text[bad[0]] if len(bad) else ""
    else:
        values = ctx.numeric(expr)
        codes = np.where(np.isin(values, (-1, 0, 1, 2)), values, 9).astype(np.int8)
        bad = np.flatnonzero(codes == 9)
        shown = f"{values[bad[0]]:g}" if len(bad) else ""
    if len(bad):
        raise DataError(f"{what}: the censoring column {name} has {shown!r} at "
                        f"{_rows(ctx, bad)}; censoring codes are 'left', 'none', 'right', "
                        f"'interval' or brms's -1, 0, 1, 2 (or TRUE for right censored)")
    return codes


def _upper(response, ctx: Context, y, cens: np.ndarray, what: str) -> np.ndarray:
    """``y2``: required and above ``y`` in interval rows, ignored (NaN) elsewhere."""
    expr = response.y2
    if isinstance(expr, Column):
        s = ctx.frame.get(expr.name)
        if not pd.api.types.is_numeric_dtype(s.dtype) or pd.api.types.is_bool_dtype(s.dtype):
            raise DataError(f"{what}: the interval's upper end {expr.name} must be numeric")
        y2 = s.to_numpy(dtype=np.float64, na_value=np.nan).copy()
    else:
        y2 = np.array(ctx.numeric(expr), dtype=np.float64)
    interval = cens == 2
    missing = np.flatnonzero(interval & ~np.isfinite(y2))
    if len(missing):
        raise DataError(f"{what}: interval-censored rows need a finite upper end "
                        f"({expr}), missing at {_rows(ctx, missing)}")
    if y is not None:
        below = np.flatnonzero(interval & (y2 <= y))
        if len(below):
            i = int(below[0])
            raise DataError(f"{what}: the upper end of an interval ({expr}) must be above "
                            f"its lower end ({response.value}), but y2 <= y at "
                            f"{_rows(ctx, below)}, e.g. {y2[i]:g} <= {y[i]:g}")
    y2[~interval] = np.nan
    return y2


def _bounds(response, ctx: Context, y, cens, y2, what: str):
    n = ctx.n
    lb = np.full(n, -np.inf) if response.lb is None else np.array(ctx.numeric(response.lb))
    ub = np.full(n, np.inf) if response.ub is None else np.array(ctx.numeric(response.ub))
    empty = np.flatnonzero(lb >= ub)
    if len(empty):
        i = int(empty[0])
        raise DataError(f"{what}: the lower truncation bound must be below the upper one, "
                        f"but lb >= ub at {_rows(ctx, empty)}, e.g. {lb[i]:g} >= {ub[i]:g}")
    if y is not None:
        outside = (y < lb) | (y > ub)
        if y2 is not None:
            outside |= np.isfinite(y2) & (y2 > ub)
        bad = np.flatnonzero(outside)
        if len(bad):
            i = int(bad[0])
            bounds = " and ".join(f"{k} = {v}" for k, v in
                                  (("lb", response.lb), ("ub", response.ub)) if v is not None)
            raise DataError(f"{what}: the response must lie within the truncation bounds "
                            f"({bounds}), but {response.value} = {y[i]:g} at row position "
                            f"{ctx.frame.position(i)} is outside ({len(bad)} row(s) in all: "
                            f"{_rows(ctx, bad)})")
    return lb, ub


def _positive(expr: Expr, ctx: Context, what: str, noun: str,
              missing_ok: bool = True) -> np.ndarray:
    if isinstance(expr, Column) and not missing_ok:
        s = ctx.frame.get(expr.name)
        if pd.api.types.is_numeric_dtype(s.dtype):
            raw = s.to_numpy(dtype=np.float64, na_value=np.nan)
            missing = np.flatnonzero(np.isnan(raw))
            if len(missing):
                raise DataError(f"{what}: {noun} ({expr}) are missing at "
                                f"{_rows(ctx, missing)}; every row needs one")
    values = np.array(ctx.numeric(expr), dtype=np.float64)
    bad = np.flatnonzero(~(values > 0))
    if len(bad):
        i = int(bad[0])
        raise DataError(f"{what}: {noun} ({expr}) must be positive, but are not at "
                        f"{_rows(ctx, bad)}, e.g. {values[i]:g}")
    return values


__all__ = ["Additions", "CENSORING", "NONE", "bind_additions", "unchecked_columns"]
