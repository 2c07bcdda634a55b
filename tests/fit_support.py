"""Shared by tests that need a Fit without sampling: prior draws of every site."""

import numpy as np

from formulang.fit import Fit


def prior_fit(model, draws=100, chains=2, seed=1):
    """A Fit whose draws are prior draws of every site (same names and shapes as NUTS)."""
    import jax
    from numpyro.infer import Predictive

    data = dict(model.data)
    data["y"] = None
    # jitted, so its compiled code goes with it (formulang.infer.predictive says why)
    raw = jax.jit(Predictive(model.numpyro_model, num_samples=chains * draws))(
        jax.random.PRNGKey(seed), data)
    samples = {k: np.asarray(v).reshape((chains, draws) + v.shape[1:])
               for k, v in raw.items() if k != "y"}
    return Fit(model, samples, {}, method="prior")
