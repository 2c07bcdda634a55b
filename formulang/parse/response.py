"""The left of ``~``: the response, its brms addition terms, and bambi's and formulae's spellings.

brms's additions come after ``|``: ``trials(n)``, ``weights(w)``, ``cens(c)`` /
``cens(c, y2)``, ``trunc(lb = 0, ub = 100)``, ``se(s)`` / ``se(s, sigma = TRUE)``, ``rate(n)``,
joined with ``+``. The spellings other libraries use for the same responses are read into the
same :class:`~formulang.ir.formula.Response` as their brms twins (so ``str()`` prints the brms
form):

============================================  ===============================================
bambi / formulae                              brms
============================================  ===============================================
``censored(y, status)``                       ``y | cens(status)``
``censored(lower, upper, status)``            ``lower | cens(status, upper)``
``truncated(y, lb, ub)``                      ``y | trunc(lb = lb, ub = ub)``
``constrained(y, lb, ub)``                    ``y | trunc(lb = lb, ub = ub)``
``p(y, n)``, ``prop(y, n)``                   ``y | trials(n)``
============================================  ===============================================

The reader is the parser's (:class:`formulang.parse.to_ir._Reader`): this module uses its
``value``, ``fail``, ``call_parts`` and ``_misplaced`` and imports nothing of it.

>>> from formulang import parse
>>> str(parse("censored(lo, hi, status) ~ x").response)
'lo | cens(status, hi)'
>>> str(parse("y | trunc(0, 100) ~ x").response)
'y | trunc(lb = 0, ub = 100)'
"""

from __future__ import annotations

import lark

from ..errors import shorten as short
from ..ir.expr import Column, Expr, Neg, Number, is_dunder_name
from ..ir.formula import Response
from ..ir.functions import FUNCTIONS, VALUE_ROLES, names_with_role
from .arguments import check_keyword

# bambi's and formulae's response calls: name -> (least, most) positional arguments
_SPELLINGS = {"censored": (2, 3), "truncated": (1, 3), "constrained": (1, 3), "p": (2, 2),
              "prop": (2, 2)}
_TRUE, _FALSE = ("TRUE", "True", "T"), ("FALSE", "False", "F")


def read_response(reader, node) -> Response:
    """The :class:`Response` of a formula's left side (``lhs`` node)."""
    value_node = node.children[0]
    additions = node.children[2] if len(node.children) == 3 else None
    found: dict[str, object] = {}
    value, failures = _value(reader, value_node, found)
    for item in _flatten_add(additions) if additions is not None else []:
        if item.data != "call":
            raise reader.fail("after '|' on the left of '~' come addition terms such as "
                              "trials(n), weights(w), cens(c), trunc(lb = 0), se(s) or "
                              "rate(n)", item)
        name_tok = item.children[0]
        spec = FUNCTIONS.get(name_tok.value)
        if spec is None or spec.role != "addition":
            raise reader.fail(f"'{short(name_tok.value)}' is not a supported response addition; "
                              f"supported: {', '.join(names_with_role('addition'))}", name_tok)
        _addition(reader, item, spec.name, found)
    if failures is not None and "trials" in found:
        raise reader.fail("use either cbind(successes, failures) or successes | trials(n), "
                          "not both", node)
    return Response(value, failures, found.get("trials"), found.get("weights"),
                    found.get("cens"), found.get("y2"), found.get("lb"), found.get("ub"),
                    found.get("se"), bool(found.get("se_sigma", False)), found.get("rate"))


def _flatten_add(node) -> list:
    """The items of a sum, left to right (iteratively: a long sum is not deep)."""
    items, stack = [], [node]
    while stack:
        node = stack.pop()
        if isinstance(node, lark.Tree) and node.data == "add":
            stack += [node.children[2], node.children[0]]
        elif isinstance(node, lark.Tree) and node.data == "paren":
            stack.append(node.children[1])
        else:
            items.append(node)
    return items


def _value(reader, node, found: dict) -> tuple[Expr, Expr | None]:
    """The response value (and cbind's failures); a bambi or formulae spelling records its
    additions in ``found``."""
    if node.data != "call":
        return reader.value(node), None
    name = node.children[0].value
    if name == "cbind":
        _, (succ, fail), _ = reader.call_parts(node)
        return reader.value(succ), reader.value(fail)
    if name not in _SPELLINGS:
        spec, _, _ = reader.call_parts(node)
        if spec.role not in VALUE_ROLES:
            raise reader.fail(reader._misplaced(spec.name, "as the response"), node.children[0])
        return reader.value(node), None
    positional, kwargs = _arguments(reader, node, _SPELLINGS[name],
                                    ("lb", "ub") if name in ("truncated", "constrained") else ())
    if name == "censored":  # bambi: censored(y, status) or censored(lower, upper, status)
        _put(reader, found, "cens", reader.value(positional[-1]), node)
        if len(positional) == 3:
            _put(reader, found, "y2", reader.value(positional[1]), node)
    elif name in ("truncated", "constrained"):  # bambi: (x, lb=None, ub=None)
        _bounds(reader, node, positional[1:], kwargs, found)
    else:  # formulae: p(successes, trials), prop(successes, trials)
        _put(reader, found, "trials", reader.value(positional[1]), node)
    return reader.value(positional[0]), None


