"""Tensor-product smooths ``t2(x, z)`` against mgcv as brms takes them (tests/fixtures/r_smooths,
made by make_t2.R): ``smoothCon(t2(...), absorb.cons = TRUE, diagonal.penalty = TRUE)``,
``smooth2random``; on new rows brms's ``s2rPred`` of the ``modCon = 3`` basis (the one that
agrees with the fitted basis on the training rows; see formulang/data/smooths_t2.py). Then the
names, the spec's save/load, and the errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import formulang as fl
from formulang.data import bind
from formulang.data.smooths import evaluate_smooth, learn_smooth
from formulang.data.smooths_t2 import t2_blocks
from formulang.data.spec import DataSpec
from formulang.ir.formula import Formula
from formulang.lower.sites import flat_parameters

FIXTURES = Path(__file__).parent.parent / "fixtures" / "r_smooths"
T2 = json.loads((FIXTURES / "t2_bases.json").read_text())
SIM = pd.read_csv(FIXTURES / "sim_xz.csv")
NEW = pd.DataFrame(T2["new"])
# the fixture's terms, in its order: (k, bs) per margin
CASES = [((5, 5), ("cr", "cr")), ((4, 4), ("cr", "cr")), ((4, 6), ("cr", "cr")),
         ((5, 5), ("tp", "tp")), ((5, 6), ("cr", "tp"))]


def _ours(ks, bss, rows: pd.DataFrame):
    state = learn_smooth("t2", [SIM.x.values, SIM.z.values], ks, bss)
    Xf, Z = evaluate_smooth(state, [rows.x.values, rows.z.values])
    ends = np.cumsum((0,) + t2_blocks(state))
    return Xf, [Z[:, a:b] for a, b in zip(ends[:-1], ends[1:])]


@pytest.mark.parametrize("case", range(len(CASES)), ids=[b["term"] for b in T2["bases"]])
@pytest.mark.parametrize("new", [False, True])
def test_blocks_and_fixed_columns_are_mgcvs(case, new):
    """Each penalised block spans mgcv's column space with the same singular values (1e-8:
    the same prior on the surface), and is in fact equal to it column by column up to signs;
    the unpenalised columns equal mgcv's up to their signs. On new rows (two outside the
    training range) with the training signs.

    A cr margin's straight-line part is a pair of eigenvectors of (numerically) zero
    eigenvalues, which mgcv takes as LAPACK's dsyevr returns them and then scales: a change of
    1e-16 in the penalty picks another pair (and so other N1 Z2, Z1 N2 blocks and Xf, the same
    column spaces). We call the same routine on a penalty equal to mgcv's to the last bit, and
    get mgcv's pair; on a machine whose LAPACK rounds otherwise, mgcv's own t2 basis (R's, and
    so brms's) would change as ours, and this fixture would not be theirs."""
    ref = T2["bases"][case]
    ks, bss = CASES[case]
    Xf, blocks = _ours(ks, bss, SIM)
    theirs = [np.array(z, dtype=float) for z in ref["Zs"]]
    assert [b.shape for b in blocks] == [z.shape for z in theirs]
    signs = [np.sign((b * z).sum(axis=0)) for b, z in zip(blocks, theirs)]
    fixed_signs = np.sign((Xf * np.array(ref["Xf"])).sum(axis=0))
    if new:
        Xf, blocks = _ours(ks, bss, NEW)
        theirs = [np.array(z, dtype=float) for z in ref["Zs_new"]]
    for ours, z, sign in zip(blocks, theirs, signs):
        np.testing.assert_allclose(np.linalg.svd(ours, compute_uv=False),
                                   np.linalg.svd(z, compute_uv=False), rtol=1e-8)
        # the same column space: projecting mgcv's block on ours leaves nothing
        q = np.linalg.qr(ours)[0]
        np.testing.assert_allclose(z - q @ (q.T @ z), 0, atol=1e-8 * np.abs(z).max())
        np.testing.assert_allclose(ours * sign, z, atol=1e-10 * np.abs(z).max())
    np.testing.assert_allclose(Xf * fixed_signs, np.array(ref["Xf_new" if new else "Xf"]),
                               atol=1e-10)


def test_names_and_blocks_are_brms():
    """brms's Stan data: three blocks (9, 6, 6 columns for k = 5), population columns t2xz_1..3;
    brms's parameter names."""
    model = fl.Model("y ~ t2(x, z)", SIM)
    (sm,) = model.plan.smooths
    assert sm.blocks == tuple(T2["standata"]["knots"]) == (9, 6, 6)
    assert sm.fixed == tuple(T2["standata"]["Xs_names"])
    names = [p.name for p in flat_parameters(model.plan)]
    assert [n for n in names if n.startswith(("bs_", "sds_"))] == [
        "bs_t2xz_1", "bs_t2xz_2", "bs_t2xz_3", "sds_t2xz_1", "sds_t2xz_2", "sds_t2xz_3"]
    for i, size in enumerate(sm.blocks, start=1):
        assert [n for n in names if n.startswith(f"s_t2xz_{i}[")] == \
            [f"s_t2xz_{i}[{j}]" for j in range(1, size + 1)]
    # one prior (class sds, coef t2xz) for the three SDs, as brms's sds of the term
    assert str(model.priors.lookup("sds", coef="t2xz")).startswith("half_student_t(3, ")


def test_the_spec_saves_and_new_rows_get_the_training_basis():
    b = bind("y ~ t2(x, z, k = c(4, 6), bs = c(\"cr\", \"tp\"))", SIM)
    again = DataSpec.from_dict(json.loads(json.dumps(b.spec.to_dict())))
    assert again == b.spec
    one, two = b.apply(NEW), fl.data.apply_spec(again, NEW)
    np.testing.assert_array_equal(one.X, two.X)
    np.testing.assert_array_equal(one.smooths[0].Z, two.smooths[0].Z)
    np.testing.assert_allclose(b.apply(SIM).smooths[0].Z, b.smooths[0].Z, atol=1e-12)
    np.testing.assert_allclose(b.apply(SIM).X, b.X, atol=1e-12)


@pytest.mark.parametrize("formula", [
    "y ~ t2(x, z)", "y ~ t2(x, z, k = 4)", "y ~ t2(x, z, k = c(4, 6), bs = c(\"cr\", \"tp\"))",
    "y ~ t2(x, z, bs = \"tp\")"])
def test_t2_prints_and_parses_back(formula):
    parsed = fl.parse(formula)
    assert fl.parse(str(parsed)) == parsed
    assert Formula.from_dict(json.loads(json.dumps(parsed.to_dict()))) == parsed


@pytest.mark.parametrize("formula, message, caret", [
    ("y ~ t2(x, f)", "t2(x, f): column 'f' is categorical: a smooth term", "t2(x, f)"),
    ("y ~ t2(x, z, k = c(5, 200))", "k = 200 basis functions for the margin of z need as many "
     "unique values of z, which has 90", "t2(x, z, k = c(5, 200))"),
    ("y ~ t2(x, z, k = 2)", "k = 2 is too small for the margin of x", "t2(x, z, k = 2)"),
    ("y ~ t2(x, x)", "t2(x, x): a variable is repeated", "t2(x, x)"),
])
def test_bad_t2_data_are_refused_with_a_caret(formula, message, caret):
    with pytest.raises(fl.FormulaError, match=message.replace("(", r"\(").replace(")", r"\)")) \
            as err:
        bind(formula, SIM)
    assert err.value.text[err.value.start:err.value.end] == caret


@pytest.mark.parametrize("formula, message, caret", [
    ("y ~ t2(x, z, w)", "t2() takes 2 arguments, got 3; t2() of more than two variables is not "
     "supported yet", "t2(x, z, w)"),
    ("y ~ t2(x, z, k = c(4, 5, 6))", "t2(): 'k' takes one value per margin (2), got 3",
     "c(4, 5, 6)"),
    ("y ~ t2(x, z, bs = c(\"cr\", \"ps\"))", "unknown bs = 'ps' for t2(); choices: tp, cr",
     "c(\"cr\", \"ps\")"),
    ("y ~ t2(x, z, by = f)", "t2() has no argument 'by'", "by"),
    ("y ~ s(x, k = c(4, 5))", "'k' takes one value, not a vector", "c(4, 5)"),
])
def test_bad_t2_syntax_is_refused_with_a_caret(formula, message, caret):
    with pytest.raises(fl.FormulaError, match=message.replace("(", r"\(").replace(")", r"\)")) \
            as err:
        fl.parse(formula)
    assert formula[err.value.start:err.value.end] == caret
