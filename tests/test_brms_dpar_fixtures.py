"""The brms reference fits for issue 17 (tests/fixtures/brms_dpar, made by its make.R) are whole
and named as brms names them, so the agreement tests built on them can trust their layout.

Nothing here imports formulang or needs R: it reads each JSON and its CSV and checks keys,
finite numbers, parameter names, priors, LOO and the predictions.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

FOLDER = Path(__file__).parent / "fixtures" / "brms_dpar"

# model -> (formula as formulang writes it, family, brms's names of its parameters)
MODELS = {
    "hetero_gaussian": ("y ~ x + (1 | g); sigma ~ x", "gaussian",
                        {"b_Intercept", "b_x", "b_sigma_Intercept", "b_sigma_x",
                         "sd_g__Intercept"}),
    "zip_zi_x": ("y ~ x; zi ~ x", "zero_inflated_poisson",
                 {"b_Intercept", "b_x", "b_zi_Intercept", "b_zi_x"}),
    "zip_group": ("y ~ x + (1 | g)", "zero_inflated_poisson",
                  {"b_Intercept", "b_x", "sd_g__Intercept", "zi"}),
    "cumulative_group": ("y ~ x + (1 | g)", "cumulative",
                         {"b_Intercept[1]", "b_Intercept[2]", "b_Intercept[3]", "b_x",
                          "sd_g__Intercept"}),
    "categorical": ("y ~ x", "categorical",
                    {"b_mu2_Intercept", "b_mu2_x", "b_mu3_Intercept", "b_mu3_x"}),
    "hurdle_poisson": ("y ~ x", "hurdle_poisson", {"b_Intercept", "b_x", "hu"}),
    "cumulative_disc": ("y ~ x; disc ~ z", "cumulative",
                        {"b_Intercept[1]", "b_Intercept[2]", "b_Intercept[3]", "b_x",
                         "b_disc_Intercept", "b_disc_z"}),
}
KEYS = {"name", "formula_brms", "formula", "family", "links", "dpars", "data", "n", "levels",
        "brms_version", "rstan_version", "R_version", "chains", "iter", "warmup", "seed",
        "adapt_delta", "wall_seconds", "sampling_seconds", "divergences", "priors_set",
        "prior_summary", "posterior", "constants", "group_levels", "fixef", "loo", "epred"}
SUMMARY = {"mean", "sd", "q2.5", "q97.5", "mcse_mean", "rhat", "ess_bulk", "ess_tail"}
PRIOR = re.compile(r"^[a-z_]+\((-?[0-9.]+)(, -?[0-9.]+)*\)$")  # normal(0, 5), beta(1, 1)
CLASSES = {"Intercept", "b", "sd", "sigma", "zi", "hu", "disc"}


def load(name):
    return json.loads((FOLDER / f"{name}.json").read_text())


def finite(*values):
    return all(isinstance(v, (int, float)) and math.isfinite(v) for v in values)


def test_every_json_is_a_listed_model():
    assert {p.stem for p in FOLDER.glob("*.json")} == set(MODELS)
    assert {p.stem for p in FOLDER.glob("*.csv")} == set(MODELS)


@pytest.mark.parametrize("name", MODELS)
def test_header(name):
    fx = load(name)
    formula, family, _ = MODELS[name]
    assert set(fx) == KEYS
    assert fx["name"] == name and fx["formula"] == formula and fx["family"] == family
    # brms wrote one formula per line, in the order formulang writes them with ';'
    assert "; ".join(fx["formula_brms"]) == formula
    assert fx["brms_version"].startswith("2.18")
    assert (fx["chains"], fx["warmup"]) == (4, 1000) and fx["iter"] in {2000, 4000}
    assert fx["divergences"] == 0
    assert finite(fx["wall_seconds"], fx["sampling_seconds"])
    assert fx["links"]["mu"] in {"identity", "log", "logit"}
    # each sub-formula models a dpar with a link; categorical's mu2, mu3 share the one formula
    subs = [f.split(" ~ ")[0] for f in fx["formula_brms"][1:]]
    assert subs == [d for d in fx["dpars"] if not d.startswith("mu")]
    assert set(subs) <= set(fx["links"])


@pytest.mark.parametrize("name", MODELS)
def test_posterior_rows_are_brms_names_with_finite_summaries(name):
    fx = load(name)
    post = fx["posterior"]
    assert set(post) == MODELS[name][2]
    for par, row in {**post, **fx["group_levels"]}.items():
        assert set(row) == SUMMARY, par
        assert finite(*row.values()), par
        assert row["sd"] > 0 and row["q2.5"] < row["mean"] < row["q97.5"], par
        assert row["rhat"] < 1.01 and row["ess_bulk"] > 400 and row["ess_tail"] > 400, par
        # brms's mcse of the mean is sd / sqrt(ESS) to within the ESS estimators' spread
        assert row["mcse_mean"] == pytest.approx(row["sd"] / np.sqrt(row["ess_bulk"]), rel=0.3)
    for par in post:
        if par.startswith(("sd_", "sigma")):
            assert post[par]["q2.5"] > 0
        if par in {"zi", "hu"}:
            assert 0 < post[par]["q2.5"] < post[par]["q97.5"] < 1
    # cumulative's disc is fixed at 1 and kept apart unless predicted (disc ~ z); every other
    # model samples everything
    fixed = fx["family"] == "cumulative" and "disc" not in fx["dpars"]
    assert fx["constants"] == ({"disc": 1} if fixed else {})
    if fx["family"] == "cumulative":
        means = [post[f"b_Intercept[{k}]"]["mean"] for k in (1, 2, 3)]
        assert means == sorted(means)


@pytest.mark.parametrize("name", MODELS)
def test_fixef_is_the_posterior_of_b(name):
    fx = load(name)
    for coef, row in fx["fixef"].items():
        post = fx["posterior"][f"b_{coef}"]  # Intercept[1] -> b_Intercept[1], sigma_x -> b_sigma_x
        assert row["Estimate"] == pytest.approx(post["mean"], rel=1e-9)
        assert row["Q2.5"] == pytest.approx(post["q2.5"], rel=1e-9)
    assert {f"b_{c}" for c in fx["fixef"]} == {p for p in fx["posterior"] if p.startswith("b_")}


@pytest.mark.parametrize("name", MODELS)
def test_group_levels_name_every_level_of_the_data(name):
    fx = load(name)
    data = pd.read_csv(FOLDER / fx["data"])
    want = ({f"r_g[{lev},Intercept]" for lev in data["g"].unique()} if "g" in data else set())
    assert set(fx["group_levels"]) == want


@pytest.mark.parametrize("name", MODELS)
def test_data(name):
    fx = load(name)
    data = pd.read_csv(FOLDER / fx["data"])
    assert len(data) == fx["n"] and 200 <= fx["n"] <= 500
    assert not data.isna().any().any()
    assert list(data.columns[:2]) == ["y", "x"]
    if fx["family"] in {"cumulative", "categorical"}:
        assert [str(v) for v in sorted(data["y"].unique())] == fx["levels"]
    else:
        assert fx["levels"] is None
    if fx["family"] != "gaussian":
        assert (data["y"] >= 0).all() and (data["y"] == data["y"].round()).all()
    if fx["family"].startswith(("zero_inflated", "hurdle")):
        assert (data["y"] == 0).mean() > 0.2  # the zero process matters


@pytest.mark.parametrize("name", MODELS)
def test_priors(name):
    fx = load(name)
    dpars = set(fx["dpars"]) | {""}
    for p in fx["priors_set"]:
        assert PRIOR.match(p["prior"]), p
        assert p["class"] in CLASSES and p["dpar"] in dpars, p
    summary = fx["prior_summary"]
    for row in summary:
        assert {"prior", "class", "coef", "group", "dpar", "source"} <= set(row)
        assert row["source"] in {"user", "default", "vectorized"}
    # every prior set reaches brms's summary as a user prior, and brms added no other
    key = ("prior", "class", "coef", "group", "dpar")
    user = {tuple(r[k] for k in key) for r in summary if r["source"] == "user"}
    assert user == {tuple(p[k] for k in key) for p in fx["priors_set"]}
    # and no parameter was left on a default prior other than an inherited (empty) one
    assert all(r["prior"] == "" for r in summary if r["source"] != "user")


@pytest.mark.parametrize("name", MODELS)
def test_loo(name):
    loo = load(name)["loo"]
    for k in ("elpd_loo", "p_loo", "looic"):
        assert set(loo[k]) == {"Estimate", "SE"} and finite(*loo[k].values())
    assert loo["looic"]["Estimate"] == pytest.approx(-2 * loo["elpd_loo"]["Estimate"])
    assert 0 < loo["p_loo"]["Estimate"] < 40
    # PSIS is reliable for every row, so elpd_loo is comparable across samplers
    assert loo["pareto_k_max"] < 0.7 and loo["pareto_k_over_0.7"] == 0


@pytest.mark.parametrize("name", MODELS)
def test_epred(name):
    fx = load(name)
    ep = fx["epred"]
    assert ep["x"] == [-1, 0, 1]
    assert set(ep) == {"x", "mean", *fx["dpars"]}
    for key in ("mean", *fx["dpars"]):
        assert len(ep[key]) == 3
        for row in ep[key]:
            rows = row.values() if fx["levels"] and key == "mean" else [row]
            for r in rows:
                assert set(r) == {"mean", "sd", "q2.5", "q97.5", "mcse_mean", "ess_bulk"}
                assert finite(*r.values()) and r["q2.5"] <= r["mean"] <= r["q97.5"]
            if fx["levels"] and key == "mean":  # category probabilities
                assert list(row) == fx["levels"]
                assert sum(r["mean"] for r in row.values()) == pytest.approx(1)
    # at x = 0 a dpar's prediction is its intercept through its link (categorical: no link)
    post = fx["posterior"]
    inverse = {"identity": lambda v: v, "log": np.exp, "logit": lambda v: 1 / (1 + np.exp(-v))}
    for d in fx["dpars"]:
        link = "identity" if d.startswith("mu") else fx["links"][d]
        draws_mean = ep[d][1]["mean"]
        if link == "identity":
            assert draws_mean == pytest.approx(post[f"b_{d}_Intercept"]["mean"], rel=1e-9)
        else:  # E[f(eta)] != f(E[eta]): agree within the posterior's spread
            centre = inverse[link](post[f"b_{d}_Intercept"]["mean"])
            assert abs(draws_mean - centre) < ep[d][1]["sd"]
