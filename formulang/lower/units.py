"""The unit a sampler runs in: a standardised response, so that results do not depend on units.

The same data in other units (a response in seconds or in microseconds) must give the same
posterior up to scale. Two things in a float32 NUTS run are not scale-free, and both broke the
collapsed Gaussian fit of sleepstudy (issue 21):

- float32's range: with the response around 1e12, ``sigma^2`` is about 1e27, and the gradient
  of ``a / sigma^2`` holds ``1 / sigma^4``, which underflows to 0: the gradient of ``log
  sigma`` came out 179 where it is 109, and NUTS stalled (R-hat 3.0, ESS 2);
- NumPyro's warm-up adds ``1e-3 * 5 / (n + 5)`` to each adapted variance of the mass matrix
  (Stan's regularisation), an *absolute* amount on the unconstrained scale: with the response
  around 1e-6 the intercept's posterior variance is about 1e-10, the mass matrix then claims
  1e-5, and the step size collapses (max tree depth, ESS 2).

So the sampler runs on ``y / s`` with ``s`` a power of two near the response's scale (powers of
two make the change of units exact in binary floating point): every site whose unit is the
response's (intercept, coefficients, group SDs, ``sigma``) is sampled as ``value / s`` under its
own prior carried over by the change of variables (:func:`standardize_sites`), and the draws
are multiplied back by ``s`` (:func:`restore_units`). The posterior is the same; only the
coordinates NUTS moves in change.

>>> unit_scale(300.0), unit_scale(3e-4), unit_scale(0.0)
(256.0, 0.000244140625, 1.0)
"""

from __future__ import annotations

import math

import numpy as np

from .plan import ModelPlan


def unit_scale(spread: float) -> float:
    """The power of two nearest ``spread`` (a typical size of the response, e.g. its residual
    root mean square); 1 when ``spread`` is 0 or not finite."""
    spread = float(spread)
    if not math.isfinite(spread) or spread <= 0.0:
        return 1.0
    return float(2.0 ** round(math.log2(spread)))


def response_unit_sites(plan: ModelPlan) -> tuple[str, ...]:
    """The sample sites measured in the response's unit in a model with an identity link and
    a location-scale family: the intercept, the coefficients' pieces, the group SDs' pieces, the
    smooth terms' SDs and the family parameters (the collapsed Gaussian model's ``sigma``). Correlations and
    standardised effects have no unit."""
    names: list[str] = []
    if plan.intercept:
        names.append(plan.sites.intercept)
    if plan.b is not None:
        names.extend(plan.b.piece_names)
    for g in plan.groups:
        names.extend(g.sd.piece_names)
    names.extend(sm.sites.sd for sm in plan.smooths)  # a smooth's SD (sds, sdgp), not lscale
    names.extend(plan.aux)
    return tuple(names)


def full_model_unit(plan: ModelPlan, bound, fam, compressed: bool, sigma: float) -> float:
    """The unit the full (not collapsed) model samples in: :func:`unit_scale` of the pilot's
    residual scale ``sigma`` for a model whose every site in the response's unit is one of
    :func:`sampled_unit_sites` (the collapsible family, gaussian(identity), with no
    sub-formula, censoring, truncation or known SEs, rows not merged); 1 (its own unit) for
    any other. Observation weights carry no unit."""
    a = bound.additions
    if (not fam.collapsible or bound.dpars or compressed or bound.y is None
            or a.cens is not None or a.truncated or a.se is not None):
        return 1.0
    return unit_scale(sigma)


def sampled_unit_sites(plan: ModelPlan) -> tuple[str, ...]:
    """:func:`response_unit_sites` and the centred group effects (``rc_<g>``), whose draws are
    in the response's unit too: they are sampled under a prior in the standardised unit
    (its location and SD are), so only their draws are scaled back."""
    return response_unit_sites(plan) + tuple(g.sites.rc for g in plan.groups
                                             if any(g.centered))


