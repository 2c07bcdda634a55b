"""The parser under hostile input (issue 21): each case was a hang, a crash or a refusal of a
valid formula. Every input gives a Formula or a FormulaError that points at the problem, fast,
and everything the parser accepts compares, hashes, prints (as text that parses back to it) and
serialises.
"""

from __future__ import annotations

import copy
import pickle
import time

import pytest

from formulang import Formula, FormulaError, PriorError, parse, parse_prior
from formulang.ir import Call, Column
from formulang.parse.limits import MAX_DEPTH, MAX_LENGTH, MAX_TERMS

uncached = parse.__wrapped__


def xs(n: int, sep: str, stem: str = "x") -> str:
    return sep.join(f"{stem}{i}" for i in range(n))


# Time limits are on this thread's CPU time: they guard against blow-ups in the parser, which
# a machine busy with other work (parallel test workers) must not fake or hide.
def refused(text: str, seconds: float = 1.0) -> FormulaError:
    start = time.thread_time()
    with pytest.raises(FormulaError) as info:
        uncached(text)
    assert time.thread_time() - start < seconds
    err = info.value
    assert err.text == text and 0 <= err.start < err.end <= len(text) + 1
    return err


def accepted(text: str, seconds: float = 1.0) -> Formula:
    start = time.thread_time()
    f = uncached(text)
    assert time.thread_time() - start < seconds
    assert_usable(f)
    return f


def assert_usable(f: Formula) -> None:
    """Compare, hash, print, reparse, serialise, pickle and copy."""
    again = uncached(str(f))
    assert again == f and hash(again) == hash(f)
    assert Formula.from_json(f.to_json()) == f
    assert pickle.loads(pickle.dumps(f)) == f
    assert copy.deepcopy(f) == f
    assert repr(f)


# ---- number literals that overflow ---------------------------------------------------------------


@pytest.mark.parametrize("func", ["C", "factor", "as.factor"])
@pytest.mark.parametrize("literal", ["1e400", "-1e400", "9" * 400])
def test_reference_level_that_overflows_is_a_formula_error(func, literal):
    text = f"y ~ {func}(x, ref = {literal})"
    err = refused(text)
    assert "too large" in err.message
    assert text[err.start:err.end].lstrip("-") == literal.lstrip("-")


def test_numeric_reference_levels_are_labelled_as_the_data_stage_labels_them():
    for literal, label in [("2", "2"), ("-1", "-1"), ("0.5", "0.5"), ("-0", "0"),
                           ("1e20", "1e+20")]:
        f = accepted(f"y ~ C(x, ref = {literal})")
        assert f.terms[0].factors[0] == Call("C", (Column("x"),), (("ref", label),))


@pytest.mark.parametrize("text", ["normal(0, 1e400)", "normal(1e400, 1)", "normal(-1e400, 1)",
                                  "student_t(1e400, 0, 1)", "normal(mu = 0, sigma = 1e999)"])
def test_prior_numbers_that_overflow(text):
    with pytest.raises(PriorError) as info:
        parse_prior(text)
    err = info.value
    assert "too large" in err.message and "1e" in text[err.start:err.end]


@pytest.mark.parametrize("text", ["y ~ 1e400", "y ~ I(x * 1e400)", "y ~ offset(x + 1e400)",
                                  "1e400 ~ x", "y | weights(1e400) ~ x"])
def test_formula_numbers_that_overflow(text):
    err = refused(text)
    assert text[err.start:err.end] == "1e400"


# ---- powers --------------------------------------------------------------------------------------


@pytest.mark.parametrize("text, same_as", [
    ("y ~ x^1e9", "y ~ x"),
    ("y ~ (a + b)^1e18", "y ~ a*b"),
    ("y ~ (a + b)^1e6", "y ~ a*b"),
    ("y ~ (a + b + c)^7", "y ~ a*b*c"),
    ("y ~ (a + b:c)^99", "y ~ a + b:c + a:b:c"),
    ("y ~ (1 + x || g) + (a + b)^(3)", "y ~ a*b + (x || g)"),
])
def test_powers_are_capped_at_the_number_of_factors(text, same_as):
    assert accepted(text, seconds=0.5) == parse(same_as)


@pytest.mark.parametrize("exponent", ["2.5", "0", "-1", "1e400", "0.5", "x", "(1 + 1)"])
def test_powers_must_be_whole_numbers_of_at_least_one(exponent):
    text = f"y ~ (a + b)^{exponent}"
    err = refused(text)
    assert "whole number" in err.message
    assert err.start >= text.index("^") + 1  # the caret is under the exponent


