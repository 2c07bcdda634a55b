"""The cumulative (ordinal) family without fitting: its density against scipy, the thresholds'
prior, names and priors as brms's, factor responses (ordinal and two-level bernoulli) and
their errors."""

from __future__ import annotations


import numpy as np
import pandas as pd
import pytest
import scipy.stats as st

import formulang as fl
from formulang import DataError, FormulaError, FormulangError
from formulang.data.response_levels import ResponseLevelsWarning
from formulang.lower import ordinal
from formulang.lower.families import family
from formulang.lower.ordinal import THRESHOLDS
from formulang.lower.site_values import to_sites
from formulang.lower.sites import flat_parameters, parameters, to_params

ETA = np.array([-1.0, 0.3, 2.0, 0.0])
THETA = np.array([-0.5, 0.4, 1.7])
Y = np.array([0, 1, 3, 2])


def direct(cdf, eta, theta, y, disc=1.0):
    """log P(y = k) from the CDF: F(disc (theta_k - eta)) - F(disc (theta_{k-1} - eta))."""
    edges = np.concatenate([[-np.inf], theta, [np.inf]])
    return np.log(cdf(disc * (edges[y + 1] - eta)) - cdf(disc * (edges[y] - eta)))


@pytest.mark.parametrize("link, cdf", [("logit", st.logistic.cdf), ("probit", st.norm.cdf)])
def test_density_matches_scipy(link, cdf):
    import jax.numpy as jnp

    fam = family("cumulative", link)
    d = fam.distribution(jnp.asarray(ETA), {THRESHOLDS: jnp.asarray(THETA)})
    np.testing.assert_allclose(np.asarray(d.log_prob(jnp.asarray(Y))),
                               direct(cdf, ETA, THETA, Y), rtol=1e-5)
    d2 = fam.distribution(jnp.asarray(ETA), {THRESHOLDS: jnp.asarray(THETA), "disc": 1.7})
    np.testing.assert_allclose(np.asarray(d2.log_prob(jnp.asarray(Y))),
                               direct(cdf, ETA, THETA, Y, 1.7), rtol=1e-5)
    # the NumPy probabilities (predictions) are the same numbers, and sum to 1
    p = fam.spec.probabilities(fam.link, ETA[None], {THRESHOLDS: THETA[None]})
    np.testing.assert_allclose(np.log(p[0, np.arange(4), Y]), direct(cdf, ETA, THETA, Y),
                               rtol=1e-9)
    np.testing.assert_allclose(p.sum(-1), 1.0)
    mean = fam.mean(ETA[None], {THRESHOLDS: THETA[None]})
    np.testing.assert_allclose(mean[0], p[0] @ np.arange(1, 5))


def test_thresholds_prior_is_ordered_student_t():
    import jax
    import jax.numpy as jnp
    import numpyro.distributions as dist
    from numpyro.distributions import constraints

    base = dist.StudentT(jnp.full(3, 3.0), jnp.zeros(3), jnp.full(3, 2.5))
    d = ordinal.ordered_prior([(base, (0, 1, 2))], 3)
    assert d.support is constraints.ordered_vector and d.event_shape == (3,)
    x = np.array([-1.0, 0.5, 2.0])
    np.testing.assert_allclose(float(d.log_prob(jnp.asarray(x))),
                               st.t(3, 0, 2.5).logpdf(x).sum(), rtol=1e-5)
    draws = np.asarray(d.sample(jax.random.PRNGKey(0), (2000,)))
    assert (np.diff(draws, axis=-1) > 0).all()
    # sorted iid draws: the smallest of 3 is below 0 with probability 1 - 1/8
    assert abs(np.mean(draws[:, 0] < 0) - 7 / 8) < 4 * np.sqrt(7 / 64 / 2000)


def test_start_is_the_link_of_cumulative_proportions():
    y = np.repeat([0, 1, 2], [10, 30, 60])
    start = ordinal.start(y, 3, family("cumulative").link)
    p = np.array([10.5, 40.5 + 0.5]) / 101.5
    np.testing.assert_allclose(start, np.log(p / (1 - p)))


