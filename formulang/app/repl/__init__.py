"""The interactive console: ``formulang`` with no arguments (or ``formulang repl``).

The commands live in :class:`Session` (state plus ``run_command(line)``), testable without a
terminal; :func:`run_repl` wraps it in a prompt_toolkit console, or reads commands line by line
when the input is not a terminal::

    $ printf 'load radon\\nfit log_radon ~ floor + (1 | county) --draws 200\\n' | formulang

>>> import io
>>> s = Session(out=io.StringIO())
>>> _ = s.run_command("load radon")
>>> s.data_name, len(s.data)
('radon', 919)
"""

from .console import run_repl
from .session import COMMANDS, Session

__all__ = ["COMMANDS", "Session", "run_repl"]
