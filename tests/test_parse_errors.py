"""Malformed and malicious formulas: every one raises a FormulaError that points at the problem.

Cases are written patsy-style: the formula with the offending span marked. Strip the markers to
get the input; their positions give the expected span.

- ``⟨...⟩``: exact span: ``err.start`` and ``err.end`` must both match.
- ``⟪...⟫``: the span starts here and covers at least the marked text (``err.start`` exact,
  ``err.end`` >= the marked end). Used where a whole call or group term is an equally good
  span as its name or opening parenthesis.
- no marker: only that a FormulaError is raised (with a caret line, for one-line formulas).

The message check is a case-insensitive regular expression searched in ``err.message``.
"""

from __future__ import annotations

import builtins
import os
import re
import subprocess

import pytest

import formulang
from formulang import FormulaError
from formulang.ir import FUNCTIONS

MARKS = "⟨⟩⟪⟫"
UNCLOSED = r"'\('|unclosed|never closed|not closed|parenthes"

# fmt: off
ERRORS = [
    # ---- trailing and doubled operators ---------------------------------------------------------
    ("trailing_plus", "y ~ x ⟨+⟩", r"expected a term after '\+'"),
    ("trailing_star", "y ~ x ⟨*⟩", r"after '\*'"),
    ("trailing_colon", "y ~ a ⟨:⟩", r"after ':'"),
    ("trailing_minus", "y ~ x + z ⟨-⟩", r"after '-'"),
    ("trailing_slash", "y ~ a ⟨/⟩", r"after '/'"),
    ("trailing_plus_in_parentheses", "y ~ (x ⟨+⟩)", r"after '\+'"),
    ("trailing_in", "y ~ a ⟨%in%⟩", r"after '%in%'"),
    ("nothing_after_tilde", "y ⟨~⟩", r"after '~'|right|empty|nothing"),
    ("tilde_alone", "⟨~⟩", r"after '~'|right|empty|nothing"),
    # ---- parentheses --------------------------------------------------------------------------
    ("unclosed_parenthesis", "y ~ ⟨(⟩x + z", UNCLOSED),
    ("unclosed_call", "y ~ log⟨(⟩x", UNCLOSED),
    ("unclosed_group_term", "y ~ x + ⟨(⟩1 | g", UNCLOSED),
    ("extra_closing_parenthesis", "y ~ log(x)⟨)⟩", r"'\)'|unmatched|unexpected|parenthes"),
    ("extra_closing_after_group", "y ~ x + (1 | g)⟨)⟩", r"'\)'|unmatched|unexpected|parenthes"),
    ("closing_before_opening", "y ~ x + ⟨)⟩z(", r"'\)'|unmatched|unexpected|parenthes"),
    ("close_bracket_instead_of_paren", "y ~ (x + z⟨]⟩", r"\]|character"),
    # ---- group terms --------------------------------------------------------------------------
    ("empty_group_lhs", "y ~ x + (⟨|⟩ g)", r"before '\|'|intercept|effect|expected"),
    ("missing_grouping_factor", "y ~ x + (1 ⟨|⟩)", r"grouping factor"),
    ("missing_grouping_factor_double_bar", "y ~ x + (x ⟨||⟩)", r"grouping factor"),
    ("split_double_bar", "y ~ x + (x ⟨| |⟩ g)", r"'\|\|'"),
    # a term in parentheses with no bar yet may be a group term missing its '|'
    ("group_term_missing_bar", "y ~ x + (1 ⟨subj⟩)", r"did you mean '\+' or '\|'"),
    ("call_missing_operator", "y ~ log(x ⟨z⟩)", r"did you mean '\+'\?"),
    # lme4 reads y ~ x | g as y ~ (x | g) (tests/parse/test_hostile.py); a second bar has no
    # reading, and neither has a group term inside one
    ("second_bar_outside_parentheses", "y ~ x | g ⟨|⟩ h", r"parenthes"),
    ("double_bar_after_bar_outside_parentheses", "y ~ x + 1 | g ⟨||⟩ h", r"parenthes"),
    ("bar_outside_parentheses_missing_factor", "y ~ x + 1 ⟨|⟩", r"grouping factor"),
    ("group_term_left_of_bare_bar", "y ~ x + ⟪(⟫1 | g) | h", r"group|nest"),
    ("group_in_interaction", "y ~ x:⟪(⟫1 | g)", r"group|interaction"),
    ("group_in_star", "y ~ ⟪(⟫1 | g)*x", r"group|interaction"),
    ("group_inside_function", "y ~ log(⟪(⟫1 | g))", r"group"),
    ("group_inside_I", "y ~ I(⟪(⟫1 | g))", r"group"),
    ("nested_group_term", "y ~ (1 + ⟪(⟫1 | h) | g)", r"group|nest"),
    ("group_term_as_grouping_factor", "y ~ (1 | ⟪(⟫1 | g))", r"group"),
    ("grouping_factor_transform", "y ~ x + (1 | ⟪log⟫(g))", r"grouping"),
    ("grouping_factor_number", "y ~ x + (1 | ⟨1⟩)", r"grouping"),
    ("group_with_no_effects", "y ~ x + ⟪(0 | g)⟫", r"intercept|effect"),
    ("group_with_no_effects_minus_one", "y ~ x + ⟪(-1 | g)⟫", r"intercept|effect"),
    # ---- tilde and response ---------------------------------------------------------------------
    ("duplicate_tilde", "y ~ x ⟨~⟩ z", r"~"),
    ("duplicate_tilde_later", "y ~ x + z ⟨~⟩ w", r"~"),
    ("tilde_inside_I", "y ~ I(x ⟨~⟩ z)", r"~"),
    # brms's bf(y ~ x, sigma ~ z): formulang separates the formulas with ';'
    ("formulas_separated_by_comma", "y ~ x, sigma ⟨~⟩ z", r"after ';'.* is y ~ x; sigma ~ z"),
    ("response_on_rhs", "y ~ ⟨y⟩ + x", r"response"),
    ("cbind_on_rhs", "y ~ ⟪cbind⟫(a, b)", r"cbind"),
    ("trials_on_rhs", "y ~ x + ⟪trials⟫(n)", r"trials"),
    ("weights_on_rhs", "y ~ x + ⟪weights⟫(w)", r"weights"),
    ("cbind_one_argument", "⟪cbind⟫(s) ~ x", r"cbind"),
    # Both halves conflict, so the whole response is the span.
    ("cbind_and_trials", "⟨cbind(s, f) | trials(n)⟩ ~ x", r"trials|cbind"),
    ("duplicate_weights", "y | weights(w) + ⟪weights⟫(v) ~ x", r"weights"),
    ("bare_column_addition", "y | ⟨w⟩ ~ x", r"trials|weights"),
    ("unknown_addition", "s | ⟪mi⟫(sigma) ~ x", r"\bmi\b"),  # se() is supported (issue 18)
    # ---- numbers and terms ---------------------------------------------------------------------
    ("number_term", "y ~ x + ⟨2⟩", r"\b2\b|number"),
    ("decimal_term", "y ~ x + ⟨0.5⟩", r"0\.5|number"),
    ("number_times_term", "y ~ ⟨3⟩*x", r"\b3\b|number"),
    ("infinite_number", "y ~ I(x * ⟨1e400⟩)", r"finite|large|range|number"),
    ("string_term", 'y ~ x + ⟨"z"⟩', r"string|quot|`|unexpected|expected"),
    ("dot_all_columns", "y ~ ⟨.⟩", r"'\.'|all columns|not supported|unsupported"),
    ("dot_with_group", "y ~ ⟨.⟩ + (1 | g)", r"'\.'|all columns|not supported|unsupported"),
    ("comparison_outside_I", "y ~ x ⟨>⟩ 0", r"I\(|comparison"),
    ("equality_outside_I", "y ~ x ⟨==⟩ 1", r"I\(|comparison"),
    ("assignment", "y ~ x ⟨=⟩ z", r"'='|unexpected|expected"),
    ("comma_at_top_level", "y ~ x⟨,⟩ z", r"','|unexpected|expected"),
    ("keyword_without_value", "y ~ s(x, k = ⟨)⟩", r"expected a value, a term"),
    ("contrast_by_position", "y ~ ⟪C⟫(g, Treatment('b'))", r"settings go by name: ref = \.\.\., "
                                                           r"levels = \.\.\."),
    ("smooth_of_two_variables", "y ~ ⟪s⟫(x, z)", r"a smooth of two variables is t2\(x, z\)"),
    # ---- functions ------------------------------------------------------------------------------
    ("unknown_function_lo", "y ~ ⟨lo⟩(x, 2)", r"\blo\b"),
    ("unknown_function_cr", "y ~ x + ⟨cr⟩(age, df = 3)", r"\bcr\b"),
    ("unknown_function_in_response", "⟨boxcox⟩(y) ~ x", r"boxcox"),
    ("unknown_function_in_group_lhs", "y ~ (1 + ⟨lo⟩(x, 2) | g)", r"\blo\b"),
    ("unknown_function_inside_I", "y ~ I(⟨mean⟩(x))", r"\bmean\b"),
    ("log_two_arguments", "y ~ ⟪log⟫(x, z)", r"\blog\b"),
    ("scale_no_arguments", "y ~ ⟪scale⟫()", r"scale"),
    ("I_no_arguments", "y ~ ⟪I⟫()", r"\bI\b"),
    ("offset_two_arguments", "y ~ x + ⟪offset⟫(a, b)", r"offset"),
    ("unknown_keyword", "y ~ scale(x, ⟨foo⟩ = TRUE)", r"\bfoo\b"),
    ("unknown_keyword_C", 'y ~ C(g, ⟨reff⟩ = "b")', r"\breff\b"),
    ("keyword_on_log", "y ~ log(x, ⟨base⟩ = 2)", r"\bbase\b"),
    ("duplicate_keyword", "y ~ scale(x, scale = FALSE, ⟨scale⟩ = TRUE)", r"scale"),
    ("keyword_wrong_type", 'y ~ scale(x, scale = ⟨"no"⟩)', r"scale|TRUE|FALSE|logical|bool"),
    # ---- characters that are not formula syntax -----------------------------------------------
    ("unterminated_backtick", "y ~ x + ⟪`⟫log radon", r"backtick|`"),
    ("empty_backticks", "y ~ x + ⟪`⟫`", r"backtick|`|name"),
    ("r_dollar", "y ~ df⟨$⟩x", r"\$"),
    ("brace", "y ~ x + ⟨{⟩z}", r"\{|brace"),
    ("semicolon", "y ~ x⟨;⟩ z", r";"),
    ("subscript", "y ~ x⟨[⟩1]", r"\["),
    ("at_sign", "y ~ x + ⟨@⟩z", r"@"),
    ("unknown_percent_operator", "y ~ x ⟪%⟫foo% z", r"%"),
    ("nul_byte", "y ~ x⟨\x00⟩", r"character|unexpected"),
    # ---- malicious ------------------------------------------------------------------------------
    ("import_system", "y ~ I(⟪__import__⟫('os').system('echo hi'))", r"__import__"),
    ("dunder_attribute_name", "y ~ ⟨x.__class__⟩", r"__class__"),
    ("brace_open", "y ~ ⟨{⟩open('f')}", r"\{|brace"),
    ("bare_dunder_import", "y ~ ⟨__import__⟩", r"__import__"),
    ("attribute_after_call", "y ~ I(x)⟪.__class__⟫", r"__class__|unexpected|expected"),
    ("eval_call", "y ~ ⟪eval⟫(x)", r"\beval\b"),
    ("exec_call", 'y ~ ⟪exec⟫("1")', r"\bexec\b"),
    ("getattr_call", 'y ~ ⟪getattr⟫(x, "a")', r"getattr"),
    ("globals_call", "y ~ ⟪globals⟫()", r"globals"),
    ("open_call", 'y ~ ⟪open⟫("f")', r"\bopen\b"),
    ("dunder_builtins", "y ~ x + ⟨__builtins__⟩", r"__builtins__"),
    ("dunder_globals_attribute", "y ~ log(x)⟪.__globals__⟫",
     r"__globals__|unexpected|expected"),
    ("dunder_response", "⟨__class__⟩ ~ x", r"__class__"),
    ("keyword_value_name", "y ~ C(g, ref = ⟨__import__⟩)", r"ref|__import__"),
    ("semicolon_import", "y ~ x⟨;⟩ import os", r";"),
    ("python_kwargs_splat", "y ~ log(⟪**⟫x)", r"\*\*|unexpected|expected"),
    ("call_of_call", "y ~ I(x)⟪(⟫z)", r"'\('|unexpected|expected"),
    ("lambda_call", "y ~ (lambda x: x)(z)", None),
    ("lambda_in_I", "y ~ I(lambda: 1)", None),
    ("f_string", 'y ~ f"{x}"', None),
    ("f_string_import", "y ~ I(f'{__import__(\"os\").system(\"id\")}')", None),
    ("python_walrus", "y ~ (x := 1)", None),
    ("missing_tilde", "y + x", r"~"),
    ("empty_string", "", None),
    ("blank_string", "   \n  ", None),
    # Multi-line: the caret picture shows the offending line; the span is still exact.
    ("multiline_missing_grouping_factor", "y ~ x +\n  (1 ⟨|⟩ )", r"grouping factor"),
]
# fmt: on


