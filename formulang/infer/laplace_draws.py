"""Group effects of an embedded-Laplace fit, drawn per posterior draw, with importance weights.

NUTS ran on the Laplace approximation of ``p(theta | y)`` (:mod:`formulang.lower.laplace`).
For each posterior draw ``theta_s`` the standardised effects are drawn from the Gaussian
approximation of their conditional, block by block::

    v_s = v* + L'^-1 e,   e ~ N(0, I),   H(v*) = L L',   u_s = T v_s

(one compiled program over all draws, split over the devices: usually two passes over the
rows per draw, one at the pilot's Newton start for the mode, ``H`` and the expansion below
(:func:`at_mode`), one at ``v_s`` for the joint weight)
and stored as the full model's sites (``z_<g>``, ``rc_<g>``, as
:mod:`formulang.infer.collapsed_draws` stores the exact Gaussian draws), so predictions, LOO,
save/load and simulation read the fit as if the full model had been sampled.

Correction and check. The parameters' weight is the approximation's error to second order,
in closed form: per block ``eps`` (:func:`expansion`; Tierney and Kadane 1986), the leading
term of ``log p(y_o | theta) - log p_LA(y_o | theta)``, summed over blocks. It has no Monte
Carlo noise, and leaves an error of third order in each level's information. Each draw also
gets an importance weight on the full joint,
``log w_s = log p(y, v_s | theta_s) - log p_LA(y | theta_s) - log q(v_s | theta_s)``, which
with ``f(v) = sum_i l_i - |v|^2 / 2`` reduces to ``f(v_s) - f(v*) + |e|^2 / 2`` (the
log-determinants cancel); it multiplies every level's error and its tail grows with the
levels, so it is reported, not used. ``fit.diagnostics()`` reports both Pareto-smoothed tail
shapes (PSIS k-hat; :mod:`formulang.report.diagnostics`). Where the parameters' is at most
0.7 the summaries (``fit.summary()``, ``fixef``, ``ranef``, ``coef``, ``hypothesis``) are of
the draws weighted by the parameters' smoothed weights (``fit.importance_weights``); above
it the correction itself varies too much over the posterior to trust, the summaries are of
the unweighted draws, and the diagnostics say that the approximation may be off for this
model and ``collapse=False`` samples it exactly.

>>> import numpy as np
>>> round(float(pareto_khat(np.zeros(400))), 2)  # equal weights: an exact approximation
-inf
"""

from __future__ import annotations

import numpy as np

from ..lower.collapsed import block_scale
from ..lower.block_linalg import chol_solve, cholesky, newton_step
from ..lower.laplace import STEP_TOL, block_value, find_mode, pass_statistics, population_eta, \
    row_loglik, start_point
from ..lower.plan import ModelPlan
from .collapsed_draws import store_effects, scale_tril_draws, theta_draws
from .jax_setup import jit

SEED_STREAM = 23  # second word of the seed: keeps these draws apart from other uses of it
JOINT = "laplace_log_weight"  # stats key: log weights of (parameters, effects) jointly
PARAMETERS = "laplace_log_weight_theta"  # stats key: log weights of the parameters alone
# rows x draws evaluated at once (vmap) below this: vmap runs both of at_mode's branches, so
# a plain loop is faster from ~10,000 rows (100,000: 1.6 ms a draw against 2.9 in pairs)
_BATCH_ROWS = 1 << 14


