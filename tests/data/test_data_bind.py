"""bind() and BoundData.apply() (formulang.data.bind): response, offsets, new data."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from formulang import DataError, Formula, parse
from formulang.data import BoundData, MissingValuesWarning, bind


# -- response ---------------------------------------------------------------------------------


def test_gaussian_response(load):
    sleep = load("sleepstudy")
    b = bind("Reaction ~ Days + (Days | Subject)", sleep)
    assert isinstance(b, BoundData)
    np.testing.assert_array_equal(b.y, sleep["Reaction"])
    assert b.trials is None and b.weights is None
    assert b.response_name == "Reaction" and b.response_columns == ("Reaction",)
    assert b.n == 180 and b.formula == parse("Reaction ~ Days + (Days | Subject)")
    np.testing.assert_array_equal(b.offset, np.zeros(180))


def test_cbind_response(load):
    cbpp = load("cbpp")
    b = bind("cbind(incidence, size - incidence) ~ period + (1 | herd)", cbpp)
    np.testing.assert_array_equal(b.y, cbpp["incidence"])
    np.testing.assert_array_equal(b.trials, cbpp["size"])  # s + (size - s)
    assert b.response_name == "cbind(incidence, size - incidence)"
    assert b.response_columns == ("incidence", "size")
    assert b.X_columns == ("Intercept", "period2", "period3", "period4")


def test_trials_and_weights_response(load):
    cbpp = load("cbpp").assign(w=lambda d: d["size"] / 10)
    b = bind("incidence | trials(size) + weights(w) ~ period", cbpp)
    np.testing.assert_array_equal(b.y, cbpp["incidence"])
    np.testing.assert_array_equal(b.trials, cbpp["size"])
    np.testing.assert_array_equal(b.weights, cbpp["w"])


def test_response_rows_after_missing_values():
    data = {"s": [1, 2, 3, 4], "n": [5.0, np.nan, 5.0, 6.0], "x": [0.1, 0.2, 0.3, 0.4]}
    with pytest.warns(MissingValuesWarning, match="n"):
        b = bind("s | trials(n) ~ x", data)
    assert b.n == 3 and b.y.tolist() == [1.0, 3.0, 4.0] and b.trials.tolist() == [5.0, 5.0, 6.0]


@pytest.mark.parametrize("formula, data, message", [
    ("cbind(s, f) ~ 1", {"s": [1, -2, 3], "f": [1, 1, 1]},
     r"successes \(s\) are negative at row position 1 \(1 in all\)"),
    ("cbind(s, f) ~ 1", {"s": [1, 2, 3], "f": [1, -1, -4]},
     r"failures \(f\) are negative at row positions 1, 2 \(2 in all\)"),
    ("s | trials(n) ~ 1", {"s": [1, 7, 3, 9], "n": [5, 5, 5, 5]},
     r"successes \(s\) exceed trials \(n\) at row positions 1, 3 \(2 in all\), e\.g\. 7 > 5"),
    ("s | trials(n) ~ 1", {"s": [1, 0], "n": [5, -1]},
     r"trials \(n\) are negative at row position 1"),
    ("s | trials(n) ~ 1", {"s": [1, 2.5], "n": [5, 5]},
     r"successes \(s\) must be whole numbers, but are not at row position 1"),
    ("y | weights(w) ~ 1", {"y": [1.0, 2.0, 3.0], "w": [1.0, 0.0, -1.0]},
     r"weights \(w\) are negative at row position 2"),
    ("g ~ 1", {"g": ["a", "b"]},
     r"response g must be numeric.*for its 2 categories use family='bernoulli'$"),
    ("g ~ 1", {"g": ["a", "b", "c", "a"]},
     r"its 3 categories use family='cumulative' \(ordered\) or family='categorical'$"),
])
def test_response_errors_name_rows(formula, data, message):
    with pytest.raises(DataError, match=message):
        bind(formula, data)


def test_response_row_numbers_are_input_positions():
    data = {"s": [1, 2, 9], "n": [5, 5, 5], "x": [np.nan, 1.0, 2.0]}
    with pytest.warns(MissingValuesWarning), \
            pytest.raises(DataError, match="at row position 2 "):
        bind("s | trials(n) ~ x", data)


def test_boolean_response_is_zero_one():
    b = bind("hit ~ x", {"hit": [True, False, True], "x": [1.0, 2.0, 4.0]})
    assert b.y.tolist() == [1.0, 0.0, 1.0]


def test_formula_without_response():
    b = bind("~ x", {"x": [1.0, 2.0]})
    assert b.y is None and b.response_name is None and b.response_columns == ()


# -- offsets, arguments -----------------------------------------------------------------------


def test_offsets_are_summed():
    data = {"y": [1.0, 2.0, 3.0], "e": [1.0, 2.0, 4.0], "t": [0.5, 0.5, 1.0]}
    b = bind("y ~ 1 + offset(log(e)) + offset(t)", data)
    np.testing.assert_allclose(b.offset, np.log([1.0, 2.0, 4.0]) + [0.5, 0.5, 1.0])
    assert b.X_columns == ("Intercept",)


def test_formula_text_or_ir():
    data = {"y": [1.0, 2.0, 3.0], "x": [1.0, 2.0, 4.0]}
    f = parse("y ~ x")
    assert isinstance(f, Formula)
    np.testing.assert_array_equal(bind(f, data).X, bind("y ~ x", data).X)
    with pytest.raises(TypeError, match="Formula or formula text"):
        bind(42, data)


def test_outputs_are_read_only_and_own_their_memory():
    df = pd.DataFrame({"y": [1.0, 2.0, 3.0], "x": [1.0, 2.0, 4.0], "g": ["a", "b", "a"]})
    b = bind("y ~ x + (x | g) + offset(x)", df)
    for a in (b.y, b.X, b.offset, b.groups[0].codes, b.groups[0].values):
        assert not a.flags.writeable
        assert not np.shares_memory(a, df["x"].to_numpy())
        assert not np.shares_memory(a, df["y"].to_numpy())


def test_repr():
    b = bind("y ~ x + (1 | g)", {"y": [1.0, 2.0, 3.0], "x": [1.0, 2.0, 4.0], "g": ["a", "b", "a"]})
    assert "BoundData(n=3" in repr(b) and "'g'" in repr(b)
    assert "GroupData('g', levels=2" in repr(b.groups[0])


# -- new data ---------------------------------------------------------------------------------


@pytest.fixture()
def radon(load):
    return load("radon")


def test_apply_uses_training_scale_statistics(radon):
    b = bind("log_radon ~ floor + scale(log_uranium) + (1 + floor | county)", radon)
    mean, sd = radon["log_uranium"].mean(), radon["log_uranium"].std(ddof=1)
    new = pd.DataFrame({"floor": [0, 1], "log_uranium": [0.5, -1.0],
                        "county": ["AITKIN", "NOT A COUNTY"]})
    out = b.apply(new)
    assert out.X_columns == b.X_columns
    np.testing.assert_allclose(out.X[:, 2], (np.array([0.5, -1.0]) - mean) / sd)
    # on its own, new data would have been scaled by its own mean and SD: it is not
    assert not np.allclose(out.X[:, 2], [0.7071067811865476, -0.7071067811865476])
    assert out.y is None
    county = out.groups[0]
    assert county.codes.tolist() == [0, -1] and county.new_levels == ("NOT A COUNTY",)


def test_apply_on_training_data_reproduces_everything(radon):
    b = bind("log_radon ~ floor * scale(log_uranium, scale = FALSE) + (1 + floor | county)", radon)
    again = b.apply(radon)
    np.testing.assert_array_equal(again.X, b.X)
    np.testing.assert_array_equal(again.y, b.y)
    np.testing.assert_array_equal(again.groups[0].codes, b.groups[0].codes)
    np.testing.assert_array_equal(again.groups[0].values, b.groups[0].values)
    assert again.groups[0].new_levels == () and again.groups[0].new_codes is None


def test_apply_keeps_contrasts_when_new_data_lacks_levels(load):
    cbpp = load("cbpp")
    b = bind("incidence ~ period * size", cbpp)
    out = b.apply(pd.DataFrame({"period": ["3"], "size": [10]}))
    assert out.X_columns == b.X_columns
    assert out.X.tolist() == [[1, 0, 1, 0, 10, 0, 10, 0]]


def test_apply_matches_levels_by_label(load):
    cbpp = load("cbpp")  # period read as text
    b = bind("incidence ~ period", cbpp)
    out = b.apply(pd.DataFrame({"period": [2, 4]}))  # numbers this time
    assert out.X.tolist() == [[1, 1, 0, 0], [1, 0, 0, 1]]


def test_apply_unseen_fixed_level_is_an_error(load):
    cbpp = load("cbpp")
    b = bind("incidence ~ period + (1 | herd)", cbpp)
    new = pd.DataFrame({"period": ["1", "5", "2"], "herd": ["1", "2", "99"]})
    with pytest.raises(DataError, match=r"level '5' of column period was not seen in the "
                                        r"training data \(row position 1\); training levels: "
                                        r"'1', '2', '3', '4'"):
        b.apply(new)


def test_apply_response_present_or_absent(load):
    cbpp = load("cbpp")
    b = bind("cbind(incidence, size - incidence) ~ period", cbpp)
    with_response = b.apply(cbpp.iloc[:3])
    np.testing.assert_array_equal(with_response.trials, cbpp["size"].iloc[:3])
    without = b.apply(cbpp.drop(columns=["incidence"]).iloc[:3])
    # trials = s + (size - s) = size: known without the successes (issue 21, item 6)
    assert without.y is None
    np.testing.assert_array_equal(without.trials, cbpp["size"].iloc[:3])
    # cbind(s, f) of two columns: the trials s + f need both
    two = bind("cbind(incidence, failures) ~ period", cbpp.assign(
        failures=cbpp["size"] - cbpp["incidence"]))
    alone = two.apply(cbpp.drop(columns=["incidence"]).iloc[:3])
    assert alone.y is None and alone.trials is None
    with pytest.raises(DataError, match="'size'"):
        b.apply(cbpp.drop(columns=["size"]).iloc[:3])
    b = bind("incidence | trials(size) ~ period", cbpp)
    for_prediction = b.apply(cbpp.drop(columns=["incidence"]).iloc[:3])
    assert for_prediction.y is None
    np.testing.assert_array_equal(for_prediction.trials, cbpp["size"].iloc[:3])


def test_apply_missing_values_and_column_errors(radon):
    b = bind("log_radon ~ floor + (1 | county)", radon)
    new = pd.DataFrame({"floor": [0, np.nan, 1], "county": ["AITKIN", "ANOKA", "ANOKA"]})
    with pytest.warns(MissingValuesWarning, match="floor"):
        out = b.apply(new)
    assert out.rows.tolist() == [0, 2]
    with pytest.raises(DataError, match="floor"):
        b.apply(new, na_action="raise")
    with pytest.raises(DataError, match="column 'floor' .*not in the data; did you mean 'flor'"):
        b.apply(new.rename(columns={"floor": "flor"}))
    # a grouping factor: each new row needs its level (not "did you mean 'floor'?")
    with pytest.raises(DataError, match="column 'county' .*not in the data; it is a grouping "
                                        "factor: give each row its level"):
        b.apply(new.rename(columns={"county": "country"}))
    with pytest.raises(DataError, match="column 'floor' is text"):
        b.apply(new.assign(floor=["0", "1", "x"]))


def test_apply_inf_from_training_statistics():
    b = bind("y ~ log(x)", {"y": [1.0, 2.0, 3.0], "x": [1.0, 2.0, 3.0]})
    with pytest.raises(DataError, match=r"log\(x\) is -inf at row position 1 where x = 0"):
        b.apply({"x": [1.0, 0.0]})


# -- properties -------------------------------------------------------------------------------


@st.composite
def frames(draw):
    n = draw(st.integers(4, 30))
    floats = st.floats(-100, 100, allow_nan=False, allow_infinity=False)
    x = draw(st.lists(floats, min_size=n, max_size=n))
    g = draw(st.lists(st.sampled_from(["a", "b", "c"]), min_size=n, max_size=n))
    h = draw(st.lists(st.integers(0, 4), min_size=n, max_size=n))
    y = draw(st.lists(floats, min_size=n, max_size=n))
    return pd.DataFrame({"y": y, "x": x, "g": g, "h": h})


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(frames())
def test_apply_to_training_rows_reproduces_x_and_leaves_input_alone(df):
    before = df.copy(deep=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            b = bind("y ~ x * g + (1 + x | h)", df)
        except DataError as err:  # a single level of g cannot take contrasts
            assert "single level" in str(err)
            return
        again = b.apply(df)
    np.testing.assert_array_equal(again.X, b.X)
    np.testing.assert_array_equal(again.groups[0].codes, b.groups[0].codes)
    pd.testing.assert_frame_equal(df, before)
    # each row has exactly one indicator among Intercept-coded g columns
    gcols = [i for i, c in enumerate(b.X_columns) if c.startswith("g") and ":" not in c]
    assert set(b.X[:, gcols].sum(axis=1)) <= {0.0, 1.0}
    # the x:g columns are x times the g indicators
    for i, c in enumerate(b.X_columns):
        if c.startswith("x:g"):
            level = c[3:]
            np.testing.assert_array_equal(b.X[:, i], df["x"].to_numpy() * (df["g"] == level))
