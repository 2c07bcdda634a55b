"""Smooth terms in a family parameter's formula (issue 19): ``y ~ s(x); sigma ~ s(x)``,
``y ~ x; sigma ~ s(x)``, ``zi ~ s(x)``, ``phi ~ gp(x, k =)``, named as brms names them
(``sds_sigma_sx_1``, ``bs_sigma_sx_1``, ``s_sigma_sx_1[j]``), with their priors' keys
(``sds_sigma``), predictions of the parameter on new data and after save/load; and a brms fit of
``bf(y ~ s(x), sigma ~ s(x))`` on 200 simulated heteroscedastic rows
(tests/fixtures/r_smooths/brms_s_sigma.json, made by its make.R ``dpar``) agrees within Monte
Carlo error (the rule of tests/brms_agreement.py: Z = 4.5 combined standard errors).

brms's flat prior on the unpenalised coefficients (``bs_sx_1``, ``bs_sigma_sx_1``) is
``normal(0, 100)`` here (every prior is proper): against their posterior SDs of 2.5-4 it
shrinks a posterior mean by a factor ``1 - (sd / 100)^2``, under 0.2% (~0.01 against a Monte
Carlo error of ~0.1). (``normal(0, 10000)``, as tests/test_smooth_fit.py uses on mcycle's
accelerations, leaves chains stuck far out here, where y's scale is 1: the start is drawn
near the prior's centre on its scale.) Those coefficients and the penalised ones are compared
up to sign: our basis columns equal mgcv's up to their signs (tests/data/test_smooths.py)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import formulang as fl
from brms_agreement import check_draws, check_summary_row
from formulang.compiled import CompiledModel
from formulang.lower.sites import flat_parameters

FIXTURES = Path(__file__).parent / "fixtures" / "r_smooths"
CHAINS, DRAWS = 4, 500


def _data(n: int = 120, seed: int = 5) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x = rng.uniform(size=n)
    y = np.sin(2 * np.pi * x) + rng.normal(0, np.exp(-1.2 + 6 * (x - 0.5) ** 2))
    return pd.DataFrame({"x": x, "y": y})


def test_a_sigma_smooth_is_named_and_has_priors_as_brms():
    m = fl.Model("y ~ s(x); sigma ~ s(x)", _data())
    assert [(sm.label, sm.dpar, sm.sites.sd) for sm in m.plan.smooths] == [
        ("sx", "", "sds_sx_1"), ("sx", "sigma", "sds_sigma_sx_1")]
    flat = [f.name for f in flat_parameters(m.plan)]
    for name in ("bs_sx_1", "bs_sigma_sx_1", "sds_sx_1", "sds_sigma_sx_1", "s_sx_1[1]",
                 "s_sigma_sx_1[8]"):
        assert name in flat, name
    # brms's default on a family parameter's formula: student_t(3, 0, 2.5) on its link scale
    assert str(m.priors.lookup("sds", coef="sx", dpar="sigma")) == "half_student_t(3, 2.5)"
    user = fl.Model("y ~ s(x); sigma ~ s(x)", _data(), priors={"sds_sigma": "half_normal(1)"})
    assert str(user.priors.lookup("sds", coef="sx", dpar="sigma")) == "half_normal(1)"
    assert user.priors.lookup("sds", coef="sx") == m.priors.lookup("sds", coef="sx")
    with pytest.raises(fl.FormulangError, match="sds_sigma\\[sx\\]"):
        fl.Model("y ~ s(x); sigma ~ s(x)", _data(), priors={"sds_sigma[sz]": "half_normal(1)"})
    # the compiled plan keeps which formula each smooth is in
    again = CompiledModel.from_dict(json.loads(json.dumps(m.compiled.to_dict())))
    assert again.plan.smooths == m.plan.smooths


@pytest.mark.parametrize("formula, family, sites", [
    ("y ~ x; zi ~ s(x, k = 5)", "zero_inflated_poisson", {"sds_zi_sx_1", "zs_zi_sx_1"}),
    ("y ~ x; phi ~ gp(x, k = 8)", "beta", {"sdgp_phi_gpx", "lscale_phi_gpx", "zgp_phi_gpx"}),
])
def test_smooths_in_other_family_parameters_are_sampled(formula, family, sites):
    from numpyro import handlers

    from formulang.lower.numpyro_model import make_model
    from formulang.lower.plan import model_data

    d = _data()
    if family == "zero_inflated_poisson":
        d["y"] = np.random.default_rng(1).poisson(np.exp(0.5 + d["x"]))
    elif family == "beta":
        d["y"] = 1 / (1 + np.exp(-d["y"]))
    m = fl.Model(formula, d, family=family)
    assert [sm.dpar for sm in m.plan.smooths] == [formula.split("; ")[1].split(" ")[0]]
    trace = handlers.trace(handlers.seed(make_model(m.plan), 0)).get_trace(
        model_data(m.plan, m.bound))
    assert sites <= set(trace), set(trace)  # (their log density: tests/lower/test_codegen_smooth)


def _brms_priors(ref: dict) -> dict[str, str]:
    """brms's priors as our keys (class-wide rows; brms's student_t on an SD folds), its flat
    ``b`` priors as normal(0, 100) (the module's docstring)."""
    out = {"b": "normal(0, 100)", "b_sigma": "normal(0, 100)"}
    for row in ref["prior_summary"]:
        if row["prior"] and row["class"] != "b" and not row["coef"]:
            out[row["class"] + (f"_{row['dpar']}" if row["dpar"] else "")] = row["prior"]
    return out


@pytest.fixture(scope="module")
def sigma_fit():
    ref = json.loads((FIXTURES / "brms_s_sigma.json").read_text())
    data = pd.read_csv(FIXTURES / ref["data"])
    model = fl.Model("y ~ s(x); sigma ~ s(x)", data, priors=_brms_priors(ref))
    return ref, model.fit(draws=DRAWS, tune=DRAWS, chains=CHAINS, seed=3, progress=False)


def test_a_sigma_smooth_agrees_with_brms(sigma_fit):
    ref, fit = sigma_fit
    ours = fit.summary()
    # brms's names, every one: b_Intercept, b_sigma_Intercept, bs_sx_1, bs_sigma_sx_1,
    # sds_sx_1, sds_sigma_sx_1, s_sx_1[1..8], s_sigma_sx_1[1..8]
    assert set(ref["variables"]) <= set(ours.index), set(ref["variables"]) - set(ours.index)
    for name, theirs in ref["posterior"].items():
        up_to_sign = name.startswith(("bs_", "s_"))  # mgcv's columns, up to their signs
        sign = np.sign(ours.loc[name, "mean"] * theirs["mean"]) if up_to_sign else 1.0
        check_summary_row(ours, name, theirs, sign)


def test_the_mean_and_sigma_curves_agree_with_brms(sigma_fit):
    ref, fit = sigma_fit
    grid = pd.DataFrame({"x": ref["grid"]})
    mu, sigma = fit.predict(grid), fit.predict(grid, dpar="sigma")
    assert mu.shape == sigma.shape == (CHAINS * DRAWS, len(ref["grid"]))
    for i, x in enumerate(ref["grid"]):
        check_draws(f"mu at x = {x}", mu[:, i], ref["epred"][i], CHAINS)
        check_draws(f"sigma at x = {x}", sigma[:, i], ref["epred_sigma"][i], CHAINS)


def test_a_saved_sigma_smooth_predicts_the_same(sigma_fit, tmp_path):
    _, fit = sigma_fit
    new = pd.DataFrame({"x": [0.0, 0.33, 0.9]})
    fit.save(tmp_path / "s.nc")
    again = fl.load(tmp_path / "s.nc")
    for dpar in (None, "sigma"):
        np.testing.assert_allclose(again.predict(new, dpar=dpar), fit.predict(new, dpar=dpar),
                                   rtol=1e-10)
    assert list(again.summary().index) == list(fit.summary().index)
    # the file keeps the training rows of every formula: in-sample predictions too
    for dpar in (None, "sigma"):
        np.testing.assert_allclose(again.predict(dpar=dpar), fit.predict(dpar=dpar),
                                   rtol=1e-10)
    np.testing.assert_allclose(again.predict(kind="response", seed=4),
                               fit.predict(kind="response", seed=4), rtol=1e-10)
