"""NUTS over a NumPyro model: chains in parallel across devices, compiled once per model.

NumPyro's ``MCMC.run`` wraps each run's chains in a new ``pmap`` over a closure holding the
data, so every run is traced and compiled again with the data baked in as constants (measured:
a refit of sleepstudy recompiled for 42 s on a loaded 2-core machine). :class:`NutsSampler`
instead builds one function ``(keys, data) -> draws`` per model and settings, with the data a
*traced argument* broadcast to the chains: a refit, or a new dataset of the same shapes, runs
the compiled program again, and the persistent compilation cache (``jax_setup``) serves a
fresh process. Chains start near the centres of the data-scaled priors (:mod:`.init`), not
at NumPyro's (-2, 2), and warm-up's mass matrix starts from the pilot fit's posterior
variances (:mod:`.mass_matrix`, an argument like the data), not the identity; it is
diagonal, except one dense block where the plan asks for it (crossed intercepts:
:func:`~formulang.lower.plan.dense_mass`), started from its sites' variances. Warm-up and
sampling are one ``lax.fori_loop`` over NumPyro's own NUTS kernel (its step-size and
mass-matrix adaptation run inside ``kernel.sample`` during the first ``tune`` iterations), so
the kernel is traced once; the draws go into preallocated buffers and are constrained to the
model's support once, after sampling.
"""

from __future__ import annotations

import sys
import threading
import time
from dataclasses import dataclass, field

import numpy as np

from ..lower.numpyro_model import with_transposed_design
from .init import init_near_prior_centre
from .jax_setup import configure, device_count, jit, sampling_threads
from .sharding import fetch

STAT_FIELDS = ("diverging", "energy", "num_steps", "accept_prob", "potential_energy")


@dataclass(frozen=True)
class SamplerSettings:
    draws: int = 1000
    tune: int = 1000
    chains: int = 4
    target_accept: float = 0.8
    max_tree_depth: int = 10
    shards: int = 1  # devices each chain's rows are split over (:mod:`.sharding`)


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
    warmup_gradients: np.ndarray | None = None  # per chain: leapfrog steps during warm-up


def chain_method(chains: int) -> str:
    """How ``chains`` chains run: ``"sequential"`` (one chain), ``"parallel"`` (spread over
    the devices, each with its own loop: one chain a device, or on CPU several a device, one
    after another) or ``"vectorized"`` (in lockstep on one accelerator, whose lanes run
    them at once)."""
    import jax

    if chains == 1:
        return "sequential"
    if device_count() >= chains or jax.default_backend() == "cpu":
        return "parallel"
    return "vectorized"


