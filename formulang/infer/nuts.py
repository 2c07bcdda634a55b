"""Run NUTS on a NumPyro model, chains in parallel across devices when there are enough.

The MCMC object is kept by the caller (:class:`formulang.Model`) so that refitting the same
model reuses the compiled sampler: data are traced arguments (``jit_model_args=True``).
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field

import numpy as np

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


def make_mcmc(model_fn, settings: SamplerSettings, progress: bool | None = None):
    configure()
    from numpyro.infer import MCMC, NUTS

    if progress is None:
        progress = sys.stderr.isatty()
    kernel = NUTS(model_fn, target_accept_prob=settings.target_accept,
                  max_tree_depth=settings.max_tree_depth)
    return MCMC(kernel, num_warmup=settings.tune, num_samples=settings.draws,
                num_chains=settings.chains, chain_method=chain_method(settings.chains),
                progress_bar=progress, jit_model_args=True)


def run_nuts(mcmc, data: dict, settings: SamplerSettings, seed: int) -> SamplerRun:
    import jax

    start = time.perf_counter()
    mcmc.run(jax.random.PRNGKey(seed), data, extra_fields=STAT_FIELDS)
    samples = {k: np.asarray(v) for k, v in mcmc.get_samples(group_by_chain=True).items()}
    stats = {k: np.asarray(v) for k, v in
             mcmc.get_extra_fields(group_by_chain=True).items()}
    seconds = time.perf_counter() - start
    return SamplerRun(samples, stats, settings, seed, seconds, mcmc.chain_method)
