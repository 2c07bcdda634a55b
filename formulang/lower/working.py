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
from .links import LINKS

class Working:
    """IRLS working response ``z`` (link scale, offset included) and precision ``a``, from the
    family's row: its working response, variance function, start values and dispersion."""

    def __init__(self, bound, fam: Family):
        spec = fam.spec
        # a family may fit its working response on another scale (ordinal: latent scores)
        self.spec = spec
        self.link = LINKS[spec.pilot_link] if spec.pilot_link else fam.link
        if spec.trials and bound.trials is None:
            raise FormulangError(f"the {spec.name} family needs trials: write "
                                 "cbind(successes, failures) ~ ... or "
                                 "successes | trials(n) ~ ...")
        y, n = spec.working_response(np.asarray(bound.y, dtype=float), bound.trials)
        w = None if bound.weights is None else np.asarray(bound.weights, dtype=float)
        if n is not None:
            w = n if w is None else w * n
        self.y, self.prior = y, w
        self.response, self.trials = bound.y, bound.trials  # as given, for pilot_zero
        self.kappa = 0.0  # the dispersion the family's row estimates by moments (NB: 1/phi)
        self.fixed_scale = spec.fixed_scale
        self.identity_gaussian = self.link.is_identity and spec.gaussian_like

    def start(self) -> np.ndarray:
        """R's ``glm`` start values, as eta."""
        y, spec = self.y, self.spec
        if spec.glm_start is not None:
            mu = spec.glm_start(y, self.prior if self.prior is not None else np.ones_like(y))
        else:
            mu = self.link.start(y)
        return self.link.forward(mu)

    def at(self, eta: np.ndarray, leverage=None) -> tuple[np.ndarray, np.ndarray]:
        """(z, a) at the linear predictor ``eta`` (offset included); with ``leverage``, first
        update the dispersion from the residuals there."""
        if self.identity_gaussian:
            a = np.ones_like(self.y) if self.prior is None else self.prior
            return self.y, a
        mu, d = self.link.working(eta)
        if leverage is not None:
            self.update_dispersion(mu, leverage)
        var = np.maximum(self.spec.variance(mu, self.kappa), 1e-12)
        z = eta + (self.y - mu) / d
        a = d**2 / var
        if self.prior is not None:
            a *= self.prior
        return z, a

    def update_dispersion(self, mu: np.ndarray, leverage) -> None:
        """The family's dispersion by moments, where its row estimates one that way."""
        if self.spec.dispersion is not None:
            w = np.ones_like(mu) if self.prior is None else self.prior
            self.kappa = self.spec.dispersion(self.y, mu, w, leverage)

    def aux(self, scale: float, eta: np.ndarray | None = None) -> dict:
        """The family parameters' pilot estimates, from the working residual scale (and the
        fitted linear predictor ``eta``, where the row estimates a zero probability)."""
        out = dict(self.spec.pilot_aux(scale, self.kappa))
        if self.spec.pilot_zero is not None and eta is not None:
            mu = self.link.inverse(np.clip(eta, *self.link.domain))
            out.update(self.spec.pilot_zero(np.asarray(self.response, dtype=float),
                                            self.trials, mu, out))
        return out


__all__ = ["Working"]
