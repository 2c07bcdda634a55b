"""Response families as rows: each :class:`FamilySpec` carries everything formulang does with it.

A row holds the family's links, its auxiliary parameters (with their default priors and the
starting variance NUTS's warm-up gets for them), the support of the response, the likelihood
(for the model, and as source text for generated code), the mean of the response
(``posterior_epred``), and what the pilot fit needs on the working scale (variance function,
start values, how the dispersion is estimated). Callers ask the row; adding a family is adding
a row to :data:`FAMILIES`.

>>> FAMILIES["poisson"].default_link
'log'
>>> family("bernoulli", "probit").link.name
'probit'
>>> family("gamma").source()[-1]
'dist.Gamma(shape, shape / (jnp.exp(eta)))'
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from ..errors import DataError, FormulangError
from . import categorical, cdfs, ordinal
from .draws import per_draw
from .links import LINKS, Link
from .zero_inflated import mixture_rows

CLIP = "jnp.clip({}, 1e-7, 1.0 - 1e-7)"  # a probability kept off 0 and 1, as source text


@dataclass(frozen=True)
class Aux:
    """An auxiliary (family) parameter. ``support``: ``"positive"``, or ``"unit"`` for a
    probability in (0, 1) (``zi``, ``hu``). ``prior(s)``: its default prior as
    ``(distribution, *parameters)``, ``s`` the response scale on the link scale
    (:func:`formulang.lower.priors.response_scale`). ``mass(n, edf, value)``: the variance of
    its unconstrained value (the log of a positive one, the logit of a probability) that
    NUTS's warm-up starts from (``n`` rows, ``edf`` the fit's effective degrees of freedom,
    ``value`` the pilot's estimate of the parameter or None), or None for NumPyro's default
    1. ``link``: the link of its sub-formula (``sigma ~ x``: ``sigma = exp(eta_sigma)``), a
    name in :data:`~formulang.lower.links.LINKS` (brms's: ``log`` for positive parameters,
    ``logit`` for probabilities)."""

    name: str
    prior: Callable
    mass: Callable | None = None
    support: str = "positive"
    link: str = "log"
    # its sub-formula's intercept's default prior, when not student_t(3, centre, 2.5) around
    # the typical value of ``prior`` (brms's disc: normal(0, 1) on the log scale)
    intercept: tuple | None = None


@dataclass(frozen=True)
class Support:
    """The values a response can take: ``bad(y, trials)`` marks those it cannot."""

    name: str
    need: str
    bad: Callable


def _binomial_bad(y, trials):
    if trials is None:
        raise DataError("the binomial family needs trials: write cbind(successes, "
                        "failures) ~ ... or successes | trials(n) ~ ...")
    whole = np.isclose(y, np.round(y))
    return ~whole | (y < 0) | (y > np.asarray(trials, dtype=float))


SUPPORTS: dict[str, Support] = {s.name: s for s in [
    Support("real", "real", lambda y, n: np.zeros(len(y), dtype=bool)),
    Support("binary", "0 or 1", lambda y, n: ~np.isin(y, (0.0, 1.0))),
    Support("binomial", "whole numbers between 0 and the number of trials", _binomial_bad),
    Support("count", "non-negative whole numbers",
            lambda y, n: ~np.isclose(y, np.round(y)) | (y < 0)),
    Support("positive", "positive", lambda y, n: ~(y > 0)),
    Support("unit", "strictly between 0 and 1", lambda y, n: ~((y > 0) & (y < 1))),
    Support("nonnegative", "zero or positive", lambda y, n: ~(y >= 0)),
    Support("ordinal", "ordered categories (codes 0..K-1)",
            lambda y, n: ~np.isclose(y, np.round(y)) | (y < 0)),
    Support("categorical", "categories (codes 0..K-1)",
            lambda y, n: ~np.isclose(y, np.round(y)) | (y < 0)),
]}


def _jnp():
    import jax.numpy as jnp  # imported lazily: parsing and binding do not need JAX

    return jnp


def _clip(p):
    return _jnp().clip(p, 1e-7, 1.0 - 1e-7)


def _paren(text: str) -> str:
    return text if text.isidentifier() else f"({text})"


def _identity(y, trials):
    return y, None


def _as_proportion(y, trials):
    """successes / trials, weighted by the trials (the binomial working response)."""
    n = np.asarray(trials, dtype=float)
    return np.divide(y, n, out=np.zeros_like(y), where=n > 0), n


def _nb_dispersion(y, mu, w, leverage):
    """Negative binomial ``1/phi`` by moments: ``E (y - mu)^2 = (mu + mu^2/phi)(1 - h)`` with
    ``h`` the leverage of the group effects (their fit soaks up part of the residual)."""
    keep = w * np.clip(1.0 - leverage, 0.0, 1.0)
    num = float(np.sum(w * (y - mu) ** 2 - keep * mu))
    den = float(np.sum(keep * mu**2))
    return max(num / den, 0.0) if den > 0 else 0.0


def _nb_log_zero(mu, p, n):
    """``log P(Y = 0) = -phi log(1 + mu / phi)``; ``phi = inf`` is the Poisson's ``-mu``."""
    phi = np.broadcast_to(np.asarray(p["phi"], dtype=float), np.shape(mu))
    with np.errstate(divide="ignore", invalid="ignore"):
        out = -phi * np.log1p(mu / phi)
    return np.where(np.isfinite(phi), out, -mu)


