"""Plain-text accounts of a formula, a data frame and a model, for people to read.

- :func:`describe_formula`: what a formula expands to (``formulang parse``, the console's
  ``parse``);
- :func:`describe_frame`: a data frame's columns, types, levels and missing values (the
  console's ``describe``);
- :func:`describe_model`: what ``print(model)`` shows: formula, family, data, terms, groups,
  priors, parameterisation.
"""

from __future__ import annotations

from ..lower.collapsed import describe_collapse  # collapsed Gaussian path (issue 7)
from ..lower.collapsed_crossed import partial_dense_mass  # crossed partial collapse (issue 20)
from ..lower.compress import describe_compression  # merged rows (issue 7)
from ..lower.smooth_plan import describe_smooths  # smooth terms (issue 19)


def describe_formula(formula) -> str:
    """A short human-readable account of what a :class:`~formulang.Formula` expands to.

    >>> from formulang import parse
    >>> print(describe_formula(parse("y ~ x + (1 | g)")).splitlines()[0])
    formula:    y ~ 1 + x + (1 | g)
    """
    lines = [f"formula:    {formula}"]
    if formula.response is not None:
        r = formula.response
        lines.append(f"response:   {r.value}" + (f" (failures: {r.failures})" if r.failures else "")
                     + (f" (trials: {r.trials})" if r.trials else "")
                     + (f" (weights: {r.weights})" if r.weights else ""))
        if r.has_new_additions:  # cens, trunc, se, rate: brms's spelling of them
            lines.append(f"additions:  {str(r).split(' | ', 1)[1]}")
    lines.append(f"intercept:  {'yes' if formula.intercept else 'no'}")
    lines.append("terms:      " + (", ".join(t.label for t in formula.terms) or "none"))
    for g in formula.groups:
        effects = (["Intercept"] if g.intercept else []) + [t.label for t in g.terms]
        kind = "correlated" if g.correlated and len(effects) > 1 else (
            "independent" if len(effects) > 1 else "")
        lines.append(f"group:      {g.factor_label}: {', '.join(effects)}"
                     + (f" ({kind})" if kind else ""))
    for o in formula.offsets:
        lines.append(f"offset:     {o}")
    lines.append("columns:    " + ", ".join(formula.columns()))
    return "\n".join(lines)


def describe_frame(data) -> str:
    """One line per column: type, missing values, and its levels or range.

    >>> import pandas as pd
    >>> print(describe_frame(pd.DataFrame({"g": ["a", "b", None], "x": [1.0, 2.0, 4.0]})))
    column  type   missing  values
    g       text   1        2 levels: a, b
    x       float  0        min 1, mean 2.33, max 4
    """
    import pandas as pd

    rows = []
    for name in data.columns:
        col = data[name]
        missing = int(col.isna().sum())
        factor = isinstance(col.dtype, pd.CategoricalDtype)
        if factor or pd.api.types.is_bool_dtype(col) or not pd.api.types.is_numeric_dtype(col):
            levels = (list(col.cat.categories) if factor
                      else sorted(col.dropna().unique().tolist(), key=str))
            shown = ", ".join(str(v) for v in levels[:6]) + (", ..." if len(levels) > 6 else "")
            kind = "factor" if factor else ("bool" if pd.api.types.is_bool_dtype(col)
                                             else "text")
            values = f"{len(levels)} levels: {shown}"
        else:
            kind = "integer" if pd.api.types.is_integer_dtype(col) else "float"
            values = (f"min {col.min():.3g}, mean {col.mean():.3g}, max {col.max():.3g}"
                      if missing < len(col) else "all missing")
        rows.append({"column": str(name), "type": kind, "missing": missing, "values": values})
    return _left_aligned(rows, ["column", "type", "missing", "values"])


def _left_aligned(rows: list[dict], names: list[str]) -> str:
    """A plain text table, every column left-aligned (names and levels read as text)."""
    widths = {n: max([len(n)] + [len(str(r[n])) for r in rows]) for n in names}
    lines = ["  ".join(f"{n:<{widths[n]}}" for n in names).rstrip()]
    lines += ["  ".join(f"{str(r[n]):<{widths[n]}}" for n in names).rstrip() for r in rows]
    return "\n".join(lines)


def _categories(model) -> str:
    """A categorical model's categories and each one's linear predictor."""
    levels = model.spec.response_levels.levels
    parts = [f"{levels[0]} (reference)"]
    for level, d in zip(levels[1:], model.plan.dpars):
        terms = list(d.columns) + [f"~{g.label}: {', '.join(g.columns)}" for g in d.groups]
        parts.append(f"{level} ({d.name}: {'; '.join(terms) or '0'})")
    return ("Categories: " + ", ".join(parts) + "\n    group terms of the categories' "
            "formulas: non-centred (no pilot fit sees them)" * any(d.groups for d in
                                                                    model.plan.dpars))


