"""Turn what the Lark parser reports into errors in plain words, with a caret.

Lark says "Unexpected token Token('RPAR', ')') ... Expected one of: NAME, NUMBER, ..."; users
need "expected a term after '+'" under the right column. This module first checks what is
easiest to explain before parsing (brackets, quotes, the number of '~'), then maps the parser's
position, the offending token and the token before it to a message.
"""

from __future__ import annotations

import re
import unicodedata

import lark
from lark.exceptions import UnexpectedCharacters, UnexpectedInput, UnexpectedToken

from ..errors import FormulaError, PriorError
from ..errors import shorten as short
from ..ir.expr import is_dunder_name
from .grammar import parser
from .limits import MAX_DEPTH, MAX_LENGTH

OPERATORS = {"PLUS": "+", "MINUS": "-", "STAR": "*", "SLASH": "/", "POW": "^", "COLON": ":",
             "IN": "%in%", "COMPARE": None, "EQUALS": "=", "COMMA": ","}
OPERAND_END = {"NAME", "QUOTED_NAME", "NUMBER", "RPAR", "STRING"}
OPERAND_START = {"NAME", "QUOTED_NAME", "NUMBER", "LPAR"}

_EXPECTED_WORDS = {
    "NAME": "a term", "QUOTED_NAME": "a term", "NUMBER": "a term", "LPAR": "a term",
    "MINUS": "a term", "PLUS": "an operator", "STAR": "an operator", "SLASH": "an operator",
    "POW": "an operator", "COLON": "an operator", "IN": "an operator", "COMPARE": "an operator",
    "RPAR": "')'", "BAR": "'|'", "DOUBLE_BAR": "'||'", "ID_BAR": "'|ID|'", "TILDE": "'~'",
    "COMMA": "','",
    "EQUALS": "'='", "STRING": "a quoted string", "$END": "the end of the formula",
    "LSQB": "a value",
}

_CHARACTER_HINTS = {
    "$": "'$' is not allowed: name the column directly (write x, not data$x)",
    "%": "unknown operator: the only %-operator is %in%",
    ";": "';' is not allowed: a formula is a single expression",
    "{": "braces are not allowed in a formula",
    "}": "braces are not allowed in a formula",
    "[": "indexing with '[' is not allowed in a formula",
    "]": "indexing with ']' is not allowed in a formula",
    "@": "'@' is not allowed in a formula",
    "!": "'!' is not allowed in a formula (write comparisons inside I(), e.g. I(x != 0))",
    "&": "'&' is not allowed in a formula",
    "#": "comments ('#') are not allowed in a formula",
    "\\": "'\\' is not allowed in a formula",
    "?": "'?' is not allowed in a formula",
}


def _error_class(start: str) -> type[FormulaError]:
    return PriorError if start == "prior" else FormulaError


_QUOTED = re.compile(r"`[^`\n]*`?|\"[^\"\n]*\"?|'[^'\n]*'?")
_NAME = re.compile(r"(?:[A-Za-z_]|\.(?![0-9]))[A-Za-z0-9_.]*")


# Control characters other than tab and line breaks, anywhere (NUL, escape, delete...).
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")

# Characters no token of the grammar contains ('%' and '!' only in %in% and !=).
_BAD_CHARACTER = re.compile(r"[^A-Za-z0-9_.~+\-*/^:|(),=<>`\"' \t\r\n]")
_KEYWORD_VECTOR = re.compile(r"=\s*\[[^\[\]]*\]")


# Characters that arrive with text copied from documents and chat messages.
_LOOKALIKES = {"\u2212": "-", "\u2013": "-", "\u2014": "-", "\u2018": "'", "\u2019": "'",
               "\u201c": '"', "\u201d": '"', "\u2217": "*", "\u00d7": "*", "\uff5e": "~"}


def _unicode_hint(text: str, pos: int) -> str | None:
    ch = text[pos]
    if ch in _LOOKALIKES:
        return (f"{ch!r} (U+{ord(ch):04X}) is not {_LOOKALIKES[ch]!r}: type a plain "
                f"{_LOOKALIKES[ch]!r}")
    category = unicodedata.category(ch)
    if category == "Zs" or ch in "\u200b\u2060\ufeff":
        return f"an invisible or non-breaking space (U+{ord(ch):04X}): type a plain space"
    if category == "Cc":
        return f"control character U+{ord(ch):04X} is not allowed in a formula"
    if category.startswith("L"):
        word = _WORD.search(text, _WORD_START.search(text[:pos + 1]).start()).group()
        return (f"{ch!r}: a name with letters beyond ASCII is written in backticks: "
                f"`{short(word)}`")
    return None


