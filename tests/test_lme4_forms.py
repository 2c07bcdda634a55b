"""lme4's spellings that formulang refused (issue 18): ``y ~ 1 | g`` without parentheses, and a
right-hand side with no population-level term (``y ~ 0``, ``y ~ -1``, ``y ~ 0 + (1 | g)``).

They parse as lme4 reads them, and the models fit through every stage: plan, NumPyro model,
generated code (same log density), graph, summary, predict, save and load. Most fits here are
prior draws (tests/fit_support.py); one small NUTS fit checks the sampler path end to end.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from fit_support import prior_fit
from test_codegen import assert_equivalent

import formulang as fl
from formulang import FormulaError, parse


@pytest.mark.parametrize("lme4, ours", [
    ("Yield ~ 1|Batch", "Yield ~ 1 + (1 | Batch)"),  # lme4's own test
    ("y ~ x | g", "y ~ 1 + (1 + x | g)"),
    ("y ~ x + 1 | g", "y ~ (1 + x | g)"),  # '|' binds looser than '+': one group term
    ("y ~ 0 + x | g", "y ~ 1 + (0 + x | g)"),
    ("y ~ x || g", "y ~ (1 + x || g)"),
    ("y ~ 1 | g/h", "y ~ (1 | g) + (1 | g:h)"),
    ("y ~ 1 | g:h", "y ~ (1 | g:h)"),
    ("~ 1 | g", "~ (1 | g)"),
    ("y | weights(w) ~ x | g", "y | weights(w) ~ (x | g)"),
    ("s | trials(n) ~ 1 | g", "s | trials(n) ~ (1 | g)"),
])
def test_a_bar_at_the_top_of_the_right_hand_side_is_one_group_term(lme4, ours):
    f = parse(lme4)
    assert f == parse(ours)
    assert parse(str(f)) == f


def test_the_left_hand_side_bar_still_means_additions():
    f = parse("y | weights(w) ~ x")
    assert f.response.weights is not None and not f.groups and f.terms


@pytest.mark.parametrize("text, message", [
    ("y ~ 1 | g | h", "one bar"),
    ("y ~ x + (1 | g) | h", "nested"),
    ("y ~ 0 | g", "no effects"),
    ("y ~ 1 |", "grouping factor"),
])
def test_bare_bars_that_have_no_reading(text, message):
    with pytest.raises(FormulaError, match=message):
        parse(text)


@pytest.mark.parametrize("text", ["y ~ 0", "y ~ -1", "y ~ 1 - 1", "y ~ 0 + offset(x)", "~ 0",
                                  "y ~ 0 + (1 | g)", "y ~ -1 + (1 | g)"])
def test_no_population_level_term(text):
    f = parse(text)
    assert not f.intercept and not f.terms
    assert parse(str(f)) == f
    assert str(f).split("~ ")[1].startswith("0")


# ---- the models fit ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(3)
    g = rng.integers(0, 8, 120)
    effect = rng.normal(0, 2.0, 8)
    return pd.DataFrame({"y": effect[g] + rng.normal(0, 1, 120), "x": rng.normal(size=120),
                         "g": [f"g{i}" for i in g]})


@pytest.mark.parametrize("formula, collapse", [
    ("y ~ 0 + (1 | g)", True), ("y ~ 0 + (1 | g)", False), ("y ~ 0", False),
    ("y ~ 0 + (1 | g) + offset(x)", False),
])
def test_a_model_without_population_level_terms_goes_through_every_stage(
        formula, collapse, data, tmp_path):
    m = fl.Model(formula, data, collapse=collapse)
    assert not m.plan.intercept and m.bound.X.shape[1] == 0
    assert "Population-level: none" in str(m)
    if not m.collapsed:  # the generated code is the same model
        assert_equivalent(m)
    assert "def model(" in m.code()
    assert str(m.formula) in str(m.graph())
    fit = prior_fit(m, draws=20, chains=2)
    table = fit.summary()
    assert not any(str(name).startswith("b_") for name in table.index)
    assert ("sd_g__Intercept" in table.index) == bool(m.formula.groups)
    assert "sigma" in table.index
    for kind in ("linpred", "mean", "response"):
        pred = np.asarray(fit.predict(data.head(5), kind=kind))
        assert pred.shape == (40, 5) and np.isfinite(pred).all()
    if not m.formula.groups and not m.formula.offsets:  # the linear predictor is zero
        np.testing.assert_array_equal(np.asarray(fit.predict(data.head(5), kind="linpred")), 0)
    path = tmp_path / "fit.nc"
    fit.save(path)
    loaded = fl.load(path)
    pd.testing.assert_frame_equal(loaded.summary(), table)
    np.testing.assert_allclose(np.asarray(loaded.predict(data.head(5))),
                               np.asarray(fit.predict(data.head(5))))


def test_nuts_fits_a_varying_intercept_with_no_population_intercept(data):
    """A short NUTS run (one chain, seed fixed): the group SD is near the simulated one (2),
    far from zero, and each level's mean effect follows its sample mean."""
    m = fl.Model("y ~ 0 + (1 | g)", data)
    fit = m.fit(draws=300, tune=300, chains=1, seed=1)
    table = fit.summary()
    assert list(table.index) == ["sd_g__Intercept", "sigma"]
    # 8 levels: the SD's posterior is wide; 0.7 to 6 rules out a collapse to 0 or a blow-up
    assert 0.7 < table.loc["sd_g__Intercept", "mean"] < 6
    assert 0.8 < table.loc["sigma", "mean"] < 1.3  # 120 rows, sigma = 1: sd about 0.07
    means = data.groupby("g")["y"].mean()
    r = np.asarray(fit.predict(pd.DataFrame({"g": means.index, "y": 0.0, "x": 0.0}),
                               kind="linpred")).mean(axis=0)
    assert np.corrcoef(r, means.to_numpy())[0, 1] > 0.99


def test_bare_bar_fits_the_same_model_as_the_parenthesised_term(data):
    a, b = fl.Model("y ~ 1 | g", data), fl.Model("y ~ 1 + (1 | g)", data)
    assert a.formula == b.formula and a.code() == b.code()


@pytest.mark.parametrize("formula, family", [("c ~ 0", "poisson"),
                                             ("s | trials(n) ~ 0", "binomial")])
def test_a_model_with_nothing_to_estimate_is_refused(formula, family):
    """y ~ 0 with a family that has no parameters of its own (R's glm would fit nothing)."""
    rows = pd.DataFrame({"c": [1, 2, 0, 3], "s": [1, 2, 0, 3], "n": 4})
    for text in (formula, formula + " + offset(log(n))"):
        with pytest.raises(FormulaError, match="nothing to estimate"):
            fl.Model(text, rows, family=family)
    assert fl.Model(formula.replace("~ 0", "~ 1"), rows, family=family).plan.intercept
