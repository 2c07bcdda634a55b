"""Load the Lark grammar shipped with the package and build the parser once.

The grammar source lives in the repository's top-level ``grammar/`` folder; the wheel ships it
as ``formulang/grammar/formula.lark`` (see pyproject.toml), where ``importlib.resources`` finds
it. In an editable checkout the top-level folder is used directly.
"""

from __future__ import annotations

import functools
from importlib import resources
from pathlib import Path

import lark

GRAMMAR_FILE = "formula.lark"


def grammar_text() -> str:
    packaged = resources.files("formulang").joinpath("grammar", GRAMMAR_FILE)
    if packaged.is_file():
        return packaged.read_text(encoding="utf-8")
    checkout = Path(__file__).resolve().parents[2] / "grammar" / GRAMMAR_FILE
    if checkout.is_file():
        return checkout.read_text(encoding="utf-8")
    raise FileNotFoundError(
        f"formulang's grammar file {GRAMMAR_FILE} is missing from the installation")


@functools.lru_cache(maxsize=1)
def parser() -> lark.Lark:
    """The LALR parser for both start rules, built on first use and cached."""
    return lark.Lark(grammar_text(), start=["formula", "prior"], parser="lalr",
                     maybe_placeholders=True)