_WORD = re.compile(r"[\w.]+")
_WORD_START = re.compile(r"[\w.]*\Z")


def _character_error(cls, text: str, pos: int) -> FormulaError:
    ch = text[pos]
    msg = _CHARACTER_HINTS.get(ch) or _unicode_hint(text, pos) or f"unexpected character {ch!r}"
    end = pos + 1
    if ch == "%":
        close = text.find("%", pos + 1)
        end = pos + 1 if close < 0 else close + 1
    return cls(msg, text, pos, end)


def precheck(text: str, start: str) -> None:
    """Errors that are clearest before parsing: empty input, quotes, brackets, two '~',
    and names that look like Python internals (pointed at before the parser trips over
    whatever follows them)."""
    cls = _error_class(start)
    what = "prior" if start == "prior" else "formula"
    if not text.strip():
        example = "normal(0, 1)" if start == "prior" else "y ~ x"
        raise cls(f"the {what} is empty; write e.g. {example}", text, 0, max(len(text), 1))
    if len(text) > MAX_LENGTH:
        raise cls(f"the {what} is {len(text)} characters long, more than the limit of "
                  f"{MAX_LENGTH}", text, MAX_LENGTH, MAX_LENGTH + 1)
    control = _CONTROL.search(text)  # even in backticks: a column name has none
    if control is not None:
        raise _character_error(cls, text, control.start())
    # Blank out quoted text so that brackets or names inside it are not read as syntax.
    masked = list(text)
    for m in _QUOTED.finditer(text):
        quote, body = m.group()[0], m.group()
        if len(body) < 2 or body[-1] != quote:
            kind = "backtick name" if quote == "`" else "string"
            raise cls(f"unterminated {kind}: add the closing {quote}", text, m.start(),
                      m.start() + 1)
        if quote == "`" and len(body) == 2:
            raise cls("empty backtick name", text, m.start(), m.end())
        masked[m.start():m.end()] = " " * len(body)
    plain = "".join(masked)
    # a keyword argument's vector, levels = ["b", "a"] (Python's spelling of R's c()), is the
    # one place for brackets: blanked for this check only
    unbracketed = _KEYWORD_VECTOR.sub(lambda m: m.group().replace("[", " ").replace("]", " "),
                                      plain)
    bad = _BAD_CHARACTER.search(unbracketed.replace("%in%", "    ").replace("!=", "  "))
    if bad is not None:
        raise _character_error(cls, text, bad.start())
    opens: list[int] = []
    for i, ch in enumerate(plain):
        if ch == "(":
            opens.append(i)
            if len(opens) > MAX_DEPTH:
                raise cls(f"the {what} is nested too deeply: parentheses and calls nest at most "
                          f"{MAX_DEPTH} levels (this is level {len(opens)})", text, i, i + 1)
        elif ch == ")":
            if not opens:
                raise cls("unmatched ')': there is no '(' before it", text, i, i + 1)
            opens.pop()
    if opens:
        raise cls("unclosed '(': add ')'", text, opens[-1], opens[-1] + 1)
    tildes = [i for i, ch in enumerate(plain) if ch == "~"]
    if start == "formula" and len(tildes) > 1:
        raise cls("a formula has one '~': the response goes on its left, the terms on its "
                  "right; a family parameter's formula follows after ';' (brms's bf(y ~ x, "
                  "sigma ~ z) is y ~ x; sigma ~ z)", text, tildes[1], tildes[1] + 1)
    if "__" in plain:
        for m in _NAME.finditer(plain):
            if is_dunder_name(m.group()):
                raise cls(f"'{short(m.group())}': names with double underscores are not "
                          f"allowed in a {what} (a {what} is data, never code)", text,
                          m.start(), m.end())


def _tokens_before(text: str, pos: int) -> list[lark.Token]:
    tokens = []
    try:
        for tok in parser().lex(text):
            if tok.start_pos >= pos:
                break
            tokens.append(tok)
    except UnexpectedInput:
        pass
    return tokens


def _paren_depth(tokens: list[lark.Token]) -> int:
    depth = 0
    for tok in tokens:
        depth += {"LPAR": 1, "RPAR": -1}.get(tok.type, 0)
    return depth


def _second_bar(tok: lark.Token, text: str) -> tuple[int, int]:
    """The span of the bar (or '||') that closes an ``|ID|`` token: in ``x | g | h`` the
    second bar is the mistake."""
    end = tok.end_pos + (text[tok.end_pos:tok.end_pos + 1] == "|")
    return tok.end_pos - 1, end


