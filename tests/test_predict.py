"""Predictions: linear predictor, family means, simulated responses, new group levels, and
prior / posterior predictive ArviZ data.

One small NUTS fit (sleepstudy, 2 chains x 200) is shared by the module. Other families use
"fits" whose draws come from the prior (``numpyro.infer.Predictive``): predictions are a
function of the draws only, so the checks hold for any draws, and these cost no sampling.
Their priors are set narrow (normal / half_normal) so the draws stay on sensible scales.
"""

import warnings

import numpy as np
import pandas as pd
import pytest

import formulang as fl
from formulang import DataError, FormulangError, MissingValuesWarning, NewLevelsWarning
from formulang.fit import Fit
from formulang.infer.predict import KINDS, predict
from formulang.lower.families import FAMILIES
from fit_support import prior_fit

NARROW = {"Intercept": "normal(0, 0.5)", "b": "normal(0, 0.3)", "sd": "half_normal(0.5)"}


def traced_likelihoods(fit, draws):
    """The model's own likelihood of y for the given flat draw indices, by replaying the
    NumPyro model with the draws substituted: independent of formulang's predict code."""
    from numpyro import handlers

    model = fit.model
    out = []
    for s in draws:
        values = {k: v.reshape((-1,) + v.shape[2:])[s] for k, v in fit.samples.items()}
        seeded = handlers.seed(handlers.substitute(model.numpyro_model, data=values), 0)
        out.append(handlers.trace(seeded).get_trace(model.data)["y"]["fn"])
    return out


@pytest.fixture(scope="module")
def sleep():
    return fl.datasets.load("sleepstudy")


@pytest.fixture(scope="module")
def sleep_fit(sleep):
    model = fl.Model("Reaction ~ Days + (Days | Subject)", sleep)
    return model.fit(draws=200, tune=200, chains=2, seed=1)


@pytest.fixture(scope="module")
def cbpp_fit():
    model = fl.Model("cbind(incidence, size - incidence) ~ period + (1 | herd)",
                     fl.datasets.load("cbpp"), priors=NARROW)
    return prior_fit(model)


@pytest.fixture(scope="module")
def ticks_fit():
    model = fl.Model("TICKS ~ YEAR + offset(log(HEIGHT)) + (1 | BROOD)",
                     fl.datasets.load("grouseticks"), family="poisson",
                     priors={**NARROW, "Intercept": "normal(-5, 0.3)"})
    return prior_fit(model)


# ---- the linear predictor ----------------------------------------------------------------------

def test_shape_and_order(sleep_fit):
    eta = sleep_fit.predict(kind="linpred")
    assert eta.shape == (400, 180) and eta.dtype == np.float64
    # draws are stacked chain after chain: row 200 is chain 1's first draw
    b = sleep_fit.samples["b"]
    X = np.asarray(sleep_fit.model.bound.X)
    r = sleep_fit.samples["r_Subject"]
    codes = sleep_fit.model.bound.groups[0].codes
    row = (X @ b[1, 0] + (r[1, 0][codes] * X).sum(axis=1))
    np.testing.assert_allclose(eta[200], row, rtol=1e-5)


def test_linpred_equals_the_models_own_mean(sleep_fit):
    eta = sleep_fit.predict(kind="linpred")
    draws = [0, 199, 200]
    for s, fn in zip(draws, traced_likelihoods(sleep_fit, draws)):
        # the model computes in float32 on centred predictors; values are ~300
        np.testing.assert_allclose(eta[s], np.asarray(fn.loc), rtol=2e-6, atol=2e-3)
    # identity link: the mean is the linear predictor
    assert np.array_equal(sleep_fit.predict(kind="mean"), eta)


def test_newdata_by_labels(sleep_fit, sleep):
    """eta for new rows from the ArviZ posterior by level *labels*: another route to the
    same numbers than codes and design matrices."""
    new = pd.DataFrame({"Days": [0.0, 4.5, 9.0], "Subject": ["372", "308", "308"]})
    eta = sleep_fit.predict(new, kind="linpred")
    post = sleep_fit.posterior.posterior.stack(sample=("chain", "draw"))
    for i, (days, subject) in enumerate(zip(new.Days, new.Subject)):
        b = post["b"]
        r = post["r_Subject"].sel(Subject__level=subject)
        expected = (b.sel(coef="Intercept") + r.sel(Subject__effect="Intercept")
                    + days * (b.sel(coef="Days") + r.sel(Subject__effect="Days")))
        np.testing.assert_allclose(eta[:, i], expected.values, rtol=1e-5)


