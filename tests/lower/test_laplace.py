"""The embedded Laplace approximation (issue 23): its marginal against brute-force integrals,
its implicit-function gradient against finite differences, its mode against the stationarity
condition, and which models it takes.

Everything numeric runs in float64 (inside ``jax.enable_x64(True)``, so other tests keep
float32). The posterior agreement with the sampled model is in ``tests/test_laplace_fit.py``.
"""

from __future__ import annotations

import jax
import numpy as np
import pandas as pd
import pytest
from scipy.special import gammaln, logsumexp

import formulang as fl
from formulang.errors import FormulangError
from formulang.lower.laplace import (block_pass, find_mode, laplace_data, laplace_marginal,
                                     population_eta, row_loglik)


def poisson_data(groups: int = 5, n: int = 30, seed: int = 0, k: int = 1) -> pd.DataFrame:
    """Moderate counts (mean about 5): the Laplace approximation's regime."""
    rng = np.random.default_rng(seed)
    g = np.repeat(np.arange(groups), n)
    x = rng.normal(size=groups * n)
    eta = 1.5 + 0.3 * x + rng.normal(0, 0.4, groups)[g] + (k > 1) * rng.normal(0, 0.2,
                                                                               groups)[g] * x
    return pd.DataFrame({"y": rng.poisson(np.exp(eta)), "x": x,
                         "g": [f"g{i}" for i in g]})


def bernoulli_data(groups: int = 6, n: int = 25, seed: int = 1) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    g = np.repeat(np.arange(groups), n)
    x = rng.normal(size=groups * n)
    eta = -0.2 + 0.8 * x + rng.normal(0, 1.0, groups)[g] + rng.normal(0, 0.5, groups)[g] * x
    return pd.DataFrame({"y": (rng.uniform(size=groups * n) < 1 / (1 + np.exp(-eta))) * 1,
                         "x": x, "g": [f"g{i}" for i in g]})


def marginal_fn(model):
    """``(theta, sds, L) -> log p_LA(y | ...)`` for a one-term model, jitted, float64."""
    plan, layout = model.plan, model.collapse_layout
    data = laplace_data(plan, model.data, layout)

    def value(theta, sd, L):
        return laplace_marginal(plan, layout, data, theta, [sd[:, None] * L], {})

    return jax.jit(value), data


def test_marginal_matches_quadrature_for_poisson():
    """One scalar effect per group: the exact marginal is a sum over groups of 1-D integrals
    of ``exp(l(v) - v^2/2) / sqrt(2 pi)``, here by the trapezoid rule on 20,001 points over
    [-10, 10] (exponentially accurate for a smooth, decaying integrand; plain 60-node
    Gauss-Hermite is not, off by 1e-2, since the integrand is 5 times narrower than its
    weight). The Laplace approximation's known error is O(1/n_g) per group in the log; for 5
    groups of 30 Poisson rows with mean about 5 it measures 5e-4 per group (2.5e-3 in total,
    1e-5 relative): asserted below 1e-3 per group, and far closer than the plug-in at v = 0."""
    with jax.enable_x64(True):
        m = fl.Model("y ~ x + (1 | g)", poisson_data(), family="poisson", collapse="laplace")
        fn, data = marginal_fn(m)
        theta, sd = np.array([1.5, 0.3]), 0.4
        la = float(fn(theta, np.array([sd]), np.eye(1)))
        rows = data["rows"]
        eta0 = np.asarray(population_eta(m.plan, rows, theta))
        y, block = np.asarray(rows["y"], float), np.asarray(rows["block"])
        grid = np.linspace(-10.0, 10.0, 20001)
        exact, B = 0.0, m.collapse_layout.n_blocks
        for b in range(B):
            e = eta0[block == b][:, None] + sd * grid[None, :]
            ll = np.sum(y[block == b][:, None] * e - np.exp(e)
                        - gammaln(y[block == b] + 1)[:, None], axis=0) - 0.5 * grid**2
            trapezoid = np.full(len(grid), grid[1] - grid[0])
            trapezoid[[0, -1]] /= 2
            exact += logsumexp(ll, b=trapezoid) - 0.5 * np.log(2 * np.pi)
        err = abs(la - exact)
        assert err / B < 1e-3, (la, exact)
        assert err > 1e-6  # an approximation, not the exact integral: the test can tell
        plug_in = float(np.sum(y * eta0 - np.exp(eta0) - gammaln(y + 1)))
        assert err < abs(plug_in - exact) / 100


