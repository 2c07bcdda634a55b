"""The expression evaluator (formulang.data.evaluate): functions, arithmetic, stateful
transforms, level order, and the errors for values a numeric role cannot use."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from formulang import DataError, parse
from formulang.data import MissingValuesWarning, RankDeficiencyWarning, bind
from formulang.data.evaluate import Context, factorize, level_label
from formulang.data.frame import as_frame
from formulang.ir import FUNCTIONS

X = np.array([0.5, 1.0, 2.0, 4.0, 3.0])


def _column(formula: str, data=None) -> np.ndarray:
    data = data if data is not None else {"y": np.arange(5.0), "x": X}
    b = bind(formula, data)
    assert b.X.shape[1] == 2, b.X_columns
    return b.X[:, 1]


@pytest.mark.parametrize("name, func", [
    ("log", np.log), ("log1p", np.log1p), ("log2", np.log2), ("log10", np.log10),
    ("exp", np.exp), ("expm1", np.expm1), ("sqrt", np.sqrt), ("abs", np.abs),
])
def test_elementwise_functions(name, func):
    np.testing.assert_allclose(_column(f"y ~ {name}(x)"), func(X))


def test_every_value_function_in_the_whitelist_is_implemented():
    from formulang.data.evaluate import ELEMENTWISE

    elementwise = {n for n, s in FUNCTIONS.items() if s.role == "elementwise"}
    assert elementwise == set(ELEMENTWISE)


@pytest.mark.parametrize("expr, expected", [
    ("I(x^2)", X ** 2),
    ("I(x**2)", X ** 2),
    ("I(2^x)", 2.0 ** X),
    ("I(-x^2)", -(X ** 2)),          # R: unary minus binds looser than ^
    ("I(x - 1)", X - 1),
    ("I((x + 1) * 2 / 4)", (X + 1) * 2 / 4),
    ("I(x > 1)", (X > 1).astype(float)),
    ("I(x <= 1)", (X <= 1).astype(float)),
    ("I(x == 2)", (X == 2).astype(float)),
    ("I(x != 2)", (X != 2).astype(float)),
    ("log(x + 1)", np.log(X + 1)),
    ("sqrt(abs(x - 3))", np.sqrt(np.abs(X - 3))),
])
def test_arithmetic(expr, expected):
    np.testing.assert_allclose(_column(f"y ~ {expr}"), expected)


def test_constant_expression_broadcasts():
    with pytest.warns(RankDeficiencyWarning, match=r"I\(2\) is a linear combination"):
        assert _column("y ~ I(2)").tolist() == [2.0] * 5


def test_boolean_column_in_numeric_role_is_zero_one():
    data = {"y": np.arange(4.0), "f": [True, False, True, True]}
    assert _column("y ~ I(f * 2)", data).tolist() == [2.0, 0.0, 2.0, 2.0]


def test_division_by_zero_names_expression_row_and_values():
    data = {"y": np.arange(4.0), "x": [1.0, 2.0, 0.0, 4.0]}
    with pytest.raises(DataError, match=r"I\(1 / x\) is inf at row position 2 where x = 0\.0"):
        bind("y ~ I(1/x)", data)


def test_log_of_zero_and_negative():
    with pytest.raises(DataError, match=r"log\(x\) is -inf at row position 1 where x = 0"):
        bind("y ~ log(x)", {"y": [1.0, 2.0, 3.0], "x": [1, 0, 3]})
    with pytest.raises(DataError, match=r"sqrt\(x\) is NaN at row position 2 where x = -1"):
        bind("y ~ sqrt(x)", {"y": [1.0, 2.0, 3.0], "x": [1, 4, -1]})


def test_infinite_value_in_a_column():
    data = {"y": [1.0, 2.0, 3.0], "x": [1.0, np.inf, 2.0]}
    with pytest.raises(DataError, match=r"column 'x' has 1 infinite value\(s\), "
                                        r"e\.g\. at row position 1: inf"):
        bind("y ~ x", data)
    with pytest.raises(DataError, match=r"column 'y' has 1 infinite"):
        bind("y ~ 1", {"y": [1.0, -np.inf]})


def test_infinite_value_row_counts_input_positions_after_dropping():
    data = {"y": [1.0, np.nan, 2.0, 3.0], "x": [1.0, 5.0, 2.0, np.inf]}
    with pytest.warns(MissingValuesWarning), pytest.raises(DataError, match="row position 3"):
        bind("y ~ x", data)


@pytest.mark.parametrize("formula", ["y ~ log(g)", "y ~ I(g * 2)", "y ~ g2", "y ~ scale(g)"])
def test_text_in_numeric_role_names_column_and_row(formula):
    data = {"y": [1.0, 2.0, 3.0], "g": ["1", "2", "three"], "g2": [1.0, 2.0, 3.0]}
    if formula == "y ~ g2":
        data["g2"] = pd.Series(["1", "x", "3"], dtype=object)
        with pytest.raises(DataError) as info:
            bind("y ~ I(g2^2)", data)
        assert "'g2'" in str(info.value) and "row position 1: 'x'" in str(info.value)
        return
    with pytest.raises(DataError, match=r"column 'g' is text.*row position 2: 'three'.*C\(g\)"):
        bind(formula, data)


def test_categorical_column_in_numeric_role():
    data = {"y": [1.0, 2.0, 3.0], "g": pd.Categorical([1, 2, 3])}
    with pytest.raises(DataError, match="column 'g' is categorical, not numbers"):
        bind("y ~ log(g)", data)


# -- stateful transforms ----------------------------------------------------------------------


def test_scale_is_r_scale():
    x = np.array([1.0, 2.0, 4.0, 8.0, 3.0])
    data = {"y": np.arange(5.0), "x": x}
    np.testing.assert_allclose(_column("y ~ scale(x)", data), (x - x.mean()) / x.std(ddof=1))
    np.testing.assert_allclose(_column("y ~ standardize(x)", data), (x - x.mean()) / x.std(ddof=1))
    np.testing.assert_allclose(_column("y ~ center(x)", data), x - x.mean())
    np.testing.assert_allclose(_column("y ~ scale(x, scale = FALSE)", data), x - x.mean())
    rms = np.sqrt((x ** 2).sum() / (len(x) - 1))  # R: scale(x, center = FALSE)
    np.testing.assert_allclose(_column("y ~ scale(x, center = FALSE)", data), x / rms)
    np.testing.assert_allclose(_column("y ~ scale(log(x))", data),
                               (np.log(x) - np.log(x).mean()) / np.log(x).std(ddof=1))


def test_scale_statistics_are_recorded():
    x = np.array([1.0, 2.0, 4.0, 8.0, 3.0])
    with pytest.warns(RankDeficiencyWarning, match=r"center\(x\)"):
        spec = bind("y ~ scale(x) + center(x)", {"y": np.arange(5.0), "x": x}).spec
    stats = spec.transform_stats()
    assert stats["scale(x)"].center == pytest.approx(x.mean())
    assert stats["scale(x)"].scale == pytest.approx(x.std(ddof=1))
    assert stats["center(x)"].center == pytest.approx(x.mean()) and stats["center(x)"].scale == 1


def test_scale_statistics_use_rows_kept_after_missing_values():
    data = {"y": [1.0, 2.0, np.nan, 4.0], "x": [1.0, 2.0, 100.0, 3.0]}
    with pytest.warns(MissingValuesWarning):
        stats = bind("y ~ scale(x)", data).spec.transform_stats()["scale(x)"]
    assert stats.center == pytest.approx(2.0) and stats.scale == pytest.approx(1.0)


def test_scale_of_constant_column():
    with pytest.raises(DataError, match=r"scale\(x\): the values of x are constant"):
        bind("y ~ scale(x)", {"y": [1.0, 2.0, 3.0], "x": [2.0, 2.0, 2.0]})


def test_context_numeric_never_learns_in_apply_mode():
    from formulang.ir import Call, Column

    ctx = Context(as_frame({"x": [1.0, 2.0]}), learn=False)
    with pytest.raises(DataError, match="no training statistics for scale"):
        ctx.numeric(Call("scale", (Column("x"),)))


# -- levels -----------------------------------------------------------------------------------


def test_level_labels_follow_r():
    assert [level_label(v) for v in ["a", 1, 2.0, 2.5, 1e-20, True, False, np.int32(7)]] == \
        ["a", "1", "2", "2.5", "1e-20", "TRUE", "FALSE", "7"]
    # 15 significant digits as R prints, unless that would merge distinct numbers.
    assert level_label(0.1 + 0.2) == "0.30000000000000004"


def test_numbers_sort_numerically_strings_lexicographically():
    assert factorize(pd.Series([10, 2, 1, 2]), "n").labels == ("1", "2", "10")
    assert factorize(pd.Series(["10", "2", "1"]), "s").labels == ("1", "10", "2")
    assert factorize(pd.Series([True, False, True]), "b").labels == ("FALSE", "TRUE")
    fz = factorize(pd.Series(["b", "c", "a", "b"]), "s")
    assert fz.labels == ("a", "b", "c") and fz.codes.tolist() == [1, 2, 0, 1]


def test_categorical_order_is_kept_and_unused_dropped():
    s = pd.Series(pd.Categorical(["lo", "hi", "lo"], categories=["mid", "lo", "hi"]))
    fz = factorize(s, "c")
    assert fz.labels == ("lo", "hi") and fz.codes.tolist() == [0, 1, 0]


def test_clashing_labels():
    with pytest.raises(DataError, match="share the level label '1'"):
        factorize(pd.Series([1, "1"], dtype=object), "mixed")


def test_categorical_levels_in_the_design():
    data = {"y": np.arange(6.0), "n": [10, 2, 1, 2, 10, 1], "g": ["b", "c", "a", "b", "a", "c"],
            "f": [True, False, True, False, False, True],
            "c": pd.Categorical(["z", "y", "x", "x", "y", "z"], categories=["z", "y", "x"])}
    assert bind("y ~ C(n)", data).X_columns == ("Intercept", "C(n)2", "C(n)10")
    assert bind("y ~ factor(n)", data).X_columns == ("Intercept", "factor(n)2", "factor(n)10")
    assert bind("y ~ g", data).X_columns == ("Intercept", "gb", "gc")
    assert bind("y ~ f", data).X_columns == ("Intercept", "fTRUE")
    assert bind("y ~ c", data).X_columns == ("Intercept", "cy", "cx")
    b = bind('y ~ C(g, ref = "b")', data)
    assert b.X_columns == ("Intercept", 'C(g, ref = "b")a', 'C(g, ref = "b")c')
    np.testing.assert_array_equal(b.X[:, 1], [0, 0, 1, 0, 1, 0])
    assert bind("y ~ C(n, ref = 10)", data).X_columns == \
        ("Intercept", "C(n, ref = \"10\")1", "C(n, ref = \"10\")2")
    assert bind("y ~ as.factor(I(n > 1))", data).X_columns == \
        ("Intercept", "as.factor(I(n > 1))1")


def test_reference_level_not_found():
    data = {"y": np.arange(3.0), "g": ["a", "b", "a"]}
    with pytest.raises(DataError,
                       match=r"reference level 'z' is not a level of g \(levels: 'a', 'b'\)"):
        bind('y ~ C(g, ref = "z")', data)


def test_numeric_column_is_numeric_and_text_is_categorical():
    ctx = Context(as_frame({"n": [1, 2], "s": ["1", "2"], "o": pd.Series([1, 2], dtype=object)}))
    from formulang.ir import Column

    assert ctx.kind(Column("n")) == "numeric"
    assert ctx.kind(Column("s")) == "categorical"
    assert ctx.kind(Column("o")) == "categorical"


def test_unsupported_dtype():
    data = {"y": [1.0, 2.0], "d": pd.to_datetime(["2020-01-01", "2020-01-02"])}
    with pytest.raises(DataError, match="column 'd' has dtype datetime64"):
        bind(parse("y ~ d"), data)