def in_unit(model_fn, plan: ModelPlan):
    """``model(data)``: ``model_fn`` run on the response and offset divided by
    ``data["unit"]``, the sites of :func:`response_unit_sites` sampled divided by it
    (:func:`standardize_sites`). The log density differs from ``model_fn``'s by the constant
    ``n log(unit)``; :func:`restore_units` with :func:`sampled_unit_sites` gives the draws
    in the response's unit."""
    sites = response_unit_sites(plan)

    def model(data):
        unit = data["unit"]
        with standardize_sites(sites, unit):
            model_fn({**data, "y": data["y"] / unit, "offset": data["offset"] / unit})

    return model


def scaled(fn, factor):
    """``fn``'s distribution of ``factor * x`` (``factor > 0``; the change of variables'
    Jacobian included), on the matching support.

    >>> import numpyro.distributions as dist
    >>> d = scaled(dist.HalfNormal(2.0), 0.5)
    >>> round(float(d.log_prob(0.5)), 6) == round(float(dist.HalfNormal(1.0).log_prob(0.5)), 6)
    True
    """
    return _scaled_class()(fn, factor)


_SCALED = []


def _scaled_class():
    """The distribution class behind :func:`scaled`, built once (numpyro imports lazily)."""
    if _SCALED:
        return _SCALED[0]
    import jax.numpy as jnp
    import numpyro.distributions as dist
    from numpyro.distributions import constraints
    from numpyro.distributions.transforms import AffineTransform

    class Scaled(dist.Distribution):
        """``factor * x`` for ``x ~ base``. Not a ``TransformedDistribution``: several priors
        are one already (the folded half-t), whose own ``log_prob`` must be kept."""

        arg_constraints = {}
        pytree_data_fields = ("base", "factor", "_support")

        def __init__(self, base, factor):
            self.base, self.factor = base, factor
            support = base.support
            if support is not constraints.real and support is not constraints.positive:
                support = AffineTransform(0.0, factor, domain=support).codomain
            self._support = support
            super().__init__(batch_shape=base.batch_shape, event_shape=base.event_shape)

        @constraints.dependent_property(is_discrete=False, event_dim=0)
        def support(self):
            return self._support

        def sample(self, key, sample_shape=()):
            return self.factor * self.base.sample(key, sample_shape)

        def log_prob(self, value):
            size = int(np.prod(self.event_shape, dtype=int))
            return self.base.log_prob(value / self.factor) - size * jnp.log(self.factor)

    _SCALED.append(Scaled)
    return Scaled


def is_scaled(fn) -> bool:
    """Whether ``fn`` came from :func:`scaled` (its ``base`` and ``factor`` are then set)."""
    return bool(_SCALED) and isinstance(fn, _SCALED[0])


def standardize_sites(sites, scale):
    """A NumPyro handler: inside it, each sample site named in ``sites`` is drawn as ``value /
    scale`` (its distribution carried over by :func:`scaled`). The model code then receives
    the standardised value, so it must compute on a response divided by ``scale`` too."""
    from numpyro.primitives import Messenger

    names = frozenset(sites)

    class _Standardize(Messenger):
        def process_message(self, msg):
            if msg["type"] == "sample" and msg["name"] in names and not msg["is_observed"]:
                msg["fn"] = scaled(msg["fn"], 1.0 / scale)

    return _Standardize()


def restore_units(samples: dict, sites, scale: float) -> dict:
    """Draws of a standardised run in the response's own unit: each site in ``sites``
    multiplied by ``scale``, the others as they are.

    >>> restore_units({"sigma": np.array([0.5]), "L": np.array([1.0])}, ("sigma",), 4.0)
    {'sigma': array([2.]), 'L': array([1.])}
    """
    scale = float(scale)
    return {k: (np.asarray(v) * np.asarray(scale, dtype=np.asarray(v).dtype)
                if k in sites else v) for k, v in samples.items()}


__all__ = ["full_model_unit", "in_unit", "is_scaled", "response_unit_sites", "restore_units",
           "sampled_unit_sites", "scaled", "standardize_sites", "unit_scale"]
