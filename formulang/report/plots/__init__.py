"""Plots of a fit: trace, rank, forest, regression lines per group, the funnel, and
posterior predictive checks.

Every function takes a :class:`~formulang.Fit` and returns a :class:`matplotlib.figure.Figure`
built without pyplot, so plotting works headless (no display, no ``plt.show()``) whatever
backend the user chose, and nothing piles up in pyplot's list of open figures. Save with
``fig.savefig("trace.png")``; Jupyter shows a returned figure as it is.

======== ============================== ===========================================
kind     function                       shows
======== ============================== ===========================================
trace    :func:`plot_trace`             draws per chain and their density (ArviZ)
rank     :func:`plot_rank`              rank histograms per chain (ArviZ)
forest   :func:`plot_forest`            ``r_<g>`` per level with intervals (ArviZ)
lines    :func:`plot_group_lines`       fitted mean lines per group over the data
funnel   :func:`plot_funnel`            ``log sd`` against one level's effect,
                                        divergent draws in red
effects  :func:`plot_effects`           brms's conditional effects of a predictor
ppc      :func:`plot_ppc`               posterior predictive checks, brms's
                                        ``pp_check`` types (``type=``, ``group=``)
smooth   :func:`plot_smooth`            a smooth term's fitted curve and interval
                                        over the data (``term="s(x)"``)
======== ============================== ===========================================

Names are those of ``fit.posterior``: ``b``, ``sd_<g>``, ``cor_<g>``, ``r_<g>``, ``sigma``...
A group is named by its grouping factor (``"county"``, ``"batch:cask"``, ``"~county"``).

One module per kind of plot: ``chains`` (trace, rank), ``forest``, ``lines``, ``funnel``,
``ppc``;
``common`` holds what they share (finding the group, effect and level a plot asks for).

>>> sorted(PLOT_KINDS)
['effects', 'forest', 'funnel', 'lines', 'ppc', 'rank', 'smooth', 'trace']
>>> fig = plot(fit, "trace")                                     # doctest: +SKIP
>>> fig = plot(fit, "funnel", compare=other_fit)                 # doctest: +SKIP
>>> fig.savefig("funnel.png", dpi=90)                            # doctest: +SKIP
"""

from __future__ import annotations

import inspect

from ...errors import FormulangError
from .chains import RANK_MAX_PANELS, TRACE_MAX_ROWS, plot_rank, plot_trace
from .common import find_group
from .effects import plot_effects
from .forest import FOREST_MAX_INCHES, FOREST_ROW_INCHES, plot_forest
from .funnel import plot_funnel
from .lines import LINE_GRID, NEW_LEVEL, plot_group_lines, sample_levels
from .ppc import PPC_TYPES, plot_ppc
from .smooth import plot_smooth

PLOT_KINDS = {
    "trace": plot_trace,
    "rank": plot_rank,
    "forest": plot_forest,
    "lines": plot_group_lines,
    "funnel": plot_funnel,
    "effects": plot_effects,
    "ppc": plot_ppc,
    "smooth": plot_smooth,
}


def plot(fit, kind: str, **kw):
    """The plot called ``kind`` (see :data:`PLOT_KINDS`) of ``fit``, with its keyword
    arguments; unknown kinds and arguments are errors that list the valid ones.

    >>> plot(None, "histogram")
    Traceback (most recent call last):
    ...
    formulang.errors.FormulangError: unknown plot kind 'histogram'; kinds: trace, rank, forest, lines, funnel, effects, ppc, smooth
    """
    func = PLOT_KINDS.get(kind)
    if func is None:
        raise FormulangError(f"unknown plot kind {kind!r}; kinds: {', '.join(PLOT_KINDS)}")
    accepted = list(inspect.signature(func).parameters)[1:]
    unknown = [k for k in kw if k not in accepted]
    if unknown:
        raise FormulangError(f"the {kind} plot takes no argument {unknown[0]!r}; it takes: "
                             f"{', '.join(accepted)}")
    return func(fit, **kw)


__all__ = ["FOREST_MAX_INCHES", "FOREST_ROW_INCHES", "LINE_GRID", "NEW_LEVEL", "PLOT_KINDS",
           "PPC_TYPES", "RANK_MAX_PANELS", "TRACE_MAX_ROWS", "find_group", "plot",
           "plot_effects", "plot_forest", "plot_funnel", "plot_group_lines", "plot_ppc",
           "plot_rank", "plot_smooth", "plot_trace", "sample_levels"]