def _beta(d, link, eta, p, n):
    mu = _clip(link.inverse_jax(eta))
    return d.Beta(mu * p["phi"], (1.0 - mu) * p["phi"])


def _weibull_scale_of_mean(mu, k):
    """brms's Weibull: mean ``mu``, so scale ``mu / Gamma(1 + 1/k)`` (JAX)."""
    import jax.scipy.special as jsp

    return mu / _jnp().exp(jsp.gammaln(1.0 + 1.0 / k))


def _weibull_shape(cv2: float) -> float:
    """The Weibull shape ``k`` whose squared coefficient of variation is ``cv2`` (the pilot's
    working residual variance on the log scale): ``Gamma(1 + 2/k) / Gamma(1 + 1/k)^2 - 1``,
    which falls as ``k`` grows."""
    from scipy.optimize import brentq
    from scipy.special import gammaln

    def excess(log_k):
        k = np.exp(log_k)
        return np.expm1(gammaln(1 + 2 / k) - 2 * gammaln(1 + 1 / k)) - cv2

    lo, hi = np.log(0.05), np.log(1000.0)
    if not np.isfinite(cv2) or excess(lo) <= 0:
        return 0.05
    if excess(hi) >= 0:
        return 1000.0
    return float(np.exp(brentq(excess, lo, hi)))


def _variance_one(mu, kappa):
    return np.ones_like(mu)


def _variance_bernoulli(mu, kappa):
    return mu * (1.0 - mu)


def _variance_square(mu, kappa):
    return mu**2


SIGMA = Aux("sigma", lambda s: ("half_student_t", 3, 2.5 * s),
            mass=lambda n, edf, value=None: 1.0 / (2.0 * max(n - edf, 1.0)))
# gamma(2, 0.1): mean 20, mode 10, wide; keeps a shape or precision off 0, where the density
# of the response degenerates (brms's gamma(0.01, 0.01) puts much of its mass there). Its
# warm-up variance 2 / n is the large-value limit of the parameter's Fisher information.
# brms's discrimination of ordinal models: 1 unless predicted (disc ~ x), log link, its
# sub-formula's intercept normal(0, 1) on the log scale (identified by that prior alone:
# scaling disc, the thresholds and eta together leaves the likelihood as it is)
DISC = Aux(ordinal.DISC, lambda s: ("lognormal", 0, 1), intercept=("normal", 0, 1))
SHAPE = Aux("shape", lambda s: ("gamma", 2, 0.1), mass=lambda n, edf, value=None: 2.0 / n)


