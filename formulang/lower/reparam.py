"""Centered or non-centered group effects, chosen per level from a cheap pilot fit.

For a group term with ``k`` effect columns, level ``j`` has effects ``r_j ~ N(0, Sigma)``.
*Non-centered* samples ``z_j ~ N(0, I)`` and sets ``r_j = chol(Sigma) z_j``; *centered*
samples ``r_j`` directly. Which one lets a sampler move freely depends on how much the data
say about ``r_j`` compared with the prior (Papaspiliopoulos, Roberts & Skold 2007; Gorinova,
Moore & Hoffman 2020). In the Gaussian case with one effect, ``n_j`` rows and residual SD
``sigma``, the posterior shrinkage weight is ``w_j = tau^2 / (tau^2 + sigma^2 / n_j)``; the
centered sampler's convergence rate is ``1 - w_j`` and the non-centered one's is ``w_j``, so
centered wins exactly when ``w_j > 1/2``.

**The weight for k effects.** With ``I_j`` the level's information matrix (below) and
``Sigma = L L^T``, the whitened information ``M_j = L^T I_j L`` has eigenvalues ``lambda``;
each whitened direction has shrinkage weight ``lambda / (1 + lambda)``. The level weight is
that of its *least* informed direction::

    w_j = lambda_min / (1 + lambda_min)

so a level is centred only when its data identify every direction of its effect. The two
failure modes are not symmetric: centring a level with one weakly identified direction (a
county with plenty of houses but hardly any on the first floor) puts a funnel in that
direction, which NUTS meets as divergences, while non-centring a level with one well
identified direction only slows mixing. (An average over directions, tried first, centred 13
radon counties in ``(1 + floor | county)`` and produced divergences at small slope SDs; the
minimum centres none there.) For ``k = 1`` it is the Gaussian ``w_j`` above, exactly. It is
invariant to a linear change of the effect columns (the eigenvalues of ``L^T I_j L`` do not
depend on the basis), and it needs no inverse of ``I_j``: a level whose rows cannot identify a
slope (one house, or all on one floor) has ``lambda_min = 0`` and is non-centred.

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
>>> (p,) = choose_parameterization(b, family("gaussian"))
>>> p.mode, p.n_centered > 10, len(p.centered)
('mixed', True, 85)
>>> p.centered[b.groups[0].levels.index("ST LOUIS")], round(p.tau[0], 2), round(p.sigma, 2)
(True, 0.31, 0.73)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping

import numpy as np

from ..errors import FormulangError
from .families import Family
from .families import family as _family

MODES = ("auto", "centered", "noncentered")
THRESHOLD = 0.5
"""A level is centered when its weight is at least this (the two convergence rates cross)."""
TAU_SAFETY = 0.5
WELL_IDENTIFIED = 5.0
"""When the pilot's tau is weakly identified, levels are judged at ``TAU_SAFETY`` times the
pilot SDs instead of the pilot SDs themselves.

