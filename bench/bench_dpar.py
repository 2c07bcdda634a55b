"""Benchmark (issue 17): formulang against bambi + nutpie on distributional models, each fit in a
fresh process.

    /work/venv-bench/bin/python bench/bench_dpar.py \\
        --jax-python /work/venv/bin/python            # the full run: every model, 4 x (1000 + 1000)
    /work/venv-bench/bin/python bench/bench_dpar.py --models hetero_gaussian \\
        --chains 1 --draws 100 --reruns 0 --out /tmp/dpar_tiny.json   # a smoke run (~2 min)
    python bench/bench_dpar.py --table                # re-render dpar.md from dpar.json

Run it with the bench interpreter, where bambi, PyMC and nutpie are installed (``python3 -m venv
/work/venv-bench && /work/venv-bench/bin/pip install bambi nutpie "matplotlib<3.11" -e .``:
bambi 0.17 needs arviz-plots 0.8, which imports ``matplotlib.style.core``, gone in matplotlib
3.11; without the pin ``import arviz`` fails there); bambi runs with
``sys.executable``, formulang with ``--jax-python`` (default: the same interpreter; pass
formulang's own environment to keep bambi's dependencies out of its process), always with this
checkout's ``formulang`` first on ``PYTHONPATH``. As ``bench_model.py``, which this follows.

Models (``contenders/dpar_models.py``), the same data for both: ``hetero_gaussian``
(``y ~ x + (1 | g); sigma ~ x``, the brms fixture's 300 rows, 20 groups), ``zip_zi_x``
(``y ~ x; zi ~ x``, zero-inflated Poisson, 300 rows), and the same two models on 5,000
simulated rows (``hetero_sim``, 50 groups; ``zip_sim``). Contenders: ``formulang``
(``fl.Model(formula, data, family=...)``, every default), ``bambi-nutpie`` (bambi's defaults,
``inference_method="nutpie"``) and ``bambi-pymc`` (PyMC's NUTS; not in the default set).
Each its own default priors: the posteriors differ slightly, the figures are about sampling.

Cold and warm: every contender runs twice in fresh processes on one new, empty cache
directory: "cold" compiles and fills it, "warm" finds it filled (formulang's compiled-program
cache; PyTensor's and numba's for bambi). Figures per row:

- wall seconds: process start to the printed summary, first fit (compiling) included;
- min bulk ESS (and max R-hat) over the population coefficients of every formula and the
  group SDs (bambi: ``Intercept``, ``x``, ``sigma_*`` / ``psi_*``, ``1|g_sigma``);
- ESS per wall second (first fit's ESS / wall seconds), the issue's figure;
- ESS per sampling second: formulang refits RERUNS times (seeds 2..) in the warm process and
  takes the median over reruns of ESS / seconds; bambi the sampler's ``sampling_time``.

Target (issue 17): formulang's ESS per wall second >= 3 x bambi + nutpie's on the
heteroscedastic and ZIP models (warm against warm). The table says where it is missed.
Results: ``bench/results/dpar.json`` and ``dpar.md`` (``--out`` elsewhere: a smoke run must not
overwrite the committed figures), merged by (model, contender, cache).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
CONTENDER_DIR = HERE / "contenders"
sys.path.insert(0, str(HERE))
from bench_model import machine, versions  # noqa: E402

RESULTS = HERE / "results"
MODELS = ["hetero_gaussian", "zip_zi_x", "hetero_sim", "zip_sim"]
CONTENDERS = {"formulang": ("dpar_formulang_fit.py", "auto"),
              "bambi-nutpie": ("dpar_bambi_fit.py", "nutpie"),
              "bambi-pymc": ("dpar_bambi_fit.py", "pymc")}
DEFAULT_CONTENDERS = ("formulang", "bambi-nutpie")
TARGET = 3.0  # formulang's ESS per wall second / bambi + nutpie's, warm
JAX_PYTHON = sys.executable


def run_contender(key: str, model: str, cache_dir: str, cache: str, draws: int, chains: int,
                  reruns: int, timeout: float) -> dict:
    """One fresh process; its RESULT line as a row, or a row saying why there is none."""
    script, variant = CONTENDERS[key]
    python = JAX_PYTHON if key == "formulang" else sys.executable
    cmd = [python, str(CONTENDER_DIR / script), model, variant, cache_dir, str(draws),
           str(reruns), str(chains)]
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    if key == "formulang":  # this checkout's formulang, whatever the interpreter has installed
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(HERE.parent),
                                                          env.get("PYTHONPATH")]))
    row = {"model": model, "key": key, "cache": cache, "draws": draws, "chains": chains}
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            cwd=CONTENDER_DIR, env=env, start_new_session=True)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)  # the whole group: PyMC's workers too
        proc.communicate()
        return {**row, "contender": key, "status": "timeout",
                "reason": f"ran past the {timeout:.0f} s timeout",
                "process_seconds": time.perf_counter() - start}
    line = next((x for x in out.splitlines() if x.startswith("RESULT ")), None)
    if line is None:
        return {**row, "contender": key, "status": "failed",
                "reason": (err or out).strip()[-1500:],
                "process_seconds": time.perf_counter() - start}
    result = json.loads(line[len("RESULT "):])
    result["ess_per_wall_second"] = result["min_bulk_ess"] / result["wall_seconds"]
    return {**row, **result, "process_seconds": time.perf_counter() - start}


def run_pair(key: str, model: str, draws: int, chains: int, reruns: int,
             timeout: float) -> list[dict]:
    """Cold then warm process on one new cache directory; reruns in the warm one."""
    with tempfile.TemporaryDirectory(prefix="bench-dpar-cache-") as cache_dir:
        cold = run_contender(key, model, cache_dir, "cold", draws, chains, 0, timeout)
        print(summary_line(cold), flush=True)
        if cold["status"] != "ok":
            warm = {**{k: cold[k] for k in ("model", "key", "draws", "chains", "contender")},
                    "cache": "warm", "status": "skipped",
                    "reason": f"the cold run: {cold['status']}"}
        else:
            warm = run_contender(key, model, cache_dir, "warm", draws, chains,
                                 reruns if key == "formulang" else 0, timeout)
        print(summary_line(warm), flush=True)
    return [cold, warm]


def summary_line(row: dict) -> str:
    text = f"{row['model']:16s} {row['key']:13s} {row['cache']:4s} {row['status']:8s}"
    if row["status"] == "ok":
        text += (f" wall {row['wall_seconds']:6.1f} s  ESS {row['min_bulk_ess']:6.0f}  "
                 f"ESS/wall s {row['ess_per_wall_second']:7.1f}  R-hat {row['max_rhat']:.3f}")
    elif row.get("reason"):
        text += " " + row["reason"].splitlines()[-1][:150]
    return text


def merge(old_rows: list[dict], new_rows: list[dict]) -> list[dict]:
    by_key = {(r["model"], r["key"], r["cache"]): r for r in old_rows}
    by_key.update({(r["model"], r["key"], r["cache"]): r for r in new_rows})
    order = {m: i for i, m in enumerate(MODELS)}
    keys = {k: i for i, k in enumerate(CONTENDERS)}
    return sorted(by_key.values(), key=lambda r: (order.get(r["model"], 99),
                                                   keys.get(r["key"], 99), r["cache"]))


def markdown(result: dict) -> str:
    s = result["settings"]
    lines = [f"Distributional models, formulang vs bambi: {s['chains']} chains x "
             f"({s['draws']} warm-up + {s['draws']} draws); {result['machine']['cpu']}, "
             f"{result['machine']['cores']} cores.", "",
             "| model | contender | cache | wall s | min bulk ESS | max R-hat | ESS / wall s "
             "| ESS / sampling s | formulang's ESS / wall s over this |",
             "|---|---|---|---|---|---|---|---|---|"]
    rows = result["runs"]
    ours = {(r["model"], r["cache"]): r for r in rows
            if r["key"] == "formulang" and r["status"] == "ok"}
    for r in rows:
        if r["status"] != "ok":
            lines.append(f"| {r['model']} | {r['key']} | {r['cache']} | {r['status']}: "
                         f"{r.get('reason', '').splitlines()[-1][:80] if r.get('reason') else ''}"
                         f" | | | | | |")
            continue
        mine = ours.get((r["model"], r["cache"]))
        ratio = (f"{mine['ess_per_wall_second'] / r['ess_per_wall_second']:.1f}x"
                 if mine and r["key"] != "formulang" else "")
        if ratio and r["key"] == "bambi-nutpie" and r["cache"] == "warm":
            ratio += " (target >= 3x: " + ("met" if mine["ess_per_wall_second"] >=
                                           TARGET * r["ess_per_wall_second"] else "MISSED") + ")"
        per_sampling = r.get("ess_per_sampling_second")
        lines.append(f"| {r['model']} | {r['key']} | {r['cache']} | {r['wall_seconds']:.1f} | "
                     f"{r['min_bulk_ess']:.0f} | {r['max_rhat']:.3f} | "
                     f"{r['ess_per_wall_second']:.1f} | "
                     f"{'' if per_sampling is None else f'{per_sampling:.1f}'} | {ratio} |")
    return "\n".join(lines)


def select(names: str | None, known, default) -> list[str]:
    if not names:
        return list(default)
    chosen = names.split(",")
    unknown = [n for n in chosen if n not in known]
    if unknown:
        raise SystemExit(f"unknown {', '.join(unknown)}; known: {', '.join(known)}")
    return chosen


def main(argv=None) -> None:
    run_benchmark(argv, MODELS, CONTENDERS, DEFAULT_CONTENDERS, RESULTS / "dpar.json", markdown)


def run_benchmark(argv, models_known, contenders_known, default_contenders, out: Path, render,
                  before_model=None, extra_settings=None, description: str = "") -> None:
    """The command line of this benchmark and of those that reuse its runner
    (``bench_smooth.py``): parse ``argv``, run every chosen contender on every chosen model
    (``before_model(model)`` first), merge the rows into ``out`` and its Markdown (``render``)
    after each model, so that a stopped run keeps what it measured."""
    global JAX_PYTHON, CONTENDERS, MODELS
    ap = argparse.ArgumentParser(description=description or __doc__.split("\n")[0])
    ap.add_argument("--models", help=f"comma-separated, of: {', '.join(models_known)}")
    ap.add_argument("--contenders", help=f"comma-separated, of: {', '.join(contenders_known)} "
                                         f"(default: {', '.join(default_contenders)})")
    ap.add_argument("--draws", type=int, default=1000, help="warm-up and draws per chain")
    ap.add_argument("--chains", type=int, default=4)
    ap.add_argument("--reruns", type=int, default=3, help="formulang's compiled reruns (3)")
    ap.add_argument("--timeout", type=float, default=900.0, help="seconds per process")
    ap.add_argument("--jax-python", default=sys.executable,
                    help="interpreter for formulang (default: this one)")
    ap.add_argument("--out", type=Path, default=out,
                    help="results JSON (the Markdown table next to it, .md)")
    ap.add_argument("--table", action="store_true", help="re-render the Markdown only")
    args = ap.parse_args(argv)
    JAX_PYTHON, CONTENDERS, MODELS = args.jax_python, contenders_known, models_known
    md_path = args.out.with_suffix(".md")
    if args.table:
        result = json.loads(args.out.read_text())
        md_path.write_text(render(result) + "\n")
        print(render(result))
        return
    models = select(args.models, models_known, models_known)
    contenders = select(args.contenders, contenders_known, default_contenders)
    started = time.perf_counter()
    for model in models:
        if before_model is not None:
            before_model(model)
        new_rows = []
        for key in contenders:
            new_rows += run_pair(key, model, args.draws, args.chains, args.reruns,
                                 args.timeout)
        old = json.loads(args.out.read_text()) if args.out.exists() else {}
        result = {"machine": machine(), "versions": versions(),
                  "settings": {"chains": args.chains, "draws": args.draws, "tune": args.draws,
                               "reruns": args.reruns, "timeout_seconds": args.timeout,
                               "bambi_python": sys.executable, "jax_python": JAX_PYTHON,
                               **(extra_settings or {})},
                  "runs": merge(old.get("runs", []), new_rows)}
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=1))  # after each model: a stopped run
        md_path.write_text(render(result) + "\n")          # keeps what it measured
    print(render(result))
    print(f"\n{time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
