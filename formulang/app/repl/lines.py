"""Reading REPL input: when a command continues on the next line, and how it splits into a
formula and options.

>>> is_incomplete("fit y ~ x + (1 |")
True
>>> split_formula("log_radon ~ floor + (1 | county) --draws 100")
('log_radon ~ floor + (1 | county)', '--draws 100')
>>> split_words("--prior b[floor]=normal(0, 0.5) --draws 100")
['--prior', 'b[floor]=normal(0, 0.5)', '--draws', '100']
"""

from __future__ import annotations

import re
import shlex

from ...errors import FormulangError

# Options start at the first " --name": a formula never has "--" followed by a letter
# ("y ~ x - -1" is the only place two minus signs can meet, and a digit follows them).
_OPTIONS_START = re.compile(r"(?:^|\s)--(?=[A-Za-z])")


def paren_depth(text: str) -> int:
    """Open ``(`` and ``[`` minus closed ones, outside quotes."""
    depth, quote = 0, None
    for ch in text:
        if quote:
            quote = None if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif ch in "([":
            depth += 1
        elif ch in ")]":
            depth -= 1
    return depth


def is_incomplete(text: str) -> bool:
    """A command continues on the next line when it ends in ``\\`` or has unclosed brackets."""
    return text.rstrip(" \t").endswith("\\") or paren_depth(text) > 0


def join_continued(text: str) -> str:
    """Drop the ``\\`` of continued lines, keeping the line breaks (so error carets still point
    at the line the problem is on)."""
    return re.sub(r"\\[ \t]*\n", "\n", text).rstrip(" \t\\")


def split_command(line: str) -> tuple[str, str]:
    """``"fit y ~ x"`` -> ``("fit", "y ~ x")``; the command name is lower-cased."""
    parts = line.strip().split(None, 1)
    if not parts:
        return "", ""
    return parts[0].lower(), parts[1].strip() if len(parts) > 1 else ""


def split_formula(text: str) -> tuple[str, str]:
    """The formula is everything before the first ``--option``; the rest are options."""
    match = _OPTIONS_START.search(text)
    if match is None:
        return text.strip(), ""
    return text[:match.start()].strip(), text[match.start():].strip()


def split_words(text: str) -> list[str]:
    """Shell-like words (quotes group), with a word that opens a bracket running on until it
    closes, so ``--prior b=normal(0, 1)`` needs no quotes."""
    try:
        words = shlex.split(text)
    except ValueError as exc:  # an unclosed quote
        raise FormulangError(f"cannot split {text!r} into words: {exc}") from None
    merged: list[str] = []
    for word in words:
        if merged and paren_depth(merged[-1]) > 0:
            merged[-1] += " " + word
        else:
            merged.append(word)
    return merged
