"""What the plots share: a headless Figure, ArviZ quietly, and finding the variables, group,
effect and level a plot asks for (with errors that list the valid ones)."""

from __future__ import annotations

import contextlib
import warnings

import numpy as np

from ...errors import FormulangError


def _figure(width: float, height: float):
    """A Figure detached from pyplot: draws headless, never pops up a window by itself."""
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), layout="constrained")


def _arviz():
    from ..idata import import_arviz

    return import_arviz()


@contextlib.contextmanager
def _quiet_arviz():
    """ArviZ 0.x calls a matplotlib helper deprecated in 3.11: its warning is not the user's."""
    from matplotlib import MatplotlibDeprecationWarning

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=MatplotlibDeprecationWarning,
                                module="arviz")
        yield


def _posterior_dataset(fit):
    return fit.posterior.posterior


def _chains_draws(fit) -> tuple[int, int]:
    first = next(iter(fit.samples.values()))
    return int(first.shape[0]), int(first.shape[1])


def _default_var_names(fit) -> list[str]:
    """b, sd_*, cor_*, family parameters: the summary's rows without the r_* effects."""
    post = _posterior_dataset(fit)
    names = ["b"] if "b" in post else []
    for g in fit.plan.groups:
        names.append(g.sites.sd)
        if g.sites.cor in post:
            names.append(g.sites.cor)
    return names + [a for a in fit.plan.aux if a in post]


def _var_names(fit, var_names) -> list[str]:
    if var_names is None:
        names = _default_var_names(fit)
        if not names:
            raise FormulangError("this fit has no parameters to plot")
        return names
    names = [var_names] if isinstance(var_names, str) else list(var_names)
    available = list(_posterior_dataset(fit).data_vars)
    unknown = [n for n in names if n not in available]
    if unknown or not names:
        what = f"unknown variable {unknown[0]!r}" if unknown else "no variables given"
        raise FormulangError(f"{what} in var_names; available: {', '.join(available)}")
    return names


def _n_scalars(post, names) -> int:
    return int(sum(np.prod(post[n].shape[2:], dtype=int) for n in names))


def find_group(fit, group=None):
    """``(index, GroupPlan)`` of the group term named ``group`` (its grouping factor,
    ``"county"`` or ``"~county"``, or the term's stem in a fit saved by an older formulang,
    ``"county_2"``); ``None``: the first.

    >>> find_group(fit, "county")[1].name                        # doctest: +SKIP
    'county'
    """
    groups = fit.plan.groups
    if not groups:
        raise FormulangError(f"the model {fit.compiled.formula} has no group terms (1 | g): "
                             f"this plot shows group-level effects")
    if group is None:
        return 0, groups[0]
    key = str(group).strip()
    key = key[1:].strip() if key.startswith("~") else key
    for i, g in enumerate(groups):
        if key == g.name:
            return i, g
    for i, g in enumerate(groups):
        if key == g.label:
            return i, g
    names = ", ".join(g.name for g in groups)
    raise FormulangError(f"no group term {group!r} in this model; groups: {names}")


def _find_effect(g, effect, fit=None) -> int:
    """Index of ``effect``; ``None``: the effect whose log SD is most uncertain, where a
    funnel has the most room (the radon slope's rather than its intercept's)."""
    if effect is None:
        if fit is None or g.k == 1:
            return 0
        sd = np.asarray(_posterior_dataset(fit)[g.sites.sd].values, dtype=float)
        log_sd = np.log(np.maximum(sd.reshape(-1, g.k), np.finfo(float).tiny))
        return int(np.argmax(log_sd.std(axis=0)))
    if effect in g.columns:
        return g.columns.index(effect)
    raise FormulangError(f"group ~{g.label} has no effect {effect!r}; effects: "
                         f"{', '.join(g.columns)}")


def _level_counts(fit, gi: int) -> np.ndarray:
    """Training rows per level of group term ``gi``: from the training rows, or as a saved
    fit stored them; -1 each when unknown (a file from before they were stored)."""
    g = fit.plan.groups[gi]
    bound = fit.bound
    if bound is not None:
        return np.bincount(np.asarray(bound.groups[gi].codes), minlength=len(g.levels))
    stored = getattr(fit, "level_counts", None)
    if stored is not None and len(stored) > gi and len(stored[gi]) == len(g.levels):
        return np.asarray(stored[gi])
    return np.full(len(g.levels), -1)


def _find_level(g, counts: np.ndarray, level) -> int:
    """Index of ``level``; ``None``: the level with the fewest rows (the funnel is widest
    where the data say least)."""
    if level is None:
        return int(np.argmin(counts))
    key = str(level)
    if key in g.levels:
        return g.levels.index(key)
    shown = ", ".join(repr(v) for v in g.levels[:10])
    more = f" and {len(g.levels) - 10} more" if len(g.levels) > 10 else ""
    raise FormulangError(f"group ~{g.label} has no level {level!r}; levels: {shown}{more}")


def _diverging(fit) -> np.ndarray:
    """Divergent-draw mask shaped (chains, draws); all False without sampler statistics."""
    chains, draws = _chains_draws(fit)
    stats = getattr(fit, "stats", None) or {}
    if "diverging" in stats:
        return np.asarray(stats["diverging"], dtype=bool).reshape(chains, draws)
    sample_stats = getattr(fit.posterior, "sample_stats", None)
    if sample_stats is not None and "diverging" in sample_stats:
        return np.asarray(sample_stats["diverging"].values, dtype=bool).reshape(chains, draws)
    return np.zeros((chains, draws), dtype=bool)


def _rows(n: int) -> str:
    return f"{int(n)} row{'s' if int(n) != 1 else ''}"


def _tidy_fonts(axes, title: float = 10, label: float = 9, ticks: float = 8) -> None:
    """ArviZ scales its fonts to the figure it would have made; match ours instead."""
    for ax in axes:
        ax.title.set_fontsize(title)
        ax.xaxis.label.set_fontsize(label)
        ax.yaxis.label.set_fontsize(label)
        ax.tick_params(axis="x", labelsize=ticks)


def _positive_int(value, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise FormulangError(f"{name} must be a positive whole number, not {value!r}")
    return int(value)
