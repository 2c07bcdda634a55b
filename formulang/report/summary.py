"""brms-style summaries: group-level effects, population-level effects, family parameters.

Rows are named as brms names them (``b_Intercept``, ``sd_Subject__Days``,
``cor_Subject__Intercept__Days``, ``sigma``), so results line up with brms output.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..lower.plan import ModelPlan
from .convergence import convergence

COLUMNS = ["mean", "sd", "q2.5", "q97.5", "rhat", "ess_bulk", "ess_tail"]


def summary_table(plan: ModelPlan, posterior) -> pd.DataFrame:
    """One row per reported parameter; ``section`` says which block it belongs to.

    ``posterior`` maps the user-facing names (``b``, ``sd_<g>``, ``cor_<g>``, family
    parameters) to draws shaped (chains, draws, ...): NumPy arrays or xarray variables."""
    names, sections, columns = [], [], []

    def add(name: str, section: str, draws) -> None:
        names.append(name)
        sections.append(section)
        columns.append(np.asarray(draws, dtype=float))

    def values(name: str) -> np.ndarray:
        return np.asarray(getattr(posterior[name], "values", posterior[name]))

    for g in plan.groups:
        section = f"~{g.name}"
        sd = values(f"sd_{g.name}")
        for j, col in enumerate(g.columns):
            add(f"sd_{g.name}__{col}", section, sd[..., j])
        if g.correlated_pairs:
            cor = values(f"cor_{g.name}")
            for j, (a, b) in enumerate(g.correlated_pairs):
                add(f"cor_{g.name}__{g.columns[a]}__{g.columns[b]}", section, cor[..., j])
    if "b" in posterior:
        b = values("b")
        for j, col in enumerate(plan.columns):
            add(f"b_{col}", "population", b[..., j])
    for aux in plan.aux:
        add(aux, "family", values(aux))
    if not columns:
        return pd.DataFrame([], columns=["section"] + COLUMNS)
    draws = np.stack(columns, axis=-1)  # (chains, draws, quantities)
    flat = draws.reshape(-1, draws.shape[-1])
    rhat, ess_bulk, ess_tail = convergence(draws)
    if draws.shape[0] < 2:  # R-hat compares chains: MAP and VI have none to compare
        rhat = np.full_like(rhat, np.nan)
    table = pd.DataFrame({
        "section": sections, "mean": flat.mean(axis=0),
        "sd": flat.std(axis=0, ddof=1) if flat.shape[0] > 1 else np.nan,
        "q2.5": np.quantile(flat, 0.025, axis=0), "q97.5": np.quantile(flat, 0.975, axis=0),
        "rhat": rhat, "ess_bulk": ess_bulk, "ess_tail": ess_tail}, index=names)
    return table[["section"] + COLUMNS]


def format_summary(plan: ModelPlan, table: pd.DataFrame, header: list[str]) -> str:
    lines = list(header)
    shown = table[COLUMNS].copy()
    shown.index = [_short(name) for name in shown.index]

    def block(title: str, mask) -> None:
        if mask.any():
            lines.append("")
            lines.append(title)
            part = shown[mask.to_numpy()]
            lines.append(part.to_string(float_format=_fmt, formatters={
                "ess_bulk": _int, "ess_tail": _int, "rhat": "{:.3f}".format}))

    for g in plan.groups:
        block(f"Group-level effects: ~{g.name} ({len(g.levels)} levels)",
              table["section"] == f"~{g.name}")
    block("Population-level effects:", table["section"] == "population")
    block("Family parameters:", table["section"] == "family")
    return "\n".join(lines)


def _short(name: str) -> str:
    """sd_Subject__Days -> sd(Days); cor_Subject__Intercept__Days -> cor(Intercept,Days)."""
    if name.startswith("b_"):
        return name[2:]
    for kind in ("sd", "cor"):
        if name.startswith(kind + "_"):
            parts = name.split("__")
            return f"{kind}({','.join(parts[1:])})"
    return name


def _fmt(x: float) -> str:
    return f"{x:.2f}" if abs(x) >= 0.1 or x == 0 else f"{x:.3g}"


def _int(x: float) -> str:
    return "nan" if not np.isfinite(x) else f"{x:.0f}"
