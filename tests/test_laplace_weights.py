"""The importance weights of an embedded-Laplace fit (issue 23) correct the approximation:
where the Laplace approximation is visibly off, the weighted summaries agree with the full
sampled model and the unweighted draws do not.

Data: Bernoulli ``y ~ x + (1 | g)``, 200 levels x 8 rows, level SD 1.5: few binary rows per
level, where the Laplace approximation of each level's marginal is known to understate the
SD (as lme4's ``glmer`` does). Both fits use 2 chains x 1000 draws on fixed seeds. Measured on
these seeds: the unweighted ``sd_g__Intercept`` is 8 combined MCSEs below the full model's; the
weighted one (the closed-form second-order correction) within 0.4. The bounds: the
unweighted gap beyond 4 combined MCSEs (the weights are needed: a test that breaks if they
stop mattering), the weighted within 4 (a 4-sigma bound, false alarm ~6e-5 per
comparison). A weighted MCSE is ``sd / sqrt(ess_bulk)`` with the summary's ESS already scaled
by the weights' efficiency.

The correction (:func:`formulang.infer.laplace_draws.expansion`) is checked on its own: its
closed-form second-order term agrees with a brute-force Monte Carlo estimate of each level's
``log E[exp R(e)]``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import formulang as fl

SETTINGS = dict(draws=1000, tune=500, chains=2, seed=0, progress=False)
PARAMS = ["b_Intercept", "b_x", "sd_g__Intercept"]


def few_rows_per_level(groups: int = 200, n: int = 8, seed: int = 1) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    g = np.repeat(np.arange(groups), n)
    x = rng.normal(size=groups * n)
    eta = -1.0 + 0.5 * x + 1.5 * rng.normal(size=groups)[g]
    y = (rng.uniform(size=groups * n) < 1 / (1 + np.exp(-eta))).astype(int)
    return pd.DataFrame({"y": y, "x": x, "g": [f"g{i:03d}" for i in g]})


@pytest.fixture(scope="module")
def fits():
    data = few_rows_per_level()
    laplace = fl.Model("y ~ x + (1 | g)", data, family="bernoulli", collapse="laplace")
    full = fl.Model("y ~ x + (1 | g)", data, family="bernoulli", collapse=False)
    return laplace.fit(**SETTINGS), full.fit(**SETTINGS)


def z_scores(a, b):
    mcse = lambda s: s["sd"] / np.sqrt(s["ess_bulk"])  # noqa: E731
    return (a["mean"] - b["mean"]) / np.hypot(mcse(a), mcse(b))


def test_weighted_summaries_agree_with_the_full_model(fits):
    la, full = fits
    s_full = full.summary().loc[PARAMS]
    weighted = la.summary().loc[PARAMS]
    assert weighted.attrs["weighted"]
    z = z_scores(weighted, s_full)
    assert (z.abs() < 4).all(), z


def test_the_weights_matter_here(fits):
    """The same draws unweighted miss the full model's SD: what the weights correct."""
    from formulang.report.idata import posterior_variables
    from formulang.report.summary import summary_table

    la, full = fits
    plain = summary_table(la.plan, posterior_variables(la.plan, la.samples)[0]).loc[PARAMS]
    assert not plain.attrs["weighted"]
    z = z_scores(plain, full.summary().loc[PARAMS])
    assert z["sd_g__Intercept"] < -4, z


def test_weights_and_what_reads_them(fits):
    la, full = fits
    w = la.importance_weights
    assert full.importance_weights is None
    assert w.shape == (2, 1000) and np.all(w >= 0) and w.sum() == pytest.approx(1.0)
    efficiency = 1 / (w.size * np.sum(w ** 2))
    assert 0.5 < efficiency <= 1.0  # the ESS columns are scaled by it (0.82 measured)
    d = la.diagnostics()
    assert d.laplace_khat_parameters < 0.7 and "summaries weighted" in str(d)
    assert "importance-weighted to the full model" in str(la)
    # fixef and hypothesis read the same weights as the summary
    s = la.summary()
    np.testing.assert_allclose(la.fixef().loc["x", "Estimate"], s.loc["b_x", "mean"])
    h = la.hypothesis("x > 0")
    np.testing.assert_allclose(h["Estimate"][0], s.loc["b_x", "mean"])
    ranef = la.ranef()["g"]["Intercept"]
    draws = la.samples["r_g"][..., 0].reshape(w.size, -1)
    np.testing.assert_allclose(ranef["Estimate"], w.reshape(-1) @ draws, rtol=1e-6)


