"""Zero-inflated and hurdle families: densities against scipy, means against Monte Carlo,
support errors, unit-interval parameters (priors, pilot starts, warm-up mass, simulate), and
what they refuse (censoring, rate(), merged rows).

:data:`REFERENCE` is also read by ``tests/lower/test_families.py``, whose table-wide checks
cover every row."""

import numpy as np
import pandas as pd
import pytest
import scipy.stats as st

import formulang as fl
from formulang import DataError, FormulangError
from formulang.lower.families import FAMILIES, family
from formulang.lower.priors import PriorSpecError
from formulang.lower.zero_inflated import ROWS

ETA = np.array([-0.7, 0.2, 1.1])
MU = np.exp(ETA)
P = 1 / (1 + np.exp(-ETA))
N = np.array([10, 10, 12])


def _zi(zi, base_logpmf, base_p0, y):
    y = np.asarray(y, dtype=float)
    return np.where(y == 0, np.log(zi + (1 - zi) * base_p0), np.log1p(-zi) + base_logpmf)


def _hu(hu, base_logpdf, base_p0, y):
    y = np.asarray(y, dtype=float)
    return np.where(y == 0, np.log(hu), np.log1p(-hu) + base_logpdf - np.log1p(-base_p0))


def _nbinom(phi):
    return st.nbinom(phi, phi / (phi + MU))


# per family: a response in its support (zeros included), parameter values, trials, the
# scipy log density (brms's definitions, written out)
REFERENCE = {
    "zero_inflated_poisson": (
        [0, 1, 4], {"zi": 0.3}, None,
        lambda: _zi(0.3, st.poisson(MU).logpmf([0, 1, 4]), np.exp(-MU), [0, 1, 4])),
    "zero_inflated_negbinomial": (
        [0, 0, 3], {"phi": 2.5, "zi": 0.2}, None,
        lambda: _zi(0.2, _nbinom(2.5).logpmf([0, 0, 3]), _nbinom(2.5).pmf(0), [0, 0, 3])),
    "zero_inflated_binomial": (
        [0, 5, 0], {"zi": 0.4}, [10, 10, 12],
        lambda: _zi(0.4, st.binom(N, P).logpmf([0, 5, 0]), st.binom(N, P).pmf(0), [0, 5, 0])),
    "hurdle_poisson": (
        [0, 1, 4], {"hu": 0.3},  None,
        lambda: _hu(0.3, st.poisson(MU).logpmf([0, 1, 4]), np.exp(-MU), [0, 1, 4])),
    "hurdle_negbinomial": (
        [2, 0, 3], {"phi": 1.5, "hu": 0.6}, None,
        lambda: _hu(0.6, _nbinom(1.5).logpmf([2, 0, 3]), _nbinom(1.5).pmf(0), [2, 0, 3])),
    "hurdle_gamma": (
        [0.3, 0.0, 4.0], {"shape": 3.0, "hu": 0.25}, None,
        lambda: _hu(0.25, st.gamma(3.0, scale=MU / 3.0).logpdf([0.3, 1.0, 4.0]), 0.0,
                    [0.3, 0.0, 4.0])),
    "hurdle_lognormal": (
        [0.0, 1.0, 4.0], {"sigma": 0.8, "hu": 0.1}, None,
        lambda: _hu(0.1, st.lognorm(0.8, scale=MU).logpdf([1.0, 1.0, 4.0]), 0.0,
                    [0.0, 1.0, 4.0])),
}


def logp(name, eta, y, aux, trials=None):
    import jax.numpy as jnp

    d = family(name).distribution(jnp.asarray(eta), aux,
                                  None if trials is None else jnp.asarray(trials))
    return np.asarray(d.log_prob(jnp.asarray(y, dtype=float)))


def test_the_rows_are_brms_families():
    assert [r[0] for r in ROWS] == [
        "zero_inflated_poisson", "zero_inflated_negbinomial", "zero_inflated_binomial",
        "hurdle_poisson", "hurdle_negbinomial", "hurdle_gamma", "hurdle_lognormal"]
    assert set(REFERENCE) == {r[0] for r in ROWS} <= set(FAMILIES)
    for name, base, kind, _ in ROWS:
        spec = FAMILIES[name]
        assert spec.aux == FAMILIES[base].aux + (kind,)
        assert spec.links == FAMILIES[base].links
        assert spec.parameters[-1].support == "unit"
        assert spec.parameters[-1].prior(1.0) == ("beta", 1, 1)  # brms's default


