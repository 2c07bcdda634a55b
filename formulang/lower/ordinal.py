"""The cumulative (ordinal) family: ordered thresholds, their prior and start, the likelihood.

brms's parameterisation: a response in categories ``1..K`` (the model's ``y`` is the code
``0..K-1``) with ``P(y <= k) = F(disc * (theta_k - eta))``, ``F`` the inverse link (logistic
or normal CDF), thresholds ``theta_1 < ... < theta_{K-1}`` (brms's ``Intercept[k]``) and
``disc`` fixed at 1 unless a sub-formula predicts it (``disc ~ x``: ``disc = exp(eta_disc)``
per row, brms's ``b_disc_x``). The linear predictor has no intercept: the thresholds are it. They are
sampled on centred predictors (site :attr:`~formulang.lower.sites.PopulationSites.thresholds`,
as brms's temporary ``Intercept``) and reported for the predictors as given
(``b_Intercept = thres_c + x_means . b``).

Each threshold has its own prior (default ``student_t(3, 0, 2.5)``, brms's; prior key
``Intercept`` or ``Intercept[k]``); the vector is one site whose support is the ordered
vectors (:func:`ordered_prior`; NUTS moves on the first threshold and the logs of the gaps).
Chains start near the link of the empirical cumulative proportions.

>>> import numpy as np
>>> from formulang.lower.links import LINKS
>>> p = probabilities(LINKS["logit"], np.zeros((1, 1)), {THRESHOLDS: np.array([[0.0]])})
>>> p.round(3).tolist()  # two categories, eta at the threshold: one half each
[[[0.5, 0.5]]]
>>> expected_category(LINKS["logit"], np.zeros((1, 1)), {THRESHOLDS: np.array([[0.0]])}).tolist()
[[1.5]]
"""

from __future__ import annotations

import numpy as np

from ..ir.prior import DISTRIBUTIONS
from .sites import POPULATION

THRESHOLDS = POPULATION.threshold_values  # the aux key the likelihood reads them under
DISC = "disc"
_FLOOR = 1e-12  # probit category probabilities are kept off 0 (a CDF difference underflows)


def threshold_coefs(k: int) -> tuple[str, ...]:
    """brms's prior coefs of the ``k - 1`` thresholds of ``k`` categories: ``"1"``, ...

    >>> threshold_coefs(4)
    ('1', '2', '3')
    """
    return tuple(str(j) for j in range(1, k))


def n_categories(bound) -> int:
    """K, from the response's categories (:mod:`formulang.data.response_levels`)."""
    return bound.spec.response_levels.k


# ---- the thresholds' distribution -----------------------------------------------------------------

_CLASS = None


def ordered_prior(pieces, size: int, start=None):
    """The thresholds' prior: independent priors (``pieces``: ``(distribution, indices)``,
    each distribution batched over its indices) restricted to ordered vectors; support
    :data:`numpyro.distributions.constraints.ordered_vector`. ``log_prob`` is the sum of the
    pieces' (its normalising constant is left out: it does not depend on the thresholds).
    Draws sort independent draws: exact when every threshold has the same prior (the
    default), an approximation otherwise. ``start``: where NUTS starts
    (:func:`formulang.infer.init.prior_centre` reads it)."""
    global _CLASS
    if _CLASS is None:
        _CLASS = _make_class()
    return _CLASS(tuple(pieces), size, start)


def _make_class():
    import jax
    import jax.numpy as jnp
    import numpyro.distributions as dist
    from numpyro.distributions import constraints

    class OrderedPrior(dist.Distribution):
        support = constraints.ordered_vector

        def __init__(self, pieces, size, start=None):
            self.pieces = pieces
            self.start = start
            super().__init__(batch_shape=(), event_shape=(size,))

        def sample(self, key, sample_shape=()):
            out = jnp.zeros(tuple(sample_shape) + self.event_shape)
            for k, (d, idx) in zip(jax.random.split(key, len(self.pieces)), self.pieces):
                out = out.at[..., np.asarray(idx)].set(d.sample(k, sample_shape))
            return jnp.sort(out, axis=-1)

        def log_prob(self, value):
            return sum(jnp.sum(d.log_prob(value[..., np.asarray(idx)]), axis=-1)
                       for d, idx in self.pieces)

    return OrderedPrior


def sample_thresholds(plan, params: dict):
    """Sample the plan's thresholds (its :attr:`~formulang.lower.plan.ModelPlan.thresholds`
    site): ``{THRESHOLDS: vector}`` for the likelihood, ``{}`` for other families."""
    import numpyro

    site = plan.thresholds
    if site is None:
        return {}
    pieces = [(numpyro_distribution(name, params[key]), idx) for name, idx, key in site.pieces]
    start = params.get(POPULATION.threshold_start)
    return {THRESHOLDS: numpyro.sample(site.name, ordered_prior(pieces, site.size, start))}


