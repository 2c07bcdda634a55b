"""A call's arguments beyond its values: keyword values (flags, numbers, levels, vectors
written ``c(1, 2)`` or ``[1, 2]``), keyword arguments written by position (``poly(x, 2)``),
and the checks of a call's arguments that need no data (:func:`call_problem`).

Called by :mod:`formulang.parse.to_ir` with its reader (``fail``, ``number``); imports
nothing of it.

>>> from formulang.ir.expr import Column
>>> call_problem(Call("bs", (Column("x"),), (("df", 2.0),)))
'bs(): df = 2 is too small for degree 3: the basis has at least 3 columns'
"""

from __future__ import annotations

import math

import lark

from ..errors import shorten as short
from ..ir.expr import Call, Number


def positional_value(reader, spec, key, arg):
    """A keyword argument written by position: a number, or a quoted level (dummy)."""
    want = {k: t for k, t, _ in spec.kwargs}[key]
    if arg.data == "text_arg":
        if want is str:
            return arg.children[0].value[1:-1]
        raise reader.fail(f"{spec.name}(): '{key}' takes a number, not a text", arg)
    node, sign = arg, 1.0
    while node.data in ("neg", "pos", "paren"):
        sign = -sign if node.data == "neg" else sign
        node = node.children[1]
    if node.data != "number" or want not in (int, float, str):
        raise reader.fail(f"{spec.name}(): '{key}' takes "
                        + ("a quoted level" if want is str else "a number")
                        + ", written as a literal", arg)
    value = sign * reader.number(node)
    if want is str:
        return str(Number(abs(value))) if value >= 0 else "-" + str(Number(-value))
    if want is int and not value.is_integer():
        raise reader.fail(f"{spec.name}(): '{key}' takes a whole number", arg)
    return value

def check_keyword(reader, function: str, key_tok, allowed, seen) -> str:
    """``key_tok``'s name, or a caret under it: not one of ``allowed`` (the keywords of
    ``function``), or already in ``seen``."""
    key = key_tok.value
    if key not in allowed:
        valid = ", ".join(allowed) if allowed else "none"
        raise reader.fail(f"{function}() has no argument '{short(key)}' (its keyword arguments: "
                          f"{valid})", key_tok)
    if key in seen:
        raise reader.fail(f"argument '{key}' is given twice", key_tok)
    return key


def kwarg_value(reader, spec, key_tok, value_node, seen):
    allowed = {k: t for k, t, _ in spec.kwargs}
    key = check_keyword(reader, spec.name, key_tok, allowed, seen)
    toks = value_node.children
    want = allowed[key]
    if spec.role == "smooth":  # k, c, bs, by, cov: the reader's rules for smooth terms
        if isinstance(toks[0], lark.Tree):  # t2's per-margin k = c(5, 5)
            return reader.smooth_vector(spec, key, toks[0], value_node)
        return reader.smooth_kwarg(spec, key, want, toks, value_node)
    if isinstance(toks[0], lark.Tree):  # a vector: c(1, 2) or [1, 2]
        return vector_value(reader, spec, key, want, toks[0])
    if want in (tuple, list):
        what = "numbers" if want is tuple else "levels"
        raise reader.fail(f"'{key}' takes a vector of {what}, e.g. {key} = c(1, 2) or "
                        f"{key} = [1, 2]", value_node)
    if want is bool:
        if len(toks) == 1 and toks[0].type == "NAME" and toks[0].value in (
                "TRUE", "FALSE", "True", "False", "T", "F"):
            return toks[0].value in ("TRUE", "True", "T")
        raise reader.fail(f"'{key}' takes TRUE or FALSE", value_node)
    if want in (int, float):
        if toks[-1].type != "NUMBER":
            raise reader.fail(f"'{key}' takes a number", value_node)
        value = float(toks[-1].value) * (-1.0 if toks[0].type == "MINUS" else 1.0)
        if not math.isfinite(value):
            raise reader.fail("number too large", value_node)
        if want is int and not value.is_integer():
            raise reader.fail(f"'{key}' takes a whole number", value_node)
        return value
    if want is str:
        if toks[0].type == "STRING":
            return toks[0].value[1:-1]
        if toks[-1].type == "NUMBER":  # a numeric-looking level: ref = 2, ref = -1
            value = float(toks[-1].value)
            if not math.isfinite(value):
                raise reader.fail("number too large", value_node)
            negative = toks[0].type == "MINUS" and value != 0
            return ("-" if negative else "") + str(Number(value))
        raise reader.fail(f"'{key}' takes a quoted level, e.g. {key} = \"b\"", value_node)
    raise AssertionError(want)  # pragma: no cover