def test_training_rows_as_newdata_give_the_same_predictions(sleep_fit, sleep):
    assert np.array_equal(sleep_fit.predict(sleep, kind="linpred"),
                          sleep_fit.predict(kind="linpred"))


def test_offset_enters_the_linear_predictor(ticks_fit):
    eta = ticks_fit.predict(kind="linpred")
    draws = [0, 150]
    for s, fn in zip(draws, traced_likelihoods(ticks_fit, draws)):
        np.testing.assert_allclose(eta[s], np.log(np.asarray(fn.rate)), rtol=1e-5, atol=1e-5)
    # the same rows with HEIGHT doubled: eta + log 2
    df = fl.datasets.load("grouseticks").head(5)
    higher = df.assign(HEIGHT=df.HEIGHT * 2)
    np.testing.assert_allclose(ticks_fit.predict(higher, kind="linpred"),
                               ticks_fit.predict(df, kind="linpred") + np.log(2), rtol=1e-10)


# ---- family means ------------------------------------------------------------------------------

def test_poisson_mean_is_exp_linpred(ticks_fit):
    eta = ticks_fit.predict(kind="linpred")
    np.testing.assert_allclose(ticks_fit.predict(kind="mean"), np.exp(eta), rtol=1e-12)


@pytest.mark.parametrize("family, formula", [
    ("bernoulli", "high ~ Days + (1 | Subject)"),
    ("lognormal", "Reaction ~ Days + (1 | Subject)"),
    ("gamma", "Reaction ~ Days + (1 | Subject)"),
    ("negative_binomial", "count ~ Days + (1 | Subject)"),
])
def test_mean_equals_the_likelihoods_mean(family, formula, sleep):
    df = sleep.assign(high=(sleep.Reaction > 300).astype(int),
                      count=np.round(sleep.Reaction / 10))
    priors = dict(NARROW)
    if family in ("lognormal", "gamma", "negative_binomial"):
        priors["Intercept"] = "normal(5.5, 0.3)" if family != "negative_binomial" else \
            "normal(3, 0.3)"
    fit = prior_fit(fl.Model(formula, df, family=family, priors=priors), draws=20)
    mean = fit.predict(kind="mean")
    for s, fn in zip([0, 33], traced_likelihoods(fit, [0, 33])):
        np.testing.assert_allclose(mean[s], np.asarray(fn.mean), rtol=2e-5)
    if family == "bernoulli":
        from scipy.special import expit

        np.testing.assert_allclose(mean, expit(fit.predict(kind="linpred")), rtol=1e-12)
    if family == "lognormal":
        sigma = fit.samples["sigma"].reshape(-1, 1)
        np.testing.assert_allclose(mean, np.exp(fit.predict(kind="linpred") + sigma ** 2 / 2))


def test_binomial_mean_is_expected_successes(cbpp_fit):
    from scipy.special import expit

    df = fl.datasets.load("cbpp")
    p = expit(cbpp_fit.predict(kind="linpred"))
    mean = cbpp_fit.predict(kind="mean")
    np.testing.assert_allclose(mean, p * df["size"].to_numpy(), rtol=1e-12)
    fn = traced_likelihoods(cbpp_fit, [7])[0]
    np.testing.assert_allclose(mean[7], np.asarray(fn.mean), rtol=1e-5)
    # new rows without the cbind() columns have no trials: fine for linpred, a clear error
    # for mean and response; with them, the training rows' means come back
    new = df[["herd", "period"]].head(3)
    assert cbpp_fit.predict(new, kind="linpred").shape == (200, 3)
    for kind in ("mean", "response"):
        with pytest.raises(FormulangError, match="trials"):
            cbpp_fit.predict(new, kind=kind)
    full = df.head(3)
    np.testing.assert_allclose(cbpp_fit.predict(full), mean[:, :3])


# ---- simulated responses -----------------------------------------------------------------------

