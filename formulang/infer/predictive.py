"""The predictive groups of ArviZ data: posterior predictive draws for the training rows
(:func:`posterior_predictive`, ``fit.posterior_predictive()``) and parameters and responses
drawn from the prior (:func:`prior_predictive`, ``model.prior_predictive()``)."""

from __future__ import annotations

import numpy as np

from ..errors import FormulangError
from .jax_setup import jit
from .predict import _integer_trials, predict


def posterior_predictive(fit, seed: int = 0):
    """``fit.idata`` plus a ``posterior_predictive`` group: replicated ``y`` for the training
    rows, dims (chain, draw, obs), ready for ``az.plot_ppc``. ``fit.idata`` is not changed."""
    from ..report.idata import import_arviz

    az = import_arviz()
    if fit.bound is None:
        raise FormulangError("posterior predictive draws are for the training rows, which this "
                             "fit does not hold (it was saved without them): give them with "
                             "fit.attach_data(data), or use fit.predict(newdata, "
                             "kind='response') with those rows")
    y = predict(fit, None, kind="response", seed=seed, labels=False)
    if fit.plan.family.spec.probabilities is not None:  # categories: 1..K, as fit.observed
        y = y + 1
    first = next(iter(fit.samples.values()))
    chains, draws = first.shape[:2]
    y = y.reshape(chains, draws, -1)
    base = fit.idata
    ppc = az.from_dict(posterior_predictive={"y": y}, dims={"y": ["obs"]},
                       coords={"obs": np.arange(y.shape[-1])})
    groups = {name: base[name] for name in base.groups()}
    groups["posterior_predictive"] = ppc.posterior_predictive
    return az.InferenceData(**groups)


def prior_predictive(compiled, data: dict, observed=None, draws: int = 500, seed: int = 0):
    """Parameters and responses drawn from the prior of ``compiled`` (a
    :class:`~formulang.compiled.CompiledModel`) on the rows of ``data`` (its arrays,
    :func:`~formulang.lower.plan.model_data`), as ArviZ ``InferenceData`` with groups ``prior``
    (user-facing names: ``b``, ``sd_<g>``, ``cor_<g>``, ``r_<g>``, family parameters),
    ``prior_predictive`` (``y``, dims chain, draw, obs; one chain) and ``observed_data`` (the
    ``observed`` response, when given)."""
    from .jax_setup import configure

    configure()
    import jax
    from numpyro.infer import Predictive

    from ..lower.sites import derive
    from ..report.idata import import_arviz, posterior_variables

    az = import_arviz()
    data = dict(data)
    data["y"] = None
    if data.get("trials") is not None:
        data["trials"] = _integer_trials(data["trials"])
    # jitted: run eagerly, each primitive is compiled into JAX's process-wide cache, which
    # kept ~400 memory mappings of XLA code per model called (tests/test_nuts.py says why
    # that matters); a jitted function's program goes with the function
    draw = jit(Predictive(compiled.numpyro_model, num_samples=int(draws)))
    raw = draw(jax.random.PRNGKey(seed), data)
    samples = derive(compiled.plan, {k: np.asarray(v)[None] for k, v in raw.items()})
    y = samples.pop("y")
    if compiled.plan.family.spec.probabilities is not None:  # categories: index 1..K
        y = y + 1
        observed = None if observed is None else np.asarray(observed) + 1
    variables, dims, coords = posterior_variables(compiled.plan, samples)
    dims["y"] = ["obs"]
    coords["obs"] = np.arange(y.shape[-1])
    return az.from_dict(prior=variables, prior_predictive={"y": y},
                        observed_data=None if observed is None else {"y": np.asarray(observed)},
                        coords=coords, dims=dims)


__all__ = ["posterior_predictive", "prior_predictive"]
