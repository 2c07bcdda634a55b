"""Can k-fold's folds run at once instead of one after another? Measured on this machine.

    python bench/bench_kfold_batched.py [--K 4] [--draws 300]

Radon ``log_radon ~ floor + (1 + floor | county)``, 4 chains, random folds by county, one
compiled program per way (held-out rows get weight 0, so every fold has the same shapes):

- ``sequential``: what :func:`formulang.infer.kfold.kfold` does: one fold after another,
  the fold's 4 chains in parallel, one per host device;
- ``batched``: every fold in one program, ``vmap`` over folds of ``vmap`` over chains (K x 4
  chains in lockstep, one device);
- ``sharded``: one fold per host device (``shard_map``), its 4 chains vectorised there.

Times exclude compilation (each way's program runs once before it is timed), and compilation
is reported apart. Results go to ``bench/results/kfold_batched.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import numpy as np


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--K", type=int, default=4)
    ap.add_argument("--draws", type=int, default=300)
    args = ap.parse_args()
    import formulang as fl
    from formulang.infer.jax_setup import configure
    from formulang.infer.kfold import assign_folds, group_labels
    from formulang.infer.mass_matrix import initial_inverse_mass
    from formulang.infer.nuts import NutsSampler, SamplerSettings, run_nuts
    from formulang.lower.numpyro_model import make_model

    configure()
    import jax
    import jax.numpy as jnp
    from jax.sharding import Mesh, PartitionSpec

    K, chains = args.K, 4
    model = fl.Model("log_radon ~ floor + (1 + floor | county)", "radon")
    settings = SamplerSettings(args.draws, args.draws, chains, 0.8)
    fold = assign_folds(group_labels(model, "county"), K, "random", 0, model.bound.n)
    base = dict(model.data)
    weights = np.stack([np.where(fold == k, 0.0, 1.0) for k in range(K)])
    inverse_mass = initial_inverse_mass(model.plan, model.pilot)
    out = {"K": K, "chains": chains, "draws": args.draws, "tune": args.draws,
           "host_devices": jax.local_device_count(), "cores": len(os.sched_getaffinity(0)),
           "machine": platform.processor() or platform.machine()}

    def timed(name, run):
        start = time.perf_counter()
        run()
        out[f"{name}_first_run_with_compilation_s"] = round(time.perf_counter() - start, 2)
        start = time.perf_counter()
        run()
        out[f"{name}_s"] = round(time.perf_counter() - start, 2)

    sequential = NutsSampler(make_model(model.plan), settings, False)
    timed("sequential", lambda: [run_nuts(sequential, dict(base, weights=weights[k]), settings,
                                          k, inverse_mass) for k in range(K)])

    vectorised = NutsSampler(make_model(model.plan), settings, False)
    chains_of = jax.vmap(vectorised._one_chain, in_axes=(0, None, None))
    keys = jnp.stack([jax.random.split(jax.random.PRNGKey(k), chains) for k in range(K)])
    axes = dict.fromkeys(base) | {"weights": 0}
    batched = jax.jit(jax.vmap(chains_of, in_axes=(0, axes, None)))
    timed("batched", lambda: jax.block_until_ready(
        batched(keys, dict(base, weights=jnp.asarray(weights)), inverse_mass)))

    n = min(K, jax.local_device_count())
    mesh = Mesh(np.array(jax.local_devices()[:n]), ("fold",))

    def one_fold(key, w, im):
        return jax.tree.map(lambda x: x[None], chains_of(key[0], dict(base, weights=w[0]), im))

    fold_spec, whole = PartitionSpec("fold"), PartitionSpec()
    sharded = jax.jit(jax.shard_map(one_fold, mesh=mesh, in_specs=(fold_spec, fold_spec, whole),
                                    out_specs=fold_spec, check_vma=False))
    out["sharded_folds"] = n
    timed("sharded", lambda: jax.block_until_ready(
        sharded(keys[:n], jnp.asarray(weights[:n]), inverse_mass)))
    out["sharded_per_fold_s"] = round(out["sharded_s"] / n, 2)
    out["sequential_per_fold_s"] = round(out["sequential_s"] / K, 2)
    out["batched_per_fold_s"] = round(out["batched_s"] / K, 2)
    print(json.dumps(out, indent=1))
    path = Path(__file__).parent / "results" / "kfold_batched.json"
    path.write_text(json.dumps(out, indent=1) + "\n")


if __name__ == "__main__":
    main()