@pytest.mark.parametrize("name", list(REFERENCE))
def test_log_density_matches_scipy(name):
    y, aux, trials, expected = REFERENCE[name]
    np.testing.assert_allclose(logp(name, ETA, y, aux, trials), expected(), rtol=2e-4,
                               atol=2e-4)


@pytest.mark.parametrize("p", [0.05, 0.5, 0.9])
def test_log_density_at_other_probabilities(p):
    """zi and hu across their range; zeros and positives on every row."""
    for y in ([0, 0, 0], [1, 2, 7]):
        np.testing.assert_allclose(
            logp("zero_inflated_poisson", ETA, y, {"zi": p}),
            _zi(p, st.poisson(MU).logpmf(y), np.exp(-MU), y), rtol=2e-4, atol=2e-4)
        np.testing.assert_allclose(
            logp("hurdle_negbinomial", ETA, y, {"phi": 4.0, "hu": p}),
            _hu(p, _nbinom(4.0).logpmf(y), _nbinom(4.0).pmf(0), y), rtol=2e-4, atol=2e-4)


def test_hurdle_gradient_is_finite_at_zero():
    """The positive part's log-density at 0 (-inf for a log-normal) must not reach the
    gradient through the unused branch."""
    import jax
    import jax.numpy as jnp

    for name, aux in (("hurdle_lognormal", {"sigma": 0.8}), ("hurdle_gamma", {"shape": 2.0}),
                      ("hurdle_poisson", {})):
        y = jnp.array([0.0, 2.0 if name == "hurdle_poisson" else 1.5, 0.0])

        def total(eta, hu, y=y):
            return jnp.sum(family(name).distribution(eta, {**aux, "hu": hu}).log_prob(y))

        grads = jax.grad(total, argnums=(0, 1))(jnp.asarray(ETA), 0.3)
        assert all(np.all(np.isfinite(np.asarray(g))) for g in grads), name


@pytest.mark.parametrize("name", list(REFERENCE))
def test_mean_matches_monte_carlo(name):
    """The row's mean (posterior_epred) against the mean of 200,000 draws from its own
    likelihood: within 5 Monte Carlo standard errors (a false alarm about 1 in 10^6 per row),
    and zeros as often as the density says."""
    import jax
    import jax.numpy as jnp

    _, aux, trials, _ = REFERENCE[name]
    fam = family(name)
    n = None if trials is None else np.asarray(trials, dtype=float)
    mean = fam.mean(ETA[None], {k: np.array([v]) for k, v in aux.items()}, n)[0]
    d = fam.distribution(jnp.asarray(ETA), aux, None if n is None else jnp.asarray(trials))
    draws = np.asarray(d.sample(jax.random.PRNGKey(1), (200_000,)), dtype=float)
    se = draws.std(axis=0) / np.sqrt(len(draws))
    assert np.all(np.abs(draws.mean(axis=0) - mean) < 5 * se), (draws.mean(axis=0), mean)
    p0 = np.exp(logp(name, ETA, np.zeros(3), aux, trials))
    zeros = (draws == 0).mean(axis=0)
    assert np.all(np.abs(zeros - p0) < 5 * np.sqrt(p0 * (1 - p0) / len(draws)) + 1e-9)
    assert np.all(draws >= 0)
    if fam.spec.discrete:
        assert np.all(draws == np.round(draws))


def test_zero_truncated_draws_follow_the_truncated_pmf():
    """A hurdle Poisson's positive draws are Poisson given y > 0: frequencies of 1..6 within
    5 binomial SEs of the truncated pmf."""
    import jax
    import jax.numpy as jnp

    fam = family("hurdle_poisson")
    d = fam.distribution(jnp.full(50_000, np.log(1.3)), {"hu": 0.2})
    y = np.asarray(d.sample(jax.random.PRNGKey(2)))
    pos = y[y > 0]
    for k in range(1, 7):
        p = st.poisson(1.3).pmf(k) / (1 - np.exp(-1.3))
        assert abs(np.mean(pos == k) - p) < 5 * np.sqrt(p * (1 - p) / len(pos)), k


