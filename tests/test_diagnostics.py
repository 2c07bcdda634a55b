"""Fit diagnostics (formulang.report.diagnostics): each problem, its numbers and its advice.

Unit tests build fits from synthetic draws and sampler statistics of real models (building a
model is cheap; only sampling costs), so each problem type is produced on purpose. Two real
fits close the file: the centered radon slope model (a funnel: the diagnostics must object and
name ``county``) and sleepstudy (clean).
"""

from __future__ import annotations

import re
from types import SimpleNamespace

import numpy as np
import pytest

import formulang as fl
from formulang.fit import Fit
from formulang.infer.nuts import SamplerSettings
from formulang.report.diagnostics import Diagnostics, Problem, diagnose

SLEEP = "Reaction ~ Days + (Days | Subject)"
RADON = "log_radon ~ floor + (1 + floor | county)"


@pytest.fixture(scope="module")
def sleep_model():
    return fl.Model(SLEEP, fl.datasets.load("sleepstudy"))


@pytest.fixture(scope="module")
def radon_centered():
    return fl.Model(RADON, fl.datasets.load("radon"), reparam="centered")


def weakly_informed(model) -> str:
    """How the advice counts the (forced centered) county levels whose weight is below 1/2."""
    weak = sum(w < 0.5 for w in model.parameterization[0].weights)
    assert 40 < weak <= 85  # most or all of them
    return "all its levels" if weak == 85 else f"{weak} of its 85 levels"


@pytest.fixture(scope="module")
def radon_noncentered():
    return fl.Model(RADON, fl.datasets.load("radon"), reparam="noncentered")


def synthetic_fit(model, chains=4, draws=500, seed=0, max_tree_depth=10, target_accept=0.8):
    """A NUTS fit of ``model`` with well-mixed independent draws and benign statistics;
    tests then break one thing at a time."""
    rng = np.random.default_rng(seed)
    shape = (chains, draws)
    plan = model.plan
    samples = {}
    if plan.columns:
        samples["b"] = rng.normal(size=shape + (len(plan.columns),))
    for g in plan.groups:
        samples[g.sd.name] = np.exp(rng.normal(-1.0, 0.3, size=shape + (g.k,)))
        samples[f"r_{g.name}"] = rng.normal(size=shape + (len(g.levels), g.k))
        if g.correlated_pairs:
            samples[f"cor_{g.name}"] = np.tanh(rng.normal(size=shape + (len(g.correlated_pairs),)))
    for aux in plan.aux:
        samples[aux] = np.exp(rng.normal(0.0, 0.1, size=shape))
    stats = {
        "diverging": np.zeros(shape, dtype=bool),
        "energy": rng.normal(100.0, 3.0, size=shape),
        "num_steps": np.full(shape, 15, dtype=np.int32),
        "accept_prob": np.full(shape, 0.9),
        "potential_energy": rng.normal(90.0, 2.0, size=shape),
    }
    run = SimpleNamespace(settings=SamplerSettings(draws, draws, chains, target_accept,
                                                   max_tree_depth))
    return Fit(model, samples, stats, method="nuts", run=run)


def kinds(d: Diagnostics) -> list[str]:
    return [p.kind for p in d.problems]


def problem(d: Diagnostics, kind: str) -> Problem:
    (p,) = [p for p in d.problems if p.kind == kind]
    return p


# ---- synthetic: one problem at a time -----------------------------------------------------


def test_clean_draws_report_no_problems(sleep_model):
    d = diagnose(synthetic_fit(sleep_model))
    assert d.ok and d.problems == () and d.suspects == ()
    assert (d.chains, d.draws, d.method) == (4, 500, "nuts")
    assert d.divergences == 0 and d.divergence_share == 0.0 and d.tree_depth_hits == 0
    assert d.max_tree_depth == 10
    assert d.max_rhat < 1.01 and d.min_ess_bulk > 400 and d.min_ess_tail > 400
    assert len(d.bfmi) == 4 and min(d.bfmi) > 1.0  # independent energies: E-BFMI ~ 2
    # every reported quantity is checked: summary parameters, group-level effects and lp__
    assert {"b_Intercept", "b_Days", "sd_Subject__Intercept", "sd_Subject__Days",
            "cor_Subject__Intercept__Days", "sigma", "r_Subject[308,Days]", "lp__"} \
        <= set(d.rhat)
    assert len(d.rhat) == 6 + 18 * 2 + 1
    text = str(d)
    assert text.startswith("No problems: 0 divergences, max R-hat 1.0")
    assert "min bulk ESS" in text and "E-BFMI ≥" in text and "4 chains x 500 draws" in text


