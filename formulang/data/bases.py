"""Bases: functions of one value that make several columns, learned from the training data.

``poly(x, degree)`` is R's ``stats::poly``: orthogonal polynomials by the three-term recurrence,
whose coefficients (``alpha``, ``norm2``) come from the training values and are reused on new
data, as R's ``predict.poly``; ``raw = TRUE`` gives ``x, x^2, ...``. ``bs()`` and ``ns()`` are
R's ``splines::bs`` and ``splines::ns``: the interior knots are quantiles of the training values
(R's ``quantile``, type 7), the boundary knots their range (or ``Boundary.knots``); new data
reuse both. Beyond the
boundary knots ``bs`` continues each polynomial piece (R's Taylor expansion about a point a
quarter of the way into the end interval) with a :class:`BasisWarning`, and ``ns`` is linear,
as R's ``predict.bs`` and ``predict.ns``. ``ns``'s natural-spline constraint (zero second
derivative at the boundary knots) is R's: the basis is projected on the orthogonal complement
of the constraint's columns, through the Householder QR of the constraint matrix.

The state of a basis is a :class:`BasisState` of plain values; :func:`learn_basis` makes it
from a call and the training values, :func:`evaluate_basis` evaluates it on any values.

>>> import numpy as np
>>> from formulang import parse
>>> call = parse("~ poly(x, 2)").terms[0].factors[0]
>>> state = learn_basis(call, np.array([1.0, 2.0, 3.0, 4.0]))
>>> state.columns
('1', '2')
>>> np.round(evaluate_basis(state, np.array([1.0, 2.5])), 4).tolist()
[[-0.6708, 0.5], [0.0, -0.625]]
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import DataError, FormulaError
from ..ir.expr import Call, columns_of
from .notices import tell

POLY, BS, NS = "poly", "bs", "ns"
BASIS_FUNCTIONS = (POLY, BS, NS)
_PIVOT = 0.25  # R's bs(): the Taylor expansion point, this far into the end interval


class BasisWarning(UserWarning):
    """Values beyond a spline's boundary knots (the training range) were extrapolated."""


class BasisError(DataError):
    """A call that the training data cannot support: a basis, a level that dummy() or
    C(levels =) names (see :func:`locate`)."""


class LocatedBasisError(FormulaError, DataError):
    """A :class:`BasisError` with a caret under the call in the formula (both a
    :class:`~formulang.FormulaError` and a :class:`~formulang.DataError`)."""


@dataclass(frozen=True)
class BasisState:
    """What a basis learned from the training values.

    ``kind`` is ``"poly"``, ``"bs"`` or ``"ns"``; ``alpha``/``norm2`` are R's ``poly``
    coefficients (empty when ``raw``); ``knots`` the interior knots and ``boundary`` the
    boundary knots of a spline.
    """

    kind: str
    degree: int
    raw: bool = False
    alpha: tuple[float, ...] = ()
    norm2: tuple[float, ...] = ()
    knots: tuple[float, ...] = ()
    boundary: tuple[float, ...] = ()
    intercept: bool = False

    @property
    def width(self) -> int:
        if self.kind == POLY:
            return self.degree
        if self.kind == BS:
            return len(self.knots) + self.degree + int(self.intercept)
        return len(self.knots) + 1 + int(self.intercept)

    @property
    def columns(self) -> tuple[str, ...]:
        """The suffixes of the columns' names, as R's (``poly(x, 2)1``, ``poly(x, 2)2``)."""
        return tuple(str(i + 1) for i in range(self.width))

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"kind": self.kind, "degree": self.degree}
        for key in ("alpha", "norm2", "knots", "boundary"):
            if getattr(self, key):
                d[key] = list(getattr(self, key))
        if self.raw:
            d["raw"] = True
        if self.intercept:
            d["intercept"] = True
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> BasisState:
        floats = {k: tuple(float(v) for v in d.get(k, ())) for k in
                  ("alpha", "norm2", "knots", "boundary")}
        return cls(str(d["kind"]), int(d["degree"]), bool(d.get("raw", False)),
                   intercept=bool(d.get("intercept", False)), **floats)


