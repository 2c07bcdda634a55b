"""Prior syntax: ``normal(0, 2.5)``, ``student_t(3, 0, sigma = 2.5)``.

Positional or named arguments (Stan/brms parameter names), signed numbers only, positive
parameters checked, canonical printing positional. Every bad prior raises PriorError (a
FormulaError) pointing at the problem. Markers as in test_parse_errors.py: ``⟨...⟩`` exact
span, ``⟪...⟫`` exact start, ``no marker`` only the error.
"""

from __future__ import annotations

import math
import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import formulang
from formulang import FormulaError, Prior, PriorError
from formulang.ir import DISTRIBUTIONS


def parse_prior(text: str) -> Prior:
    return formulang.parse_prior(text)


# fmt: off
VALID = [
    # id, text, distribution, params, canonical
    ("normal_positional", "normal(0, 2.5)", "normal", {"mu": 0, "sigma": 2.5}, "normal(0, 2.5)"),
    ("normal_named", "normal(mu = 0, sigma = 2.5)", "normal", {"mu": 0, "sigma": 2.5},
     "normal(0, 2.5)"),
    ("normal_named_reordered", "normal(sigma = 2.5, mu = 0)", "normal", {"mu": 0, "sigma": 2.5},
     "normal(0, 2.5)"),
    ("normal_mixed", "normal(0, sigma = 2.5)", "normal", {"mu": 0, "sigma": 2.5},
     "normal(0, 2.5)"),
    ("student_t_mixed", "student_t(3, 0, sigma = 2.5)", "student_t",
     {"df": 3, "mu": 0, "sigma": 2.5}, "student_t(3, 0, 2.5)"),
    ("student_t_named", "student_t(df = 3, mu = 0, sigma = 2.5)", "student_t",
     {"df": 3, "mu": 0, "sigma": 2.5}, "student_t(3, 0, 2.5)"),
    ("student_t_named_scrambled", "student_t(sigma = 10, df = 7, mu = -1)", "student_t",
     {"df": 7, "mu": -1, "sigma": 10}, "student_t(7, -1, 10)"),
    ("negative_location", "normal(-1, 1)", "normal", {"mu": -1, "sigma": 1}, "normal(-1, 1)"),
    ("negative_fraction", "normal(-0.5, 1e-3)", "normal", {"mu": -0.5, "sigma": 0.001},
     "normal(-0.5, 0.001)"),
    ("no_spaces", "normal(0,1)", "normal", {"mu": 0, "sigma": 1}, "normal(0, 1)"),
    ("lots_of_spaces", "  normal(  0 ,  10 )  ", "normal", {"mu": 0, "sigma": 10},
     "normal(0, 10)"),
    ("trailing_zero", "normal(0, 2.50)", "normal", {"mu": 0, "sigma": 2.5}, "normal(0, 2.5)"),
    ("float_integers", "normal(0.0, 1.0)", "normal", {"mu": 0, "sigma": 1}, "normal(0, 1)"),
    ("exponent", "normal(100, 2.5e1)", "normal", {"mu": 100, "sigma": 25}, "normal(100, 25)"),
    ("leading_dot", "normal(0, .5)", "normal", {"mu": 0, "sigma": 0.5}, "normal(0, 0.5)"),
    ("cauchy", "cauchy(0, 5)", "cauchy", {"mu": 0, "sigma": 5}, "cauchy(0, 5)"),
    ("laplace", "laplace(0, 1)", "laplace", {"mu": 0, "sigma": 1}, "laplace(0, 1)"),
    ("half_normal", "half_normal(1)", "half_normal", {"sigma": 1}, "half_normal(1)"),
    ("half_cauchy", "half_cauchy(2.5)", "half_cauchy", {"sigma": 2.5}, "half_cauchy(2.5)"),
    ("half_student_t", "half_student_t(3, 2.5)", "half_student_t", {"df": 3, "sigma": 2.5},
     "half_student_t(3, 2.5)"),
    ("half_student_t_named", "half_student_t(df = 3, sigma = 2.5)", "half_student_t",
     {"df": 3, "sigma": 2.5}, "half_student_t(3, 2.5)"),
    ("exponential", "exponential(1)", "exponential", {"rate": 1}, "exponential(1)"),
    ("exponential_named", "exponential(rate = 0.5)", "exponential", {"rate": 0.5},
     "exponential(0.5)"),
    ("gamma", "gamma(2, 0.1)", "gamma", {"alpha": 2, "beta": 0.1}, "gamma(2, 0.1)"),
    ("gamma_named_reordered", "gamma(beta = 0.1, alpha = 2)", "gamma", {"alpha": 2, "beta": 0.1},
     "gamma(2, 0.1)"),
    ("inv_gamma", "inv_gamma(0.01, 0.01)", "inv_gamma", {"alpha": 0.01, "beta": 0.01},
     "inv_gamma(0.01, 0.01)"),
    ("lognormal", "lognormal(-1, 0.5)", "lognormal", {"mu": -1, "sigma": 0.5},
     "lognormal(-1, 0.5)"),
    ("beta", "beta(1, 1)", "beta", {"alpha": 1, "beta": 1}, "beta(1, 1)"),
    ("beta_named", "beta(alpha = 2, beta = 5)", "beta", {"alpha": 2, "beta": 5}, "beta(2, 5)"),
    ("uniform_symmetric", "uniform(-10, 10)", "uniform", {"lower": -10, "upper": 10},
     "uniform(-10, 10)"),
    ("uniform_unit", "uniform(0, 1)", "uniform", {"lower": 0, "upper": 1}, "uniform(0, 1)"),
    ("lkj", "lkj(2)", "lkj", {"eta": 2}, "lkj(2)"),
    ("lkj_named", "lkj(eta = 1)", "lkj", {"eta": 1}, "lkj(1)"),
    ("multiline", "normal(\n  0,\n  2.5\n)", "normal", {"mu": 0, "sigma": 2.5}, "normal(0, 2.5)"),
]

