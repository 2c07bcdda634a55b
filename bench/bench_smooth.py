"""Benchmark (issue 19): formulang against bambi + nutpie on smooth terms, each fit in a fresh
process: a regression spline with a group term and a Hilbert-space Gaussian process.

    /work/venv-bench/bin/python bench/bench_smooth.py \\
        --jax-python /work/venv/bin/python            # the full run: 4 x (1000 + 1000)
    /work/venv-bench/bin/python bench/bench_smooth.py --jax-python /work/venv/bin/python \\
        --chains 2 --draws 100 --reruns 0 --out /tmp/smooth_tiny.json   # a smoke run
    python bench/bench_smooth.py --table              # re-render smooth.md from smooth.json

As ``bench_dpar.py`` (same interpreters, cold and warm processes on one new cache directory,
the same figures), on ``contenders/smooth_models.py``'s models: ``bs_group`` (``y ~ bs(x, df =
6) + (1 | g)``, 500 rows) and ``gp_hsgp`` (formulang's ``gp(x, k = 20, c = 1.25)`` against
bambi's ``hsgp(x, m = 20, L = 1.25, scale = False)``, 300 rows: the same approximation, see
that module for why bambi is given ``L`` rather than ``c``). Unlike ``bench_dpar.py``, bambi
gets formulang's default priors (read from formulang's own prior table in a first process),
so that both sample one posterior and the speed compared is of the same model; the table
checks it: the posterior-mean curve at 10 grid points and ``sigma`` of each bambi run against
formulang's, in units of the posterior SD (``max |z|``; Monte Carlo error alone gives about
0.1 with ~1000 effective draws each).

ESS: min bulk ESS over the parameters both share (coefficients, SDs, length-scale, sigma)
and the curve at the grid. Results: ``bench/results/smooth.json`` and ``smooth.md``, merged by
(model, contender, cache).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import bench_dpar  # noqa: E402

RESULTS = HERE / "results"
MODELS = ["bs_group", "gp_hsgp"]
CONTENDERS = {"formulang": ("smooth_formulang_fit.py", "auto"),
              "bambi-nutpie": ("smooth_bambi_fit.py", "nutpie"),
              "bambi-pymc": ("smooth_bambi_fit.py", "pymc")}
DEFAULT_CONTENDERS = ("formulang", "bambi-nutpie")


def formulang_priors(model: str) -> str:
    """formulang's default prior table of ``model``, as JSON (bambi's priors)."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        filter(None, [str(HERE.parent), os.environ.get("PYTHONPATH")]))}
    out = subprocess.run([bench_dpar.JAX_PYTHON, "smooth_formulang_fit.py", model, "priors",
                          "-", "0", "0"], capture_output=True, text=True, check=True,
                         cwd=bench_dpar.CONTENDER_DIR, env=env).stdout
    return next(x for x in out.splitlines() if x.startswith("PRIORS "))[len("PRIORS "):]


def agreement(row: dict, ours: dict) -> dict:
    """max |difference| of the curve's posterior means, and sigma's, over the pooled posterior
    SD (a z score of the difference between two posterior means)."""
    a, b = np.asarray(row["curve_mean"]), np.asarray(ours["curve_mean"])
    sd = np.sqrt((np.asarray(row["curve_sd"]) ** 2 + np.asarray(ours["curve_sd"]) ** 2) / 2)
    sigma_sd = np.sqrt((row["sigma_sd"] ** 2 + ours["sigma_sd"] ** 2) / 2)
    return {"curve_max_z": float(np.max(np.abs(a - b) / sd)),
            "sigma_z": float(abs(row["sigma_mean"] - ours["sigma_mean"]) / sigma_sd)}


def markdown(result: dict) -> str:
    s = result["settings"]
    lines = [f"Smooth terms, formulang vs bambi (formulang's priors in both): {s['chains']} "
             f"chains x ({s['draws']} warm-up + {s['draws']} draws); {result['machine']['cpu']}"
             f", {result['machine']['cores']} cores"
             + (", shared with other jobs (timings noisy; ratios are within one run)"
                if s.get("shared_machine") else "") + ".", "",
             "| model | contender | cache | wall s | min bulk ESS | max R-hat | ESS / wall s "
             "| ESS / sampling s | formulang's ESS / wall s over this | curve, sigma vs "
             "formulang (max z) |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    rows = result["runs"]
    ours = {(r["model"], r["cache"]): r for r in rows
            if r["key"] == "formulang" and r["status"] == "ok"}
    for r in rows:
        if r["status"] != "ok":
            reason = r.get("reason", "").splitlines()[-1][:80] if r.get("reason") else ""
            lines.append(f"| {r['model']} | {r['key']} | {r['cache']} | {r['status']}: "
                         f"{reason} | | | | | | |")
            continue
        mine = ours.get((r["model"], r["cache"]))
        ratio, agree = "", ""
        if mine and r["key"] != "formulang":
            ratio = f"{mine['ess_per_wall_second'] / r['ess_per_wall_second']:.1f}x"
            z = agreement(r, mine)
            agree = f"{z['curve_max_z']:.2f}, {z['sigma_z']:.2f}"
        per_sampling = r.get("ess_per_sampling_second")
        lines.append(f"| {r['model']} | {r['key']} | {r['cache']} | {r['wall_seconds']:.1f} | "
                     f"{r['min_bulk_ess']:.0f} | {r['max_rhat']:.3f} | "
                     f"{r['ess_per_wall_second']:.1f} | "
                     f"{'' if per_sampling is None else f'{per_sampling:.1f}'} | {ratio} | "
                     f"{agree} |")
    return "\n".join(lines)


def main(argv=None) -> None:
    """BENCH_SHARED_MACHINE=1 marks a run made while other jobs shared the machine."""
    def priors_for(model: str) -> None:  # the contenders read formulang's default priors
        os.environ["SMOOTH_PRIORS"] = formulang_priors(model)

    bench_dpar.run_benchmark(argv, MODELS, CONTENDERS, DEFAULT_CONTENDERS,
                             RESULTS / "smooth.json", markdown, before_model=priors_for,
                             extra_settings={"shared_machine": bool(os.environ.get(
                                 "BENCH_SHARED_MACHINE"))},
                             description=__doc__.split("\n")[0])


if __name__ == "__main__":
    main()
