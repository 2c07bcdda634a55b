"""Convergence statistics equal ArviZ's (the reference implementation), vectorised."""

import numpy as np
import pytest
import xarray as xr

from formulang.report.convergence import bfmi, convergence
from formulang.report.idata import import_arviz


@pytest.mark.parametrize("chains, draws, phi", [(4, 1000, 0.0), (4, 1000, 0.9), (2, 501, 0.5),
                                                (3, 50, 0.99), (2, 8, 0.1), (4, 400, -0.6),
                                                (1, 300, 0.3)])
def test_rhat_and_ess_match_arviz(chains, draws, phi):
    """The vectorised R-hat / bulk / tail ESS equal ArviZ's (which loops per quantity)."""
    az = import_arviz()
    rng = np.random.default_rng(int(draws + 100 * phi))
    x = np.zeros((chains, draws, 4))
    noise = rng.normal(size=x.shape)
    x[:, 0] = noise[:, 0]
    for t in range(1, draws):
        x[:, t] = phi * x[:, t - 1] + noise[:, t]
    x[..., 0] += 0.3 * np.arange(chains)[:, None]  # chains that disagree
    x[..., 1] = np.round(x[..., 1])  # ties in the ranks
    x[..., 2] = np.exp(x[..., 2])  # skewed
    rhat, bulk, tail = convergence(x)
    ds = xr.Dataset({"x": (("chain", "draw", "q"), x)})
    np.testing.assert_allclose(bulk, az.ess(ds, method="bulk")["x"].values, rtol=1e-10)
    np.testing.assert_allclose(tail, az.ess(ds, method="tail")["x"].values, rtol=1e-10)
    if chains > 1:
        np.testing.assert_allclose(rhat, az.rhat(ds)["x"].values, rtol=1e-12)
    else:
        assert np.isnan(rhat).all()  # as ArviZ: R-hat needs two chains


def test_bfmi_matches_arviz():
    az = import_arviz()
    energy = np.cumsum(np.random.default_rng(3).normal(size=(3, 400)), axis=1)
    np.testing.assert_allclose(bfmi(energy), az.bfmi(energy), rtol=1e-12)
    assert np.isnan(bfmi(np.ones((2, 1)))).all()  # one draw: no energy change to measure


def test_too_few_draws_and_nan_give_nan():
    rhat, bulk, tail = convergence(np.zeros((2, 3, 2)))
    assert np.isnan(rhat).all() and np.isnan(bulk).all() and np.isnan(tail).all()
    x = np.random.default_rng(1).normal(size=(2, 50, 2))
    x[0, 5, 1] = np.nan
    rhat, bulk, _ = convergence(x)
    assert np.isfinite(rhat[0]) and np.isnan(rhat[1]) and np.isnan(bulk[1])


def test_average_ranks_equal_scipy_with_ties():
    from scipy.stats import rankdata

    from formulang.report.convergence import _average_ranks

    rng = np.random.default_rng(5)
    for values in (rng.integers(0, 4, size=(6, 31)).astype(float),  # many ties
                   rng.normal(size=(3, 40)).astype(np.float32).astype(float),
                   np.ones((2, 5))):  # one run per row
        np.testing.assert_array_equal(_average_ranks(values), rankdata(values, axis=1))


def test_many_quantities_are_chunked_on_threads_with_the_same_result(monkeypatch):
    from formulang.report import convergence as module

    x = np.random.default_rng(6).normal(size=(4, 200, 45)).astype(np.float32)
    whole = convergence(x)
    monkeypatch.setattr(module, "_CHUNK", 8)  # 6 chunks, the last one short
    for a, b in zip(whole, convergence(x)):  # the same up to float32 summation order
        np.testing.assert_allclose(a, b, rtol=1e-5)


def test_float32_draws_are_computed_in_float32_to_diagnostic_precision():
    rng = np.random.default_rng(7)
    x = np.cumsum(rng.normal(size=(4, 500, 30)), axis=1).astype(np.float32) * 0.05
    x += rng.normal(size=x.shape).astype(np.float32)
    fast, exact = convergence(x), convergence(x.astype(np.float64))
    for a, b in zip(fast, exact):
        assert a.dtype == np.float64
        np.testing.assert_allclose(a, b, rtol=1e-4)
