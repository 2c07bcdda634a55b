"""Penalised smooths ``s(x)`` and Gaussian processes ``gp(x, k =)`` (approximate) and ``gp(x)``
(exact: :mod:`formulang.data.gp_exact`), as brms builds them: the basis math in numpy (no R
at run time), learned from the training data and reused on new data.

``s(x, k = 10, bs = "cr")``: mgcv's cubic regression spline (knots evenly spaced in rank
through the unique values, the spline parameterised by its values there, linear beyond the
end knots). ``s(x, k = 10, bs = "tp")`` (the default): mgcv's thin-plate regression spline (Wood 2003): for the unique
centred values ``u``, ``E_ij = |u_i - u_j|^3 / 12``; its ``k`` eigenvectors of largest
eigenvalue magnitude (ordered by value, as mgcv's Lanczos returns them), constrained to be
orthogonal to the polynomials ``T = [1, u]`` by mgcv's Householder convention; columns scaled
to unit mean square. Then, as brms asks of ``mgcv::smoothCon`` (``absorb.cons = TRUE``,
``diagonal.penalty = TRUE``) and ``smooth2random``: the penalty scaled by
``norm(S, "O") / norm(X, "I")^2``, the sum-to-zero constraint absorbed, the penalty
diagonalised (``nat.param`` type 2). The unpenalised columns ``Xf`` are population-level
columns; the penalised ``Zs`` get coefficients ``sds * zs``, ``zs ~ N(0, 1)``. Our matrices
equal mgcv's up to each column's sign (an orthogonal change of basis: the same model).

``gp(x, k = 15, c = 5/4)``: brms's Hilbert-space approximate GP (Riutort-Mayol et al. 2022):
``x`` divided by its largest pairwise distance (brms's ``scale = TRUE``), centred on the mean
of its unique values; basis ``sin(sqrt(lambda_j) (x - centre + L)) / sqrt(L)``, ``L = c``
(brms: ``c`` times the scaled range, at least 1),
``sqrt(lambda_j) = j pi / (2 L)``; the coefficients ``sqrt(spd(sqrt(lambda_j))) * zgp``.

>>> import numpy as np
>>> x = np.linspace(0, 1, 30)
>>> st = learn_smooth("s", x, k=6)
>>> Xf, Zs = evaluate_smooth(st, x)
>>> Xf.shape, Zs.shape, bool(np.allclose(Zs.sum(axis=0), 0))
((30, 1), (30, 4), True)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from .gp_exact import GP_EXACT_MAX, gp_exact_arrays, gp_exact_index
from .smooths_t2 import T2_BS, T2_K, evaluate_t2, learn_t2, t2_blocks

DEFAULT_K = 10  # mgcv's default basis dimension of a one-variable s()


@dataclass(frozen=True, eq=False)
class SmoothState:
    """What a smooth learned from the training data: ``kind`` ``"s"``, ``"t2"`` or ``"gp"``,
    ``bs`` its basis (a t2's margins', comma-separated), and named arrays (``arrays``) that evaluate it on any rows. Plain values: it
    serialises with :meth:`to_dict`."""

    kind: str
    bs: str
    k: int
    arrays: tuple[tuple[str, Any], ...]

    def get(self, name: str) -> np.ndarray:
        return np.asarray(dict(self.arrays)[name], dtype=float)

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "bs": self.bs, "k": self.k,
                "arrays": {n: np.asarray(a, dtype=float).tolist() for n, a in self.arrays}}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "SmoothState":
        return cls(str(d["kind"]), str(d["bs"]), int(d["k"]),
                   tuple((n, np.asarray(a, dtype=float)) for n, a in d["arrays"].items()))

    def __eq__(self, other) -> bool:
        return isinstance(other, SmoothState) and self.to_dict() == other.to_dict()

    def __hash__(self) -> int:
        return hash((self.kind, self.bs, self.k))


def _householder_q(A: np.ndarray) -> np.ndarray:
    """mgcv's ``QT``: the orthogonal ``Q`` with ``A Q = [0, R]``, one reflector per row of
    ``A``, each zeroing towards the last active coordinate (the convention fixes the basis,
    and through ``norm(X, "I")`` the penalty's scale)."""
    A = np.array(A, dtype=float)
    m, k = A.shape
    Q = np.eye(k)
    for i in range(m):
        n = k - i
        v = A[i, :n].copy()
        norm = np.linalg.norm(v)
        if norm == 0:
            continue
        v[n - 1] += norm if v[n - 1] >= 0 else -norm
        H = np.eye(k)
        H[:n, :n] -= 2.0 * np.outer(v, v) / (v @ v)
        A, Q = A @ H, Q @ H
    return Q


def _tp_raw(x: np.ndarray, k: int):
    """mgcv's unconstrained 1-d thin-plate regression spline: ``(X, S, state arrays)``."""
    shift = float(np.mean(x))
    u = np.unique(x - shift)
    E = np.abs(u[:, None] - u[None, :]) ** 3 / 12.0
    w, V = np.linalg.eigh(E)
    top = np.argsort(-np.abs(w), kind="stable")[:k]
    top = top[np.argsort(-w[top], kind="stable")]  # by value, largest first, as mgcv
    U, D = V[:, top], w[top]
    T = np.column_stack([np.ones_like(u), u])
    Q = _householder_q(T.T @ U)[:, :k - 2]
    UZ = U @ Q  # E(x, u) @ UZ is the penalised basis anywhere (at u: U diag(D) Q)
    X = np.column_stack([(U * D) @ Q, T])[np.searchsorted(u, x - shift)]
    S = np.zeros((k, k))
    S[:k - 2, :k - 2] = Q.T @ (D[:, None] * Q)
    scale = np.sqrt(np.mean(X ** 2, axis=0))  # mgcv: each column to unit mean square
    X, S = X / scale, S / np.outer(scale, scale)
    return X, S, (("shift", shift), ("knots", u), ("UZ", UZ), ("scale", scale))


def _tp_basis(state: SmoothState, x: np.ndarray) -> np.ndarray:
    xs = np.asarray(x, dtype=float) - float(state.get("shift"))
    u = state.get("knots")
    E = np.abs(xs[:, None] - u[None, :]) ** 3 / 12.0
    X = np.column_stack([E @ state.get("UZ"), np.ones_like(xs), xs])
    return X / state.get("scale")


def _cr_knots(x: np.ndarray, k: int) -> np.ndarray:
    """mgcv's ``place.knots``: ``k`` knots evenly spaced in rank through the unique values."""
    u = np.unique(x)
    n = len(u)
    delta = (n - 1) / (k - 1)
    steps = delta * np.arange(1, k - 1)
    lbi = np.floor(steps).astype(int) + 1
    frac = steps + 1 - lbi
    knots = np.empty(k)
    knots[0], knots[-1] = u[0], u[-1]
    knots[1:-1] = u[lbi - 1] * (1 - frac) + u[lbi] * frac
    return knots


def _cr_raw(x: np.ndarray, k: int):
    """mgcv's cubic regression spline (``bs = "cr"``): a natural cubic spline through ``k``
    knots, parameterised by its values there; ``F`` maps them to the second derivatives
    (``B F_inner = D``), the penalty is ``D' B^-1 D``."""
    knots = _cr_knots(x, k)
    h = np.diff(knots)
    D, B = np.zeros((k - 2, k)), np.zeros((k - 2, k - 2))
    for i in range(k - 2):
        D[i, i:i + 3] = 1 / h[i], -1 / h[i] - 1 / h[i + 1], 1 / h[i + 1]
        B[i, i] = (h[i] + h[i + 1]) / 3
        if i < k - 3:
            B[i, i + 1] = B[i + 1, i] = h[i + 1] / 6
    inner = np.linalg.solve(B, D)
    F = np.vstack([np.zeros(k), inner, np.zeros(k)])
    S = D.T @ inner
    arrays = (("knots", knots), ("F", F))
    return _cr_basis(knots, F, x), (S + S.T) / 2, arrays


def _cr_basis(knots: np.ndarray, F: np.ndarray, x: np.ndarray) -> np.ndarray:
    """The cubic regression spline's basis at ``x``; linear beyond the end knots (as mgcv)."""
    k, h = len(knots), np.diff(knots)
    x = np.asarray(x, dtype=float)
    j = np.clip(np.searchsorted(knots, x, side="right") - 1, 0, k - 2)
    rows = np.arange(len(x))
    X = np.zeros((len(x), k))
    left, right = x < knots[0], x > knots[-1]
    inside = ~(left | right)
    lo, hi, hj = knots[j], knots[j + 1], h[j]
    am, ap = (hi - x) / hj, (x - lo) / hj
    cm = ((hi - x) ** 3 / hj - hj * (hi - x)) / 6
    cp = ((x - lo) ** 3 / hj - hj * (x - lo)) / 6
    X[rows[inside], j[inside]] += am[inside]
    X[rows[inside], j[inside] + 1] += ap[inside]
    X[inside] += cm[inside, None] * F[j[inside]] + cp[inside, None] * F[j[inside] + 1]
    d = (x - knots[0])[left]  # beyond the ends: the spline's value and slope there
    X[left, 0] += 1 - d / h[0]
    X[left, 1] += d / h[0]
    X[left] += (-d * h[0] / 6)[:, None] * (2 * F[0] + F[1])
    d = (x - knots[-1])[right]
    X[right, -1] += 1 + d / h[-1]
    X[right, -2] -= d / h[-1]
    X[right] += (d * h[-1] / 6)[:, None] * (F[-2] + 2 * F[-1])
    return X


def learn_smooth(kind: str, x, k: int | None = None, bs: str = "tp", c: float = 1.25,
                 first=None) -> SmoothState:
    """Learn smooth ``kind`` (``"s"``, ``"t2"``, ``"gp"``) of the training values ``x`` (of a
    ``t2``: a list of arrays, ``k`` and ``bs`` one per margin; a ``gp`` without ``k``: exact,
    ``bs`` ``"exact"``, ``k`` its unique values). ``first``: the 0/1 indicator of
    the first level of a ``by`` factor (mgcv diagonalises the penalty on that level's columns
    and uses the same transform for every level)."""
    if kind == "t2":  # data/smooths_t2.py
        arrays = learn_t2(x, k, bs, _margin_raw)
        return SmoothState("t2", ",".join(bs), int(sum(t2_blocks_of(arrays))), arrays)
    x = np.asarray(x, dtype=float)
    if kind == "gp" and k is None:  # exact (data/gp_exact.py)
        arrays = gp_exact_arrays(x)
        return SmoothState("gp", "exact", len(dict(arrays)["u"]), arrays)
    if kind == "gp":
        return _learn_gp(x, k, c)
    k = DEFAULT_K if k is None else int(k)
    X, S, arrays = _cr_raw(x, k) if bs == "cr" else _tp_raw(x, k)
    # smoothCon: the penalty scaled (before the constraint), the sum-to-zero constraint
    # absorbed (any orthonormal null space of it: the model is the same)
    S = S / (np.abs(S).sum(axis=0).max() / np.abs(X).sum(axis=1).max() ** 2)
    C = X.mean(axis=0)[:, None]
    Qc = np.linalg.qr(C, mode="complete")[0][:, 1:]
    Xc, Sc = X @ Qc, Qc.T @ S @ Qc
    if first is not None:
        Xc = Xc * np.asarray(first, dtype=float)[:, None]
    # nat.param(type = 2, unit.fnorm = FALSE): penalty to the identity, the null space
    # columns scaled to the penalised columns' average norm
    lam, V = np.linalg.eigh((Sc + Sc.T) / 2)
    order = np.argsort(-lam, kind="stable")
    lam, V = lam[order], V[:, order]
    rank = k - 2
    XV = Xc @ V
    E = np.ones(k - 1)
    E[:rank] = np.sqrt(lam[:rank])
    col = (XV ** 2).sum(axis=0) / E ** 2
    E[rank:] = np.sqrt(col[rank:] / col[:rank].mean())
    # smooth2random (as brms calls it) lists the penalised columns first, then the rest
    # reversed
    order = np.r_[0, np.arange(rank - 1, 0, -1), np.arange(rank, k - 1)]
    P = (Qc @ (V / E))[:, order]  # unconstrained basis -> [Zs | Xf]
    return SmoothState("s", bs, k, arrays + (("P", P), ("rank", float(rank))))


def _margin_raw(x: np.ndarray, k: int, bs: str):
    """A t2 margin's unconstrained ``(X, S, arrays)``: mgcv's ``cr`` or ``tp``."""
    return _cr_raw(x, k) if bs == "cr" else _tp_raw(x, k)


def _margin_basis(arrays: dict, bs: str, x: np.ndarray) -> np.ndarray:
    if bs == "cr":
        return _cr_basis(arrays["knots"], arrays["F"], x)
    return _tp_basis(SmoothState("s", "tp", 0, tuple(arrays.items())), x)


def t2_blocks_of(arrays) -> tuple[int, ...]:
    return tuple(int(v) for v in np.atleast_1d(dict(arrays)["blocks"]))


def evaluate_smooth(state: SmoothState, x) -> tuple[np.ndarray, np.ndarray]:
    """``(Xf, Zs)`` of ``state`` on the values ``x`` (training rows or new ones; a t2's
    penalised blocks side by side)."""
    if state.kind == "t2":
        Xf, blocks = evaluate_t2(state, x, _margin_basis)
        return Xf, np.column_stack(blocks)
    x = np.asarray(x, dtype=float)
    if state.kind == "gp" and state.bs == "exact":  # data/gp_exact.py: the unique value's index
        return np.zeros((len(x), 0)), gp_exact_index(state, x)[:, None].astype(float)
    if state.kind == "gp":
        return np.zeros((len(x), 0)), gp_basis(state, x)
    raw = _cr_basis(state.get("knots"), state.get("F"), x) if state.bs == "cr" else \
        _tp_basis(state, x)
    B = raw @ state.get("P")
    rank = int(state.get("rank"))
    return B[:, rank:], B[:, :rank]


# ---- approximate Gaussian processes ---------------------------------------------------------

def _learn_gp(x: np.ndarray, k: int | None, c: float) -> SmoothState:
    # brms (scale = TRUE, gr = TRUE): divided by the largest distance, centred on the mean of
    # the unique values, L = c * max(1, range) (the scaled range is 1: L = c)
    dmax = float(np.max(x) - np.min(x))
    u = np.unique(x) / dmax
    centre = float(np.mean(u))
    L = float(c * max(1.0, float(np.ptp(u))))
    gap = float(np.min(np.diff(u))) if len(u) > 1 else 1.0  # for brms's length-scale prior
    arrays = (("dmax", dmax), ("centre", centre), ("L", L), ("c", float(c)), ("gap", gap))
    return SmoothState("gp", "hsgp", int(k), arrays)


def gp_slambda(state: SmoothState) -> np.ndarray:
    """The square roots of the basis functions' eigenvalues, ``j pi / (2 L)``."""
    return np.arange(1, state.k + 1) * np.pi / (2 * float(state.get("L")))


def gp_basis(state: SmoothState, x) -> np.ndarray:
    """The HSGP basis ``sin(sqrt(lambda_j) (x - centre + L)) / sqrt(L)`` on ``x``."""
    L = float(state.get("L"))
    xs = np.asarray(x, dtype=float) / float(state.get("dmax")) - float(state.get("centre"))
    return np.sin(np.outer(xs + L, gp_slambda(state))) / np.sqrt(L)


def gp_spd_sqrt(slambda, sdgp, lscale):
    """The root of the squared-exponential spectral density at ``slambda`` (jax or numpy):
    ``sdgp * sqrt(sqrt(2 pi) lscale) * exp(-lscale^2 slambda^2 / 4)``; leading axes of
    ``sdgp``/``lscale`` broadcast against ``slambda``'s last."""
    import jax.numpy as jnp
    xp = jnp if not isinstance(sdgp, np.ndarray) else np
    sdgp, lscale = xp.asarray(sdgp)[..., None], xp.asarray(lscale)[..., None]
    return sdgp * xp.sqrt(np.sqrt(2 * np.pi) * lscale) * xp.exp(-0.25 * lscale ** 2 * slambda ** 2)


# ---- smooth terms of a formula: learned on the training rows, applied to new ones -------------

@dataclass(frozen=True)
class SmoothSpec:
    """One smooth term of a formula, as the training data made it: ``term`` as written,
    ``label`` brms's stem of its names (``s(times)``: ``stimes``; ``gp(x)``: ``gpx``),
    ``state`` its basis, ``fixed`` the names of its population-level (unpenalised) columns
    (brms's ``stimes_1``)."""

    term: Any  # an ir.expr.Call
    label: str
    state: SmoothState
    fixed: tuple[str, ...]
    by_level: str | None = None  # s(x, by = f): one smooth per level of f, this one's
    by_levels: tuple[str, ...] = ()  # all of f's levels (to encode new data)

    @property
    def kind(self) -> str:
        return self.state.kind

    @property
    def centre(self) -> float:
        """Its variable's typical value: the training mean (of the unique values, for a GP)."""
        if self.kind == "gp":
            return float(self.state.get("centre")) * float(self.state.get("dmax"))
        if self.kind == "t2":  # its first variable's
            return float(self.state.get("m0_summary")[2])
        return float(self.state.get("shift"))

    @property
    def k(self) -> int:
        """The number of penalised coefficients (``zs``/``zgp``)."""
        return int(self.state.get("rank")) if self.kind in ("s", "t2") else self.state.k

    @property
    def blocks(self) -> tuple[int, ...]:
        """The sizes of its penalised blocks, each with its own SD (several for a t2)."""
        return t2_blocks(self.state) if self.kind == "t2" else (self.k,)

    def to_dict(self) -> dict[str, Any]:
        from ..ir.serialize import expr_to_data
        return {"term": expr_to_data(self.term), "label": self.label,
                "state": self.state.to_dict(), "fixed": list(self.fixed),
                **({"by_level": self.by_level, "by_levels": list(self.by_levels)}
                   if self.by_level is not None else {})}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "SmoothSpec":
        from ..ir.serialize import expr_from_data
        return cls(expr_from_data(d["term"]), str(d["label"]), SmoothState.from_dict(d["state"]),
                   tuple(d["fixed"]), d.get("by_level"), tuple(d.get("by_levels", ())))


@dataclass(frozen=True, eq=False)
class SmoothData:
    """A smooth term on some rows: ``Xf`` (its population-level columns, also in the design
    matrix) and ``Z``, the penalised basis (rows x ``spec.k``; an exact GP's: rows x 1, each
    row's index among its unique values, -1 for a value it was not fitted on); ``x`` its
    variable's values."""

    spec: SmoothSpec
    Xf: np.ndarray
    Z: np.ndarray
    x: np.ndarray | None = None


def smooth_label(term, by_level: str | None = None) -> str:
    """brms's stem of a smooth's names: mgcv's label (the function and its variables, and
    for ``by = f`` the factor and level: ``s(x):fa``) without its punctuation.

    >>> from formulang import parse
    >>> smooth_label(parse("y ~ s(times, k = 5)").smooths[0])
    'stimes'
    >>> smooth_label(parse("y ~ s(x, by = f)").smooths[0], "a")
    'sxfa'
    """
    text = term.func + "".join(str(a) for a in term.args)
    if by_level is not None:
        text += f":{term.kwarg('by')}{by_level}"
    return "".join(ch for ch in text if ch.isalnum() or ch in "._")


def _refuse(formula, term, message: str):
    from ..errors import FormulaError
    text = str(formula)
    where = text.find(str(term))
    return FormulaError(message, text, where if where >= 0 else None,
                        where + len(str(term)) if where >= 0 else None)


def learn_smooths(formula, numeric, n: int, factor=None) -> tuple[tuple[SmoothSpec, ...],
                                                                  tuple[SmoothData, ...]]:
    """The smooth terms of ``formula`` learned from the training rows; ``numeric(expr)``
    gives a column's values (or raises for a categorical one); ``factor(name)`` a ``by``
    column's ``(levels, codes)``, or None for a numeric column."""
    specs, datas = [], []
    for term in formula.smooths:
        if term.func == "t2":
            spec, data = _learn_t2_term(formula, term, numeric)
            specs.append(spec)
            datas.append(data)
            continue
        by = term.kwarg("by")
        if by is not None:
            levels_codes = None if factor is None else factor(str(by))
            if levels_codes is None:
                raise _refuse(formula, term, f"{term}: by = {by} is a numeric column; s(x, by "
                              "= f) makes one smooth per level of a factor: give a "
                              "categorical column (varying-coefficient smooths are not "
                              "supported)")
            if term.func == "gp":
                raise _refuse(formula, term, f"{term}: gp(x, by = f) is not supported yet")
        x = numeric(term.args[0])
        n_unique = len(np.unique(x))
        k = term.kwarg("k")
        if term.func == "gp":
            if term.kwarg("scale") is False:
                raise _refuse(formula, term, f"{term}: scale = FALSE is not supported yet "
                              "(brms's default, scale = TRUE, divides x by its range)")
            if n_unique < 2:
                raise _refuse(formula, term, f"{term}: {term.args[0]} has a single value")
            if k is None and n_unique > GP_EXACT_MAX:
                raise _refuse(formula, term, f"{term}: an exact Gaussian process over "
                              f"{n_unique} unique values of {term.args[0]} (more than "
                              f"{GP_EXACT_MAX}) costs O(N^3) per step; write "
                              f"gp({term.args[0]}, k = 20) for brms's Hilbert-space "
                              "approximation with 20 basis functions")
            state = learn_smooth("gp", x, None if k is None else int(k),
                                 c=float(term.kwarg("c", 1.25)))
        else:
            k_eff = DEFAULT_K if k is None else int(k)
            if k_eff < 3:
                raise _refuse(formula, term, f"{term}: k = {k_eff} is too small: a penalised "
                              "smooth needs k of at least 3 (2 are its straight line)")
            if k_eff > n_unique:
                raise _refuse(formula, term, f"{term}: k = {k_eff} basis functions need as "
                              f"many unique values of {term.args[0]}, which has {n_unique}; "
                              f"write k = {n_unique} or less")
            bs = str(term.kwarg("bs", "tp"))
            if by is not None:
                levels, codes = levels_codes
                state = learn_smooth("s", x, k_eff, bs, first=codes == 0)
                for j, level in enumerate(levels):
                    spec, data = _one(term, state, x, level, levels, codes == j)
                    specs.append(spec)
                    datas.append(data)
                continue
            state = learn_smooth("s", x, k_eff, bs)
        spec, data = _one(term, state, x)
        specs.append(spec)
        datas.append(data)
    return tuple(specs), tuple(datas)


def _learn_t2_term(formula, term, numeric):
    """A ``t2(x, z, k =, bs =)`` term learned from the training rows; its data checks with a
    caret under the term."""
    from ..errors import DataError

    if len({str(a) for a in term.args}) < len(term.args):  # as mgcv
        raise _refuse(formula, term, f"{term}: a variable is repeated; t2() takes different "
                      "variables (for a smooth of one, s(x))")
    columns = []
    for arg in term.args:
        try:
            columns.append(numeric(arg))
        except DataError as err:
            raise _refuse(formula, term, f"{term}: {err}") from None
    m = len(columns)
    ks, bss = (v if isinstance(v, tuple) else (v,) * m
               for v in (term.kwarg("k", T2_K), term.kwarg("bs", T2_BS)))
    for arg, x, k in zip(term.args, columns, ks):
        n_unique = len(np.unique(x))
        if int(k) < 3:
            raise _refuse(formula, term, f"{term}: k = {int(k)} is too small for the margin of "
                          f"{arg}: each margin needs k of at least 3 (2 are its straight line)")
        if int(k) > n_unique:
            raise _refuse(formula, term, f"{term}: k = {int(k)} basis functions for the margin "
                          f"of {arg} need as many unique values of {arg}, which has "
                          f"{n_unique}; write k = {n_unique} or less for it")
    state = learn_smooth("t2", columns, tuple(int(k) for k in ks), tuple(bss))
    return _one(term, state, columns)


def _one(term, state, x, level=None, levels=(), rows=None):
    label = smooth_label(term, level)
    Xf, Z = evaluate_smooth(state, x)
    if state.kind == "t2":  # the variable kept with the rows (plots): its first
        x = x[0]
    if rows is not None:  # s(x, by = f): this level's rows, zero elsewhere
        Xf, Z = Xf * rows[:, None], Z * rows[:, None]
    fixed = tuple(f"{label}_{j + 1}" for j in range(Xf.shape[1]))  # brms's column names
    spec = SmoothSpec(term, label, state, fixed, level, tuple(levels))
    return spec, SmoothData(spec, Xf, Z, x)


def apply_smooths(specs, numeric, encode=None) -> tuple[SmoothData, ...]:
    """The smooth terms ``specs`` on new rows (``numeric`` as for :func:`learn_smooths`;
    ``encode(name, levels)``: a ``by`` column's codes in the training levels)."""
    out = []
    for spec in specs:
        if spec.kind == "t2":
            columns = [numeric(a) for a in spec.term.args]
            Xf, Z = evaluate_smooth(spec.state, columns)
            out.append(SmoothData(spec, Xf, Z, columns[0]))
            continue
        x = numeric(spec.term.args[0])
        Xf, Z = evaluate_smooth(spec.state, x)
        if spec.by_level is not None:
            codes = encode(str(spec.term.kwarg("by")), spec.by_levels)
            rows = (codes == spec.by_levels.index(spec.by_level)).astype(float)
            Xf, Z = Xf * rows[:, None], Z * rows[:, None]
        out.append(SmoothData(spec, Xf, Z, x))
    return tuple(out)


def smooth_values(ctx, expr) -> np.ndarray:
    """A smooth's variable on a binding context's rows: numeric (a categorical column is
    refused by name)."""
    from ..errors import DataError
    from .evaluate import NUMERIC

    if ctx.kind(expr) != NUMERIC:
        raise DataError(f"column {str(expr)!r} is categorical: a smooth term (s(), t2(), gp()) "
                        "needs a numeric variable")
    return ctx.numeric(expr)


def with_smooths(X: np.ndarray, smooths) -> np.ndarray:
    """The design matrix with the smooths' population-level columns at its end."""
    if not smooths:
        return X
    return np.column_stack([X] + [np.asarray(sm.Xf, dtype=float) for sm in smooths])


def by_levels(ctx, name: str):
    """A ``by`` column's ``(levels, codes)`` on the training rows; None when it is numeric."""
    from ..ir.expr import Column
    from .evaluate import NUMERIC

    if ctx.kind(Column(name)) == NUMERIC:
        return None
    fz = ctx.learn_levels(Column(name))
    return tuple(fz.labels), np.asarray(fz.codes)


def by_codes(ctx, name: str, levels) -> np.ndarray:
    """A ``by`` column's codes in its training ``levels`` on new rows."""
    from ..ir.expr import Column

    return np.asarray(ctx.encode_levels(Column(name), tuple(levels)))