# ---------------------------------------------------------------------------------------------
# Learning


def learn_basis(call: Call, x: np.ndarray) -> BasisState:
    """The state of ``call`` (``poly``, ``bs`` or ``ns``) from the training values ``x``
    (finite). Raises :class:`BasisError` when the data cannot support it."""
    kw = dict(call.kwargs)
    if call.func == POLY:
        return _learn_poly(call, x, int(kw.get("degree", 1)), bool(kw.get("raw", False)))
    intercept = bool(kw.get("intercept", False))
    degree = int(kw.get("degree", 3)) if call.func == BS else 3
    if "Boundary.knots" in kw:  # R: the knots' quantiles from the values inside them
        lo, hi = sorted(float(b) for b in kw["Boundary.knots"])
        x = x[(x >= lo) & (x <= hi)]
        if len(x) == 0:
            raise BasisError(f"{call}: no value of {_inputs(call)} in the training data lies "
                             f"within Boundary.knots ({lo:g} to {hi:g})")
    else:
        lo, hi = float(np.min(x)), float(np.max(x))
        if not hi > lo:
            raise BasisError(f"{call}: the values of {_inputs(call)} are constant in the "
                             f"training data ({lo:g}), so a spline has no range to span")
    if "knots" in kw:
        knots = tuple(float(k) for k in kw["knots"])
        outside = [k for k in knots if not lo < k < hi]
        if outside:
            raise BasisError(f"{call}: knot {outside[0]:g} is outside the range of "
                             f"{_inputs(call)} in the training data ({lo:g} to {hi:g}); "
                             f"interior knots must lie strictly inside it")
    else:
        df = int(kw["df"]) if "df" in kw else None
        base = (degree + 1 - (1 - intercept)) if call.func == BS else 1 + intercept
        n_inner = 0 if df is None else df - base
        probs = np.linspace(0.0, 1.0, n_inner + 2)[1:-1]
        knots = tuple(float(q) for q in np.quantile(x, probs)) if n_inner > 0 else ()
    return BasisState(call.func, degree, knots=knots, boundary=(lo, hi), intercept=intercept)


def _learn_poly(call: Call, x: np.ndarray, degree: int, raw: bool) -> BasisState:
    if raw:
        return BasisState(POLY, degree, raw=True)
    unique = len(np.unique(x))
    if degree >= unique:
        raise BasisError(f"{call}: degree {degree} must be less than the number of unique "
                         f"values of {_inputs(call)} in the training data ({unique}); R: "
                         f"'degree' must be less than number of unique points")
    # R's poly(): the columns of outer(x - mean, 0:degree, "^") made orthogonal (the QR's
    # Q times the diagonal of R is each power less its projection on the lower ones)
    xbar = float(np.mean(x))
    xc = x - xbar
    powers = np.vander(xc, degree + 1, increasing=True)
    q, r = np.linalg.qr(powers)
    z = q * np.diag(r)
    norm2 = np.sum(z * z, axis=0)
    alpha = (np.sum(xc[:, None] * z * z, axis=0) / norm2 + xbar)[:degree]
    return BasisState(POLY, degree, alpha=tuple(float(a) for a in alpha),
                      norm2=(1.0,) + tuple(float(v) for v in norm2))


# ---------------------------------------------------------------------------------------------
# Evaluating


def evaluate_basis(state: BasisState, x: np.ndarray, label: str = "") -> np.ndarray:
    """The n x width basis of ``state`` at the values ``x``."""
    x = np.asarray(x, dtype=np.float64)
    if state.kind == POLY:
        return _poly(state, x)
    lo, hi = state.boundary
    left, right = x < lo, x > hi
    if state.kind == BS and (left.any() or right.any()):
        tell(BasisWarning(
            f"{label or 'bs()'}: {int(left.sum() + right.sum())} value(s) are beyond the "
            f"boundary knots ({lo:g} to {hi:g}; without Boundary.knots, the training range): "
            f"the spline's end pieces are extrapolated, as R's bs() does"))
    return _spline(state, x, left, right)


