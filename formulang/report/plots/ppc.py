"""Posterior predictive checks: does the model reproduce the data? brms's ``pp_check`` types,
drawn as bayesplot draws them, from the fit's replicated responses
(``fit.posterior_predictive()``).

============ ============================================ ====================================
type         shows                                        draws used (brms's default)
============ ============================================ ====================================
dens_overlay density of y over the densities of y_rep     10
hist         histogram of y, and of each y_rep            10
stat         a statistic of y_rep (histogram) and of y    all
intervals    y and y_rep's median, 50% and 90% intervals  all
bars         counts of each value of y, y_rep's median    10
             counts with 90% intervals (discrete data)
loo_pit      LOO-PIT values' density over uniform ones    all
============ ============================================ ====================================

``group=`` (a column of the data, or a grouping factor) draws one panel per level for
``dens_overlay``, ``stat``, ``intervals`` and ``bars`` (bayesplot's ``*_grouped``). The
default type is ``bars`` for families whose response takes whole numbers (the family row's
``discrete``), ``dens_overlay`` otherwise.

LOO-PIT (``loo_pit``): the probability, under the leave-one-out predictive distribution, of a
replicate at most the observed value; PSIS weights from the fit's log-likelihood
(:func:`loo_log_weights`). A model that describes the data gives uniform values. Continuous
responses use ArviZ's ``az.loo_pit``; for whole numbers that value is not uniform even for the
right model, so the randomised PIT is used instead (Czado, Gneiting & Held 2009): ``P(y_rep <
y) + V * P(y_rep = y)`` with ``V`` uniform, which is uniform for the right model.

Artists carry a ``gid`` saying what they show: ``"y"`` (the data), ``"y_rep"`` (one per
replicate drawn), ``"y_rep_median"``, ``"y_rep_interval"``, ``"pit"``, ``"uniform"``.

>>> PPC_TYPES
('dens_overlay', 'hist', 'stat', 'intervals', 'bars', 'loo_pit')
>>> fig = plot_ppc(fit, "stat", stat="sd", group="county")     # doctest: +SKIP
"""

from __future__ import annotations

import math

import numpy as np

from ...errors import FormulangError
from .common import _arviz, _figure, _positive_int

PPC_TYPES = ("dens_overlay", "hist", "stat", "intervals", "bars", "loo_pit")
GROUPED_TYPES = ("dens_overlay", "stat", "intervals", "bars")  # the types group= splits
ALL_DRAWS_TYPES = ("stat", "intervals", "loo_pit")  # brms: every draw by default
DEFAULT_NDRAWS = 10  # brms's pp_check for the other types
STATS = {"mean": np.mean, "median": np.median, "min": np.min, "max": np.max,
         "sd": lambda a, axis=None: np.std(a, axis=axis, ddof=1),
         "var": lambda a, axis=None: np.var(a, axis=axis, ddof=1)}
GROUP_MAX_PANELS = 16  # more levels than this: the first ones, and the title says so
PIT_UNIFORM_SAMPLES = 100  # bayesplot's ppc_loo_pit_overlay(samples = 100)
KDE_GRID = 256
DARK, LIGHT = "#011f4b", "#b3cde0"  # bayesplot's blue scheme: y dark, y_rep light


