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
        width = max(1, min(self.end, line_end + 1) - start)
        where = f" (line {self.line})" if "\n" in self.text else ""
        pad = " " * (start - line_start)
        return (f"{self.message}{where}\n  {self.text[line_start:line_end]}\n"
                f"  {pad}{'^' * width}")


class PriorError(FormulaError):
    """A prior that cannot be parsed or has invalid parameters."""


class DataError(FormulangError):
    """Data that does not fit the formula: a missing column, a bad value, too few rows..."""
