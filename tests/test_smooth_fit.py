"""Smooth terms fitted: brms's ``accel ~ s(times)`` on MASS's mcycle and ``y ~ gp(x, k = 15, c =
5/4)`` on a simulated series (tests/fixtures/r_smooths, made by its make.R), with brms's
priors, agree within Monte Carlo error (the rule of tests/brms_agreement.py: Z = 4.5 combined
standard errors); predictions on new data, save/load; a simulated known curve is recovered.

brms puts a flat prior on the smooth's unpenalised coefficient (``bs_stimes_1``; its column
``stimes_1`` is one of ``b``'s, prior key ``b[stimes_1]``); every prior here is proper, so it gets ``normal(0, 10000)``: against a
posterior SD of ~290 that moves the posterior by ~0.1% of an SD. The penalised coefficients
(``s_stimes_1[j]``) are compared up to sign: our basis columns equal mgcv's up to their signs
(tests/data/test_smooths.py)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import formulang as fl
from brms_agreement import (check_draws, check_summary_row, prior_summary_keys,
                             smooth_reference)

FIXTURES = Path(__file__).parent / "fixtures" / "r_smooths"
CHAINS, DRAWS = 4, 500


@pytest.fixture(scope="module")
def mcycle_fit():
    ref, data = smooth_reference("brms_s_mcycle")
    priors = {**prior_summary_keys(ref), "b": "normal(0, 10000)"}
    model = fl.Model("accel ~ s(times)", data, priors=priors)
    return ref, model.fit(draws=DRAWS, tune=DRAWS, chains=CHAINS, seed=3, progress=False)


@pytest.fixture(scope="module")
def gp_fit():
    ref, data = smooth_reference("brms_gp")
    model = fl.Model("y ~ gp(x, k = 15, c = 1.25)", data, priors=prior_summary_keys(ref))
    return ref, model.fit(draws=DRAWS, tune=DRAWS, chains=CHAINS, seed=3, progress=False,
                          target_accept=0.95)


def test_s_agrees_with_brms(mcycle_fit):
    ref, fit = mcycle_fit
    ours = fit.summary()
    post = ref["posterior"]
    for name in ("b_Intercept", "sds_stimes_1", "sigma"):
        check_summary_row(ours, name, post[name])
    check_summary_row(ours, "bs_stimes_1", post["bs_stimes_1"], np.sign(ours.loc["bs_stimes_1", "mean"])
           * np.sign(post["bs_stimes_1"]["mean"]))
    # brms's names, every one (its "b_Intercept", "bs_stimes_1", "sds_stimes_1", "sigma",
    # "s_stimes_1[1]"...)
    assert set(ref["variables"]) <= set(ours.index), set(ref["variables"]) - set(ours.index)
    for j in range(1, 9):
        name = f"s_stimes_1[{j}]"
        check_summary_row(ours, name, post[name], np.sign(ours.loc[name, "mean"] * post[name]["mean"]))


def test_s_fitted_curve_agrees_with_brms(mcycle_fit):
    ref, fit = mcycle_fit
    curve = fit.predict(pd.DataFrame({"times": ref["grid"]}), kind="mean")
    assert curve.shape == (CHAINS * DRAWS, 50)
    for i, theirs in enumerate(ref["epred"]):
        check_draws(f"mu at times = {ref['grid'][i]}", curve[:, i], theirs, CHAINS)


def test_gp_agrees_with_brms(gp_fit):
    ref, fit = gp_fit
    ours = fit.summary()
    assert set(ref["variables"]) <= set(ours.index), set(ref["variables"]) - set(ours.index)
    for name in ref["variables"]:  # b_Intercept, sdgp_gpx, lscale_gpx, sigma, zgp_gpx[1..15]
        check_summary_row(ours, name, ref["posterior"][name])
    curve = fit.predict(pd.DataFrame({"x": ref["grid"]}), kind="mean")
    for i, theirs in enumerate(ref["epred"]):
        check_draws(f"mu at x = {ref['grid'][i]}", curve[:, i], theirs, CHAINS)


def test_a_saved_smooth_fit_predicts_the_same(mcycle_fit, tmp_path):
    _, fit = mcycle_fit
    new = pd.DataFrame({"times": [1.0, 12.5, 33.3, 60.0]})
    fit.save(tmp_path / "s.nc")
    again = fl.load(tmp_path / "s.nc")
    np.testing.assert_allclose(again.predict(new), fit.predict(new), rtol=1e-10)
    assert list(again.summary().index) == list(fit.summary().index)
    # the training rows the file holds keep the smooth's basis: in-sample predictions, plot
    np.testing.assert_allclose(again.predict(), fit.predict(), rtol=1e-10)
    (line,) = again.plot("smooth", grid=10).axes[0].get_lines()
    np.testing.assert_allclose(line.get_ydata(), fit.predict(
        pd.DataFrame({"times": line.get_xdata()})).mean(axis=0), rtol=1e-10)


def test_a_known_curve_is_recovered():
    """The posterior-mean curve's RMSE against the true curve is within 2x that of the oracle
    spline fit (least squares of the data on the same basis, intercept and unpenalised column
    included). Data: 200 rows, sd 0.3 around sin(2 pi x); seed fixed."""
    rng = np.random.default_rng(19)
    x = np.sort(rng.uniform(0, 1, 200))
    truth = np.sin(2 * np.pi * x)
    data = pd.DataFrame({"x": x, "y": truth + rng.normal(0, 0.3, x.size)})
    model = fl.Model("y ~ s(x)", data)
    fit = model.fit(draws=300, tune=300, chains=2, seed=1, progress=False)
    grid = np.linspace(0.01, 0.99, 60)
    ours = fit.predict(pd.DataFrame({"x": grid}), kind="mean").mean(axis=0)
    B = np.column_stack([model.bound.X, model.bound.smooths[0].Z])
    coef = np.linalg.lstsq(B, data.y.values, rcond=None)[0]
    new = model.compiled.apply(pd.DataFrame({"x": grid}))
    oracle = np.column_stack([new.X, new.smooths[0].Z]) @ coef
    true_grid = np.sin(2 * np.pi * grid)
    rmse, rmse_oracle = (float(np.sqrt(np.mean((c - true_grid) ** 2))) for c in (ours, oracle))
    assert rmse < 2 * rmse_oracle, (rmse, rmse_oracle)


def test_the_smooth_plot_shows_the_posterior_curve_over_the_data(mcycle_fit):
    _, fit = mcycle_fit
    fig = fit.plot("smooth", term="s(times)", grid=40)
    ax = fig.axes[0]
    (line,) = ax.get_lines()
    grid = np.asarray(line.get_xdata())
    data = fit.bound.smooths[0].x
    assert grid.min() == data.min() and grid.max() == data.max() and len(grid) == 40
    expected = fit.predict(pd.DataFrame({"times": grid}), kind="mean")
    np.testing.assert_allclose(line.get_ydata(), expected.mean(axis=0), rtol=1e-10)
    points = ax.collections[0].get_offsets()
    np.testing.assert_allclose(np.asarray(points), np.column_stack([data, fit.bound.y]))
    band = ax.collections[1].get_paths()[0].vertices  # the 95% interval's polygon
    lo, hi = np.quantile(expected, [0.025, 0.975], axis=0)
    assert np.isclose(band[:, 1].min(), lo.min()) and np.isclose(band[:, 1].max(), hi.max())
    with pytest.raises(fl.FormulangError, match="no smooth term 's\\(z\\)'; the model's: s\\(times\\)"):
        fit.plot("smooth", term="s(z)")


def test_by_factor_smooths_are_named_as_brms():
    """s(x, by = f): a smooth per level, each with its own SD (brms's sds_sxfa_1...)."""
    from formulang.lower.sites import flat_parameters

    sim = pd.read_csv(FIXTURES / "sim_xz.csv")
    model = fl.Model("y ~ f + s(x, by = f, k = 6)", sim)
    names = [p.name for p in flat_parameters(model.plan)]
    for level in "abc":
        assert f"bs_sxf{level}_1" in names and f"sds_sxf{level}_1" in names
        assert [f"s_sxf{level}_1[{j}]" for j in range(1, 5)] == \
            [n for n in names if n.startswith(f"s_sxf{level}_1[")]
    assert str(model.priors.lookup("sds", coef="sxfb")).startswith("half_student_t(3, ")