def expansion(stats: dict, T, L):
    """Per block the second-order term of ``log E[exp R(e)]``, the Laplace approximation's
    error (``R`` below; Tierney and Kadane 1986), from the moments at the mode ``v*``
    (:func:`formulang.lower.laplace.pass_statistics` of order 4: ``K3``, ``K4`` of the third
    and fourth derivatives ``t_i``, ``s_i`` of ``l_i``) and ``H(v*) = L L'``. With ``b_i =
    P z_i``, ``P = L^-1 T'``::

        eps = 1/8 sum_i s_i c_i^2 + 1/12 |sum_i t_i b_i b_i b_i|^2 + 1/8 |sum_i t_i c_i b_i|^2

    and ``c_i = |b_i|^2 = z_i' M z_i``, ``M = P'P``: the expectation of ``P(e) = R3(e) + R4(e)
    + R3(e)^2 / 2`` under ``e ~ N(0, I)``, where ``R3 = 1/6 sum_i t_i (b_i'e)^3`` and ``R4 =
    1/24 sum_i s_i (b_i'e)^4`` are the Taylor terms of ``R(e) = f(v* + L'^-1 e) - f(v*) +
    |e|^2 / 2``. The sums over rows are contractions of ``K3``, ``K4`` with ``P`` and ``M``."""
    import jax.numpy as jnp

    K3, K4 = stats["K3"], stats["K4"]
    eye = jnp.eye(L.shape[-1], dtype=L.dtype)
    Linv = jnp.stack([chol_solve(L, jnp.broadcast_to(col, L.shape[:-1])) for col in eye], -1)
    P = Linv @ jnp.swapaxes(T, -1, -2)
    M = jnp.swapaxes(P, -1, -2) @ P
    quartic = jnp.einsum("...jklm,...jk,...lm->...", K4, M, M)
    cube = jnp.einsum("...aj,...bk,...cl,...jkl->...abc", P, P, P, K3)
    lin = (P @ jnp.einsum("...jkl,...kl->...j", K3, M)[..., None])[..., 0]
    return quartic / 8.0 + jnp.sum(cube * cube, axis=(-3, -2, -1)) / 12.0 \
        + jnp.sum(lin * lin, axis=-1) / 8.0


def at_mode(loglik, eta0, rows: dict, T, v0, n_blocks: int, q: int):
    """``(v*, stats)``: the mode per block and :func:`~formulang.lower.laplace.pass_statistics`
    of order 4 there, usually from one pass: at the start ``v0``, where no block's Newton
    step ``s`` exceeds :data:`~formulang.lower.laplace.STEP_TOL`, ``v* = v0 + s`` and the
    statistics move there to first order in ``s`` (``f`` by ``g's / 2``, ``S`` by ``-K3 u``,
    ``K3`` by ``K4 u``, ``u = T s``: errors of order ``|s|^2``, below float32's rounding);
    otherwise Newton steps from ``v0 + s`` (:func:`~formulang.lower.laplace.find_mode`) and a
    pass at the mode. (Under ``vmap``, for small data, both branches run.)"""
    import jax
    import jax.numpy as jnp

    first = pass_statistics(loglik, eta0, rows, T, v0, n_blocks, order=4)
    Tt = jnp.swapaxes(T, -1, -2)
    g = (Tt @ first["G"][..., None])[..., 0] - v0
    step = newton_step(jnp.eye(q) + Tt @ first["S"] @ T, g)
    step = jnp.where(jnp.isfinite(step), step, 0.0)
    close = jnp.max(jnp.abs(step)) <= STEP_TOL[jnp.dtype(eta0.dtype).itemsize]

    def near(_):
        u = (T @ step[..., None])[..., 0]
        return v0 + step, {"f": first["f"] + 0.5 * jnp.sum(g * step, axis=-1),
                           "S": first["S"] - jnp.einsum("...jkl,...l->...jk", first["K3"], u),
                           "K3": first["K3"] + jnp.einsum("...jklm,...m->...jkl", first["K4"], u),
                           "K4": first["K4"]}

    def far(_):  # from the first Newton step (a block that overshoots halves its own)
        v, _ = find_mode(loglik, eta0, rows, T, n_blocks, q, v0 + step)
        stats = pass_statistics(loglik, eta0, rows, T, v, n_blocks, order=4)
        return v, {k: stats[k] for k in ("f", "S", "K3", "K4")}  # near's (G: not needed)

    return jax.lax.cond(close, near, far, None)


