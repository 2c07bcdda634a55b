"""Response additions: censoring, truncation, known standard errors, exposure, and the spellings
bambi and formulae use (issue 18).

- parsing: every spelling, its brms twin, round trips, errors with carets;
- binding: bad codes, intervals, bounds and standard errors are named by row and column;
- the observed distribution: its log density against SciPy for every family that takes
  censoring (left, right, interval) and truncation, and truncated draws within their bounds;
- downstream: the pointwise log-likelihood, predictions, simulation, code(), graph(),
  print(model), save/load;
- agreement with brms 2.18 (tests/fixtures/brms_response: make.R made the JSON);
- coverage of 90% intervals over replicates with 30%+ of rows censored (continuous and
  discrete), a truncated model and a meta-analysis (named ``ninety``: deselected with the
  other long coverage runs by ``-k "not ninety"``).
"""

from __future__ import annotations

import json
import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import special, stats

import formulang as fl
from formulang import parse
from formulang.errors import DataError, FormulaError, FormulangError
from formulang.ir.formula import Formula
from formulang.lower.families import FAMILIES, family
from formulang.lower.response import ResponsePlan, observation
from fit_support import interval_rows

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
import sbc  # noqa: E402

FIXTURES = Path(__file__).parent / "fixtures" / "brms_response" / "brms_response.json"
SCHOOLS = pd.DataFrame({"y": [28.0, 8, -3, 7, -1, 1, 18, 12],
                        "s": [15.0, 10, 16, 11, 9, 11, 10, 18], "study": list("ABCDEFGH")})


# ---- parsing ------------------------------------------------------------------------------------

@pytest.mark.parametrize("other, brms", [
    ("censored(t, status) ~ x", "t | cens(status) ~ x"),
    ("censored(lo, hi, status) ~ x", "lo | cens(status, hi) ~ x"),
    ("truncated(y, 0, 10) ~ x", "y | trunc(lb = 0, ub = 10) ~ x"),
    ("truncated(y, ub = 10) ~ x", "y | trunc(ub = 10) ~ x"),
    ("constrained(y, lb = 1, ub = 3) ~ x", "y | trunc(lb = 1, ub = 3) ~ x"),
    ("p(y, n) ~ x", "y | trials(n) ~ x"),
    ("prop(y, n) ~ x", "y | trials(n) ~ x"),
    ("y | cens(c, y2 = hi) ~ x", "y | cens(c, hi) ~ x"),
    ("y | trunc(0, Inf) ~ x", "y | trunc(lb = 0) ~ x"),
    ("y | se(s, sigma = FALSE) ~ x", "y | se(s) ~ x"),
])
def test_other_spellings_parse_to_their_brms_twin(other, brms):
    assert parse(other) == parse(brms)
    assert str(parse(other)) == str(parse(brms))


@pytest.mark.parametrize("text", [
    "y | cens(c) ~ x", "y | cens(c, y2) + trunc(lb = 0) ~ x", "y | trunc(lb = lo, ub = 9) ~ 1",
    "y | se(s) ~ 1 + (1 | study)", "y | se(s, sigma = TRUE) ~ 1", "n | rate(e) ~ x",
    "s | trials(n) + cens(c) ~ x", "y | cens(c) + weights(w) ~ x", "y | trunc(lb = -2.5) ~ 1",
])
def test_round_trips_text_and_json(text):
    f = parse(text)
    assert parse(str(f)) == f
    assert Formula.from_json(f.to_json()) == f


def test_json_version_is_1_without_the_new_additions():
    assert parse("y | weights(w) ~ x").to_dict()["version"] == 1
    assert parse("y | cens(c) ~ x").to_dict()["version"] == 2
    old = parse("y | trials(n) ~ x").to_dict()  # as formulang before issue 18 wrote it
    assert Formula.from_dict(old) == parse("y | trials(n) ~ x")


@pytest.mark.parametrize("text, message, caret", [
    ("y | cens(c) + cens(d) ~ 1", "cens() is given twice", "cens(d)"),
    ("y | trunc() ~ 1", "truncation needs a bound", "trunc()"),
    ("y | trunc(lb = 3, ub = 1) ~ 1", "must be below the upper one", "trunc(lb = 3, ub = 1)"),
    ("y | censor(c) ~ 1", "'censor' is not a supported response addition; supported: cens, "
                          "rate, se, trials, trunc, weights", "censor"),
    ("censored(y) ~ 1", "censored() takes 2 to 3 arguments, got 1", "censored(y)"),
    ("y | se(s, sigma = 3) ~ 1", "'sigma' takes TRUE or FALSE", "3"),
    ("y | se(s, tau = TRUE) ~ 1", "se() has no argument 'tau'", "tau"),
    ("y ~ x + cens(c)", "cens() is a response addition", "cens"),
    ("y ~ x + censored(a, b)", "censored() can only be the response", "censored"),
    ("truncated(y, 0) | trunc(lb = 1) ~ 1", "a lower bound is given twice", "trunc(lb = 1)"),
])
def test_formula_errors_point_at_the_addition(text, message, caret):
    with pytest.raises(FormulaError) as err:
        parse(text)
    assert message in str(err.value)
    start = text.index(caret)
    assert (err.value.start, err.value.end) == (start, start + len(caret))


