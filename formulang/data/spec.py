"""The frozen, JSON-serialisable record of how a formula encodes data.

Binding training data learns things that new data must reuse exactly: which factors are
categorical and their levels (in coding order), how each term is coded (R's contrasts or full
indicators), the statistics of ``scale()``-like transforms, the levels of each grouping factor.
A :class:`DataSpec` holds all of that, with the formula itself, in small frozen dataclasses of
plain values. ``to_dict()`` gives plain JSON types (str, float, bool, list, dict) and
``from_dict()`` reads them back to an equal spec, so a fitted model can store its spec and
encode new data after a reload, without pickle.

>>> import json, pandas as pd
>>> from formulang.data import bind
>>> df = pd.DataFrame({"y": [1.0, 2.0, 4.0, 3.0], "x": [1.0, 2.0, 3.0, 5.0],
...                    "g": ["a", "b", "a", "b"]})
>>> spec = bind("y ~ scale(x) + g", df).spec
>>> again = DataSpec.from_dict(json.loads(json.dumps(spec.to_dict())))
>>> again == spec, again.fixed.columns
(True, ('Intercept', 'scale(x)', 'gb'))
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from ..errors import DataError
from ..ir.formula import Formula, GroupTerm
from .bases import BasisState
from .evaluate import TransformStats
from .response_levels import ResponseLevels
from .smooths import SmoothSpec

SCHEMA = "formulang.dataspec"
SCHEMA_VERSION = 1

NUMERIC = "numeric"      # a numeric factor: one column, its value
CONTRASTS = "contrasts"  # a categorical coded by treatment contrasts: k - 1 columns
FULL = "full"            # a categorical coded by full indicators: k columns
BASIS = "basis"          # a basis (poly, bs, ns): its k columns, named by its suffixes
CODINGS = (NUMERIC, CONTRASTS, FULL, BASIS)


@dataclass(frozen=True)
class VariableSpec:
    """A factor of some term (``x``, ``log(x)``, ``C(g)``), keyed by its text ``label``.

    ``levels`` (categoricals only) are the level labels in coding order: the first is the
    reference of treatment contrasts; of a basis (kind ``"basis"``), the suffixes of its
    columns' names (``"1"``, ``"2"``...).
    """

    label: str
    kind: str
    levels: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"label": self.label, "kind": self.kind}
        if self.kind != NUMERIC:
            d["levels"] = list(self.levels)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "VariableSpec":
        return cls(d["label"], d["kind"], tuple(d.get("levels", ())))


@dataclass(frozen=True)
class TermSpec:
    """How one term is coded: one coding per factor (see :data:`CODINGS`), and its columns."""

    label: str
    codings: tuple[str, ...]
    columns: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"label": self.label, "codings": list(self.codings), "columns": list(self.columns)}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "TermSpec":
        return cls(d["label"], tuple(d["codings"]), tuple(d["columns"]))


@dataclass(frozen=True)
class DesignSpec:
    """A design matrix: an optional intercept column, then each term's columns in order."""

    intercept: bool
    terms: tuple[TermSpec, ...]

    @property
    def columns(self) -> tuple[str, ...]:
        head = ("Intercept",) if self.intercept else ()
        return head + tuple(c for t in self.terms for c in t.columns)

    def term_slices(self) -> tuple[slice, ...]:
        """Column range of each term, in term order (the intercept, if any, is column 0)."""
        out = []
        start = int(self.intercept)
        for t in self.terms:
            out.append(slice(start, start + len(t.columns)))
            start += len(t.columns)
        return tuple(out)

    def to_dict(self) -> dict[str, Any]:
        return {"intercept": self.intercept, "terms": [t.to_dict() for t in self.terms]}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "DesignSpec":
        return cls(bool(d["intercept"]), tuple(TermSpec.from_dict(t) for t in d["terms"]))


@dataclass(frozen=True)
class GroupSpec:
    """A group term ``(lhs | factor)``: the grouping levels, the LHS design and its blocks.

    ``levels`` are the group labels; for an interaction ``a:b`` they are the combinations
    present in the training data joined by ``":"`` (``"A:a"``), as R's ``interaction``.
    ``blocks`` are the covariance blocks of :attr:`GroupTerm.blocks` as column indices into
    ``design.columns``.
    """

    factor: tuple[str, ...]
    levels: tuple[str, ...]
    design: DesignSpec
    blocks: tuple[tuple[int, ...], ...]
    correlated: bool = True
    # each block's correlation ID ("" for none; () when no block has one): blocks sharing an
    # ID, in this and the model's other formulas, are one block (lower/joint.py)
    ids: tuple[str, ...] = ()

    @property
    def label(self) -> str:
        return ":".join(self.factor)

    @property
    def columns(self) -> tuple[str, ...]:
        return self.design.columns

    def to_dict(self) -> dict[str, Any]:
        return {"factor": list(self.factor), "levels": list(self.levels),
                "design": self.design.to_dict(), "blocks": [list(b) for b in self.blocks],
                "correlated": self.correlated, **({"ids": list(self.ids)} if self.ids else {})}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "GroupSpec":
        return cls(tuple(d["factor"]), tuple(d["levels"]), DesignSpec.from_dict(d["design"]),
                   tuple(tuple(int(i) for i in b) for b in d["blocks"]), bool(d["correlated"]),
                   tuple(str(i) for i in d.get("ids", ())))


