"""Shared by the benchmark contenders: JAX set-up identical to formulang's, timing, results.

Every contender runs in a fresh process (so import and compile time count as a user feels
them) and prints one JSON line, ``RESULT {...}``, with its figures. Contender arguments:
``MODEL VARIANT CACHE_DIR DRAWS RERUNS`` (``DRAWS``: warm-up = draws; ``RERUNS``: compiled
reruns after the first fit, 0 in a cold-cache process).
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import time

START = time.perf_counter()


def _process_age() -> float:
    """Seconds since this process started (Linux: /proc), so wall time includes the
    interpreter's own start-up; 0 where /proc is missing."""
    try:
        with open("/proc/self/stat") as f:
            start_ticks = float(f.read().rsplit(")", 1)[1].split()[19])
        with open("/proc/uptime") as f:
            uptime = float(f.read().split()[0])
        return max(uptime - start_ticks / os.sysconf("SC_CLK_TCK"), 0.0)
    except (OSError, ValueError, IndexError):
        return 0.0


AGE_AT_START = _process_age()


def since_start() -> float:
    """Seconds since the process started."""
    return AGE_AT_START + time.perf_counter() - START


def arguments() -> tuple[str, str, str, int, int]:
    """(model, variant, cache dir, draws, reruns) from the command line."""
    model, variant, cache, draws, reruns = sys.argv[1:6]
    return model, variant, cache, int(draws), int(reruns)


def _cores() -> int:
    """formulang.infer.jax_setup.host_devices's core count, restated: the hand-written
    contender must run without importing formulang."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def setup_jax(cache_dir: str | None) -> None:
    """Same devices and compilation cache as formulang.infer.jax_setup."""
    os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") +
                               f" --xla_force_host_platform_device_count="
                               f"{max(_cores(), 4)}").strip()
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
            "divergences": int(np.sum(diverging)), "parameters": list(names)}


def rerun_figures(reruns: list[dict]) -> dict:
    """The rule for sampling speed: ``sampling_seconds`` is the fastest compiled rerun;
    ``ess_per_sampling_second`` the median over reruns of (that run's min bulk ESS / that
    run's seconds), so ESS and time always come from the same run."""
    if not reruns:
        return {}
    return {"sampling_seconds": min(r["seconds"] for r in reruns),
            "ess_per_sampling_second": statistics.median(
                r["min_bulk_ess"] / r["seconds"] for r in reruns),
            "reruns": reruns}


def timed_fits(model, fit_figures, draws: int, chains: int, reruns: int,
               stages: dict) -> tuple:
    """formulang's first fit and ``reruns`` compiled refits, one definition for every
    formulang contender: ``stages`` gains "first fit", "summary" (``str(fit)``) and "to ArviZ"
    (``fit.posterior``; bambi always builds it, so the wall includes it here too). Returns
    ``(fit, wall seconds since process start, figures of the first fit, reruns)``."""
    t0 = time.perf_counter()
    fit = model.fit(draws=draws, tune=draws, chains=chains, seed=1, progress=False)
    stages["first fit"] = time.perf_counter() - t0
    effect_draws = getattr(fit.run, "timings", {}).get("conditional_draws_s")
    if effect_draws is not None:  # collapsed: effects drawn after NUTS, inside the first fit
        stages["first fit"] -= effect_draws
        stages["effect draws"] = effect_draws
    t0 = time.perf_counter()
    str(fit)
    stages["summary"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    fit.posterior
    stages["to ArviZ"] = time.perf_counter() - t0
    wall = since_start()
    first = fit_figures(fit)
    runs = []
    for seed in range(2, 2 + reruns):
        t0 = time.perf_counter()
        refit = model.fit(draws=draws, tune=draws, chains=chains, seed=seed, progress=False)
        seconds = time.perf_counter() - t0
        runs.append({"seed": seed, "seconds": seconds, **fit_figures(refit)})
    return fit, wall, first, runs


def report(**figures) -> None:
    print("RESULT " + json.dumps(figures))
    sys.stdout.flush()
