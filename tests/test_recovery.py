"""A response the family cannot produce (a poisson count of -1...) is a ``DataError`` naming
the rows, numbered as in the user's data.

Parameter recovery itself, every family fitted to replicated simulated data with a binomial
acceptance band on 90%-interval coverage, is ``tests/test_simulate.py`` (it replaced the
one-dataset-per-family fits that were here).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import formulang as fl
from formulang import DataError

# ---- response support --------------------------------------------------------------------------


def _data(y, **extra) -> pd.DataFrame:
    n = len(y)
    return pd.DataFrame({"y": y, "x": np.linspace(0.0, 1.0, n),
                         "g": ["a", "b"] * (n // 2) + ["a"] * (n % 2), **extra})


@pytest.mark.parametrize("family, y, bad", [
    ("poisson", [1, 0, 3, -1, 2, 2.5, 4, 1], ["row position 3 (-1)", "row position 5 (2.5)"]),
    ("negative_binomial", [1, 0, 3, 1.5, 2, 2, 4, 1], ["row position 3 (1.5)"]),
    ("bernoulli", [1, 0, 2, 1, 0, 1, 0, 1], ["row position 2 (2)"]),
    ("gamma", [1.0, 0.5, 0.0, 2.0, -1.0, 1.0, 3.0, 1.0], ["row position 2 (0)", "row position 4 (-1)"]),
    ("lognormal", [1.0, 0.5, 2.0, 2.0, 1.0, -0.5, 3.0, 1.0], ["row position 5 (-0.5)"]),
    ("beta", [0.2, 0.5, 1.0, 0.3, 0.0, 0.4, 0.9, 0.1], ["row position 2 (1)", "row position 4 (0)"]),
    ("exponential", [1.0, 0.5, 2.0, 0.0, 1.0, 1.5, 3.0, 1.0], ["row position 3 (0)"]),
    ("weibull", [1.0, 0.5, 2.0, 2.0, -2.0, 1.5, 3.0, 1.0], ["row position 4 (-2)"]),
])
def test_response_outside_the_family_support_names_rows(family, y, bad):
    with pytest.raises(DataError) as info:
        fl.Model("y ~ x + (1 | g)", _data(y), family=family)
    message = str(info.value)
    assert family in message
    for text in bad:
        assert text in message


def test_binomial_successes_above_trials_name_rows():
    data = _data([1, 2, 7, 0, 3, 1, 2, 2], n=[5] * 8)
    with pytest.raises(DataError, match=r"exceed trials \(n\) at row position 2\b"):
        fl.Model("y | trials(n) ~ x + (1 | g)", data)


def test_rows_are_numbered_as_in_the_users_data():
    # row 1 has a missing x and is dropped: the bad count is still "row 5" of the input
    y = [1, 0, 3, 1, 2, -2, 4, 1]
    data = _data(y)
    data.loc[1, "x"] = np.nan
    with pytest.warns(fl.MissingValuesWarning):
        with pytest.raises(DataError, match=r"row position 5 \(-2\)"):
            fl.Model("y ~ x + (1 | g)", data, family="poisson")