def _show(tok: lark.Token) -> str:
    if tok.type == "$END":
        return "the end of the formula"
    return f"'{short(tok.value)}'"


def _expected(expected) -> str:
    words = list(dict.fromkeys(_EXPECTED_WORDS.get(t, t.lower()) for t in sorted(expected)))
    if len(words) == 1:
        return words[0]
    return ", ".join(words[:-1]) + " or " + words[-1]


def translate(exc: UnexpectedInput, text: str, start: str) -> FormulaError:
    """Map a Lark parse failure to a FormulaError with a message in plain words."""
    cls = _error_class(start)
    if isinstance(exc, UnexpectedCharacters):
        return _character_error(cls, text, exc.pos_in_stream)
    if not isinstance(exc, UnexpectedToken):  # pragma: no cover - Lark's other kinds
        return cls(f"cannot read the {start}", text, 0, len(text))

    tok = exc.token
    if tok.type == "$END":
        pos = len(text.rstrip())
        tok_span = (pos, pos + 1)
    else:
        tok_span = (tok.start_pos, tok.end_pos)
    before = _tokens_before(text, tok_span[0])
    prev = before[-1] if before else None
    prev_span = (prev.start_pos, prev.end_pos) if prev is not None else tok_span
    depth = _paren_depth(before)

    if start == "formula":
        unknown = _unknown_function(text)
        if unknown is not None:  # the more basic problem, whatever its arguments look like
            return unknown
    if start == "prior":
        return _translate_prior(cls, text, tok, tok_span, before, prev_span, exc.expected)

    # An operator with nothing after it: "y ~ x +", "y ~ x + )", "(1 + | g)".
    if prev is not None and prev.type in OPERATORS and prev.type not in ("COMMA", "EQUALS") \
            and tok.type not in OPERAND_START | {"MINUS", "PLUS", "STRING"}:
        return cls(f"expected a term after '{prev.value}'", text, *prev_span)
    if prev is not None and prev.type == "TILDE" and tok.type == "$END":
        return cls("expected the right-hand side after '~'", text, *prev_span)
    if prev is not None and prev.type == "TILDE":
        return cls(f"expected a term after '~', found {_show(tok)}", text, *tok_span)
    if tok.type == "ID_BAR" and depth == 0:
        # y ~ x | g | h, or brms's ID outside parentheses (y ~ 1 |p| g)
        return cls("a group term has one bar, or an ID between two bars in parentheses: "
                   "write each group term in parentheses, e.g. (1 | g) + (1 | h) or "
                   "(1 |p| g)", text, *_second_bar(tok, text))
    if tok.type in ("BAR", "DOUBLE_BAR"):
        if prev is not None and prev.type in ("BAR", "DOUBLE_BAR") \
                and prev.end_pos == tok.start_pos:
            return cls(f"'{prev.value}{tok.value}' is not an operator: use '|' (correlated "
                       "effects) or '||' (uncorrelated)", text, prev.start_pos, tok.end_pos)
        if prev is not None and prev.type == "LPAR":
            return cls(f"empty group term: expected effects before '{tok.value}', "
                       f"e.g. (1 {tok.value} g) for a varying intercept", text, *tok_span)
        if prev is not None and prev.type == "BAR" and tok.type == "BAR":
            return cls("'| |' is not an operator: did you mean '||' (no space)?",
                       text, prev.start_pos, tok.end_pos)
        if prev is not None and prev.type in ("BAR", "DOUBLE_BAR"):
            return cls(f"expected a grouping factor after '{prev.value}'", text, *prev_span)
        if depth == 0 and any(t.type == "TILDE" for t in before):
            # y ~ 1 | g is lme4's (1 | g); a second bar has no reading
            return cls("a group term has one bar: write each group term in parentheses, "
                       "e.g. (1 | g) + (1 | h)", text, *tok_span)
        if depth == 0:
            return cls("use '+' between addition terms: s | trials(n) + weights(w)",
                       text, *tok_span)
        return cls("a group term has one '|', or an ID between two: (1 |p| g), brms's "
                   "correlation ID, is a name", text, *tok_span)
    if tok.type in ("RPAR", "$END") and prev is not None and prev.type in ("BAR", "DOUBLE_BAR"):
        return cls(f"expected a grouping factor after '{prev.value}'", text, *prev_span)
    if tok.type == "RPAR" and prev is not None and prev.type == "LPAR":
        return cls("empty parentheses", text, prev.start_pos, tok.end_pos)
    if tok.type == "TILDE":
        return cls("'~' cannot be inside parentheses or a function call", text, *tok_span)
    if tok.type == "EQUALS":
        if depth == 0:
            return cls("use '~' between the response and the terms, not '='", text, *tok_span)
        return cls("'=' names an argument of a function, as in scale(x, scale = FALSE)",
                   text, *tok_span)
    if tok.type == "STRING":
        return cls("quoted strings are only allowed as argument values such as ref = \"b\"; "
                   "write column names bare or in `backticks`", text, *tok_span)
    if tok.type == "COMMA":
        return cls("unexpected ',': commas only separate function arguments", text, *tok_span)
    if tok.type == "LPAR" and prev is not None and prev.type == "QUOTED_NAME":
        return cls("only whitelisted functions can be called, by their plain name",
                   text, *tok_span)
    if prev is not None and prev.type in OPERAND_END and tok.type in OPERAND_START:
        bar = " or '|' (a group term: (1 | g))" if _in_group_without_bar(before) else ""
        return cls(f"missing operator between {_show(prev)} and {_show(tok)}: "
                   f"did you mean '+'{bar}?", text, *tok_span)
    if tok.type == "$END":
        return cls(f"the formula ends too early: expected {_expected(exc.expected)}",
                   text, *tok_span)
    return cls(f"unexpected {_show(tok)}: expected {_expected(exc.expected)}", text, *tok_span)


