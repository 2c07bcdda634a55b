"""The REPL (formulang.app.repl): Session commands without a terminal, completion, history,
piped scripts, and the real console driven through a pseudo-terminal (pexpect).

One small NUTS fit of sleepstudy (2 chains x 200, the model of tests/app/test_cli.py) is
shared by the Session tests that need a fit; the pseudo-terminal test fits radon as the README
does.
"""

import io
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from prompt_toolkit.completion import CompleteEvent
from prompt_toolkit.document import Document
from prompt_toolkit.history import FileHistory, InMemoryHistory

import formulang as fl
from formulang.errors import FormulaError, FormulangError
from formulang.app.repl import COMMANDS, Session
from formulang.app.repl.completion import SessionCompleter
from formulang.app.repl.console import history_path, make_history
from formulang.app.repl.lines import is_incomplete, join_continued, split_formula, split_words

CONSOLE_SCRIPT = Path(sys.executable).with_name("formulang")
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def session() -> Session:
    return Session(out=io.StringIO())


# ---- reading input --------------------------------------------------------------------------

def test_continuation_and_splitting():
    assert is_incomplete("fit y ~ x + (1 |") and is_incomplete("fit y ~ x \\")
    assert not is_incomplete("fit y ~ x + (1 | g)") and not is_incomplete("load 'a(b.csv'")
    assert join_continued("fit y ~ x + \\\n  z") == "fit y ~ x + \n  z"
    assert split_formula("y ~ x - -1 + (1 | g) --draws 10 --seed 2") == \
        ("y ~ x - -1 + (1 | g)", "--draws 10 --seed 2")
    assert split_formula("y ~ x") == ("y ~ x", "")
    assert split_words("--prior b[x]=normal(0, 1) --prior 'sd=half_normal(2)' --tune 5") == \
        ["--prior", "b[x]=normal(0, 1)", "--prior", "sd=half_normal(2)", "--tune", "5"]
    with pytest.raises(FormulangError, match="cannot split"):
        split_words("--out 'unclosed")


# ---- Session commands -------------------------------------------------------------------------

def test_help_lists_every_command_and_explains_one():
    text = session().run_command("help")
    for name in COMMANDS:
        if name != "exit":
            assert f"  {name}" in text, name
    assert "quit" in text and "exit" in text
    fit_help = session().run_command("help fit")
    for option in ("--family", "--prior", "--reparam", "--method", "--draws", "--chains"):
        assert option in fit_help
    with pytest.raises(FormulangError, match="no command 'fitt'; did you mean 'fit'\\?"):
        session().run_command("help fitt")


def test_load_shipped_dataset_and_describe():
    s = session()
    out = s.run_command("load sleepstudy")
    assert out == "loaded sleepstudy: 180 rows, 3 columns (Reaction, Days, Subject)\n"
    assert s.columns() == ["Reaction", "Days", "Subject"] and len(s.data) == 180
    lines = s.run_command("describe").splitlines()
    assert lines[0] == "sleepstudy: 180 rows, 3 columns"
    subject = next(line for line in lines if line.startswith("Subject"))
    assert subject.split()[1:4] == ["factor", "0", "18"] and "308, 309" in subject
    days = next(line for line in lines if line.startswith("Days"))
    assert days.split()[1:3] == ["integer", "0"] and "min 0" in days and "max 9" in days


def test_load_csv_and_describe_missing_values(tmp_path):
    path = tmp_path / "small.csv"
    pd.DataFrame({"y": [1.0, None, 3.0], "g": ["b", "a", None]}).to_csv(path, index=False)
    s = session()
    assert s.run_command(f"load {path}").startswith("loaded small.csv: 3 rows, 2 columns")
    lines = s.run_command("describe").splitlines()
    assert next(x for x in lines if x.startswith("y")).split()[1:3] == ["float", "1"]
    assert "2 levels: a, b" in next(x for x in lines if x.startswith("g"))


