"""R's coding of terms: which categoricals get contrasts and which full indicators, and the
column names that follow.

The rule is ``TermCode`` in R's ``stats/src/model.c`` ("Statistical Models in S", p. 38). For
each term T, in order, and each categorical factor f of T: f is coded by treatment contrasts
(k - 1 columns, the first level is the reference) if T without f is empty (a main effect) or is
contained in some *preceding* term; otherwise by full indicators (k columns). Without an
intercept, the first categorical factor of the first term that has one is switched to full
indicators (R's ``model.matrix``). A numeric factor contributes its value.

Columns of a term are the products of its factors' columns, the *first* factor varying fastest,
named by joining the factors' column names with ``":"``; a categorical's column name is its label
with the level appended (``period2``, ``batchA:caskb``, ``size:period2``).

>>> from formulang import parse
>>> f = parse("~ size + period:size")
>>> design = design_spec(f.terms, f.intercept,
...                      {"size": VariableSpec("size", "numeric"),
...                       "period": VariableSpec("period", "categorical", ("1", "2", "3"))})
>>> design.columns
('Intercept', 'size', 'size:period2', 'size:period3')
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from itertools import product

from ..errors import DataError
from ..ir.formula import Term
from .spec import BASIS, CONTRASTS, FULL, NUMERIC, DesignSpec, TermSpec, VariableSpec


def term_codings(terms: Sequence[Term], intercept: bool, is_categorical,
                 is_basis=lambda f: False) -> list[list[str]]:
    """The coding (:data:`NUMERIC`, :data:`CONTRASTS` or :data:`FULL`; :data:`BASIS` for a
    basis) of every factor of every term, by R's TermCode rule. ``is_categorical(expr)`` says
    which factors are categorical, ``is_basis(expr)`` which make several numeric columns
    (coded as numbers are: a basis never takes contrasts)."""
    factor_sets = [frozenset(t.factors) for t in terms]
    codings: list[list[str]] = []
    for i, term in enumerate(terms):
        row = []
        for f in term.factors:
            if not is_categorical(f):
                row.append(BASIS if is_basis(f) else NUMERIC)
                continue
            rest = factor_sets[i] - {f}
            if not rest or any(rest <= factor_sets[j] for j in range(i)):
                row.append(CONTRASTS)
            else:
                row.append(FULL)
        codings.append(row)
    if not intercept:
        for i, term in enumerate(terms):
            j = next((j for j, c in enumerate(codings[i]) if c != NUMERIC), None)
            if j is not None:
                codings[i][j] = FULL
                break
    return codings


def factor_columns(label: str, coding: str, variable: VariableSpec) -> list[str]:
    """Column names one factor contributes to a term."""
    if coding == NUMERIC:
        return [label]
    levels = variable.levels[1:] if coding == CONTRASTS else variable.levels  # BASIS: all
    return [label + level for level in levels]


def term_columns(term: Term, codings: Sequence[str],
                 variables: Mapping[str, VariableSpec]) -> tuple[str, ...]:
    """Column names of a term, the first factor varying fastest (R's order)."""
    parts = [factor_columns(str(f), c, variables[str(f)]) for f, c in zip(term.factors, codings)]
    return tuple(":".join(reversed(combo)) for combo in product(*reversed(parts)))


def design_spec(terms: Sequence[Term], intercept: bool,
                variables: Mapping[str, VariableSpec]) -> DesignSpec:
    """Code ``terms`` by R's rules; ``variables`` maps each factor's label to its spec.

    A categorical coded by contrasts needs two levels or more (as in R); otherwise this raises
    :class:`DataError` naming the factor and its level.
    """
    codings = term_codings(terms, intercept,
                           lambda f: variables[str(f)].kind not in (NUMERIC, BASIS),
                           lambda f: variables[str(f)].kind == BASIS)
    specs = []
    for term, coding in zip(terms, codings):
        for f, c in zip(term.factors, coding):
            levels = variables[str(f)].levels
            if c == CONTRASTS and len(levels) < 2:  # (a basis is never coded so)
                raise DataError(
                    f"{f} has a single level ({levels[0]!r}) in the rows used, so it cannot be "
                    f"coded by contrasts in the term {term.label}; a categorical needs two levels "
                    f"or more (drop the term, or check for missing values that removed rows)")
        specs.append(TermSpec(term.label, tuple(coding), term_columns(term, coding, variables)))
    return DesignSpec(intercept, tuple(specs))


__all__ = ["design_spec", "factor_columns", "term_codings", "term_columns"]
