"""Configure JAX once, before its first use: CPU devices for parallel chains, and the persistent
compilation cache.

- Parallel chains need one XLA device per chain. On CPU, JAX shows one device unless told
  otherwise before it starts, so formulang asks for ``max(cores, 4)`` host devices: one per
  core, and at least one per chain of a default fit (4). If JAX already started with fewer,
  the chains share the devices there are (:func:`formulang.infer.nuts.chain_devices`).
- Compiling dominates small fits, so compiled programs are cached on disk in
  ``$FORMULANG_CACHE_DIR`` (default ``~/.cache/formulang/jax``, or under ``$XDG_CACHE_HOME``).
  Set ``FORMULANG_COMPILATION_CACHE=0`` to turn the cache off. The cache is bounded
  (:data:`CACHE_MAX_BYTES`, least recently used entries go first), which also makes JAX lock
  it across processes: unbounded, JAX writes an entry without a lock, and a second process
  reading it half-written crashed (a segmentation fault in ``deserialize_executable``; seen
  twice when test runs shared the cache).
- After each long compile the C heap's freed pages go back to the OS (glibc's ``malloc_trim``,
  :func:`trim_listener`): compiling a sampler frees hundreds of MB that would otherwise stay
  with the process.
- While chains run, BLAS and LAPACK calls run on one thread each (:func:`sampling_threads`).
- formulang's own programs compile with :func:`compiler_options` (through :func:`jit`); the
  user's JAX code keeps XLA's defaults.
"""

from __future__ import annotations

import functools
import os

import sys
from pathlib import Path


CACHE_MAX_BYTES = 4 * 1024**3  # a few hundred compiled samplers


def cache_dir() -> Path:
    if os.environ.get("FORMULANG_CACHE_DIR"):
        return Path(os.environ["FORMULANG_CACHE_DIR"])
    base = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
    return base / "formulang" / "jax"


def _backend_started() -> bool:
    if "jax" not in sys.modules:
        return False
    try:
        from jax._src import xla_bridge

        return bool(xla_bridge.backends_are_initialized())
    except Exception:  # pragma: no cover - private API moved: assume started, change nothing
        return True


def host_devices() -> int:
    """How many host devices formulang asks for: ``max(cores, 4)``.

    Not more: XLA's CPU client runs every device's work on one thread pool with a thread per
    device, so devices beyond the cores only add threads competing for them. On this
    project's 2-core machine, with 8 devices a compiled 4-chain sleepstudy fit took either
    about 5 s or about 10 s from one rerun to the next (the slow ones with 20-60 thousand
    context switches a second); with 4 devices, 5-6 s every time (24 reruns).

    >>> host_devices() >= 4
    True
    """
    try:
        cores = len(os.sched_getaffinity(0))  # the cores this process may use
    except (AttributeError, OSError):  # pragma: no cover - not on Linux
        cores = os.cpu_count() or 1
    return max(cores, 4)


def request_devices() -> None:
    """Ask for :func:`host_devices` host devices if JAX has not started (no jax import: cheap).

    ``import formulang`` calls it, so a session that runs JAX code of its own before its first
    fit still gets parallel chains. Vectorised chains are not only slower to run: tracing and
    compiling a vmapped NUTS program takes about 2.5x as long (15 s vs 6 s for a 4-group
    model on this project's 2-core machine)."""
    if not _backend_started():
        wanted = host_devices()
        flags = os.environ.get("XLA_FLAGS", "")
        if "xla_force_host_platform_device_count" not in flags:
            os.environ["XLA_FLAGS"] = (flags + f" --xla_force_host_platform_device_count="
                                       f"{wanted}").strip()


BACKEND_COMPILE_EVENT = "/jax/core/compile/backend_compile_duration"  # JAX's monitoring event
TRIM_AFTER_COMPILE_S = 0.5  # compiles at least this long: a sampler's (tiny ones free little)