@dataclass(frozen=True)
class FamilySpec:
    """One response family and its behaviour.

    ``likelihood(dist, link, eta, aux, trials)``: the NumPyro distribution (``dist`` is
    ``numpyro.distributions``); ``source(link)``: the same as source lines for generated code,
    the last an expression of ``eta``, the aux names and ``trials``, any before it statements;
    ``mean(link, eta, aux, trials)``: the response's mean in NumPy float64 (brms's
    ``posterior_epred``; default the inverse link). For the pilot fit:
    ``working_response(y, trials)``: ``(y, weights)`` on the scale it fits (default as given);
    ``variance(mu, kappa)``: the variance function; ``glm_start(y, n)``: start means (default
    the link's); ``gaussian_like``: the working residual scale is ``sigma^2``;
    ``fixed_scale``: the scale is 1 (no dispersion to estimate, or one estimated by
    ``dispersion(y, mu, w, leverage) -> kappa``); ``pilot_aux(scale, kappa)``: the aux
    parameters' pilot estimates; ``pilot_zero(y, trials, mu, aux)``: more of them from the
    response as given and the base fit's means ``mu`` (``aux``: the estimates so far), for
    zero-inflated and hurdle families; ``log_zero(mu, aux, trials)``: ``log P(Y = 0)`` at mean
    ``mu`` (per trial for binomial), NumPy, ``aux`` broadcast against ``mu`` (None: a
    continuous family, ``P(Y = 0) = 0``), which zero-inflated and hurdle rows build on.
    ``trials``: the response is successes out of trials;
    ``collapsible``: with an identity link, group effects integrate out in closed form;
    ``log_concave``: the log-likelihood is concave in ``eta`` for every link the family takes,
    so the embedded Laplace approximation's Newton steps find the effects' mode
    (:mod:`formulang.lower.laplace`);
    ``merge``: how identical rows add exactly (``"counts"`` Bernoulli rows into binomial ones,
    ``"trials"``, ``"exposure"``), into family ``merges_into`` (default itself).

    Response additions (:mod:`formulang.lower.response`): ``log_cdfs(d, y)`` gives
    ``(log F(y), log S(y))`` of the row's distribution ``d`` (:mod:`formulang.lower.cdfs`;
    ``None``: no censoring or truncation); ``icdf(d, u)`` inverts ``F`` for truncated draws
    (``None`` for discrete families, inverted by bisection); ``rate_aux``: the parameters
    ``rate(n)`` multiplies besides the mean (``None``: no ``rate()``; brms multiplies the
    negative binomial's shape too); ``se``: ``se(s)`` gives the rows known SDs (``sigma``);
    ``moments(link, eta, aux, trials, y)``: ``(F(y), S(y), E[Y; Y <= y], E[Y; Y > y])`` in
    NumPy float64 (the ``*_moments`` functions of :mod:`~formulang.lower.cdfs`; ``aux`` values
    broadcast against ``eta``), for the mean of a truncated response
    (:func:`~formulang.lower.response.truncated_mean`).

    Categorical responses: ``response_levels`` is the kind of factor response the family
    takes (:mod:`formulang.data.response_levels`: ``"ordinal"``, ``"binary"``; None: numbers
    only); ``thresholds``: ordered thresholds replace the intercept (:mod:`formulang.lower.
    ordinal`); ``probabilities(link, eta, aux)``: the categories' probabilities (draws, rows,
    K), ``kind="prob"``; ``fixed_aux``: parameters held at a constant unless a sub-formula
    predicts them (``((DISC, 1.0),)``: brms's ``disc``, 1 unless ``disc ~ x``); ``pilot_link``: the link the pilot fits the working response on,
    when not the family's own; ``per_category``: each category but the first has its own
    linear predictor, a family parameter with the response's formula (categorical:
    :mod:`formulang.lower.categorical_model`), which ``likelihood`` and ``probabilities`` read
    as their parameters, in order; ``linpred(eta, values)``: what ``kind="linpred"`` reports,
    from ``eta`` and those parameters' linear predictors (default ``eta``).
    """

    name: str
    links: tuple[str, ...]  # the first is the default
    parameters: tuple[Aux, ...]  # the auxiliary (family) parameters
    support: str
    doc: str
    likelihood: Callable
    source: Callable
    variance: Callable
    mean: Callable | None = None
    working_response: Callable = _identity
    glm_start: Callable | None = None
    gaussian_like: bool = False
    fixed_scale: bool = False
    dispersion: Callable | None = None
    pilot_aux: Callable = lambda scale, kappa: {}
    pilot_zero: Callable | None = None
    log_zero: Callable | None = None
    trials: bool = False
    collapsible: bool = False
    log_concave: bool = False
    merge: str | None = None
    merges_into: str | None = None
    log_cdfs: Callable | None = None
    icdf: Callable | None = None
    rate_aux: tuple[str, ...] | None = None
    se: bool = False
    moments: Callable | None = None
    response_levels: str | None = None
    thresholds: bool = False
    probabilities: Callable | None = None
    fixed_aux: tuple[tuple[Aux, float], ...] = ()
    pilot_link: str | None = None
    per_category: bool = False
    linpred: Callable | None = None

    @property
    def discrete(self) -> bool:
        """Whether the response takes whole numbers (censoring and truncation then count
        ``y`` itself as in or out, as brms)."""
        return self.support in ("binary", "binomial", "count", "ordinal", "categorical")

    @property
    def default_link(self) -> str:
        return self.links[0]

    @property
    def aux(self) -> tuple[str, ...]:
        """The auxiliary parameters' names (the model's sample sites)."""
        return tuple(a.name for a in self.parameters)

    @property
    def fixed(self) -> dict[str, float]:
        """The parameters held at a constant unless predicted, by name (``{"disc": 1.0}``)."""
        return {a.name: value for a, value in self.fixed_aux}

    def dpar(self, name: str) -> Aux | None:
        """The row of parameter ``name`` for a sub-formula (``sigma ~ x``, ``disc ~ x``): one
        of ``parameters`` or of ``fixed_aux``; None if the family has no such parameter."""
        rows = [a for a in self.parameters if a.name == name]
        rows += [a for a, _ in self.fixed_aux if a.name == name]
        return rows[0] if rows else None


