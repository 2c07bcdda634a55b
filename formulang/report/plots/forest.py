"""The forest plot: every level's group-level effects with their intervals (ArviZ's)."""

from __future__ import annotations

import math

import numpy as np

from .common import _arviz, _figure, _level_counts, _quiet_arviz, _tidy_fonts, find_group

FOREST_ROW_INCHES = 0.16  # height of one level in the forest plot
FOREST_MAX_INCHES = 30.0  # longer level lists thin their labels instead of growing further


def plot_forest(fit, group=None):
    """The group-level effects ``r_<g>`` of every level: posterior median (dot), quartiles
    (thick) and 94% HDI (thin),
    one panel per effect (intercept, slopes), levels in the same rows across panels and
    labelled with their number of rows. Long level lists keep their labels legible by
    labelling every k-th level.

    >>> plot_forest(fit, group="county").savefig("forest.png")  # doctest: +SKIP
    """
    az = _arviz()
    gi, g = find_group(fit, group)
    counts = _level_counts(fit, gi)
    n_levels = len(g.levels)
    height = min(FOREST_MAX_INCHES, 1.3 + FOREST_ROW_INCHES * n_levels)
    fig = _figure(max(5.0, 1.5 + 3.2 * g.k), height)
    axes = fig.subplots(1, g.k, sharey=True, squeeze=False)[0]
    var = g.sites.r
    for ax, effect in zip(axes, g.columns):
        with _quiet_arviz():
            az.plot_forest(fit.posterior, var_names=[var], combined=True,
                           coords={g.sites.effect_dim: [effect]}, ax=ax, show=False)
        ax.axvline(0.0, color="0.5", lw=0.8, ls=":")
        ax.set_title(f"{var}[, {effect}]", fontsize=10)
        ax.set_xlabel("deviation from the population effect", fontsize=9)
    _tidy_fonts(axes)
    _label_levels(axes[0], g, counts, height)
    fig.suptitle(f"Group-level effects of ~{g.label} ({n_levels} levels)\n"
                 f"posterior median (dot), quartiles (thick), 94% HDI (thin)", fontsize=10)
    return fig


def _label_levels(ax, g, counts, height: float) -> None:
    """ArviZ puts the first level at the top; relabel its rows with level names and row
    counts, at a font that fits, every k-th when rows are too thin for text."""
    ticks = np.sort(np.asarray(ax.get_yticks(), dtype=float))
    n = len(g.levels)
    if len(ticks) != n:  # pragma: no cover - ArviZ changed its layout: keep its labels
        return
    names = [f"{lev} ({c})" if c >= 0 else lev for lev, c in zip(g.levels, counts)][::-1]
    points_per_row = 72.0 * (height - 1.3) / max(n, 1)
    size = max(5.0, min(9.0, 0.8 * points_per_row))
    every = max(1, math.ceil(size / (0.8 * points_per_row)))
    keep = [i for i in range(n) if (n - 1 - i) % every == 0]  # the first level is labelled
    ax.set_yticks(ticks[keep])
    ax.set_yticklabels([names[i] for i in keep], fontsize=size)
    ax.set_ylabel(f"level of {g.label} (rows)" + (f", every {every}th labelled"
                                                  if every > 1 else ""), fontsize=9)
