"""A reduced simulation-based calibration run (the code of ``bench/sbc.py``, fewer simulations).

30 simulations of ``y ~ x + (1 + x | g)`` (6 groups x 8 rows, explicit priors) drawn from the
prior by ``model.simulate``, each fitted with NUTS (2 chains x (250 warm-up + 200 draws)), once
with the full (non-centred) model and once with the collapsed sampler (group effects integrated
out, then drawn from their exact conditional); the rank of each true value among L = 39
thinned draws should be uniform on 0..39.

Threshold. Per sampler, eight parameters (the six population, SD, correlation and residual
parameters and the two effects of the first group), each tested twice (chi-square over 5 bins
of 8 rank values, expected 6 per bin; Kolmogorov-Smirnov on jittered ranks): 16 tests at
p >= 5e-4 give a family-wise false-alarm probability below 16 x 5e-4 = 0.8% per sampler
(Bonferroni; the tests are positively correlated, which only lowers it). With 30 simulations this catches gross errors:
a prior or likelihood scale off by half shifts the ranks of its parameter to one end, as the
last test checks on the same fits.
"""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
import sbc  # noqa: E402

SIMS, L, BINS = 30, 39, 5
P_MIN = 5e-4


@pytest.fixture(scope="module", params=["full", "collapsed"])
def fitted(request):
    collapse = request.param == "collapsed"
    fits = sbc.simulate_and_fit(SIMS, draws=200, tune=250, chains=2, seed=11, batch=None,
                                collapse=collapse)
    assert fits[0].collapsed == collapse
    return fits


def test_ranks_of_every_parameter_are_uniform(fitted):
    model, sim, sites, _ = fitted
    ranks = sbc.ranks(model, sim, sites, L)
    assert set(ranks) == {"b_Intercept", "b_x", "sd_g__Intercept", "sd_g__x",
                          "cor_g__Intercept__x", "sigma", "r_g[g0,Intercept]", "r_g[g0,x]"}
    tests = {name: sbc.uniformity(r, L, BINS) for name, r in ranks.items()}
    shown = "\n".join(f"{k}: chi2 p {t['chi2_p']:.4f}, KS p {t['ks_p']:.4f}, {t['counts']}"
                      for k, t in tests.items())
    for name, t in tests.items():
        assert t["chi2_p"] >= P_MIN and t["ks_p"] >= P_MIN, f"{name} not uniform:\n{shown}"


def test_a_miscalibrated_truth_is_detected(fitted):
    # The same posteriors judged against a residual SD 1.5 times the one that generated the
    # data: its ranks pile up at the top, and the uniformity test must say so.
    model, sim, sites, _ = fitted
    wrong = dataclasses.replace(sim, params={**sim.params, "sigma": 1.5 * sim.params["sigma"]})
    r = sbc.ranks(model, wrong, sites, L)["sigma"]
    assert sbc.uniformity(r, L, BINS)["chi2_p"] < 1e-3
    assert np.mean(r) > 0.7 * L


# ---- censored models (issue 18) ---------------------------------------------------------------
#
# bench/sbc_censored.py, reduced: per family (lognormal: left and right censored; poisson: "at
# most lo" and "more than hi"), 80 simulations of y | cens(c) ~ x + (1 | g) (6 groups x 8 rows,
# explicit priors), censored at points fixed per row before any simulation (quantiles of the
# row's prior predictive: ignorable censoring, so SBC's identity holds), each fitted with NUTS,
# 2 chains x (300 warm-up + 300 draws); ranks among L = 19 thinned draws, uniform on 0..19 if
# calibrated. Over all simulations 47% (lognormal) and 60% (poisson) of the rows are censored.
#
# Threshold. Nine parameters (lognormal: b_Intercept, b_x, sd_g__Intercept, sigma,
# r_g[g0,Intercept]; poisson: the same but sigma), each tested twice (chi-square over 5 bins
# of 4 rank values, expected 16 per bin; KS on jittered ranks): 18 tests at p >= 5e-4, a
# family-wise false-alarm probability below 18 x 5e-4 = 0.9% (Bonferroni). Power: fitting the
# same data with the censored rows taken as observed (cens = 0) fails it for every parameter
# (sigma, sd_g, b_Intercept piled at the top: chi-square p < 1e-7; checked once when the test
# was written, with bench/sbc_censored.py's observe_censored=True).

CENSORED_SIMS, CENSORED_L = 80, 19


@pytest.fixture(scope="module", params=["lognormal", "poisson"])
def censored_ranks(request):
    import sbc_censored

    model, sim, sites, codes, _ = sbc_censored.simulate_and_fit(
        request.param, CENSORED_SIMS, draws=300, tune=300, chains=2, seed=3)
    return request.param, sbc.ranks(model, sim, sites, CENSORED_L), codes


def test_censored_models_are_calibrated(censored_ranks):
    family, ranks, codes = censored_ranks
    assert (codes != 0).mean() >= 0.3 and (codes == -1).any() and (codes == 1).any()
    expected = {"b_Intercept", "b_x", "sd_g__Intercept", "r_g[g0,Intercept]"}
    assert set(ranks) == expected | ({"sigma"} if family == "lognormal" else set())
    tests = {name: sbc.uniformity(r, CENSORED_L, BINS) for name, r in ranks.items()}
    shown = "\n".join(f"{k}: chi2 p {t['chi2_p']:.4f}, KS p {t['ks_p']:.4f}, {t['counts']}"
                      for k, t in tests.items())
    for name, t in tests.items():
        assert t["chi2_p"] >= P_MIN and t["ks_p"] >= P_MIN, \
            f"{family} {name} not uniform:\n{shown}"
