"""The NumPyro model for a :class:`~formulang.lower.plan.ModelPlan`.

``make_model(plan)`` returns ``model(data)``: a plain NumPyro model function whose only argument
is the data pytree from :func:`~formulang.lower.plan.model_data`, so it can be used inside a
user's own NumPyro code, and one compiled sampler serves every dataset of the same shapes.

Sample sites (named by :mod:`formulang.lower.sites`): ``Intercept_c`` (intercept on centred
predictors) and ``b_c`` (slopes); per group term ``sd_<g>``, ``L_<g>`` (LKJ Cholesky factor of a
correlated block), ``z_<g>`` (standardised effects of non-centred levels), ``rc_<g>`` (effects
of centred levels); family parameters; ``y``. The reported ``b`` (the real intercept first),
``r_<g>`` (levels x effects) and ``cor_<g>`` are computed from the draws afterwards
(:func:`formulang.lower.sites.derive`), not as deterministic sites: those would re-run the
model for every draw inside the sampler.
"""

from __future__ import annotations

import numpy as np

from .ordinal import sample_thresholds
from .plan import GroupPlan, ModelPlan, VectorSite
from .priors import numpyro_distribution
from .response import observation
from .sites import centred_loc, uses
from .smooth_plan import own_smooths, smooth_effects


def _sample_vector(site: VectorSite, params: dict):
    import jax.numpy as jnp
    import numpyro

    if len(site.pieces) == 1:
        dist_name, _, key = site.pieces[0]
        return numpyro.sample(site.name, numpyro_distribution(dist_name, params[key]))
    out = jnp.zeros(site.size)
    for name, (dist_name, idx, key) in zip(site.piece_names, site.pieces):
        piece = numpyro.sample(name, numpyro_distribution(dist_name, params[key]))
        out = out.at[np.asarray(idx)].set(piece)
    return out


def sample_correlation_cholesky(g: GroupPlan, params: dict):
    """Sample the term's LKJ Cholesky factors (:attr:`GroupSites.lkj
    <formulang.lower.sites.GroupSites.lkj>`) and return the block-diagonal ``L`` (k x k; the
    identity where effects are uncorrelated)."""
    import jax.numpy as jnp
    import numpyro
    import numpyro.distributions as dist

    sites = g.sites.lkj
    if len(sites) == 1 and len(sites[0][1]) == g.k:  # one correlated block: no scatter needed
        eta = params[g.lkj_key][0, 0]
        return numpyro.sample(sites[0][0], dist.LKJCholesky(g.k, concentration=eta))
    L = jnp.eye(g.k)
    for name, block in sites:
        eta = params[g.lkj_key][0, 0]
        Lb = numpyro.sample(name, dist.LKJCholesky(len(block), concentration=eta))
        idx = np.asarray(block)
        L = L.at[np.ix_(idx, idx)].set(Lb)
    return L


def _cholesky(g: GroupPlan, params: dict, sd):
    """diag(sd) @ L, with L block-diagonal from one LKJ Cholesky factor per correlated block."""
    L = sample_correlation_cholesky(g, params)
    return sd[:, None] * L, L


def group_effects(g: GroupPlan, params: dict, parent_r=None, intercept=None):
    """Sample the effects of one group term: r (levels x effects), with the plan's per-level
    centred / non-centred choice. Centred levels are centred on :func:`centred_loc`: a nested
    term's on their parent's effects ``parent_r``, and the intercept effect on the model's
    ``intercept`` where the plan says so (``rc_<g>`` is then r + that location)."""
    import jax.numpy as jnp
    import numpyro
    import numpyro.distributions as dist

    sd = _sample_vector(g.sd, params)
    scale_tril, _ = _cholesky(g, params, sd)
    centered = np.asarray(g.centered, dtype=bool)
    nc_idx, c_idx = np.flatnonzero(~centered), np.flatnonzero(centered)
    parts = []
    if len(nc_idx):
        z = numpyro.sample(g.sites.z, dist.Normal(0.0, 1.0).expand([len(nc_idx), g.k])
                           .to_event(2))
        parts.append((nc_idx, z @ scale_tril.T))
    if len(c_idx):
        shift = centred_loc(g, parent_r, intercept)
        loc = jnp.zeros((len(c_idx), g.k)) if shift is None else \
            jnp.broadcast_to(shift, (len(c_idx), g.k))
        if g.k == 1:
            prior = dist.Normal(loc, sd).to_event(2)
        else:
            prior = dist.MultivariateNormal(loc, scale_tril=scale_tril).to_event(1)
        parts.append((c_idx, numpyro.sample(g.sites.rc, prior) - loc))
    if len(parts) == 1:
        r = parts[0][1]
    else:
        r = jnp.zeros((len(centered), g.k))
        for idx, value in parts:
            r = r.at[idx].set(value)
    return r


TRANSPOSED_DESIGN = "Xt"  # the data key of X stored transposed, (columns, rows)