def _z(response, mean):
    """Standardised difference of the grand means of responses and means: given the draws,
    responses are independent across draws and rows, so their mean minus the mean of the
    means has SD sd(y - mu) / sqrt(count). |z| < 4 fails by chance with probability 6e-5
    (and the seeds are fixed, so the outcome is reproducible)."""
    resid = response - mean
    return resid.mean() / (resid.std() / np.sqrt(resid.size))


def test_response_gaussian(sleep_fit):
    y = sleep_fit.predict(kind="response", seed=3)
    mu = sleep_fit.predict(kind="mean")
    assert y.shape == mu.shape and np.isfinite(y).all()
    assert abs(_z(y, mu)) < 4
    # the spread around the mean is sigma
    sigma = sleep_fit.samples["sigma"].reshape(-1, 1)
    ratio = np.mean(((y - mu) / sigma) ** 2)  # mean of 72,000 chi^2_1 / n: SD 0.005
    assert abs(ratio - 1) < 0.03


def test_response_poisson_support_and_mean(ticks_fit):
    y = ticks_fit.predict(kind="response", seed=5)
    assert (y >= 0).all() and np.array_equal(y, np.round(y))
    assert abs(_z(y, ticks_fit.predict(kind="mean"))) < 4


def test_response_binomial_support_and_mean(cbpp_fit):
    size = fl.datasets.load("cbpp")["size"].to_numpy()
    y = cbpp_fit.predict(kind="response", seed=5)
    assert (y >= 0).all() and (y <= size).all() and np.array_equal(y, np.round(y))
    assert abs(_z(y, cbpp_fit.predict(kind="mean"))) < 4


# a response value in each support, to build a design (the prior draws replace it)
PLACEHOLDER = {"real": 0.5, "binary": 1.0, "binomial": 1.0, "count": 1.0, "positive": 1.0,
               "unit": 0.5, "nonnegative": 1.0}


# rows of categories (ordinal, categorical): their probabilities, expected category and
# labels are in tests/test_ordinal_fit.py and tests/test_categorical_fit.py
@pytest.mark.parametrize("family", [f for f, spec in FAMILIES.items()
                                    if spec.probabilities is None])
def test_every_family_predicts_its_mean_and_responses(family):
    """From the family's row alone: the mean is the likelihood's mean, responses lie in the
    support and scatter around the mean, and posterior predictive draws come back."""
    spec = FAMILIES[family]
    rng = np.random.default_rng(4)
    g = np.repeat(np.arange(6), 8)
    df = pd.DataFrame({"x": rng.normal(size=g.size), "g": [f"g{i}" for i in g],
                       "y": PLACEHOLDER[spec.support], "n": rng.integers(3, 9, g.size)})
    df.loc[::2, "y"] = 0.0 if spec.support == "binary" else df.loc[::2, "y"]
    formula = "cbind(y, n - y) ~ x + (1 | g)" if spec.trials else "y ~ x + (1 | g)"
    # moderate dispersion (sigma near 0.4, other family parameters near 10), so the z-check
    # below is well behaved
    # (and zi / hu near 0.2)
    priors = {**NARROW, **{aux: "half_normal(0.5)" if aux == "sigma" else "beta(4, 16)"
                           if aux in ("zi", "hu") else "gamma(20, 2)" for aux in spec.aux}}
    fit = prior_fit(fl.Model(formula, df, family=family, priors=priors), draws=100)
    mean = fit.predict(kind="mean")
    for s, fn in zip([0, 150], traced_likelihoods(fit, [0, 150])):
        np.testing.assert_allclose(mean[s], np.asarray(fn.mean), rtol=2e-5)
    y = fit.predict(kind="response", seed=5)
    assert y.shape == mean.shape and np.isfinite(y).all()
    trials = fit.model.bound.trials
    for draw in y[::20]:
        fit.model.family.check_response(draw, trials)
    assert abs(_z(y, mean)) < 4
    ppc = fit.posterior_predictive(seed=2)
    assert ppc.posterior_predictive["y"].shape == (2, 100, g.size)


def test_response_is_reproducible(sleep_fit):
    a = sleep_fit.predict(kind="response", seed=11)
    assert np.array_equal(a, sleep_fit.predict(kind="response", seed=11))
    assert not np.array_equal(a, sleep_fit.predict(kind="response", seed=12))


