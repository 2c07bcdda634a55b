"""The benchmark models: formula and data, shared by every contender (no formulang import).

``simulated_many`` has many rows per group (20 groups x 100 rows, tau = 1, sigma = 1), the case
where the centred parameterisation wins.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

DATA = Path(__file__).resolve().parents[2] / "formulang" / "datasets" / "data"

MODELS = {
    "radon_intercept": "log_radon ~ floor + (1 | county)",
    "radon_slope": "log_radon ~ floor + (1 + floor | county)",
    "sleepstudy": "Reaction ~ Days + (Days | Subject)",
    "simulated_many": "y ~ x + (1 + x | g)",
}


def load(name: str) -> tuple[pd.DataFrame, str, str, str]:
    """(data, response, covariate, grouping column) of a benchmark model."""
    if name.startswith("radon"):
        return pd.read_csv(DATA / "radon.csv"), "log_radon", "floor", "county"
    if name == "sleepstudy":
        df = pd.read_csv(DATA / "sleepstudy.csv", dtype={"Subject": str})
        return df, "Reaction", "Days", "Subject"
    rng = np.random.default_rng(20261121)
    groups, per = 20, 100
    g = np.repeat(np.arange(groups), per)
    x = rng.normal(size=groups * per)
    effects = rng.normal(0.0, 1.0, size=(groups, 2))
    y = 1.0 + 0.5 * x + effects[g, 0] + effects[g, 1] * x + rng.normal(size=groups * per)
    return pd.DataFrame({"y": y, "x": x, "g": [f"g{i:02d}" for i in g]}), "y", "x", "g"
