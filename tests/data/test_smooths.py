"""Smooth terms' bases against R (tests/fixtures/r_smooths, made by its make.R): mgcv's
thin-plate regression spline as brms takes it (``smoothCon(absorb.cons = TRUE,
diagonal.penalty = TRUE)``, ``smooth2random``; on new data brms's ``s2rPred``) and brms's
approximate GP basis; the IR, the spec's save/load, and the errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import formulang as fl
from formulang.data import bind
from formulang.data.smooths import evaluate_smooth, gp_basis, gp_slambda, learn_smooth
from formulang.data.spec import DataSpec
from formulang.ir.formula import Formula
from formulang.lower.smooth_plan import lscale_inv_gamma

FIXTURES = Path(__file__).parent.parent / "fixtures" / "r_smooths"
BASES = json.loads((FIXTURES / "bases.json").read_text())
MCYCLE = pd.read_csv(FIXTURES / "mcycle.csv")


def _theirs(key: str, new: bool) -> tuple[np.ndarray, np.ndarray]:
    ref = BASES[key]
    suffix = "_new" if new else ""
    zs = list(ref["Zs" + suffix].values())
    assert len(zs) == 1  # one penalised block per s() of one variable
    n = len(BASES["new_x"]) if new else len(MCYCLE)
    return np.array(ref["Xf" + suffix], dtype=float).reshape(n, -1), np.array(zs[0], dtype=float)


@pytest.mark.parametrize("bs", ["tp", "cr"])
@pytest.mark.parametrize("k", [10, 5])
@pytest.mark.parametrize("new", [False, True])
def test_basis_is_mgcvs_up_to_column_signs(bs, k, new):
    """Each column equals mgcv's up to its sign (an orthogonal change of basis, so the prior
    N(0, sds^2 I) on the coefficients is the same model): hence the same column space, the
    same singular values and the same implied covariance Zs Zs'."""
    state = learn_smooth("s", MCYCLE.times.values, k=k, bs=bs)
    x = np.array(BASES["new_x"]) if new else MCYCLE.times.values  # new: 2 beyond the data
    Xf, Zs = evaluate_smooth(state, x)
    Xr, Zr = _theirs(f"{bs}_{k}", new)
    assert Xf.shape == Xr.shape == (len(x), 1) and Zs.shape == Zr.shape == (len(x), k - 2)
    signs = np.sign(np.sum(Zs * Zr, axis=0))
    np.testing.assert_allclose(Zs * signs, Zr, atol=1e-8 * np.abs(Zr).max())
    np.testing.assert_allclose(Xf * np.sign(Xf[:, 0] @ Xr[:, 0]), Xr, atol=1e-8)
    np.testing.assert_allclose(np.linalg.svd(Zs, compute_uv=False),
                               np.linalg.svd(Zr, compute_uv=False), rtol=1e-8)
    np.testing.assert_allclose(Zs @ Zs.T, Zr @ Zr.T, atol=1e-10)


def test_by_factor_bases_are_mgcvs():
    """s(x, by = f): one smooth per level, each mgcv's (the constraint from all rows, the
    penalty diagonalised on the first level's columns) times the level's indicator; brms's
    names sxfa, sxfb, sxfc."""
    sim = pd.read_csv(FIXTURES / BASES["sim_data"])
    b = bind("y ~ f + s(x, by = f, k = 6)", sim)
    assert b.X_columns == ("Intercept", "fb", "fc", "sxfa_1", "sxfb_1", "sxfc_1")
    new = b.apply(pd.DataFrame(BASES["sim_new"]))
    for ours, again, ref in zip(b.smooths, new.smooths, BASES["by"]):
        assert ref["label"] == f"s(x):f{ours.spec.by_level}"
        Zr, Zn = (np.array(list(ref[key].values())[0]) for key in ("Zs", "Zs_new"))
        signs = np.sign(np.sum(ours.Z * Zr, axis=0))
        np.testing.assert_allclose(ours.Z * signs, Zr, atol=1e-10)
        np.testing.assert_allclose(again.Z * signs, Zn, atol=1e-10)
        Xr = np.array(ref["Xf"]).reshape(len(sim), -1)
        np.testing.assert_allclose(np.abs(ours.Xf), np.abs(Xr), atol=1e-10)


