"""Acceptance corpus: real-world formulas parse to the documented canonical form.

Written independently of the parser, from R's formula algebra (stats::terms), lme4's bar terms
and brms's response additions. The data is in ``formula_corpus.py``.
"""

from __future__ import annotations

import pytest

import formulang
from formula_corpus import CORPUS
from formulang import Formula, FormulaError, GroupTerm, Response, Term
from formulang.ir import BinOp, Call, Column, Neg, Number


def parse(text: str) -> Formula:
    return formulang.parse(text)


def labels(terms) -> list[str]:
    return [t.label for t in terms]


def test_corpus_is_large_enough():
    assert len(CORPUS) >= 100


def test_parse_is_exported():
    assert callable(formulang.parse)
    assert callable(formulang.parse_prior)


@pytest.mark.parametrize("source, expected", [c[1:] for c in CORPUS], ids=[c[0] for c in CORPUS])
def test_canonical_form(source, expected):
    formula = parse(source)
    assert isinstance(formula, Formula)
    assert str(formula) == expected


@pytest.mark.parametrize("source, expected", [c[1:] for c in CORPUS], ids=[c[0] for c in CORPUS])
def test_canonical_form_means_the_same(source, expected):
    assert parse(expected) == parse(source)
    assert str(parse(expected)) == expected  # the canonical form is a fixed point


@pytest.mark.parametrize("source", [c[1] for c in CORPUS], ids=[c[0] for c in CORPUS])
def test_json_round_trip(source):
    formula = parse(source)
    assert Formula.from_json(formula.to_json()) == formula


@pytest.mark.parametrize("source", [c[1] for c in CORPUS], ids=[c[0] for c in CORPUS])
def test_terms_sorted_by_degree_without_duplicates(source):
    formula = parse(source)
    degrees = [t.degree for t in formula.terms]
    assert degrees == sorted(degrees)
    as_sets = [frozenset(t.factors) for t in formula.terms]
    assert len(as_sets) == len(set(as_sets))
    assert len(formula.groups) == len(set(formula.groups))


# ---- structure spot checks ---------------------------------------------------------------------


def test_sleepstudy_structure():
    f = parse("Reaction ~ Days + (Days | Subject)")
    assert f.response == Response(Column("Reaction"))
    assert f.intercept is True
    assert f.terms == (Term((Column("Days"),)),)
    assert f.groups == (GroupTerm((Term((Column("Days"),)),), True, ("Subject",), True),)
    assert f.offsets == ()
    assert f.columns() == ("Reaction", "Days", "Subject")


def test_double_bar_is_one_uncorrelated_group_term():
    f = parse("Reaction ~ Days + (Days || Subject)")
    (g,) = f.groups
    assert g.correlated is False
    assert g.intercept is True
    assert labels(g.terms) == ["Days"]
    assert g.factor == ("Subject",)
    assert g.blocks == (("Intercept",), (Term((Column("Days"),)),))


def test_double_bar_single_effect_normalises_to_correlated():
    (g,) = parse("y ~ (1 || g)").groups
    assert g.correlated is True and g.intercept is True and g.terms == ()
    (g,) = parse("y ~ (0 + x || g)").groups
    assert g.correlated is True and g.intercept is False and labels(g.terms) == ["x"]


def test_group_without_intercept():
    (g,) = parse("y ~ x + (x - 1 | g)").groups
    assert g.intercept is False
    assert labels(g.terms) == ["x"]
    (g2,) = parse("y ~ x + (0 + x | g)").groups
    assert g2 == g


def test_nested_grouping_factors():
    f = parse("strength ~ 1 + (1 | batch/cask)")
    assert [g.factor for g in f.groups] == [("batch",), ("batch", "cask")]
    assert all(g.intercept and g.terms == () for g in f.groups)
    assert f.groups[1].factor_label == "batch:cask"


def test_nested_grouping_three_levels():
    f = parse("y ~ (1 | a/b/c)")
    assert [g.factor for g in f.groups] == [("a",), ("a", "b"), ("a", "b", "c")]


