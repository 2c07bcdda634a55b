"""Input normalisation (formulang.data.frame): accepted inputs, unknown columns, missing values,
and the promise that the input is never modified."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from formulang import DataError
from formulang.data import MissingValuesWarning, bind
from formulang.data.frame import as_frame, require_columns


def _frame():
    return pd.DataFrame({
        "y": [1.0, 2.0, 3.5, 4.0, 2.5, 6.0],
        "x": [0.5, 1.0, 1.5, 2.0, 3.0, 2.5],
        "g": ["a", "b", "a", "c", "b", "c"],
    })


FORMULA = "y ~ x + g + (1 | g)"


class _ToPandas:
    """Stands in for a polars or pyarrow table: only to_pandas()."""

    def __init__(self, df):
        self._df = df

    def to_pandas(self):
        return self._df.copy()


@pytest.mark.parametrize("convert", [
    lambda df: df,
    lambda df: {k: df[k].tolist() for k in df},
    lambda df: {k: df[k].to_numpy() for k in df},
    lambda df: {k: df[k] for k in df},
    lambda df: _ToPandas(df),
], ids=["DataFrame", "dict of lists", "dict of arrays", "dict of Series", "to_pandas"])
def test_inputs_bind_alike(convert):
    expected = bind(FORMULA, _frame())
    got = bind(FORMULA, convert(_frame()))
    np.testing.assert_array_equal(got.X, expected.X)
    assert got.X_columns == expected.X_columns
    np.testing.assert_array_equal(got.y, expected.y)
    np.testing.assert_array_equal(got.groups[0].codes, expected.groups[0].codes)
    assert got.groups[0].levels == expected.groups[0].levels


def test_dict_of_series_ignores_their_index():
    df = _frame()
    data = {"y": df["y"], "x": df["x"].set_axis(range(100, 106)), "g": df["g"]}
    np.testing.assert_array_equal(bind(FORMULA, data).X, bind(FORMULA, df).X)


def test_dict_with_categorical_values():
    data = {"y": [1.0, 2.0, 3.0, 4.0], "g": pd.Categorical(["lo", "hi", "lo", "hi"],
                                                            categories=["lo", "hi"])}
    assert bind("y ~ g", data).X_columns == ("Intercept", "ghi")


def test_columns_of_different_lengths():
    with pytest.raises(DataError, match=r"different lengths \(y: 3, x: 2\)"):
        bind("y ~ x", {"y": [1, 2, 3], "x": [1, 2]})


def test_not_a_table():
    with pytest.raises(DataError, match="DataFrame, a dict of columns"):
        bind("y ~ x", [[1, 2], [3, 4]])


def test_two_dimensional_column():
    with pytest.raises(DataError, match="'x' must be one-dimensional"):
        bind("y ~ x", {"y": np.ones(2), "x": np.ones((2, 2))})


def test_duplicated_column_names():
    df = pd.DataFrame([[1.0, 2.0, 3.0]], columns=["y", "x", "x"])
    with pytest.raises(DataError, match="duplicated column names: x"):
        bind("y ~ x", df)


def test_unknown_column_suggests_close_names():
    df = pd.DataFrame({"Reaction": [1.0, 2.0], "Days": [0, 1], "Subject": ["a", "b"]})
    with pytest.raises(DataError, match=r"column 'Dayz' .* not in the data; did you mean 'Days'\?"):
        bind("Reaction ~ Dayz", df)
    with pytest.raises(DataError, match=r"'subject' .*did you mean 'Subject'"):
        bind("Reaction ~ Days + (1 | subject)", df)


def test_unknown_column_without_close_names_lists_columns():
    with pytest.raises(DataError, match=r"'zzz' .*the data has columns 'y', 'x'"):
        require_columns(as_frame({"y": [1], "x": [2]}), ["zzz"])


def test_missing_values_dropped_with_warning():
    df = _frame()
    df.loc[1, "x"] = np.nan
    df.loc[4, "g"] = None
    df["unused"] = [np.nan] * 6  # not in the formula: ignored
    with pytest.warns(MissingValuesWarning,
                      match=r"dropped 2 of 6 rows .* x \(1 row\), g \(1 row\)"):
        b = bind(FORMULA, df)
    assert issubclass(MissingValuesWarning, UserWarning)
    assert b.n == 4
    assert b.rows.tolist() == [0, 2, 3, 5]
    np.testing.assert_array_equal(b.y, [1.0, 3.5, 4.0, 6.0])
    assert b.X_frame.index.tolist() == [0, 2, 3, 5]


@pytest.mark.parametrize("missing", [None, np.nan, pd.NA])
def test_missing_markers_in_text_columns(missing):
    df = pd.DataFrame({"y": [1.0, 2.0, 3.0, 4.0],
                       "g": pd.array(["a", "b", None, "a"], dtype=object)})
    df.loc[2, "g"] = missing
    with pytest.warns(MissingValuesWarning, match="g"):
        assert bind("y ~ g", df).n == 3


def test_missing_values_in_nullable_and_categorical_columns():
    df = pd.DataFrame({
        "y": pd.array([1, 2, None, 4, 5, 6, 7, 8], dtype="Int64"),
        "c": pd.Categorical(["a", "b", "a", None, "b", "a", "b", "b"]),
        "f": pd.array([True, False, True, True, None, True, True, False], dtype="boolean"),
    })
    with pytest.warns(MissingValuesWarning,
                      match=r"dropped 3 of 8 .*y \(1 row\), c \(1 row\), f \(1 row\)"):
        b = bind("y ~ c + f", df)
    assert b.rows.tolist() == [0, 1, 5, 6, 7]
    assert b.X_columns == ("Intercept", "cb", "fTRUE")


def test_missing_values_raise():
    df = _frame()
    df.loc[[1, 3], "x"] = np.nan
    with pytest.raises(DataError, match=r"x \(2 rows\).*row positions 1, 3"):
        bind(FORMULA, df, na_action="raise")


def test_bad_na_action():
    with pytest.raises(ValueError, match="na_action"):
        bind(FORMULA, _frame(), na_action="ignore")


def test_no_rows_left():
    df = pd.DataFrame({"y": [1.0, np.nan], "x": [np.nan, 1.0]})
    with pytest.warns(MissingValuesWarning), pytest.raises(DataError, match="no rows left"):
        bind("y ~ x", df)
    with pytest.raises(DataError, match="no rows"):
        bind("y ~ x", pd.DataFrame({"y": [], "x": []}))


def test_input_never_modified():
    df = pd.DataFrame({
        "y": [1.0, 2.0, 4.0, 3.0, np.nan, 5.0],
        "x": [1, 2, 3, 5, 4, 6],
        "z": [0.1, 0.2, 0.4, 0.3, 0.9, 0.6],
        "g": pd.Categorical(["b", "a", "b", "a", "c", "a"], categories=["c", "b", "a"]),
        "h": ["u", "v", "u", "v", "u", "w"],
        "flag": [True, False, True, False, True, True],
    })
    before = df.copy(deep=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        b = bind("y ~ scale(x) * g + log(z) + flag + offset(z) + (1 + x | h)", df)
        b.apply(df.drop(columns="y").iloc[:3])
    pd.testing.assert_frame_equal(df, before)
    assert not np.shares_memory(b.y, df["y"].to_numpy())
    assert not b.X.flags.writeable


# -- tables whose to_pandas() needs a missing package (polars without pyarrow) ---------------


class _NoPyarrow:
    """A polars-like frame: to_pandas() needs pyarrow, to_dict(as_series=False) does not."""

    def __init__(self, columns, has_to_dict=True):
        self._columns = columns
        if not has_to_dict:
            self.to_dict = None

    def to_pandas(self):
        raise ModuleNotFoundError("No module named 'pyarrow'")

    def to_dict(self, *, as_series=True):
        assert as_series is False
        return {k: list(v) for k, v in self._columns.items()}


def test_a_frame_whose_to_pandas_needs_pyarrow_is_read_by_its_columns():
    frame = as_frame(_NoPyarrow({"x": [1.0, 2.0], "g": ["a", "b"]}))
    assert frame.names == ("x", "g") and frame.get("g").tolist() == ["a", "b"]


def test_without_another_way_in_the_error_names_the_extra():
    with pytest.raises(DataError, match=r"_NoPyarrow.to_pandas\(\) needs a package that is not "
                                        r"installed \(No module named 'pyarrow'\); install it "
                                        r"with pip install 'formulang\[parquet\]'"):
        as_frame(_NoPyarrow({"x": [1.0]}, has_to_dict=False))


def test_a_real_polars_frame_binds_like_pandas():
    import polars as pl  # not a dependency of formulang, but of its test extra: never skipped
    from formulang.data import bind

    df = pl.DataFrame({"y": [1.0, 2.0, 3.0, 4.0], "x": [1.0, 2.0, 3.0, 5.0],
                       "g": ["a", "b", "a", "b"]})
    b = bind("y ~ x + (1 | g)", df)
    expected = bind("y ~ x + (1 | g)", {"y": [1.0, 2.0, 3.0, 4.0], "x": [1.0, 2.0, 3.0, 5.0],
                                        "g": ["a", "b", "a", "b"]})
    assert np.array_equal(b.X, expected.X) and b.groups[0].levels == ("a", "b")


# ---- text names a table: a shipped dataset or a file (issue 22) -------------------------------

def test_a_model_reads_a_dataset_name_or_a_file_as_the_cli_does(tmp_path):
    from pathlib import Path

    import formulang as fl

    formula = "Reaction ~ Days + (1 | Subject)"
    expected = fl.Model(formula, fl.datasets.load("sleepstudy"))
    frame = fl.datasets.load("sleepstudy")
    frame.to_csv(tmp_path / "s.csv", index=False)
    frame.astype({"Subject": str}).to_json(tmp_path / "s.json", orient="records")
    for source in ("sleepstudy", str(tmp_path / "s.csv"), tmp_path / "s.json",
                   Path(tmp_path / "s.csv")):
        m = fl.Model(formula, source)
        np.testing.assert_array_equal(m.bound.y, expected.bound.y)
        assert m.plan.groups[0].levels == expected.plan.groups[0].levels
        assert isinstance(m._frame, pd.DataFrame)  # read once: kfold and simulate reuse it
    with pytest.raises(fl.FormulangError, match=r"no dataset or file named 'sleepstdy' "
                                                r"\(did you mean 'sleepstudy'\?\); shipped "
                                                r"datasets: radon, sleepstudy"):
        fl.Model(formula, "sleepstdy")
    with pytest.raises(fl.FormulangError, match="no dataset or file named 'zz.csv'; shipped"):
        fl.Model(formula, "zz.csv")
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(fl.FormulangError, match="cannot read .*bad.json' as a JSON table"):
        fl.Model(formula, str(tmp_path / "bad.json"))
    with pytest.raises(fl.FormulangError, match="is a folder: name a CSV, Parquet or JSON"):
        fl.Model(formula, tmp_path)
    # fields separated by ';' (R's write.csv2): once one column named "Reaction;Days;Subject"
    frame.to_csv(tmp_path / "semi.csv", index=False, sep=";")
    m = fl.Model(formula, tmp_path / "semi.csv")
    np.testing.assert_array_equal(m.bound.y, expected.bound.y)


def test_a_parquet_file_without_an_engine_names_the_extra(tmp_path, monkeypatch):
    import formulang as fl

    def no_engine(*args, **kwargs):
        raise ImportError("Unable to find a usable engine; tried using: 'pyarrow'")

    monkeypatch.setattr(pd, "read_parquet", no_engine)
    (tmp_path / "d.parquet").write_bytes(b"PAR1")
    with pytest.raises(fl.FormulangError, match=r"Parquet files need pyarrow, which is not "
                                                r"installed; install it with pip install "
                                                r"'formulang\[parquet\]'"):
        fl.Model("y ~ x", str(tmp_path / "d.parquet"))