# ---- binding ------------------------------------------------------------------------------------

def _bind(text, **cols):
    return fl.bind(text, pd.DataFrame(cols))


def test_codes_names_numbers_and_booleans():
    b = _bind("y | cens(c) ~ 1", y=[1.0, 2, 3, 4], c=["Left", "none", " right", "none"])
    assert b.additions.cens.tolist() == [-1, 0, 1, 0]
    b = _bind("y | cens(c) ~ 1", y=[1.0, 2, 3], c=[-1, 0, 1])
    assert b.additions.cens.tolist() == [-1, 0, 1]
    b = _bind("y | cens(c) ~ 1", y=[1.0, 2], c=[True, False])
    assert b.additions.cens.tolist() == [1, 0]
    assert b.additions.counts() == {"left": 0, "right": 1, "interval": 0}


def test_bad_censoring_codes_are_named():
    with pytest.raises(DataError, match=r"censoring column c has 'censored' at row position 2 "
                                        r"\(1 in all\); censoring codes are 'left', 'none'"):
        _bind("y | cens(c) ~ 1", y=[1.0, 2, 3], c=["none", "right", "censored"])
    with pytest.raises(DataError, match=r"censoring column c has '3' at row positions 1, 2"):
        _bind("y | cens(c) ~ 1", y=[1.0, 2, 3], c=[0, 3, 3])


def test_interval_upper_ends():
    b = _bind("y | cens(c, hi) ~ 1", y=[1.0, 2, 3], c=["interval", "none", "right"],
              hi=[1.5, np.nan, np.nan])  # missing outside interval rows: kept
    assert b.n == 3 and b.additions.y2[0] == 1.5 and np.isnan(b.additions.y2[1:]).all()
    with pytest.raises(DataError, match=r"must be above its lower end \(y\), but y2 <= y at "
                                        r"row position 1 \(1 in all\), e.g. 1 <= 2"):
        _bind("y | cens(c, hi) ~ 1", y=[1.0, 2, 3], c=[2, 2, 0], hi=[3.0, 1.0, 0.0])
    with pytest.raises(DataError, match=r"need a finite upper end \(hi\), missing at row "
                                        r"position 0"):
        _bind("y | cens(c, hi) ~ 1", y=[1.0, 2], c=[2, 0], hi=[np.nan, 1.0])
    with pytest.raises(DataError, match="interval-censored rows need the upper end"):
        _bind("y | cens(c) ~ 1", y=[1.0, 2], c=[2, 0])


def test_values_outside_truncation_bounds_are_named():
    with pytest.raises(DataError, match=r"within the truncation bounds \(lb = 0 and ub = 10\), "
                                        r"but y = 12 at row position 2 is outside"):
        _bind("y | trunc(lb = 0, ub = 10) ~ 1", y=[1.0, 2, 12, -1])
    with pytest.raises(DataError, match=r"lb >= ub at row position 1"):
        _bind("y | trunc(lb = lo, ub = hi) ~ 1", y=[1.0, 2], lo=[0.0, 5], hi=[3.0, 4])
    b = _bind("y | trunc(lb = lo) ~ 1", y=[1.0, 2], lo=[0.5, 1.0])
    assert b.additions.lb.tolist() == [0.5, 1.0] and np.isposinf(b.additions.ub).all()


def test_standard_errors_must_be_present_and_positive():
    with pytest.raises(DataError, match=r"standard errors \(s\) must be positive, but are not "
                                        r"at row position 1 \(1 in all\), e.g. 0"):
        _bind("y | se(s) ~ 1", y=[1.0, 2], s=[1.0, 0.0])
    with pytest.raises(DataError, match=r"standard errors \(s\) are missing at row position 0 "
                                        r"\(1 in all\); every row needs one"):
        _bind("y | se(s) ~ 1", y=[1.0, 2], s=[np.nan, 1.0])


