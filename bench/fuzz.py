"""Fuzz the parser with N generated formulas (issue 21) and record what happened.

    python bench/fuzz.py                 # 10^6 formulas
    python bench/fuzz.py --jobs 2        # the same count split over 2 processes
    python bench/fuzz.py --n 50000 --seed 1
    python bench/fuzz.py --jobs 2 --collect   # a stopped run: what its checkpoints counted

The generator is the property test's (tests/parse/fuzz_formulas.py): random derivations of
the grammar with hostile leaves, real formulas from the corpus mutated, and expansion bombs.
Each formula is parsed uncached with eval/exec/compile/open/os.system/subprocess and absolute
imports refused, and every accepted formula must print as text that parses back to it and
serialise exactly. Counted: formulas, accepted, refused (FormulaError), any other exception or
failed round trip (must be 0), parses over 1 s (must be 0), attempts to run something or a
sentinel file created (side effects, must be 0), seconds. Results go to bench/results/fuzz.json.

"Over 1 s" is judged on the parsing thread's CPU time, so that a machine busy with other work
cannot make a fast parse look slow (and a slow parse cannot hide); the slowest wall time is
recorded next to it.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import platform
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "parse"))
import fuzz_formulas  # noqa: E402

import formulang  # noqa: E402
from formulang.parse import parse as cached_parse  # noqa: E402

SLOW = 1.0


def _commit() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, check=True,
                              capture_output=True, text=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


COMMIT = _commit()  # the parser fuzzed is the one imported now, at the start


def _stream(seed: int, worker: int) -> random.Random:
    # Worker 0 of any run draws the same formulas as a one-process run with that seed.
    return random.Random(seed if worker == 0 else f"{seed}/{worker}")


def _fuzz(args: tuple[int, int, int, str]) -> dict:
    n, seed, worker, checkpoint = args
    parse = cached_parse.__wrapped__
    fuzz_formulas.warm_up(parse)
    rng = _stream(seed, worker)
    counts = {"formula": 0, "error": 0, "crash": 0}
    crashes: list[dict] = []
    slow: list[dict] = []
    side_effects = n_slow = n_slow_wall = 0
    slowest = slowest_wall = 0.0
    with tempfile.TemporaryDirectory() as tmp:
        sentinel = Path(tmp) / "pwned"
        start = time.perf_counter()
        for i in range(n):
            text = fuzz_formulas.formula(rng).replace(fuzz_formulas.SENTINEL_NAME, str(sentinel))
            calls: list[str] = []
            outcome = fuzz_formulas.check(parse, text, calls)
            counts[outcome.kind] += 1
            slowest = max(slowest, outcome.cpu_seconds)
            slowest_wall = max(slowest_wall, outcome.seconds)
            if outcome.kind == "crash" and len(crashes) < 20:
                crashes.append({"formula": text[:500], "error": outcome.detail[:500]})
            n_slow += outcome.cpu_seconds > SLOW
            n_slow_wall += outcome.seconds > SLOW
            if outcome.cpu_seconds > SLOW and len(slow) < 20:
                slow.append({"formula": text[:500], "cpu_seconds": round(outcome.cpu_seconds, 3),
                             "seconds": round(outcome.seconds, 3)})
            if calls or sentinel.exists():
                side_effects += 1
                sentinel.unlink(missing_ok=True)
            if (i + 1) % 10000 == 0 or i + 1 == n:
                part = {"formulas": i + 1, "counts": counts, "crashes": crashes, "slow": slow,
                        "side_effects": side_effects, "n_slow": n_slow,
                        "n_slow_wall": n_slow_wall, "slowest": slowest,
                        "slowest_wall": slowest_wall, "seconds": time.perf_counter() - start}
                Path(checkpoint).write_text(json.dumps(part))  # a stopped run keeps its count
                print(f"[{worker}] {i + 1:>8} formulas, {counts}, "
                      f"{time.perf_counter() - start:.0f} s", file=sys.stderr, flush=True)
    return part


def _checkpoints(out: Path, jobs: int) -> list[str]:
    return [str(out.with_name(f"{out.stem}.part{k}of{jobs}.json")) for k in range(jobs)]


def run(n: int, seed: int, jobs: int = 1, out: Path = Path("fuzz.json")) -> dict:
    shares = [n // jobs + (k < n % jobs) for k in range(jobs)]
    checkpoints = _checkpoints(out, jobs)
    start = time.perf_counter()
    if jobs == 1:
        parts = [_fuzz((n, seed, 0, checkpoints[0]))]
    else:
        with multiprocessing.get_context("spawn").Pool(jobs) as pool:
            parts = pool.map(_fuzz, [(share, seed, k, checkpoints[k])
                                     for k, share in enumerate(shares)])
    for path in checkpoints:
        Path(path).unlink(missing_ok=True)
    return summarise(parts, n, seed, jobs, time.perf_counter() - start)


def collect(out: Path, n: int, seed: int, jobs: int) -> dict:
    """The result of a run that was stopped: what its workers' checkpoints counted."""
    parts = [json.loads(Path(p).read_text()) for p in _checkpoints(out, jobs)
             if Path(p).exists()]
    if not parts:
        raise SystemExit(f"no checkpoints next to {out}")
    seconds = max(p["seconds"] for p in parts)
    return summarise(parts, n, seed, jobs, seconds)


def summarise(parts: list[dict], n: int, seed: int, jobs: int, seconds: float) -> dict:
    counts = {kind: sum(p["counts"][kind] for p in parts) for kind in parts[0]["counts"]}
    done = sum(p["formulas"] for p in parts)
    return {
        "formulas": done,
        "formulas_asked": n,
        "complete": done == n,
        "seed": seed,
        "jobs": jobs,
        "accepted": counts["formula"],
        "refused_with_formula_error": counts["error"],
        "other_exceptions": counts["crash"],
        "parses_over_1s": sum(p["n_slow"] for p in parts),
        "parses_over_1s_wall_clock": sum(p["n_slow_wall"] for p in parts),
        "side_effects": sum(p["side_effects"] for p in parts),
        "slowest_parse_cpu_seconds": round(max(p["slowest"] for p in parts), 4),
        "slowest_parse_wall_seconds": round(max(p["slowest_wall"] for p in parts), 4),
        "seconds": round(seconds, 1),
        "examples_of_other_exceptions": [c for p in parts for c in p["crashes"]][:20],
        "examples_of_slow_parses": [s for p in parts for s in p["slow"]][:20],
        "formulang": formulang.__version__,
        "commit": COMMIT,
        "python": platform.python_version(),
        "machine": platform.machine(),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=1_000_000, help="formulas to generate")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--jobs", type=int, default=1, help="processes to split the formulas over")
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "fuzz.json")
    ap.add_argument("--collect", action="store_true",
                    help="write the result of a stopped run from its checkpoints")
    args = ap.parse_args()
    result = (collect(args.out, args.n, args.seed, args.jobs) if args.collect
              else run(args.n, args.seed, args.jobs, args.out))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps({k: v for k, v in result.items() if not k.startswith("examples")},
                     indent=2))
    bad = result["other_exceptions"] or result["side_effects"] or result["parses_over_1s"]
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