# ---- new group levels --------------------------------------------------------------------------

def test_population_level_prediction_for_new_levels(sleep_fit):
    new = pd.DataFrame({"Days": [0.0, 5.0, 5.0], "Subject": ["new1", "new1", "308"]})
    with pytest.warns(NewLevelsWarning, match="'new1'. They get effect 0"):
        eta = sleep_fit.predict(new, kind="linpred", new_levels="population")
    b = sleep_fit.samples["b"].reshape(-1, 2)
    np.testing.assert_allclose(eta[:, 0], b[:, 0], rtol=1e-6)
    np.testing.assert_allclose(eta[:, 1], b[:, 0] + 5 * b[:, 1], rtol=1e-6)
    # a known level keeps its own effect, whatever new_levels says
    np.testing.assert_array_equal(eta[:, 2], sleep_fit.predict(new.iloc[[2]], kind="linpred",
                                                               new_levels="error")[:, 0])


def test_gaussian_new_levels_have_the_population_covariance(sleep_fit):
    m = 200  # new subjects, each at Days 0 and 1: intercept effect and slope effect
    new = pd.DataFrame({"Days": np.tile([0.0, 1.0], m),
                        "Subject": np.repeat([f"n{j}" for j in range(m)], 2)})
    with pytest.warns(NewLevelsWarning, match="200 group levels"):
        eta = sleep_fit.predict(new, kind="linpred", new_levels="gaussian", seed=4)
    b = sleep_fit.samples["b"].reshape(-1, 2)
    e0 = eta[:, 0::2] - b[:, [0]]  # (S, m) intercept effects
    e1 = eta[:, 1::2] - eta[:, 0::2] - b[:, [1]]  # slope effects
    sd = sleep_fit.samples["sd_Subject"].reshape(-1, 2)
    cor = sleep_fit.samples["cor_Subject"].reshape(-1)
    u0, u1 = e0 / sd[:, [0]], e1 / sd[:, [1]]
    # Given a draw, u0, u1 are standard normal with correlation cor: E u0^2 = E u1^2 = 1 with
    # SD sqrt(2 / (S m)) = 0.005 over S m = 80,000 effects, and E(u0 u1 - cor) = 0 with SD
    # about sqrt((1 + cor^2) / (S m)) < 0.005. Tolerances are 6 SDs.
    assert abs(np.mean(u0 ** 2) - 1) < 0.03
    assert abs(np.mean(u1 ** 2) - 1) < 0.03
    assert abs(np.mean(u0 * u1 - cor[:, None])) < 0.03
    # new levels differ from each other; rows of one level share its effect
    assert np.std(e0[0]) > 0
    with pytest.warns(NewLevelsWarning, match="1 group level "):
        twice = sleep_fit.predict(pd.DataFrame({"Days": [0.0, 0.0], "Subject": ["x", "x"]}),
                                  kind="linpred", seed=4)
    assert np.array_equal(twice[:, 0], twice[:, 1])


def test_new_levels_are_reproducible(sleep_fit):
    new = pd.DataFrame({"Days": [2.0, 2.0], "Subject": ["a", "b"]})
    with pytest.warns(NewLevelsWarning):
        a = sleep_fit.predict(new, new_levels="gaussian", seed=1)
        assert np.array_equal(a, sleep_fit.predict(new, new_levels="gaussian", seed=1))
        assert not np.array_equal(a, sleep_fit.predict(new, new_levels="gaussian", seed=2))


def test_new_levels_error_names_factor_and_levels(sleep_fit):
    new = pd.DataFrame({"Days": [1.0, 2.0, 3.0], "Subject": ["308", "999", "1000"]})
    with pytest.raises(FormulangError, match=r"'Subject'.*'999', '1000'"):
        sleep_fit.predict(new, new_levels="error")


@pytest.fixture(scope="module")
def radon_fit():
    return prior_fit(fl.Model("log_radon ~ floor + (1 | county)", fl.datasets.load("radon"),
                              priors=NARROW), draws=20)