def describe_model(model, method: str | None = None) -> str:
    """``print(model)``: the decisions of ``model``, a :class:`~formulang.compiled.CompiledModel`
    (``Model.compiled``, or a loaded fit's ``model``). ``method``: the fitting method about to
    run (``"nuts"``, ``"map"``, ``"vi"``), so that only what runs is described; None (``print
    (model)``) describes each. A collapsed model's effects are integrated out under NUTS
    (no centring: the centring choice is what map, vi and ``collapse=False`` sample).

    >>> import formulang as fl
    >>> m = fl.Model("Reaction ~ Days + (Days | Subject)", fl.datasets.load("sleepstudy"))
    >>> [x.strip() for x in describe_model(m.compiled, "nuts").splitlines()
    ...  if x.startswith("    ")][:1]
    ['effects: integrated out and drawn exactly (collapsed; no centring)']
    >>> "NUTS" in describe_model(m.compiled, "map")
    False
    """
    f, plan = model.formula, model.plan
    lines = [f"Formula: {f}", f" Family: {model.family}",
             f"   Data: {model.n} rows" + (f" ({model.n_input - model.n} dropped for missing "
                                           f"values)" if model.n_input != model.n else "")]
    if model.family.spec.per_category:  # categorical: a linear predictor per category
        lines.append(_categories(model))
    else:
        lines.append("Population-level: " + (", ".join(plan.columns) or "none"))
    if plan.thresholds is not None:  # ordinal: brms drops the intercept column too
        lines.append(f"Thresholds: Intercept[1] ... Intercept[{plan.thresholds.size}] (ordered; "
                     f"they replace the intercept, so the linear predictor has none)")
    gone = getattr(model, "collapsed_terms", ())  # crossed: one factor integrated out
    how = ("integrated out (Laplace approximation) and drawn from it" if model.laplace
           else "integrated out and drawn exactly")
    for g, choice in zip(plan.groups, model.parameterization):
        integrated = (bool(model.collapsed) or g.name in gone) and method in (None, "nuts")
        kind = "correlated" if g.correlated_pairs else "independent"
        effects = ", ".join(g.columns)
        lines.append(f"Group ~{g.name}: {len(g.levels)} levels; {effects}"
                     + (f" ({kind})" if g.k > 1 else ""))
        if integrated and method == "nuts":
            lines.append(f"    effects: {how} (collapsed; no centring)")
            continue
        if integrated:  # print(model): NUTS integrates them out; the others sample them so
            lines.append(f"    effects: {how} under NUTS (no centring)")
            lines.append(f"    parameterization for map, vi, collapse=False: {choice.reason}")
        else:  # a term spanning formulas: the plan's choice, not the pilot's (lower/joint.py)
            lines.append(f"    parameterization: {g.reason if g.column_dpars else choice.reason}")
        if any(g.centered) and (g.parent is not None or g.intercept_loc is not None):
            on = [] if g.parent is None else [f"their {plan.groups[g.parent].name} level's effect"]
            if g.intercept_loc is not None:
                on.append("the intercept (intercept effect)")
            lines.append(f"    centred levels are centred on {' + '.join(on)}")
    lines += [line for line in [describe_collapse(model, method), describe_compression(model)]
              if line]
    dense = partial_dense_mass(plan, gone) if gone and method in (None, "nuts") \
        else plan.dense_mass
    if dense and not model.collapsed and method in (None, "nuts"):
        terms = ", ".join(g.name for g in plan.groups
                          if {g.sites.rc, g.sites.z} & set(dense))
        over = "the population coefficients" + (f" and the effects of {terms}" if terms else "")
        lines.append(f"Mass matrix (NUTS): dense over {over} (crossed intercepts leave a "
                     f"ridge a diagonal one cannot follow); diagonal elsewhere")
    if plan.response.censored:
        left, right, interval = plan.response.counts
        lines.append(f"Censored: {left} left, {right} right, {interval} interval "
                     f"(of {model.n} rows)")
    lines += describe_smooths(plan)  # s(), t2(), gp() (lower/smooth_plan.py)
    if plan.aux:
        lines.append("Family parameters: " + ", ".join(plan.aux))
    lines.append("Priors:")
    for row in plan.priors.rows:
        lines.append(f"    {row.key:<28} {str(row.prior):<32} ({row.source})")
    return "\n".join(lines)
