"""The formula IR: what a parsed formula means, with all formula algebra already expanded.

Every later stage (data binding, lowering to NumPyro) reads these frozen dataclasses and
nothing of the parse tree. The algebra follows R's ``terms()`` as lme4 uses it:

- ``a*b`` is ``a + b + a:b``; ``a/b`` is ``a + a:b``; ``(a + b)^2`` is ``a + b + a:b``;
  ``- term`` removes a term; ``0``/``-1`` drop the intercept.
- Terms are de-duplicated and ordered as R orders them: by degree (main effects first), and
  in order of appearance within a degree.
- Inside an interaction the factors are ordered by their first appearance in the ordered term
  list, so ``z + x:z`` labels its interaction ``z:x``. (R orders them by first appearance in the
  formula text and would say ``x:z``; the model is the same. Ordering by the expanded terms makes
  the printed formula a fixed point: ``parse(str(f)) == f``.)
- Group terms ``(lhs | g)``: the left side is expanded with the same algebra; grouping
  expressions are expanded as lme4's ``reformulas`` does (``(1 | a/b)`` is ``(1 | a) + (1 | a:b)``,
  ``(1 | a*b)`` is ``(1 | a) + (1 | b) + (1 | a:b)``), where lme4 would name the nested factor
  ``b:a`` and list it first.
- ``(x || g)`` keeps its terms in one :class:`GroupTerm` with ``correlated=False``. As in lme4
  (``expandDoubleVerts``), each *term* gets its own covariance block: the intercept and each
  numeric column are independent, while the columns of one categorical term stay correlated.

>>> from formulang import parse
>>> str(parse("y ~ a*b + (x || g)"))
'y ~ 1 + a + b + a:b + (1 + x || g)'
"""

from __future__ import annotations

from dataclasses import dataclass

from .expr import Call, Column, Expr, columns_of, format_name


@dataclass(frozen=True)
class Term:
    """A product of factors: ``x``, ``log(x)``, ``a:b``. Its label is R's column label stem."""

    factors: tuple[Expr, ...]

    def __post_init__(self):
        if not self.factors:
            raise ValueError("a term needs at least one factor (the intercept is a flag)")
        if len(set(self.factors)) != len(self.factors):
            raise ValueError(f"term repeats a factor: {self.factors}")

    @property
    def label(self) -> str:
        return ":".join(str(f) for f in self.factors)

    @property
    def degree(self) -> int:
        return len(self.factors)

    def columns(self) -> tuple[str, ...]:
        return _unique(c for f in self.factors for c in columns_of(f))

    def __str__(self) -> str:
        return self.label


@dataclass(frozen=True)
class GroupTerm:
    """``(intercept + terms | factor)``: effects that vary by the levels of ``factor``.

    ``factor`` holds one column name, or several for an interaction (``a:b``), whose level
    combinations are the groups.
    """

    terms: tuple[Term, ...]
    intercept: bool
    factor: tuple[str, ...]
    correlated: bool = True

    def __post_init__(self):
        if not self.intercept and not self.terms:
            raise ValueError("a group term needs an intercept or at least one term")
        if not self.factor or len(set(self.factor)) != len(self.factor):
            raise ValueError(f"invalid grouping factor {self.factor!r}")
        # A single block cannot be "uncorrelated": normalise so equal models compare equal.
        if len(self.terms) + int(self.intercept) < 2 and not self.correlated:
            object.__setattr__(self, "correlated", True)

    @property
    def factor_label(self) -> str:
        return ":".join(format_name(f) for f in self.factor)

    @property
    def blocks(self) -> tuple[tuple[str | Term, ...], ...]:
        """Covariance blocks: one for a correlated term, one per term (and intercept) for ``||``.

        The intercept is the string ``"Intercept"``.
        """
        effects: tuple[str | Term, ...] = (("Intercept",) if self.intercept else ()) + self.terms
        if self.correlated:
            return (effects,)
        return tuple((e,) for e in effects)

    def columns(self) -> tuple[str, ...]:
        return _unique([c for t in self.terms for c in t.columns()] + list(self.factor))

    def __str__(self) -> str:
        lhs = ["1" if self.intercept else "0"] + [t.label for t in self.terms]
        bar = "|" if self.correlated else "||"
        return f"({' + '.join(lhs)} {bar} {self.factor_label})"


