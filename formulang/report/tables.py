"""brms's tables of a fit: ``fixef``, ``ranef``, ``coef``, ``bayes_R2`` and ``loo_R2``.

Columns are brms's: ``Estimate`` (posterior mean), ``Est.Error`` (posterior SD) and the
interval's quantiles named as brms names them (``Q2.5``, ``Q97.5`` for ``prob=0.95``; ``Q5``,
``Q95`` for ``prob=0.9``). Hypothesis tests are :mod:`formulang.report.hypothesis`.

>>> quantile_names(0.95), quantile_names(0.9)
(['Q2.5', 'Q97.5'], ['Q5', 'Q95'])
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..errors import FormulangError
from ..lower.sites import (POPULATION, all_groups, column_dpars, dpar_column, effect_names,
                           predictors, threshold_name)


def check_prob(prob) -> float:
    """``prob``: an interval's probability, strictly between 0 and 1."""
    if isinstance(prob, bool) or not isinstance(prob, (int, float)) or not 0 < prob < 1:
        raise FormulangError(f"prob must be a number between 0 and 1 (the interval's "
                             f"probability, e.g. 0.95): got {prob!r}")
    return float(prob)


def interval(prob: float) -> tuple[float, float]:
    """The quantiles of a central interval of probability ``prob``."""
    prob = check_prob(prob)
    return (1 - prob) / 2, (1 + prob) / 2


def quantile_names(prob: float) -> list[str]:
    """brms's column names of the interval: ``Q`` and the percentage (R's ``paste0``)."""
    return [f"Q{round(100 * q, 8):g}" for q in interval(prob)]


def quantiles(draws: np.ndarray, q, weights=None) -> np.ndarray:
    """Quantiles ``q`` (len(q) x quantities) of each column of ``draws`` (draws x
    quantities). With ``weights`` (one per draw, summing to 1): the inverse of the weighted
    empirical CDF, interpolated between draws at the midpoints of their weights (equal
    weights give NumPy's default quantiles, but for the outer half-draws).

    >>> x = np.arange(5.0)[:, None]
    >>> w = np.array([0.1, 0.1, 0.1, 0.1, 0.6])  # most weight on the largest draw
    >>> float(quantiles(x, [0.5])[0, 0]), round(float(quantiles(x, [0.5], w)[0, 0]), 3)
    (2.0, 3.429)
    """
    draws = np.asarray(draws, dtype=float)
    if weights is None:
        return np.quantile(draws, q, axis=0)
    order = np.argsort(draws, axis=0)
    x = np.take_along_axis(draws, order, axis=0)
    w = np.asarray(weights, dtype=float).reshape(len(draws))[order]
    mid = np.cumsum(w, axis=0) - 0.5 * w
    return np.stack([[np.interp(qk, mid[:, j], x[:, j]) for j in range(x.shape[1])]
                     for qk in np.atleast_1d(q)])


def moments(draws: np.ndarray, prob: float, weights=None) -> tuple:
    """``(mean, sd, lower, upper)`` of each column of ``draws`` (draws x quantities), the
    interval central with probability ``prob``; with ``weights`` (one per draw, summing to
    1: an embedded-Laplace fit's importance weights, ``fit.importance_weights``), of the
    weighted draws."""
    draws = np.asarray(draws, dtype=float)
    n = draws.shape[0]
    lo, hi = quantiles(draws, interval(prob), weights)
    if weights is None:
        sd = draws.std(axis=0, ddof=1) if n > 1 else np.full(draws.shape[1], np.nan)
        return draws.mean(axis=0), sd, lo, hi
    w = np.asarray(weights, dtype=float).reshape(n)
    mean = w @ draws
    sd = np.sqrt(np.maximum(w @ (draws - mean) ** 2, 0.0) / max(1.0 - float(w @ w), 1e-12))
    return mean, sd, lo, hi


def describe(draws: np.ndarray, prob: float = 0.95, weights=None) -> pd.DataFrame:
    """Estimate, Est.Error and quantiles of each column of ``draws`` (draws x quantities);
    ``weights``: see :func:`moments`."""
    mean, sd, lo, hi = moments(draws, prob, weights)
    names = quantile_names(prob)
    return pd.DataFrame({"Estimate": mean, "Est.Error": sd, names[0]: lo, names[1]: hi})