def test_rate_is_a_log_offset_and_must_be_positive():
    b = _bind("y | rate(e) ~ 1", y=[1.0, 2], e=[2.0, 4.0])
    np.testing.assert_allclose(b.offset, np.log([2.0, 4.0]))
    with pytest.raises(DataError, match=r"exposures \(rate\) \(e\) must be positive"):
        _bind("y | rate(e) ~ 1", y=[1.0, 2], e=[2.0, -1.0])
    new = b.apply(pd.DataFrame({"e": [10.0]}))  # new rows need their exposure
    np.testing.assert_allclose(new.offset, np.log([10.0]))
    with pytest.raises(DataError, match="e"):
        b.apply(pd.DataFrame({"z": [1.0]}))


@pytest.mark.parametrize("text, fam, message", [
    ("y | cens(c) ~ 1", "bernoulli", "censoring \\(cens\\(\\)\\) is not available for the "
                                     "bernoulli family; families that take it: gaussian"),
    ("y | trunc(ub = 1) ~ 1", "beta", "truncation \\(trunc\\(\\)\\) is not available"),
    # refused before binding compared the bound with the category codes (0-based: "y = 0 is
    # outside the truncation bounds (lb = 1)")
    ("k | trunc(lb = 1) ~ 1", "cumulative", "truncation \\(trunc\\(\\)\\) is not available "
                                            "for the cumulative family"),
    ("y | se(s) ~ 1", "poisson", "se\\(\\) gives known standard errors.*take it: gaussian, "
                                 "student_t"),
    ("y | rate(s) ~ 1", "gaussian", "rate\\(\\) is for counts.*take it: poisson, "
                                    "negative_binomial"),
])
def test_families_refuse_additions_they_cannot_take(text, fam, message):
    data = pd.DataFrame({"y": [0.0, 1, 1, 0], "c": [0, 1, 0, 0], "s": [1.0, 1, 1, 1],
                         "k": [1, 2, 3, 2]})
    if fam == "beta":
        data["y"] = [0.2, 0.4, 0.5, 0.7]
    with pytest.raises(FormulangError, match=message):
        fl.Model(text, data, family=fam)


# ---- the observed distribution against SciPy ----------------------------------------------------

def _scipy(name, eta, aux, n=None):
    """The family's distribution in SciPy, from eta (its link's scale) and its parameters."""
    mu = np.exp(eta)
    if name == "gaussian":
        return stats.norm(eta, aux["sigma"])
    if name == "student_t":
        return stats.t(aux["nu"], eta, aux["sigma"])
    if name == "lognormal":
        return stats.lognorm(aux["sigma"], scale=np.exp(eta))
    if name == "gamma":
        return stats.gamma(aux["shape"], scale=mu / aux["shape"])
    if name == "weibull":
        k = aux["shape"]
        return stats.weibull_min(k, scale=mu / special.gamma(1 + 1 / k))
    if name == "exponential":
        return stats.expon(scale=mu)
    if name == "poisson":
        return stats.poisson(mu)
    if name == "negative_binomial":
        return stats.nbinom(aux["phi"], aux["phi"] / (aux["phi"] + mu))
    if name == "binomial":
        return stats.binom(n, special.expit(eta))
    raise AssertionError(name)


AUX = {"sigma": 0.8, "nu": 5.0, "shape": 2.5, "phi": 3.0}
CENSORABLE = [name for name, row in FAMILIES.items() if row.log_cdfs is not None]


def test_censoring_families_are_those_of_the_issue():
    assert set(CENSORABLE) == {"gaussian", "student_t", "lognormal", "gamma", "weibull",
                               "exponential", "poisson", "negative_binomial", "binomial"}
    # a family that takes trunc() gives the mean of the truncated response too
    assert all(FAMILIES[name].moments is not None for name in CENSORABLE)


@pytest.mark.parametrize("name", CENSORABLE)
def test_censored_log_density_matches_scipy(name):
    import jax.numpy as jnp

    fam = family(name)
    discrete = fam.spec.discrete
    eta = np.array([0.3, 0.3, 0.3, 0.3, -0.2, 1.0])
    y = np.array([2.0, 1.0, 3.0, 1.0, 0.0, 4.0]) if discrete else \
        np.array([1.3, 0.7, 2.1, 0.9, 0.4, 3.0])
    y2 = y + np.array([0, 0, 0, 2.0, 0, 0]) if discrete else y + [0, 0, 0, 1.1, 0, 0]
    cens = np.array([0, -1, 1, 2, -1, 1])
    n = np.full(6, 8) if name == "binomial" else None
    aux = {a: AUX[a] for a in fam.spec.aux}
    plan = ResponsePlan(censored=True, interval=True)
    extras = {"cens": jnp.asarray(cens), "y2": jnp.asarray(np.where(cens == 2, y2, y + 1))}
    d = observation(fam, plan, jnp.asarray(eta), {k: jnp.asarray(v) for k, v in aux.items()},
                    None if n is None else jnp.asarray(n), extras)
    got = np.asarray(d.log_prob(jnp.asarray(y)), dtype=float)
    ref = _scipy(name, eta, aux, n)
    logpdf = ref.logpmf(y) if discrete else ref.logpdf(y)
    with np.errstate(divide="ignore"):  # y2 = y outside interval rows: a log(0) not chosen
        want = np.select([cens == 0, cens == -1, cens == 1, cens == 2],
                         [logpdf, ref.logcdf(y), ref.logsf(y), np.log(ref.cdf(y2) - ref.cdf(y))])
    np.testing.assert_allclose(got, want, rtol=2e-4, atol=2e-4)


