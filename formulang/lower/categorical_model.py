"""A categorical model as a distributional one (:mod:`formulang.lower.categorical` has the
family's likelihood and predictions).

:func:`prepare` runs right after binding: it needs the response's categories, which the data
give. Kept apart from :mod:`~formulang.lower.categorical` because it builds family rows, and
the family table imports that module.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from ..data.spec import DesignSpec
from ..errors import DataError, FormulaError
from .families import Aux, Family
from .sites import category_dpars


def prepare(bound, fam, text: str | None = None):
    """``(bound, family)`` of a categorical model as a distributional one; other families'
    as given. Each category but the first gets the response's formula (or its own sub-formula,
    ``mu3 ~ z``) as the sub-formula of its family parameter ``mu<k>``; the response's formula
    keeps no terms of its own (no pilot fit, no centring choice: every group term is
    non-centred). The family's parameters become the categories' (their links the identity,
    their intercepts' default priors centred at the log odds of the category against the
    reference). A sub-formula for a name that is not a category is an error listing them
    (the caret under it in ``text``)."""
    if not fam.spec.per_category:
        return bound, fam
    levels = bound.spec.response_levels
    if levels is None:
        raise DataError(f"the {fam.name} family needs the response's values to know its "
                        f"categories: the data have no column {bound.response_name}")
    names = category_dpars(levels.levels)
    own = dict(bound.dpars)
    _check_names(own, names, fam, text)
    formula = bound.spec.formula
    shared_spec = replace(bound.spec, formula=replace(formula, response=None, dpars=()),
                          response_levels=None, dpars=())
    shared = type(bound)(shared_spec, None, None, None, bound.X, bound.offset, bound.groups,
                         bound.kept_rows, bound.n_input)
    own_specs = dict(bound.spec.dpars)
    dpars = tuple((name, own.get(name, shared)) for name in names)
    if not any(sub.X.shape[1] or sub.groups for _, sub in dpars):
        raise FormulaError(f"{formula} has nothing to estimate: every category's linear "
                           f"predictor is 0; write 1 for intercepts")
    spec = replace(bound.spec, fixed=DesignSpec(False, ()), groups=(),
                   dpars=tuple((name, own_specs.get(name, shared_spec)) for name in names))
    bound = replace(bound, spec=spec, X=bound.X[:, :0], groups=(), dpars=dpars)
    counts = np.bincount(np.asarray(bound.y, dtype=int), minlength=levels.k) + 0.5
    centres = np.log(counts[1:] / counts[0])  # each category's log odds against the first
    parameters = tuple(Aux(name, lambda s, m=float(m): ("normal", m, 1.0), support="real",
                           link="identity") for name, m in zip(names, centres))
    return bound, Family(replace(fam.spec, parameters=parameters), fam.link)


def _check_names(own: dict, names: tuple[str, ...], fam, text: str | None) -> None:
    from ..parse.dpars import dpar_span

    for name in own:
        if name not in names:
            why = (f"{name} is not a parameter of this {fam.name} model; its parameters are "
                   f"its categories' linear predictors (the first category is the "
                   f"reference): {', '.join(names)}")
            if text is None:
                raise FormulaError(why)
            raise FormulaError(why, text, *(dpar_span(text, name) or (None, None)))


__all__ = ["prepare"]
