"""JSON for the formula IR, versioned, exact on round trip.

The schema is plain nested objects; every node says what it is. A reader refuses an unknown
schema version instead of guessing.
"""

from __future__ import annotations

import json
from typing import Any

from ..errors import FormulaError
from .expr import BinOp, Call, Column, Expr, Neg, Number
from .formula import Formula, GroupTerm, Response, Term

SCHEMA = "formulang.formula"
SCHEMA_VERSION = 1


def expr_to_data(e: Expr) -> dict[str, Any]:
    if isinstance(e, Column):
        return {"column": e.name}
    if isinstance(e, Number):
        return {"number": e.value}
    if isinstance(e, Call):
        return {"call": e.func, "args": [expr_to_data(a) for a in e.args],
                "kwargs": [[k, v] for k, v in e.kwargs]}
    if isinstance(e, BinOp):
        return {"op": e.op, "left": expr_to_data(e.left), "right": expr_to_data(e.right)}
    if isinstance(e, Neg):
        return {"neg": expr_to_data(e.operand)}
    raise TypeError(f"not an expression: {e!r}")


def expr_from_data(d: dict[str, Any]) -> Expr:
    if "column" in d:
        return Column(d["column"])
    if "number" in d:
        return Number(d["number"])
    if "call" in d:
        return Call(d["call"], tuple(expr_from_data(a) for a in d["args"]),
                    tuple((k, v) for k, v in d["kwargs"]))
    if "op" in d:
        return BinOp(d["op"], expr_from_data(d["left"]), expr_from_data(d["right"]))
    if "neg" in d:
        return Neg(expr_from_data(d["neg"]))
    raise ValueError(f"unknown expression node {d!r}")


def _opt(e: Expr | None):
    return None if e is None else expr_to_data(e)


def _opt_from(d):
    return None if d is None else expr_from_data(d)


def _term_to_data(t: Term) -> list:
    return [expr_to_data(f) for f in t.factors]


def _term_from_data(d: list) -> Term:
    return Term(tuple(expr_from_data(f) for f in d))


def formula_to_data(f: Formula) -> dict[str, Any]:
    r = f.response
    return {
        "schema": SCHEMA,
        "version": SCHEMA_VERSION,
        "formula": str(f),
        "response": None if r is None else {
            "value": expr_to_data(r.value), "failures": _opt(r.failures),
            "trials": _opt(r.trials), "weights": _opt(r.weights)},
        "intercept": f.intercept,
        "terms": [_term_to_data(t) for t in f.terms],
        "groups": [{"terms": [_term_to_data(t) for t in g.terms], "intercept": g.intercept,
                    "factor": list(g.factor), "correlated": g.correlated} for g in f.groups],
        "offsets": [expr_to_data(o) for o in f.offsets],
    }


def formula_from_data(d: dict[str, Any]) -> Formula:
    if d.get("schema") != SCHEMA:
        raise FormulaError(f"not a formulang formula (schema {d.get('schema')!r})")
    if d.get("version") != SCHEMA_VERSION:
        raise FormulaError(f"unsupported formula schema version {d.get('version')!r}; "
                           f"this formulang reads version {SCHEMA_VERSION}")
    r = d["response"]
    response = None if r is None else Response(
        expr_from_data(r["value"]), _opt_from(r["failures"]), _opt_from(r["trials"]),
        _opt_from(r["weights"]))
    return Formula(
        response=response,
        intercept=bool(d["intercept"]),
        terms=tuple(_term_from_data(t) for t in d["terms"]),
        groups=tuple(GroupTerm(tuple(_term_from_data(t) for t in g["terms"]), bool(g["intercept"]),
                               tuple(g["factor"]), bool(g["correlated"])) for g in d["groups"]),
        offsets=tuple(expr_from_data(o) for o in d["offsets"]),
    )


def formula_to_json(f: Formula, **dumps_kwargs) -> str:
    return json.dumps(formula_to_data(f), **dumps_kwargs)


def formula_from_json(text: str) -> Formula:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise FormulaError(f"formula JSON is not valid JSON: {exc}") from None
    try:
        return formula_from_data(data)
    except (KeyError, TypeError, ValueError) as exc:
        raise FormulaError(f"formula JSON is malformed: {exc}") from None