def prior_draws(plan, params: dict, key, draws: int) -> dict:
    """``draws`` prior draws of the thresholds site (``{}`` without thresholds)."""
    site = plan.thresholds
    if site is None:
        return {}
    pieces = [(numpyro_distribution(name, np.asarray(params[k])), idx)
              for name, idx, k in site.pieces]
    return {site.name: np.asarray(ordered_prior(pieces, site.size).sample(key, (draws,)),
                                  dtype=float)}


def check_thresholds(plan, values: dict) -> None:
    """Refuse given thresholds (draws, K-1) that are not strictly increasing."""
    from ..errors import FormulangError

    name = POPULATION.threshold_values
    if plan.thresholds is None or name not in values:
        return
    theta = np.asarray(values[name], dtype=float)
    if not (np.diff(theta, axis=-1) > 0).all():
        raise FormulangError(f"{name}: the thresholds Intercept[1] < Intercept[2] < ... must "
                             f"be strictly increasing, got {theta[0].tolist()}")


def start(y: np.ndarray, k: int, link) -> np.ndarray:
    """Where the thresholds start: the link of the cumulative proportions of the categories
    (half a row added to each, so no proportion is 0 or 1), strictly increasing.

    >>> from formulang.lower.links import LINKS
    >>> start(np.array([0, 0, 1, 2]), 3, LINKS["logit"]).round(3).tolist()
    [-0.182, 0.981]
    """
    counts = np.bincount(np.asarray(y, dtype=int), minlength=k)[:k] + 0.5
    cum = np.cumsum(counts)[:-1] / counts.sum()
    return np.asarray(link.forward(cum), dtype=float)


# ---- the likelihood -------------------------------------------------------------------------------

def numpyro_distribution(name: str, params):
    """A prior row's NumPyro distribution (as :func:`formulang.lower.priors.numpyro_distribution`,
    which this module cannot import: the family table imports it)."""
    return DISTRIBUTIONS[name].numpyro(params)


def _cdf_jax(link):
    return link.inverse_jax


def category_probs(cdf, eta, theta, disc=1.0, xp=np):
    """``P(y = k)`` for ``k = 0..K-1``, last axis: differences of ``cdf(disc (theta_k - eta))``
    (``xp``: NumPy or ``jax.numpy``)."""
    c = cdf(disc * (theta - eta[..., None]))
    zeros = xp.zeros(c.shape[:-1] + (1,), dtype=c.dtype)
    ones = xp.ones(c.shape[:-1] + (1,), dtype=c.dtype)
    return xp.diff(xp.concatenate([zeros, c, ones], axis=-1), axis=-1)


def logistic_log_probs(cuts):
    """``log P(y = k)``, ``k = 0..K-1`` (last axis), of the logit link from ``cuts = disc
    (theta - eta)`` (..., K-1), in log space as brms's ``log_diff_exp`` of ``log_inv_logit``:
    ``log(F(a) - F(b)) = log F(a) - softplus(b) + log(-expm1(b - a))`` stays finite where
    the difference of the CDFs underflows (a large ``disc``, a row far in a tail), which
    NumPyro's ``OrderedLogistic`` (a difference of sigmoids) does not.

    >>> import numpy as np
    >>> logistic_log_probs(np.array([[-40.0, 40.0]])).round(2).tolist()  # no log(0)
    [[-40.0, -0.0, -40.0]]
    """
    import jax
    import jax.numpy as jnp

    a, b = cuts[..., 1:], cuts[..., :-1]  # each middle category's upper and lower cut
    middle = jax.nn.log_sigmoid(a) - jax.nn.softplus(b) + jnp.log(-jnp.expm1(b - a))
    return jnp.concatenate([jax.nn.log_sigmoid(cuts[..., :1]), middle,
                            jax.nn.log_sigmoid(-cuts[..., -1:])], axis=-1)


def likelihood(d, link, eta, p, n):
    """The family row's likelihood: a categorical over :func:`logistic_log_probs` for the
    logit link, else over :func:`category_probs` from the link's CDF; a ``disc`` per row
    (``disc ~ x``) scales that row's thresholds and ``eta``."""
    import jax.numpy as jnp

    theta, disc = p[THRESHOLDS], jnp.expand_dims(jnp.asarray(p.get(DISC, 1.0)), -1)
    if link.name == "logit":
        return d.Categorical(logits=logistic_log_probs(disc * (theta - eta[..., None])))
    probs = category_probs(_cdf_jax(link), eta, theta, disc, jnp)
    return d.Categorical(probs=jnp.clip(probs, _FLOOR, 1.0))


