"""The REPL's two shells around :class:`Session`: a prompt_toolkit console for a terminal
(history, completion, multi-line input) and a line reader for piped input (no prompts; the
first error ends it with status 2)."""

from __future__ import annotations

import os
import sys
import traceback
from pathlib import Path

from ..._version import __version__
from ...errors import FormulangError
from .lines import is_incomplete
from .session import Session

PROMPT = "formulang> "
CONTINUATION = "      ...  "


def history_path() -> Path:
    """``$FORMULANG_HISTORY``, else ``~/.local/share/formulang/history``."""
    env = os.environ.get("FORMULANG_HISTORY")
    if env:
        return Path(env).expanduser()
    return Path.home() / ".local" / "share" / "formulang" / "history"


def make_history():
    """A file history that never crashes the REPL: an unwritable file leaves history in
    memory only (with a note on stderr)."""
    from prompt_toolkit.history import FileHistory, InMemoryHistory

    class _SafeFileHistory(FileHistory):
        def load_history_strings(self):
            try:
                yield from super().load_history_strings()
            except OSError:
                return

        def store_string(self, string):
            try:
                super().store_string(string)
            except OSError:
                pass

    path = history_path()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "ab"):
            pass
    except OSError as exc:
        print(f"note: history is not saved ({path}: {exc.strerror or exc})", file=sys.stderr)
        return InMemoryHistory()
    return _SafeFileHistory(str(path))


def report_error(exc: BaseException, debug: bool, where: str = "") -> None:
    """One message on stderr (the caret picture for formula errors), or the traceback."""
    if debug:
        traceback.print_exception(exc)
        return
    if isinstance(exc, FormulangError):
        print(f"error{where}: {exc}", file=sys.stderr, flush=True)
    elif isinstance(exc, KeyboardInterrupt):
        print("interrupted", file=sys.stderr, flush=True)
    else:  # a bug in formulang, not the user's fault: say so, without the traceback
        print(f"internal error{where}: {type(exc).__name__}: {exc}\n"
              f"  (start formulang with --debug to see the traceback, and please report it)",
              file=sys.stderr, flush=True)


def run_piped(session: Session, lines, debug: bool = False) -> int:
    """Run commands from ``lines``; stop with status 2 at the first error, else 0."""
    pending, start = "", 0
    for number, line in enumerate(lines, start=1):
        line = line.rstrip("\r\n")
        if not pending and (not line.strip() or line.lstrip().startswith("#")):
            continue
        if not pending:
            start = number
        pending = f"{pending}\n{line}" if pending else line
        if is_incomplete(pending):
            continue
        command, pending = pending, ""
        try:
            session.run_command(command)
        except BrokenPipeError:  # the reader stopped reading (| head): main() ends quietly
            raise
        except Exception as exc:  # noqa: BLE001 - every error ends a script the same way
            report_error(exc, debug, f" (line {start})")
            return 2
        if session.finished:
            return 0
    if pending:
        report_error(FormulangError(f"the input ended inside an unfinished command: "
                                    f"{pending.strip()!r}"), debug, f" (line {start})")
        return 2
    return 0


def run_interactive(session: Session, debug: bool = False) -> int:
    """The prompt_toolkit console; returns 0 when the user quits."""
    from prompt_toolkit import PromptSession
    from prompt_toolkit.application.current import get_app
    from prompt_toolkit.filters import Condition

    from .completion import SessionCompleter  # prompt_toolkit: only for a terminal

    # Enter runs the command unless it is unfinished (ends in \ or has open brackets).
    unfinished = Condition(lambda: is_incomplete(get_app().current_buffer.text))
    prompt = PromptSession(history=make_history(), completer=SessionCompleter(session),
                           complete_while_typing=False, multiline=unfinished,
                           prompt_continuation=CONTINUATION)
    print(f"formulang {__version__}: Bayesian multilevel models. 'help' lists the commands, "
          f"Tab completes, 'quit' or Ctrl-D leaves.")
    while not session.finished:
        try:
            line = prompt.prompt(PROMPT)
        except KeyboardInterrupt:  # Ctrl-C clears the line
            continue
        except EOFError:  # Ctrl-D
            break
        try:
            session.run_command(line)
        except Exception as exc:  # noqa: BLE001 - the console survives every error
            report_error(exc, debug)
        except KeyboardInterrupt as exc:  # Ctrl-C during a long fit
            report_error(exc, debug=False)
    return 0


def run_repl(debug: bool = False, stdin=None) -> int:
    """``formulang`` without a subcommand: a console on a terminal, a script reader else."""
    stdin = sys.stdin if stdin is None else stdin
    session = Session(out=sys.stdout)
    if stdin.isatty() and sys.stdout.isatty():
        return run_interactive(session, debug)
    return run_piped(session, stdin, debug)