def test_zero_inflated_mean_and_hurdle_mean_in_closed_form():
    eta = np.array([[0.0, 1.0]])
    zi = family("zero_inflated_poisson").mean(eta, {"zi": np.array([0.25])})
    np.testing.assert_allclose(zi, 0.75 * np.exp(eta))
    hu = family("hurdle_poisson").mean(eta, {"hu": np.array([0.25])})
    np.testing.assert_allclose(hu, 0.75 * np.exp(eta) / (1 - np.exp(-np.exp(eta))))
    ln = family("hurdle_lognormal").mean(eta, {"hu": np.array([0.5]), "sigma": np.array([1.0])})
    np.testing.assert_allclose(ln, 0.5 * np.exp(eta + 0.5))


@pytest.mark.parametrize("name", [name for name, *_ in ROWS])
def test_means_take_parameters_per_row(name):
    """A parameter with its own formula (zi ~ x, phi ~ x) comes per draw and row: the mean of
    each row is the one its own values give (a per-draw column once broadcast it against
    every row, draws x draws x rows)."""
    fam = family(name)
    rng = np.random.default_rng(4)
    draws, rows = 3, 5
    eta = rng.normal(0.3, 0.3, (draws, rows)) - (2.0 if fam.spec.trials else 0.0)
    per_row = {a: rng.uniform(0.2, 0.8, (draws, rows)) if a in ("zi", "hu")
               else rng.uniform(1.0, 3.0, (draws, rows)) for a in fam.spec.aux}
    trials = np.full(rows, 4.0) if fam.spec.trials else None
    mean = fam.mean(eta, per_row, trials)
    assert mean.shape == (draws, rows)
    for j in range(rows):  # each row alone, its parameters as per-draw values
        one = fam.mean(eta[:, j:j + 1], {a: v[:, j] for a, v in per_row.items()},
                       None if trials is None else trials[j:j + 1])
        np.testing.assert_allclose(mean[:, j:j + 1], one)


# ---- support ------------------------------------------------------------------------------------

def test_hurdle_gamma_takes_zeros_and_names_negative_rows():
    fam = family("hurdle_gamma")
    fam.check_response(np.array([0.0, 1.5, 0.0]))  # zeros are the point
    with pytest.raises(DataError, match=r"hurdle_gamma family needs the response to be zero "
                                        r"or positive: row position 2 \(-0.5\)"):
        fam.check_response(np.array([0.0, 1.5, -0.5]))
    with pytest.raises(DataError, match=r"hurdle_lognormal .*row position 0 \(-1\)"):
        fl.Model("y ~ 1", pd.DataFrame({"y": [-1.0, 0.0, 2.0]}), family="hurdle_lognormal")


def test_count_rows_name_fractions_and_negatives():
    with pytest.raises(DataError, match=r"zero_inflated_poisson family .*row position 1 \(2.5\)"):
        family("zero_inflated_poisson").check_response(np.array([0.0, 2.5]))
    with pytest.raises(DataError, match=r"hurdle_negbinomial family .*row position 0 \(-1\)"):
        family("hurdle_negbinomial").check_response(np.array([-1.0, 2.0]))
    with pytest.raises(DataError, match=r"zero_inflated_binomial family .*row position 1 \(6\)"):
        family("zero_inflated_binomial").check_response(np.array([0.0, 6.0]),
                                                         np.array([5.0, 5.0]))


# ---- priors, pilot, warm-up, simulate -----------------------------------------------------------

