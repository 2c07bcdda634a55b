"""A regression spline fitted end to end (issue 19): y ~ bs(x, df = 5) recovers a known curve,
predictions on new data use the training knots, and a saved fit keeps them.

One small fit (100 rows, 2 chains x 300 draws) is shared by the tests.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import formulang as fl
from formulang.data.bases import evaluate_basis

N, SIGMA = 100, 0.3


def curve(x):
    return np.sin(x) + 0.3 * x


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(19)
    x = np.sort(rng.uniform(0.0, 6.0, N))
    return pd.DataFrame({"x": x, "y": curve(x) + rng.normal(0.0, SIGMA, N)})


@pytest.fixture(scope="module")
def fit(data):
    return fl.Model("y ~ bs(x, df = 5)", data).fit(draws=300, tune=300, chains=2, seed=3)


GRID = pd.DataFrame({"x": np.linspace(0.2, 5.8, 57)})


def test_the_curve_is_recovered_as_well_as_least_squares_on_the_same_basis(fit, data):
    # The oracle: least squares on the training basis. With the default weak priors the
    # posterior mean of the curve is within Monte Carlo error (SD / sqrt(ESS), about 0.01
    # here) of it, so its error against the true curve is about the oracle's (0.05 to 0.1
    # for these data); twice the oracle's leaves room for the priors' pull, not for a wrong
    # basis (a basis at other knots, or none, misses the curve by 0.2 or more).
    X = np.asarray(fit.bound.X)
    beta, *_ = np.linalg.lstsq(X, data["y"].to_numpy(), rcond=None)
    state = fit.bound.spec.transform_stats()["bs(x, df = 5)"]
    grid_X = np.column_stack([np.ones(len(GRID)), evaluate_basis(state, GRID["x"].to_numpy())])
    truth = curve(GRID["x"].to_numpy())
    oracle = np.sqrt(np.mean((grid_X @ beta - truth) ** 2))
    posterior = fit.predict(GRID, kind="mean").mean(axis=0)
    ours = np.sqrt(np.mean((posterior - truth) ** 2))
    assert ours < 2 * oracle, (ours, oracle)
    assert np.sqrt(np.mean((posterior - grid_X @ beta) ** 2)) < 0.05


def test_predictions_on_new_data_use_the_training_knots(fit, data):
    state = fit.bound.spec.transform_stats()["bs(x, df = 5)"]
    assert np.allclose(state.knots, np.quantile(data["x"], [1 / 3, 2 / 3]))
    assert state.boundary == (data["x"].min(), data["x"].max())
    draws = fit.predict(GRID, kind="linpred")
    b = np.asarray(fit.idata.posterior["b"]).reshape(-1, 6)
    grid_X = np.column_stack([np.ones(len(GRID)), evaluate_basis(state, GRID["x"].to_numpy())])
    assert np.allclose(draws.mean(axis=0), grid_X @ b.mean(axis=0), atol=1e-8)


def test_a_saved_fit_keeps_the_basis(fit, tmp_path):
    path = tmp_path / "bs.nc"
    fit.save(path)
    loaded = fl.load(path)
    assert loaded.compiled.spec == fit.compiled.spec
    assert np.array_equal(loaded.predict(GRID, kind="linpred"), fit.predict(GRID, kind="linpred"))
