"""Default priors scale with the data; user keys override by specificity; bad keys are errors."""

import numpy as np
import pytest

import formulang as fl
from formulang.lower.families import family
from formulang.lower.priors import PriorSpecError, resolve_priors


@pytest.fixture(scope="module")
def sleep():
    return fl.bind("Reaction ~ Days + (Days | Subject)", fl.datasets.load("sleepstudy"))


def test_defaults_are_scaled_to_the_data(sleep):
    t = resolve_priors(sleep, family("gaussian"))
    y, days = sleep.y, sleep.X[:, 1]
    intercept = t.lookup("Intercept")
    assert intercept.distribution == "student_t"
    assert intercept["mu"] == pytest.approx(np.mean(y), rel=1e-3)
    assert intercept["sigma"] == pytest.approx(2.5 * np.std(y, ddof=1), rel=1e-3)
    assert t.lookup("b", coef="Days")["sigma"] == pytest.approx(
        2.5 * np.std(y, ddof=1) / np.std(days, ddof=1), rel=1e-3)
    assert t.lookup("sd", "Subject", "Days")["sigma"] == pytest.approx(
        2.5 * np.std(y, ddof=1) / np.std(days, ddof=1), rel=1e-3)
    assert str(t.lookup("cor", "Subject")) == "lkj(2)"
    assert all(r.source == "default" for r in t.rows)


def test_glm_defaults_are_on_the_link_scale():
    cbpp = fl.bind("incidence | trials(size) ~ period + (1 | herd)", fl.datasets.load("cbpp"))
    t = resolve_priors(cbpp, family("binomial"))
    p = cbpp.y.sum() / cbpp.trials.sum()
    assert t.lookup("Intercept")["mu"] == pytest.approx(np.log(p / (1 - p)), rel=1e-3)
    assert t.lookup("Intercept")["sigma"] == 2.5
    assert t.lookup("sd", "herd", "Intercept")["sigma"] == 2.5


def test_most_specific_user_key_wins(sleep):
    t = resolve_priors(sleep, family("gaussian"), {
        "b": "normal(0, 10)", "sd": "exponential(1)", "sd[Subject][Days]": "half_normal(3)",
        "sigma": "half_cauchy(5)", "cor[Subject]": "lkj(4)"})
    assert str(t.lookup("b", coef="Days")) == "normal(0, 10)"
    assert str(t.lookup("sd", "Subject", "Intercept")) == "exponential(1)"
    assert str(t.lookup("sd", "Subject", "Days")) == "half_normal(3)"
    assert str(t.lookup("cor", "Subject")) == "lkj(4)"
    assert t.source("sigma") == "user" and t.source("Intercept") == "default"


def test_centred_real_priors_fold_onto_positive_parameters(sleep):
    t = resolve_priors(sleep, family("gaussian"), {"sd": "normal(0, 5)",
                                                    "sigma": "student_t(3, 0, 10)"})
    assert str(t.lookup("sd", "Subject", "Days")) == "half_normal(5)"
    assert str(t.lookup("sigma")) == "half_student_t(3, 10)"


@pytest.mark.parametrize("priors, message", [
    ({"sd[county]": "normal(0, 1)"}, "unknown prior key 'sd\\[county\\]'.*sd\\[Subject\\]"),
    ({"b[Dayz]": "normal(0, 1)"}, "valid keys: .*b\\[Days\\]"),
    ({"phi": "gamma(2, 1)"}, "unknown prior key 'phi'"),
    ({"sigma": "normal(1, 1)"}, "'sigma' is positive"),
    ({"cor": "normal(0, 1)"}, "lkj"),
    ({"b": "lkj(2)"}, "correlations"),
    ({"b": 3}, "must be text"),
    # brms's names and spellings: what they are called here
    ({"b_Days": "normal(0, 1)"}, "unknown prior key 'b_Days'.*did you mean 'b\\[Days\\]'\\?"),
    ({"sd_Subject__Days": "normal(0, 1)"}, "did you mean 'sd\\[Subject\\]\\[Days\\]'"),
    ("prior(normal(0, 10), class = b)", "priors is a dict \\{key: prior\\}.*not a str"),
    (["b ~ normal(0, 1)"], "not a list"),
])
def test_bad_user_priors(sleep, priors, message):
    with pytest.raises(PriorSpecError, match=message):
        resolve_priors(sleep, family("gaussian"), priors)


def test_prior_syntax_errors_keep_their_caret(sleep):
    with pytest.raises(fl.PriorError) as err:
        resolve_priors(sleep, family("gaussian"), {"b": "normal(0, -1)"})
    assert "^" in str(err.value)
