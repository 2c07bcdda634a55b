"""From the Lark parse tree to the IR: R's formula algebra and every semantic check.

Three readings of the same tree:

- *formula level* (right of ``~``, and the left of a group term's ``|``): ``+ - * / : ^ %in%``
  are term algebra, ``0``/``1`` control the intercept, group terms and offsets are collected;
- *value level* (inside ``I(...)``, function arguments, the response): the same operators are
  arithmetic, producing :class:`~formulang.ir.expr.Expr` trees;
- *grouping level* (right of ``|``): the algebra over plain column names, expanded into one
  group term per resulting factor, as lme4's ``reformulas`` does.

Every check raises :class:`FormulaError` with the span of the node at fault.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

import lark

from ..errors import FormulaError, PriorError
from ..errors import shorten as short
from ..ir.expr import BinOp, Call, Column, Expr, Neg, Number, is_dunder_name
from ..ir.formula import Formula, GroupTerm, Response, Term
from ..ir.functions import FUNCTIONS, GP_COVS, SMOOTH_BASES, VALUE_ROLES, unknown_function
from ..ir.prior import DISTRIBUTIONS, PARAMETER_ALIASES, Prior, unknown_distribution
from .arguments import call_problem, kwarg_value, positional_value, vector_value
from .response import read_response

Node = "lark.Tree | lark.Token"
TermSet = frozenset  # a term during expansion: the set of its factors

_ARITHMETIC = {"add": "+", "sub": "-", "mul": "*", "div": "/", "pow": "^"}
_PRODUCTS = ("mul", "div", "interact", "within", "pow")
_GROUPING_OPS = ("add", "mul", "interact", "div")


def span(node) -> tuple[int, int]:
    """Character span of a token or subtree (computed from its outermost tokens)."""
    return _edge_token(node, 0).start_pos, _edge_token(node, -1).end_pos


def _edge_token(node, side: int) -> lark.Token:
    # Only called when reporting an error, so the parser can skip tracking positions.
    while not isinstance(node, lark.Token):
        children = [c for c in node.children if c is not None]
        node = children[side]
    return node


@dataclass
class _Scope:
    """Mutable state while expanding one formula or one group term's left side."""

    where: str  # "fixed" or "group"
    intercept: bool = True
    groups: list[GroupTerm] = field(default_factory=list)
    offsets: list[Expr] = field(default_factory=list)
    smooths: list[Call] = field(default_factory=list)