def frame(seed=0, n=60):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    y = np.digitize(x + rng.logistic(size=n), [-1.0, 0.0, 1.0]) + 1
    return pd.DataFrame({"y": y, "x": x + 3.0, "f": rng.choice(["a", "b", "c"], n),
                         "g": rng.choice(list("pqrst"), n)})


def test_names_and_priors_as_brms():
    m = fl.Model("y ~ x + f + (1 | g)", frame(), family="cumulative",
                 priors={"Intercept[2]": "normal(0, 1)"})
    assert m.bound.X_columns == ("x", "fb", "fc")  # coded as with an intercept, without it
    assert m.plan.thresholds.size == 3 and not m.plan.intercept
    rows = m.priors.to_frame()
    assert rows[rows["class"] == "Intercept"]["coef"].tolist() == ["1", "2", "3"]
    assert str(m.priors.lookup("Intercept", coef="1")) == "student_t(3, 0, 2.5)"
    assert str(m.priors.lookup("Intercept", coef="2")) == "normal(0, 1)"
    names = [p.name for p in flat_parameters(m.plan)]
    assert names[:7] == ["sd_g__Intercept", "b_Intercept[1]", "b_Intercept[2]",
                         "b_Intercept[3]", "b_x", "b_fb", "b_fc"]
    assert [p.short for p in flat_parameters(m.plan)][1] == "Intercept[1]"
    assert "Thresholds: Intercept[1] ... Intercept[3]" in str(m) and "replace the intercept" in str(m)
    with pytest.raises(FormulangError, match=r"unknown prior key 'Intercept\[4\]'"):
        fl.Model("y ~ x", frame(), family="cumulative", priors={"Intercept[4]": "normal(0, 1)"})
    with pytest.raises(FormulangError, match="unknown prior key 'disc'"):
        fl.Model("y ~ x", frame(), family="cumulative", priors={"disc": "gamma(2, 1)"})
    with pytest.raises(FormulaError, match="cannot remove the intercept"):
        fl.Model("y ~ 0 + x", frame(), family="cumulative")


def test_thresholds_map_both_ways():
    """Reported thresholds are for the predictors as given; the sampler's are centred."""
    m = fl.Model("y ~ x + (1 | g)", frame(), family="cumulative")
    x = m.bound.X[:, list(m.plan.columns).index("x")]
    assert m.plan.x_means == pytest.approx((float(np.mean(x)),)) and m.plan.x_means[0] != 0
    values = {"b": np.array([[0.7]]), "b_Intercept": np.array([[-1.0, 0.2, 1.1]]),
              "sd_g": np.array([[0.5]]), "r_g": np.zeros((1, 5, 1))}
    sites = to_sites(m.plan, values)
    np.testing.assert_allclose(sites["thres_c"], values["b_Intercept"] - 0.7 * m.plan.x_means[0])
    back = to_params(m.plan, sites)
    np.testing.assert_allclose(back["b_Intercept"], values["b_Intercept"])
    assert parameters(m.plan)["b_Intercept"].entries == ("1", "2", "3")


def test_simulate_takes_and_checks_thresholds():
    m = fl.Model("y ~ x + (1 | g)", frame(), family="cumulative")
    sim = m.simulate({"b": [1.0], "b_Intercept": [2.0, 3.0, 4.0], "sd_g": [0.3]}, seed=2)
    assert set(np.unique(sim.y)) <= {0.0, 1.0, 2.0, 3.0}
    assert sim.params["b_Intercept"].tolist() == [2.0, 3.0, 4.0]
    with pytest.raises(FormulangError, match="increasing"):
        m.simulate({"b_Intercept": [2.0, 1.0, 4.0]})
    prior = m.simulate(seed=1, draws=50)
    assert (np.diff(prior.params["b_Intercept"], axis=-1) > 0).all()


# ---- factor responses ---------------------------------------------------------------------------

def test_ordered_categorical_keeps_its_order():
    df = frame()
    labels = np.array(["low", "mid", "high", "top"])
    df["r"] = pd.Categorical(labels[df["y"] - 1], categories=list(labels), ordered=True)
    m = fl.Model("r ~ x", df, family="cumulative")
    np.testing.assert_array_equal(m.bound.y, df["y"] - 1)
    assert m.compiled.spec.response_levels.levels == tuple(labels)
    # new rows: encoded with the training categories; an unknown one is named
    new = m.compiled.apply(df.head(3))
    np.testing.assert_array_equal(new.y, df["y"].head(3) - 1)
    bad = df.head(3).astype({"r": object})
    bad.loc[1, "r"] = "huge"
    with pytest.raises(DataError, match="'huge' at row 1"):
        m.compiled.apply(bad)


