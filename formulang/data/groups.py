"""Grouping factors: per-row level codes for ``(... | g)`` and ``(... | a:b)``.

A grouping factor of one column has that column's levels (pandas Categorical order, else
sorted, as for fixed categoricals; only levels present in the rows used). An interaction
``a:b`` has as levels the combinations present in the data, named by joining the component
labels with ``":"`` and ordered with the first component varying slowest, as R's ``a:b`` on
factors followed by dropping unused levels (lme4): ``"A:a", "A:b", ..., "J:c"``.

New data is matched by level label; a level never seen in training gets code -1 and is listed
in ``new_levels`` (prediction decides whether to sample it or refuse).

Group terms on one grouping factor are one group term (:func:`by_factor`): ``(1 | g) + (0 + x |
g)`` has the effects and covariance blocks of ``(1 + x || g)``, and brms's parameter names.

>>> from formulang.data.frame import as_frame
>>> frame = as_frame({"a": ["B", "A", "B", "A"], "b": ["x", "y", "y", "y"]})
>>> codes, levels = learn_group(frame, ("a", "b"))
>>> codes.tolist(), levels
([1, 0, 2, 0], ('A:y', 'B:x', 'B:y'))
>>> enc = encode_group(as_frame({"a": ["A", "C"], "b": ["y", "y"]}), ("a", "b"), levels)
>>> enc.codes.tolist(), enc.new.tolist(), enc.new_levels
([0, -1], [False, True], ('C:y',))
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..errors import FormulaError
from ..ir.formula import GroupTerm
from .encoding import design_spec
from .evaluate import factorize
from .frame import Frame
from .spec import DesignSpec, group_blocks


def _combine(frame: Frame, factor: Sequence[str], order: bool):
    """Per-row codes of the combinations of ``factor``'s columns present, and their labels."""
    parts = [factorize(frame.get(name), name, order=order) for name in factor]
    codes = parts[0].codes
    combos = [np.arange(len(parts[0].labels))]  # per combination: component codes
    for part in parts[1:]:
        k = len(part.labels)
        key = codes.astype(np.int64) * k + part.codes
        uniq, codes = np.unique(key, return_inverse=True)
        codes = codes.astype(np.intp, copy=False)
        previous = uniq // k
        combos = [c[previous] for c in combos] + [uniq % k]
    if len(parts) == 1:
        return codes, parts[0].labels
    label_lists = [np.asarray(p.labels, dtype=object) for p in parts]
    pieces = [labels[c] for labels, c in zip(label_lists, combos)]
    labels = tuple(":".join(t) for t in zip(*pieces))
    return codes, labels


def by_factor(terms: Sequence) -> tuple[tuple, ...]:
    """Group terms (:class:`~formulang.ir.formula.GroupTerm`) gathered by grouping factor, in
    order of first appearance: each tuple is one group term of the model.

    >>> from formulang import parse
    >>> terms = parse("y ~ (1 | g) + (1 | h) + (0 + x | g)").groups
    >>> [[str(t) for t in ts] for ts in by_factor(terms)]
    [['(1 | g)', '(0 + x | g)'], ['(1 | h)']]
    """
    gathered: dict[tuple[str, ...], list] = {}
    for t in terms:
        gathered.setdefault(tuple(t.factor), []).append(t)
    return tuple(tuple(ts) for ts in gathered.values())


def learn_group(frame: Frame, factor: Sequence[str]) -> tuple[np.ndarray, tuple[str, ...]]:
    """Codes (0..L-1 per row) and level names of a grouping factor on training data."""
    return _combine(frame, factor, order=True)


@dataclass(frozen=True)
class EncodedGroup:
    """Grouping codes of new data: ``codes`` index the training levels, -1 where the level is
    new; ``new`` marks those rows, ``new_levels`` names the new levels (first appearance
    order) and ``new_codes`` indexes them per row (-1 for known levels)."""

    codes: np.ndarray
    new: np.ndarray
    new_levels: tuple[str, ...]
    new_codes: np.ndarray


def encode_group(frame: Frame, factor: Sequence[str], levels: Sequence[str]) -> EncodedGroup:
    """Codes of a grouping factor on new data, in the training ``levels``."""
    codes, labels = _combine(frame, factor, order=False)
    index = {label: i for i, label in enumerate(levels)}
    lookup = np.array([index.get(label, -1) for label in labels], dtype=np.intp)
    unseen = np.flatnonzero(lookup < 0)
    new_lookup = np.full(len(labels), -1, dtype=np.intp)
    new_levels: tuple[str, ...] = ()
    if len(unseen):
        # Order the new levels by first appearance in the rows.
        first_row = np.full(len(labels), len(codes), dtype=np.intp)
        np.minimum.at(first_row, codes, np.arange(len(codes)))
        unseen = unseen[np.argsort(first_row[unseen], kind="stable")]
        new_lookup[unseen] = np.arange(len(unseen))
        new_levels = tuple(labels[i] for i in unseen)
    row_codes = lookup[codes] if len(labels) else np.zeros(0, dtype=np.intp)
    new_codes = new_lookup[codes] if len(labels) else np.zeros(0, dtype=np.intp)
    return EncodedGroup(row_codes, row_codes < 0, new_levels, new_codes)


