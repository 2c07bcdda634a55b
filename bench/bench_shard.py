"""Benchmark: a model's rows sharded across host devices (issue 20), 1, 2 and 4 devices.

A Bernoulli ``y ~ x + (1 | g)`` on many rows (default 200,000; x continuous, so no two rows
merge and the sampler sees every row; 100 groups). For each device count a fresh process
(``XLA_FLAGS=--xla_force_host_platform_device_count=D``) times:

- the jitted log density and its gradient (what NUTS evaluates at each leapfrog step) at one
  point, with the rows split over the D devices (1: unsharded): seconds per 1,000
  evaluations, each waited for before the next (as NUTS's leapfrog steps are; dispatching
  hundreds ahead deadlocked XLA's CPU collectives on 2 devices: one device's thread never
  joined the all-reduce), the median of 3 repeats after a warm-up call;
- one short fit, 1 chain over all D devices (``shard_rows=D``; 1: ``False``), run twice
  with the compiled sampler kept: the first (compiling) and the second (sampling only)
  seconds, with the gradient evaluations NUTS made, so the second's time per gradient can
  be compared with the loop's.

The host devices are threads of one XLA CPU client, so D devices can use at most D cores:
on a 2-core machine expect at best 2x, and only while the other processes leave both cores
free. Then the multi-host path, simulated on this machine (``MULTIHOST``): 2 processes of 2
devices each under ``jax.distributed`` fit with the rows split over both, and their draws
are compared with one process's. Run: ``python bench/bench_shard.py [--rows N] [--evals E]
[--draws D] [--multihost-only]``; writes ``bench/results/shard.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

RESULTS = Path(__file__).parent / "results"
FORMULA = "y ~ x + (1 | g)"

WORKER = r'''
import json, sys, time
import numpy as np, pandas as pd, jax
import formulang as fl
from formulang.infer import sharding as sh
from numpyro import handlers
from numpyro.distributions import biject_to

rows, evals, draws, devices = (int(a) for a in sys.argv[1:5])
rng = np.random.default_rng(0)
g = rng.integers(0, 100, rows)
x = rng.normal(size=rows)
eta = -0.3 + 0.5 * x + rng.normal(0, 0.6, 100)[g]
frame = pd.DataFrame({"y": rng.binomial(1, 1 / (1 + np.exp(-eta))), "x": x,
                      "g": g.astype(str)})
model = fl.Model("''' + FORMULA + r'''", frame, family="bernoulli", compress=False)
model_fn, data = model._sampled_model
trace = handlers.trace(handlers.seed(model_fn, 1)).get_trace(data)
z = {k: biject_to(s["fn"].support).inv(s["value"]) for k, s in trace.items()
     if s["type"] == "sample" and not s["is_observed"]}
vg = sh.potential_and_gradient(model_fn)
if devices > 1:
    data = sh.place(sh.pad_rows(data, devices), sh.make_mesh(sh.ShardLayout(devices, 1)))
jax.block_until_ready(vg(z, data))
repeats = []
for _ in range(3):
    start = time.perf_counter()
    for _ in range(evals):  # one at a time, as NUTS's leapfrog steps are
        jax.block_until_ready(vg(z, data))
    repeats.append(time.perf_counter() - start)
per_1000 = float(np.median(repeats)) * 1000 / evals

fits = []
for seed in (0, 1):
    start = time.perf_counter()
    fit = model.fit(draws=draws, tune=draws, chains=1, seed=seed, progress=False,
                    shard_rows=devices if devices > 1 else False)
    gradients = int(fit.run.warmup_gradients.sum() + fit.stats["num_steps"].sum())
    fits.append({"seconds": time.perf_counter() - start, "gradients": gradients,
                 "shards": fit.run.settings.shards,
                 "b_x_mean": float(fit.samples["b"][..., 1].mean())})
print("RESULT " + json.dumps({"devices": jax.device_count(), "seconds_per_1000_gradients":
                              per_1000, "repeats_s": repeats, "fits": fits}))
'''

# Several hosts, simulated on this one: 2 processes with 2 host devices each, joined by
# jax.distributed (CPU collectives over gloo), 1 chain x 4 shards spanning both processes,
# against 1 process with 4 devices (sharded, and not). float64, so that the draws can be
# compared one by one (they differ only by rounding: see tests/infer/test_sharding.py).
MULTIHOST = r'''
import json, os, sys
pid, nproc, port, shards = (int(a) for a in sys.argv[1:5])
os.environ["XLA_FLAGS"] = f"--xla_force_host_platform_device_count={4 // nproc}"
import jax
jax.config.update("jax_enable_x64", True)
if nproc > 1:
    jax.config.update("jax_cpu_collectives_implementation", "gloo")
    jax.distributed.initialize(f"localhost:{port}", num_processes=nproc, process_id=pid)
import numpy as np, pandas as pd
import formulang as fl
rng = np.random.default_rng(0)
n = 1003
g = rng.integers(0, 17, n)
x = rng.normal(size=n)
a = rng.normal(0, 0.5, 17)
frame = pd.DataFrame({"x": x, "g": g.astype(str),
                      "y": rng.binomial(1, 1 / (1 + np.exp(-(0.3 * x + a[g]))))})
m = fl.Model("y ~ x + (1 | g)", frame, family="bernoulli", compress=False)
f = m.fit(draws=20, tune=30, chains=2, seed=1, progress=False, shard_rows=shards or False)
print("RESULT " + json.dumps({"devices": jax.device_count(), "local": jax.local_device_count(),
      "chain_method": f.run.chain_method, "shards": f.run.settings.shards,
      "b": f.samples["b"].tolist(), "sd_g": f.samples["sd_g"].tolist()}), flush=True)
'''


def run_multihost() -> dict:
    """The MULTIHOST check: every process's draws against one process's, sharded and not."""
    import numpy as np

    def start(pid, nproc, shards):
        env = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"}
        env.update(JAX_PLATFORMS="cpu", PYTHONPATH=os.pathsep.join(sys.path))
        return subprocess.Popen([sys.executable, "-c", MULTIHOST, str(pid), str(nproc),
                                 "12377", str(shards)], env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)

    def result(proc):
        out, err = proc.communicate(timeout=1800)
        if proc.returncode != 0:
            raise RuntimeError(err[-3000:])
        line = [ln for ln in out.splitlines() if ln.startswith("RESULT ")][-1]
        return json.loads(line[len("RESULT "):])

    start_s = time.perf_counter()
    hosts = [result(p) for p in [start(0, 2, 4), start(1, 2, 4)]]
    one = result(start(0, 1, 4))
    plain = result(start(0, 1, 0))
    diff = lambda a, b: max(float(np.max(np.abs(np.subtract(a[k], b[k]))))  # noqa: E731
                            for k in ("b", "sd_g"))
    return {"processes": [{k: h[k] for k in ("devices", "local", "chain_method", "shards")}
                          for h in hosts],
            "max_difference_between_processes": diff(hosts[0], hosts[1]),
            "max_difference_two_processes_vs_one_sharded": diff(hosts[0], one),
            "max_difference_two_processes_vs_unsharded": diff(hosts[0], plain),
            "seconds": time.perf_counter() - start_s}


def run_one(devices: int, rows: int, evals: int, draws: int) -> dict:
    env = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"}
    env.update(XLA_FLAGS=f"--xla_force_host_platform_device_count={devices}",
               JAX_PLATFORMS="cpu", PYTHONPATH=os.pathsep.join(sys.path))
    proc = subprocess.run([sys.executable, "-c", WORKER, str(rows), str(evals), str(draws),
                           str(devices)], env=env, capture_output=True, text=True,
                          timeout=3600)
    if proc.returncode != 0:
        raise RuntimeError(proc.stderr[-3000:])
    line = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")][-1]
    return json.loads(line[len("RESULT "):])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rows", type=int, default=200_000)
    p.add_argument("--evals", type=int, default=1000)
    p.add_argument("--draws", type=int, default=100)
    p.add_argument("--devices", type=int, nargs="+", default=[1, 2, 4])
    p.add_argument("--multihost-only", action="store_true",
                   help="only the 2-process check; merged into the existing results file")
    args = p.parse_args()
    if args.multihost_only:
        path = RESULTS / "shard.json"
        record = json.loads(path.read_text()) if path.exists() else {}
        record["multihost"] = run_multihost()
        path.write_text(json.dumps(record, indent=2) + "\n")
        print(json.dumps(record["multihost"], indent=2))
        return
    results = {}
    for devices in args.devices:
        start = time.perf_counter()
        results[str(devices)] = out = run_one(devices, args.rows, args.evals, args.draws)
        out["process_s"] = time.perf_counter() - start
        out["load_average_after"] = os.getloadavg()
        print(devices, "devices:", round(out["seconds_per_1000_gradients"], 3),
              "s per 1,000 gradients; fits (s):",
              [round(f["seconds"], 1) for f in out["fits"]], flush=True)
    base = results[str(args.devices[0])]["seconds_per_1000_gradients"]
    for out in results.values():
        out["speedup_vs_first"] = base / out["seconds_per_1000_gradients"]
        second = out["fits"][1]
        out["fit_ms_per_gradient"] = 1000 * second["seconds"] / max(second["gradients"], 1)
    record = {
        "benchmark": "rows sharded across host devices (issue 20)",
        "model": f"bernoulli {FORMULA}, {args.rows} rows, 100 groups, compress=False",
        "rows": args.rows, "evals": args.evals, "draws": args.draws,
        "machine": (f"{os.cpu_count()} CPUs seen ({len(os.sched_getaffinity(0))} usable): "
                    "2 physical cores, machine shared with other jobs (timings inflated "
                    "and noisy; compare within this run only)"),
        "platform": platform.platform(), "python": sys.version.split()[0],
        "results": results,
        "multihost": run_multihost(),
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "shard.json").write_text(json.dumps(record, indent=2) + "\n")
    print(json.dumps({d: round(r["speedup_vs_first"], 2) for d, r in results.items()}))


if __name__ == "__main__":
    main()
