"""Shared by the brms agreement tests of issue 17 (tests/test_dpar_brms.py,
tests/test_ordinal_brms.py): a fixture of tests/fixtures/brms_dpar fitted by formulang with
brms's priors, and the checks, each within Monte Carlo error.

Both samplers target the same posterior, so what they report differs by Monte Carlo error only.
A posterior mean must agree within ``Z`` = 4.5 combined Monte Carlo standard errors (brms's
``mcse_mean``, ours ``sd / sqrt(ess_bulk)``): a false alarm about 1 in 150,000 per check, so
well under 1% over the ~60 checks of these files; a posterior SD within 4.5 combined standard
errors of an SD, ``sd / sqrt(2 ess)`` each. The response means (and category probabilities, and
each dpar's value) at x = -1, 0, 1 likewise.

LOO: ``elpd_loo`` is a function of the draws too, so two samplers differ by its Monte Carlo
error (``SE`` is the data's uncertainty, the same for both, not a tolerance). Ours is from the
delta method on the whole sum (:func:`elpd_loo_mcse`); brms's fit has at least as many draws
(4,000 or 12,000), so its Monte Carlo error is taken to be ours (each combined: ``sqrt(2)``
times ours). On ``hetero_gaussian`` six seeds of 4 x 1000 draws gave elpd_loo with an SD of
0.12 across seeds, and this estimate 0.18-0.21 per fit: it errs on the wide side.
"""

from __future__ import annotations

import json
from pathlib import Path

import arviz as az
import numpy as np
import pandas as pd
from scipy.special import logsumexp

import formulang as fl

FIXTURES = Path(__file__).parent / "fixtures" / "brms_dpar"
Z = 4.5


def reference(name: str) -> tuple[dict, pd.DataFrame]:
    """The fixture's JSON and its data."""
    ref = json.loads((FIXTURES / f"{name}.json").read_text())
    return ref, pd.read_csv(FIXTURES / ref["data"])


def brms_priors(ref: dict) -> dict[str, str]:
    """brms's ``priors_set`` rows as formulang's prior keys: class, ``_dpar``, ``[coef]``
    (``Intercept_sigma``, ``b_zi``; brms's student_t(3, 0, 2.5) on an SD folds to the half-t
    here, as brms truncates it)."""
    out = {}
    for row in ref["priors_set"]:
        assert not row["group"], row  # none of the fixtures sets one; a key would need it
        key = row["class"] + (f"_{row['dpar']}" if row["dpar"] else "")
        out[key + (f"[{row['coef']}]" if row["coef"] else "")] = row["prior"]
    return out


SMOOTH_FIXTURES = Path(__file__).parent / "fixtures" / "r_smooths"


def smooth_reference(name: str) -> tuple[dict, pd.DataFrame]:
    """A smooth-term brms fixture (``tests/fixtures/r_smooths``): its JSON and its data."""
    ref = json.loads((SMOOTH_FIXTURES / f"{name}.json").read_text())
    return ref, pd.read_csv(SMOOTH_FIXTURES / ref["data"])


def prior_summary_keys(ref: dict) -> dict[str, str]:
    """brms's ``prior_summary`` rows (other than ``b``) as formulang's prior keys, ``class`` or
    ``class[coef]`` (brms's student_t on an SD folds to the half-t, as brms truncates it)."""
    out = {}
    for row in ref["prior_summary"]:
        if row["prior"] and row["class"] != "b":
            out[row["class"] + (f"[{row['coef']}]" if row["coef"] else "")] = row["prior"]
    return out


def fit_like_brms(name: str, draws: int = 1000, chains: int = 4, seed: int = 1):
    """(fixture, fit): the fixture's formula, family and priors, fitted by NUTS."""
    ref, data = reference(name)
    model = fl.Model(ref["formula"], data, family=ref["family"], priors=brms_priors(ref))
    return ref, model.fit(draws=draws, tune=draws, chains=chains, seed=seed, progress=False)


def check_posterior(ref: dict, fit) -> None:
    """Every parameter brms sampled: mean and SD within Monte Carlo error."""
    ours = fit.summary()
    assert set(ref["posterior"]) <= set(ours.index), set(ref["posterior"]) - set(ours.index)
    for param, theirs in ref["posterior"].items():
        check_summary_row(ours, param, theirs)


def check_summary_row(ours: pd.DataFrame, name: str, theirs: dict, sign: float = 1.0) -> None:
    """Row ``name`` of ``fit.summary()`` against brms's summary of it: mean and SD within
    ``Z`` combined Monte Carlo standard errors; ``sign`` flips our mean first (a basis column
    equal to brms's up to its sign)."""
    mean, sd, ess = (float(ours.loc[name, k]) for k in ("mean", "sd", "ess_bulk"))
    mean *= sign
    se_mean = np.hypot(theirs["mcse_mean"], sd / np.sqrt(ess))
    assert abs(mean - theirs["mean"]) < Z * se_mean, (name, mean, theirs["mean"], se_mean)
    se_sd = np.hypot(theirs["sd"] / np.sqrt(2 * theirs["ess_bulk"]), sd / np.sqrt(2 * ess))
    assert abs(sd - theirs["sd"]) < Z * se_sd, (name, sd, theirs["sd"], se_sd)


def check_draws(what: str, draws: np.ndarray, theirs: dict, chains: int) -> None:
    """The mean of one quantity's draws (chains x draws flattened) against brms's."""
    ess = float(az.ess(np.asarray(draws).reshape(chains, -1)))
    se = np.hypot(theirs["mcse_mean"], draws.std() / np.sqrt(ess))
    assert abs(draws.mean() - theirs["mean"]) < Z * se, (what, draws.mean(), theirs["mean"], se)


def elpd_loo_mcse(log_lik: np.ndarray) -> float:
    """Monte Carlo standard error of PSIS-LOO's ``elpd_loo`` from ``log_lik`` (chains, draws,
    rows). Before smoothing, elpd_i = -log mean_s h_is with h = 1 / p(y_i | draw s); to first
    order the sum's error is that of the mean over draws of ``f_s = sum_i h_is / H_i`` (``H_i``
    the mean of h_i), whose standard error is ``sd(f) / sqrt(ess(f))``. One function of each
    draw for the whole sum, so the correlation across rows (they share the draws) and along the
    chains are both counted."""
    chains, draws, n = log_lik.shape
    log_h = -log_lik
    log_mean = logsumexp(log_h.reshape(-1, n), axis=0) - np.log(chains * draws)
    f = np.exp(log_h - log_mean).sum(axis=-1)
    return float(f.std() / np.sqrt(float(az.ess(f))))


def check_loo(ref: dict, fit) -> None:
    """elpd_loo within Z combined Monte Carlo errors of brms's; every Pareto k < 0.7 as in
    brms's (else the estimate itself is unreliable)."""
    loo = az.loo(fit.idata, pointwise=True)
    assert float(loo.pareto_k.max()) < 0.7, float(loo.pareto_k.max())
    mcse = elpd_loo_mcse(fit.idata.log_likelihood["y"].values)
    theirs = ref["loo"]["elpd_loo"]["Estimate"]
    assert abs(loo.elpd_loo - theirs) < Z * np.sqrt(2) * mcse, (loo.elpd_loo, theirs, mcse)
