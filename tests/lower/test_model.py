"""Model: what the lowering builds (sites, parameterisation, data layout) and its errors.

No sampling here: the log density of the compiled model is checked against a hand-written
NumPyro model at the same parameter values.
"""

import numpy as np
import pandas as pd
import pytest

import formulang as fl


@pytest.fixture(scope="module")
def sleep():
    return fl.datasets.load("sleepstudy")


def trace(model):
    from numpyro import handlers

    with handlers.seed(rng_seed=0):
        return handlers.trace(model.numpyro_model).get_trace(model.data)


def test_sites_follow_brms_names(sleep):
    m = fl.Model("Reaction ~ Days + (Days | Subject)", sleep, reparam="noncentered")
    tr = trace(m)
    latent = {k for k, v in tr.items() if v["type"] == "sample" and not v["is_observed"]}
    assert latent == {"Intercept_c", "b_c", "sd_Subject", "L_Subject", "z_Subject", "sigma"}
    # reported quantities are computed after sampling, not re-run per draw inside the sampler
    assert not [k for k, v in tr.items() if v["type"] == "deterministic"]
    from formulang.lower.sites import derive

    values = {k: np.asarray(v["value"])[None, None] for k, v in tr.items() if k in latent}
    out = derive(m.plan, values)
    sd, L, z = values["sd_Subject"][0, 0], values["L_Subject"][0, 0], values["z_Subject"][0, 0]
    np.testing.assert_allclose(out["r_Subject"][0, 0], z @ (sd[:, None] * L).T, rtol=1e-6)
    assert out["b"].shape == (1, 1, 2)
    np.testing.assert_allclose(out["cor_Subject"][0, 0], [(L @ L.T)[0, 1]], rtol=1e-6)


def test_log_density_equals_hand_written_model(sleep):
    """The lowering adds nothing: same density as a hand-written non-centred model."""
    import jax.numpy as jnp
    import numpyro
    import numpyro.distributions as dist
    from numpyro.infer.util import log_density

    m = fl.Model("Reaction ~ Days + (Days | Subject)", sleep, reparam="noncentered")
    tr = trace(m)
    params = {k: v["value"] for k, v in tr.items()
              if v["type"] == "sample" and not v["is_observed"]}
    pri = m.priors
    days = sleep["Days"].to_numpy(float)
    codes = sleep["Subject"].cat.codes.to_numpy()
    y = sleep["Reaction"].to_numpy(float)

    def hand_written():
        ip, bp = pri.lookup("Intercept"), pri.lookup("b", coef="Days")
        a = numpyro.sample("Intercept_c", dist.StudentT(ip["df"], ip["mu"], ip["sigma"]))
        b = numpyro.sample("b_c", dist.Normal(0.0, jnp.array([bp["sigma"]])))
        scales = jnp.array([pri.lookup("sd", "Subject", c)["sigma"] for c in ("Intercept", "Days")])
        sd = numpyro.sample("sd_Subject", dist.FoldedDistribution(dist.StudentT(3.0, 0.0, scales)))
        L = numpyro.sample("L_Subject", dist.LKJCholesky(2, 2.0))
        z = numpyro.sample("z_Subject", dist.Normal(0, 1).expand([18, 2]).to_event(2))
        r = z @ (sd[:, None] * L).T
        sigma = numpyro.sample("sigma", dist.FoldedDistribution(
            dist.StudentT(3.0, 0.0, pri.lookup("sigma")["sigma"])))
        mu = a + b[0] * (days - days.mean()) + r[codes, 0] + r[codes, 1] * days
        numpyro.sample("y", dist.Normal(mu, sigma), obs=y)

    ours, _ = log_density(m.numpyro_model, (m.data,), {}, params)
    theirs, _ = log_density(hand_written, (), {}, params)
    np.testing.assert_allclose(float(ours), float(theirs), rtol=1e-5)