def counts(n=400, zi=0.3, mu=2.0, seed=0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    y = np.where(rng.random(n) < zi, 0, rng.poisson(mu, n))
    return pd.DataFrame({"y": y, "x": rng.normal(size=n), "g": rng.integers(0, 8, n)})


def test_probability_priors():
    data = counts()
    m = fl.Model("y ~ x", data, family="zero_inflated_poisson")
    assert str(m.priors.lookup("zi")) == "beta(1, 1)"
    assert "zi" in str(m) and "beta(1, 1)" in str(m)
    for ok in ("beta(2, 8)", "uniform(0, 0.5)"):
        m = fl.Model("y ~ x", data, family="zero_inflated_poisson", priors={"zi": ok})
        assert str(m.priors.lookup("zi")) == ok
    for bad in ("normal(0, 1)", "half_normal(1)", "uniform(0, 2)"):
        with pytest.raises(PriorSpecError, match=r"'zi' is a probability: give it a prior on "
                                                 r"\(0, 1\), e.g. beta\(1, 1\)"):
            fl.Model("y ~ x", data, family="zero_inflated_poisson", priors={"zi": bad})
    with pytest.raises(PriorSpecError, match="unknown prior key 'zi'"):
        fl.Model("y ~ x", data, family="hurdle_poisson", priors={"zi": "beta(1, 1)"})
    m = fl.Model("y ~ x", data, family="hurdle_negbinomial")
    assert str(m.priors.lookup("phi")) == "inv_gamma(0.4, 0.3)"  # the base row's
    assert str(m.priors.lookup("hu")) == "beta(1, 1)"


def test_pilot_starts_zi_and_hu_at_their_shares():
    """Constant mean: the zi start matches the zeros and the mean exactly, so it is the
    moment estimate, within 4 SEs of the truth (binomial SE of the share of zeros, inflated
    by 1 / (1 - P0)); hu is the share of zeros itself."""
    data = counts(n=2000, zi=0.3, mu=2.0, seed=1)
    zip_ = fl.Model("y ~ 1", data, family="zero_inflated_poisson")
    p0 = 0.3 + 0.7 * np.exp(-2.0)
    se = np.sqrt(p0 * (1 - p0) / 2000) / (1 - np.exp(-2.0))
    assert abs(zip_.pilot.aux["zi"] - 0.3) < 4 * se * 1.5  # 1.5: mu is estimated too
    hurdle = fl.Model("y ~ 1", data, family="hurdle_poisson")
    assert hurdle.pilot.aux["hu"] == pytest.approx(float(np.mean(data["y"] == 0)))
    # the positive rows set the hurdle's intercept: log E[y | y > 0]
    pos = data["y"][data["y"] > 0]
    assert hurdle.pilot.beta[0] == pytest.approx(np.log(pos.mean()), abs=1e-3)


def test_warm_up_mass_of_a_probability_is_on_the_logit_scale():
    from formulang.infer.mass_matrix import initial_inverse_mass

    data = counts(n=400, seed=2)
    for name, factor in (("zero_inflated_poisson", 2.0), ("hurdle_poisson", 1.0)):
        m = fl.Model("y ~ x + (1 | g)", data.assign(g=data["g"].astype(str)), family=name)
        aux = "zi" if name.startswith("zero") else "hu"
        v = min(max(m.pilot.aux[aux], 0.05), 0.95)
        mass = initial_inverse_mass(m.plan, m.pilot)
        assert mass[aux][0] == pytest.approx(factor / (400 * v * (1 - v)))


def test_simulate_checks_and_draws_zeros():
    data = counts(n=300, seed=3)
    m = fl.Model("y ~ x", data, family="zero_inflated_poisson")
    with pytest.raises(FormulangError, match=r"zi is a probability, at least 0 and below 1: "
                                             r"got 1.5"):
        m.simulate({"b": [0.5, 0.2], "zi": 1.5}, seed=1)
    sim = m.simulate({"b": [0.5, 0.0], "zi": 0.5}, seed=1)
    expected = 0.5 + 0.5 * np.exp(-np.exp(0.5))
    assert abs(np.mean(sim.y == 0) - expected) < 4 * np.sqrt(expected * (1 - expected) / 300)


# ---- what the rows refuse -----------------------------------------------------------------------

def test_rows_are_never_merged():
    data = pd.DataFrame({"y": [0, 1, 0, 2] * 25, "x": ["a", "b"] * 50})
    for name in ("zero_inflated_poisson", "hurdle_poisson"):
        m = fl.Model("y ~ x", data, family=name)
        assert not m.compiled.compressed
        with pytest.raises(FormulangError, match=rf"the {name} family's rows do not add up"):
            fl.Model("y ~ x", data, family=name, compress=True)


def test_censoring_and_rate_are_refused_with_the_families_that_take_them():
    data = counts(n=50).assign(c=0, e=2.0)
    with pytest.raises(FormulangError, match="zero_inflated_poisson.*poisson"):
        fl.Model("y | cens(c) ~ x", data, family="zero_inflated_poisson")
    with pytest.raises(FormulangError, match="hurdle_gamma"):
        fl.Model("y | trunc(ub = 10) ~ x", data, family="hurdle_gamma")
    with pytest.raises(FormulangError, match="hurdle_poisson"):
        fl.Model("y | rate(e) ~ x", data, family="hurdle_poisson")


def test_the_command_line_offers_them():
    from formulang.app import commands

    assert {r[0] for r in ROWS} <= set(commands.FAMILIES)