FAMILIES: dict[str, FamilySpec] = {f.name: f for f in [
    FamilySpec(
        "gaussian", ("identity", "log"), (SIGMA,), "real", "normal(mu, sigma)",
        likelihood=lambda d, link, eta, p, n: d.Normal(link.inverse_jax(eta), p["sigma"]),
        source=lambda link: [f"dist.Normal({link.code()}, sigma)"],
        variance=_variance_one, gaussian_like=True, collapsible=True,
        log_cdfs=cdfs.normal, icdf=cdfs.normal_icdf, se=True,
        moments=lambda link, eta, p, n, y: cdfs.normal_moments(link.inverse(eta), p["sigma"],
                                                               y)),
    FamilySpec(
        "student_t", ("identity", "log"),
        (SIGMA, Aux("nu", lambda s: ("gamma", 2, 0.1))), "real",
        "Student t(nu, mu, sigma): robust to outliers",
        likelihood=lambda d, link, eta, p, n: d.StudentT(p["nu"], link.inverse_jax(eta),
                                                         p["sigma"]),
        source=lambda link: [f"dist.StudentT(nu, {link.code()}, sigma)"],
        variance=_variance_one, gaussian_like=True,
        log_cdfs=cdfs.student_t, icdf=cdfs.student_t_icdf, se=True,
        moments=lambda link, eta, p, n, y: cdfs.student_t_moments(
            link.inverse(eta), p["sigma"], p["nu"], y)),
    FamilySpec(
        "bernoulli", ("logit", "probit"), (), "binary", "0/1 outcomes",
        # on the log-odds scale: a probit's probability rounds to 1 in float32 (links.py)
        likelihood=lambda d, link, eta, p, n: d.BernoulliLogits(link.log_odds_jax(eta)),
        source=lambda link: [f"dist.BernoulliLogits({link.log_odds_code()})"],
        variance=_variance_bernoulli, glm_start=lambda y, n: (y + 0.5) / 2.0,
        fixed_scale=True, merge="counts", merges_into="binomial", log_concave=True,
        response_levels="binary"),  # a two-level factor: the first level is failure
    FamilySpec(
        "binomial", ("logit", "probit"), (), "binomial",
        "successes out of trials: cbind(s, f) or s | trials(n)",
        likelihood=lambda d, link, eta, p, n: d.BinomialLogits(link.log_odds_jax(eta),
                                                               total_count=n),
        source=lambda link: [
            f"dist.BinomialLogits({link.log_odds_code()}, total_count=trials)"],
        mean=lambda link, eta, p, n: link.inverse(eta) * n,
        variance=_variance_bernoulli, working_response=_as_proportion,
        glm_start=lambda y, n: (n * y + 0.5) / (n + 1.0),
        fixed_scale=True, trials=True, merge="trials", log_cdfs=cdfs.binomial,
        log_concave=True,
        log_zero=lambda mu, p, n: np.asarray(n, dtype=float) * np.log1p(
            -np.clip(mu, 0.0, 1.0 - 1e-12)),
        moments=lambda link, eta, p, n, y: cdfs.binomial_moments(n, link.inverse(eta), y)),
    FamilySpec(
        "poisson", ("log",), (), "count", "counts",
        likelihood=lambda d, link, eta, p, n: d.Poisson(link.inverse_jax(eta)),
        source=lambda link: [f"dist.Poisson({link.code()})"],
        variance=lambda mu, kappa: mu, glm_start=lambda y, n: y + 0.1, fixed_scale=True,
        merge="exposure", log_cdfs=cdfs.poisson, rate_aux=(), log_zero=lambda mu, p, n: -mu,
        log_concave=True,
        moments=lambda link, eta, p, n, y: cdfs.poisson_moments(link.inverse(eta), y)),
    FamilySpec(
        "negative_binomial", ("log",), (Aux("phi", lambda s: ("inv_gamma", 0.4, 0.3)),),
        "count", "overdispersed counts: mean mu, variance mu + mu^2 / phi",
        likelihood=lambda d, link, eta, p, n: d.NegativeBinomial2(link.inverse_jax(eta),
                                                                  p["phi"]),
        source=lambda link: [f"dist.NegativeBinomial2({link.code()}, phi)"],
        variance=lambda mu, kappa: mu + kappa * mu**2, glm_start=lambda y, n: y + 0.1,
        fixed_scale=True, dispersion=_nb_dispersion, log_concave=True,
        pilot_aux=lambda scale, kappa: {"phi": 1.0 / kappa if kappa > 0 else float("inf")},
        log_cdfs=cdfs.negative_binomial, rate_aux=("phi",), log_zero=_nb_log_zero,
        moments=lambda link, eta, p, n, y: cdfs.negative_binomial_moments(
            link.inverse(eta), p["phi"], y)),
    FamilySpec(
        "gamma", ("log", "inverse", "identity"), (SHAPE,), "positive",
        "positive values: mean mu, shape (CV = 1/sqrt(shape))",
        likelihood=lambda d, link, eta, p, n: d.Gamma(p["shape"],
                                                      p["shape"] / link.inverse_jax(eta)),
        source=lambda link: [f"dist.Gamma(shape, shape / {_paren(link.code())})"],
        variance=_variance_square, pilot_aux=lambda scale, kappa: {"shape": 1.0 / scale},
        log_cdfs=cdfs.gamma, icdf=cdfs.gamma_icdf,
        moments=lambda link, eta, p, n, y: cdfs.gamma_moments(p["shape"], link.inverse(eta),
                                                              y)),
    FamilySpec(
        "lognormal", ("identity",), (SIGMA,), "positive",
        "log(y) ~ normal(mu, sigma); mu is on the log scale",
        likelihood=lambda d, link, eta, p, n: d.LogNormal(link.inverse_jax(eta), p["sigma"]),
        source=lambda link: [f"dist.LogNormal({link.code()}, sigma)"],
        mean=lambda link, eta, p, n: np.exp(link.inverse(eta)
                                            + 0.5 * per_draw(p["sigma"])**2),
        variance=_variance_one, working_response=lambda y, n: (np.log(y), None),
        gaussian_like=True, log_cdfs=cdfs.lognormal, icdf=cdfs.lognormal_icdf,
        moments=lambda link, eta, p, n, y: cdfs.lognormal_moments(link.inverse(eta),
                                                                  p["sigma"], y)),
    FamilySpec(
        "beta", ("logit", "probit"), (Aux("phi", SHAPE.prior, SHAPE.mass),), "unit",
        "proportions in (0, 1): mean mu, precision phi",
        likelihood=_beta,
        source=lambda link: [f"mu = {CLIP.format(link.code())}",
                             "dist.Beta(mu * phi, (1.0 - mu) * phi)"],
        # the quasi-likelihood precision from Var(y) = mu (1 - mu) / (1 + phi)
        variance=_variance_bernoulli,
        pilot_aux=lambda scale, kappa: {"phi": max(1.0 / scale - 1.0, 0.0)}),
    FamilySpec(
        "exponential", ("log",), (), "positive", "positive values: mean mu (rate 1 / mu)",
        likelihood=lambda d, link, eta, p, n: d.Exponential(1.0 / link.inverse_jax(eta)),
        source=lambda link: [f"dist.Exponential(1.0 / {_paren(link.code())})"],
        # Var(y) = mu^2 exactly: the dispersion is 1, nothing to estimate
        variance=_variance_square, fixed_scale=True,
        log_cdfs=cdfs.exponential, icdf=cdfs.exponential_icdf,
        moments=lambda link, eta, p, n, y: cdfs.gamma_moments(1.0, link.inverse(eta), y)),
    FamilySpec(
        "weibull", ("log",),
        # gamma(2, 0.1), as gamma's shape: both set the CV (Weibull's about 1.28 / shape), and
        # this keeps the shape off 0, where brms's gamma(0.01, 0.01) puts much of its mass and
        # the density degenerates. The warm-up variance of log shape, 6 / (pi^2 n), is the
        # inverse Fisher information of log shape per row (pi^2 / 6) with the scale estimated.
        (Aux("shape", SHAPE.prior, mass=lambda n, edf, value=None: 6.0 / (np.pi**2 * n)),),
        "positive",
        "positive values: mean mu, shape (scale mu / Gamma(1 + 1/shape))",
        likelihood=lambda d, link, eta, p, n: d.Weibull(
            _weibull_scale_of_mean(link.inverse_jax(eta), p["shape"]), p["shape"]),
        source=lambda link: [
            f"weibull_scale = {link.code()} / "
            "jnp.exp(jax.scipy.special.gammaln(1.0 + 1.0 / shape))",
            "dist.Weibull(weibull_scale, shape)"],
        # the quasi-likelihood with Var(y) = CV^2 mu^2; the pilot's scale is the CV^2
        variance=_variance_square,
        pilot_aux=lambda scale, kappa: {"shape": _weibull_shape(scale)},
        log_cdfs=cdfs.weibull, icdf=cdfs.weibull_icdf,
        moments=lambda link, eta, p, n, y: cdfs.weibull_moments(p["shape"], link.inverse(eta),
                                                                y)),
    FamilySpec(
        "cumulative", ("logit", "probit"), (), "ordinal",
        "ordered categories: P(y <= k) = F(disc (Intercept[k] - eta)), no intercept in eta",
        likelihood=ordinal.likelihood, source=ordinal.source,
        mean=ordinal.expected_category, probabilities=ordinal.probabilities,
        # the pilot: the categories' latent scores, a Gaussian fit on the identity scale
        variance=_variance_one, working_response=ordinal.working_response,
        pilot_link="identity", response_levels="ordinal", thresholds=True,
        fixed_aux=((DISC, 1.0),)),
    FamilySpec(
        "categorical", ("logit",), (), "categorical",
        "unordered categories: P(y = k) = softmax(0, mu2, ..., muK)_k, a formula per category",
        likelihood=categorical.likelihood, source=categorical.source,
        mean=categorical.probabilities, probabilities=categorical.probabilities,
        linpred=categorical.linear_predictors,
        # the pilot has no formula to fit (each category's is a sub-formula)
        variance=_variance_bernoulli, working_response=categorical.working_response,
        fixed_scale=True, response_levels="categorical", per_category=True),
]}