The pilot gives a point estimate of tau. Its uncertainty is roughly
``se(log tau) = 1 / sqrt(2 J_eff)`` with ``J_eff = sum_j w_j^2`` (the levels' weights at the pilot
tau, least informed direction): the levels that see their effect are the ones that inform tau.
With ``J_eff < WELL_IDENTIFIED`` (se above about 0.32), the posterior of tau reaches well below
the estimate, and the centred funnel lives exactly there: at small tau even a large level is
dominated by its prior. Measured on radon ``(1 + floor | county)`` (J_eff about 1.6;
4 x 1000 draws): centring the two counties whose weight at the pilot tau was above 1/2 gave 91
divergences, non-centring all of them none. Such terms centre only levels that stay
data-dominated at half the pilot tau (information at least 4 times the prior precision).
A well identified tau (sleepstudy's slopes, J_eff about 6.7; radon's county intercepts) is
trusted as it is."""
SNAP_SHARE = 0.9
SNAP_BAND = 0.1
"""When at least ``SNAP_SHARE`` of the levels take one side and every other level is within
``SNAP_BAND`` of the threshold, those few follow the majority (see :func:`_choose`)."""

GAUSSIAN_LIKE = ("gaussian", "student_t", "lognormal")
_FIXED_SCALE = ("poisson", "binomial", "bernoulli", "negative_binomial")
_MAX_PASSES = 8
_PASS_TOL = 1e-3
_EM_MAXIT = 500
_EM_TOL = 1e-5
_FLOOR = 1e-3


@dataclass(frozen=True)
class GroupParameterization:
    """The choice for one group term.

    ``centered`` and ``weights`` are per level (the order of ``GroupData.levels``); ``tau`` is
    the pilot SD per effect column (``GroupData.columns`` order); ``sigma`` the pilot residual
    SD for Gaussian-like families (gaussian, student_t, lognormal), else ``None``.
    """

    label: str
    centered: tuple[bool, ...]
    weights: tuple[float, ...]
    tau: tuple[float, ...]
    sigma: float | None
    reason: str

    @property
    def mode(self) -> str:
        """``"centered"``, ``"noncentered"`` or ``"mixed"``."""
        n = self.n_centered
        if n == len(self.centered):
            return "centered"
        return "noncentered" if n == 0 else "mixed"

    @property
    def n_centered(self) -> int:
        return int(sum(self.centered))

    def mask(self) -> np.ndarray:
        """``centered`` as a boolean array (True = centered)."""
        return np.array(self.centered, dtype=bool)


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
    chol = _chol(cov)
    M = np.einsum("pa,jpq,qb->jab", chol, info, chol)
    lam = np.clip(np.linalg.eigvalsh(0.5 * (M + np.swapaxes(M, 1, 2)))[:, 0], 0.0, None)
    return lam / (1.0 + lam)


def level_posterior_cov(info, cov) -> np.ndarray:
    """Per level, the posterior covariance of its effects given ``Sigma = cov``:
    ``V_j = (I_j + Sigma^-1)^-1``, ``(L, k, k)`` from ``info`` ``(L, k, k)``.

    >>> level_posterior_cov(np.array([[[4.0]], [[0.0]]]), np.array([[1.0]])).ravel().tolist()
    [0.2, 1.0]
    """
    return _inv(info + _inv(cov))


def choose_parameterization(bound, family, reparam="auto",
                            pilot: PilotFit | None = None) -> tuple[GroupParameterization, ...]:
    """Choose centered or non-centered effects, per level, for each of ``bound.groups``.

    ``family`` is a :class:`~formulang.lower.families.Family` (or a family name).
    ``reparam`` is ``"auto"`` (per level: centered where the weight is >= 0.5),
    ``"centered"`` or ``"noncentered"`` (forced; the pilot evidence is still reported), or a
    dict ``{group label: mode}`` for per-term control (terms not named are ``"auto"``).
    ``pilot``: :func:`pilot_fit`'s result when the caller has it already.
    """
    fam = _family(family) if isinstance(family, str) else family
    modes = _modes(bound, reparam)
    if not bound.groups:
        return ()
    if bound.y is None:
        return tuple(_no_response(g, mode) for g, mode in zip(bound.groups, modes))
    fit = pilot_fit(bound, fam) if pilot is None else pilot
    out = []
    for gi, (g, mode) in enumerate(zip(bound.groups, modes)):
        w = np.clip(np.nan_to_num(level_weights(fit.info[gi], fit.cov[gi]), nan=0.0), 0.0, 1.0)
        weak_tau = float(np.sum(w ** 2)) < WELL_IDENTIFIED
        if weak_tau:  # judge the levels at half the pilot SDs: see TAU_SAFETY
            w = level_weights(fit.info[gi], fit.cov[gi] * TAU_SAFETY ** 2)
            w = np.clip(np.nan_to_num(w, nan=0.0), 0.0, 1.0)
        auto, snapped = _choose(w)
        tau = np.sqrt(np.diag(fit.cov[gi]))
        sigma = fit.sigma if fam.name in GAUSSIAN_LIKE else None
        evidence = _evidence(g, tau, sigma, fit.aux, fit.at_floor(gi))
        summary = _summary(auto, w, fit.rows[gi], snapped)
        if weak_tau:
            summary += " at half the pilot tau (tau weakly identified)"
        if mode == "auto":
            centered, reason = auto, f"{summary}; {evidence}"
        else:
            centered = np.full(g.n_levels, mode == "centered")
            reason = f"{mode} (forced; auto would be {summary}); {evidence}"
        out.append(GroupParameterization(g.label, tuple(bool(c) for c in centered),
                                         tuple(float(x) for x in w),
                                         tuple(float(t) for t in tau), sigma, reason))
    return tuple(out)


def enclosing(bound) -> tuple[tuple[tuple[int, np.ndarray], ...], ...]:
    """For each group term, the coarser group terms it is nested in: ``(index into
    bound.groups, parent)`` pairs, ``parent[l]`` the enclosing term's level holding level
    ``l``. In ``(1 | batch/cask)`` the ``batch:cask`` term is enclosed by ``batch``.

    A centered level of a nested term mixes far better when it is centered on its parent's
    effect (hierarchical centering, ``eta_l ~ N(b_parent[l], tau^2)``, ``r_l = eta_l -
    b_parent[l]``) than on zero: the data identify ``b_j + c_jl``, and an additive centered
    ``c_jl`` leaves that ridge for the sampler to walk.

    >>> import formulang
    >>> b = formulang.bind("strength ~ 1 + (1 | batch/cask)", formulang.datasets.load("Pastes"))
    >>> [[(h, parent[:4].tolist()) for h, parent in e] for e in enclosing(b)]
    [[], [(0, [0, 0, 0, 1])]]
    """
    terms = [_Term(g, np.zeros((len(g.codes), 0)), ()) for g in bound.groups]
    out = []
    for gi, t in enumerate(terms):
        found = []
        for hi, h in enumerate(terms):
            if hi != gi and h.L < t.L:
                nest = _Nest.find(h, t)
                if nest is not None:
                    found.append((hi, nest.parent))
        out.append(tuple(found))
    return tuple(out)


# --- choice and wording ------------------------------------------------------------------------


def _choose(w: np.ndarray) -> tuple[np.ndarray, int]:
    """Centered where ``w >= 0.5``. Levels near the threshold follow a large majority.

    Mixing within a term costs nothing in the model, but a uniform term is simpler to print and
    to read. So when at least 90% of the levels take one side and *every* other level is
    within 0.1 of the threshold (convergence rates ``w`` and ``1 - w`` both between 0.4 and
    0.6: either choice mixes about as well), those levels follow the majority. A clearly
    informative level is never forced to non-centered, nor a clearly uninformed one to
    centered. Returns the choice and how many levels were moved.
    """
    centered = w >= THRESHOLD
    n = len(w)
    if n == 0:
        return centered, 0
    n_c = int(centered.sum())
    for side, count in ((True, n_c), (False, n - n_c)):
        if 0 < n - count and count >= SNAP_SHARE * n:
            minority = centered != side
            if np.all(np.abs(w[minority] - THRESHOLD) < SNAP_BAND):
                return np.full(n, side), int(minority.sum())
    return centered, 0


def _summary(centered: np.ndarray, w: np.ndarray, rows: np.ndarray, snapped: int) -> str:
    n, n_c = len(centered), int(centered.sum())
    if snapped:
        side = "centered" if n_c == n else "noncentered"
        others = w[(w >= THRESHOLD) != (n_c == n)]
        if snapped == 1:
            rest = f"the other one (weight {others[0]:.2f}) is near the threshold and follows"
        else:
            rest = (f"the other {snapped} (weights {others.min():.2f} to {others.max():.2f}) "
                    f"are near the threshold and follow")
        return (f"{side}: {n - snapped} of {n} levels have weight "
                f"{'>=' if n_c == n else '<'} {THRESHOLD:g}; {rest}")
    if n_c == n:
        return f"centered: all {n} levels have weight >= {THRESHOLD:g} (lowest {w.min():.2f})"
    if n_c == 0:
        return f"noncentered: all {n} levels have weight < {THRESHOLD:g} (highest {w.max():.2f})"
    rule = f"weight >= {THRESHOLD:g}"
    lo_c, hi_n = rows[centered].min(), rows[~centered].max()
    if lo_c > hi_n:
        rule += f", here the levels with >= {lo_c} rows"
    return f"mixed: {n_c} of {n} levels centered ({rule})"


def _evidence(g, tau: np.ndarray, sigma: float | None, aux: dict, floor: np.ndarray) -> str:
    flat = [" (at its floor: no variation between levels found)" if f else "" for f in floor]
    if len(tau) == 1:
        text = f"pilot tau = {tau[0]:.2g}{flat[0]}"
    else:
        text = "pilot tau = " + ", ".join(f"{c} {t:.2g}{f}"
                                          for c, t, f in zip(g.columns, tau, flat))
    if sigma is not None:
        text += f", sigma = {sigma:.2g}"
    for name, value in aux.items():
        text += f", {name} = {value:.2g}"
    return text


def _no_response(g, mode: str) -> GroupParameterization:
    centered = mode == "centered"
    why = "forced" if mode != "auto" else "the data have no response, so nothing informs " \
                                          "the levels (prior only)"
    return GroupParameterization(
        g.label, (centered,) * g.n_levels, (0.0,) * g.n_levels, (float("nan"),) *
        len(g.columns), None, f"{'centered' if centered else 'noncentered'}: {why}")


def _modes(bound, reparam) -> list[str]:
    labels = [g.label for g in bound.groups]
    if isinstance(reparam, str):
        _check_mode(reparam, "reparam")
        return [reparam] * len(labels)
    if isinstance(reparam, Mapping):
        unknown = [k for k in reparam if k not in labels]
        if unknown:
            valid = ", ".join(repr(x) for x in dict.fromkeys(labels)) or "none"
            raise FormulangError(f"reparam names group term {unknown[0]!r}, which the model "
                                 f"does not have; group terms: {valid}")
        for k, v in reparam.items():
            _check_mode(v, f"reparam[{k!r}]")
        return [reparam.get(lab, "auto") for lab in labels]
    raise FormulangError(f"reparam must be one of {', '.join(repr(m) for m in MODES)} or a "
                         f"dict {{group label: mode}}, not {type(reparam).__name__}")


def _check_mode(value, what: str) -> None:
    if not isinstance(value, str) or value not in MODES:
        raise FormulangError(f"{what} must be one of {', '.join(repr(m) for m in MODES)}, "
                             f"not {value!r}")


# --- families on the working (link) scale ------------------------------------------------------


def _link_numpy(name: str):
    """(eta -> (mu, d mu / d eta), link g(mu)) in numpy."""
    if name == "identity":
        return (lambda e: (e, np.ones_like(e))), (lambda m: m)
    if name == "log":
        def mean(e):
            mu = np.exp(np.minimum(e, 30.0))
            return mu, mu
        return mean, np.log
    if name == "logit":
        def mean(e):
            mu = 1.0 / (1.0 + np.exp(-np.clip(e, -30.0, 30.0)))
            return mu, mu * (1.0 - mu)
        return mean, (lambda m: np.log(m) - np.log1p(-m))
    if name == "probit":
        from scipy.special import ndtr, ndtri

        def mean(e):
            e = np.clip(e, -8.0, 8.0)
            return ndtr(e), np.exp(-0.5 * e**2) / np.sqrt(2 * np.pi)
        return mean, ndtri
    if name == "inverse":
        def mean(e):
            e = np.maximum(e, 1e-10)  # the inverse link needs eta > 0
            return 1.0 / e, -1.0 / e**2
        return mean, (lambda m: 1.0 / m)
    raise AssertionError(name)  # pragma: no cover


class _Working:
    """IRLS working response ``z`` (link scale, offset included) and precision ``a``."""

    def __init__(self, bound, fam: Family):
        self.name = fam.name
        self.link = "identity" if fam.name == "lognormal" else fam.link.name
        self.mean, self.fwd = _link_numpy(self.link)
        y = np.asarray(bound.y, dtype=float)
        w = None if bound.weights is None else np.asarray(bound.weights, dtype=float)
        if fam.name == "binomial":
            if bound.trials is None:
                raise FormulangError("the binomial family needs trials: write "
                                     "cbind(successes, failures) ~ ... or "
                                     "successes | trials(n) ~ ...")
            n = np.asarray(bound.trials, dtype=float)
            y = np.divide(y, n, out=np.zeros_like(y), where=n > 0)
            w = n if w is None else w * n
        if fam.name == "lognormal":
            y = np.log(y)
        self.y, self.prior = y, w
        self.kappa = 0.0  # negative binomial 1/phi
        self.fixed_scale = fam.name in _FIXED_SCALE
        self.identity_gaussian = self.link == "identity" and fam.name in GAUSSIAN_LIKE

    def start(self) -> np.ndarray:
        """R's ``glm`` start values, as eta."""
        y, name = self.y, self.name
        if name in ("poisson", "negative_binomial"):
            mu = y + 0.1
        elif name == "binomial":
            n = self.prior if self.prior is not None else np.ones_like(y)
            mu = (n * y + 0.5) / (n + 1.0)
        elif name == "bernoulli":
            mu = (y + 0.5) / 2.0
        elif self.link in ("log", "inverse"):
            floor = 1e-3 * max(float(np.mean(np.abs(y))), 1e-12)
            mu = np.maximum(y, floor)
        elif self.link in ("logit", "probit"):
            mu = np.clip(y, 1e-3, 1 - 1e-3)
        else:
            mu = y
        return self.fwd(mu)

    def at(self, eta: np.ndarray, leverage=None) -> tuple[np.ndarray, np.ndarray]:
        """(z, a) at the linear predictor ``eta`` (offset included); with ``leverage``, first
        update the dispersion from the residuals there."""
        if self.identity_gaussian:
            a = np.ones_like(self.y) if self.prior is None else self.prior
            return self.y, a
        mu, d = self.mean(eta)
        if leverage is not None:
            self.update_dispersion(mu, leverage)
        if self.link in ("logit", "probit"):
            mu = np.clip(mu, 1e-6, 1 - 1e-6)
            d = np.where(np.abs(d) < 1e-10, 1e-10, d)
        name = self.name
        if (name, self.link) in (("poisson", "log"), ("bernoulli", "logit"),
                                 ("binomial", "logit")):  # canonical: a = d mu / d eta
            a = np.maximum(mu * (1.0 - mu) if self.link == "logit" else mu, 1e-12)
            z = eta + (self.y - mu) / a
            if self.prior is not None:
                a *= self.prior
            return z, a
        if name in ("poisson",):
            var = mu
        elif name == "negative_binomial":
            var = mu + self.kappa * mu**2
        elif name in ("bernoulli", "binomial", "beta"):
            var = mu * (1.0 - mu)
        elif name == "gamma":
            var = mu**2
        else:  # gaussian-like with a non-identity link
            var = np.ones_like(mu)
        var = np.maximum(var, 1e-12)
        z = eta + (self.y - mu) / d
        a = d**2 / var
        if self.prior is not None:
            a *= self.prior
        return z, a

    def update_dispersion(self, mu: np.ndarray, leverage) -> None:
        """Negative binomial ``1/phi`` by moments: ``E (y - mu)^2 = (mu + mu^2/phi)(1 - h)``
        with ``h`` the leverage of the group effects (their fit soaks up part of the
        residual)."""
        if self.name == "negative_binomial":
            w = np.ones_like(mu) if self.prior is None else self.prior
            keep = w * np.clip(1.0 - leverage, 0.0, 1.0)
            num = float(np.sum(w * (self.y - mu) ** 2 - keep * mu))
            den = float(np.sum(keep * mu**2))
            self.kappa = max(num / den, 0.0) if den > 0 else 0.0


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
        first = np.zeros(h.L, dtype=np.intp)
        first[h.codes] = g.codes  # the g level of some row of each h level
        if np.array_equal(first[h.codes], g.codes):
            return cls(g, h, first)
        return None

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
    """The pilot behind :func:`choose_parameterization` (see the module docstring)."""
    fam = _family(family) if isinstance(family, str) else family
    if bound.y is None:
        raise FormulangError("the pilot fit needs the response, and the data have none")
    work = _Working(bound, fam)
    X = np.asarray(bound.X, dtype=float)
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
        if work.name == "negative_binomial":
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
    aux = {}
    if fam.name == "negative_binomial":
        aux["phi"] = 1.0 / work.kappa if work.kappa > 0 else float("inf")
    elif fam.name == "gamma":
        aux["shape"] = 1.0 / scale
    elif fam.name == "beta":
        aux["phi"] = max(1.0 / scale - 1.0, 0.0)
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
    prec = _inv(cov)
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
        Q = grams[hi] / scale + _inv(cov[hi])[None]
        CQ = np.einsum("lab,lbc->lac", C, _inv(Q))
        dI = np.einsum("lac,ldc->lad", CQ, C)
        for x in range(t.k):
            for y in range(t.k):
                I_g[:, x, y] -= np.bincount(nest.parent, weights=dI[:, x, y], minlength=t.L)
        if e is None:
            continue
        db = np.einsum("lac,lc->la", CQ, h.score(a * e) / scale)
        for x in range(t.k):
            b_g[:, x] -= np.bincount(nest.parent, weights=db[:, x], minlength=t.L)
    return _psd(I_g), b_g


def _psd(A: np.ndarray) -> np.ndarray:
    if A.shape[1] == 1:
        return np.maximum(A, 0.0)
    vals, vecs = np.linalg.eigh(A)
    if np.all(vals >= 0):
        return A
    return np.einsum("jab,jb,jcb->jac", vecs, np.maximum(vals, 0.0), vecs)


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


def _inv(A: np.ndarray) -> np.ndarray:
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


def _chol(cov: np.ndarray) -> np.ndarray:
    try:
        return np.linalg.cholesky(cov)
    except np.linalg.LinAlgError:
        vals, vecs = np.linalg.eigh(cov)
        return vecs * np.sqrt(np.maximum(vals, 1e-300))


__all__ = ["GroupParameterization", "MODES", "PilotFit", "choose_parameterization", "enclosing",
           "level_posterior_cov", "level_weights", "pilot_fit"]
