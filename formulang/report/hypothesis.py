"""brms's ``hypothesis``: tests of expressions over a fit's parameters, never evaluated as Python.

A hypothesis is ``left <op> right`` with ``<op>`` one of ``<``, ``>``, ``=``; each side is
arithmetic (``+ - * /``, parentheses, numbers) over parameter names: brms's flat names
(``b_Days``, ``sd_Subject__Intercept``, ``cor_Subject__Intercept__Days``, ``sigma``,
``r_Subject[308,Days]``) and, as brms allows, coefficients without ``b_`` (``Days``,
``Intercept``). Names that are not identifiers go in backquotes. A small recursive-descent
parser reads it into a tree that is computed on the draws; as brms, the hypothesis is moved to
``left - (right) <op> 0`` and reported as:

- ``Estimate``, ``Est.Error``: mean and SD of ``left - right``;
- ``CI.Lower``, ``CI.Upper``: its ``(1 - prob) / 2`` and ``(1 + prob) / 2`` quantiles for ``=``,
  its ``1 - prob`` and ``prob`` quantiles for ``<`` and ``>`` (brms 2.18's one-sided bounds);
- ``Evid.Ratio``: for ``<`` (``>``) the posterior odds P(h) / (1 - P(h)) of the hypothesis;
  NaN (brms's NA) for ``=``, whose Savage-Dickey ratio needs prior draws;
- ``Post.Prob``: P(h) for one-sided hypotheses, NaN for ``=``;
- ``Star``: ``*`` when the hypothesis is supported (``=``: 0 outside the interval; one-sided:
  Post.Prob above ``prob``).

>>> parse_hypothesis("Days - 10 = 0").op, parse_hypothesis("2 * (a + b) > c").names
('=', ('a', 'b', 'c'))
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..errors import FormulaError
from ..lower.sites import all_groups, b_name, flat_effects, flat_parameters

_TOKEN = re.compile(r"\s*(?:(?P<num>(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)"
                    r"|(?P<name>[A-Za-z_.][A-Za-z0-9_.:]*(?:\[[^\]]*\])?)"
                    r"|`(?P<quoted>[^`]*)`"
                    r"|(?P<op>[-+*/()<>=]))")


@dataclass(frozen=True)
class Node:
    """A tree node: ``kind`` is ``"num"``, ``"name"``, ``"neg"`` or an operator ``+ - * /``;
    ``span`` is its place in the text (for carets)."""

    kind: str
    value: object = None
    args: tuple = ()
    span: tuple[int, int] = (0, 0)


@dataclass(frozen=True)
class Hypothesis:
    text: str
    left: Node
    op: str
    right: Node

    @property
    def names(self) -> tuple[str, ...]:
        out: list[str] = []

        def walk(n: Node) -> None:
            if n.kind == "name" and n.value not in out:
                out.append(n.value)
            for a in n.args:
                walk(a)
        walk(self.left)
        walk(self.right)
        return tuple(out)


def _tokens(text: str) -> list[tuple[str, object, int, int]]:
    out, pos = [], 0
    while pos < len(text):
        if text[pos:].strip() == "":
            break
        m = _TOKEN.match(text, pos)
        if m is None or m.end() == pos:
            start = pos + len(text[pos:]) - len(text[pos:].lstrip())
            raise FormulaError(f"hypothesis: unexpected character {text[start]!r} (use names, "
                               f"numbers, + - * /, parentheses and one of < > =)", text, start)
        kind = m.lastgroup
        value = m.group(kind)
        start = m.start(kind) - (kind == "quoted")
        out.append((kind if kind != "quoted" else "name", value, start, m.end()))
        pos = m.end()
    out.append(("end", None, len(text), len(text)))
    return out


class _Parser:
    def __init__(self, text: str):
        self.text = text
        self.toks = _tokens(text)
        self.i = 0

    def peek(self):
        return self.toks[self.i]

    def take(self):
        tok = self.toks[self.i]
        self.i += 1
        return tok

    def fail(self, tok, what: str):
        kind, value, start, end = tok
        found = "the end" if kind == "end" else repr(value)
        raise FormulaError(f"hypothesis: expected {what}, found {found}", self.text, start,
                           max(end, start + 1))

    def sum(self) -> Node:
        node = self.product()
        while self.peek()[0] == "op" and self.peek()[1] in "+-":
            op = self.take()[1]
            right = self.product()
            node = Node(op, args=(node, right), span=(node.span[0], right.span[1]))
        return node

    def product(self) -> Node:
        node = self.unary()
        while self.peek()[0] == "op" and self.peek()[1] in "*/":
            op = self.take()[1]
            right = self.unary()
            node = Node(op, args=(node, right), span=(node.span[0], right.span[1]))
        return node

    def unary(self) -> Node:
        tok = self.peek()
        if tok[0] == "op" and tok[1] in "+-":
            self.take()
            inner = self.unary()
            return inner if tok[1] == "+" else Node("neg", args=(inner,),
                                                    span=(tok[2], inner.span[1]))
        return self.atom()

    def atom(self) -> Node:
        tok = self.take()
        kind, value, start, end = tok
        if kind == "num":
            return Node("num", float(value), span=(start, end))
        if kind == "name":
            return Node("name", value, span=(start, end))
        if kind == "op" and value == "(":
            inner = self.sum()
            if self.peek()[1] != ")":
                self.fail(self.peek(), "')'")
            self.take()
            return inner
        self.fail(tok, "a parameter name, a number or '('")


def parse_hypothesis(text: str) -> Hypothesis:
    """Read ``text`` (``"floor < 0"``, ``"a - b = 0"``) into a :class:`Hypothesis`; a
    :class:`~formulang.errors.FormulaError` with a caret on anything else."""
    p = _Parser(text)
    left = p.sum()
    tok = p.peek()
    if not (tok[0] == "op" and tok[1] in "<>="):
        p.fail(tok, "an operator or one of < > = (a hypothesis compares two sides)")
    op = p.take()[1]
    right = p.sum()
    if p.peek()[0] != "end":
        tok = p.peek()
        what = "the end (one comparison only)" if tok[1] in ("<", ">", "=") else "an operator"
        p.fail(tok, what)
    return Hypothesis(text, left, op, right)


def parameter_draws(plan, samples: dict) -> dict[str, np.ndarray]:
    """Flat (brms) name -> draws (flattened over chains) of every scalar of the fit, with the
    coefficients also under their bare names, as brms's ``fixef()`` prints them (``Days`` for
    ``b_Days``, ``sigma_x`` for ``b_sigma_x``, ``Intercept[1]`` for a threshold)."""
    out: dict[str, np.ndarray] = {}

    def flat(a) -> np.ndarray:
        a = np.asarray(a, dtype=float)
        return a.reshape((-1,) + a.shape[2:])

    for p in flat_parameters(plan):
        if p.variable not in samples:
            continue
        draws = flat(samples[p.variable])
        out[p.name] = draws if p.index is None else draws[..., p.index]
    for col in plan.columns:  # the column as the formula has it (``poly(x, 2)1``)
        if b_name(col) in out:
            out.setdefault(col, out[b_name(col)])
    for name in list(out):  # as brms's fixef() names them: sigma_x, Intercept[2], muc_x
        if name.startswith("b_"):
            out.setdefault(name[2:], out[name])
    for name in list(out):  # a column quoted in the formula (`x var`): `b_x var`, `x var`
        if "`" in name:
            out.setdefault(name.replace("`", ""), out[name])
    for g in all_groups(plan):  # the sub-formulas' too: r_g__sigma[level,Intercept]
        if g.sites.r in samples:
            r = flat(samples[g.sites.r]).reshape(-1, len(g.levels) * len(g.columns))
            out.update(zip(flat_effects(g), r.T))
    return out


def _evaluate(node: Node, draws: dict, text: str) -> np.ndarray:
    if node.kind == "num":
        return np.asarray(node.value)
    if node.kind == "name":
        if node.value not in draws:
            close = difflib.get_close_matches(node.value, list(draws), n=3, cutoff=0.5)
            hint = f" (did you mean {', '.join(close)}?)" if close else ""
            shown = [n for n in draws if not n.startswith("r_")][:12]
            raise FormulaError(f"hypothesis: no parameter {node.value!r}{hint}; the fit has "
                               f"{', '.join(shown)}...", text, *node.span)
        return draws[node.value]
    args = [_evaluate(a, draws, text) for a in node.args]
    if node.kind == "neg":
        return -args[0]
    a, b = args
    return {"+": np.add, "-": np.subtract, "*": np.multiply, "/": np.divide}[node.kind](a, b)


def hypothesis_table(plan, samples: dict, hypotheses, prob: float = 0.95,
                     weights=None) -> pd.DataFrame:
    """brms's ``hypothesis(fit, ...)$hypothesis``: one row per hypothesis text; ``weights``:
    importance weights of the draws (:func:`formulang.report.tables.moments`)."""
    from .tables import check_prob, moments, quantiles

    check_prob(prob)
    if isinstance(hypotheses, str):
        hypotheses = [hypotheses]
    draws = parameter_draws(plan, samples)
    rows = []
    for text in hypotheses:
        h = parse_hypothesis(text)
        n = len(next(iter(draws.values())))
        x = np.broadcast_to(_evaluate(h.left, draws, text) - _evaluate(h.right, draws, text),
                            (n,)).astype(float)
        alpha = 1 - prob
        qs = (alpha / 2, 1 - alpha / 2) if h.op == "=" else (alpha, 1 - alpha)
        mean, sd = (float(a[0]) for a in moments(x[:, None], prob, weights)[:2])
        lo, hi = quantiles(x[:, None], qs, weights)[:, 0]
        if h.op == "=":
            ratio = post = np.nan  # Savage-Dickey needs prior draws (brms: NA without them)
            star = not (lo <= 0 <= hi)
        else:
            hit = x < 0 if h.op == "<" else x > 0
            hits = float(np.mean(hit) if weights is None else np.reshape(weights, n) @ hit)
            ratio = np.inf if hits >= 1.0 else hits / (1.0 - hits)
            post = 1.0 if np.isinf(ratio) else ratio / (1 + ratio)
            star = post > prob
        rows.append({"Hypothesis": f"{text.strip()}", "Estimate": mean,
                     "Est.Error": sd, "CI.Lower": lo, "CI.Upper": hi,
                     "Evid.Ratio": ratio, "Post.Prob": post, "Star": "*" if star else ""})
    table = pd.DataFrame(rows)
    table.attrs["prob"] = prob
    return table
