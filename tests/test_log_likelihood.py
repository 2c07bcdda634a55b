"""Pointwise log-likelihood values (LOO and WAIC are built on them), against scipy's densities
at the same draws (issue 21: they were checked for shape only). Prior draws stand in for a
posterior: any parameter values will do for checking a density."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.stats as st

import formulang as fl
from fit_support import prior_fit

N, CHAINS, DRAWS = 24, 2, 5


@pytest.fixture(scope="module")
def data() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    return pd.DataFrame({"x": rng.normal(size=N), "g": [f"g{i % 4}" for i in range(N)],
                         "w": rng.uniform(0.5, 2.0, N), "y": rng.normal(size=N),
                         "c": rng.poisson(3, N), "k": rng.integers(0, 7, N), "m": 6 + N % 2})


def values(formula, data, family):
    fit = prior_fit(fl.Model(formula, data, family=family), draws=DRAWS, chains=CHAINS)
    ll = fit.log_likelihood()
    assert ll.shape == (CHAINS, DRAWS, N)
    mean = fit.predict(kind="mean").reshape(CHAINS, DRAWS, N)  # the rows' expected response
    return fit, ll, mean


def test_gaussian_with_weights(data):
    """Each row's log density times its weight, as in the model's likelihood (brms's log_lik
    too); NumPyro's own log_likelihood leaves the weights out."""
    fit, ll, mu = values("y | weights(w) ~ x + (1 | g)", data, "gaussian")
    sigma = fit.samples["sigma"][..., None]
    expected = st.norm.logpdf(data["y"].to_numpy(), mu, sigma) * data["w"].to_numpy()
    np.testing.assert_allclose(ll, expected, rtol=2e-5, atol=2e-5)


def test_poisson(data):
    _, ll, rate = values("c ~ x + (1 | g)", data, "poisson")
    np.testing.assert_allclose(ll, st.poisson.logpmf(data["c"].to_numpy(), rate),
                               rtol=2e-5, atol=2e-5)


def test_binomial(data):
    _, ll, expected_successes = values("k | trials(m) ~ x + (1 | g)", data, "binomial")
    trials = data["m"].to_numpy()
    expected = st.binom.logpmf(data["k"].to_numpy(), trials, expected_successes / trials)
    np.testing.assert_allclose(ll, expected, rtol=2e-5, atol=2e-5)
