"""How the chains mixed: trace and rank plots (ArviZ's), or a MAP fit's point values."""

from __future__ import annotations

import math

import numpy as np

from .common import (_arviz, _chains_draws, _figure, _n_scalars, _posterior_dataset,
                     _quiet_arviz, _tidy_fonts, _var_names)

TRACE_MAX_ROWS = 12  # more scalars than this: one row per variable (ArviZ's compact trace)
RANK_MAX_PANELS = 36  # rank histograms beyond this many scalars are left out, and the title says so


def plot_trace(fit, var_names=None):
    """Trace (left) and density (right) of each parameter, one colour per chain; divergent
    draws are ticked under the traces.

    Default ``var_names``: ``b``, ``sd_*``, ``cor_*`` and the family parameters (not the
    ``r_*`` effects: ask for ``var_names=["r_county"]``).

    >>> plot_trace(fit, var_names=["sd_county", "sigma"]).savefig("trace.png")  # doctest: +SKIP
    """
    az = _arviz()
    names = _var_names(fit, var_names)
    post = _posterior_dataset(fit)
    n = _n_scalars(post, names)
    compact = n > TRACE_MAX_ROWS  # many scalars: one row per variable, its entries overlaid
    rows = len(names) if compact else n
    if _chains_draws(fit)[1] < 2:  # a MAP point: no trace or density, show the value itself
        return _point_values(fit, names, n)
    fig = _figure(10.0, 0.4 + 1.7 * rows)
    axes = fig.subplots(rows, 2, squeeze=False)
    with _quiet_arviz():
        az.plot_trace(fit.posterior, var_names=names, compact=compact, axes=axes, show=False)
    return fig


def _point_values(fit, names, n: int):
    """One draw (a MAP fit): each scalar's value, marked on its own axis."""
    post = _posterior_dataset(fit)
    fig = _figure(6.0, 0.4 + 0.9 * n)
    axes = np.ravel(fig.subplots(n, 1, squeeze=False))
    values = [(f"{name}{label}", float(v)) for name in names
              for label, v in zip(_entry_labels(post[name]), np.ravel(post[name].values))]
    for ax, (label, v) in zip(axes, values):
        ax.axvline(v, color="C0")
        ax.set_yticks([])
        ax.set_title(f"{label} = {v:.4g}", fontsize=9)
    fig.suptitle(f"One draw ({fit.method}): no trace to show", fontsize=10)
    return fig


def _entry_labels(da) -> list[str]:
    dims = da.dims[2:]
    if not dims:
        return [""]
    coords = [list(da.coords[d].values) for d in dims]
    return ["[" + ", ".join(str(c) for c in combo) + "]"
            for combo in np.array(np.meshgrid(*coords, indexing="ij"),
                                  dtype=object).reshape(len(dims), -1).T]


def plot_rank(fit, var_names=None):
    """Rank histograms: the ranks of each chain's draws among all draws. Well-mixed chains
    give flat histograms; a chain stuck in one region piles up at one end (Vehtari et al.
    2021). Default ``var_names`` as :func:`plot_trace`.

    >>> plot_rank(fit).savefig("rank.png")                      # doctest: +SKIP
    """
    az = _arviz()
    names = _var_names(fit, var_names)
    post = _posterior_dataset(fit)
    n = _n_scalars(post, names)
    shown = min(n, RANK_MAX_PANELS)
    cols = min(3, shown)
    rows = math.ceil(shown / cols)
    fig = _figure(3.6 * cols, 0.4 + 2.3 * rows)
    axes = np.ravel(fig.subplots(rows, cols, squeeze=False))
    # ArviZ draws one panel per scalar in order and stops at the axes given
    with _quiet_arviz():
        az.plot_rank(fit.posterior, var_names=names, ax=axes[:shown], show=False)
    for ax in axes[shown:]:
        ax.remove()
    _tidy_fonts(axes[:shown])
    chains, _ = _chains_draws(fit)
    note = f"{chains} chain{'s' * (chains != 1)}"
    if chains == 1:
        note += ": ranks compare chains, so one chain shows nothing"
    if shown < n:
        note += f"; the first {shown} of {n} quantities: pass var_names to choose"
    fig.suptitle(f"Rank plots ({note})", fontsize=10)
    return fig
