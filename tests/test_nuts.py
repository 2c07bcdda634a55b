"""The compiled NUTS driver (``formulang.infer.nuts``): draws, warm-up, progress."""

import numpy as np
import pytest

import formulang as fl
from formulang.infer import nuts


@pytest.fixture(scope="module")
def model():
    rng = np.random.default_rng(0)
    g = np.repeat(np.arange(4), 5)
    y = rng.normal(size=20) + np.repeat(rng.normal(size=4), 5)
    import pandas as pd

    frame = pd.DataFrame({"y": y, "g": g.astype(str)})
    return fl.Model("y ~ 1 + (1 | g)", frame, collapse=False, reparam="noncentered")


def run(model, tune, draws, chains=2, progress=False, inverse_mass=None):
    settings = nuts.SamplerSettings(draws=draws, tune=tune, chains=chains)
    sampler = nuts.make_mcmc(model.numpyro_model, settings, progress=progress)
    return nuts.run_nuts(sampler, model.data, settings, seed=3, inverse_mass=inverse_mass)


def test_draws_follow_warm_up_and_do_not_depend_on_their_number(model):
    # the chain after warm-up is the same whatever the number of draws: the first draws of a
    # longer run equal a shorter run's, so no warm-up state leaks into the draw buffers
    short, long = run(model, tune=30, draws=4), run(model, tune=30, draws=9)
    for name, values in short.samples.items():
        assert values.shape[:2] == (2, 4)
        np.testing.assert_array_equal(values, long.samples[name][:, :4])
    for name in nuts.STAT_FIELDS:
        assert short.stats[name].shape == (2, 4)
        np.testing.assert_array_equal(short.stats[name], long.stats[name][:, :4])
    # and the chains moved during sampling
    assert np.all(np.ptp(long.stats["potential_energy"], axis=1) > 0)


@pytest.mark.parametrize("method", ["as chosen", "vectorized"])
def test_progress_bar_counts_every_iteration_of_every_chain(model, monkeypatch, method):
    # chains vectorised on one device must count as many iterations as chains on devices
    if method != "as chosen":
        monkeypatch.setattr(nuts, "chain_method", lambda chains: method)
    counted = []
    monkeypatch.setattr(nuts._Progress, "tick", lambda self, n: counted.append(int(np.sum(n))))
    result = run(model, tune=20, draws=30, chains=3, progress=True)
    assert result.samples["Intercept_c"].shape[:2] == (3, 30)
    assert sum(counted) == 3 * 50


def test_the_sampler_moves_with_the_inverse_mass_it_is_given(model):
    # Without warm-up nothing re-estimates the matrix or the step size (which stays 1), so
    # the matrix alone decides how far a leapfrog step goes (about step x sqrt(inverse mass)
    # per unit of whitened momentum): at 1e-8 the steps are 1e-4 long, the energy is kept
    # exactly (acceptance 1) and trees grow to hundreds of steps before they turn; at 1e-2
    # steps of 0.1 turn after a few dozen. (At the identity, step 1 diverges on every draw.)
    settings = nuts.SamplerSettings(draws=20, tune=0, chains=2)
    sampler = nuts.make_mcmc(model.numpyro_model, settings, progress=False)
    sizes = {"Intercept_c": 1, "z_g": 4, "sd_g": 1, "sigma": 1}
    runs = {scale: nuts.run_nuts(sampler, model.data, settings, seed=3, inverse_mass={
        name: np.full(size, scale) for name, size in sizes.items()}) for scale in (1e-8, 1e-2)}
    tiny, moderate = runs[1e-8].stats, runs[1e-2].stats
    assert np.all(tiny["accept_prob"].mean(axis=1) > 0.999)
    assert np.all(tiny["num_steps"].mean(axis=1) > 300)
    assert np.all(moderate["num_steps"].mean(axis=1) < 100)
    assert not tiny["diverging"].any() and not moderate["diverging"].any()
    assert runs[1e-2].warmup_gradients.tolist() == [0, 0]


def test_a_dense_block_starts_from_its_sites_variances(model):
    # As above, without warm-up: a dense block over the intercept and the effects
    # (plan.dense_mass) starting from their variances moves as the diagonal does at 1e-8 (at
    # the identity, NumPyro's start for a dense block, step 1 diverges); a block with a site
    # the variances lack starts at the identity and still runs.
    settings = nuts.SamplerSettings(draws=10, tune=0, chains=2)
    dense = ("Intercept_c", "z_g")
    sampler = nuts.make_mcmc(model.numpyro_model, settings, progress=False, dense=dense)
    sizes = {"Intercept_c": 1, "z_g": 4, "sd_g": 1, "sigma": 1}
    tiny = nuts.run_nuts(sampler, model.data, settings, seed=3, inverse_mass={
        name: np.full(size, 1e-8) for name, size in sizes.items()}).stats
    assert np.all(tiny["accept_prob"].mean(axis=1) > 0.999)
    assert np.all(tiny["num_steps"].mean(axis=1) > 300)
    partial = nuts.run_nuts(sampler, model.data, settings, seed=3,
                            inverse_mass={"sd_g": np.ones(1), "sigma": np.ones(1)})
    assert partial.samples["z_g"].shape[:2] == (2, 10)


