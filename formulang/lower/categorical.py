"""The categorical family (multinomial logit), brms's parameterisation.

A response in categories ``1..K`` (the model's ``y`` is the code ``0..K-1``), the first the
reference: ``P(y = k) = softmax(0, mu_2, ..., mu_K)_k``. Each category but the first has its
own linear predictor, a family parameter named as brms names it (``mu2``, ``mu3``...;
:func:`~formulang.lower.sites.category_dpars`), on the log-odds scale against the reference.
The response's formula is every category's (``y ~ x + (1 | g)`` gives each ``mu<k>`` an
intercept, a slope on ``x`` and its own group effects, brms's ``b_mu2_x``,
``sd_g__mu2_Intercept``...); a sub-formula ``mu3 ~ z`` replaces it for that category.

:func:`formulang.lower.categorical_model.prepare` turns the bound data of a categorical model into those of a distributional
one (:mod:`formulang.lower.plan`'s sub-formulas): one sub-formula per category, and the
response's own predictor empty. From there the dpar machinery does the rest: priors by
``dpar`` (``Intercept_mu2``, ``b_mu2[x]``), sampling, names, predictions, save/load.

The family row reads the categories' linear predictors as the family parameters it is given,
in their order (the plan's sub-formulas are in category order).

>>> import numpy as np
>>> p = probabilities(None, np.zeros((1, 1)), {"mu2": np.log([[2.0]]), "mu3": np.zeros((1, 1))})
>>> p.round(3).tolist()  # odds 1 : 2 : 1
[[[0.25, 0.5, 0.25]]]
"""

from __future__ import annotations

import numpy as np


def logits(p: dict, xp=np):
    """The categories' logits, last axis: 0 for the reference, then each category's linear
    predictor (the values of ``p``, in order; ``xp``: NumPy or ``jax.numpy``)."""
    etas = [xp.asarray(v) for v in p.values()]
    return xp.stack([xp.zeros_like(etas[0])] + etas, axis=-1)


def likelihood(d, link, eta, p, n):
    """The family row's likelihood: NumPyro's ``CategoricalLogits`` over :func:`logits`."""
    import jax.numpy as jnp

    return d.CategoricalLogits(logits(p, jnp))


def probabilities(link, eta, aux: dict, trials=None) -> np.ndarray:
    """The categories' probabilities per draw and row, ``(draws, rows, K)``, NumPy float64
    (brms's ``posterior_epred``): the softmax of :func:`logits`."""
    z = logits({k: np.asarray(v, dtype=float) for k, v in aux.items()})
    z = z - z.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


def linear_predictors(eta, values: dict) -> np.ndarray:
    """``kind="linpred"``: every category's linear predictor, ``(draws, rows, K)``, the
    reference's 0 (brms's ``posterior_linpred`` gives the K - 1 others)."""
    return logits({k: np.asarray(v, dtype=float) for k, v in values.items()})


def source(link) -> list[str]:
    """Source text of the likelihood, for generated code, which must define ``mus``: the
    categories' linear predictors (``mu2``, ``mu3``...), in order."""
    return ["dist.CategoricalLogits(jnp.stack([jnp.zeros_like(eta), *mus], axis=-1))"]


def working_response(y, trials):
    """The pilot's working response (it has nothing to fit: the response's own formula is
    empty): whether a row is outside the reference category."""
    return (np.asarray(y, dtype=float) > 0).astype(float), None


__all__ = ["likelihood", "linear_predictors", "logits", "probabilities", "source",
           "working_response"]
