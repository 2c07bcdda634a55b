"""Agreement with brms 2.18 on a zero-inflated Poisson with a group term and a hurdle Poisson
(tests/fixtures/brms_dpar, made by make.R there: brms's fits, 4 chains x 1000 draws), with
the priors brms was given.

Both samplers target the same posterior, so their posterior means differ by Monte Carlo error
only: each must agree within 4.5 combined Monte Carlo standard errors (brms's ``mcse_mean``,
ours ``sd / sqrt(ess_bulk)``), a false alarm about 1 in 10^5 per parameter; posterior SDs
within 4.5 combined standard errors of an SD, ``sd / sqrt(2 ess)`` each. So are the response
means at x = -1, 0, 1 (``posterior_epred``, population level). A zi read as 1 - zi, a hurdle
without its truncation or a mean without (1 - zi) would be off by many of them.
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


@pytest.mark.parametrize("name", ["zip_group", "hurdle_poisson"])
def test_posterior_agrees_with_brms(name):
    ref = json.loads((FIXTURES / f"{name}.json").read_text())
    data = pd.read_csv(FIXTURES / ref["data"])
    # brms's priors by class (its student_t(3, 0, 2.5) on an SD folds to the half-t here)
    priors = {row["class"]: row["prior"] for row in ref["priors_set"]}
    model = fl.Model(ref["formula"], data, family=ref["family"], priors=priors)
    fit = model.fit(draws=1000, tune=1000, chains=CHAINS, seed=1)
    ours = fit.summary()
    assert set(ref["posterior"]) <= set(ours.index)
    for param, theirs in ref["posterior"].items():
        mean, sd, ess = (float(ours.loc[param, k]) for k in ("mean", "sd", "ess_bulk"))
        se_mean = np.hypot(theirs["mcse_mean"], sd / np.sqrt(ess))
        assert abs(mean - theirs["mean"]) < 4.5 * se_mean, (param, mean, theirs["mean"])
        se_sd = np.hypot(theirs["sd"] / np.sqrt(2 * theirs["ess_bulk"]), sd / np.sqrt(2 * ess))
        assert abs(sd - theirs["sd"]) < 4.5 * se_sd, (param, sd, theirs["sd"])
    new = pd.DataFrame({"x": ref["epred"]["x"], "g": "a new level"})
    mean = fit.predict(new, kind="mean", new_levels="population")
    for j, theirs in enumerate(ref["epred"]["mean"]):
        m = mean[:, j]
        ess = float(az.ess(m.reshape(CHAINS, -1)))
        se = np.hypot(theirs["mcse_mean"], m.std() / np.sqrt(ess))
        assert abs(m.mean() - theirs["mean"]) < 4.5 * se, (j, m.mean(), theirs["mean"])
