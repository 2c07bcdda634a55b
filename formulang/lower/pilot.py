"""The pilot fit: a cheap penalized-IRLS / PX-EM estimate of a multilevel GLM, no MCMC.

It estimates the fixed effects ``beta``, the residual scale, and per group term the effects'
covariance ``Sigma_g`` and each level's information matrix ``I_j``. The centring policy
(:mod:`formulang.lower.reparam`) judges each level from ``I_j`` and ``Sigma_g``
(:func:`level_weights`); NUTS's starting mass matrix (:mod:`formulang.infer.mass_matrix`) is
read from the same quantities.

**Information.** ``I_j = sum_{i in j} values_i values_i^T a_i``, with ``a_i`` the working
precision of row ``i`` on the link scale (IRLS weight): Gaussian ``1/sigma^2``; Poisson/log
``mu``; binomial/logit ``n p (1 - p)`` (probit: ``n phi(eta)^2 / (p (1 - p))``); negative
binomial ``mu / (1 + mu / phi)``; gamma/log ``shape``; lognormal ``1/sigma^2`` on ``log y``;
beta/logit ``(1 + phi) mu (1 - mu)`` (the quasi-likelihood precision from
``Var(y) = mu (1 - mu) / (1 + phi)``); observation weights multiply ``a_i``.

Several group terms. A term nested in another (every ``cask`` level inside one ``batch``
level, or the same grouping factor) blurs what the outer level sees, and is integrated out of
it exactly, level by level: ``I_j <- I_j - sum_{l in j} C_l (A_l + Sigma_h^-1)^-1 C_l^T``
(``C_l`` the cross-information of the nested level ``l``, ``A_l`` its own). So in
``(1 | batch/cask)`` a batch's information is ``sum_casks n_c a / (1 + n_c a tau_cask^2)``,
far less than ``n_j a`` when casks vary a lot. Crossed terms are not integrated: each level's
information is conditional on the other terms' effects, which is close when those are well
estimated (many rows per level) and otherwise overstates the information a little.

**The pilot** (no MCMC; vectorised with ``np.bincount`` over level codes; loops only over
terms, passes and EM steps on per-level statistics). Passes of penalized IRLS (PQL-style;
for Gaussian identity models just backfitting), until the estimates move by less than 0.1%
(at most 8 passes): the working response ``z = eta + (y - mu) / mu'(eta)`` with precision
``a`` (the first pass starts from R's ``glm`` start values, e.g. ``mu = y + 0.1`` for
counts), then

1. fixed effects by weighted least squares of ``z - offset - sum_g Z_g u_g`` on ``X``;
2. residual scale (Gaussian-like, gamma, beta): the ANOVA within-level estimator, the pooled
   residual variance of the levels' own least-squares fits, from the term with the most
   residual degrees of freedom (less the effective degrees of freedom of crossed terms whose
   fit was removed); exact for balanced nested designs. Negative binomial ``1/phi`` by
   moments of the residuals, corrected for the leverage of the group effects;
3. per term, coarse terms first, ``Sigma_g`` by maximum likelihood given the rest, on the
   per-level information and score, with parameter-expanded EM (PX-EM, Liu, Rubin & Wu
   1998; the fixed point is the ML estimate, the expansion makes it fast when ``tau`` is
   small), and the posterior means ``u_g`` of the effects;
4. the part of ``u_g`` the fixed effects can carry (a common shift of the effects along a
   fixed column, or along a covariate constant within levels) moves into ``beta``: an exact
   line search that leaves the fit unchanged, without which backfitting crawls when the
   levels are informative.

A variance is floored at ``(1e-3 * scale)^2`` (``scale``: the working residual SD over the
column's RMS). For binary data with small clusters PQL underestimates ``tau`` (10-20% at
4-8 rows per cluster), which errs toward non-centered, the safe side where the data are
weak.

>>> import formulang
>>> from formulang.lower.families import family
>>> b = formulang.bind("log_radon ~ floor + (1 | county)", formulang.datasets.load("radon"))
>>> fit = pilot_fit(b, family("gaussian"))
>>> round(float(np.sqrt(fit.cov[0][0, 0])), 2), round(fit.sigma, 2), fit.info[0].shape
(0.31, 0.73, (85, 1, 1))
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..data.groups import nested_in
from ..errors import FormulangError
from ..linalg import chol, inv, psd
from .families import family as _family
from .working import Working

_MAX_PASSES = 8
_PASS_TOL = 1e-3
_EM_MAXIT = 500
_EM_TOL = 1e-5
_FLOOR = 1e-3


@dataclass(frozen=True, eq=False)
class PilotFit:
    """What the pilot estimated: fixed effects, scale, and per group term ``Sigma_g`` and the
    per-level information matrices ``info[g]`` (``(L, k, k)``, marginal over other terms).
    ``beta_cov`` approximates the posterior covariance of ``beta`` (see :func:`_beta_cov`)."""

    beta: np.ndarray
    scale: float  # working residual variance (sigma^2 for Gaussian-like; 1 for fixed scale)
    cov: tuple[np.ndarray, ...]
    info: tuple[np.ndarray, ...]
    rows: tuple[np.ndarray, ...]  # rows with positive working weight, per level
    aux: dict = field(default_factory=dict)
    passes: int = 0
    floors: tuple[np.ndarray, ...] = ()  # per term, the variance floor of each effect
    beta_cov: np.ndarray | None = None

    def at_floor(self, g: int) -> np.ndarray:
        """Per effect of term ``g``: whether its variance ended at the floor (no variation
        between levels found)."""
        if not self.floors:
            return np.zeros(len(self.cov[g]), dtype=bool)
        return np.diag(self.cov[g]) <= 1.0001 * self.floors[g]

    @property
    def sigma(self) -> float:
        return float(np.sqrt(self.scale))


def level_weights(info, cov) -> np.ndarray:
    """Per-level weights ``w_j = lambda_min / (1 + lambda_min)``, with ``lambda_min`` the
    smallest eigenvalue of the whitened information ``L^T I_j L`` (``Sigma = cov = L L^T``):
    the shrinkage weight of the level's *least* informed direction.

    ``info`` is ``(L, k, k)`` (or ``(L,)`` for one effect), ``cov`` is ``(k, k)`` (or a scalar).

    >>> level_weights(np.array([1.0, 4.0, 100.0]), 0.25).round(3).tolist()  # n_j / sigma^2
    [0.2, 0.5, 0.962]
    """
    info = np.asarray(info, dtype=float)
    cov = np.atleast_2d(np.asarray(cov, dtype=float))
    k = cov.shape[0]
    if info.ndim == 1:
        info = info[:, None, None]
    if k == 1:
        m = info[:, 0, 0] * cov[0, 0]
        return m / (1.0 + m)
    factor = chol(cov)
    M = np.einsum("pa,jpq,qb->jab", factor, info, factor)
    lam = np.clip(np.linalg.eigvalsh(0.5 * (M + np.swapaxes(M, 1, 2)))[:, 0], 0.0, None)
    return lam / (1.0 + lam)


def level_posterior_cov(info, cov) -> np.ndarray:
    """Per level, the posterior covariance of its effects given ``Sigma = cov``:
    ``V_j = (I_j + Sigma^-1)^-1``, ``(L, k, k)`` from ``info`` ``(L, k, k)``.

    >>> level_posterior_cov(np.array([[[4.0]], [[0.0]]]), np.array([[1.0]])).ravel().tolist()
    [0.2, 1.0]
    """
    return inv(info + inv(cov))


# --- the pilot --------------------------------------------------------------------------------


class _Term:
    """A group term's codes and columns, and its per-level statistics."""

    def __init__(self, g, X: np.ndarray, X_columns):
        self.codes = np.asarray(g.codes, dtype=np.intp)
        self.Z = np.asarray(g.values, dtype=float)
        self.L = g.n_levels
        self.k = self.Z.shape[1]
        self.blocks = g.blocks
        self.ones = [bool(np.all(self.Z[:, p] == 1.0)) for p in range(self.k)]
        mask = np.zeros((self.k, self.k), dtype=bool)
        for blk in self.blocks:
            mask[np.ix_(blk, blk)] = True
        self.block_mask = mask
        rms = np.sqrt(np.mean(self.Z**2, axis=0))
        self.rms = np.where(rms > 0, rms, 1.0)
        self.shift = self._shift_directions(g, X, X_columns)

    def _shift_directions(self, g, X, X_columns):
        """Directions that move the effects into the fixed effects without changing the fit:
        ``(fixed columns xs, D)`` with ``D[j, p, i]`` the change of level ``j``'s effect ``p``
        per unit of fixed effect ``xs[i]``. A fixed column equal to effect column ``p`` gives
        ``D[:, p, i] = 1``; a fixed column constant within each level (a level-level
        covariate, the intercept among them) gives ``D[j, p0, i] = x_j`` on the intercept
        ``p0``."""
        xs, cols = [], []
        p0 = self.ones.index(True) if True in self.ones else None
        budget = max(int(4e6 // (self.L * self.k)), 1)  # columns of D (memory: L k each)
        for q, name in enumerate(X_columns):
            if len(xs) >= budget:
                break
            x = X[:, q]
            if name in g.columns:
                p = g.columns.index(name)
                if np.array_equal(self.Z[:, p], x):
                    col = np.zeros((self.L, self.k))
                    col[:, p] = 1.0
                    xs.append(q)
                    cols.append(col)
                    continue
            if p0 is not None and _constant_within(self, x):
                col = np.zeros((self.L, self.k))
                col[self.codes, p0] = x
                xs.append(q)
                cols.append(col)
        if not xs:
            return None
        return xs, np.stack(cols, axis=2)

    def sums(self, weights: np.ndarray) -> np.ndarray:
        return np.bincount(self.codes, weights=weights, minlength=self.L)

    def gram(self, a: np.ndarray) -> np.ndarray:
        """``A_j = sum a_i Z_i Z_i^T`` per level, ``(L, k, k)``."""
        k = self.k
        A = np.empty((self.L, k, k))
        for p in range(k):
            for q in range(p, k):
                if self.ones[p] and self.ones[q]:
                    w = a
                elif self.ones[p]:
                    w = a * self.Z[:, q]
                elif self.ones[q]:
                    w = a * self.Z[:, p]
                else:
                    w = a * self.Z[:, p] * self.Z[:, q]
                A[:, p, q] = A[:, q, p] = self.sums(w)
        return A

    def score(self, ae: np.ndarray) -> np.ndarray:
        """``b_j = sum a_i e_i Z_i`` per level, ``(L, k)``, given ``ae = a * e``."""
        return np.stack([self.sums(ae if self.ones[p] else ae * self.Z[:, p])
                         for p in range(self.k)], axis=1)

    def leverage(self, a: np.ndarray, info: np.ndarray, cov: np.ndarray) -> np.ndarray:
        """Per row ``a_i Z_i^T V_j Z_i``, ``V_j = (I_j + Sigma^-1)^-1``."""
        V = level_posterior_cov(info, cov)
        if self.k == 1:
            return a * self.Z[:, 0] ** 2 * V[self.codes, 0, 0]
        return a * np.einsum("ip,ipq,iq->i", self.Z, V[self.codes], self.Z)

    def predict(self, u: np.ndarray) -> np.ndarray:
        """Per-row ``Z_i . u[codes_i]``."""
        out = None
        for p in range(self.k):
            x = u[:, p][self.codes]
            if not self.ones[p]:
                x *= self.Z[:, p]
            out = x if out is None else out + x
        return out


class _Nest:
    """Term ``h`` nested in term ``g``: every level of ``h`` lies inside one level of ``g``
    (``parent[l]``). Integrating ``h`` out of ``g`` is then exact."""

    def __init__(self, g: _Term, h: _Term, parent: np.ndarray):
        self.g, self.h, self.parent = g, h, parent

    @classmethod
    def find(cls, g: _Term, h: _Term) -> "_Nest | None":
        parent = nested_in(g.codes, h.codes, h.L)
        return None if parent is None else cls(g, h, parent)

    def cross(self, a: np.ndarray) -> np.ndarray:
        """``C_l = sum_{rows in l} a_i Z_g,i Z_h,i^T`` per level of ``h``, ``(L_h, k_g, k_h)``."""
        g, h = self.g, self.h
        C = np.empty((h.L, g.k, h.k))
        for p in range(g.k):
            for q in range(h.k):
                w = a
                if not g.ones[p]:
                    w = w * g.Z[:, p]
                if not h.ones[q]:
                    w = w * h.Z[:, q]
                C[:, p, q] = h.sums(w)
        return C


def pilot_fit(bound, family) -> PilotFit:
    """The pilot fit of ``bound`` under ``family`` (a Family or a family name); see the module
    docstring."""
    fam = _family(family) if isinstance(family, str) else family
    if bound.y is None:
        raise FormulangError("the pilot fit needs the response, and the data have none")
    work = Working(bound, fam)
    X = np.asarray(bound.X, dtype=float)
    if fam.spec.thresholds and len(X):  # no intercept: thresholds (and centred scores) are it
        X = X - X.mean(axis=0)
    offset = np.asarray(bound.offset, dtype=float)
    terms = [_Term(g, X, bound.X_columns) for g in bound.groups]
    xrms = np.sqrt(np.mean(X**2, axis=0)) if len(X) else np.zeros(X.shape[1])
    T = len(terms)
    # nested[g]: the terms nested in g (integrated out of g); the others are backfitted.
    nested = [[] for _ in terms]
    for gi in range(T):
        for hi in range(T):
            if hi != gi:
                nest = _Nest.find(terms[gi], terms[hi])
                if nest is not None:
                    nested[gi].append((hi, nest))
    backfit = [[hi for hi in range(T) if hi != gi and hi not in dict(nested[gi])]
               for gi in range(T)]
    # Coarse terms (few levels) first: they integrate out the terms nested in them, and the
    # passes converge faster that way.
    order = sorted(range(T), key=lambda i: terms[i].L)

    z, a = work.at(work.start())
    leverage = 0.0
    pred = [np.zeros(len(z)) for _ in terms]
    used = (a > 0).astype(float)  # rows that carry information (positive weight, trials)
    rows = [t.sums(used) for t in terms]
    cov = [None] * T
    edf = [0.0] * T
    info = [None] * T
    scale = 1.0
    beta = np.zeros(X.shape[1])
    history = None
    passes = 0
    for passes in range(1, _MAX_PASSES + 1):
        if passes > 1 and not work.identity_gaussian:
            z, a = work.at(offset + X @ beta + sum(pred), leverage)
        if passes == 1 or not work.identity_gaussian:  # these depend on a only
            solve = _wls_solver(X, a)
            grams = [t.gram(a) for t in terms]
        beta = solve(z - offset - sum(pred))
        e0 = z - offset - X @ beta
        if not work.fixed_scale:
            scale = _within_scale(terms, grams, rows, e0, a, pred, edf, X.shape[1])
        for gi, t in enumerate(terms):
            if cov[gi] is None:
                cov[gi] = _start_cov(t, grams[gi] / scale, t.score(a * e0) / scale, scale)
        for gi in order:
            t = terms[gi]
            e = e0 - sum(pred[hi] for hi in backfit[gi]) if backfit[gi] else e0
            info[gi], score = _integrate(gi, terms, grams, cov, nested[gi], a, e, scale)
            floor = (_FLOOR * np.sqrt(scale) / t.rms) ** 2
            cov[gi], u = _px_em(info[gi], score, cov[gi], t.block_mask, floor)
            if t.shift is not None:  # move the effects' common part into beta (see _shift)
                xs, D = t.shift
                delta = _shift(u, cov[gi], D)
                u -= np.einsum("jpq,q->jp", D, delta)
                beta[xs] += delta
                e0 = e0 - X[:, xs] @ delta
            pred[gi] = t.predict(u)
            edf[gi] = t.k * float(np.sum(level_weights(info[gi], cov[gi])))
        if work.spec.dispersion is not None:
            leverage = sum(t.leverage(a / scale, info[gi], cov[gi])
                           for gi, t in enumerate(terms))

        state = np.concatenate([np.log(np.diag(c) + np.minimum(_typical_variance(i), 1e300)) / 2
                                for c, i in zip(cov, info)] +
                               [[np.log(scale) / 2, work.kappa], beta * xrms / np.sqrt(scale)])
        if history is not None and np.max(np.abs(state - history)) < _PASS_TOL:
            break
        history = state

    # The information at the final estimates (for GLMs, at the final fitted means).
    if not work.identity_gaussian:
        z, a = work.at(offset + X @ beta + sum(pred))
        grams = [t.gram(a) for t in terms]
    info = [_integrate(gi, terms, grams, cov, nested[gi], a, None, scale)[0]
            for gi in range(T)]
    aux = work.aux(scale, offset + X @ beta + sum(pred))
    floors = tuple((_FLOOR * np.sqrt(scale) / t.rms) ** 2 for t in terms)
    return PilotFit(beta, float(scale), tuple(cov), tuple(info),
                    tuple(np.rint(r).astype(int) for r in rows), aux, passes, floors,
                    _beta_cov(X, a, scale, terms, info, cov))


def _beta_cov(X, a, scale, terms, info, cov) -> np.ndarray:
    """The posterior covariance of ``beta``, roughly: the conditional one given the effects,
    ``(X^T A X / scale)^+``, plus per term the uncertainty of the effects' common part along
    the directions the fixed effects share with it (:meth:`_Term._shift_directions`),
    ``(sum_j D_j^T P_j D_j)^+`` with ``P_j = (I_j^-1 + Sigma)^-1 = I_j - I_j V_j I_j``,
    ``V_j = (I_j + Sigma^-1)^-1``, the precision of level ``j``'s data about the population
    value. For one random intercept that is ``1 / sum_j 1 / (tau^2 + sigma^2 / n_j)``, the
    textbook variance of the mean, so the conditional part is counted twice: at most a
    factor of 2 too wide, which is enough for its use (the scale NUTS's warm-up starts from,
    :mod:`formulang.infer.mass_matrix`)."""
    p = X.shape[1]
    if p == 0:
        return np.zeros((0, 0))
    G = (X * (a / scale)[:, None]).T @ X
    # a direction the data do not identify (collinear columns) gets a huge variance, not the
    # pseudo-inverse's 0 or its arbitrary split: the prior then sets it
    ridge = 1e-10 * max(float(np.max(np.diag(G), initial=0.0)), 1e-300)
    C = np.linalg.inv(G + ridge * np.eye(p))
    for t, I, S in zip(terms, info, cov):
        if t.shift is None:
            continue
        xs, D = t.shift
        V = level_posterior_cov(I, S)
        P = I - I @ V @ I
        M = np.einsum("jpa,jpq,jqb->ab", D, P, D)
        C[np.ix_(xs, xs)] += np.linalg.pinv(M, rcond=1e-10, hermitian=True)
    return C


def _shift(u: np.ndarray, cov: np.ndarray, D: np.ndarray) -> np.ndarray:
    """The part of the effects ``u`` that the fixed effects can take over.

    Moving ``delta`` into the fixed effects and ``D_j delta`` out of every level's effects
    leaves the fit unchanged, so the exact minimiser along those directions is the one with
    the smallest prior penalty ``sum_j (u_j - D_j delta)^T Sigma^-1 (u_j - D_j delta)``.
    Backfitting alone moves along them very slowly when levels are informative (the same
    coupling that makes a centered sampler fast and a non-centered one slow).
    """
    prec = inv(cov)
    PD = np.einsum("ab,jbq->jaq", prec, D)
    G = np.einsum("jpa,jpb->ab", D, PD)
    r = np.einsum("jpa,jp->a", PD, u)
    return np.linalg.lstsq(G, r, rcond=None)[0]


def _wls_solver(X: np.ndarray, a: np.ndarray):
    """Weighted least squares on ``X`` with weights ``a``: a function of the response."""
    if X.shape[1] == 0:
        return lambda r: np.zeros(0)
    Xa = X * a[:, None]
    G = np.linalg.pinv(Xa.T @ X, rcond=1e-10, hermitian=True)
    return lambda r: G @ (Xa.T @ r)


def _pinv_quad(A: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per level: ``b^T A^+ b`` and ``rank(A)``."""
    if A.shape[1] == 1:
        a = A[:, 0, 0]
        ok = a > 1e-10 * max(float(a.max(initial=0.0)), 1e-300)
        q = np.where(ok, b[:, 0] ** 2 / np.where(ok, a, 1.0), 0.0)
        return q, ok.astype(float)
    vals, vecs = np.linalg.eigh(A)
    tol = 1e-10 * np.maximum(vals[:, -1:], 1e-300)
    ok = vals > tol
    proj = np.einsum("jpk,jp->jk", vecs, b)
    q = np.sum(np.where(ok, proj**2 / np.where(ok, vals, 1.0), 0.0), axis=1)
    return q, ok.sum(axis=1).astype(float)


def _within_scale(terms, grams, rows, e0, a, pred, edf, p) -> float:
    """The ANOVA within-level residual variance, from the group term with the most residual
    degrees of freedom. For term ``g``: the residual after the fixed effects and the other
    terms' current predictions, each level's own least-squares fit of ``g``'s columns, and the
    pooled variance; the degrees of freedom are the rows less each level's rank, less the
    effective degrees of freedom ``k sum_j w_j`` of every other term whose prediction varies
    within ``g``'s levels (a coarser nesting term is constant there and costs nothing)."""
    best, best_df = None, 0.0
    total = sum(pred) if pred else 0.0
    for gi, t in enumerate(terms):
        e = e0 - (total - pred[gi])
        ae = a * e
        c = t.sums(ae * e)
        q, rank = _pinv_quad(grams[gi], t.score(ae))
        df = rows[gi] - rank
        use = df > 0.5
        dfs = float(np.sum(df[use]))
        for hi in range(len(terms)):
            if hi != gi and not _constant_within(t, pred[hi]):
                dfs -= edf[hi]
        if dfs > best_df:
            best, best_df = float(np.sum((c - q)[use])) / dfs, dfs
    if best is None or best <= 0:  # no within-level replication: split the residual variance
        n_pos = float(np.sum(a > 0))
        best = float(np.sum(a * e0**2) / max(n_pos - p, 1.0)) / 2.0
    return max(best, 1e-12)


def _constant_within(t: _Term, x: np.ndarray) -> bool:
    """Whether ``x`` (per row) is constant within each level of ``t`` (exactly)."""
    head = min(len(x), 4096)  # a cheap early answer for the usual "no"
    for stop in (head, len(x)):
        first = np.zeros(t.L)
        first[t.codes[:stop]] = x[:stop]  # any row of a level will do
        if not np.array_equal(first[t.codes[:stop]], x[:stop]):
            return False
    return True


def _start_cov(t: _Term, info: np.ndarray, score: np.ndarray, scale: float) -> np.ndarray:
    """A moment start for ``Sigma``: level estimates' spread minus their sampling variance."""
    k = t.k
    d = np.einsum("jpp->jp", info)
    ok = d > 1e-12
    est = np.where(ok, score / np.where(ok, d, 1.0), 0.0)
    var = np.empty(k)
    for p in range(k):
        sel = ok[:, p]
        if sel.sum() >= 2:
            v = float(np.mean(est[sel, p] ** 2) - np.mean(1.0 / d[sel, p]))
        else:
            v = 0.0
        var[p] = max(v, 0.1 * scale / t.rms[p] ** 2)
    return np.diag(var)


def _integrate(gi: int, terms, grams, cov, nested, a, e, scale):
    """Information and score of term ``gi``'s levels from the residual ``e``, with the terms
    nested in it integrated out exactly: for each nested level ``l`` inside level ``j``,
    ``I_j -= C_l (A_l + Sigma_h^-1)^-1 C_l^T`` and ``b_j -= C_l (A_l + Sigma_h^-1)^-1 b_l``."""
    t = terms[gi]
    I_g = grams[gi] / scale
    b_g = None if e is None else t.score(a * e) / scale
    if not nested:
        return I_g, b_g
    I_g = I_g.copy()
    for hi, nest in nested:
        h = terms[hi]
        C = nest.cross(a) / scale
        Q = grams[hi] / scale + inv(cov[hi])[None]
        CQ = np.einsum("lab,lbc->lac", C, inv(Q))
        dI = np.einsum("lac,ldc->lad", CQ, C)
        for x in range(t.k):
            for y in range(t.k):
                I_g[:, x, y] -= np.bincount(nest.parent, weights=dI[:, x, y], minlength=t.L)
        if e is None:
            continue
        db = np.einsum("lac,lc->la", CQ, h.score(a * e) / scale)
        for x in range(t.k):
            b_g[:, x] -= np.bincount(nest.parent, weights=db[:, x], minlength=t.L)
    return psd(I_g), b_g


def _px_em(I: np.ndarray, b: np.ndarray, cov: np.ndarray, mask: np.ndarray,
           floor: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Maximum likelihood ``Sigma`` for ``b_j | r_j ~ N(I_j r_j, I_j)``, ``r_j ~ N(0, Sigma)``
    by parameter-expanded EM; returns ``Sigma`` and the posterior means of ``r_j``."""
    L, k = b.shape
    if L == 0:
        return cov, np.zeros((0, k))
    # Converged when no variance moves by more than _EM_TOL of itself plus a typical level's
    # sampling variance: below that, a change cannot move any level's weight.
    typical = _typical_variance(I)
    if k == 1:
        i, s, v = I[:, 0, 0], b[:, 0], float(cov[0, 0])
        for _ in range(_EM_MAXIT):
            V = v / (1.0 + v * i)
            m = V * s
            E = V + m * m
            den = float(np.sum(i * E))
            alpha = float(np.sum(s * m)) / den if den > 0 else 1.0
            new = max(alpha * alpha * float(np.mean(E)), float(floor[0]))
            done = abs(new - v) < _EM_TOL * (v + typical[0])
            v = new
            if done:
                break
        m = (v / (1.0 + v * i)) * s
        return np.array([[v]]), m[:, None]
    sel = mask.ravel()
    ix = np.ix_(sel, sel)
    diag = np.diag_indices(k)
    for _ in range(_EM_MAXIT):
        V = level_posterior_cov(I, cov)
        m = np.matmul(V, b[:, :, None])[:, :, 0]
        E = V + m[:, :, None] * m[:, None, :]
        S = E.mean(axis=0)
        K = np.einsum("jab,jcd->adbc", I, E).reshape(k * k, k * k)[ix]
        alpha = np.eye(k)
        try:
            alpha.ravel()[sel] = np.linalg.solve(K, (b.T @ m).ravel()[sel])
        except np.linalg.LinAlgError:
            pass
        new = alpha @ S @ alpha.T * mask
        new[diag] = np.maximum(new[diag], floor)
        done = np.all(np.abs(new[diag] - cov[diag]) < _EM_TOL * (cov[diag] + typical))
        cov = new
        if done:
            break
    V = level_posterior_cov(I, cov)
    return cov, np.matmul(V, b[:, :, None])[:, :, 0]


def _typical_variance(I: np.ndarray) -> np.ndarray:
    """Per effect, the sampling variance of a typical level's estimate: 1 / median information
    (infinite when most levels carry none)."""
    d = np.median(np.diagonal(I, axis1=1, axis2=2), axis=0)
    with np.errstate(divide="ignore"):
        return np.where(d > 0, 1.0 / np.where(d > 0, d, 1.0), np.inf)


__all__ = ["PilotFit", "level_posterior_cov", "level_weights", "pilot_fit"]