def plot_ppc(fit, type=None, group=None, ndraws=None, stat="mean", seed=0):
    """Posterior predictive check of ``type`` (see :data:`PPC_TYPES`; default ``bars`` for
    discrete families, else ``dens_overlay``). ``group``: a data column or grouping factor,
    one panel per level (``dens_overlay``, ``stat``, ``intervals``, ``bars``). ``ndraws``:
    replicates drawn (brms's defaults: 10, or all for ``stat``, ``intervals``, ``loo_pit``).
    ``stat``: ``"mean"``, ``"sd"``, ``"median"``, ``"min"``, ``"max"``, ``"var"`` or a function
    of a 1-D array. ``seed``: the replicates' draws and which are shown.

    >>> plot_ppc(fit, "dens_overlay", ndraws=50).savefig("ppc.png")   # doctest: +SKIP
    """
    if fit.bound is None:
        raise FormulangError(
            "this fit does not hold its training rows, which a posterior predictive check "
            "compares with their replicates (it was saved without them): give them with "
            "fit.attach_data(data) (in the command line, ppc ... --data DATA), or save the fit "
            "with fit.save(path, data=True)")
    discrete = fit.plan.family.spec.discrete
    type = ("bars" if discrete else "dens_overlay") if type is None else type
    if type not in PPC_TYPES:
        raise FormulangError(f"unknown ppc type {type!r}; types: {', '.join(PPC_TYPES)}")
    if group is not None and type not in GROUPED_TYPES:
        raise FormulangError(f"the {type} check takes no group; types with group=: "
                             f"{', '.join(GROUPED_TYPES)}")
    if ndraws is not None and type == "loo_pit":
        raise FormulangError("the loo_pit check uses every draw (the PSIS weights are the "
                             "posterior's): leave out ndraws")
    stat_name, stat_fn = _stat(stat) if type == "stat" else (None, None)
    idata = fit.posterior_predictive(seed=seed)
    y = np.asarray(idata.observed_data["y"].values, dtype=float).ravel()
    yrep_all = np.asarray(idata.posterior_predictive["y"].values, dtype=float)
    yrep_all = yrep_all.reshape(-1, yrep_all.shape[-1])
    rng = np.random.default_rng(seed)
    if ndraws is None and type not in ALL_DRAWS_TYPES:
        ndraws = min(DEFAULT_NDRAWS, len(yrep_all))
    yrep = yrep_all if ndraws is None else _some_draws(yrep_all, ndraws, rng)
    title = f"{fit.compiled.response_name}: {type}"
    if type == "loo_pit":
        pit = loo_pit(fit, idata, seed=seed)
        return _loo_pit_figure(pit, rng, title, discrete)
    panels, note = _panels(fit, group, len(y))
    cols = min(4, len(panels))
    rows = math.ceil(len(panels) / cols)
    if type == "hist":
        return _hist_figure(y, yrep, title)
    fig = _figure(3.4 * cols if group is not None else 6.5,
                  0.5 + (2.4 if group is not None else 3.6) * rows)
    axes = np.ravel(fig.subplots(rows, cols, squeeze=False))
    for ax, (level, rows_of) in zip(axes, panels):
        yy, rr = y[rows_of], yrep[:, rows_of]
        if type == "dens_overlay":
            _dens_overlay(ax, yy, rr)
        elif type == "stat":
            _stat_panel(ax, yy, rr, stat_fn, stat_name)
        elif type == "intervals":
            _intervals(ax, yy, rr, rows_of)
        else:
            _bars(ax, yy, rr)
        if level is not None:
            ax.set_title(_label(level), fontsize=9)
    for ax in axes[len(panels):]:
        ax.remove()
    axes[0].legend(fontsize=8, frameon=False)
    fig.suptitle(title + (f" by {group}" if group is not None else "") + note, fontsize=10)
    return fig


# ---- what is drawn ----------------------------------------------------------------------------

def _stat(stat):
    if callable(stat):
        name = getattr(stat, "__name__", "stat")

        def apply(a, axis=None):
            a = np.asarray(a)
            return stat(a) if axis is None else np.apply_along_axis(stat, axis, a)
        return name, apply
    if stat not in STATS:
        raise FormulangError(f"unknown stat {stat!r}; stats: {', '.join(STATS)}, or a "
                             f"function of an array")
    return stat, STATS[stat]


def _some_draws(yrep, ndraws, rng) -> np.ndarray:
    ndraws = _positive_int(ndraws, "ndraws")
    if ndraws > len(yrep):
        raise FormulangError(f"ndraws={ndraws} but the fit has {len(yrep)} draws")
    return yrep[np.sort(rng.choice(len(yrep), ndraws, replace=False))]


def _panels(fit, group, n) -> tuple[list, str]:
    """``[(level, row indices)]``: one panel, or one per level of ``group``; and a note when
    levels were left out."""
    if group is None:
        return [(None, np.arange(n))], ""
    labels = group_values(fit, group)
    levels = _levels(labels)
    panels = [(level, np.flatnonzero(labels == level)) for level in levels]
    if len(panels) <= GROUP_MAX_PANELS:
        return panels, ""
    return panels[:GROUP_MAX_PANELS], f" (the first {GROUP_MAX_PANELS} of {len(panels)} levels)"


def _levels(labels: np.ndarray) -> list:
    values = list(dict.fromkeys(labels.tolist()))
    try:
        return sorted(values, key=float)
    except (TypeError, ValueError):
        return sorted(values, key=str)


def _label(level) -> str:
    """A level as a title: ``0`` for a design column's 0.0, text as it is."""
    return f"{level:g}" if isinstance(level, (float, np.floating)) else str(level)


