"""Fitted regression lines per group level over the data, with the population line."""

from __future__ import annotations

import math
import warnings

import numpy as np

from ...errors import FormulangError
from ...phrasing import option
from .common import _chains_draws, _figure, _level_counts, _positive_int, _rows, find_group

LINE_GRID = 30  # points along x of each fitted line
NEW_LEVEL = "(new level)"  # a level name no training data has: its effect is set to 0


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
    bound = fit.bound
    if bound is None:
        raise FormulangError(
            "this fit does not hold its training rows, which the lines plot draws (it was "
            "saved without them): give them with fit.attach_data(data) (in the command line, "
            "plot ... --data DATA), or save the fit with fit.save(path, data=True)")
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
    fig.suptitle(f"{fit.compiled.formula.response} against {x} by {g.label}: {len(chosen)} of "
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
    bound = fit.bound
    numeric = [v.label for v in bound.spec.variables if v.kind == "numeric"]
    plain = {c: _unquoted(c) for c in bound.X_columns}
    candidates = [c for c in bound.X_columns if c != "Intercept" and c in numeric
                  and plain[c] in fit.compiled.formula.columns()]
    if x is None:
        if not candidates:
            raise FormulangError(f"the model {fit.compiled.formula} has no numeric covariate with "
                                 f"a population-level slope, so no regression lines to draw "
                                 f"(the forest or funnel plot shows the group effects)")
        x = candidates[0]
    x = next((c for c in candidates if x in (c, plain[c])), x)
    if x not in candidates:
        raise FormulangError(f"{option('x', x)} is not a numeric covariate entering the "
                             f"formula as itself; candidates: {', '.join(candidates) or 'none'}")
    return plain[x], bound.X_columns.index(x)


def _unquoted(label: str) -> str:
    """The column a design label names: ``x var`` for ```x var``` (a name the formula
    quotes), the label itself otherwise."""
    return label[1:-1] if len(label) > 1 and label[0] == label[-1] == "`" else label


def _predictor_columns(fit) -> list[str]:
    formula = fit.compiled.formula
    response = set(formula.response.columns()) if formula.response is not None else set()
    return [c for c in formula.columns() if c not in response]


def _typical_values(fit, x: str, at) -> dict:
    """Column -> value for every predictor column other than x and the grouping factors."""
    at = dict(at or {})
    bound = fit.bound
    grouping = {c for g in bound.groups for c in g.factor}
    variables = {_unquoted(v.label): v for v in bound.spec.variables}
    design = {_unquoted(c): j for j, c in enumerate(bound.X_columns)}
    out = {}
    for c in _predictor_columns(fit):
        if c == x or c in grouping:
            continue
        if c in at:
            out[c] = at.pop(c)
            continue
        v = variables.get(c)
        if v is not None and v.kind == "numeric" and c in design:
            out[c] = float(np.mean(bound.X[:, design[c]]))
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

    bound = fit.bound
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
    """Mean of the response per draw along the grid; per trial for binomial models. The
    other grouping factors are at a level no training data has, on purpose: their effect is
    0, and predict's warning about new levels is not the user's."""
    from ...data.notices import NewLevelsWarning

    kind = "prob" if fit.plan.family.spec.trials else "mean"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NewLevelsWarning)
        return fit.predict(newdata, kind=kind, new_levels="population")


def _observed(fit) -> tuple[np.ndarray, str]:
    bound = fit.bound
    y = np.asarray(bound.y, dtype=float)
    name = str(fit.compiled.formula.response.value)
    if bound.trials is not None and fit.plan.family.spec.trials:
        return y / np.asarray(bound.trials, dtype=float), f"{name} per trial"
    return y, name


def _jitter(xs: np.ndarray, rng) -> np.ndarray:
    """A few distinct x values (0/1 indicators) get a little spread so points do not stack."""
    if len(np.unique(xs)) > 5:
        return np.zeros_like(xs)
    spread = 0.02 * (np.ptp(xs) or 1.0)
    return rng.uniform(-spread, spread, size=xs.shape)
