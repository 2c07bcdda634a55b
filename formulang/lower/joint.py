"""Group terms correlated across formulas: brms's ID syntax, ``y ~ x + (1 |p| g); sigma ~
(1 |p| g)``.

The group terms on one factor whose blocks share a correlation ID, in two or more of a
model's formulas, are one group term of the model (a :class:`Joint`): one ``sd`` vector over
all their effects, one LKJ factor per correlated block (the blocks sharing an ID merged into
one), the effects ``r`` drawn jointly per level. The term belongs to the first of its
formulas (the owner, in the order response, then sub-formulas); its columns carry the
formula they are in, as brms names them (``Intercept``, ``sigma_Intercept``), and each
formula's linear predictor takes its own columns (:func:`~formulang.lower.sites.uses`).

>>> import numpy as np, formulang as fl
>>> d = {"y": np.arange(6.0), "g": list("aabbcc")}
>>> b = fl.bind("y ~ 1 + (1 |p| g); sigma ~ 1 + (1 |p| g)", d)
>>> [(j.label, j.members) for j in find(b)]
[('g', (('', 0), ('sigma', 0)))]
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Joint:
    """One group term spanning formulas: its factor ``label`` and ``members``, ``(dpar,
    index into that formula's bound groups)`` in formula order (the first is the owner)."""

    label: str
    members: tuple[tuple[str, int], ...]

    @property
    def owner(self) -> str:
        return self.members[0][0]


def formulas(bound) -> tuple[tuple[str, object], ...]:
    """``(dpar, bound data)`` of each formula: the response's ("") first."""
    return (("", bound), *getattr(bound, "dpars", ()))


def find(bound) -> tuple[Joint, ...]:
    """The group terms that span formulas: on one factor, linked by IDs that two or more
    formulas' terms share (an ID in one formula only correlates within it, as always)."""
    where: dict[str, set[str]] = {}  # ID -> formulas using it
    for dpar, b in formulas(bound):
        for gd in b.groups:
            for gid in gd.spec.ids:
                if gid:
                    where.setdefault(gid, set()).add(dpar)
    shared = {gid for gid, ds in where.items() if len(ds) > 1}
    # per factor: formulas linked through shared IDs (connected components)
    by_label: dict[str, list[tuple[str, int, set[str]]]] = {}
    for dpar, b in formulas(bound):
        for gi, gd in enumerate(b.groups):
            ids = {gid for gid in gd.spec.ids if gid in shared}
            if ids:
                by_label.setdefault(gd.label, []).append((dpar, gi, ids))
    out = []
    for label, nodes in by_label.items():
        while nodes:
            comp, ids = [nodes.pop(0)], set()
            ids |= comp[0][2]
            grown = True
            while grown:
                grown = False
                for node in list(nodes):
                    if node[2] & ids:
                        comp.append(node)
                        ids |= node[2]
                        nodes.remove(node)
                        grown = True
            order = [d for d, _ in formulas(bound)]
            comp.sort(key=lambda node: order.index(node[0]))
            out.append(Joint(label, tuple((d, gi) for d, gi, _ in comp)))
    return tuple(out)


def member_data(joint: Joint, bound) -> list:
    """The bound group term (:class:`~formulang.data.bind.GroupData`) of each member."""
    subs = dict(formulas(bound))
    return [subs[dpar].groups[gi] for dpar, gi in joint.members]


def layout(joint: Joint, bound):
    """``(columns, column_dpars, raw columns, blocks)`` of the joint term: each member's
    columns in turn (named as brms: ``sigma_Intercept``), its blocks shifted into place, and
    the blocks sharing an ID merged into one."""
    from .sites import dpar_column

    columns, dpars, raw, blocks = [], [], [], []
    merged: dict[str, list[int]] = {}
    for (dpar, _), gd in zip(joint.members, member_data(joint, bound)):
        if gd.levels != member_data(joint, bound)[0].levels:  # pragma: no cover - same rows
            raise AssertionError(f"the levels of {joint.label} differ between formulas")
        start = len(columns)
        columns += [dpar_column(c, dpar) for c in gd.columns]
        dpars += [dpar] * len(gd.columns)
        raw += list(gd.columns)
        ids = gd.spec.ids or ("",) * len(gd.blocks)
        for block, gid in zip(gd.blocks, ids):
            shifted = [start + i for i in block]
            if gid:
                if gid not in merged:
                    merged[gid] = []
                    blocks.append(merged[gid])  # the same list: filled by later members
                merged[gid].extend(shifted)
            else:
                blocks.append(shifted)
    blocks = sorted((tuple(sorted(b)) for b in blocks), key=min)
    return tuple(columns), tuple(dpars), tuple(raw), tuple(blocks)


def positions(plan, dpar: str, groups) -> list[int]:
    """The index into ``groups`` (formula ``dpar``'s bound terms or their specs, each with a
    ``label``) of each group term in its linear predictor, in
    :func:`~formulang.lower.sites.uses` order. A term spanning formulas is found by its factor
    (one bound term per factor and formula); the formula's own terms are its bound terms in
    order (files saved before terms on one factor were one term hold two on a factor)."""
    from .sites import uses

    terms = uses(plan, dpar)
    labels = [gd.label for gd in groups]
    spanning = {g.label for g, _ in terms if g.column_dpars}
    own = iter([i for i, label in enumerate(labels) if label not in spanning])
    return [labels.index(g.label) if g.column_dpars else next(own) for g, _ in terms]


def terms_of(plan, dpar: str, bound) -> list:
    """``(group term, its column indices, bound group term)`` of each group term in formula
    ``dpar``'s linear predictor (:func:`~formulang.lower.sites.uses`), ``bound`` its rows
    (found as :func:`positions` says)."""
    from .sites import uses

    return [(g, cols, bound.groups[i])
            for (g, cols), i in zip(uses(plan, dpar), positions(plan, dpar, bound.groups))]


__all__ = ["Joint", "find", "formulas", "layout", "member_data", "positions", "terms_of"]
