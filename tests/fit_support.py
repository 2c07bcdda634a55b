"""Shared by tests: a Fit without sampling (prior draws of every site), and the interval
counting and acceptance band of the coverage tests."""

import numpy as np

from formulang.fit import Fit


def prior_fit(model, draws=100, chains=2, seed=1):
    """A Fit whose draws are prior draws of every site (same names and shapes as NUTS)."""
    import jax
    from numpyro.infer import Predictive

    data = dict(model.data)
    data["y"] = None
    # jitted, so its compiled code goes with it (formulang.infer.predictive says why)
    raw = jax.jit(Predictive(model.numpyro_model, num_samples=chains * draws))(
        jax.random.PRNGKey(seed), data)
    samples = {k: np.asarray(v).reshape((chains, draws) + v.shape[1:])
               for k, v in raw.items() if k != "y"}
    return Fit(model, samples, {}, method="prior")


def interval_rows(models, sites, truth: dict) -> list[tuple[str, int, bool]]:
    """(parameter, replicate, covered) of every central 90% posterior interval: replicate ``i``
    is ``models[i]`` with its draws in ``sites`` (bench/sbc.py's ``fit_data``), against the
    reported values ``truth``."""
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
    import sbc

    rows = []
    for i, m in enumerate(models):
        post = sbc.scalars(m, sbc.draws_of(m, sites, i))
        true = sbc.scalars(m, {k: np.asarray(v, dtype=float) for k, v in truth.items()})
        for name, draws in post.items():
            lo, hi = np.quantile(draws, [0.05, 0.95])
            rows.append((name, i, bool(lo <= float(true[name]) <= hi)))
    return rows


def coverage_band(n: int, design_effect: int = 2) -> tuple[float, float]:
    """The accepted covered fraction of ``n`` nominal-90% intervals: the 1% and 99.5%
    quantiles of a binomial over ``n // design_effect`` (intervals of one replicate are
    correlated) at 0.9."""
    from scipy import stats

    n_eff = n // design_effect
    return (stats.binom.ppf(0.01, n_eff, 0.9) / n_eff,
            stats.binom.isf(0.005, n_eff, 0.9) / n_eff)
