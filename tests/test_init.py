"""Where chains start (``formulang.infer.init``): at the data-scaled priors' centres, jittered
per chain; and the stuck chain that NumPyro's default start caused."""

import numpy as np
import pytest

import formulang as fl
from formulang.infer.init import init_near_prior_centre, prior_centre


def starting_points(model_fn, data, keys):
    """The constrained starting values per key, as NumPyro's initialisation applies the
    strategy (eagerly here)."""
    from numpyro import handlers

    starts = []
    for key in keys:
        seeded = handlers.seed(model_fn, rng_seed=key)
        tr = handlers.trace(handlers.substitute(seeded, substitute_fn=init_near_prior_centre))
        starts.append({name: np.asarray(site["value"]) for name, site in
                       tr.get_trace(data).items()
                       if site["type"] == "sample" and not site["is_observed"]})
    return starts


@pytest.fixture(scope="module")
def sleep():
    return fl.datasets.load("sleepstudy")


def test_chains_start_near_the_prior_centres_and_apart(sleep):
    m = fl.Model("Reaction ~ Days + (Days | Subject)", sleep, collapse=False,
                 reparam="centered")
    starts = starting_points(m.numpyro_model, m.data, range(6))
    # the intercept's prior is student_t(3, mean(Reaction), scale): a start within one scale
    location, scale = m.plan.prior_params["Intercept"][1:, 0]
    intercepts = np.array([float(s["Intercept_c"]) for s in starts])
    assert np.all(np.abs(intercepts - location) <= scale), (intercepts, location, scale)
    assert len(np.unique(intercepts)) == 6  # every chain its own start
    # positive parameters: within a factor e of the half-t's scale (NumPyro's default: 0.1-7)
    sigma_scale = m.plan.prior_params["sigma"][1, 0]
    sigmas = np.array([float(s["sigma"]) for s in starts])
    assert np.all((sigmas >= sigma_scale / np.e) & (sigmas <= sigma_scale * np.e)), sigmas
    # centred effects start around their location within about one SD of the current start
    for s in starts:
        rc, sd = s["rc_Subject"], s["sd_Subject"]
        assert rc.shape == (18, 2) and np.all(np.abs(rc) < 3 * sd)
        L = s["L_Subject"]
        np.testing.assert_allclose(L @ L.T, np.array([[1, L[1, 0]], [L[1, 0], 1]]), atol=1e-5)
        assert abs(L[1, 0]) < np.tanh(1.0) + 1e-6


@pytest.mark.parametrize("name, args, centre", [
    ("Normal", (1.0, 2.0), 1.0), ("StudentT", (3.0, 1.0, 2.0), 1.0),
    ("HalfNormal", (2.0,), 2.0), ("HalfCauchy", (2.0,), 2.0), ("Exponential", (0.5,), 2.0),
    ("Gamma", (2.0, 4.0), 0.5), ("InverseGamma", (3.0, 4.0), 2.0),
    ("LogNormal", (np.log(3.0), 1.0), 3.0), ("Beta", (1.0, 3.0), 0.25),
    ("Uniform", (1.0, 5.0), 3.0),
])
def test_prior_centres(name, args, centre):
    import numpyro.distributions as dist

    value, _ = prior_centre(getattr(dist, name)(*args).expand([3]).to_event(1))
    np.testing.assert_allclose(np.broadcast_to(value, (3,)), centre, rtol=1e-6)


def test_unknown_priors_start_as_numpyro_would():
    import numpyro
    import numpyro.distributions as dist

    def model(data):
        numpyro.sample("w", dist.Weibull(2.0, 1.5))

    assert prior_centre(dist.Weibull(2.0, 1.5)) is None
    (start,) = starting_points(model, None, [0])
    assert np.exp(-2) < float(start["w"]) < np.exp(2)  # NumPyro's (-2, 2), on the log scale


def test_the_stuck_chain_moves(sleep):
    """Seed 5 of sleepstudy's default (collapsed) fit left one chain at NumPyro's default
    start (intercept -0.09, sigma 0.28) for all 2000 iterations: R-hat 1.53 (2 of 40 seeds)."""
    m = fl.Model("Reaction ~ Days + (Days | Subject)", sleep)
    fit = m.fit(draws=1000, tune=1000, chains=4, seed=5, progress=False)
    sigma = np.asarray(fit.samples["sigma"]).reshape(4, -1)
    assert np.all(sigma.std(axis=1) > 0.5), sigma.std(axis=1)  # the posterior SD is about 1.5
    assert fit.summary()["rhat"].max() < 1.01