def unmark(marked: str) -> tuple[str, int | None, int | None, bool]:
    """The input text, the marked span and whether the end is exact."""
    exact = "⟨" in marked
    loose = "⟪" in marked
    assert not (exact and loose)
    if not (exact or loose):
        return marked, None, None, False
    open_, close = ("⟨", "⟩") if exact else ("⟪", "⟫")
    start = marked.index(open_)
    end = marked.index(close) - 1
    text = marked.replace(open_, "").replace(close, "")
    assert not any(m in text for m in MARKS)
    return text, start, end, exact


def parse_error(text: str) -> FormulaError:
    try:
        result = formulang.parse(text)
    except FormulaError as err:
        return err
    except Exception as exc:  # noqa: BLE001 - any other exception is the failure being tested
        pytest.fail(f"parse({text!r}) raised {type(exc).__name__} instead of FormulaError: {exc}")
    pytest.fail(f"parse({text!r}) did not raise; it gave {result}")


def test_at_least_thirty_error_cases():
    assert len(ERRORS) >= 30
    ids = [c[0] for c in ERRORS]
    assert len(ids) == len(set(ids))


@pytest.mark.parametrize("marked, message", [c[1:] for c in ERRORS], ids=[c[0] for c in ERRORS])
def test_error(marked, message):
    text, start, end, exact = unmark(marked)
    err = parse_error(text)
    assert isinstance(err, FormulaError)
    assert isinstance(err.message, str) and err.message
    assert "Traceback" not in str(err)
    if message is not None:
        assert re.search(message, err.message, re.IGNORECASE), (
            f"message {err.message!r} does not match {message!r}")
    if text.strip():
        assert err.text == text
        assert err.start is not None, "an error in a non-empty formula must point somewhere"
        assert 0 <= err.start <= len(text)
        assert err.end is not None and err.end >= err.start
        line_start = text.rfind("\n", 0, err.start) + 1
        assert err.column == err.start - line_start + 1  # 1-based, within its line
        line_end = text.find("\n", err.start)
        line = text[line_start:] if line_end < 0 else text[line_start:line_end]
        rendered = str(err)
        # control characters are shown as their pictures, NUL as U+2400
        shown = "".join(chr(0x2400 + ord(c)) if c < " " and c not in "\t\n" else c for c in text)
        if "\n" not in text:
            assert shown in rendered
        else:
            assert line in rendered
        assert "^" in rendered
        caret_line = rendered.splitlines()[-1]
        assert caret_line.index("^") - 2 == min(err.start - line_start, len(line))
    if start is not None:
        got = text[err.start:err.end]
        want = text[start:end]
        assert err.start == start, (
            f"error points at {got!r} (start {err.start}), expected {want!r} (start {start}):"
            f"\n{err}")
        if exact:
            assert err.end == end, f"span {got!r} ({err.start}, {err.end}), expected {want!r}"
        else:
            assert err.end >= end, f"span {got!r} ({err.start}, {err.end}) too short for {want!r}"


