"""Expressions: the values a formula computes from data columns.

A formula's *factors* (R's "variables": ``x``, ``log(x)``, ``C(g)``, ``I(x^2)``) and its response
are expressions. They are small frozen trees; nothing here evaluates them. Printing follows R's
``deparse`` style (``I(x - 1)``, ``I(x^2)``, ``scale(x, scale = FALSE)``), so the text of a factor
is also its column label and matches R's ``model.matrix`` names.

>>> str(BinOp("^", Column("Days"), Number(2.0)))
'Days^2'
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Union

# The deepest expression the parser builds (formulang.parse.limits): expressions are compared,
# hashed, printed and serialised recursively, and this keeps all of that far from Python's
# recursion limit.
MAX_DEPTH = 100

# R-style names: letters, digits, '.' and '_', not starting with a digit or '.digit'.
_PLAIN_NAME = re.compile(r"(?:[A-Za-z_]|\.(?![0-9]))[A-Za-z0-9_.]*\Z")

# a keyword argument's value: a flag, a number, a text, or a vector of numbers or texts
# (``knots = c(1, 2)``, ``levels = ["b", "a"]``)
KwargValue = Union[bool, float, str, tuple]


def is_dunder_name(name: str) -> bool:
    """True for names that look like Python internals (``__class__``, ``x.__dict__``).

    Formulas refuse them unquoted: a formula is data, never code.
    """
    return any(part.startswith("__") for part in name.split("."))


def is_plain_name(name: str) -> bool:
    """True when ``name`` can be written without backticks."""
    return bool(_PLAIN_NAME.match(name)) and not is_dunder_name(name)


def format_name(name: str) -> str:
    return name if is_plain_name(name) else f"`{name}`"


def format_number(value: float) -> str:
    if value == int(value) and abs(value) < 1e15:
        return str(int(value))
    return repr(value)


def format_kwarg_value(value: KwargValue) -> str:
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, str):
        return '"' + value + '"'
    if isinstance(value, tuple):  # R's deparse of a vector: c(1, 2.5), c("a", "b")
        return "c(" + ", ".join(format_kwarg_value(v) for v in value) + ")"
    return format_number(value) if value >= 0 else "-" + format_number(-value)


@dataclass(frozen=True)
class Column:
    """A data column, by name."""

    name: str

    def __post_init__(self):
        if not isinstance(self.name, str) or not self.name or "`" in self.name:
            raise ValueError(f"invalid column name {self.name!r}")

    def __str__(self) -> str:
        return format_name(self.name)


@dataclass(frozen=True)
class Number:
    """A non-negative finite number literal (a minus sign is a :class:`Neg` node)."""

    value: float

    def __post_init__(self):
        value = float(self.value)
        if not math.isfinite(value) or value < 0:
            raise ValueError(f"invalid number literal {self.value!r}")
        object.__setattr__(self, "value", value)

    def __str__(self) -> str:
        return format_number(self.value)


@dataclass(frozen=True)
class Call:
    """A call of a whitelisted function (see :mod:`formulang.ir.functions`).

    The first ``positional`` keyword arguments were written without their names
    (``poly(x, 2)``: degree 2) and print that way, as R's deparse keeps them.

    >>> str(Call("poly", (Column("x"),), (("degree", 2.0), ("raw", True)), positional=1))
    'poly(x, 2, raw = TRUE)'
    """

    func: str
    args: tuple["Expr", ...]
    kwargs: tuple[tuple[str, KwargValue], ...] = ()
    positional: int = 0

    def kwarg(self, name: str, default: KwargValue | None = None) -> KwargValue | None:
        for key, value in self.kwargs:
            if key == name:
                return value
        return default

    def __str__(self) -> str:
        parts = [str(a) for a in self.args]
        parts += [format_kwarg_value(v) for _, v in self.kwargs[:self.positional]]
        parts += [f"{k} = {format_kwarg_value(v)}" for k, v in self.kwargs[self.positional:]]
        return f"{self.func}({', '.join(parts)})"


ARITHMETIC_OPS = ("+", "-", "*", "/", "^")
COMPARISON_OPS = ("<", "<=", ">", ">=", "==", "!=")

# Binding strength, as in R: comparison < + - < * / < unary minus < ^.
_PRECEDENCE = {"<": 1, "<=": 1, ">": 1, ">=": 1, "==": 1, "!=": 1,
               "+": 2, "-": 2, "*": 3, "/": 3, "neg": 4, "^": 5}
_ATOM = 6


@dataclass(frozen=True)
class BinOp:
    """Arithmetic or comparison, as written inside ``I(...)`` and function arguments."""

    op: str
    left: "Expr"
    right: "Expr"

    def __post_init__(self):
        if self.op not in ARITHMETIC_OPS + COMPARISON_OPS:
            raise ValueError(f"invalid operator {self.op!r}")

    def __str__(self) -> str:
        p = _PRECEDENCE[self.op]
        if self.op == "^":  # right-associative, binds tighter than unary minus on its left
            left = _wrap(self.left, _precedence(self.left) <= p)
            right = _wrap(self.right, _precedence(self.right) < _PRECEDENCE["neg"])
            return f"{left}^{right}"
        if p == 1:  # comparisons do not chain
            left = _wrap(self.left, _precedence(self.left) <= p)
        else:
            left = _wrap(self.left, _precedence(self.left) < p)
        right = _wrap(self.right, _precedence(self.right) <= p)
        return f"{left} {self.op} {right}"


@dataclass(frozen=True)
class Neg:
    """Unary minus."""

    operand: "Expr"

    def __str__(self) -> str:
        return "-" + _wrap(self.operand, _precedence(self.operand) < _PRECEDENCE["neg"])


Expr = Union[Column, Number, Call, BinOp, Neg]


def _precedence(expr: Expr) -> int:
    if isinstance(expr, BinOp):
        return _PRECEDENCE[expr.op]
    if isinstance(expr, Neg):
        return _PRECEDENCE["neg"]
    return _ATOM


def _wrap(expr: Expr, needed: bool) -> str:
    return f"({expr})" if needed else str(expr)


def columns_of(expr: Expr) -> tuple[str, ...]:
    """Column names an expression reads, in order of first appearance.

    >>> columns_of(Call("I", (BinOp("-", Column("n"), Column("s")),)))
    ('n', 's')
    """
    seen: dict[str, None] = {}

    def walk(e: Expr) -> None:
        if isinstance(e, Column):
            seen.setdefault(e.name, None)
        elif isinstance(e, Call):
            for a in e.args:
                walk(a)
        elif isinstance(e, BinOp):
            walk(e.left)
            walk(e.right)
        elif isinstance(e, Neg):
            walk(e.operand)

    walk(expr)
    return tuple(seen)
