"""The parser's limits, and the cheap measure that enforces them before anything is expanded.

A formula is data from anywhere (a web form, a file, a fuzzer), so reading it must finish
quickly whatever it says, and whatever it is read as must compare, print and serialise. The
limits (README, "Formula syntax"):

- **length**: the text, and the expanded formula as printed, are at most :data:`MAX_LENGTH`
  characters. The printed expansion of any formula the parser accepts therefore parses again.
- **nesting**: parentheses and calls nest at most :data:`MAX_DEPTH` deep (checked on the text
  before parsing), and so does a value (the response, a function's argument), where each
  operator, call and parenthesis is a level: a value is a tree that is compared, printed and
  serialised recursively. Long flat formulas (``a + b + ...``) are not nested: the formula
  algebra reads chains of one operator in a loop.
- **expansion**: ``x0*x1*...*x17`` or ``(1 | g0*...*g17)`` expand to 2^18 terms. Before
  expanding, :func:`measure` bounds the number of terms (population-level terms, plus each group
  term's effects once for each of its grouping factors) and the length of the expansion, and a
  formula over :data:`MAX_TERMS` terms, or longer than :data:`MAX_LENGTH` once written out,
  is refused with the count. The count is made on the text as written, before repeated or
  removed terms are dropped (so it is exact when there are none).

Powers, ``(a + b)^k``, are capped at the number of factors, as in R (see
:mod:`formulang.parse.to_ir`), so ``x^1e9`` is ``x``.

>>> from formulang import parse, FormulaError
>>> try:
...     parse("y ~ " + "*".join(f"x{i}" for i in range(18)))
... except FormulaError as err:
...     print(err.message[:60])
this formula expands to 262143 terms, more than the limit of
"""

from __future__ import annotations

import lark

from ..ir.expr import MAX_DEPTH

MAX_LENGTH = 20_000
MAX_TERMS = 5_000

_CAP = 10**15  # counts saturate here: bounds are only compared with the limits
_FEW = 24  # factor sets are followed up to this size (2^24 terms is past any limit anyway)

_BINARY = ("add", "sub", "mul", "div", "interact", "within", "pow", "compare")
_GROUPS = ("group", "group_uncorrelated", "group_id", "bare_group", "bare_group_uncorrelated")
_TRANSPARENT = ("args", "kwarg", "kwvalue")  # an argument list is as deep as its arguments
_SEPARATOR = 3  # " + " between printed terms (a factor's length counts the ':' after it)


class Measure:
    """What :func:`measure` found: the first place a limit is crossed, or nothing."""

    def __init__(self):
        self.too_deep = None  # (node, depth): a value nested past MAX_DEPTH
        self.too_big = None  # (node, terms, length): an expansion past a limit


def operator_span(node) -> tuple[int, int]:
    """The span of what makes ``node`` a level: its operator, its '(' or its function name."""
    kind = node.data
    if kind in _BINARY or kind in ("bare_group", "bare_group_uncorrelated"):
        tok = node.children[1]
    elif kind == "call":
        return node.children[0].start_pos, node.children[1].end_pos
    else:
        tok = node.children[0]
        while not isinstance(tok, lark.Token):
            tok = next(c for c in tok.children if c is not None)
    return tok.start_pos, tok.end_pos


def _power(node) -> int:
    """The exponent of ``(...)^k`` for counting: k when it is a whole number, else 1 (the
    reading refuses it)."""
    while isinstance(node, lark.Tree) and node.data == "paren":
        node = node.children[1]
    if isinstance(node, lark.Tree) and node.data == "number":
        value = float(node.children[0].value)
        if 1 <= value < float("inf") and value.is_integer():
            return int(min(value, _CAP))
    return 1


def _power_count(terms: int, power: int) -> int:
    """Terms of ``(t1 + ... + tn)^p``: every product of 1 to p of them."""
    total, choose = 0, 1
    for k in range(1, min(power, terms) + 1):
        choose = choose * (terms - k + 1) // k
        total += choose
        if total >= _CAP:
            return _CAP
    return total


