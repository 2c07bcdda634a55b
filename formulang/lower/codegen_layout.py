"""The text side of generated source (:mod:`formulang.lower.codegen`): literals that read back
exactly, statements laid out within :data:`WIDTH` columns, comments and docstrings wrapped.

>>> num(140.8), num(3), int_list([1.0, 2])
('140.8', '3.0', '[1, 2]')
>>> distribution("normal", np.array([[0.0, 0.0], [1.0, 2.0]]), 2)
'dist.Normal(0.0, jnp.array([1.0, 2.0]))'
>>> identifier("batch:cask", set())
'batch_cask'
>>> w = Writer()
>>> w.line("x = f(" + ", ".join(str(i) for i in range(40)) + ")")
>>> len(w.lines) > 1 and max(map(len, w.lines)) <= WIDTH
True
"""

from __future__ import annotations

import keyword
import re
import textwrap

import numpy as np

from ..ir.prior import DISTRIBUTIONS

WIDTH = 99  # longest code line written (comments and docstrings are wrapped to it too)


# ---- literals -----------------------------------------------------------------------------------

def num(value) -> str:
    """A float literal that reads back exactly: ``3.0``, ``140.8``, ``-2.016``."""
    v = float(value)
    if not np.isfinite(v):
        return f'float("{v}")'
    return repr(v)


def int_list(values) -> str:
    return "[" + ", ".join(str(int(v)) for v in values) + "]"


def array(values) -> str:
    return "jnp.array([" + ", ".join(num(v) for v in values) + "])"


def distribution(name: str, params: np.ndarray, size: int | None = None) -> str:
    """Source of the NumPyro distribution ``name`` with parameters ``params``: one value per
    parameter (a scalar site) or an array (n_params, size) for a vector site. A parameter
    equal across the vector is written once; when all are, the last one is written as an array
    so the distribution still has ``size`` entries, as the compiled model's does."""
    params = np.asarray(params, dtype=float)
    if size is None:
        args = [num(v) for v in params.reshape(-1)]
    else:
        rows = [np.asarray(row).reshape(-1) for row in params]
        args = [num(row[0]) if np.all(row == row[0]) else array(row) for row in rows]
        if all(np.all(row == row[0]) for row in rows):
            args[-1] = array(rows[-1])
    return DISTRIBUTIONS[name].code(*args)


def identifier(name: str, taken: set[str]) -> str:
    """A Python identifier for a grouping factor's label (``batch:cask`` -> ``batch_cask``)."""
    ident = re.sub(r"\W+", "_", name).strip("_") or "g"
    if ident[0].isdigit() or keyword.iskeyword(ident):
        ident = "g_" + ident
    base, i = ident, 2
    while ident in taken:
        ident, i = f"{base}_{i}", i + 1
    taken.add(ident)
    return ident


# ---- line layout --------------------------------------------------------------------------------

_NUMBER = re.compile(r"^-?\d+(\.\d*)?(e[-+]?\d+)?$")


def _scan(code: str):
    """Per character of a code line: bracket depth before it (strings are depth -1), and the
    position of a trailing comment (or len(code))."""
    depth, quote, depths = 0, None, []
    for i, ch in enumerate(code):
        if quote:
            depths.append(-1)
            if ch == quote and code[i - 1] != "\\":
                quote = None
            continue
        if ch in "\"'":
            quote = ch
            depths.append(-1)
            continue
        if ch == "#":
            return depths, i
        if ch in ")]}":
            depth -= 1
        depths.append(depth)
        if ch in "([{":
            depth += 1
    return depths, len(code)


def _split_top(body: str) -> list[str]:
    """``body`` split at its depth-0 commas."""
    depths, _ = _scan(body)
    parts, start = [], 0
    for i, ch in enumerate(body):
        if ch == "," and depths[i] == 0:
            parts.append(body[start:i].strip())
            start = i + 1
    last = body[start:].strip()
    if last:
        parts.append(last)
    return parts


def _closes_at_end(text: str) -> bool:
    """Whether the bracket opening ``text`` is the one closing it."""
    depths, _ = _scan(text)
    return all(d > 0 for d in depths[1:-1]) and depths[-1] == 0


