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
from .dpars import check_ids, join_formulas, shifted, split_formulas
from .grammar import parser
from .limits import MAX_DEPTH, MAX_LENGTH, MAX_TERMS, measure, operator_span
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

    Formulas for family parameters follow the response's, after ``;``
    (:mod:`formulang.parse.dpars`):

    >>> str(parse("y ~ x; sigma ~ x + (1 | g)"))
    'y ~ 1 + x; sigma ~ 1 + x + (1 | g)'

    Raises :class:`~formulang.FormulaError` with the position of the problem.
    """
    if not isinstance(text, str):
        raise TypeError(f"parse() takes the formula as a string, not {type(text).__name__}")
    pieces = split_formulas(text)
    if len(pieces) == 1:
        formula = _parse_one(text)
        check_ids(formula, text)
        return formula
    parsed = []
    for start, piece in pieces:
        at = max(start - 1, 0)  # the ';' before it
        if not piece.strip():
            raise FormulaError("expected a formula after ';' (';' separates the response's "
                               "formula from those of family parameters)", text, at, at + 1)
        if start and "~" not in piece:
            raise FormulaError("after ';' comes the formula of a family parameter, such as "
                               "sigma ~ x (a formula is a single expression otherwise)", text,
                               at, at + 1)
        try:
            parsed.append((start, piece, _parse_one(piece)))
        except FormulaError as err:
            raise shifted(err, text, start) from None
    formula = join_formulas(text, parsed)
    check_ids(formula, text)
    return formula


def _parse_one(text: str) -> Formula:
    """One formula (no ``;``)."""
    tree = _parse_tree(text, "formula")
    _check_limits(tree, text)
    try:
        formula = formula_from_tree(tree, text)
    except RecursionError:  # pragma: no cover - the limits keep the reading shallow
        raise FormulaError("the formula is nested too deeply to read", text, 0, 1) from None
    printed = len(str(formula))
    if printed > MAX_LENGTH:  # so that what parse() accepts prints as text it accepts
        tilde = text.index("~")
        raise FormulaError(f"this formula expands to {printed} characters when written out, "
                           f"more than the limit of {MAX_LENGTH} (see 'Formula syntax' in the "
                           "README)", text, tilde, tilde + 1)
    return formula


def _check_limits(tree, text: str) -> None:
    """Refuse, before reading it, a formula nested or expanding past the documented limits
    (:mod:`formulang.parse.limits`)."""
    found = measure(tree, text)
    if found.too_deep is not None:
        node, depth = found.too_deep
        raise FormulaError(
            f"this value is nested too deeply: operations, calls and parentheses in a value "
            f"nest at most {MAX_DEPTH} levels (here {depth}); compute such a column in the "
            f"data instead", text, *operator_span(node))
    if found.too_big is not None:
        node, terms, length = found.too_big
        if terms > MAX_TERMS:
            what = f"{terms} terms, more than the limit of {MAX_TERMS}"
        else:
            what = (f"{terms} terms, up to {length} characters when written out, more than "
                    f"the limit of {MAX_LENGTH}")
        raise FormulaError(f"this formula expands to {what} (see 'Formula syntax' in the "
                           "README)", text, *operator_span(node))


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
