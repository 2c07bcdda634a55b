"""``Model.fit(method="map" | "vi")``: point estimates and variational approximations."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pytest

import formulang as fl
from formulang import FormulangError, FormulangWarning, datasets
from formulang.infer import approximate
from formulang.infer.approximate import (ApproximationRun, HierarchicalMAPWarning,
                                         fit_approximation, site_scales)

FIXTURES = Path(__file__).parent / "fixtures" / "lme4_brms.json"


@pytest.fixture(scope="module")
def sleepstudy():
    return datasets.load("sleepstudy")


@pytest.fixture(scope="module")
def lme4_sleepstudy():
    models = json.loads(FIXTURES.read_text())["models"]
    fixef = models["sleepstudy_corr"]["lme4"]["fixef"]
    return {row["term"]: (row["estimate"], row["se"]) for row in fixef}


def test_map_of_a_regression_is_least_squares(sleepstudy):
    m = fl.Model("Reaction ~ Days", sleepstudy)
    with warnings.catch_warnings():
        warnings.simplefilter("error", FormulangWarning)  # no hierarchical warning here
        fit = m.fit(method="map", seed=1, progress=False)
    x, y = sleepstudy["Days"].to_numpy(float), sleepstudy["Reaction"].to_numpy(float)
    slope, intercept = np.polyfit(x, y, 1)
    b = fit.samples["b"]
    assert b.shape == (1, 1, 2)
    assert b[0, 0, 0] == pytest.approx(intercept, abs=0.1)
    assert b[0, 0, 1] == pytest.approx(slope, abs=0.02)
    rss = np.sum((y - intercept - slope * x) ** 2)
    assert fit.samples["sigma"][0, 0] == pytest.approx(np.sqrt(rss / len(y)), rel=0.01)
    # every latent and deterministic site, as NUTS gives them
    assert set(fit.samples) == {"Intercept_c", "b_c", "b", "sigma"}
    assert fit.method == "map" and fit.stats == {}
    run = fit.run
    assert isinstance(run, ApproximationRun) and run.guide == "AutoDelta" and run.converged
    assert run.loss[-1] < run.loss[0]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # numpy: the sd of one draw
        table = fit.summary()
        text = str(fit)
    assert list(table.index) == ["b_Intercept", "b_Days", "sigma"]
    assert np.isfinite(table["mean"]).all()
    assert "draws: 1 chain x 1 (map)" in text


def test_hierarchical_map_warns():
    m = fl.Model("Yield ~ 1 + (1 | Batch)", datasets.load("Dyestuff"))
    with pytest.warns(HierarchicalMAPWarning, match="drives group SDs towards zero") as record:
        fit = m.fit(method="map", progress=False)
    assert issubclass(HierarchicalMAPWarning, FormulangWarning)
    assert issubclass(HierarchicalMAPWarning, UserWarning)
    assert record[0].filename == __file__  # points at the user's call
    assert fit.samples["r_Batch"].shape == (1, 1, 6, 1)
    assert fit.samples["sd_Batch"].shape == (1, 1, 1)
    assert fit.samples["b"][0, 0, 0] == pytest.approx(datasets.load("Dyestuff")["Yield"].mean(),
                                                     abs=25)


def test_vi_matches_the_reference_fixed_effects(sleepstudy, lme4_sleepstudy):
    m = fl.Model("Reaction ~ Days + (Days | Subject)", sleepstudy)
    fit = m.fit(method="vi", draws=400, seed=0, progress=False)
    assert fit.run.guide == "AutoMultivariateNormal"
    assert fit.samples["b"].shape == (1, 400, 2)
    assert fit.samples["r_Subject"].shape == (1, 400, 18, 2)
    assert fit.samples["cor_Subject"].shape == (1, 400, 1)
    b = fit.samples["b"][0]
    for j, term in enumerate(["(Intercept)", "Days"]):
        estimate, se = lme4_sleepstudy[term]
        assert abs(b[:, j].mean() - estimate) < se, term
        assert 0.5 * se < b[:, j].std() < 1.5 * se, term
    sd = fit.samples["sd_Subject"][0].mean(axis=0)
    assert 15 < sd[0] < 40 and 3 < sd[1] < 10  # lme4: 24.7 and 5.9
    table = fit.summary()
    assert table.loc["b_Days", "mean"] == pytest.approx(b[:, 1].mean(), rel=1e-5)
    # no Markov chain: R-hat and ESS do not apply (issue 21: the table showed ESS 400 while
    # the diagnostics said there was none), shown as a dash with a note
    assert table[["rhat", "ess_bulk", "ess_tail"]].isna().all().all()
    assert "draws: 1 chain x 400 (vi)" in str(fit)
    assert "rhat, ess: — (method='vi' draws no Markov chains" in str(fit)
    assert fit.log_likelihood().shape == (1, 400, 180)


def test_mean_field_guide_and_progress(sleepstudy, monkeypatch, capsys):
    # above FULL_RANK_MAX unconstrained dimensions VI is mean-field; a short run will do here
    monkeypatch.setattr(approximate, "FULL_RANK_MAX", 0)
    short = approximate.ApproximationSettings(steps=1500, block=250, learning_rate=0.02,
                                              decay=0.05, tol=0.05, min_steps=500)
    monkeypatch.setitem(approximate.SETTINGS, "vi", short)
    m = fl.Model("Reaction ~ Days", sleepstudy)
    samples, stats, run = fit_approximation(m.compiled, m.data, "vi", draws=200, seed=3,
                                            progress=True)
    assert run.guide == "AutoNormal" and stats == {}
    fit = fl.Fit(m, samples, stats, method="vi", run=run)
    assert "SVI" in capsys.readouterr().err
    b = fit.samples["b"][0]
    assert fit.samples["b"].shape == (1, 200, 2)
    assert abs(b[:, 1].mean() - 10.467) < 3 * b[:, 1].std()  # least squares: 10.467 (SE 1.24)


def test_site_scales_follow_the_priors(sleepstudy):
    m = fl.Model("Reaction ~ Days + (Days | Subject)", sleepstudy,
                 priors={"sd[Subject][Days]": "exponential(0.1)"})
    scales = site_scales(m.plan)
    assert float(scales["Intercept_c"]) == pytest.approx(140.8)
    np.testing.assert_allclose(scales["b_c"], [48.89])
    # sd_Subject is sampled in two pieces (two prior families)
    np.testing.assert_allclose(scales["sd_Subject_0"], [140.8])
    np.testing.assert_allclose(scales["sd_Subject_1"], [10.0])
    np.testing.assert_allclose(scales["rc_Subject"], [[140.8, 10.0]])
    assert float(scales["sigma"]) == pytest.approx(140.8)
    assert "z_Subject" not in scales and "L_Subject" not in scales


def test_bad_arguments(sleepstudy):
    m = fl.Model("Reaction ~ Days", sleepstudy)
    with pytest.raises(FormulangError, match="unknown approximation"):
        fit_approximation(m.compiled, m.data, "laplace")
    with pytest.raises(FormulangError, match="draws must be a positive"):
        fit_approximation(m.compiled, m.data, "vi", draws=0)
    with pytest.raises(FormulangError, match="unknown method"):
        m.fit(method="advi")


def test_standardized_model_is_the_same_model():
    # parameters in prior-scale units: the log density changes by the constant Jacobian only
    import jax
    from numpyro.infer.util import log_density

    from formulang.infer.approximate import standardized

    m = fl.Model("Yield ~ 1 + (1 | Batch)", datasets.load("Dyestuff"), reparam="centered")
    model_fn, init = standardized(m.compiled)
    scales = site_scales(m.plan)
    rng = np.random.default_rng(0)
    values = {"Intercept_c": np.asarray(1500.0), "sd_Batch": np.array([40.0]),
              "rc_Batch": rng.normal(0, 40, (6, 1)), "sigma": np.asarray(50.0)}
    std = {f"{k}_std": v / scales[k] for k, v in values.items()}

    @jax.jit
    def both(values, std, data):
        ref = log_density(m.numpyro_model, (data,), {}, values)[0]
        new, trace = log_density(model_fn, (data,), {}, std)
        return ref, new, {k: trace[k]["value"] for k in values}

    ref, new, back = both(values, std, m.data)
    jacobian = sum(np.sum(np.log(np.broadcast_to(scales[k], np.shape(v))))
                   for k, v in values.items())
    assert float(new) == pytest.approx(float(ref) + jacobian, rel=1e-6)
    for k, v in values.items():
        np.testing.assert_allclose(back[k], v, rtol=1e-5)
    # the optimisation starts at the prior centre and typical values
    location = m.plan.prior_params["Intercept"][1, 0]
    assert float(init["Intercept_c_std"] * scales["Intercept_c"]) == pytest.approx(location)
    np.testing.assert_array_equal(init["sd_Batch_std"], [1.0])
    # centred effects start at zero (Dyestuff's levels are not centred on the intercept)
    assert m.plan.groups[0].intercept_loc is None
    np.testing.assert_array_equal(init["rc_Batch_std"], np.zeros((6, 1)))
