"""Plots of a fit: trace, rank, forest, regression lines per group, and the funnel.

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
======== ============================== ===========================================

Names are those of ``fit.posterior``: ``b``, ``sd_<g>``, ``cor_<g>``, ``r_<g>``, ``sigma``...
A group is named by its grouping factor (``"county"``, ``"batch:cask"``, ``"~county"``).

>>> sorted(PLOT_KINDS)
['forest', 'funnel', 'lines', 'rank', 'trace']
>>> fig = plot(fit, "trace")                                     # doctest: +SKIP
>>> fig = plot(fit, "funnel", compare=other_fit)                 # doctest: +SKIP
>>> fig.savefig("funnel.png", dpi=90)                            # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import inspect
import math
import warnings

import numpy as np

from ..errors import FormulangError

TRACE_MAX_ROWS = 12  # more scalars than this: one row per variable (ArviZ's compact trace)
RANK_MAX_PANELS = 36  # rank histograms beyond this many scalars are left out, and the title says so
FOREST_ROW_INCHES = 0.16  # height of one level in the forest plot
FOREST_MAX_INCHES = 30.0  # longer level lists thin their labels instead of growing further
LINE_GRID = 30  # points along x of each fitted line
NEW_LEVEL = "(new level)"  # a level name no training data has: its effect is set to 0


# ---- shared helpers ---------------------------------------------------------------------------

def _figure(width: float, height: float):
    """A Figure detached from pyplot: draws headless, never pops up a window by itself."""
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), layout="constrained")


def _arviz():
    from .idata import import_arviz

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
        names.append(f"sd_{g.name}")
        if f"cor_{g.name}" in post:
            names.append(f"cor_{g.name}")
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
    ``"county"`` or ``"~county"``, or the parameter stem ``"county_2"``); ``None``: the first.

    >>> find_group(fit, "county")[1].name                        # doctest: +SKIP
    'county'
    """
    groups = fit.plan.groups
    if not groups:
        raise FormulangError(f"the model {fit.model.formula} has no group terms (1 | g): "
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
        sd = np.asarray(_posterior_dataset(fit)[f"sd_{g.name}"].values, dtype=float)
        log_sd = np.log(np.maximum(sd.reshape(-1, g.k), np.finfo(float).tiny))
        return int(np.argmax(log_sd.std(axis=0)))
    if effect in g.columns:
        return g.columns.index(effect)
    raise FormulangError(f"group ~{g.label} has no effect {effect!r}; effects: "
                         f"{', '.join(g.columns)}")


def _level_counts(fit, gi: int) -> np.ndarray:
    g = fit.plan.groups[gi]
    bound = fit.model.bound
    codes = getattr(bound, "groups", None)
    if not codes or getattr(bound, "X", None) is None:
        return np.full(len(g.levels), -1)  # a loaded fit: row counts unknown
    return np.bincount(np.asarray(bound.groups[gi].codes), minlength=len(g.levels))


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


# ---- trace and rank (ArviZ) -------------------------------------------------------------------

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


# ---- forest of group effects (ArviZ) ------------------------------------------------------------

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
    var = f"r_{g.name}"
    for ax, effect in zip(axes, g.columns):
        with _quiet_arviz():
            az.plot_forest(fit.posterior, var_names=[var], combined=True,
                           coords={f"{g.name}__effect": [effect]}, ax=ax, show=False)
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


# ---- fitted lines per group ---------------------------------------------------------------------

def plot_group_lines(fit, x=None, group=None, n_groups=8, draws=50, seed=0, at=None):
    """Fitted mean of the response against ``x``, one panel per level of ``group``: the
    level's data points, ``draws`` posterior draws of its mean line (thin), their posterior
    mean (thick) and the population line (dashed, group effects 0) for comparison.

    ``n_groups`` levels are shown, always including the levels with the fewest and the most
    rows, the rest drawn at random with ``seed`` (reproducible). ``x`` defaults to the first
    numeric covariate with a population-level slope. Other covariates are held at typical
    values: numeric ones at their mean, factors at their most common level; ``at`` (a dict of
    column -> value) overrides them. Other group terms are held at 0 (population). Binomial
    models show proportions (the mean per trial).

    >>> plot_group_lines(fit, x="floor", group="county", n_groups=6)  # doctest: +SKIP
    """
    n_groups = _positive_int(n_groups, "n_groups")
    draws = _positive_int(draws, "draws")
    bound = fit.model.bound
    if getattr(bound, "X", None) is None:
        raise FormulangError("this fit does not hold its training data (it was loaded from a "
                             "file), which the lines plot draws: refit the model to plot it")
    gi, g = find_group(fit, group)
    x, xj = _line_covariate(fit, x)
    counts = _level_counts(fit, gi)
    chosen = sample_levels(counts, n_groups, seed)
    xs = np.asarray(bound.X[:, xj], dtype=float)
    grid = np.linspace(xs.min(), xs.max(), LINE_GRID)
    typical = _typical_values(fit, x, at)
    y, ylabel = _observed(fit)
    rng = np.random.default_rng(seed)
    chains, n_draws = _chains_draws(fit)
    picked = rng.choice(chains * n_draws, size=min(draws, chains * n_draws), replace=False)
    population = _mean_lines(fit, _newdata(fit, typical, x, grid, gi, None)).mean(axis=0)
    xs = xs + _jitter(xs, rng)
    codes = np.asarray(bound.groups[gi].codes)

    cols = min(4, len(chosen))
    rows = math.ceil(len(chosen) / cols)
    fig = _figure(0.6 + 3.0 * cols, 0.8 + 2.6 * rows)
    axes = np.ravel(fig.subplots(rows, cols, sharex=True, sharey=True, squeeze=False))
    for ax, li in zip(axes, chosen):
        mu = _mean_lines(fit, _newdata(fit, typical, x, grid, gi, g.levels[li]))
        ax.plot(grid, mu[picked].T, color="C0", alpha=0.12, lw=0.8)
        ax.plot(grid, mu.mean(axis=0), color="C0", lw=2.2, label="posterior mean, this level")
        ax.plot(grid, population, color="C3", lw=1.5, ls="--", label="population")
        ax.scatter(xs[codes == li], y[codes == li], s=14, color="k", alpha=0.7, zorder=3,
                   label="data")
        ax.set_title(f"{g.levels[li]} ({_rows(counts[li])})", fontsize=9)
    for ax in axes[len(chosen):]:
        ax.remove()
    _label_edges(axes[:len(chosen)], cols, x, ylabel)
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncol=3, fontsize=9, frameon=False)
    fig.suptitle(f"{fit.model.formula.response} against {x} by {g.label}: {len(chosen)} of "
                 f"{len(g.levels)} levels, {len(picked)} posterior draws of the mean each",
                 fontsize=10)
    return fig


