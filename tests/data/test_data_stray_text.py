"""A column of numbers with a few stray text cells (issue 21, item 1): read as text, it would
silently become a categorical with one coefficient per distinct number. bind() refuses it,
naming the cells; C(x) and factor(x) keep a categorical on purpose."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pytest

from formulang import DataError
from formulang.data import bind
from formulang.data.evaluate import FEW_STRAY, MOSTLY_NUMBERS, stray_text


def typo_csv(stray: str, at: int = 17, n: int = 60) -> pd.DataFrame:
    """y and x as numbers, x with one stray cell, read as pandas reads a CSV file."""
    rng = np.random.default_rng(0)
    x = [f"{v:.3f}" for v in rng.normal(size=n)]
    x[at] = stray
    text = "y,x,g\n" + "\n".join(f"{a:.4f},{b},g{i % 5}"
                                 for i, (a, b) in enumerate(zip(rng.normal(size=n), x)))
    return pd.read_csv(io.StringIO(text))


@pytest.mark.parametrize("stray", ["1.2x", "<0.5", "?"])
@pytest.mark.parametrize("formula", ["y ~ x", "y ~ 1 + x + (1 | g)", "y ~ g:x",
                                     "y ~ 1 + (1 + x | g)"])
def test_a_stray_text_cell_is_refused_naming_the_cell(stray, formula):
    df = typo_csv(stray)
    assert not pd.api.types.is_numeric_dtype(df["x"])  # pandas read x as text
    with pytest.raises(DataError) as err:
        bind(formula, df)
    message = str(err.value)
    assert "column 'x' is mostly numbers" in message
    assert f"1 of 60 cells are not: row position 17: {stray!r}" in message
    assert "C(x)" in message and "factor(x)" in message


def test_every_stray_cell_is_counted_and_the_first_ones_shown():
    df = typo_csv("?")
    df.loc[[3, 8, 20, 31, 44], "x"] = ["a", "b", "c", "d", "e"]
    with pytest.raises(DataError, match=r"6 of 60 cells are not: row position 3: 'a', "
                                        r"row position 8: 'b', row position 17: '\?', row "
                                        r"position 20: 'c', row position 31: 'd' and 1 more"):
        bind("y ~ x", df)


def test_row_positions_are_input_rows_after_missing_values_are_dropped():
    df = typo_csv("1.2x", at=17)
    df.loc[2, "y"] = np.nan  # dropped: the stray cell is still named by its input row
    with pytest.warns(UserWarning, match="dropped 1"):
        with pytest.raises(DataError, match="row position 17: '1.2x'"):
            bind("y ~ x", df)


@pytest.mark.parametrize("formula", ["y ~ C(x)", "y ~ factor(x)", "y ~ as.factor(x)"])
def test_a_categorical_on_purpose_still_binds(formula):
    b = bind(formula, typo_csv("1.2x"))
    assert b.X.shape == (60, 60)  # intercept + 59 contrasts: what the user asked for


def test_text_columns_that_are_not_mostly_numbers_stay_categorical():
    # codes and words, numbers not the majority: a categorical
    df = pd.DataFrame({"y": np.arange(6.0), "x": ["1", "2", "3", "a", "b", "c"]})
    assert bind("y ~ x", df).X.shape == (6, 6)
    # all numbers as text (e.g. IDs written as strings): a categorical, as before
    df = pd.DataFrame({"y": np.arange(4.0), "x": ["1", "2", "1", "3"]})
    assert bind("y ~ x", df).X_columns == ("Intercept", "x2", "x3")
    # a pandas Categorical is categorical on purpose, whatever its categories look like
    df = pd.DataFrame({"y": np.arange(11.0),
                       "x": pd.Categorical([str(i) for i in range(10)] + ["?"])})
    assert bind("y ~ x", df).X.shape == (11, 11)


def test_the_rule_is_the_share_of_number_cells_or_a_few_stray_ones():
    n = 100
    cells = [str(i) for i in range(n)]
    share = int(n * MOSTLY_NUMBERS)
    just = cells[:share] + ["x"] * (n - share)  # 90 numbers, 10 text cells
    assert stray_text(pd.Series(just)).tolist() == list(range(share, n))
    below = cells[:share - 1] + ["x"] * (n - share + 1)  # 89 and 11: a categorical
    assert stray_text(pd.Series(below)) is None
    # a few stray cells count in a short column too, while numbers are the majority
    few = cells[:FEW_STRAY + 1] + ["x"] * FEW_STRAY
    assert stray_text(pd.Series(few)).tolist() == list(range(FEW_STRAY + 1, 2 * FEW_STRAY + 1))
    assert stray_text(pd.Series(cells[:FEW_STRAY] + ["x"] * FEW_STRAY)) is None
    assert stray_text(pd.Series(cells[:FEW_STRAY + 2] + ["x"] * (FEW_STRAY + 1))) is None
    # missing cells do not count either way
    assert stray_text(pd.Series(cells[:9] + [None] * 5 + ["x"], dtype=object)).tolist() == [14]
    assert stray_text(pd.Series(cells)) is None  # all numbers: nothing stray
    assert stray_text(pd.Series(np.arange(5.0))) is None  # numbers already


def test_a_numeric_use_names_the_cells_too():
    df = typo_csv("<0.5", at=5)
    with pytest.raises(DataError, match=r"column 'x' is text, not numbers.*1 of 60 cells are "
                                        r"not numbers: row position 5: '<0.5'.*C\(x\)"):
        bind("y ~ log(x)", df)


def test_a_stray_cell_in_the_response_is_named():
    df = typo_csv("?", at=9).rename(columns={"x": "z", "y": "x"}).rename(columns={"z": "y"})
    with pytest.raises(DataError, match=r"response y must be numeric.*1 of 60 cells are not "
                                        r"numbers: row position 9: '\?'"):
        bind("y ~ x", df)


def test_new_data_with_a_stray_cell_names_it():
    df = typo_csv("1.0", at=0)
    b = bind("y ~ x", df)
    new = pd.DataFrame({"x": ["0.5", "1.5x", "2"]})
    with pytest.raises(DataError, match=r"row position 1: '1.5x'"):
        b.apply(new)
    # every cell a number, the column text: said so, not "0 of 2 cells are not numbers: "
    with pytest.raises(DataError, match=r"column 'x' is text.*\(its cells are numbers "
                                        r"written as text\); use C\(x\)"):
        b.apply(pd.DataFrame({"x": ["0", "1"]}))
