"""Property tests: printing is a fixed point, JSON is exact, and the algebra matches R.

Two generators:

1. Random formulas as *text*, built from a small structured description (fixed-effect algebra
   with ``+ * : / %in% ^``, removals, intercept spellings, group terms with ``|``/``||`` and
   nested/crossed grouping, responses with ``cbind``/``trials``/``weights``, offsets, odd
   spacing and line breaks). Besides the round trips, the parsed terms are compared with an
   independent re-implementation of R's ``terms()`` algorithm (model.c: ``PlusTerms``,
   ``InteractTerms``, ``CrossTerms``, ``NestTerms``, ``InTerms``, ``PowerTerms``,
   ``DeleteTerms``, ``TrimRepeats``, then a stable sort by degree).
2. Random IR expressions (Column/Number/Call/BinOp/Neg) printed inside ``I(...)``: parsing the
   printed text must give back the same tree, which checks the printer's parentheses.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Union

from hypothesis import HealthCheck, given, note, settings
from hypothesis import strategies as st

import formulang
from formulang import Formula
from formulang.ir import FUNCTIONS, BinOp, Call, Column, Neg, Number, Term, columns_of
from formulang.ir.expr import ARITHMETIC_OPS, COMPARISON_OPS

SETTINGS = settings(
    max_examples=200, derandomize=True, deadline=None, database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much,
                           HealthCheck.data_too_large],
)


def parse(text: str) -> Formula:
    return formulang.parse(text)


# ---- a tiny model of formula text, with R's terms() as the oracle ------------------------------


@dataclass(frozen=True)
class Leaf:
    text: str  # as written
    key: str  # the factor's canonical text


@dataclass(frozen=True)
class Op:
    op: str  # "+", "*", "/", "%in%", ":"
    left: "Node"
    right: "Node"
    sp: str = " "


@dataclass(frozen=True)
class Pow:
    base: Op  # always a sum, printed in parentheses
    k: int
    spelling: str = "^"


@dataclass(frozen=True)
class Paren:
    inner: "Node"


Node = Union[Leaf, Op, Pow, Paren]

# R's precedence, loosest first: + -, * /, %in%, :, ^.
PREC = {"+": 1, "*": 2, "/": 2, "%in%": 3, ":": 4}


def prec(node: Node) -> int:
    return PREC[node.op] if isinstance(node, Op) else 9


def show(node: Node) -> str:
    if isinstance(node, Leaf):
        return node.text
    if isinstance(node, Paren):
        return f"({show(node.inner)})"
    if isinstance(node, Pow):
        return f"({show(node.base)}){node.spelling}{node.k}"
    p = PREC[node.op]
    left, right = show(node.left), show(node.right)
    if prec(node.left) < p:
        left = f"({left})"
    if prec(node.right) <= p:  # all of these are left-associative
        right = f"({right})"
    return f"{left}{node.sp}{node.op}{node.sp}{right}"


def trim(terms):
    return list(dict.fromkeys(terms))


def encode(node: Node) -> list[frozenset]:
    """R's EncodeVars: the ordered list of terms (sets of factor keys) a node stands for."""
    if isinstance(node, Leaf):
        return [frozenset([node.key])]
    if isinstance(node, Paren):
        return encode(node.inner)
    if isinstance(node, Pow):
        left = encode(node.base)
        right = left
        for _ in range(node.k - 1):
            right = trim([a | b for a in left for b in right])
        return right
    left, right = encode(node.left), encode(node.right)
    if node.op == "+":
        return trim(left + right)
    if node.op == ":":
        return trim([a | b for a in left for b in right])
    if node.op == "*":
        return trim(left + right + [a | b for a in left for b in right])
    if node.op == "/":
        everything = frozenset().union(*left)
        return trim(left + [everything | b for b in right])
    if node.op == "%in%":
        everything = frozenset().union(*right)
        return trim([a | everything for a in left])
    raise AssertionError(node)


def r_terms(node: Node | None, removals=()) -> list[frozenset]:
    if node is None:
        return []
    terms = encode(node)
    for r in removals:
        gone = set(encode(r))
        terms = [t for t in terms if t not in gone]
    return sorted(terms, key=len)  # stable: generation order within a degree