def test_errors_name_what_is_missing():
    s = session()
    with pytest.raises(FormulangError, match="no data loaded.*load radon"):
        s.run_command("fit y ~ x")
    with pytest.raises(FormulangError, match="no dataset or file named 'nope'"):
        s.run_command("load nope")
    for command in ("model", "priors", "graph", "code"):
        with pytest.raises(FormulangError, match="no model yet.*or 'open fit.nc'"):
            s.run_command(command)
    with pytest.raises(FormulangError) as err:  # k-fold refits: an opened fit cannot do
        s.run_command("kfold")
    assert "no model yet" in str(err.value) and "open" not in str(err.value)
    for command in ("summary", "save x.nc", "plot trace", "predict new.csv"):
        with pytest.raises(FormulangError, match="no fit yet|no file named"):
            s.run_command(command)
    with pytest.raises(FormulangError) as err:  # a typo of a command: the closest name
        s.run_command("fitt y ~ x")
    assert str(err.value).splitlines()[0] == "unknown command 'fitt'; did you mean 'fit'?"
    assert "commands: load" in str(err.value) and "fit fitt" not in str(err.value)
    with pytest.raises(FormulangError, match="unknown command 'lod'; did you mean 'load'"):
        s.run_command("lod radon")
    with pytest.raises(FormulangError) as err:  # a formula without 'fit': how to fit it
        s.run_command("y ~ x")
    assert "did you mean" not in str(err.value)
    assert "to fit this formula: fit y ~ x" in str(err.value)
    with pytest.raises(FormulangError) as err:  # as typed (the command word is lower-cased),
        s.run_command("Log_radon ~ floor")  # and no command near 'log_radon' ('load')
    assert "did you mean" not in str(err.value)
    assert "to fit this formula: fit Log_radon ~ floor" in str(err.value)
    with pytest.raises(FormulangError) as err:  # nothing close, no formula: the list
        s.run_command("frobnicate")
    assert "did you mean" not in str(err.value) and "commands: load" in str(err.value)
    with pytest.raises(FormulangError, match="describe takes no arguments"):
        s.run_command("describe everything")
    s.run_command("load Dyestuff")
    with pytest.raises(FormulaError) as err:
        s.run_command("fit Yield ~ 1 +")
    assert "^" in str(err.value)
    with pytest.raises(FormulangError, match="fit: argument --draws: invalid int value"):
        s.run_command("fit Yield ~ 1 --draws many")
    with pytest.raises(FormulangError, match="--chains must be at least 1"):
        s.run_command("fit Yield ~ 1 --chains 0")
    with pytest.raises(FormulangError, match="unknown family 'gaussain'"):
        s.run_command("fit Yield ~ 1 --family gaussain")
    assert s.model is None and s.fit is None


def test_parse_describes_the_expansion_over_several_lines():
    s = session()
    text = s.run_command("parse y ~ a*b + (1 +\n  x | g)")
    assert "formula:    y ~ 1 + a + b + a:b + (1 + x | g)" in text
    assert "group:      g: Intercept, x (correlated)" in text
    with pytest.raises(FormulaError) as err:
        s.run_command("parse y ~ x + \\\n  foo(z)")
    assert "(line 2)" in str(err.value) and "foo(z)" in str(err.value)


def test_comments_and_blank_lines_do_nothing():
    s = session()
    assert s.run_command("") == "" and s.run_command("# load radon") == ""
    assert s.data is None


def test_the_same_model_is_built_once():
    s = session()
    s.run_command("load Dyestuff")
    first = s.model_for("Yield ~ 1 + (1 | Batch)")
    # the same formula written differently is the same model
    assert s.model_for("Yield ~ (1|Batch)") is first
    assert s.model_for("Yield ~ 1 + (1 | Batch)", priors={"sd": "half_normal(50)"}) is not first
    assert s.model_for("Yield ~ 1 + (1 | Batch)", reparam="centered") is not first
    s.run_command("load Dyestuff")  # new data: a new model, even with the same name
    assert s.model_for("Yield ~ 1 + (1 | Batch)") is not first