def format_statement(code: str, indent: str = "", width: int = WIDTH) -> list[str]:
    """Lay out one statement within ``width`` the way black would: split at the last
    bracket pair whose opening line fits, one argument a line when the arguments do not fit
    on one; runs of numbers (index arrays) fill their lines instead."""
    depths, hash_at = _scan(code)
    comment = code[hash_at:].strip()
    code = code[:hash_at].rstrip()
    if comment:
        if len(indent) + len(code) + 2 + len(comment) <= width:
            return [f"{indent}{code}  {comment}"]
        return [indent + comment] + format_statement(code, indent, width)
    if len(indent) + len(code) <= width:
        return [indent + code]
    # depth-0 bracket pairs, right to left
    pairs, stack = [], []
    for i, ch in enumerate(code):
        if depths[i] == -1:
            continue
        if ch in "([{" and depths[i] == 0:
            stack.append(i)
        elif ch in ")]}" and depths[i] == 0 and stack:
            pairs.append((stack.pop(), i))
    inner = indent + "    "
    fitting = [(o, c) for o, c in pairs if len(indent) + o + 1 <= width and code[o + 1:c].strip()]
    if fitting:
        # the pair with the most inside: split f(a).g(b) at f( when a is the long part
        open_at, close_at = max(fitting, key=lambda p: p[1] - p[0])
        head, body, tail = code[:open_at + 1], code[open_at + 1:close_at].strip(), code[close_at:]
        while (len(body) > 1 and body[0] in "([" and body[-1] == {"(": ")", "[": "]"}[body[0]]
               and _closes_at_end(body)):  # hug a lone bracketed argument: f([...])
            head, tail, body = head + body[0], body[-1] + tail, body[1:-1].strip()
        if len(inner) + len(body) <= width and len(indent) + len(tail) <= width:
            return [indent + head, inner + body, indent + tail]
        items = _split_top(body)
        lines = [indent + head]
        if items and all(_NUMBER.match(item) for item in items):
            current = inner
            for item in items:
                piece = item + ","
                if current != inner and len(current) + 1 + len(piece) > width:
                    lines.append(current)
                    current = inner
                current += (" " if current != inner else "") + piece
            lines.append(current)
        else:
            for item in items:
                sub = format_statement(item, inner, width - 1)
                sub[-1] += ","
                lines.extend(sub)
        lines.extend(format_statement(tail, indent, width))
        return lines
    return [indent + code]  # nothing to split: leave it long


class Writer:
    """Source lines at an indentation ``level``, each statement laid out by
    :func:`format_statement`."""

    def __init__(self):
        self.lines: list[str] = []
        self.level = 0

    def line(self, text: str = "") -> None:
        if not text:
            self.lines.append("")
            return
        self.lines.extend(format_statement(text, "    " * self.level))

    def comment(self, text: str) -> None:
        prefix = "    " * self.level + "# "
        for para in text.split("\n"):
            hang = len(para) - len(para.lstrip())
            first = prefix + " " * hang
            rest = prefix + " " * (hang + 2 if hang else 0)  # items hang under their text
            self.lines.extend(textwrap.wrap(para.strip(), WIDTH, initial_indent=first,
                                            subsequent_indent=rest, break_on_hyphens=False,
                                            break_long_words=False))

    def text(self, block: str) -> None:
        """Raw lines (docstrings), indented to the current level."""
        for ln in block.split("\n"):
            self.lines.append(("    " * self.level + ln) if ln else "")

    def source(self) -> str:
        return "\n".join(self.lines).rstrip() + "\n"


def docstring(text: str, indent: int) -> str:
    """A triple-quoted docstring, each paragraph wrapped to the page."""
    text = text.replace("\\", "\\\\").replace('"""', '\\"\\"\\"')
    out = []
    for para in text.split("\n\n"):
        if para.startswith("    "):  # preformatted (an example): keep its lines
            out.append(para)
        else:
            out.append("\n".join(textwrap.wrap(" ".join(para.split()), WIDTH - indent,
                                               break_on_hyphens=False)))
    body = "\n\n".join(out)
    return '"""' + body + ("\n" if "\n" in body else "") + '"""'


__all__ = ["WIDTH", "Writer", "array", "distribution", "docstring", "format_statement",
           "identifier", "int_list", "num"]
