"""Shared by the example scripts: command-line options, sampler sizes, where figures go."""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

FULL = {"chains": 4, "draws": 1000, "tune": 1000}
QUICK = {"chains": 2, "draws": 100, "tune": 100}  # smoke-test size: numbers are rough


def options(description: str, argv=None) -> argparse.Namespace:
    """``--quick`` (tiny sampler runs) and ``--out DIR`` (default: a new temporary folder)."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--quick", action="store_true",
                        help="tiny sampler runs (a smoke test; the numbers are rough)")
    parser.add_argument("--out", type=Path, default=None,
                        help="folder for figures (default: a new temporary folder)")
    args = parser.parse_args(argv)
    if args.out is None:
        args.out = Path(tempfile.mkdtemp(prefix="formulang-examples-"))
    args.out.mkdir(parents=True, exist_ok=True)
    args.sampler = dict(QUICK if args.quick else FULL, progress=False)
    return args


def save(fig, out: Path, name: str) -> Path:
    """Write ``fig`` as a PNG and say where."""
    path = out / name
    fig.savefig(path, dpi=90)
    print(f"figure: {path}")
    return path


def table(rows: list[dict], floatfmt: str = "{:.3g}") -> str:
    """Rows of dicts as aligned plain text (no extra dependency)."""
    columns = list(rows[0])
    cells = [[c for c in columns]] + [[floatfmt.format(r[c]) if isinstance(r[c], float)
                                       else str(r[c]) for c in columns] for r in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(columns))]
    lines = ["  ".join(cell.rjust(w) if j else cell.ljust(w)
                       for j, (cell, w) in enumerate(zip(row, widths))) for row in cells]
    return "\n".join(lines)