@pytest.fixture(scope="module")
def fitted(tmp_path_factory):
    s = session()
    s.run_command("load sleepstudy")
    out = s.run_command("fit Reaction ~ Days + (Days | Subject) --draws 200 --tune 200 "
                        "--chains 2 --seed 2")
    return s, out


def test_fit_prints_model_then_summary(fitted):
    s, out = fitted
    assert out.index("Priors:") < out.index("Group-level effects: ~Subject (18 levels)")
    for row in ("sd(Intercept)", "sd(Days)", "cor(Intercept,Days)", "Population-level",
                "sigma", "Diagnostics:"):
        assert row in out
    assert isinstance(s.fit, fl.Fit) and s.fit.model is s.model
    assert s.fit.samples["b"].shape[:2] == (2, 200)
    assert s.run_command("summary") == str(s.fit) + "\n"


def test_refit_reuses_the_model(fitted):
    s, _ = fitted
    model, fit = s.model, s.fit
    out = s.run_command("fit Reaction ~ Days + (Days | Subject) --draws 200 --tune 200 "
                        "--chains 2 --seed 3")
    assert s.model is model and s.fit is not fit
    assert "the same model as before" in out


def test_interrupted_fit_keeps_the_previous_fit(fitted, monkeypatch):
    """Ctrl-C during a fit (KeyboardInterrupt from inside Model.fit) leaves the previous model
    and fit as they were, and says so (issue 21: it used to leave 'no fit yet')."""
    s, _ = fitted
    model, fit = s.model, s.fit

    def interrupted(self, **options):
        raise KeyboardInterrupt

    monkeypatch.setattr(fl.Model, "fit", interrupted)
    shown = len(s.out.getvalue())
    with pytest.raises(KeyboardInterrupt):
        s.run_command("fit Reaction ~ Days + (1 | Subject) --draws 50 --tune 50")
    assert s.model is model and s.fit is fit
    assert s.out.getvalue()[shown:].endswith(
        "fit interrupted; the previous fit (Reaction ~ 1 + Days + (1 + Days | Subject)) is "
        "kept: 'summary' shows it\n")
    monkeypatch.undo()
    assert s.run_command("summary") == str(fit) + "\n"
    fresh = session()  # nothing before: nothing to keep, and it says so
    fresh.run_command("load Dyestuff")
    monkeypatch.setattr(fl.Model, "fit", interrupted)
    with pytest.raises(KeyboardInterrupt):
        fresh.run_command("fit Yield ~ 1 + (1 | Batch)")
    assert fresh.model is None and fresh.fit is None
    assert fresh.out.getvalue().endswith("fit interrupted; there is no fit yet\n")


def test_model_priors_graph_code(fitted):
    s, _ = fitted
    assert s.run_command("model") == str(s.model) + "\n"
    priors = s.run_command("priors")
    assert "sd" in priors and "Subject" in priors and "default" in priors
    assert s.run_command("graph").startswith("digraph")
    assert "numpyro.sample" in s.run_command("code")


def test_predict_on_screen_and_to_file(fitted, tmp_path):
    s, _ = fitted
    new = tmp_path / "new.csv"
    pd.DataFrame({"Days": [0, 9], "Subject": ["308", "999"]}).to_csv(new, index=False)
    screen = s.run_command(f"predict {new} --new-levels population").splitlines()
    # the new subject is named, with advice in the console's own options
    assert screen.pop(0).startswith("warning: newdata has 1 group level not seen in training; "
                                    "'Subject': '999'. They get effect 0, the population-level "
                                    "prediction (--new-levels population); --new-levels "
                                    "gaussian: ")
    assert screen[0].split() == ["row", "Days", "Subject", "mean", "sd", "q2.5", "q97.5"]
    assert [line.split()[:3] for line in screen[1:]] == [["0", "0", "308"], ["1", "9", "999"]]
    out = tmp_path / "preds.csv"
    assert s.run_command(f"predict {new} --kind linpred --out {out}").endswith(
        f"(--new-levels gaussian); --new-levels population: effect 0, the population-level "
        f"prediction; --new-levels error: refused\nwrote 2 rows of linpred predictions to "
        f"{out}\n")
    assert len(pd.read_csv(out)) == 2
    with pytest.raises(FormulangError, match="predict: argument --kind: invalid choice"):
        s.run_command(f"predict {new} --kind median")