def _in_group_without_bar(before) -> bool:
    """Whether the innermost open parenthesis is a term's (not a call's) with no bar yet:
    ``(1 subj`` may be a group term missing its '|'."""
    level = 0
    for i in range(len(before) - 1, -1, -1):
        kind = before[i].type
        if kind == "RPAR":
            level += 1
        elif kind == "LPAR":
            if level == 0:
                return i == 0 or before[i - 1].type not in ("NAME", "QUOTED_NAME")
            level -= 1
        elif level == 0 and kind in ("BAR", "DOUBLE_BAR", "ID_BAR"):
            return False
    return False


def _unknown_function(text: str) -> FormulaError | None:
    from ..ir.functions import FUNCTIONS, unknown_function

    previous = None
    try:
        for tok in parser().lex(text):
            if tok.type == "LPAR" and previous is not None and previous.type == "NAME" \
                    and previous.value not in FUNCTIONS:
                return FormulaError(unknown_function(previous.value), text,
                                    previous.start_pos, previous.end_pos)
            previous = tok
    except UnexpectedInput:
        pass
    return None


def _translate_prior(cls, text, tok, tok_span, before, prev_span, expected) -> FormulaError:
    prev = before[-1] if before else None
    if prev is None and tok.type != "NAME":
        return cls("a prior starts with a distribution name, e.g. normal(0, 1)", text, *tok_span)
    if prev is not None and prev.type == "NAME" and len(before) >= 2 \
            and before[-2].type in ("LPAR", "COMMA") and tok.type != "EQUALS":
        return cls("prior arguments are numbers, e.g. normal(0, 2.5)", text, *prev_span)
    if tok.type in ("NAME", "QUOTED_NAME") and prev is not None and prev.type != "LPAR" \
            and prev.type != "COMMA":
        return cls(f"unexpected {_show(tok)}", text, *tok_span)
    if tok.type in ("NAME", "QUOTED_NAME", "STRING", "LPAR") and prev is not None:
        return cls("prior arguments are numbers, e.g. normal(0, 2.5)", text, *tok_span)
    if tok.type == "$END" and prev is not None and prev.type == "NAME":
        from ..ir.prior import DISTRIBUTIONS, unknown_distribution

        if prev.value not in DISTRIBUTIONS:  # "flat": no such distribution, with or without ()
            return cls(unknown_distribution(prev.value), text, *prev_span)
        return cls(f"expected '(' and the parameters after '{short(prev.value)}', e.g. "
                   f"{short(prev.value)}(0, 1)", text, *tok_span)
    if prev is not None and prev.type in ("COMMA", "LPAR", "EQUALS", "MINUS") \
            and tok.type in ("RPAR", "COMMA", "$END"):
        return cls(f"expected a number after '{short(prev.value)}'", text, *prev_span)
    if prev is not None and prev.type == "RPAR":
        return cls(f"unexpected {_show(tok)} after the prior", text, *tok_span)
    return cls(f"unexpected {_show(tok)}: expected {_expected(expected)}", text, *tok_span)
