"""Tab completion for the REPL: commands, datasets, columns (inside formulas too), families,
options and their values, plot kinds, group names and file paths."""

from __future__ import annotations

import re

from prompt_toolkit.completion import Completer, Completion, PathCompleter
from prompt_toolkit.document import Document

from .. import cli
from .session import COMMANDS

_WORD = re.compile(r"[A-Za-z0-9_.]*$")
_OPTION = re.compile(r"--[A-Za-z-]*$")

FIT_OPTIONS = ("--family", "--link", "--prior", "--reparam", "--method", "--draws", "--tune",
               "--chains", "--seed", "--target-accept")
PREDICT_OPTIONS = ("--kind", "--new-levels", "--seed", "--out")
PLOT_OPTIONS = ("--out", "--group", "--param")
# Plot kinds when the plotting module cannot be imported (completion must not fail).
_DEFAULT_PLOT_KINDS = ("trace", "rank", "forest", "lines", "funnel")
_PATH_COMMANDS = {"load", "save", "open", "predict"}


def _families() -> list[str]:
    from ..lower.families import FAMILIES

    return list(FAMILIES)


def _links() -> list[str]:
    from ..lower.families import FAMILIES

    return sorted({link for spec in FAMILIES.values() for link in spec.links})


def _plot_kinds() -> list[str]:
    try:
        return cli.plot_kinds()
    except Exception:  # noqa: BLE001 - a broken plotting module must not break typing
        return list(_DEFAULT_PLOT_KINDS)


class SessionCompleter(Completer):
    """Completes what makes sense at the cursor, given the session's data and model."""

    def __init__(self, session):
        self.session = session
        self.paths = PathCompleter(expanduser=True)

    def get_completions(self, document, complete_event):
        text = document.text_before_cursor
        if not text.strip() or (" " not in text.lstrip()):
            yield from _matching(text.lstrip(), COMMANDS)
            return
        command = text.split(None, 1)[0].lower()
        words = text.split()
        previous = words[-1] if text[-1:].isspace() else (words[-2] if len(words) > 1 else "")
        word = "" if text[-1:].isspace() else words[-1]
        yield from self._complete(command, previous, word, text)

    def _complete(self, command, previous, word, text):
        values = self._option_values(previous)
        if values is not None:
            if values == "path":
                yield from self._paths(word)
            else:
                yield from _matching(word, values)
            return
        option = _OPTION.search(text)
        if option and text[option.start() - 1:option.start()].isspace():
            yield from _matching(option.group(), self._options(command))
            return
        if command in ("fit", "parse"):
            yield from _matching(_WORD.search(text).group(), self.session.columns())
        elif command == "help":
            yield from _matching(word, COMMANDS)
        elif command == "plot" and previous.lower() == "plot":
            yield from _matching(word, _plot_kinds())
        elif command == "load":
            from .. import datasets

            yield from _matching(word, datasets.names())
            yield from self._paths(word)
        elif command in _PATH_COMMANDS:
            yield from self._paths(word)

    def _options(self, command):
        return {"fit": FIT_OPTIONS, "predict": PREDICT_OPTIONS,
                "plot": PLOT_OPTIONS}.get(command, ())

    def _option_values(self, previous):
        """Completions for an option's value, or None when ``previous`` is not an option."""
        return {"--family": _families(), "--link": _links(),
                "--reparam": cli.REPARAMS, "--method": cli.METHODS,
                "--kind": cli.PREDICT_KINDS, "--new-levels": cli.NEW_LEVELS,
                "--group": self.session.group_names(), "--out": "path"}.get(previous)

    def _paths(self, word):
        yield from self.paths.get_completions(Document(word, len(word)), None)


def _matching(word: str, candidates):
    for candidate in candidates:
        if candidate.startswith(word) and candidate != word:
            yield Completion(candidate, start_position=-len(word))
