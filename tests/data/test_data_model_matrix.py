"""X (values and column names) equals R's model.matrix for the 22 reference formulas."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pandas as pd
import pytest

from formulang import parse
from formulang.data import RankDeficiencyWarning, bind

from bind_support import MODEL_MATRIX

CASES = json.loads((MODEL_MATRIX / "index.json").read_text())
# R's model.matrix returns these with a rank deficiency that lm() would report.
RANK_DEFICIENT = {"~ batch:cask": ["batchJ:caskc"]}


def _r_names(columns) -> list[str]:
    return ["Intercept" if c == "(Intercept)" else c for c in columns]


def test_all_reference_formulas_present():
    assert len(CASES) == 22


@pytest.mark.parametrize("case", CASES, ids=[c["file"] for c in CASES])
def test_model_matrix_matches_r(case, load):
    ref = pd.read_csv(MODEL_MATRIX / case["file"])
    data = load(case["dataset"])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        bound = bind(parse(case["formula"]), data)
    assert list(bound.X_columns) == _r_names(ref.columns)
    assert bound.X.shape == (case["rows"], len(ref.columns))
    np.testing.assert_allclose(bound.X, ref.to_numpy(dtype=float), rtol=1e-10, atol=1e-12)
    assert list(bound.X_frame.columns) == _r_names(ref.columns)

    rank = [w for w in caught if issubclass(w.category, RankDeficiencyWarning)]
    expected = RANK_DEFICIENT.get(case["formula"])
    if expected:
        assert len(rank) == 1
        for column in expected:
            assert column in str(rank[0].message)
    else:
        assert not rank, [str(w.message) for w in rank]
    assert not [w for w in caught if not issubclass(w.category, RankDeficiencyWarning)]