@pytest.mark.parametrize("name", CENSORABLE)
def test_truncated_log_density_and_draws(name):
    import jax
    import jax.numpy as jnp

    fam = family(name)
    discrete = fam.spec.discrete
    eta = np.full(4, 0.4)
    lb, ub = (np.full(4, 1.0), np.full(4, 4.0)) if discrete else (np.full(4, 0.5), np.full(4, 2.5))
    y = np.array([1.0, 2.0, 3.0, 4.0]) if discrete else np.array([0.6, 1.0, 1.7, 2.4])
    n = np.full(4, 8) if name == "binomial" else None
    aux = {a: AUX[a] for a in fam.spec.aux}
    ref = _scipy(name, eta, aux, n)
    for plan, extras, norm in [
            (ResponsePlan(lb=True), {"lb": lb}, ref.sf(lb - 1 if discrete else lb)),
            (ResponsePlan(ub=True), {"ub": ub}, ref.cdf(ub)),
            (ResponsePlan(lb=True, ub=True), {"lb": lb, "ub": ub},
             ref.cdf(ub) - ref.cdf(lb - 1 if discrete else lb))]:
        d = observation(fam, plan, jnp.asarray(eta), {k: jnp.asarray(v) for k, v in aux.items()},
                        None if n is None else jnp.asarray(n),
                        {k: jnp.asarray(v) for k, v in extras.items()})
        got = np.asarray(d.log_prob(jnp.asarray(y)), dtype=float)
        logpdf = ref.logpmf(y) if discrete else ref.logpdf(y)
        np.testing.assert_allclose(got, logpdf - np.log(norm), rtol=2e-4, atol=2e-4)
    # draws of the doubly truncated distribution: within the bounds, with its mean
    draws = np.asarray(d.sample(jax.random.PRNGKey(0), (4000,)), dtype=float)[:, 0]
    assert draws.min() >= lb[0] and draws.max() <= ub[0]
    if discrete:
        assert np.allclose(draws, np.round(draws))
    if discrete:
        grid = np.arange(lb[0], ub[0] + 1)
        p = np.array([ref.pmf(k)[0] for k in grid])
        mean = float(np.sum(grid * p) / p.sum())
        var = float(np.sum(grid**2 * p) / p.sum() - mean**2)
    else:
        xs = np.linspace(lb[0], ub[0], 20001)
        w = ref.pdf(xs[:, None])[:, 0]
        mean = float(np.trapezoid(xs * w, xs) / np.trapezoid(w, xs))
        var = float(np.trapezoid(xs**2 * w, xs) / np.trapezoid(w, xs) - mean**2)
    # 4000 independent draws: the mean's SE is sqrt(var / 4000); 4.5 SE fails by chance 7e-6
    assert abs(draws.mean() - mean) < 4.5 * np.sqrt(var / 4000)


def _truncated_mean_reference(ref, name, discrete, lo, hi):
    """E[Y | lo <= Y <= hi] (``None``: no bound) of one SciPy distribution: scipy's truncnorm,
    a sum over the kept counts, or quadrature of ``y f(y)`` (to a 1e-14 tail)."""
    from scipy import integrate

    if name == "gaussian":
        mu, sd = ref.mean(), ref.std()
        a = -np.inf if lo is None else (lo - mu) / sd
        b = np.inf if hi is None else (hi - mu) / sd
        return stats.truncnorm(a, b, mu, sd).mean()
    if discrete:
        k = np.arange(0 if lo is None else lo, (hi if hi is not None else ref.isf(1e-16)) + 1)
        return float(np.sum(k * ref.pmf(k)) / np.sum(ref.pmf(k)))
    a = ref.ppf(1e-14) if lo is None else lo
    b = max(ref.isf(1e-14), a + 1.0) if hi is None else hi
    num = integrate.quad(lambda y: y * ref.pdf(y), a, b, epsabs=0, epsrel=1e-12, limit=500)[0]
    return num / (ref.cdf(b) - ref.cdf(a))


