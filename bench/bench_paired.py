"""Benchmark: what formulang's lowering costs, against the same model written by hand, in one
process with interleaved reruns.

    python bench/bench_paired.py [--models a,b] [--reparams centered,noncentered,auto]
                                 [--reruns R] [--draws N]

``bench_model.py`` runs every contender in its own fresh process, as a user meets it. Compiled
speed on a shared machine then drifts between processes (reruns of one program vary 1.5-2x
there), which is too much to judge a 0.9x target. Here formulang (``Model(formula, data,
reparam=..., collapse=False)``, its own ``fit``) and the hand-written NumPyro model of the same
parameterisation (``contenders/handwritten_model.py``: same priors, same NUTS settings, its
centred effects centred on the intercept exactly where formulang's are; NumPyro's default
start, where formulang starts at its priors' centres) are
compiled in one process; their reruns alternate (hand-written first, then formulang first,
...) with the same seeds, so a slow spell of the machine hits both alike.

Figures per model and parameterisation, over RERUNS compiled reruns of each (default 6; 4
chains x (1000 warm-up + 1000 draws)):

- ESS/sampling s: median over reruns of (that run's min bulk ESS / its seconds); min bulk ESS
  over the same parameters as ``bench_model.py`` (population coefficients, group SDs,
  correlations, sigma);
- seconds: median seconds per fit (the cost of a fit whether or not the run mixed well), and
  the fastest fit (timeit's rule: a slow spell of the machine only ever adds time);
- steps per draw: median over reruns of the mean leapfrog steps (gradient evaluations) per
  sampling iteration; warm-up gradients per chain: the same count over the warm-up (formulang
  starts warm-up from its pilot's posterior variances, ``formulang.infer.mass_matrix``; the
  hand-written model from NumPyro's identity); ESS per gradient: median over reruns of (min
  bulk ESS / the sampling phase's gradient evaluations). These count the sampler's work,
  which no slow spell of the machine changes (before formulang asked for one host device per
  core, at least 4, the same compiled fit with the same seed took 4 s or 8 s from rerun to
  rerun on this 2-core machine: ``formulang.infer.jax_setup.host_devices``);
- ratios formulang / hand-written of each. Target (issue 4): ESS/sampling s >= 0.9 x; not
  judged where neither side mixed (median over reruns of the max R-hat above 1.01 on both:
  the centred funnel), since an ESS of unmixed chains measures no speed.

``auto`` is formulang with every default (``Model(formula, data)``), judged against the better
of the two hand-written parameterisations, both run in the same loop.

Run it with formulang's environment (``/work/venv/bin/python``). Results:
``bench/results/paired.json`` and ``paired.md`` (rows merge by (model, parameterisation)).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE / "contenders"))

from common import sampler_figures, setup_jax  # noqa: E402

RESULTS = HERE / "results"
MODELS = ("radon_intercept", "radon_slope", "sleepstudy", "cbpp", "simulated_many")
REPARAMS = ("centered", "noncentered", "auto")
TARGET = 0.9
RHAT_MIXED = 1.01


def formulang_side(model_name: str, reparam: str, draws: int):
    """``fit(seed)`` for formulang's model of the same parameterisation, effects sampled (for
    "auto": ``Model(formula, data)``, every default), and the model. ``fit`` samples and
    returns a function computing the figures (so the clock can stop first)."""
    import formulang as fl
    from models import MODELS as FORMULAS
    from models import load

    options = {} if reparam == "auto" else {"reparam": reparam, "collapse": False}
    model = fl.Model(FORMULAS[model_name], load(model_name).data, **options)
    names = ["b", *(g.sites.sd for g in model.plan.groups),
             *(g.sites.cor for g in model.plan.groups if g.correlated_pairs),
             *model.plan.aux]

    def fit(seed: int):
        result = model.fit(draws=draws, tune=draws, chains=4, seed=seed, progress=False)

        def figures() -> dict:
            posterior = result.posterior.posterior
            present = [k for k in names if k in posterior]
            return {**sampler_figures({k: posterior[k].values for k in present},
                                      result.stats["diverging"], present),
                    **work_figures(result.stats["num_steps"], result.run.warmup_gradients)}

        return figures

    return fit, model


def handwritten_side(model_name: str, reparam: str, draws: int, centre_on_intercept: bool):
    from handwritten_model import build

    model = build(model_name, reparam, draws, centre_on_intercept=centre_on_intercept)

    def fit(seed: int):
        samples, diverging, steps, warmup = model.fit(seed)
        return lambda: {**sampler_figures(samples, diverging, model.names),
                        **work_figures(steps, warmup)}

    return fit


def work_figures(num_steps, warmup_gradients) -> dict:
    """Leapfrog steps (gradient evaluations) per draw, all of them in the sampling phase, and
    the warm-up's per chain: the sampler's work, which the machine's speed does not change.
    ``warmup_gradients``: per chain."""
    import numpy as np

    steps = np.asarray(num_steps)
    return {"steps_per_draw": float(steps.mean()), "sampling_gradients": int(steps.sum()),
            "warmup_gradients_per_chain": float(np.mean(warmup_gradients))}


def timed(fit, seed: int) -> dict:
    """Seconds of the fit alone; its figures (ESS) are computed after the clock stops."""
    start = time.perf_counter()
    figures = fit(seed)
    seconds = time.perf_counter() - start
    return {"seed": seed, "seconds": seconds, **figures()}


def pair(model_name: str, reparam: str, draws: int, reruns: int) -> dict:
    """One model and parameterisation; "auto" (formulang's defaults) is judged against the
    better of both hand-written parameterisations, measured in the same loop."""
    hand = ("centered", "noncentered") if reparam == "auto" else (reparam,)
    fl_fit, fl_model = formulang_side(model_name, reparam, draws)
    # the same parameterisation: centred on the intercept where formulang's plan is
    on_intercept = any(g.intercept_loc is not None for g in fl_model.plan.groups)
    sides = {f"hand-written {h}": handwritten_side(model_name, h, draws, on_intercept)
             for h in hand}
    sides["formulang"] = fl_fit
    first_fit_seconds = {}
    for name, fit in sides.items():  # first fits compile; not counted
        start = time.perf_counter()
        fit(1)
        first_fit_seconds[name] = time.perf_counter() - start
    runs = {name: [] for name in sides}
    names = list(sides)
    for i, seed in enumerate(range(2, 2 + reruns)):
        for name in names[i % len(names):] + names[:i % len(names)]:  # rotating order
            runs[name].append(timed(sides[name], seed))
    row = {"model": model_name, "reparam": reparam, "draws": draws, "reruns": reruns,
           "first_fit_seconds": first_fit_seconds, "sides": {}}
    for name, rr in runs.items():
        row["sides"][name] = {
            "ess_per_sampling_second": statistics.median(
                r["min_bulk_ess"] / r["seconds"] for r in rr),
            "median_seconds": statistics.median(r["seconds"] for r in rr),
            "median_min_bulk_ess": statistics.median(r["min_bulk_ess"] for r in rr),
            "fastest_seconds": min(r["seconds"] for r in rr),
            "steps_per_draw": statistics.median(r["steps_per_draw"] for r in rr),
            "warmup_gradients_per_chain": statistics.median(
                r["warmup_gradients_per_chain"] for r in rr),
            "ess_per_1000_gradients": statistics.median(
                1000 * r["min_bulk_ess"] / r["sampling_gradients"] for r in rr),
            "divergences": sum(r["divergences"] for r in rr),
            "max_rhat": max(r["max_rhat"] for r in rr),
            "runs": rr}
    fl_side = row["sides"]["formulang"]
    best = max((n for n in row["sides"] if n != "formulang"),
               key=lambda n: row["sides"][n]["ess_per_sampling_second"])
    row["reference"] = best
    ref = row["sides"][best]
    row["ess_per_sampling_second_ratio"] = (fl_side["ess_per_sampling_second"]
                                            / ref["ess_per_sampling_second"])
    row["seconds_ratio"] = fl_side["median_seconds"] / ref["median_seconds"]
    row["fastest_seconds_ratio"] = fl_side["fastest_seconds"] / ref["fastest_seconds"]
    row["ess_per_gradient_ratio"] = (fl_side["ess_per_1000_gradients"]
                                     / ref["ess_per_1000_gradients"])
    return row


def draws_text(result: dict) -> str:
    draws = sorted({r["draws"] for r in result["rows"]})
    return " or ".join(f"{d} warm-up + {d} draws" for d in draws)


def target_verdict(ratio: float, rhat_formulang: float, rhat_reference: float) -> str:
    """Target met or missed; not judged where both sides' chains did not mix (max R-hat above
    1.01: an ESS is then no measure of speed, as in the centred funnel). bench_model.py judges
    its rows with this too."""
    if rhat_formulang > RHAT_MIXED and rhat_reference > RHAT_MIXED:
        return (f"not judged: neither mixed (max R-hat {rhat_reference:.3f}, "
                f"{rhat_formulang:.3f})")
    return "met" if ratio >= TARGET else "MISSED"


def verdict(row: dict) -> str:
    """:func:`target_verdict` of a paired row, on the median max R-hat over its reruns."""
    rhat = {name: statistics.median(r["max_rhat"] for r in side["runs"])
            for name, side in row["sides"].items()}
    return target_verdict(row["ess_per_sampling_second_ratio"], rhat["formulang"],
                          rhat[row["reference"]])


def _figure(figures: dict, key: str, spec: str = ".2f") -> str:
    """A figure of the table; rows from before it was recorded show a dash."""
    return format(figures[key], spec) if key in figures else "-"


def _warmup(side: dict) -> str:
    value = side.get("warmup_gradients_per_chain")
    return "-" if value is None else f"{value / 1000:.0f}"


def markdown(result: dict) -> str:
    m = result["machine"]
    lines = ["# What the lowering costs: formulang vs hand-written NumPyro, one process", "",
             f"Machine: {m['cpu']}, {m['cores']} cores; Python {m['python']}. Versions: " +
             ", ".join(f"{k} {x}" for k, x in result["versions"].items()) + ".",
             "Produced by `bench/bench_paired.py` (its docstring defines every figure): both "
             "models compiled in one process, reruns alternating with the same seeds, 4 chains "
             f"x ({draws_text(result)}); effects sampled with the named parameterisation in "
             "both; formulang 'auto' is `Model(formula, data)` with every default (on Gaussian "
             "models the collapsed path), judged against the better hand-written model.", "",
             "| model | formulang | hand-written | reruns | hand-written ESS/sampling s | "
             "formulang ESS/sampling s | ratio | seconds per fit (hand-written, formulang) | "
             "seconds ratio | fastest seconds ratio | steps per draw (hand-written, "
             "formulang) | warm-up gradients per chain, thousands (hand-written, formulang) | "
             "ESS per gradient ratio | median min ESS (hand-written, formulang) | "
             "divergences (hand-written, formulang) | target >= 0.9 |",
             "|---|---|---|---:|---:|---:|---:|---|---:|---:|---|---|---:|---|---|---|"]
    for r in result["rows"]:
        hw, fl = r["sides"][r["reference"]], r["sides"]["formulang"]
        ratio = r["ess_per_sampling_second_ratio"]
        lines.append(
            f"| {r['model']} | {r['reparam']} | {r['reference']} | {r['reruns']} | "
            f"{hw['ess_per_sampling_second']:.1f} | {fl['ess_per_sampling_second']:.1f} | "
            f"{ratio:.2f} | {hw['median_seconds']:.2f}, {fl['median_seconds']:.2f} | "
            f"{r['seconds_ratio']:.2f} | {_figure(r, 'fastest_seconds_ratio')} | "
            f"{_figure(hw, 'steps_per_draw', '.1f')}, {_figure(fl, 'steps_per_draw', '.1f')} | "
            f"{_warmup(hw)}, {_warmup(fl)} | {_figure(r, 'ess_per_gradient_ratio')} | "
            f"{hw['median_min_bulk_ess']:.0f}, {fl['median_min_bulk_ess']:.0f} | "
            f"{hw['divergences']}, {fl['divergences']} | "
            f"{verdict(r)} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models", default=",".join(MODELS))
    parser.add_argument("--reparams", default=",".join(REPARAMS))
    parser.add_argument("--reruns", type=int, default=6)
    parser.add_argument("--draws", type=int, default=1000)
    args = parser.parse_args()
    models, reparams = args.models.split(","), args.reparams.split(",")
    for name in models:
        if name not in MODELS:
            raise SystemExit(f"unknown model {name!r}; models: {', '.join(MODELS)}")
    for name in reparams:
        if name not in REPARAMS:
            raise SystemExit(f"unknown parameterisation {name!r}: {', '.join(REPARAMS)}")
    from bench_model import machine, versions

    json_path, md_path = RESULTS / "paired.json", RESULTS / "paired.md"
    old = json.loads(json_path.read_text())["rows"] if json_path.exists() else []
    rows = {(r["model"], r["reparam"]): r for r in old}
    for model_name in models:
        for reparam in reparams:
            row = pair(model_name, reparam, args.draws, args.reruns)
            print(f"{model_name:16s} {reparam:12s} ESS/sampling s ratio "
                  f"{row['ess_per_sampling_second_ratio']:.2f}  seconds ratio "
                  f"{row['seconds_ratio']:.2f}", flush=True)
            rows[(model_name, reparam)] = row
            order = {m: i for i, m in enumerate(MODELS)}
            result = {"machine": machine(),
                      "versions": {k: v for k, v in versions().items() if v != "not installed"},
                      "rows": sorted(rows.values(), key=lambda r: (
                          order[r["model"]], REPARAMS.index(r["reparam"])))}
            RESULTS.mkdir(exist_ok=True)
            json_path.write_text(json.dumps(result, indent=2) + "\n")
            md_path.write_text(markdown(result) + "\n")
    print(markdown(result))


if __name__ == "__main__":
    setup_jax(None)  # the host devices formulang asks for, before JAX starts
    main()
