"""The embedded Laplace approximation (issue 23): its marginal against brute-force integrals,
its implicit-function gradient against finite differences, its mode against the stationarity
condition, and which models it takes.

Everything numeric runs in float64 (inside ``jax.enable_x64(True)``, so other tests keep
float32). The posterior agreement with the sampled model is in ``tests/test_laplace_fit.py``.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.special import gammaln, logsumexp

import formulang as fl
from formulang.errors import FormulangError
from formulang.lower.laplace import (block_pass, find_mode, laplace_data, laplace_marginal,
                                     population_eta, row_loglik)


def poisson_data(groups: int = 5, n=30, seed: int = 0, k: int = 1) -> pd.DataFrame:
    """Moderate counts (mean about 5): the Laplace approximation's regime. ``n``: rows per
    group, or a list of them (unequal groups: the rows then lie in several chunks per block
    for the largest, :func:`~formulang.lower.laplace.chunk_rows`)."""
    rng = np.random.default_rng(seed)
    g = np.repeat(np.arange(groups), n)
    x = rng.normal(size=len(g))
    eta = 1.5 + 0.3 * x + rng.normal(0, 0.4, groups)[g] + (k > 1) * rng.normal(0, 0.2,
                                                                               groups)[g] * x
    return pd.DataFrame({"y": rng.poisson(np.exp(eta)), "x": x,
                         "g": [f"g{i}" for i in g]})


def flat_rows(data: dict) -> dict:
    """:func:`laplace_data`'s rows without the padding, and each row's block."""
    rows = data["rows"]
    mask = np.asarray(rows["mask"]) > 0 if "mask" in rows else np.ones(np.shape(rows["y"]), bool)
    block = np.broadcast_to(np.asarray(rows["chunk_block"])[:, None], mask.shape)
    return {k: np.asarray(rows[k])[mask] for k in ("y", "X")} | {
        "block": block[mask], "mask": mask}


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
    1e-5 relative): asserted below 1e-3 per group, and far closer than the plug-in at v = 0.
    Also with unequal groups (one of 150 rows: rows in chunks, summed per block), and with an
    offset (stored only where it is not 0)."""
    for n in (30, [30, 30, 30, 30, 150]):
        check_quadrature(poisson_data(n=n), n)
    d = poisson_data()
    d["o"] = np.random.default_rng(5).normal(0.0, 0.3, len(d))
    check_quadrature(d, 30, "y ~ x + offset(o) + (1 | g)")