FIXED_LEAVES = [
    ("x", "x"), ("`x`", "x"), ("z", "z"), ("w", "w"), ("age", "age"), ("sch.id", "sch.id"),
    ("x.1", "x.1"), ("`my var`", "`my var`"), ("log(z)", "log(z)"), ("log( z )", "log(z)"),
    ("sqrt(w)", "sqrt(w)"), ("I(x^2)", "I(x^2)"), ("I(x**2)", "I(x^2)"),
    ("I(age - 50)", "I(age - 50)"), ("I(age-50)", "I(age - 50)"),
    ("I((x + z)/2)", "I((x + z) / 2)"), ("exp(-w)", "exp(-w)"),
    ("scale(age, scale = FALSE)", "scale(age, scale = FALSE)"),
    ("scale(age,scale=FALSE)", "scale(age, scale = FALSE)"),
    ("C(grp)", "C(grp)"), ("factor(grp)", "factor(grp)"),
    ("C(grp, ref = 'b')", 'C(grp, ref = "b")'), ("log1p(dose_mg)", "log1p(dose_mg)"),
]
GROUP_LHS_LEAVES = [("x", "x"), ("z", "z"), ("age", "age"), ("log(z)", "log(z)"),
                    ("`my var`", "`my var`")]
GROUPINGS = [
    ("g", [("g",)]), ("h", [("h",)]), ("county", [("county",)]),
    ("`school id`", [("school id",)]),
    ("g/h", [("g",), ("g", "h")]), ("county / g", [("county",), ("county", "g")]),
    ("g:h", [("g", "h")]), ("g*h", [("g",), ("h",), ("g", "h")]),
    ("county/g/h", [("county",), ("county", "g"), ("county", "g", "h")]),
]
RESPONSES = [
    ("y", "y"), ("log(y)", "log(y)"), ("log( y )", "log(y)"), ("sqrt(y)", "sqrt(y)"),
    ("`y var`", "`y var`"), ("cbind(s, n - s)", "cbind(s, n - s)"),
    ("cbind(s,n-s)", "cbind(s, n - s)"), ("s | trials(n)", "s | trials(n)"),
    ("s|trials(n)", "s | trials(n)"), ("y | weights(wt)", "y | weights(wt)"),
    ("s | trials(n) + weights(wt)", "s | trials(n) + weights(wt)"),
    ("s | weights(wt) + trials(n)", "s | trials(n) + weights(wt)"), ("", None),
]
OFFSETS = [("offset(log(exposure))", "log(exposure)"), ("offset(t0)", "t0"),
           ("offset( log(exposure + 1) )", "log(exposure + 1)")]
# (prefix, suffix, keeps the intercept)
INTERCEPTS = [("", "", True), ("1 + ", "", True), ("", " + 1", True), ("0 + ", "", False),
              ("-1 + ", "", False), ("", " - 1", False), ("", " + 0", False)]
SPACES = st.sampled_from([" ", "", "  "])
JOINS = st.sampled_from([" + ", "+", " +\n  ", "\t+ ", " + "])


def algebra(leaves, ops, max_leaves):
    leaf = st.sampled_from(leaves).map(lambda t: Leaf(*t))

    def extend(children):
        binary = [op for op in ops if op != "^"]
        options = [st.builds(Op, st.sampled_from(binary), children, children, SPACES),
                   st.builds(Paren, children)]
        if "^" in ops:
            options.append(st.builds(Pow, st.builds(Op, st.just("+"), children, children, SPACES),
                                     st.sampled_from([2, 3]), st.sampled_from(["^", "**"])))
        return st.one_of(*options)

    return st.recursive(leaf, extend, max_leaves=max_leaves)


FIXED = algebra(FIXED_LEAVES, ["+", "*", ":", "/", "%in%", "^"], 7)
GROUP_LHS = algebra(GROUP_LHS_LEAVES, ["+", "*", ":"], 3)
REMOVAL = st.one_of(
    st.sampled_from(FIXED_LEAVES).map(lambda t: Leaf(*t)),
    st.builds(Op, st.just(":"), st.sampled_from(FIXED_LEAVES).map(lambda t: Leaf(*t)),
              st.sampled_from(FIXED_LEAVES).map(lambda t: Leaf(*t))),
)


@st.composite
def group_terms(draw):
    mode = draw(st.sampled_from(["one", "implicit", "one_plus", "zero_plus", "minus_one",
                                 "minus_prefix"]))
    lhs = None if mode == "one" else draw(GROUP_LHS)
    bar = draw(st.sampled_from(["|", "||"]))
    grouping, factors = draw(st.sampled_from(GROUPINGS))
    sp = draw(SPACES)
    text_lhs = {"one": "1", "implicit": "{t}", "one_plus": "1 + {t}", "zero_plus": "0 + {t}",
                "minus_one": "{t} - 1", "minus_prefix": "-1 + {t}"}[mode]
    text_lhs = text_lhs.format(t=show(lhs) if lhs is not None else "")
    text = f"({sp}{text_lhs}{sp}{bar}{sp}{grouping}{sp})"
    intercept = mode in ("one", "implicit", "one_plus")
    terms = tuple(r_terms(lhs))
    correlated = bar == "|" or len(terms) + intercept < 2
    expected = [(terms, intercept, factor, correlated) for factor in factors]
    return text, expected


