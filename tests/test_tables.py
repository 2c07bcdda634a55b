"""brms's tables: fixef, ranef, coef, hypothesis, bayes_R2, loo_R2 and summary(prob=).

The unit tests run on prior draws (no sampling). The agreement tests compare with brms 2.18
(``tests/fixtures/brms_tables/make.R``: 4 chains x 1000 draws, the same priors written alike)
on sleepstudy ``Reaction ~ Days + (Days | Subject)`` and radon ``log_radon ~ floor +
(1 | county)``; formulang fits 2 chains x 1000 draws with a fixed seed.

**Tolerance.** A posterior mean (Estimate of a coefficient, an effect, R², a hypothesis)
differs between the two runs by Monte Carlo error of SD ``hypot(MCSE_brms, MCSE_ours)``,
``MCSE = sd / sqrt(ESS)``; the bound is 4 such SDs (a chance failure has probability 6e-5 per
number) plus 0.1 posterior SD for what the implementations may honestly differ by (priors
written alike, adaptation not). brms's MCSE is taken with ESS 1000 where the fixture does not
give it (its 4000 draws have bulk ESS above 1000 for these quantities). A posterior probability
``p`` has Monte Carlo SD ``sqrt(p (1 - p) / ESS)``; interval bounds (tail quantiles, whose Monte
Carlo error is about twice a mean's) get 0.25 posterior SD. ``loo_R2`` is brms's own Bayesian
bootstrap over rows plus PSIS weights: its Estimate is compared within 0.25 of its Est.Error.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import formulang as fl
from formulang.errors import FormulaError, FormulangError
from formulang.fit import Fit
from formulang.report.convergence import convergence
from formulang.report.hypothesis import parse_hypothesis
from fit_support import prior_fit

FIXTURE = Path(__file__).parent / "fixtures" / "brms_tables" / "brms_tables.json"
Z = 4.0
ESS_BRMS = 1000


@pytest.fixture(scope="module")
def sleep_prior():
    m = fl.Model("Reaction ~ Days + (Days | Subject)", fl.datasets.load("sleepstudy"))
    return prior_fit(m, draws=200, chains=2)


# ---- unit tests on prior draws -----------------------------------------------------------------

def test_fixef_matches_draws_and_names_quantiles_as_brms(sleep_prior):
    b = sleep_prior.samples["b"].reshape(-1, 2).astype(float)
    t = sleep_prior.fixef()
    assert list(t.columns) == ["Estimate", "Est.Error", "Q2.5", "Q97.5"]
    assert list(t.index) == ["Intercept", "Days"]
    np.testing.assert_allclose(t["Estimate"], b.mean(0))
    np.testing.assert_allclose(t["Est.Error"], b.std(0, ddof=1))
    np.testing.assert_allclose(t["Q97.5"], np.quantile(b, 0.975, axis=0))
    t90 = sleep_prior.fixef(prob=0.9)
    assert list(t90.columns) == ["Estimate", "Est.Error", "Q5", "Q95"]
    np.testing.assert_allclose(t90["Q5"], np.quantile(b, 0.05, axis=0))
    assert list(sleep_prior.fixef(prob=0.89).columns)[2:] == ["Q5.5", "Q94.5"]


def test_ranef_and_coef_per_level(sleep_prior):
    r = sleep_prior.samples["r_Subject"].reshape(-1, 18, 2).astype(float)
    b = sleep_prior.samples["b"].reshape(-1, 2).astype(float)
    re = sleep_prior.ranef()["Subject"]
    assert re.shape == (18, 8) and list(re.columns.get_level_values(0).unique()) == ["Intercept", "Days"]
    np.testing.assert_allclose(re["Days"]["Estimate"], r[..., 1].mean(0))
    np.testing.assert_allclose(re.loc["309", ("Intercept", "Q2.5")],
                               np.quantile(r[:, 1, 0], 0.025))
    co = sleep_prior.coef(prob=0.5)["Subject"]
    np.testing.assert_allclose(co["Days"]["Estimate"], (r[..., 1] + b[:, [1]]).mean(0))
    np.testing.assert_allclose(co["Intercept"]["Q75"],
                               np.quantile(r[..., 0] + b[:, [0]], 0.75, axis=0))
    with pytest.raises(FormulangError, match="no group term 'county'.*Subject"):
        sleep_prior.ranef(group="county")


def test_hypothesis_as_brms_computes_it(sleep_prior):
    d = sleep_prior.samples["b"].reshape(-1, 2).astype(float)[:, 1]
    sd = sleep_prior.samples["sd_Subject"].reshape(-1, 2).astype(float)
    t = sleep_prior.hypothesis(["Days > 8", "b_Days - 2 * (1 + 4) = 0",
                                "sd_Subject__Days / sd_Subject__Intercept < 0.5", "-Days < -1e1"],
                               prob=0.9)
    x = d - 8
    p = np.mean(x > 0)
    row = t.iloc[0]
    np.testing.assert_allclose([row["Estimate"], row["Est.Error"], row["CI.Lower"],
                                row["CI.Upper"], row["Post.Prob"], row["Evid.Ratio"]],
                               [x.mean(), x.std(ddof=1), np.quantile(x, 0.1),
                                np.quantile(x, 0.9), p, p / (1 - p)])
    two = t.iloc[1]
    np.testing.assert_allclose([two["Estimate"], two["CI.Lower"], two["CI.Upper"]],
                               [(d - 10).mean(), np.quantile(d - 10, 0.05),
                                np.quantile(d - 10, 0.95)])
    assert np.isnan(two["Evid.Ratio"]) and np.isnan(two["Post.Prob"])
    np.testing.assert_allclose(t.iloc[2]["Post.Prob"], np.mean(sd[:, 1] / sd[:, 0] < 0.5))
    np.testing.assert_allclose(t.iloc[3]["Post.Prob"], np.mean(-d + 10 < 0))


@pytest.mark.parametrize("text, message, column", [
    ("Days >", "expected a parameter name, a number or '\\(', found the end", 6),
    ("Days + 3", "one of < > =", 8),
    ("Days > 3 > 2", "one comparison only", 9),
    ("(Days > 3", "expected '\\)'", 6),
    ("Days ; 3", "unexpected character ';'", 5),
    ("__import__('os').system('true') > 0", "unexpected character \"'\"", 11),
    ("Dayz > 8", "no parameter 'Dayz' \\(did you mean Days, b_Days\\?\\)", 0),
])
def test_bad_hypotheses_name_the_place(sleep_prior, text, message, column):
    with pytest.raises(FormulaError, match=message) as err:
        sleep_prior.hypothesis(text)
    assert err.value.start == column
    assert "^" in str(err.value)


def test_hypothesis_knows_the_names_fixef_and_ranef_print():
    # brms's hypothesis takes fixef()'s row names (sigma_x, Intercept[2], mu3_x) and the
    # sub-formulas' group effects (r_g__sigma[level,Intercept]); only the response formula's
    # were known
    rng = np.random.default_rng(0)
    df = pd.DataFrame({"x": rng.normal(size=40), "g": rng.choice(list("pqrs"), 40),
                       "k": rng.integers(1, 4, 40)})
    df["y"] = df.x + rng.normal(size=40)
    dist = prior_fit(fl.Model("y ~ x + (1 | g); sigma ~ x + (1 | g)", df), draws=20)
    b_sigma = dist.samples["b_sigma"].reshape(-1, 2).astype(float)
    r_sigma = dist.samples["r_g__sigma"].reshape(-1, 4).astype(float)
    t = dist.hypothesis(["sigma_x > 0", "r_g__sigma[q,Intercept] < 0.1"])
    assert "sigma_x" in dist.fixef().index
    np.testing.assert_allclose(t["Estimate"], [b_sigma[:, 1].mean(), r_sigma[:, 1].mean() - 0.1])
    ordinal = prior_fit(fl.Model("k ~ x", df, family="cumulative"), draws=20)
    cut = ordinal.samples["b_Intercept"].reshape(-1, 2).astype(float)
    assert "Intercept[2]" in ordinal.fixef().index
    np.testing.assert_allclose(ordinal.hypothesis("Intercept[2] - Intercept[1] > 1")["Estimate"],
                               (cut[:, 1] - cut[:, 0]).mean() - 1)
    cat = prior_fit(fl.Model("k ~ x", df, family="categorical"), draws=20)
    b2, b3 = (cat.samples[f"b_mu{k}"].reshape(-1, 2).astype(float)[:, 1] for k in (2, 3))
    assert {"mu2_x", "mu3_x"} <= set(cat.fixef().index)
    np.testing.assert_allclose(cat.hypothesis("mu3_x > mu2_x")["Post.Prob"], np.mean(b3 > b2))


def test_hypothesis_is_parsed_not_evaluated():
    h = parse_hypothesis("`b_x:z` - (a) * 2 / 3 = -.5e1")
    assert h.op == "=" and h.names == ("b_x:z", "a")


def test_prob_is_checked_and_summary_default_unchanged(sleep_prior):
    s = sleep_prior.summary()
    assert list(s.columns) == ["section", "mean", "sd", "q2.5", "q97.5", "rhat", "ess_bulk",
                               "ess_tail"]
    s90 = sleep_prior.summary(prob=0.9)
    assert list(s90.columns)[3:5] == ["q5", "q95"]
    b = sleep_prior.samples["b"].reshape(-1, 2).astype(float)
    np.testing.assert_allclose(s90.loc["b_Days", "q95"], np.quantile(b[:, 1], 0.95))
    for bad in (0, 1, 95, "0.9", True):
        with pytest.raises(FormulangError, match="prob must be a number between 0 and 1"):
            sleep_prior.fixef(prob=bad)


# ---- agreement with brms -----------------------------------------------------------------------

CASES = {"sleepstudy": ("sleepstudy", "Subject", 1), "radon": ("radon", "county", 2)}
_FITS: dict = {}


def _fit(name):
    if name not in _FITS:
        ref = json.loads(FIXTURE.read_text())[name]
        data, _, seed = CASES[name]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model = fl.Model(ref["formula"], fl.datasets.load(data), priors=ref["priors"])
            _FITS[name] = (model.fit(draws=1000, tune=1000, chains=2, seed=seed,
                                     progress=False), ref)
    return _FITS[name]


def test_tables_cover_family_parameters_with_formulas():
    """sigma ~ x + (1 + x | g): fixef has brms's sigma_Intercept, sigma_x rows after the
    response's; ranef()$g and coef()$g hold the sub-formula's effects (sigma_Intercept...)
    next to the response's, as brms's do."""
    rng = np.random.default_rng(0)
    df = {"y": rng.normal(size=40), "x": rng.normal(size=40),
          "g": np.repeat(list("abcd"), 10)}
    fit = prior_fit(fl.Model("y ~ x + (1 | g); sigma ~ x + (1 + x | g)", df), draws=100)
    b = fit.samples["b"].reshape(-1, 2).astype(float)
    bs = fit.samples["b_sigma"].reshape(-1, 2).astype(float)
    t = fit.fixef()
    assert list(t.index) == ["Intercept", "x", "sigma_Intercept", "sigma_x"]
    np.testing.assert_allclose(t["Estimate"], np.concatenate([b, bs], axis=1).mean(0))
    np.testing.assert_allclose(t.loc["sigma_x", "Q97.5"], np.quantile(bs[:, 1], 0.975))
    r = fit.samples["r_g"].reshape(-1, 4, 1).astype(float)
    rs = fit.samples["r_g__sigma"].reshape(-1, 4, 2).astype(float)
    re = fit.ranef()
    assert list(re) == ["g"]
    assert list(re["g"].columns.get_level_values(0).unique()) == \
        ["Intercept", "sigma_Intercept", "sigma_x"]
    np.testing.assert_allclose(re["g"]["Intercept"]["Estimate"], r[..., 0].mean(0))
    np.testing.assert_allclose(re["g"]["sigma_x"]["Estimate"], rs[..., 1].mean(0))
    co = fit.coef(group="g")["g"]
    assert list(co.columns.get_level_values(0).unique()) == \
        ["Intercept", "x", "sigma_Intercept", "sigma_x"]
    np.testing.assert_allclose(co["sigma_Intercept"]["Estimate"],
                               (rs[..., 0] + bs[:, [0]]).mean(0))
    np.testing.assert_allclose(co["x"]["Estimate"], np.broadcast_to(b[:, [1]], r[..., 0].shape)
                               .mean(0))
    np.testing.assert_allclose(co["Intercept"]["Estimate"], (r[..., 0] + b[:, [0]]).mean(0))
    # a factor only the sub-formula has: its effects alone, every coefficient listed
    df["h"] = np.tile(list("pq"), 20)
    fit = prior_fit(fl.Model("y ~ x + (1 | g); sigma ~ (1 | h)", df), draws=50)
    assert set(fit.ranef()) == {"g", "h"}
    assert list(fit.ranef(group="h")["h"].columns.get_level_values(0).unique()) == \
        ["sigma_Intercept"]
    assert list(fit.coef()["h"].columns.get_level_values(0).unique()) == \
        ["Intercept", "x", "sigma_Intercept"]
    with pytest.raises(FormulangError, match="no group term 'k'.*g, h"):
        fit.ranef(group="k")

def test_ordinal_thresholds_are_fixef_rows_and_move_with_the_level():
    """cumulative, r ~ x + (1 | g): fixef lists brms's Intercept[1].. Intercept[K-1] (the
    thresholds for the predictors as given, b_Intercept) before x; coef()$g gives each level
    Intercept[k] - r_g[Intercept] (brms's sign for P(y <= k) = F(theta_k - eta)) and no
    Intercept column, and x as b_x, the term having no x effect."""
    rng = np.random.default_rng(3)
    df = {"y": rng.integers(1, 4, 36), "x": rng.normal(size=36),
          "g": np.repeat(list("abcd"), 9)}
    rng = np.random.default_rng(4)
    draws = {"b_Intercept": np.sort(rng.normal(size=(2, 30, 2)), axis=-1),
             "b": rng.normal(size=(2, 30, 1)), "r_g": rng.normal(size=(2, 30, 4, 1))}
    # reported parameters given as they are: nothing to derive, no JAX to run
    fit = Fit(fl.Model("y ~ x + (1 | g)", df, family="cumulative"), draws, {}, method="prior")
    theta, b = draws["b_Intercept"].reshape(-1, 2), draws["b"].reshape(-1, 1)
    r = draws["r_g"].reshape(-1, 4)
    t = fit.fixef(prob=0.9)
    assert list(t.index) == ["Intercept[1]", "Intercept[2]", "x"]
    np.testing.assert_allclose(t["Estimate"], np.concatenate([theta, b], axis=1).mean(0))
    np.testing.assert_allclose(t.loc["Intercept[2]", "Q95"], np.quantile(theta[:, 1], 0.95))
    np.testing.assert_allclose(t.loc["Intercept[1]", "Est.Error"], theta[:, 0].std(ddof=1))
    co = fit.coef()["g"]
    assert list(co.columns.get_level_values(0).unique()) == ["Intercept[1]", "Intercept[2]", "x"]
    for k in range(2):
        np.testing.assert_allclose(co[f"Intercept[{k + 1}]"]["Estimate"],
                                   (theta[:, [k]] - r).mean(0))
    np.testing.assert_allclose(co["x"]["Estimate"], np.full(4, b.mean()))
    # thresholds alone: no other coefficient, still a table
    fit = Fit(fl.Model("y ~ 1", df, family="cumulative"), {"b_Intercept": draws["b_Intercept"]},
              {}, method="prior")
    assert list(fit.fixef().index) == ["Intercept[1]", "Intercept[2]"]


def _ess(draws: np.ndarray, chains: int = 2) -> float:
    return float(convergence(np.asarray(draws).reshape(chains, -1, 1))[1][0])


def _close(ours, ours_sd, ours_ess, want, want_sd, want_mcse=None, what=""):
    mc = np.hypot(want_mcse if want_mcse is not None else want_sd / np.sqrt(ESS_BRMS),
                  ours_sd / np.sqrt(ours_ess))
    tol = 0.1 * want_sd + Z * mc
    assert abs(ours - want) < tol, (what, ours, want, tol)


@pytest.mark.parametrize("name", list(CASES))
def test_fixef_ranef_coef_agree_with_brms(name):
    fit, ref = _fit(name)
    group = CASES[name][1]
    b = fit.samples["b"].reshape(-1, len(fit.plan.columns))
    for table, key in ((fit.fixef(), "fixef"), (fit.fixef(prob=0.9), "fixef_90")):
        for coef, want in ref[key].items():
            row = table.loc[coef]
            j = list(fit.plan.columns).index(coef)
            _close(row["Estimate"], row["Est.Error"], _ess(b[:, j]), want["Estimate"],
                   want["Est.Error"], what=(key, coef))
            assert abs(row["Est.Error"] - want["Est.Error"]) < 0.15 * want["Est.Error"]
            for q in [c for c in want if c.startswith("Q")]:
                assert abs(row[q] - want[q]) < 0.25 * want["Est.Error"], (key, coef, q)
    for kind, tables in (("ranef", fit.ranef()), ("coef", fit.coef())):
        for effect, levels in ref[kind].items():
            for level, want in levels.items():
                row = tables[group].loc[level, effect]
                # an effect's ESS is at least several hundred here; 300 is the bound's floor
                _close(row["Estimate"], row["Est.Error"], 300, want["Estimate"],
                       want["Est.Error"], what=(kind, effect, level))
                assert abs(row["Est.Error"] - want["Est.Error"]) < 0.2 * want["Est.Error"]


@pytest.mark.parametrize("name", list(CASES))
def test_hypotheses_agree_with_brms(name):
    fit, ref = _fit(name)
    for want in ref["hypotheses"]:
        row = fit.hypothesis(want["hypothesis"], prob=want["prob"]).iloc[0]
        ess = 300  # the hypotheses are linear in the coefficients, whose ESS exceeds this
        _close(row["Estimate"], row["Est.Error"], ess, want["Estimate"], want["Est.Error"],
               what=want["hypothesis"])
        for bound in ("CI.Lower", "CI.Upper"):
            assert abs(row[bound] - want[bound]) < 0.25 * want["Est.Error"], (want, bound)
        if want["Post.Prob"] == "NA":
            assert np.isnan(row["Post.Prob"]) and np.isnan(row["Evid.Ratio"])
            continue
        p = want["Post.Prob"]
        mc = np.sqrt(max(p * (1 - p), 1e-3) * (1 / ess + 1 / ESS_BRMS))
        assert abs(row["Post.Prob"] - p) < Z * mc + 0.01, (want, row["Post.Prob"])


@pytest.mark.parametrize("name", list(CASES))
def test_r2_agrees_with_brms(name):
    fit, ref = _fit(name)
    draws = fit.bayes_r2(summary=False)
    want = ref["bayes_R2"]
    table = fit.bayes_r2()
    assert list(table.index) == ["R2"]
    _close(table.loc["R2", "Estimate"], table.loc["R2", "Est.Error"], _ess(draws),
           want["Estimate"], want["Est.Error"], want_mcse=want["mcse"], what="bayes_R2")
    assert abs(table.loc["R2", "Est.Error"] - want["Est.Error"]) < 0.2 * want["Est.Error"]
    loo = fit.loo_r2().loc["R2"]
    want = ref["loo_R2"]
    assert abs(loo["Estimate"] - want["Estimate"]) < 0.25 * want["Est.Error"], (loo, want)
    assert loo["Estimate"] < table.loc["R2", "Estimate"]  # out-of-sample fit is worse


def test_r2_needs_the_training_rows(sleep_prior, tmp_path):
    path = tmp_path / "fit.nc"
    sleep_prior.save(path, data=False)
    with pytest.raises(FormulangError, match="does not hold"):
        fl.load(path).bayes_r2()


# ---- command line and console ------------------------------------------------------------------

def test_cli_and_console(tmp_path, capsys):
    from formulang.app.cli import main
    from formulang.app.repl.session import Session
    import io

    fit, _ = _fit("sleepstudy")
    path = tmp_path / "sleep.nc"
    fit.save(path)
    assert main(["hypothesis", str(path), "Days > 8", "Days - 10 = 0", "--prob", "0.9"]) == 0
    out = capsys.readouterr().out
    want = fit.hypothesis(["Days > 8"], prob=0.9).iloc[0]
    assert "0.9 intervals" in out and f"{want['Post.Prob']:.4g}" in out
    assert out.splitlines()[-1].split()[-2:] == ["NA", "NA"]
    assert main(["r2", str(path), "--no-loo"]) == 0
    out = capsys.readouterr().out
    assert "bayes_R2" in out and "loo_R2" not in out
    assert f"{fit.bayes_r2().loc['R2', 'Estimate']:.4g}" in out
    assert main(["hypothesis", str(path), "Dayz > 1"]) == 2
    assert "did you mean Days" in capsys.readouterr().err
    s = Session(out=io.StringIO())
    s.run_command(f"open {path}")
    text = s.run_command("hypothesis Intercept + 10 * Days > 360 --prob 0.8")
    assert "Intercept + 10 * Days > 360" in text and "0.8 intervals" in text
    assert "loo_R2" in s.run_command("r2")
