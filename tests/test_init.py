"""Where chains start (``formulang.infer.init``): near the data-scaled priors' centre,
dispersed across chains; the stuck chain it cures."""

import numpy as np
import pytest

import formulang as fl


def initial_points(model, keys):
    """The constrained starting values, per key (eagerly, as NumPyro applies the strategy)."""
    from numpyro import handlers

    from formulang.infer.init import init_near_prior_centre

    starts = []
    for key in keys:
        seeded = handlers.seed(model.numpyro_model, rng_seed=key)
        tr = handlers.trace(handlers.substitute(seeded, substitute_fn=init_near_prior_centre))
        starts.append({name: site["value"] for name, site in tr.get_trace(model.data).items()
                       if site["type"] == "sample" and not site["is_observed"]})
    return starts


def test_chains_start_near_the_prior_centre_and_apart():
    sleep = fl.datasets.load("sleepstudy")
    m = fl.Model("Reaction ~ Days + (Days | Subject)", sleep, collapse=False)
    starts = initial_points(m, range(5))
    intercepts = np.array([float(z["Intercept_c"]) for z in starts])
    # the intercept's prior is student_t(3, mean(Reaction) = 298.5, 141.2): its draws' median
    # plus up to one robust SD (IQR / 1.349, about 1.1 scales for 3 df at 15 draws, which vary)
    location, scale = m.plan.prior_params["Intercept"][1:, 0]
    assert np.all(np.abs(intercepts - location) < 2.5 * scale), intercepts
    assert np.abs(intercepts).min() > 50  # NumPyro's default starts in (-2, 2)
    assert len(np.unique(intercepts)) == 5  # every chain its own start
    # positive parameters start positive and on the data's scale (sigma: a half-t of scale 141)
    sigmas = np.array([float(z["sigma"]) for z in starts])
    assert np.all((sigmas > 5) & (sigmas < 1000)), sigmas


def test_the_stuck_chain_moves():
    """Seed 5 of sleepstudy's default (collapsed) fit left one chain at NumPyro's default start
    (intercept -0.09, sigma 0.28) for all 2000 iterations: R-hat 1.53. 2 of 40 seeds did so."""
    m = fl.Model("Reaction ~ Days + (Days | Subject)", fl.datasets.load("sleepstudy"))
    fit = m.fit(draws=1000, tune=1000, chains=4, seed=5, progress=False)
    sigma = np.asarray(fit.samples["sigma"]).reshape(4, -1)
    assert np.all(sigma.std(axis=1) > 0.5), sigma.std(axis=1)  # the posterior SD is about 1.5
    assert fit.summary()["rhat"].max() < 1.01
