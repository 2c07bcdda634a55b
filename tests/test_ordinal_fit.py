"""The cumulative family fitted: recovery of the thresholds and slope of a simulated K=4
ordinal model with a group term, and what the fit gives downstream (probabilities, expected
category, labels, posterior predictive, pointwise log-likelihood, save/load, generated code)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.stats as st

import formulang as fl
from formulang.infer.predict import predict

from test_codegen import assert_equivalent, assert_readable

THETA = np.array([-1.2, 0.0, 1.3])  # thresholds for the predictor as given
SLOPE, SD = 0.9, 0.6


def ordinal_data(seed=11, groups=25, rows=16):
    rng = np.random.default_rng(seed)
    g = np.repeat(np.arange(groups), rows)
    x = rng.normal(size=g.size)
    eta = SLOPE * x + rng.normal(0, SD, groups)[g]
    y = np.searchsorted(THETA, eta + rng.logistic(size=g.size)) + 1  # categories 1..4
    labels = np.array(["never", "rarely", "often", "always"])
    return pd.DataFrame({"y": y, "x": x, "g": [f"g{i}" for i in g],
                         "r": pd.Categorical(labels[y - 1], categories=labels, ordered=True)})


@pytest.fixture(scope="module")
def fit():
    m = fl.Model("r ~ x + (1 | g)", ordinal_data(), family="cumulative")
    return m.fit(draws=300, tune=300, chains=2, seed=1, progress=False)


def test_recovers_thresholds_and_slope(fit):
    """Each truth lies within 3.5 posterior SDs of the posterior mean: for a calibrated
    posterior a |z| above 3.5 has probability 5e-4 per parameter; the Monte Carlo error of the
    mean (sd / sqrt(ESS), ESS >= 100 checked) adds at most 0.1 SD."""
    s = fit.summary()
    names = ["b_Intercept[1]", "b_Intercept[2]", "b_Intercept[3]", "b_x"]
    assert (s.loc[names, "ess_bulk"] >= 100).all()
    z = (s.loc[names, "mean"] - np.append(THETA, SLOPE)) / s.loc[names, "sd"]
    assert (np.abs(z) < 3.5).all(), z
    assert abs(s.loc["sd_g__Intercept", "mean"] - SD) < 3.5 * s.loc["sd_g__Intercept", "sd"]
    assert "Intercept[1]" in str(fit)


def test_predictions(fit):
    df = ordinal_data()
    p = fit.predict(kind="prob")
    assert p.shape == (600, len(df), 4)
    np.testing.assert_allclose(p.sum(-1), 1.0)
    mean = fit.predict(kind="mean")
    np.testing.assert_allclose(mean, p @ np.arange(1, 5))
    # the first row's probabilities from the draws directly
    theta = fit.samples["b_Intercept"].reshape(-1, 3)
    eta = fit.predict(kind="linpred")[:, 0]
    cum = st.logistic.cdf(theta - eta[:, None])
    np.testing.assert_allclose(p[:, 0, 0], cum[:, 0], rtol=1e-8)
    y = fit.predict(kind="response", seed=3)
    assert set(np.unique(y)) <= {"never", "rarely", "often", "always"}
    codes = predict(fit, kind="response", seed=3, labels=False)
    # drawn categories follow the probabilities: mean code within 4 SE of the expected one
    assert abs(codes.mean() + 1 - mean.mean()) < 4 * np.sqrt(codes.var() / codes.size) + 0.01
    ppc = fit.posterior_predictive(seed=1)
    assert ppc.posterior_predictive["y"].shape == (2, 300, len(df))
    assert set(np.unique(ppc.observed_data["y"])) == {1, 2, 3, 4}


def test_log_likelihood_is_the_category_probability(fit):
    ll = fit.log_likelihood().reshape(-1, len(ordinal_data()))
    p = fit.predict(kind="prob")
    codes = np.asarray(fit.model.bound.y, dtype=int)
    np.testing.assert_allclose(ll, np.log(p[:, np.arange(len(codes)), codes]), rtol=1e-4,
                               atol=1e-5)


def test_save_and_load(fit, tmp_path):
    fit.save(tmp_path / "ord.nc")
    again = fl.load(tmp_path / "ord.nc")
    new = ordinal_data().head(5)
    for kind in ("prob", "mean", "linpred"):
        np.testing.assert_array_equal(again.predict(new, kind=kind), fit.predict(new, kind=kind))
    assert again.predict(new, kind="response", seed=2).tolist() == \
        fit.predict(new, kind="response", seed=2).tolist()
    assert list(again.summary().index) == list(fit.summary().index)


@pytest.mark.parametrize("link", ["logit", "probit"])
def test_generated_code_is_the_model(link):
    m = fl.Model("y ~ x + (1 | g)", ordinal_data(), family="cumulative", link=link)
    assert_equivalent(m, seeds=(0,))
    src = m.code()
    assert_readable(src)
    assert "ordered_prior" in src and "Intercept[1] ~ student_t(3, 0, 2.5)" in src
