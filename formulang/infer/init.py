"""Where NUTS chains start: near the centre of the data-scaled priors, dispersed.

NumPyro's default starts every parameter uniformly in (-2, 2) on the unconstrained scale. On
data far from unit scale (sleepstudy's reaction times are about 300 ms) that is an intercept
of about 0 and a residual SD of about 1: the first gradients are huge, step-size adaptation
collapses, and a chain can stay where it started for the whole run (seen on sleepstudy's
collapsed model: one chain in 24 never moved, R-hat 1.5). formulang's default priors are
scaled to the data, so their centre is a good place to start: each site starts at the median
of a few prior draws on the unconstrained scale plus a uniform jitter of up to ``radius``
robust SDs of those draws, different per chain, so the chains stay over-dispersed for R-hat.
"""

from __future__ import annotations

from functools import partial

ROBUST_SD = 1.349  # interquartile range of a standard normal


def init_near_prior_centre(site=None, radius: float = 1.0, num_samples: int = 15):
    """A NumPyro init strategy: ``NUTS(model, init_strategy=init_near_prior_centre)``.

    >>> from numpyro.infer import NUTS
    >>> kernel = NUTS(lambda: None, init_strategy=init_near_prior_centre)
    """
    if site is None:
        return partial(init_near_prior_centre, radius=radius, num_samples=num_samples)
    if site["type"] != "sample" or site["is_observed"] or site["fn"].support.is_discrete:
        return None
    if site["value"] is not None:
        return site["value"]
    import jax
    import jax.numpy as jnp
    from numpyro.distributions import biject_to
    from numpyro.infer.initialization import init_to_uniform

    rng_key = site["kwargs"].get("rng_key")
    sample_shape = site["kwargs"].get("sample_shape")
    draw_key, jitter_key = jax.random.split(rng_key)
    try:
        draws = site["fn"](sample_shape=(num_samples,) + sample_shape, rng_key=draw_key)
    except NotImplementedError:
        return init_to_uniform(site)
    transform = biject_to(site["fn"].support)
    unconstrained = transform.inv(draws)
    centre = jnp.median(unconstrained, axis=0)
    q25, q75 = jnp.quantile(unconstrained, jnp.array([0.25, 0.75]), axis=0)
    spread = (q75 - q25) / ROBUST_SD
    jitter = jax.random.uniform(jitter_key, jnp.shape(centre), minval=-radius, maxval=radius)
    return transform(centre + jitter * spread)
