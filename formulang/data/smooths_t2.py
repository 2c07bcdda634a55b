"""Tensor-product smooths ``t2(x, z)`` as brms builds them from mgcv (Wood, Scheipl & Faraway
2013), in numpy: no R at run time.

mgcv's ``smooth.construct.t2.smooth.spec``: each margin is a one-variable basis (``bs = "cr"``,
mgcv's default for ``t2``, or ``"tp"``; ``k = 5`` each by default) reparameterised by
``nat.param(type = 3, unit.fnorm = TRUE)``: the penalty's eigenvectors scaled so that the
penalised columns ``Z`` have an identity penalty, the unpenalised ones ``N`` (its straight line)
rotated so that the constant comes first, each part scaled to unit mean square. The t2 basis is
made of the row-wise Kronecker products of the margins' parts: ``Z1 Z2``, ``N1 Z2``, ``Z1 N2``
(each a penalty of its own, so an SD of its own: brms's ``sds_t2xz_1`` ... ``_3``) and
``N1 N2``, unpenalised. Then, as brms asks of ``smoothCon`` and ``smooth2random``: the penalties
scaled by ``norm(X, "I")^2`` (each penalised block divided by its root), and t2's constraint, on
the unpenalised block only (its columns' sums), absorbed there: three population-level columns
(brms's ``t2xz_1`` ... ``_3``, flat names ``bs_t2xz_1`` ...).

The margins' penalties are eigen-decomposed with LAPACK's ``dsyevr``, the routine R's
``eigen`` calls: the straight-line part of a ``cr`` penalty has two zero eigenvalues, and
``nat.param`` scales the eigenvectors it is given before rotating them, so the basis (and so the
prior of the ``N1 Z2`` and ``Z1 N2`` blocks) depends on which pair the routine returns; with the
same routine ours equal mgcv's to 1e-13 (tests/data/test_smooths_t2.py).

On new rows the same margins, transforms and constraint are applied. (brms 2.18 calls
``smoothCon`` with mgcv's ``modCon = 0``, whose ``PredictMat`` applies another constraint than
the fitted basis's, every column's sum: its predictions of a ``t2`` term on new data are not
those of its fitted basis; ``modCon = 3``, later brms's, is what we do.)

>>> import numpy as np
>>> from formulang.data.smooths import learn_smooth, evaluate_smooth
>>> rng = np.random.default_rng(1)
>>> x, z = rng.uniform(size=(2, 60))
>>> st = learn_smooth("t2", [x, z], k=(5, 5), bs=("cr", "cr"))
>>> Xf, Z = evaluate_smooth(st, [x, z])
>>> Xf.shape, Z.shape, t2_blocks(st)
((60, 3), (60, 21), (9, 6, 6))
"""

from __future__ import annotations

import numpy as np

T2_K = 5  # mgcv's default basis dimension of each margin of a t2()
T2_BS = "cr"  # and its default margin basis
T2_MARGINS = 2  # the margins supported: t2(x, z)


def _eigh_desc(S: np.ndarray):
    """Eigenvalues and vectors of ``S``, largest first, from LAPACK's ``dsyevr`` (R's
    ``eigen(symmetric = TRUE)``)."""
    from scipy.linalg import eigh

    lam, V = eigh(S, driver="evr")
    return lam[::-1], V[:, ::-1]


def _nat_param(X: np.ndarray, S: np.ndarray, rank: int):
    """mgcv's ``nat.param(X, S, rank, type = 3, unit.fnorm = TRUE)``: ``(X P, P)``."""
    lam, V = _eigh_desc(S)
    k = X.shape[1]
    E = np.ones(k)
    E[:rank] = np.sqrt(lam[:rank])
    XV = X @ V
    col = (XV ** 2).sum(axis=0) / E ** 2
    E[rank:] = np.sqrt(col[rank:] / col[:rank].mean())
    P, Xn = V / E, XV / E
    if rank < k - 1:  # type 3: the null space rotated by its centred cross-products
        N = Xn[:, rank:]
        Nc = N - N.mean(axis=0)
        U = np.linalg.eigh(Nc.T @ Nc)[1][:, ::-1]
        back = np.arange(k - 1, rank - 1, -1)
        Xn[:, back], P[:, back] = N @ U, P[:, rank:] @ U
    for part in (slice(0, rank), slice(rank, k)):  # each part to unit mean square
        scale = 1.0 / np.sqrt(np.mean(Xn[:, part] ** 2))
        Xn[:, part] *= scale
        P[:, part] *= scale
    return Xn, P