def test_new_levels_are_named_with_close_known_levels(radon_fit):
    """A misspelt county (case, a dropped letter) is a new level: the warning names it per
    grouping factor, with the known levels it resembles, and what it got."""
    new = pd.DataFrame({"floor": [0, 1, 0, 0], "county": ["hennepin", "HENNEPIN", "RAMSY",
                                                           "hennepin"]})
    with pytest.warns(NewLevelsWarning) as record:
        eta = radon_fit.predict(new, kind="linpred", new_levels="population")
    message = str(record[0].message)
    assert message.startswith("newdata has 2 group levels not seen in training; 'county': "
                              "'hennepin' (did you mean 'HENNEPIN'?), 'RAMSY' (did you mean "
                              "'RAMSEY'?). They get effect 0")
    assert "new_levels='population'" in message and "new_levels='gaussian'" in message
    b = radon_fit.samples["b"].reshape(-1, 2)
    np.testing.assert_allclose(eta[:, 0], b[:, 0], rtol=1e-6)  # effect 0: the population
    assert not np.allclose(eta[:, 1], b[:, 0] + b[:, 1])  # HENNEPIN keeps its own effect
    # "error" refuses with the same text
    with pytest.raises(FormulangError) as err:
        radon_fit.predict(new, new_levels="error")
    assert str(err.value).startswith(message.split(". They get")[0] + ". They are refused")
    # known levels only: no warning
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        radon_fit.predict(new.iloc[[1]])


def test_new_levels_are_reported_per_grouping_factor():
    df = fl.datasets.load("sleepstudy").assign(lab=lambda d: np.where(d.Days < 5, "A", "B"))
    fit = prior_fit(fl.Model("Reaction ~ Days + (1 | Subject) + (1 | lab)", df,
                             priors={**NARROW, "Intercept": "normal(300, 10)"}), draws=5)
    new = pd.DataFrame({"Days": [1.0, 2.0], "Subject": ["3O8", "308"], "lab": ["a", "C"]})
    with pytest.warns(NewLevelsWarning, match=r"3 group levels not seen in training; "
                                             r"'Subject': '3O8' \(did you mean '308'\?\); "
                                             r"'lab': 'a' \(did you mean 'A'\?\), 'C'\. "):
        fit.predict(new)


# ---- rows with missing values -------------------------------------------------------------------

def test_rows_with_missing_predictors_stay_aligned_as_nan(sleep_fit):
    """3 rows in, 3 columns out: the row that cannot be predicted is NaN, named in a warning;
    the others are what they are alone."""
    new = pd.DataFrame({"Days": [0.0, np.nan, 9.0], "Subject": ["308", "308", "372"]})
    with pytest.warns(MissingValuesWarning, match=r"1 of 3 newdata rows have missing values "
                                                  r"in Days \(1 row\): their predictions are "
                                                  r"NaN \(row position 1\)"):
        for kind in ("linpred", "mean", "response"):
            out = sleep_fit.predict(new, kind=kind, seed=3)
            assert out.shape == (400, 3)
            assert np.isnan(out[:, 1]).all() and np.isfinite(out[:, [0, 2]]).all()
            whole = sleep_fit.predict(new.iloc[[0, 2]], kind=kind, seed=3)
            if kind != "response":  # draws of the kept rows: same numbers
                np.testing.assert_array_equal(out[:, [0, 2]], whole)
    # the training rows are predicted as fitted: one column per row used in the fit
    assert sleep_fit.predict().shape == (400, 180)


def test_missing_grouping_level_is_a_nan_row_too(radon_fit):
    new = pd.DataFrame({"floor": [0, 1], "county": [None, "AITKIN"]})
    with pytest.warns(MissingValuesWarning, match="county.*row position 0"):
        out = radon_fit.predict(new)
    assert np.isnan(out[:, 0]).all() and np.isfinite(out[:, 1]).all()
    # every row missing: every column NaN, as for some of them (was "no rows left")
    with pytest.warns(MissingValuesWarning, match="1 of 1 newdata rows"):
        out = radon_fit.predict(new.iloc[[0]])
    assert out.shape[1] == 1 and np.isnan(out).all()


def test_a_model_that_refuses_missing_values_refuses_them_in_new_rows(sleep):
    fit = prior_fit(fl.Model("Reaction ~ Days + (1 | Subject)", sleep, na_action="raise",
                             priors={**NARROW, "Intercept": "normal(300, 10)"}), draws=5)
    new = pd.DataFrame({"Days": [0.0, np.nan], "Subject": ["308", "308"]})
    with pytest.raises(DataError, match="row positions 1"):
        fit.predict(new)