def test_gp_basis_is_brms():
    ref = json.loads((FIXTURES / "brms_gp.json").read_text())
    data = pd.read_csv(FIXTURES / ref["data"])
    state = learn_smooth("gp", data.x.values, k=15, c=1.25)
    sd = ref["standata"]
    Xgp = np.array(sd["Xgp_1"], dtype=float)[np.array(sd["Jgp_1"]) - 1]  # unique rows -> rows
    np.testing.assert_allclose(gp_basis(state, data.x.values), Xgp, atol=1e-10)
    np.testing.assert_allclose(gp_slambda(state), np.ravel(sd["slambda_1"]), rtol=1e-10)
    # brms's data-tuned length-scale prior, inv_gamma(1.494197, 0.056607)
    prior = next(p["prior"] for p in ref["prior_summary"] if p["class"] == "lscale" and p["coef"])
    assert lscale_inv_gamma(float(state.get("gap")), 1.0) == (1.494197, 0.056607), prior


def test_smooth_terms_round_trip_through_text_and_json():
    for text in ["y ~ s(x)", "y ~ z + s(x, k = 5) + (1 | g)", "y ~ gp(x, k = 15, c = 1.25)"]:
        f = fl.parse(text)
        assert len(f.smooths) == 1 and fl.parse(str(f)) == f
        assert Formula.from_json(f.to_json()) == f
    assert str(fl.parse("y ~ s(x, bs = \"tp\", k = 10)")) == "y ~ 1 + s(x, k = 10)"


def test_the_spec_saves_and_loads_the_basis():
    b = bind("accel ~ s(times, k = 6)", MCYCLE)
    assert b.X_columns == ("Intercept", "stimes_1") and b.smooths[0].Z.shape == (133, 4)
    again = DataSpec.from_dict(json.loads(json.dumps(b.spec.to_dict())))
    assert again == b.spec
    new = pd.DataFrame({"times": [3.0, 17.5, 50.0]})
    one, two = b.apply(new), fl.data.apply_spec(again, new)
    np.testing.assert_array_equal(one.X, two.X)
    np.testing.assert_array_equal(one.smooths[0].Z, two.smooths[0].Z)
    # the training rows, applied as new data, give the training basis
    np.testing.assert_allclose(b.apply(MCYCLE).smooths[0].Z, b.smooths[0].Z, atol=1e-12)


@pytest.mark.parametrize("formula, message, caret", [
    ("accel ~ s(times, k = 200)", "k = 200 basis functions need as many unique values of "
     "times, which has 94", "s(times, k = 200)"),
    ("accel ~ s(times, k = 2)", "k = 2 is too small", "s(times, k = 2)"),
    ("accel ~ gp(times, scale = FALSE)", "scale = FALSE is not supported yet",
     "gp(times, scale = FALSE)"),  # exact (no k) as approximate
    ("accel ~ gp(times, k = 9, scale = FALSE)", "scale = FALSE is not supported yet",
     "gp(times, k = 9, scale = FALSE)"),
    ("accel ~ t2(times, accel, k = 100)", "k = 100 basis functions for the margin of times",
     "t2(times, accel, k = 100)"),
    ("accel ~ s(times, by = times)", "by = times is a numeric column", "s(times, by = \"times\")"),
])
def test_bad_smooths_are_refused_with_a_caret(formula, message, caret):
    data = MCYCLE.assign(f=np.where(MCYCLE.times > 20, "a", "b"))
    with pytest.raises(fl.FormulaError, match=message.replace("(", r"\(").replace(")", r"\)")) \
            as err:
        bind(formula, data)
    text = err.value.text
    assert text[err.value.start:err.value.end] == caret


@pytest.mark.parametrize("formula, message, caret", [
    ("y ~ s(x, bs = \"zz\")", "unknown bs = 'zz' for s(); choices: tp, cr", "\"zz\""),
    ("y ~ s(x):z", "smooth term", "s(x)"),
    ("y ~ (s(x) | g)", "smooth term", "s(x)"),
    ("y ~ s(x, k = 2.5)", "'k' takes a whole number", "2.5"),
    ("y ~ gp(x, c = -1)", "'c' takes a positive number", "-1"),
    ("y ~ s(log(x))", "takes column names", "log(x)"),
])
def test_bad_smooth_syntax_is_refused_with_a_caret(formula, message, caret):
    with pytest.raises(fl.FormulaError, match=message.replace("(", r"\(").replace(")", r"\)")) \
            as err:
        fl.parse(formula)
    assert formula[err.value.start:err.value.end] == caret


def test_a_categorical_variable_is_refused():
    data = MCYCLE.assign(f=np.where(MCYCLE.times > 20, "a", "b"))
    with pytest.raises(fl.DataError, match="'f' is categorical: a smooth term"):
        bind("accel ~ s(f)", data)