def _unit_mass(factor: float):
    """The warm-up variance of ``logit`` of a probability ``v`` estimated from ``n`` rows:
    ``factor / (n v (1 - v))`` (the inverse Fisher information of a share, times ``factor``
    where other parameters blur it), ``v`` the pilot's estimate kept within (0.05, 0.95)."""
    def mass(n, edf, value=None):
        v = 0.5 if value is None or not np.isfinite(value) else min(max(value, 0.05), 0.95)
        return factor / (n * v * (1.0 - v))
    return mass


# brms's zi and hu: a probability, beta(1, 1) by default. hu is the share of zeros, known as
# well as any share of n rows; zi competes with the base family's own zeros for them, so it
# starts twice as wide.
ZI = Aux("zi", lambda s: ("beta", 1, 1), mass=_unit_mass(2.0), support="unit",
         link="logit")
HU = Aux("hu", lambda s: ("beta", 1, 1), mass=_unit_mass(1.0), support="unit",
         link="logit")
FAMILIES.update({f.name: f for f in mixture_rows(FAMILIES, ZI, HU)})


@dataclass(frozen=True)
class Family:
    """A family with its chosen link."""

    spec: FamilySpec
    link: Link

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def collapsible(self) -> bool:
        """Whether group effects integrate out of the likelihood in closed form."""
        return self.spec.collapsible and self.link.is_identity

    def __str__(self) -> str:
        return f"{self.spec.name}({self.link.name})"

    def distribution(self, eta, aux: dict, trials=None):
        """The NumPyro likelihood for linear predictor ``eta`` and auxiliary parameters."""
        import numpyro.distributions as dist

        return self.spec.likelihood(dist, self.link, eta, aux, trials)

    def source(self) -> list[str]:
        """The likelihood as source lines (see :class:`FamilySpec`)."""
        return list(self.spec.source(self.link))

    def mean(self, eta: np.ndarray, aux: dict, trials=None) -> np.ndarray:
        """The response's mean per draw and row (brms's ``posterior_epred``), NumPy float64;
        ``aux`` values per draw."""
        if self.spec.mean is None:
            return self.link.inverse(eta)
        return self.spec.mean(self.link, eta, aux, trials)

    def check_response(self, y: np.ndarray, trials: np.ndarray | None = None,
                       name: str = "the response", positions: np.ndarray | None = None) -> None:
        """Raise a DataError naming the rows whose values the family cannot produce.

        ``positions`` maps each value to its row position in the user's data (rows dropped for
        missing values shift the others)."""
        support = SUPPORTS[self.spec.support]
        y = np.asarray(y, dtype=float)
        bad = support.bad(y, trials)
        if bad.any():
            rows = np.flatnonzero(bad)
            where = np.arange(len(y)) if positions is None else np.asarray(positions)
            shown = ", ".join(f"row position {where[r]} ({y[r]:g})" for r in rows[:5])
            more = f" and {len(rows) - 5} more" if len(rows) > 5 else ""
            raise DataError(f"the {self.spec.name} family needs {name} to be {support.need}: "
                            f"{shown}{more}")