def test_unknown_function_lists_the_allowed_ones():
    err = parse_error("y ~ lo(x, 2)")
    for name in ["log", "sqrt", "exp", "scale", "center", "I", "C", "factor", "offset", "poly",
                 "bs", "ns", "round", "dummy"]:
        assert re.search(rf"(?<![\w.]){re.escape(name)}(?![\w.])", err.message), (
            f"{name!r} not listed in {err.message!r}")


def test_unknown_function_lists_only_functions_that_exist():
    err = parse_error("y ~ lo(x, 2)")
    # the message must not invent functions: everything listed that looks like a call is real
    for name in re.findall(r"([A-Za-z_.][A-Za-z0-9_.]*)\(\)", err.message):
        assert name == "lo" or name in FUNCTIONS


@pytest.mark.parametrize("text", [
    "y ~ " + "(" * 300 + "x" + ")" * 300,
    "y ~ I(" + "(" * 300 + "x" + ")" * 300 + ")",
    "y ~ I(" + "-" * 300 + "x)",
    "y ~ log(" * 200 + "x" + ")" * 200,
    "y ~ " + "(" * 300 + "x",
    "y ~ " + "x + " * 2000,
    "y ~ I(" + "x^" * 500 + "2)",
], ids=["deep_parens", "deep_parens_in_I", "many_unary_minus", "deep_calls", "deep_unclosed",
        "long_trailing_plus", "long_power_chain"])
