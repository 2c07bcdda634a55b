"""brms's correlation IDs across formulas (issue 17): ``y ~ x + (1 |p| g); sigma ~ (1 |p| g)``
makes one group term, one LKJ over the effects of both formulas."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pandas as pd
import pytest

import formulang as fl
from formulang.data.spec import DataSpec
from formulang.errors import FormulaError
from formulang.fit import Fit
from formulang.ir.formula import Formula
from formulang.lower.site_values import to_sites
from formulang.lower.sites import flat_effects, flat_parameters, parse_flat, to_params

JOINT = "y ~ x + (1 |p| g); sigma ~ 1 + (1 |p| g)"
RHO, SD = 0.6, (0.8, 0.4)  # the simulated correlation and SDs of mu's and log sigma's effects


def correlated(levels=30, per=20, seed=1):
    """mu and log sigma with group intercepts drawn jointly, correlation RHO."""
    rng = np.random.default_rng(seed)
    cov = np.array([[1, RHO], [RHO, 1]]) * np.outer(SD, SD)
    u = rng.multivariate_normal([0, 0], cov, size=levels)
    g = np.repeat(np.arange(levels), per)
    x = rng.normal(size=levels * per)
    y = 1 + 0.5 * x + u[g, 0] + np.exp(-0.5 + u[g, 1]) * rng.normal(size=levels * per)
    return pd.DataFrame({"y": y, "x": x, "g": [f"g{i}" for i in g]})


# ---- parsing and the IR -----------------------------------------------------------------------


def test_ids_parse_print_and_round_trip():
    f = fl.parse(JOINT)
    assert [g.id for g in f.groups] == ["p"] and f.dpar("sigma").groups[0].id == "p"
    assert str(f) == "y ~ 1 + x + (1 |p| g); sigma ~ 1 + (1 |p| g)"
    assert fl.parse(str(f)) == f and Formula.from_json(f.to_json()) == f
    assert f.to_dict()["version"] == 4
    # spaces around the ID, brms's spelling (1 | p | g), read the same
    assert fl.parse("y ~ (1 + x | p | g)") == fl.parse("y ~ (1 + x |p| g)")
    # formulas without IDs are written as before (older readers read them)
    plain = fl.parse("y ~ x + (1 | g); sigma ~ (1 | g)")
    assert plain.to_dict()["version"] == 3 and "id" not in plain.to_dict()["groups"][0]
    assert fl.parse("y ~ (1 |p| g)") != fl.parse("y ~ (1 | g)")


def test_the_data_spec_keeps_each_blocks_id():
    b = fl.bind("y ~ x + (1 |p| g) + (0 + x | g); sigma ~ (1 |p| g)", correlated(5, 4))
    assert b.groups[0].spec.ids == ("p", "") and b.groups[0].blocks == ((0,), (1,))
    spec = DataSpec.from_dict(json.loads(json.dumps(b.spec.to_dict())))
    assert spec == b.spec and dict(spec.dpars)["sigma"].groups[0].ids == ("p",)
    assert "ids" not in fl.bind("y ~ (1 | g)", correlated(5, 4)).spec.groups[0].to_dict()
    # within one formula, terms sharing an ID are one block too (brms)
    one = fl.bind("y ~ (1 |p| g) + (0 + x |p| g)", correlated(5, 4)).groups[0]
    assert one.blocks == ((0, 1),) and one.spec.ids == ("p",)


@pytest.mark.parametrize("text, message, where", [
    ("y ~ (1 ||p| g)", "'||' with an ID has no reading", "||p|"),
    ("y ~ (1 |2p| g)", "'2p' is not a valid ID", "2p"),
    ("y ~ (1 |p| g); sigma ~ (1 |p| h)", "the ID 'p' is on two grouping factors, 'g' and 'h'",
     "|p| h"),
    ("y ~ (1 |p| a/b)", "on two grouping factors, 'a' and 'a:b'", "|p|"),
    ("y ~ x | g | h", "in parentheses", "| h"),
])
def test_bad_ids_are_refused_at_their_place(text, message, where):
    with pytest.raises(FormulaError, match=message) as info:
        fl.parse(text)
    assert info.value.start == text.rindex(where[:3]) if where != "2p" else text.index("2p")


# ---- the plan: one group term across formulas -------------------------------------------------


@pytest.fixture(scope="module")
def model():
    return fl.Model(JOINT, correlated())


def test_one_block_one_lkj_and_brms_names(model):
    plan = model.plan
    (g,) = plan.groups
    assert plan.dpars[0].groups == ()  # sigma's term is the response's term's columns
    assert g.name == "g" and g.columns == ("Intercept", "sigma_Intercept")
    assert g.column_dpars == ("", "sigma") and g.blocks == ((0, 1),)
    assert g.sites.lkj == (("L_g", (0, 1)),) and g.sd.size == 2
    assert g.mode == "noncentered" and "span formulas" in g.reason
    names = [p.name for p in flat_parameters(plan)]
    assert names[:3] == ["sd_g__Intercept", "sd_g__sigma_Intercept",
                         "cor_g__Intercept__sigma_Intercept"]
    effects = flat_effects(g)
    assert effects[:2] == ["r_g[g0,Intercept]", "r_g__sigma[g0,Intercept]"]
    assert parse_flat("r_g__sigma[g0,Intercept]", plan).entries == ("g0", "sigma_Intercept")
    assert parse_flat("r_g[g0,Intercept]", plan).entries == ("g0", "Intercept")
    short = {p.name: (p.short, p.section) for p in flat_parameters(plan)}
    assert short["cor_g__Intercept__sigma_Intercept"] == ("cor(Intercept,sigma_Intercept)",
                                                          "~g")
    assert any(r.cls == "cor" and r.group == "g" for r in model.priors.rows)
    assert "cor[g]" in str(model) and "span formulas" in str(model)


def test_the_model_samples_the_block_once(model):
    import numpyro
    from numpyro import handlers

    trace = handlers.trace(handlers.seed(model.numpyro_model, 0)).get_trace(model.data)
    sites = [k for k, v in trace.items() if v["type"] == "sample" and not v["is_observed"]]
    assert sorted(s for s in sites if s.endswith("g") or "_g" in s) == ["L_g", "sd_g", "z_g"]
    assert trace["z_g"]["value"].shape == (30, 2)
    del numpyro


def test_without_an_id_or_with_one_formula_nothing_changes():
    d = correlated(6, 5)
    plan = fl.Model("y ~ x + (1 | g); sigma ~ 1 + (1 | g)", d).plan
    assert [g.name for g in plan.groups] == ["g"] and plan.groups[0].column_dpars == ()
    assert [g.name for g in plan.dpars[0].groups] == ["g__sigma"]
    # an ID used in one formula only is that formula's affair
    plan = fl.Model("y ~ x + (1 |p| g); sigma ~ 1 + (1 | g)", d).plan
    assert plan.groups[0].column_dpars == () and len(plan.dpars[0].groups) == 1


def test_blocks_without_the_id_stay_apart():
    plan = fl.Model("y ~ x + (1 |p| g) + (0 + x | g); sigma ~ 1 + (1 |p| g)",
                    correlated(6, 5)).plan
    (g,) = plan.groups
    assert g.columns == ("Intercept", "x", "sigma_Intercept")
    assert g.blocks == ((0, 2), (1,))
    assert [p.name for p in flat_parameters(plan) if p.kind == "cor"] == [
        "cor_g__Intercept__sigma_Intercept"]


def test_centring_a_term_that_spans_formulas_is_refused_and_never_advised(model):
    from fit_support import prior_fit
    from formulang.errors import FormulangError
    from formulang.report.diagnostics import _Terms

    with pytest.raises(FormulangError, match=r"reparam\['g'\] = 'centered'.*span formulas"):
        fl.Model(JOINT, correlated(6, 5), reparam={"g": "centered"})
    assert fl.Model(JOINT, correlated(6, 5), reparam={"g": "noncentered"}).plan.groups[0] \
        .mode == "noncentered"
    # 20 rows a level pin the response's intercepts down (pilot weights near 1), which made
    # the diagnostics advise centring a term that is always non-centred
    assert min(model.compiled.parameterization[0].weights) > 0.8
    terms = _Terms(prior_fit(model, draws=5))
    assert terms.noncentered_strong(model.plan.groups[0]) == 0


def test_a_block_owned_by_a_sub_formula():
    d = correlated(6, 5).assign(h=lambda f: f.g)
    m = fl.Model("y ~ x + (1 | g); sigma ~ 1 + (1 |q| h); nu ~ 1 + (1 |q| h)", d,
                 family="student_t")
    (g,) = m.plan.dpars[0].groups
    assert g.name == "h__sigma" and g.columns == ("sigma_Intercept", "nu_Intercept")
    assert m.plan.dpars[1].groups == ()
    names = [p.name for p in flat_parameters(m.plan)]
    assert "cor_h__sigma_Intercept__nu_Intercept" in names and "sd_h__nu_Intercept" in names
    assert {p.section for p in flat_parameters(m.plan) if p.group == g.name} == {"~h"}
    assert flat_effects(g)[:2] == ["r_h__sigma[g0,Intercept]", "r_h__nu[g0,Intercept]"]
    # the owner's formula's term carries the block, whose effects both formulas read
    sim = m.simulate(seed=0)
    assert sim.params["r_h__sigma"].shape == (6, 2) and "r_h__nu" not in sim.params


def _given(model, shapes: dict, seed=0):
    """A Fit of standard normal draws (2 chains x 30) of reported parameters, given as they
    are (no sampler sites: nothing is derived, no JAX runs)."""
    rng = np.random.default_rng(seed)
    return Fit(model, {k: rng.normal(size=(2, 30) + s) for k, s in shapes.items()}, {},
               method="prior")


def test_ranef_and_coef_add_each_formulas_share_of_the_block():
    """coef()$g of a block spanning formulas: each column is its formula's coefficient plus
    the level's effect in that column, named as brms (sigma_x = b_sigma_x + r_g__sigma[, x]),
    whichever formula owns the block; hand sums of the draws."""
    d = correlated(4, 5).assign(h=lambda f: f.g)
    m = fl.Model("y ~ x + (1 |p| g); sigma ~ x + (1 + x |p| g)", d)
    fit = _given(m, {"b": (2,), "b_sigma": (2,), "r_g": (4, 3)})
    b, bs = fit.samples["b"].reshape(-1, 2), fit.samples["b_sigma"].reshape(-1, 2)
    r = fit.samples["r_g"].reshape(-1, 4, 3)  # Intercept, sigma_Intercept, sigma_x
    co = fit.coef()["g"].xs("Estimate", axis=1, level=1)
    assert list(co.columns) == ["Intercept", "x", "sigma_Intercept", "sigma_x"]
    want = {"Intercept": b[:, [0]] + r[..., 0], "x": np.broadcast_to(b[:, [1]], r[..., 0].shape),
            "sigma_Intercept": bs[:, [0]] + r[..., 1], "sigma_x": bs[:, [1]] + r[..., 2]}
    for col, draws in want.items():
        np.testing.assert_allclose(co[col], draws.mean(0), err_msg=col)
    np.testing.assert_allclose(fit.ranef()["g"]["sigma_x"]["Estimate"], r[..., 2].mean(0))
    # a block owned by a sub-formula: its columns are sigma_ and nu_ (not sigma_sigma_, nu's
    # effects missing from coef, as before)
    m = fl.Model("y ~ x + (1 | g); sigma ~ 1 + (1 |q| h); nu ~ 1 + (1 |q| h)", d,
                 family="student_t")
    fit = _given(m, {"b": (2,), "b_sigma": (1,), "b_nu": (1,), "r_g": (4, 1),
                     "r_h__sigma": (4, 2)})
    r = fit.samples["r_h__sigma"].reshape(-1, 4, 2)
    assert list(fit.ranef()["h"].columns.get_level_values(0).unique()) == \
        ["sigma_Intercept", "nu_Intercept"]
    co = fit.coef()["h"].xs("Estimate", axis=1, level=1)
    assert list(co.columns) == ["Intercept", "x", "sigma_Intercept", "nu_Intercept"]
    for k, name in enumerate(["b_sigma", "b_nu"]):
        np.testing.assert_allclose(co.iloc[:, 2 + k],
                                   (fit.samples[name].reshape(-1, 1) + r[..., k]).mean(0))
    np.testing.assert_allclose(co["Intercept"], np.full(4, fit.samples["b"][..., 0].mean()))


# ---- fitting, predictions, save and load -------------------------------------------------------


@pytest.fixture(scope="module")
def fit(model):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return model.fit(draws=400, tune=400, chains=2, seed=1, progress=False)


def test_a_positive_correlation_is_recovered(fit):
    cor = np.asarray(fit.samples["cor_g"]).reshape(-1)
    mean, sd = cor.mean(), cor.std()
    # Fixed seeds: on these data (sample correlation of the drawn effects 0.53) the posterior
    # is about 0.37 +- 0.18 (LKJ(2) and 30 levels shrink it); the Monte Carlo error of its
    # mean is sd / sqrt(ESS ~ 250) ~ 0.01, so these margins are set by the posterior's width,
    # not by sampling noise. Independent blocks would centre it on 0.
    assert mean > 1.5 * sd and (cor > 0).mean() > 0.9
    assert abs(mean - RHO) < 2 * sd
    s = fit.summary()
    assert s.loc["cor_g__Intercept__sigma_Intercept", "rhat"] < 1.05


def test_each_formula_takes_its_columns(fit):
    r = np.asarray(fit.samples["r_g"]).reshape(-1, 30, 2)
    b_sigma = np.asarray(fit.samples["b_sigma"]).reshape(-1, 1)
    codes = fit.model.bound.groups[0].codes
    linpred = fit.predict(kind="linpred", dpar="sigma")
    np.testing.assert_allclose(linpred, b_sigma + r[:, codes, 1], rtol=1e-6, atol=1e-6)
    b = np.asarray(fit.samples["b"]).reshape(-1, 2)
    X = fit.model.bound.X
    np.testing.assert_allclose(fit.predict(kind="linpred"), b @ X.T + r[:, codes, 0],
                               rtol=1e-6, atol=1e-6)


def test_a_new_levels_effects_are_drawn_once_for_both_formulas(fit):
    from formulang.infer.predict import dpar_values, linear_predictor

    new = pd.DataFrame({"x": [0.0], "g": ["new"]})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        bound = fit.model.bound.apply(new)
    rng, drawn = np.random.default_rng(0), {}
    mu = linear_predictor(fit, bound, rng=rng, drawn=drawn)[:, 0]
    log_sigma = dpar_values(fit, bound, rng=rng, linear=True, drawn=drawn)["sigma"][:, 0]
    mu_r = mu - np.asarray(fit.samples["b"]).reshape(-1, 2)[:, 0]
    sigma_r = log_sigma - np.asarray(fit.samples["b_sigma"]).reshape(-1)
    # drawn jointly, N(0, Sigma) per draw: the correlation over 800 draws is the posterior's
    # average (~0.37; its standard error ~0.035); drawn apart it would be 0 +- 0.035
    assert np.corrcoef(mu_r, sigma_r)[0, 1] > 0.15


def test_save_load_and_sites_round_trip(fit, tmp_path):
    path = tmp_path / "joint.nc"
    fit.save(path)
    again = fl.load(path)
    assert again.plan.groups == fit.plan.groups and again.plan.dpars == fit.plan.dpars
    new = pd.DataFrame({"x": [0.0, 1.0], "g": ["g0", "g3"]})
    np.testing.assert_allclose(again.predict(new, seed=3), fit.predict(new, seed=3))
    pd.testing.assert_frame_equal(again.summary(), fit.summary())
    draws = {k: np.asarray(v).reshape((-1,) + np.shape(v)[2:])[:5]
             for k, v in fit.samples.items()}
    params = to_params(fit.plan, draws)
    back = to_params(fit.plan, to_sites(fit.plan, params))
    for name in ("sd_g", "cor_g", "r_g", "b_sigma"):
        np.testing.assert_allclose(back[name], params[name], rtol=1e-5, atol=1e-6)


def test_simulate_with_given_effects_uses_each_formulas_columns(model):
    r = np.zeros((30, 2))
    r[:, 1] = np.linspace(-1, 1, 30)  # only log sigma varies by level
    sim = model.simulate(params={"b": [1.0, 0.0], "b_sigma": [-1.0], "sd_g": [0.5, 0.5],
                                 "cor_g": [0.3], "r_g": r}, seed=0)
    spread = pd.Series(sim.y - 1.0).groupby(model.bound.groups[0].codes).std()
    # 20 rows a level: a level's SD estimates exp(-1 + r) within ~16%; the ends differ e^2-fold
    assert spread.iloc[-1] > 3 * spread.iloc[0]


@pytest.mark.parametrize("formula, family", [
    # sigma's term on h comes after its share of the block: its data are its second term's
    ("y ~ x + (1 |p| g); sigma ~ x + (1 + x |p| g) + (1 | h)", "gaussian"),
    ("y ~ x + (1 | g); sigma ~ 1 + (1 |q| h); nu ~ 1 + (1 |q| h)", "student_t"),
])
def test_generated_code_is_the_model(formula, family):
    """code(): the block is sampled once, by the formula holding it, and each formula adds its
    columns of it from its own codes and values (X_sigma, g__sigma_codes...); the source run
    gives the model's log density and deterministic sites for the same parameter values."""
    from test_codegen import assert_equivalent, assert_readable

    m = fl.Model(formula, correlated(8, 4).assign(h=lambda f: f.g.str[-1:] < "4"),
                 family=family)
    ns = assert_equivalent(m, seeds=(0,))
    src = m.code()
    assert_readable(src)
    (g,) = [g for g in m.plan.groups + m.plan.dpars[0].groups if g.column_dpars]
    assert src.count(f'numpyro.sample("{g.sites.z}"') == 1
    code = ns["model"].__code__
    assert set(ns["data_from"](m.bound)) == set(code.co_varnames[:code.co_argcount])


def test_the_graph_draws_the_block_once_into_each_formula():
    d = correlated(8, 4).assign(h=lambda f: f.g)
    gr = fl.Model("y ~ x + (1 |p| g); sigma ~ x + (1 + x |p| g)", d).graph()
    assert gr.node("r_g").shape == "8 × 3" and set(gr.children("r_g")) == {"eta", "sigma"}
    assert gr.node("values_g").shape == "32 × 1" and gr.node("values_g__sigma").shape == "32 × 2"
    assert set(gr.parents("sigma")) >= {"codes_g__sigma", "values_g__sigma", "r_g"}
    assert "r_g[codes; sigma_Intercept, sigma_x]" in gr.node("sigma").label
    assert "sd_sigma[g][x]" in gr.node("prior_sd_g").label
    gr = fl.Model("y ~ x + (1 | g); sigma ~ 1 + (1 |q| h); nu ~ 1 + (1 |q| h)", d,
                  family="student_t").graph()
    assert set(gr.children("r_h__sigma")) == {"sigma", "nu"}
    assert "nu_Intercept" in gr.node("r_h__sigma").label
    assert "sd_nu[h]" in gr.node("prior_sd_h__sigma").label