def test_divergences_at_small_sd_blame_the_centered_term(radon_centered):
    fit = synthetic_fit(radon_centered, chains=2, draws=500)
    sd_floor = fit.samples["sd_county"][..., 1]
    fit.stats["diverging"] = sd_floor < np.quantile(sd_floor, 0.012)  # 12 draws, at the neck
    d = diagnose(fit)
    assert not d.ok
    p = problem(d, "divergences")
    assert p.severity == "error" and p.where == ("~county",)
    assert d.divergences == 12 and d.divergence_share == pytest.approx(12 / 1000)
    assert p.what.startswith("12 divergent transitions (1.2%) — the posterior has regions the "
                             "sampler cannot follow")
    assert "Divergent draws sit at small sd_county__floor" in p.advice
    assert (f"Group term ~county is centered on {weakly_informed(radon_centered)}, which have "
            "little data: refit with reparam='noncentered' (or reparam={'county': "
            "'noncentered'}), or refit with target_accept=0.95") in p.advice
    assert d.suspects == ("~county",)
    assert str(d).startswith("1 problem in 2 chains x 500 draws (nuts):\n- [error] 12 divergent")


def test_divergences_at_large_sd_blame_noncentered_levels(radon_noncentered):
    fit = synthetic_fit(radon_noncentered, chains=2, draws=500, target_accept=0.95)
    sd_int = fit.samples["sd_county"][..., 0]
    fit.stats["diverging"] = sd_int > np.quantile(sd_int, 0.99)
    p = problem(diagnose(fit), "divergences")
    assert "Divergent draws sit at large sd_county__Intercept" in p.advice
    assert "Group term ~county is non-centered on" in p.advice
    assert "refit with reparam={'county': 'centered'}" in p.advice
    assert "refit with target_accept=0.99" in p.advice  # already 0.95: go further


def test_collapsed_fits_never_advise_reparameterising(sleep_model):
    # a collapsed fit sampled no group effects: divergences at small SDs or poorly mixing
    # SDs point at the term's SDs and priors, not at its centring
    assert sleep_model.collapsed
    fit = synthetic_fit(sleep_model, chains=2, draws=500)
    fit.collapsed = True
    sd_days = fit.samples["sd_Subject"][..., 1]
    fit.stats["diverging"] = sd_days < np.quantile(sd_days, 0.012)
    fit.samples["sd_Subject"][1, :, 0] += 3.0  # chain 2 elsewhere: R-hat fails for an SD
    d = diagnose(fit)
    text = " ".join(p.advice for p in d.problems)
    assert {"divergences", "rhat"} <= set(kinds(d))
    assert problem(d, "divergences").where == ("~Subject",)
    assert "Divergent draws sit at small sd_Subject__Days" in text
    assert ("Group term ~Subject is integrated out (collapsed: no funnel to reparameterise), "
            "so its SDs and correlations mix slowly") in text
    assert "18 levels" not in text  # enough levels: the prior is the lever, not the count
    assert "centered" not in text and "reparam=" not in text
    # only an effect mixes poorly, its SD well: the effect follows the SDs; no prior advised
    fit = synthetic_fit(sleep_model, chains=2, draws=500)
    fit.collapsed = True
    fit.samples["r_Subject"][1, :, 3, 0] += 50.0  # one level's intercept, chain 2 elsewhere
    text = " ".join(p.advice for p in diagnose(fit).problems if p.kind == "rhat")
    assert "its effects are drawn exactly given its SDs, so they mix as the SDs do" in text
    assert "tighter prior" not in text


