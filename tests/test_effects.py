"""Conditional effects (brms's ``conditional_effects``) and marginaleffects' verbs
(``predictions``, ``comparisons``, ``slopes``) on posterior draws.

The unit tests run on prior draws (no sampling) and check every number against a hand
computation from the draws (``fit.samples``): the linear predictor written out, so a wrong
grid, condition, contrast or average fails. Their tolerances are float rounding (finite
differences of a linear function: relative 1e-6).

The agreement tests compare with brms 2.18 (``tests/fixtures/brms_effects/make.R``: 4 chains x
1000 draws, the fits of ``tests/fixtures/brms_tables/make.R`` plus a binomial model of cbpp
with a factor predictor). formulang's sleepstudy and radon fits are those of
``tests/test_tables.py`` (shared: 2 chains x 1000, fixed seeds); cbpp's is fitted here.

**Tolerance.** A grid row's estimate (the median of its draws) differs between the two runs by
Monte Carlo error of SD ``hypot(m_brms, m_ours)``, ``m = 1.2533 sd / sqrt(ESS)`` (the
median's MCSE under normality), ESS per grid row (brms's from its draws, in the fixture; ours
from our draws). The bound is 4 such SDs (a chance failure has probability 6e-5 per number)
plus 0.1 posterior SD for what the implementations may honestly differ by (priors written
alike, adaptation not), as tests/test_tables.py's rule. Interval bounds (tail quantiles,
whose Monte Carlo error is about twice the median's) get twice the Monte Carlo term plus
0.25 posterior SD; the MAD (``se__``) agrees within 10%.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import formulang as fl
from formulang.errors import FormulangError
from fit_support import prior_fit

FIXTURE = Path(__file__).parent / "fixtures" / "brms_effects" / "brms_effects.json"
Z = 4.0


@pytest.fixture(scope="module")
def frame():
    rng = np.random.default_rng(0)
    n = 60
    df = pd.DataFrame({"x": rng.normal(size=n), "z": rng.normal(2.0, 3.0, size=n),
                       "f": rng.choice(list("abc"), n), "g": rng.choice(list("pqrs"), n)})
    df["y"] = 1 + 2 * df.x + rng.normal(size=n)
    df["c"] = rng.poisson(np.exp(0.5 + 0.3 * df.x))
    df["k"] = rng.integers(1, 4, n)
    return df


@pytest.fixture(scope="module")
def gauss(frame):
    return prior_fit(fl.Model("y ~ x * f + z + (1 | g)", frame), draws=50)


def _b(fit, name):
    """Draws of one population coefficient, by its design column."""
    j = fit.bound.X_columns.index(name)
    return fit.samples["b"].reshape(-1, fit.samples["b"].shape[-1]).astype(float)[:, j]


def _r(fit, group="g"):
    r = fit.samples[f"r_{group}"]
    return r.reshape((-1,) + r.shape[2:]).astype(float)[..., 0]  # intercepts, (S, levels)


# ---- conditional effects -----------------------------------------------------------------------

def test_numeric_effect_follows_brms_rules(gauss, frame):
    ce = gauss.conditional_effects("x")
    d = ce.data
    assert len(d) == 100 and ce.effects == ("x",) and ce.types == ("numeric",)
    np.testing.assert_allclose(d["x"], np.linspace(frame.x.min(), frame.x.max(), 100))
    assert (d["z"] == frame.z.mean()).all() and (d["f"] == "a").all()  # mean, reference
    assert "g" not in d  # group effects left out (re_formula = NA)
    assert list(d.columns[-4:]) == ["estimate__", "se__", "lower__", "upper__"]
    mu = (_b(gauss, "Intercept")[:, None] + np.outer(_b(gauss, "x"), d["x"])
          + (_b(gauss, "z") * frame.z.mean())[:, None])
    np.testing.assert_allclose(ce.draws, mu, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(d["estimate__"], np.median(mu, axis=0), rtol=1e-9)
    mad = 1.4826 * np.median(np.abs(mu - np.median(mu, axis=0)), axis=0)
    np.testing.assert_allclose(d["se__"], mad, rtol=1e-9)
    np.testing.assert_allclose(d["lower__"], np.quantile(mu, 0.025, axis=0), rtol=1e-9)
    ce90 = gauss.conditional_effects("x", prob=0.9, robust=False)
    np.testing.assert_allclose(ce90.data["upper__"], np.quantile(mu, 0.95, axis=0), rtol=1e-9)
    np.testing.assert_allclose(ce90.data["estimate__"], mu.mean(axis=0), rtol=1e-9)


def test_interaction_with_a_factor_and_a_numeric_moderator(gauss, frame):
    for spelling in ("x:f", "f:x"):  # numeric first either way, as brms reorders
        ce = gauss.conditional_effects(spelling, resolution=10)
        assert ce.effects == ("x", "f") and len(ce.data) == 30
    d = ce.data
    assert list(d["f"][:3]) == ["a", "b", "c"] and list(d["effect2__"][:3]) == ["a", "b", "c"]
    rows = d["f"] == "b"
    xb = d["x"][rows].to_numpy(dtype=float)
    mu = (_b(gauss, "Intercept") + _b(gauss, "fb") + _b(gauss, "z") * frame.z.mean())[:, None] \
        + np.outer(_b(gauss, "x") + _b(gauss, "x:fb"), xb)
    np.testing.assert_allclose(d["estimate__"][rows], np.median(mu, axis=0), rtol=1e-9)
    ce = gauss.conditional_effects("x:z", resolution=5)
    z = sorted(set(ce.data["z"]))
    np.testing.assert_allclose(z, frame.z.mean() + np.array([-1, 0, 1]) * frame.z.std(ddof=1))
    assert list(ce.data["effect2__"].cat.categories) == sorted(np.round(z, 2), reverse=True)


def test_factor_effect_one_row_per_level(gauss, frame):
    ce = gauss.conditional_effects("f")
    assert list(ce.data["f"]) == ["a", "b", "c"] and ce.types == ("factor",)
    assert (ce.data["x"] == frame.x.mean()).all()
    mu = (_b(gauss, "Intercept") + _b(gauss, "fc") + (_b(gauss, "x") + _b(gauss, "x:fc"))
          * frame.x.mean() + _b(gauss, "z") * frame.z.mean())
    assert ce.data["estimate__"][2] == pytest.approx(np.median(mu), rel=1e-9)


def test_group_effects_and_methods(gauss):
    plain = gauss.conditional_effects("x", resolution=5)
    with_groups = gauss.conditional_effects("x", resolution=5, group_effects=True)
    # a new level's effect drawn per draw widens every interval
    assert (with_groups.data["upper__"] - with_groups.data["lower__"]
            > plain.data["upper__"] - plain.data["lower__"]).all()
    linpred = gauss.conditional_effects("x", resolution=5, method="posterior_linpred")
    np.testing.assert_allclose(linpred.draws, plain.draws)  # identity link
    drawn = gauss.conditional_effects("x", resolution=5, method="posterior_predict")
    assert drawn.data["se__"].gt(plain.data["se__"]).all()  # sigma's noise on top


def test_bad_requests_are_clear_errors(gauss):
    cases = [("g", "grouping factor"), ("w", "not a predictor.*x, f, z"),
             ("x:f:z", "one predictor, or two"), ("", "name a predictor")]
    for effect, message in cases:
        with pytest.raises(FormulangError, match=message):
            gauss.conditional_effects(effect)
    with pytest.raises(FormulangError, match="prob=1.5"):
        gauss.conditional_effects("x", prob=1.5)
    with pytest.raises(FormulangError, match="unknown method"):
        gauss.conditional_effects("x", method="fitted")
    with pytest.raises(FormulangError, match="categorical=True is for ordinal"):
        gauss.conditional_effects("x", categorical=True)
    with pytest.raises(FormulangError, match="conditions names 'q'"):
        gauss.conditional_effects("x", conditions={"q": 1})


def test_conditions_override_typical_values(gauss):
    d = gauss.conditional_effects("x", resolution=3, conditions={"f": "c", "z": 0.0}).data
    assert (d["f"] == "c").all() and (d["z"] == 0.0).all()


def test_ordinal_and_categorical_models(frame):
    fo = prior_fit(fl.Model("k ~ x", frame, family="cumulative"), draws=20)
    mean = fo.conditional_effects("x", resolution=5)
    probs = fo.conditional_effects("x", resolution=5, categorical=True)
    assert probs.effects == ("x", "cats__") and list(probs.data["cats__"].cat.categories) == \
        ["1", "2", "3"]
    p = probs.draws.reshape(probs.draws.shape[0], 3, 5)  # blocks of rows per category
    np.testing.assert_allclose(p.sum(axis=1), 1, rtol=1e-6)
    # brms's ordinal default: the expected category, sum_k k p_k
    np.testing.assert_allclose(mean.draws, np.einsum("skr,k->sr", p, [1, 2, 3]), rtol=1e-6)
    fc = prior_fit(fl.Model("k ~ x", frame, family="categorical"), draws=20)
    with pytest.raises(FormulangError, match="categorical=True"):
        fc.conditional_effects("x")
    assert len(fc.conditional_effects("x", resolution=4, categorical=True).data) == 12


# ---- the plot ----------------------------------------------------------------------------------

def test_plot_draws_lines_ribbons_and_points(gauss):
    from matplotlib.collections import PolyCollection

    ce = gauss.conditional_effects("x", resolution=20)
    ax = ce.plot().axes[0]
    (line,) = ax.get_lines()
    np.testing.assert_allclose(line.get_xdata(), ce.data["x"])
    np.testing.assert_allclose(line.get_ydata(), ce.data["estimate__"])
    ribbon = [c for c in ax.collections if isinstance(c, PolyCollection)]
    assert len(ribbon) == 1
    top = ribbon[0].get_paths()[0].vertices[:, 1].max()
    assert top == pytest.approx(ce.data["upper__"].max())
    assert ax.get_xlabel() == "x" and ax.get_ylabel() == "y"

    ax = gauss.conditional_effects("x:f", resolution=20).plot().axes[0]
    assert len(ax.get_lines()) == 3
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["a", "b", "c"]

    ce = gauss.conditional_effects("f")
    ax = gauss.plot("effects", effect="f").axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["a", "b", "c"]
    (bars,) = ax.containers
    np.testing.assert_allclose(bars.lines[0].get_ydata(), ce.data["estimate__"])
    segments = bars.lines[2][0].get_segments()
    np.testing.assert_allclose([s[:, 1].max() for s in segments], ce.data["upper__"])


# ---- marginaleffects' verbs --------------------------------------------------------------------

def _eta(fit, frame, x=None, f=None):
    """The linear predictor of y ~ x * f + z + (1 | g) per draw and row, by hand."""
    x = frame.x.to_numpy() if x is None else x
    f = frame.f.to_numpy() if f is None else f
    eta = (_b(fit, "Intercept")[:, None] + np.outer(_b(fit, "x"), x)
           + np.outer(_b(fit, "z"), frame.z))
    for lev in "bc":
        is_lev = (np.asarray(f) == lev).astype(float)
        eta += np.outer(_b(fit, "f" + lev), is_lev) + np.outer(_b(fit, "x:f" + lev), is_lev * x)
    levels = list(fit.bound.groups[0].levels)
    return eta + _r(fit)[:, [levels.index(v) for v in frame.g]]


def test_predictions_per_row_and_by_group(gauss, frame):
    mu = _eta(gauss, frame)
    t, draws = gauss.predictions(return_draws=True)
    assert len(t) == len(frame) and list(t.columns[-3:]) == ["estimate", "conf.low", "conf.high"]
    np.testing.assert_allclose(draws, mu, rtol=1e-9)
    np.testing.assert_allclose(t["estimate"], np.median(mu, axis=0), rtol=1e-9)
    t = gauss.predictions(by="f", prob=0.9)
    assert list(t["f"]) == ["a", "b", "c"]
    avg_b = mu[:, (frame.f == "b").to_numpy()].mean(axis=1)  # averaged per draw, then summarised
    assert t["estimate"][1] == pytest.approx(np.median(avg_b), rel=1e-9)
    assert t["conf.high"][1] == pytest.approx(np.quantile(avg_b, 0.95), rel=1e-9)
    overall = gauss.predictions(by=True)
    assert len(overall) == 1 and overall["estimate"][0] == pytest.approx(
        np.median(mu.mean(axis=1)), rel=1e-9)


def test_a_family_parameters_conditional_effect(frame):
    fit = prior_fit(fl.Model("y ~ x + (1 | g); sigma ~ x", frame), draws=20)
    ce = fit.conditional_effects("x", resolution=5, dpar="sigma")
    b = fit.samples["b_sigma"].reshape(-1, 2).astype(float)  # Intercept, x (uncentred)
    x = np.linspace(frame.x.min(), frame.x.max(), 5)
    np.testing.assert_allclose(ce.draws, np.exp(b[:, :1] + np.outer(b[:, 1], x)), rtol=1e-5)
    linear = fit.conditional_effects("x", resolution=5, dpar="sigma",
                                     method="posterior_linpred")
    np.testing.assert_allclose(linear.draws, np.log(ce.draws), rtol=1e-5, atol=1e-6)
    assert ce.response == "sigma" and ce.points is None
    with pytest.raises(FormulangError, match="dpar='sigma' shows a parameter's value"):
        fit.conditional_effects("x", dpar="sigma", method="posterior_predict")


def test_groups_of_numbers_written_as_text_come_in_numeric_order():
    cbpp = fl.datasets.load("cbpp")
    fit = prior_fit(fl.Model("incidence | trials(size) ~ period + (1 | herd)", cbpp), draws=5)
    t = fit.predictions(by="herd")
    assert t["herd"].astype(str).tolist() == [str(h) for h in range(1, 16)]  # not 1, 10, ...
    both = fit.predictions(by=["period", "herd"])
    assert both["herd"].astype(str).tolist()[:11] == [str(h) for h in range(1, 12)]


def test_slopes_and_comparisons_of_a_linear_model(gauss, frame):
    share = {lev: (frame.f == lev).mean() for lev in "bc"}
    slope = _b(gauss, "x") + sum(_b(gauss, "x:f" + lev) * share[lev] for lev in "bc")
    t, draws = gauss.slopes("x", return_draws=True)
    assert list(t[["term", "contrast"]].iloc[0]) == ["x", "dY/dX"] and len(t) == 1
    np.testing.assert_allclose(draws[:, 0], slope, rtol=1e-6)
    centred = gauss.slopes("x", numderiv="fdcenter")
    assert centred["estimate"][0] == pytest.approx(np.median(slope), rel=1e-6)
    t = gauss.comparisons("x")  # +1 of a linear predictor: the same as the slope
    assert t["contrast"][0] == "+1"
    assert t["estimate"][0] == pytest.approx(np.median(slope), rel=1e-6)
    t, draws = gauss.comparisons("f", return_draws=True)
    assert list(t["contrast"]) == ["b - a", "c - a"]
    np.testing.assert_allclose(draws[:, 1], _b(gauss, "fc") + _b(gauss, "x:fc") * frame.x.mean(),
                               rtol=1e-6)
    by_f = gauss.slopes("x", by="f")
    assert list(by_f["f"]) == ["a", "b", "c"]
    assert by_f["estimate"][1] == pytest.approx(np.median(_b(gauss, "x") + _b(gauss, "x:fb")),
                                                rel=1e-6)
    grid = pd.DataFrame({"x": [0.0, 1.0], "z": [0.0, 0.0], "f": ["a", "b"], "g": ["p", "q"]})
    assert len(gauss.comparisons("x", newdata=grid)) == 2  # a grid: one row per row


def test_comparisons_of_a_poisson_model_by_hand(frame):
    fit = prior_fit(fl.Model("c ~ x + (1 | g)", frame, family="poisson"), draws=50)
    levels = list(fit.bound.groups[0].levels)
    base = _b(fit, "Intercept")[:, None] + _r(fit)[:, [levels.index(v) for v in frame.g]]
    x = frame.x.to_numpy()
    diff = (np.exp(base + np.outer(_b(fit, "x"), x + 1))
            - np.exp(base + np.outer(_b(fit, "x"), x))).mean(axis=1)
    t, draws = fit.comparisons("x", return_draws=True)
    np.testing.assert_allclose(draws[:, 0], diff, rtol=1e-9)
    assert t["estimate"][0] == pytest.approx(np.median(diff), rel=1e-9)
    pop = fit.comparisons("x", group_effects=False, return_draws=True)[1][:, 0]
    b0 = _b(fit, "Intercept")[:, None]
    want = (np.exp(b0 + np.outer(_b(fit, "x"), x + 1))
            - np.exp(b0 + np.outer(_b(fit, "x"), x))).mean(axis=1)
    np.testing.assert_allclose(pop, want, rtol=1e-9)


def _population(fit, rows, **kw):
    """Predictions with every grouping factor at a level no training row has (effect 0)."""
    rows = rows.assign(g="no such level")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return np.asarray(fit.predict(rows, new_levels="population", **kw), dtype=float)


@pytest.mark.parametrize("formula, family", [("c ~ x; zi ~ 1 + (1 | g)",
                                              "zero_inflated_poisson"),
                                             ("k ~ x + (1 | g)", "categorical")])
def test_group_effects_are_left_out_of_every_formula(frame, formula, family):
    # the grouping factor is in a family parameter's formula only (zi; a categorical model's
    # mub, muc): it was kept at its first level, so the "population" curve was that level's
    fit = prior_fit(fl.Model(formula, frame, family=family), draws=30)
    categorical = family == "categorical"
    ce = fit.conditional_effects("x", resolution=4, categorical=categorical)
    grid = pd.DataFrame({"x": np.linspace(frame.x.min(), frame.x.max(), 4)})
    if categorical:  # rows: category-major, 4 grid rows each
        want = _population(fit, grid, kind="prob")
        want = np.concatenate([want[..., k] for k in range(want.shape[-1])], axis=1)
    else:
        want = _population(fit, grid, kind="mean")
    np.testing.assert_allclose(ce.draws, want, rtol=1e-6)
    if not categorical:
        pop = fit.predictions(by=True, group_effects=False, return_draws=True)[1][:, 0]
        np.testing.assert_allclose(pop, _population(fit, frame[["x"]], kind="mean").mean(1),
                                   rtol=1e-6)
        with_g = fit.predictions(by=True, return_draws=True)[1][:, 0]
        assert np.abs(with_g - pop).max() > 1e-3  # the level's effects do matter here


def test_verbs_refuse_clearly(gauss):
    with pytest.raises(FormulangError, match="slopes are of numeric predictors"):
        gauss.slopes("f")
    with pytest.raises(FormulangError, match="'g' is a grouping factor"):
        gauss.comparisons("g")
    with pytest.raises(FormulangError, match="by='h': no column 'h'"):
        gauss.predictions(by="h")
    with pytest.raises(FormulangError, match="lacks the grouping column 'g'"):
        gauss.predictions(pd.DataFrame({"x": [0.0], "z": [0.0], "f": ["a"]}))
    t = gauss.predictions(pd.DataFrame({"x": [0.0], "z": [0.0], "f": ["a"]}),
                          group_effects=False)
    assert len(t) == 1


# ---- agreement with brms -----------------------------------------------------------------------

def _brms_fit(name):
    if name in ("sleepstudy", "radon"):
        from test_tables import _fit

        return _fit(name)[0]
    ref = json.loads(FIXTURE.read_text())[name]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = fl.Model(ref["formula"], fl.datasets.load(ref["data"]), family=ref["family"],
                         priors=ref["priors"])
        return model.fit(draws=1000, tune=1000, chains=2, seed=ref["seed"], progress=False)


def _ess(draws: np.ndarray, chains: int = 2) -> np.ndarray:
    import arviz as az

    d = draws.reshape(chains, -1, draws.shape[-1])
    return np.array([float(az.ess(d[..., j])) for j in range(d.shape[-1])])


@pytest.mark.parametrize("name", ["sleepstudy", "radon", "cbpp"])
def test_conditional_effects_agree_with_brms(name):
    ref = json.loads(FIXTURE.read_text())[name]
    fit = _brms_fit(name)
    for want in ref["effects"]:
        ce = fit.conditional_effects(want["effect"], prob=want["prob"], method=want["method"])
        d = ce.data
        grid = want[want["effect"]]
        assert len(d) == len(grid)
        if isinstance(grid[0], str):
            assert list(d[want["effect"]]) == grid
        else:
            np.testing.assert_allclose(d[want["effect"]], grid, rtol=1e-9)
        sd = np.asarray(want["sd"])
        ours = np.median(np.abs(ce.draws - np.median(ce.draws, 0)), 0) * 1.4826
        mc = 1.2533 * np.hypot(sd / np.sqrt(want["ess"]), ours / np.sqrt(_ess(ce.draws)))
        for column, slack, mc_factor in (("estimate__", 0.1, 1), ("lower__", 0.25, 2),
                                         ("upper__", 0.25, 2)):
            gap = np.abs(d[column].to_numpy() - np.asarray(want[column]))
            bound = Z * mc_factor * mc + slack * sd
            assert (gap < bound).all(), (name, want["effect"], column, gap.max(),
                                         bound[gap.argmax()])
        # se__ is a MAD (x 1.4826) on both sides: its relative Monte Carlo error is about
        # 1.16 / sqrt(ESS) (the MAD's efficiency for a normal is 37%), ours and brms's
        # combined; was a fixed 10%, which a machine whose rounding took other draws missed
        # by 11.2% (cbpp, period 4, where 1.16 * sqrt(1/ESS_ours + 1/ESS_brms) is 3.9%)
        rel_mc = 1.16 * np.sqrt(1.0 / _ess(ce.draws) + 1.0 / np.asarray(want["ess"]))
        gap = np.abs(d["se__"].to_numpy() / np.asarray(want["se__"]) - 1.0)
        assert (gap < Z * rel_mc).all(), (name, "se__", gap.max(), (Z * rel_mc)[gap.argmax()])


def test_a_loaded_fit_reads_its_columns_back_from_the_encoded_rows(gauss, tmp_path):
    path = tmp_path / "gauss.nc"
    gauss.save(path, data=True)
    loaded = fl.load(path)
    for effect in ("x:f", "f"):  # f from its treatment-contrast dummies
        ours, theirs = gauss.conditional_effects(effect, resolution=7), \
            loaded.conditional_effects(effect, resolution=7)
        pd.testing.assert_frame_equal(ours.data, theirs.data, check_dtype=False)
    np.testing.assert_allclose(loaded.slopes("x")["estimate"], gauss.slopes("x")["estimate"])
    path = tmp_path / "bare.nc"
    gauss.save(path, data=False)
    with pytest.raises(FormulangError, match="does not hold its training rows"):
        fl.load(path).conditional_effects("x")


def test_a_numeric_column_coded_as_a_factor(frame):
    """factor(k) of a numeric k: k's values are its levels, the smallest the reference (R's
    factor), not its mean (which is no level)."""
    fit = prior_fit(fl.Model("y ~ x + factor(k)", frame), draws=10)
    assert (fit.conditional_effects("x", resolution=3).data["k"] == 1).all()
    assert list(fit.conditional_effects("k").data["k"]) == [1, 2, 3]
    assert list(fit.comparisons("k")["contrast"]) == ["2 - 1", "3 - 1"]