def test_plot_save_open(fitted, tmp_path, monkeypatch):
    s, _ = fitted
    png = tmp_path / "trace.png"
    assert s.run_command(f"plot trace --out {png}") == f"wrote the trace plot to {png}\n"
    assert png.read_bytes().startswith(PNG_SIGNATURE) and png.stat().st_size > 10_000
    monkeypatch.chdir(tmp_path)  # the default file name: KIND.png here
    assert s.run_command("plot forest --group Subject").endswith(
        f"{tmp_path / 'forest.png'}\n")
    with pytest.raises(FormulangError, match="unknown plot kind 'pie'"):
        s.run_command("plot pie")
    path = tmp_path / "fit.nc"
    assert s.run_command(f"save {path}") == f"saved the fit to {path}\n"
    other = session()
    assert other.run_command(f"open {path}").startswith(f"opened {path}: Reaction ~ 1 + Days")
    assert other.run_command("summary") == s.run_command("summary")
    with pytest.raises(FormulangError, match="no saved fit named"):
        other.run_command(f"open {tmp_path / 'absent.nc'}")


def test_ppc_writes_a_check_with_its_options(fitted, tmp_path, monkeypatch):
    s, _ = fitted
    png = tmp_path / "stat.png"
    assert s.run_command(f"ppc --type stat --stat sd --group Subject --out {png}") == (
        f"wrote the posterior predictive check to {png}\n")
    assert png.read_bytes().startswith(PNG_SIGNATURE)
    monkeypatch.chdir(tmp_path)  # default file: ppc.png here
    assert s.run_command("ppc --ndraws 3").endswith(f"{tmp_path / 'ppc.png'}\n")
    with pytest.raises(FormulangError, match="the loo_pit check takes no group"):
        s.run_command("ppc --type loo_pit --group Subject")
    assert complete(s, "ppc --type in") == ["intervals"]
    assert complete(s, "ppc --stat m") == ["mean", "median", "min", "max"]
    assert "dens_overlay" in s.run_command("help ppc")


def test_warnings_are_one_line(fitted, tmp_path):
    s, _ = fitted
    new = tmp_path / "gaps.csv"
    pd.DataFrame({"Days": [1.0, None], "Subject": ["308", "308"]}).to_csv(new, index=False)
    out = s.run_command(f"predict {new}")
    assert out.startswith("warning: 1 of 2 newdata rows have missing values in Days (1 row): "
                          "their predictions are NaN (row position 1)\n")


def test_quit_and_exit_finish_the_session():
    for word in ("quit", "exit", "QUIT"):
        s = session()
        s.run_command(word)
        assert s.finished


# ---- completion --------------------------------------------------------------------------

def complete(s: Session, text: str) -> list[str]:
    completer = SessionCompleter(s)
    return [c.text for c in completer.get_completions(Document(text, len(text)),
                                                      CompleteEvent(completion_requested=True))]


def test_completion_of_commands_datasets_columns_and_options(tmp_path):
    s = session()
    assert complete(s, "fi") == ["fit"] and set(complete(s, "p")) == {
        "priors", "predict", "plot", "ppc", "parse"}
    assert complete(s, "load sleep") == ["sleepstudy"]
    assert complete(s, "fit Reac") == []  # no data yet
    s.run_command("load sleepstudy")
    assert complete(s, "fit Reac") == ["Reaction"]
    assert complete(s, "fit Reaction ~ Days + (Days | Sub") == ["Subject"]
    assert complete(s, "fit Reaction ~ Days --family po") == ["poisson"]
    assert complete(s, "fit Reaction ~ Days --reparam non") == ["noncentered"]
    assert complete(s, "fit Reaction ~ Days --dr") == ["--draws"]
    assert "trace" in complete(s, "plot ") and complete(s, "plot fo") == ["forest"]
    assert complete(s, "predict new.csv --kind lin") == ["linpred"]
    assert complete(s, "help su") == ["summary"]
    (tmp_path / "saved_fit.nc").write_bytes(b"")
    assert complete(s, f"open {tmp_path}/saved_") == ["fit.nc"]
    assert complete(s, f"plot trace --out {tmp_path}/sav") == ["ed_fit.nc"]


