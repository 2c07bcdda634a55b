"""K-fold's folds at once: one compiled program runs several folds, the data its arguments.

Every fold has the same shapes (held-out rows get weight 0: :mod:`formulang.infer.kfold`),
so the folds differ only in their weights and random keys, which are arguments:

- ``"sequential"``: one fold after another, each fold's chains in parallel over the devices
  (:class:`~formulang.infer.nuts.NutsSampler`);
- ``"devices"`` (alias ``"folds"``): ``D`` folds at a time, one per XLA device (``shard_map``
  over a 1-D mesh of the devices), the fold's chains on its device: vectorised (``vmap``) on
  a GPU or TPU; on CPU, where a device is one thread, one after another (``lax.map``), each
  with its own loop (vectorised chains wait in lockstep for the longest trajectory, and
  compiled 4x longer). A last partial round is padded with a repeat of its first fold, whose
  result is dropped, so every round runs the same program;
- ``"vectorized"``: all K folds in one program, ``vmap`` over folds of the chains (for one
  GPU, where the lanes run at once).

Fold ``k``'s chains get the keys ``split(PRNGKey(seed + k), chains)`` in every way (as
:meth:`NutsSampler.run <formulang.infer.nuts.NutsSampler.run>` splits them). On CPU,
``"devices"`` then gives the sequential way's draws exactly (the same unbatched program per
chain; ``tests/test_kfold_parallel.py``). ``vmap`` changes the floating-point rounding of
the batched arithmetic, and NUTS trajectories amplify that: vectorised chains are other
draws from the same posterior, and their results agree within Monte Carlo error only.

``"auto"`` (:func:`choose`): on a GPU or TPU, ``"devices"`` when there are two or more, else
``"vectorized"``. On CPU the devices are threads over the cores, and a fold's vectorised
chains run in lockstep on one of them, which compiled 4x longer and ran little faster
(``bench/bench_kfold_batched.py``: radon, 4 chains, 4 host devices on 2 cores: 1.46 s a fold
against 1.73 s sequential, but 37 s of compilation against 9 s; all folds vectorised: 3.5 s a
fold). So on CPU the folds go over the devices only when the sequential way leaves cores
idle (fewer chains than usable cores, ``min(cores, devices)``); otherwise sequential.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from ..errors import FormulangError
from .jax_setup import jit, sampling_threads
from .nuts import as_batch_of_one

WAYS = ("auto", "sequential", "devices", "vectorized")
ALIASES = {"folds": "devices"}
ACCELERATORS = ("gpu", "cuda", "rocm", "tpu")


def choose(parallel: str, K: int, chains: int, devices: int | None = None,
           platform: str | None = None, cores: int | None = None) -> str:
    """How the folds run: ``parallel`` resolved (``"auto"`` by the rule in the module
    docstring). ``devices``, ``platform``, ``cores`` default to JAX's and the machine's.

    >>> choose("auto", 10, 4, devices=4, platform="cpu", cores=2)  # chains fill the cores
    'sequential'
    >>> choose("auto", 10, 1, devices=4, platform="cpu", cores=2)  # one chain: a core idle
    'devices'
    >>> choose("auto", 10, 4, devices=1, platform="cpu", cores=2)
    'sequential'
    >>> choose("auto", 10, 4, devices=1, platform="gpu"), choose("auto", 10, 4, 2, "gpu")
    ('vectorized', 'devices')
    >>> choose("folds", 10, 4, devices=4, platform="cpu")
    'devices'
    >>> choose("threads", 10, 4)
    Traceback (most recent call last):
    formulang.errors.FormulangError: unknown parallel='threads'; choose one of: auto, sequential, devices (or folds), vectorized
    """
    way = ALIASES.get(parallel, parallel)
    if way not in WAYS:
        raise FormulangError(f"unknown parallel={parallel!r}; choose one of: "
                             f"{', '.join(WAYS).replace('devices', 'devices (or folds)')}")
    if way != "auto":
        return way
    if devices is None or platform is None:
        from .jax_setup import configure

        configure()
        import jax

        devices = jax.local_device_count() if devices is None else devices
        platform = jax.default_backend() if platform is None else platform
    if platform.lower() in ACCELERATORS:
        return "devices" if devices >= 2 else "vectorized"
    cores = _cores() if cores is None else cores
    usable = min(cores, devices)
    if devices >= 2 and chains < usable:
        return "devices"
    return "sequential"


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # pragma: no cover - not on Linux
        return os.cpu_count() or 1


def fold_keys(seed: int, folds, chains: int):
    """The chains' keys of each fold: ``split(PRNGKey(seed + k), chains)``, as the sequential
    way's :meth:`NutsSampler.run <formulang.infer.nuts.NutsSampler.run>` makes them."""
    import jax
    import jax.numpy as jnp

    return jnp.stack([jax.random.split(jax.random.PRNGKey(seed + int(k)), chains)
                      for k in folds])


