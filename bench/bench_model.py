"""Benchmark: formulang against hand-written NumPyro, each contender in a fresh process.

    python bench/bench_model.py [--quick]      (--table: re-render model.md from model.json)

For radon (1 | county), radon (1 + floor | county), sleepstudy (Days | Subject) and a simulated
model with 100 rows per group, 4 chains x (1000 warm-up + 1000 draws): formulang with each fixed
parameterisation and with "auto", and the hand-written model of the same fixed
parameterisation, each with a cold compilation cache (empty: compiles and fills it) and then
warm.
Figures per run: wall seconds (process start to summary), fit seconds (first fit, compile
included), sampling seconds (an identical second fit, compiled), min bulk ESS, ESS per sampling
second, divergences, max R-hat. Ratios compare formulang with the hand-written model of the same
parameterisation in the same run. Results: bench/results/model.json and model.md.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
CONTENDERS = HERE / "contenders"
TARGET = 0.9  # formulang's ESS per sampling second / the hand-written model's
MODELS = ["radon_intercept", "radon_slope", "sleepstudy", "simulated_many"]


def run(script: str, model: str, reparam: str, cache: str, state: str) -> dict:
    cmd = [sys.executable, str(CONTENDERS / script), model, reparam, cache]
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    out = subprocess.run(cmd, capture_output=True, text=True, cwd=CONTENDERS, env=env)
    line = next((l for l in out.stdout.splitlines() if l.startswith("RESULT ")), None)
    if line is None:
        raise RuntimeError(f"{script} {model} {reparam} failed:\n{out.stderr[-3000:]}")
    result = json.loads(line[len("RESULT "):])
    result["cache"] = state
    result["ess_per_sampling_second"] = result["min_bulk_ess"] / result["sampling_seconds"]
    return result


def main() -> None:
    if "--table" in sys.argv:  # re-render the Markdown table from the last results
        rows = json.loads((HERE / "results" / "model.json").read_text())["runs"]
        (HERE / "results" / "model.md").write_text(markdown(rows) + "\n")
        print(markdown(rows))
        return
    quick = "--quick" in sys.argv
    models = MODELS[:1] if quick else MODELS
    rows = []
    for model in models:
        for reparam in ("noncentered", "centered", "auto"):
            scripts = ["formulang_fit.py"] + ([] if reparam == "auto" else ["handwritten.py"])
            for script in scripts:
                with tempfile.TemporaryDirectory() as cache:
                    rows.append(run(script, model, reparam, cache, "cold"))
                    rows.append(run(script, model, reparam, cache, "warm"))
    result = {"machine": f"{platform.machine()}, {os.cpu_count()} cores",
              "python": platform.python_version(), "runs": rows}
    (HERE / "results").mkdir(exist_ok=True)
    (HERE / "results" / "model.json").write_text(json.dumps(result, indent=2) + "\n")
    table = markdown(rows)
    (HERE / "results" / "model.md").write_text(table + "\n")
    print(table)


def markdown(rows: list[dict]) -> str:
    lines = ["| model | contender | cache | wall s | fit s | sampling s | min bulk ESS | "
             "ESS/sampling s | ratio to hand-written | divergences | max R-hat |",
             "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        ref = next((h for h in rows if h["model"] == r["model"] and h["cache"] == r["cache"]
                    and h["contender"].startswith("hand") and
                    h["contender"].split("(")[1] == r["contender"].split("(")[1]), None)
        ratio = ""
        if ref and not r["contender"].startswith("hand"):
            value = r["ess_per_sampling_second"] / ref["ess_per_sampling_second"]
            ratio = f"{value:.2f}" + (" (below the 0.9 target)" if value < TARGET else "")
        lines.append(f"| {r['model']} | {r['contender']} | {r['cache']} | "
                     f"{r['wall_seconds']:.1f} | {r['fit_seconds']:.1f} | "
                     f"{r['sampling_seconds']:.1f} | {r['min_bulk_ess']:.0f} | "
                     f"{r['ess_per_sampling_second']:.0f} | {ratio} | {r['divergences']} | "
                     f"{r['max_rhat']:.3f} |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