# ---- history -------------------------------------------------------------------------------

def test_history_file_is_created(tmp_path, monkeypatch):
    target = tmp_path / "deep" / "er" / "history"
    monkeypatch.setenv("FORMULANG_HISTORY", str(target))
    assert history_path() == target
    history = make_history()
    assert isinstance(history, FileHistory) and target.exists()
    history.store_string("load radon")
    assert "+load radon" in target.read_text()


def test_unwritable_history_does_not_crash(tmp_path, monkeypatch, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("a file, not a folder")
    monkeypatch.setenv("FORMULANG_HISTORY", str(blocker / "history"))
    history = make_history()
    assert isinstance(history, InMemoryHistory)
    assert "history is not saved" in capsys.readouterr().err
    history.store_string("load radon")  # still works, in memory


def test_default_history_location(monkeypatch, tmp_path):
    monkeypatch.delenv("FORMULANG_HISTORY", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    assert history_path() == tmp_path / ".local" / "share" / "formulang" / "history"


# ---- piped input ---------------------------------------------------------------------------

def run_script(text: str, tmp_path) -> subprocess.CompletedProcess:
    env = dict(os.environ, HOME=str(tmp_path), FORMULANG_HISTORY=str(tmp_path / "h"))
    return subprocess.run([str(CONSOLE_SCRIPT)], input=text, capture_output=True, text=True,
                          timeout=300, env=env, cwd=tmp_path)


def test_piped_script_stops_at_the_first_error(tmp_path):
    script = ("# a comment\n\nload Dyestuff\nparse Yield ~ (1 |\n  Batch)\n"
              "parse Yield ~ 1 +\nparse later ~ never\n")
    proc = run_script(script, tmp_path)
    assert proc.returncode == 2
    assert "loaded Dyestuff: 30 rows" in proc.stdout
    assert "formula:    Yield ~ 1 + (1 | Batch)" in proc.stdout
    assert proc.stderr.startswith("error (line 6): expected a term after '+'")
    assert "^" in proc.stderr and "Traceback" not in proc.stderr
    assert "later" not in proc.stdout  # the command after the error did not run
    assert "formulang>" not in proc.stdout  # no prompts when the input is not a terminal


def test_piped_script_success_and_unfinished_input(tmp_path):
    proc = run_script("load Dyestuff\ndescribe\nquit\nparse never ~ run\n", tmp_path)
    assert proc.returncode == 0 and proc.stderr == ""
    assert "Batch" in proc.stdout and "never" not in proc.stdout
    proc = run_script("parse y ~ (x +\n", tmp_path)
    assert proc.returncode == 2 and "unfinished command" in proc.stderr


# ---- the console through a pseudo-terminal ---------------------------------------------------

# pexpect forks this (JAX-importing, so multithreaded) test process; the child only execs the
# console script, so the fork warning does not apply.
pty_fork = pytest.mark.filterwarnings("ignore:os.fork:RuntimeWarning")


def spawn(tmp_path):
    pexpect = pytest.importorskip("pexpect")  # declared in the test extra
    env = dict(os.environ, HOME=str(tmp_path), FORMULANG_HISTORY=str(tmp_path / "history"),
               TERM="xterm", PROMPT_TOOLKIT_NO_CPR="1", COLUMNS="160", LINES="50")
    child = pexpect.spawn(str(CONSOLE_SCRIPT), env=env, cwd=str(tmp_path), encoding="utf-8",
                          timeout=60, dimensions=(50, 160))
    child.logfile_read = io.StringIO()  # the whole screen stream, for the assertions
    child.expect("formulang>")
    return pexpect, child


@pty_fork
def test_console_fit_summary_plot(tmp_path):
    """The issue's acceptance test: load, fit, summary, plot, quit in a real terminal."""
    pexpect, child = spawn(tmp_path)
    try:
        child.sendline("load radon")
        child.expect("loaded radon: 919 rows")
        child.expect("formulang>")
        child.sendline("fit log_radon ~ floor + (1 | county) --draws 100 --tune 100 --chains 2")
        # JAX compiles the sampler first: up to a few minutes on a loaded machine
        child.expect("Diagnostics:", timeout=400)
        child.expect("formulang>", timeout=120)
        summary_starts = len(child.logfile_read.getvalue())
        child.sendline("summary")
        child.expect("Family parameters:", timeout=120)
        child.expect("formulang>", timeout=120)
        png = tmp_path / "trace.png"
        child.sendline(f"plot trace --out {png}")
        child.expect("wrote the trace plot to", timeout=120)
        child.expect("formulang>", timeout=60)
        # Ctrl-C while a new model compiles (seconds of tracing): the previous fit stays
        child.sendline("fit log_radon ~ floor + (1 + floor | county) --draws 100 --tune 100")
        child.expect("Priors:", timeout=120)
        # the progress bar's first words: the fit has begun (a Ctrl-C sent on "Priors:" alone
        # once landed while the model's description was still being written, before the fit)
        child.expect("compiling", timeout=120)
        child.sendintr()
        child.expect("fit interrupted; the previous fit \\(log_radon ~ 1 \\+ floor \\+ "
                     "\\(1 \\| county\\)\\) is kept", timeout=120)
        child.expect("formulang>", timeout=60)
        interrupted_at = len(child.logfile_read.getvalue())
        child.sendline("summary")
        child.expect("Family parameters:", timeout=120)
        child.expect("formulang>", timeout=60)
        child.sendline("quit")
        child.expect(pexpect.EOF)
    finally:
        child.close()
    screen = child.logfile_read.getvalue()
    summary = screen[summary_starts:screen.index("wrote the trace plot")]
    for row in ("Group-level effects: ~county (85 levels)", "sd(Intercept)", "Intercept",
                "floor", "sigma"):
        assert row in summary, row
    assert "Traceback" not in screen
    assert "Group-level effects: ~county (85 levels)" in screen[interrupted_at:]
    assert "sd(floor)" not in screen[interrupted_at:]  # the summary is the first model's
    assert child.exitstatus == 0
    data = png.read_bytes()
    assert data.startswith(PNG_SIGNATURE) and len(data) > 10_000


@pty_fork
def test_console_completion_multiline_errors_and_history(tmp_path):
    pexpect, child = spawn(tmp_path)
    try:
        child.sendline("load sleepstudy")
        child.expect("formulang>")
        child.send("parse Reac\t")  # Tab completes the column name
        child.expect("tion")
        child.send(" ~ Days + (Days |\r")  # unclosed bracket: the command goes on
        child.expect(r"\.\.\.")
        child.send("  Subject)\r")
        child.expect("formula:    Reaction ~ 1 \\+ Days \\+ \\(1 \\+ Days \\| Subject\\)")
        child.expect("formulang>")
        child.sendline("fit Reaction ~ Days +")  # an error: one message, then the prompt
        child.expect(r"error: expected a term after '\+'")
        child.expect(r"\^")
        child.expect("formulang>")
        child.sendeof()  # Ctrl-D leaves
        child.expect(pexpect.EOF)
    finally:
        child.close()
    assert child.exitstatus == 0
    assert "Traceback" not in child.logfile_read.getvalue()
    history = (tmp_path / "history").read_text()
    assert "+parse Reaction ~ Days + (Days |\n+  Subject)" in history
    assert "+load sleepstudy" in history
