"""Micro-benchmark: parsing formulas once the parser is built.

    python bench/bench_parse.py

Parsing is cached by formula text; this measures the uncached path (grammar, tree, algebra,
checks) against the cost of building the Lark parser once, in the same process. Results go to
bench/results/parse.json.
"""

from __future__ import annotations

import json
import platform
import time
from pathlib import Path

from formulang.parse import parse
from formulang.parse.grammar import parser

FORMULAS = {
    "radon varying slope": "log_radon ~ floor + (1 + floor | county)",
    "sleepstudy": "Reaction ~ Days + (Days | Subject)",
    "cbpp binomial": "cbind(incidence, size - incidence) ~ period + (1 | herd)",
    "nested + crossed": "strength ~ 1 + (1 | batch/cask) + (1 | sample)",
    "transforms": "y ~ scale(x) + I(x^2) + log1p(z) + C(g, ref = \"b\") * w + offset(log(n))",
    "large": "y ~ (a + b + c + d)^3 + (1 + a + b || g) + (1 | h/i/j)",
}


def best_of(fn, repeat: int = 5, number: int = 200) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        for _ in range(number):
            fn()
        times.append((time.perf_counter() - t) / number)
    return min(times)


def main() -> None:
    t = time.perf_counter()
    parser.cache_clear()
    parser()
    build = time.perf_counter() - t
    uncached = parse.__wrapped__
    rows = []
    for name, text in FORMULAS.items():
        uncached(text)
        seconds = best_of(lambda: uncached(text))
        rows.append({"model": name, "formula": text, "parse_us": seconds * 1e6,
                     "ratio_to_parser_build": seconds / build})
    result = {"machine": f"{platform.machine()} {platform.processor() or ''}".strip(),
              "python": platform.python_version(), "parser_build_ms": build * 1e3,
              "formulas": rows}
    out = Path(__file__).parent / "results" / "parse.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"parser built once in {build * 1e3:.1f} ms\n")
    print("| formula | parse (µs) | share of parser build |\n|---|---:|---:|")
    for r in rows:
        print(f"| {r['model']} | {r['parse_us']:.0f} | {r['ratio_to_parser_build']:.3f} |")


if __name__ == "__main__":
    main()
