"""Fast approximations to the posterior: ``Model.fit(method="map")`` and ``method="vi"``.

- ``"map"``: the posterior mode (maximum a posteriori) by NumPyro SVI with an ``AutoDelta``
  guide, i.e. the maximum of the log posterior density of the parameters as the model writes
  them (no Jacobian). One "draw": the point estimate. For models with group terms the joint
  mode is degenerate (the density grows without bound as a group SD shrinks to zero with its
  effects), so the optimiser drifts toward small SDs; a :class:`HierarchicalMAPWarning` says so.
- ``"vi"``: variational inference, the ``Trace_ELBO`` fit of a multivariate normal on the
  unconstrained parameters (``AutoMultivariateNormal``, full covariance) for models with up to
  :data:`FULL_RANK_MAX` unconstrained dimensions, else mean-field (``AutoNormal``); then
  ``draws`` draws from it. Fast, with means usually close to NUTS and spreads that can be too
  narrow (mean-field especially).

**Scale.** Coefficients, centred group effects and positive parameters are optimised in units
of their prior scale (``b_c_std = b_c / 48.89`` for a ``normal(0, 48.89)`` prior; a
reparameterisation, the model is the same): formulang's default priors are scaled to the data,
so every unconstrained parameter is then of order one and one learning rate suits them all.
The optimisation starts at the prior centres (coefficients), zero (group effects) and the prior's
typical value (positive parameters). Adam's learning rate decays exponentially over the step
cap, and the run stops early when the mean loss of a block of steps changes by less than the
tolerance (in log-density units; for VI, plus the noise of the stochastic ELBO). Steps with a
non-finite loss are skipped (``SVI.stable_update``).

:func:`fit_approximation` returns ``(samples, stats, run)`` as NUTS does: ``samples`` has every
latent and deterministic site shaped (1 chain, draws, ...), as NUTS's, so the
:class:`~formulang.Fit` that ``Model.fit`` makes of it summarises, predicts and plots the same;
``stats`` is empty; ``run`` is an :class:`ApproximationRun` with the loss history. R-hat and
ESS mean little here (the draws are independent by construction; MAP has one).
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field

import numpy as np

from ..data.notices import FormulangWarning, tell
from ..errors import FormulangError
from ..lower.sites import standardized_site
from .jax_setup import configure, jit

FULL_RANK_MAX = 200  # unconstrained dimensions up to which VI uses a full covariance


class HierarchicalMAPWarning(FormulangWarning):
    """MAP of a model with group terms: the joint mode is degenerate in the group SDs."""


class ApproximationWarning(FormulangWarning):
    """The optimiser stopped at its step cap with the loss still changing."""


@dataclass(frozen=True)
class ApproximationSettings:
    """``steps``: the step cap; ``block``: steps between convergence checks; ``learning_rate``
    (in prior-scale units per step) decays by ``decay`` over the step cap; ``tol``: the change
    of the mean loss between blocks (log-density units) below which the run stops."""

    steps: int
    block: int
    learning_rate: float
    decay: float
    tol: float
    min_steps: int


SETTINGS = {
    "map": ApproximationSettings(steps=6000, block=250, learning_rate=0.02, decay=0.01,
                                 tol=1e-3, min_steps=1000),
    "vi": ApproximationSettings(steps=8000, block=500, learning_rate=0.01, decay=0.05,
                                tol=0.05, min_steps=3000),
}


@dataclass
class ApproximationRun:
    """What the optimiser did: ``loss`` per step (the negative log density for MAP, the
    negative ELBO for VI), whether it met the tolerance before the step cap."""

    method: str
    guide: str
    loss: np.ndarray
    steps: int
    converged: bool
    seconds: float
    seed: int
    params: dict = field(repr=False, default_factory=dict)


# ---- prior scales -------------------------------------------------------------------------------

def _location_scale(name: str, params: np.ndarray) -> np.ndarray:
    """Typical spread of a prior on the real line (per entry)."""
    from ..ir.prior import DISTRIBUTIONS

    return DISTRIBUTIONS[name].scale(np.asarray(params, dtype=float))


def _typical_value(name: str, params: np.ndarray) -> np.ndarray:
    """The centre of a prior (per entry): its location on the real line, else a typical
    value of the positive quantity."""
    from ..ir.prior import DISTRIBUTIONS

    return DISTRIBUTIONS[name].centre(np.asarray(params, dtype=float), np)


_location = _typical_value  # the prior's centre, whatever its support


def _vector_scales(site, params: dict, typical: bool = False) -> dict[str, np.ndarray]:
    """Per piece site name -> per-entry scale; plus the whole vector under ``site.name``."""
    fn = _typical_value if typical else _location_scale
    whole = np.ones(site.size)
    out = {}
    for name, (dist_name, idx, key) in zip(site.piece_names, site.pieces):
        s = np.broadcast_to(fn(dist_name, params[key]), (len(idx),))
        out[name] = s
        whole[list(idx)] = s
    out[site.name] = whole
    return out


def site_scales(plan) -> dict[str, np.ndarray]:
    """Latent site -> its scale, broadcastable to its shape: the prior scale of a coefficient,
    the typical value of a group SD or family parameter under its prior, and that typical SD
    for the columns of centred group effects. Standardised effects (``z_<g>``) and correlation
    factors (``L_<g>``) are left alone. Keys may name a whole vector that is sampled in pieces
    (harmless: such keys match no site)."""
    params = plan.prior_params
    scales: dict[str, np.ndarray] = {}
    if plan.intercept:
        prior = plan.priors.lookup("Intercept")
        scales[plan.sites.intercept] = np.asarray(_location_scale(prior.distribution,
                                                                  params["Intercept"][:, 0]))
    if plan.b is not None:
        scales.update(_vector_scales(plan.b, params))  # b_c (or its pieces)
    for g in plan.groups:
        sd = _vector_scales(g.sd, params, typical=True)
        scales.update(sd)  # sd_<g> (or its pieces sd_<g>_<i>)
        scales[g.sites.rc] = sd[g.sd.name][None, :]
    for aux in plan.aux:
        prior = plan.priors.lookup(aux)
        scales[aux] = np.asarray(_typical_value(prior.distribution, params[aux][:, 0]))
    return {k: np.clip(np.asarray(v, dtype=float), 1e-8, 1e8) for k, v in scales.items()}


# ---- standardised sites ------------------------------------------------------------------------

def _standardize_class():
    import jax.numpy as jnp
    import numpyro
    import numpyro.distributions as dist
    from numpyro.distributions import constraints
    from numpyro.distributions.util import sum_rightmost
    from numpyro.infer.reparam import Reparam

    class Scaled(dist.Distribution):
        """The distribution of ``x / scale`` for ``x ~ base`` (real or positive support)."""

        arg_constraints: dict = {}

        def __init__(self, base, scale):
            self.base = base
            self.scale = jnp.broadcast_to(jnp.asarray(scale, dtype=jnp.result_type(float)),
                                          base.shape())
            super().__init__(batch_shape=base.batch_shape, event_shape=base.event_shape)

        @property
        def support(self):
            return self.base.support

        def sample(self, key, sample_shape=()):
            return self.base.sample(key, sample_shape) / self.scale

        def log_prob(self, value):
            jacobian = sum_rightmost(jnp.log(self.scale), len(self.event_shape))
            return self.base.log_prob(value * self.scale) + jacobian

    class Standardize(Reparam):
        """Sample ``<name>_std = <name> / scale`` and record ``<name>`` as a deterministic
        site: the same model, with the parameter in units of ``scale``. Sites on other
        supports (a bounded interval) are left as they are."""

        def __init__(self, scale):
            self.scale = np.asarray(scale, dtype=float)

        def __call__(self, name, fn, obs):
            support = fn.support
            while isinstance(support, constraints.independent):
                support = support.base_constraint
            if obs is not None or support not in (constraints.real, constraints.positive):
                return fn, obs
            x = numpyro.sample(standardized_site(name), Scaled(fn, self.scale))
            return None, jnp.asarray(x) * self.scale

    return Standardize


def standardized(compiled):
    """The NumPyro model of ``compiled`` (a :class:`~formulang.compiled.CompiledModel`) with
    coefficients, centred group effects and positive parameters sampled in units of their
    scale (:func:`site_scales`), and initial values for the optimisation: coefficients at
    their prior centre, group effects and correlations at zero, positive parameters at their
    typical value (1 in these units)."""
    from numpyro import handlers

    plan = compiled.plan
    params = plan.prior_params
    scales = site_scales(plan)
    positive = _positive_sites(plan)
    init = {standardized_site(name): np.ones(np.shape(scale)) if name in positive
            else np.zeros(np.shape(scale)) for name, scale in scales.items()}
    ic = plan.sites.intercept
    if plan.intercept:
        prior = plan.priors.lookup("Intercept")
        init[standardized_site(ic)] = _location(prior.distribution, params["Intercept"][:, 0]) \
            / scales[ic]
    if plan.b is not None:
        for site, (dist_name, _, key) in zip(plan.b.piece_names, plan.b.pieces):
            init[standardized_site(site)] = _location(dist_name, params[key]) / scales[site]
    for g in plan.groups:  # effects at zero, correlations at zero
        s = g.sites
        n_c = int(sum(g.centered))
        rc = np.zeros((n_c, g.k))
        if g.intercept_loc is not None:  # rc = effect + intercept there: at the intercept
            rc[:, g.intercept_loc] = (init[standardized_site(ic)] * scales[ic]
                                      / scales[s.rc][0, g.intercept_loc])
        init[standardized_site(s.rc)] = rc
        init[s.z] = np.zeros((len(g.centered) - n_c, g.k))
        for name, block in s.lkj:
            init[name] = np.eye(len(block))
    Standardize = _standardize_class()
    config = {name: Standardize(scale) for name, scale in scales.items()}
    return handlers.reparam(compiled.numpyro_model, config=config), \
        {k: np.asarray(v, dtype=float) for k, v in init.items()}


def _positive_sites(plan) -> set[str]:
    names = set(plan.aux)
    for g in plan.groups:
        names.add(g.sd.name)
        names.update(g.sd.piece_names)
    return names


# ---- fitting ------------------------------------------------------------------------------------

def _latent_sizes(model_fn, data) -> dict[str, int]:
    """Unconstrained size of every latent site (abstract trace: nothing is compiled)."""
    import jax
    from numpyro import handlers
    from numpyro.distributions.transforms import biject_to
    from numpyro.infer.initialization import init_to_uniform

    sizes: dict[str, int] = {}

    def trace(data):
        seeded = handlers.substitute(handlers.seed(model_fn, 0), substitute_fn=init_to_uniform)
        for name, site in handlers.trace(seeded).get_trace(data).items():
            if site["type"] == "sample" and not site["is_observed"]:
                shape = biject_to(site["fn"].support).inverse_shape(site["fn"].shape())
                sizes[name] = int(np.prod(shape))

    jax.eval_shape(trace, data)
    return sizes


def _return_sites(model_fn, data) -> list[str]:
    """Latent sample sites and deterministic sites (everything but the response)."""
    import jax
    from numpyro import handlers

    names: list[str] = []

    def trace(data):
        tr = handlers.trace(handlers.seed(model_fn, 0)).get_trace(data)
        names.extend(k for k, s in tr.items() if (s["type"] == "sample" and not s["is_observed"])
                     or s["type"] == "deterministic")

    jax.eval_shape(trace, data)
    return names


def _init_state(svi, key, data):
    """``svi.init``, jitted: unjitted, NumPyro sets up the guide one operation at a time, and
    compiling each of those costs more than the whole fit. Falls back to the plain call if
    tracing it fails."""
    import jax

    try:
        return jit(svi.init)(key, data)
    except jax.errors.JAXTypeError:  # pragma: no cover - a guide that cannot be traced
        svi.guide.prototype_trace = None  # set up again, outside the trace
        return svi.init(key, data)


def _optimise(svi, data, settings: ApproximationSettings, seed: int, progress: bool,
              stochastic: bool):
    """Run blocks of SVI steps until the mean loss of a block changes by less than the
    tolerance (for a ``stochastic`` loss, plus twice the standard error of the change) or
    the step cap; returns (params, losses, converged). For a stochastic loss the parameters
    are the average over the last block (Polyak averaging, which removes most of the jitter
    of noisy steps); otherwise the last iterate."""
    import jax
    import jax.numpy as jnp
    from jax import lax

    state = _init_state(svi, jax.random.PRNGKey(seed), data)

    @jit
    def block(state, data):
        def step(carry, _):
            state, total = carry
            state, loss = svi.stable_update(state, data)
            total = jax.tree_util.tree_map(jnp.add, total, svi.optim.get_params(state.optim_state))
            return (state, total), loss

        zeros = jax.tree_util.tree_map(jnp.zeros_like, svi.optim.get_params(state.optim_state))
        (state, total), losses = lax.scan(step, (state, zeros), None, length=settings.block)
        mean = jax.tree_util.tree_map(lambda t: t / settings.block, total)
        return state, losses, mean

    losses, previous, converged = [], None, False
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=settings.steps, desc="SVI", leave=True)
    try:
        for _ in range(-(-settings.steps // settings.block)):
            state, chunk, mean_params = block(state, data)
            chunk = np.asarray(chunk, dtype=float)
            losses.append(chunk)
            finite = chunk[np.isfinite(chunk)]
            mean = float(np.mean(finite)) if len(finite) else np.nan
            if bar is not None:
                bar.update(settings.block)
                bar.set_postfix_str(f"loss {mean:.4g}", refresh=False)
            steps = len(losses) * settings.block
            if previous is not None and np.isfinite(mean) and steps >= settings.min_steps:
                noise = 2 * np.sqrt(2) * np.std(finite) / np.sqrt(len(finite)) \
                    if stochastic else 0.0
                if abs(previous - mean) < settings.tol + noise:
                    converged = True
                    break
            previous = mean
    finally:
        if bar is not None:
            bar.close()
    params = jit(svi.constrain_fn)(mean_params) if stochastic else \
        jit(svi.get_params)(state)
    return params, np.concatenate(losses), converged


def fit_approximation(compiled, data: dict, method: str, draws: int = 1000, seed: int = 0,
                      progress: bool | None = None):
    """Fit the model ``compiled`` (a :class:`~formulang.compiled.CompiledModel`) to ``data``
    (its arrays, :func:`~formulang.lower.plan.model_data`) by ``method`` (``"map"`` or
    ``"vi"``), as NUTS does: returns ``(samples, stats, run)``:
    ``samples`` shaped (1, draws, ...) (MAP: (1, 1, ...)), ``stats`` empty and ``run`` an
    :class:`ApproximationRun`."""
    if method not in SETTINGS:
        raise FormulangError(f"unknown approximation {method!r}; use 'map' or 'vi'")
    if method == "vi" and (isinstance(draws, bool) or not isinstance(draws, (int, np.integer))
                           or draws < 1):
        raise FormulangError(f"draws must be a positive whole number, not {draws!r}")
    configure()
    import jax
    import jax.numpy as jnp
    import numpyro.optim
    from numpyro.infer import SVI, Predictive, Trace_ELBO
    from numpyro.infer.autoguide import AutoDelta, AutoMultivariateNormal, AutoNormal
    from numpyro.infer.initialization import init_to_value

    plan = compiled.plan
    if method == "map" and plan.groups:
        tell(HierarchicalMAPWarning(
            "hierarchical MAP drives group SDs towards zero (the joint mode of a hierarchical "
            "model is degenerate); use it for a quick look, NUTS for inference"))
    if progress is None:
        progress = sys.stderr.isatty()
    settings = SETTINGS[method]
    model_fn, init = standardized(compiled)
    init_fn = init_to_value(values={k: jnp.asarray(v) for k, v in init.items()})
    if method == "map":
        guide, kind = AutoDelta(model_fn, init_loc_fn=init_fn), "AutoDelta"
    elif sum(_latent_sizes(model_fn, data).values()) <= FULL_RANK_MAX:
        guide = AutoMultivariateNormal(model_fn, init_loc_fn=init_fn)
        kind = "AutoMultivariateNormal"
    else:
        guide, kind = AutoNormal(model_fn, init_loc_fn=init_fn), "AutoNormal"
    lr, decay, steps = settings.learning_rate, settings.decay, settings.steps
    optimizer = numpyro.optim.Adam(lambda i: lr * decay ** (i / steps))
    svi = SVI(model_fn, guide, optimizer, Trace_ELBO())
    start = time.perf_counter()
    params, losses, converged = _optimise(svi, data, settings, seed, progress,
                                          stochastic=method == "vi")
    if not all(np.all(np.isfinite(np.asarray(v))) for v in jax.tree_util.tree_leaves(params)):
        raise FormulangError(f"the {method.upper()} optimisation diverged (non-finite "
                             f"parameters); try NUTS")
    if method == "map" and not converged and not plan.groups:  # hierarchical: warned above
        tell(ApproximationWarning(
            f"MAP stopped at the step cap ({steps} steps) with the log density still "
            f"changing; the estimate may be off the mode"))
    n = 1 if method == "map" else int(draws)
    predictive = Predictive(model_fn, guide=guide, params=params, num_samples=n,
                            return_sites=_return_sites(compiled.numpyro_model, data))
    out = jit(predictive)(jax.random.PRNGKey(seed + 1), data)
    samples = {k: np.asarray(v)[None] for k, v in out.items() if k != "y"}
    run = ApproximationRun(method, kind, losses, len(losses), converged,
                           time.perf_counter() - start, seed,
                           {k: np.asarray(v) for k, v in params.items()})
    return samples, {}, run


__all__ = ["ApproximationRun", "ApproximationWarning", "HierarchicalMAPWarning",
           "fit_approximation", "site_scales"]