@dataclass(frozen=True)
class Response:
    """The left of ``~``: a value, and for binomial or weighted models its addition terms.

    - ``y``: ``Response(Column("y"))``
    - ``cbind(s, f)``: ``value`` = successes, ``failures`` = failures (trials = s + f)
    - ``s | trials(n)``: ``value`` = successes, ``trials`` = n
    - ``y | weights(w)``: ``weights`` = w (combinable: ``s | trials(n) + weights(w)``)
    """

    value: Expr
    failures: Expr | None = None
    trials: Expr | None = None
    weights: Expr | None = None

    def __post_init__(self):
        if self.failures is not None and self.trials is not None:
            raise ValueError("a response has either cbind() failures or trials(), not both")

    @property
    def is_binomial(self) -> bool:
        return self.failures is not None or self.trials is not None

    def columns(self) -> tuple[str, ...]:
        parts = [self.value, self.failures, self.trials, self.weights]
        return _unique(c for p in parts if p is not None for c in columns_of(p))

    def __str__(self) -> str:
        if self.failures is not None:
            text = str(Call("cbind", (self.value, self.failures)))
        else:
            text = str(self.value)
        additions = []
        if self.trials is not None:
            additions.append(f"trials({self.trials})")
        if self.weights is not None:
            additions.append(f"weights({self.weights})")
        if additions:
            text += " | " + " + ".join(additions)
        return text


@dataclass(frozen=True)
class Formula:
    """A parsed, expanded, validated formula. Build one with :func:`formulang.parse`.

    >>> from formulang import parse
    >>> f = parse("log_radon ~ floor + (1 + floor | county)")
    >>> [t.label for t in f.terms], f.intercept, f.groups[0].factor
    (['floor'], True, ('county',))
    """

    response: Response | None
    intercept: bool
    terms: tuple[Term, ...]
    groups: tuple[GroupTerm, ...] = ()
    offsets: tuple[Expr, ...] = ()

    def columns(self) -> tuple[str, ...]:
        """Every data column the formula reads, in order of appearance."""
        cols: list[str] = list(self.response.columns()) if self.response else []
        cols += [c for t in self.terms for c in t.columns()]
        cols += [c for g in self.groups for c in g.columns()]
        cols += [c for o in self.offsets for c in columns_of(o)]
        return _unique(cols)

    @property
    def rhs(self) -> str:
        parts = ["1" if self.intercept else "0"]
        parts += [t.label for t in self.terms]
        parts += [str(g) for g in self.groups]
        parts += [f"offset({o})" for o in self.offsets]
        return " + ".join(parts)

    def __str__(self) -> str:
        lhs = f"{self.response} " if self.response is not None else ""
        return f"{lhs}~ {self.rhs}"

    def to_json(self, **dumps_kwargs) -> str:
        """Serialise to JSON text; :meth:`from_json` reads it back exactly.

        >>> from formulang import parse
        >>> f = parse("y ~ x + (1 | g)")
        >>> Formula.from_json(f.to_json()) == f
        True
        """
        from .serialize import formula_to_json

        return formula_to_json(self, **dumps_kwargs)

    @classmethod
    def from_json(cls, text: str) -> "Formula":
        from .serialize import formula_from_json

        return formula_from_json(text)


def _unique(items) -> tuple[str, ...]:
    return tuple(dict.fromkeys(items))


__all__ = ["Column", "Formula", "GroupTerm", "Response", "Term"]
