"""brms's flat names of basis columns (``b_polyx21``, ``b_bsxdfEQ41``...) against brms's own
(tests/fixtures/r_smooths/brms_basis_names.json: ``colnames(make_standata(...)$X)``, made by
make_t2.R); formulang's display names keep R's column names."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import formulang as fl
from formulang.data import bind
from formulang.lower.sites import all_groups, b_name, flat_effects, flat_parameters, parse_flat

NAMES = json.loads((Path(__file__).parent.parent / "fixtures" / "r_smooths" /
                    "brms_basis_names.json").read_text())
RNG = np.random.default_rng(5)
DATA = pd.DataFrame({"y": RNG.normal(size=40), "x": RNG.uniform(0.05, 0.95, size=40),
                     "t": RNG.uniform(size=40), "g": ["a", "b"] * 20})
# columns formulang names otherwise, on purpose (README): its other calls keep their names
# (brms: scalex, logx, IxE2); keyword arguments print in the function's order, not as written
# (brms's bs(x, degree = 2, df = 4)1 is bsxdegreeEQ2dfEQ41; ours is bs(x, df = 4, degree = 2)1)
OURS = {"y ~ scale(x)": ["b_Intercept", "b_scale(x)"], "y ~ log(x)": ["b_Intercept", "b_log(x)"],
        "y ~ I(x^2)": ["b_Intercept", "b_I(x^2)"],
        "y ~ bs(x, degree = 2, df = 4)": ["b_Intercept"] + [f"b_bsxdfEQ4degreeEQ2{j}"
                                                            for j in range(1, 5)]}


def _b_names(formula: str) -> list[str]:
    """The flat names of the design's columns (brms's Intercept: ours is ``b_Intercept`` too)."""
    return [b_name(c) for c in bind(formula, DATA).X_columns]


@pytest.mark.parametrize("case", NAMES, ids=[c["formula"] for c in NAMES])
def test_basis_columns_have_brms_flat_names(case):
    theirs = ["b_" + c for c in case["columns"]]
    assert _b_names(case["formula"]) == OURS.get(case["formula"], theirs)


def test_display_names_keep_r_column_names():
    model = fl.Model("y ~ poly(x, 2) + bs(t, df = 3):g", DATA)
    flats = [p for p in flat_parameters(model.plan) if p.kind == "b"]
    assert [p.short for p in flats][1:3] == ["poly(x, 2)1", "poly(x, 2)2"]
    assert list(model.plan.columns)[1:3] == ["poly(x, 2)1", "poly(x, 2)2"]
    assert parse_flat("b_polyx22", model.plan).entries == ("poly(x, 2)2",)
    assert parse_flat("b_bstdfEQ33:gb", model.plan).entries == ("bs(t, df = 3)3:gb",)


def test_basis_columns_in_a_group_term_have_brms_flat_names():
    model = fl.Model("y ~ x + (poly(x, 2) | g)", DATA)
    names = [p.name for p in flat_parameters(model.plan)]
    assert names[:6] == ["sd_g__Intercept", "sd_g__polyx21", "sd_g__polyx22",
                         "cor_g__Intercept__polyx21", "cor_g__Intercept__polyx22",
                         "cor_g__polyx21__polyx22"]
    (g,) = all_groups(model.plan)
    assert flat_effects(g)[:3] == ["r_g[a,Intercept]", "r_g[a,polyx21]", "r_g[a,polyx22]"]
    assert parse_flat("r_g[b,polyx22]", model.plan).entries == ("b", "poly(x, 2)2")