def mode_draws(plan: ModelPlan, layout, data: dict, theta, trils, aux, keys):
    """Per draw (leading axis of every argument; ``keys``: one PRNG key per draw): the
    effects ``v`` (``(D, B, q)``) drawn from ``N(v*, H^-1)``, their log importance weights
    on the joint (``(D,)``), and the log weights of the parameters alone (``(D,)``): the sum
    over blocks of the approximation's second-order error ``eps`` (:func:`expansion`), the
    leading term of ``log p(y_o | theta) / p_LA(y_o | theta)``, in closed form.

    Why not a Monte Carlo estimate of that ratio (the mean of ``exp R(e)`` over draws of
    ``e``, unbiased)? Its noise adds up over the levels: with 10,000 levels it swamped the
    signal (log-weight variance 9.9 at one fixed ``theta``), even with antithetic draws and
    the Taylor polynomial as a control variate, whose tails (``|e|`` of 4 SDs: 400 of 40,000
    draws) overshoot. ``eps`` has no noise, and what it leaves is of third order in the
    level's information: where the approximation was 8 Monte Carlo errors off (8 Bernoulli
    rows per level), the weighted posterior agrees with the sampled model's within 0.4.
    The standard normals are drawn inside (none the size of draws x blocks held in memory).
    JAX; run it under ``jit``: one compiled program for all draws."""
    import jax
    import jax.numpy as jnp

    rows = data["rows"]
    B, q = layout.n_blocks, layout.q
    n = rows["y"].size

    def one(args):
        th, tr, ax, key = args
        T = block_scale(plan, layout, list(tr), data.get("T_index"))
        eta0 = population_eta(plan, rows, th)
        loglik = row_loglik(plan, rows, ax)
        v_star, stats = at_mode(loglik, eta0, rows, T,
                                start_point(data.get("start"), th, T, B, q), B, q)
        Tt = jnp.swapaxes(T, -1, -2)
        L = cholesky(jnp.eye(q) + Tt @ stats["S"] @ T)
        eps = expansion(stats, T, L)
        e = jax.random.normal(key, (B, q), dtype=eta0.dtype)
        v = v_star + chol_solve(L, e, transpose=True)
        lw = block_value(loglik, eta0, rows, T, v, B) - stats["f"] + 0.5 * jnp.sum(e * e, -1)
        return v, jnp.sum(lw), jnp.sum(eps)

    batch = _BATCH_ROWS // max(n, 1)  # a batch of one: a plain loop, no vmap
    return jax.lax.map(one, (theta, tuple(trils), aux, keys),
                       batch_size=batch if batch > 1 else None)


def draw_runner(plan: ModelPlan, layout):
    """:func:`mode_draws` compiled for this model (a refit reuses it): the draws split evenly
    over the local devices (the CPU devices the chains run on: each its own loop, the data
    on each), padded to a multiple of their number."""
    import jax
    from jax.sharding import Mesh, PartitionSpec

    def draws(d, th, tr, ax, k):
        return mode_draws(plan, layout, d, th, tr, ax, k)

    devices = jax.local_devices()
    if len(devices) == 1:
        return jit(draws)
    split, whole = PartitionSpec("draws"), PartitionSpec()
    sharded = jit(jax.shard_map(
        draws, mesh=Mesh(np.array(devices), ("draws",)),
        in_specs=(whole, split, split, split, split), out_specs=split, check_vma=False))

    def run(d, th, tr, ax, k):
        D, pad = len(k), -len(k) % len(devices)
        def grow(a):  # pad with copies of the last draw
            return jax.numpy.concatenate([a, a[-1:].repeat(pad, 0)]) if pad else a

        out = sharded(d, *jax.tree.map(grow, (th, tr, ax, k)))
        return jax.tree.map(lambda a: a[:D], out)

    return run