ERRORS = [
    # id, marked text, message regex (None: any)
    ("unknown_distribution", "⟨norma⟩(0, 1)", r"norma"),
    ("unknown_distribution_brms_name", "⟨student⟩(3, 0, 1)", r"student"),
    ("unknown_distribution_python", "⟨__import__⟩(0)", r"__import__"),
    ("negative_sigma", "normal(0, ⟨-1⟩)", r"sigma"),
    ("zero_sigma", "normal(0, ⟨0⟩)", r"sigma"),
    ("negative_named_sigma", "normal(mu = 0, sigma = ⟨-2.5⟩)", r"sigma"),
    ("negative_rate", "exponential(⟨-2⟩)", r"rate"),
    ("zero_df", "student_t(⟨0⟩, 0, 1)", r"\bdf\b"),
    ("negative_half_normal", "half_normal(⟨-1⟩)", r"sigma"),
    ("negative_beta_parameter", "beta(1, ⟨-1⟩)", r"beta"),
    ("negative_gamma_shape", "gamma(⟨-2⟩, 1)", r"alpha"),
    ("negative_eta", "lkj(⟨-1⟩)", r"eta"),
    ("too_many_arguments", "normal(0, 1, ⟨2⟩)", r"argument|parameter|too many|at most|2"),
    ("too_many_for_exponential", "exponential(1, ⟨2⟩)", r"argument|parameter|too many|at most"),
    ("too_few_arguments", "normal(0)", r"sigma"),
    ("no_arguments", "normal()", r"mu|sigma"),
    ("missing_named", "student_t(3, sigma = 1)", r"\bmu\b"),
    ("unknown_argument_name", "normal(0, ⟪scale⟫ = 1)", r"scale"),
    ("duplicate_argument", "normal(mu = 0, ⟪mu⟫ = 1)", r"\bmu\b"),
    ("positional_and_named", "normal(0, ⟪mu⟫ = 1)", r"\bmu\b"),
    ("argument_is_a_name", "normal(0, ⟨x⟩)", r"number"),
    ("argument_is_a_string", 'normal(0, ⟨"1"⟩)', r"number"),
    ("argument_is_a_call", "normal(0, ⟪exp⟫(1))", r"number|unexpected|expected"),
    ("infinite", "normal(0, ⟨1e400⟩)", r"finite|large|range|number"),
    ("nan_name", "normal(0, ⟨nan⟩)", r"number"),
    ("inf_name", "normal(0, ⟨Inf⟩)", r"number"),
    ("arithmetic_argument", "normal(0, 1 + 1)", None),
    ("double_minus", "normal(0, -⟨-⟩1)", None),
    ("unclosed", "normal⟨(⟩0, 1", r"'\('|unclosed|never closed|not closed|parenthes"),
    ("extra_close", "normal(0, 1)⟨)⟩", r"'\)'|unmatched|unexpected|parenthes"),
    ("semicolon", "normal(0⟨;⟩ 1)", r";"),
    ("brackets", "normal⟨[⟩0, 1]", r"\["),
    ("no_parentheses", "normal 0 1", None),
    ("bare_name", "normal", None),
    ("bare_number", "0", None),
    ("sum_of_priors", "normal(0, 1) ⟨+⟩ 1", None),
    ("two_priors", "normal(0, 1) ⟨normal⟩(0, 1)", None),
    ("a_formula", "y ~ x", None),
    ("python_code", "__import__('os').system('echo hi')", None),
    ("empty", "", None),
    ("blank", "   ", None),
]
# fmt: on


