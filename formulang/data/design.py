"""Filling a design matrix from evaluated factors, and checking its rank.

The matrix is allocated once (n x p, float64, zeros) and each term writes its own columns: a
numeric term is the product of its factors; a term with categoricals writes one value per row
(the product of its numeric factors) into the single column that row's levels select, so a
categorical with k levels costs O(n), not O(n k).

>>> import numpy as np
>>> from formulang import parse
>>> from formulang.data.spec import VariableSpec
>>> from formulang.data.encoding import design_spec
>>> f = parse("~ x + g")
>>> variables = {"x": VariableSpec("x", "numeric"),
...              "g": VariableSpec("g", "categorical", ("a", "b", "c"))}
>>> spec = design_spec(f.terms, f.intercept, variables)
>>> fill_design(spec, f.terms, {"x": np.array([1., 2., 3.]), "g": np.array([0, 2, 1])},
...             {"g": 3}, 3)
array([[1., 1., 0., 0.],
       [1., 2., 0., 1.],
       [1., 3., 1., 0.]])
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from ..ir.formula import Term
from .spec import BASIS, CONTRASTS, NUMERIC, DesignSpec

RANK_TOLERANCE = 1e-7  # R's lm() tolerance for a column that adds nothing (dqrdc2)


def fill_design(design: DesignSpec, terms: Sequence[Term], values: Mapping[str, np.ndarray],
                n_levels: Mapping[str, int], n: int) -> np.ndarray:
    """The n x p design matrix of ``design``.

    ``values`` maps each factor label to its per-row float values (numeric factors), its n x k
    columns (a basis) or integer level codes (categoricals: codes into the spec's levels, whose
    count ``n_levels`` gives).
    """
    p = len(design.columns)
    X = np.zeros((n, p), dtype=np.float64)
    col = 0
    if design.intercept:
        X[:, 0] = 1.0
        col = 1
    for term, tspec in zip(terms, design.terms):
        width = len(tspec.columns)
        _fill_term(X, col, term, tspec.codings, values, n_levels, n)
        col += width
    return X


def _fill_term(X: np.ndarray, col: int, term: Term, codings: Sequence[str],
               values: Mapping[str, np.ndarray], n_levels: Mapping[str, int], n: int) -> None:
    if BASIS in codings:
        block = _dense_term(term, codings, values, n_levels, n)
        X[:, col:col + block.shape[1]] = block
        return
    numeric = None
    index = None      # per-row column offset within the term
    valid = None      # rows whose levels select a column (not a contrast reference level)
    stride = 1
    for f, coding in zip(term.factors, codings):
        v = values[str(f)]
        if coding == NUMERIC:
            numeric = v if numeric is None else numeric * v
            continue
        k = n_levels[str(f)]
        if coding == CONTRASTS:
            offset = v - 1
            ok = v > 0
            valid = ok if valid is None else (valid & ok)
            ncols = k - 1
        else:
            offset = v
            ncols = k
        index = offset * stride if index is None else index + offset * stride
        stride *= ncols
    if index is None:  # a purely numeric term: one column
        X[:, col] = numeric
        return
    if valid is not None:
        rows = np.flatnonzero(valid)
        X[rows, col + index[rows]] = 1.0 if numeric is None else numeric[rows]
    else:
        X[np.arange(n), col + index] = 1.0 if numeric is None else numeric


def _dense_term(term: Term, codings: Sequence[str], values: Mapping[str, np.ndarray],
                n_levels: Mapping[str, int], n: int) -> np.ndarray:
    """A term with a basis among its factors: the row-wise products of its factors' columns
    (a basis's k columns, a number's one, a categorical's indicators), the first factor
    varying fastest, as R's model.matrix orders them (``bs(t, df = 3)1:fa``, ...)."""
    block = np.ones((n, 1))
    for f, coding in zip(term.factors, codings):
        v = values[str(f)]
        if coding == BASIS:
            cols = v
        elif coding == NUMERIC:
            cols = v[:, None]
        else:
            k = n_levels[str(f)]
            cols = np.zeros((n, k))
            cols[np.arange(n), v] = 1.0
            if coding == CONTRASTS:
                cols = cols[:, 1:]
        # new column index = (this factor's column) * width so far + (earlier columns')
        block = (cols[:, :, None] * block[:, None, :]).reshape(n, -1)
    return block


def dependent_columns(X: np.ndarray, tol: float = RANK_TOLERANCE) -> list[int]:
    """Indices of columns that are (numerically) linear combinations of earlier columns.

    As R's ``dqrdc2`` judges them: a column is dependent when its norm after projecting out the
    earlier independent columns is below ``tol`` times its own norm (an all-zero column is
    dependent). The n x p matrix is reduced to its p x p triangular factor by a blocked QR
    (memory O(block * p)); the sequential test then runs on that small factor.
    """
    n, p = X.shape
    if p == 0:
        return []
    R = _r_factor(X)
    dependent: list[int] = []
    basis = np.zeros((R.shape[0], 0))
    for j in range(p):
        v = R[:, j].astype(np.float64, copy=True)
        norm = float(np.linalg.norm(v))
        if norm == 0.0:
            dependent.append(j)
            continue
        for _ in range(2):  # Gram-Schmidt twice is enough
            v -= basis @ (basis.T @ v)
        rest = float(np.linalg.norm(v))
        if rest <= tol * norm:
            dependent.append(j)
        else:
            basis = np.column_stack([basis, v / rest])
    return dependent


def _r_factor(X: np.ndarray, block: int = 1 << 16) -> np.ndarray:
    """The triangular factor R of X = QR (rows in blocks: R of [R_prev; block])."""
    n, p = X.shape
    block = max(block, 2 * p)
    R = None
    for start in range(0, n, block):
        chunk = X[start:start + block]
        stacked = chunk if R is None else np.vstack([R, chunk])
        R = np.linalg.qr(stacked, mode="r")
    return R if R is not None else np.zeros((0, p))


__all__ = ["RANK_TOLERANCE", "dependent_columns", "fill_design"]
