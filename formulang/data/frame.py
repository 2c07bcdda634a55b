"""Input normalisation: any table-like input becomes a :class:`Frame` of named columns.

Accepted inputs: a pandas ``DataFrame``; a mapping of column name to array, list or pandas
``Series``; anything with a ``to_pandas()`` method (polars, pyarrow tables), which is called
without importing those libraries. Polars' ``to_pandas()`` needs pyarrow; without it a polars
frame is read through ``to_dict(as_series=False)``. The input is never modified: columns are read, and a
column is copied only when rows with missing values are dropped.

Row numbers in error messages are 0-based positions in the input, whatever its index.

A text names a table instead (:func:`load_data`, as ``Model(formula, "radon")`` and the
command line's ``--data`` read it): a shipped dataset, or a CSV, Parquet or JSON file.

>>> import pandas as pd
>>> frame = as_frame({"x": [1.0, 2.0, None], "g": ["a", "b", "a"]})
>>> frame.n, frame.names
(3, ('x', 'g'))
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import DataError, FormulangError
from ..phrasing import option
from .notices import MissingValuesWarning, tell

NA_ACTIONS = ("drop", "raise")


@dataclass(frozen=True, eq=False)
class Frame:
    """Named columns of equal length, optionally restricted to a subset of rows.

    ``rows`` holds the input positions of the rows kept (``None``: all of them, in order).
    :meth:`get` returns a column restricted to those rows.
    """

    series: Mapping[str, pd.Series]
    n_input: int
    rows: np.ndarray | None = None
    _cache: dict = field(default_factory=dict, repr=False, compare=False)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self.series)

    @property
    def n(self) -> int:
        return self.n_input if self.rows is None else len(self.rows)

    @property
    def positions(self) -> np.ndarray:
        """Input positions of the rows in this frame."""
        if self.rows is None:
            return np.arange(self.n_input)
        return self.rows

    def position(self, i: int) -> int:
        """The input position of row ``i`` of this frame (for messages)."""
        return int(i if self.rows is None else self.rows[i])

    def get(self, name: str) -> pd.Series:
        """Column ``name`` restricted to the kept rows (with a fresh 0..n-1 index)."""
        if name not in self._cache:
            s = self.series[name]
            if self.rows is not None:
                s = s.take(self.rows)
            self._cache[name] = s.reset_index(drop=True)
        return self._cache[name]

    def subset(self, rows: np.ndarray | None) -> "Frame":
        """This frame restricted to input positions ``rows`` (``None``: unchanged)."""
        if rows is None:
            return self
        return Frame(self.series, self.n_input, np.asarray(rows, dtype=np.intp))


def as_frame(data) -> Frame:
    """Normalise ``data`` into a :class:`Frame`; raise :class:`DataError` if it is not a table."""
    if isinstance(data, Frame):
        return data
    if isinstance(data, pd.DataFrame):
        return _from_dataframe(data)
    if isinstance(data, Mapping):
        return _from_mapping(data)
    to_pandas = getattr(data, "to_pandas", None)
    if callable(to_pandas):
        try:
            converted = to_pandas()
        except ImportError as exc:  # polars' to_pandas() needs pyarrow
            return _without_to_pandas(data, exc)
        if isinstance(converted, pd.Series):
            converted = converted.to_frame()
        if not isinstance(converted, pd.DataFrame):
            raise DataError(f"{type(data).__name__}.to_pandas() returned "
                            f"{type(converted).__name__}, not a pandas DataFrame")
        return _from_dataframe(converted)
    raise DataError(f"data must be a pandas DataFrame, a dict of columns, or have a to_pandas() "
                    f"method; got {type(data).__name__}")


PARQUET_EXTRA = "formulang[parquet]"  # pyarrow: Parquet files, and polars' to_pandas()


def _without_to_pandas(data, exc: ImportError) -> Frame:
    """A table whose ``to_pandas()`` lacks a package: its columns as lists (polars'
    ``to_dict(as_series=False)``), or an error naming what to install."""
    to_dict = getattr(data, "to_dict", None)
    if callable(to_dict):
        try:
            columns = to_dict(as_series=False)
        except (TypeError, ValueError, ImportError):
            columns = None
        if isinstance(columns, Mapping):
            return _from_mapping(columns)
    raise DataError(f"{type(data).__name__}.to_pandas() needs a package that is not installed "
                    f"({exc}); install it with pip install '{PARQUET_EXTRA}' (pyarrow), or pass "
                    f"a pandas DataFrame or a dict of columns")


TABLE_FORMATS = {".parquet": "Parquet", ".pq": "Parquet", ".json": "JSON"}  # else CSV


def read_table(source) -> pd.DataFrame:
    """A CSV, Parquet (``.parquet``, ``.pq``) or JSON (``.json``: records, or columns) file
    as a DataFrame; unreadable files are a FormulangError.

    >>> read_table("no/such.csv")
    Traceback (most recent call last):
    formulang.errors.FormulangError: no file named 'no/such.csv'
    """
    path = Path(source).expanduser()
    if path.is_dir():
        raise FormulangError(f"{str(source)!r} is a folder: name a CSV, Parquet or JSON file")
    if not path.is_file():
        raise FormulangError(f"no file named {str(source)!r}")
    kind = TABLE_FORMATS.get(path.suffix.lower(), "CSV")
    read = {"Parquet": pd.read_parquet, "JSON": pd.read_json, "CSV": pd.read_csv}[kind]
    try:
        table = read(path)
        if kind == "CSV" and table.shape[1] == 1 and ";" in str(table.columns[0]):
            # one column named "a;b;c": written with ';' between fields (a decimal comma's
            # locale, R's write.csv2); its decimal commas are refused later, cell by cell
            table = pd.read_csv(path, sep=";")
        return table
    except ImportError:  # parquet without pyarrow/fastparquet
        raise FormulangError(f"cannot read {str(source)!r}: Parquet files need pyarrow, which "
                             f"is not installed; install it with pip install "
                             f"'{PARQUET_EXTRA}' (or save the table as CSV)") from None
    except (OSError, ValueError, UnicodeDecodeError) as exc:
        raise FormulangError(f"cannot read {str(source)!r} as a {kind} table: {exc}") from None


def load_data(source) -> pd.DataFrame:
    """A shipped dataset by name, or a CSV/Parquet/JSON file (:func:`read_table`): what
    ``Model(formula, "radon")``, ``Model(formula, "data.csv")`` and the command line's
    ``--data`` read. A name that is neither is an error naming the close datasets.

    >>> load_data("sleepstudy").shape
    (180, 3)
    >>> load_data("sleepstudies")
    Traceback (most recent call last):
    formulang.errors.FormulangError: no dataset or file named 'sleepstudies' (did you mean
    'sleepstudy'?); shipped datasets: radon, sleepstudy, ...
    """
    from .. import datasets

    text = os.fspath(source)
    if text in datasets.names():
        return datasets.load(text)
    if not Path(text).expanduser().exists():
        close = difflib.get_close_matches(text, datasets.names(), n=2, cutoff=0.6)
        hint = f" (did you mean {' or '.join(repr(c) for c in close)}?)" if close else ""
        raise FormulangError(f"no dataset or file named {text!r}{hint}; shipped datasets: "
                             f"{', '.join(datasets.names())}")
    return read_table(text)


class _DataFrameColumns(Mapping):
    """A DataFrame's string-named columns, as a mapping that makes a Series only when asked
    (a wide frame costs nothing for the columns a formula does not use)."""

    def __init__(self, df: pd.DataFrame):
        self._df = df
        self._positions: dict[str, int] = {}
        duplicated = set()
        for i, name in enumerate(df.columns):
            if not isinstance(name, str):
                continue  # a formula can only name string columns
            if name in self._positions:
                duplicated.add(name)
            self._positions[name] = i
        if duplicated:
            raise DataError(f"the data has duplicated column names: "
                            f"{', '.join(sorted(duplicated))}")

    def __getitem__(self, name: str) -> pd.Series:
        return self._df.iloc[:, self._positions[name]]

    def __iter__(self):
        return iter(self._positions)

    def __len__(self) -> int:
        return len(self._positions)


def _from_dataframe(df: pd.DataFrame) -> Frame:
    return Frame(_DataFrameColumns(df), len(df))


def _from_mapping(data: Mapping) -> Frame:
    series: dict[str, pd.Series] = {}
    lengths: dict[str, int] = {}
    for name, values in data.items():
        if not isinstance(name, str):
            raise DataError(f"column names must be strings, got {name!r}")
        if isinstance(values, pd.Series):
            s = values.reset_index(drop=True)
        elif isinstance(values, (np.ndarray, pd.Categorical, pd.api.extensions.ExtensionArray)):
            if np.ndim(values) != 1:
                raise DataError(f"column {name!r} must be one-dimensional, "
                                f"got shape {np.shape(values)}")
            s = pd.Series(values, copy=False)
        elif isinstance(values, Sequence) and not isinstance(values, (str, bytes)):
            s = pd.Series(list(values))
        elif hasattr(values, "to_pandas") and callable(values.to_pandas):
            s = values.to_pandas()
            if not isinstance(s, pd.Series):
                s = pd.Series(np.asarray(s))
            s = s.reset_index(drop=True)
        elif hasattr(values, "__array__"):
            arr = np.asarray(values)
            if arr.ndim != 1:
                raise DataError(f"column {name!r} must be one-dimensional, got shape {arr.shape}")
            s = pd.Series(arr, copy=False)
        else:
            raise DataError(f"column {name!r} must be an array, list or Series, "
                            f"got {type(values).__name__}")
        series[name] = s
        lengths[name] = len(s)
    if len(set(lengths.values())) > 1:
        detail = ", ".join(f"{k}: {v}" for k, v in lengths.items())
        raise DataError(f"columns have different lengths ({detail})")
    n = next(iter(lengths.values())) if lengths else 0
    return Frame(series, n)


def require_columns(frame: Frame, names: Sequence[str], what: str = "the formula",
                    grouping: Sequence[str] = ()) -> None:
    """Raise :class:`DataError` for the first column in ``names`` that ``frame`` lacks; one
    of ``grouping`` (grouping factors) is said to be one.

    The message suggests the closest existing names (difflib, then case-insensitive).

    >>> try:
    ...     require_columns(as_frame({"Days": [1]}), ["Dayz"])
    ... except DataError as err:
    ...     print(err)
    column 'Dayz' used in the formula is not in the data; did you mean 'Days'?
    """
    available = frame.names
    for name in names:
        if name in frame.series:
            continue
        suggestions = difflib.get_close_matches(name, available, n=3, cutoff=0.6)
        folded = [a for a in available if a.lower() == name.lower() and a not in suggestions]
        suggestions = folded + suggestions
        message = f"column {name!r} used in {what} is not in the data"
        if name in grouping:  # new rows: each needs its level (a new one is predicted too)
            message += (f"; it is a grouping factor: give each row its level (a level the "
                        f"fit has not seen gets the {option('new_levels')} rule)")
        elif suggestions:
            message += "; did you mean " + " or ".join(repr(s) for s in suggestions[:3]) + "?"
        else:
            shown = ", ".join(repr(a) for a in available[:20])
            more = f" and {len(available) - 20} more" if len(available) > 20 else ""
            message += f"; the data has columns {shown}{more}" if available else \
                "; the data has no columns"
        raise DataError(message)


def _rows_text(positions: np.ndarray, limit: int = 5) -> str:
    shown = ", ".join(str(int(p)) for p in positions[:limit])
    return shown + (", ..." if len(positions) > limit else "")


def handle_missing(frame: Frame, names: Sequence[str], na_action: str = "drop") -> Frame:
    """Drop (with a :class:`MissingValuesWarning`) or refuse rows with a missing value.

    Missing means ``NaN``, ``None``, ``pd.NA`` or ``NaT`` in any of ``names``.
    """
    if na_action not in NA_ACTIONS:
        raise ValueError(f"na_action must be one of {NA_ACTIONS}, got {na_action!r}")
    missing = None
    counts: dict[str, int] = {}
    for name in names:
        s = frame.series[name]
        mask = _isna(s)
        count = int(mask.sum()) if mask is not None else 0
        if count:
            counts[name] = count
            missing = mask if missing is None else (missing | mask)
    if missing is None:
        return frame
    bad = np.flatnonzero(missing)
    detail = ", ".join(f"{k} ({v} row{'s' if v != 1 else ''})" for k, v in counts.items())
    if na_action == "raise":
        raise DataError(f"missing values in columns used by the formula: {detail}; "
                        f"{len(bad)} row(s) in all, at row positions {_rows_text(bad)}. "
                        f"Use {option('na_action', 'drop')} to drop them")
    kept = np.flatnonzero(~missing)
    tell(MissingValuesWarning(
        f"dropped {len(bad)} of {frame.n_input} rows with missing values in {detail}"))
    return frame.subset(kept)


def _isna(s: pd.Series) -> np.ndarray | None:
    dtype = s.dtype
    if isinstance(dtype, np.dtype):
        if dtype.kind in "iub":
            return None  # numpy ints and bools cannot be missing
        if dtype.kind == "f":
            return np.isnan(s.to_numpy())
    return s.isna().to_numpy(dtype=bool)


__all__ = ["Frame", "NA_ACTIONS", "PARQUET_EXTRA", "as_frame", "handle_missing",
           "require_columns"]