@st.composite
def formulas(draw):
    response_text, response = draw(st.sampled_from(RESPONSES))
    fixed = draw(st.none() | FIXED)
    removals = draw(st.lists(REMOVAL, max_size=2)) if fixed is not None else []
    groups = draw(st.lists(group_terms(), max_size=3))
    offsets = draw(st.lists(st.sampled_from(OFFSETS), max_size=2, unique=True))
    pieces = []
    if fixed is not None:
        pieces.append(("fixed", show(fixed) + "".join(f" - {show(r)}" for r in removals), None))
    pieces += [("group", text, expected) for text, expected in groups]
    pieces += [("offset", text, key) for text, key in offsets]
    pieces = draw(st.permutations(pieces))
    choices = INTERCEPTS if groups else [i for i in INTERCEPTS if i[2]]
    prefix, suffix, intercept = draw(st.sampled_from(choices))
    if pieces:
        rhs = pieces[0][1]
        for _, text, _ in pieces[1:]:
            rhs += draw(JOINS) + text
        rhs = prefix + rhs + suffix
    else:
        rhs, intercept = "1", True
    tilde = draw(st.sampled_from([" ~ ", "~", " ~\n  "]))
    text = f"{response_text}{tilde}{rhs}" if response_text else f"~ {rhs}"
    expected_groups = list(dict.fromkeys(
        g for kind, _, exp in pieces if kind == "group" for g in exp))
    return text, {
        "response": response,
        "intercept": intercept,
        "terms": r_terms(fixed, removals),
        "groups": expected_groups,
        "offsets": [key for kind, _, key in pieces if kind == "offset"],
    }


def term_keys(terms) -> list[frozenset]:
    return [frozenset(str(f) for f in t.factors) for t in terms]


def assert_factor_order_rule(terms):
    """Inside each term, factors seen in earlier terms come first, in the order first seen."""
    order: dict[str, int] = {}
    for t in terms:
        keys = [str(f) for f in t.factors]
        seen = [k for k in keys if k in order]
        assert keys[:len(seen)] == seen, f"{t.label}: earlier factors must come first"
        assert [order[k] for k in seen] == sorted(order[k] for k in seen), (
            f"{t.label}: factors not in order of first appearance")
        for k in keys:
            order.setdefault(k, len(order))


@SETTINGS
@given(formulas())
def test_random_formula_round_trips(case):
    """The canonical text is a fixed point, and JSON is exact."""
    text, _ = case
    note(f"formula text: {text!r}")
    f = parse(text)
    printed = str(f)
    note(f"printed: {printed!r}")
    assert "\n" not in printed
    again = parse(printed)
    assert again == f
    assert str(again) == printed
    assert Formula.from_json(f.to_json()) == f


@SETTINGS
@given(formulas())
def test_random_formula_terms_match_r(case):
    """Fixed terms: exactly R's terms(), in R's order (by degree, then generation order)."""
    text, expected = case
    note(f"formula text: {text!r}")
    f = parse(text)
    note(f"printed: {f}")
    assert f.intercept is expected["intercept"]
    assert term_keys(f.terms) == expected["terms"]
    assert_factor_order_rule(f.terms)


@SETTINGS
@given(formulas())
def test_random_formula_term_sets_match_r(case):
    """The same model as R, ignoring the order of the terms."""
    text, expected = case
    note(f"formula text: {text!r}")
    f = parse(text)
    assert set(term_keys(f.terms)) == set(expected["terms"])
    assert len(f.terms) == len(expected["terms"])


@SETTINGS
@given(formulas())
def test_random_formula_response_groups_offsets(case):
    text, expected = case
    note(f"formula text: {text!r}")
    f = parse(text)
    note(f"printed: {f}")
    assert (None if f.response is None else str(f.response)) == expected["response"]
    got_groups = [(tuple(term_keys(g.terms)), g.intercept, g.factor, g.correlated)
                  for g in f.groups]
    assert got_groups == expected["groups"]
    for g in f.groups:
        assert_factor_order_rule(g.terms)
    assert [str(o) for o in f.offsets] == expected["offsets"]


SHARED = algebra([("a", "a"), ("b", "b"), ("c", "c")], ["+", "*", ":"], 3)


