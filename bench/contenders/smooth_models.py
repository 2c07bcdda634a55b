"""The smooth benchmark models (issue 19): formula and data for formulang and bambi, shared by
``smooth_formulang_fit.py`` and ``smooth_bambi_fit.py`` (no formulang import).

- ``bs_group``: ``y ~ bs(x, df = 6) + (1 | g)``, Gaussian, 500 simulated rows, 20 groups:
  ``y = sin(x) + 0.3 x + u_g + e``, ``x`` uniform on (0, 10), ``sd(u) = 0.5``, ``sd(e) = 0.4``.
  bambi spells the basis the same (formulae's ``bs`` is R's ``splines::bs``).
- ``gp_hsgp``: formulang's ``y ~ gp(x, k = 20, c = 1.25)`` (brms's Hilbert-space GP) against
  bambi's ``hsgp(x, m = 20, L = 1.25, scale = False)``, Gaussian, 300 simulated rows:
  ``y = sin(2 pi x) + 0.5 x + e``, ``sd(e) = 0.3``, ``x`` rescaled to span exactly [0, 1].

The GP is the same model in both only with care, because the two libraries spell it
differently: brms's ``c`` is relative to the range of the scaled ``x`` (``L = c * max(1,
range)``, here 1.25), PyMC's / bambi's ``c`` to half of it (``L = c * max |x - mean|``, about
0.625 here), so bambi gets ``L = 1.25`` itself; brms scales ``x`` by its range before the
length-scale is applied, bambi (``scale = True``) by the same range but computes ``L`` on the
unscaled ``x``: with ``x`` spanning exactly [0, 1] scaling is the identity and both agree, so
bambi is told ``scale = False``. Both centre ``x`` on its mean (brms: the mean of the unique
values; the simulated ``x`` has no ties), use basis functions ``sin(sqrt(lambda_j)(x + L)) /
sqrt(L)`` and the squared-exponential spectral density with marginal SD and length-scale.

Priors: bambi is given formulang's default priors (``PRIORS`` from formulang's contender, see
``bench_smooth.py``), so both sample the same posterior: Intercept ``student_t``, spline
coefficients ``normal(0, s_j)``, group SD, GP SD and residual SD ``half_student_t(3, s)``,
length-scale ``inv_gamma(a, b)``. The one difference: bambi's group term is non-centred,
formulang picks per level.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class SmoothBench:
    """One model: formulang's formula, bambi's formula, the data, the grid of ``x`` where both
    posteriors' population-level curves are compared, bambi's names of its terms."""

    formula: str
    bambi_formula: str
    data: pd.DataFrame
    grid: np.ndarray
    smooth_term: str  # bambi's name of the smooth term (its priors' key; bambi ignores an
    # unknown key silently, so the contender checks the priors it sees)

    @property
    def alias(self) -> str:
        """bambi's alias of the smooth term: nutpie's ArviZ conversion splits a variable's
        dimension name at its commas (``KeyError: ' df=6)_dim'``)."""
        return self.smooth_term.split("(")[0] + "_x"


def simulate(name: str, seed: int = 20261205) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    if name == "bs_group":
        n = 500
        x = rng.uniform(0, 10, n)
        g = rng.integers(0, 20, n)
        y = np.sin(x) + 0.3 * x + rng.normal(0, 0.5, 20)[g] + rng.normal(0, 0.4, n)
        return pd.DataFrame({"y": y, "x": x, "g": [f"g{i:02d}" for i in g]})
    n = 300
    x = rng.uniform(size=n)
    x = (x - x.min()) / (x.max() - x.min())  # exactly [0, 1]: see the module's docstring
    y = np.sin(2 * np.pi * x) + 0.5 * x + rng.normal(0, 0.3, n)
    return pd.DataFrame({"y": y, "x": x})


MODELS = {
    "bs_group": ("y ~ bs(x, df = 6) + (1 | g)", "y ~ bs(x, df = 6) + (1 | g)",
                 np.linspace(0.5, 9.5, 10), "bs(x, df=6)"),
    "gp_hsgp": ("y ~ gp(x, k = 20, c = 1.25)", "y ~ hsgp(x, m = 20, L = 1.25, scale = False)",
                np.linspace(0.05, 0.95, 10), "hsgp(x, m=20, L=1.25, scale=False)"),
}


def load(name: str) -> SmoothBench:
    """A model by name, e.g. ``load("gp_hsgp").formula``."""
    if name not in MODELS:
        raise KeyError(f"unknown model {name!r}; models: {', '.join(MODELS)}")
    formula, bambi_formula, grid, term = MODELS[name]
    return SmoothBench(formula, bambi_formula, simulate(name), grid, term)


def grid_frame(bench: SmoothBench, level: str) -> pd.DataFrame:
    """The comparison grid as new data, with group column ``level`` where the model has one
    (each contender predicts the population-level curve: group effects left out)."""
    frame = pd.DataFrame({"x": bench.grid})
    if "g" in bench.data:
        frame["g"] = level
    return frame


def curve_figures(curve: np.ndarray) -> dict:
    """Posterior mean and SD of the curve at the grid (``curve``: chains x draws x grid)."""
    flat = curve.reshape(-1, curve.shape[-1])
    return {"curve_mean": flat.mean(axis=0).tolist(), "curve_sd": flat.std(axis=0).tolist()}
