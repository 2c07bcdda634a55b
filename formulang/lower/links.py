"""Link functions as rows: each :class:`Link` carries everything formulang does with it.

``eta = link(mu)``. A row holds the link in NumPy (``forward``, and ``inverse`` in float64 for
predictions), the inverse in JAX (the model), its derivative (the pilot's IRLS weights), the
inverse as source text (generated code), and the few data-dependent choices made on the link
scale: where the pilot starts (``start``) and where a default intercept prior is centred
(``location``). The table :data:`LINKS` is the only place these are written.

>>> LINKS["logit"].code("eta")
'jax.nn.sigmoid(eta)'
>>> round(float(LINKS["log"].inverse(np.log(3.0))), 12)
3.0
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

_INF = float("inf")
# probabilities stay within (1e-6, 1 - 1e-6) in the pilot: the logit and probit of 1 - 1e-6
_LOGIT_MAX = 13.815509557935018
_PROBIT_MAX = 4.753424308817087


@dataclass(frozen=True)
class Link:
    """One link function and its behaviour (see the module docstring).

    ``domain``: the ``eta`` range the pilot keeps to (``exp`` overflows beyond it, a mean of 0
    or 1 has no working weight, the inverse link needs ``eta > 0``); ``is_identity``: the link
    scale is the data's scale (default priors scale by ``sd(y)``).
    """

    name: str
    forward: Callable  # NumPy: mean -> eta
    inverse: Callable  # NumPy float64: eta -> mean
    inverse_jax: Callable  # JAX: eta -> mean (the model)
    dmu_deta: Callable  # NumPy: eta -> d mean / d eta
    source: str  # the inverse as generated code writes it; "{}" stands for eta
    start: Callable  # NumPy: y -> a mean the link can take (R's glm start values)
    location: Callable  # the response's mean -> the link-scale centre of default priors
    domain: tuple[float, float] = (-_INF, _INF)
    is_identity: bool = False
    # links of a probability: its log-odds at eta (JAX, and as source, "{0}" for eta),
    # computed stably; the Bernoulli and binomial likelihoods take it
    log_odds_jax: Callable | None = None
    log_odds_source: str | None = None

    def code(self, eta: str = "eta") -> str:
        """The inverse link applied to ``eta``, as source text."""
        return self.source.format(eta)

    def log_odds_code(self, eta: str = "eta") -> str:
        """The log-odds of the mean at ``eta``, as source text (links of a probability)."""
        return self.log_odds_source.format(eta)

    def working(self, eta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(mean, d mean / d eta) at ``eta``, guarded for the pilot's IRLS."""
        e = np.clip(eta, *self.domain)
        return self.inverse(e), self.dmu_deta(e)


def _jax():
    import jax  # imported lazily: parsing and binding do not need JAX

    return jax


def _jax_special():
    import jax.scipy.special

    return jax.scipy.special


def _special():
    from scipy import special  # imported lazily, as JAX: ``import formulang`` stays light

    return special


def _expit(e):
    return _special().expit(e)


def _positive_start(y):
    return np.maximum(y, 1e-3 * max(float(np.mean(np.abs(y))), 1e-12))


def _logit(p):
    return np.log(p) - np.log1p(-p)


def _probit_log_odds(e):
    """``log Phi(e) - log Phi(-e)``: the probit's log-odds without forming ``Phi(e)``, which
    rounds to 1 in float32 from ``e`` about 5.4. A probability clipped off 1 there left the
    likelihood flat in ``e``, and NUTS chains started in such a region stayed there (a fit
    of the R glm fixtures, tests/test_glm_reference.py: R-hat 2.2)."""
    log_ndtr = _jax_special().log_ndtr
    return log_ndtr(e) - log_ndtr(-e)


LINKS: dict[str, Link] = {link.name: link for link in [
    Link("identity", lambda m: m, lambda e: e, lambda e: e, np.ones_like, "{}",
         start=lambda y: y, location=lambda m: m, is_identity=True),
    Link("log", np.log, np.exp, lambda e: _jax().numpy.exp(e), np.exp, "jnp.exp({})",
         start=_positive_start, location=lambda m: np.log(max(m, 0.1)), domain=(-_INF, 30.0)),
    Link("logit", _logit, _expit, lambda e: _jax().nn.sigmoid(e),
         lambda e: _expit(e) * _expit(-e), "jax.nn.sigmoid({})",
         start=lambda y: np.clip(y, 1e-3, 1 - 1e-3),
         location=lambda m: _logit(np.clip(m, 0.01, 0.99)), domain=(-_LOGIT_MAX, _LOGIT_MAX),
         log_odds_jax=lambda e: e, log_odds_source="{0}"),
    Link("probit", lambda p: _special().ndtri(p), lambda e: _special().ndtr(e),
         lambda e: _jax_special().ndtr(e),
         lambda e: np.exp(-0.5 * e**2) / np.sqrt(2 * np.pi), "jax.scipy.special.ndtr({})",
         start=lambda y: np.clip(y, 1e-3, 1 - 1e-3),
         location=lambda m: _special().ndtri(np.clip(m, 0.01, 0.99)),
         domain=(-_PROBIT_MAX, _PROBIT_MAX), log_odds_jax=_probit_log_odds,
         log_odds_source="jax.scipy.special.log_ndtr({0}) - jax.scipy.special.log_ndtr(-({0}))"),
    # the inverse link needs eta > 0: the pilot keeps it there
    Link("inverse", lambda m: 1.0 / m, lambda e: 1.0 / e, lambda e: 1.0 / e,
         lambda e: -1.0 / e**2, "1.0 / {}", start=_positive_start,
         location=lambda m: 1.0 / (m if m != 0 else 1.0), domain=(1e-10, _INF)),
]}


__all__ = ["LINKS", "Link"]
