"""Parse formula and prior text into the IR.

>>> from formulang import parse
>>> str(parse("Reaction ~ Days + (Days | Subject)"))
'Reaction ~ 1 + Days + (1 + Days | Subject)'
"""

from __future__ import annotations

import functools

from lark.exceptions import UnexpectedInput

from ..errors import FormulaError

from ..ir.formula import Formula
from ..ir.prior import Prior
from .grammar import parser
from .syntax_errors import precheck, translate
from .to_ir import formula_from_tree, prior_from_tree


def _parse_tree(text: str, start: str):
    precheck(text, start)
    try:
        return parser().parse(text, start=start)
    except UnexpectedInput as exc:
        raise translate(exc, text, start) from None


@functools.lru_cache(maxsize=1024)
def parse(text: str) -> Formula:
    """Parse a formula into its expanded, validated IR.

    >>> f = parse("y ~ a*b + (1 | g/h)")
    >>> str(f)
    'y ~ 1 + a + b + a:b + (1 | g) + (1 | g:h)'

    Raises :class:`~formulang.FormulaError` with the position of the problem.
    """
    if not isinstance(text, str):
        raise TypeError(f"parse() takes the formula as a string, not {type(text).__name__}")
    tree = _parse_tree(text, "formula")
    try:
        return formula_from_tree(tree, text)
    except RecursionError:
        raise FormulaError("the formula is nested too deeply to read", text, 0,
                           len(text)) from None


@functools.lru_cache(maxsize=256)
def parse_prior(text: str) -> Prior:
    """Parse a prior such as ``normal(0, 2.5)`` or ``student_t(3, 0, sigma = 2.5)``.

    >>> parse_prior("normal(0, 2.5)")["sigma"]
    2.5
    """
    if not isinstance(text, str):
        raise TypeError(f"parse_prior() takes the prior as a string, not {type(text).__name__}")
    return prior_from_tree(_parse_tree(text, "prior"), text)


__all__ = ["parse", "parse_prior"]
