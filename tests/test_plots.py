"""Plots: each kind draws what it says from the fit's own numbers, headless, and bad
arguments are errors that list the valid choices.

Fits hold random draws of the sites plots and predictions read (b, sd_<g>, r_<g>, cor_<g>,
family parameters), shaped as NUTS's: nothing is compiled or sampled here, and the plots are
checked against those numbers. Divergences are set by hand where a test needs them.
"""

import io

import matplotlib
import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

import formulang as fl
from formulang.errors import FormulangError
from formulang.report import plots


def prior_fit(model, draws=40, chains=2, seed=1):
    """A Fit of random draws of the sampler's sites (centred intercept and slopes, group SDs,
    Cholesky factors, standardised and centred effects, family parameters), shaped as
    NUTS's; Fit derives b, r_<g> and cor_<g> from them as after sampling."""
    rng = np.random.default_rng(seed)
    plan = model.plan
    shape = (chains, draws)
    samples = {}
    if plan.intercept:
        samples["Intercept_c"] = rng.normal(size=shape)
    if plan.b is not None:
        samples["b_c"] = rng.normal(size=shape + (plan.b.size,))
    for g in plan.groups:
        sd = np.exp(rng.normal(-1.0, 0.7, size=shape + (g.k,)))
        samples[f"sd_{g.name}"] = sd
        multi = [block for block in g.blocks if len(block) > 1]
        for i, block in enumerate(multi):
            m = len(block)
            rho = rng.uniform(0.0, 0.5, size=shape)[..., None, None]
            corr = np.eye(m) + rho * (1 - np.eye(m))  # positive definite for rho < 1
            name = f"L_{g.name}" if len(multi) == 1 else f"L_{g.name}_{i}"
            samples[name] = np.linalg.cholesky(corr)
        centered = np.asarray(g.centered, dtype=bool)
        samples[f"z_{g.name}"] = rng.normal(size=shape + (int((~centered).sum()), g.k))
        samples[f"rc_{g.name}"] = (rng.normal(size=shape + (int(centered.sum()), g.k))
                                   * sd[:, :, None, :])
    for name in plan.aux:
        samples[name] = np.exp(rng.normal(size=shape))
    return fl.Fit(model, samples, {}, method="nuts")


@pytest.fixture(scope="module")
def sleep_fit():
    model = fl.Model("Reaction ~ Days + (Days | Subject)", fl.datasets.load("sleepstudy"))
    return prior_fit(model, draws=60, chains=2)


@pytest.fixture(scope="module")
def radon_model():
    return fl.Model("log_radon ~ floor + (1 | county)", fl.datasets.load("radon"))


@pytest.fixture(scope="module")
def synthetic():
    """Unequal group sizes, integer group labels, a factor covariate, a nested term."""
    rng = np.random.default_rng(3)
    sizes = np.array([2, 5, 9, 14, 20, 31])
    a = np.repeat(np.arange(len(sizes)) * 10, sizes)
    n = len(a)
    df = pd.DataFrame({"a": a, "b": rng.integers(0, 2, n), "x": rng.normal(size=n),
                       "f": rng.choice(["u", "v", "w"], n, p=[0.2, 0.5, 0.3])})
    df["y"] = 1 + df["x"] + rng.normal(size=n)
    df["s"] = rng.binomial(8, 0.3, n)
    df["trials"] = 8
    return df


def png_bytes(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=40)
    return buf.getvalue()


def visible_axes(fig):
    return [ax for ax in fig.axes if ax.get_visible()]


# ---- trace and rank ----------------------------------------------------------------------------

def test_trace_defaults_to_summary_parameters_one_row_each(sleep_fit):
    import matplotlib.pyplot as plt

    before = plt.get_fignums()
    fig = plots.plot_trace(sleep_fit)
    assert isinstance(fig, Figure)
    assert plt.get_fignums() == before  # not registered with pyplot: nothing to close
    # b (2) + sd_Subject (2) + cor_Subject (1) + sigma: one row of (density, trace) each
    assert len(fig.axes) == 2 * 6
    variables = {ax.get_title().split("\n")[0] for ax in fig.axes}
    assert variables == {"b", "sd_Subject", "cor_Subject", "sigma"}
    assert png_bytes(fig)[:8] == b"\x89PNG\r\n\x1a\n"


