"""Sub-formulas for family parameters: ``y ~ x + (1 | g); sigma ~ x`` (brms's ``bf()``).

The text is split at each ``;`` outside quoted names and strings; the first formula is the
response's, each further one has a bare family-parameter name on its left. Which names a
model takes is its family's business (:func:`formulang.lower.plan.check_dpars`); here only
the shape is checked, with the caret under the place in the whole text.

>>> split_formulas("y ~ x; sigma ~ z")
[(0, 'y ~ x'), (6, ' sigma ~ z')]
>>> dpar_span("y ~ x;  sigma ~ z", "sigma")
(8, 13)
"""

from __future__ import annotations

import re
from dataclasses import replace

from ..errors import FormulaError
from ..ir.expr import Column
from ..ir.formula import Formula

_QUOTES = "`\"'"


def split_formulas(text: str) -> list[tuple[int, str]]:
    """``(start, piece)`` of each formula of ``text``, split at ``;`` outside quotes."""
    pieces, start, quote = [], 0, None
    for i, ch in enumerate(text):
        if quote is not None:
            quote = None if ch == quote else quote
        elif ch in _QUOTES:
            quote = ch
        elif ch == ";":
            pieces.append((start, text[start:i]))
            start = i + 1
    pieces.append((start, text[start:]))
    return pieces


def shifted(err: FormulaError, text: str, offset: int) -> FormulaError:
    """``err`` (raised on a piece of ``text`` starting at ``offset``) placed in ``text``."""
    if err.start is None:
        return type(err)(err.message, text)
    return type(err)(err.message, text, err.start + offset, err.end + offset)


def _lhs_span(piece: str, offset: int) -> tuple[int, int]:
    """The span of the left of ``~`` in ``piece`` (stripped), in the whole text."""
    tilde = piece.find("~")
    left = piece[:tilde] if tilde >= 0 else piece
    lead = len(left) - len(left.lstrip())
    return offset + lead, offset + max(len(left.rstrip()), lead + 1)


def join_formulas(text: str, parsed: list[tuple[int, str, Formula]]) -> Formula:
    """The response's formula with the others as its sub-formulas (``Formula.dpars``).
    ``parsed``: ``(start, piece, formula)`` of each piece, in order."""
    dpars: dict[str, Formula] = {}
    for start, piece, sub in parsed[1:]:
        lo, hi = _lhs_span(piece, start)
        r = sub.response
        if r is None:
            tilde = start + piece.find("~")
            raise FormulaError("a sub-formula needs the name of the family parameter it "
                               "predicts left of '~', e.g. sigma ~ x", text, tilde, tilde + 1)
        extra = [f for f in ("failures", "trials", "weights", "cens", "lb", "ub", "se", "rate")
                 if getattr(r, f) is not None]
        if extra or not isinstance(r.value, Column):
            what = ("response additions (|): additions belong to the response's formula, the "
                    "first") if extra else "an expression"
            raise FormulaError(f"the left of a sub-formula is the bare name of a family "
                               f"parameter (sigma ~ x), not {what}", text, lo, hi)
        name = r.value.name
        if name in dpars:
            raise FormulaError(f"{name} has two sub-formulas: write its terms in one", text,
                               lo, hi)
        dpars[name] = replace(sub, response=None)
    first = parsed[0][2]
    return replace(first, dpars=tuple(dpars.items()))


def check_ids(formula: Formula, text: str) -> None:
    """Refuse a correlation ID (``(1 |p| g)``) on two grouping factors: the terms sharing an
    ID form one block of effects of one factor's levels (brms refuses it too). The caret is
    under the ID's last use in ``text``."""
    seen: dict[str, tuple[str, ...]] = {}
    for name, f in (("", formula), *formula.dpars):
        for g in f.groups:
            if not g.id:
                continue
            first = seen.setdefault(g.id, g.factor)
            if first != g.factor:
                uses = list(re.finditer(r"\|[ \t]*" + re.escape(g.id) + r"[ \t]*\|", text))
                lo, hi = (uses[-1].start(), uses[-1].end()) if uses else (None, None)
                raise FormulaError(
                    f"the ID {g.id!r} is on two grouping factors, {':'.join(first)!r} and "
                    f"{':'.join(g.factor)!r}: terms sharing an ID are one correlated block of "
                    f"one factor's levels; give each factor its own ID", text, lo, hi)


def dpar_span(text: str, name: str) -> tuple[int, int] | None:
    """Where the sub-formula of ``name`` names it in ``text`` (None: nowhere)."""
    for start, piece in split_formulas(text)[1:]:
        lo, hi = _lhs_span(piece, start)
        if text[lo:hi] == name:
            return lo, hi
    return None


__all__ = ["check_ids", "dpar_span", "join_formulas", "shifted", "split_formulas"]
