"""Families on the working (link) scale: the IRLS working response and precision the pilot fit
(:mod:`formulang.lower.pilot`) iterates on.

At the linear predictor ``eta`` the working response is ``z = eta + (y - mu) / mu'(eta)`` and
its precision ``a = mu'(eta)^2 / V(mu)`` (``V`` the family's variance function), times the
observation weights; the first pass starts from R's ``glm`` start values.

>>> import formulang
>>> from formulang.lower.families import family
>>> b = formulang.bind("y ~ 1", {"y": [0.0, 2.0, 5.0]})
>>> work = Working(b, family("poisson"))
>>> z, a = work.at(work.start())
>>> np.round(a, 2).tolist()
[0.1, 2.1, 5.1]
"""

from __future__ import annotations

import numpy as np

from ..errors import FormulangError
from .families import Family

GAUSSIAN_LIKE = ("gaussian", "student_t", "lognormal")
"""Families whose pilot residual scale is ``sigma^2``."""
_FIXED_SCALE = ("poisson", "binomial", "bernoulli", "negative_binomial")


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


class Working:
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


__all__ = ["GAUSSIAN_LIKE", "Working"]