def test_trace_of_many_scalars_is_compact(sleep_fit):
    fig = plots.plot_trace(sleep_fit, var_names=["r_Subject"])  # 18 x 2 scalars
    assert len(fig.axes) == 2


def test_unknown_variable_lists_the_available_ones(sleep_fit):
    with pytest.raises(FormulangError, match="unknown variable 'sd_county'.*sd_Subject"):
        plots.plot_trace(sleep_fit, var_names=["sd_county"])
    with pytest.raises(FormulangError, match="available: b, sd_Subject"):
        plots.plot(sleep_fit, "rank", var_names="nope")


def test_rank_one_panel_per_scalar(sleep_fit):
    fig = plots.plot_rank(sleep_fit, var_names=["sd_Subject", "sigma"])
    axes = visible_axes(fig)
    assert len(axes) == 3
    # each panel has one bar per bin per chain, each chain's bars on their own baseline; the
    # heights are the counts of the chain's draws whose rank among all draws falls in the bin
    # (ranks recomputed here), up to ArviZ's one normalising factor for the whole panel
    import scipy.stats as st

    draws = np.asarray(sleep_fit.posterior.posterior["sigma"].values, dtype=float)
    ranks = st.rankdata(draws.ravel(), method="average").reshape(draws.shape)
    baselines = sorted({round(p.get_y(), 9) for p in axes[2].patches})
    assert len(baselines) == draws.shape[0]
    ratios = []
    for chain, base in enumerate(baselines):
        bars = sorted((p.get_x(), p.get_width(), p.get_height()) for p in axes[2].patches
                      if round(p.get_y(), 9) == base)
        edges = np.array([x for x, _, _ in bars] + [bars[-1][0] + bars[-1][1]])
        assert edges[0] == 0 and edges[-1] == pytest.approx(ranks.size)
        counts, _ = np.histogram(ranks[chain], bins=edges)
        assert counts.sum() == draws.shape[1]
        ratios.extend(h / c for (_, _, h), c in zip(bars, counts) if c)
        assert all(h == 0 for (_, _, h), c in zip(bars, counts) if not c)
    np.testing.assert_allclose(ratios, ratios[0], rtol=1e-9)


# ---- forest ------------------------------------------------------------------------------------

def test_forest_one_panel_per_effect_levels_labelled_with_rows(sleep_fit):
    fig = plots.plot_forest(sleep_fit)
    axes = visible_axes(fig)
    assert len(axes) == 2
    assert [ax.get_title() for ax in axes] == ["r_Subject[, Intercept]", "r_Subject[, Days]"]
    labels = [t.get_text() for t in axes[0].get_yticklabels()]
    assert len(labels) == 18 and "308 (10)" in labels


def test_forest_rows_follow_the_posterior(radon_model):
    fit = prior_fit(radon_model, draws=40, chains=2)
    fig = plots.plot_forest(fit, group="~county")
    ax = visible_axes(fig)[0]
    labels = [t.get_text() for t in ax.get_yticklabels()]
    # 85 levels in 30 inches: every level still fits a label at the smallest font
    assert len(labels) == 85
    y_of = dict(zip(labels, ax.get_yticks()))
    # ArviZ's marker of a level's posterior median sits on that level's row
    r = fit.posterior.posterior["r_county"].sel(county__effect="Intercept")
    g = fit.plan.groups[0]
    counts = np.bincount(fit.model.bound.groups[0].codes)
    level = "HENNEPIN"
    label = f"{level} ({counts[g.levels.index(level)]})"
    median = float(r.sel(county__level=level).median())
    points = np.concatenate([line.get_xydata() for line in ax.get_lines()
                             if len(line.get_xydata()) == 1])
    on_row = points[np.isclose(points[:, 1], y_of[label])]
    assert np.isclose(on_row[:, 0], median, rtol=1e-4).any()


def test_long_level_lists_thin_their_labels():
    rng = np.random.default_rng(0)
    n = 1200  # 400 levels: too many rows in 30 inches for a label each
    df = pd.DataFrame({"g": rng.integers(0, 400, n), "y": rng.normal(size=n)})
    fit = prior_fit(fl.Model("y ~ 1 + (1 | g)", df), draws=20, chains=1)
    fig = plots.plot_forest(fit)
    ax = visible_axes(fig)[0]
    assert fig.get_figheight() <= plots.FOREST_MAX_INCHES
    shown = len(ax.get_yticklabels())
    assert 10 < shown < 400
    assert "labelled" in ax.get_ylabel()