@dataclass(frozen=True, eq=False)
class FoldsSampler:
    """``run(keys, data, weights, inverse_mass)``: ``width`` folds at once (``keys``
    (width, chains, 2), ``weights`` (width, rows)); draws shaped (width, chains, draws, ...).
    Compiled on its first run, reused for every round and rerun."""

    way: str
    width: int
    program: object
    dense: tuple[str, ...] = ()  # the sites of the chains' dense mass-matrix block

    def run(self, keys, data: dict, weights: np.ndarray, inverse_mass: dict):
        import jax
        import jax.numpy as jnp

        with sampling_threads():
            return jax.block_until_ready(
                self.program(keys, data, jnp.asarray(weights), inverse_mass or {}))


def folds_sampler(one_chain, way: str, K: int, dense: tuple[str, ...] = ()) -> FoldsSampler:
    """The program running ``one_chain(key, data, inverse_mass)`` (a
    :class:`~formulang.infer.nuts.NutsSampler`'s, whose dense mass-matrix block is ``dense``)
    for several folds' weights at once."""
    import jax
    from jax.sharding import Mesh, PartitionSpec

    if jax.default_backend().lower() in ACCELERATORS:  # lanes run at once: vectorise
        def chains(keys, data, inverse_mass):
            return jax.vmap(one_chain, in_axes=(0, None, None))(keys, data, inverse_mass)
    else:  # one thread a device: the chains one after another, each with its own loop
        def chains(keys, data, inverse_mass):
            return jax.lax.map(lambda key: one_chain(key, data, inverse_mass), keys)

    def one_fold(keys, data, weights, inverse_mass):
        return chains(keys, dict(data, weights=weights), inverse_mass)

    if way == "vectorized":
        return FoldsSampler(way, K, jit(jax.vmap(one_fold, in_axes=(0, None, 0, None))),
                            tuple(dense))
    if way != "devices":
        raise FormulangError(f"no program runs folds {way!r} at once")
    width = min(K, jax.local_device_count())
    mesh = Mesh(np.array(jax.local_devices()[:width]), ("fold",))

    fold, whole = PartitionSpec("fold"), PartitionSpec()
    on_one_device = as_batch_of_one(one_fold, batched=(0, 2))  # (keys, data, weights, mass)
    program = jit(jax.shard_map(on_one_device, mesh=mesh,
                                in_specs=(fold, whole, fold, whole), out_specs=fold,
                                check_vma=False))
    return FoldsSampler(way, width, program, tuple(dense))


def rounds(K: int, width: int) -> list[list[int]]:
    """The folds of each run of a ``width``-fold program, the last padded with a repeat of
    its first fold (a result to drop).

    >>> rounds(10, 4)
    [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9, 8, 8]]
    """
    out = [list(range(a, min(a + width, K))) for a in range(0, K, width)]
    out[-1] += [out[-1][0]] * (width - len(out[-1]))
    return out
