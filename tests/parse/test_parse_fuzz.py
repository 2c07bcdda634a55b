"""Property-based fuzzing of the parser (issue 21): whatever the text, ``parse`` gives a Formula
or a FormulaError, within a second, and runs nothing.

The formulas come from tests/parse/fuzz_formulas.py (random derivations of the grammar with
hostile leaves, and the corpus of real formulas mutated), the generator bench/fuzz.py runs
10^6 times. Hypothesis drives its random choices, so a failure shrinks to a small input. Both
tests together take about a minute on a slow machine (the example counts below).
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, note, settings
from hypothesis import strategies as st

sys.path.insert(0, str(Path(__file__).resolve().parent))
import fuzz_formulas  # noqa: E402

from formulang.parse import parse as cached_parse  # noqa: E402

parse = cached_parse.__wrapped__  # the real work, not the cache

FUZZ = settings(
    max_examples=1500, deadline=None, derandomize=True, database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
SLOW = 1.0  # seconds a single parse may take


@pytest.fixture(scope="module")
def sentinel(tmp_path_factory):
    """A file any executed snippet would create; the parser is built (and its lazy imports
    taken) before anything is guarded."""
    fuzz_formulas.warm_up(parse)
    return tmp_path_factory.mktemp("fuzz") / "pwned"


def _judge(text: str, sentinel: Path) -> None:
    text = text.replace(fuzz_formulas.SENTINEL_NAME, str(sentinel))
    note(repr(text[:2000]))
    calls: list[str] = []
    outcome = fuzz_formulas.check(parse, text, calls)
    assert outcome.kind != "crash", outcome.detail
    assert calls == [], f"the parser tried to run {calls}"
    assert not sentinel.exists(), "a formula created the sentinel file"
    # CPU time, as bench/fuzz.py judges it: a busy machine must not fake (or hide) a blow-up
    assert outcome.cpu_seconds < SLOW, f"parse took {outcome.cpu_seconds:.2f} s of CPU"


@given(rng=st.randoms(use_true_random=False))
@FUZZ
def test_grammar_derivations(rng, sentinel):
    _judge(fuzz_formulas.from_grammar(rng), sentinel)


@given(rng=st.randoms(use_true_random=False))
@FUZZ
def test_corpus_mutations(rng, sentinel):
    _judge(fuzz_formulas.from_corpus(rng), sentinel)


@given(rng=st.randoms(use_true_random=False))
@settings(FUZZ, max_examples=200)
def test_expansion_bombs_and_deep_nesting(rng, sentinel):
    _judge("y ~ " + fuzz_formulas._big(rng), sentinel)


def test_the_oracle_sees_side_effects(sentinel):
    """The guard catches what it is meant to: a 'parser' that runs its input is a failure."""
    calls: list[str] = []

    def evaluating_parser(text):
        eval("1")  # noqa: S307 - the misbehaviour the guard must catch

    outcome = fuzz_formulas.check(evaluating_parser, "y ~ x", calls)
    assert outcome.kind == "crash" and calls == ["eval"]

    calls = []

    def importing_parser(text):
        __import__("os")

    fuzz_formulas.check(importing_parser, "y ~ x", calls)
    assert calls == ["import os"]
