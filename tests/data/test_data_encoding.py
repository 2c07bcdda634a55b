"""R's TermCode rule and column naming (formulang.data.encoding), on cases beyond the fixtures.

Expected columns are what R 4.x ``model.matrix`` gives for the same formula (with factors a, b,
c of levels a1 < a2 ..., numeric x); R's own order of factors inside an interaction can differ
from formulang's canonical order (see formulang.ir.formula), so those cases are written with
formulang's order.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from formulang import DataError, parse
from formulang.data import bind
from formulang.data.encoding import design_spec, term_codings
from formulang.data.spec import CONTRASTS, FULL, NUMERIC, VariableSpec


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(3)
    n = 60
    return pd.DataFrame({
        "y": rng.normal(size=n),
        "x": rng.normal(size=n),
        "w": rng.normal(size=n),
        "a": np.tile(["a1", "a2", "a3"], n // 3),
        "b": np.repeat(["b1", "b2"], n // 2),
        "c": np.tile(["c1", "c1", "c2", "c2", "c2"], n // 5),
        "s": np.repeat([f"s{i}" for i in range(6)], n // 6),
    })


def _columns(formula, data):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return bind(formula, data).X_columns


@pytest.mark.parametrize("formula, expected", [
    # main effects: contrasts; without an intercept the first categorical gets full indicators
    ("y ~ a", ("Intercept", "aa2", "aa3")),
    ("y ~ 0 + a", ("aa1", "aa2", "aa3")),
    ("y ~ 0 + a + b", ("aa1", "aa2", "aa3", "bb2")),
    ("y ~ 0 + x + a", ("x", "aa1", "aa2", "aa3")),
    # the first *term* with a categorical wins, even an interaction (R's model.matrix quirk)
    ("y ~ 0 + x + x:a", ("x", "x:aa1", "x:aa2", "x:aa3")),
    ("y ~ x + x:a", ("Intercept", "x", "x:aa2", "x:aa3")),
    # an interaction without its margins: full indicators for what is not a preceding margin
    ("y ~ x:a", ("Intercept", "x:aa1", "x:aa2", "x:aa3")),
    ("y ~ a:b", ("Intercept", "aa1:bb1", "aa2:bb1", "aa3:bb1", "aa1:bb2", "aa2:bb2", "aa3:bb2")),
    ("y ~ a + a:b", ("Intercept", "aa2", "aa3", "aa1:bb2", "aa2:bb2", "aa3:bb2")),
    ("y ~ b + a:b", ("Intercept", "bb2", "bb1:aa2", "bb2:aa2", "bb1:aa3", "bb2:aa3")),
    ("y ~ a + b:c", ("Intercept", "aa2", "aa3", "bb1:cc1", "bb2:cc1", "bb1:cc2", "bb2:cc2")),
    # a full factorial: every factor by contrasts, the first factor varying fastest
    ("y ~ a*b*c", ("Intercept", "aa2", "aa3", "bb2", "cc2", "aa2:bb2", "aa3:bb2", "aa2:cc2",
                   "aa3:cc2", "bb2:cc2", "aa2:bb2:cc2", "aa3:bb2:cc2")),
    # numeric interactions are products and keep their label
    ("y ~ x*w", ("Intercept", "x", "w", "x:w")),
    ("y ~ a:x:w", ("Intercept", "aa1:x:w", "aa2:x:w", "aa3:x:w")),
    ("y ~ x + a + x:a", ("Intercept", "x", "aa2", "aa3", "x:aa2", "x:aa3")),
])
def test_columns_follow_r(formula, expected, data):
    assert _columns(formula, data) == expected


def test_b_plus_a_b_uses_canonical_factor_order(data):
    # R would label the term a:b (formula order) and code it ba... the same model; formulang's
    # IR orders factors by first appearance in the term list, so the term is b:a.
    assert [t.label for t in parse("y ~ b + a:b").terms] == ["b", "b:a"]


def test_interaction_values_first_factor_fastest(data):
    b = bind("y ~ 0 + a:b", data)
    rows = data.reset_index(drop=True)
    for j, name in enumerate(b.X_columns):
        la, lb = name.split(":")
        expected = ((rows["a"] == la[1:]) & (rows["b"] == lb[1:])).to_numpy(float)
        np.testing.assert_array_equal(b.X[:, j], expected)


def test_numeric_times_indicator_values(data):
    b = bind("y ~ x:a", data)
    for j, level in enumerate(["a1", "a2", "a3"], start=1):
        np.testing.assert_allclose(b.X[:, j], data["x"] * (data["a"] == level))


def test_term_codings_unit():
    f = parse("y ~ 0 + x + x:a + b + a:b")
    cats = {"a", "b"}
    codings = term_codings(f.terms, f.intercept, lambda e: str(e) in cats)
    assert [t.label for t in f.terms] == ["x", "b", "x:a", "b:a"]  # by degree, as R
    assert codings == [
        [NUMERIC],
        [FULL],                # the first categorical of the first term with one (no intercept)
        [NUMERIC, CONTRASTS],  # x:a without a is x, a preceding term
        [CONTRASTS, CONTRASTS],  # b:a without b is {a}, inside x:a; without a is {b}
    ]


def test_single_level_factor_cannot_take_contrasts():
    data = {"y": [1.0, 2.0, 3.0], "g": ["only", "only", "only"], "x": [1.0, 2.0, 4.0]}
    with pytest.raises(DataError, match=r"g has a single level \('only'\) .* term g"):
        bind("y ~ g", data)
    # full indicators are fine (it is the intercept)
    assert bind("y ~ 0 + g", data).X_columns == ("gonly",)


def test_design_spec_unit():
    f = parse("~ a*x")
    spec = design_spec(f.terms, f.intercept, {
        "a": VariableSpec("a", "categorical", ("p", "q", "r")),
        "x": VariableSpec("x", "numeric")})
    assert spec.columns == ("Intercept", "aq", "ar", "x", "aq:x", "ar:x")
    assert [t.codings for t in spec.terms] == [(CONTRASTS,), (NUMERIC,), (CONTRASTS, NUMERIC)]
    assert spec.term_slices() == (slice(1, 3), slice(3, 4), slice(4, 6))
