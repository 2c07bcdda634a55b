"""``CompiledModel``: everything :class:`~formulang.Model` decided, without the data arrays.

A compiled model is the formula, the family, the data spec (every encoding learned from the
training rows, and how many rows there were), the prior table, the centred/non-centred choice
of each group term, the :class:`~formulang.lower.plan.ModelPlan`, and whether the group
effects are integrated out (collapsed) or identical rows merged (compressed), with the reasons.
It is frozen, and :meth:`CompiledModel.to_dict` / :meth:`CompiledModel.from_dict` write and
read it as plain JSON types, so a fit saved to a file (:mod:`formulang.io`) rebuilds the same
object: a loaded fit's ``model`` *is* a compiled model.

Later stages read it, not the live model: the generated code, the graph, ``print(model)``,
diagnostics, and predictions for new rows (:meth:`CompiledModel.apply` encodes them).
Whatever needs the training rows (refitting, the prior predictive, simulation) needs a
:class:`~formulang.Model`.

>>> import json, formulang as fl
>>> m = fl.Model("Reaction ~ Days + (Days | Subject)", fl.datasets.load("sleepstudy"))
>>> c = m.compiled
>>> CompiledModel.from_dict(json.loads(json.dumps(c.to_dict()))) == c
True
>>> c.n, c.response_text, c.collapsed, [p.mode for p in c.parameterization]
(180, 'Reaction', True, ['centered'])
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass

import numpy as np

from .data.spec import DataSpec
from .errors import FormulangError
from .ir.formula import Formula
from .lower.families import Family
from .lower.plan import ModelPlan
from .lower.priors import PriorTable
from .lower.reparam import GroupParameterization


@dataclass(frozen=True, eq=False)
class CompiledModel:
    """What a :class:`~formulang.Model` decided; see the module docstring.

    ``spec`` encodes new rows as the training rows were encoded; ``n`` rows were modelled of
    ``n_input`` given (the rest had missing values). ``parameterization`` has one
    :class:`~formulang.lower.reparam.GroupParameterization` per group term. Two compiled
    models are equal when they write the same :meth:`to_dict`.
    """

    formula: Formula
    family: Family
    spec: DataSpec
    n: int
    n_input: int
    priors: PriorTable
    parameterization: tuple[GroupParameterization, ...]
    plan: ModelPlan
    collapsed: bool = False
    collapse_reason: str | None = None
    compressed: bool = False
    compression_reason: str | None = None
    collapsed_terms: tuple[str, ...] = ()  # partial collapse (crossed): terms integrated out
    # how collapsed effects are integrated out: "exact" (Gaussian) or "laplace" (issue 23)
    collapse_method: str = "exact"

    @property
    def laplace(self) -> bool:
        """Whether NUTS runs on the embedded Laplace approximation (:mod:`formulang.lower.
        laplace`): the effects integrated out approximately, then drawn with PSIS weights."""
        return self.collapsed and self.collapse_method == "laplace"

    @property
    def compiled(self) -> "CompiledModel":
        """Itself: a :class:`~formulang.Model` and its compiled form both answer
        ``.compiled``, so a fit reads its model's decisions one way whichever it holds."""
        return self

    # ---- what later stages ask ----------------------------------------------------------------
    @property
    def response_name(self) -> str:
        """The response as written (``"cbind(incidence, size - incidence)"``)."""
        return str(self.formula.response)

    @property
    def response_text(self) -> str:
        """The response without ``weights()``: ``Reaction``, ``cbind(s, f)``, ``s | trials(n)``."""
        return self.formula.response.text()

    @property
    def has_trials(self) -> bool:
        """Whether the model's data have ``trials`` (binomial responses)."""
        return self.formula.response.is_binomial

    @property
    def has_weights(self) -> bool:
        """Whether rows are weighted (``y | weights(w)``)."""
        return self.formula.response.weights is not None

    @functools.cached_property
    def numpyro_model(self):
        """The plan's NumPyro model function (:func:`~formulang.lower.numpyro_model.make_model`)."""
        from .lower.numpyro_model import make_model

        return make_model(self.plan)

    def apply(self, data, *, na_action: str | None = None, keep_empty: bool = False):
        """Encode new rows with the training encodings (:func:`formulang.data.bind.apply_spec`)."""
        from .data.bind import apply_spec

        return apply_spec(self.spec, data, na_action=na_action, keep_empty=keep_empty)

    def code(self) -> str:
        """Standalone, readable NumPyro source equivalent to this model."""
        from .lower.codegen import generate_code

        return generate_code(self)

    def graph(self):
        """Data, coefficients, hyperparameters and likelihood as a graph (``.to_dot()``)."""
        from .lower.graph import model_graph

        return model_graph(self)

    # ---- what needs the training rows -------------------------------------------------------
    def fit(self, *args, **kwargs):
        raise _needs_data("to fit")

    def prior_predictive(self, *args, **kwargs):
        raise _needs_data("for prior predictive draws")

    def simulate(self, *args, **kwargs):
        raise _needs_data("to simulate from (simulation uses its design)")

    # ---- serialisation ----------------------------------------------------------------------
    def to_dict(self) -> dict:
        """Plain JSON types (the ``formulang_fit`` metadata of a saved fit, less the draws)."""
        plan = self.plan
        return {
            "formula": json.loads(self.formula.to_json()),
            "data_spec": self.spec.to_dict(),
            "data": {"n": int(self.n), "n_input": int(self.n_input)},
            "family": self.family.name,
            "link": self.family.link.name,
            "priors": [_prior_row_to_dict(r) for r in self.priors.rows],
            "plan": _plan_to_dict(plan),
            "parameterization": [_choice_to_dict(c) for c in self.parameterization],
            # collapsed Gaussian path and merged rows (issue 7); absent in older files
            "collapse": {"collapsed": bool(self.collapsed), "reason": self.collapse_reason,
                         **({"terms": list(self.collapsed_terms)} if self.collapsed_terms
                            else {}),
                         **({"method": "laplace"} if self.laplace else {})},
            "compression": {"compressed": bool(self.compressed),
                            "reason": self.compression_reason},
        }

    @classmethod
    def from_dict(cls, d: dict) -> "CompiledModel":
        """The compiled model :meth:`to_dict` wrote (or a fit file's metadata)."""
        from .lower.families import family as lookup_family

        formula = Formula.from_json(json.dumps(d["formula"]))
        spec = DataSpec.from_dict(d["data_spec"])
        fam = lookup_family(d["family"], d["link"])
        priors = _priors_from(d["priors"])
        plan = _plan_from(d["plan"], fam, priors)
        choices = tuple(_choice_from(c) for c in d["parameterization"])
        collapse = d.get("collapse") or {}
        compression = d.get("compression") or {}
        return cls(formula, fam, spec, int(d["data"]["n"]), int(d["data"]["n_input"]), priors,
                   choices, plan, bool(collapse.get("collapsed", False)),
                   collapse.get("reason"), bool(compression.get("compressed", False)),
                   compression.get("reason"), tuple(collapse.get("terms", ())),
                   collapse.get("method", "exact"))

    @functools.cached_property
    def _canonical(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    def __eq__(self, other) -> bool:
        if not isinstance(other, CompiledModel):
            return NotImplemented
        return self is other or self._canonical == other._canonical

    def __hash__(self) -> int:
        return hash(self._canonical)

    # ---- description ------------------------------------------------------------------------
    def __str__(self) -> str:
        from .report.describe import describe_model

        return describe_model(self)

    def __repr__(self) -> str:
        return f"CompiledModel({str(self.formula)!r}, family={self.family}, n={self.n})"


def _needs_data(what: str) -> FormulangError:
    return FormulangError(f"a model loaded from a file has no training data {what}: build it "
                          f"again with formulang.Model(formula, data, ...)")


# ---- (de)serialisation of the parts ------------------------------------------------------------

def _choice_to_dict(choice: GroupParameterization) -> dict:
    return {"label": choice.label, "centered": [bool(c) for c in choice.centered],
            "weights": [float(x) for x in choice.weights],
            "tau": [float(x) for x in choice.tau],
            "sigma": None if choice.sigma is None else float(choice.sigma),
            "reason": str(choice.reason)}


def _choice_from(c: dict) -> GroupParameterization:
    return GroupParameterization(c["label"], tuple(bool(x) for x in c["centered"]),
                                 tuple(float(x) for x in c["weights"] or ()),
                                 tuple(float(x) for x in c["tau"] or ()),
                                 None if c["sigma"] is None else float(c["sigma"]), c["reason"])


def _prior_row_to_dict(row) -> dict:
    return {"class": row.cls, "group": row.group, "coef": row.coef, "prior": str(row.prior),
            "distribution": row.prior.distribution,
            "params": [[k, float(v)] for k, v in row.prior.params], "source": row.source,
            **({"dpar": row.dpar} if row.dpar else {})}


def _site_to_dict(site) -> dict | None:
    if site is None:
        return None
    return {"name": site.name, "size": int(site.size),
            "pieces": [[d, [int(i) for i in idx], key] for d, idx, key in site.pieces]}


def _group_to_dict(g) -> dict:
    return {
        "name": g.name, "label": g.label, "columns": list(g.columns),
        "levels": list(g.levels), "blocks": [[int(i) for i in b] for b in g.blocks],
        "centered": [bool(c) for c in g.centered], "sd": _site_to_dict(g.sd),
        "lkj_key": g.lkj_key, "reason": g.reason,
        # hierarchical centring of nested terms: r_<g> is rebuilt from the sampled sites
        "parent": g.parent,
        "parent_levels": None if g.parent_levels is None else
        [int(i) for i in g.parent_levels],
        "intercept_loc": g.intercept_loc,
        **({"dpar": g.dpar} if g.dpar else {}),
        # a term spanning formulas ((1 |p| g)): the formula of each column
        **({"column_dpars": list(g.column_dpars)} if g.column_dpars else {})}


def _dpar_to_dict(d) -> dict:
    return {"name": d.name, "link": d.link, "columns": list(d.columns),
            "intercept": bool(d.intercept), "x_means": [float(x) for x in d.x_means],
            "b": _site_to_dict(d.b), "groups": [_group_to_dict(g) for g in d.groups]}


def _plan_to_dict(plan) -> dict:
    return {
        "columns": list(plan.columns),
        "intercept": bool(plan.intercept),
        "x_means": [float(x) for x in plan.x_means],
        "b": _site_to_dict(plan.b),
        "groups": [_group_to_dict(g) for g in plan.groups],
        "prior_params": {k: {"shape": list(np.shape(v)),
                             "values": [float(x) for x in np.ravel(v)]}
                         for k, v in plan.prior_params.items()},
        "n": int(plan.n),
        "response": plan.response.to_dict(),  # response additions; absent in older files
        "thresholds": _site_to_dict(plan.thresholds),  # ordinal models; absent in older files
        **({"dpars": [_dpar_to_dict(d) for d in plan.dpars]} if plan.dpars else {}),
        **({"smooths": [sm.to_dict() for sm in plan.smooths]} if plan.smooths else {}),
    }


def _priors_from(rows: list) -> object:
    from .ir.prior import Prior
    from .lower.priors import PriorRow, PriorTable

    return PriorTable(tuple(
        PriorRow(r["class"], r["group"], r["coef"],
                 Prior(r["distribution"], tuple((k, float(v)) for k, v in r["params"])),
                 r["source"], r.get("dpar", "")) for r in rows))


def _site_from(d, name: str):
    """A stored vector site, named ``name`` by :mod:`formulang.lower.sites` (the stored name
    is not read back: files before it named the sampled coefficients ``b_c`` stored ``b``)."""
    from .lower.plan import VectorSite

    if d is None:
        return None
    return VectorSite(name, int(d["size"]),
                      tuple((p[0], tuple(int(i) for i in p[1]), p[2]) for p in d["pieces"]))


def _group_from(g: dict):
    from .lower.plan import GroupPlan
    from .lower.sites import GroupSites

    return GroupPlan(
        g["name"], g["label"], tuple(g["columns"]), tuple(g["levels"]),
        tuple(tuple(int(i) for i in b) for b in g["blocks"]),
        tuple(bool(c) for c in g["centered"]), _site_from(g["sd"], GroupSites(g["name"]).sd),
        g["lkj_key"], g["reason"],
        g.get("parent"),
        None if g.get("parent_levels") is None else tuple(int(i) for i in g["parent_levels"]),
        g.get("intercept_loc"),  # absent in files saved before it existed: not centred on it
        g.get("dpar", ""), tuple(g.get("column_dpars", ())))


def _dpar_from(d: dict):
    from .lower.plan import DparPlan
    from .lower.sites import dpar_population

    return DparPlan(d["name"], d["link"], tuple(d["columns"]), bool(d["intercept"]),
                    tuple(float(x) for x in d["x_means"]),
                    _site_from(d["b"], dpar_population(d["name"]).slopes),
                    tuple(_group_from(g) for g in d["groups"]))


def _plan_from(d: dict, fam, priors):
    from .lower.plan import ModelPlan
    from .lower.response import ResponsePlan
    from .lower.sites import POPULATION
    from .lower.smooth_plan import SmoothPlan

    groups = tuple(_group_from(g) for g in d["groups"])
    params = {k: np.array(v["values"], dtype=float).reshape(v["shape"])
              for k, v in d["prior_params"].items()}
    return ModelPlan(fam, tuple(d["columns"]), bool(d["intercept"]),
                     tuple(float(x) for x in d["x_means"]), _site_from(d["b"], POPULATION.slopes),
                     groups, priors, params, int(d["n"]),
                     ResponsePlan.from_dict(d.get("response")),
                     _site_from(d.get("thresholds"), POPULATION.thresholds),
                     tuple(_dpar_from(p) for p in d.get("dpars", ())),
                     tuple(SmoothPlan.from_dict(sm) for sm in d.get("smooths", ())))


__all__ = ["CompiledModel"]