def vector_value(reader, spec, key, want, vector) -> tuple:
    """``c(1, 2)`` or ``[1, 2]``: numbers (``tuple``) or levels (``list``), never empty."""
    toks = [t for t in vector.children if t is not None]
    if toks[0].type == "NAME" and toks[0].value != "c":
        raise reader.fail(f"'{key}' takes a vector written c(...) or [...], not "
                        f"{short(toks[0].value)}(...)", toks[0])
    items = [t for t in toks if isinstance(t, lark.Tree)]
    if want not in (tuple, list):
        raise reader.fail(f"'{key}' takes a single value, not a vector", vector)
    if not items:
        raise reader.fail(f"'{key}' takes at least one value", vector)
    values = []
    for item in items:
        parts = item.children
        if parts[-1].type == "STRING":
            if want is tuple:
                raise reader.fail(f"'{key}' takes numbers", item)
            values.append(parts[-1].value[1:-1])
            continue
        value = float(parts[-1].value) * (-1.0 if parts[0].type == "MINUS" else 1.0)
        if not math.isfinite(value):
            raise reader.fail("number too large", item)
        values.append(value if want is tuple else
                      (str(Number(abs(value))) if value >= 0 else "-" + str(Number(-value))))
    return tuple(values)


def call_problem(call: Call) -> str:
    """What is wrong with a call's arguments whatever the data ("" when nothing)."""
    kw = dict(call.kwargs)
    name = call.func
    if name == "dummy" and "level" not in kw:
        return 'dummy() needs the level it marks: dummy(f, "level")'
    if name == "C" and "ref" in kw and "levels" in kw:
        return "C(): give ref = or levels = (whose first level is the reference), not both"
    if name == "C" and "levels" in kw and len(set(kw["levels"])) < len(kw["levels"]):
        return "C(): levels = [...] names a level twice"
    if name == "round" and not float(kw.get("digits", 0)).is_integer():
        return "round(): digits must be a whole number"
    if name not in ("poly", "bs", "ns"):
        return ""
    degree = int(kw.get("degree", 1 if name == "poly" else 3))
    if degree < 1:
        return f"{name}(): degree must be at least 1, got {degree}"
    if name == "poly":
        return ""
    if "df" in kw and "knots" in kw:
        return (f"{name}(): give df = (knots at quantiles of the data) or knots =, not both "
                f"(R ignores df when knots are given)")
    knots = kw.get("knots", ())
    if list(knots) != sorted(knots):
        return f"{name}(): knots must be in increasing order"
    boundary = kw.get("Boundary.knots")
    if boundary is not None and (len(boundary) != 2 or not boundary[0] != boundary[1]):
        return f"{name}(): Boundary.knots takes two different numbers, c(lower, upper)"
    if boundary is not None and any(not min(boundary) < k < max(boundary) for k in knots):
        return f"{name}(): every knot must lie strictly inside Boundary.knots"
    least = (degree if name == "bs" else 1) + int(bool(kw.get("intercept", False)))
    if "df" in kw and kw["df"] < least:
        what = f"degree {degree}" if name == "bs" else "a natural spline"
        return (f"{name}(): df = {int(kw['df'])} is too small for {what}"
                + (" with intercept = TRUE" if kw.get("intercept") else "")
                + f": the basis has at least {least} column{'s' if least > 1 else ''}")
    return ""
