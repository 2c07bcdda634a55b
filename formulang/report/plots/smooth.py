"""A smooth term's fitted curve (``s(x)``, ``gp(x, k =)``, ``gp(x)``) with its interval, over the
data (an exact GP's at new values drawn from its conditional normal, as its predictions); of
a tensor-product smooth ``t2(x, z)``, curves along ``x`` at three values of ``z``."""

from __future__ import annotations

import warnings

import numpy as np

from ...errors import FormulangError
from .common import _figure, _positive_int
from .lines import _newdata, _observed, _typical_values

SMOOTH_GRID = 100  # points along x of the curve


def find_smooth(fit, term=None):
    """The smooth term ``term`` names (as written, ``"s(times)"``, or brms's stem,
    ``"stimes"``; None: the first) among the fit's, as its
    :class:`~formulang.data.smooths.SmoothSpec`."""
    specs = fit.compiled.spec.smooths
    if not specs:
        raise FormulangError("the smooth plot shows a smooth term (s(x), t2(x, z), gp(x)); "
                             f"this model has none: {fit.compiled.formula}")
    if term is None:
        return specs[0]
    wanted = str(term).replace(" ", "")
    for spec in specs:
        written = str(spec.term).replace(" ", "")
        if wanted in (written, spec.label) or written.startswith(wanted.rstrip(")") + ","):
            return spec
    raise FormulangError(f"no smooth term {term!r}; the model's: "
                         f"{', '.join(str(s.term) for s in specs)}")


def plot_smooth(fit, term=None, prob=0.95, grid=SMOOTH_GRID, at=None):
    """The fitted mean of the response along a smooth term's variable: its posterior mean
    (line) and central ``prob`` interval (band) over ``grid`` points spanning the data, with the
    data (points). Other covariates are held at typical values (numeric: their mean; factors:
    their most common level; another smooth's variable: its training mean; ``at`` overrides
    them); group terms at 0 (population). A ``t2(x, z)`` surface is drawn as curves along
    ``x`` with ``z`` at its training 10%, 50% and 90% quantiles (each with its band; ``at``
    may fix ``z`` instead).

    >>> fig = plot_smooth(fit, term="s(times)")                     # doctest: +SKIP
    """
    if not 0 < float(prob) < 1:
        raise FormulangError(f"prob must be between 0 and 1, not {prob!r}")
    grid = _positive_int(grid, "grid")
    spec = find_smooth(fit, term)
    bound = fit.bound
    if bound is None:
        raise FormulangError(
            "this fit does not hold its training rows, which the smooth plot draws (it was "
            "saved without them): give them with fit.attach_data(data), or save the fit with "
            "fit.save(path, data=True)")
    x = str(spec.term.args[0])
    xs = np.asarray(next(sd.x for sd in bound.smooths if sd.spec.label == spec.label),
                    dtype=float)
    others = {str(a): _centre(s, j) for s in fit.compiled.spec.smooths
              for j, a in enumerate(s.term.args) if str(a) != x}
    at = dict(at or {})
    along = np.linspace(xs.min(), xs.max(), grid)
    y, ylabel = _observed(fit)

    fig = _figure(6.4, 4.2)
    ax = fig.subplots()
    ax.scatter(xs, y, s=10, color="0.35", alpha=0.6, label="data")
    for i, (label, fixed) in enumerate(_slices(spec, at)):
        typical = _typical_values(fit, x, {**others, **fixed, **at})
        mu = _population_mean(fit, _newdata(fit, typical, x, along, 0, None))
        lo, hi = np.quantile(mu, [(1 - prob) / 2, (1 + prob) / 2], axis=0)
        ax.fill_between(along, lo, hi, color=f"C{i}", alpha=0.25,
                        label=f"{prob:.0%} interval" if not label else None)
        ax.plot(along, mu.mean(axis=0), color=f"C{i}", lw=2,
                label=label or "posterior mean")
    ax.set_xlabel(x)
    ax.set_ylabel(ylabel)
    ax.set_title(f"{spec.term}", loc="left")
    ax.legend(loc="best", frameon=False, fontsize="small")
    return fig


def _centre(spec, j: int) -> float:
    """A smooth's variable ``j``'s typical value: its training mean (a GP's: of its unique
    values)."""
    if spec.kind == "t2":
        from ...data.smooths_t2 import t2_summary

        return t2_summary(spec.state, j)["mean"]
    return spec.centre


def _slices(spec, at: dict) -> list[tuple[str, dict]]:
    """The curves to draw: one (no label) for a one-variable smooth; for a ``t2(x, z)``, ``z``
    at its training 10%, 50% and 90% quantiles (or where ``at`` puts it)."""
    if spec.kind != "t2":
        return [("", {})]
    from ...data.smooths_t2 import t2_summary

    z = str(spec.term.args[1])
    if z in at:
        return [(f"{z} = {at[z]:.3g}", {})]
    summary = t2_summary(spec.state, 1)
    return [(f"{z} = {summary[q]:.3g} ({q[1:]}% quantile)", {z: summary[q]})
            for q in ("q10", "q50", "q90")]


def _population_mean(fit, newdata) -> np.ndarray:
    from ...data.notices import NewLevelsWarning

    kind = "prob" if fit.plan.family.spec.trials else "mean"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NewLevelsWarning)
        return fit.predict(newdata, kind=kind, new_levels="population")