def test_crossed_grouping_star():
    f = parse("y ~ (1 | a*b)")
    assert [g.factor for g in f.groups] == [("a",), ("b",), ("a", "b")]


def test_interaction_grouping_factor():
    (g,) = parse("y ~ 1 + (1 | dept:service)").groups
    assert g.factor == ("dept", "service")


def test_nested_grouping_keeps_slopes_on_every_level():
    f = parse("y ~ x + (x | a/b)")
    assert [(labels(g.terms), g.intercept, g.factor) for g in f.groups] == [
        (["x"], True, ("a",)), (["x"], True, ("a", "b"))]


def test_group_lhs_uses_formula_algebra():
    (g,) = parse("y ~ (x*z | g)").groups
    assert labels(g.terms) == ["x", "z", "x:z"]
    assert g.intercept is True


def test_backticked_grouping_factor():
    (g,) = parse("y ~ x + (1 | `school id`)").groups
    assert g.factor == ("school id",)
    assert g.factor_label == "`school id`"


def test_trials_response():
    f = parse("incidence | trials(size) ~ period + (1 | herd)")
    r = f.response
    assert r.value == Column("incidence")
    assert r.trials == Column("size")
    assert r.failures is None and r.weights is None
    assert r.is_binomial


def test_cbind_response():
    r = parse("cbind(incidence, size - incidence) ~ period + (1 | herd)").response
    assert r.value == Column("incidence")
    assert r.failures == BinOp("-", Column("size"), Column("incidence"))
    assert r.trials is None
    assert r.is_binomial


def test_weights_response():
    r = parse("y | weights(w) ~ x").response
    assert r == Response(Column("y"), weights=Column("w"))
    assert not r.is_binomial


def test_trials_and_weights_response_in_either_order():
    a = parse("s | trials(n) + weights(w) ~ x").response
    b = parse("s | weights(w) + trials(n) ~ x").response
    assert a == b == Response(Column("s"), trials=Column("n"), weights=Column("w"))


def test_transformed_response():
    assert parse("log(y) ~ x").response == Response(Call("log", (Column("y"),)))


def test_one_sided_formula_has_no_response():
    f = parse("~ x")
    assert f.response is None
    assert f.intercept is True
    assert labels(f.terms) == ["x"]


def test_offsets_are_not_terms():
    f = parse("stops ~ eth + offset(log(past.arrests)) + (1 | precinct)")
    assert f.offsets == (Call("log", (Column("past.arrests"),)),)
    assert labels(f.terms) == ["eth"]
    assert "past.arrests" in f.columns()


@pytest.mark.parametrize("source", ["y ~ x - 1", "y ~ x + 0", "y ~ 0 + x", "y ~ -1 + x"])
def test_intercept_removed(source):
    f = parse(source)
    assert f.intercept is False
    assert labels(f.terms) == ["x"]


def test_I_power_structure_both_spellings():
    expected = Term((Call("I", (BinOp("^", Column("x"), Number(2)),)),))
    assert parse("y ~ I(x^2)").terms == (expected,)
    assert parse("y ~ I(x**2)").terms == (expected,)


def test_I_unary_minus_binds_looser_than_power():
    (t,) = parse("y ~ I(-x^2)").terms
    assert t.factors == (Call("I", (Neg(BinOp("^", Column("x"), Number(2))),)),)
    (t,) = parse("y ~ I(x^-1)").terms
    assert t.factors == (Call("I", (BinOp("^", Column("x"), Neg(Number(1))),)),)


def test_I_arithmetic_precedence_and_associativity():
    (t,) = parse("y ~ I(a - b - c)").terms
    assert t.factors[0] == Call("I", (BinOp("-", BinOp("-", Column("a"), Column("b")),
                                              Column("c")),))
    (t,) = parse("y ~ I(a + b * c)").terms
    assert t.factors[0] == Call("I", (BinOp("+", Column("a"),
                                              BinOp("*", Column("b"), Column("c"))),))
    (t,) = parse("y ~ I(2^x^2)").terms
    assert t.factors[0] == Call("I", (BinOp("^", Number(2), BinOp("^", Column("x"),
                                                                      Number(2))),))


