"""Fits by the embedded Laplace path (issue 23) agree with the full sampled model, and are
full fits downstream: predictions, LOO, save/load, simulation, diagnostics (PSIS k-hat).

One Bernoulli ``y ~ x + (1 + x | g)`` dataset (20 groups x 60 rows), fitted once each way
(module-scoped): the Laplace approximation's error in the population, SD and correlation
posteriors is far below Monte Carlo error here (about 1/60 of a posterior SD per level), so the
two posterior means must agree within ``4 * sqrt(mcse_LA^2 + mcse_full^2)``, ``mcse = sd /
sqrt(ess_bulk)``, for each of the five parameters (a 4-sigma bound: a false alarm on a
fixed seed has probability ~3e-4 per parameter).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import formulang as fl

SETTINGS = dict(draws=400, tune=400, chains=2, seed=3, progress=False)
PARAMS = ["b_Intercept", "b_x", "sd_g__Intercept", "sd_g__x", "cor_g__Intercept__x"]


def bernoulli_data(groups: int = 20, n: int = 60, seed: int = 11) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    g = np.repeat(np.arange(groups), n)
    x = rng.normal(size=groups * n)
    u = rng.normal(size=(groups, 2)) * [0.8, 0.4]
    eta = -0.3 + 0.7 * x + u[g, 0] + u[g, 1] * x
    return pd.DataFrame({"y": (rng.uniform(size=groups * n) < 1 / (1 + np.exp(-eta))) * 1,
                         "x": x, "g": [f"g{i:02d}" for i in g]})


@pytest.fixture(scope="module")
def fits():
    data = bernoulli_data()
    laplace = fl.Model("y ~ x + (1 + x | g)", data, family="bernoulli", collapse="laplace")
    full = fl.Model("y ~ x + (1 + x | g)", data, family="bernoulli", collapse=False)
    return laplace, laplace.fit(**SETTINGS), full.fit(**SETTINGS)


def mcse(summary):
    return summary["sd"] / np.sqrt(summary["ess_bulk"])


def test_posterior_agrees_with_the_full_model(fits):
    _, la, full = fits
    s_la, s_full = la.summary().loc[PARAMS], full.summary().loc[PARAMS]
    z = (s_la["mean"] - s_full["mean"]) / np.hypot(mcse(s_la), mcse(s_full))
    assert (z.abs() < 4).all(), z
    assert (s_la["rhat"] < 1.02).all() and int(np.sum(la.stats["diverging"])) == 0


def test_effects_agree_with_the_full_model(fits):
    """The effects drawn from N(v*, H^-1): their posterior means per level within MC error
    of the sampled ones (4 combined MCSEs, ESS-free bound: each fit's MCSE of a mean is at
    most its posterior SD / sqrt(ESS), ESS >= 100 here), and their SDs within 15%."""
    _, la, full = fits
    r_la, r_full = la.samples["r_g"], full.samples["r_g"]
    assert r_la.shape == r_full.shape == (2, 400, 20, 2)
    m_la, m_full = r_la.mean(axis=(0, 1)), r_full.mean(axis=(0, 1))
    sd = r_full.std(axis=(0, 1))
    assert np.all(np.abs(m_la - m_full) < 4 * sd * np.sqrt(2 / 100))
    np.testing.assert_allclose(r_la.std(axis=(0, 1)), sd, rtol=0.15)


def test_downstream_predict_loo_save_load(fits, tmp_path):
    model, la, full = fits
    assert la.collapsed and la.compiled.laplace and "Laplace" in str(la)
    new = pd.DataFrame({"x": [0.0, 1.0], "g": ["g03", "g07"]})
    p = la.predict(new, kind="mean", seed=1)
    assert p.shape == (800, 2) and np.all((p > 0) & (p < 1))
    np.testing.assert_allclose(p.mean(axis=0), full.predict(new, kind="mean", seed=1)
                               .mean(axis=0), atol=0.05)
    import arviz as az

    loo_la, loo_full = az.loo(la.idata), az.loo(full.idata)  # fl.compare's LOO
    assert abs(loo_la.elpd_loo - loo_full.elpd_loo) < loo_full.se / 4
    path = tmp_path / "laplace.nc"
    la.save(path)
    loaded = fl.load(path)
    assert loaded.collapsed and loaded.model.laplace and "Laplace" in str(loaded.model)
    np.testing.assert_allclose(loaded.predict(new, kind="mean", seed=1), p)
    assert loaded.diagnostics().laplace_khat == pytest.approx(la.diagnostics().laplace_khat)


def test_diagnostics_report_the_importance_weights(fits):
    """PSIS k-hat of the importance weights, joint and of the parameters alone: below 0.7
    here (60 rows per level); the parameters' weights (the closed-form second-order
    correction, no draws of the effects) vary less than the joint ones."""
    _, la, full = fits
    d = la.diagnostics()
    assert d.laplace_khat is not None and d.laplace_khat < 0.7
    assert d.laplace_khat_parameters < 0.7
    assert "k-hat" in str(d) and not any(p.kind == "laplace" for p in d.problems)
    assert full.diagnostics().laplace_khat is None
    joint, alone = la.stats["laplace_log_weight"], la.stats["laplace_log_weight_theta"]
    assert joint.shape == alone.shape == (2, 400)
    assert np.var(alone) < np.var(joint)


def test_simulate(fits):
    model, _, _ = fits
    sim = model.simulate({"b": {"Intercept": 0.0, "x": 1.0}}, seed=2)
    assert set(np.unique(sim.data()["y"])) <= {0, 1}
    assert "laplace_draws" in model._samplers  # the compiled effect draws, kept for refits


# ---- every Laplace family, and nested factors, against the full sampled model ----------------
#
# Small data (cheap: 2 chains x 300), one Laplace and one full fit per case, shared by module
# fixture. With 20 rows per level of moderate counts (means about 5, or 12 trials) the
# approximation's error is far below Monte Carlo error, so: posterior means within
# 4 * sqrt(mcse_LA^2 + mcse_full^2), mcse = sd / sqrt(ess_bulk); posterior SDs within 4 of
# their combined relative standard errors (sd_rel_se, from each posterior's kurtosis and the
# smaller of its bulk and tail ESS); level effects' means as in
# test_effects_agree_with_the_full_model. 4-sigma bounds on fixed seeds: ~6e-5 per
# comparison for a false alarm.

SMALL = dict(draws=300, tune=300, chains=2, seed=5, progress=False)


def count_data(family: str, seed: int = 21) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    g = np.repeat(np.arange(12), 20)
    x = rng.normal(size=len(g))
    u = rng.normal(size=(12, 2)) * [0.5, 0.25]
    mu = np.exp(1.5 + 0.3 * x + u[g, 0] + u[g, 1] * x)
    y = rng.poisson(mu if family == "poisson" else rng.gamma(5.0, mu / 5.0))
    return pd.DataFrame({"y": y, "x": x, "g": [f"g{i:02d}" for i in g]})


def nested_binomial_data(seed: int = 22) -> pd.DataFrame:
    """6 levels of ``a``, 3 of ``b`` inside each (the same labels reused across ``a``: nested
    by the formula), 10 rows of 12 trials per ``a:b``."""
    rng = np.random.default_rng(seed)
    a, b = np.repeat(np.arange(6), 30), np.tile(np.repeat(np.arange(3), 10), 6)
    x = rng.normal(size=len(a))
    eta = -0.4 + 0.5 * x + rng.normal(0, 0.6, 6)[a] + rng.normal(0, 0.4, 18)[3 * a + b]
    y = rng.binomial(12, 1 / (1 + np.exp(-eta)))
    return pd.DataFrame({"y": y, "n": 12, "x": x, "a": [f"a{i}" for i in a],
                         "b": [f"b{i}" for i in b]})


CASES = {
    "poisson": lambda: ("y ~ x + (1 + x | g)", count_data("poisson"), "poisson"),
    "negative_binomial": lambda: ("y ~ x + (1 | g)", count_data("negative_binomial"),
                                  "negative_binomial"),
    "binomial_nested": lambda: ("y | trials(n) ~ x + (1 | a/b)", nested_binomial_data(),
                                "binomial"),
}


@pytest.fixture(scope="module", params=list(CASES))
def pair(request):
    formula, data, family = CASES[request.param]()
    model = fl.Model(formula, data, family=family, collapse="laplace")
    full = fl.Model(formula, data, family=family, collapse=False)
    return model, model.fit(**SMALL), full.fit(**SMALL)


def reported(fit) -> dict:
    """The population, SD, correlation and family parameters' draws (chains, draws), by name."""
    from formulang.lower.sites import flat_parameters
    from formulang.report.idata import posterior_variables

    variables = posterior_variables(fit.plan, fit.samples)[0]
    return {p.name: np.asarray(variables[p.variable]) if p.index is None else
            np.asarray(variables[p.variable])[..., p.index]
            for p in flat_parameters(fit.plan) if p.kind in ("b", "sd", "cor", "family")}


