"""Errors users see. Each names the problem and where it is.

Formula errors carry the formula text and the span of the offending characters, and render a
caret line under them:

>>> err = FormulaError("expected a term after '+'", text="y ~ x +", start=6, end=7)
>>> print(err)
expected a term after '+'
  y ~ x +
        ^
"""

from __future__ import annotations

import unicodedata

# A long formula (a generated one, a file pasted whole) is shown as a window around the caret.
WINDOW = 80


def shorten(text: str, limit: int = 40) -> str:
    """``text`` as quoted in a message: long names are cut in the middle with '…'.

    >>> shorten("a" * 100, 9)
    'aaaa…aaaa'
    """
    if len(text) <= limit:
        return text
    half = (limit - 1) // 2
    return text[:half] + "…" + text[len(text) - half:]


def _width(text: str) -> int:
    """Columns ``text`` takes in a terminal: wide East Asian characters two, combining none."""
    return sum(0 if unicodedata.combining(ch) else
               2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1 for ch in text)


def _printable(text: str) -> str:
    """Control characters would move the caret off its place (or worse): a tab is shown as a
    space, the others as their pictures (NUL as '␀', a carriage return as '␍')."""
    return "".join(_PICTURES.get(ch, ch) if unicodedata.category(ch) == "Cc" else ch
                   for ch in text)


_PICTURES = {chr(i): chr(0x2400 + i) for i in range(32)} | {"\t": " ", "\x7f": "\u2421"}
_PICTURES |= {chr(i): "\ufffd" for i in range(0x80, 0xa0)}


class FormulangError(ValueError):
    """Base of every error formulang raises on bad user input."""


class FormulaError(FormulangError):
    """A formula (or prior) that cannot be parsed or does not make sense.

    ``text`` is the formula, ``start``/``end`` the character span of the problem (0-based, end
    exclusive) and ``message`` the plain-words explanation without the caret picture.
    """

    def __init__(self, message: str, text: str | None = None, start: int | None = None,
                 end: int | None = None):
        self.message = message
        self.text = text
        self.start = start
        self.end = end if end is not None else (None if start is None else start + 1)
        super().__init__(self._render())

    @property
    def line(self) -> int | None:
        """1-based line of the problem (formulas typed in the REPL may span lines)."""
        return None if self.start is None else self.text.count("\n", 0, self.start) + 1

    @property
    def column(self) -> int | None:
        """1-based column of the problem within its line, as editors count."""
        if self.start is None:
            return None
        return self.start - (self.text.rfind("\n", 0, self.start) + 1) + 1

    def _render(self) -> str:
        if self.text is None or self.start is None:
            return self.message
        start = min(max(self.start, 0), len(self.text))
        line_start = self.text.rfind("\n", 0, start) + 1
        line_end = self.text.find("\n", start)
        line_end = len(self.text) if line_end < 0 else line_end
        end = max(start + 1, min(self.end, line_end + 1))
        # Show at most WINDOW characters of the line, from a little before the caret.
        lo, hi = line_start, line_end
        if hi - lo > WINDOW:
            lo = max(line_start, min(start - WINDOW // 3, line_end - WINDOW))
            hi = min(line_end, lo + WINDOW)
        end = min(end, max(hi, start) + 1)
        before, marked = self.text[lo:start], self.text[start:end]
        shown = ("…" if lo > line_start else "") + _printable(self.text[lo:hi]) + \
            ("…" if hi < line_end else "")
        pad = " " * ((1 if lo > line_start else 0) + _width(_printable(before)))
        carets = "^" * max(1, _width(_printable(marked.replace("\n", " "))))
        where = f" (line {self.line})" if "\n" in self.text else ""
        return f"{self.message}{where}\n  {shown}\n  {pad}{carets}"


class PriorError(FormulaError):
    """A prior that cannot be parsed or has invalid parameters."""


class DataError(FormulangError):
    """Data that does not fit the formula: a missing column, a bad value, too few rows..."""
