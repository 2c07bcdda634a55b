"""Sparse matrix products inside a model's gradient, arranged for XLA's CPU code.

A sparse matrix is ``(rows, cols, vals)`` triples (:func:`triples`). ``y = A x`` is a gather
of ``x`` at ``cols`` and a scatter-add into ``rows``; its gradient a gather at ``rows`` and a
scatter-add into ``cols``. Two things made that slow on CPU (InstEval's crossed model,
:mod:`formulang.lower.collapsed_crossed`: 95,620 nonzeros; its gradient 518 -> 244 us on one
core of the 2-core machine, the whole fit 51 -> 35 s):

- **Sorted scatters run serially.** Adding into the same entry again and again waits for the
  previous add each time. :func:`interleaved_order` orders the triples so that consecutive
  ones add into different entries (first nonzero of each row, then the second, ...): the
  forward scatter took 230 us sorted and 87 us interleaved.
- **XLA fuses what computes ``x`` into the gather**, and then computes it again for every
  nonzero that reads it (a ``sin`` before the gather: 326 us, 95 with ``x`` written out
  first). :func:`materialize` writes ``x`` out first (an identity scatter, which XLA cannot
  fuse into a consumer; an ``optimization_barrier`` is removed before fusion). :func:`matvec` does this for ``x`` and,
  in its custom gradient, for the cotangent.

>>> import jax.numpy as jnp
>>> A = triples(np.array([[1.0, 0.0, 2.0], [0.0, 3.0, 0.0]]))
>>> [float(v) for v in matvec(A, jnp.array([1.0, 1.0, 1.0]), 2)]
[3.0, 3.0]
"""

from __future__ import annotations

import functools

import numpy as np


def interleaved_order(rows: np.ndarray) -> np.ndarray:
    """The permutation that takes each row's first entry, then each row's second, and so on
    (within a rank, by row): consecutive entries of a scatter-add into ``rows`` then go to
    different rows wherever the rows allow it.

    >>> interleaved_order(np.array([0, 0, 0, 1, 2, 2])).tolist()
    [0, 3, 4, 1, 5, 2]
    """
    rows = np.asarray(rows)
    order = np.argsort(rows, kind="stable")
    sorted_rows = rows[order]
    starts = np.searchsorted(sorted_rows, sorted_rows, side="left")
    rank = np.arange(len(rows)) - starts
    return order[np.lexsort((sorted_rows, rank))]


def triples(matrix, dtype=np.float64) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(rows, cols, vals)`` of a dense array or a scipy sparse matrix, in
    :func:`interleaved_order` (rows and columns as int32)."""
    from scipy import sparse

    coo = sparse.coo_matrix(matrix)
    order = interleaved_order(coo.row)
    return (coo.row[order].astype(np.int32), coo.col[order].astype(np.int32),
            np.asarray(coo.data[order], dtype))


def materialize(x):
    """``x``, written to memory before its consumers read it: an identity scatter, which XLA
    fuses with what computes ``x`` but not into what reads it (a gather then reads the stored
    values instead of computing each again)."""
    import jax.numpy as jnp

    index = jnp.arange(x.shape[0])
    return jnp.zeros_like(x).at[index].set(x, indices_are_sorted=True, unique_indices=True,
                                           mode="promise_in_bounds")


def gather(x, index):
    """``x[index]`` for in-range ``index``, reading a materialised ``x``."""
    return materialize(x).at[index].get(mode="promise_in_bounds")


def scatter_sum(values, index, size: int):
    """``out[index[i]] += values[i]`` into zeros of length ``size``."""
    import jax.numpy as jnp

    return jnp.zeros(size, values.dtype).at[index].add(values, mode="promise_in_bounds")


@functools.lru_cache(maxsize=None)
def _matvec(size: int):
    import jax

    @jax.custom_vjp
    def product(rows, cols, vals, x):
        return scatter_sum(vals * gather(x, cols), rows, size)

    def forward(rows, cols, vals, x):
        return product(rows, cols, vals, x), (rows, cols, vals, x.shape[0])

    def backward(res, g):
        rows, cols, vals, n = res
        return None, None, None, scatter_sum(vals * gather(g, rows), cols, n)

    product.defvjp(forward, backward)
    return product


def matvec(A, x, size: int):
    """``A x`` for ``A`` as :func:`triples` with ``size`` rows; differentiable in ``x`` only
    (``A`` is data)."""
    rows, cols, vals = A
    return _matvec(int(size))(rows, cols, vals.astype(x.dtype), x)


__all__ = ["gather", "interleaved_order", "materialize", "matvec", "scatter_sum", "triples"]
