"""Benchmark (issue 23): the cost of one gradient of the embedded-Laplace potential against one
of the full sampled model's, at the same posterior point, in one process.

    python bench/bench_laplace_grad.py [--rows 100000 10000] [--groups-per 100] [--calls 20]
                                       [--label NAME] [--no-save]

Data and model as ``bench/bench_laplace.py``: Bernoulli rows, a continuous ``x``,
``y ~ x + (1 + x | g)``, ``rows / 100`` groups. Both potentials are NumPyro's (what NUTS
differentiates: ``initialize_model``'s ``potential_fn`` on the unconstrained scale), started at
the simulation's true values (effects too, for the full model): a typical posterior point.
Each is ``jit(value_and_grad)``, compiled by a first call, then timed over ``--calls`` calls,
the potentials called in turn so that each sees the same load (median and min ms,
``block_until_ready``; the min is the least disturbed). The sampler runs float32;
``JAX_ENABLE_X64=1`` in the environment measures all in float64 (``dtype`` in the results).

Also: the forward row passes per Laplace value at that point, counted by a host callback in
every call of ``formulang.lower.laplace.block_pass`` (a separate, untimed run): the Newton
passes including step halvings (before this script's commit also the two passes after the
mode: gradient, then value and Hessian; since, the one pass at the mode, ``mode_pass``,
now ``pass_statistics``, is not counted); the same from ``v = 0`` where the pilot's Newton start is in use; and the
effect draws' cost per posterior draw (``laplace_draws.draw_group_effects`` on ``--draw-sample`` copies of
the point, after a compiling call).

Per-gradient ratio ``laplace_ms / full_ms``: with ESS per gradient ``r_g`` times the full
model's (``bench/results/laplace.json``: 19x at 100,000 rows), ESS per wall second is about
``r_g / ratio`` times the full model's (sampling only). Results merge into
``bench/results/laplace_grad.json`` under ``--label``. The machine is shared: compare only
within one run.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from bench_laplace import FORMULA, TRUE, simulate

RESULTS = HERE / "results" / "laplace_grad.json"


def true_values(model, data, seed: int) -> dict:
    """The reported values (one draw) the simulation used, effects included."""
    rng = np.random.default_rng(seed)  # replays simulate()'s effects
    g = model.plan.groups[0]
    groups = len(g.levels)
    rng.normal(size=len(data))
    sd, rho = np.array([TRUE["sd_g__Intercept"], TRUE["sd_g__x"]]), TRUE["cor_g__Intercept__x"]
    L = np.linalg.cholesky(np.array([[1.0, rho], [rho, 1.0]]))
    u = (rng.normal(size=(groups, 2)) @ L.T) * sd
    order = [int(str(level)[1:]) for level in g.levels]  # levels "g<i>", sorted as strings
    s, pop = g.sites, model.plan.sites
    return {pop.coefficients: np.array([[TRUE["b_Intercept"], TRUE["b_x"]]]),
            s.sd: sd[None], s.cor: np.array([[rho]]), s.r: u[order][None]}


def potential(model_fn, data, values):
    import jax
    from numpyro.infer.util import init_to_value, initialize_model

    info = initialize_model(jax.random.PRNGKey(0), model_fn, model_args=(data,),
                            init_strategy=init_to_value(values=values))
    point = info.param_info.z
    return jax.jit(jax.value_and_grad(info.potential_fn)), jax.jit(info.potential_fn), point


def timed(fns: dict, calls: int) -> dict:
    """Per name ``(median ms, min ms, compile s)`` of ``fn(point)`` for ``fns[name] = (fn,
    point)``, each compiled by a first call, then called in turn (``calls`` rounds) so that
    every one sees the same load: a shared machine's load changes within seconds."""
    import jax

    compile_s, times = {}, {name: [] for name in fns}
    for name, (fn, point) in fns.items():
        start = time.perf_counter()
        jax.block_until_ready(fn(point))
        compile_s[name] = round(time.perf_counter() - start, 1)
    for _ in range(calls):
        for name, (fn, point) in fns.items():
            start = time.perf_counter()
            jax.block_until_ready(fn(point))
            times[name].append(1000 * (time.perf_counter() - start))
    return {name: (round(statistics.median(t), 2), round(min(t), 2), compile_s[name])
            for name, t in times.items()}


