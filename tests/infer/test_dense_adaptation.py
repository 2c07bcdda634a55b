"""Warm-up's adaptation of a dense mass-matrix block (``formulang.infer.dense_adaptation``)."""

from collections import namedtuple

import numpy as np
import pytest

from formulang.infer.dense_adaptation import adaptation_windows, adapter, shrinkage

State = namedtuple("State", "z adapt_state")
Adapt = namedtuple("Adapt", "inverse_mass_matrix mass_matrix_sqrt mass_matrix_sqrt_inv")


@pytest.mark.parametrize("tune", [0, 10, 150, 300, 1000, 2500])
def test_the_windows_are_numpyros(tune):
    from numpyro.infer.hmc_util import build_adaptation_schedule

    windows = adaptation_windows(tune)
    slow = build_adaptation_schedule(tune)[1:-1] if tune else []
    assert windows.ends[:tune].nonzero()[0].tolist() == [w.end for w in slow]
    assert int(windows.middle[:tune].sum()) == sum(w.end - w.start + 1 for w in slow)


def test_shrinkage_leans_on_the_diagonal_while_draws_are_few():
    assert shrinkage(127, 25) > 0.8 and shrinkage(127, 500) == pytest.approx(127 / 627)
    assert shrinkage(5, 500) < 0.01


def _stan(cov, n):  # NumPyro's (Stan's) regularisation of a window's covariance
    eye = np.eye(len(cov)) if np.ndim(cov) == 2 else 1.0
    return n / (n + 5.0) * cov + 1e-3 * 5.0 / (n + 5.0) * eye


def test_a_dense_block_adapts_to_its_windows_draws_shrunk_toward_the_diagonal():
    # draws of an equicorrelated block (49 + 1 entries, correlation 0.9) and a diagonal block,
    # fed through the loop as a chain's would be: after warm-up the dense block is the last
    # slow window's covariance shrunk by d / (n + d), the diagonal one its variances, as
    # NumPyro's; the factors match the matrices as NumPyro uses them
    import jax
    import jax.numpy as jnp

    tune, d = 1000, 50
    rng = np.random.default_rng(0)
    cov = 0.1 * np.eye(d) + 0.9
    draws = rng.multivariate_normal(np.zeros(d), cov, size=tune)
    scales = rng.normal(size=(tune, 3)) * np.array([1.0, 2.0, 3.0])
    dense, diag = ("a", "b"), ("c",)
    state = State({"a": jnp.zeros(d - 1), "b": jnp.zeros(()), "c": jnp.zeros(3)},
                  Adapt({dense: jnp.eye(d), diag: jnp.ones(3)}, {dense: jnp.eye(d),
                        diag: jnp.ones(3)}, {dense: jnp.eye(d), diag: jnp.ones(3)}))
    init, before, after = adapter(tune)

    @jax.jit
    def run(state):
        def step(i, carry):
            state, acc = before(i, *carry)
            z = {"a": jnp.asarray(draws)[i, :-1], "b": jnp.asarray(draws)[i, -1],
                 "c": jnp.asarray(scales)[i]}
            state = state._replace(z=z)
            return state, after(i, state, acc)

        return jax.lax.fori_loop(0, tune, step, (state, init(state)))[0]

    out = run(state).adapt_state
    from numpyro.infer.hmc_util import build_adaptation_schedule

    last = build_adaptation_schedule(tune)[-2]
    n = last.end - last.start + 1
    window = slice(last.start, last.end + 1)
    sample = _stan(np.cov(draws[window].T), n)
    lam = shrinkage(d, n)
    expected = (1 - lam) * sample + lam * np.diag(np.diag(sample))
    got = np.asarray(out.inverse_mass_matrix[dense])
    assert np.abs(got - expected).max() < 0.03  # one draw either side of the window's edge
    off = ~np.eye(d, dtype=bool)
    assert got[off].mean() < sample[off].mean() - 0.05  # shrunk, not the window's own
    variances = _stan(np.var(scales[window], axis=0, ddof=1), n)
    assert np.asarray(out.inverse_mass_matrix[diag]) == pytest.approx(variances, rel=0.03)
    sqrt, sqrt_inv = (np.asarray(m[dense]) for m in (out.mass_matrix_sqrt,
                                                      out.mass_matrix_sqrt_inv))
    # NumPyro's: sqrt a Cholesky factor of the precision, sqrt_inv its inverse (float32 here)
    assert sqrt @ sqrt.T == pytest.approx(np.linalg.inv(got), rel=1e-3, abs=1e-3)
    assert sqrt_inv.T @ sqrt_inv == pytest.approx(got, rel=1e-4, abs=1e-5)
    assert sqrt @ sqrt_inv == pytest.approx(np.eye(d), abs=1e-4)