# ---- lines -------------------------------------------------------------------------------------

def test_group_lines_draw_the_predicted_means(synthetic):
    fit = prior_fit(fl.Model("y ~ x + f + (1 + x | a)", synthetic), draws=50, chains=2)
    fig = plots.plot_group_lines(fit, n_groups=4, draws=10, seed=1)
    axes = visible_axes(fig)
    assert len(axes) == 4
    titles = [ax.get_title() for ax in axes]
    # smallest and largest groups always, ordered by size
    assert titles[0] == "0 (2 rows)" and titles[-1] == "50 (31 rows)"
    assert titles == sorted(titles, key=lambda t: int(t.split("(")[1].split()[0]))
    ax = axes[-1]
    lines = ax.get_lines()
    assert len(lines) == 10 + 2  # draws, the level's mean line, the population line
    grid = lines[-1].get_xdata()
    assert grid.min() == pytest.approx(synthetic["x"].min())
    # the thick line is the posterior mean of fit.predict at that level, f at its mode 'v'
    new = pd.DataFrame({"x": grid, "f": "v", "a": 50})
    expected = fit.predict(new, kind="mean").mean(axis=0)
    np.testing.assert_allclose(lines[-2].get_ydata(), expected, rtol=1e-6)
    # the dashed line: group effects at 0
    new_pop = new.assign(a="unseen")
    population = fit.predict(new_pop, kind="mean", new_levels="population").mean(axis=0)
    np.testing.assert_allclose(lines[-1].get_ydata(), population, rtol=1e-6)
    # the level's data points
    points = ax.collections[0].get_offsets()
    assert len(points) == 31
    np.testing.assert_allclose(np.sort(points[:, 1]),
                               np.sort(synthetic.loc[synthetic["a"] == 50, "y"]))


def test_group_lines_same_seed_same_levels(synthetic):
    fit = prior_fit(fl.Model("y ~ x + (1 | a)", synthetic), draws=20, chains=1)
    titles = [[ax.get_title() for ax in visible_axes(plots.plot_group_lines(fit, n_groups=3,
                                                                            seed=s))]
              for s in (5, 5)]
    assert titles[0] == titles[1]


def test_group_lines_nested_group_and_other_terms_at_zero(synthetic):
    fit = prior_fit(fl.Model("y ~ x + (1 | a/b)", synthetic), draws=20, chains=1)
    fig = plots.plot_group_lines(fit, group="a:b", n_groups=3, draws=5)
    ax = visible_axes(fig)[-1]
    level = ax.get_title().split(" (")[0]
    a, b = level.split(":")
    new = pd.DataFrame({"x": ax.get_lines()[-2].get_xdata(), "a": a, "b": b})
    expected = fit.predict(new, kind="mean").mean(axis=0)
    np.testing.assert_allclose(ax.get_lines()[-2].get_ydata(), expected, rtol=1e-6)


def test_group_lines_binomial_shows_proportions(synthetic):
    fit = prior_fit(fl.Model("s | trials(trials) ~ x + (1 | a)", synthetic), draws=20,
                    chains=1)
    fig = plots.plot_group_lines(fit, n_groups=2, draws=5)
    for ax in visible_axes(fig):
        for line in ax.get_lines():
            assert np.all((line.get_ydata() >= 0) & (line.get_ydata() <= 1))
        assert np.all(ax.collections[0].get_offsets()[:, 1] <= 1)


def test_group_lines_errors(synthetic, sleep_fit):
    fit = prior_fit(fl.Model("y ~ f + (1 | a)", synthetic), draws=10, chains=1)
    with pytest.raises(FormulangError, match="no numeric covariate"):
        plots.plot_group_lines(fit)
    with pytest.raises(FormulangError, match="x='Reaction'.*candidates: Days"):
        plots.plot_group_lines(sleep_fit, x="Reaction")
    with pytest.raises(FormulangError, match="n_groups must be a positive whole number"):
        plots.plot_group_lines(sleep_fit, n_groups=0)
    with pytest.raises(FormulangError, match="at= names 'Days2'"):
        plots.plot_group_lines(sleep_fit, at={"Days2": 1})


