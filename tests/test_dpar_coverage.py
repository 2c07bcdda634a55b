"""A distributional Gaussian model, the cumulative family and the categorical family fitted:
90% intervals cover the truth over replicates (issue 17; the categorical's test is at the
end, with its own replicates and band).

As ``tests/test_zero_inflated_fit.py``'s coverage test: each model simulates REPLICATES datasets
from known values on one design (8 groups x 12 rows, x ~ N(0, 1), fresh group effects each
time) and fits each with NUTS, 2 chains x (300 + 300), non-centred effects (one compiled
sampler per model, vectorised over replicates: bench/sbc.py's ``fit_data``). The priors are
explicit and weakly informative (``CASES``): the design's placeholder response must not set
them, as data-scaled defaults would. Intervals: the central 90% of every scalar parameter:

- ``y ~ x + (1 | g); sigma ~ x`` (gaussian, log sigma linear in x): ``b_Intercept``, ``b_x``,
  ``sd_g__Intercept``, ``b_sigma_Intercept``, ``b_sigma_x``;
- ``y ~ x + (1 | g)``, cumulative (logit), K = 4: ``b_Intercept[1..3]``, ``b_x``,
  ``sd_g__Intercept``.

Acceptance band, two-sided, as test_zero_inflated_fit's: the covered count is taken as
Binomial(n / 2, 0.9) (the intervals of a replicate share its data: a design effect of 2). Here
n = 5 intervals x 40 replicates x 2 models = 400, n / 2 = 200: fail under the 1% quantile
(0.85) or over the 99.5% quantile (0.95) of that binomial's fraction; a calibrated method fails
with probability 1.3% (the seeds are fixed, so a version passes or fails for good), one with 80%
true coverage with probability 96% (``test_the_band_has_power``). Each (model, parameter) must
also cover in at least half of the replicates (a calibrated one covers fewer with probability
2e-11): a sigma on the wrong link, thresholds reported on centred x or a sign flip of eta
would put the truth outside most of that parameter's intervals. (This version: 373 of 400 covered, 0.933; the distributional Gaussian 184 of 200,
the cumulative 189 of 200, no parameter missed more than 5 times.) About 70 s on two cores.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

import formulang as fl
from fit_support import coverage_band, interval_rows

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
import sbc  # noqa: E402  (the vectorised NUTS runner shared with bench/sbc.py)

REPLICATES = 40
GROUPS, ROWS = 8, 12
K = 4  # ordinal categories
CASES = {  # name: (formula, family, explicit priors, truth)
    "distributional gaussian": (
        "y ~ x + (1 | g); sigma ~ x", "gaussian",
        {"Intercept": "normal(0, 2)", "b": "normal(0, 1)", "sd": "half_normal(1)",
         "Intercept_sigma": "normal(0, 1)", "b_sigma": "normal(0, 1)"},
        {"b": [1.0, 0.5], "sd_g": [0.5], "b_sigma": [-0.5, 0.6]}),
    "cumulative": (
        "y ~ x + (1 | g)", "cumulative",
        {"Intercept": "normal(0, 2)", "b": "normal(0, 1)", "sd": "half_normal(1)"},
        {"b": [0.8], "sd_g": [0.5], "b_Intercept": [-1.0, 0.0, 1.2]}),
}


def design(family: str) -> pd.DataFrame:
    rng = np.random.default_rng(21)
    g = np.repeat(np.arange(GROUPS), ROWS)
    # the response is a placeholder in the family's support (every category for the
    # ordinal one); simulation replaces it, and the explicit priors do not read it
    y = np.arange(g.size) % K + 1 if family == "cumulative" else np.zeros(g.size)
    return pd.DataFrame({"x": rng.normal(size=g.size), "g": [f"g{i}" for i in g], "y": y})


def response(model, y: np.ndarray) -> dict:
    """The data pytree with a simulated response. Categories (ordinal or not) stay the
    model's integer category codes 0..K-1 (``simulate``'s ``y``, the sampler's;
    ``sim.data()`` holds the categories' labels)."""
    data = sbc.with_response(model, y)
    if model.plan.family.spec.probabilities is not None:
        k = model.bound.spec.response_levels.k
        assert np.isin(y, np.arange(k)).all(), "simulate's category codes are no longer 0..K-1"
        data["y"] = np.asarray(y, dtype=model.data["y"].dtype)
    return data


def coverage(name: str) -> list[tuple[str, int, bool]]:
    """(parameter, replicate, covered) for every interval of one model."""
    formula, family, priors, truth = CASES[name]
    model = fl.Model(formula, design(family), family=family, priors=priors,
                     reparam="noncentered")
    sim = model.simulate(truth, seed=3 + list(CASES).index(name), draws=REPLICATES)
    sites = sbc.fit_data(model, [response(model, sim.y[i]) for i in range(REPLICATES)],
                         draws=300, tune=300, chains=2, seed=70)
    return interval_rows([model] * REPLICATES, sites, truth)