def with_transposed_design(data: dict) -> dict:
    """``data`` plus ``X`` stored transposed (:data:`TRANSPOSED_DESIGN`) where it has 2 or
    more columns; :func:`linear_predictor` then computes ``X b`` as ``b Xt``. For a sampler
    to call once, outside its loop (JAX arrays; :class:`~formulang.infer.nuts.NutsSampler`
    does), so that the loop reads the transposed copy.

    Why: XLA's CPU code multiplies a row-major ``(rows, p)`` matrix by a vector about twice as
    slowly as its transpose. For VerbAgg's 7,584 x 14 design, ``X b`` and its gradient took 68
    us a gradient, 29 us from the transposed copy (which costs one more copy of ``X``). Inside
    the loop, ``X.T`` does not help: XLA folds it into the product.

    >>> import numpy as np
    >>> sorted(with_transposed_design({"X": np.ones((5, 2))}))
    ['X', 'Xt']
    """
    X = data.get("X") if isinstance(data, dict) else None
    if X is None or len(getattr(X, "shape", ())) != 2 or X.shape[1] < 2:
        return data
    return {**data, TRANSPOSED_DESIGN: X.T}


def linear_predictor(plan: ModelPlan, data: dict, pred=None, arrays: dict | None = None,
                     effects: dict | None = None):
    """Sample every coefficient of one formula and return eta, its linear predictor per row:
    the response's (``pred`` None), or a sub-formula's (a
    :class:`~formulang.lower.plan.DparPlan`, ``arrays`` its data). ``effects``: the group
    effects sampled so far, by term, shared between the formulas of one model so that a term
    spanning formulas (:mod:`~formulang.lower.joint`) is sampled once, by its owner, and each
    formula takes its columns."""
    import jax.numpy as jnp
    import numpyro

    pred = plan if pred is None else pred
    arrays = data if arrays is None else arrays
    params = data["priors"]
    eta = jnp.asarray(arrays["offset"])
    if pred.b is not None:
        b = _sample_vector(pred.b, params)
        Xt = arrays.get(TRANSPOSED_DESIGN)
        eta = eta + (arrays["X"] @ b if Xt is None else b @ Xt)
    intercept = None
    if pred.intercept:
        intercept = numpyro.sample(pred.sites.intercept, numpyro_distribution(
            plan.priors.lookup("Intercept", dpar=pred.dpar).distribution,
            params[pred.sites.intercept_key][:, 0]))
        eta = eta + intercept
    effects = {} if effects is None else effects
    own = []
    for g in pred.groups:
        r = group_effects(g, params, None if g.parent is None else own[g.parent], intercept)
        own.append(r)
        effects[g.name] = r
    for (g, cols), codes, values in zip(uses(plan, pred.dpar), arrays["codes"],
                                        arrays["values"]):
        if g.name not in effects:  # its owner's formula was not built first
            effects[g.name] = group_effects(g, params)
        r = effects[g.name]
        r = r if len(cols) == g.k else r[:, np.asarray(cols)]
        eta = eta + jnp.sum(values * r[codes], axis=-1)
    if own_smooths(plan, pred.dpar):  # s(), gp() of this formula
        eta = eta + smooth_effects(plan, data, pred.dpar, arrays)
    return eta


def family_parameters(plan: ModelPlan, data: dict, effects: dict | None = None) -> dict:
    """The family's parameters: one sampled value each, or, for one with a sub-formula, its
    value per row (``link^-1(eta)``; ``effects``: as :func:`linear_predictor`'s)."""
    import numpyro

    from .links import LINKS

    params = data["priors"]
    out = {aux: numpyro.sample(aux, numpyro_distribution(
        plan.priors.lookup(aux).distribution, params[aux][:, 0])) for aux in plan.aux}
    out.update(sample_thresholds(plan, params))  # an ordinal model's thresholds
    for d in plan.dpars:
        eta = linear_predictor(plan, data, d, data["dpars"][d.name], effects)
        out[d.name] = LINKS[d.link].inverse_jax(eta)
    return out


def make_model(plan: ModelPlan):
    """The NumPyro model function ``model(data)`` for this plan."""

    def model(data):
        import numpyro
        from numpyro import handlers

        effects: dict = {}  # group effects by term: the formulas share those spanning them
        eta = linear_predictor(plan, data, effects=effects)
        aux = family_parameters(plan, data, effects)
        # the family's distribution, with censoring, truncation, se() and rate() if any
        likelihood = observation(plan.family, plan.response, eta, aux, data.get("trials"),
                                 data)
        with numpyro.plate("obs", eta.shape[0]):
            if data.get("weights") is not None:
                with handlers.scale(scale=data["weights"]):
                    numpyro.sample("y", likelihood, obs=data["y"])
            else:
                numpyro.sample("y", likelihood, obs=data["y"])

    return model
