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

import json
from dataclasses import dataclass, replace
from typing import Any

from ..errors import FormulaError
from .expr import Call, Column, Expr, columns_of, format_name
from .serialize import expr_from_data, expr_to_data

# The formula's JSON: plain nested objects; a reader refuses an unknown version, not guesses.
SCHEMA = "formulang.formula"
# 2: response additions cens, trunc, se, rate; 3: sub-formulas (dpars); 4: group term IDs;
# 5: smooth terms (s(), gp())
SCHEMA_VERSION = 5
READS_VERSIONS = (1, 2, 3, 4, 5)


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
    combinations are the groups. ``id``: brms's correlation ID of ``(1 |p| g)`` ("" for
    none): the terms sharing it, on one factor, in any of the model's formulas, are one
    correlated block.

    >>> from formulang import parse
    >>> g = parse("y ~ (1 + x |p| g)").groups[0]
    >>> g.id, str(g)
    ('p', '(1 + x |p| g)')
    """

    terms: tuple[Term, ...]
    intercept: bool
    factor: tuple[str, ...]
    correlated: bool = True
    id: str = ""

    def __post_init__(self):
        if not self.intercept and not self.terms:
            raise ValueError("a group term needs an intercept or at least one term")
        if not self.factor or len(set(self.factor)) != len(self.factor):
            raise ValueError(f"invalid grouping factor {self.factor!r}")
        # A single block cannot be "uncorrelated": normalise so equal models compare equal.
        if len(self.terms) + int(self.intercept) < 2 and not self.correlated:
            object.__setattr__(self, "correlated", True)
        if self.id and not self.correlated:
            raise ValueError("an ID correlates effects: a term with one is correlated")

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
        bar = f"|{self.id}|" if self.id else ("|" if self.correlated else "||")
        return f"({' + '.join(lhs)} {bar} {self.factor_label})"


@dataclass(frozen=True)
class Response:
    """The left of ``~``: a value and its addition terms (brms's names).

    - ``y``: ``Response(Column("y"))``
    - ``cbind(s, f)``: ``value`` = successes, ``failures`` = failures (trials = s + f)
    - ``s | trials(n)``: ``value`` = successes, ``trials`` = n
    - ``y | weights(w)``: ``weights`` = w (combinable: ``s | trials(n) + weights(w)``)
    - ``y | cens(c)`` / ``y | cens(c, y2)``: ``cens`` = the censoring codes (left, none,
      right, interval or -1, 0, 1, 2), ``y2`` = the upper end of interval-censored rows
    - ``y | trunc(lb = 0, ub = 100)``: ``lb``, ``ub`` = truncation bounds (numbers or columns)
    - ``y | se(s)``: ``se`` = known standard errors; ``se_sigma``: also a residual SD
      (``se(s, sigma = TRUE)``)
    - ``count | rate(n)``: ``rate`` = the exposure (a ``log(n)`` offset)

    bambi's and formulae's spellings (``censored(y, status)``, ``truncated(y, lb, ub)``,
    ``constrained(y, lb, ub)``, ``p(y, n)``, ``prop(y, n)``) parse to the same responses.
    """

    value: Expr
    failures: Expr | None = None
    trials: Expr | None = None
    weights: Expr | None = None
    cens: Expr | None = None
    y2: Expr | None = None
    lb: Expr | None = None
    ub: Expr | None = None
    se: Expr | None = None
    se_sigma: bool = False
    rate: Expr | None = None

    def __post_init__(self):
        if self.failures is not None and self.trials is not None:
            raise ValueError("a response has either cbind() failures or trials(), not both")
        if self.y2 is not None and self.cens is None:
            raise ValueError("y2 is the upper end of interval censoring: it needs cens()")
        if self.se_sigma and self.se is None:
            raise ValueError("se_sigma needs se()")

    @property
    def is_binomial(self) -> bool:
        return self.failures is not None or self.trials is not None

    @property
    def has_new_additions(self) -> bool:
        """Whether it uses an addition newer than formula schema version 1 (cens, trunc, se,
        rate): such formulas are written as version 2."""
        return any(e is not None for e in (self.cens, self.lb, self.ub, self.se, self.rate))

    def _parts(self) -> list:
        return [self.value, self.failures, self.trials, self.weights, self.cens, self.y2,
                self.lb, self.ub, self.se, self.rate]

    def columns(self) -> tuple[str, ...]:
        return _unique(c for p in self._parts() if p is not None for c in columns_of(p))

    def text(self) -> str:
        """What is modelled, as written, without ``weights()`` (which only scale the rows)
        and the other additions: the value, or for binomial responses the value with its
        trials or failures.

        >>> from formulang import parse
        >>> parse("s | trials(n) + weights(w) ~ x").response.text()
        's | trials(n)'
        >>> parse("y | weights(w) + cens(c) ~ x").response.text()
        'y'
        """
        if not self.is_binomial:
            return str(self.value)
        return str(Response(self.value, self.failures, self.trials))

    def __str__(self) -> str:
        """brms's spelling, which :func:`formulang.parse` reads back to the same response.

        >>> from formulang import parse
        >>> str(parse("censored(t, status) ~ x").response)
        't | cens(status)'
        >>> str(parse("y | trunc(ub = 9) + se(s, sigma = TRUE) ~ 1").response)
        'y | se(s, sigma = TRUE) + trunc(ub = 9)'
        """
        if self.failures is not None:
            text = str(Call("cbind", (self.value, self.failures)))
        else:
            text = str(self.value)
        additions = []
        if self.trials is not None:
            additions.append(f"trials({self.trials})")
        if self.se is not None:
            additions.append(f"se({self.se}, sigma = TRUE)" if self.se_sigma
                             else f"se({self.se})")
        if self.cens is not None:
            additions.append(f"cens({self.cens}, {self.y2})" if self.y2 is not None
                             else f"cens({self.cens})")
        if self.lb is not None or self.ub is not None:
            bounds = [f"{k} = {v}" for k, v in (("lb", self.lb), ("ub", self.ub))
                      if v is not None]
            additions.append(f"trunc({', '.join(bounds)})")
        if self.rate is not None:
            additions.append(f"rate({self.rate})")
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

    ``dpars``: brms's sub-formulas for family parameters (``bf(y ~ x, sigma ~ z)``), written
    ``y ~ x; sigma ~ z``: ``(name, formula)`` pairs, each formula without a response. The
    fields above are the response's own formula (its mean).

    >>> f = parse("y ~ x + (1 | g); sigma ~ x")
    >>> [(name, str(sub)) for name, sub in f.dpars], str(f.mu)
    ([('sigma', '~ 1 + x')], 'y ~ 1 + x + (1 | g)')

    ``smooths``: brms's smooth terms, each a :class:`~formulang.ir.expr.Call` of a function
    of role ``smooth`` (``s(x, k = 5)``, ``gp(x, k = 15)``), a term kind of its own: neither
    a population-level column nor a group term (:mod:`formulang.data.smooths` builds them).

    >>> str(parse("y ~ s(x, k = 5) + z"))
    'y ~ 1 + z + s(x, k = 5)'
    """

    response: Response | None
    intercept: bool
    terms: tuple[Term, ...]
    groups: tuple[GroupTerm, ...] = ()
    offsets: tuple[Expr, ...] = ()
    dpars: tuple[tuple[str, "Formula"], ...] = ()
    smooths: tuple[Call, ...] = ()

    def columns(self) -> tuple[str, ...]:
        """Every data column the formula reads (its sub-formulas' too), in order of
        appearance."""
        cols: list[str] = list(self.response.columns()) if self.response else []
        cols += [c for t in self.terms for c in t.columns()]
        cols += [c for g in self.groups for c in g.columns()]
        cols += [c for o in self.offsets for c in columns_of(o)]
        cols += [c for sm in self.smooths for c in smooth_columns(sm)]
        cols += [c for _, sub in self.dpars for c in sub.columns()]
        return _unique(cols)

    @property
    def has_ids(self) -> bool:
        """Whether a group term (of any of its formulas) has a correlation ID."""
        return any(g.id for g in self.groups) or any(s.has_ids for _, s in self.dpars)

    @property
    def mu(self) -> "Formula":
        """The response's own formula, without the sub-formulas."""
        return replace(self, dpars=()) if self.dpars else self

    def dpar(self, name: str) -> "Formula | None":
        """The sub-formula of family parameter ``name`` (None: it has none)."""
        return dict(self.dpars).get(name)

    @property
    def rhs(self) -> str:
        parts = ["1" if self.intercept else "0"]
        parts += [t.label for t in self.terms]
        parts += [str(g) for g in self.groups]
        parts += [str(sm) for sm in self.smooths]
        parts += [f"offset({o})" for o in self.offsets]
        return " + ".join(parts)

    def __str__(self) -> str:
        lhs = f"{self.response} " if self.response is not None else ""
        return f"{lhs}~ {self.rhs}" + "".join(f"; {name} {sub}" for name, sub in self.dpars)

    # -- serialisation: versioned, exact on round trip ----------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON values (schema ``formulang.formula``); :meth:`from_dict` reads them back.

        >>> from formulang import parse
        >>> parse("y ~ x").to_dict()["terms"]
        [[{'column': 'x'}]]
        """
        r = self.response
        new = r is not None and r.has_new_additions
        out = {
            "schema": SCHEMA,
            # the oldest version that holds it, so older readers still read what they can
            "version": 5 if self._has_smooths else 4 if self.has_ids else (
                3 if self.dpars else (2 if new else 1)),
            "formula": str(self),
            "response": None if r is None else {
                "value": expr_to_data(r.value), "failures": _opt(r.failures),
                "trials": _opt(r.trials), "weights": _opt(r.weights),
                **({"cens": _opt(r.cens), "y2": _opt(r.y2), "lb": _opt(r.lb),
                    "ub": _opt(r.ub), "se": _opt(r.se), "se_sigma": bool(r.se_sigma),
                    "rate": _opt(r.rate)} if new else {})},
            "intercept": self.intercept,
            "terms": [_term_to_data(t) for t in self.terms],
            "groups": [{"terms": [_term_to_data(t) for t in g.terms], "intercept": g.intercept,
                        "factor": list(g.factor), "correlated": g.correlated,
                        **({"id": g.id} if g.id else {})}
                       for g in self.groups],
            "offsets": [expr_to_data(o) for o in self.offsets],
        }
        if self.dpars:
            out["dpars"] = [{"name": name, "formula": sub.to_dict()} for name, sub in self.dpars]
        if self.smooths:
            out["smooths"] = [expr_to_data(sm) for sm in self.smooths]
        return out

    @property
    def _has_smooths(self) -> bool:
        return bool(self.smooths) or any(sub._has_smooths for _, sub in self.dpars)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Formula":
        """The formula :meth:`to_dict` wrote; another schema or version is a FormulaError."""
        if d.get("schema") != SCHEMA:
            raise FormulaError(f"not a formulang formula (schema {d.get('schema')!r})")
        if d.get("version") not in READS_VERSIONS:
            versions = ", ".join(map(str, READS_VERSIONS))
            raise FormulaError(f"unsupported formula schema version {d.get('version')!r}; "
                               f"this formulang reads versions {versions}")
        r = d["response"]
        response = None if r is None else Response(
            expr_from_data(r["value"]), _opt_from(r["failures"]), _opt_from(r["trials"]),
            _opt_from(r["weights"]), _opt_from(r.get("cens")), _opt_from(r.get("y2")),
            _opt_from(r.get("lb")), _opt_from(r.get("ub")), _opt_from(r.get("se")),
            bool(r.get("se_sigma", False)), _opt_from(r.get("rate")))
        return cls(
            response=response,
            intercept=bool(d["intercept"]),
            terms=tuple(_term_from_data(t) for t in d["terms"]),
            groups=tuple(GroupTerm(tuple(_term_from_data(t) for t in g["terms"]),
                                   bool(g["intercept"]), tuple(g["factor"]),
                                   bool(g["correlated"]), str(g.get("id", "")))
                    for g in d["groups"]),
            offsets=tuple(expr_from_data(o) for o in d["offsets"]),
            dpars=tuple((str(p["name"]), cls.from_dict(p["formula"]))
                        for p in d.get("dpars", ())),
            smooths=tuple(expr_from_data(sm) for sm in d.get("smooths", ())),
        )

    def to_json(self, **dumps_kwargs) -> str:
        """Serialise to JSON text; :meth:`from_json` reads it back exactly.

        >>> from formulang import parse
        >>> f = parse("y ~ x + (1 | g)")
        >>> Formula.from_json(f.to_json()) == f
        True
        """
        return json.dumps(self.to_dict(), **dumps_kwargs)

    @classmethod
    def from_json(cls, text: str) -> "Formula":
        """The formula :meth:`to_json` wrote; text that is not one is a FormulaError."""
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise FormulaError(f"formula JSON is not valid JSON: {exc}") from None
        except RecursionError:
            raise FormulaError("formula JSON is nested too deeply") from None
        try:
            return cls.from_dict(data)
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise FormulaError(f"formula JSON is malformed: {exc}") from None


def _opt(e: Expr | None):
    return None if e is None else expr_to_data(e)


def _opt_from(d):
    return None if d is None else expr_from_data(d)


def _term_to_data(t: Term) -> list:
    return [expr_to_data(f) for f in t.factors]


def _term_from_data(d: list) -> Term:
    return Term(tuple(expr_from_data(f) for f in d))


def smooth_columns(sm: Call) -> tuple[str, ...]:
    """The data columns a smooth term reads: its variables and its ``by`` column."""
    by = sm.kwarg("by")
    return _unique([c for a in sm.args for c in columns_of(a)] + ([str(by)] if by else []))


def _unique(items) -> tuple[str, ...]:
    return tuple(dict.fromkeys(items))


__all__ = ["Column", "Formula", "GroupTerm", "Response", "Term"]
