"""The categorical family's row and model set-up: the likelihood against a direct softmax,
brms's names, factor responses, priors by category, and bad input."""

import re
import warnings

import numpy as np
import pandas as pd
import pytest

import formulang as fl
from formulang import DataError, FormulaError, FormulangError
from formulang.lower.categorical import linear_predictors, probabilities
from formulang.lower.families import family
from formulang.lower.sites import category_dpars, flat_effects, flat_parameters


def log_softmax(etas):
    z = np.stack([np.zeros_like(etas[0])] + list(etas), axis=-1)
    return z - np.log(np.exp(z).sum(axis=-1, keepdims=True))


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(5)
    n = 90
    return pd.DataFrame({"y": np.tile([1, 2, 3], n // 3), "x": rng.normal(size=n),
                         "z": rng.normal(size=n), "g": [f"g{i % 5}" for i in range(n)]})


def test_log_prob_is_the_log_softmax_with_the_reference_at_zero():
    import jax.numpy as jnp

    mu2, mu3 = np.array([-0.7, 0.2, 1.1, 0.0]), np.array([0.4, -1.3, 2.0, 0.0])
    y = np.array([0, 1, 2, 2])
    d = family("categorical").distribution(jnp.zeros(4), {"mu2": jnp.asarray(mu2),
                                                          "mu3": jnp.asarray(mu3)})
    expected = log_softmax([mu2, mu3])[np.arange(4), y]
    np.testing.assert_allclose(np.asarray(d.log_prob(jnp.asarray(y))), expected, rtol=1e-5)
    p = probabilities(None, None, {"mu2": mu2[None], "mu3": mu3[None]})
    np.testing.assert_allclose(np.log(p[0]), log_softmax([mu2, mu3]), rtol=1e-10)
    np.testing.assert_allclose(p.sum(axis=-1), 1.0)
    lin = linear_predictors(None, {"mu2": mu2[None], "mu3": mu3[None]})
    assert lin.shape == (1, 4, 3) and (lin[..., 0] == 0).all() and (lin[0, :, 2] == mu3).all()


def test_category_names_are_brms():
    assert category_dpars(("1", "2", "3", "4")) == ("mu2", "mu3", "mu4")
    assert category_dpars(("no", "maybe", "yes")) == ("mumaybe", "muyes")
    assert category_dpars(("a", "b.1", "b_1")) == ("mu2", "mu3")  # "b1" twice: by position


def test_names_follow_brms(data):
    m = fl.Model("y ~ x + (1 | g)", data, family="categorical")
    assert [d.name for d in m.plan.dpars] == ["mu2", "mu3"]
    assert m.plan.columns == () and m.plan.groups == () and m.plan.aux == ()
    names = [p.name for p in flat_parameters(m.plan)]
    assert names == ["sd_g__mu2_Intercept", "sd_g__mu3_Intercept", "b_mu2_Intercept",
                     "b_mu2_x", "b_mu3_Intercept", "b_mu3_x"]
    assert flat_effects(m.plan.dpars[0].groups[0])[0] == "r_g__mu2[g0,Intercept]"
    assert not m.compiled.collapsed and m.compression is None
    text = str(m)
    assert "Categories: 1 (reference), 2 (mu2: Intercept; x; ~g: Intercept)" in text
    assert "non-centred" in text


def test_a_category_formula_replaces_the_shared_one(data):
    m = fl.Model("y ~ x + (1 | g); mu3 ~ z", data, family="categorical")
    mu2, mu3 = m.plan.dpars
    assert mu2.columns == ("Intercept", "x") and len(mu2.groups) == 1
    assert mu3.columns == ("Intercept", "z") and mu3.groups == ()
    np.testing.assert_allclose(m.data["dpars"]["mu3"]["X"][:, 0],
                               data["z"] - data["z"].mean())


def test_default_priors_are_data_scaled_on_the_log_odds_scale(data):
    d = data.assign(y=np.repeat([1, 2, 3], [10, 20, 60]))
    m = fl.Model("y ~ x + (1 | g)", d, family="categorical")
    for name, count in (("mu2", 20), ("mu3", 60)):
        prior = m.priors.lookup("Intercept", dpar=name)
        assert prior.distribution == "student_t"
        assert prior["mu"] == pytest.approx(np.log((count + 0.5) / 10.5), rel=1e-3)
        assert prior["sigma"] == 2.5
        b = m.priors.lookup("b", coef="x", dpar=name)
        assert b["sigma"] == pytest.approx(2.5 / d["x"].std(), rel=1e-3)
    user = fl.Model("y ~ x", d, family="categorical",
                    priors={"b_mu3": "normal(0, 1)", "Intercept_mu2": "normal(0, 5)"})
    assert str(user.priors.lookup("b", coef="x", dpar="mu3")) == "normal(0, 1)"
    assert str(user.priors.lookup("b", coef="x", dpar="mu2")).startswith("normal(0, 2.")
    with pytest.raises(FormulangError, match="unknown prior key 'b_mu4'.*b_mu2"):
        fl.Model("y ~ x", d, family="categorical", priors={"b_mu4": "normal(0, 1)"})


def test_the_log_density_is_the_softmax_of_each_categorys_predictor(data):
    """The model's pointwise log-likelihood at given sites equals the direct computation
    (centred slopes, the intercepts on them, a logit of 0 for the reference)."""
    from numpyro.infer import log_likelihood

    m = fl.Model("y ~ x; mu3 ~ z", data, family="categorical")
    sites = {"Intercept_mu2_c": np.array([0.3]), "b_mu2_c": np.array([[0.8]]),
             "Intercept_mu3_c": np.array([-0.4]), "b_mu3_c": np.array([[-1.1]])}
    ll = np.asarray(log_likelihood(m.numpyro_model, sites, m.data)["y"])[0]
    x, z = data["x"].to_numpy(), data["z"].to_numpy()
    mu2 = 0.3 + 0.8 * (x - x.mean())
    mu3 = -0.4 - 1.1 * (z - z.mean())
    expected = log_softmax([mu2, mu3])[np.arange(len(x)), data["y"].to_numpy() - 1]
    np.testing.assert_allclose(ll, expected, rtol=1e-5)


def test_factor_responses(data):
    levels = ["lo", "mid", "hi"]
    labels = np.array(levels)[data["y"] - 1]
    ordered = data.assign(y=pd.Categorical(labels, categories=levels))
    m = fl.Model("y ~ x", ordered, family="categorical")  # the Categorical's order: lo first
    assert [d.name for d in m.plan.dpars] == ["mumid", "muhi"]
    assert m.compiled.spec.response_levels.levels == tuple(levels)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # sorted text levels are R's default: no warning
        text = fl.Model("y ~ x", data.assign(y=labels), family="categorical")
    assert [d.name for d in text.plan.dpars] == ["mulo", "mumid"]
    assert text.compiled.spec.response_levels.levels == ("hi", "lo", "mid")
    two = fl.Model("y ~ x", data.assign(y=data["y"].clip(upper=2)), family="categorical")
    assert [d.name for d in two.plan.dpars] == ["mu2"]


def test_bad_responses_are_refused_by_name(data):
    with pytest.raises(DataError, match="at least two categories; y has 1: '1'"):
        fl.Model("y ~ x", data.assign(y=1), family="categorical")
    empty = data.assign(y=pd.Categorical(np.array(["a", "b", "c"])[data["y"] - 1],
                                         categories=["a", "b", "c", "d"]))
    with pytest.raises(DataError, match="no rows in category 'd' of 'a', 'b', 'c', 'd'"):
        fl.Model("y ~ x", empty, family="categorical")
    gap = data.assign(y=data["y"].replace(2, 4))  # 1, 3, 4: category 2 has no rows
    with pytest.raises(DataError, match="no rows in category '2'"):
        fl.Model("y ~ x", gap, family="categorical")
    with pytest.raises(DataError, match=r"whole numbers 1, 2, \.\.\., K.*row 0 \(1\.5\)"):
        fl.Model("y ~ x", data.assign(y=data["y"] + 0.5), family="categorical")


def test_bad_formulas_are_refused_with_a_caret(data):
    with pytest.raises(FormulaError) as err:
        fl.Model("y ~ x; mu4 ~ z", data, family="categorical")
    assert "mu4 is not a parameter of this categorical model" in str(err.value)
    assert "mu2, mu3" in str(err.value)
    assert (err.value.start, err.value.end) == (7, 10)
    with pytest.raises(FormulaError, match="sigma is not a parameter"):
        fl.Model("y ~ x; sigma ~ z", data, family="categorical")
    with pytest.raises(FormulaError, match="nothing to estimate"):
        fl.Model("y ~ 0", data, family="categorical")
    for addition, what in (("cens(c)", "censoring"), ("trunc(lb = 0)", "truncation"),
                           ("se(s)", "se()"), ("rate(s)", "rate()")):
        with pytest.raises(FormulangError, match=re.escape(what)):
            fl.Model(f"y | {addition} ~ x", data.assign(c=0, s=1.0), family="categorical")
    with pytest.raises(FormulangError, match="trials"):
        fl.Model("y | trials(n) ~ x", data.assign(n=3), family="categorical")


def test_a_model_without_a_response_column_says_it_needs_one(data):
    with pytest.raises(FormulangError, match="column 'y' used in the formula is not in"):
        fl.Model("y ~ x", data.drop(columns="y"), family="categorical")
