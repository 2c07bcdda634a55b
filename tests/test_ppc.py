"""Posterior predictive checks (``fit.plot("ppc", type=...)``): each type draws what it says
from the data and the fit's replicated responses, read back from the figure.

Two small NUTS fits, shared by the module: a Gaussian model of Gaussian data (well specified)
and a Poisson model of overdispersed counts (negative binomial with shape 0.7: badly
misspecified), which LOO-PIT must tell apart.
"""

import numpy as np
import pandas as pd
import pytest
from scipy.stats import gaussian_kde, kstest

import formulang as fl
from formulang.errors import FormulangError
from formulang.report.plots import ppc

N = 100
DRAWS, CHAINS = 150, 2


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(7)
    x = rng.normal(size=N)
    g = np.repeat(["a", "b", "c", "d"], N // 4)
    mu = np.exp(1.2 + 0.4 * x)
    shape = 0.7  # variance mu + mu^2 / 0.7: several times the Poisson's
    return pd.DataFrame({"x": x, "g": g, "y": 1 + 0.5 * x + rng.normal(size=N),
                         "c": rng.negative_binomial(shape, shape / (shape + mu))})


@pytest.fixture(scope="module")
def gauss(data):
    return fl.Model("y ~ x", data).fit(draws=DRAWS, tune=DRAWS, chains=CHAINS, seed=1,
                                       progress=False)


@pytest.fixture(scope="module")
def pois(data):
    return fl.Model("c ~ x", data, family="poisson").fit(draws=DRAWS, tune=DRAWS,
                                                         chains=CHAINS, seed=1, progress=False)


def replicates(fit, seed=0):
    y = fit.posterior_predictive(seed=seed).posterior_predictive["y"].values
    return y.reshape(-1, y.shape[-1])


def scott_kde(values, grid):
    """scipy's gaussian_kde, vectorised: hundreds of calls to scipy's take seconds."""
    bw = np.std(values, ddof=1) * len(values) ** (-1 / 5)
    z = (grid[:, None] - values[None, :]) / bw
    return np.exp(-z * z / 2).mean(axis=1) / (bw * np.sqrt(2 * np.pi))


def by_gid(ax, gid):
    return [a for a in ax.get_children() if a.get_gid() == gid]


def test_dens_overlay_draws_the_kde_of_y_and_ndraws_replicates(gauss, data):
    fig = gauss.plot("ppc", type="dens_overlay", ndraws=7)
    ax = fig.axes[0]
    (line,) = by_gid(ax, "y")
    grid = line.get_xdata()
    np.testing.assert_allclose(line.get_ydata(), gaussian_kde(data["y"])(grid), rtol=1e-10)
    np.testing.assert_allclose(scott_kde(data["y"].to_numpy(), grid), line.get_ydata(),
                               rtol=1e-10)
    reps = by_gid(ax, "y_rep")
    assert len(reps) == 7
    # each replicated line is the density of one distinct posterior predictive draw
    kdes = np.array([scott_kde(r, grid) for r in replicates(gauss)])
    matches = [int(np.argmin(np.abs(kdes - rep.get_ydata()).max(axis=1))) for rep in reps]
    assert len(set(matches)) == 7
    for rep, k in zip(reps, matches):
        np.testing.assert_allclose(rep.get_ydata(), kdes[k], rtol=1e-10)
    # brms's default: 10 replicates
    assert len(by_gid(gauss.plot("ppc").axes[0], "y_rep")) == ppc.DEFAULT_NDRAWS == 10
    # group=: a panel per level, each with its own rows' density
    fig = gauss.plot("ppc", group="g", ndraws=3)
    assert [ax.get_title() for ax in fig.axes] == ["a", "b", "c", "d"]
    for ax, (_, rows) in zip(fig.axes, data.groupby("g")["y"]):
        (line,) = by_gid(ax, "y")
        np.testing.assert_allclose(line.get_ydata(), scott_kde(rows.to_numpy(),
                                                               line.get_xdata()), rtol=1e-10)
        assert len(by_gid(ax, "y_rep")) == 3


def test_hist_shows_y_then_each_replicate(gauss, data):
    fig = gauss.plot("ppc", type="hist")
    first, *rest = fig.axes
    assert first.get_gid() == "y" and [a.get_gid() for a in rest] == ["y_rep"] * 10
    bars = first.patches
    edges = np.append([p.get_x() for p in bars], bars[-1].get_x() + bars[-1].get_width())
    counts, _ = np.histogram(data["y"], bins=edges)
    np.testing.assert_array_equal([p.get_height() for p in bars], counts)


def test_stat_marks_the_statistic_of_y_among_all_replicates(gauss, data):
    for stat, expected in (("mean", data["y"].mean()), ("sd", data["y"].std(ddof=1))):
        ax = gauss.plot("ppc", type="stat", stat=stat).axes[0]
        (mark,) = by_gid(ax, "y")
        assert mark.get_xdata()[0] == pytest.approx(expected, rel=1e-12)
        heights = [p.get_height() for p in ax.patches if p.get_gid() == "y_rep"]
        assert sum(heights) == DRAWS * CHAINS  # every draw, as brms
    # a function works too, and group= gives each level its own statistic
    fig = gauss.plot("ppc", type="stat", stat=np.max, group="g")
    assert [ax.get_title() for ax in fig.axes] == ["a", "b", "c", "d"]
    for ax, (_, rows) in zip(fig.axes, data.groupby("g")["y"]):
        assert by_gid(ax, "y")[0].get_xdata()[0] == pytest.approx(rows.max())


def test_intervals_centre_on_the_replicates_median(gauss, pois, data):
    ax = gauss.plot("ppc", type="intervals").axes[0]
    (median,) = by_gid(ax, "y_rep_median")
    (observed,) = by_gid(ax, "y")
    np.testing.assert_array_equal(median.get_xdata(), np.arange(1, N + 1))
    np.testing.assert_allclose(median.get_ydata(), np.median(replicates(gauss), axis=0))
    np.testing.assert_allclose(observed.get_ydata(), data["y"])
    fig = pois.plot("ppc", type="intervals", group="g")
    rows = by_gid(fig.axes[1], "y")[0].get_xdata()  # level b: rows 26..50
    np.testing.assert_array_equal(rows, np.arange(26, 51))


def test_discrete_families_default_to_bars_of_the_counts(pois, data):
    ax = pois.plot("ppc").axes[0]  # Poisson: bars, as the family row says it is discrete
    bars = [p for p in ax.patches if p.get_gid() == "y"]
    values = np.array([p.get_x() + p.get_width() / 2 for p in bars])
    np.testing.assert_allclose(values, np.round(values), atol=1e-9)
    counts = np.array([(data["c"] == v).sum() for v in np.round(values)])
    np.testing.assert_array_equal([p.get_height() for p in bars], counts)
    assert counts.sum() == N
    (median,) = by_gid(ax, "y_rep_median")
    assert 0 < np.sum(median.get_ydata()) <= N  # medians of 10 replicates' counts
    assert pois.plot("ppc", type="bars", group="g").axes[3].get_title() == "d"


def test_loo_pit_is_uniform_for_the_right_model_and_not_for_a_wrong_one(gauss, pois):
    """KS distance of the LOO-PIT values from uniform, against the 1% critical value for
    N independent uniforms (1.63 / sqrt(N) = 0.163): the Gaussian model of Gaussian data stays
    under it, the Poisson model of counts with several times its variance (randomised PIT)
    goes far over (PIT values pile up at 0 and 1)."""
    critical = 1.63 / np.sqrt(N)
    pit = ppc.loo_pit(gauss)
    assert np.all((pit >= 0) & (pit <= 1))
    assert kstest(pit, "uniform").statistic < critical
    bad = ppc.loo_pit(pois)
    assert np.all((bad >= 0) & (bad <= 1))
    assert kstest(bad, "uniform").statistic > 1.5 * critical
    ax = gauss.plot("ppc", type="loo_pit").axes[0]
    np.testing.assert_allclose(by_gid(ax, "pit")[0].get_xdata(), pit)
    assert len(by_gid(ax, "uniform")) == ppc.PIT_UNIFORM_SAMPLES


def test_bad_requests_are_errors_that_list_the_choices(gauss):
    with pytest.raises(FormulangError, match="unknown ppc type 'violin'; types: dens_overlay"):
        gauss.plot("ppc", type="violin")
    with pytest.raises(FormulangError, match="the hist check takes no group"):
        gauss.plot("ppc", type="hist", group="g")
    with pytest.raises(FormulangError, match="ndraws=1000 but the fit has 300 draws"):
        gauss.plot("ppc", ndraws=1000)
    with pytest.raises(FormulangError, match="unknown stat 'mode'"):
        gauss.plot("ppc", type="stat", stat="mode")
    with pytest.raises(FormulangError, match="nope"):
        gauss.plot("ppc", group="nope")
    with pytest.raises(FormulangError, match="loo_pit check uses every draw"):
        gauss.plot("ppc", type="loo_pit", ndraws=5)


def test_a_loaded_fit_groups_by_a_factor_read_back_from_its_design(tmp_path):
    # its rows are the encoded design: a factor column is read back from its dummies (the
    # command line's ppc --group period on a saved cbpp fit was refused)
    from matplotlib.figure import Figure

    from fit_support import prior_fit
    from formulang.report.plots.ppc import group_values

    cbpp = fl.datasets.load("cbpp")
    fit = prior_fit(fl.Model("incidence | trials(size) ~ period + (1 | herd)", cbpp), draws=5)
    fit.save(tmp_path / "cbpp.nc")
    loaded = fl.load(tmp_path / "cbpp.nc")
    np.testing.assert_array_equal(group_values(loaded, "period").astype(str),
                                  cbpp["period"].astype(str))
    assert isinstance(loaded.plot("ppc", type="stat", group="period"), Figure)
    with pytest.raises(FormulangError, match="grouping factors and the columns its design "
                                             "holds: herd, period"):
        group_values(loaded, "size")