def test_names_the_formula_quotes_work_as_themselves():
    # `x var` (a name with a space): its label keeps the backquotes, its column has none;
    # the lines plot found no covariate, hypothesis and conditional_effects no name for it
    rng = np.random.default_rng(2)
    frame = pd.DataFrame({"x var": rng.normal(size=40), "g": rng.choice(list("abcd"), 40),
                          "other x": rng.normal(size=40)})
    frame["log radon"] = frame["x var"] + rng.normal(size=40)
    fit = prior_fit(fl.Model("`log radon` ~ `x var` + `other x` + (1 | g)", frame), draws=10,
                    chains=1)
    assert isinstance(plots.plot_group_lines(fit, n_groups=2), Figure)
    for x in ("other x", "`other x`"):
        assert isinstance(plots.plot_group_lines(fit, x=x, n_groups=2), Figure)
    slope = fit.samples["b"].reshape(10, -1)[:, 1].astype(float)
    for text in ("`x var` > 0", "`b_x var` > 0", "b_`x var` > 0"):
        if text.startswith("b_`"):  # brms's parser refuses it too: the name is one token
            with pytest.raises(FormulangError):
                fit.hypothesis(text)
            continue
        assert fit.hypothesis(text)["Post.Prob"][0] == pytest.approx(np.mean(slope > 0))
    np.testing.assert_array_equal(fit.conditional_effects("`x var`", resolution=3).draws,
                                  fit.conditional_effects("x var", resolution=3).draws)


def test_sample_levels_keeps_the_extremes():
    counts = [5, 1, 9, 3, 7, 2, 8]
    for seed in range(5):
        chosen = plots.sample_levels(counts, 4, seed=seed)
        assert len(set(chosen)) == 4
        assert chosen[0] == 1 and chosen[-1] == 2  # fewest rows, most rows
        assert [counts[i] for i in chosen] == sorted(counts[i] for i in chosen)
    assert plots.sample_levels(counts, 10) == list(np.argsort(counts, kind="stable"))


# ---- funnel ------------------------------------------------------------------------------------

def with_divergences(fit, every):
    chains, draws = next(iter(fit.samples.values())).shape[:2]
    div = np.zeros((chains, draws), dtype=bool)
    div[:, ::every] = True
    return fl.Fit(fit.model, fit.samples, {"diverging": div}, method="nuts")


def test_funnel_plots_effect_against_log_sd_divergences_in_red(radon_model):
    fit = with_divergences(prior_fit(radon_model, draws=40, chains=2), every=4)
    fig = plots.plot_funnel(fit, level="AITKIN")
    ax = visible_axes(fig)[0]
    normal, divergent = ax.collections[:2]
    assert len(divergent.get_offsets()) == 20 and len(normal.get_offsets()) == 60
    assert "20 divergent of 80 draws" in ax.get_title()
    post = fit.posterior.posterior
    r = post["r_county"].sel(county__level="AITKIN", county__effect="Intercept").values
    sd = post["sd_county"].sel(county__effect="Intercept").values
    div = fit.stats["diverging"]
    np.testing.assert_allclose(divergent.get_offsets()[:, 0], r[div], rtol=1e-6)
    np.testing.assert_allclose(divergent.get_offsets()[:, 1], np.log(sd[div]), rtol=1e-5)
    assert ax.get_xlabel() == "r_county[AITKIN, Intercept]"
    assert ax.get_ylabel() == "log sd_county[Intercept]"


def test_funnel_defaults_to_the_smallest_level(radon_model):
    fig = plots.plot_funnel(prior_fit(radon_model, draws=20, chains=1))
    counts = np.bincount(radon_model.bound.groups[0].codes)
    smallest = radon_model.plan.groups[0].levels[int(np.argmin(counts))]
    assert f"level {smallest!r}, 1 row" in fig.get_suptitle()


def test_funnel_compare_side_by_side():
    df = fl.datasets.load("radon")
    formula = "log_radon ~ floor + (1 + floor | county)"
    centered = prior_fit(fl.Model(formula, df, reparam="centered"), draws=30, chains=2)
    noncentered = with_divergences(
        prior_fit(fl.Model(formula, df, reparam="noncentered"), draws=30, chains=2), every=3)
    fig = plots.plot(centered, "funnel", compare=noncentered, effect="floor")
    left, right = visible_axes(fig)
    assert left.get_title().startswith("~county centered (forced)")
    assert "0 divergent of 60" in left.get_title()
    assert right.get_title().startswith("~county non-centered (forced)")
    assert "20 divergent of 60" in right.get_title()
    assert left.get_shared_y_axes().joined(left, right)


