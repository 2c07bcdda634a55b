"""``model.simulate``: shapes, conditioning, errors, writing back, and interval coverage.

Exact checks use a tiny residual SD: ``y`` then equals the linear predictor computed here, by
hand in float64, from the given values, to within a few ``sigma`` (JAX draws in float32: 1e-5
relative). The NumPyro model itself, conditioned on ``sampler_sites`` of the same values, must
give the same ``y``: that checks the translation of user-facing values to the sampler's sites
(centred intercept, Cholesky factor, z or centred effects) for each parameterisation.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

import formulang as fl
from formulang import FormulangError
from formulang.lower.families import FAMILIES
from fit_support import coverage_band, interval_rows

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
import sbc  # noqa: E402  (the vectorised NUTS runner shared with bench/sbc.py)

GROUPS, ROWS = 6, 5
TINY = 1e-4  # residual SD for the exact checks


def design(seed=0, groups=GROUPS, rows=ROWS) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    g = np.repeat(np.arange(groups), rows)
    return pd.DataFrame({"y": rng.normal(size=g.size), "x": rng.normal(size=g.size),
                         "g": [f"g{i}" for i in g]})


@pytest.fixture(scope="module")
def model():
    return fl.Model("y ~ x + (1 + x | g)", design(), reparam="noncentered",
                    priors={"Intercept": "normal(0, 1)", "b": "normal(0, 1)",
                            "sd": "half_normal(1)", "sigma": "half_normal(1)"})


def given(**extra) -> dict:
    params = {"b": {"Intercept": 1.5, "x": -0.7}, "sd_g": {"Intercept": 0.8, "x": 0.3},
              "cor_g": {"Intercept__x": 0.4}, "sigma": TINY}
    params.update(extra)
    return params


def eta_of(data: pd.DataFrame, b, r) -> np.ndarray:
    """The linear predictor of y ~ x + (1 + x | g), written out by hand."""
    codes = data["g"].str[1:].astype(int).to_numpy()
    x = data["x"].to_numpy()
    return b[0] + b[1] * x + r[codes, 0] + r[codes, 1] * x


# ---- shapes and conditioning ------------------------------------------------------------------

def test_shapes_for_one_and_several_draws(model):
    one = model.simulate(given(), seed=1)
    assert one.y.shape == (GROUPS * ROWS,)
    assert {k: np.shape(v) for k, v in one.params.items()} == {
        "b": (2,), "sd_g": (2,), "cor_g": (1,), "r_g": (GROUPS, 2), "sigma": ()}
    many = model.simulate(given(), seed=1, draws=3)
    assert many.y.shape == (3, GROUPS * ROWS) and many.linpred.shape == (3, GROUPS * ROWS)
    assert many.params["r_g"].shape == (3, GROUPS, 2)


def test_given_values_are_used_exactly(model):
    sim = model.simulate(given(), seed=2)
    assert sim.params["b"].tolist() == [1.5, -0.7]
    assert sim.params["sd_g"].tolist() == [0.8, 0.3]
    assert sim.params["cor_g"].tolist() == [0.4]
    assert float(sim.params["sigma"]) == TINY
    # drawn effects enter y: y = eta + N(0, TINY)
    expected = eta_of(design(), [1.5, -0.7], sim.params["r_g"])
    np.testing.assert_allclose(sim.linpred, expected, rtol=1e-12)
    assert np.abs(sim.y - expected).max() < 6 * TINY + 1e-5 * np.abs(expected).max()


def conditioned_model_response(m, sim) -> np.ndarray:
    """y from the NumPyro model itself, its sample sites conditioned on the simulation's values
    (through sampler_sites): checks the translation against the model that is fitted."""
    from numpyro import handlers

    from formulang.infer.simulate import sampler_sites

    values = {k: np.asarray(v, dtype=float)[None] for k, v in sim.params.items()}
    sites = {k: v[0] for k, v in sampler_sites(m.plan, values).items()}
    data = dict(m.data, y=None)
    trace = handlers.trace(handlers.seed(handlers.condition(m.numpyro_model, sites), 0)) \
        .get_trace(data)
    return np.asarray(trace["y"]["value"], dtype=float)


@pytest.mark.parametrize("reparam", ["centered", "noncentered"])
def test_given_effects_are_used_exactly(reparam):
    m = fl.Model("y ~ x + (1 + x | g)", design(), reparam=reparam)
    r = np.random.default_rng(3).normal(size=(GROUPS, 2)) * [0.8, 0.3]
    sim = m.simulate(given(r_g=r), seed=3)
    assert np.array_equal(sim.params["r_g"], r)
    expected = eta_of(design(), [1.5, -0.7], r)
    assert np.abs(sim.y - expected).max() < 6 * TINY + 1e-5 * np.abs(expected).max()
    from_model = conditioned_model_response(m, sim)
    assert np.abs(from_model - expected).max() < 6 * TINY + 1e-5 * np.abs(expected).max()


@pytest.mark.parametrize("reparam", ["centered", "noncentered"])
def test_given_effects_of_terms_on_one_factor(reparam):
    # (1 | g) + (0 + x | g) is one term with two blocks: sd_g names both, no cor_g
    m = fl.Model("y ~ x + (1 | g) + (0 + x | g)", design(), reparam=reparam)
    r = np.random.default_rng(6).normal(size=(GROUPS, 2)) * [0.8, 0.3]
    values = {"b": {"Intercept": 1.5, "x": -0.7}, "sd_g": {"Intercept": 0.8, "x": 0.3},
              "r_g": r, "sigma": TINY}
    sim = m.simulate(values, seed=6)
    assert sorted(sim.params) == ["b", "r_g", "sd_g", "sigma"]
    expected = eta_of(design(), [1.5, -0.7], r)
    tolerance = 6 * TINY + 1e-5 * np.abs(expected).max()
    assert np.abs(sim.y - expected).max() < tolerance
    assert np.abs(conditioned_model_response(m, sim) - expected).max() < tolerance


def test_nested_centred_effects_are_the_given_deviations():
    # (1 | a/b) centres each a:b level on its a level's effect (rc = r_a + r_ab): the given
    # deviations r_ab must come out as given, not shifted by the parent.
    rng = np.random.default_rng(4)
    a = np.repeat(["a1", "a2", "a3"], 8)
    b = np.tile(np.repeat(["b1", "b2"], 4), 3)
    data = pd.DataFrame({"y": rng.normal(size=24), "a": a, "b": b})
    m = fl.Model("y ~ 1 + (1 | a/b)", data, reparam="centered")
    assert m.plan.groups[1].parent == 0
    r_a, r_ab = rng.normal(size=(3, 1)), rng.normal(size=(6, 1))
    sim = m.simulate({"b": [2.0], "sd_a": [1.0], "sd_a:b": [0.5], "r_a": r_a,
                      "r_a:b": r_ab, "sigma": TINY}, seed=4)
    expected = 2.0 + r_a[m.bound.groups[0].codes, 0] + r_ab[m.bound.groups[1].codes, 0]
    tolerance = 6 * TINY + 1e-5 * np.abs(expected).max()
    assert np.abs(sim.y - expected).max() < tolerance
    assert np.abs(conditioned_model_response(m, sim) - expected).max() < tolerance


def test_missing_values_come_from_the_prior(model):
    # half_normal(1) prior on the SDs: mean sqrt(2 / pi) = 0.798, SD 0.603; with 400 draws the
    # mean's standard error is 0.030, so 0.15 is 5 standard errors.
    sim = model.simulate({"b": {"x": 0.25}}, seed=5, draws=400)
    assert np.all(sim.params["b"][:, 1] == 0.25)
    assert np.std(sim.params["b"][:, 0]) > 0.5  # Intercept drawn from normal(0, 1)
    assert abs(sim.params["sd_g"].mean() - np.sqrt(2 / np.pi)) < 0.15
    assert np.all(sim.params["sigma"] > 0)


def test_effects_are_drawn_from_their_covariance(model):
    # 400 draws x 6 levels = 2400 effect vectors: the SD estimates have a relative standard
    # error of about 1.5% and the correlation an SE of 0.013; tolerances are 5 SEs or more.
    sim = model.simulate(given(sd_g=[2.0, 0.5], cor_g=[0.6]), seed=6, draws=400)
    r = sim.params["r_g"].reshape(-1, 2)
    assert np.std(r[:, 0]) == pytest.approx(2.0, rel=0.1)
    assert np.std(r[:, 1]) == pytest.approx(0.5, rel=0.1)
    assert np.corrcoef(r.T)[0, 1] == pytest.approx(0.6, abs=0.1)


def test_same_seed_same_simulation(model):
    a, b, c = (model.simulate({"sigma": 0.5}, seed=s) for s in (7, 7, 8))
    assert np.array_equal(a.y, b.y) and np.array_equal(a.params["r_g"], b.params["r_g"])
    assert not np.array_equal(a.y, c.y)


def test_correlation_as_matrix_or_array(model):
    sim = model.simulate(given(cor_g=[[1.0, -0.3], [-0.3, 1.0]]), seed=9)
    assert sim.params["cor_g"].tolist() == [-0.3]
    sim = model.simulate(given(cor_g=np.array([0.2])), seed=9)
    assert sim.params["cor_g"].tolist() == [0.2]
    # a parameter of one entry takes a plain number (as sigma does), or one per draw
    sim = model.simulate(given(cor_g=0.2), seed=9)
    assert sim.params["cor_g"].tolist() == [0.2]
    sim = model.simulate(given(cor_g=[0.2, -0.1, 0.0]), seed=9, draws=3)
    assert sim.params["cor_g"].tolist() == [[0.2], [-0.1], [0.0]]


def test_a_one_entry_sd_takes_a_plain_number():
    frame = pd.DataFrame({"y": np.arange(12.0), "g": list("abcdef") * 2})
    sim = fl.Model("y ~ 1 + (1 | g)", frame).simulate({"sd_g": 0.4, "b": 1.0}, seed=0)
    assert sim.params["sd_g"].tolist() == [0.4] and sim.params["b"].tolist() == [1.0]


# ---- errors -----------------------------------------------------------------------------------

@pytest.mark.parametrize("params, match", [
    ({"beta": 1.0}, r"unknown parameter 'beta'.*b, sd_g, cor_g, r_g, sigma"),
    ({"b": {"z": 1.0}}, r"b has no entry 'z'.*Intercept, x"),
    ({"b": [1.0, 2.0, 3.0]}, r"b has shape \(3,\); expected \(2,\)"),
    ({"sd_g": [0.5, -1.0]}, r"sd_g must be >= 0"),
    ({"cor_g": [1.5]}, r"cor_g: correlations must lie in \[-1, 1\]"),
    ({"cor_g": [1.0]}, r"positive definite"),
    ({"cor_g": [[1.0, 0.2], [0.3, 1.0]]}, r"symmetric"),
    ({"sigma": 0.0}, r"sigma must be positive"),
    ({"sigma": {"a": 1.0}}, r"sigma is one number"),
    ({"r_g": np.zeros((5, 2))}, r"r_g has shape \(5, 2\); expected \(6, 2\)"),
    ({"b": ["a", "b"]}, r"b must be numbers"),
])
def test_bad_parameters_are_named(model, params, match):
    with pytest.raises(FormulangError, match=match):
        model.simulate(params, seed=0)


def test_effects_that_contradict_a_zero_sd_are_refused(model):
    with pytest.raises(FormulangError, match="sd_g is 0"):
        model.simulate(given(sd_g=[0.0, 0.3], r_g=np.ones((GROUPS, 2))), seed=0)


def test_draws_and_seed_must_be_whole_numbers(model):
    with pytest.raises(FormulangError, match="draws must be a positive whole number"):
        model.simulate(draws=0)
    with pytest.raises(FormulangError, match="seed must be a non-negative whole number"):
        model.simulate(seed=-1)


# ---- writing simulated responses back -------------------------------------------------------------

def test_data_replaces_the_response_and_refits(model):
    sim = model.simulate({"sigma": 0.5}, seed=10)
    frame = sim.data()
    assert list(frame.columns) == ["y", "x", "g"]
    assert np.array_equal(frame["y"].to_numpy(), sim.y)
    assert frame["x"].equals(design()["x"])
    again = fl.Model("y ~ x + (1 + x | g)", frame)
    assert np.array_equal(again.bound.y, sim.y)


def test_data_of_several_draws_needs_a_draw(model):
    sim = model.simulate({"sigma": 0.5}, seed=11, draws=3)
    with pytest.raises(FormulangError, match="pick one with draw=0..2"):
        sim.data()
    assert np.array_equal(sim.data(draw=1)["y"].to_numpy(), sim.y[1])


def binomial_data(seed=12) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    n = rng.integers(3, 9, size=12)
    s = rng.binomial(n, 0.4)
    return pd.DataFrame({"s": s, "f": n - s, "n": n, "x": rng.normal(size=12),
                         "g": np.repeat(["a", "b", "c"], 4)})


def test_binomial_cbind_replaces_successes_and_failures():
    data = binomial_data()
    m = fl.Model("cbind(s, f) ~ x + (1 | g)", data)
    sim = m.simulate({"b": [0.0, 1.0], "sd_g": [0.5]}, seed=13)
    out = sim.data()
    assert np.array_equal(out["s"].to_numpy(), sim.y.astype(int))
    assert np.array_equal(out["s"] + out["f"], data["n"])  # the trials are kept
    assert out["s"].dtype == data["s"].dtype


def test_binomial_trials_replace_successes_only():
    data = binomial_data()
    m = fl.Model("s | trials(n) ~ x + (1 | g)", data)
    sim = m.simulate({"b": [0.0, 1.0], "sd_g": [0.5]}, seed=14)
    out = sim.data()
    assert np.array_equal(out["s"].to_numpy(), sim.y.astype(int))
    assert out["n"].equals(data["n"]) and out["f"].equals(data["f"])
    assert (out["s"] <= out["n"]).all()


def test_transformed_response_cannot_be_written_back():
    data = design().assign(y=lambda d: np.exp(d["y"]))
    m = fl.Model("log(y) ~ x + (1 | g)", data)
    sim = m.simulate({"sigma": 0.5}, seed=15)
    assert sim.y.shape == (len(data),)  # simulating on the model's scale is fine
    with pytest.raises(FormulangError, match=r"the response log\(y\) is a transformation"):
        sim.data()


def test_rows_dropped_for_missing_values_are_left_out():
    data = binomial_data()
    data.loc[2, "x"] = np.nan
    with pytest.warns(fl.MissingValuesWarning):
        m = fl.Model("y ~ x + (1 | g)", data.assign(y=(data["s"] > 1)), family="bernoulli")
    sim = m.simulate({"b": [0.0, 1.0], "sd_g": [0.5]}, seed=16)
    out = sim.data()
    assert len(out) == 11 and 2 not in out.index
    assert out["y"].dtype == bool  # the column keeps its kind
    assert np.array_equal(out["y"].to_numpy(), sim.y.astype(bool))


# ---- coverage of 90% intervals over replicates ------------------------------------------------------
#
# Each family simulates REPLICATES datasets from known values on one design (8 groups x 10 rows;
# fresh group effects r ~ N(0, sd) each time) and fits each with NUTS, 2 chains x (300 + 300),
# formulang's default priors (scaled to each dataset, as users get them) and non-centred
# effects (one parameterisation, so one compiled sampler serves every replicate: see
# bench/sbc.py's fit_data). Intervals are central 90% posterior intervals of the population
# coefficients, the group SD and the family parameters (34 per replicate for the first nine
# families).
#
# Acceptance band, two-sided. If calibrated, each interval covers with probability 0.9
# (approximately: these are Bayesian intervals judged at fixed true values, with weakly
# informative priors). The intervals of one replicate share its data and are correlated, so the
# covered count is treated as Binomial(n / 2, p) (a design effect of 2: the fraction has twice
# the binomial variance). With 12 replicates, n = 41 x 12 = 492 intervals, n / 2 = 246:
#   - below: fail when the covered fraction is under the 1% quantile of Binomial(246, 0.9) / 246
#     (0.854). A calibrated method fails so with probability 0.8%; a miscalibrated one whose
#     true coverage is 82% with probability 90% (its fraction has mean 0.82, SD 0.024);
#   - above: fail when it is over the 99.5% quantile (0.947): probability 0.3% if calibrated,
#     96% for intervals that are too wide (97% true coverage) - over-coverage fails too.
# So a calibrated method fails this test with probability about 1.1%; the seeds are fixed, so a
# given version either passes or fails. (Six replicates, the earlier size, gave n / 2 = 123
# and only 55% power against 82% coverage at the same false-alarm rate.) A link, scale or
# parameter mix-up in one family misses every replicate of that parameter, so each (family,
# parameter) must also cover in at least one of its replicates: with a miss probability up to
# 0.2 (mild miscalibration), all 12 miss with probability 4e-9.

REPLICATES = 12
COVERAGE_GROUPS, COVERAGE_ROWS = 8, 10
TRUTHS = {
    "gaussian": {"b": [1.0, 0.5], "sd_g": [0.6], "sigma": 1.0},
    "student_t": {"b": [1.0, 0.5], "sd_g": [0.6], "sigma": 0.8, "nu": 4.0},
    "bernoulli": {"b": [0.3, 1.0], "sd_g": [0.8]},
    "binomial": {"b": [-0.5, 0.8], "sd_g": [0.6]},
    "poisson": {"b": [1.0, 0.4], "sd_g": [0.5]},
    "negative_binomial": {"b": [1.5, 0.4], "sd_g": [0.5], "phi": 3.0},
    "gamma": {"b": [1.0, 0.3], "sd_g": [0.4], "shape": 5.0},
    "lognormal": {"b": [0.5, 0.4], "sd_g": [0.5], "sigma": 0.6},
    "beta": {"b": [-0.3, 0.5], "sd_g": [0.4], "phi": 10.0},
    "exponential": {"b": [1.0, 0.4], "sd_g": [0.5]},
    "weibull": {"b": [1.0, 0.4], "sd_g": [0.4], "shape": 2.5},
}
# a response value in each support, to build the design (simulation replaces it)
PLACEHOLDER = {"real": 0.5, "binary": 1.0, "binomial": 1.0, "count": 1.0, "positive": 1.0,
               "unit": 0.5, "nonnegative": 1.0}


def test_every_family_has_a_coverage_case():
    # zero-inflated and hurdle families' coverage is in tests/test_zero_inflated_fit.py;
    # ordinal rows (thresholds): their recovery is tests/test_ordinal_fit.py's
    from test_zero_inflated_fit import TRUTHS as MIXTURES

    # categorical: tests/test_categorical_fit.py's recovery
    ordinal = {f for f, spec in FAMILIES.items() if spec.probabilities is not None}
    assert set(TRUTHS) | set(MIXTURES) | ordinal == set(FAMILIES)
    assert not set(TRUTHS) & set(MIXTURES)
    for family, truth in TRUTHS.items():
        assert set(truth) == {"b", "sd_g", *FAMILIES[family].aux}, family


def coverage_design(family: str) -> tuple[str, pd.DataFrame]:
    rng = np.random.default_rng(20)
    g = np.repeat(np.arange(COVERAGE_GROUPS), COVERAGE_ROWS)
    support = FAMILIES[family].support
    data = pd.DataFrame({"x": rng.normal(size=g.size), "g": [f"g{i}" for i in g],
                         "y": PLACEHOLDER[support]})
    data.loc[::2, "y"] = 0.0 if support == "binary" else data.loc[::2, "y"]
    if support == "binomial":
        data["n"] = rng.integers(5, 16, size=g.size)
        data["f"] = data["n"] - 1
        return "cbind(y, f) ~ x + (1 | g)", data.drop(columns="n")
    return "y ~ x + (1 | g)", data


def structure(m) -> tuple:
    """What the compiled sampler depends on besides the data arrays."""
    p = m.plan
    return (str(p.family), p.columns, p.x_means, p.b, p.aux,
            tuple((g.name, g.columns, g.levels, g.blocks, g.centered, g.sd, g.lkj_key)
                  for g in p.groups),
            tuple(r.prior.distribution for r in p.priors.rows))


def coverage(family: str) -> list[tuple[str, int, bool]]:
    """(parameter, replicate, covered) for every interval of one family."""
    formula, data = coverage_design(family)
    base = fl.Model(formula, data, family=family, reparam="noncentered")
    truth = TRUTHS[family]
    sim = base.simulate(truth, seed=30 + list(TRUTHS).index(family), draws=REPLICATES)
    models = [fl.Model(formula, sim.data(draw=i), family=family, reparam="noncentered")
              for i in range(REPLICATES)]
    assert all(structure(m) == structure(base) for m in models)
    # each replicate's own data pytree: its response and its data-scaled prior parameters
    sites = sbc.fit_data(base, [sbc.with_response(m, m.bound.y) for m in models],
                         draws=300, tune=300, chains=2, seed=40)
    return interval_rows(models, sites, truth)


def test_the_coverage_band_separates_calibrated_from_miscalibrated():
    """The band's false-alarm rate and power, as the comment states them."""
    n = sum(3 + len(FAMILIES[f].aux) for f in TRUTHS) * REPLICATES
    n_eff = n // 2
    low, high = coverage_band(n)
    k_low, k_high = round(low * n_eff), round(high * n_eff)
    false_alarm = stats.binom.cdf(k_low - 1, n_eff, 0.9) + stats.binom.sf(k_high, n_eff, 0.9)
    assert false_alarm < 0.015
    assert stats.binom.cdf(k_low - 1, n_eff, 0.82) > 0.85  # 82% coverage fails
    assert stats.binom.sf(k_high, n_eff, 0.97) > 0.9  # so do intervals far too wide


def test_ninety_percent_intervals_cover_the_truth_over_replicates():
    results = {family: coverage(family) for family in TRUTHS}
    n = sum(len(rows) for rows in results.values())
    assert n == sum(3 + len(FAMILIES[f].aux) for f in TRUTHS) * REPLICATES
    covered = sum(ok for rows in results.values() for _, _, ok in rows)
    low, high = coverage_band(n)
    misses = {f"{family}: {name}": sum(not ok for p, _, ok in rows if p == name)
              for family, rows in results.items() for name in {p for p, _, _ in rows}}
    report = ", ".join(f"{k} {v}/{REPLICATES}" for k, v in misses.items() if v)
    assert low <= covered / n <= high, \
        f"{covered} of {n} intervals cover ({covered / n:.3f}, outside [{low:.3f}, " \
        f"{high:.3f}]); misses: {report}"
    never = [k for k, v in misses.items() if v == REPLICATES]
    assert not never, f"never covered: {never}; misses: {report}"
