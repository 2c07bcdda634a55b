"""Repro (issue 23): the embedded Laplace marginal evaluates to a large *positive* log
likelihood far in the tails, where a NUTS chain of ``bench/sbc_laplace.py`` got stuck.

    python bench/repro_laplace_positive.py

Data: simulation 288 of ``python bench/sbc_laplace.py`` (seed 0; Bernoulli ``y ~ x + (1 + x |
g)``, 12 groups x 50 rows). ``Model.fit(draws=500, tune=500, chains=2, seed=289)`` with
``collapse="laplace"`` left chain 0 stuck at the point ``STUCK`` below (every draw of
``Intercept_c`` and ``b_c`` the same; 484 of 500 draws divergent; 146 s); seeds 290 and 291,
and ``collapse=False`` with seed 289, fit the data normally. At ``STUCK`` the Laplace factor
``y_marginal`` is about +8e8, impossible for a Bernoulli likelihood (``f(v*) - 1/2 log|H|`` is
at most 0: ``f <= 0`` and ``H = I + ... >= I``), so the chain sits in a spurious mode. The point
has ``sd_g__x`` = 1856 and a correlation of -0.999995: the Newton mode, the value at it or the
Cholesky factor of ``H`` breaks down there. Not only float32: with ``JAX_ENABLE_X64=1`` the
factor at ``STUCK`` is +5e9 (there the simulated dataset differs too: the simulation's random
stream depends on the precision). This prints the log density and the factor at ``STUCK`` and
at a typical posterior point:

    stuck    log density 8.05308e+08   y_marginal 8.0703e+08
    typical  log density -216.529   y_marginal -209.963

Fixed since: the cause was the sampler's one-pass shortcut (``laplace_marginal``), whose
value correction toward the mode was +8e8 where ``H`` is huge; it now requires each block's
correction below ``AHEAD_MAX``. The script now prints ``stuck ... y_marginal -6661.73``.
"""

from __future__ import annotations

import sys
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
import sbc_laplace as s  # the SBC's design, priors and model

STUCK = {"Intercept_c": 15.479568481445312, "b_c": [14.330541610717773],
         "sd_g": [0.13064907491207123, 1855.9732666015625],
         "L_g": [[1.0, 0.0], [-0.9999950528144836, 0.0031455280259251595]]}
TYPICAL = {"Intercept_c": -1.4, "b_c": [1.0], "sd_g": [1.96, 0.91],
           "L_g": [[1.0, 0.0], [-0.4, 0.9165151389911680]]}


def main() -> None:
    import jax.numpy as jnp
    from numpyro.infer.util import log_density

    from formulang.lower.laplace import laplace_data, make_laplace_model

    warnings.simplefilter("ignore")
    design_model = s.model_for(s.design(0))
    y = np.asarray(design_model.simulate(seed=0, draws=500).y[288]).astype(int)
    model = s.model_for(s.design(0).assign(y=y))
    data = laplace_data(model.plan, model.data, model.collapse_layout, model.pilot)
    fn = make_laplace_model(model.plan, model.collapse_layout)
    for label, point in (("stuck", STUCK), ("typical", TYPICAL)):
        params = {k: jnp.asarray(v, dtype=jnp.result_type(float)) for k, v in point.items()}
        value, trace = log_density(fn, (data,), {}, params)
        factor = float(jnp.sum(trace["y_marginal"]["fn"].log_prob(trace["y_marginal"]["value"])))
        print(f"{label:8s} log density {float(value):.6g}   y_marginal {factor:.6g}  "
              f"(a Bernoulli log likelihood is <= 0)")


if __name__ == "__main__":
    main()