def count_passes(model_fn, data, values) -> int:
    """Forward row passes per value: ``block_pass`` wrapped to tick a host counter, in a
    fresh trace of the potential."""
    import jax

    from formulang.lower import laplace

    ticks = []
    original = laplace.block_pass

    def counted(*args, **kwargs):
        jax.debug.callback(lambda: ticks.append(1))
        return original(*args, **kwargs)

    laplace.block_pass = counted
    try:
        _, value, point = potential(model_fn, data, values)  # runs the model: ticks
        jax.effects_barrier()
        ticks.clear()
        jax.block_until_ready(value(point))
        jax.effects_barrier()
    finally:
        laplace.block_pass = original
    return len(ticks)


def one(rows: int, groups_per: int, calls: int, draw_sample: int) -> dict:
    import jax

    import formulang as fl
    from formulang.infer.laplace_draws import draw_group_effects
    from formulang.lower.laplace import laplace_data, make_laplace_model
    from formulang.lower.site_values import to_sites

    groups = rows // groups_per
    data = simulate(rows, groups, 0)
    la = fl.Model(FORMULA, data, family="bernoulli", collapse="laplace")
    full = fl.Model(FORMULA, data, family="bernoulli", collapse=False)
    sites = {k: np.asarray(v[0], dtype=jax.numpy.zeros(1).dtype)
             for k, v in to_sites(full.plan, true_values(full, data, 0)).items()}
    out = {"rows": rows, "groups": groups, "dtype": str(jax.numpy.zeros(1).dtype)}
    full_fn, _, full_point = potential(*full._sampled_model, sites)
    layout = la.collapse_layout
    try:  # the Newton start from the pilot (laplace.start_statistics), where there is one
        la_data = laplace_data(la.plan, la.data, layout, la.pilot)
    except TypeError:
        la_data = laplace_data(la.plan, la.data, layout)
    out["newton_start"] = "pilot" if "start" in la_data else "zero"
    la_model = make_laplace_model(la.plan, layout)
    la_sites = {k: v for k, v in sites.items()
                if k not in {s for g in la.plan.groups for s in (g.sites.z, g.sites.rc)}}
    la_fn, la_value, la_point = potential(la_model, la_data, la_sites)
    fns = {"full": (full_fn, full_point), "laplace": (la_fn, la_point),
           "laplace_value": (la_value, la_point)}
    if "start" in la_data:  # what the pilot's Newton start saves
        zero = {k: v for k, v in la_data.items() if k != "start"}
        fn0, _, point0 = potential(la_model, zero, la_sites)
        fns["laplace_zero_start"] = (fn0, point0)
        out["row_passes_per_value_zero_start"] = count_passes(la_model, zero, la_sites)
    for name, (median, least, compile_s) in timed(fns, calls).items():
        out[f"{name}_ms"], out[f"{name}_min_ms"] = median, least
        out[f"{name}_compile_s"] = compile_s
    out["ratio"] = round(out["laplace_ms"] / out["full_ms"], 2)
    out["ratio_min"] = round(out["laplace_min_ms"] / out["full_min_ms"], 2)
    out["row_passes_per_value"] = count_passes(la_model, la_data, la_sites)
    if draw_sample:
        samples = {k: np.broadcast_to(v, (1, draw_sample) + np.shape(v)).copy()
                   for k, v in la_sites.items()}
        from formulang.infer.laplace_draws import draw_runner

        runner = draw_runner(la.plan, layout)
        start = time.perf_counter()
        draw_group_effects(la.plan, layout, la_data, samples, 0, runner)
        first = time.perf_counter() - start
        start = time.perf_counter()
        draw_group_effects(la.plan, layout, la_data, samples, 1, runner)
        again = time.perf_counter() - start
        out["effect_draws_ms_per_draw"] = round(1000 * again / draw_sample, 2)
        out["effect_draws_compile_s"] = round(first - again, 1)
    print(json.dumps(out), flush=True)
    jax.clear_caches()
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, nargs="+", default=[100_000, 10_000])
    ap.add_argument("--groups-per", type=int, default=100)
    ap.add_argument("--calls", type=int, default=20)
    ap.add_argument("--draw-sample", type=int, default=40,
                    help="posterior draws for the effect draws' timing (0: skip)")
    ap.add_argument("--label", default=None)
    ap.add_argument("--no-save", action="store_true")
    a = ap.parse_args()
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=HERE,
                            capture_output=True, text=True, check=False).stdout.strip()
    out = {"commit": commit, "calls": a.calls,
           "runs": [one(r, a.groups_per, a.calls, a.draw_sample) for r in a.rows],
           "machine": "2 cores shared with other jobs: compare only within this run"}
    if a.no_save:
        return
    label = a.label or f"{commit} rows={a.rows}"
    results = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    results[label] = out
    RESULTS.write_text(json.dumps(results, indent=1) + "\n")


if __name__ == "__main__":
    main()
