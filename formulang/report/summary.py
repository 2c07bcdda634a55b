"""brms-style summaries: group-level effects, population-level effects, family parameters.

Rows are named as brms names them (``b_Intercept``, ``sd_Subject__Days``,
``cor_Subject__Intercept__Days``, ``sigma``), so results line up with brms output.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..lower.plan import ModelPlan

COLUMNS = ["mean", "sd", "q2.5", "q97.5", "rhat", "ess_bulk", "ess_tail"]


def _row(draws: np.ndarray) -> dict:
    """Statistics of one scalar quantity, draws shaped (chains, draws)."""
    from .idata import import_arviz

    az = import_arviz()

    flat = draws.reshape(-1)
    out = {"mean": float(np.mean(flat)),
           "sd": float(np.std(flat, ddof=1)) if flat.size > 1 else np.nan,
           "q2.5": float(np.quantile(flat, 0.025)), "q97.5": float(np.quantile(flat, 0.975)),
           "rhat": np.nan, "ess_bulk": np.nan, "ess_tail": np.nan}
    # R-hat compares chains; ESS needs a few draws. MAP (one draw) and VI (one "chain" of
    # independent draws) get NaN where the statistic does not exist.
    if draws.shape[0] >= 2 and draws.shape[1] >= 4:
        out["rhat"] = float(az.rhat(draws))
    if draws.shape[1] >= 4:
        out["ess_bulk"] = float(az.ess(draws, method="bulk"))
        out["ess_tail"] = float(az.ess(draws, method="tail"))
    return out


def summary_table(plan: ModelPlan, posterior) -> pd.DataFrame:
    """One row per reported parameter; ``section`` says which block it belongs to."""
    rows, index = [], []

    def add(name: str, section: str, draws) -> None:
        rows.append({"section": section, **_row(np.asarray(draws))})
        index.append(name)

    for g in plan.groups:
        section = f"~{g.name}"
        sd = posterior[f"sd_{g.name}"].values
        for j, col in enumerate(g.columns):
            add(f"sd_{g.name}__{col}", section, sd[..., j])
        if g.correlated_pairs:
            cor = posterior[f"cor_{g.name}"].values
            for j, (a, b) in enumerate(g.correlated_pairs):
                add(f"cor_{g.name}__{g.columns[a]}__{g.columns[b]}", section, cor[..., j])
    if "b" in posterior:
        b = posterior["b"].values
        for j, col in enumerate(plan.columns):
            add(f"b_{col}", "population", b[..., j])
    for aux in plan.aux:
        add(aux, "family", posterior[aux].values)
    return pd.DataFrame(rows, index=index, columns=["section"] + COLUMNS)


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