def measure(tree, text: str) -> Measure:
    """Walk the parse tree once, children before parents and without recursion, and find the
    first place where a value nests deeper than :data:`MAX_DEPTH` or the expansion passes a
    limit.

    Each node gets ``(depth, terms, length, width, gterms, glength, factors)``: its height
    read as a value; read as formula algebra (or a grouping expression, the same algebra),
    bounds on its number of terms, on their printed length and on the printed width of all its
    factors together; what the group terms inside it add to the number of terms and to the
    length; and the set of its factors as written, while there are few (``None`` beyond
    :data:`_FEW`): ``n`` distinct factors make at most ``2^n - 1`` terms, however often they
    are repeated.
    """
    found = Measure()
    info: dict[int, tuple] = {}
    # Depth is checked where values start: every call's arguments, and the response.
    value_roots = {id(c.children[0]) for c in tree.children
                   if isinstance(c, lark.Tree) and c.data == "lhs"}
    stack = [(tree, False)]
    while stack:
        node, done = stack.pop()
        if not done:
            stack.append((node, True))
            stack.extend((c, False) for c in node.children if isinstance(c, lark.Tree))
            continue
        row = info[id(node)] = _node_info(node, info, text)
        if row[0] > MAX_DEPTH and found.too_deep is None and (
                node.data == "call" or id(node) in value_roots):
            found.too_deep = (_descend(node, lambda n: info[id(n)][0] > MAX_DEPTH), row[0])
    rhs = tree.children[-1]
    if isinstance(rhs, lark.Tree):
        def size(n) -> tuple[int, int]:
            _, terms, length, _, gterms, glength, _ = info[id(n)]
            return (min(terms + gterms, _CAP),
                    min(length + _SEPARATOR * terms + glength, _CAP))

        def over(n) -> bool:
            terms, length = size(n)
            return n.data != "call" and (terms > MAX_TERMS or length > MAX_LENGTH)

        if over(rhs):
            found.too_big = (_descend(rhs, over),) + size(rhs)
    return found


def _node_info(node, info, text: str) -> tuple:
    kind = node.data
    if kind in ("name", "quoted_name"):
        tok = node.children[0]
        width = tok.end_pos - tok.start_pos
        return 0, 1, width, width + 1, 0, 0, frozenset([tok.value])
    if kind == "number":
        return 0, 0, 0, 0, 0, 0, frozenset()
    kids = [info[id(c)] for c in node.children if isinstance(c, lark.Tree)]
    inner = max((k[0] for k in kids), default=0)
    depth = inner if kind in _TRANSPARENT else inner + 1
    if kind == "call":  # its arguments are values: nothing in them expands
        start, end = node.children[0].start_pos, node.children[-1].end_pos
        return depth, 1, end - start, end - start + 1, 0, 0, frozenset([text[start:end]])
    gterms = min(sum(k[4] for k in kids), _CAP)
    glength = min(sum(k[5] for k in kids), _CAP)
    if kind in ("paren", "pos", "neg"):  # what a minus removes is expanded too
        return (depth,) + kids[0][1:]
    if kind in _GROUPS:
        (_, t1, l1, _, _, _, _), (_, t2, l2, _, _, _, _) = kids[0], kids[1]
        effects = t1 + 1
        # each grouping factor gets "(1 + terms | factor) + ": 9 characters and the terms
        return (depth, 0, 0, 0, min(gterms + effects * t2, _CAP),
                min(glength + t2 * (9 + l1 + _SEPARATOR * t1) + l2, _CAP), frozenset())
    if kind not in _BINARY or kind == "compare":  # neg, lhs, formula...: no terms of its own
        return depth, 0, 0, 0, gterms, glength, frozenset()
    (_, t1, l1, w1, _, _, f1), (_, t2, l2, w2, _, _, f2) = kids[0], kids[1]
    if kind == "add":
        terms, length = t1 + t2, l1 + l2
    elif kind == "sub":  # the removed terms are expanded too
        terms, length = t1 + t2, l1 + l2
    elif kind == "interact":  # each pair of terms joined by a ':'
        terms, length = t1 * t2, l1 * t2 + l2 * t1 + t1 * t2
    elif kind == "mul":
        terms, length = t1 + t2 + t1 * t2, l1 + l2 + l1 * t2 + l2 * t1 + t1 * t2
    elif kind == "div":  # each right term joined with every factor of the left
        terms, length = t1 + t2, l1 + l2 + t2 * w1
    elif kind == "within":
        terms, length = t1, l1 + t1 * w2
    else:  # pow: products of 1 to k terms; each term is in C(t1 - 1, k - 1) of k of them
        power = _power(node.children[2])
        terms = _power_count(t1, power)
        length = (l1 + t1) * (1 + _power_count(t1 - 1, power - 1)) if terms < _CAP else _CAP
    factors = None if f1 is None or f2 is None or len(f1 | f2) > _FEW else f1 | f2
    if factors is not None:  # n factors make at most 2^n - 1 terms, each at most all of them
        terms = min(terms, 2 ** len(factors) - 1)
        length = min(length, terms * sum(len(f) + 1 for f in factors))
    return (depth, min(terms, _CAP), min(length, _CAP), min(w1 + w2, _CAP), gterms, glength,
            factors)


def _descend(node, crossed):
    """The innermost node on the first path of nodes that cross a limit: where it is
    crossed."""
    while True:
        inner = next((c for c in node.children if isinstance(c, lark.Tree) and crossed(c)),
                     None)
        if inner is None:
            return node
        node = inner
