"""Response families and link functions: what the likelihood is, given the linear predictor.

A :class:`Family` knows its links, its auxiliary parameters (``sigma``, ``nu``, ``phi``,
``shape``), the support of the response (checked on the data with the offending rows named)
and how to build the NumPyro distribution from the linear predictor ``eta``.

>>> FAMILIES["poisson"].default_link
'log'
>>> family("bernoulli", "probit").link.name
'probit'
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from ..errors import DataError, FormulangError


@dataclass(frozen=True)
class Link:
    """``eta = link(mu)``; the model uses the inverse to get the mean from ``eta``."""

    name: str
    forward: Callable  # numpy, data scale -> link scale (used for data-scaled priors)
    inverse: Callable  # jax.numpy, link scale -> mean


def _jnp():
    import jax.numpy as jnp  # imported lazily: parsing and binding do not need JAX

    return jnp


def _expit(x):
    import jax

    return jax.nn.sigmoid(x)


def _probit_inverse(x):
    import jax.scipy.special as jsp

    return jsp.ndtr(x)


def _probit_forward(p):
    from statistics import NormalDist

    return np.vectorize(NormalDist().inv_cdf)(p)


LINKS: dict[str, Link] = {
    "identity": Link("identity", lambda m: m, lambda e: e),
    "log": Link("log", np.log, lambda e: _jnp().exp(e)),
    "logit": Link("logit", lambda p: np.log(p) - np.log1p(-p), _expit),
    "probit": Link("probit", _probit_forward, _probit_inverse),
    "inverse": Link("inverse", lambda m: 1.0 / m, lambda e: 1.0 / e),
}


@dataclass(frozen=True)
class FamilySpec:
    name: str
    links: tuple[str, ...]  # the first is the default
    aux: tuple[str, ...]  # auxiliary (family) parameters, all positive
    support: str  # real, binary, binomial, count, positive, unit
    doc: str

    @property
    def default_link(self) -> str:
        return self.links[0]


FAMILIES: dict[str, FamilySpec] = {
    f.name: f
    for f in [
        FamilySpec("gaussian", ("identity", "log"), ("sigma",), "real",
                   "normal(mu, sigma)"),
        FamilySpec("student_t", ("identity", "log"), ("sigma", "nu"), "real",
                   "Student t(nu, mu, sigma): robust to outliers"),
        FamilySpec("bernoulli", ("logit", "probit"), (), "binary", "0/1 outcomes"),
        FamilySpec("binomial", ("logit", "probit"), (), "binomial",
                   "successes out of trials: cbind(s, f) or s | trials(n)"),
        FamilySpec("poisson", ("log",), (), "count", "counts"),
        FamilySpec("negative_binomial", ("log",), ("phi",), "count",
                   "overdispersed counts: mean mu, variance mu + mu^2 / phi"),
        FamilySpec("gamma", ("log", "inverse", "identity"), ("shape",), "positive",
                   "positive values: mean mu, shape (CV = 1/sqrt(shape))"),
        FamilySpec("lognormal", ("identity",), ("sigma",), "positive",
                   "log(y) ~ normal(mu, sigma); mu is on the log scale"),
        FamilySpec("beta", ("logit", "probit"), ("phi",), "unit",
                   "proportions in (0, 1): mean mu, precision phi"),
    ]
}


@dataclass(frozen=True)
class Family:
    """A family with its chosen link."""

    spec: FamilySpec
    link: Link

    @property
    def name(self) -> str:
        return self.spec.name

    def __str__(self) -> str:
        return f"{self.spec.name}({self.link.name})"

    def distribution(self, eta, aux: dict, trials=None):
        """The NumPyro likelihood for linear predictor ``eta`` and auxiliary parameters."""
        import numpyro.distributions as dist

        name, link = self.spec.name, self.link.name
        if name == "bernoulli":
            return dist.BernoulliLogits(eta) if link == "logit" else \
                dist.BernoulliProbs(self._clip(self.link.inverse(eta)))
        if name == "binomial":
            return dist.BinomialLogits(eta, total_count=trials) if link == "logit" else \
                dist.BinomialProbs(self._clip(self.link.inverse(eta)), total_count=trials)
        if name == "lognormal":
            return dist.LogNormal(eta, aux["sigma"])
        mu = self.link.inverse(eta)
        if name == "gaussian":
            return dist.Normal(mu, aux["sigma"])
        if name == "student_t":
            return dist.StudentT(aux["nu"], mu, aux["sigma"])
        if name == "poisson":
            return dist.Poisson(mu)
        if name == "negative_binomial":
            return dist.NegativeBinomial2(mu, aux["phi"])
        if name == "gamma":
            return dist.Gamma(aux["shape"], aux["shape"] / mu)
        if name == "beta":
            mu = self._clip(mu)
            return dist.Beta(mu * aux["phi"], (1.0 - mu) * aux["phi"])
        raise AssertionError(name)  # pragma: no cover

    @staticmethod
    def _clip(p):
        eps = 1e-7
        return _jnp().clip(p, eps, 1.0 - eps)

    def check_response(self, y: np.ndarray, trials: np.ndarray | None = None,
                       name: str = "the response", positions: np.ndarray | None = None) -> None:
        """Raise a DataError naming the rows whose values the family cannot produce.

        ``positions`` maps each value to its row position in the user's data (rows dropped for
        missing values shift the others)."""
        support = self.spec.support
        y = np.asarray(y, dtype=float)
        whole = np.isclose(y, np.round(y))
        bad, need = None, ""
        if support == "binary":
            bad, need = ~np.isin(y, (0.0, 1.0)), "0 or 1"
        elif support == "binomial":
            if trials is None:
                raise DataError("the binomial family needs trials: write cbind(successes, "
                                "failures) ~ ... or successes | trials(n) ~ ...")
            bad = ~whole | (y < 0) | (y > np.asarray(trials, dtype=float))
            need = "whole numbers between 0 and the number of trials"
        elif support == "count":
            bad, need = ~whole | (y < 0), "non-negative whole numbers"
        elif support == "positive":
            bad, need = ~(y > 0), "positive"
        elif support == "unit":
            bad, need = ~((y > 0) & (y < 1)), "strictly between 0 and 1"
        if bad is not None and bad.any():
            rows = np.flatnonzero(bad)
            where = np.arange(len(y)) if positions is None else np.asarray(positions)
            shown = ", ".join(f"row {where[r]} ({y[r]:g})" for r in rows[:5])
            more = f" and {len(rows) - 5} more" if len(rows) > 5 else ""
            raise DataError(f"the {self.spec.name} family needs {name} to be {need}: "
                            f"{shown}{more}")


def family(name: str, link: str | None = None) -> Family:
    """Look up a family and link by name, with errors that list the valid choices."""
    spec = FAMILIES.get(name)
    if spec is None:
        raise FormulangError(f"unknown family '{name}'; families: {', '.join(FAMILIES)}")
    link = link or spec.default_link
    if link not in spec.links:
        raise FormulangError(f"the {name} family takes the link "
                             f"{' or '.join(repr(k) for k in spec.links)}, not {link!r}")
    return Family(spec, LINKS[link])
