"""JAX set-up: how many host devices ``import formulang`` asks for, that a user's own
choice wins, and the heap trimmed after long compiles."""

import os
import subprocess
import sys

from formulang.infer.jax_setup import host_devices

PROBE = "import formulang, jax; print(jax.local_device_count())"


def _devices_in_fresh_process(xla_flags: str | None) -> int:
    env = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"}
    if xla_flags is not None:
        env["XLA_FLAGS"] = xla_flags
    env["JAX_PLATFORMS"] = "cpu"
    out = subprocess.run([sys.executable, "-c", PROBE], env=env, capture_output=True,
                         text=True, check=True)
    return int(out.stdout.strip().splitlines()[-1])


def test_one_device_per_core_and_at_least_one_per_default_chain():
    cores = len(os.sched_getaffinity(0))
    assert host_devices() == max(cores, 4)


def test_import_formulang_asks_for_the_devices():
    assert _devices_in_fresh_process(None) == host_devices()


def test_a_users_own_device_count_is_kept():
    assert _devices_in_fresh_process("--xla_force_host_platform_device_count=3") == 3


# ---- the compilation cache, in a fresh process (issue 21: never checked in a real fit) -------

_TINY_FIT = ("import numpy as np, pandas as pd, formulang as fl\n"
             "d = pd.DataFrame({'y': np.arange(12.0) % 5, 'x': np.arange(12.0)})\n"
             "fl.Model('y ~ x', d).fit(draws=20, tune=20, chains=1, progress=False)\n")


def _fit_in_subprocess(tmp_path, **env) -> None:
    import os
    import subprocess
    import sys

    environment = {k: v for k, v in os.environ.items()
                   if k not in ("FORMULANG_CACHE_DIR", "FORMULANG_COMPILATION_CACHE")}
    environment.update(env, PYTHONPATH=os.pathsep.join(sys.path))
    proc = subprocess.run([sys.executable, "-c", _TINY_FIT], env=environment, cwd=tmp_path,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]


def test_cache_dir_receives_the_compiled_sampler_and_zero_turns_it_off(tmp_path):
    on, off = tmp_path / "on", tmp_path / "off"
    _fit_in_subprocess(tmp_path, FORMULANG_CACHE_DIR=str(on))
    assert on.is_dir() and any(p.is_file() for p in on.rglob("*"))
    _fit_in_subprocess(tmp_path, FORMULANG_CACHE_DIR=str(off), FORMULANG_COMPILATION_CACHE="0")
    assert not off.exists() or not any(p.is_file() for p in off.rglob("*"))


_CACHE_SETTINGS = ("import jax, formulang\n"
                   "from formulang.infer import jax_setup\n"
                   "jax_setup.configure()\n"
                   "from jax._src import compilation_cache as cc\n"
                   "jax.jit(lambda x: x + 1)(1.0)\n"
                   "cache = cc._get_cache(jax.devices()[0].client)\n"
                   "print(jax.config.jax_compilation_cache_max_size, cache.eviction_enabled,\n"
                   "      type(cache.lock).__module__.split('.')[0])\n")


def test_the_cache_is_bounded_and_locked_across_processes(tmp_path):
    """Unbounded, JAX writes cache entries without a lock and a concurrent reader can load a
    half-written executable (a segmentation fault); bounded, every read and write holds a
    file lock."""
    import os
    import subprocess
    import sys

    from formulang.infer.jax_setup import CACHE_MAX_BYTES

    environment = dict(os.environ, FORMULANG_CACHE_DIR=str(tmp_path / "cache"),
                       PYTHONPATH=os.pathsep.join(sys.path))
    environment.pop("FORMULANG_COMPILATION_CACHE", None)
    proc = subprocess.run([sys.executable, "-c", _CACHE_SETTINGS], env=environment,
                          cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    size, eviction, lock = proc.stdout.split()
    assert (int(size), eviction, lock) == (CACHE_MAX_BYTES, "True", "filelock")


def test_the_heap_is_trimmed_after_long_compiles(monkeypatch):
    """``configure()`` registers one JAX listener that hands freed heap back to the OS after a
    long XLA compile (glibc's ``malloc_trim``: on Linux, where CI runs, it must be found)."""
    import ctypes

    import jax

    from formulang.infer import jax_setup

    captured, trims = [], []
    monkeypatch.setattr(jax.monitoring, "register_event_duration_secs_listener",
                        captured.append)
    jax_setup.return_memory_after_compiles.cache_clear()
    try:
        jax_setup.return_memory_after_compiles()
        jax_setup.return_memory_after_compiles()  # once only
    finally:
        jax_setup.return_memory_after_compiles.cache_clear()
    assert len(captured) == 1
    assert hasattr(ctypes.CDLL(None), "malloc_trim")
    captured[0](jax_setup.BACKEND_COMPILE_EVENT, 3.0)  # the real trim: returns, no error
    listener = jax_setup.trim_listener(trims.append)
    listener(jax_setup.BACKEND_COMPILE_EVENT, jax_setup.TRIM_AFTER_COMPILE_S)
    listener(jax_setup.BACKEND_COMPILE_EVENT, 0.01)
    assert trims == [0]


# ---- compiler options: formulang's programs compile without YNNPACK fusions ------------------

def test_formulangs_programs_compile_without_ynn_fusions_and_the_users_keep_xlas_defaults():
    import jax
    import jax.numpy as jnp

    from formulang.infer.jax_setup import CPU_COMPILER_OPTIONS, compiler_options, jit

    assert compiler_options() == CPU_COMPILER_OPTIONS  # this project's CPU jaxlib knows it

    def row_sums(x, g):  # the shapes that were slow: a sum over 2 columns, and X'g
        return jnp.sum(x * 2.0, axis=-1), x.T @ g

    x, g = jnp.ones((4800, 2)), jnp.ones(4800)
    ours = jit(row_sums).lower(x, g).compile().as_text()
    assert "__ynn_fusion" not in ours
    assert [float(v[0]) for v in jit(row_sums)(x, g)] == [4.0, 4800.0]
    # the option is formulang's alone: a plain jax.jit is compiled as XLA chooses (with this
    # jaxlib, YNNPACK fusions), so the check above is not vacuous
    assert "__ynn_fusion" in jax.jit(row_sums).lower(x, g).compile().as_text()


def test_an_option_the_jaxlib_does_not_know_leaves_the_defaults(monkeypatch):
    from formulang.infer import jax_setup

    monkeypatch.setattr(jax_setup, "CPU_COMPILER_OPTIONS", {"xla_cpu_no_such_option": "1"})
    jax_setup.compiler_options.cache_clear()
    try:
        assert jax_setup.compiler_options() == {}
        assert float(jax_setup.jit(lambda x: x + 1)(1.0)) == 2.0
    finally:
        jax_setup.compiler_options.cache_clear()