def test_second_order_term_matches_monte_carlo():
    """Per level, ``eps`` (closed form) against ``log mean exp R(e)`` over 20,000 draws at
    fixed parameters: they differ by the third-order terms and Monte Carlo error, here
    below 0.01 where ``eps`` itself is 0.01-0.03."""
    import jax
    import jax.numpy as jnp

    from formulang.infer.laplace_draws import expansion
    from formulang.lower.collapsed import block_scale
    from formulang.lower.block_linalg import chol_solve, cholesky
    from formulang.lower.laplace import (block_value, find_mode, laplace_data, pass_statistics,
                                         population_eta, row_loglik)

    m = fl.Model("y ~ x + (1 | g)", few_rows_per_level(groups=20), family="bernoulli",
                 collapse="laplace")
    plan, layout = m.plan, m.collapse_layout
    tree = laplace_data(plan, m.data, layout, m.pilot)
    rows = jax.tree.map(lambda a: jnp.asarray(a, jnp.float32)
                        if np.asarray(a).dtype.kind == "f" else jnp.asarray(a), tree["rows"])
    B, q = layout.n_blocks, layout.q
    T = block_scale(plan, layout, [jnp.array([[1.6]])], None)
    eta0 = population_eta(plan, rows, jnp.array([-1.0, 0.5]))
    loglik = row_loglik(plan, rows, {})
    v, _ = find_mode(loglik, eta0, rows, T, B, q)
    stats = pass_statistics(loglik, eta0, rows, T, v, B, order=4)
    f_star = stats["f"]
    L = cholesky(jnp.eye(q) + jnp.swapaxes(T, -1, -2) @ stats["S"] @ T)
    eps = np.asarray(expansion(stats, T, L))
    e = jax.random.normal(jax.random.PRNGKey(0), (20_000, B, q))
    lw = jax.vmap(lambda ek: block_value(loglik, eta0, rows, T,
                                         v + chol_solve(L, ek, transpose=True), B)
                  - f_star + 0.5 * jnp.sum(ek * ek, -1))(e)
    mc = np.asarray(jax.scipy.special.logsumexp(lw, axis=0) - np.log(len(e)))
    assert np.all(eps > 0.005) and np.max(np.abs(eps - mc)) < 0.01, (eps, mc)


def test_statistics_move_with_the_last_newton_step():
    """The effect draws take one pass to the mode: at a start whose Newton step ``s`` is below
    the tolerance, the moments move to ``v0 + s`` to first order (``S`` by ``-K3 u``, ``K3``
    by ``K4 u``, ``f`` by ``g's / 2``). Against a pass at that point (float64, ``|s|`` about
    5e-7): within 1e-9 relative (the error is ``O(|s|^2)``), where leaving out a shift or
    flipping its sign is off by ~1e-6."""
    import jax
    import jax.numpy as jnp

    from formulang.infer.laplace_draws import at_mode
    from formulang.lower.collapsed import block_scale
    from formulang.lower.laplace import (find_mode, laplace_data, pass_statistics,
                                         population_eta, row_loglik)

    m = fl.Model("y ~ x + (1 + x | g)", few_rows_per_level(groups=20, n=30),
                 family="bernoulli", collapse="laplace")
    plan, layout = m.plan, m.collapse_layout
    B, q = layout.n_blocks, layout.q
    with jax.enable_x64(True):
        rows = jax.tree.map(jnp.asarray, laplace_data(plan, m.data, layout)["rows"])
        tril = jnp.array([[1.5, 0.0], [0.2, 0.5]])
        T = block_scale(plan, layout, [tril], None)
        eta0 = population_eta(plan, rows, jnp.array([-1.0, 0.5]))
        loglik = row_loglik(plan, rows, {})
        v, _ = find_mode(loglik, eta0, rows, T, B, q)
        v0 = v + 5e-7 * jax.random.normal(jax.random.PRNGKey(0), v.shape, dtype=v.dtype)
        v_near, near = at_mode(loglik, eta0, rows, T, v0, B, q)
        there = pass_statistics(loglik, eta0, rows, T, v_near, B, order=4)
        np.testing.assert_allclose(v_near, v, atol=1e-11)
        # K4 stays (its shift is a fifth derivative's): off by O(|s|), in a second-order term
        for key, tol in (("f", 1e-9), ("S", 1e-9), ("K3", 1e-9), ("K4", 1e-5)):
            scale = float(jnp.max(jnp.abs(there[key])))
            np.testing.assert_allclose(near[key], there[key], rtol=0, atol=tol * scale,
                                       err_msg=key)