@pytest.mark.parametrize("name", CENSORABLE)
def test_truncated_mean_matches_scipy(name):
    # predict(kind="mean") of a truncated model (brms's posterior_epred): per draw and row the
    # mean of the truncated distribution, from the row's closed-form partial moments; the
    # reference is independent (truncnorm, sums of the pmf, quadrature). Bounds per row, one
    # range in the upper tail (where the upper moments keep the precision); two draws with
    # different family parameters, so draws x rows broadcast.
    from formulang.lower.response import truncated_mean

    fam = family(name)
    discrete = fam.spec.discrete
    eta = np.array([[0.3, 1.0, -0.2], [0.5, 0.8, 0.0]])
    lb, ub = ([1.0, 6.0, 0.0], [4.0, 9.0, 2.0]) if discrete else ([0.5, 5.0, 0.2],
                                                                    [2.5, 8.0, 1.0])
    n = np.array([8.0, 12.0, 5.0]) if fam.spec.trials else None
    aux = {a: np.array([AUX[a], 1.3 * AUX[a]]) for a in fam.spec.aux}
    for plan, bounds in [(ResponsePlan(lb=True), (lb, None)), (ResponsePlan(ub=True), (None, ub)),
                         (ResponsePlan(lb=True, ub=True), (lb, ub))]:
        extras = {k: np.array(v) for k, v in zip(("lb", "ub"), bounds) if v is not None}
        got = truncated_mean(fam, plan, eta, aux, n, extras)
        assert got.shape == (2, 3) and got.dtype == np.float64
        for s in range(2):
            for i in range(3):
                ref = _scipy(name, eta[s, i], {k: v[s] for k, v in aux.items()},
                             None if n is None else n[i])
                lo, hi = (None if b is None else b[i] for b in bounds)
                want = _truncated_mean_reference(ref, name, discrete, lo, hi)
                assert got[s, i] == pytest.approx(want, rel=1e-8), (plan, s, i)
        untruncated = fam.mean(eta, aux, n)
        assert not np.allclose(got, untruncated)
        if bounds[0] is not None:
            assert np.all(got >= np.array(lb))


def test_se_replaces_or_adds_to_sigma():
    import jax.numpy as jnp

    fam = family("gaussian")
    se = jnp.asarray([1.0, 3.0])
    only = observation(fam, ResponsePlan(se=True), jnp.zeros(2), {}, None, {"se": se})
    np.testing.assert_allclose(np.asarray(only.scale), [1.0, 3.0])
    both = observation(fam, ResponsePlan(se=True, se_sigma=True), jnp.zeros(2),
                       {"sigma": jnp.asarray(4.0)}, None, {"se": se})
    np.testing.assert_allclose(np.asarray(both.scale), [np.sqrt(17.0), 5.0], rtol=1e-6)


def test_rate_multiplies_the_negative_binomial_shape_too():
    import jax.numpy as jnp

    d = observation(family("negative_binomial"), ResponsePlan(rate=True), jnp.log(jnp.array(
        [2.0 * 3.0])), {"phi": jnp.asarray(1.5)}, None, {"rate": jnp.array([3.0])})
    ref = stats.nbinom(1.5 * 3.0, 4.5 / (4.5 + 6.0))  # brms: mu * n, shape * n
    np.testing.assert_allclose(float(d.log_prob(jnp.array([4.0]))[0]), ref.logpmf(4),
                               rtol=1e-5)


# ---- models: downstream -------------------------------------------------------------------------

@pytest.fixture(scope="module")
def fixtures():
    return json.loads(FIXTURES.read_text())


def _survival(fixtures):
    return pd.DataFrame(fixtures["models"]["survival"]["data"])


def test_print_states_censoring_counts_and_save_load(fixtures, tmp_path):
    m = fl.Model("time | cens(cens) ~ 1 + x + (1 + x | g)", _survival(fixtures),
                 family="lognormal")
    assert "Censored: 54 left, 47 right, 0 interval (of 240 rows)" in str(m)
    c = m.compiled
    back = type(c).from_dict(json.loads(json.dumps(c.to_dict())))
    assert back == c and back.plan.response == c.plan.response
    assert "Censored: 54 left, 47 right" in str(back)
    assert "cens=cens" in m.graph().to_dot()


