"""Formulas for fuzzing the parser: random derivations of the grammar, and real formulas mutated.

Shared by the property test (tests/parse/test_parse_fuzz.py, a minute in CI) and by
bench/fuzz.py (10^6 formulas), so that both run the same generator. Every function takes a
``random.Random``: hypothesis supplies one it can shrink, the benchmark a seeded one.

The generator aims at what has broken parsers before: deep nesting, long flat sums, expansion
bombs (``x0*...*x17``, ``(a + b)^1e18``), overflowing numbers, odd characters (NUL, carriage
returns, non-breaking spaces, look-alike minus signs, letters beyond ASCII), unbalanced
brackets and quotes, and Python that must never run: every such snippet touches
:data:`SENTINEL_NAME` (formatted with a real path by the caller) if it is ever executed.

Nothing here parses anything; :func:`check` is the one oracle both callers apply.
"""

from __future__ import annotations

import builtins
import contextlib
import os
import random
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/, for the corpus
from formula_corpus import CORPUS  # noqa: E402

SENTINEL_NAME = "{sentinel}"  # replaced by the caller with a path that must never appear

NAMES = ["x", "y", "z", "g", "h", "a", "b", "Days", "Subject", "log_radon", "sch.id", "x.1",
         "T", "TRUE", "F", "I", "C", "n", "w", "_x", ".hidden", "x1", "level"]
FUNCTIONS = ["log", "log1p", "exp", "sqrt", "abs", "scale", "center", "standardize", "I", "C",
             "factor", "as.factor", "offset", "cbind", "trials", "weights", "poly", "ns",
             "eval", "exec", "open", "__import__", "getattr", "globals", "compile", "mean"]
NUMBERS = ["0", "1", "2", "3", "0.5", ".5", "1e400", "1e9", "1e18", "1e-400", "2.5", "-1",
           "100", "1e308", "9" * 40, "0.0", "1.", "1e+5"]
KWARGS = ["ref", "scale", "center", "base", "__class__", "df"]
KWVALUES = ['"b"', "'a'", "2", "-1", "1e400", "TRUE", "FALSE", "T", "x", '""', "__import__"]
OPERATORS = [" + ", " + ", " - ", "*", ":", ":", "/", "^", " %in% ", "**", " == ", " < "]
ODD = ["\x00", "\r", "\n", "\t", "\xa0", "\u2212", "\u200b", "é", "漢", "`", "'", '"', "$",
       ";", "{", "}", "[", "]", "@", "!", "&", "#", "\\", "?", "%", "||", "|", "~", "=", ",",
       "(", ")", "\x7f", "\ufeff", "\U0001f600"]
SNIPPETS = [
    "__import__('os').system('touch {sentinel}')",
    "I(__import__('os').system('touch {sentinel}'))",
    "open('{sentinel}', 'w')",
    "eval(\"open('{sentinel}', 'w')\")",
    "exec(\"open('{sentinel}', 'w')\")",
    "`x`.__class__.__bases__[0].__subclasses__()",
    "(lambda: open('{sentinel}', 'w'))()",
    "f\"{{open('{sentinel}', 'w')}}\"",
    "C(g, ref = open('{sentinel}', 'w'))",
    "x; open('{sentinel}', 'w')",
    "`{sentinel}`",
]