def source(link) -> list[str]:
    """The likelihood as source lines (:class:`~formulang.lower.families.FamilySpec`);
    ``disc`` is 1 or, predicted (``disc ~ x``), a value per row."""
    theta = POPULATION.thresholds
    cuts = f"jnp.expand_dims(disc, -1) * ({theta} - eta[:, None])"
    if link.name == "logit":
        return [f"dist.Categorical(logits=logistic_log_probs({cuts}))"]
    cdf = link.code(cuts)
    return [f"cum = {cdf}",
            "probs = jnp.diff(jnp.concatenate([jnp.zeros_like(cum[:, :1]), cum, "
            "jnp.ones_like(cum[:, :1])], axis=-1), axis=-1)",
            f"dist.Categorical(probs=jnp.clip(probs, {_FLOOR!r}, 1.0))"]


def threshold_source(plan, distribution) -> list[str]:
    """Source lines sampling an ordinal plan's thresholds (none for other families), for
    :mod:`formulang.lower.codegen`; ``distribution(name, params, size)`` writes a prior as a
    NumPyro literal (passed in: codegen imports this module)."""
    site = plan.thresholds
    if site is None:
        return []
    pop = POPULATION
    pieces = ", ".join(f"({distribution(name, plan.prior_params[key], len(idx))}, "
                       f"{list(int(i) for i in idx)})" for name, idx, key in site.pieces)
    shift = f" + x_means @ {pop.slopes}" if plan.b is not None else ""
    lines = [f"# Thresholds {', '.join(f'Intercept[{j}]' for j in range(1, site.size + 1))}:"
             f" ordered, on centred predictors ({pop.thresholds}), as brms"]
    lines += [f"#   Intercept[{j + 1}] ~ {plan.priors.lookup('Intercept', coef=str(j + 1))}"
              for j in range(site.size)]
    lines += [f'{pop.thresholds} = numpyro.sample("{pop.thresholds}", '
              f"ordered_prior([{pieces}], {site.size}))",
              f'numpyro.deterministic("{pop.threshold_values}", {pop.thresholds}{shift})', ""]
    return lines


def probabilities(link, eta: np.ndarray, aux: dict, trials=None) -> np.ndarray:
    """Category probabilities per draw and row, ``(draws, rows, K)`` in NumPy float64
    (brms's ``posterior_epred`` of an ordinal model); ``aux[THRESHOLDS]`` is (draws, K-1)."""
    theta = np.asarray(aux[THRESHOLDS], dtype=float)[:, None, :]
    disc = np.asarray(aux.get(DISC, 1.0), dtype=float)  # 1, per draw, or per draw and row
    disc = disc.reshape(disc.shape + (1,) * (3 - disc.ndim)) if disc.ndim else disc
    c = link.inverse(disc * (theta - np.asarray(eta, dtype=float)[..., None]))
    edges = np.concatenate([np.zeros(c.shape[:-1] + (1,)), c, np.ones(c.shape[:-1] + (1,))],
                           axis=-1)
    return np.clip(np.diff(edges, axis=-1), 0.0, 1.0)


def expected_category(link, eta: np.ndarray, aux: dict, trials=None) -> np.ndarray:
    """The expected category index ``sum_k k P(y = k)``, ``k = 1..K`` (draws, rows): what
    ``kind="mean"`` returns (brms's ``posterior_epred`` gives the probabilities instead)."""
    p = probabilities(link, eta, aux)
    return p @ np.arange(1, p.shape[-1] + 1, dtype=float)


def working_response(y: np.ndarray, trials):
    """The pilot's working response (a Gaussian fit on the identity scale, which chooses the
    centring of group terms and NUTS's starting mass): each category's latent score, the
    logit of the middle of its cumulative proportion, centred (the design has no intercept:
    the pilot centres its columns too)."""
    codes = np.asarray(y, dtype=int)
    counts = np.bincount(codes).astype(float)
    upper = np.cumsum(counts) / counts.sum()
    middle = np.clip(upper - counts / (2 * counts.sum()), 1e-3, 1 - 1e-3)
    scores = np.log(middle) - np.log1p(-middle)
    z = scores[codes]
    return z - z.mean(), None


__all__ = ["DISC", "THRESHOLDS", "category_probs", "check_thresholds", "expected_category",
           "likelihood", "logistic_log_probs",
           "n_categories", "ordered_prior", "prior_draws", "probabilities", "sample_thresholds",
           "source", "start", "threshold_coefs", "threshold_source", "working_response"]