def test_pointwise_log_likelihood_is_the_censored_density():
    import jax.numpy as jnp
    from numpyro.infer.util import log_likelihood

    df = pd.DataFrame({"y": [1.0, 2.0, 3.0, 2.5], "c": ["none", "right", "left", "interval"],
                       "hi": [np.nan, np.nan, np.nan, 4.0], "x": [0.0, 1.0, 2.0, 3.0]})
    m = fl.Model("y | cens(c, hi) ~ x", df, family="lognormal")
    b0, b1, sigma = 0.2, 0.3, 0.7
    params = {"Intercept_c": jnp.array([b0 + b1 * 1.5]), "b_c": jnp.array([[b1]]),
              "sigma": jnp.array([sigma])}
    ll = np.asarray(log_likelihood(m.numpyro_model, params, m.data)["y"])[0]
    ref = stats.lognorm(sigma, scale=np.exp(b0 + b1 * df.x.to_numpy()))
    want = [ref.logpdf(1.0)[0], ref.logsf(2.0)[1], ref.logcdf(3.0)[2],
            np.log(ref.cdf(4.0)[3] - ref.cdf(2.5)[3])]
    np.testing.assert_allclose(ll, want, rtol=1e-4)


def test_generated_code_has_the_same_log_density():
    from test_codegen import assert_equivalent, assert_readable

    rng = np.random.default_rng(3)
    g = np.repeat(["a", "b", "c", "d"], 10)
    x = rng.normal(size=40)
    y = np.exp(rng.normal(0.5 + 0.3 * x, 0.5))
    cens = np.where(y > 2.5, 1, np.where(y < 0.8, -1, 0))
    cens[::7] = 2
    df = pd.DataFrame({"y": np.clip(y, 0.8, 2.5), "c": cens, "x": x, "g": g})
    df["hi"] = df.y + 0.5
    df["y"] = np.where(cens == 2, df.y * 0.9, df.y)
    for text, fam, data in [
            ("y | cens(c, hi) + trunc(lb = 0.5, ub = 4) ~ x + (1 | g)", "weibull", df),
            ("y | se(s, sigma = TRUE) ~ 1 + (1 | study)", "gaussian", SCHOOLS),
            ("y | se(s) ~ 1 + (1 | study)", "gaussian", SCHOOLS),
            ("n | rate(e) + trunc(lb = 1) ~ x", "negative_binomial",
             pd.DataFrame({"n": [1, 3, 2, 5, 1, 2], "e": [1.0, 2, 1, 3, 1, 2],
                           "x": [0.1, 0.5, -0.2, 1.0, 0.0, 0.3]}))]:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            m = fl.Model(text, data, family=fam)
        assert_readable(m.code())
        assert_equivalent(m)


@pytest.fixture(scope="module")
def truncated_fit(fixtures):
    counts = pd.DataFrame(fixtures["models"]["truncated_poisson"]["data"])
    m = fl.Model("y | trunc(lb = 1) ~ 1 + x", counts, family="poisson",
                 priors={"Intercept": "normal(0, 5)", "b": "normal(0, 2)"})
    return m.fit(draws=500, tune=500, chains=2, seed=1, progress=False)


def test_predictions_respect_truncation(truncated_fit):
    fit = truncated_fit
    y = fit.predict(kind="response")
    assert y.min() >= 1
    assert fit.model.simulate(seed=2).y.min() >= 1
    prior = fit.model.prior_predictive(draws=40)
    assert float(prior.prior_predictive["y"].min()) >= 1
    new = fit.predict(pd.DataFrame({"x": [0.0, 0.5]}), kind="response")
    assert new.min() >= 1 and new.shape[1] == 2
    # the replicated data's mean is the truncated mean, as the data's (posterior predictive
    # check): 212 rows x 1000 draws, the SE of the mean of means is well below 0.05
    assert abs(y.mean() - fit.bound.y.mean()) < 0.1
    # kind="mean" is the truncated mean (brms's posterior_epred): the average of the draws of
    # each row. Per row 1000 draws with SD under 2.5: the SE of their average is < 0.08, so
    # 5 SE (0.4) fails by chance < 1e-6 per row; the untruncated mean exp(eta) is below it
    mean = fit.predict(kind="mean")
    assert mean.min() >= 1
    assert np.abs(y.mean(axis=0) - mean.mean(axis=0)).max() < 0.4
    assert np.all(mean > np.exp(fit.predict(kind="linpred")))
    # bounds that are columns must come with newdata
    counts = pd.DataFrame({"y": [1, 2, 3], "x": [0.0, 1, 2], "lo": 1})
    by_column = fl.Model("y | trunc(lb = lo) ~ 1 + x", counts, family="poisson").fit(method="map")
    assert by_column.predict(counts[["x", "lo"]], kind="mean").min() >= 1
    with pytest.raises(FormulangError, match="kind='mean'.*truncated.*lb of each row"):
        by_column.predict(counts[["x"]], kind="mean")