def _poly(state: BasisState, x: np.ndarray) -> np.ndarray:
    if state.raw:
        return x[:, None] ** np.arange(1, state.degree + 1)
    alpha, norm2 = state.alpha, state.norm2
    z = np.empty((len(x), state.degree + 1))
    z[:, 0] = 1.0
    z[:, 1] = x - alpha[0]
    for i in range(1, state.degree):  # R's predict.poly: the three-term recurrence
        z[:, i + 1] = (x - alpha[i]) * z[:, i] - (norm2[i + 1] / norm2[i]) * z[:, i - 1]
    return z[:, 1:] / np.sqrt(np.asarray(norm2[2:]))


def _spline(state: BasisState, x: np.ndarray, left: np.ndarray,
            right: np.ndarray) -> np.ndarray:
    from scipy.interpolate import BSpline  # only a spline needs scipy: importing stays light

    ns = state.kind == NS
    degree = 3 if ns else state.degree
    order = degree + 1
    lo, hi = state.boundary
    t = np.sort(np.concatenate([np.full(order, lo), state.knots, np.full(order, hi)]))
    n_basis = len(t) - order
    design = BSpline(t, np.eye(n_basis), degree, extrapolate=True)
    basis = np.zeros((len(x), n_basis))
    inside = ~(left | right)
    basis[inside] = design(x[inside])
    for side, pivot in ((left, lo), (right, hi)):
        if not side.any():
            continue
        if ns:  # linear beyond the boundary: value and slope at the boundary knot
            derivs = _derivatives(design, pivot, 1)
        else:  # R: the Taylor expansion of the end piece about a point inside it
            inner = t[order] if side is left else t[len(t) - order - 1]
            pivot = (1 - _PIVOT) * pivot + _PIVOT * inner
            derivs = _derivatives(design, pivot, degree)
            derivs /= np.array([math.factorial(k) for k in range(degree + 1)])[:, None]
        steps = (x[side] - pivot)[:, None] ** np.arange(derivs.shape[0])
        basis[side] = steps @ derivs
    if not state.intercept:
        basis = basis[:, 1:]
    if ns:
        basis = basis @ _natural_complement(design, state)
    return basis


def _derivatives(design, at: float, most: int) -> np.ndarray:
    """(most + 1) x n_basis: the basis's derivatives 0..most at one point."""
    rows = [design(np.array([at]))[0]]
    rows += [design.derivative(k)(np.array([at]))[0] for k in range(1, most + 1)]
    return np.array(rows)


def _natural_complement(design, state: BasisState) -> np.ndarray:
    """R's ns(): the basis times the columns of Q (the full Householder Q of the QR of the
    constraint, the second derivatives at the boundary knots) after the first two."""
    second = design.derivative(2)(np.asarray(state.boundary))  # 2 x n_basis
    if not state.intercept:
        second = second[:, 1:]
    q, _ = np.linalg.qr(second.T, mode="complete")
    return q[:, 2:]


# ---------------------------------------------------------------------------------------------
# Messages


def _inputs(call: Call) -> str:
    return ", ".join(columns_of(call)) or str(call.args[0])


def locate(error: DataError, formula_text: str, label: str) -> DataError:
    """``error`` with a caret under the call ``label`` in ``formula_text`` (as printed: a
    factor's label is its text there); unchanged when the text is not found."""
    start = formula_text.find(label) if formula_text else -1
    if start < 0:
        return error
    return LocatedBasisError(str(error), formula_text, start, start + len(label))


__all__ = ["BASIS_FUNCTIONS", "BasisError", "BasisState", "BasisWarning", "LocatedBasisError",
           "evaluate_basis", "learn_basis", "locate"]
