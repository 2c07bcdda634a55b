"""Exact row compression: identical rows merged into counts before sampling (issue 7).

Where no group structure makes a marginal likelihood cheap, rows that share everything the
linear predictor sees (the population design, every group level and varying-slope value, and
the offset) still contribute one term each. For three families their sum is one term of the
same form, exactly, up to a constant that does not involve the parameters:

- **bernoulli** -> binomial: ``prod p^y_i (1 - p)^(1 - y_i) = p^s (1 - p)^(m - s)``, with ``s``
  the successes and ``m`` the rows merged (the binomial coefficient is the constant);
- **binomial**: successes and trials add up in the same way;
- **poisson** (log link): rows with the same design but different offsets (exposures) merge
  too: ``prod Poisson(y_i | e^(eta + o_i)) ∝ Poisson(sum y_i | e^eta sum e^(o_i))``, so the
  merged row's offset is ``log sum exp(o_i)`` (summed exposure).

The posterior is therefore the same; NUTS evaluates one term per distinct row instead of one
per row. Only the sampler sees the merged rows: the pointwise log-likelihood (LOO),
predictions and posterior predictive checks use the original rows. Weighted models are never
merged (weights would make fractional counts), nor are other families (their sums are not of
the same form). Each family's row (:data:`formulang.lower.families.FAMILIES`) says whether and
how its rows merge: ``merge`` is one of the three rules below.

>>> import numpy as np, pandas as pd, formulang as fl
>>> rows = pd.DataFrame({"y": [0, 1, 1, 0, 1, 1], "x": ["a", "a", "b", "b", "b", "b"],
...                      "g": ["u", "u", "u", "u", "v", "v"]})
>>> m = fl.Model("y ~ x + (1 | g)", rows, family="bernoulli")
>>> m.compression.rows, m.compression.kept
(6, 3)
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from ..errors import FormulangError
from .families import family as lookup_family
from .plan import ModelPlan

COMPRESS_CHOICES = ("auto", True, False)
MERGE_RULES = ("counts", "trials", "exposure")
"""How a family's rows add up (its row's ``merge``): Bernoulli outcomes counted into binomial
successes out of the rows merged; binomial successes and trials summed; Poisson counts summed
with their exposures."""
# "auto" merges only when it removes at least this share of the rows: a merged Bernoulli row is
# a binomial term, dearer to evaluate than a Bernoulli one, so a few merges would not pay
MIN_SHARE_REMOVED = 0.2


@dataclass(frozen=True, eq=False)
class CompressedRows:
    """The merged rows the sampler runs on: ``plan`` (the family may change, bernoulli ->
    binomial) and ``data`` (the model's data pytree, one row per distinct row)."""

    plan: ModelPlan
    data: dict
    rows: int
    kept: int
    reason: str

    @property
    def ratio(self) -> float:
        return self.rows / self.kept


@dataclass(frozen=True, eq=False)
class CompressionChoice:
    """Whether the sampler runs on merged rows, and why (or why not), in words."""

    compressed: CompressedRows | None
    reason: str


def choose_compression(plan: ModelPlan, data: dict, compress="auto") -> CompressionChoice:
    """Merge identical rows where that is exact (see the module docstring).

    ``compress``: ``"auto"`` merges when at least 20% of the rows go, ``True`` whenever any
    row goes (an error where merging is not exact), ``False`` never.
    """
    if compress not in COMPRESS_CHOICES:
        raise FormulangError(f"compress must be 'auto', True or False, not {compress!r}")
    if compress is False:
        return CompressionChoice(None, "compress=False")
    why_not = _ineligible(plan, data)
    if why_not:
        if compress is True:
            raise FormulangError(f"compress=True, but rows cannot be merged exactly: {why_not}")
        return CompressionChoice(None, why_not)
    merged = merge_rows(plan, data)
    removed = 1.0 - merged.kept / merged.rows
    if merged.kept == merged.rows or (compress == "auto" and removed < MIN_SHARE_REMOVED):
        return CompressionChoice(None, f"only {merged.rows - merged.kept} of {merged.rows} rows "
                                       "are repeats")
    return CompressionChoice(merged, merged.reason)


def _ineligible(plan: ModelPlan, data: dict) -> str:
    if plan.family.spec.merge not in MERGE_RULES:
        return f"the {plan.family.name} family's rows do not add up exactly"
    if data.get("weights") is not None:
        return "the model has weights"
    if plan.response.censored or plan.response.truncated:
        return "the response is censored or truncated: its rows do not add up"
    if data.get("y") is None:
        return "no response"
    for d in plan.dpars:  # merged rows would need one value of it per merged row
        return f"{d.name} has its own formula, so rows with the same mean still differ"
    if plan.smooths:  # the key would need the smooths' basis rows
        return "the model has smooth terms (s(), gp())"
    return ""


def merge_rows(plan: ModelPlan, data: dict) -> CompressedRows:
    """One row per distinct (design, group levels, varying-slope values, offset) row, with
    responses (and trials) summed; for Poisson the offset is left out of the key and the
    exposures are summed. Row order: sorted by the key (deterministic)."""
    rule = plan.family.spec.merge
    poisson = rule == "exposure"
    n = len(data["y"])
    columns = [np.asarray(data["X"], dtype=float).reshape(n, -1)]
    columns += [np.asarray(c, dtype=float).reshape(n, 1) for c in data["codes"]]
    columns += [np.asarray(v, dtype=float).reshape(n, -1) for v in data["values"]]
    offset = np.asarray(data["offset"], dtype=float)
    if not poisson:
        columns.append(offset.reshape(n, 1))
    key = np.concatenate(columns, axis=1)
    _, first, inverse = np.unique(key, axis=0, return_index=True, return_inverse=True)
    inverse = inverse.reshape(-1)
    kept = len(first)
    merged = {**data,
              "X": np.asarray(data["X"])[first],
              "codes": tuple(np.asarray(c)[first] for c in data["codes"]),
              "values": tuple(np.asarray(v)[first] for v in data["values"]),
              "y": np.bincount(inverse, weights=np.asarray(data["y"], dtype=float),
                               minlength=kept)}
    if poisson:  # exposures add: offset log(sum exp(o)), computed stably per merged row
        top = np.full(kept, -np.inf)
        np.maximum.at(top, inverse, offset)
        total = np.bincount(inverse, weights=np.exp(offset - top[inverse]), minlength=kept)
        merged["offset"] = top + np.log(total)
    else:
        merged["offset"] = offset[first]
    new_plan = plan
    if plan.family.spec.merges_into is not None:
        new_plan = dataclasses.replace(plan, family=lookup_family(plan.family.spec.merges_into,
                                                                  plan.family.link.name))
    if rule == "counts":
        counts = np.bincount(inverse, minlength=kept)
        merged["trials"] = counts.astype(np.int32)
        how = "Bernoulli rows merged into binomial counts"
    elif rule == "trials":
        trials = np.bincount(inverse, weights=np.asarray(data["trials"], dtype=float),
                             minlength=kept)
        merged["trials"] = np.rint(trials).astype(np.int32)
        how = "binomial successes and trials summed"
    else:
        how = "Poisson counts summed, exposures summed"
    reason = (f"{n} rows merged into {kept} distinct ones ({n / kept:.1f}x fewer; exact: "
              f"{how})")
    return CompressedRows(new_plan, merged, n, kept, reason)


def describe_compression(compiled) -> str:
    """The line ``print(model)`` shows about merged rows (empty when nothing to say), from its
    :class:`~formulang.compiled.CompiledModel`."""
    if not compiled.compressed:
        return ""
    return f"Rows: {compiled.compression_reason} — compress=False samples every row"


__all__ = ["CompressedRows", "CompressionChoice", "choose_compression", "describe_compression",
           "merge_rows"]
