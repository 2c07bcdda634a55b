"""When ``collapse="auto"`` integrates a non-Gaussian model's group effects out by the
embedded Laplace approximation (issue 23), from what the pilot fit already knows.

The approximation pays where the rows are many, and is accurate where each level's
conditional posterior of its effects is close to Gaussian. Its error in a level's marginal
likelihood is of order ``1 / n`` in the level's ``n`` informative rows, and it vanishes too
where the data say little about the level (its effects' posterior is then the Gaussian
prior's). The pilot gives both per level: the rows with positive working weight and the
level's weight ``w`` (the data's share of the effect's precision, ``0..1``: see
:mod:`formulang.lower.reparam`). So the rule, per group term, reads the mean over levels of
``w / n`` (the largest over terms), and chooses the approximation when:

- the full model's sampler would see at least :data:`AUTO_ROWS` rows, after identical rows
  merge (:mod:`formulang.lower.compress`; below that, sampling every effect is quick and the
  Laplace path's own compilation and effect draws dominate: 1,600 Bernoulli rows took 4 s by
  the approximation against 1-3 s sampled), and
- that mean is at most :data:`AUTO_ERROR` (levels carrying about 50 informative rows or
  more, or fewer that the data say little about;
  the 100,000-row Bernoulli benchmark, 100 rows per level, has 0.009; 8 rows per level with
  an SD of 1.5 has about 0.1, where the unweighted approximation put ``sd`` 8 Monte Carlo
  errors low).

Either way the fit is checked: an embedded-Laplace fit's summaries are importance-weighted
toward the full model, and ``fit.diagnostics()`` warns when the weights' Pareto k-hat says
they cannot correct it (:mod:`formulang.infer.laplace_draws`). ``collapse="laplace"`` asks for
the approximation whatever the rule says; ``collapse=False`` samples the effects.

>>> import formulang as fl
>>> m = fl.Model("cbind(incidence, size - incidence) ~ period + (1 | herd)", "cbpp")
>>> m.collapsed, m.collapse_reason.startswith("not collapsed: the group effects are sampled")
(False, True)
"""

from __future__ import annotations

import numpy as np

from .collapsed import SAMPLED, CollapseChoice, Ineligible, block_layout

AUTO_ROWS = 20_000  # rows from which collapse="auto" considers the approximation
AUTO_ERROR = 0.02  # largest mean over levels of w / n (about 50 informative rows per level)


def level_error(parameterization, pilot) -> float:
    """The rule's measure: per group term the mean over levels of ``w / n`` (level weight
    over informative rows; 0 for a level without rows), the largest over terms."""
    worst = 0.0
    for choice, rows in zip(parameterization, pilot.rows):
        w = np.asarray(choice.weights, dtype=float)
        n = np.asarray(rows, dtype=float).reshape(-1)
        if w.size == 0 or w.size != n.size:
            continue
        worst = max(worst, float(np.mean(np.where(n > 0, w / np.maximum(n, 1.0), 0.0))))
    return worst


def auto_laplace(bound, fam, parameterization, pilot,
                 sampler_rows: int | None = None) -> CollapseChoice | None:
    """``collapse="auto"``'s choice for a family with no closed-form integral: the embedded
    Laplace path where the rule (module docstring) holds, else sampled effects with the
    reason; ``None`` where the path cannot run at all (the caller's reason stands).
    ``sampler_rows``: the rows the full model's sampler would see (fewer than the data's
    where identical rows merge exactly, :mod:`formulang.lower.compress`); the rule's row
    count."""
    if pilot is None or not fam.spec.log_concave or fam.collapsible:
        return None
    try:
        layout = block_layout(bound, fam, laplace=True)
    except Ineligible:
        return None
    n, error = int(bound.n), level_error(parameterization, pilot)
    seen = n if sampler_rows is None else int(sampler_rows)
    if seen >= AUTO_ROWS and error <= AUTO_ERROR:
        return CollapseChoice(True, f"the embedded Laplace approximation (collapse='auto': "
                                    f"{n:,} rows, and the levels' mean weight per "
                                    f"informative row is {error:.3g} <= {AUTO_ERROR}; "
                                    f"summaries importance-weighted to the full model; "
                                    f"collapse=False samples the effects exactly)",
                              layout, "laplace")
    merged = f"; {n:,} merged exactly into {seen:,} distinct" if seen < n else ""
    why = (f"only {seen:,} rows, fewer than {AUTO_ROWS:,}{merged}" if seen < AUTO_ROWS else
           f"the levels' mean weight per informative row is {error:.3g} (> {AUTO_ERROR}): "
           f"too few rows per level for it to be accurate")
    return CollapseChoice(False, f"{SAMPLED}; collapse='laplace' integrates them out "
                                 f"approximately, which 'auto' does not here: {why}")


__all__ = ["AUTO_ERROR", "AUTO_ROWS", "auto_laplace", "level_error"]
