"""NUTS over a NumPyro model: chains in parallel across devices, compiled once per model.

NumPyro's ``MCMC.run`` wraps each run's chains in a new ``pmap`` over a closure holding the
data, so every run is traced and compiled again with the data baked in as constants (measured:
a refit of sleepstudy recompiled for 42 s on a loaded 2-core machine). :class:`NutsSampler`
instead builds one function ``(keys, data) -> draws`` per model and settings, with the data a
*traced argument* broadcast to the chains: a refit, or a new dataset of the same shapes, runs
the compiled program again, and the persistent compilation cache (``jax_setup``) serves a
fresh process. Chains start near the centres of the data-scaled priors (:mod:`.init`), not
at NumPyro's (-2, 2). Warm-up and sampling are one ``lax.fori_loop`` over NumPyro's own NUTS
kernel (its step-size and mass-matrix adaptation run inside ``kernel.sample`` during the
first ``tune`` iterations), so the kernel is traced once; the draws go into preallocated
buffers and are constrained to the model's support once, after sampling.
"""

from __future__ import annotations

import sys
import threading
import time
from dataclasses import dataclass, field

import numpy as np

from .init import init_near_prior_centre
from .jax_setup import configure, device_count

STAT_FIELDS = ("diverging", "energy", "num_steps", "accept_prob", "potential_energy")


@dataclass(frozen=True)
class SamplerSettings:
    draws: int = 1000
    tune: int = 1000
    chains: int = 4
    target_accept: float = 0.8
    max_tree_depth: int = 10


@dataclass
class SamplerRun:
    """Draws grouped by chain: ``samples[name]`` has shape (chains, draws, ...)."""

    samples: dict[str, np.ndarray]
    stats: dict[str, np.ndarray]
    settings: SamplerSettings
    seed: int
    seconds: float
    chain_method: str
    timings: dict = field(default_factory=dict)


def chain_method(chains: int) -> str:
    if chains == 1:
        return "sequential"
    return "parallel" if device_count() >= chains else "vectorized"


class _Progress:
    """One progress bar for all chains, fed by a host callback from inside the compiled loop.

    The callback is this module-level object's method, the same in every trace, so the compiled
    program does not depend on which bar is showing; ``run_nuts`` installs the bar."""

    def __init__(self):
        self.bar = None
        self.description = ""
        self.lock = threading.Lock()

    def tick(self, n) -> None:
        with self.lock:
            if self.bar is not None:
                if self.bar.n == 0:  # compiled and running: the bar's clock starts now
                    self.bar.set_description(self.description, refresh=False)
                    self.bar.reset(total=self.bar.total)
                self.bar.update(int(np.sum(n)))


_PROGRESS = _Progress()


class NutsSampler:
    """A compiled NUTS sampler for one model function and one :class:`SamplerSettings`."""

    def __init__(self, model_fn, settings: SamplerSettings, progress: bool):
        configure()
        from numpyro.infer import NUTS

        self.settings = settings
        self.progress = progress
        self.chain_method = chain_method(settings.chains)
        self.kernel = NUTS(model_fn, target_accept_prob=settings.target_accept,
                           max_tree_depth=settings.max_tree_depth,
                           init_strategy=init_near_prior_centre)
        self.iterations = settings.tune + settings.draws
        self.progress_every = max(1, self.iterations // 50)
        self._run = self._build()

    def _one_chain(self, rng_key, data):
        import jax
        import jax.numpy as jnp
        from jax import lax

        kernel, s = self.kernel, self.settings
        state = kernel.init(rng_key, s.tune, None, model_args=(data,), model_kwargs={})

        def draw(i, carry):
            state, z, stats = carry
            state = kernel.sample(state, (data,), {})
            if self.progress:
                every = self.progress_every
                # the count is derived from the chain's own state, so under vmap the callback
                # sees one value per chain (a constant would be passed once for all of them)
                count = jnp.where(jnp.isnan(state.potential_energy), every, every)
                lax.cond((i + 1) % every == 0,
                         lambda: jax.debug.callback(_PROGRESS.tick, count), lambda: None)
            # one loop over warm-up and sampling, so the kernel is traced once (tracing is most
            # of a warm-cache fit's latency); warm-up iterations all write slot 0, which the
            # first draw then overwrites
            slot = jnp.maximum(i - s.tune, 0)
            z = jax.tree.map(lambda buf, x: buf.at[slot].set(x), z, state.z)
            stats = {name: stats[name].at[slot].set(getattr(state, name)) for name in stats}
            return state, z, stats

        buffers = lambda x: jnp.zeros((s.draws,) + jnp.shape(x), jnp.result_type(x))  # noqa: E731
        z = jax.tree.map(buffers, state.z)
        stats = {name: buffers(getattr(state, name)) for name in STAT_FIELDS}
        _, z, stats = lax.fori_loop(0, self.iterations, draw, (state, z, stats))
        samples = jax.vmap(kernel.postprocess_fn((data,), {}))(z)
        return samples, stats

    def _build(self):
        import jax

        if self.chain_method == "parallel":
            return jax.pmap(self._one_chain, in_axes=(0, None))
        if self.chain_method == "vectorized":
            return jax.jit(jax.vmap(self._one_chain, in_axes=(0, None)))
        return jax.jit(jax.vmap(self._one_chain, in_axes=(0, None)))  # one chain: batch of 1

    def run(self, data: dict, seed: int) -> tuple[dict, dict]:
        import jax

        keys = jax.random.split(jax.random.PRNGKey(seed), self.settings.chains)
        if self.progress:
            from tqdm.auto import tqdm

            chains = self.settings.chains
            _PROGRESS.description = f"NUTS, {chains} chain{'s' * (chains > 1)}"
            _PROGRESS.bar = tqdm(total=chains * self.iterations, desc="compiling", unit="it",
                                 file=sys.stderr, leave=False)
        try:
            samples, stats = jax.block_until_ready(self._run(keys, data))
        finally:
            if _PROGRESS.bar is not None:
                _PROGRESS.bar.close()
                _PROGRESS.bar = None
        return samples, stats


def make_mcmc(model_fn, settings: SamplerSettings, progress: bool | None = None) -> NutsSampler:
    """The compiled sampler for ``model_fn(data)`` (compiled on its first run)."""
    if progress is None:
        progress = sys.stderr.isatty()
    return NutsSampler(model_fn, settings, progress)


def run_nuts(sampler: NutsSampler, data: dict, settings: SamplerSettings, seed: int) -> SamplerRun:
    start = time.perf_counter()
    samples, stats = sampler.run(data, seed)
    samples = {k: np.asarray(v) for k, v in samples.items()}
    stats = {k: np.asarray(v) for k, v in stats.items()}
    seconds = time.perf_counter() - start
    return SamplerRun(samples, stats, settings, seed, seconds, sampler.chain_method)
