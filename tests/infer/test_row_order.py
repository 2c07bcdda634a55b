"""The sampler's row order (``formulang.infer.row_order``): a fixed permutation of every
per-row array, which leaves the log density as it is."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import formulang as fl
from formulang.infer.row_order import row_permutation, sampler_rows


@settings(max_examples=40, deadline=None)
@given(n=st.integers(2, 60), width=st.integers(1, 4))
def test_every_per_row_array_moves_with_its_row(n, width):
    y = np.arange(n, dtype=float)
    data = {"y": y, "X": y[:, None] * np.arange(1, width + 1), "codes": (np.arange(n) % 3,),
            "dpars": {"sigma": {"offset": -y}}, "priors": {"b": np.ones((n, 2))},
            "unit": np.float64(2.0)}
    out = sampler_rows(data)
    order = row_permutation(n)
    assert sorted(order) == list(range(n))
    np.testing.assert_array_equal(out["y"], y[order])
    np.testing.assert_array_equal(out["X"], out["y"][:, None] * np.arange(1, width + 1))
    np.testing.assert_array_equal(out["codes"][0], out["y"].astype(int) % 3)
    np.testing.assert_array_equal(out["dpars"]["sigma"]["offset"], -out["y"])
    assert out["priors"] is data["priors"] and out["unit"] is data["unit"]  # not rows


def test_data_with_an_entry_that_is_not_per_row_or_without_a_response_stay_as_they_are():
    odd = {"y": np.arange(4.0), "X": np.ones((3, 2)), "priors": {}}
    assert sampler_rows(odd) is odd
    assert sampler_rows({"y": None, "X": np.ones((4, 1))})["X"].shape == (4, 1)


def test_the_order_is_not_sorted_and_does_not_depend_on_the_fit():
    order = row_permutation(200)
    np.testing.assert_array_equal(order, row_permutation(200))
    assert np.mean(np.diff(order) == 1) < 0.05  # consecutive rows rarely stay neighbours


@pytest.fixture(scope="module")
def grouped():
    rng = np.random.default_rng(1)
    g = np.repeat(np.arange(6), 8)  # sorted by group, as data often are
    x = rng.normal(size=48)
    y = (rng.random(48) < 1 / (1 + np.exp(-(0.3 * x + rng.normal(size=6)[g])))).astype(float)
    return fl.Model("y ~ x + (1 + x | g)", {"y": y, "x": x, "g": g.astype(str)},
                    family="bernoulli")


def test_the_shuffled_rows_give_the_same_log_density(grouped):
    import jax
    from numpyro.infer.util import initialize_model

    model_fn, data = grouped._sampled_model
    info = initialize_model(jax.random.PRNGKey(0), model_fn, model_args=(data,))
    z = info.param_info.z
    moved = jax.tree.map(lambda v: v + 0.1, z)
    pe = info.potential_fn
    shuffled = initialize_model(jax.random.PRNGKey(0), model_fn,
                                model_args=(sampler_rows(data),)).potential_fn
    np.testing.assert_allclose(float(shuffled(moved)), float(pe(moved)), rtol=1e-5)


def test_the_full_model_is_sampled_from_the_shuffled_rows(grouped, monkeypatch):
    from formulang.infer import nuts

    seen = []
    original = nuts.run_nuts

    def recording(sampler, data, *args, **kwargs):
        seen.append(data)
        return original(sampler, data, *args, **kwargs)

    monkeypatch.setattr(nuts, "run_nuts", recording)
    grouped.fit(chains=1, tune=5, draws=5, progress=False)
    y = grouped._sampled_model[1]["y"]
    np.testing.assert_array_equal(seen[0]["y"], y[row_permutation(len(y))])


@pytest.mark.parametrize("parallel", ["sequential", "devices"])
def test_k_fold_refits_read_the_shuffled_rows_with_their_weights(grouped, monkeypatch,
                                                                 parallel):
    # each refit's held-out rows (weight 0) move with their rows: the refit reads the
    # permuted data, and the weights of the same rows
    from formulang.infer import kfold, kfold_parallel, nuts

    seen = []
    if parallel == "sequential":
        original = nuts.run_nuts

        def recording(sampler, data, *args, **kwargs):
            seen.append((data["y"], data["weights"]))
            return original(sampler, data, *args, **kwargs)

        monkeypatch.setattr(nuts, "run_nuts", recording)
    else:
        original = kfold_parallel.FoldsSampler.run

        def recording(self, keys, data, weights, inverse_mass):
            seen.extend((data["y"], w) for w in np.asarray(weights))
            return original(self, keys, data, weights, inverse_mass)

        monkeypatch.setattr(kfold_parallel.FoldsSampler, "run", recording)
    settings = nuts.SamplerSettings(draws=5, tune=5, chains=1)
    result = kfold.kfold(grouped, K=2, settings=settings, progress=False, parallel=parallel)
    y = grouped.data["y"]
    order = row_permutation(len(y))
    fold = np.asarray(result.fold)
    assert len(seen) >= 2
    for k, (ys, w) in enumerate(seen[:2]):
        np.testing.assert_array_equal(ys, y[order])
        np.testing.assert_array_equal(w, np.where(fold == k, 0.0, 1.0)[order])