def _addition(reader, item, name: str, found: dict) -> None:
    if name == "cens":  # cens(c), cens(c, y2), cens(c, y2 = hi)
        positional, kwargs = _arguments(reader, item, (1, 2), ("y2",))
        _put(reader, found, "cens", reader.value(positional[0]), item)
        if len(positional) == 2 and "y2" in kwargs:
            raise reader.fail("cens() is given y2 twice", item)
        y2 = reader.value(positional[1]) if len(positional) == 2 else kwargs.get("y2")
        if y2 is not None:
            _put(reader, found, "y2", y2, item)
    elif name == "trunc":  # trunc(lb, ub), trunc(lb = 0), trunc(ub = 100)
        positional, kwargs = _arguments(reader, item, (0, 2), ("lb", "ub"))
        _bounds(reader, item, positional, kwargs, found)
    elif name == "se":  # se(s), se(s, sigma = TRUE)
        positional, kwargs = _arguments(reader, item, (1, 1), ("sigma",))
        _put(reader, found, "se", reader.value(positional[0]), item)
        if "sigma" in kwargs:
            found["se_sigma"] = kwargs["sigma"]
    else:  # trials(n), weights(w), rate(n)
        positional, _ = _arguments(reader, item, (1, 1), ())
        _put(reader, found, name, reader.value(positional[0]), item)


def _put(reader, found: dict, key: str, value, node) -> None:
    if key in found:
        what = {"y2": "the upper end of an interval", "lb": "a lower bound",
                "ub": "an upper bound"}.get(key, f"{key}()")
        raise reader.fail(f"{what} is given twice on the left of '~'", node)
    found[key] = value


def _bounds(reader, node, positional: list, kwargs: dict, found: dict) -> None:
    """Truncation bounds from ``(lb, ub)`` positional or keyword arguments."""
    given = {k: None if v == Column("Inf") else v
             for k, v in zip(("lb", "ub"), (reader.value(p) for p in positional))}
    for key, value in kwargs.items():
        if key in given:
            raise reader.fail(f"'{key}' is given twice", node)
        given[key] = value
    given = {k: v for k, v in given.items() if v is not None}
    if not given:
        raise reader.fail("truncation needs a bound: trunc(lb = 0), trunc(ub = 100) or "
                          "trunc(lb = 0, ub = 100)", node)
    if all(isinstance(given.get(k), Number) for k in ("lb", "ub")) \
            and given["lb"].value >= given["ub"].value:
        raise reader.fail(f"the lower truncation bound ({given['lb']}) must be below the "
                          f"upper one ({given['ub']})", node)
    for key in ("lb", "ub"):
        if key in given:
            _put(reader, found, key, given[key], node)


def _arguments(reader, node, counts: tuple[int, int], keywords: tuple[str, ...]):
    """The positional argument nodes and keyword values of an addition or spelling call;
    keyword values are a Number, a Column, a bool (``TRUE``/``FALSE``) or None (``Inf``,
    ``NULL``, ``None``: no bound)."""
    name_tok, _, args_node, _ = node.children
    name = name_tok.value
    positional, kwargs = [], {}
    for arg in args_node.children[::2] if args_node is not None else []:
        if isinstance(arg, lark.Tree) and arg.data == "kwarg":
            key_tok, _, value_node = arg.children
            key = check_keyword(reader, name, key_tok, keywords, kwargs)
            kwargs[key] = _keyword_value(reader, key, value_node)
        elif kwargs:
            raise reader.fail(f"{name}(): a positional argument after a keyword argument",
                              arg)
        else:
            positional.append(arg)
    least, most = counts
    if not least <= len(positional) <= most:
        want = str(least) if least == most else f"{least} to {most}"
        raise reader.fail(f"{name}() takes {want} argument{'s' if most != 1 else ''}, got "
                          f"{len(positional)}", node)
    return positional, kwargs


def _keyword_value(reader, key: str, value_node):
    toks = value_node.children
    if isinstance(toks[0], lark.Tree):  # a vector, c(1, 2): no addition takes one
        raise reader.fail(f"'{key}' takes a single value, not a vector", value_node)
    if key == "sigma":
        if len(toks) == 1 and toks[0].value in _TRUE + _FALSE:
            return toks[0].value in _TRUE
        raise reader.fail("'sigma' takes TRUE or FALSE", value_node)
    if len(toks) == 2:  # MINUS NUMBER
        return Neg(Number(float(toks[1].value)))
    tok = toks[0]
    if tok.type == "NUMBER":
        return Number(float(tok.value))
    if tok.type == "NAME" and tok.value in ("Inf", "NULL", "None", "NA"):
        return None
    if tok.type == "NAME" and not is_dunder_name(tok.value):
        return Column(tok.value)
    raise reader.fail(f"'{key}' takes a number or a column name", value_node)


__all__ = ["read_response"]
