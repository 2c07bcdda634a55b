"""Small dense linear algebra shared by the pilot fit and the mass matrix: stacks of small
symmetric matrices (one per group level), inverted, factored and projected without stopping on
a singular one.

>>> A = np.array([[[4.0, 2.0], [2.0, 3.0]]])
>>> np.allclose(inv(A) @ A, np.eye(2)), np.allclose(chol(A[0]) @ chol(A[0]).T, A[0])
(True, True)
>>> psd(np.array([[[1.0, 2.0], [2.0, 1.0]]])).round(3).tolist()  # eigenvalue -1 dropped
[[[1.5, 1.5], [1.5, 1.5]]]
"""

from __future__ import annotations

import numpy as np


def inv(A: np.ndarray) -> np.ndarray:
    """Inverse of a stack of small symmetric matrices (closed form for 1 x 1 and 2 x 2).

    A singular matrix (a covariance estimate with a zero-variance direction, as the blocks of
    an ``||`` term with a categorical can give) gets its pseudo-inverse: that direction then
    carries no prior precision instead of stopping the pilot.
    """
    k = A.shape[-1]
    if k == 2:
        a, b, d = A[..., 0, 0], A[..., 0, 1], A[..., 1, 1]
        det = a * d - b * b
        if np.all(np.abs(det) > 1e-300):
            out = np.empty_like(A)
            out[..., 0, 0], out[..., 1, 1] = d / det, a / det
            out[..., 0, 1] = out[..., 1, 0] = -b / det
            return out
    elif k == 1 and np.all(A != 0):
        return 1.0 / A
    try:
        return np.linalg.inv(A) if k > 2 else np.linalg.pinv(A, hermitian=True)
    except np.linalg.LinAlgError:
        return np.linalg.pinv(A, hermitian=True)


def chol(cov: np.ndarray) -> np.ndarray:
    """A factor ``L`` with ``L L^T = cov``: the Cholesky factor, or for a singular ``cov`` a
    symmetric square root's columns (eigenvectors scaled by root eigenvalues)."""
    try:
        return np.linalg.cholesky(cov)
    except np.linalg.LinAlgError:
        vals, vecs = np.linalg.eigh(cov)
        return vecs * np.sqrt(np.maximum(vals, 1e-300))


def psd(A: np.ndarray) -> np.ndarray:
    """A stack of symmetric matrices ``(L, k, k)`` with negative eigenvalues set to 0 (a
    difference of information matrices that rounding took below zero)."""
    if A.shape[1] == 1:
        return np.maximum(A, 0.0)
    vals, vecs = np.linalg.eigh(A)
    if np.all(vals >= 0):
        return A
    return np.einsum("jab,jb,jcb->jac", vecs, np.maximum(vals, 0.0), vecs)


__all__ = ["chol", "inv", "psd"]
