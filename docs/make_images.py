"""Redraw the images in docs/ from real fits: ``python docs/make_images.py``.

Radon, ``log_radon ~ floor + (1 + floor | county)``, 4 chains x 1000 draws after 1000 warm-up,
seed 0: non-centred for the trace, forest and lines plots; centred for the rank plot (chains
that disagree); centred and non-centred for the funnel. Takes a few minutes on 2 cores. PNGs
are reduced to 256 colours to stay small.
"""

from __future__ import annotations

import io
import time
from pathlib import Path

import formulang as fl
from formulang.report import plots

HERE = Path(__file__).resolve().parent
FORMULA = "log_radon ~ floor + (1 + floor | county)"
DPI = 90


def main() -> None:
    data = fl.datasets.load("radon")
    fits = {}
    for reparam in ("centered", "noncentered"):
        start = time.perf_counter()
        fits[reparam] = fl.Model(FORMULA, data, reparam=reparam).fit(seed=0, progress=False)
        print(f"{reparam}: {time.perf_counter() - start:.0f} s; {fits[reparam].diagnostics()}")
    fit = fits["noncentered"]
    figures = {
        "trace": plots.plot_trace(fit),
        "rank": plots.plot_rank(fits["centered"]),
        "forest": plots.plot_forest(fit, group="county"),
        "group_lines": plots.plot_group_lines(fit, x="floor", group="county"),
        "funnel": plots.plot_funnel(fits["centered"], group="county", effect="floor",
                                    compare=fit),
    }
    for name, fig in figures.items():
        path = HERE / f"{name}.png"
        save_small(fig, path)
        print(f"{path.name}: {path.stat().st_size / 1024:.0f} KB")


def save_small(fig, path: Path) -> None:
    """PNG with a 256-colour palette: a third of the size, no visible loss for line plots."""
    from PIL import Image

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=DPI)
    buffer.seek(0)
    image = Image.open(buffer).convert("RGB").quantize(colors=256)
    image.save(path, optimize=True)


if __name__ == "__main__":
    main()
