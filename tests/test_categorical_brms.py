"""Agreement with brms 2.18 on a 3-category categorical model ``y ~ x``
(tests/fixtures/brms_dpar/categorical.json, made by make.R there: 4 chains x 1000 draws), with
the priors brms was given (``normal(0, 5)`` on each category's intercept, ``normal(0, 2)`` on
its slopes, by ``dpar``).

Both samplers target the same posterior, so their posterior means differ by Monte Carlo error
only: each must agree within 4.5 combined Monte Carlo standard errors (brms's ``mcse_mean``,
ours ``sd / sqrt(ess_bulk)``), a false alarm about 1 in 10^5 per parameter; posterior SDs
within 4.5 combined standard errors of an SD, ``sd / sqrt(2 ess)`` each. So are the category
probabilities at x = -1, 0, 1 (brms's ``posterior_epred``, K per row) and each category's
linear predictor there (``posterior_epred(dpar = "mu2")``). A reference category other than
the first, categories swapped, or logits without the reference's 0 would be off by many of
them (the two slopes have opposite signs).
"""

from __future__ import annotations

import json
from pathlib import Path

import arviz as az
import numpy as np
import pandas as pd
import pytest

import formulang as fl

FIXTURES = Path(__file__).parent / "fixtures" / "brms_dpar"
CHAINS = 4
TOLERANCE = 4.5  # combined Monte Carlo standard errors


@pytest.fixture(scope="module")
def reference():
    return json.loads((FIXTURES / "categorical.json").read_text())


@pytest.fixture(scope="module")
def fit(reference):
    data = pd.read_csv(FIXTURES / reference["data"])
    # brms's priors by class and dpar: Intercept_mu2, b_mu2, ...
    priors = {f"{row['class']}_{row['dpar']}": row["prior"] for row in reference["priors_set"]}
    model = fl.Model(reference["formula"], data, family=reference["family"], priors=priors)
    assert [d.name for d in model.plan.dpars] == reference["dpars"]
    return model.fit(draws=1000, tune=1000, chains=CHAINS, seed=1)


def _agree(draws: np.ndarray, theirs: dict, what) -> None:
    ess = float(az.ess(draws.reshape(CHAINS, -1)))
    se = np.hypot(theirs["mcse_mean"], draws.std() / np.sqrt(ess))
    assert abs(draws.mean() - theirs["mean"]) < TOLERANCE * se, (what, draws.mean(),
                                                                  theirs["mean"])


def test_posterior_agrees_with_brms(fit, reference):
    ours = fit.summary()
    assert set(reference["posterior"]) == set(ours.index)
    for param, theirs in reference["posterior"].items():
        mean, sd, ess = (float(ours.loc[param, k]) for k in ("mean", "sd", "ess_bulk"))
        se_mean = np.hypot(theirs["mcse_mean"], sd / np.sqrt(ess))
        assert abs(mean - theirs["mean"]) < TOLERANCE * se_mean, (param, mean, theirs["mean"])
        se_sd = np.hypot(theirs["sd"] / np.sqrt(2 * theirs["ess_bulk"]), sd / np.sqrt(2 * ess))
        assert abs(sd - theirs["sd"]) < TOLERANCE * se_sd, (param, sd, theirs["sd"])


def test_category_probabilities_and_predictors_agree_with_brms(fit, reference):
    epred = reference["epred"]
    new = pd.DataFrame({"x": epred["x"]})
    prob = fit.predict(new, kind="prob")
    assert prob.shape == (CHAINS * 1000, len(epred["x"]), len(reference["levels"]))
    for j, row in enumerate(epred["mean"]):
        for k, level in enumerate(reference["levels"]):
            _agree(prob[:, j, k], row[level], (j, level))
    for dpar in reference["dpars"]:
        eta = fit.predict(new, dpar=dpar, kind="linpred")
        for j, theirs in enumerate(epred[dpar]):
            _agree(eta[:, j], theirs, (dpar, j))


def test_loo_agrees_with_brms(fit, reference):
    """elpd_loo differs by Monte Carlo error only (every Pareto k is small on both sides).
    Its Monte Carlo SE at 4,000 draws is about 0.02 here (half the SD of the four single-chain
    estimates, measured), so about 0.03 for the difference: 0.15 is 5 of them."""
    loo = az.loo(fit.idata)
    assert abs(loo.elpd_loo - reference["loo"]["elpd_loo"]["Estimate"]) < 0.15
    assert loo.pareto_k.values.max() < 0.7
