"""A hurdle distribution in NumPyro: a zero with probability ``hu``, else a positive draw.

``Hurdle(base, hu)`` is brms's hurdle likelihood over any NumPyro distribution ``base``:
``P(Y = 0) = hu``; for ``y > 0`` the density is ``(1 - hu)`` times ``base`` restricted to
positive values, ``p(y) / (1 - P(Y = 0))`` for a discrete ``base`` (the zero-truncated
count) and ``p(y)`` for a continuous one (which puts no mass on 0). Zero-inflated families
need no class of their own: NumPyro's ``ZeroInflatedDistribution`` is brms's zero
inflation.

Sampling a zero-truncated count inverts the base's ``cdf`` by bisection, so a discrete base
needs NumPyro's ``cdf`` (Poisson and negative binomial have it).

>>> import jax.numpy as jnp, numpyro.distributions as dist
>>> d = Hurdle(dist.Poisson(2.0), 0.3)
>>> # P(0) = hu; P(1) = 0.7 * 2 e^-2 / (1 - e^-2)
>>> [round(float(v), 4) for v in jnp.exp(d.log_prob(jnp.array([0.0, 1.0])))]
[0.3, 0.2191]
>>> round(float(d.mean), 4)  # 0.7 * 2 / (1 - e^-2)
1.6191
"""

from __future__ import annotations

import functools

from . import cdfs


def _log1mexp(x):
    """``log(1 - exp(x))`` for ``x < 0``, accurately at both ends."""
    import jax.numpy as jnp

    x = jnp.minimum(x, -1e-30)
    return jnp.where(x > -0.6931, jnp.log(-jnp.expm1(x)), jnp.log1p(-jnp.exp(x)))


@functools.cache
def hurdle_class():
    """The NumPyro class (defined on first use: parsing and binding do not import NumPyro)."""
    import jax
    import jax.numpy as jnp
    import numpyro.distributions as dist
    from numpyro.distributions import constraints

    class HurdleDistribution(dist.Distribution):
        """``0`` with probability ``hu``, else ``base`` given ``Y > 0`` (module docstring)."""

        arg_constraints = {"hu": constraints.unit_interval}
        pytree_data_fields = ("base", "hu")

        def __init__(self, base, hu, validate_args=None):
            batch_shape = jax.lax.broadcast_shapes(jnp.shape(hu), base.batch_shape)
            self.base = base.expand(batch_shape)
            self.hu = jnp.broadcast_to(hu, batch_shape)
            super().__init__(batch_shape, validate_args=validate_args)

        @property
        def discrete(self) -> bool:
            return self.base.support.is_discrete

        @property
        def support(self):
            return constraints.nonnegative_integer if self.discrete else constraints.nonnegative

        def _log_positive_mass(self):
            """``log P(Y > 0)`` under ``base``: 0 for a continuous base."""
            if not self.discrete:
                return 0.0
            return _log1mexp(self.base.log_prob(jnp.zeros(self.batch_shape)))

        def log_prob(self, value):
            zero = value <= 0
            # a stand-in value in every base's support keeps the unused branch's gradient
            # finite (a log-normal's log-density at 0 is -inf, its gradient NaN)
            safe = jnp.where(zero, 1.0, value)
            positive = jnp.log1p(-self.hu) + self.base.log_prob(safe) - self._log_positive_mass()
            return jnp.where(zero, jnp.log(self.hu), positive)

        def sample(self, key, sample_shape=()):
            key_zero, key_base = jax.random.split(key)
            shape = tuple(sample_shape) + tuple(self.batch_shape)
            zero = jax.random.bernoulli(key_zero, self.hu, shape)
            if self.discrete:  # F^-1(u), u uniform on (P(Y = 0), 1): a zero-truncated draw
                p0 = jnp.exp(self.base.log_prob(jnp.zeros(self.batch_shape)))
                u = jax.random.uniform(key_base, shape)
                u = jnp.clip(p0 + u * (1.0 - p0), 0.0, 1.0 - 1e-7)
                y = cdfs.discrete_icdf(lambda d, k: (jnp.log(d.cdf(k)), None), self.base, u,
                                       0.0, cdfs.DISCRETE_CAP)
                y = jnp.maximum(y, 1.0)
            else:
                y = self.base.sample(key_base, sample_shape)
            return jnp.where(zero, jnp.zeros_like(y), y)

        @property
        def mean(self):
            return (1.0 - self.hu) * self.base.mean / jnp.exp(self._log_positive_mass())

    return HurdleDistribution


def Hurdle(base, hu):
    """The hurdle distribution over NumPyro distribution ``base`` with zero probability
    ``hu`` (see the module docstring)."""
    return hurdle_class()(base, hu)


__all__ = ["Hurdle", "hurdle_class"]
