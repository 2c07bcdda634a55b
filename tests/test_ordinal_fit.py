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


# ---- disc ~ x: the discrimination predicted (brms's b_disc_x) --------------------------------

DISC_SLOPE = 0.6  # log disc = DISC_SLOPE * z: rows with large z are sharper


def disc_data(seed=5, n=500):
    rng = np.random.default_rng(seed)
    x, z = rng.normal(size=n), rng.normal(size=n)
    latent = SLOPE * x + rng.logistic(size=n) / np.exp(DISC_SLOPE * z)
    return pd.DataFrame({"y": np.searchsorted(THETA, latent) + 1, "x": x, "z": z,
                         "g": [f"g{i % 8}" for i in range(n)]})


def test_disc_takes_a_formula_as_brms():
    """disc ~ z: log link, brms's Intercept_disc ~ normal(0, 1) (its only identification:
    scaling disc, thresholds and eta together leaves the likelihood unchanged), b_disc_z;
    the log density is brms's, P(y = k) = F(disc (theta_k - eta)) - F(disc (theta_{k-1} -
    eta)), in log space: finite where the CDFs' difference underflows."""
    import jax
    from numpyro.infer.util import log_density

    m = fl.Model("y ~ x; disc ~ z", disc_data(n=60), family="cumulative")
    (d,) = m.plan.dpars
    assert d.name == "disc" and d.link == "log" and d.columns == ("Intercept", "z")
    assert str(m.priors.lookup("Intercept", dpar="disc")) == "normal(0, 1)"
    assert "Intercept_disc" in str(m) and "b_disc[z]" in str(m)
    df = disc_data(n=60)

    @jax.jit
    def pointwise(values):
        lp, trace = log_density(m.numpyro_model, (m.data,), {}, values)
        return lp, trace["y"]["fn"].log_prob(trace["y"]["value"])

    for b_disc in (0.5, 8.0):  # disc up to e^20 on the second: the CDFs' differences underflow
        values = {"thres_c": np.array([-1.0, 0.1, 1.2]), "b_c": np.array([0.7]),
                  "Intercept_disc_c": np.array(0.2), "b_disc_c": np.array([b_disc])}
        lp, ll = pointwise(values)
        ll = np.asarray(ll, dtype=float)
        eta = 0.7 * (df.x - m.plan.x_means[0])
        disc = np.exp(0.2 + b_disc * (df.z - d.x_means[0]))
        cut = disc.values[:, None] * (values["thres_c"] - eta.values[:, None])
        lcdf = np.column_stack([np.full(60, -np.inf), st.logistic.logcdf(cut),
                                np.zeros(60)])
        k = df.y.values  # categories 1..4: log(F(cut_k) - F(cut_{k-1}))
        upper, lower = lcdf[np.arange(60), k], lcdf[np.arange(60), k - 1]
        with np.errstate(divide="ignore"):  # deep in the upper tail F(a) - F(b) rounds to 0
            want = upper + np.log(-np.expm1(lower - upper))
        # there, log(S(b) - S(a)) ~ log S(b), S(a) being smaller by e^(a - b) at least
        want = np.where(np.isfinite(want), want, st.logistic.logsf(cut[np.arange(60), k - 2]))
        np.testing.assert_allclose(ll, want, rtol=2e-4, atol=2e-4)
        assert np.isfinite(float(lp))


@pytest.mark.parametrize("formula, link", [("y ~ x; disc ~ z", "logit"),
                                           ("y ~ x; disc ~ 0 + z + (1 | g)", "probit")])
def test_generated_code_with_disc_is_the_model(formula, link):
    m = fl.Model(formula, disc_data(n=80), family="cumulative", link=link)
    assert_equivalent(m, seeds=(0,))
    src = m.code()
    assert_readable(src)
    assert "disc = jnp.exp(eta_disc)" in src and "disc = 1.0" not in src
    plain = fl.Model("y ~ x", disc_data(n=80), family="cumulative").code()
    assert "disc = 1.0  # fixed" in plain


# disc ~ z fitted: tests/test_ordinal_brms.py's agreement with brms (cumulative_disc)
