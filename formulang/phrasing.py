"""How a message names an option the user can set.

Errors and warnings give advice ("use new_levels='population'"). Written for the Python API
that is keyword syntax; the command line has options instead (``--new-levels population``).
A message builds the advice with :func:`option`, and the app layer says, for the duration of a
command, how the options it offers are spelt (:func:`phrased_as`). Names it does not offer
stay in keyword syntax.

>>> option("new_levels", "population")
"new_levels='population'"
>>> with phrased_as({"new_levels": "--new-levels", "reparam": "--reparam"}):
...     option("new_levels", "population"), option("x"), option("reparam", {"g": "centered"})
('--new-levels population', 'x=', '--reparam g=centered')
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
        if isinstance(value, Mapping):  # per key: the option repeated, KEY=VALUE each
            return " ".join(f"{flag} {k}={v}" for k, v in value.items())
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


OTHER_NAMES: dict[str, str] = {
    "iter": "draws and tune (brms's iter counts the warm-up too: iter = tune + draws)",
    "warmup": "tune", "num_warmup": "tune", "num_samples": "draws", "samples": "draws",
    "cores": "chains (chains run in parallel over the devices)",
    "adapt_delta": "target_accept", "max_treedepth": "max_tree_depth",
    "control": "target_accept= and max_tree_depth=", "random_seed": "seed",
    "re_formula": "group_effects=False (brms's re_formula = NA)",
    "include_group_specific": "group_effects",
    "allow_new_levels": "new_levels= ('gaussian', 'population' or 'error')",
    "sample_new_groups": "new_levels='gaussian'",
    "ndraws": "the fit's draws (refit with fewer draws=)",
    "effects": "effect= (one at a time; call again for another)",
}
"""brms's, bambi's and NumPyro's keywords that formulang spells otherwise: an unknown keyword
among them is answered with formulang's name (:func:`knows_other_names`)."""


def knows_other_names(fn):
    """``fn`` with its keyword-argument errors naming formulang's spelling of a keyword users
    bring from brms, bambi or NumPyro (:data:`OTHER_NAMES`), as a
    :class:`~formulang.errors.FormulangError`, not Python's bare ``TypeError``.

    >>> @knows_other_names
    ... def fit(draws=1000, tune=1000):
    ...     return draws
    >>> fit(warmup=500)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    formulang.errors.FormulangError: fit() has no keyword 'warmup' (...): use tune
    """
    import functools
    import inspect

    signature = inspect.signature(fn)

    @functools.wraps(fn)
    def wrapped(*args, **kwargs):
        known = [k for k in kwargs if k in OTHER_NAMES and k not in signature.parameters]
        if known:
            from .errors import FormulangError

            k = known[0]
            raise FormulangError(f"{fn.__name__}() has no keyword {k!r} (brms's, bambi's or "
                                 f"NumPyro's name): use {OTHER_NAMES[k]}")
        return fn(*args, **kwargs)

    return wrapped


__all__ = ["OTHER_NAMES", "knows_other_names", "option", "phrased_as"]