def test_partially_collapsed_fits_blame_only_the_sampled_terms(monkeypatch):
    # Penicillin's crossed model, its Schur part off (as for a large second factor), integrates
    # plate's effects out and samples sample's: trouble in plate's SD points at its prior (no
    # centring to change), while sample's term keeps the usual centring advice (it was sampled)
    from formulang.lower import collapsed_schur

    data = fl.datasets.load("Penicillin")
    both = fl.Model("diameter ~ 1 + (1 | plate) + (1 | sample)", data)
    assert both.compiled.collapsed_terms == ("plate", "sample")  # by default: nothing sampled
    monkeypatch.setattr(collapsed_schur, "SCHUR_MAX_COST", 0.0)
    model = fl.Model("diameter ~ 1 + (1 | plate) + (1 | sample)", data)
    assert model.compiled.collapsed_terms == ("plate",) and not model.collapsed
    fit = synthetic_fit(model, chains=2, draws=500)
    assert not fit.collapsed
    fit.samples["sd_plate"][1, :, 0] += 3.0  # chain 2 elsewhere: R-hat fails for plate's SD
    text = " ".join(p.advice for p in diagnose(fit).problems)
    assert "Group term ~plate is integrated out (collapsed: no funnel to reparameterise)" in text
    assert "~plate is centered" not in text and "~plate is non-centered" not in text
    fit.samples["sd_plate"][1, :, 0] -= 3.0
    fit.samples["sd_sample"][1, :, 0] += 3.0
    text = " ".join(p.advice for p in diagnose(fit).problems)
    assert "~sample" in text and "integrated out" not in text


def test_divergences_without_a_signal_fall_back_on_the_plan(radon_centered, sleep_model):
    # 2 divergences anywhere: too few to compare draws; the plan's centered term with
    # weakly informed levels is the usual funnel
    fit = synthetic_fit(radon_centered, chains=2, draws=500)
    fit.stats["diverging"][0, [10, 300]] = True
    p = problem(diagnose(fit), "divergences")
    assert p.where == ("~county",) and "Divergent draws sit" not in p.advice
    assert "reparam='noncentered' (or reparam={'county': 'noncentered'})" in p.advice
    # sleepstudy: every level is well informed and the draws say nothing: generic advice
    fit = synthetic_fit(sleep_model)
    fit.stats["diverging"][1, 7] = True
    p = problem(diagnose(fit), "divergences")
    assert p.where == () and p.what.startswith("1 divergent transition (0.05%)")
    assert p.advice.startswith("Refit with target_accept=0.95")


def test_tree_depth_hits_follow_numpyro_num_steps(sleep_model):
    fit = synthetic_fit(sleep_model)
    steps = fit.stats["num_steps"]
    steps[0, :7] = 1023  # 2^10 - 1: the full depth-10 trajectory
    steps[1, :5] = 1000  # depth 10 reached, but stopped by a U-turn: not a hit (Stan agrees)
    d = diagnose(fit)
    assert d.tree_depth_hits == 7 and d.max_tree_depth == 10
    p = problem(d, "tree_depth")
    assert p.severity == "warning"
    assert p.what.startswith("7 draws (0.4%) hit the maximum tree depth 10")
    assert "Refit with max_tree_depth=12, or reparameterise" in p.advice
    # the limit comes from the run's settings
    fit = synthetic_fit(sleep_model, max_tree_depth=6)
    fit.stats["num_steps"][2, 3] = 63
    assert diagnose(fit).tree_depth_hits == 1


def test_rhat_names_the_parameter_and_is_an_error_when_large(sleep_model):
    fit = synthetic_fit(sleep_model)
    fit.samples["b"][0, :, 1] += 1.0  # chain 1 sits one posterior SD away on b_Days
    d = diagnose(fit)
    p = problem(d, "rhat")
    assert d.max_rhat_param == "b_Days" and d.max_rhat > 1.05
    assert p.severity == "error" and p.where == ("b_Days",)
    assert re.match(r"R-hat above 1.01 for b_Days \(1\.\d{3}\) — the chains disagree", p.what)
    assert p.advice.startswith("Run longer chains")
    assert d.suspects == ()


def test_rhat_of_a_group_sd_points_at_its_term(radon_centered):
    fit = synthetic_fit(radon_centered, chains=2, draws=500)
    fit.samples["sd_county"][0, :, 1] *= 1.15  # 0.5 SD apart: R-hat about 1.02
    d = diagnose(fit)
    p = problem(d, "rhat")
    assert p.severity == "warning" and p.where == ("sd_county__floor",)
    assert 1.01 < d.max_rhat < 1.05
    assert p.advice.startswith(f"Group term ~county is centered on "
                               f"{weakly_informed(radon_centered)}, which have little data: refit with reparam='noncentered'")
    assert p.advice.endswith("Longer chains (more tune and draws) help too.")
    assert d.suspects == ("~county",)