def test_pathological_input_gives_a_formula_or_a_formula_error(text):
    try:
        formulang.parse(text)
    except FormulaError:
        pass
    except Exception as exc:  # noqa: BLE001
        pytest.fail(f"{type(exc).__name__} escaped parse(): {str(exc)[:200]}")


def test_deep_parentheses_mean_the_name():
    text = "y ~ " + "(" * 50 + "x" + ")" * 50
    assert formulang.parse(text) == formulang.parse("y ~ x")


@pytest.mark.parametrize("value", [None, 42, b"y ~ x", ["y ~ x"]],
                         ids=["none", "int", "bytes", "list"])
def test_non_text_input_is_refused(value):
    with pytest.raises((FormulaError, TypeError)):
        formulang.parse(value)


# ---- nothing in a formula ever runs ------------------------------------------------------------

MALICIOUS = [
    "y ~ I(__import__('os').system('touch {path}'))",
    "y ~ __import__('os').system('touch {path}')",
    "y ~ I(open('{path}', 'w'))",
    "y ~ {{open('{path}', 'w')}}",
    "y ~ x; open('{path}', 'w').write('x')",
    "y ~ x\nopen('{path}', 'w')",
    "y ~ exec(\"open('{path}', 'w')\")",
    "y ~ eval(\"open('{path}', 'w')\")",
    "y ~ I(x) + (lambda: open('{path}', 'w'))()",
    "y ~ f\"{{open('{path}', 'w')}}\"",
    "__import__('os').system('touch {path}') ~ x",
    "y ~ I(__import__('pathlib').Path('{path}').touch())",
    "y ~ scale(x, scale = __import__('os').system('touch {path}'))",
    "y ~ C(g, ref = open('{path}', 'w'))",
    "y ~ x + (1 | __import__('os').system('touch {path}'))",
    "y | weights(__import__('os').system('touch {path}')) ~ x",
    "y ~ log(x).__class__.__bases__[0].__subclasses__()",
    "y ~ `x`.__class__",
]


