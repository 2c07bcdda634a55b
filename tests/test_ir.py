"""The IR on its own: printing, invariants, JSON, the columns a formula reads."""

import json

import pytest

from formulang import Formula, FormulaError, parse
from formulang.ir import BinOp, Call, Column, GroupTerm, Neg, Number, Response, Term


@pytest.mark.parametrize("expr, text", [
    (BinOp("^", Column("Days"), Number(2)), "Days^2"),
    (BinOp("-", Column("x"), BinOp("-", Column("y"), Column("z"))), "x - (y - z)"),
    (BinOp("-", BinOp("-", Column("x"), Column("y")), Column("z")), "x - y - z"),
    (BinOp("*", BinOp("+", Column("a"), Column("b")), Column("c")), "(a + b) * c"),
    (BinOp("^", BinOp("^", Column("a"), Number(2)), Number(3)), "(a^2)^3"),
    (BinOp("^", Column("a"), BinOp("^", Number(2), Number(3))), "a^2^3"),
    (BinOp("^", Column("a"), Neg(Number(1))), "a^-1"),
    (Neg(BinOp("^", Column("a"), Number(2))), "-a^2"),
    (BinOp("^", Neg(Column("a")), Number(2)), "(-a)^2"),
    (BinOp(">", BinOp("+", Column("a"), Number(1)), Number(0.5)), "a + 1 > 0.5"),
    (Call("scale", (Column("x"),), (("scale", False),)), "scale(x, scale = FALSE)"),
    (Call("C", (Column("g"),), (("ref", "b"),)), 'C(g, ref = "b")'),
    (Column("log radon"), "`log radon`"),
    (Column("__x__"), "`__x__`"),
    (Column("sch.id"), "sch.id"),
    (Number(1e-07), "1e-07"),
])
def test_expressions_print_in_r_deparse_style(expr, text):
    assert str(expr) == text


def test_expression_invariants():
    with pytest.raises(ValueError):
        Number(-1)  # a minus sign is a Neg node, so printing round-trips
    with pytest.raises(ValueError):
        Number(float("inf"))
    with pytest.raises(ValueError):
        Column("a`b")
    with pytest.raises(ValueError):
        BinOp("%%", Column("a"), Column("b"))


def test_term_and_group_invariants():
    with pytest.raises(ValueError):
        Term(())
    with pytest.raises(ValueError):
        Term((Column("a"), Column("a")))
    with pytest.raises(ValueError):
        GroupTerm((), intercept=False, factor=("g",))
    # one effect cannot be "uncorrelated": normalised so equal models compare equal
    assert GroupTerm((), True, ("g",), correlated=False) == GroupTerm((), True, ("g",))


def test_blocks_follow_lme4_double_bar():
    correlated, = parse("y ~ (1 + x + z | g)").groups
    assert len(correlated.blocks) == 1 and len(correlated.blocks[0]) == 3
    independent, = parse("y ~ (1 + x + f || g)").groups
    assert [len(b) for b in independent.blocks] == [1, 1, 1]
    assert independent.blocks[0] == ("Intercept",)


def test_ir_is_frozen_and_hashable():
    f = parse("y ~ x + (1 | g)")
    with pytest.raises(AttributeError):
        f.intercept = False
    assert {f: 1}[parse("y ~ 1 + x + (1 | g)")] == 1


def test_columns_lists_every_column_once_in_order():
    f = parse("cbind(s, n - s) | weights(w) ~ log(x) * g + (1 + z | site/plot) + offset(log(t))")
    assert f.columns() == ("s", "n", "w", "x", "g", "z", "site", "plot", "t")


def test_response_forms():
    r = parse("cbind(s, n - s) ~ x").response
    assert r.is_binomial and r.failures == BinOp("-", Column("n"), Column("s"))
    r = parse("s | trials(n) ~ x").response
    assert r.is_binomial and r.trials == Column("n") and r.failures is None
    assert not parse("y | weights(w) ~ x").response.is_binomial
    with pytest.raises(ValueError):
        Response(Column("s"), failures=Column("f"), trials=Column("n"))


def test_json_round_trip_is_exact_and_versioned():
    f = parse('cbind(s, n - s) ~ 0 + scale(x, center = FALSE) * C(g, ref = "b") '
              "+ I(x^-0.5) + (1 + x || g) + (1 | a/b) + offset(log(t))")
    text = f.to_json()
    data = json.loads(text)
    assert data["schema"] == "formulang.formula" and data["version"] == 1
    assert Formula.from_json(text) == f
    assert str(Formula.from_json(text)) == str(f)


def test_json_refuses_unknown_versions_and_garbage():
    data = json.loads(parse("y ~ x").to_json())
    data["version"] = 99
    with pytest.raises(FormulaError, match="version 99"):
        Formula.from_json(json.dumps(data))
    with pytest.raises(FormulaError, match="not valid JSON"):
        Formula.from_json("{")
    with pytest.raises(FormulaError, match="malformed"):
        Formula.from_json(json.dumps({"schema": "formulang.formula", "version": 1}))
