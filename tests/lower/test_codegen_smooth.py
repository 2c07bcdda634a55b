"""``Model.code()`` of smooth terms (issue 19): the generated source's log density equals the
compiled model's (tests/test_codegen.py's ``assert_equivalent``: same sites and shapes, same
log density at random points, the reported ``s_<label>_1`` equal to formulang's) for ``s()``
(thin plate, ``by =`` a factor), ``gp()`` (approximate and exact), ``t2()`` (an SD per block), and smooths in a family parameter's formula; and
``data_from(bound)`` reads the bases from bound data."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import formulang as fl
from test_codegen import assert_equivalent, assert_readable


def _data(n: int = 60, seed: int = 7) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x = rng.uniform(0, 10, n)
    f = np.array(["a", "b", "c"])[rng.integers(0, 3, n)]
    g = np.array([f"g{i}" for i in rng.integers(0, 6, n)])
    y = np.sin(x) + rng.normal(0, 0.3, n)
    out = pd.DataFrame({"y": y, "x": x, "f": f, "g": g, "count": rng.poisson(2, n)})
    return out.assign(z=rng.uniform(0, 1, n))


@pytest.mark.parametrize("formula, family", [
    ("y ~ f + s(x, by = f, k = 5) + gp(x, k = 8) + (1 | g)", "gaussian"),
    ("y ~ x + s(x, k = 5); sigma ~ s(x, k = 5) + (1 | g)", "gaussian"),
    ("count ~ x; zi ~ gp(x, k = 6)", "zero_inflated_poisson"),
    ("y ~ t2(x, z, k = 4) + (1 | g)", "gaussian"),  # three SDs, one per penalised block
    ("y ~ gp(x) + (1 | g)", "gaussian"),  # exact GP: each row indexes its unique values
    ("y ~ gp(x); sigma ~ gp(x)", "gaussian"),  # exact, in a family parameter's formula too
])
def test_generated_source_of_smooths_is_the_model(formula, family):
    model = fl.Model(formula, _data(), family=family)
    ns = assert_equivalent(model, seeds=(0,))
    assert_readable(model.code())
    args = ns["data_from"](model.bound)
    for sm, (dpar, sd) in zip(model.plan.smooths, _smooths(model.bound)):
        assert args[sm.sites.basis].shape == (60, 1 if sm.exact else sm.k)
        np.testing.assert_array_equal(args[sm.sites.basis], sd.Z)


def _smooths(bound):
    out = [("", sd) for sd in bound.smooths]
    for name, sub in bound.dpars:
        out += [(name, sd) for sd in sub.smooths]
    return out


def test_the_graph_shows_each_smooths_basis_sd_and_coefficients():
    model = fl.Model("y ~ s(x, k = 5) + gp(x, k = 6); sigma ~ s(x, k = 5)", _data())
    g = model.graph()
    assert g.node("Zs_sx").kind == "data" and g.node("Zs_sx").shape == "60 × 3"
    assert g.parents("s_sx_1") == ("sds_sx_1",)
    assert g.parents("sds_sx_1") == ("prior_sds_sx_1",)
    assert "sds[sx] ~ half_student_t" in g.node("prior_sds_sx_1").label
    assert {"s_sx_1", "Zs_sx", "sdgp_gpx", "lscale_gpx", "zgp_gpx", "Xgp_gpx"} <= \
        set(g.parents("eta"))
    assert g.node("lscale_gpx").kind == "hyperparameter"
    assert "prior_lscale_gpx" in g.parents("lscale_gpx")
    # the sigma formula's smooth feeds sigma, not eta
    assert {"s_sigma_sx_1", "Zs_sigma_sx"} <= set(g.parents("sigma"))
    assert "s_sigma_sx_1" not in g.parents("eta")
    assert "sds_sigma[sx] ~ half_student_t(3, 2.5)" in g.node("prior_sds_sigma_sx_1").label
    assert "Zs_sigma_sx s_sigma_sx_1" in g.node("sigma").label
    assert g.to_dot().startswith("digraph model {")


def test_the_graph_of_a_t2_gives_its_coefficients_an_sd_per_block():
    g = fl.Model("y ~ t2(x, z, k = 4)", _data()).graph()
    assert g.parents("s_t2xz") == ("sds_t2xz",)
    assert "s_t2xz = sds_t2xz[block] zs_t2xz" in g.node("s_t2xz").label
    assert {"s_t2xz", "Zs_t2xz"} <= set(g.parents("eta"))


def test_the_graph_of_an_exact_gp_indexes_its_unique_values():
    data = _data().assign(x=lambda d: np.round(d.x, 0))  # 11 unique values of 60 rows
    g = fl.Model("y ~ gp(x)", data).graph()
    assert g.node("Jgp_gpx").kind == "data" and g.node("Jgp_gpx").shape == "60 × 1"
    assert g.node("zgp_gpx").shape == "11"
    assert "over its 11 unique values (exact GP)" in g.node("zgp_gpx").label
    assert {"sdgp_gpx", "lscale_gpx", "zgp_gpx", "Jgp_gpx"} <= set(g.parents("eta"))
    assert "(sdgp_gpx chol(C(lscale_gpx)) zgp_gpx)[Jgp_gpx]" in g.node("eta").label