def unmark(marked: str):
    for open_, close, exact in (("⟨", "⟩", True), ("⟪", "⟫", False)):
        if open_ in marked:
            start = marked.index(open_)
            end = marked.index(close) - 1
            return marked.replace(open_, "").replace(close, ""), start, end, exact
    return marked, None, None, False


def prior_error(text: str) -> PriorError:
    try:
        result = parse_prior(text)
    except FormulaError as err:
        assert isinstance(err, PriorError), f"{type(err).__name__} is not a PriorError: {err}"
        return err
    except Exception as exc:  # noqa: BLE001
        pytest.fail(f"parse_prior({text!r}) raised {type(exc).__name__}, not PriorError: {exc}")
    pytest.fail(f"parse_prior({text!r}) did not raise; it gave {result}")


def test_prior_error_is_a_formula_error():
    assert issubclass(PriorError, FormulaError)


@pytest.mark.parametrize("text, dist, params, canonical", [c[1:] for c in VALID],
                         ids=[c[0] for c in VALID])
def test_valid_prior(text, dist, params, canonical):
    prior = parse_prior(text)
    assert isinstance(prior, Prior)
    assert prior.distribution == dist
    names = DISTRIBUTIONS[dist].params
    assert tuple(name for name, _ in prior.params) == names
    assert {name: prior[name] for name in names} == params
    assert prior == Prior(dist, tuple((name, float(params[name])) for name in names))
    assert str(prior) == canonical
    assert parse_prior(canonical) == prior


def test_every_distribution_is_covered():
    assert {c[2] for c in VALID} == set(DISTRIBUTIONS)


@pytest.mark.parametrize("marked, message", [c[1:] for c in ERRORS], ids=[c[0] for c in ERRORS])
def test_prior_error(marked, message):
    text, start, end, exact = unmark(marked)
    err = prior_error(text)
    assert err.message
    if message is not None:
        assert re.search(message, err.message, re.IGNORECASE), (
            f"message {err.message!r} does not match {message!r}")
    if text.strip():
        assert err.text == text
        assert err.start is not None
        assert err.column == err.start + 1
        rendered = str(err)
        assert text in rendered and "^" in rendered
    if start is not None:
        got = text[err.start:err.end]
        assert err.start == start, f"points at {got!r}, expected {text[start:end]!r}:\n{err}"
        if exact:
            assert err.end == end, f"span {got!r}, expected {text[start:end]!r}"
        else:
            assert err.end >= end


