"""Zero-inflated and hurdle families: rows built from their base family's row (brms's names
and parameterisation).

- **Zero-inflated** (``zero_inflated_poisson``, ``_negbinomial``, ``_binomial``): an extra
  zero with probability ``zi``, else the base family:
  ``P(0) = zi + (1 - zi) P_base(0)``, ``P(y) = (1 - zi) P_base(y)`` for ``y > 0``; the
  mean is ``(1 - zi) mu`` (NumPyro's ``ZeroInflatedDistribution``).
- **Hurdle** (``hurdle_poisson``, ``_negbinomial``, ``_gamma``, ``_lognormal``): a zero with
  probability ``hu``, else the base family given ``Y > 0`` (the count truncated at zero;
  a continuous base as it is): ``P(0) = hu``, ``p(y) = (1 - hu) p_base(y) / (1 - P_base(0))``;
  the mean is ``(1 - hu) E_base[Y | Y > 0]``
  (:func:`~formulang.lower.mixtures.Hurdle`).

The linear predictor is the base family's ``mu`` on its link; the other parameters are the
base row's (with its default priors), and ``zi`` / ``hu`` get brms's ``beta(1, 1)``. For the
pilot fit (:mod:`formulang.lower.pilot`), a zero-inflated family fits its base family's GLM
to every row (it estimates ``(1 - zi) mu``) and starts ``zi`` at the share of zeros beyond
the base family's, matching both the zeros and the mean; a hurdle family fits its base
family to the positive rows only (zeros get weight 0) and starts ``hu`` at the share of
zeros. Rows never merge (:mod:`formulang.lower.compress`: sums of such rows are not of the
same form); censoring, truncation, ``rate()`` and ``se()`` are refused (the rows have no
distribution functions).

This module only builds rows: :mod:`formulang.lower.families` registers them.

>>> import numpy as np
>>> from formulang.lower.families import FAMILIES
>>> zero_probability(FAMILIES["poisson"], np.array([np.log(2.0)]), {}, None).round(4).tolist()
[0.1353]
"""

from __future__ import annotations

import dataclasses

import numpy as np

from .draws import per_draw

# the zero-inflated and hurdle rows: (name, base family, kind, what the base part is)
ROWS = (("zero_inflated_poisson", "poisson", "zi", "poisson(mu)"),
        ("zero_inflated_negbinomial", "negative_binomial", "zi",
         "negative binomial(mu, phi)"),
        ("zero_inflated_binomial", "binomial", "zi", "binomial(trials, mu)"),
        ("hurdle_poisson", "poisson", "hu", "poisson(mu)"),
        ("hurdle_negbinomial", "negative_binomial", "hu", "negative binomial(mu, phi)"),
        ("hurdle_gamma", "gamma", "hu", "gamma(mean mu, shape)"),
        ("hurdle_lognormal", "lognormal", "hu", "lognormal(mu, sigma; mu on the log scale)"))

_DOCS = {"zi": "excess zeros: with probability zi a zero, else {base}",
         "hu": "zeros apart: with probability hu a zero, else {base} given y > 0"}


# ---- the base families' P(Y = 0), NumPy float64 ------------------------------------------------

def _log_zero(base, mu, p: dict, n):
    """``log P(Y = 0)`` of the base row ``base`` at mean ``mu`` (its ``log_zero``; ``-inf``
    for a continuous base); ``p`` values broadcast against ``mu``."""
    mu = np.asarray(mu, dtype=float)
    return np.full(mu.shape, -np.inf) if base.log_zero is None else base.log_zero(mu, p, n)


def zero_probability(base, eta, aux: dict, trials, link: str = "log"):
    """``P(Y = 0)`` of base row ``base`` at linear predictor ``eta`` (NumPy float64)."""
    from .links import LINKS

    return np.exp(_log_zero(base, LINKS[link].inverse(np.asarray(eta, dtype=float)), aux,
                            trials))


def _per_draw(aux: dict) -> dict:
    """Aux values against ``eta`` (draws x rows): per-draw ones as columns."""
    return {k: per_draw(v) for k, v in aux.items()}


# ---- zero inflation ----------------------------------------------------------------------------

def _zi_likelihood(base):
    def likelihood(d, link, eta, p, n):
        return d.ZeroInflatedDistribution(base.likelihood(d, link, eta, p, n), gate=p["zi"])
    return likelihood


def _zi_source(base):
    def source(link):
        *setup, expression = base.source(link)
        return setup + [f"dist.ZeroInflatedDistribution({expression}, gate=zi)"]
    return source


def _base_mean(base, link, eta, p, n):
    return link.inverse(eta) if base.mean is None else base.mean(link, eta, p, n)