@pytest.mark.parametrize("family, data, formula", [
    ("bernoulli", bernoulli_data(), "y ~ x + (1 + x + I(x^2) | g)"),  # q = 3: jnp.linalg
])
def test_gradient_matches_finite_differences(family, data, formula):
    """The implicit-function gradient (no derivative through the Newton loop) agrees with
    central differences of the marginal itself, in every population, SD and correlation
    direction: the mode's own dependence on them is what log|H| needs."""
    with jax.enable_x64(True):
        m = fl.Model(formula, data, family=family, collapse="laplace")
        k = m.plan.groups[0].k
        rng = np.random.default_rng(3)

        def value(params):
            theta, log_sd, a = params[:2], params[2:2 + k], params[2 + k:]
            L = np.eye(k) + 0.0 * params[0]
            L = L.at[np.tril_indices(k, -1)].set(a) if k > 1 else L
            L = L / jax.numpy.linalg.norm(L, axis=1, keepdims=True)  # unit rows: a Cholesky
            return laplace_marginal(m.plan, m.collapse_layout, data_, theta, [
                jax.numpy.exp(log_sd)[:, None] * L], {})

        data_ = laplace_data(m.plan, m.data, m.collapse_layout)
        point = np.concatenate([[0.2, 0.5], np.log([0.9, 0.4, 0.3][:k]),
                                rng.normal(0, 0.5, k * (k - 1) // 2)])
        h, steps = 1e-5, np.eye(len(point))
        points = np.concatenate([point[None], point + h * steps, point - h * steps])
        values, grads = jax.jit(jax.vmap(jax.value_and_grad(value)))(points)  # one compile
        values, n = np.asarray(values), len(point)
        fd = (values[1:1 + n] - values[1 + n:]) / (2 * h)
        np.testing.assert_allclose(np.asarray(grads[0]), fd, rtol=1e-5, atol=1e-5)


def test_mode_is_stationary_and_unique_under_large_sds():
    """Damped Newton from 0 reaches the mode even where an undamped step overshoots
    (bernoulli, SD 8: logits far from 0): the gradient there is ~0 and H is positive."""
    with jax.enable_x64(True):
        m = fl.Model("y ~ x + (1 | g)", bernoulli_data(), family="bernoulli",
                     collapse="laplace")
        data = laplace_data(m.plan, m.data, m.collapse_layout)
        rows, B = data["rows"], m.collapse_layout.n_blocks
        T = np.full((1, 1, 1), 8.0)
        eta0 = population_eta(m.plan, rows, np.array([0.0, 0.8]))
        loglik = row_loglik(m.plan, rows, {})
        @jax.jit
        def mode(eta0, T):
            v, _ = find_mode(loglik, eta0, rows, T, B, 1)
            return v, *block_pass(loglik, eta0, rows, T, v, B)[1:]

        v, g, H = mode(eta0, T)
        assert np.max(np.abs(np.asarray(g))) < 1e-6
        assert np.all(np.asarray(H)[:, 0, 0] >= 1.0)


def test_which_models_take_the_laplace_path():
    d = bernoulli_data()
    m = fl.Model("y ~ x + (1 | g)", d, family="bernoulli", collapse=True)
    assert m.compiled.laplace and "no closed-form integral" in m.collapse_reason
    assert not fl.Model("y ~ x + (1 | g)", d, family="bernoulli").collapsed  # auto: sampled
    assert "Laplace" in str(m)
    cbpp = fl.Model("incidence | trials(size) ~ period + (1 | herd)",
                    fl.datasets.load("cbpp"), collapse=True)  # collapse=True: once an error
    assert cbpp.compiled.laplace and "binomial" in cbpp.collapse_reason
    assert "not collapsed" in fl.Model("incidence | trials(size) ~ period + (1 | herd)",
                                       fl.datasets.load("cbpp")).collapse_reason
    d["h"] = np.tile(["a", "b", "c"], len(d) // 3)
    with pytest.raises(FormulangError, match="crossed"):
        fl.Model("y ~ x + (1 | g) + (1 | h)", d, family="bernoulli", collapse="laplace")
    with pytest.raises(FormulangError, match="concave"):
        fl.Model("x ~ 1 + (1 | g)", d.assign(x=d.x.abs() + 0.1), family="gamma",
                 collapse="laplace")
    with pytest.raises(FormulangError, match="exactly"):
        fl.Model("x ~ 1 + (1 | g)", d, collapse="laplace")
    with pytest.raises(FormulangError, match="'laplace'"):
        fl.Model("y ~ x + (1 | g)", d, family="bernoulli", collapse="yes")
