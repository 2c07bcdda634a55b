"""Conditional effects (brms's ``plot(conditional_effects(fit))``): the response along a
predictor with its interval, a line and ribbon for a numeric predictor (one per level of a
second one), points with error bars for a factor."""

from __future__ import annotations

import numpy as np

from .common import _figure

EFFECT_COLORS = 10  # matplotlib's default cycle: C0..C9


def plot_effects(fit, effect=None, method="posterior_epred", prob=0.95, points=False,
                 categorical=False, conditions=None):
    """The conditional effect of ``effect`` (a predictor, or ``"x:g"``; default: the first
    predictor), as :meth:`formulang.Fit.conditional_effects` computes it, drawn by
    :func:`draw_conditional_effects`.

    >>> fig = plot_effects(fit, effect="Days")                   # doctest: +SKIP
    """
    ce = fit.conditional_effects(effect, method=method, prob=prob, categorical=categorical,
                                 conditions=conditions)
    return draw_conditional_effects(ce, points=points)


def draw_conditional_effects(ce, points: bool = False):
    """A Figure of a :class:`~formulang.report.effects.ConditionalEffects`: one axes, the
    estimate (line or point) and the ``prob`` interval (ribbon or error bar) per level of the
    second effect (a legend names them)."""
    data = ce.data
    x, kind = ce.effects[0], ce.types[0]
    fig = _figure(6.0, 4.2)
    ax = fig.subplots()
    series = [(None, data)]
    if len(ce.effects) == 2:
        key = "effect2__"
        series = [(level, data[data[key] == level]) for level in _levels(data[key])]
    width = 0.6 / max(len(series), 1)
    factor_x = _levels(data[x]) if kind == "factor" else None
    for i, (level, part) in enumerate(series):
        color = f"C{i % EFFECT_COLORS}"
        label = None if level is None else str(level)
        if factor_x is None:
            xs = part[x].to_numpy(dtype=float)
            ax.plot(xs, part["estimate__"], color=color, lw=2, label=label)
            ax.fill_between(xs, part["lower__"], part["upper__"], color=color, alpha=0.25,
                            lw=0)
        else:
            pos = np.array([factor_x.index(v) for v in part[x]], dtype=float)
            pos = pos + (i - (len(series) - 1) / 2) * width
            est = part["estimate__"].to_numpy(dtype=float)
            err = np.vstack([est - part["lower__"].to_numpy(dtype=float),
                             part["upper__"].to_numpy(dtype=float) - est])
            ax.errorbar(pos, est, yerr=err, fmt="o", color=color, capsize=4, label=label)
    if factor_x is not None:
        ax.set_xticks(range(len(factor_x)), [str(v) for v in factor_x])
    if points and ce.points is not None and x in ce.points:
        px = ce.points[x]
        if factor_x is not None:
            px = np.array([factor_x.index(str(v)) if str(v) in factor_x else np.nan
                           for v in px])
        ax.scatter(px, ce.points["y"], s=8, color="k", alpha=0.3, zorder=0, label="data")
    ax.set_xlabel(x)
    scale = {"posterior_epred": "", "posterior_linpred": " (link scale)",
             "posterior_predict": " (predicted)"}[ce.method]
    ylabel = "probability" if "cats__" in ce.effects else ce.response
    ax.set_ylabel(ylabel + scale)
    if len(ce.effects) == 2 or (points and ce.points is not None):
        title = ce.effects[1] if len(ce.effects) == 2 else None
        ax.legend(title=title, fontsize=8, frameon=False)
    ax.set_title(f"conditional effect of {':'.join(ce.effects[:1] + ce.effects[1:])} "
                 f"({ce.method}, {ce.prob:g} interval)", fontsize=10)
    return fig


def _levels(values) -> list:
    """Distinct values in order: a categorical's category order, else as they first come."""
    cats = getattr(getattr(values, "cat", None), "categories", None)
    if cats is not None:
        present = set(values)
        return [c for c in cats if c in present]
    return list(dict.fromkeys(values))
