"""Where NUTS chains start: at the centre of each site's prior, jittered per chain.

NumPyro's default starts every parameter uniformly in (-2, 2) on the unconstrained scale. On
data far from unit scale (sleepstudy's reaction times are about 300 ms) that is an intercept
near 0 and a residual SD near 1: the first gradients are enormous, step-size adaptation
collapses, and a chain can stay where it started for a whole run (sleepstudy's default fit,
seed 5: one chain never moved, R-hat 1.53; 2 of 40 seeds did this). formulang's default
priors are scaled to the data, so their centres are good places to start.

The centre and spread are read from the prior's parameters, not from draws: sampling the
priors inside the compiled program (NumPyro's ``init_to_median``) traces every prior sampler,
the LKJ's included, and added 9 s to a cold compile. Each chain starts at

    unconstrained = T^-1(centre) + spread * U(-radius, radius)

with ``T`` the site's bijection to its support; ``spread`` is the prior's scale on the real
line (the location family's ``scale``; a multivariate normal's marginal SDs) and 1 on other
supports (a factor of e for a positive quantity, on the log scale). Centres: the location of
a real-valued prior, a typical value of a positive one (a half-t's or half-normal's scale, an
exponential's mean...), the mean of a beta, the middle of a uniform, the identity for an
LKJ Cholesky factor. A site whose prior this does not know starts as NumPyro's would.
Different chains get different jitter, so they start over-dispersed and R-hat can see a chain
that fails to leave its start.
"""

from __future__ import annotations

from functools import partial

from ..lower.units import is_scaled

RADIUS = 1.0


def _unwrap(fn):
    """The distribution under ``to_event``/``expand``/mask wrappers (they keep its params)."""
    import numpyro.distributions as dist

    wrappers = (dist.Independent, dist.ExpandedDistribution, dist.MaskedDistribution)
    while isinstance(fn, wrappers):
        fn = fn.base_dist
    return fn


def prior_centre(fn):
    """``(centre, spread)`` of a prior on its own support (``spread`` on the unconstrained
    scale: the location family's scale on the real line, else 1), or None when unknown.

    >>> import numpyro.distributions as dist
    >>> [float(v) for v in prior_centre(dist.StudentT(3.0, 298.5, 141.2))]
    [298.5, 141.2]
    >>> [float(v) for v in prior_centre(dist.Exponential(0.5))]  # a positive prior: its mean
    [2.0, 1.0]
    """
    import jax.numpy as jnp
    import numpyro.distributions as dist

    from ..ir.prior import DISTRIBUTIONS

    d = _unwrap(fn)
    if is_scaled(d):  # a prior in a standardised unit
        return _scaled_centre(d)
    # the group effects' own distributions, which are not priors a user writes
    if isinstance(d, dist.MultivariateNormal):
        return d.loc, jnp.sqrt(jnp.sum(d.scale_tril ** 2, axis=-1))
    if isinstance(d, dist.LKJCholesky):
        return jnp.eye(d.dimension), 1.0
    for spec in DISTRIBUTIONS.values():
        p = spec.read(d)
        if p is not None:
            return spec.centre(p, jnp), spec.scale(p) if spec.support == "real" else 1.0
    return None


def _scaled_centre(d):
    """``prior_centre`` of ``factor * x`` from that of ``x`` (:func:`formulang.lower.units.
    scaled`): the centre moves with the values, a spread on the real line with them, the
    spread of a log (positive support) does not change."""
    import jax.numpy as jnp
    from numpyro.distributions import constraints

    known = prior_centre(d.base)
    if known is None:
        return None
    centre, spread = known
    if d.base.support is constraints.real:
        spread = jnp.abs(d.factor) * spread
    return d.factor * centre, spread


def init_near_prior_centre(site=None, radius: float = RADIUS):
    """A NumPyro init strategy: each sampled site starts at its prior's centre, jittered on
    the unconstrained scale by up to ``radius`` prior spreads (see the module docstring).

    >>> from numpyro.infer import NUTS
    >>> kernel = NUTS(lambda: None, init_strategy=init_near_prior_centre)
    """
    if site is None:
        return partial(init_near_prior_centre, radius=radius)
    if site["type"] != "sample" or site["is_observed"] or site["fn"].support.is_discrete:
        return None
    if site["value"] is not None:
        return site["value"]
    import jax
    import jax.numpy as jnp
    from numpyro.distributions import biject_to
    from numpyro.infer.initialization import init_to_uniform

    fn = site["fn"]
    known = prior_centre(fn)
    if known is None:
        return init_to_uniform(site)
    centre, spread = known
    shape = tuple(site["kwargs"].get("sample_shape") or ()) + tuple(fn.shape())
    transform = biject_to(fn.support)
    middle = transform.inv(jnp.broadcast_to(jnp.asarray(centre, dtype=float), shape))
    # one uniform draw serves both: the jitter, and NumPyro's own (-2, 2) start where the
    # centre is not finite (a degenerate user prior)
    u = jax.random.uniform(site["kwargs"]["rng_key"], jnp.shape(middle), minval=-1.0, maxval=1.0)
    start = middle + jnp.asarray(spread, dtype=float) * radius * u
    return transform(jnp.where(jnp.isfinite(start), start, 2.0 * u))


__all__ = ["init_near_prior_centre", "prior_centre"]