def test_advice_on_a_sub_formula_term_names_its_prior_key():
    """A poorly mixing SD of sigma's formula's term on g: the advice names the term as the
    sub-formula's and its prior as users key it, sd_sigma[g] (not sd[g], the response's)."""
    from formulang.lower.sites import all_groups, predictors

    rng = np.random.default_rng(1)
    df = {"y": rng.normal(size=40), "x": rng.normal(size=40), "g": np.repeat(list("abcd"), 10)}
    model = fl.Model("y ~ x + (1 | g); sigma ~ x + (1 | g)", df)
    shape = (2, 500)
    samples = {pred.sites.coefficients: rng.normal(size=shape + (len(pred.columns),))
               for pred in predictors(model.plan)}
    for g in all_groups(model.plan):
        samples[g.sd.name] = np.exp(rng.normal(-1.0, 0.3, size=shape + (g.k,)))
        samples[g.sites.r] = rng.normal(size=shape + (len(g.levels), g.k))
    stats = {"diverging": np.zeros(shape, dtype=bool), "energy": rng.normal(100, 3, shape),
             "num_steps": np.full(shape, 15, dtype=np.int32),
             "accept_prob": np.full(shape, 0.9), "potential_energy": rng.normal(90, 2, shape)}
    samples["sd_g__sigma"][0] *= 1.5  # the chains disagree on it: R-hat well above 1.01
    fit = Fit(model, samples, stats, method="nuts",
              run=SimpleNamespace(settings=SamplerSettings(500, 500, 2, 0.8, 10)))
    p = problem(diagnose(fit), "rhat")
    assert p.where == ("sd_g__sigma_Intercept",)
    assert p.advice.startswith("Group term ~g in sigma's formula has only 4 levels, so the "
                               "data say little about its SD: a tighter prior on "
                               "sd_sigma[g] helps"), p.advice
    assert "sd[g]" not in p.advice

def test_low_ess_bulk_and_tail(sleep_model):
    fit = synthetic_fit(sleep_model, chains=2, draws=500)
    rng = np.random.default_rng(5)
    walk = np.zeros((2, 500))
    for t in range(1, 500):  # AR(1), phi = 0.97: ESS about 1000 * 0.03 / 1.97 ~ 15
        walk[:, t] = 0.97 * walk[:, t - 1] + rng.normal(size=2)
    fit.samples["sigma"] = np.exp(0.05 * walk)
    d = diagnose(fit)
    bulk, tail = problem(d, "ess_bulk"), problem(d, "ess_tail")
    assert bulk.where == ("sigma",) and tail.where == ("sigma",)
    assert d.min_ess_bulk_param == "sigma" and d.min_ess_bulk < 100
    assert d.ess_min == 200  # 100 per chain, 2 chains
    assert bulk.what.startswith(f"bulk ESS below 200 (100 per chain) for sigma "
                                f"({d.min_ess_bulk:.0f})")
    assert "posterior means and medians are imprecise" in bulk.what
    assert "intervals and tail quantiles are imprecise" in tail.what
    assert bulk.severity == tail.severity == "warning"
    # shared advice is printed once
    assert str(d).count("Run longer chains") == 1


def test_low_ebfmi(radon_centered):
    from formulang.report.idata import import_arviz

    fit = synthetic_fit(radon_centered, chains=2, draws=500)
    rng = np.random.default_rng(3)
    fit.stats["energy"] = np.cumsum(rng.normal(size=(2, 500)), axis=1)  # a random walk
    d = diagnose(fit)
    p = problem(d, "bfmi")
    np.testing.assert_allclose(d.bfmi, import_arviz().bfmi(fit.stats["energy"]))
    assert max(d.bfmi) < 0.3 and p.severity == "warning"
    assert p.what.startswith("E-BFMI below 0.3 (chain 1: 0.0")
    assert "{'county': 'noncentered'}" in p.advice and p.where == ("~county",)


def test_approximate_fits_say_diagnostics_are_for_nuts(sleep_model):
    one = {k: v[:1, :1] for k, v in synthetic_fit(sleep_model).samples.items()}
    d = diagnose(Fit(sleep_model, one, {}, method="map"))
    assert not d.ok and set(kinds(d)) == {"method"} and d.method == "map"
    assert d.divergences is None and d.max_rhat is None and d.bfmi == ()
    text = str(d)
    assert "only for NUTS" in text and "towards zero" in text
    assert "sd_Subject__Days = " in text and "method='nuts'" in text
    assert d.problems[1].where == ("~Subject",)
    many = {k: v[:1] for k, v in synthetic_fit(sleep_model).samples.items()}
    d = diagnose(Fit(sleep_model, many, {}, method="vi"))
    assert len(d.problems) == 1 and "only for NUTS" in str(d) and "understate" in str(d)
    assert (d.chains, d.draws) == (1, 500)


