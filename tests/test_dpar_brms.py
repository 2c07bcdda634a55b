"""Agreement with brms 2.18 on distributional models (issue 17): the heteroscedastic Gaussian
``y ~ x + (1 | g); sigma ~ x`` and the zero-inflated Poisson ``y ~ x; zi ~ x``
(tests/fixtures/brms_dpar, made by make.R there), with the priors brms was given.

Within Monte Carlo error (tests/brms_agreement.py says how much): every sampled parameter's
posterior mean and SD (``b_sigma_x``, ``b_zi_Intercept`` ...), the response mean and the dpar
itself (``sigma``, ``zi`` on their natural scale) at x = -1, 0, 1 (brms's ``posterior_epred``
at the population level), and ``elpd_loo``. A sub-formula on the wrong link (sigma not
exponentiated, zi read as 1 - zi), a prior on the wrong class or a log-likelihood without the
row's own sigma would be off by many standard errors. 4 chains x (1000 + 1000) each, about 10 s
of sampling per model on two cores.
"""

from __future__ import annotations

import pandas as pd
import pytest
from brms_agreement import check_draws, check_loo, check_posterior, fit_like_brms

CHAINS, DRAWS = 4, 1000
pytestmark = pytest.mark.filterwarnings("ignore::formulang.data.NewLevelsWarning")


@pytest.fixture(scope="module", params=["hetero_gaussian", "zip_zi_x"])
def fitted(request):
    return fit_like_brms(request.param, draws=DRAWS, chains=CHAINS)


def new_rows(ref: dict) -> pd.DataFrame:
    """brms's epred rows: x = -1, 0, 1 at the population level (a level no fit has seen)."""
    return pd.DataFrame({"x": ref["epred"]["x"], "g": "a new level"})


def test_posterior_agrees_with_brms(fitted):
    ref, fit = fitted
    assert ref["dpars"] == [name for name, _ in fit.model.formula.dpars]
    check_posterior(ref, fit)


def test_response_mean_agrees_with_brms(fitted):
    ref, fit = fitted
    new = new_rows(ref)
    mean = fit.predict(new, kind="mean", new_levels="population")
    # Fails for zip_zi_x (formulang bug, reported, not fixed here: formulang/ is not this
    # branch's): with a formula for zi (or hu), lower/zero_inflated.py's _per_draw turns zi,
    # already draws x rows, into draws x 1 x rows, so the mean comes back draws x draws x rows
    # (the training rows of this fixture: 4000 x 4000 x 300, 36 GiB) and mean[:, j] is not
    # the mean at row j.
    assert mean.shape == (CHAINS * DRAWS, len(new)), \
        f"response mean shaped {mean.shape}: draws x rows expected"
    for j, theirs in enumerate(ref["epred"]["mean"]):
        check_draws(f"mean at x = {new.x[j]}", mean[:, j], theirs, CHAINS)


def test_dpar_values_agree_with_brms(fitted):
    ref, fit = fitted
    new = new_rows(ref)
    for dpar in ref["dpars"]:
        values = fit.predict(new, kind="mean", dpar=dpar, new_levels="population")
        for j, theirs in enumerate(ref["epred"][dpar]):
            check_draws(f"{dpar} at x = {new.x[j]}", values[:, j], theirs, CHAINS)


def test_elpd_loo_agrees_with_brms(fitted):
    ref, fit = fitted
    check_loo(ref, fit)