def _flat(a) -> np.ndarray:
    a = np.asarray(a, dtype=float)
    return a.reshape((-1,) + a.shape[2:])  # (chains, draws, ...) -> (draws, ...)


def _thresholds(pred, samples: dict) -> tuple[list[str], list[np.ndarray]]:
    """An ordinal model's thresholds as brms's fixef rows (``Intercept[1]``...) and draws, for
    the predictors as given (``b_Intercept``); none for other formulas."""
    site = getattr(pred, "thresholds", None)
    if site is None:
        return [], []
    name = pred.sites.threshold_values
    if name not in samples:
        raise FormulangError(f"this fit has no thresholds ({name})")
    return [threshold_name(str(j)) for j in range(1, site.size + 1)], [_flat(samples[name])]


def _coefficients(plan, samples: dict) -> tuple[list[str], np.ndarray]:
    """Every population-level coefficient, brms's names (``Intercept``, ``x``; an ordinal
    model's thresholds ``Intercept[1]``... first; of a sub-formula ``sigma_Intercept``,
    ``sigma_x``) and draws (draws x coefficients)."""
    names, draws = [], []
    for pred in predictors(plan):
        more, theta = _thresholds(pred, samples)
        names += more
        draws += theta
        if not pred.columns:
            continue
        name = pred.sites.coefficients
        if name not in samples:
            raise FormulangError(f"this fit has no population-level coefficients ({name})")
        names += [dpar_column(c, pred.dpar) for c in pred.columns]
        draws.append(_flat(samples[name]))
    if not names:
        raise FormulangError("this fit has no population-level coefficients")
    return names, np.concatenate(draws, axis=-1)


def fixef(plan, samples: dict, prob: float = 0.95, weights=None) -> pd.DataFrame:
    """brms's ``fixef``: one row per population-level coefficient (``Intercept``, ``Days``;
    an ordinal model's thresholds ``Intercept[1]``... first), a family parameter's formula's
    after the response's (``sigma_Intercept``, ``sigma_x``)."""
    names, draws = _coefficients(plan, samples)
    table = describe(draws, prob, weights)
    table.index = names
    return table


def _stack(per_effect: dict, levels, prob: float, weights=None) -> pd.DataFrame:
    """levels x (effect, statistic): ``table["Days"]`` is brms's ``ranef(fit)$g[, , "Days"]``."""
    parts = {col: describe(d, prob, weights).set_axis(list(levels))
             for col, d in per_effect.items()}
    return pd.concat(parts, axis=1)


def _effects(plan, samples: dict, name: str | None) -> dict:
    """Per grouping factor: its levels and, by brms's effect name, the draws (draws x levels)
    of every term on it, the response's formula's and the sub-formulas' (``Intercept``,
    ``sigma_Intercept``), as brms's ``ranef(fit)$g`` holds them."""
    factors: dict[str, tuple[list, dict]] = {}
    for g in all_groups(plan):
        levels, effects = factors.setdefault(g.label, (list(g.levels), {}))
        r = _flat(samples[g.sites.r])  # draws x levels x effects
        # the terms on one factor bind the same rows, so the same levels; align by name
        where = {level: i for i, level in enumerate(g.levels)}
        rows = np.asarray([where.get(level, -1) for level in levels])
        # a term spanning formulas (brms's |p|) names each column after its own formula
        for j, (col, dpar) in enumerate(zip(effect_names(g), column_dpars(g))):
            values = np.where(rows >= 0, r[:, np.maximum(rows, 0), j], 0.0)
            effects[dpar_column(col, dpar)] = values
    if name is not None and name not in factors:
        raise FormulangError(f"no group term {name!r}: the model's are "
                             f"{', '.join(factors) or 'none'}")
    return {k: v for k, v in factors.items() if name is None or k == name}


def ranef(plan, samples: dict, prob: float = 0.95, group: str | None = None,
          weights=None) -> dict:
    """brms's ``ranef``: per grouping factor, a DataFrame of levels x (effect, statistic); a
    family parameter's formula's effects on the factor are there too (``sigma_Intercept``)."""
    return {factor: _stack(effects, levels, prob, weights)
            for factor, (levels, effects) in _effects(plan, samples, group).items()}