@st.composite
def shared_factor_formulas(draw):
    """Small formulas whose group terms and fixed terms share factors, in any order."""
    pieces = [show(draw(SHARED))]
    for _ in range(draw(st.integers(1, 2))):
        bar = draw(st.sampled_from(["|", "||"]))
        pieces.append(f"({show(draw(SHARED))} {bar} {draw(st.sampled_from(['g', 'g/h']))})")
    return "y ~ " + " + ".join(draw(st.permutations(pieces)))


@SETTINGS
@given(shared_factor_formulas())
def test_shared_factors_round_trip(text):
    note(f"formula text: {text!r}")
    f = parse(text)
    printed = str(f)
    note(f"printed: {printed!r}")
    assert parse(printed) == f
    assert str(parse(printed)) == printed


SMOOTHS = st.sampled_from(["s(x)", "s(x, k = 5)", "s(z, bs = \"cr\")", "s(x,bs='tp',k=4)",
                           "s(x, by = g)", "gp(z, k = 12, c = 1.5)", "gp(x,k=8)"])


@SETTINGS
@given(st.lists(SMOOTHS, min_size=1, max_size=3, unique=True), st.sampled_from(FIXED_LEAVES),
       st.permutations(["s", "f", "g"]))
def test_smooth_terms_round_trip(smooths, fixed, order):
    """Smooth terms (issue 19) among population and group terms: text -> IR -> text -> the
    same IR, and through JSON."""
    pieces = {"s": " + ".join(smooths), "f": fixed[0], "g": "(1 | g)"}
    text = "y ~ " + " + ".join(pieces[k] for k in order)
    note(f"formula text: {text!r}")
    f = parse(text)
    assert len(f.smooths) == len(smooths)
    printed = str(f)
    assert parse(printed) == f and str(parse(printed)) == printed
    assert Formula.from_json(f.to_json()) == f


# ---- printer parentheses: IR expression -> text -> the same IR ---------------------------------

ELEMENTWISE = sorted(name for name, spec in FUNCTIONS.items() if spec.role == "elementwise")
EXPR_NAMES = st.sampled_from(["x", "z", "my var", "a.b", "2x", "x_1", "sch.id"])
NUMBERS = st.one_of(
    st.sampled_from([0.0, 1.0, 2.0, 0.5, 10.0, 1950.0, 1e-3, 1e20, 2.5e-8, 123.456, 1e15, 1.5e16]),
    st.floats(min_value=0.0, allow_nan=False, allow_infinity=False),
)
EXPR_LEAVES = st.one_of(EXPR_NAMES.map(Column), NUMBERS.map(Number))


def expressions(comparisons: bool):
    def extend(children):
        options = [
            st.builds(BinOp, st.sampled_from(ARITHMETIC_OPS), children, children),
            st.builds(Neg, children),
            st.builds(lambda f, a: Call(f, (a,)), st.sampled_from(ELEMENTWISE), children),
        ]
        if comparisons:
            options.append(st.builds(BinOp, st.sampled_from(COMPARISON_OPS), children, children))
        return st.one_of(*options)

    return st.recursive(EXPR_LEAVES, extend, max_leaves=12).filter(lambda e: bool(columns_of(e)))


@SETTINGS
@given(expressions(comparisons=True))
def test_printed_expression_inside_I_parses_back(expr):
    factor = Call("I", (expr,))
    text = f"y ~ {factor}"
    note(f"text: {text!r}")
    f = parse(text)
    assert f.terms == (Term((factor,)),)
    assert f.intercept and f.groups == () and f.offsets == ()
    assert str(f) == f"y ~ 1 + {factor}"


@SETTINGS
@given(expressions(comparisons=False))
def test_printed_expression_as_function_argument_parses_back(expr):
    factor = Call("log", (expr,))
    text = f"resp ~ {factor}"
    note(f"text: {text!r}")
    assert parse(text).terms == (Term((factor,)),)


@SETTINGS
@given(expressions(comparisons=False))
def test_printed_expression_as_response_parses_back(expr):
    value = Call("I", (expr,))
    text = f"{value} ~ grp"
    note(f"text: {text!r}")
    f = parse(text)
    assert f.response.value == value
    assert f.response.failures is None and f.response.trials is None


@SETTINGS
@given(expressions(comparisons=False), expressions(comparisons=False))
def test_printed_cbind_response_parses_back(successes, failures):
    text = f"cbind({successes}, {failures}) ~ grp"
    note(f"text: {text!r}")
    f = parse(text)
    assert (f.response.value, f.response.failures) == (successes, failures)