# ---- expansions ----------------------------------------------------------------------------------


@pytest.mark.parametrize("text, count", [
    ("y ~ " + xs(18, "*"), 2**18 - 1),
    ("y ~ (1 | " + xs(18, "*", "g") + ")", 2**18 - 1),
    ("y ~ (" + xs(15, " + ") + ")^11", sum(__import__("math").comb(15, k) for k in range(1, 12))),
    ("y ~ " + xs(13, "*"), 2**13 - 1),
    ("y ~ (x0*x1*x2*x3*x4 | " + xs(8, "*", "g") + ")", 32 * 255),
])
def test_an_expansion_past_the_limit_is_refused_with_its_count_before_expanding(text, count):
    err = refused(text, seconds=0.2)  # refused before anything is expanded
    assert f"{count} terms" in err.message and str(MAX_TERMS) in err.message
    assert err.end - err.start <= 2, "the caret points where the count crosses the limit"


def test_the_count_points_where_it_crosses_the_limit():
    text = "y ~ " + xs(18, "*")
    err = refused(text)
    # x0*...*x10 (2047 terms) is the first product too long to write out in 20000 characters
    assert text[err.start:err.end] == "*" and text[err.end:].startswith("x10*")


def test_large_expansions_within_the_limit_are_read():
    f = accepted("y ~ (" + xs(60, " + ") + ")^2")
    assert len(f.terms) == 60 + 60 * 59 // 2
    f = accepted("y ~ (1 | " + xs(9, "*", "g") + ")")
    assert len(f.groups) == 2**9 - 1


def test_removed_terms_count_and_repeated_factors_do_not_multiply():
    refused("y ~ x - " + xs(18, "*"))
    # 4 distinct factors make at most 15 terms, however often they are written
    f = accepted("y ~ ((a + b)^2 + (c + d)^2)^4 * (a + b + c + d)")
    assert {t.factors for t in f.terms} == {t.factors for t in parse("y ~ a*b*c*d").terms}


def test_an_expansion_too_long_to_write_out_is_refused():
    err = refused("y ~ " + xs(160, "/"))  # 160 terms, the last of 160 factors
    assert "characters when written out" in err.message and str(MAX_LENGTH) in err.message


# ---- long flat formulas --------------------------------------------------------------------------


def test_long_flat_sums_parse_and_print_as_text_that_parses():
    f = accepted("y ~ " + xs(2500, " + "))
    assert len(f.terms) == 2500
    f = accepted("y ~ x + " + " + ".join(f"(1 | g{i})" for i in range(1200)))
    assert len(f.groups) == 1200
    f = accepted("y ~ " + xs(2000, "+") + " - x5 - x7")
    assert len(f.terms) == 1998
    f = accepted("y ~ " + xs(2000, ":"))
    assert f.terms[0].degree == 2000
    f = accepted("y | " + " + ".join(["weights(w)"]) + " ~ " + xs(1000, "+", "z"))
    assert len(f.terms) == 1000


def test_long_chains_of_signs_are_not_deep():
    assert accepted("y ~ " + "- " * 3001 + "x") == parse("y ~ 1")
    assert accepted("y ~ x + " + "+" * 3000 + "z") == parse("y ~ x + z")


def test_a_formula_longer_than_the_limit_is_refused_with_a_short_message():
    text = "y ~ " + xs(20000, " + ")
    err = refused(text)
    assert f"{len(text)} characters" in err.message
    assert max(len(line) for line in str(err).splitlines()) < 200


# ---- deep nesting --------------------------------------------------------------------------------


@pytest.mark.parametrize("text", [
    "y ~ " + "log(" * MAX_DEPTH + "x" + ")" * MAX_DEPTH,
    "y ~ " + "(" * MAX_DEPTH + "x" + ")" * MAX_DEPTH,
    "y ~ I(" + "(" * (MAX_DEPTH - 1) + "x" + ")" * (MAX_DEPTH - 1) + ")",
    "y ~ I(" + "-" * (MAX_DEPTH - 1) + "x)",
    "y ~ I(" + "x^" * (MAX_DEPTH - 1) + "2)",
    "y ~ I(" + xs(MAX_DEPTH, " + ") + ")",
    xs(MAX_DEPTH + 1, " + ") + " ~ x",
    "y ~ (" + "(" * (MAX_DEPTH - 2) + "1 + I(" + "-" * (MAX_DEPTH - 2) + "x)" + ")" *
    (MAX_DEPTH - 2) + " | g)",
], ids=["calls", "parentheses", "parentheses_in_I", "minus_signs", "powers", "sum_in_I",
        "response_sum", "group_term"])
