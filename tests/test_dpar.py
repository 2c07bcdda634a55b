"""Sub-formulas for family parameters (issue 17): ``y ~ x + (1 | g); sigma ~ x``."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

import formulang as fl
from formulang.errors import FormulaError, FormulangError
from formulang.ir.formula import Formula
from formulang.lower.site_values import to_sites
from formulang.lower.sites import flat_parameters, parameters, to_params

B_SIGMA = (-0.5, 0.7)  # the simulated log sigma = -0.5 + 0.7 x


def hetero(n=300, seed=0, levels=6):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    g = rng.integers(0, levels, n)
    y = 1 + 0.5 * x + np.exp(B_SIGMA[0] + B_SIGMA[1] * x) * rng.normal(size=n)
    return pd.DataFrame({"y": y, "x": x, "z": rng.normal(size=n), "g": [f"g{i}" for i in g]})


# ---- parsing --------------------------------------------------------------------------------


def test_parse_splits_at_semicolons_and_round_trips():
    f = fl.parse("y ~ x + (1 | g); sigma ~ x + (1 | g)")
    assert [name for name, _ in f.dpars] == ["sigma"]
    assert str(f.dpar("sigma")) == "~ 1 + x + (1 | g)" and f.dpar("nu") is None
    assert str(f) == "y ~ 1 + x + (1 | g); sigma ~ 1 + x + (1 | g)"
    assert fl.parse(str(f)) == f
    assert Formula.from_json(f.to_json()) == f
    assert f.to_dict()["version"] == 3 and fl.parse("y ~ x").to_dict()["version"] == 1
    assert f.columns() == ("y", "x", "g") and f.mu == fl.parse("y ~ x + (1 | g)")
    # a ';' inside a quoted name does not split
    assert fl.parse("y ~ `a;b`").dpars == ()


@pytest.mark.parametrize("text, message, span", [
    ("y ~ x; sigma ~ x +", "expected a term", "y ~ x; sigma ~ x +".rindex("+")),
    ("y ~ x;", "expected a formula after ';'", 5),
    ("y ~ x; sigma | weights(w) ~ x", "not response additions", 7),
    ("y ~ x; log(sigma) ~ x", "not an expression", 7),
    ("y ~ x; ~ x", "needs the name of the family parameter", 7),
    ("y ~ x; sigma ~ 1; sigma ~ x", "sigma has two sub-formulas", 18),
    ("y ~ x; z", "after ';' comes the formula of a family parameter", 5),
])
def test_bad_sub_formulas_point_at_the_place(text, message, span):
    with pytest.raises(FormulaError, match=message) as info:
        fl.parse(text)
    assert info.value.text == text and info.value.start == span


# ---- binding and the plan ---------------------------------------------------------------------


def test_rows_missing_a_sub_formula_value_are_dropped_for_all():
    df = hetero(40)
    df.loc[[3, 7], "z"] = np.nan
    with pytest.warns(fl.data.MissingValuesWarning, match="z"):
        b = fl.bind("y ~ x; sigma ~ z + (1 | g)", df)
    (name, sub), = b.dpars
    assert name == "sigma" and b.n == sub.n == 38 and sub.y is None
    assert sub.X_columns == ("Intercept", "z") and sub.groups[0].label == "g"
    assert np.array_equal(sub.rows, b.rows) and 3 not in b.rows
    with pytest.warns(fl.data.MissingValuesWarning, match="dropped 1 of 5"):
        new = b.apply(df.iloc[:5])
    assert new.dpars[0][1].X.shape == (4, 2)
    from formulang.data.spec import DataSpec
    assert DataSpec.from_json(b.spec.to_json()).to_dict() == b.spec.to_dict()


def test_the_plan_names_everything_as_brms():
    m = fl.Model(["y ~ x + (1 | g)", "sigma ~ x + (1 + x | g)"], hetero(60))
    assert m.formula == fl.parse("y ~ x + (1 | g); sigma ~ x + (1 + x | g)")
    plan = m.plan
    assert plan.aux == () and [d.name for d in plan.dpars] == ["sigma"]
    (d,) = plan.dpars
    assert d.link == "log" and d.columns == ("Intercept", "x") and d.groups[0].name == "g__sigma"
    assert d.groups[0].mode == "noncentered" and "pilot" in d.groups[0].reason
    assert [p.name for p in flat_parameters(plan)] == [
        "sd_g__Intercept", "sd_g__sigma_Intercept", "sd_g__sigma_x",
        "cor_g__sigma_Intercept__sigma_x", "b_Intercept", "b_x", "b_sigma_Intercept",
        "b_sigma_x"]
    assert list(parameters(plan)) == ["b", "b_sigma", "sd_g", "r_g", "sd_g__sigma",
                                      "cor_g__sigma", "r_g__sigma"]
    assert not m.collapsed and "sigma varies by row" in m.collapse_reason
    assert "sigma varies by row" in str(m)
    # the sites and the reported parameters translate both ways
    rng = np.random.default_rng(1)
    values = {"b": rng.normal(size=(2, 2)), "b_sigma": rng.normal(size=(2, 2)),
              "sd_g": np.abs(rng.normal(size=(2, 1))), "r_g": rng.normal(size=(2, 6, 1)),
              "sd_g__sigma": np.abs(rng.normal(size=(2, 2))) + 0.1,
              "cor_g__sigma": np.array([[0.3], [-0.2]]),
              "r_g__sigma": rng.normal(size=(2, 6, 2)) * 0.1}
    back = to_params(plan, to_sites(plan, values))
    for k, v in values.items():
        np.testing.assert_allclose(back[k], v, atol=1e-8)


def test_default_and_user_priors_by_dpar():
    df = hetero(60)
    m = fl.Model("y ~ x; sigma ~ x + (1 | g)", df)
    t = m.priors
    assert str(t.lookup("Intercept", dpar="sigma")).startswith("student_t(3, ")
    assert t.lookup("Intercept", dpar="sigma")["sigma"] == 2.5
    assert t.lookup("b", coef="x", dpar="sigma")["sigma"] == pytest.approx(
        2.5 / df.x.std(), rel=1e-3)
    assert "sigma" not in {r.cls for r in t.rows}  # no prior of its own
    assert "Intercept_sigma" in str(m) and "b_sigma[x]" in str(m)
    m = fl.Model("y ~ x; sigma ~ x + (1 | g)", df,
                 priors={"b_sigma": "normal(0, 1)", "sd_sigma[g]": "exponential(2)",
                         "b[x]": "normal(0, 5)"})
    t = m.priors
    assert str(t.lookup("b", coef="x", dpar="sigma")) == "normal(0, 1)"
    assert str(t.lookup("b", coef="x")) == "normal(0, 5)"
    assert str(t.lookup("sd", "g", "Intercept", dpar="sigma")) == "exponential(2)"
    with pytest.raises(FormulangError, match="unknown prior key 'b_nu'.*b_sigma"):
        fl.Model("y ~ x; sigma ~ x", df, priors={"b_nu": "normal(0, 1)"})
    with pytest.raises(FormulangError, match="positive"):
        fl.Model("y ~ x; sigma ~ x + (1 | g)", df, priors={"sd_sigma": "normal(1, 1)"})


def test_parameters_a_family_does_not_have_are_refused_by_name():
    df = hetero(30)
    with pytest.raises(FormulaError, match="sigma2 is not a parameter of the gaussian "
                                           "family; its parameters: sigma") as info:
        fl.Model("y ~ x; sigma2 ~ x", df)
    assert (info.value.start, info.value.end) == (7, 13)
    with pytest.raises(FormulaError, match="nu is not a parameter of the gaussian family"):
        fl.Model(["y ~ x", "nu ~ x"], df)
    fl.Model("y ~ x; nu ~ x", df, family="student_t")  # student_t has nu
    counts = df.assign(y=np.arange(30) % 4)
    with pytest.raises(FormulaError, match="poisson family, which has no parameters"):
        fl.Model("y ~ x; sigma ~ x", counts, family="poisson")
    with pytest.raises(FormulaError, match="sigma is not estimated"):
        fl.Model("y | se(z2) ~ x; sigma ~ x", df.assign(z2=1.0))
    with pytest.raises(FormulangError, match="a list of formulas holds text"):
        fl.Model(["y ~ x", 3], df)


# ---- fitting ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def fit():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fl.Model("y ~ x; sigma ~ x", hetero()).fit(draws=300, tune=300, chains=2,
                                                          seed=1, progress=False)


def test_heteroscedastic_gaussian_recovers_the_sigma_formula(fit):
    table = fit.summary()
    assert list(table.index) == ["b_Intercept", "b_x", "b_sigma_Intercept", "b_sigma_x"]
    # The posterior sd with n = 300 is about 0.045 for b_sigma_x; the Monte Carlo error of the
    # mean (ESS of hundreds) is under a tenth of that, so 4 posterior sds bound the distance
    # of the posterior mean from the truth except with probability < 1e-4.
    for name, truth in zip(["b_sigma_Intercept", "b_sigma_x"], B_SIGMA):
        row = table.loc[name]
        assert abs(row["mean"] - truth) < 4 * row["sd"], (name, row["mean"], row["sd"])
        assert row["rhat"] < 1.05
    assert set(fit.posterior.posterior.data_vars) == {"b", "b_sigma"}
    assert list(fit.posterior.posterior["b_sigma"].coords["sigma__coef"].values) == ["Intercept", "x"]
    assert "sigma_x" in str(fit)


def test_predictions_use_the_per_row_sigma(fit):
    n = fit.bound.n
    for kind in ("linpred", "mean", "response"):
        assert fit.predict(kind=kind).shape == (600, n)
    sigma = fit.predict(dpar="sigma")
    b = fit.samples["b_sigma"].reshape(-1, 2)
    x = fit.bound.dpars[0][1].X
    np.testing.assert_allclose(sigma, np.exp(b @ x.T), rtol=1e-10)
    np.testing.assert_allclose(fit.predict(dpar="sigma", kind="linpred"), b @ x.T, rtol=1e-10)
    new = pd.DataFrame({"x": [-1.0, 1.0]})
    s = fit.predict(new, dpar="sigma").mean(axis=0)
    assert s[0] < s[1]  # sigma grows with x
    draws = fit.predict(new.iloc[[0, 0, 0, 0] * 200].reset_index(drop=True), kind="response")
    spread = draws.std(axis=1).mean()
    assert 0.5 * s[0] < spread < 2 * s[0]
    assert fit.log_likelihood().shape == (2, 300, n)
    with pytest.raises(FormulangError, match="dpar='nu'.*gaussian family's parameters are "
                                             "sigma$"):
        fit.predict(dpar="nu")
    with pytest.raises(FormulangError, match="takes kind='mean'"):
        fit.predict(dpar="sigma", kind="response")


def test_a_parameter_without_a_formula_predicts_its_draw_on_every_row():
    from fit_support import prior_fit

    rng = np.random.default_rng(3)
    frame = pd.DataFrame({"x": rng.normal(size=30), "c": rng.poisson(2.0, 30)})
    fit = prior_fit(fl.Model("c ~ x", frame, family="zero_inflated_poisson"), draws=10)
    zi = fit.samples["zi"].reshape(-1)
    np.testing.assert_array_equal(fit.predict(dpar="zi"), np.repeat(zi[:, None], 30, axis=1))
    new = pd.DataFrame({"x": [0.0, np.nan, 1.0]})  # a row that cannot be predicted: NaN
    linpred = fit.predict(new, dpar="zi", kind="linpred")
    np.testing.assert_allclose(linpred[:, 0], np.log(zi / (1 - zi)), rtol=1e-6)
    assert np.isnan(linpred[:, 1]).all()
    with pytest.raises(FormulangError, match="dpar='hu'.*zero_inflated_poisson family's "
                                             "parameters are zi$"):
        fit.predict(dpar="hu")


def test_save_and_load_keep_the_sub_formula(fit, tmp_path):
    fit.save(tmp_path / "fit.nc")
    loaded = fl.load(tmp_path / "fit.nc")
    assert loaded.model.formula == fit.model.formula
    assert loaded.model.compiled == fit.model.compiled
    pd.testing.assert_frame_equal(loaded.summary(), fit.summary())
    new = pd.DataFrame({"x": [0.0, 2.0]})
    np.testing.assert_allclose(loaded.predict(new, dpar="sigma"), fit.predict(new, dpar="sigma"))


def test_a_sigma_formula_with_a_group_term_fits_and_simulates():
    df = hetero(120, seed=3)
    m = fl.Model("y ~ x + (1 | g); sigma ~ x + (1 | g)", df)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        f = m.fit(draws=50, tune=50, chains=1, progress=False)
    assert "sd_g__sigma_Intercept" in f.summary().index
    assert f.posterior.posterior["r_g__sigma"].shape == (1, 50, 6, 1)
    assert "sd(sigma_Intercept)" in str(f)
    new = pd.DataFrame({"x": [0.0], "g": ["unseen"]})
    with pytest.warns(fl.data.NewLevelsWarning):
        assert f.predict(new, dpar="sigma").shape == (50, 1)
    sim = m.simulate({"b_sigma": {"Intercept": -1.0, "x": 0.0}, "sd_g__sigma": [0.0],
                      "sd_g": [0.0], "b": {"Intercept": 0.0, "x": 0.0}}, seed=4)
    assert abs(np.std(sim.y) - np.exp(-1.0)) < 0.25 * np.exp(-1.0)  # 120 rows: se ~ 7%
    # code() and graph() cover sub-formulas (tests/test_codegen.py, tests/test_graph.py)
    assert "sigma = jnp.exp(eta_sigma)" in m.code()
    assert "r_g__sigma" in m.graph().parents("sigma")


def test_a_parameters_predictions_report_only_its_own_new_levels():
    # sigma ~ x + (1 | h): a new level of the response's g does not reach sigma; one of h
    # does, and the warning points at the caller's line
    rng = np.random.default_rng(4)
    n = 120
    frame = pd.DataFrame({"x": rng.normal(size=n), "g": rng.integers(0, 6, n).astype(str),
                          "h": rng.integers(0, 4, n).astype(str)})
    frame["y"] = frame.x + rng.normal(size=n) * np.exp(0.2 * frame.x)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = fl.Model("y ~ x + (1 | g); sigma ~ x + (1 | h)", frame).fit(
            draws=50, tune=50, chains=1, seed=0, progress=False)
    new_g = pd.DataFrame({"x": [0.0], "g": ["new"], "h": ["0"]})
    with warnings.catch_warnings():
        warnings.simplefilter("error", fl.NewLevelsWarning)
        assert fit.predict(new_g, dpar="sigma").shape == (50, 1)
    with pytest.warns(fl.NewLevelsWarning, match="'h': 'new'") as told:
        fit.predict(new_g.assign(h="new"), dpar="sigma")
    assert told[0].filename == __file__
    with pytest.warns(fl.NewLevelsWarning, match="'g': 'new'") as told:
        fit.predict(new_g)
    assert told[0].filename == __file__