def test_unknown_distribution_lists_the_valid_ones():
    err = prior_error("norma(0, 1)")
    for name in DISTRIBUTIONS:
        assert re.search(rf"(?<!\w){name}(?!\w)", err.message), f"{name} not in {err.message!r}"


def test_unknown_argument_names_the_valid_ones():
    err = prior_error("normal(0, scale = 1)")
    assert "sigma" in err.message


def test_brms_and_stan_spellings_of_priors():
    # Stan's nu is the Student t's df; brms's flat has no proper counterpart: said so, with
    # or without parentheses (once "e.g. flat(0, 1)", then "unknown distribution")
    assert parse_prior("student_t(nu = 3, mu = 0, sigma = 2)") == parse_prior("student_t(3, 0, 2)")
    assert parse_prior("half_student_t(nu = 4, sigma = 1)") == parse_prior("half_student_t(4, 1)")
    for text in ("flat", "flat()"):
        err = prior_error(text)
        assert "brms's flat prior is improper" in err.message and (err.start, err.end) == (0, 4)


def test_negative_scale_caret_under_the_value():
    err = prior_error("normal(0, -1)")
    lines = str(err).splitlines()
    assert lines[-2] == "  normal(0, -1)"
    assert lines[-1] == "  " + " " * 10 + "^^"


# ---- property: printing is exact and canonical -------------------------------------------------

_positive = st.floats(min_value=1e-300, max_value=1e300, allow_nan=False, allow_infinity=False)
_real = st.floats(allow_nan=False, allow_infinity=False, min_value=-1e300, max_value=1e300)


@st.composite
def priors(draw):
    name = draw(st.sampled_from(sorted(DISTRIBUTIONS)))
    spec = DISTRIBUTIONS[name]
    values = [draw(_positive if c == "positive" else _real) for c in spec.constraints]
    if name == "uniform":
        values = sorted(values)
        if values[0] == values[1]:
            values[1] = values[0] + 1.0 if abs(values[0]) < 1e15 else values[0] * 2 + 1
            values = sorted(values)
    n_positional = draw(st.integers(0, len(values)))
    named = list(zip(spec.params[n_positional:], values[n_positional:]))
    named = draw(st.permutations(named))
    args = [repr(v) for v in values[:n_positional]] + [f"{k} = {v!r}" for k, v in named]
    sep = draw(st.sampled_from([", ", ",", " , "]))
    return f"{name}({sep.join(args)})", name, dict(zip(spec.params, values))


@settings(max_examples=200, derandomize=True, deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(priors())
def test_prior_round_trip(case):
    text, name, values = case
    prior = parse_prior(text)
    assert prior.distribution == name
    for key, value in values.items():
        assert prior[key] == value
        assert math.copysign(1.0, prior[key]) == math.copysign(1.0, value) or value == 0
    printed = str(prior)
    assert parse_prior(printed) == prior
    assert str(parse_prior(printed)) == printed


@pytest.mark.parametrize("name", sorted(n for n in DISTRIBUTIONS if DISTRIBUTIONS[n].build))
def test_a_rows_support_and_spread_are_its_numpyro_distributions(name):
    # the mass matrix reads a prior's spread from its row, without building the distribution
    # (formulang.infer.mass_matrix._with_prior): the row must say what the distribution does
    from numpyro.distributions import constraints

    from formulang.infer.init import prior_centre

    spec = DISTRIBUTIONS[name]
    params = [2.5 + i for i in range(len(spec.params))]  # valid for every row's constraints
    fn = spec.numpyro(params)
    assert (spec.support == "real") == (fn.support is constraints.real)
    if spec.support == "real":
        assert float(prior_centre(fn)[1]) == pytest.approx(float(spec.scale(params)))
        assert float(prior_centre(fn)[1]) == pytest.approx(float(fn.scale))