def test_funnel_compare_must_be_the_same_model(radon_model, sleep_fit):
    fit = prior_fit(radon_model, draws=10, chains=1)
    with pytest.raises(FormulangError, match="same model"):
        plots.plot_funnel(fit, compare=sleep_fit)
    with pytest.raises(FormulangError, match="no level 'GOTHAM'; levels: 'AITKIN'"):
        plots.plot_funnel(fit, level="GOTHAM")
    with pytest.raises(FormulangError, match="no effect 'x'; effects: Intercept"):
        plots.plot_funnel(fit, effect="x")


# ---- by name, and fits without chains ------------------------------------------------------------

def test_plot_by_name_checks_kind_arguments_and_group(sleep_fit):
    with pytest.raises(FormulangError, match="unknown plot kind 'pairs'; kinds: trace, rank, "
                                             "forest, lines, funnel"):
        plots.plot(sleep_fit, "pairs")
    with pytest.raises(FormulangError, match="takes no argument 'bins'; it takes: var_names"):
        plots.plot(sleep_fit, "trace", bins=3)
    with pytest.raises(FormulangError, match="no group term 'county'.*groups: Subject"):
        plots.plot(sleep_fit, "forest", group="county")
    model = fl.Model("Reaction ~ Days", fl.datasets.load("sleepstudy"))
    with pytest.raises(FormulangError, match="no group terms"):
        plots.plot(prior_fit(model, draws=10, chains=1), "funnel")


@pytest.mark.parametrize("draws", [1, 30])
def test_every_kind_draws_single_chain_fits(sleep_fit, draws):
    """MAP (one draw) and VI (one chain) fits have the same shapes."""
    fit = prior_fit(sleep_fit.model, draws=draws, chains=1)
    fit.method = "map" if draws == 1 else "vi"
    for kind in plots.PLOT_KINDS:
        if kind == "smooth":  # needs a smooth term (tests/test_smooth_fit.py)
            continue
        fig = plots.plot(fit, kind)
        assert visible_axes(fig) and png_bytes(fig)[:4] == b"\x89PNG"


def test_interactive_backend_left_alone(sleep_fit):
    backend = matplotlib.get_backend()
    plots.plot_forest(sleep_fit)
    assert matplotlib.get_backend() == backend


def test_fit_plot_delegates_to_the_plots_module(sleep_fit):
    fig = sleep_fit.plot("forest")
    assert fig.axes and fig.axes[0].get_title()
    with pytest.raises(fl.FormulangError, match="trace"):
        sleep_fit.plot("histogram")


# ---- plots of a saved fit (issue 21, item 8) --------------------------------------------------

def test_plots_of_a_saved_fit_keep_row_counts_and_lines(synthetic, tmp_path):
    from fit_support import prior_fit as predictive_fit  # every site, as a saved fit needs

    fit = predictive_fit(fl.Model("y ~ x + (1 + x | a)", synthetic), draws=20, chains=1)
    with_rows, without = tmp_path / "rows.nc", tmp_path / "bare.nc"
    fit.save(with_rows)
    fit.save(without, data=False)
    bare = fl.load(without)
    assert bare.bound is None
    # the forest plot labels levels with their training rows, stored in any saved fit
    labels = [t.get_text() for t in visible_axes(plots.plot_forest(bare))[0].get_yticklabels()]
    assert sorted(labels) == ["0 (2)", "10 (5)", "20 (9)", "30 (14)", "40 (20)", "50 (31)"]
    # the lines plot draws the training rows: the same figure as from the fit itself
    loaded = fl.load(with_rows)
    for fig_of in (fit, loaded, fl.load(without).attach_data(synthetic)):
        axes = visible_axes(plots.plot_group_lines(fig_of, n_groups=3, draws=4, seed=2))
        lines = [line.get_ydata() for line in axes[-1].get_lines()]
        points = axes[-1].collections[0].get_offsets()
        if fig_of is fit:
            expected_lines, expected_points = lines, points
        else:
            np.testing.assert_array_equal(np.asarray(lines), np.asarray(expected_lines))
            np.testing.assert_array_equal(points, expected_points)
    with pytest.raises(FormulangError, match=r"saved without them.*attach_data.*--data"):
        plots.plot_group_lines(bare)