def test_number_literals_are_floats():
    (t,) = parse("y ~ I(2.0 * x)").terms
    assert t.factors[0] == Call("I", (BinOp("*", Number(2.0), Column("x")),))
    (t,) = parse("y ~ I(x / 1e3)").terms
    assert t.factors[0].args[0].right == Number(1000.0)


def test_function_arguments_are_arithmetic_not_algebra():
    (t,) = parse("y ~ log(x + 1)").terms
    assert t.factors == (Call("log", (BinOp("+", Column("x"), Number(1)),)),)


def test_scale_keyword():
    (t,) = parse("y ~ scale(x, scale = FALSE)").terms
    assert t.factors == (Call("scale", (Column("x"),), (("scale", False),)),)
    assert t.factors[0].kwarg("scale") is False


def test_categorical_ref_keyword():
    (t,) = parse("y ~ C(g, ref = 'b')").terms
    assert t.factors == (Call("C", (Column("g"),), (("ref", "b"),)),)


def test_factor_and_C_are_kept_as_written():
    f = parse("y ~ C(g) + factor(h) + as.factor(k)")
    assert [t.factors[0].func for t in f.terms] == ["C", "factor", "as.factor"]


def test_backticks():
    f = parse("`log radon` ~ `x` + `my var`")
    assert f.response.value == Column("log radon")
    assert [t.factors for t in f.terms] == [(Column("x"),), (Column("my var"),)]


def test_dotted_names_are_plain_columns():
    f = parse("y ~ x.1 + sch.id")
    assert [t.factors for t in f.terms] == [(Column("x.1"),), (Column("sch.id"),)]


def test_star_expansion_structure():
    f = parse("y ~ a*b")
    assert [t.factors for t in f.terms] == [
        (Column("a"),), (Column("b"),), (Column("a"), Column("b"))]


def test_interaction_factor_order_follows_main_effects():
    f = parse("y ~ x:z + z")
    assert [t.factors for t in f.terms] == [(Column("z"),), (Column("z"), Column("x"))]


def test_interaction_written_both_ways_is_one_term():
    assert parse("y ~ a:b + b:a") == parse("y ~ a:b")
    assert parse("y ~ a + b:a") == parse("y ~ a + a:b")


def test_multiline_formula_equals_single_line():
    assert parse("y ~\n  x +\n  (1 | g)\n") == parse("y ~ x + (1 | g)")


def test_formulas_are_hashable_and_deterministic():
    a = parse("y ~ a*b + (1 + a | g) + offset(log(n))")
    b = parse("y ~ a*b + (1 + a | g) + offset(log(n))")
    assert a == b and hash(a) == hash(b)


def test_many_terms():
    names = [f"x{i}" for i in range(300)]
    f = parse("y ~ " + " + ".join(names) + " + (1 | g)")
    assert labels(f.terms) == names
    assert str(f) == "y ~ 1 + " + " + ".join(names) + " + (1 | g)"


def test_large_interaction_expansion():
    f = parse("y ~ a*b*c*d*e")
    assert len(f.terms) == 31
    assert [t.degree for t in f.terms] == [1] * 5 + [2] * 10 + [3] * 10 + [4] * 5 + [5]
    assert f.terms[-1].label == "a:b:c:d:e"


def test_corpus_formulas_never_raise_other_errors():
    # A corpus formula must parse; if one raises, it must at least be a FormulaError. This is a
    # single summary test so that a parser crash is visible even among many parametrized ones.
    problems = []
    for name, source, _ in CORPUS:
        try:
            parse(source)
        except FormulaError:
            pass
        except Exception as exc:  # pragma: no cover - only on failure
            problems.append(f"{name}: {type(exc).__name__}: {exc}")
    assert not problems, problems
