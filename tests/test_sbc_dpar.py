"""A reduced simulation-based calibration run of a distributional Gaussian model and the
cumulative family (``bench/sbc_dpar.py``, fewer simulations; issue 17).

Per model, 60 simulations on 8 groups x 12 rows with explicit priors, drawn from the prior by
``model.simulate``, each fitted with NUTS (2 chains x (300 warm-up + 300 draws), non-centred
effects): ``y ~ x + (1 | g); sigma ~ x`` (gaussian) and ``y ~ x + (1 | g)`` (cumulative,
K = 4). The rank of each true value among L = 19 thinned draws should be uniform on 0..19.

Threshold. Twelve parameters (distributional: b_Intercept, b_x, b_sigma_Intercept, b_sigma_x,
sd_g__Intercept, r_g[g0,Intercept]; cumulative: the three thresholds, b_x, sd_g__Intercept,
r_g[g0,Intercept]), each tested twice (chi-square over 5 bins of 4 rank values, expected 12 per
bin; KS on jittered ranks): 24 tests at p >= 5e-4, a family-wise false-alarm probability below
24 x 5e-4 = 1.2% (Bonferroni; the tests are positively correlated, which only lowers it). The
last test checks on the same fits that a truth off by a modest amount is caught: a sigma
formula's intercept judged against log(1.5) more than the truth, thresholds against 0.5 more.
About 1.5 minutes on two cores.
"""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
import sbc  # noqa: E402
import sbc_dpar  # noqa: E402

SIMS, L, BINS = 60, 19, 5
P_MIN = 5e-4
EXPECTED = {
    "gaussian_sigma": {"b_Intercept", "b_x", "b_sigma_Intercept", "b_sigma_x",
                       "sd_g__Intercept", "r_g[g0,Intercept]"},
    "cumulative": {"b_Intercept[1]", "b_Intercept[2]", "b_Intercept[3]", "b_x",
                   "sd_g__Intercept", "r_g[g0,Intercept]"},
}


# the bench's zero-inflated and categorical models are left to bench/sbc_dpar.py (this file
# already takes ~1.5 min)
@pytest.fixture(scope="module", params=["gaussian_sigma", "cumulative"])
def fitted(request):
    model, sim, sites, _ = sbc_dpar.simulate_and_fit(request.param, SIMS, draws=300, tune=300,
                                                     chains=2, seed=5)
    return request.param, model, sim, sites


def test_ranks_of_every_parameter_are_uniform(fitted):
    name, model, sim, sites = fitted
    ranks = sbc.ranks(model, sim, sites, L)
    assert set(ranks) == EXPECTED[name]
    tests = {k: sbc.uniformity(r, L, BINS) for k, r in ranks.items()}
    shown = "\n".join(f"{k}: chi2 p {t['chi2_p']:.4f}, KS p {t['ks_p']:.4f}, {t['counts']}"
                      for k, t in tests.items())
    for k, t in tests.items():
        assert t["chi2_p"] >= P_MIN and t["ks_p"] >= P_MIN, f"{name} {k} not uniform:\n{shown}"


def test_a_miscalibrated_truth_is_detected(fitted):
    name, model, sim, sites = fitted
    key, shift, param = (("b_sigma", np.log(1.5), "b_sigma_Intercept")
                         if name == "gaussian_sigma" else ("b_Intercept", 0.5, "b_Intercept[2]"))
    wrong = np.array(sim.params[key], dtype=float)
    wrong[..., 0 if name == "gaussian_sigma" else slice(None)] += shift
    r = sbc.ranks(model, dataclasses.replace(sim, params={**sim.params, key: wrong}), sites,
                  L)[param]
    assert sbc.uniformity(r, L, BINS)["chi2_p"] < 1e-3
    assert np.mean(r) > 0.7 * L  # the posterior sits below the shifted truth: high ranks