def trim_listener(trim):
    """A JAX event listener that calls ``trim(0)`` (glibc's ``malloc_trim``) after each XLA
    compile of at least :data:`TRIM_AFTER_COMPILE_S`: compiling a sampler frees hundreds of
    MB that the C heap otherwise keeps for the life of the process (InstEval: 963 MB right
    after compiling, 541 MB after the trim in a probe; ``bench_crossed.py --design
    insteval``'s peak 1,034 -> 932 MB, its steady memory 400 MB lower).

    >>> calls = []
    >>> listener = trim_listener(calls.append)
    >>> listener(BACKEND_COMPILE_EVENT, 2.0); listener(BACKEND_COMPILE_EVENT, 0.1)
    >>> listener("/jax/other", 5.0); calls
    [0]
    """
    def listener(event, duration, **_):
        if event == BACKEND_COMPILE_EVENT and duration >= TRIM_AFTER_COMPILE_S:
            trim(0)

    return listener


@functools.lru_cache(maxsize=1)
def return_memory_after_compiles() -> None:
    """Register :func:`trim_listener` once, where the C library has ``malloc_trim``
    (glibc; elsewhere nothing changes)."""
    import ctypes

    try:
        trim = ctypes.CDLL(None).malloc_trim
    except (OSError, AttributeError):  # not glibc
        return
    import jax

    jax.monitoring.register_event_duration_secs_listener(trim_listener(trim))


@functools.lru_cache(maxsize=1)
def configure() -> None:
    """Idempotent; call before anything imports jax for real work."""
    request_devices()
    import jax

    return_memory_after_compiles()
    if os.environ.get("FORMULANG_COMPILATION_CACHE", "1") != "0":
        path = cache_dir()
        try:
            path.mkdir(parents=True, exist_ok=True)
            jax.config.update("jax_compilation_cache_dir", str(path))
            jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.2)
            jax.config.update("jax_compilation_cache_max_size", CACHE_MAX_BYTES)
        except OSError:  # pragma: no cover - read-only home: run without the cache
            pass


def sampling_threads():
    """A context in which BLAS/LAPACK (the OpenBLAS behind JAX's CPU ``cholesky``,
    ``eigh``, triangular solves) uses one thread per call.

    The chains already occupy the cores, one device each, and the matrices inside a model are
    small: OpenBLAS's own threads only contend with the other chains. On the 2-core machine a
    80 x 80 Cholesky's gradient took 254 us per chain with two chains at once against 91 us
    single-threaded, and a crossed model whose gradient factors one (subjects x items,
    :mod:`formulang.lower.collapsed_schur`) sampled 4 chains in 87 s against 7.9 s.

    >>> with sampling_threads():
    ...     pass
    """
    import scipy.linalg  # noqa: F401  (loads the OpenBLAS that JAX's LAPACK calls use)
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=1, user_api="blas")


# XLA's CPU compiler hands reductions and dots to YNNPACK fusions, which on a model's small
# shapes were slow: 164 us for a sum over a group term's 2 columns x 4,800 rows, 14 us for
# X'g with one column, where XLA's own loops take a few. The subjects x items Bernoulli fit
# (bench_crossed.py) reran in 5.9 s instead of 12.7. formulang's programs compile without them.
CPU_COMPILER_OPTIONS = {"xla_cpu_experimental_ynn_fusion_type": ""}


@functools.lru_cache(maxsize=1)
def compiler_options() -> dict:
    """The XLA options formulang compiles its programs with (:data:`CPU_COMPILER_OPTIONS` on
    CPU, where this jaxlib knows them; none elsewhere). The user's own JAX code keeps XLA's
    defaults.

    >>> isinstance(compiler_options(), dict)
    True
    """
    configure()
    import jax

    if jax.default_backend() != "cpu":
        return {}
    try:  # an option this jaxlib does not know is an error at compile time, not a crash
        jax.jit(lambda x: x + 1, compiler_options=CPU_COMPILER_OPTIONS).lower(1.0).compile()
    except Exception:  # noqa: BLE001 - older JAX (no compiler_options) or a renamed option
        return {}
    return dict(CPU_COMPILER_OPTIONS)


def jit(fun, **kwargs):
    """``jax.jit(fun, **kwargs)`` with :func:`compiler_options`: every program formulang
    compiles goes through here.

    >>> float(jit(lambda x: 2 * x)(1.5))
    3.0
    """
    import jax

    options = compiler_options()
    return jax.jit(fun, **kwargs, **({"compiler_options": options} if options else {}))


def device_count() -> int:
    import jax

    return jax.local_device_count()