def _label_edges(axes, cols: int, xlabel: str, ylabel: str) -> None:
    """y labels on the left column, x labels and ticks under the lowest panel of each column."""
    for i, ax in enumerate(axes):
        if i % cols == 0:
            ax.set_ylabel(ylabel, fontsize=9)
        if i >= len(axes) - cols:
            ax.set_xlabel(xlabel, fontsize=9)
            ax.tick_params(labelbottom=True)


def sample_levels(counts, n: int, seed: int = 0) -> list[int]:
    """Indices of ``n`` levels, ordered by row count: the smallest and the largest level
    always, the others drawn at random (``seed``).

    >>> sample_levels([5, 1, 9, 3, 7], 3, seed=0)[0], sample_levels([5, 1, 9, 3, 7], 3)[-1]
    (1, 2)
    """
    counts = np.asarray(counts)
    order = [int(i) for i in np.argsort(counts, kind="stable")]
    if n >= len(order):
        return order
    if n == 1:
        return [order[-1]]
    rng = np.random.default_rng(seed)
    middle = rng.choice(order[1:-1], size=n - 2, replace=False) if n > 2 else []
    chosen = {order[0], order[-1], *(int(i) for i in middle)}
    return [i for i in order if i in chosen]


def _line_covariate(fit, x) -> tuple[str, int]:
    """The x column and its index in X: a numeric variable entering the design as itself."""
    bound = fit.model.bound
    numeric = [v.label for v in bound.spec.variables if v.kind == "numeric"]
    candidates = [c for c in bound.X_columns if c != "Intercept" and c in numeric
                  and c in fit.model.formula.columns()]
    if x is None:
        if not candidates:
            raise FormulangError(f"the model {fit.model.formula} has no numeric covariate with "
                                 f"a population-level slope to draw lines against; pass x=")
        x = candidates[0]
    if x not in candidates:
        raise FormulangError(f"x={x!r} is not a numeric covariate entering the formula as "
                             f"itself; candidates: {', '.join(candidates) or 'none'}")
    return x, bound.X_columns.index(x)


def _predictor_columns(fit) -> list[str]:
    formula = fit.model.formula
    response = set(formula.response.columns()) if formula.response is not None else set()
    return [c for c in formula.columns() if c not in response]


def _typical_values(fit, x: str, at) -> dict:
    """Column -> value for every predictor column other than x and the grouping factors."""
    at = dict(at or {})
    bound = fit.model.bound
    grouping = {c for g in bound.groups for c in g.factor}
    variables = {v.label: v for v in bound.spec.variables}
    out = {}
    for c in _predictor_columns(fit):
        if c == x or c in grouping:
            continue
        if c in at:
            out[c] = at.pop(c)
            continue
        v = variables.get(c)
        if v is not None and v.kind == "numeric" and c in bound.X_columns:
            out[c] = float(np.mean(bound.X[:, bound.X_columns.index(c)]))
        elif v is not None and v.kind != "numeric":
            out[c] = _most_common_level(bound, c, v.levels)
        else:
            raise FormulangError(f"no typical value for column {c!r} (the formula only uses "
                                 f"it transformed): pass at={{{c!r}: value}}")
    if at:
        raise FormulangError(f"at= names {', '.join(map(repr, at))}, not a predictor column "
                             f"other than x and the grouping factors; columns: "
                             f"{', '.join(out) or 'none'}")
    return out


