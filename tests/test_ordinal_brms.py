"""Agreement with brms 2.18 on a cumulative (logit) model with a group term (issue 17):
``y ~ x + (1 | g)``, K = 4 categories, 20 groups (tests/fixtures/brms_dpar/cumulative_group,
made by make.R there), with the priors brms was given; and on one with its discrimination
predicted, ``y ~ x; disc ~ z`` (cumulative_disc, at the end).

Within Monte Carlo error (tests/brms_agreement.py says how much): the thresholds
``b_Intercept[1..3]`` (brms's, on the data's x), ``b_x`` and ``sd_g__Intercept`` (posterior
mean and SD), the probability of each category at x = -1, 0, 1 (brms's ``posterior_epred`` at
the population level) and ``elpd_loo``. Thresholds reported on centred x, a sign flip of
``eta`` (brms's ``F(Intercept[k] - eta)``) or probabilities in the wrong category order would
be off by many standard errors. 4 chains x (1000 + 1000), about 10 s of sampling.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from brms_agreement import check_draws, check_loo, check_posterior, fit_like_brms

CHAINS = 4
pytestmark = pytest.mark.filterwarnings("ignore::formulang.data.NewLevelsWarning")


@pytest.fixture(scope="module")
def fitted():
    return fit_like_brms("cumulative_group", chains=CHAINS)


def test_posterior_agrees_with_brms(fitted):
    ref, fit = fitted
    assert ref["constants"] == {"disc": 1}  # brms's disc, fixed at 1 as formulang's
    check_posterior(ref, fit)


def test_category_probabilities_agree_with_brms(fitted):
    ref, fit = fitted
    new = pd.DataFrame({"x": ref["epred"]["x"], "g": "a new level"})
    prob = fit.predict(new, kind="prob", new_levels="population")
    assert prob.shape[1:] == (3, len(ref["levels"]))
    np.testing.assert_allclose(prob.sum(axis=-1), 1.0, atol=1e-5)
    for j, theirs in enumerate(ref["epred"]["mean"]):
        for k, level in enumerate(ref["levels"]):
            check_draws(f"P(y = {level}) at x = {new.x[j]}", prob[:, j, k], theirs[str(level)],
                        CHAINS)


def test_elpd_loo_agrees_with_brms(fitted):
    ref, fit = fitted
    check_loo(ref, fit)


# ---- disc ~ z ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def disc_fitted():
    return fit_like_brms("cumulative_disc", chains=CHAINS)


def test_disc_formula_agrees_with_brms(disc_fitted):
    """y ~ x; disc ~ z: thresholds, b_x, b_disc_Intercept (identified by its normal(0, 1)
    prior only, so a prior on another scale or a disc on another link would move it) and
    b_disc_z; the category probabilities and disc (posterior_epred(dpar = "disc")) at x = -1,
    0, 1 with z = 0; elpd_loo. Then a row of large z is sharper: surer of its category."""
    ref, fit = disc_fitted
    assert ref["constants"] == {} and ref["dpars"] == ["disc"]
    check_posterior(ref, fit)
    assert list(fit.fixef().index) == ["Intercept[1]", "Intercept[2]", "Intercept[3]", "x",
                                       "disc_Intercept", "disc_z"]
    new = pd.DataFrame({"x": ref["epred"]["x"], "z": 0.0})
    prob = fit.predict(new, kind="prob")
    disc = fit.predict(new, dpar="disc")
    for j, theirs in enumerate(ref["epred"]["mean"]):
        for k, level in enumerate(ref["levels"]):
            check_draws(f"P(y = {level}) at x = {new.x[j]}", prob[:, j, k], theirs[str(level)],
                        CHAINS)
        check_draws(f"disc at x = {new.x[j]}", disc[:, j], ref["epred"]["disc"][j], CHAINS)
    check_loo(ref, fit)
    sharp = fit.predict(pd.DataFrame({"x": [0.0, 0.0], "z": [-1.5, 1.5]}), kind="prob")
    assert sharp.max(-1).mean(0)[1] > sharp.max(-1).mean(0)[0] + 0.1