class _Reader:
    def __init__(self, text: str):
        self.text = text
        self.first_seen: dict[Expr, int] = {}  # factor -> order of first appearance
        self.where_seen: dict[Expr, tuple[int, int]] = {}

    def fail(self, message: str, node) -> FormulaError:
        start, end = span(node) if not isinstance(node, tuple) else node
        return FormulaError(message, self.text, start, end)

    # ---- names and numbers ---------------------------------------------------------------
    def column(self, node) -> Column:
        tok = node.children[0]
        if node.data == "quoted_name":
            return Column(tok.value[1:-1])
        name = tok.value
        if is_dunder_name(name):
            raise self.fail(f"'{short(name)}': names with double underscores are not allowed in a "
                            "formula (a formula is data, never code; quote a real column name "
                            "with backticks)", tok)
        if name == ".":
            raise self.fail("'.' (all other columns) is not supported: list the columns", tok)
        return Column(name)

    def number(self, node) -> float:
        value = float(node.children[0].value)
        if not math.isfinite(value):
            raise self.fail("number too large", node)
        return value

    # ---- calls -----------------------------------------------------------------------------
    def call_parts(self, node):
        """Check a call against the whitelist; return (spec, positional nodes, kwargs)."""
        return self.call_arguments(node)[:3]

    def call_arguments(self, node):
        """:meth:`call_parts` and how many of the kwargs were written by position."""
        name_tok, _, args_node, _ = node.children
        name = name_tok.value
        if is_dunder_name(name):
            raise self.fail(f"'{short(name)}': names with double underscores are not allowed in a "
                            "formula (a formula is data, never code)", name_tok)
        spec = FUNCTIONS.get(name)
        if spec is None:
            raise self.fail(unknown_function(name), name_tok)
        if spec.role in ("addition", "response") and name != "cbind":
            return spec, [], (), 0  # read by parse/response.py; elsewhere the caller refuses it
        positional, kwargs, by_position = [], {}, []
        for arg in args_node.children[::2] if args_node is not None else []:
            if isinstance(arg, lark.Tree) and arg.data == "kwarg":
                key_tok, _, value_node = arg.children
                kwargs[key_tok.value] = self.kwarg_value(spec, key_tok, value_node, kwargs)
            elif arg.data == "text_arg" and not any(
                    t is str for k, t, _ in spec.kwargs if k in spec.extra):
                raise self.fail(f"{name}(): a quoted text is not a value here", arg)
            elif len(positional) < spec.nargs and arg.data != "text_arg":
                positional.append(arg)
            elif len(by_position) < len(spec.extra):
                by_position.append(arg)  # poly(x, 2): degree by position, as R allows
            else:
                positional.append(arg)  # one too many: counted below
        if len(positional) != spec.nargs:
            noun = "argument" if spec.nargs == 1 else "arguments"
            most = f" (and {', '.join(spec.extra)})" if spec.extra else ""
            got = len(positional) + len(by_position)
            more = ""
            if name == "t2" and got > spec.nargs:
                more = "; t2() of more than two variables is not supported yet"
            elif name == "s" and got > spec.nargs:
                more = "; a smooth of two variables is t2(x, z)"
            elif spec.kwargs and got > spec.nargs:  # C(g, Treatment("b")), C(g, contr.sum)
                more = "; its settings go by name: " + ", ".join(
                    f"{key} = ..." for key, _, _ in spec.kwargs)
            raise self.fail(f"{name}() takes {spec.nargs} {noun}{most}, got {got}{more}", node)
        named = dict(kwargs)
        kwargs = {}
        for key, arg in zip(spec.extra, by_position):
            if key in named:
                raise self.fail(f"argument '{key}' is given twice", arg)
            kwargs[key] = self.positional_value(spec, key, arg)
        # Keyword arguments equal to their defaults are dropped: scale(x, center = TRUE) is
        # scale(x), so equal models compare equal. Those written by position stay, first, as
        # R's deparse prints them (poly(x, 2)1 is R's column name).
        defaults = {k: d for k, _, d in spec.kwargs}
        ordered = tuple(kwargs.items()) + tuple(
            (k, named[k]) for k, _, _ in spec.kwargs if k in named and named[k] != defaults[k])
        return spec, positional, ordered, len(kwargs)

    def checked_call(self, spec, positional, kwargs, npos, node) -> Call:
        """The call, once the arguments that need no data make sense (a basis's degree and
        df, dummy's level); the data's checks come at binding (:mod:`formulang.data.bases`)."""
        call = Call(spec.name, tuple(self.value(a) for a in positional), kwargs, npos)
        problem = call_problem(call)
        if problem:
            raise self.fail(problem, node)
        return call

    def positional_value(self, spec, key, arg):
        return positional_value(self, spec, key, arg)

    def kwarg_value(self, spec, key_tok, value_node, seen):
        return kwarg_value(self, spec, key_tok, value_node, seen)

    def smooth_kwarg(self, spec, key, want, toks, value_node):
        """``k = 10``, ``c = 1.25`` (positive numbers), ``bs = "tp"``, ``by = f`` (a column)."""
        if want is float:
            if len(toks) == 1 and toks[0].type == "NUMBER":
                value = float(toks[0].value)
                if math.isfinite(value) and value > 0 and (key != "k" or value == int(value)):
                    return value
            what = "a whole number of at least 1" if key == "k" else "a positive number"
            raise self.fail(f"'{key}' takes {what}", value_node)
        if want is bool:
            if len(toks) == 1 and toks[0].value in ("TRUE", "FALSE", "True", "False", "T", "F"):
                return toks[0].value in ("TRUE", "True", "T")
            raise self.fail(f"'{key}' takes TRUE or FALSE", value_node)
        value = toks[0].value[1:-1] if toks[0].type == "STRING" else toks[0].value
        if key == "by":
            if toks[0].type in ("STRING", "NAME") and len(toks) == 1:
                return value
            raise self.fail("'by' takes a column name, e.g. by = f", value_node)
        choices = {"bs": SMOOTH_BASES, "cov": GP_COVS}[key]
        if len(toks) != 1 or value not in choices:
            raise self.fail(f"unknown {key} = {short(value)!r} for {spec.name}(); choices: "
                            f"{', '.join(choices)}", value_node)
        return value

    def smooth_vector(self, spec, key, vector, value_node):
        """t2's per-margin ``k = c(5, 6)`` and ``bs = c("cr", "tp")``, one value per margin."""
        if spec.name != "t2" or key not in ("k", "bs"):
            raise self.fail(f"'{key}' takes one value, not a vector", value_node)
        values = vector_value(self, spec, key, tuple if key == "k" else list, vector)
        if len(values) != spec.nargs:
            raise self.fail(f"t2(): '{key}' takes one value per margin ({spec.nargs}), got "
                            f"{len(values)}", value_node)
        for v in values:
            if key == "k" and not (v >= 1 and float(v).is_integer()):
                raise self.fail("'k' takes whole numbers of at least 1", value_node)
            if key == "bs" and v not in SMOOTH_BASES:
                raise self.fail(f"unknown bs = {short(v)!r} for t2(); choices: "
                                f"{', '.join(SMOOTH_BASES)}", value_node)
        return tuple(values)

    # ---- value level: arithmetic -------------------------------------------------------------
    def value(self, node) -> Expr:
        kind = node.data
        if kind in ("name", "quoted_name"):
            return self.column(node)
        if kind == "number":
            return Number(self.number(node))
        if kind in _ARITHMETIC:
            left, _, right = node.children
            return BinOp(_ARITHMETIC[kind], self.value(left), self.value(right))
        if kind == "compare":
            left, op, right = node.children
            return BinOp(op.value, self.value(left), self.value(right))
        if kind == "neg":
            return Neg(self.value(node.children[1]))
        if kind in ("pos", "paren"):
            return self.value(node.children[1])
        if kind == "call":
            spec, positional, kwargs, npos = self.call_arguments(node)
            if spec.role not in VALUE_ROLES:
                raise self.fail(self._misplaced(spec.name, "inside an expression"),
                                node.children[0])
            return self.checked_call(spec, positional, kwargs, npos, node)
        if kind == "text_arg":
            raise self.fail("a quoted text is not a value here", node)
        if kind in ("interact", "within"):
            op = node.children[1].value
            raise self.fail(f"'{op}' is formula algebra, not arithmetic; inside an expression "
                            "use + - * / ^", node.children[1])
        if kind in ("group", "group_uncorrelated", "group_id"):
            raise self.fail("a group term cannot be inside an expression", node)
        raise self.fail(f"unexpected {kind}", node)  # pragma: no cover

    def _misplaced(self, name: str, where: str) -> str:
        role = FUNCTIONS[name].role
        if role == "response":
            return f"{name}() can only be the response, on the left of '~'"
        if role == "addition":
            return (f"{name}() is a response addition: write it after '|' on the left of '~' "
                    f"({FUNCTIONS[name].doc})")
        if role == "offset":
            return "offset() must be added to the formula on its own, not used " + where
        if role == "categorical":
            return f"{name}() marks a factor of the formula; it cannot be used {where}"
        if role == "basis":
            return (f"{name}() makes several columns: it can be a term or part of an "
                    f"interaction (y ~ {name}(x, ...) or {name}(x, ...):g), not used {where}")
        if role == "smooth":
            return f"{name}() is a smooth term: add it to the formula on its own, not {where}"
        return f"{name}() cannot be used {where}"  # pragma: no cover

    # ---- formula level: R's term algebra -----------------------------------------------------
    def factor(self, node) -> Expr:
        """A formula-level variable: a column, a transform, I(...), C(...)."""
        if node.data in ("name", "quoted_name"):
            expr: Expr = self.column(node)
        else:
            spec, positional, kwargs, npos = self.call_arguments(node)
            if spec.role in ("response", "addition"):
                raise self.fail(self._misplaced(spec.name, "here"), node.children[0])
            expr = self.checked_call(spec, positional, kwargs, npos, node)
        self.first_seen.setdefault(expr, len(self.first_seen))
        self.where_seen.setdefault(expr, span(node))
        return expr

    def terms(self, node, scope: _Scope, in_product: bool = False,
              removing: bool = False) -> list[TermSet]:
        # Unary signs and parentheses are peeled, and chains of one operator folded, in loops:
        # a long flat formula is not deep.
        negated = False
        while node.data in ("pos", "paren", "neg"):
            if node.data == "neg":
                negated, removing = True, not removing
            node = node.children[1]
        kind = node.data
        if kind in ("add", "sub"):
            first, chain = _left_chain(node, ("add", "sub"))
            kept = dict.fromkeys(self.terms(first, scope, in_product, removing))
            for op, right in chain:
                if op == "add":
                    kept.update(dict.fromkeys(self.terms(right, scope, in_product, removing)))
                else:
                    for t in self.terms(right, scope, in_product, not removing):
                        kept.pop(t, None)
            result = list(kept)
        elif kind in _PRODUCTS:
            result = self.product(node, scope, removing)
        else:
            result = self.term(node, scope, in_product, removing)
        return [] if negated else result

    def term(self, node, scope: _Scope, in_product: bool, removing: bool) -> list[TermSet]:
        """A single term, the intercept, a group term or an offset."""
        kind = node.data
        if kind == "number":
            value = self.number(node)
            if value not in (0.0, 1.0):
                raise self.fail(f"a number in a formula can only be 1 (intercept) or 0 (no "
                                f"intercept); for arithmetic write I(...), e.g. I(x * "
                                f"{short(node.children[0].value)})", node)
            if in_product:
                raise self.fail("the intercept (0 or 1) can only be added or removed, not "
                                "interacted", node)
            scope.intercept = (value == 1.0) != removing
            return []
        if kind in ("group", "group_uncorrelated", "group_id", "bare_group",
                    "bare_group_uncorrelated"):
            if scope.where == "group":
                raise self.fail("group terms cannot be nested inside a group term", node)
            if in_product or removing:
                raise self.fail("a group term can only be added to a formula, not interacted "
                                "or removed", node)
            scope.groups.extend(self.group_terms(node))
            return []
        if kind == "compare":
            raise self.fail("a comparison is a value: write it inside I(), e.g. I(x > 0)",
                            node.children[1])
        if kind == "call" and node.children[0].value == "offset":
            if scope.where == "group":
                raise self.fail("offset() cannot be inside a group term", node)
            if in_product or removing:
                raise self.fail("offset() must be added to the formula on its own", node)
            _, positional, _ = self.call_parts(node)
            scope.offsets.append(self.value(positional[0]))
            return []
        if kind == "call" and FUNCTIONS.get(node.children[0].value, None) is not None and \
                FUNCTIONS[node.children[0].value].role == "smooth":
            name = node.children[0].value
            if scope.where == "group" or in_product or removing:
                raise self.fail(f"{name}() is a smooth term: add it to the formula on its own "
                                "(not inside a group term, an interaction or a removal)", node)
            spec, positional, kwargs = self.call_parts(node)
            for arg in positional:
                if arg.data not in ("name", "quoted_name"):
                    raise self.fail(f"{name}() takes column names", arg)
            scope.smooths.append(Call(name, tuple(self.value(a) for a in positional), kwargs))
            return []
        if kind in ("name", "quoted_name", "call"):
            return [TermSet([self.factor(node)])]
        raise self.fail(f"unexpected {kind}", node)  # pragma: no cover

    def product(self, node, scope: _Scope, removing: bool) -> list[TermSet]:
        """``a*b``, ``a:b``, ``a/b``, ``a %in% b``, ``a^k``: chains folded from the left."""
        first, chain = _left_chain(node, _PRODUCTS)
        left = self.terms(first, scope, True, removing)
        for op, right_node in chain:
            if op == "pow":
                left = _power(left, self.power(right_node))
                continue
            right = self.terms(right_node, scope, True, removing)
            if op == "interact":
                left = _unique([a | b for a in left for b in right])
            elif op == "mul":
                left = _unique(left + right + [a | b for a in left for b in right])
            elif op == "div":  # a/b = a + b %in% a: each right term nested in all of the left
                outer = TermSet().union(*left)
                left = _unique(left + [b | outer for b in right])
            else:  # a %in% b
                inner = TermSet().union(*right)
                left = _unique([a | inner for a in left])
        return left

    def power(self, node) -> int:
        """The exponent of ``(a + b)^k``: a whole number of at least 1, written as such."""
        while node.data == "paren":
            node = node.children[1]
        text = node.children[0].value if node.data == "number" else None
        value = float(text) if text is not None else None
        if value is None or not (1 <= value < math.inf and value.is_integer()):
            raise self.fail("in a formula, '^' takes a whole number of at least 1, as in "
                            "(a + b)^2; for a power of a value write I(x^2)", node)
        # R caps the power at the number of factors (a higher one adds nothing), and so does
        # _power: only whether it is larger than that matters here.
        return int(min(value, 10**9))

    # ---- group terms ------------------------------------------------------------------------
    def group_terms(self, node) -> list[GroupTerm]:
        if node.data.startswith("bare_"):  # y ~ 1 | g, lme4's spelling of y ~ (1 | g)
            lhs_node, bar, factor_node = node.children
        else:
            lhs_node, bar, factor_node, _ = node.children[1:]
        scope = _Scope("group")
        # A group term's left side orders its factors by its own text, as lme4 reads it as a
        # formula of its own: (a:b | g) stays a:b whatever the fixed part says.
        outer, self.first_seen = self.first_seen, {}
        try:
            terms = self.terms(lhs_node, scope)
            ordered = self.canonical(terms)
        finally:
            self.first_seen = outer
        if not terms and not scope.intercept:
            raise self.fail(f"this group term has no effects: write (1 {bar.value} g) for a "
                            "varying intercept", node)
        factors = self.grouping(factor_node)
        correlated = bar.type != "DOUBLE_BAR"
        gid = self.group_id(bar) if bar.type == "ID_BAR" else ""
        return [GroupTerm(ordered, scope.intercept, f, correlated, gid) for f in factors]

    def group_id(self, bar) -> str:
        """The ID of ``|p|`` (brms's: terms sharing it on one factor are correlated across
        the formulas of a model): a name, as R's."""
        inner = bar.value.strip("|")
        start = bar.start_pos + bar.value.index(inner)
        if bar.value.startswith("||"):
            raise FormulaError(
                "'||' with an ID has no reading: an ID correlates terms across formulas and "
                "'||' makes effects uncorrelated; write (1 |p| g) for correlated effects, or "
                "(1 + x || g) without an ID for independent ones", self.text, bar.start_pos,
                bar.end_pos)
        gid = inner.strip()
        lead = len(inner) - len(inner.lstrip())
        if not _ID.fullmatch(gid):
            raise FormulaError(f"{gid!r} is not a valid ID: an ID between the bars of "
                               "(1 |p| g) is a name (letters, digits, '.' and '_', starting "
                               "with a letter)", self.text, start + lead,
                               start + lead + len(gid))
        return gid

    def grouping(self, node) -> list[tuple[str, ...]]:
        """Expand a grouping expression (a, a:b, a/b, a*b...) into grouping factors."""
        order: dict[str, int] = {}

        def walk(n) -> list[frozenset]:
            while n.data == "paren":
                n = n.children[1]
            kind = n.data
            if kind in ("name", "quoted_name"):
                name = self.column(n).name
                order.setdefault(name, len(order))
                return [frozenset([name])]
            if kind == "call" and FUNCTIONS.get(n.children[0].value) is not None \
                    and FUNCTIONS[n.children[0].value].role == "categorical":
                _, positional, kwargs = self.call_parts(n)
                if positional[0].data in ("name", "quoted_name") and not kwargs:
                    return walk(positional[0])  # (1 | factor(g)) is (1 | g)
            if kind in _GROUPING_OPS:
                first, chain = _left_chain(n, _GROUPING_OPS)
                a = walk(first)
                for op, right in chain:
                    b = walk(right)
                    if op == "add":
                        a = _unique(a + b)
                    elif op == "interact":
                        a = _unique([x | y for x in a for y in b])
                    elif op == "mul":
                        a = _unique(a + b + [x | y for x in a for y in b])
                    else:
                        outer = frozenset().union(*a)
                        a = _unique(a + [y | outer for y in b])
                return a
            raise self.fail("a grouping factor must be a column or an interaction of columns "
                            "(g, a:b, a/b)", n)

        sets = walk(node)
        sets.sort(key=len)  # stable: a/b/c gives a, a:b, a:b:c
        return [tuple(sorted(s, key=order.__getitem__)) for s in sets]

    # ---- ordering ---------------------------------------------------------------------------
    def canonical(self, terms: list[TermSet]) -> tuple[Term, ...]:
        """R's term order (by degree, stable), factors ordered by first appearance in it."""
        in_text_order = [sorted(t, key=self.first_seen.__getitem__) for t in terms]
        in_text_order.sort(key=len)
        rank: dict[Expr, int] = {}
        for factors in in_text_order:
            for f in factors:
                rank.setdefault(f, len(rank))
        return tuple(Term(tuple(sorted(fs, key=rank.__getitem__))) for fs in in_text_order)

    # ---- the response -----------------------------------------------------------------------
    def response(self, node) -> Response:
        return read_response(self, node)  # the value, its additions, other libraries' spellings

    # ---- the whole formula ------------------------------------------------------------------
    def formula(self, tree) -> Formula:
        children = tree.children
        lhs_node = children[0] if len(children) == 3 else None
        rhs_node = children[-1]
        response = self.response(lhs_node) if lhs_node is not None else None
        scope = _Scope("fixed")
        terms = self.canonical(self.terms(rhs_node, scope))
        groups = tuple(dict.fromkeys(scope.groups))
        # y ~ 0 (no population-level term, no intercept) is a model R accepts: the linear
        # predictor is zero, or the group effects and offsets alone.
        if response is not None:
            for term in terms:
                if response.value in term.factors:
                    raise self.fail(f"the response '{short(str(response.value))}' also "
                                    "appears on the right-hand side",
                                    self.where_seen[response.value])
        return Formula(response, scope.intercept, terms, groups,
                       tuple(dict.fromkeys(scope.offsets)), smooths=tuple(dict.fromkeys(scope.smooths)))

    # ---- priors -----------------------------------------------------------------------------
    def prior(self, tree) -> Prior:
        name_tok, _, args_node, _ = tree.children
        spec = DISTRIBUTIONS.get(name_tok.value)
        if spec is None:
            raise PriorError(unknown_distribution(name_tok.value), self.text, *span(name_tok))
        values: dict[str, tuple[float, tuple[int, int]]] = {}
        args = args_node.children[::2] if args_node is not None else []
        for i, arg in enumerate(args):
            if arg.data == "prior_kwarg":
                key_tok, _, num = arg.children
                key = PARAMETER_ALIASES.get(key_tok.value, key_tok.value)  # nu: df
                if key not in spec.params:
                    raise PriorError(f"{spec.name}() has no parameter '{short(key)}' (its "
                                     f"parameters: {', '.join(spec.params)})", self.text,
                                     *span(key_tok))
            else:
                num = arg.children[0]
                if i >= len(spec.params):
                    raise PriorError(f"{spec.name}() takes {len(spec.params)} parameters "
                                     f"({', '.join(spec.params)}), got {len(args)}",
                                     self.text, *span(arg))
                key = spec.params[i]
            if key in values:
                raise PriorError(f"parameter '{key}' is given twice", self.text, *span(arg))
            sign = -1.0 if len(num.children) == 2 else 1.0
            value = sign * float(num.children[-1].value)
            if not math.isfinite(value):
                raise PriorError("number too large", self.text, *span(num))
            values[key] = (value, span(num))
        missing = [p for p in spec.params if p not in values]
        if missing:
            raise PriorError(f"{spec.name}() needs {len(spec.params)} parameters "
                             f"({', '.join(spec.params)}); missing {', '.join(missing)}",
                             self.text, *span(tree))
        for param, constraint in zip(spec.params, spec.constraints):
            value, where = values[param]
            if constraint == "positive" and not value > 0:
                raise PriorError(f"{spec.name}(): {param} must be positive, got "
                                 f"{value:g}", self.text, *where)
        if spec.name == "uniform" and not values["lower"][0] < values["upper"][0]:
            raise PriorError("uniform(): lower must be below upper", self.text, *span(tree))
        return Prior(spec.name, tuple((p, values[p][0]) for p in spec.params))


_ID = re.compile(r"[A-Za-z][A-Za-z0-9_.]*")


def _unique(terms: list[TermSet]) -> list[TermSet]:
    return list(dict.fromkeys(terms))


def _left_chain(node, kinds) -> tuple:
    """A left-deep chain ``((a op b) op c) ...`` of operators in ``kinds`` as its first operand
    and the list of (operator, right operand), read without recursion."""
    chain = []
    while isinstance(node, lark.Tree) and node.data in kinds:
        chain.append((node.data, node.children[2]))
        node = node.children[0]
    chain.reverse()
    return node, chain


def _power(terms: list[TermSet], power: int) -> list[TermSet]:
    """R's PowerTerms, ``(a + b)^k``: repeated products with the left, left outer. The power is
    capped at the number of factors, as R caps it: products of more add nothing."""
    power = min(power, max(len(TermSet().union(*terms)), 1))
    result = terms
    for _ in range(power - 1):
        result = _unique([a | b for a in terms for b in result])
    return result


def formula_from_tree(tree, text: str) -> Formula:
    return _Reader(text).formula(tree)


def prior_from_tree(tree, text: str) -> Prior:
    return _Reader(text).prior(tree)