def nested_in(outer_codes, inner_codes, n_inner: int) -> np.ndarray | None:
    """Whether every level of the inner grouping lies inside one level of the outer one: then
    ``parent`` (``parent[l]`` the outer level holding inner level ``l``), else None.

    >>> nested_in([0, 0, 1, 1], [0, 1, 2, 2], 3).tolist(), nested_in([0, 1], [0, 0], 1)
    ([0, 0, 1], None)
    """
    outer = np.asarray(outer_codes, dtype=np.intp)
    inner = np.asarray(inner_codes, dtype=np.intp)
    parent = np.zeros(n_inner, dtype=np.intp)
    parent[inner] = outer  # the outer level of some row of each inner level
    return parent if np.array_equal(parent[inner], outer) else None


def spec_group_terms(spec) -> tuple[tuple[GroupTerm, ...], ...]:
    """The formula's group terms that make up each of ``spec.groups``: those on its factor
    (``spec.groups`` puts outer terms first: :func:`outer_first`)."""
    gathered = by_factor(spec.formula.groups)
    if len(gathered) != len(spec.groups):  # saved before terms on one factor were gathered
        return tuple((g,) for g in spec.formula.groups)
    on = {tuple(terms[0].factor): terms for terms in gathered}
    return tuple(on[tuple(g.factor)] for g in spec.groups)


def outer_first(codes: Sequence, n_levels: Sequence[int]) -> list[int]:
    """The order of group terms (their rows' ``codes``, ``n_levels`` levels each) that puts
    each term after every term it is nested in, otherwise as written: lme4 reads
    ``(1 | brood) + (1 | location)`` as nested when each brood lies in one location, and so
    does hierarchical centring (:func:`enclosing`: a term centres on an earlier one), which
    written in that order it missed (grouseticks: 912 divergences of 4,000 draws; 0 so).

    >>> outer_first([[0, 1, 2, 3], [0, 0, 1, 1], [0, 1, 0, 1]], [4, 2, 2])
    [1, 2, 0]
    """
    depth = [sum(1 for h in range(len(codes)) if n_levels[h] < n_levels[g]
                 and nested_in(codes[h], codes[g], n_levels[g]) is not None)
             for g in range(len(codes))]
    return sorted(range(len(codes)), key=lambda g: depth[g])


def enclosing(bound) -> tuple[tuple[tuple[int, np.ndarray], ...], ...]:
    """For each group term, the coarser group terms it is nested in: ``(index into
    bound.groups, parent)`` pairs, ``parent[l]`` the enclosing term's level holding level
    ``l``. In ``(1 | batch/cask)`` the ``batch:cask`` term is enclosed by ``batch``.

    A centered level of a nested term mixes far better when it is centered on its parent's
    effect (hierarchical centering, ``eta_l ~ N(b_parent[l], tau^2)``, ``r_l = eta_l -
    b_parent[l]``) than on zero: the data identify ``b_j + c_jl``, and an additive centered
    ``c_jl`` leaves that ridge for the sampler to walk.

    >>> import formulang
    >>> b = formulang.bind("strength ~ 1 + (1 | batch/cask)", formulang.datasets.load("Pastes"))
    >>> [[(h, parent[:4].tolist()) for h, parent in e] for e in enclosing(b)]
    [[], [(0, [0, 0, 0, 1])]]
    """
    out = []
    for gi, g in enumerate(bound.groups):
        found = []
        for hi, h in enumerate(bound.groups):
            if hi != gi and h.n_levels < g.n_levels:
                parent = nested_in(h.codes, g.codes, g.n_levels)
                if parent is not None:
                    found.append((hi, parent))
        out.append(tuple(found))
    return tuple(out)


__all__ = ["EncodedGroup", "by_factor", "encode_group", "enclosing", "learn_group",
           "nested_in", "outer_first", "spec_group_terms"]


def factor_design(terms: tuple[GroupTerm, ...], variables) -> tuple[DesignSpec, tuple, tuple]:
    """The design, covariance blocks and each block's correlation ID ("" for none) of the
    group terms on one factor, as one term: an intercept if one of them has it, then each
    term's columns (coded as in its own term), and each term's blocks. An effect in two of
    them is refused (brms refuses it too): the model would have two independent effects that
    the data cannot tell apart."""
    designs = [design_spec(t.terms, t.intercept, variables) for t in terms]
    intercept = any(t.intercept for t in terms)
    merged = DesignSpec(intercept, tuple(ts for d in designs for ts in d.terms))
    owner: dict[str, GroupTerm] = {}
    for t, d in zip(terms, designs):
        for col in d.columns:
            if col in owner:
                raise FormulaError(
                    f"the effect {col!r} varies by {t.factor_label!r} in two group terms, "
                    f"{owner[col]} and {t}: write each effect once per grouping factor "
                    f"(e.g. {owner[col]} alone, or (1 + x || g) for independent effects)")
            owner[col] = t
    blocks, start = [], int(intercept)
    for t, d in zip(terms, designs):
        shift = start - int(d.intercept)  # the term's own slope columns start at `start`
        blocks += [(tuple(0 if d.intercept and i == 0 else i + shift for i in block), t.id)
                   for block in group_blocks(t, d)]
        start += len(d.columns) - int(d.intercept)
    # terms sharing an ID are one correlated block, in one formula as across formulas (brms)
    by_id: dict[str, list[int]] = {}
    joined = []
    for block, gid in blocks:
        if gid and gid in by_id:
            by_id[gid].extend(block)
            continue
        joined.append((list(block), gid))
        if gid:
            by_id[gid] = joined[-1][0]
    joined.sort(key=lambda item: min(item[0]))
    return merged, tuple(tuple(sorted(b)) for b, _ in joined), tuple(gid for _, gid in joined)