def test_the_transposed_design_gives_the_same_density_and_is_the_one_read():
    """``with_transposed_design`` (what the sampler passes its model): ``X b`` read from the
    transposed copy, the same density; with ``X`` itself zeroed, still the same, so the copy
    is what the model reads."""
    import jax.numpy as jnp
    from numpyro.infer.util import log_density

    from formulang.lower.numpyro_model import TRANSPOSED_DESIGN, with_transposed_design

    rng = np.random.default_rng(3)
    frame = pd.DataFrame({"x1": rng.normal(size=40), "x2": rng.normal(size=40),
                          "g": np.repeat(list("abcd"), 10)})
    frame["y"] = 1.0 + frame.x1 - 0.5 * frame.x2 + rng.normal(size=40)
    m = fl.Model("y ~ x1 * x2 + (1 | g)", frame)
    tr = trace(m)
    params = {k: v["value"] for k, v in tr.items()
              if v["type"] == "sample" and not v["is_observed"]}
    data = {k: (jnp.asarray(v) if k == "X" else v) for k, v in m.data.items()}
    transposed = with_transposed_design(data)
    assert transposed[TRANSPOSED_DESIGN].shape == data["X"].shape[::-1]
    plain, _ = log_density(m.numpyro_model, (data,), {}, params)
    ours, _ = log_density(m.numpyro_model, (transposed,), {}, params)
    zeroed, _ = log_density(m.numpyro_model, ({**transposed, "X": 0 * data["X"]},), {}, params)
    np.testing.assert_allclose(float(ours), float(plain), rtol=1e-6)
    np.testing.assert_allclose(float(zeroed), float(plain), rtol=1e-6)
    # one column: nothing to gain, nothing added
    one = fl.Model("y ~ x1 + (1 | g)", frame)
    assert TRANSPOSED_DESIGN not in with_transposed_design(dict(one.data))


def test_mixed_parameterisation_splits_levels():
    m = fl.Model("log_radon ~ floor + (1 | county)", fl.datasets.load("radon"))
    g = m.plan.groups[0]
    assert g.mode == "mixed", g.reason
    tr = trace(m)
    n_c = sum(g.centered)
    assert tr["rc_county"]["value"].shape == (n_c, 1)
    assert tr["z_county"]["value"].shape == (85 - n_c, 1)
    from formulang.lower.sites import derive

    r = derive(m.plan, {k: np.asarray(v["value"])[None, None] for k, v in tr.items()
                        if v["type"] == "sample" and not v["is_observed"]})["r_county"][0, 0, :, 0]
    assert r.shape == (85,)
    centered = np.flatnonzero(g.centered)
    # a mixed term's centred levels are centred on 0 (on the intercept only when all are)
    assert g.intercept_loc is None
    np.testing.assert_array_equal(r[centered], np.asarray(tr["rc_county"]["value"])[:, 0])


def test_a_nested_term_centres_on_its_parent_whatever_the_formulas_order():
    # grouseticks as lme4's glmer example writes it: broods inside locations, brood first.
    # Centred broods centred on zero left the ridge: 912 divergences of 4,000 draws
    m = fl.Model("TICKS ~ YEAR + (1 | BROOD) + (1 | LOCATION)", fl.datasets.load("grouseticks"),
                 family="poisson")
    location, brood = m.plan.groups
    assert (location.name, brood.name, brood.parent) == ("LOCATION", "BROOD", 0)
    assert any(brood.centered) and "LOCATION level's effect" in str(m)
    assert m.plan.dense_mass == ()  # nested, not crossed: no ridge for a dense block


def test_family_is_binomial_for_binomial_responses():
    m = fl.Model("incidence | trials(size) ~ period + (1 | herd)", fl.datasets.load("cbpp"))
    assert str(m.family) == "binomial(logit)"
    assert np.array_equal(m.data["trials"], m.bound.trials)