def test_everything_at_the_depth_limit_compares_prints_and_serialises(text):
    accepted(text)


@pytest.mark.parametrize("text, crossing", [
    ("y ~ " + "log(" * 490 + "x" + ")" * 490, 4 + 4 * MAX_DEPTH + 3),
    ("y ~ " + "(" * 300 + "x" + ")" * 300, 4 + MAX_DEPTH),
    ("y ~ " + "(" * 300 + "x", 4 + MAX_DEPTH),
    # the innermost minus sign at which the value gets deeper than the limit
    ("y ~ I(" + "-" * 300 + "x)", len("y ~ I(") + 300 - (MAX_DEPTH + 1)),
    ("y ~ I(" + xs(MAX_DEPTH + 1, "+") + ")", 4),
], ids=["calls", "parentheses", "unclosed", "minus_signs", "sum_in_I"])
def test_past_the_depth_limit_a_formula_error_points_where_it_is_crossed(text, crossing):
    err = refused(text)
    assert "nested too deeply" in err.message and str(MAX_DEPTH) in err.message
    assert err.start == crossing and err.end - err.start <= 4


def test_deep_response_points_at_the_operator_that_crosses_the_limit():
    text = xs(300, "+") + " ~ x"
    err = refused(text)
    # x0 + ... + x100 is 100 operations: the 101st '+' (before x101) crosses the limit
    assert text[err.start:err.end] == "+" and text[err.end:].startswith("x101+")


def test_deep_json_is_a_formula_error():
    with pytest.raises(FormulaError):
        Formula.from_json("[" * 100000 + "]" * 100000)
    data = parse("y ~ x").to_dict()
    expr = {"column": "x"}
    for _ in range(MAX_DEPTH + 5):
        expr = {"neg": expr}
    data["terms"] = [[expr]]
    with pytest.raises(FormulaError, match="nested"):
        Formula.from_dict(data) if False else Formula.from_json(__import__("json").dumps(data))


# ---- long inputs in error messages ---------------------------------------------------------------


@pytest.mark.parametrize("text", [
    "y ~ " + "a" * 15000 + " + $",
    "y ~ x + $ + " + "a" * 15000,
    "y ~ " + xs(1500, " + ") + " + lo(x, 2) + " + xs(1000, " + ", "z"),
    "y ~ " + xs(1500, " + ") + " +",
])
def test_errors_on_long_lines_show_a_window_around_the_caret(text):
    err = refused(text)
    lines = str(err).splitlines()
    assert len(lines) == 3 and max(len(line) for line in lines[1:]) <= 90
    shown, carets = lines[1][2:], lines[2][2:]
    col = carets.index("^")
    assert shown[col] == text[err.start]
    assert "…" in shown


def test_a_long_name_in_a_message_is_shortened():
    err = refused("y ~ " + "f" * 10000 + "(x)")
    assert len(err.message) < 400 and "…" in err.message


# ---- characters ----------------------------------------------------------------------------------


@pytest.mark.parametrize("char, words", [
    ("\x00", "control character U+0000"), ("\x1b", "control character U+001B"),
    ("\xa0", "non-breaking space"), ("\u200b", "invisible"), ("\u2212", "plain '-'"),
    ("\u201c", "plain '\"'"), ("é", "backticks: `éz`"),
])
def test_odd_characters_are_named(char, words):
    text = f"y ~ x + {char}z"
    err = refused(text)
    assert words in err.message and err.start == 8
    assert "\x00" not in str(err) and "\x1b" not in str(err)


def test_letters_beyond_ascii_suggest_the_backticked_name():
    err = refused("y ~ température + x")
    assert "`température`" in err.message
    assert accepted("y ~ `température` + `漢字`").columns() == ("y", "température", "漢字")


def test_carriage_returns_and_tabs_are_whitespace():
    assert accepted("y ~ x\r\n+\tz\r+ w") == parse("y ~ x + z + w")


def test_the_caret_stays_under_wide_characters():
    err = refused("y ~ `漢字` + $")
    shown, carets = str(err).splitlines()[1:]
    # the two wide characters take four columns: the caret is under the '$'
    assert carets.index("^") == len(shown) + 2 - 1


def test_a_control_character_in_backticks_is_refused():
    refused("y ~ `a\x00b`")


def test_very_long_names_parse():
    f = accepted("y ~ " + "a" * 19000)
    assert f.terms[0].factors[0] == Column("a" * 19000)