def _model_matrix(margins, ranks):
    """mgcv's ``t2.model.matrix(full = FALSE)``: the blocks of row-wise products of the
    margins' penalised (``r``) and unpenalised (``n``) parts, in mgcv's order (``rr``, ``nr``,
    ``rn``, ``nn`` for two margins); the last, all ``n``, unpenalised."""
    blocks = [margins[0][:, :ranks[0]], margins[0][:, ranks[0]:]]
    for X, r in zip(margins[1:], ranks[1:]):
        parts = (X[:, :r], X[:, r:])
        blocks = [(B[:, :, None] * part[:, None, :]).reshape(len(B), -1)
                  for part in parts for B in blocks]
    return blocks


def learn_t2(columns, ks, bss, margin_raw) -> tuple:
    """The arrays of a t2 smooth learned from the training values ``columns`` (one array per
    margin), ``ks`` each margin's basis dimension, ``bss`` its basis (``"cr"``, ``"tp"``);
    ``margin_raw(x, k, bs)`` gives a margin's unconstrained ``(X, S, arrays)``
    (:func:`formulang.data.smooths.learn_smooth` passes mgcv's ``cr`` and ``tp``)."""
    arrays, margins, ranks = [], [], []
    for i, (x, k, bs) in enumerate(zip(columns, ks, bss)):
        x = np.asarray(x, dtype=float)
        X, S, raw = margin_raw(x, int(k), bs)
        Xn, P = _nat_param(X, S, int(k) - 2)
        margins.append(Xn)
        ranks.append(int(k) - 2)
        arrays += [(f"m{i}_{name}", value) for name, value in raw]
        arrays += [(f"m{i}_P", P), (f"m{i}_summary", np.r_[x.min(), x.max(), x.mean(),
                                                          np.quantile(x, [0.1, 0.5, 0.9])])]
    blocks = _model_matrix(margins, ranks)
    X = np.column_stack(blocks)
    root = float(np.abs(X).sum(axis=1).max())  # smoothCon's penalty scale: norm(X, "I")^2
    # the constraint on the unpenalised block: its column sums (mgcv's C), absorbed by the
    # Householder QR (the same reflector as R's qr)
    Q = np.linalg.qr(blocks[-1].sum(axis=0)[:, None], mode="complete")[0][:, 1:]
    sizes = [B.shape[1] for B in blocks[:-1]]
    return tuple(arrays) + (("Q", Q), ("root", root), ("blocks", np.asarray(sizes, dtype=float)),
                            ("rank", float(sum(sizes))))


def t2_blocks(state) -> tuple[int, ...]:
    """The sizes of a t2 smooth's penalised blocks, each with its own SD."""
    return tuple(int(v) for v in np.atleast_1d(state.get("blocks")))


def t2_summary(state, i: int) -> dict:
    """Margin ``i``'s training values: ``min``, ``max``, ``mean`` and quantiles ``q10``,
    ``q50``, ``q90`` (for plots and typical values)."""
    v = state.get(f"m{i}_summary")
    return dict(zip(("min", "max", "mean", "q10", "q50", "q90"), (float(a) for a in v)))


def evaluate_t2(state, columns, margin_basis) -> tuple[np.ndarray, list[np.ndarray]]:
    """``(Xf, [Z_1, Z_2, ...])`` of a t2 ``state`` on the values ``columns`` (training rows or
    new ones): the population-level columns and each penalised block; ``margin_basis(arrays,
    bs, x)`` evaluates a margin's unconstrained basis."""
    margins, ranks = [], []
    for i, (x, bs) in enumerate(zip(columns, state.bs.split(","))):
        prefix = f"m{i}_"
        arrays = {name[len(prefix):]: np.asarray(value, dtype=float)
                  for name, value in state.arrays if name.startswith(prefix)}
        P = arrays.pop("P")
        margins.append(margin_basis(arrays, bs, np.asarray(x, dtype=float)) @ P)
        ranks.append(P.shape[1] - 2)
    blocks = _model_matrix(margins, ranks)
    root = float(state.get("root"))
    return blocks[-1] @ state.get("Q"), [B / root for B in blocks[:-1]]