def test_model_errors():
    sleep = fl.datasets.load("sleepstudy")
    with pytest.raises(fl.FormulangError, match="needs a response"):
        fl.Model("~ Days", sleep)
    with pytest.raises(fl.FormulangError, match="use family='binomial'"):
        fl.Model("incidence | trials(size) ~ period", fl.datasets.load("cbpp"), family="poisson")
    with pytest.raises(fl.FormulangError, match="needs trials"):
        fl.Model("Reaction ~ Days", sleep, family="binomial")
    with pytest.raises(fl.DataError, match="row position 3 \\(-1\\)"), \
            pytest.warns(fl.MissingValuesWarning, match="dropped 1 of 4 rows"):
        fl.Model("y ~ x", pd.DataFrame({"y": [0, 1, None, -1], "x": [1.0, 2, 3, 4]}),
                 family="poisson")


def test_print_model_shows_choices(sleep):
    text = str(fl.Model("Reaction ~ Days + (Days | Subject)", sleep, priors={"b": "normal(0, 20)"}))
    assert "Formula: Reaction ~ 1 + Days + (1 + Days | Subject)" in text
    assert "Family: gaussian(identity)" in text
    # collapsed by default: the effects are integrated out, and the centring applies only to
    # the paths that sample them (issue 21: describe what runs)
    assert "effects: integrated out and drawn exactly under NUTS (no centring)" in text
    assert "parameterization for map, vi, collapse=False: centered" in text
    sampled = str(fl.Model("Reaction ~ Days + (Days | Subject)", sleep, collapse=False))
    assert "parameterization: centered" in sampled and "integrated out" not in sampled
    assert "b[Days]" in text and "normal(0, 20)" in text and "(user)" in text


@pytest.mark.parametrize("formula, expected", [
    ("y ~ x + (1 | g)", [0]),
    ("y ~ x + (x | g)", [None]),  # no slope in the data: that direction is weakly identified
    ("y ~ 0 + x + (1 | g)", [None]),  # no model intercept to centre on
    ("y ~ x + (0 + x | g) + (1 | h)", [None, 0]),  # the first term *with* an intercept effect
    ("y ~ x + (1 | g) + (1 | h)", [0, None]),  # crossed: one term only
    ("y ~ 1 + (1 | h/g)", [None, None]),  # 3 levels of h: its tau is weakly identified
])
def test_centred_levels_centre_on_the_intercept(formula, expected):
    # strong data: 20 rows per g level, 80 per h level, effects 10x the noise (weights ~1)
    rng = np.random.default_rng(0)
    g, h = np.repeat(np.arange(12), 20), np.tile(np.arange(3), 80)
    y = rng.normal(0, 3, 12)[g] + rng.normal(0, 3, 3)[h] + rng.normal(0, 0.3, 240)
    df = pd.DataFrame({"y": y, "x": rng.normal(size=240), "g": [f"g{i}" for i in g],
                       "h": np.array(["a", "b", "c"])[h]})
    m = fl.Model(formula, df, reparam="centered", collapse=False)
    assert [g.intercept_loc for g in m.plan.groups] == expected
    assert ("centred on the intercept" in str(m)) == any(e is not None for e in expected)


def test_centring_on_the_intercept_removes_the_strong_data_ridge():
    """Poisson (1 | g), 20 groups of 200 rows: every level centred. With the effects centred on
    zero the intercept walks a ridge (this seed: bulk ESS 24 of 1000 draws, R-hat 1.07);
    centred on the intercept it mixes like the slope (ESS 1,770, R-hat 1.006). Threshold
    250: a seventh of that, ten times the ridge's."""
    rng = np.random.default_rng(1)
    g = np.repeat(np.arange(20), 200)
    x = rng.normal(size=g.size)
    y = rng.poisson(np.exp(1.0 + 0.3 * x + rng.normal(0, 0.5, 20)[g]))
    df = pd.DataFrame({"y": y, "x": x, "g": [f"g{i:02d}" for i in g]})
    m = fl.Model("y ~ x + (1 | g)", df, family="poisson", compress=False)
    assert m.plan.groups[0].mode == "centered" and m.plan.groups[0].intercept_loc == 0
    fit = m.fit(draws=500, tune=500, chains=2, seed=1, progress=False)
    table = fit.summary()
    assert table.loc["b_Intercept", "ess_bulk"] > 250, table
    assert table["rhat"].max() < 1.02, table  # the ridge: 1.07
