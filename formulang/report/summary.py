"""brms-style summaries: group-level effects, population-level effects, family parameters.

Rows are named as brms names them (``b_Intercept``, ``sd_Subject__Days``,
``cor_Subject__Intercept__Days``, ``sigma``), so results line up with brms output.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..lower.plan import ModelPlan
from ..lower.sites import flat_parameters, parse_flat, predictors
from .convergence import convergence
from .tables import moments, quantile_names

COLUMNS = ["mean", "sd", "q2.5", "q97.5", "rhat", "ess_bulk", "ess_tail"]


def summary_table(plan: ModelPlan, posterior, method: str = "nuts",
                  prob: float = 0.95, weights=None) -> pd.DataFrame:
    """One row per reported parameter; ``section`` says which block it belongs to.

    ``prob``: the central interval's probability; its columns are named by their quantiles
    (``q2.5``, ``q97.5`` for the default 0.95; ``q5``, ``q95`` for 0.9).

    ``posterior`` maps the user-facing names (``b``, ``sd_<g>``, ``cor_<g>``, family
    parameters) to draws shaped (chains, draws, ...): NumPy arrays or xarray variables.
    ``method``: how they were drawn. R-hat and ESS describe Markov chains: for ``"map"`` (one
    point) and ``"vi"`` (independent draws from an approximation, whose ESS would be the
    number of draws whatever the fit's quality) they are NaN, shown as "—".

    ``weights``: importance weights of the draws ((chains, draws), summing to 1; an
    embedded-Laplace fit's ``fit.importance_weights``): mean, sd and quantiles are then of
    the weighted draws, and the ESS columns are the chains' ESS times the weights' relative
    efficiency ``1 / (n sum w^2)`` (Kish's effective sample size over ``n``): the Monte Carlo
    error of a weighted mean is about ``sd / sqrt(ess_bulk)`` as for plain draws. R-hat is
    the chains' own."""
    names, sections, columns = [], [], []

    def add(name: str, section: str, draws) -> None:
        names.append(name)
        sections.append(section)
        columns.append(np.asarray(draws, dtype=float))

    def values(name: str) -> np.ndarray:
        return np.asarray(getattr(posterior[name], "values", posterior[name]))

    for p in flat_parameters(plan):
        if p.kind == "b" and p.variable not in posterior:  # draws without coefficients
            continue
        draws = values(p.variable)
        add(p.name, p.section, draws if p.index is None else draws[..., p.index])
    lo_name, hi_name = (name.lower() for name in quantile_names(prob))
    header = ["mean", "sd", lo_name, hi_name, "rhat", "ess_bulk", "ess_tail"]
    if not columns:
        return pd.DataFrame([], columns=["section"] + header)
    draws = np.stack(columns, axis=-1)  # (chains, draws, quantities)
    flat = draws.reshape(-1, draws.shape[-1])
    rhat, ess_bulk, ess_tail = convergence(draws)
    if draws.shape[0] < 2 or method in ("map", "vi"):  # R-hat compares chains
        rhat = np.full_like(rhat, np.nan)
    if method in ("map", "vi"):  # no Markov chain: no effective sample size either
        ess_bulk, ess_tail = np.full_like(rhat, np.nan), np.full_like(rhat, np.nan)
    mean, sd, lo, hi = moments(flat, prob, None if weights is None else np.ravel(weights))
    if weights is not None:
        efficiency = 1.0 / (flat.shape[0] * float(np.sum(np.square(weights))))
        ess_bulk, ess_tail = ess_bulk * efficiency, ess_tail * efficiency
    table = pd.DataFrame({
        "section": sections, "mean": mean, "sd": sd, lo_name: lo, hi_name: hi,
        "rhat": rhat, "ess_bulk": ess_bulk, "ess_tail": ess_tail}, index=names)
    table = table[["section"] + header]
    table.attrs["method"] = method
    table.attrs["weighted"] = weights is not None
    return table


def format_summary(plan: ModelPlan, table: pd.DataFrame, header: list[str]) -> str:
    lines = list(header)
    shown = table[[c for c in table.columns if c != "section"]].copy()
    shown.index = [_short(name, plan) for name in shown.index]

    def block(title: str, mask) -> None:
        if mask.any():
            lines.append("")
            lines.append(title)
            part = shown[mask.to_numpy()]
            lines.append(part.to_string(float_format=_fmt, na_rep="—", formatters={
                "ess_bulk": _int, "ess_tail": _int, "rhat": _rhat}))

    # a sub-formula's group terms are shown with the response's on the same factor (brms)
    levels = {g.label: len(g.levels) for pred in predictors(plan) for g in pred.groups}
    for label, n in levels.items():
        block(f"Group-level effects: ~{label} ({n} levels)", table["section"] == f"~{label}")
    block("Population-level effects:", table["section"] == "population")
    block("Smooth terms:", table["section"] == "smooth")  # s(), gp() (lower/sites_smooth.py)
    block("Family parameters:", table["section"] == "family")
    method = table.attrs.get("method", "nuts")
    if table.attrs.get("weighted") and len(table):
        lines += ["", "mean, sd, quantiles: of the draws importance-weighted to the full "
                      "model (embedded Laplace; ess: times the weights' efficiency)"]
    if method in ("map", "vi") and len(table):
        lines += ["", f"rhat, ess: — (method='{method}' draws no Markov chains; "
                      f"they do not apply)"]
    return "\n".join(lines)


def _short(name: str, plan: ModelPlan) -> str:
    """sd_Subject__Days -> sd(Days); cor_Subject__Intercept__Days -> cor(Intercept,Days)."""
    flat = parse_flat(name, plan)
    return name if flat is None else flat.short


def _fmt(x: float) -> str:
    return f"{x:.2f}" if abs(x) >= 0.1 or x == 0 else f"{x:.3g}"


def _int(x: float) -> str:
    return "—" if not np.isfinite(x) else f"{x:.0f}"


def _rhat(x: float) -> str:
    return "—" if not np.isfinite(x) else f"{x:.3f}"
