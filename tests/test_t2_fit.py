"""A tensor-product smooth fitted: brms's ``y ~ t2(x, z)`` on a simulated surface (150 rows,
tests/fixtures/r_smooths/brms_t2.json, made by make_t2.R), with brms's priors, agrees within
Monte Carlo error (the rule of tests/brms_agreement.py: Z = 4.5 combined standard errors): the
intercept, the three unpenalised coefficients (up to sign: our columns equal mgcv's up to
their signs, tests/data/test_smooths_t2.py), the three SDs, sigma, and the fitted surface at 30
points. brms's flat prior on ``bs`` is ``normal(0, 10000)`` here (posterior SDs ~0.04: no
visible pull). brms's surface is computed from its draws with the fitted basis (brms 2.18's
``posterior_epred`` of a t2 on new rows uses another constraint; make_t2.R)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import formulang as fl
from brms_agreement import check_draws, check_summary_row

FIXTURES = Path(__file__).parent / "fixtures" / "r_smooths"
CHAINS, DRAWS = 2, 500


@pytest.fixture(scope="module")
def t2_fit():
    ref = json.loads((FIXTURES / "brms_t2.json").read_text())
    data = pd.read_csv(FIXTURES / ref["data"])
    priors = {row["class"]: row["prior"] for row in ref["prior_summary"]
              if row["prior"] and not row["coef"]}
    assert priors == {"Intercept": "student_t(3, 0, 2.5)", "sds": "student_t(3, 0, 2.5)",
                      "sigma": "student_t(3, 0, 2.5)"}
    model = fl.Model("y ~ t2(x, z)", data, priors={**priors, "b": "normal(0, 10000)"})
    return ref, model.fit(draws=DRAWS, tune=DRAWS, chains=CHAINS, seed=5, progress=False)


def test_t2_agrees_with_brms(t2_fit):
    ref, fit = t2_fit
    ours = fit.summary()
    post = ref["posterior"]
    # brms's names, every one: b_Intercept, bs_t2xz_1..3, sds_t2xz_1..3, sigma, s_t2xz_i[j]
    assert set(ref["variables"]) <= set(ours.index), set(ref["variables"]) - set(ours.index)
    for name in ("b_Intercept", "sds_t2xz_1", "sds_t2xz_2", "sds_t2xz_3", "sigma"):
        check_summary_row(ours, name, post[name])
    for j in (1, 2, 3):
        name = f"bs_t2xz_{j}"
        check_summary_row(ours, name, post[name], np.sign(ours.loc[name, "mean"] * post[name]["mean"]))


def test_t2_fitted_surface_agrees_with_brms(t2_fit):
    ref, fit = t2_fit
    grid = pd.DataFrame(ref["grid"])
    surface = fit.predict(grid, kind="mean")
    assert surface.shape == (CHAINS * DRAWS, 30)
    for i, theirs in enumerate(ref["epred"]):
        check_draws(f"mu at {grid.iloc[i].to_dict()}", surface[:, i], theirs, CHAINS)


def test_a_saved_t2_fit_predicts_the_same(t2_fit, tmp_path):
    _, fit = t2_fit
    new = pd.DataFrame({"x": [0.0, 0.5, 1.1], "z": [0.3, 0.5, -0.05]})
    fit.save(tmp_path / "t2.nc")
    again = fl.load(tmp_path / "t2.nc")
    np.testing.assert_allclose(again.predict(new), fit.predict(new), rtol=1e-10)
    np.testing.assert_allclose(again.predict(), fit.predict(), rtol=1e-10)
    assert list(again.summary().index) == list(fit.summary().index)
    # the training rows as new rows: the fitted basis, so the in-sample predictions
    rows = pd.read_csv(FIXTURES / "surface_xz.csv")
    np.testing.assert_allclose(fit.predict(rows, kind="mean"), fit.predict(kind="mean"),
                               rtol=1e-9, atol=1e-12)


def test_the_t2_plot_draws_x_at_three_quantiles_of_z(t2_fit):
    _, fit = t2_fit
    fig = fit.plot("smooth", term="t2(x, z)", grid=20)
    ax = fig.axes[0]
    lines = ax.get_lines()
    z = pd.read_csv(FIXTURES / "surface_xz.csv").z
    assert len(lines) == 3
    for line, q in zip(lines, (0.1, 0.5, 0.9)):
        value = float(np.quantile(z, q))
        assert line.get_label().startswith(f"z = {value:.3g} ")
        expected = fit.predict(pd.DataFrame({"x": line.get_xdata(), "z": value}), kind="mean")
        np.testing.assert_allclose(line.get_ydata(), expected.mean(axis=0), rtol=1e-10)
    (line,) = fit.plot("smooth", term="t2xz", grid=5, at={"z": 0.25}).axes[0].get_lines()
    assert line.get_label() == "z = 0.25"
