"""The funnel: one level's effect against the log of its group SD, divergent draws in red;
centred and non-centred fits side by side."""

from __future__ import annotations

import numpy as np

from ...errors import FormulangError
from .common import (_diverging, _figure, _find_effect, _find_level, _level_counts,
                     _posterior_dataset, _rows, find_group)


def plot_funnel(fit, group=None, level=None, compare=None, effect=None):
    """The funnel: one level's effect ``r_<g>[level, effect]`` (x) against the log of its
    group SD ``log sd_<g>[effect]`` (y), each draw a point, divergent draws in red.

    Where a level's data say little, small SDs squeeze its effect into a narrow neck a
    centred sampler cannot enter (divergences gather there); the non-centred
    parameterisation samples the same shape freely. ``compare``: a second fit of the same
    model (another ``reparam``), drawn beside the first on the same axes. ``level``
    defaults to the level with the fewest rows, ``effect`` to the effect whose log SD is
    most uncertain in ``fit`` (where the funnel has room: radon's floor slope).

    >>> c = model_c.fit(); nc = model_nc.fit()                   # doctest: +SKIP
    >>> plot_funnel(c, group="county", compare=nc).savefig("funnel.png")  # doctest: +SKIP
    """
    fits = [fit] if compare is None else [fit, compare]
    gi, g = find_group(fit, group)
    counts = _level_counts(fit, gi)
    li = _find_level(g, counts, level)
    ei = _find_effect(g, effect, fit)
    others = [_matching_group(other, g) for other in fits[1:]]
    fig = _figure(0.8 + 4.4 * len(fits), 4.6)
    axes = fig.subplots(1, len(fits), sharex=True, sharey=True, squeeze=False)[0]
    for ax, one, gp in zip(axes, fits, [g] + others):
        _funnel_panel(ax, one, gp, li, ei)
    axes[0].set_ylabel(f"log {g.sites.sd}[{g.columns[ei]}]")
    rows = f", {_rows(counts[li])}" if counts[li] >= 0 else ""
    fig.suptitle(f"Funnel of ~{g.label}: level {g.levels[li]!r}{rows}", fontsize=11)
    return fig


def _matching_group(other, g):
    for h in other.plan.groups:
        if h.name == g.name and h.levels == g.levels and h.columns == g.columns:
            return h
    raise FormulangError(f"compare= must be a fit of the same model: it has no group term "
                         f"~{g.label} with the same levels and effects")


def _funnel_panel(ax, fit, g, li: int, ei: int) -> None:
    post = _posterior_dataset(fit)
    r = np.asarray(post[g.sites.r].values[..., li, ei], dtype=float).ravel()
    sd = np.asarray(post[g.sites.sd].values[..., ei], dtype=float).ravel()
    log_sd = np.log(np.maximum(sd, np.finfo(float).tiny))
    div = _diverging(fit).ravel()
    ax.scatter(r[~div], log_sd[~div], s=6, alpha=0.35, color="C0", linewidths=0,
               label="draws")
    ax.scatter(r[div], log_sd[div], s=16, alpha=0.9, color="C3", linewidths=0,
               label="divergent")
    ax.set_xlabel(f"{g.sites.r}[{g.levels[li]}, {g.columns[ei]}]")
    ax.set_title(f"{_parameterization(fit, g, li)}\n{int(div.sum())} divergent of {div.size} "
                 f"draws ({fit.method})", fontsize=10)
    ax.legend(loc="lower right", fontsize=8, markerscale=1.5)


def _parameterization(fit, g, li: int) -> str:
    if getattr(fit, "collapsed", False):  # the centring choice was not used: say what was
        return f"~{g.label} integrated out, drawn exactly (collapsed: no centring)"
    mode = {"noncentered": "non-centered", "centered": "centered"}.get(g.mode, g.mode)
    if g.mode == "mixed":
        this = "centered" if g.centered[li] else "non-centered"
        mode = f"mixed ({sum(g.centered)} of {len(g.centered)} levels centered; this one {this})"
    reason = g.reason or ""
    how = "forced" if "forced" in reason else ("auto" if reason else "")
    return f"~{g.label} {mode}" + (f" ({how})" if how and g.mode != "mixed" else "")
