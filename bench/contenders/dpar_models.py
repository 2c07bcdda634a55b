"""The distributional benchmark models (issue 17): formula, family and data for formulang and
bambi, shared by ``dpar_formulang_fit.py`` and ``dpar_bambi_fit.py`` (no formulang import).

- ``hetero_gaussian``, ``zip_zi_x``: the brms reference data sets
  (``tests/fixtures/brms_dpar``, 300 rows each): ``y ~ x + (1 | g); sigma ~ x`` (20 groups)
  and ``y ~ x; zi ~ x``;
- ``hetero_sim``, ``zip_sim``: the same models on 5,000 simulated rows (50 groups of 100 for
  the Gaussian one), where sampling, not start-up, is the wall time.

bambi writes the same models with ``bmb.Formula(mu, dpar)``; its zero-inflated Poisson's
parameter is PyMC's ``psi``, the probability of the Poisson component, ``1 - zi``, so
``psi ~ x`` (logit link) is formulang's ``zi ~ x`` with the signs of its coefficients flipped:
the same model.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

FIXTURES = Path(__file__).resolve().parents[2] / "tests" / "fixtures" / "brms_dpar"


@dataclass(frozen=True)
class DparBench:
    """One model: formulang's formula and family, bambi's formulas (response's first) and
    family, and the data."""

    formula: str
    family: str
    bambi_formulas: tuple[str, ...]
    bambi_family: str
    data: pd.DataFrame


SPECS = {  # name: (formula, family, bambi formulas, bambi family)
    "hetero": ("y ~ x + (1 | g); sigma ~ x", "gaussian", ("y ~ x + (1 | g)", "sigma ~ x"),
               "gaussian"),
    "zip": ("y ~ x; zi ~ x", "zero_inflated_poisson", ("y ~ x", "psi ~ x"),
            "zero_inflated_poisson"),
}
MODELS = {"hetero_gaussian": "hetero", "zip_zi_x": "zip", "hetero_sim": "hetero",
          "zip_sim": "zip"}


def simulate(kind: str, seed: int) -> pd.DataFrame:
    """5,000 rows: ``hetero``: y = 1 + 0.5 x + u_g + exp(-0.5 + 0.6 x) e, 50 groups, sd(u) =
    0.7; ``zip``: Poisson with log mean 0.8 + 0.5 x, a structural zero with probability
    logistic(-0.4 + x)."""
    rng = np.random.default_rng(seed)
    n = 5000
    x = rng.normal(size=n)
    if kind == "hetero":
        g = np.repeat(np.arange(50), n // 50)
        y = 1 + 0.5 * x + rng.normal(0, 0.7, 50)[g] + np.exp(-0.5 + 0.6 * x) * rng.normal(size=n)
        return pd.DataFrame({"y": y, "x": x, "g": [f"g{i:02d}" for i in g]})
    zero = rng.uniform(size=n) < 1 / (1 + np.exp(0.4 - x))
    y = np.where(zero, 0, rng.poisson(np.exp(0.8 + 0.5 * x)))
    return pd.DataFrame({"y": y, "x": x})


def load(name: str) -> DparBench:
    """A model by name, e.g. ``load("zip_sim").bambi_family``."""
    if name not in MODELS:
        raise KeyError(f"unknown model {name!r}; models: {', '.join(MODELS)}")
    kind = MODELS[name]
    if name.endswith("_sim"):
        data = simulate(kind, seed=20261205 + list(SPECS).index(kind))
    else:
        data = pd.read_csv(FIXTURES / f"{name}.csv")
    return DparBench(*SPECS[kind], data)