def test_warm_up_gradients_are_counted_per_chain(model):
    result = run(model, tune=30, draws=5)
    # at least one leapfrog step per warm-up iteration, at most 2^10 - 1
    assert result.warmup_gradients.shape == (2,)
    assert np.all((result.warmup_gradients >= 30) & (result.warmup_gradients <= 30 * 1023))


# ---- sampler settings take effect in a real fit (issue 21: they were never checked) ----------

def test_max_tree_depth_caps_the_leapfrog_steps(model):
    """A tree of depth d has at most 2^d - 1 leapfrog steps: depth 2 caps them at 3, and this
    posterior (a hierarchical model started from the pilot) needs more at the default."""
    capped = model.fit(draws=60, tune=60, chains=1, seed=1, max_tree_depth=2, progress=False)
    steps = np.asarray(capped.stats["num_steps"])
    assert steps.max() == 3
    free = model.fit(draws=60, tune=60, chains=1, seed=1, progress=False)
    assert np.asarray(free.stats["num_steps"]).max() > 3


def test_target_accept_sets_the_adapted_acceptance(model):
    """Step-size adaptation aims the mean acceptance probability at target_accept: a fit at
    0.95 accepts more, with smaller steps (more of them), than one at 0.6."""
    low = model.fit(draws=150, tune=150, chains=1, seed=2, target_accept=0.6, progress=False)
    high = model.fit(draws=150, tune=150, chains=1, seed=2, target_accept=0.95,
                     progress=False)
    a_low, a_high = (float(np.mean(f.stats["accept_prob"])) for f in (low, high))
    assert a_low < 0.8 < a_high, (a_low, a_high)
    assert np.mean(high.stats["num_steps"]) > np.mean(low.stats["num_steps"])


def _mappings() -> int:
    with open("/proc/self/maps") as f:
        return sum(1 for _ in f)


@pytest.mark.skipif(not __import__("os").path.exists("/proc/self/maps"),
                    reason="counts memory mappings through Linux's /proc")
def test_a_dropped_sampler_releases_its_compiled_program(model):
    """Each compiled NUTS program holds about a thousand memory mappings of XLA code. Under
    ``jax.pmap`` they outlived the sampler (JAX cached every pmapped function for the life of
    the process), and a long session reached the kernel's limit of 65,530 mappings: XLA
    crashed compiling the next model (three CI runs). Now every sampler releases its own."""
    import gc

    assert nuts.chain_method(2) == "parallel"
    run(model, tune=5, draws=5)  # JAX's own one-off mappings
    gc.collect()
    before = _mappings()
    for tune, chains in ((6, 2), (7, 1), (8, 2)):  # new programs (the iterations are compiled
        run(model, tune=tune, draws=5, chains=chains)  # in), across devices and on one
        gc.collect()
    assert _mappings() - before < 300  # leaking, each program alone added ~700-1,000


@pytest.mark.parametrize("chains", [1, 2, 6])
def test_one_chain_per_program_is_traced_unbatched(model, monkeypatch, chains):
    # vmap over NumPyro's nested while loops took 7 s to trace for one chain of a crossed
    # model (a batch of 1): one chain, one chain per device, and on CPU more chains than
    # devices (6 on the tests' 4 host devices: 3 devices, 2 chains each) run the chain as
    # it is
    seen = []
    original = nuts.NutsSampler.one_chain

    def recording(self, rng_key, data, inverse_mass):
        seen.append(type(rng_key).__name__ == "BatchTracer")  # vmap's tracer
        return original(self, rng_key, data, inverse_mass)

    monkeypatch.setattr(nuts.NutsSampler, "one_chain", recording)
    result = run(model, tune=5, draws=4, chains=chains)
    assert seen == [False]
    draws = result.samples["Intercept_c"]
    assert draws.shape[:2] == (chains, 4)
    assert result.chain_method == ("sequential" if chains == 1 else "parallel")
    assert len({tuple(np.ravel(c)) for c in draws}) == chains  # each chain its own key
