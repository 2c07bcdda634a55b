"""Exact Gaussian processes ``gp(x)`` (no ``k``; formulang/data/gp_exact.py): the kernel and its
Cholesky factor against a NumPy reference, the unique values and each row's index, the
conditional (kriging) draws at new values (training values give ``f`` back exactly; new ones
have the conditional normal's mean and variance), the size limit's error with a caret, and a
fit against brms 2.18's ``y ~ gp(x)`` (tests/fixtures/r_smooths/brms_gp_exact.json, made by
make_gp_exact.R): posterior and fitted curve, on the training rows and at new x (brms draws
the GP there from its conditional normal, and so do we), within Monte Carlo error (the rule
of tests/brms_agreement.py: Z = 4.5 combined standard errors; brms 4 x 1000 draws, ours
2 x 300, each with its own ESS); save/load and the smooth plot.

The float32 jitter (1e-5 on the correlation's diagonal, brms 1e-12 on the covariance's) adds
a white-noise part of SD 0.003 sdgp to the GP's values: against sigma ~0.3 and a curve SD of
~0.1 it moves nothing by a measurable amount."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import formulang as fl
from brms_agreement import (check_draws, check_summary_row, prior_summary_keys,
                             smooth_reference)
from formulang.data import bind
from formulang.data.gp_exact import (GP_EXACT_JITTER, GP_EXACT_MAX, exp_quad_corr,
                                     gp_exact_draws, gp_exact_index, gp_exact_values)
from formulang.data.smooths import learn_smooth

FIXTURES = Path(__file__).parent / "fixtures" / "r_smooths"
CHAINS, DRAWS = 2, 300


def _reference_f(u, sdgp, lscale, z, jitter=GP_EXACT_JITTER):
    """f = chol(K + sdgp^2 jitter I) z, K_ij = sdgp^2 exp(-(u_i - u_j)^2 / (2 lscale^2)),
    written out loop by loop."""
    n = len(u)
    K = np.empty((n, n))
    for i in range(n):
        for j in range(n):
            K[i, j] = sdgp ** 2 * np.exp(-(u[i] - u[j]) ** 2 / (2 * lscale ** 2))
    return np.linalg.cholesky(K + sdgp ** 2 * jitter * np.eye(n)) @ z


def test_the_state_holds_the_scaled_unique_values_and_rows_index_them():
    x = np.array([3.0, 1.0, 3.0, 5.0, 1.0, 2.0])
    st = learn_smooth("gp", x)
    assert (st.kind, st.bs, st.k) == ("gp", "exact", 4)
    # brms's order: the unique values as their first rows have them
    np.testing.assert_allclose(st.get("u"), np.array([3.0, 1.0, 5.0, 2.0]) / 4.0)
    assert float(st.get("dmax")) == 4.0 and float(st.get("gap")) == 0.25
    np.testing.assert_array_equal(gp_exact_index(st, x), [0, 1, 0, 2, 1, 3])
    np.testing.assert_array_equal(gp_exact_index(st, [0.5, 2.0, 4.0, 6.0]), [-1, 3, -1, -1])
    b = bind("y ~ gp(x)", pd.DataFrame({"y": np.arange(6.0), "x": x}))
    assert b.smooths[0].Z.shape == (6, 1) and b.X_columns == ("Intercept",)
    np.testing.assert_array_equal(b.smooths[0].Z[:, 0], [0, 1, 0, 2, 1, 3])


@pytest.mark.parametrize("sdgp, lscale", [(1.0, 0.2), (2.5, 0.05), (0.3, 1.5)])
def test_the_gp_values_are_the_cholesky_factor_times_z(sdgp, lscale):
    import jax.numpy as jnp

    rng = np.random.default_rng(4)
    u = np.sort(rng.uniform(0, 1, 25))
    z = rng.standard_normal(25)
    theirs = _reference_f(u, sdgp, lscale, z)
    np.testing.assert_allclose(gp_exact_values(u, sdgp, lscale, z), theirs, rtol=1e-9,
                               atol=1e-12)
    # the sampler's path (jax, float32): the same to float32 round-off of the factor
    ours = np.asarray(gp_exact_values(jnp.asarray(u), jnp.asarray(sdgp), jnp.asarray(lscale),
                                      jnp.asarray(z), GP_EXACT_JITTER, jnp))
    np.testing.assert_allclose(ours, theirs, atol=2e-3 * sdgp * np.abs(z).max() * 5)
    # batched over draws
    batch = gp_exact_values(u, np.array([sdgp, 1.0]), np.array([lscale, 0.3]),
                            np.stack([z, z[::-1]]))
    np.testing.assert_allclose(batch[1], _reference_f(u, 1.0, 0.3, z[::-1]), rtol=1e-9,
                               atol=1e-12)


def test_kriging_gives_the_training_values_back_and_draws_new_ones_from_the_conditional():
    rng = np.random.default_rng(7)
    x = np.round(rng.uniform(0, 10, 15), 2)
    st = learn_smooth("gp", x)
    S, sdgp, lscale = 20000, 1.3, 0.15
    z = rng.standard_normal((S, st.k))
    sd, ls = np.full(S, sdgp), np.full(S, lscale)
    f = gp_exact_values(st.get("u"), sd, ls, z)
    # training values (in any order, repeated): f exactly, no draw
    at = np.concatenate([x[::-1], x[:3]])
    out = gp_exact_draws(st, sd, ls, z, at, np.random.default_rng(0))
    np.testing.assert_array_equal(out, f[:, gp_exact_index(st, at)])
    # new values: for fixed hyperparameters f and the new values are jointly the GP's normal,
    # so over draws of z their covariance is the kernel's (the conditional draw is right iff
    # the joint is); and a repeated new value gets the same draw in a draw
    new = np.array([-0.5, 3.33, 5.55, 12.0, 3.33])
    both = np.column_stack([f, gp_exact_draws(st, sd, ls, z, new, np.random.default_rng(1))])
    np.testing.assert_array_equal(both[:, -1], both[:, -4])
    pts = np.concatenate([st.get("u"), new / float(st.get("dmax"))])
    jitter = np.r_[np.full(st.k, float(st.get("jitter"))), np.full(len(new), 1e-8 / sdgp ** 2)]
    K = sdgp ** 2 * (exp_quad_corr(pts, pts, lscale) + np.diag(jitter))
    emp = np.cov(both.T)
    # each entry's sampling SD: sqrt((K_ii K_jj + K_ij^2) / S) <= sqrt(2 / S) sdgp^2
    assert np.abs(emp - K).max() < 4.5 * np.sqrt(2 / S) * sdgp ** 2, np.abs(emp - K).max()
    assert np.abs(both.mean(axis=0)).max() < 4.5 * sdgp / np.sqrt(S)


def test_an_exact_gp_over_too_many_unique_values_is_refused_with_a_caret():
    x = np.arange(GP_EXACT_MAX + 1, dtype=float)
    data = pd.DataFrame({"y": np.sin(x), "x": x})
    with pytest.raises(fl.FormulaError, match=f"over {GP_EXACT_MAX + 1} unique values of x "
                       rf"\(more than {GP_EXACT_MAX}\) costs O\(N\^3\) per step; write "
                       r"gp\(x, k = 20\)") as err:
        bind("y ~ 1 + gp(x)", data)
    assert err.value.text[err.value.start:err.value.end] == "gp(x)"
    # at the limit it is an exact GP; with k, an approximate one whatever the size
    assert bind("y ~ gp(x)", data.iloc[:GP_EXACT_MAX]).smooths[0].spec.state.bs == "exact"
    assert bind("y ~ gp(x, k = 20)", data).smooths[0].spec.state.bs == "hsgp"


def test_print_and_names_of_an_exact_gp():
    from formulang.lower.sites import flat_parameters

    x = np.repeat(np.linspace(0, 10, 20), 2)
    model = fl.Model("y ~ gp(x)", pd.DataFrame({"y": np.sin(x), "x": x}))
    assert "Smooth gp(x): exact GP over 20 unique values (sdgp_gpx, lscale_gpx, zgp_gpx)" \
        in str(model)
    names = [p.name for p in flat_parameters(model.plan)]
    assert {"sdgp_gpx", "lscale_gpx"} <= set(names)
    assert [n for n in names if n.startswith("zgp_gpx[")] == [f"zgp_gpx[{j}]" for j in
                                                               range(1, 21)]
    # the default priors: the approximate GP's, the length-scale's from the same gaps
    approx = fl.Model("y ~ gp(x, k = 10)", pd.DataFrame({"y": np.sin(x), "x": x}))
    for cls in ("sdgp", "lscale"):
        assert str(model.priors.lookup(cls, coef="gpx")) == \
            str(approx.priors.lookup(cls, coef="gpx"))


# ---- against brms ---------------------------------------------------------------------------

def _check_sd(what: str, draws: np.ndarray, theirs: dict) -> None:
    """The SD of one quantity's draws against brms's: within Z = 4.5 combined standard errors
    of an SD, ``sd / sqrt(2 ess)`` each (tests/brms_agreement.py's rule); at new x the SD
    includes the conditional draw's, which a conditional mean alone would miss."""
    import arviz as az

    ess = float(az.ess(np.asarray(draws).reshape(CHAINS, -1)))
    se = np.hypot(theirs["sd"] / np.sqrt(2 * theirs["ess_bulk"]), draws.std() / np.sqrt(2 * ess))
    assert abs(draws.std() - theirs["sd"]) < 4.5 * se, (what, draws.std(), theirs["sd"], se)


@pytest.fixture(scope="module")
def gp_exact_fit():
    ref, data = smooth_reference("brms_gp_exact")
    model = fl.Model("y ~ gp(x)", data, priors=prior_summary_keys(ref))
    return ref, model.fit(draws=DRAWS, tune=DRAWS, chains=CHAINS, seed=3, progress=False,
                          target_accept=0.95)


def test_the_data_and_default_priors_are_brms(gp_exact_fit):
    ref, fit = gp_exact_fit
    _, data = smooth_reference("brms_gp_exact")
    spec = fit.bound.smooths[0].spec
    # brms's Xgp (unique values over the largest distance, in the order of its zgp) and Jgp
    np.testing.assert_allclose(spec.state.get("u"), ref["standata"]["Xgp_1"], rtol=1e-12)
    np.testing.assert_array_equal(fit.bound.smooths[0].Z[:, 0] + 1, ref["standata"]["Jgp_1"])
    # the default length-scale prior: brms's inv_gamma(1.529601, 0.061633); ours the same
    # solution, kept to 4 significant digits by the prior table
    ours = fl.Model("y ~ gp(x)", data).priors.lookup("lscale", coef="gpx")
    assert ours.distribution == "inv_gamma"
    theirs = prior_summary_keys(ref)["lscale[gpx]"]
    np.testing.assert_allclose([v for _, v in ours.params],
                               [float(v) for v in theirs[10:-1].split(",")], rtol=5e-4)


def test_an_exact_gp_agrees_with_brms(gp_exact_fit):
    """The parameters agree; ``zgp_gpx[j]`` have brms's names, not its values: they are
    coordinates in the Cholesky factor of ``C + jitter I``, whose later pivots are the
    jitter's (at lscale 0.2 here, ~1e-6 with brms's 1e-12, ~4e-3 with our 1e-5: 200-3000x),
    so the same curve has other ``zgp`` (measured: |z| up to 8.5 on two seeds for a few
    entries, the four parameters and the curve within Monte Carlo error)."""
    ref, fit = gp_exact_fit
    ours = fit.summary()
    assert set(ref["variables"]) <= set(ours.index), set(ref["variables"]) - set(ours.index)
    for name in ("b_Intercept", "sdgp_gpx", "lscale_gpx", "sigma"):
        check_summary_row(ours, name, ref["posterior"][name])


def test_the_fitted_curve_agrees_with_brms_on_the_rows_and_at_new_x(gp_exact_fit):
    ref, fit = gp_exact_fit
    train = fit.predict(kind="mean")
    for i, theirs in enumerate(ref["epred_train"]):
        check_draws(f"mu at row {i}", train[:, i], theirs, CHAINS)
    curve = fit.predict(pd.DataFrame({"x": ref["grid"]}), kind="mean")
    for i, theirs in enumerate(ref["epred"]):  # new x: drawn from the conditional, as brms
        check_draws(f"mu at x = {ref['grid'][i]}", curve[:, i], theirs, CHAINS)
        _check_sd(f"mu at x = {ref['grid'][i]}", curve[:, i], theirs)
    # training values as new data: the fit's values, exactly
    _, data = smooth_reference("brms_gp_exact")
    np.testing.assert_array_equal(fit.predict(data[["x"]], kind="mean"), train)


def test_a_saved_exact_gp_predicts_the_same(gp_exact_fit, tmp_path):
    _, fit = gp_exact_fit
    new = pd.DataFrame({"x": [-0.7, 2.05, 5.5, 10.6]})
    fit.save(tmp_path / "with.nc")
    fit.save(tmp_path / "without.nc", data=False)  # the spec keeps the unique values
    for name in ("with.nc", "without.nc"):
        again = fl.load(tmp_path / name)
        np.testing.assert_allclose(again.predict(new, seed=5), fit.predict(new, seed=5),
                                   rtol=1e-10)
    again = fl.load(tmp_path / "with.nc")
    np.testing.assert_allclose(again.predict(), fit.predict(), rtol=1e-10)
    assert "exact GP over" in str(again.model)
    (line,) = again.plot("smooth", grid=12).axes[0].get_lines()
    np.testing.assert_allclose(line.get_ydata(), fit.predict(
        pd.DataFrame({"x": line.get_xdata()}), kind="mean").mean(axis=0), rtol=1e-10)
