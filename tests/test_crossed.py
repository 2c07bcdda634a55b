"""Crossed group terms (issue 20): the dense mass-matrix block over the intercept and the
crossed factors' effects (:func:`formulang.lower.plan.dense_mass`), and Penicillin's fit."""

import numpy as np
import pandas as pd
import pytest

import formulang as fl
from formulang.report.describe import describe_model
from formulang.lower.plan import DENSE_MASS_MAX

PENICILLIN = "diameter ~ 1 + (1 | plate) + (1 | sample)"


@pytest.fixture(scope="module")
def penicillin():
    return fl.Model(PENICILLIN, fl.datasets.load("Penicillin"))


def test_crossed_intercepts_get_one_dense_block():
    # Penicillin: 1 + 24 + 6 = 31 entries, every level centred (the full model's sites:
    # collapse=False; the default integrates plate out, tests/test_crossed_collapse_fit.py)
    penicillin = fl.Model(PENICILLIN, fl.datasets.load("Penicillin"), collapse=False)
    assert penicillin.plan.dense_mass == ("Intercept_c", "rc_plate", "rc_sample")
    text = str(penicillin)
    assert ("Mass matrix (NUTS): dense over the population coefficients and the effects of "
            "plate, sample") in text
    assert "Mass matrix" not in describe_model(penicillin.compiled, "map")


def test_one_term_nested_terms_and_large_blocks_stay_diagonal():
    sleep = fl.Model("Reaction ~ Days + (Days | Subject)", fl.datasets.load("sleepstudy"),
                     collapse=False)
    assert sleep.plan.dense_mass == ()
    rng = np.random.default_rng(1)
    n = 800
    frame = pd.DataFrame({"y": rng.normal(size=n), "a": rng.integers(0, 200, n).astype(str),
                          "b": rng.integers(0, 80, n).astype(str)})
    big = fl.Model("y ~ 1 + (1 | a) + (1 | b)", frame)
    assert 1 + frame.a.nunique() + frame.b.nunique() > DENSE_MASS_MAX
    assert big.plan.dense_mass == ()
    small = fl.Model("y ~ 1 + (1 | a) + (1 | b)", frame.assign(a=rng.integers(0, 10, n),
                                                                b=rng.integers(0, 5, n)))
    assert small.plan.dense_mass[0] == "Intercept_c" and len(small.plan.dense_mass) >= 3
    no_intercept = fl.Model("y ~ 0 + (1 | a) + (1 | b)", frame)
    assert no_intercept.plan.dense_mass == ()
    # the effects do not fit, the population coefficients do: they get the block alone
    frame["x"], frame["w"] = rng.normal(size=n), rng.normal(size=n)
    slopes = fl.Model("y ~ 1 + x * w + (1 | a) + (1 | b)", frame, collapse=False)
    assert slopes.plan.dense_mass == ("Intercept_c", "b_c")
    assert "dense over the population coefficients (crossed" in str(slopes)
    one = fl.Model("y ~ 1 + x + (1 | a) + (1 | b)", frame, collapse=False)
    assert one.plan.dense_mass == ()  # an intercept and one centred column: nothing to gain


def test_penicillin_mixes(penicillin):
    # 2 chains x (500 + 500), seed 0. With the dense block: min bulk ESS 707-839 over every
    # reported parameter on seeds 0-2, 61-84 per 1,000 sampling gradients, R-hat <= 1.008;
    # with the diagonal matrix before it: ESS 31-43, 1.5-1.7 per 1,000 gradients, R-hat
    # 1.04-1.05. The gates sit far from both (bulk ESS's relative error near 700 is ~10%).
    import arviz as az

    fit = penicillin.fit(draws=500, tune=500, chains=2, seed=0, progress=False)
    post = fit.idata.posterior
    ess, rhat = az.ess(post, method="bulk"), az.rhat(post)
    min_ess = min(float(ess[k].min()) for k in ess.data_vars)
    assert min_ess >= 300
    assert max(float(rhat[k].max()) for k in rhat.data_vars) < 1.02
    assert 1000 * min_ess / np.sum(fit.stats["num_steps"]) >= 20
    # the same posterior: lme4's REML intercept is 22.972 (se 0.809); MC error of the mean
    # here ~0.04
    assert abs(float(post["b"].mean()) - 22.972) < 0.3


def test_a_crossed_poisson_beyond_the_old_cap_gets_the_block_and_mixes():
    # 60 x 25 crossed levels and a slope: a block of 87 entries, over the 64 the block had at
    # most before its warm-up shrank toward the diagonal (infer/dense_adaptation.py). 2 chains
    # x (500 + 500), seeds 0-2: intercept bulk ESS 1,024-1,432 and 8,800-10,500 warm-up
    # gradients a chain; with a diagonal matrix ESS 104-151; with NumPyro's own adaptation of
    # the block 51,000-57,000 warm-up gradients. The gates sit between (ESS's relative error
    # near 1,000 is ~10%).
    rng = np.random.default_rng(5)
    n, A, B = 800, 60, 25
    a, b, x = rng.integers(0, A, n), rng.integers(0, B, n), rng.normal(size=n)
    mu = np.exp(0.5 + 0.4 * x + rng.normal(0, 0.5, A)[a] + rng.normal(0, 0.3, B)[b])
    frame = pd.DataFrame({"y": rng.poisson(mu), "x": x, "a": [f"a{i}" for i in a],
                          "b": [f"b{i}" for i in b]})
    model = fl.Model("y ~ x + (1 | a) + (1 | b)", frame, family="poisson")
    assert model.plan.dense_mass[:2] == ("Intercept_c", "b_c") and len(model.plan.dense_mass) > 2
    fit = model.fit(seed=0, chains=2, tune=500, draws=500, progress=False)
    assert fit.summary().loc["b_Intercept", "ess_bulk"] >= 500
    assert np.all(fit.run.warmup_gradients <= 25_000)


def test_a_factor_with_one_row_per_level_is_flagged_where_a_residual_scale_shares_its_role():
    # Penicillin's plate:sample has one row per level: its effects and sigma are the same
    # variation (a default fit: R-hat 1.8, 18% divergences); lme4 refuses the model
    import warnings

    with pytest.warns(fl.GroupingWarning, match=r"'plate:sample' has one row per level "
                                                r"\(144 levels, 144 rows\).*sigma"):
        fl.Model(PENICILLIN + " + (1 | plate:sample)", fl.datasets.load("Penicillin"))
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"y": rng.poisson(3.0, 60), "obs": [f"o{i}" for i in range(60)],
                          "g": rng.integers(0, 5, 60).astype(str), "s": 0.5})
    with warnings.catch_warnings():
        warnings.simplefilter("error", fl.GroupingWarning)
        # observation-level effects as overdispersion, a meta-analysis with known SDs, levels
        # of several rows: no warning
        fl.Model("y ~ 1 + (1 | obs) + (1 | g)", frame, family="poisson")
        fl.Model("y | se(s) ~ 1 + (1 | obs)", frame)
        fl.Model("y ~ 1 + (1 | g)", frame)