def draw_group_effects(plan: ModelPlan, layout, data: dict, samples: dict,
                       seed: int, runner=None) -> tuple[dict, dict]:
    """Effects for every draw in ``samples`` (the Laplace sampler's sites, (chains, draws,
    ...)): returns the full model's group sites (``z_<g>``, ``rc_<g>``) and the log
    importance weights (chains, draws) by name (:data:`JOINT`, :data:`PARAMETERS`: the
    fit's ``stats`` keys). Deterministic given ``seed``. ``runner``:
    :func:`draw_runner`'s, kept by the caller (default: compiled afresh)."""
    import jax
    import jax.numpy as jnp

    chains, draws = np.shape(next(iter(samples.values())))[:2]
    D = chains * draws
    flat = {k: np.reshape(v, (D,) + np.shape(v)[2:]) for k, v in samples.items()}
    theta = theta_draws(plan, flat) if (plan.intercept or plan.b is not None) \
        else np.zeros((D, 0))
    trils = [scale_tril_draws(g, flat) for g in plan.groups]
    aux = {a: np.asarray(flat[a]) for a in plan.aux}
    key = int(np.random.default_rng([int(seed), SEED_STREAM]).integers(2**31))
    keys = jax.random.split(jax.random.PRNGKey(key), D)
    f32 = lambda a: jnp.asarray(a, dtype=jnp.float32)  # noqa: E731 (the sampler's precision)
    run = draw_runner(plan, layout) if runner is None else runner
    v, log_w, log_w_theta = run(data, f32(theta), [f32(t) for t in trils],
                                {k: f32(a) for k, a in aux.items()}, keys)
    v = np.asarray(v, dtype=np.float64)
    T = block_scale(plan, layout, trils, data.get("T_index"), xp=np)
    u = v @ np.swapaxes(T[:, 0], -1, -2) if layout.shared else (T @ v[..., None])[..., 0]
    dtype = np.result_type(np.asarray(theta).dtype, np.float32)
    sites, effects = {}, {}
    for g in plan.groups:
        s, centered = g.sites, np.asarray(g.centered, dtype=bool)
        if (~centered).any():
            sites[s.z] = np.empty((D, int((~centered).sum()), g.k), dtype)
        if centered.any():
            sites[s.rc] = np.empty((D, int(centered.sum()), g.k), dtype)
        effects[s.r] = np.empty((D, len(g.levels), g.k), dtype)
    store_effects(plan, layout, v, u, slice(0, D), flat, sites, effects)
    reshape = lambda a: a.reshape((chains, draws) + a.shape[1:])  # noqa: E731
    weights = {name: np.asarray(w, dtype=np.float64).reshape(chains, draws)
               for name, w in ((JOINT, log_w), (PARAMETERS, log_w_theta))}
    return {k: reshape(a) for k, a in sites.items()}, weights


def complete_samples(plan: ModelPlan, layout, data: dict, samples: dict, seed: int,
                     runner=None) -> tuple[dict, dict]:
    """The Laplace sampler's draws plus the group sites the full model would have sampled,
    and the log importance weights by name (:func:`draw_group_effects`)."""
    sites, weights = draw_group_effects(plan, layout, data, samples, seed, runner)
    return {**samples, **sites}, weights


def psis_weights(log_weights) -> tuple[np.ndarray, float]:
    """Pareto-smoothed importance weights (PSIS, Vehtari et al. 2024) of draws whose log
    weights are given (any shape): the weights, normalised to sum to 1, in that shape, and
    the tail shape ``k`` (``-inf`` when the weights are all equal)."""
    import arviz as az

    lw = np.asarray(log_weights, dtype=np.float64)
    flat = lw.ravel()
    if np.ptp(flat) == 0.0:
        return np.full(lw.shape, 1.0 / flat.size), float("-inf")
    smoothed, k = az.psislw(flat - flat.max())
    w = np.exp(smoothed - smoothed.max())
    return (w / w.sum()).reshape(lw.shape), float(np.asarray(k))


def pareto_khat(log_weights) -> float:
    """PSIS's Pareto tail shape ``k`` of importance weights given as logs (any shape,
    pooled): below 0.7 the weighted estimates are reliable (Vehtari et al. 2024); ``-inf``
    when the weights are all equal."""
    return psis_weights(log_weights)[1]


__all__ = ["JOINT", "PARAMETERS", "complete_samples", "draw_group_effects",
           "draw_runner", "mode_draws", "pareto_khat", "psis_weights"]
