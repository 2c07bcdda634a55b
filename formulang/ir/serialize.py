"""Expressions as plain JSON values, exact on round trip; every node says what it is.

:meth:`formulang.Formula.to_dict` builds the versioned formula schema from these.

>>> from formulang.ir.expr import BinOp, Column, Number
>>> expr_to_data(BinOp("^", Column("x"), Number(2.0)))
{'op': '^', 'left': {'column': 'x'}, 'right': {'number': 2.0}}
>>> expr_from_data({'neg': {'column': 'x'}})
Neg(operand=Column(name='x'))
"""

from __future__ import annotations

from typing import Any

from .expr import MAX_DEPTH, BinOp, Call, Column, Expr, Neg, Number


def expr_to_data(e: Expr) -> dict[str, Any]:
    """``e`` as nested dicts and lists of plain values."""
    if isinstance(e, Column):
        return {"column": e.name}
    if isinstance(e, Number):
        return {"number": e.value}
    if isinstance(e, Call):
        return {"call": e.func, "args": [expr_to_data(a) for a in e.args],
                "kwargs": [[k, list(v) if isinstance(v, tuple) else v] for k, v in e.kwargs],
                **({"positional": e.positional} if e.positional else {})}
    if isinstance(e, BinOp):
        return {"op": e.op, "left": expr_to_data(e.left), "right": expr_to_data(e.right)}
    if isinstance(e, Neg):
        return {"neg": expr_to_data(e.operand)}
    raise TypeError(f"not an expression: {e!r}")


def expr_from_data(d: dict[str, Any], depth: int = 0) -> Expr:
    """The expression :func:`expr_to_data` wrote (at most :data:`MAX_DEPTH` levels deep, as
    the parser allows)."""
    if depth > MAX_DEPTH:
        raise ValueError(f"expression nested deeper than {MAX_DEPTH} levels")
    depth += 1
    if "column" in d:
        return Column(d["column"])
    if "number" in d:
        return Number(d["number"])
    if "call" in d:
        return Call(d["call"], tuple(expr_from_data(a, depth) for a in d["args"]),
                    tuple((k, tuple(v) if isinstance(v, list) else v) for k, v in d["kwargs"]),
                    int(d.get("positional", 0)))
    if "op" in d:
        return BinOp(d["op"], expr_from_data(d["left"], depth),
                     expr_from_data(d["right"], depth))
    if "neg" in d:
        return Neg(expr_from_data(d["neg"], depth))
    raise ValueError(f"unknown expression node {d!r}")
