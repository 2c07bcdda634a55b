"""Reported parameters back to the sampler's sites: :func:`to_sites`, the inverse of
:func:`formulang.lower.sites.to_params` (``model.simulate`` conditions the model on given
values this way). Names come from :mod:`formulang.lower.sites`."""

from __future__ import annotations

import numpy as np

from ..errors import FormulangError
from .sites import centred_loc, pair_names, predictors, split

# Given effects r are turned into the sampler's standardised effects z by solving with
# diag(sd) L; a reconstruction error above this (relative) means r contradicts sd (e.g. a
# non-zero effect whose SD is 0).
_RECONSTRUCTION_TOLERANCE = 1e-6


def _shown(a: np.ndarray) -> str:
    a = np.asarray(a)
    return str(a[0].tolist() if a.shape[0] == 1 else a.tolist())


def correlation_matrix(g, cor: np.ndarray, name: str | None = None) -> np.ndarray:
    """(draws, k, k) correlation matrices from ``cor_<g>``'s pair values (draws, pairs);
    refuses values that are no correlation matrix."""
    name = name or g.sites.cor
    cor = np.asarray(cor, dtype=float)
    draws = cor.shape[0]
    if (np.abs(cor) > 1).any():
        raise FormulangError(f"{name}: correlations must lie in [-1, 1]: got {_shown(cor)}")
    C = np.broadcast_to(np.eye(g.k), (draws, g.k, g.k)).copy()
    for j, (a, b) in enumerate(g.correlated_pairs):
        C[:, a, b] = C[:, b, a] = cor[:, j]
    # Positive definite: otherwise there is no LKJ Cholesky factor to condition on.
    if (np.linalg.eigvalsh(C)[:, 0] <= 1e-10).any():
        raise FormulangError(f"{name}: the correlations {dict(zip(pair_names(g), cor[0]))} do "
                             f"not form a positive definite correlation matrix")
    return C


def cholesky(g, values: dict) -> np.ndarray:
    """(draws, k, k): the Cholesky factor of the effects' correlation (identity if none),
    from the reported ``sd_<g>`` and ``cor_<g>``."""
    s = g.sites
    if not g.correlated_pairs:
        return np.broadcast_to(np.eye(g.k), (np.shape(values[s.sd])[0], g.k, g.k)).copy()
    return np.linalg.cholesky(correlation_matrix(g, values[s.cor]))


def to_sites(plan, values: dict) -> dict:
    """The model's sample sites (``Intercept_c``, ``b_c``, ``sd_<g>``, ``L_<g>``, ``z_<g>``,
    ``rc_<g>``, family parameters) that reproduce the reported ``values`` (one leading draws
    axis). Refuses effects ``r_<g>`` that ``N(0, Sigma)`` cannot produce."""
    sites = {}
    for pred in predictors(plan):
        sites.update(_predictor_sites(pred, values))
    if plan.thresholds is not None:  # on centred predictors, as the intercept
        pop = plan.sites
        theta = np.asarray(values[pop.threshold_values], dtype=float)
        if plan.b is not None:
            theta = theta - (values[pop.coefficients] @ np.asarray(plan.x_means))[:, None]
        sites[pop.thresholds] = theta
    for aux in plan.aux:
        sites[aux] = values[aux]
    return sites


def _predictor_sites(plan, values: dict) -> dict:
    pop, sites = plan.sites, {}
    if plan.columns:
        b = values[pop.coefficients]
        slope_idx = [j for j, c in enumerate(plan.columns) if c != "Intercept"]
        slopes = b[:, slope_idx]
        if plan.intercept:
            sites[pop.intercept] = b[:, plan.columns.index("Intercept")] + \
                slopes @ np.asarray(plan.x_means, dtype=float)
        if plan.b is not None:
            sites.update(split(plan.b, slopes))
    for g in plan.groups:
        sd = values[g.sites.sd]
        sites.update(split(g.sd, sd))
        L = cholesky(g, values)
        for site, block in g.sites.lkj if g.correlated_pairs else ():
            idx = np.asarray(block)
            sites[site] = L[:, idx[:, None], idx[None, :]]
        sites.update(_effect_sites(plan, g, values, sd[:, :, None] * L,
                                   sites.get(pop.intercept)))
    return sites


def _effect_sites(plan, g, values: dict, scale_tril: np.ndarray, intercept) -> dict:
    """z_<g> for non-centred levels (r = z (diag(sd) L)^T), rc_<g> for centred ones
    (r + :func:`centred_loc`)."""
    s = g.sites
    r = values[s.r]
    centered = np.asarray(g.centered, dtype=bool)
    out = {}
    nc = np.flatnonzero(~centered)
    if len(nc):
        # lstsq rather than solve: an SD of 0 makes diag(sd) L singular, and is fine as long
        # as r is 0 in that effect (checked by rebuilding r below).
        z = np.stack([np.linalg.lstsq(scale_tril[d], r[d, nc].T, rcond=None)[0].T
                      for d in range(r.shape[0])])
        rebuilt = np.einsum("dij,dlj->dli", scale_tril, z)
        if not np.allclose(rebuilt, r[:, nc], atol=_RECONSTRUCTION_TOLERANCE *
                           max(1.0, float(np.abs(r).max()))):
            raise FormulangError(f"{s.r} has non-zero effects where {s.sd} is 0 (or the "
                                 f"correlations are degenerate): such effects cannot be "
                                 f"drawn from N(0, Sigma)")
        out[s.z] = z
    c = np.flatnonzero(centered)
    if len(c):
        parent_r = None if g.parent is None else values[plan.groups[g.parent].sites.r]
        loc = centred_loc(g, parent_r, intercept)
        out[s.rc] = r[:, c] if loc is None else r[:, c] + loc
    return out


__all__ = ["cholesky", "correlation_matrix", "to_sites"]
