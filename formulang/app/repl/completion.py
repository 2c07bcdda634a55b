"""Tab completion for the REPL: commands, datasets, columns (inside formulas too), families,
options and their values, plot kinds, group names and file paths."""

from __future__ import annotations

import re

from prompt_toolkit.completion import Completer, Completion, PathCompleter
from prompt_toolkit.document import Document

from ... import datasets
from .. import commands
from .session import COMMANDS, OPTION_PARSERS

_WORD = re.compile(r"[A-Za-z0-9_.]*$")
_OPTION = re.compile(r"--[A-Za-z-]*$")

_PATH_COMMANDS = {"load", "save", "open", "predict"}


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
            yield from _matching(word, commands.PLOT_KINDS)
        elif command == "load":
            yield from _matching(word, datasets.names())
            yield from self._paths(word)
        elif command in _PATH_COMMANDS:
            yield from self._paths(word)

    def _options(self, command):
        parser = OPTION_PARSERS.get(command)
        return () if parser is None else parser.option_names()

    def _option_values(self, previous):
        """Completions for an option's value, or None when ``previous`` is not an option."""
        return {"--family": commands.FAMILIES, "--link": commands.LINKS,
                "--reparam": commands.REPARAMS, "--method": commands.METHODS,
                "--kind": commands.PREDICT_KINDS, "--new-levels": commands.NEW_LEVELS,
                "--type": commands.PPC_TYPES, "--stat": commands.PPC_STATS,
                "--group": self.session.group_names(), "--out": "path"}.get(previous)

    def _paths(self, word):
        yield from self.paths.get_completions(Document(word, len(word)), None)


def _matching(word: str, candidates):
    for candidate in candidates:
        if candidate.startswith(word) and candidate != word:
            yield Completion(candidate, start_position=-len(word))