def _most_common_level(bound, column: str, levels) -> str:
    """From the dummy columns of the factor's main effect; its first level when absent."""
    X, names = bound.X, bound.X_columns
    counts = [float(X[:, names.index(column + lev)].sum()) if column + lev in names else None
              for lev in levels]
    missing = [i for i, c in enumerate(counts) if c is None]
    if len(missing) > 1:
        return levels[0]
    if missing:
        counts[missing[0]] = bound.n - sum(c for c in counts if c is not None)
    return levels[int(np.argmax(counts))]


def _newdata(fit, typical: dict, x: str, grid, gi: int, level):
    """Rows along the grid with the plotted group at ``level`` (``None``: a new level, so
    its effect is 0) and every other grouping factor at a new level."""
    import pandas as pd

    bound = fit.model.bound
    columns = {c: [v] * len(grid) for c, v in typical.items()}
    columns[x] = grid
    for g in bound.groups:
        for c in g.factor:
            columns.setdefault(c, [NEW_LEVEL] * len(grid))
    if level is not None:
        target = bound.groups[gi].factor
        parts = level.split(":") if len(target) > 1 else [level]
        for c, part in zip(target, parts):
            columns[c] = [part] * len(grid)
    return pd.DataFrame(columns)


def _mean_lines(fit, newdata) -> np.ndarray:
    """Mean of the response per draw along the grid; per trial for binomial models."""
    family = fit.plan.family
    if not family.spec.trials:
        return fit.predict(newdata, kind="mean", new_levels="population")
    from ..infer.predict import family_mean

    eta = fit.predict(newdata, kind="linpred", new_levels="population")
    return family_mean(family, eta, {}, trials=1.0)


def _observed(fit) -> tuple[np.ndarray, str]:
    bound = fit.model.bound
    y = np.asarray(bound.y, dtype=float)
    name = str(fit.model.formula.response.value)
    if bound.trials is not None and fit.plan.family.spec.trials:
        return y / np.asarray(bound.trials, dtype=float), f"{name} per trial"
    return y, name


def _jitter(xs: np.ndarray, rng) -> np.ndarray:
    """A few distinct x values (0/1 indicators) get a little spread so points do not stack."""
    if len(np.unique(xs)) > 5:
        return np.zeros_like(xs)
    spread = 0.02 * (np.ptp(xs) or 1.0)
    return rng.uniform(-spread, spread, size=xs.shape)


# ---- the funnel -------------------------------------------------------------------------------

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
    axes[0].set_ylabel(f"log sd_{g.name}[{g.columns[ei]}]")
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
    r = np.asarray(post[f"r_{g.name}"].values[..., li, ei], dtype=float).ravel()
    sd = np.asarray(post[f"sd_{g.name}"].values[..., ei], dtype=float).ravel()
    log_sd = np.log(np.maximum(sd, np.finfo(float).tiny))
    div = _diverging(fit).ravel()
    ax.scatter(r[~div], log_sd[~div], s=6, alpha=0.35, color="C0", linewidths=0,
               label="draws")
    ax.scatter(r[div], log_sd[div], s=16, alpha=0.9, color="C3", linewidths=0,
               label="divergent")
    ax.set_xlabel(f"r_{g.name}[{g.levels[li]}, {g.columns[ei]}]")
    ax.set_title(f"{_parameterization(fit, g, li)}\n{int(div.sum())} divergent of {div.size} "
                 f"draws ({fit.method})", fontsize=10)
    ax.legend(loc="lower right", fontsize=8, markerscale=1.5)


def _parameterization(fit, g, li: int) -> str:
    mode = {"noncentered": "non-centered", "centered": "centered"}.get(g.mode, g.mode)
    if g.mode == "mixed":
        this = "centered" if g.centered[li] else "non-centered"
        mode = f"mixed ({sum(g.centered)} of {len(g.centered)} levels centered; this one {this})"
    reason = g.reason or ""
    how = "forced" if "forced" in reason else ("auto" if reason else "")
    return f"~{g.label} {mode}" + (f" ({how})" if how and g.mode != "mixed" else "")


# ---- by name ----------------------------------------------------------------------------------

PLOT_KINDS = {
    "trace": plot_trace,
    "rank": plot_rank,
    "forest": plot_forest,
    "lines": plot_group_lines,
    "funnel": plot_funnel,
}


def plot(fit, kind: str, **kw):
    """The plot called ``kind`` (see :data:`PLOT_KINDS`) of ``fit``, with its keyword
    arguments; unknown kinds and arguments are errors that list the valid ones.

    >>> plot(None, "histogram")
    Traceback (most recent call last):
    ...
    formulang.errors.FormulangError: unknown plot kind 'histogram'; kinds: trace, rank, forest, lines, funnel
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


__all__ = ["PLOT_KINDS", "find_group", "plot", "plot_forest", "plot_funnel",
           "plot_group_lines", "plot_rank", "plot_trace", "sample_levels"]