def group_values(fit, group: str) -> np.ndarray:
    """The level of each training row in ``group``: a grouping factor of the model (``"g"``,
    ``"g1:g2"``), a column of the data the model was built from (a live model's), or (a
    loaded fit's) a column read back from its design matrix (a factor from its dummy
    columns)."""
    bound = fit.bound
    if bound is None:
        raise FormulangError("this fit does not hold its training rows: give them with "
                             "fit.attach_data(data) (the CLI's --data)")
    key = str(group).strip()
    for g in bound.groups:
        if key in (g.spec.label, g.label):
            return np.asarray(g.levels, dtype=object)[np.asarray(g.codes)]
    frame = getattr(fit.model, "_frame", None)
    if frame is not None:
        from ...infer.kfold import group_labels

        return np.asarray(group_labels(fit.model, key), dtype=object)
    from ..effects.data import encoded_column, predictor_columns

    values = encoded_column(fit, bound, key)  # a loaded fit: read back from its design
    if values is not None:  # (floor, Days; a factor from its dummies: period)
        return np.asarray(values).astype(object)
    known = dict.fromkeys([g.spec.label for g in bound.groups] + [
        c for c in predictor_columns(fit) if encoded_column(fit, bound, c) is not None])
    raise FormulangError(f"no grouping factor or predictor {group!r} in this fit (a loaded fit "
                         f"knows its grouping factors and the columns its design holds: "
                         f"{', '.join(known)})")


def _kde(values: np.ndarray, grid: np.ndarray) -> np.ndarray:
    """Gaussian kernel density with Scott's bandwidth (scipy's ``gaussian_kde``, computed
    directly: scipy's costs a triangular solve per call) on ``grid``; zero everywhere for
    fewer than two distinct values (no density to estimate)."""
    values = np.asarray(values, dtype=float)
    if len(np.unique(values)) < 2:
        return np.zeros_like(grid, dtype=float)
    bw = values.std(ddof=1) * len(values) ** (-1 / 5)
    z = (np.asarray(grid, dtype=float)[:, None] - values[None, :]) / bw
    return np.exp(-0.5 * z * z).sum(axis=1) / (len(values) * bw * np.sqrt(2 * np.pi))


def _dens_overlay(ax, y, yrep) -> None:
    lo, hi = min(y.min(), yrep.min()), max(y.max(), yrep.max())
    pad = 0.05 * (hi - lo or 1.0)
    grid = np.linspace(lo - pad, hi + pad, KDE_GRID)
    for i, rep in enumerate(yrep):
        ax.plot(grid, _kde(rep, grid), color=LIGHT, lw=0.8, gid="y_rep",
                label="y_rep" if i == 0 else None)
    ax.plot(grid, _kde(y, grid), color=DARK, lw=1.6, gid="y", label="y")
    ax.set_yticks([])


def _hist_figure(y, yrep, title):
    """bayesplot's ppc_hist: y, then each replicate, in panels of one shared binning."""
    edges = np.histogram_bin_edges(np.concatenate([y, yrep.ravel()]), bins=30)
    n = len(yrep) + 1
    cols = min(4, n)
    rows = math.ceil(n / cols)
    fig = _figure(2.6 * cols, 0.5 + 1.8 * rows)
    axes = np.ravel(fig.subplots(rows, cols, squeeze=False, sharex=True))
    for k, (ax, values) in enumerate(zip(axes, [y, *yrep])):
        kind = "y" if k == 0 else "y_rep"
        ax.hist(values, bins=edges, color=DARK if k == 0 else LIGHT, gid=kind)
        ax.set_gid(kind)
        ax.set_title(kind if k == 0 else f"y_rep {k}", fontsize=9)
        ax.set_yticks([])
    for ax in axes[n:]:
        ax.remove()
    fig.suptitle(title, fontsize=10)
    return fig


def _stat_panel(ax, y, yrep, fn, name) -> None:
    t_rep = np.asarray(fn(yrep, axis=1), dtype=float)
    t_y = float(fn(y))
    ax.hist(t_rep, bins=30, color=LIGHT, gid="y_rep", label=f"{name}(y_rep)")
    ax.axvline(t_y, color=DARK, lw=2, gid="y", label=f"{name}(y)")
    ax.set_yticks([])


def _intervals(ax, y, yrep, rows_of) -> None:
    x = rows_of + 1  # bayesplot: the data's row numbers, from 1
    q = np.quantile(yrep, [0.05, 0.25, 0.5, 0.75, 0.95], axis=0)
    ax.vlines(x, q[0], q[4], color=LIGHT, lw=1, gid="y_rep_interval")
    ax.vlines(x, q[1], q[3], color=LIGHT, lw=2.5, gid="y_rep_interval")
    ax.plot(x, q[2], "o", ms=3, color=LIGHT, mec="#6497b1", gid="y_rep_median",
            label="y_rep (median, 50% and 90%)")
    ax.plot(x, y, "o", ms=3, color=DARK, gid="y", label="y")
    ax.set_xlabel("row", fontsize=8)


