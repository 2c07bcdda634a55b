"""Names of model parameters, shared by the lowering, the results and generated code.

Parameters are named the way brms users read them: ``b`` (population-level coefficients),
``sd_<group>``, ``cor_<group>``, ``r_<group>`` (group-level effects, levels by effects), and the
family parameters ``sigma``, ``nu``, ``phi``, ``shape``. ``<group>`` is the grouping factor's
label (``county``, ``batch:cask``); when several group terms share a factor, ``(1 | g) +
(0 + x | g)``, the later ones get a suffix: ``g``, ``g_2``.
"""

from __future__ import annotations


def group_names(bound) -> list[str]:
    names: list[str] = []
    counts: dict[str, int] = {}
    for g in bound.groups:
        counts[g.label] = counts.get(g.label, 0) + 1
        names.append(g.label if counts[g.label] == 1 else f"{g.label}_{counts[g.label]}")
    return names
