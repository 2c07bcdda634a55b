"""What ``print(model)`` shows: formula, family, data, terms, groups, priors, parameterisation."""

from __future__ import annotations


def describe_model(model) -> str:
    """``print(model)``: the decisions of ``model``, a :class:`~formulang.compiled.CompiledModel`
    (``Model.compiled``, or a loaded fit's ``model``)."""
    f, plan = model.formula, model.plan
    lines = [f"Formula: {f}", f" Family: {model.family}",
             f"   Data: {model.n} rows" + (f" ({model.n_input - model.n} dropped for missing "
                                           f"values)" if model.n_input != model.n else "")]
    lines.append("Population-level: " + (", ".join(plan.columns) or "none"))
    for g, choice in zip(plan.groups, model.parameterization):
        kind = "correlated" if g.correlated_pairs else "independent"
        effects = ", ".join(g.columns)
        lines.append(f"Group ~{g.name}: {len(g.levels)} levels; {effects}"
                     + (f" ({kind})" if g.k > 1 else ""))
        lines.append(f"    parameterization: {choice.reason}")
        if any(g.centered) and (g.parent is not None or g.intercept_loc is not None):
            on = [] if g.parent is None else [f"their {plan.groups[g.parent].name} level's effect"]
            if g.intercept_loc is not None:
                on.append("the intercept (intercept effect)")
            lines.append(f"    centred levels are centred on {' + '.join(on)}")
    from ..lower.collapsed import describe_collapse  # collapsed Gaussian path (issue 7)

    from ..lower.compress import describe_compression  # merged rows (issue 7)

    lines += [line for line in [describe_collapse(model), describe_compression(model)] if line]
    if plan.aux:
        lines.append("Family parameters: " + ", ".join(plan.aux))
    lines.append("Priors:")
    for row in plan.priors.rows:
        lines.append(f"    {row.key:<28} {str(row.prior):<32} ({row.source})")
    return "\n".join(lines)