def sd_rel_se(draws, ess):
    """Relative standard error of a posterior SD estimated from ``ess`` effective draws:
    ``Var(s) / s^2 ~ (kurtosis - 1) / (4 ess)`` (the delta method on ``s^2``; 1 / (2 ess)
    for a normal posterior), so skewed SD and correlation posteriors get their wider error."""
    from scipy.stats import kurtosis

    return np.sqrt((kurtosis(np.ravel(draws), fisher=False) - 1) / (4 * ess))


def test_families_posteriors_agree_with_the_full_model(pair):
    model, la, full = pair
    assert model.compiled.laplace and not full.collapsed
    d_la, d_full = reported(la), reported(full)
    names = list(d_la)
    assert len(names) >= 4 and set(d_full) == set(names)
    s_la, s_full = la.summary().loc[names], full.summary().loc[names]
    z = (s_la["mean"] - s_full["mean"]) / np.hypot(mcse(s_la), mcse(s_full))
    assert (z.abs() < 4).all(), z
    ess_la = np.minimum(s_la["ess_bulk"], s_la["ess_tail"])
    ess_full = np.minimum(s_full["ess_bulk"], s_full["ess_tail"])
    for name in names:
        rel = np.hypot(sd_rel_se(d_la[name], ess_la[name]), sd_rel_se(d_full[name],
                                                                       ess_full[name]))
        assert abs(s_la["sd"][name] / s_full["sd"][name] - 1) < 4 * rel, \
            (name, s_la["sd"][name], s_full["sd"][name], rel)
    assert (s_la["rhat"] < 1.02).all() and int(np.sum(la.stats["diverging"])) == 0


def test_families_effects_agree_with_the_full_model(pair):
    """Every term's level effects (both terms of ``a/b``), drawn from N(v*, H^-1) per draw:
    the full model's sites, and their means within MC error of the sampled ones."""
    _, la, full = pair
    effects = [g.sites.r for g in la.plan.groups]
    assert set(la.samples) == set(full.samples)
    for r in effects:
        r_la, r_full = la.samples[r], full.samples[r]
        assert r_la.shape == r_full.shape == (2, 300) + r_full.shape[2:]
        sd = r_full.std(axis=(0, 1))
        assert np.all(np.abs(r_la.mean(axis=(0, 1)) - r_full.mean(axis=(0, 1)))
                      < 4 * sd * np.sqrt(2 / 100)), r