@dataclass(frozen=True)
class DataSpec:
    """Everything needed to encode data for a formula the way the training data was encoded.

    Build one with :func:`formulang.data.bind` (``bind(...).spec``); encode new data with
    :func:`formulang.data.apply_spec` (binding owns encoding; the spec is only its record), or
    ``BoundData.apply``. ``transforms`` maps a stateful call's text (``"scale(x)"``) to its
    statistics, or a basis's (``"bs(x, df = 3)"``) to its :class:`BasisState`.
    """

    formula: Formula
    variables: tuple[VariableSpec, ...]
    transforms: tuple[tuple[str, TransformStats | BasisState], ...]
    fixed: DesignSpec
    groups: tuple[GroupSpec, ...]
    na_action: str = "drop"
    response_levels: ResponseLevels | None = None  # a categorical response's categories
    # the sub-formulas of family parameters (Formula.dpars): each one's spec, by name
    dpars: tuple[tuple[str, "DataSpec"], ...] = ()
    smooths: tuple[SmoothSpec, ...] = ()  # the smooth terms' bases (data/smooths.py)

    def variable(self, label: str) -> VariableSpec:
        for v in self.variables:
            if v.label == label:
                return v
        raise KeyError(label)

    def transform_stats(self) -> dict[str, TransformStats | BasisState]:
        return dict(self.transforms)

    # -- serialisation -------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        d = {
            "schema": SCHEMA,
            "version": SCHEMA_VERSION,
            "formula": json.loads(self.formula.to_json()),
            "variables": [v.to_dict() for v in self.variables],
            "transforms": [_transform_to_dict(k, s) for k, s in self.transforms],
            "fixed": self.fixed.to_dict(),
            "groups": [g.to_dict() for g in self.groups],
            "na_action": self.na_action,
            **({"dpars": [{"name": k, "spec": v.to_dict()} for k, v in self.dpars]}
               if self.dpars else {}),
            **({"smooths": [sm.to_dict() for sm in self.smooths]} if self.smooths else {}),
        }
        if self.response_levels is not None:  # absent for numeric responses
            d["response_levels"] = self.response_levels.to_dict()
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "DataSpec":
        if d.get("schema") != SCHEMA:
            raise DataError(f"not a formulang data spec (schema {d.get('schema')!r})")
        if d.get("version") != SCHEMA_VERSION:
            raise DataError(f"unsupported data spec version {d.get('version')!r}; "
                            f"this formulang reads version {SCHEMA_VERSION}")
        return cls(
            formula=Formula.from_json(json.dumps(d["formula"])),
            variables=tuple(VariableSpec.from_dict(v) for v in d["variables"]),
            transforms=tuple((t["label"], _transform_from_dict(t)) for t in d["transforms"]),
            fixed=DesignSpec.from_dict(d["fixed"]),
            groups=tuple(GroupSpec.from_dict(g) for g in d["groups"]),
            na_action=d.get("na_action", "drop"),
            response_levels=ResponseLevels.from_dict(d.get("response_levels")),
            dpars=tuple((p["name"], cls.from_dict(p["spec"])) for p in d.get("dpars", ())),
            smooths=tuple(SmoothSpec.from_dict(sm) for sm in d.get("smooths", ())),
        )

    def to_json(self, **dumps_kwargs) -> str:
        return json.dumps(self.to_dict(), **dumps_kwargs)

    @classmethod
    def from_json(cls, text: str) -> "DataSpec":
        return cls.from_dict(json.loads(text))


def _transform_to_dict(label: str, state) -> dict[str, Any]:
    if isinstance(state, BasisState):
        return {"label": label, "basis": state.to_dict()}
    return {"label": label, "center": state.center, "scale": state.scale}


def _transform_from_dict(d: dict[str, Any]):
    if "basis" in d:
        return BasisState.from_dict(d["basis"])
    return TransformStats(float(d["center"]), float(d["scale"]))


def group_blocks(group: GroupTerm, design: DesignSpec) -> tuple[tuple[int, ...], ...]:
    """:attr:`GroupTerm.blocks` as column indices into ``design.columns``."""
    ranges: dict[object, range] = {}
    start = 0
    if design.intercept:
        ranges["Intercept"] = range(0, 1)
        start = 1
    for term, tspec in zip(group.terms, design.terms):
        ranges[term] = range(start, start + len(tspec.columns))
        start += len(tspec.columns)
    return tuple(tuple(i for effect in block for i in ranges[effect]) for block in group.blocks)


__all__ = ["BASIS", "CODINGS", "CONTRASTS", "DataSpec", "DesignSpec", "FULL", "GroupSpec", "NUMERIC",
           "TermSpec", "VariableSpec", "group_blocks"]