def _zi_mean(base):
    def mean(link, eta, p, n):
        return (1.0 - _per_draw(p)["zi"]) * _base_mean(base, link, eta, p, n)
    return mean


def _zi_pilot(base):
    def start(y, trials, mu, aux) -> dict:
        """Match the share of zeros and the mean: ``mu`` (all rows' fit) estimates
        ``(1 - zi) mu_base``, so iterate ``zi = (pi0 - P0) / (1 - P0)`` with ``P0`` the base
        family's mean zero probability at ``mu / (1 - zi)`` (exact for a constant mean)."""
        pi0 = float(np.mean(np.asarray(y) == 0))
        zi = 0.0
        for _ in range(100):
            m = mu / (1.0 - zi)
            if base.trials:  # a probability per trial
                m = np.clip(m, 0.0, 1.0 - 1e-9)
            p0 = float(np.mean(np.exp(_log_zero(base, m, aux, trials))))
            new = float(np.clip((pi0 - p0) / max(1.0 - p0, 1e-9), 0.0, 0.99))
            if abs(new - zi) < 1e-6:
                break
            zi = new
        return {"zi": zi}
    return start


def zero_inflated(name: str, base, part, doc: str):
    """The zero-inflated row ``name`` over ``base`` (a FamilySpec), with parameter ``part``
    (the ``zi`` Aux)."""
    return dataclasses.replace(
        base, name=name, parameters=base.parameters + (part,), doc=_DOCS["zi"].format(base=doc),
        likelihood=_zi_likelihood(base), source=_zi_source(base), mean=_zi_mean(base),
        pilot_zero=_zi_pilot(base), **_NO_ADDITIONS)


# the capabilities the rows lose: merging rows, censoring and truncation, rate(), se(), and the
# embedded Laplace path (a mixture's log-likelihood is not concave in eta)
_NO_ADDITIONS = dict(collapsible=False, log_concave=False, merge=None, merges_into=None,
                     log_cdfs=None, icdf=None, rate_aux=None, se=False, moments=None)


# ---- hurdle ------------------------------------------------------------------------------------

def _hu_likelihood(base):
    def likelihood(d, link, eta, p, n):
        from .mixtures import Hurdle

        return Hurdle(base.likelihood(d, link, eta, p, n), p["hu"])
    return likelihood


def _hu_source(base):
    def source(link):
        *setup, expression = base.source(link)
        # formulang's hurdle distribution (NumPyro has none)
        return ["from formulang.lower.mixtures import Hurdle"] + setup + \
            [f"Hurdle({expression}, hu)"]
    return source


def _hu_mean(base):
    def mean(link, eta, p, n):
        q = _per_draw(p)
        positive = -np.expm1(_log_zero(base, link.inverse(eta), q, n))
        return (1.0 - q["hu"]) * _base_mean(base, link, eta, p, n) / positive
    return mean


def _hu_working(base):
    def working_response(y, trials):
        """The base family's working response on the positive rows; zeros get weight 0
        (and a typical positive value, so that nothing reads a stand-in log(0))."""
        y = np.asarray(y, dtype=float)
        positive = y > 0
        fill = float(np.mean(y[positive])) if positive.any() else 1.0
        z, w = base.working_response(np.where(positive, y, fill), trials)
        keep = positive.astype(float)
        return z, keep if w is None else w * keep
    return working_response


def _hu_pilot(y, trials, mu, aux) -> dict:
    """``hu``: the share of zeros (its maximum-likelihood estimate without predictors)."""
    return {"hu": float(np.clip(np.mean(np.asarray(y) == 0), 0.0, 0.99))}


def hurdle(name: str, base, part, doc: str):
    """The hurdle row ``name`` over ``base`` (a FamilySpec), with parameter ``part`` (the
    ``hu`` Aux)."""
    support = "count" if base.support == "count" else "nonnegative"
    return dataclasses.replace(
        base, name=name, parameters=base.parameters + (part,), support=support,
        doc=_DOCS["hu"].format(base=doc),
        likelihood=_hu_likelihood(base), source=_hu_source(base),
        mean=_hu_mean(base), working_response=_hu_working(base),
        pilot_zero=_hu_pilot, **_NO_ADDITIONS)


def mixture_rows(families: dict, zi, hu) -> list:
    """The zero-inflated and hurdle rows (:data:`ROWS`), from the base rows in ``families``
    and the ``zi`` and ``hu`` Aux rows."""
    build = {"zi": (zero_inflated, zi), "hu": (hurdle, hu)}
    return [build[kind][0](name, families[base], build[kind][1], doc)
            for name, base, kind, doc in ROWS]


__all__ = ["ROWS", "hurdle", "mixture_rows", "zero_inflated", "zero_probability"]
