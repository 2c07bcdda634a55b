"""How a message names an option the user can set.

Errors and warnings give advice ("use new_levels='population'"). Written for the Python API
that is keyword syntax; the command line has options instead (``--new-levels population``).
A message builds the advice with :func:`option`, and the app layer says, for the duration of a
command, how the options it offers are spelt (:func:`phrased_as`). Names it does not offer
stay in keyword syntax.

>>> option("new_levels", "population")
"new_levels='population'"
>>> with phrased_as({"new_levels": "--new-levels"}):
...     option("new_levels", "population"), option("x")
('--new-levels population', 'x=')
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Iterator, Mapping

_FLAGS: contextvars.ContextVar[Mapping[str, str] | None] = contextvars.ContextVar(
    "formulang_option_flags", default=None)


def option(name: str, value=None) -> str:
    """The option ``name`` set to ``value`` (``None``: the option alone), as the user spells it
    where the message is shown."""
    flags = _FLAGS.get()
    if flags is not None and name in flags:
        flag = flags[name]
        return flag if value is None else f"{flag} {value}"
    return f"{name}=" if value is None else f"{name}={value!r}"


@contextlib.contextmanager
def phrased_as(flags: Mapping[str, str]) -> Iterator[None]:
    """Within the block, :func:`option` spells the keyword ``name`` as ``flags[name]``."""
    token = _FLAGS.set(dict(flags))
    try:
        yield
    finally:
        _FLAGS.reset(token)


__all__ = ["option", "phrased_as"]