def test_the_band_has_power():
    n = 5 * REPLICATES * len(CASES)
    n_eff = n // 2
    low, high = coverage_band(n)
    k_low, k_high = round(low * n_eff), round(high * n_eff)
    assert stats.binom.cdf(k_low - 1, n_eff, 0.9) + stats.binom.sf(k_high, n_eff, 0.9) < 0.015
    assert stats.binom.cdf(k_low - 1, n_eff, 0.80) > 0.95
    # the per-parameter floor: half of the replicates
    assert stats.binom.cdf(REPLICATES // 2 - 1, REPLICATES, 0.9) < 1e-10


def test_ninety_percent_intervals_cover_the_truth_over_replicates():
    results = {name: coverage(name) for name in CASES}
    n = sum(len(rows) for rows in results.values())
    assert n == 5 * REPLICATES * len(CASES)
    assert {p for p, _, _ in results["cumulative"]} == {
        "b_Intercept[1]", "b_Intercept[2]", "b_Intercept[3]", "b_x", "sd_g__Intercept"}
    assert {p for p, _, _ in results["distributional gaussian"]} == {
        "b_Intercept", "b_x", "sd_g__Intercept", "b_sigma_Intercept", "b_sigma_x"}
    covered = sum(ok for rows in results.values() for _, _, ok in rows)
    low, high = coverage_band(n)
    misses = {f"{name}: {param}": sum(not ok for p, _, ok in rows if p == param)
              for name, rows in results.items() for param in sorted({p for p, _, _ in rows})}
    report = ", ".join(f"{k} {v}/{REPLICATES}" for k, v in misses.items() if v)
    assert low <= covered / n <= high, \
        f"{covered} of {n} intervals cover ({covered / n:.3f}, outside [{low:.3f}, " \
        f"{high:.3f}]); misses: {report}"
    poor = [k for k, v in misses.items() if v > REPLICATES // 2]
    assert not poor, f"covered in fewer than half of the replicates: {poor}; misses: {report}"


def test_simulated_ordinal_data_refit():
    """``sim.data()`` is the design with the simulated response, to refit (README, "Simulated
    data and calibration"). FAILS today (formulang bug, reported, not fixed on this branch):
    for a cumulative model ``simulate`` returns the sampler's category codes 0..K-1, so
    ``sim.data()`` holds 0..3 and ``fl.Model`` refuses it (an ordinal response is whole numbers
    1..K or a factor); ``prior_predictive`` and ``posterior_predictive`` give 1..K."""
    formula, family, priors, truth = CASES["cumulative"]
    data = design(family)
    model = fl.Model(formula, data, family=family, priors=priors)
    sim = model.simulate(truth, seed=1)
    y = np.asarray(sim.data()["y"])
    assert set(np.unique(y)) <= set(range(1, K + 1)), np.unique(y)
    refit = fl.Model(formula, sim.data(), family=family, priors=priors)
    assert refit.bound.n == len(data)


# ---- categorical: 3 categories, each non-reference category's formula with x -----------------

CAT_REPLICATES = 30
CATEGORICAL = ("y ~ x", {"Intercept_mu2": "normal(0, 1.5)", "b_mu2": "normal(0, 1)",
                         "Intercept_mu3": "normal(0, 1.5)", "b_mu3": "normal(0, 1)"},
               {"b_mu2": [0.3, 1.0], "b_mu3": [-0.4, -0.7]})


def test_categorical_intervals_cover_the_truth_over_replicates():
    """``y ~ x``, categorical, K = 3 (mu2 and mu3 each with an intercept and a slope for x):
    the central 90% intervals of b_mu2_Intercept, b_mu2_x, b_mu3_Intercept, b_mu3_x over
    CAT_REPLICATES simulated datasets (96 rows, x ~ N(0, 1); 2 chains x (300 + 300), one
    compiled sampler over the replicates). The same band as above (Binomial(n / 2, 0.9), 1%
    and 99.5% quantiles): with n = 120 it is wide (a calibrated method fails with
    probability 1.3%, one at 80% coverage is caught about half the time), and each parameter
    must cover in at least half of the replicates: a category's predictor swapped with
    another's, or the reference category moved, would miss most of them. (This version: 109
    of 120 covered, 0.908; no parameter missed more than 3 times; no divergence. ~16 s.)"""
    formula, priors, truth = CATEGORICAL
    rng = np.random.default_rng(22)
    data = pd.DataFrame({"x": rng.normal(size=96), "y": np.arange(96) % 3 + 1})
    model = fl.Model(formula, data, family="categorical", priors=priors)
    sim = model.simulate(truth, seed=8, draws=CAT_REPLICATES)
    sites = sbc.fit_data(model, [response(model, sim.y[i]) for i in range(CAT_REPLICATES)],
                         draws=300, tune=300, chains=2, seed=72)
    rows = interval_rows([model] * CAT_REPLICATES, sites, truth)
    assert {p for p, _, _ in rows} == {"b_mu2_Intercept", "b_mu2_x", "b_mu3_Intercept",
                                       "b_mu3_x"}
    n, covered = len(rows), sum(ok for _, _, ok in rows)
    misses = {param: sum(not ok for p, _, ok in rows if p == param)
              for param in sorted({p for p, _, _ in rows})}
    low, high = coverage_band(n)
    assert low <= covered / n <= high, f"{covered} of {n} cover; misses: {misses}"
    assert max(misses.values()) <= CAT_REPLICATES // 2, misses