class _Derivation:
    """One random derivation; a hostile one (a third) draws odd names, unknown functions,
    overflowing numbers and bad keywords at every leaf, a clean one only what is valid."""

    def __init__(self, rng: random.Random):
        self.rng = rng
        self.hostile = rng.random() < 0.35

    def odd(self, p: float) -> bool:
        return self.hostile and self.rng.random() < p

    def name(self) -> str:
        rng = self.rng
        if self.odd(0.3):
            return rng.choice(["`log radon`", "`a b`", "`é`", "`1x`", "`__import__`", "`漢字`",
                               "`{sentinel}`", "`x`y`", "x" * rng.choice([40, 400, 4000]),
                               "__class__", "x.__dict__", "__builtins__", "..x", "x..y"])
        return rng.choice(NAMES)

    def number(self) -> str:
        return self.rng.choice(NUMBERS if self.odd(0.7) else ["0", "1", "1", "2", "3"])

    def call(self, depth: int) -> str:
        rng = self.rng
        name = rng.choice(FUNCTIONS if self.odd(0.5) else FUNCTIONS[:12])
        args = [self.expr(depth + 1, value=True) for _ in range(rng.choice([1, 1, 1, 2] + (
            [0, 3] if self.hostile else [])))]
        if rng.random() < 0.3:
            if self.odd(0.8):
                args.append(f"{rng.choice(KWARGS)} = {rng.choice(KWVALUES)}")
            else:
                args.append(rng.choice(['ref = "b"', "ref = 2", "scale = FALSE",
                                        "center = TRUE"]))
        return f"{name}({', '.join(args)})"

    def atom(self, depth: int, value: bool = False) -> str:
        roll = self.rng.random()
        if depth > 6 or roll < 0.5:
            return self.name()
        if roll < 0.57:
            return self.number()
        if roll < 0.77:
            return self.call(depth)
        if roll < 0.9 or (value and not self.odd(0.5)):
            return f"({self.expr(depth + 1, value)})"
        bar = self.rng.choice(["|", "||", "|", " | "])
        return f"({self.expr(depth + 1)} {bar} {self.grouping()})"

    def grouping(self) -> str:
        rng = self.rng
        parts = [rng.choice(["g", "h", "Subject", "a", "b"]) for _ in range(rng.randint(1, 3))]
        out = parts[0]
        for p in parts[1:]:
            out += rng.choice([":", "/", "*", " + "]) + p
        return out

    def expr(self, depth: int = 0, value: bool = False) -> str:
        """Formula algebra, or with ``value`` arithmetic (a function's argument)."""
        rng = self.rng
        out = self.atom(depth, value)
        for _ in range(rng.choice([0, 0, 1, 1, 2, 3, 5])):
            clean = [" + ", " - ", "*", "/", "^"] if value else OPERATORS[:8]
            op = rng.choice(OPERATORS if self.odd(0.5) else clean)
            right = self.number() if op in ("^", "**") else self.atom(depth, value)
            out += op + right
        if rng.random() < 0.1:
            out = rng.choice(["-", "+", "- "]) + out
        return out

    def lhs(self) -> str:
        rng = self.rng
        roll = rng.random()
        if roll < 0.15:
            return ""
        if roll < 0.25:
            return "cbind(s, n - s) "
        if roll < 0.35:
            adds = " + ".join(rng.choice(["trials(n)", "weights(w)", "se(s)", "cens(c)"])
                              for _ in range(rng.randint(1, 2)))
            return f"y | {adds} "
        return self.expr(3, value=True) + " "


def from_grammar(rng: random.Random) -> str:
    """A random derivation of the formula grammar, with hostile leaves now and then."""
    d = _Derivation(rng)
    text = d.lhs() + "~ " + d.expr()
    if rng.random() < 0.1:
        text += rng.choice([" | g", " || g", " | g:h", " | g | h"])
    if rng.random() < 0.15:
        text = mutate(rng, text, rounds=1)
    return text


def _big(rng: random.Random) -> str:
    """The shapes that blow up: long chains, deep nesting, expansion bombs."""
    n = rng.choice([10, 17, 18, 100, 990, 1500, 3000])
    op = rng.choice(["*", "+", ":", "/", " + ", "^", "-"])
    kind = rng.random()
    if kind < 0.3:
        return op.join(f"x{i}" for i in range(n))
    if kind < 0.5:
        k = rng.choice([50, 99, 100, 101, 300])
        opener = rng.choice(["(", "log(", "I(", "-", "- ", "(-", "x^"])
        closer = ")" if opener.endswith("(") else ""
        return opener * k + "x" + closer * k
    if kind < 0.7:
        return "(" + " + ".join(f"x{i}" for i in range(rng.choice([2, 5, 15, 60]))) + ")^" + \
            rng.choice(["2", "3", "11", "1e6", "1e18", "1e400", "2.5", "0", "-1"])
    if kind < 0.85:
        return "(1 | " + rng.choice(["*", ":", "/", " + "]).join(
            f"g{i}" for i in range(rng.choice([3, 12, 13, 18]))) + ")"
    return " + ".join(f"(1 | g{i})" for i in range(rng.choice([10, 990, 1500])))


def mutate(rng: random.Random, text: str, rounds: int | None = None) -> str:
    """``text`` with a few random edits: characters deleted, inserted, swapped or repeated,
    a hostile snippet or an expansion bomb spliced in, the end cut off."""
    for _ in range(rounds if rounds is not None else rng.randint(1, 4)):
        if not text:
            text = "y ~ x"
        i = rng.randrange(len(text) + 1)
        j = min(len(text), i + rng.randint(0, 12))
        roll = rng.random()
        if roll < 0.2:
            text = text[:i] + text[j:]
        elif roll < 0.4:
            text = text[:i] + rng.choice(ODD + OPERATORS) + text[i:]
        elif roll < 0.5 and j > i:
            text = text[:i] + text[i:j] * rng.choice([2, 3, 50, 500]) + text[j:]
        elif roll < 0.6:
            text = text[:i] + rng.choice(SNIPPETS) + text[j:]
        elif roll < 0.7:
            text = text[:i] + rng.choice([" + ", "*", ":", " ~ "]) + _big(rng) + text[i:]
        elif roll < 0.8:
            text = text[:i] + rng.choice(NUMBERS + NAMES + FUNCTIONS) + text[j:]
        elif roll < 0.9 and len(text) > 1:
            k = rng.randrange(len(text) - 1)
            text = text[:k] + text[k + 1] + text[k] + text[k + 2:]
        else:
            text = text[:i]
    return text