# ---- binomial trials and probabilities ----------------------------------------------------------

def test_binomial_predictions_need_only_the_trials(cbpp_fit):
    """cbind(incidence, size - incidence): the trials are size, known without incidence."""
    from scipy.special import expit

    df = fl.datasets.load("cbpp").head(4)
    p = expit(cbpp_fit.predict(df, kind="linpred"))
    np.testing.assert_allclose(cbpp_fit.predict(df[["herd", "period"]], kind="prob"), p,
                               rtol=1e-12)
    without = df[["herd", "period", "size"]]
    np.testing.assert_allclose(cbpp_fit.predict(without), p * df["size"].to_numpy(), rtol=1e-12)
    np.testing.assert_array_equal(cbpp_fit.predict(without, kind="response", seed=2),
                                  cbpp_fit.predict(df, kind="response", seed=2))
    # trials= as a column, a number, or one number per row
    renamed = df[["herd", "period"]].assign(n=df["size"].to_numpy())
    np.testing.assert_allclose(cbpp_fit.predict(renamed, trials="n"), p * df["size"].to_numpy())
    np.testing.assert_allclose(cbpp_fit.predict(renamed, trials=10), p * 10)
    np.testing.assert_allclose(cbpp_fit.predict(renamed, trials=[1, 2, 3, 4]), p * [1, 2, 3, 4])