def _bars(ax, y, yrep) -> None:
    """bayesplot's ppc_bars: the count of each value in y, with y_rep's median count and
    90% interval over the replicates."""
    values = np.union1d(np.unique(y), np.unique(yrep))
    counts_y = (y[:, None] == values).sum(axis=0)
    counts_rep = (yrep[:, :, None] == values).sum(axis=1)
    q = np.quantile(counts_rep, [0.05, 0.5, 0.95], axis=0)
    ax.bar(values, counts_y, width=0.9 * _step(values), color=LIGHT, gid="y", label="y")
    ax.vlines(values, q[0], q[2], color=DARK, lw=1.2, gid="y_rep_interval")
    ax.plot(values, q[1], "o", ms=3.5, color=DARK, gid="y_rep_median",
            label="y_rep (median, 90%)")


def _step(values) -> float:
    return float(np.min(np.diff(values))) if len(values) > 1 else 1.0


# ---- LOO-PIT ----------------------------------------------------------------------------------

def loo_log_weights(fit, idata) -> np.ndarray:
    """PSIS-smoothed leave-one-out log weights, (draws, rows), from the fit's log-likelihood,
    with ArviZ's relative efficiency (as ``az.loo_pit`` computes them)."""
    az = _arviz()
    ll = idata.log_likelihood["y"].stack(__sample__=("chain", "draw"))
    chains = idata.posterior.sizes["chain"]
    reff = 1.0
    if chains > 1:
        ess = az.ess(idata.posterior, method="mean")
        reff = float(np.hstack([ess[v].values.ravel() for v in ess.data_vars]).mean()
                     / ll.sizes["__sample__"])
    lw, _ = az.psislw(-ll, reff=reff)
    return np.asarray(lw.transpose("__sample__", ...).values)


def loo_pit(fit, idata=None, seed: int = 0) -> np.ndarray:
    """The LOO-PIT value of each training row, in [0, 1]: ArviZ's ``az.loo_pit`` for
    continuous responses, the randomised PIT for discrete ones (see the module's text)."""
    idata = fit.posterior_predictive(seed=seed) if idata is None else idata
    y = np.asarray(idata.observed_data["y"].values, dtype=float).ravel()
    yrep = np.asarray(idata.posterior_predictive["y"].values, dtype=float)
    yrep = yrep.reshape(-1, yrep.shape[-1])  # draws in (chain, draw) order, as the weights
    lw = loo_log_weights(fit, idata)
    if not fit.plan.family.spec.discrete:
        az = _arviz()
        return np.asarray(az.loo_pit(y=y, y_hat=yrep.T, log_weights=lw.T), dtype=float)
    w = np.exp(lw - lw.max(axis=0))
    w /= w.sum(axis=0)
    below = (w * (yrep < y)).sum(axis=0)
    at = (w * (yrep == y)).sum(axis=0)
    v = np.random.default_rng(seed).uniform(size=len(y))
    return np.clip(below + v * at, 0.0, 1.0)


def _reflected_kde(values, grid) -> np.ndarray:
    """Density of values in [0, 1], reflected at both ends so the boundaries are not
    underestimated."""
    return _kde(values, grid) + _kde(values, -grid) + _kde(values, 2 - grid)


def _loo_pit_figure(pit, rng, title, discrete):
    fig = _figure(6.5, 3.8)
    ax = fig.subplots()
    grid = np.linspace(0, 1, KDE_GRID)
    for i in range(PIT_UNIFORM_SAMPLES):
        ax.plot(grid, _reflected_kde(rng.uniform(size=len(pit)), grid), color=LIGHT, lw=0.6,
                gid="uniform", label="uniform" if i == 0 else None)
    ax.plot(grid, _reflected_kde(pit, grid), color=DARK, lw=1.6, gid="y", label="LOO-PIT")
    ax.plot(pit, np.zeros_like(pit), "|", color=DARK, ms=6, alpha=0.5, gid="pit")
    ax.set_xlim(0, 1)
    ax.set_xlabel("LOO-PIT" + (" (randomised: discrete response)" if discrete else ""),
                  fontsize=8)
    ax.legend(fontsize=8, frameon=False)
    fig.suptitle(title, fontsize=10)
    return fig


__all__ = ["ALL_DRAWS_TYPES", "DEFAULT_NDRAWS", "GROUPED_TYPES", "GROUP_MAX_PANELS", "PPC_TYPES",
           "STATS", "group_values", "loo_log_weights", "loo_pit", "plot_ppc"]