def from_corpus(rng: random.Random) -> str:
    """A real formula (tests/formula_corpus.py), as written or canonical, mutated."""
    _, source, canonical = rng.choice(CORPUS)
    return mutate(rng, rng.choice([source, canonical]))


def formula(rng: random.Random) -> str:
    """One fuzz input: half from the grammar, half mutated from the corpus, a few big ones."""
    roll = rng.random()
    if roll < 0.45:
        return from_grammar(rng)
    if roll < 0.9:
        return from_corpus(rng)
    return "y ~ " + _big(rng)


# ---- the oracle ---------------------------------------------------------------------------------


class Outcome:
    """What one parse did: ``kind`` is "formula", "error" or "crash"; ``seconds`` the wall time
    and ``cpu_seconds`` this thread's CPU time (which a busy machine does not inflate)."""

    def __init__(self, kind: str, seconds: float, detail: str = "", cpu_seconds: float = 0.0):
        self.kind, self.seconds, self.detail = kind, seconds, detail
        self.cpu_seconds = cpu_seconds


@contextlib.contextmanager
def nothing_runs(calls: list[str]):
    """While inside, eval/exec/compile/open/os.system/subprocess and absolute imports raise,
    and each attempt is recorded in ``calls`` (the parser imports nothing new: its only
    function-level import is a relative one of a module already loaded)."""
    real_import = builtins.__import__
    saved = [(builtins, n, getattr(builtins, n)) for n in ("eval", "exec", "compile", "open")]
    saved += [(os, "system", os.system), (os, "popen", os.popen),
              (subprocess, "Popen", subprocess.Popen)]

    def refuse(name):
        def call(*args, **kwargs):
            calls.append(name)
            raise RuntimeError(f"{name} called while parsing")
        return call

    def guarded_import(name, globals=None, locals=None, fromlist=(), level=0):
        if level == 0:
            calls.append(f"import {name}")
            raise RuntimeError(f"import {name} while parsing")
        return real_import(name, globals, locals, fromlist, level)

    try:
        for owner, name, _ in saved:
            setattr(owner, name, refuse(name))
        builtins.__import__ = guarded_import
        yield
    finally:
        builtins.__import__ = real_import
        for owner, name, value in saved:
            setattr(owner, name, value)


def check(parse, text: str, calls: list[str]) -> Outcome:
    """Parse ``text`` with nothing allowed to run; a Formula must print as text that parses
    back to it, and serialise exactly. Any other exception is a crash."""
    from formulang import Formula, FormulaError

    start, cpu_start = time.perf_counter(), time.thread_time()

    def outcome(kind: str, detail: str = "") -> Outcome:
        return Outcome(kind, time.perf_counter() - start, detail,
                       time.thread_time() - cpu_start)

    try:
        with nothing_runs(calls):
            result = parse(text)
    except FormulaError:
        return outcome("error")
    except Exception as exc:  # noqa: BLE001 - the failure being looked for
        return outcome("crash", f"{type(exc).__name__}: {exc}")
    parsed = outcome("formula")
    try:
        again = parse(str(result))
        same = again == result and Formula.from_json(result.to_json()) == result
    except Exception as exc:  # noqa: BLE001
        return Outcome("crash", parsed.seconds, f"round trip: {type(exc).__name__}: {exc}",
                       parsed.cpu_seconds)
    if not same:
        return Outcome("crash", parsed.seconds, f"round trip changed {result}",
                       parsed.cpu_seconds)
    return parsed


def warm_up(parse) -> None:
    """Build the parser and take every lazy import before anything is guarded."""
    from formulang import FormulaError

    for text in ["y ~ x + (1 | g)", "y ~ poly(x)", "y ~ x +", "y ~ é", "y ~ \x00", "y ~ ((x",
                 "y ~ " + "log(" * 101, "y ~ " + "*".join(f"x{i}" for i in range(20)),
                 "y ~ x | g | h", "~ 0", "y ~ C(x, ref = 1e400)"]:
        try:
            parse(text)
        except FormulaError:
            pass