def test_missing_trials_name_the_columns_needed(cbpp_fit, sleep):
    new = fl.datasets.load("cbpp")[["herd", "period"]].head(2)
    for kind in ("mean", "response"):
        with pytest.raises(FormulangError, match=rf"kind='{kind}' for a binomial model needs "
                                                 r"the number of trials.*newdata lacks "
                                                 r"'size'.*trials=.*kind='prob'"):
            cbpp_fit.predict(new, kind=kind)
    # cbind(s, f) of two columns: both are needed
    df = sleep.assign(s=(sleep.Reaction // 100).astype(int), f=3)
    fit = prior_fit(fl.Model("cbind(s, f) ~ Days + (1 | Subject)", df, priors=NARROW), draws=5)
    with pytest.raises(FormulangError, match=r"newdata lacks 's', 'f'"):
        fit.predict(df[["Days", "Subject"]].head(2))
    assert fit.predict(df[["Days", "Subject"]].head(2), trials=3).shape == (10, 2)
    # bad trials= values
    with pytest.raises(FormulangError, match=r"trials=: the trials must be whole numbers"):
        cbpp_fit.predict(new, trials=2.5)
    with pytest.raises(FormulangError, match="has 3 values for 2 rows"):
        cbpp_fit.predict(new, trials=[1, 2, 3])
    with pytest.raises(FormulangError, match="names no column"):
        cbpp_fit.predict(new, trials="size")


def test_trials_response_needs_only_its_trials_column(sleep):
    df = sleep.assign(s=(sleep.Reaction // 100).astype(int), n=6)
    fit = prior_fit(fl.Model("s | trials(n) ~ Days + (1 | Subject)", df, priors=NARROW),
                    draws=5)
    new = df[["Days", "Subject"]].head(3)
    with pytest.raises(FormulangError, match=r"newdata lacks 'n'"):
        fit.predict(new)
    np.testing.assert_allclose(fit.predict(new.assign(n=6)),
                               6 * fit.predict(new, kind="prob"), rtol=1e-12)


def test_prob_is_for_per_trial_families(sleep_fit, sleep):
    with pytest.raises(FormulangError, match="kind='prob' is the probability.*gaussian"):
        sleep_fit.predict(kind="prob")
    df = sleep.assign(high=(sleep.Reaction > 300).astype(int))
    fit = prior_fit(fl.Model("high ~ Days + (1 | Subject)", df, family="bernoulli",
                             priors=NARROW), draws=5)
    np.testing.assert_allclose(fit.predict(kind="prob"), fit.predict(kind="mean"), rtol=1e-12)
    with pytest.raises(FormulangError, match="trials= is for binomial models"):
        sleep_fit.predict(trials=3)


def test_bad_arguments(sleep_fit):
    with pytest.raises(FormulangError, match="kinds: linpred, prob, mean, response"):
        sleep_fit.predict(kind="expected")
    with pytest.raises(FormulangError, match="gaussian, population, error"):
        sleep_fit.predict(new_levels="zero")
    assert KINDS == ("linpred", "prob", "mean", "response")


def test_unseen_fixed_effect_level_is_a_data_error(cbpp_fit):
    new = pd.DataFrame({"herd": ["1"], "period": ["5"], "incidence": [1], "size": [10]})
    with pytest.raises(DataError, match="5"):
        predict(cbpp_fit, new)


def test_missing_predictor_is_a_data_error(sleep_fit):
    with pytest.raises(DataError, match="Days"):
        sleep_fit.predict(pd.DataFrame({"Subject": ["308"]}))


# ---- ArviZ groups ------------------------------------------------------------------------------

def test_posterior_predictive(sleep_fit, sleep):
    idata = sleep_fit.posterior_predictive(seed=2)
    assert {"posterior", "posterior_predictive", "observed_data", "log_likelihood"} <= \
        set(idata.groups())
    y = idata.posterior_predictive["y"]
    assert y.dims == ("chain", "draw", "obs") and y.shape == (2, 200, 180)
    np.testing.assert_array_equal(y.values.reshape(400, 180),
                                  sleep_fit.predict(kind="response", seed=2))
    np.testing.assert_array_equal(idata.observed_data["y"].values, sleep.Reaction.to_numpy())
    assert "posterior_predictive" not in sleep_fit.idata.groups()  # fit.idata is unchanged


def test_prior_predictive_check_radon():
    """A prior predictive check: the default priors put y on the data's scale."""
    radon = fl.datasets.load("radon")
    model = fl.Model("log_radon ~ floor + (1 | county)", radon)
    idata = model.prior_predictive(draws=300, seed=0)
    assert {"prior", "prior_predictive", "observed_data"} <= set(idata.groups())
    y = idata.prior_predictive["y"]
    assert y.dims == ("chain", "draw", "obs") and y.shape == (1, 300, len(radon))
    y = y.values
    assert np.isfinite(y).all()
    observed = radon.log_radon.to_numpy()
    lo, hi = np.quantile(y, [0.25, 0.75])
    assert lo < observed.max() and hi > observed.min()  # central 50% meets the data's range
    # ... and is not vastly wider than the data (weakly informative, not flat)
    assert hi - lo < 20 * observed.std()
    prior = idata.prior
    assert prior["b"].dims == ("chain", "draw", "coef")
    assert list(prior["b"].coef.values) == ["Intercept", "floor"]
    assert prior["r_county"].shape == (1, 300, 85, 1)
    assert (prior["sd_county"].values > 0).all()


def test_new_levels_with_several_correlated_blocks(sleep):
    """``||`` keeps each factor's contrasts as one correlated block: two LKJ factors,
    ``L_Subject_0`` and ``L_Subject_1``, scattered block-diagonally. Rebuilding the
    Cholesky factor from the reported correlations gives the same new-level effects."""
    df = sleep.assign(phase=np.array(["a", "b", "c"])[np.minimum(sleep.Days // 4, 2)],
                      third=np.array(["x", "y", "z"])[sleep.Days.to_numpy().astype(int) % 3])
    model = fl.Model("Reaction ~ Days + (phase + third || Subject)", df,
                     priors={**NARROW, "Intercept": "normal(300, 10)", "sigma": "half_normal(30)"})
    g = model.plan.groups[0]
    assert g.blocks == ((0,), (1, 2), (3, 4))
    fit = prior_fit(model, draws=50)
    assert {"L_Subject_0", "L_Subject_1"} <= set(fit.samples)
    new = df.head(12).assign(Subject="newcomer")
    with pytest.warns(NewLevelsWarning, match="'newcomer'"):
        eta = fit.predict(new, kind="linpred", seed=9)
        without_l = Fit(model, {k: v for k, v in fit.samples.items() if not k.startswith("L_")},
                        {}, method="prior")
        np.testing.assert_allclose(without_l.predict(new, kind="linpred", seed=9), eta,
                                   rtol=1e-4, atol=1e-3)
        population = fit.predict(new, kind="linpred", new_levels="population")
    assert not np.allclose(eta, population)
