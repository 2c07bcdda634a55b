"""Design matrix filling and rank checks (formulang.data.design)."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from formulang.data import RankDeficiencyWarning, bind
from formulang.data.design import dependent_columns


def test_independent_columns():
    rng = np.random.default_rng(0)
    assert dependent_columns(rng.normal(size=(50, 5))) == []


def test_exact_dependencies_are_named_in_order():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(40, 3))
    X = np.column_stack([X, X[:, 0] + 2 * X[:, 1], np.zeros(40), X[:, 2]])
    assert dependent_columns(X) == [3, 4, 5]


def test_near_dependency_uses_r_tolerance():
    rng = np.random.default_rng(2)
    x = rng.normal(size=100)
    noise = rng.normal(size=100)
    assert dependent_columns(np.column_stack([x, x + 1e-10 * noise])) == [1]
    assert dependent_columns(np.column_stack([x, x + 1e-4 * noise])) == []


def test_blocked_qr_on_many_rows():
    rng = np.random.default_rng(3)
    n = 300_000  # several blocks
    a = rng.normal(size=n)
    X = np.column_stack([np.ones(n), a, 3 * a - 1, rng.normal(size=n)])
    assert dependent_columns(X) == [2]


def test_more_columns_than_rows():
    rng = np.random.default_rng(4)
    assert dependent_columns(rng.normal(size=(3, 5))) == [3, 4]


def test_rank_warning_names_columns():
    data = pd.DataFrame({"y": np.arange(6.0), "x": [1.0, 2, 3, 4, 5, 6],
                         "z": [2.0, 4, 6, 8, 10, 12], "g": list("aabbcc")})
    with pytest.warns(RankDeficiencyWarning, match=r"rank 2 of 3 columns\): z is a linear"):
        b = bind("y ~ x + z", data)
    assert b.X.shape == (6, 3)  # kept, as R's model.matrix
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        bind("y ~ x + g", data)


def test_x_is_one_float64_array_and_frame_shares_it():
    data = pd.DataFrame({"y": np.arange(4.0), "x": [1, 2, 3, 4], "g": list("abab")})
    b = bind("y ~ x * g", data)
    assert b.X.dtype == np.float64 and b.X.flags.c_contiguous and not b.X.flags.writeable
    frame = b.X_frame
    assert list(frame.columns) == ["Intercept", "x", "gb", "x:gb"]
    assert np.shares_memory(frame.to_numpy(), b.X)
    np.testing.assert_array_equal(frame["x:gb"], [0, 2, 0, 4])