def test_text_response_is_sorted_with_a_notice():
    df = frame()
    df["r"] = np.array(["a", "b", "c", "d"])[df["y"] - 1]
    with pytest.warns(ResponseLevelsWarning, match="a < b < c < d"):
        m = fl.Model("r ~ x", df, family="cumulative")
    np.testing.assert_array_equal(m.bound.y, df["y"] - 1)
    from formulang.infer.predict import response_labels

    assert response_labels(m.compiled, np.array([[0, 3]])).tolist() == [["a", "d"]]


def test_numbers_written_as_text_keep_their_numeric_order():
    # read with dtype=str (as the shared data's README advises): "10" sorted before "2" would
    # scramble the categories and the slope, with only a warning to show for it
    rng = np.random.default_rng(0)
    codes = np.resize(np.arange(12), 60)
    df = pd.DataFrame({"r": (codes + 1).astype(str), "x": rng.normal(size=60)})
    with pytest.warns(ResponseLevelsWarning, match="1 < 2 < 3 .* < 10 ..."):
        m = fl.Model("r ~ x", df, family="cumulative")
    assert m.compiled.spec.response_levels.levels == tuple(str(k) for k in range(1, 13))
    np.testing.assert_array_equal(m.bound.y, codes)
    df["r"] = np.array(["1", "2", "10", "high"])[codes % 4]  # not all numbers: as text
    with pytest.warns(ResponseLevelsWarning, match="1 < 10 < 2 < high"):
        fl.Model("r ~ x", df, family="cumulative")


def test_integers_are_categories_and_empty_ones_are_refused():
    df = frame()
    m = fl.Model("y ~ x", df, family="cumulative")
    assert m.compiled.spec.response_levels.integer and m.plan.thresholds.size == 3
    gap = df.assign(y=df["y"].replace(2, 1))
    with pytest.raises(DataError, match=r"no rows in category '2' of '1', '2', '3', '4'"):
        fl.Model("y ~ x", gap, family="cumulative")
    cat = df.assign(y=pd.Categorical(df["y"], categories=[1, 2, 3, 4, 5]))
    with pytest.raises(DataError, match="no rows in category '5'"):
        fl.Model("y ~ x", cat, family="cumulative")
    with pytest.raises(DataError, match=r"whole numbers 1, 2, \.\.\., K.*row 1 \(0\), row 2 \(0\)"):
        fl.Model("y ~ x", df.assign(y=df["y"] - 1), family="cumulative")
    with pytest.raises(DataError, match="at least two categories"):
        fl.Model("y ~ x", df.assign(y=1), family="cumulative")


def test_two_level_factor_for_bernoulli():
    df = frame()
    df["ok"] = pd.Categorical(np.where(df["y"] > 2, "yes", "no"), categories=["no", "yes"])
    m = fl.Model("ok ~ x", df, family="bernoulli")
    np.testing.assert_array_equal(m.bound.y, (df["y"] > 2).astype(float))
    # reversed categories: the first level is failure, as R's glm
    df["ko"] = pd.Categorical(df["ok"].astype(str), categories=["yes", "no"])
    np.testing.assert_array_equal(fl.Model("ko ~ x", df, family="bernoulli").bound.y,
                                  (df["y"] <= 2).astype(float))
    with pytest.raises(DataError, match="two levels .* has 3: 'a', 'b', 'c'"):
        fl.Model("f ~ x", df, family="bernoulli")
    with pytest.raises(DataError, match="must be numeric"):  # other families: as before
        fl.Model("f ~ x", df, family="poisson")


def test_response_additions_are_refused():
    df = frame().assign(c=0, w=1.0)
    with pytest.raises(FormulangError, match="not available for the cumulative family"):
        fl.Model("y | cens(c) ~ x", df, family="cumulative")
    m = fl.Model("y | weights(w) ~ x", df, family="cumulative")  # weights are fine
    assert m.data["weights"].shape == (len(df),)
