"""The reported quantities computed from the sampled ones, in NumPy, after sampling.

The NumPyro model samples ``Intercept_c`` and ``b_c`` (on centred predictors), per group term
``sd_<g>``, ``L_<g>``, ``z_<g>`` (non-centred levels) and ``rc_<g>`` (centred levels). Users see
``b`` (the real intercept first), ``r_<g>`` (levels x effects) and ``cor_<g>``. Computing those
inside the model as ``numpyro.deterministic`` sites would re-run the model for every draw inside
the sampler; here they are a few array operations over all draws at once, for NUTS, the
approximations and loaded fits alike.

>>> import numpy as np, formulang as fl
>>> m = fl.Model("Reaction ~ Days + (Days | Subject)", fl.datasets.load("sleepstudy"),
...              reparam="noncentered")
>>> draws = {"Intercept_c": np.zeros((1, 2)), "b_c": np.ones((1, 2, 1)),
...          "sd_Subject": np.ones((1, 2, 2)), "L_Subject": np.tile(np.eye(2), (1, 2, 1, 1)),
...          "z_Subject": np.zeros((1, 2, 18, 2))}
>>> out = derive(m.plan, draws)
>>> out["b"].shape, out["r_Subject"].shape, out["cor_Subject"].shape
((1, 2, 2), (1, 2, 18, 2), (1, 2, 1))
"""

from __future__ import annotations

import numpy as np

from .plan import GroupPlan, ModelPlan, VectorSite, centred_loc


def vector(samples: dict, site: VectorSite, name: str | None = None) -> np.ndarray:
    """A vector site's draws, its pieces (``<name>_<i>``, one per prior) put back in place."""
    name = name or site.name
    if name in samples:
        return np.asarray(samples[name])
    first = np.asarray(samples[f"{name}_0"])
    out = np.zeros(first.shape[:-1] + (site.size,), dtype=first.dtype)
    for i, (_, idx, _) in enumerate(site.pieces):
        out[..., list(idx)] = samples[f"{name}_{i}"]
    return out


def correlation_cholesky(g: GroupPlan, samples: dict, shape: tuple) -> np.ndarray:
    """L (draws x k x k): block-diagonal, one LKJ Cholesky factor per correlated block."""
    sites = g.lkj_sites
    if len(sites) == 1 and len(sites[0][1]) == g.k:
        return np.asarray(samples[sites[0][0]])
    L = np.zeros(shape + (g.k, g.k))
    L[...] = np.eye(g.k)
    for name, block in sites:
        idx = np.asarray(block)
        L[..., idx[:, None], idx[None, :]] = samples[name]
    return L


def group_effects(g: GroupPlan, samples: dict, parent_r: np.ndarray | None) -> np.ndarray:
    """r (draws x levels x effects) from z (non-centred levels) and rc (centred levels,
    r = rc - :func:`~formulang.lower.plan.centred_loc`)."""
    sd = vector(samples, g.sd)
    shape = sd.shape[:-1]
    L = correlation_cholesky(g, samples, shape)
    centered = np.asarray(g.centered, dtype=bool)
    r = np.zeros(shape + (len(centered), g.k), dtype=sd.dtype)
    if (~centered).any():
        scale_tril = sd[..., :, None] * L
        # batched matmul: einsum's generic loop took ~10 s at 10,000 levels x 4000 draws
        r[..., ~centered, :] = np.matmul(samples[f"z_{g.name}"],
                                         np.swapaxes(scale_tril, -1, -2))
    if centered.any():
        rc = np.asarray(samples[f"rc_{g.name}"])
        loc = centred_loc(g, parent_r, None if g.intercept_loc is None
                          else np.asarray(samples["Intercept_c"]))
        r[..., centered, :] = rc if loc is None else rc - loc
    return r


def derive(plan: ModelPlan, samples: dict) -> dict:
    """``samples`` plus ``b``, ``r_<g>`` and ``cor_<g>`` (draws in the leading axes).

    A quantity whose sampled sources are absent (draws that come with ``r_<g>`` or ``cor_<g>``
    already, e.g. from elsewhere) is left as given."""
    out = dict(samples)
    if _has_population(plan, samples):
        coefficients = []
        slopes = vector(samples, plan.b, "b_c") if plan.b is not None else None
        if plan.intercept:
            intercept = np.asarray(samples["Intercept_c"])
            if slopes is not None:
                intercept = intercept - slopes @ np.asarray(plan.x_means, dtype=slopes.dtype)
            coefficients.append(intercept[..., None])
        if slopes is not None:
            coefficients.append(slopes)
        if coefficients:
            out["b"] = np.concatenate(coefficients, axis=-1)
    effects: list[np.ndarray | None] = []
    for g in plan.groups:
        parent_r = None if g.parent is None else effects[g.parent]
        if not _has_sources(g, samples) or (g.parent is not None and parent_r is None):
            effects.append(out.get(f"r_{g.name}"))
            continue
        r = group_effects(g, samples, parent_r)
        effects.append(r)
        out[f"r_{g.name}"] = r
        if g.correlated_pairs:
            L = correlation_cholesky(g, samples, r.shape[:-2])
            corr = L @ np.swapaxes(L, -1, -2)
            a, b = (np.asarray(v) for v in zip(*g.correlated_pairs))
            out[f"cor_{g.name}"] = corr[..., a, b]
    return out


def _has_vector(samples: dict, site: VectorSite, name: str) -> bool:
    return name in samples or all(f"{name}_{i}" in samples for i in range(len(site.pieces)))


def _has_population(plan: ModelPlan, samples: dict) -> bool:
    return ((not plan.intercept or "Intercept_c" in samples)
            and (plan.b is None or _has_vector(samples, plan.b, "b_c")))


def _has_sources(g: GroupPlan, samples: dict) -> bool:
    names = [name for name, _ in g.lkj_sites]
    centered = np.asarray(g.centered, dtype=bool)
    names += [f"z_{g.name}"] * bool((~centered).any()) + [f"rc_{g.name}"] * bool(centered.any())
    names += ["Intercept_c"] * (bool(centered.any()) and g.intercept_loc is not None)
    return all(name in samples for name in names) and _has_vector(samples, g.sd, g.sd.name)
