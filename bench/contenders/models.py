"""The benchmark models: formula and data, shared by every contender (no formulang import).

- ``radon_intercept``, ``radon_slope``: the radon data (919 homes, 85 counties);
- ``sleepstudy``: 18 subjects x 10 days, ``(Days | Subject)``;
- ``cbpp``: binomial, ``incidence | trials(size) ~ period + (1 | herd)`` (56 rows, 15 herds);
- ``simulated_many``: 20 groups x 100 rows (tau = 1, sigma = 1), where centring wins;
- ``simulated_big``: 100,000 rows, 1,000 groups of 100, ``(1 + x | g)`` with tau = (1, 0.5),
  correlation 0.3, sigma = 1;
- ``simulated_huge``: the same model with 1,000,000 rows, 10,000 groups of 100 (formulang's
  collapsed path only: the sampled models take hours).

:func:`load` returns a :class:`Bench`: the data frame and the roles of its columns, so a
contender can build its own design (treatment coding for factors, as R and formulang).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

DATA = Path(__file__).resolve().parents[2] / "formulang" / "datasets" / "data"

MODELS = {
    "radon_intercept": "log_radon ~ floor + (1 | county)",
    "radon_slope": "log_radon ~ floor + (1 + floor | county)",
    "sleepstudy": "Reaction ~ Days + (Days | Subject)",
    "cbpp": "incidence | trials(size) ~ period + (1 | herd)",
    "simulated_many": "y ~ x + (1 + x | g)",
    "simulated_big": "y ~ x + (1 + x | g)",
    "simulated_huge": "y ~ x + (1 + x | g)",
}

# bambi's spelling of the same models; (x | g) there means independent effects, no correlation
BAMBI_FORMULAS = {
    "radon_intercept": "log_radon ~ floor + (1 | county)",
    "radon_slope": "log_radon ~ floor + (1 + floor | county)",
    "sleepstudy": "Reaction ~ Days + (Days | Subject)",
    "cbpp": "p(incidence, size) ~ period + (1 | herd)",
    "simulated_many": "y ~ x + (1 + x | g)",
    "simulated_big": "y ~ x + (1 + x | g)",
    "simulated_huge": "y ~ x + (1 + x | g)",
}


@dataclass(frozen=True)
class Bench:
    """A benchmark model's data and column roles.

    ``fixed``: population-level predictors (a str column is a factor, treatment-coded);
    ``slope``: the group term's varying slope, or None for ``(1 | g)``; ``trials``: binomial
    trials column, or None for a Gaussian response.
    """

    data: pd.DataFrame
    response: str
    fixed: tuple[str, ...]
    grouping: str
    slope: str | None
    trials: str | None = None

    @property
    def family(self) -> str:
        return "gaussian" if self.trials is None else "binomial"


def load(name: str) -> Bench:
    """The :class:`Bench` of a benchmark model, e.g. ``load("sleepstudy").grouping``."""
    if name == "radon_intercept":
        return Bench(pd.read_csv(DATA / "radon.csv"), "log_radon", ("floor",), "county", None)
    if name == "radon_slope":
        return Bench(pd.read_csv(DATA / "radon.csv"), "log_radon", ("floor",), "county",
                     "floor")
    if name == "sleepstudy":
        df = pd.read_csv(DATA / "sleepstudy.csv", dtype={"Subject": str})
        return Bench(df, "Reaction", ("Days",), "Subject", "Days")
    if name == "cbpp":
        df = pd.read_csv(DATA / "cbpp.csv", dtype={"herd": str, "period": str})
        return Bench(df, "incidence", ("period",), "herd", None, trials="size")
    if name == "simulated_many":
        return Bench(simulate(20, 100, np.eye(2), seed=20261121), "y", ("x",), "g", "x")
    if name == "simulated_big":
        cov = np.array([[1.0, 0.3 * 0.5], [0.3 * 0.5, 0.25]])
        return Bench(simulate(1000, 100, cov, seed=20261122), "y", ("x",), "g", "x")
    if name == "simulated_huge":
        cov = np.array([[1.0, 0.3 * 0.5], [0.3 * 0.5, 0.25]])
        return Bench(simulate(10000, 100, cov, seed=20261123), "y", ("x",), "g", "x")
    raise KeyError(f"unknown benchmark model {name!r}; models: {', '.join(MODELS)}")


def simulate(groups: int, per: int, cov: np.ndarray, seed: int) -> pd.DataFrame:
    """y = 1 + 0.5 x + u_g0 + u_g1 x + N(0, 1), u_g ~ N(0, cov), ``per`` rows per group."""
    rng = np.random.default_rng(seed)
    g = np.repeat(np.arange(groups), per)
    x = rng.normal(size=groups * per)
    effects = rng.multivariate_normal(np.zeros(2), cov, size=groups)
    y = 1.0 + 0.5 * x + effects[g, 0] + effects[g, 1] * x + rng.normal(size=groups * per)
    width = len(str(groups - 1))
    return pd.DataFrame({"y": y, "x": x, "g": [f"g{i:0{width}d}" for i in g]})


def design(bench: Bench) -> tuple[np.ndarray, list[str]]:
    """Population design without the intercept: numeric columns as they are, str columns
    treatment-coded against their first level (sorted, as R's factor())."""
    columns, names = [], []
    for col in bench.fixed:
        values = bench.data[col]
        if values.dtype == object or isinstance(values.dtype, pd.StringDtype):
            levels = sorted(values.unique())
            for level in levels[1:]:
                columns.append((values == level).to_numpy(float))
                names.append(f"{col}{level}")
        else:
            columns.append(values.to_numpy(float))
            names.append(col)
    return np.column_stack(columns), names