FAMILY_ALIASES: dict[str, str] = {
    "normal": "gaussian", "student": "student_t", "t": "student_t",  # brms, bambi
    "negbinomial": "negative_binomial", "negativebinomial": "negative_binomial",
    "zero_inflated_negative_binomial": "zero_inflated_negbinomial",
    "zero_inflated_negativebinomial": "zero_inflated_negbinomial",
    "hurdle_negative_binomial": "hurdle_negbinomial",
    "hurdle_negativebinomial": "hurdle_negbinomial"}
"""Other packages' names of a family (brms, bambi, R; any case: R's ``Gamma``): the same
family, reported under formulang's name."""


def family(name: str, link: str | None = None) -> Family:
    """Look up a family and link by name (or a name from :data:`FAMILY_ALIASES`), with errors
    that list the valid choices.

    >>> family("Gamma").spec.name, family("negbinomial").spec.name
    ('gamma', 'negative_binomial')
    """
    import difflib

    key = name.lower() if isinstance(name, str) else name
    spec = FAMILIES.get(FAMILY_ALIASES.get(key, key))
    if spec is None:
        close = difflib.get_close_matches(str(key), [*FAMILIES, *FAMILY_ALIASES], n=1)
        hint = f"did you mean '{FAMILY_ALIASES.get(close[0], close[0])}'? " if close else ""
        raise FormulangError(f"unknown family '{name}'; {hint}families: {', '.join(FAMILIES)}")
    name = spec.name
    link = link or spec.default_link
    if link not in spec.links:
        raise FormulangError(f"the {name} family takes the link "
                             f"{' or '.join(repr(k) for k in spec.links)}, not {link!r}")
    return Family(spec, LINKS[link])


AUX_NAMES: tuple[str, ...] = tuple(dict.fromkeys(
    [a for f in FAMILIES.values() for a in f.aux]
    + [a.name for f in FAMILIES.values() for a, _ in f.fixed_aux]))
"""Every family parameter name, in table order: the prior classes families add."""

AUX_SUPPORTS: dict[str, str] = {
    **{a.name: a.support for f in FAMILIES.values() for a, _ in f.fixed_aux},  # disc
    **{a.name: a.support for f in FAMILIES.values() for a in f.parameters}}
"""Each family parameter's support, ``"positive"`` or ``"unit"`` (a name means one thing)."""

__all__ = ["AUX_NAMES", "AUX_SUPPORTS", "Aux", "CLIP", "FAMILIES", "Family", "FamilySpec",
           "FAMILY_ALIASES", "HU", "LINKS", "Link", "SUPPORTS", "Support", "ZI", "family"]