def chain_devices(chains: int, devices: int) -> int:
    """The devices ``chains`` chains spread over: the most that take as many chains each.

    >>> chain_devices(4, 4), chain_devices(8, 4), chain_devices(6, 4), chain_devices(5, 4)
    (4, 4, 3, 1)
    """
    return max(d for d in range(1, min(chains, devices) + 1) if chains % d == 0)


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

    def __init__(self, model_fn, settings: SamplerSettings, progress: bool,
                 dense: tuple[str, ...] = ()):
        configure()
        self.settings = settings
        self.dense = tuple(dense)  # sites of one dense mass-matrix block (plan.dense_mass)
        self.progress = progress
        self.chain_method = chain_method(settings.chains)
        self.layout = self.mesh = None
        if settings.shards > 1:  # rows split over devices (sharding.py)
            from .sharding import choose_layout, device_total, make_mesh

            self.layout = choose_layout(settings.chains, settings.shards, device_total())
            self.mesh = make_mesh(self.layout)
            # vectorised (in lockstep), the batch split over chain groups where there are
            self.chain_method = "sequential" if settings.chains == 1 else "vectorized"
        self.model_fn = model_fn
        self.iterations = settings.tune + settings.draws
        self.progress_every = max(1, self.iterations // 50)
        self._run = self._build()

    def _kernel(self, inverse_mass):
        from numpyro.infer import NUTS

        s = self.settings
        return NUTS(self.model_fn, target_accept_prob=s.target_accept,
                    max_tree_depth=s.max_tree_depth, init_strategy=init_near_prior_centre,
                    inverse_mass_matrix=inverse_mass,
                    dense_mass=[self.dense] if self.dense else False,
                    # a dense block's adaptation is formulang's (dense_adaptation.py)
                    adapt_mass_matrix=not self.dense)

    def one_chain(self, rng_key, data, inverse_mass):
        """One chain's warm-up and draws from ``rng_key``, unjitted: callers vectorise it over
        chains (here), devices or k-fold folds (:mod:`formulang.infer.kfold_parallel`)."""
        import jax
        import jax.numpy as jnp
        from jax import lax

        s = self.settings
        block = None
        if inverse_mass:  # one diagonal block over the sites given (sorted, as NumPyro
            # orders them); any others form a second block that starts at 1. The dense block
            # (self.dense) starts as the diagonal of its sites' variances, in its own order
            # (the identity where one is missing: NumPyro's start for a dense block).
            rest = tuple(sorted(set(inverse_mass) - set(self.dense)))
            dense = self.dense if set(self.dense) <= set(inverse_mass) else ()
            block = {sites: jnp.concatenate([jnp.ravel(inverse_mass[k]) for k in sites])
                     for sites in (dense, rest) if sites}
        # built here, in the trace, so that NumPyro's first step-size search already uses it
        kernel = self._kernel(block)
        data = with_transposed_design(data)  # once, outside the loop: see its docstring
        state = kernel.init(rng_key, s.tune, None, model_args=(data,), model_kwargs={})
        if self.dense:
            from .dense_adaptation import adapter

            init_moments, before, after = adapter(s.tune)
        else:  # NumPyro adapts the (diagonal) matrix itself
            init_moments, before, after = (lambda st: (), lambda i, st, m: (st, m),
                                           lambda i, st, m: m)

        def draw(i, carry):
            state, z, stats, warmup, moments = carry
            state, moments = before(i, state, moments)
            state = kernel.sample(state, (data,), {})
            moments = after(i, state, moments)
            warmup = warmup + jnp.where(i < s.tune, state.num_steps, 0).astype(jnp.int32)
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
            return state, z, stats, warmup, moments

        buffers = lambda x: jnp.zeros((s.draws,) + jnp.shape(x), jnp.result_type(x))  # noqa: E731
        z = jax.tree.map(buffers, state.z)
        stats = {name: buffers(getattr(state, name)) for name in STAT_FIELDS}
        warmup = jnp.zeros((), jnp.int32)
        _, z, stats, warmup, _ = lax.fori_loop(0, self.iterations, draw,
                                               (state, z, stats, warmup, init_moments(state)))
        samples = jax.vmap(kernel.postprocess_fn((data,), {}))(z)
        return samples, stats, warmup

    def _build(self):
        import jax

        if self.layout is not None:
            from .sharding import sharded_runner

            return sharded_runner(self.one_chain, self.mesh)
        if self.chain_method == "parallel":
            return one_chain_per_device(self.one_chain, self.settings.chains)
        if self.chain_method == "sequential":  # one chain: no vmap, whose batching of
            # NumPyro's nested while loops took 7 s to trace and 2 s more to compile
            return jit(as_batch_of_one(self.one_chain))
        return jit(jax.vmap(self.one_chain, in_axes=(0, None, None)))

    def run(self, data: dict, seed: int, inverse_mass: dict | None = None):
        """Draws, sampler statistics and the warm-up's leapfrog steps per chain.
        ``inverse_mass`` ({site: variances}, :mod:`.mass_matrix`) is where warm-up's mass
        matrix starts (default: the identity)."""
        import jax

        keys = jax.random.split(jax.random.PRNGKey(seed), self.settings.chains)
        inverse_mass = inverse_mass or {}
        if self.layout is not None:  # padded to whole shards, placed on the mesh
            from .sharding import CHAIN_AXIS, pad_rows, place, put

            data = place(pad_rows(data, self.layout.shards), self.mesh)
            keys = put(keys, self.mesh, CHAIN_AXIS)
            inverse_mass = put(inverse_mass, self.mesh)
        if self.progress:
            from tqdm.auto import tqdm

            chains = self.settings.chains
            _PROGRESS.description = f"NUTS, {chains} chain{'s' * (chains > 1)}"
            _PROGRESS.bar = tqdm(total=chains * self.iterations, desc="compiling", unit="it",
                                 file=sys.stderr, leave=False)
        try:
            with sampling_threads():
                out = jax.block_until_ready(self._run(keys, data, inverse_mass))
        finally:
            if _PROGRESS.bar is not None:
                _PROGRESS.bar.close()
                _PROGRESS.bar = None
        return out


def as_batch_of_one(fn, batched: tuple[int, ...] = (0,)):
    """``fn`` on the first entry along the leading axis of each argument at the positions
    ``batched`` (by default the chains' keys), with a leading axis of 1 on every output: one
    chain, or one fold, per device under ``shard_map``, traced as it is, not under ``vmap``.

    >>> import jax.numpy as jnp
    >>> as_batch_of_one(lambda k, d: {"x": k + d})(jnp.arange(1.0, 2.0), 10.0)["x"].tolist()
    [11.0]
    """
    import jax

    def first(*args):
        args = [jax.tree.map(lambda x: x[0], a) if i in batched else a
                for i, a in enumerate(args)]
        return jax.tree.map(lambda x: x[None], fn(*args))

    return first


def one_chain_per_device(one_chain, chains: int):
    """``(keys, data, inverse_mass) -> draws``: chain ``c`` runs ``one_chain(keys[c], data,
    inverse_mass)`` on device ``c``, each with its own loop (no lockstep), as ``jax.pmap``
    would. With more chains than devices (CPU: :func:`chain_method`), each of
    :func:`chain_devices` devices runs its share one after another (``lax.map``): ``vmap``
    over the chains took 4.5 s to trace and ran them all on one device, one core (8 chains of
    sleepstudy on 4 host devices: 14.4 s for a first fit).

    Not ``jax.pmap`` itself: in JAX 0.10 it caches, for the life of the process, every function
    it is given (its ``_cached_shard_map`` keeps the function its weak key names), and with it
    the sampler's compiled program. Each fitted model then kept ~1,000 memory mappings of XLA
    code after it was gone; a long session (the test suite, a notebook fitting a few dozen
    models) reached the kernel's limit of 65,530 mappings and XLA crashed while compiling.
    ``jit`` of ``shard_map`` is what ``pmap`` runs, held only by this sampler."""
    import jax
    from jax.sharding import Mesh, PartitionSpec

    width = chain_devices(chains, device_count())
    mesh = Mesh(np.array(jax.local_devices()[:width]), ("chain",))

    def device_chains(keys, data, inverse_mass):  # this device's chains, one after another
        return jax.lax.map(lambda key: one_chain(key, data, inverse_mass), keys)

    each = as_batch_of_one(one_chain) if width == chains else device_chains
    chain, whole = PartitionSpec("chain"), PartitionSpec()
    return jit(jax.shard_map(each, mesh=mesh, in_specs=(chain, whole, whole),
                             out_specs=chain, check_vma=False))


def make_mcmc(model_fn, settings: SamplerSettings, progress: bool | None = None,
              dense: tuple[str, ...] = ()) -> NutsSampler:
    """The compiled sampler for ``model_fn(data)`` (compiled on its first run). ``dense``:
    sites whose mass matrix is one dense block (:attr:`ModelPlan.dense_mass
    <formulang.lower.plan.ModelPlan.dense_mass>`), the others' diagonal."""
    if progress is None:
        progress = sys.stderr.isatty()
    return NutsSampler(model_fn, settings, progress, dense)


def run_nuts(sampler: NutsSampler, data: dict, settings: SamplerSettings, seed: int,
             inverse_mass: dict | None = None) -> SamplerRun:
    start = time.perf_counter()
    samples, stats, warmup = sampler.run(data, seed, inverse_mass)
    samples = {k: fetch(v) for k, v in samples.items()}  # gathered from other hosts' devices
    stats = {k: fetch(v) for k, v in stats.items()}
    seconds = time.perf_counter() - start
    return SamplerRun(samples, stats, settings, seed, seconds, sampler.chain_method,
                      warmup_gradients=fetch(warmup))
