"""The frozen, JSON-serialisable encoding spec (formulang.data.spec)."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pandas as pd
import pytest

from formulang import DataError
from formulang.data import DataSpec, apply_spec, bind

FORMULA = "y ~ scale(x) * g + C(n, ref = 3) + log(z) + (1 + x || h) + (1 | g:h) + offset(z)"


@pytest.fixture(scope="module")
def train():
    rng = np.random.default_rng(7)
    n = 40
    return pd.DataFrame({
        "y": rng.normal(size=n),
        "x": rng.normal(size=n),
        "z": rng.uniform(1, 2, size=n),
        "n": rng.integers(1, 4, size=n),
        "g": pd.Categorical(rng.choice(["lo", "mid", "hi"], n), categories=["lo", "mid", "hi"]),
        "h": rng.choice(["u", "v", "w", "t"], n),
    })


def _plain_json(value) -> bool:
    if isinstance(value, dict):
        return all(isinstance(k, str) and _plain_json(v) for k, v in value.items())
    if isinstance(value, list):
        return all(_plain_json(v) for v in value)
    return value is None or type(value) in (str, int, float, bool)


def test_round_trip_through_json(train):
    spec = bind(FORMULA, train).spec
    d = spec.to_dict()
    assert _plain_json(d)
    again = DataSpec.from_dict(json.loads(json.dumps(d)))
    assert again == spec
    assert DataSpec.from_json(spec.to_json()) == spec
    assert hash(again) == hash(spec)


def test_spec_is_frozen(train):
    spec = bind(FORMULA, train).spec
    with pytest.raises(dataclasses.FrozenInstanceError):
        spec.na_action = "raise"


def test_spec_contents(train):
    spec = bind(FORMULA, train).spec
    assert spec.variable("g").levels == ("lo", "mid", "hi")
    assert spec.variable("C(n, ref = \"3\")").levels == ("3", "1", "2")
    assert spec.variable("scale(x)").kind == "numeric"
    stats = spec.transform_stats()["scale(x)"]
    assert stats.center == pytest.approx(train["x"].mean())
    assert stats.scale == pytest.approx(train["x"].std(ddof=1))
    assert [g.label for g in spec.groups] == ["h", "g:h"]
    assert spec.groups[0].blocks == ((0,), (1,))
    assert spec.fixed.columns[:4] == ("Intercept", "scale(x)", "gmid", "ghi")


def test_reloaded_spec_encodes_new_data_identically(train):
    b = bind(FORMULA, train)
    new = train.drop(columns="y").iloc[[3, 1, 4]].assign(x=[10.0, -3.0, 0.5])
    expected = b.apply(new)
    reloaded = apply_spec(DataSpec.from_json(b.spec.to_json()), new)
    np.testing.assert_array_equal(reloaded.X, expected.X)
    np.testing.assert_array_equal(reloaded.offset, expected.offset)
    for g1, g2 in zip(reloaded.groups, expected.groups):
        np.testing.assert_array_equal(g1.codes, g2.codes)
        np.testing.assert_array_equal(g1.values, g2.values)
    assert reloaded.y is None


def test_rejects_foreign_or_future_documents(train):
    d = bind("y ~ x", train).spec.to_dict()
    with pytest.raises(DataError, match="not a formulang data spec"):
        DataSpec.from_dict({**d, "schema": "other"})
    with pytest.raises(DataError, match="unsupported data spec version 99"):
        DataSpec.from_dict({**d, "version": 99})