@pytest.fixture
def guarded(monkeypatch, tmp_path):
    """Warm the parser up, then make eval/exec/os.system raise and watch file opens."""
    formulang.parse("y ~ x + (1 | g)")
    for warm in ["y ~ x +", "y ~ poly(x)", "y ~ __import__", "y ~ x; z", "y ~ {x}"]:
        try:
            formulang.parse(warm)
        except FormulaError:
            pass
    target = tmp_path / "pwned"
    calls: list[str] = []

    def forbidden(name):
        def refuse(*args, **kwargs):
            calls.append(name)
            raise AssertionError(f"{name} called while parsing a formula")
        return refuse

    real_open = builtins.open

    def watched_open(file, *args, **kwargs):
        if "pwned" in str(file):
            calls.append("open")
            raise AssertionError("open() called on the target while parsing a formula")
        return real_open(file, *args, **kwargs)

    def patch():
        monkeypatch.setattr(builtins, "eval", forbidden("eval"))
        monkeypatch.setattr(builtins, "exec", forbidden("exec"))
        monkeypatch.setattr(os, "system", forbidden("os.system"))
        monkeypatch.setattr(subprocess, "Popen", forbidden("subprocess.Popen"))
        monkeypatch.setattr(builtins, "open", watched_open)

    return target, calls, patch, monkeypatch


@pytest.mark.parametrize("template", MALICIOUS,
                         ids=[f"malicious_{i}" for i in range(len(MALICIOUS))])
def test_malicious_formula_runs_nothing(template, guarded):
    target, calls, patch, monkeypatch = guarded
    text = template.format(path=target)
    # First run unguarded (so that any lazy import on the error path happens now, and a formula
    # that did run code would leave the file behind), then again with eval/exec/system refused.
    try:
        formulang.parse(text)
    except BaseException:  # noqa: BLE001 - judged on the second run
        pass
    assert not target.exists()
    outcome = None
    patch()
    try:
        formulang.parse(text)
        outcome = "parsed"
    except FormulaError:
        outcome = "FormulaError"
    except BaseException as exc:  # noqa: BLE001
        outcome = f"{type(exc).__name__}: {exc}"
    finally:
        monkeypatch.undo()
    assert calls == []
    assert not target.exists()
    assert outcome == "FormulaError"


def test_backtick_name_is_never_code(guarded):
    # A backticked name is a column name, whatever it contains; it parses but runs nothing.
    target, calls, patch, monkeypatch = guarded
    text = f"y ~ `__import__('os').system('touch {target}')`"
    patch()
    try:
        f = formulang.parse(text)
    finally:
        monkeypatch.undo()
    assert calls == [] and not target.exists()
    assert f.terms[0].factors[0].name == f"__import__('os').system('touch {target}')"