def test_censored_predictions_are_of_the_uncensored_response(fixtures):
    df = _survival(fixtures)
    m = fl.Model("time | cens(cens) ~ 1 + x", df, family="lognormal")
    fit = m.fit(method="map")
    y = fit.predict(kind="response")
    right = (df.cens == "right").to_numpy()
    # right-censored times are lower bounds: draws exceed them often (uncensored draws)
    assert (y[:, right] > df.time.to_numpy()[right]).mean() > 0.3
    sim = m.simulate(seed=3)
    assert np.all(sim.y > 0)


def test_se_model_predictions_need_the_standard_errors():
    m = fl.Model("y | se(s) ~ 1 + (1 | study)", SCHOOLS)
    assert m.plan.aux == () and "sigma" not in [r.cls for r in m.priors.rows]
    fit = m.fit(method="map")
    assert fit.predict(SCHOOLS.drop(columns="y"), kind="response").shape == (1, 8)
    with pytest.raises(FormulangError, match="need the se of each row"):
        fit.predict(SCHOOLS[["study"]], kind="response")
    fit.predict(SCHOOLS[["study"]], kind="mean")  # the mean needs no SEs


def test_cli_strings_pass_through(tmp_path, capsys):
    from formulang.app.cli import main

    assert main(["parse", "censored(t, status) ~ x"]) == 0
    out = capsys.readouterr().out
    assert "t | cens(status) ~ 1 + x" in out and "additions:  cens(status)" in out
    path = tmp_path / "schools.csv"
    SCHOOLS.to_csv(path, index=False)
    fitted = tmp_path / "schools.nc"
    assert main(["fit", "y | se(s, sigma = TRUE) ~ 1 + (1 | study)", "--data", str(path),
                 "--method", "map", "--out", str(fitted)]) == 0
    assert "Formula: y | se(s, sigma = TRUE) ~ 1 + (1 | study)" in capsys.readouterr().out
    loaded = fl.load(fitted)
    assert loaded.model.plan.response == ResponsePlan(se=True, se_sigma=True)
    assert loaded.predict(SCHOOLS, kind="response").shape == (1, 8)


# ---- agreement with brms ------------------------------------------------------------------------
#
# make.R fitted each model with brms 2.18 (4 chains x 1000 draws; 2000 for eight schools) and the
# same priors. formulang fits 2 chains x 500 draws. The difference of posterior means has Monte
# Carlo SD sqrt(mcse_brms^2 + mcse_ours^2), mcse_ours = sd / sqrt(ess_bulk); the tolerance is
# 0.2 posterior SD (what the two implementations may honestly differ by: priors written
# alike, default starting values and adaptation not) plus 4 Monte Carlo SDs.

BRMS = {
    "survival": ("time | cens(cens) ~ 1 + x + (1 + x | g)", "lognormal",
                 {"Intercept": "student_t(3, 0, 5)", "b": "normal(0, 2)",
                  "sd": "student_t(3, 0, 2.5)", "cor": "lkj(2)",
                  "sigma": "student_t(3, 0, 2.5)"}),
    "eight_schools": ("y | se(s) ~ 1 + (1 | study)", "gaussian",
                      {"Intercept": "normal(0, 20)", "sd": "student_t(3, 0, 10)"}),
    "truncated_poisson": ("y | trunc(lb = 1) ~ 1 + x", "poisson",
                          {"Intercept": "normal(0, 5)", "b": "normal(0, 2)"}),
}