def test_problem_and_report_format():
    p = Problem("warning", "ess_bulk", "bulk ESS 212 for b_x", ("b_x",), "run more draws")
    assert str(p) == "[warning] bulk ESS 212 for b_x — run more draws"
    assert str(Problem("error", "divergences", "3 divergent transitions")) == \
        "[error] 3 divergent transitions"
    d = Diagnostics("nuts", 4, 1000, divergences=0, max_rhat=1.0031, max_rhat_param="b_Days",
                    min_ess_bulk=1112.4, min_ess_bulk_param="b_Days", min_ess_tail=1485,
                    min_ess_tail_param="b_Days", bfmi=(0.64, 0.71, 0.9, 0.66))
    assert str(d) == ("No problems: 0 divergences, max R-hat 1.003 (b_Days), min bulk ESS 1112 "
                      "(b_Days), min tail ESS 1485 (b_Days), E-BFMI ≥ 0.64; 4 chains x 1000 "
                      "draws (nuts).")


# ---- real fits -------------------------------------------------------------------------------


def test_centered_radon_slopes_are_flagged_and_county_named(radon_centered):
    """Centering the varying floor slope on 85 counties, most with a handful of houses, makes
    the funnel the reparameterisation module exists to avoid: the sampler cannot mix the SD
    of the floor slopes (seen: R-hat 1.030 and bulk ESS 52 of 1000 draws on
    sd_county__floor, E-BFMI 0.17-0.19; other seeds alike)."""
    fit = radon_centered.fit(draws=500, tune=500, chains=2, seed=0)
    d = fit.diagnostics()
    assert not d.ok
    assert {"rhat", "divergences"} & set(kinds(d))
    mixing = [p for p in d.problems if p.kind in ("rhat", "ess_bulk", "divergences")]
    assert any("sd_county__floor" in p.where or "~county" in p.where for p in mixing)
    assert "~county" in d.suspects
    advice = " ".join(p.advice for p in d.problems)
    assert "Group term ~county is centered on" in advice
    assert "reparam='noncentered' (or reparam={'county': 'noncentered'})" in advice
    # deterministic under the seed: the same draws, the same report
    again = radon_centered.fit(draws=500, tune=500, chains=2, seed=0)
    np.testing.assert_array_equal(again.samples["sd_county"], fit.samples["sd_county"])
    assert str(again.diagnostics()) == str(d)


def test_sleepstudy_fit_is_clean(sleep_model):
    fit = sleep_model.fit(seed=0)
    d = fit.diagnostics()
    assert d.ok, str(d)
    assert d.divergences == 0 and d.tree_depth_hits == 0
    assert d.max_rhat < 1.01 and d.min_ess_bulk > 400 and d.min_ess_tail > 400
    assert min(d.bfmi) > 0.3
    assert str(d).startswith("No problems: 0 divergences, max R-hat 1.00")
    # the same numbers as ArviZ's own estimators (az.rhat, az.ess: formulang vectorises the
    # same rank-normalised split R-hat and bulk/tail ESS) for every reported parameter, and as
    # the summary table; up to the float32 rounding of the draws (diagnostics: float64)
    from formulang.lower.sites import flat_parameters
    from formulang.report.idata import import_arviz

    az, post, table = import_arviz(), fit.posterior.posterior, fit.summary()
    names = set()
    for p in flat_parameters(fit.plan):
        x = np.asarray(post[p.variable].values, dtype=np.float64)
        x = x if p.index is None else x[..., p.index]
        assert d.rhat[p.name] == pytest.approx(float(az.rhat(x)), rel=1e-4), p.name
        assert d.ess_bulk[p.name] == pytest.approx(float(az.ess(x, method="bulk")), rel=1e-3)
        assert d.ess_tail[p.name] == pytest.approx(float(az.ess(x, method="tail")), rel=1e-3)
        assert d.rhat[p.name] == pytest.approx(table.loc[p.name, "rhat"], rel=1e-4)
        names.add(p.name)
    assert names == set(table.index)
