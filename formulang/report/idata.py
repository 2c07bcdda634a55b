"""Posterior draws to ArviZ ``InferenceData`` with named dimensions and coordinates.

Variables (the names users see everywhere, from :mod:`formulang.lower.sites`): ``b`` (dim
``coef``: the design columns), ``sd_<g>`` (``<g>__effect``), ``cor_<g>`` (``<g>__pair``, e.g.
``Intercept__Days``), ``r_<g>`` (``<g>__level`` x ``<g>__effect``), and the family parameters
(``sigma``...). Internal sites of the sampler (standardised effects, Cholesky factors, centred
intercept) are left out.
"""

from __future__ import annotations

import numpy as np

from ..lower.plan import ModelPlan
from ..lower.sites import pair_names, predictors, vector
from ..lower.sites_smooth import smooth_variables


def posterior_variables(plan: ModelPlan, samples: dict) -> tuple[dict, dict, dict]:
    """(variables, dims, coords) of the user-facing posterior."""
    variables, dims, coords = {}, {}, {}
    for pred in predictors(plan):  # the response's formula, then the sub-formulas'
        _predictor_variables(pred, samples, variables, dims, coords)
    for aux in plan.aux:
        variables[aux] = samples[aux]
    for out, more in zip((variables, dims, coords), smooth_variables(plan, samples)):
        out.update(more)  # s(), gp(): sds_, s_ (lower/sites_smooth.py)
    return variables, dims, coords


def _predictor_variables(plan, samples: dict, variables: dict, dims: dict,
                         coords: dict) -> None:
    pop = plan.sites
    if pop.coefficients in samples:
        variables[pop.coefficients] = samples[pop.coefficients]
        dims[pop.coefficients] = [pop.dim]
        coords[pop.dim] = list(plan.columns)
    if plan.thresholds is not None and pop.threshold_values in samples:  # ordinal models
        variables[pop.threshold_values] = samples[pop.threshold_values]
        dims[pop.threshold_values] = [pop.threshold_dim]
        coords[pop.threshold_dim] = [str(j) for j in range(1, plan.thresholds.size + 1)]
    for g in plan.groups:
        s = g.sites
        eff, lev, pair = s.effect_dim, s.level_dim, s.pair_dim
        coords[eff] = list(g.columns)
        coords[lev] = list(g.levels)
        variables[s.sd] = vector(samples, g.sd)
        dims[s.sd] = [eff]
        variables[s.r] = samples[s.r]
        dims[s.r] = [lev, eff]
        if g.correlated_pairs:
            variables[s.cor] = samples[s.cor]
            dims[s.cor] = [pair]
            coords[pair] = list(pair_names(g))


def sample_stats(stats: dict) -> dict:
    out = {}
    if "diverging" in stats:
        out["diverging"] = stats["diverging"].astype(bool)
    if "energy" in stats:
        out["energy"] = stats["energy"]
    if "num_steps" in stats:
        out["n_steps"] = stats["num_steps"]
        # doublings started (a tree that stopped inside its last doubling counts it); tree-depth
        # saturation is judged on n_steps == 2^max_tree_depth - 1 (report/diagnostics.py)
        out["tree_depth"] = np.floor(np.log2(np.maximum(stats["num_steps"], 1))).astype(int) + 1
    if "accept_prob" in stats:
        out["acceptance_rate"] = stats["accept_prob"]
    if "potential_energy" in stats:
        out["lp"] = -stats["potential_energy"]
    return out


def import_arviz():
    """ArviZ 0.x prints a banner about its coming 1.x refactor on import; formulang pins the
    0.x API (InferenceData) deliberately, so the banner is noise for our users."""
    import warnings

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=FutureWarning, module="arviz")
        import arviz as az
    return az


def to_inference_data(plan: ModelPlan, samples: dict, stats: dict, observed=None,
                      log_likelihood=None):
    az = import_arviz()

    variables, dims, coords = posterior_variables(plan, samples)
    kwargs = {}
    if observed is not None:
        kwargs["observed_data"] = {"y": np.asarray(observed)}
        dims["y"] = ["obs"]
        coords["obs"] = np.arange(len(observed))
    if log_likelihood is not None:
        kwargs["log_likelihood"] = {"y": log_likelihood}
    return az.from_dict(posterior=variables, sample_stats=sample_stats(stats) or None,
                        coords=coords, dims=dims, **kwargs)