@pytest.mark.parametrize("name", list(BRMS))
def test_posterior_agrees_with_brms(fixtures, name):
    ref = fixtures["models"][name]
    text, fam, priors = BRMS[name]
    assert parse(ref["formula"]) == parse(text)
    data = pd.DataFrame(ref["data"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = fl.Model(text, data, family=fam, priors=priors).fit(
            draws=1000 if name == "eight_schools" else 500, tune=1000, chains=2, seed=3,
            target_accept=0.95, progress=False)
    ours = fit.summary()
    for param, want in ref["posterior"].items():
        row = ours.loc[param]
        mc = np.hypot(want["mcse_mean"], row["sd"] / np.sqrt(row["ess_bulk"]))
        tol = 0.2 * want["sd"] + 4 * mc
        assert abs(row["mean"] - want["mean"]) < tol, (param, row["mean"], want["mean"], tol)
        assert abs(row["sd"] - want["sd"]) < 0.25 * want["sd"], (param, row["sd"], want["sd"])


# ---- coverage of 90% intervals over replicates ------------------------------------------------
#
# As tests/test_simulate.py's coverage test: REPLICATES datasets simulated from known values, each
# fitted with NUTS (2 chains x (300 + 300), default priors, non-centred effects, one compiled
# sampler per case via bench/sbc.py's fit_data); central 90% intervals of every scalar
# parameter. Censored cases censor the simulated responses (30%+ of the rows), the truncated
# case simulates from the truncated model (formulang's own truncated draws), the
# meta-analysis simulates eight-schools-like studies. Acceptance as there: the covered fraction
# above the 1e-4 quantile of Binomial(n / 2, 0.9) / (n / 2) (a design effect of 2 for intervals
# sharing data), and no parameter missed in every replicate.

REPLICATES = 6


def _design(seed: int = 20, groups: int = 8, rows: int = 10) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    g = np.repeat(np.arange(groups), rows)
    return pd.DataFrame({"x": rng.normal(size=g.size), "g": [f"g{i}" for i in g], "y": 1.0})


def _censor_lognormal(y, rng):
    """Left censored below a detection limit of 0.8, right censored at a follow-up time."""
    follow = np.exp(rng.uniform(0.2, 1.6, size=y.size))
    c = np.where(y > follow, "right", np.where(y < 0.8, "left", "none"))
    return np.select([c == "right", c == "left"], [follow, 0.8], y), c


def _censor_counts(y, rng):
    """Counts above 2 reported as 'more than 2': right censored at 2 (brms: Y > 2)."""
    return np.minimum(y, 2.0), np.where(y > 2, 1, 0)


CASES = {
    "lognormal censored": ("y | cens(c) ~ x + (1 | g)", "lognormal",
                           {"b": [0.5, 0.4], "sd_g": [0.5], "sigma": 0.6}, _censor_lognormal),
    "poisson censored": ("y | cens(c) ~ x + (1 | g)", "poisson",
                         {"b": [1.0, 0.4], "sd_g": [0.5]}, _censor_counts),
    "poisson truncated": ("y | trunc(lb = 1) ~ x + (1 | g)", "poisson",
                          {"b": [0.3, 0.5], "sd_g": [0.5]}, None),
    "meta-analysis": ("y | se(s) ~ 1 + (1 | study)", "gaussian",
                      {"b": [8.0], "sd_study": [6.0]}, None),
}


def _replicates(case: str):
    text, fam, truth, censor = CASES[case]
    rng = np.random.default_rng(50)
    seed = 30 + list(CASES).index(case)
    if case == "meta-analysis":
        design = pd.concat([SCHOOLS.assign(study=SCHOOLS.study + str(k)) for k in range(3)],
                           ignore_index=True)  # 24 studies with the schools' SEs
        sim = fl.Model(text, design, reparam="noncentered").simulate(truth, seed=seed,
                                                                     draws=REPLICATES)
        frames = [design.assign(y=sim.y[i]) for i in range(REPLICATES)]
    elif censor is None:
        sim = fl.Model(text, _design(), family=fam, reparam="noncentered").simulate(
            truth, seed=seed, draws=REPLICATES)
        frames = [_design().assign(y=sim.y[i]) for i in range(REPLICATES)]
    else:
        sim = fl.Model("y ~ x + (1 | g)", _design(), family=fam, reparam="noncentered") \
            .simulate(truth, seed=seed, draws=REPLICATES)
        frames = []
        for i in range(REPLICATES):
            y, c = censor(sim.y[i], rng)
            frames.append(_design().assign(y=y, c=c))
            censored = np.asarray(c) != ("none" if np.asarray(c).dtype.kind == "U" else 0)
            assert censored.mean() >= 0.3, (case, i, censored.mean())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return [fl.Model(text, f, family=fam, reparam="noncentered") for f in frames], truth


def _coverage(case: str) -> list[tuple[str, int, bool]]:
    models, truth = _replicates(case)
    sites = sbc.fit_data(models[0], [sbc._fit_data(m.data) for m in models], draws=300,
                         tune=300, chains=2, seed=40)
    return interval_rows(models, sites, truth)


def test_ninety_percent_intervals_cover_the_truth_with_response_additions():
    results = {case: _coverage(case) for case in CASES}
    n = sum(len(rows) for rows in results.values())
    assert n == REPLICATES * (4 + 3 + 3 + 2)
    covered = sum(ok for rows in results.values() for _, _, ok in rows)
    n_eff = n // 2
    floor = stats.binom.ppf(1e-4, n_eff, 0.9) / n_eff
    misses = {f"{case}: {name}": sum(not ok for p, _, ok in rows if p == name)
              for case, rows in results.items() for name in {p for p, _, _ in rows}}
    report = ", ".join(f"{k} {v}/{REPLICATES}" for k, v in misses.items() if v)
    assert covered / n >= floor, f"{covered} of {n} intervals cover (< {floor:.3f}); " \
                                 f"misses: {report}"
    never = [k for k, v in misses.items() if v == REPLICATES]
    assert not never, f"never covered: {never}; misses: {report}"
