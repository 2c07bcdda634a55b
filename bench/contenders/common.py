"""Shared by the benchmark contenders: JAX set-up identical to formulang's, timing, results.

Every contender runs in a fresh process (so import and compile time count as a user feels
them) and prints one JSON line with its figures.
"""

from __future__ import annotations

import json
import os
import sys
import time

START = time.perf_counter()


def setup_jax(cache_dir: str | None) -> None:
    """Same devices and compilation cache as formulang.infer.jax_setup."""
    os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") +
                               f" --xla_force_host_platform_device_count="
                               f"{max(os.cpu_count() or 1, 8)}").strip()
    import jax

    if cache_dir:
        jax.config.update("jax_compilation_cache_dir", cache_dir)
        jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.2)


def sampler_figures(samples_by_chain: dict, diverging, names) -> dict:
    """min bulk ESS, max R-hat over the named variables (every element), divergences."""
    import warnings

    import numpy as np

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=FutureWarning)
        import arviz as az
    ess, rhat = [], []
    for name in names:
        x = np.asarray(samples_by_chain[name])
        flat = x.reshape(x.shape[0], x.shape[1], -1)
        for j in range(flat.shape[-1]):
            ess.append(float(az.ess(flat[..., j], method="bulk")))
            rhat.append(float(az.rhat(flat[..., j])))
    return {"min_bulk_ess": min(ess), "max_rhat": max(rhat),
            "divergences": int(np.sum(diverging))}


def report(**figures) -> None:
    figures["wall_seconds"] = time.perf_counter() - START
    print("RESULT " + json.dumps(figures))
    sys.stdout.flush()