def check_quadrature(d, n, formula="y ~ x + (1 | g)"):
    with jax.enable_x64(True):
        m = fl.Model(formula, d, family="poisson", collapse="laplace")
        fn, data = marginal_fn(m)
        assert ("offset" in data["rows"]) == ("offset" in formula)
        assert (np.shape(data["rows"]["y"])[0] > m.collapse_layout.n_blocks) == \
            isinstance(n, list)  # several chunks for one block: the segment sum runs
        assert ("mask" in data["rows"]) == isinstance(n, list)  # padded chunks only then
        theta, sd = np.array([1.5, 0.3]), 0.4
        la = float(fn(theta, np.array([sd]), np.eye(1)))
        rows = flat_rows(data)
        eta0 = np.asarray(population_eta(m.plan, data["rows"], theta))[rows["mask"]]
        want = theta[0] + (d["x"] - m.plan.x_means[0]) * theta[1] + d.get("o", 0.0)
        np.testing.assert_allclose(np.sort(eta0), np.sort(want))  # the rows' own eta0
        y, block = np.asarray(rows["y"], float), rows["block"]
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
    # a family parameter (phi), unequal groups (chunks summed per block), q = 2 by hand
    ("negative_binomial", poisson_data(n=[30, 30, 30, 30, 150], k=2), "y ~ x + (1 + x | g)"),
])
def test_gradient_matches_finite_differences(family, data, formula):
    """The implicit-function gradient (its adjoint form: no derivative through the Newton
    loop, none of a pass over the rows) agrees with central differences of the marginal
    itself, in every population, SD, correlation and family-parameter direction: the mode's
    own dependence on them is what log|H| needs."""
    with jax.enable_x64(True):
        m = fl.Model(formula, data, family=family, collapse="laplace")
        k, aux = m.plan.groups[0].k, m.plan.aux
        rng = np.random.default_rng(3)

        def value(params):
            theta, log_sd = params[:2], params[2:2 + k]
            a, log_aux = params[2 + k:len(params) - len(aux)], params[len(params) - len(aux):]
            L = np.eye(k) + 0.0 * params[0]
            L = L.at[np.tril_indices(k, -1)].set(a) if k > 1 else L
            L = L / jax.numpy.linalg.norm(L, axis=1, keepdims=True)  # unit rows: a Cholesky
            return laplace_marginal(m.plan, m.collapse_layout, data_, theta, [
                jax.numpy.exp(log_sd)[:, None] * L],
                {name: jax.numpy.exp(log_aux[j]) for j, name in enumerate(aux)})

        data_ = laplace_data(m.plan, m.data, m.collapse_layout)
        point = np.concatenate([[0.2, 0.5] if family == "bernoulli" else [1.4, 0.3],
                                np.log([0.9, 0.4, 0.3][:k]),
                                rng.normal(0, 0.5, k * (k - 1) // 2), np.log([5.0] * len(aux))])
        h, steps = 1e-5, np.eye(len(point))
        far = point + np.concatenate([[1.0, -0.5], np.full(len(point) - 2, 0.3)])
        points = np.concatenate([point[None], point + h * steps, point - h * steps, far[None]])
        run = lambda: jax.jit(jax.vmap(jax.value_and_grad(value)))(points)  # noqa: E731
        values, grads = run()  # one compile
        values, grads, n = np.asarray(values), np.asarray(grads), len(point)
        fd = (values[1:1 + n] - values[1 + n:-1]) / (2 * h)
        np.testing.assert_allclose(grads[0], fd, rtol=1e-5, atol=1e-5)
        # Newton started from the pilot's quadratic model instead of 0: the same modes, so
        # the same values and gradients (to the Newton tolerance's square), here and far
        # from the pilot's estimates
        data_ = laplace_data(m.plan, m.data, m.collapse_layout, m.pilot)
        assert "start" in data_
        started, started_grads = run()
        np.testing.assert_allclose(np.asarray(started), values, rtol=1e-10)
        np.testing.assert_allclose(np.asarray(started_grads), grads, rtol=1e-6, atol=1e-6)


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


def test_shortcut_pass_keeps_the_value_bounded_far_in_the_tails():
    """In the sampler the pass at the mode is taken first at the pilot's start and its value
    corrected toward the mode; far in the tails (an SD of 1,856, a correlation of -0.999995:
    where an SBC chain of ``bench/sbc_laplace.py`` stuck) ``H`` is huge, and a step small in
    prior SDs moved that correction to +8e8. The value must stay a Bernoulli log likelihood
    (<= 0) and equal the value after Newton steps to the mode (float32, as sampled)."""
    import jax.numpy as jnp

    from formulang.lower.collapsed import block_scale
    from formulang.lower.laplace import laplace_terms, pass_statistics, start_point

    model = fl.Model("y ~ x + (1 + x | g)", bernoulli_data(groups=12, n=50),
                     family="bernoulli", collapse="laplace")
    plan, layout = model.plan, model.collapse_layout
    tree = jax.tree.map(lambda a: jnp.asarray(a, jnp.float32) if np.asarray(a).dtype.kind == "f"
                        else jnp.asarray(a), laplace_data(plan, model.data, layout, model.pilot))
    theta = jnp.array([15.5, 14.3], jnp.float32)
    L = jnp.array([[1.0, 0.0], [-0.999995, 0.0031455]], jnp.float32)
    tril = jnp.array([0.13, 1856.0], jnp.float32)[:, None] * L
    value = float(jax.jit(lambda d: laplace_marginal(plan, layout, d, theta, [tril], {}))(tree))
    rows, B, q = tree["rows"], layout.n_blocks, layout.q
    T = block_scale(plan, layout, [tril], None)
    eta0, loglik = population_eta(plan, rows, theta), row_loglik(plan, rows, {})
    v, _ = find_mode(loglik, eta0, rows, T, B, q, start_point(tree["start"], theta, T, B, q))
    reference = float(laplace_terms(pass_statistics(loglik, eta0, rows, T, v, B), T, v)[0])
    assert np.isfinite(value) and value <= 0.0
    assert value == pytest.approx(reference, rel=1e-3)


@settings(max_examples=25, deadline=None)
@given(q=st.integers(1, 3), order=st.integers(1, 4), sizes=st.lists(st.integers(1, 9),
                                                                      min_size=1, max_size=4),
       seed=st.integers(0, 2**16))
def test_moments_are_the_symmetric_sums(q, order, sizes, seed):
    """Per block ``sum_i w_i z_i^(x order)``, built from the distinct entries of the
    symmetric tensor, equals the full outer products summed over the block's rows, whether a
    block is one chunk or several (``chunk_block``)."""
    from formulang.lower.laplace import moments

    rng = np.random.default_rng(seed)
    chunk_block = np.repeat(np.arange(len(sizes)), sizes)  # block b: sizes[b] chunks
    C, R = len(chunk_block), 3
    w, Z = rng.normal(size=(C, R)), rng.normal(size=(C, q, R))
    rows = {"chunk_block": jnp.asarray(chunk_block, dtype=jnp.int32)}
    with jax.enable_x64(True):
        got = np.asarray(moments(jnp.asarray(w), jnp.asarray(Z), order, rows, len(sizes)))
    letters = "jklm"[:order]
    outer = np.einsum(",".join(["cr"] + [f"c{a}r" for a in letters]) + f"->c{letters}r",
                      w, *[Z] * order).sum(-1)
    want = np.stack([outer[chunk_block == b].sum(0) for b in range(len(sizes))])
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)
