"""``collapse="auto"`` and the embedded Laplace path (issue 23): chosen for many rows with
enough rows per level, sampled otherwise, and ``collapse_reason`` says which and why. Model
construction only (the pilot fit): no sampling."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

import formulang as fl
from formulang.lower.laplace_choice import AUTO_ERROR, AUTO_ROWS, level_error


def bernoulli(groups: int, n: int, sd: float, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    g = np.repeat(np.arange(groups), n)
    x = rng.normal(size=groups * n)
    eta = -0.5 + 0.5 * x + sd * rng.normal(size=groups)[g]
    return pd.DataFrame({"y": (rng.uniform(size=len(g)) < 1 / (1 + np.exp(-eta))).astype(int),
                         "x": x, "g": [f"g{i}" for i in g]})


def test_many_rows_per_level_choose_laplace():
    m = fl.Model("y ~ x + (1 | g)", bernoulli(400, 50, 0.8), family="bernoulli")
    assert m.collapsed and m.compiled.laplace
    assert "collapse='auto'" in m.collapse_reason and "20,000 rows" in m.collapse_reason
    assert "Laplace" in str(m)


def test_few_rows_per_level_are_sampled():
    m = fl.Model("y ~ x + (1 | g)", bernoulli(4000, 5, 1.5), family="bernoulli")
    assert not m.collapsed and not m.compiled.laplace
    assert "too few rows per level" in m.collapse_reason
    assert f"(> {AUTO_ERROR})" in m.collapse_reason


def test_small_data_are_sampled():
    m = fl.Model("y ~ x + (1 | g)", bernoulli(40, 50, 0.8), family="bernoulli")
    assert not m.collapsed
    assert f"only 2,000 rows, fewer than {AUTO_ROWS:,}" in m.collapse_reason
    assert "collapse='laplace'" in m.collapse_reason  # how to ask for it anyway


@pytest.mark.parametrize("options, laplace", [
    (dict(collapse="laplace"), True), (dict(collapse=False), False),
    (dict(reparam="noncentered"), False)])
def test_explicit_choices_win(options, laplace):
    """collapse='laplace' runs it on small data; collapse=False and a forced
    parameterisation sample the effects whatever the data."""
    data = bernoulli(40, 50, 0.8) if laplace else bernoulli(400, 50, 0.8)
    m = fl.Model("y ~ x + (1 | g)", data, family="bernoulli", **options)
    assert m.compiled.laplace is laplace


def test_level_error_reads_weights_over_rows():
    """The mean over levels of weight / informative rows; a level without rows counts 0; the
    largest over terms."""
    terms = [SimpleNamespace(weights=(0.5, 1.0, 0.0)), SimpleNamespace(weights=(0.9,))]
    pilot = SimpleNamespace(rows=(np.array([10, 50, 0]), np.array([3])))
    assert level_error(terms, pilot) == pytest.approx(max((0.05 + 0.02 + 0.0) / 3, 0.3))


def test_rows_that_merge_are_counted_merged():
    """20,000 rows of binary x over 50 levels merge into at most 200 distinct ones: the
    compressed full model is cheap, so 'auto' keeps it (bench_compress's models)."""
    rng = np.random.default_rng(3)
    n = 20_000
    g, x = rng.integers(0, 50, n), rng.integers(0, 2, n)
    eta = -0.5 + 0.5 * x + 0.8 * rng.normal(size=50)[g]
    data = pd.DataFrame({"y": (rng.uniform(size=n) < 1 / (1 + np.exp(-eta))).astype(int),
                         "x": x, "g": g.astype(str)})
    m = fl.Model("y ~ x + (1 | g)", data, family="bernoulli")
    assert not m.collapsed and m.compression is not None
    assert "20,000 merged exactly into" in m.collapse_reason
    # print(model): one pair of parentheses, "sampled" said once
    line = next(line for line in str(m).splitlines() if line.startswith("Group effects"))
    assert line.startswith("Group effects: sampled (collapse='laplace' integrates them out")
    assert line.count("(") == 1 and line.count("sampled") == 1
