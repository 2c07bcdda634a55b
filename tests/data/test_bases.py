"""poly(), bs(), ns(), and the spellings of other libraries (issue 19).

The bases are compared with R's (tests/fixtures/r_bases/make.R made bases.json with R 4.2's
stats and splines) on the training values and, through the training state, on new values
beyond the training range; the column names and order of interactions with R's model.matrix.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import formulang as fl
from formulang import DataError, FormulaError, parse
from formulang.data import DataSpec, apply_spec, bind
from formulang.data.bases import BasisState, BasisWarning, evaluate_basis, learn_basis

FIXTURE = json.loads((Path(__file__).parents[1] / "fixtures" / "r_bases" / "bases.json")
                     .read_text())
X = np.array(FIXTURE["x"])
NEW_X = np.array(FIXTURE["new_x"])
TOLERANCE = 1e-10


def _call(label):
    return parse("~ " + label).terms[0].factors[0]


@pytest.mark.parametrize("case", FIXTURE["bases"], ids=[c["label"] for c in FIXTURE["bases"]])
def test_basis_equals_r_on_training_and_new_values(case):
    call = _call(case["label"])
    assert str(call) == case["label"]  # the column names' stem is R's deparse
    state = learn_basis(call, X)
    assert np.allclose(state.knots, case["knots"], rtol=0, atol=TOLERANCE)
    if case["boundary"]:
        assert state.boundary == tuple(case["boundary"])
    with warnings.catch_warnings():  # Boundary.knots inside the training range: R warns
        warnings.simplefilter("ignore", BasisWarning)
        train = evaluate_basis(state, X)
        new = evaluate_basis(state, NEW_X)
    assert train.shape == np.array(case["train"]).shape
    assert np.abs(train - np.array(case["train"])).max() < TOLERANCE
    assert np.abs(new - np.array(case["new"])).max() < TOLERANCE


@pytest.fixture(scope="module")
def frame():
    return pd.DataFrame({"t": X, "f": pd.Categorical(["b", "a"] * 20, categories=["a", "b"]),
                         "z": X / 2, "y": np.sin(X), "g": ["g1", "g2", "g3", "g4"] * 10,
                         "w": np.random.default_rng(1).normal(size=40)})


@pytest.mark.parametrize("mm", FIXTURE["model_matrices"], ids=lambda m: m["formula"])
def test_model_matrix_of_interactions_equals_r(frame, mm):
    b = bind("y " + mm["formula"], frame)
    assert b.X_columns == ("Intercept",) + tuple(mm["columns"][1:])
    assert np.abs(b.X - np.array(mm["matrix"])).max() < TOLERANCE


def test_new_data_reuse_the_training_state_after_a_json_round_trip(frame):
    b = bind("y ~ bs(t, df = 5) + ns(w, df = 3):f + (1 + poly(t, 2) | g)", frame)
    again = DataSpec.from_json(b.spec.to_json())
    assert again == b.spec
    new = pd.DataFrame({"t": [-1.0, 5.0, 12.0], "f": ["a", "b", "a"], "g": ["g1", "g2", "g9"],
                        "w": [0.0, 0.5, 1.0]})
    with pytest.warns(BasisWarning, match="beyond the boundary knots"):
        nb = apply_spec(again, new)
    state = again.transform_stats()["bs(t, df = 5)"]
    assert isinstance(state, BasisState) and state.boundary == (X.min(), X.max())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", BasisWarning)
        expected = evaluate_basis(learn_basis(_call("bs(t, df = 5)"), X), new["t"].to_numpy())
    assert np.array_equal(nb.X[:, 1:6], expected)
    # the group term's poly() has the training coefficients: its value at a training point
    # is the training row's
    one = apply_spec(again, frame.iloc[[3]])
    assert np.allclose(one.groups[0].values, b.groups[0].values[[3]], atol=1e-12)


def test_group_terms_take_bases(frame):
    b = bind("y ~ 1 + (bs(t, df = 3) | g)", frame)
    assert b.groups[0].columns == ("Intercept", "bs(t, df = 3)1", "bs(t, df = 3)2",
                                   "bs(t, df = 3)3")


@pytest.mark.parametrize("text, message, where", [
    ("y ~ poly(t, 40)", "must be less than the number of unique values", "poly(t, 40)"),
    ("y ~ bs(t, knots = c(2, 11))", "knot 11 is outside the range", "bs(t, knots = c(2, 11))"),
    ("y ~ ns(f, df = 3)", "takes numbers, but f is categorical", "ns(f, df = 3)"),
    ("y ~ t + (0 + dummy(f, \"c\") | g)", "'c' is not a level of f", 'dummy(f, "c")'),
    ("y ~ C(f, levels = [\"a\", \"c\"])", "does not list", 'C(f, levels = c("a", "c"))'),
])
def test_data_errors_have_a_caret_under_the_call(frame, text, message, where):
    with pytest.raises(DataError, match=message) as info:
        bind(text, frame)
    err = info.value
    assert isinstance(err, FormulaError)
    assert err.text[err.start:err.end] == where


@pytest.mark.parametrize("text, message, where", [
    ("y ~ bs(t, df = 2)", "too small for degree 3", "bs(t, df = 2)"),
    ("y ~ ns(t, df = 1, intercept = TRUE)", "too small", "ns(t, df = 1, intercept = TRUE)"),
    ("y ~ poly(t, 0)", "at least 1", "poly(t, 0)"),
    ("y ~ bs(t, df = 4, knots = c(1))", "not both", "bs(t, df = 4, knots = c(1))"),
    ("y ~ I(poly(t, 2))", "several columns", "poly"),
    ("y ~ dummy(f)", "needs the level", "dummy(f)"),
    ("y ~ bs(t, knots = 3)", "vector of numbers", "3"),
    ("y ~ poly(t, 2.5)", "whole number", "2.5"),
    ("y ~ x[1]", "indexing", "["),
    ("y ~ ns(t, knots = c(5), Boundary.knots = c(0, 4))", "strictly inside Boundary.knots",
     "ns(t, knots = c(5), Boundary.knots = c(0, 4))"),
    ("y ~ bs(t, Boundary.knots = c(1))", "two different numbers",
     "bs(t, Boundary.knots = c(1))"),
    ("y | trunc(lb = c(1)) ~ x", "not a vector", "c(1)"),
    ("y ~ log(\"a\")", "quoted text", '"a"'),
])
def test_parse_errors_of_bases(text, message, where):
    with pytest.raises(FormulaError, match=message) as info:
        parse(text)
    err = info.value
    assert err.text[err.start:err.end] == where


def test_spellings_of_other_libraries(frame):
    from formulang.data.evaluate import r_round

    b = bind("y ~ np.log(t) + numpy.sqrt(t) + np.power(t, 3) + round(t, 1) + "
             "C(f, levels = c(\"b\", \"a\")) + w:dummy(f, \"a\")", frame)
    t = frame["t"].to_numpy()
    assert b.X_columns == ("Intercept", "np.log(t)", "numpy.sqrt(t)", "np.power(t, 3)",
                           "round(t, 1)", 'C(f, levels = c("b", "a"))a', 'w:dummy(f, "a")')
    a = (frame["f"] == "a").to_numpy()
    expected = np.column_stack([np.ones(40), np.log(t), np.sqrt(t), t ** 3, r_round(t, 1),
                                a, frame["w"] * a])
    assert np.allclose(b.X, expected, rtol=1e-12)
    # Python's brackets and R's c() are one vector; the printed formula parses back
    f = parse("y ~ C(f, levels = ['b', 'a'])")
    assert f == parse('y ~ C(f, levels = c("b", "a"))') == parse(str(f))


def test_round_is_rs():
    # R 4.2: round(c(0.5, 1.5, 2.5, -0.5), 0), round(c(0.15, 0.25, 2.675, 1.005), c(1, 1, 2, 2))
    from formulang.data.evaluate import r_round
    assert r_round(np.array([0.5, 1.5, 2.5, -0.5]), 0).tolist() == [0.0, 2.0, 2.0, -0.0]
    assert r_round(np.array([0.15, 0.25]), 1).tolist() == [0.1, 0.2]
    assert r_round(np.array([2.675, 1.005]), 2).tolist() == [2.67, 1.0]


def test_keyword_by_position_prints_as_written():
    assert str(parse("y ~ poly(x, 2)")) == "y ~ 1 + poly(x, 2)"
    assert str(parse("y ~ poly(x, degree = 2)")) == "y ~ 1 + poly(x, degree = 2)"
    f = parse("y ~ poly(x, 3, raw = TRUE) + bs(x, knots = [1, 2.5])")
    assert fl.Formula.from_json(f.to_json()) == f