def coef(plan, samples: dict, prob: float = 0.95, group: str | None = None,
         weights=None) -> dict:
    """brms's ``coef``: per grouping factor, each level's coefficients (population-level
    coefficient plus the level's effect, per draw); every population coefficient is listed
    (a family parameter's formula's too: ``sigma_x``), an effect the term lacks counting as
    0, as brms does. An ordinal model's level intercept moves its thresholds the other way
    (brms's ``Intercept[k] - r_g[Intercept]``: ``P(y <= k) = F(theta_k - eta)``), in place of
    an ``Intercept`` column."""
    names, b = _coefficients(plan, samples)
    thresholds = _thresholds(plan, samples)[0]
    intercept = POPULATION.intercept_key
    out = {}
    for factor, (levels, effects) in _effects(plan, samples, group).items():
        per = {}
        shifted = bool(thresholds) and intercept in effects
        extra = [c for c in effects if c not in names and not (shifted and c == intercept)]
        for col in names + extra:
            value = np.zeros((b.shape[0], len(levels)))
            if col in names:
                value = value + b[:, [names.index(col)]]
            if col in effects:
                value = value + effects[col]
            elif shifted and col in thresholds:
                value = value - effects[intercept]
            per[col] = value
        out[factor] = _stack(per, levels, prob, weights)
    return out


def _response(fit):
    if fit.bound is None or fit.observed is None:
        raise FormulangError("R² compares predictions with the training rows, which this fit "
                             "does not hold (it was saved without them): attach them with "
                             "fit.attach_data(data)")
    y = np.asarray(fit.observed, dtype=float)
    mu = np.asarray(fit.predict(kind="mean"), dtype=float)  # brms's posterior_epred
    return y, mu


def bayes_r2_draws(fit) -> np.ndarray:
    """Per draw var(mu) / (var(mu) + var(y - mu)), mu the expected response (Gelman, Goodrich,
    Gabry & Vehtari 2019; brms's ``bayes_R2``, residuals from the data for every family)."""
    y, mu = _response(fit)
    var_mu = mu.var(axis=1, ddof=1)
    var_e = (y - mu).var(axis=1, ddof=1)
    return var_mu / (var_mu + var_e)


def loo_r2_draws(fit, seed: int = 0) -> np.ndarray:
    """brms's ``loo_R2``: 1 - var(y - E_loo[mu]) / var(y), PSIS-LOO expectations, with
    Bayesian-bootstrap (Dirichlet) weights over rows giving one value per draw."""
    from .idata import import_arviz

    az = import_arviz()
    y, mu = _response(fit)
    ll = fit.log_likelihood()  # chains x draws x rows
    chains, draws, n = ll.shape
    reff = _relative_efficiency(ll)
    lw, _ = az.psislw(-ll.reshape(chains * draws, n).T, reff)  # rows x draws, normalised
    mu_loo = np.sum(np.exp(lw) * mu.T, axis=1)
    err = mu_loo - y
    e = np.random.default_rng(seed).exponential(size=mu.shape)
    w = e / e.sum(axis=1, keepdims=True)
    var_y = n / (n - 1) * (w @ y ** 2 - (w @ y) ** 2)
    # brms 2.18 squares the weighted errors before summing in the second term; kept, so the
    # numbers are brms's
    var_err = n / (n - 1) * (w @ err ** 2 - np.sum((w * err) ** 2, axis=1))
    return np.clip(1 - var_err / var_y, -1, 1)


def _relative_efficiency(ll: np.ndarray) -> float:
    """Mean relative ESS of exp(log-lik) over rows (loo's ``relative_eff``; 1 for one chain
    or draws that are not Markov chains)."""
    from .convergence import convergence

    if ll.shape[0] < 2:
        return 1.0
    like = np.exp(ll - ll.max(axis=(0, 1), keepdims=True))
    _, ess, _ = convergence(like)
    return float(np.clip(np.nanmean(ess) / (ll.shape[0] * ll.shape[1]), 0.01, 1.0))


def r2_table(draws: np.ndarray, name: str, prob: float = 0.95) -> pd.DataFrame:
    """A one-row table as brms prints ``bayes_R2``: ``R2`` (or ``loo_R2``) by its columns."""
    return describe(np.asarray(draws)[:, None], prob).set_axis([name])
