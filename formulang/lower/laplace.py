"""The embedded Laplace approximation: group effects of a non-Gaussian model integrated out
approximately inside the sampler (issue 23).

For a family whose log-likelihood ``l(eta)`` is concave in the linear predictor (bernoulli,
binomial, poisson, negative_binomial: ``FamilySpec.log_concave``), with ``eta = eta0 + Z u``,
``eta0 = offset + X theta`` and the effects standardised as in the exact Gaussian collapse
(:mod:`formulang.lower.collapsed`: ``u = T v``, ``v ~ N(0, I)``, one block per level of the
coarsest factor)::

    f(v) = sum_i l_i(eta_i) - |v|^2 / 2,      H(v) = I + T' Z' W Z T,  W = diag(-l_i'')
    log p(y | theta) ~ f(v*) - 1/2 log|H(v*)|                (v* the mode of f)

``H`` is block-diagonal (``q x q`` per block), so the mode is found by Newton steps vectorised
over blocks, each block halving its own step while its objective would fall. No inverse of
the group covariance appears, so it stays stable as SDs go to 0, as in the exact collapse.

Rows are stored dense, ``(chunks, rows per chunk)``, sorted by block and padded (a mask), so
per-block sums are reductions over the chunk axis (then a sum of each block's few chunks),
not scatter-adds over every row (:func:`laplace_data`, :func:`chunk_rows`): blocks of equal
size are one chunk each and need no scatter at all.

Per gradient the Newton start is the maximum of a quadratic model of ``f`` built once, at
the data, from every row's log-likelihood expanded at the mode's ``eta`` at the pilot fit's
estimates (:func:`start_statistics`): it costs a ``q x q`` solve per block, no pass, and
near the posterior it is within about the square of the posterior spread of the mode (a few
1e-5 prior SDs on the 100,000-row benchmark; ``v = 0`` without a pilot; the previous
gradient's mode is no option: a potential is a pure function of the position, NUTS keeps no
state for it). The pass at the mode is taken there first; where no block's next Newton step
exceeds :data:`SAMPLER_STEP_TOL` and no block's value moves by more than :data:`AHEAD_MAX`
toward the mode it is the only pass, its value corrected to second order in that step.
Otherwise damped Newton steps (a pass each) run from there to :data:`STEP_TOL`
(:func:`find_mode`), and the pass is taken again. The pass at the mode
(:func:`pass_statistics`: per block the moments in ``z`` of the rows' first three
derivatives, also with a population column as a factor) gives the value and, by the adjoint
form of the implicit function theorem (Margossian et al. 2020), the whole gradient by algebra
per block (:func:`laplace_terms`), with no derivative through the Newton loop, no
differentiated pass and no per-row array kept. With ``a_i = T' z_i``,
``c_i = a_i' H^-1 a_i``, ``d3_i`` the third derivative of ``l_i``, ``r = 1/2 sum_i d3_i c_i
a_i`` (minus half the derivative of ``log|H|`` in ``v``) and ``lambda = H^-1 r``, the
derivative in every parameter is that of ``f - 1/2 log|H| + lambda' grad f`` at fixed ``v*``:
per row ``d/d eta_i = l_i' + (lambda' a_i) l_i'' + c_i d3_i / 2``; in ``T`` directly
``-S T H^-1 + (Z' l') lambda'`` (``S = Z' W Z`` per block); in the family parameters the same
row terms' derivatives. :func:`laplace_marginal` returns the value with these as its
derivative (stopped values plus ``g * (x - stop_gradient(x))`` terms).

NUTS then runs over the population, SD, correlation and family parameters (the full model's
sites and priors); the effects are drawn afterwards from ``N(v*, H^-1)`` per draw, with
importance weights on the full joint (:mod:`formulang.infer.laplace_draws`).

Crossed factors are refused: their effects couple across blocks, so ``H`` is no longer
block-diagonal and a dense ``(levels x levels)`` factorisation per gradient would cost more
than sampling the effects.

>>> import formulang as fl
>>> d = fl.datasets.load("cbpp")
>>> m = fl.Model("cbind(incidence, size - incidence) ~ period + (1 | herd)", d,
...              collapse="laplace")
>>> m.collapsed, m.compiled.laplace, m.collapse_layout.n_blocks
(True, True, 15)
>>> chunk_rows(np.full(1000, 100)), chunk_rows(np.array([1, 1, 1, 1, 1000]))
(100, 64)
"""

from __future__ import annotations

import numpy as np

from .block_linalg import chol_inverse, chol_solve, cholesky, newton_step
from .collapsed import BlockLayout, block_scale, group_scale, population_sites, scatter_index
from .plan import ModelPlan

MAX_NEWTON = 30  # Newton steps per mode (typically 1-2 from the pilot's start, 3-4 from 0)
MAX_HALVINGS = 12  # step halvings per Newton step, for blocks whose objective would fall
# stop once no block's Newton step (unit: prior SDs) is larger, and take it without a pass:
# Newton's error after it is ~ STEP_TOL^2, below the precision's rounding (by itemsize)
STEP_TOL = {4: 1e-3, 8: 1e-6}
# inside the sampler: the pass at the mode is the last once no block's next Newton step
# exceeds this; it corrects its value to second order in that step (laplace_terms), so from
# the pilot's start it is usually the only pass to the mode (was 2-3 per gradient)
SAMPLER_STEP_TOL = {4: 1e-2, 8: 1e-4}
AHEAD_MAX = {4: 1e-3, 8: 1e-6}  # largest correction per block the value takes (nats)
CHUNK_COST = 8  # padded rows one chunk costs beyond its rows (its sum and scatter entry)


# ---- data ------------------------------------------------------------------------------------

def chunk_rows(sizes) -> int:
    """Rows per chunk for blocks of ``sizes`` rows: of the largest block and the powers of two
    below it, the one with the fewest padded rows plus :data:`CHUNK_COST` per chunk (ties:
    the larger). Blocks of equal size get their size: one chunk each."""
    sizes = np.asarray(sizes, dtype=np.int64)
    big = max(int(sizes.max(initial=1)), 1)
    candidates = sorted({big} | {1 << k for k in range(big.bit_length())}, reverse=True)
    return min(candidates, key=lambda r: int(np.maximum(1, -(-sizes // r)).sum()) *
               (r + CHUNK_COST))


def laplace_data(plan: ModelPlan, data: dict, layout: BlockLayout, pilot=None) -> dict:
    """The pytree the Laplace model takes: priors, and ``rows``: every row array shaped
    ``(chunks, rows per chunk, ...)``, sorted by block (:func:`chunk_rows`; every block has
    at least one chunk, so chunks are blocks exactly when there are as many), with ``Z`` in
    block coordinates, ``(chunks, q, rows per chunk)`` (``Z[c, j, r]``: the effect at slot
    ``j`` of the row's block),
    ``mask`` (1 for a row, 0 for padding: a copy of a row of the same block; absent where
    no chunk is padded), ``offset`` (absent where it is 0),
    ``chunk_block``, the population design, response, trials and the additions' arrays
    (rate()); ``T_index`` where blocks differ in layout; ``start`` (:func:`start_statistics`)
    given the ``pilot`` fit."""
    codes = [np.asarray(c, dtype=np.intp) for c in data["codes"]]
    values = [np.asarray(v, dtype=np.float64) for v in data["values"]]
    n, B = len(data["y"]), layout.n_blocks
    block = np.asarray(layout.level_block[layout.outer], dtype=np.intp)[codes[layout.outer]]
    Z = np.zeros((n, layout.q))
    for gi, (c, v) in enumerate(zip(codes, values)):
        slot = layout.level_slot[gi][c]
        for j in range(v.shape[1]):
            Z[np.arange(n), slot + j] = v[:, j]
    order = np.argsort(block, kind="stable")
    sizes = np.bincount(block, minlength=B)
    R = chunk_rows(sizes)
    chunks = np.maximum(1, -(-sizes // R))
    first_chunk = np.cumsum(chunks) - chunks
    first_row = np.cumsum(sizes) - sizes  # in sorted order
    sorted_block = block[order]
    rank = np.arange(n) - first_row[sorted_block]
    source = np.full((int(chunks.sum()), R), -1, dtype=np.intp)
    source[first_chunk[sorted_block] + rank // R, rank % R] = order
    chunk_block = np.repeat(np.arange(B), chunks)
    pad = order[np.minimum(first_row, n - 1)][chunk_block]  # a row of the block (any if none)
    mask = source >= 0
    source = np.where(mask, source, pad[:, None])
    rows = {"Z": np.moveaxis(Z[source], -1, 1),  # rows last: sums over them are contiguous
            "X": np.asarray(data["X"], dtype=np.float64)[source],
            "y": np.asarray(data["y"])[source], "chunk_block": chunk_block.astype(np.int32)}
    # each pass is bound by memory bandwidth: no array of zeros (offset) or ones (mask) read
    offset = np.asarray(data["offset"], dtype=np.float64)
    if np.any(offset != 0.0):
        rows["offset"] = offset[source]
    if not mask.all():
        rows["mask"] = mask.astype(np.float64)
    for key in ("trials", *plan.response.data_keys()):
        if data.get(key) is not None:
            rows[key] = np.asarray(data[key])[source]
    out = {"priors": data["priors"], "rows": rows}
    if not layout.shared:
        out["T_index"] = scatter_index(plan, layout)
    start = start_statistics(plan, layout, out, pilot)
    if start is not None:
        out["start"] = start
    return out


# ---- the per-block pass over rows --------------------------------------------------------------

def row_loglik(plan: ModelPlan, rows: dict, aux: dict):
    """``eta -> l_i(eta_i)`` per row: the family's log density of the response (with
    trials and rate() where given), from its row."""
    from .response import observation

    def loglik(eta):
        dist = observation(plan.family, plan.response, eta, aux, rows.get("trials"), rows)
        return dist.log_prob(rows["y"])

    return loglik


def population_eta(plan: ModelPlan, rows: dict, theta):
    """``eta0 = offset + X_c theta`` (``theta``: the intercept first, then the slopes)."""
    import jax
    import jax.numpy as jnp

    if "offset" in rows:
        eta = rows["offset"]
    else:  # X's precision as JAX runs it (float32 unless x64 is on: numpy's X is float64)
        eta = jnp.zeros(rows["y"].shape, jax.dtypes.canonicalize_dtype(rows["X"].dtype))
    if plan.intercept:
        eta = eta + theta[0]
        theta = theta[1:]
    if rows["X"].shape[-1]:
        eta = eta + rows["X"] @ theta
    return eta


def derivatives(loglik, eta, order: int) -> tuple:
    """``(l, l', ..., l^(order))`` per row, by nested forward derivatives along ones: the
    log-likelihood is separable (row ``i`` depends on ``eta_i`` alone)."""
    import jax
    import jax.numpy as jnp

    ones = jnp.ones_like(eta)

    def up(fn):
        def higher(e):
            values, tangents = jax.jvp(fn, (e,), (ones,))
            return (*values, tangents[-1])
        return higher

    fn = lambda e: (loglik(e),)
    for _ in range(order):
        fn = up(fn)
    return fn(eta)


def masked(x, rows: dict):
    """Per-row values ``x`` with the padding's set to 0 (none is where ``rows`` has no mask)."""
    return x * rows["mask"] if "mask" in rows else x


def block_sum(x, rows: dict, n_blocks: int):
    """Per-block sums of per-row values ``x`` (``(chunks, ..., rows per chunk)``, padding
    already masked): a reduction within each chunk (over the last, contiguous axis: a
    middle one is several times slower on CPU), then over each block's chunks (none where
    chunks are blocks)."""
    import jax

    s = x.sum(axis=-1)
    if s.shape[0] == n_blocks:
        return s
    return jax.ops.segment_sum(s, rows["chunk_block"], num_segments=n_blocks,
                               indices_are_sorted=True)


def per_chunk(a, rows: dict, n_blocks: int):
    """A per-block array ``(B, ...)`` (or one shared, ``(1, ...)``) per chunk."""
    if a.shape[0] == 1 or rows["chunk_block"].shape[0] == n_blocks:
        return a
    return a[rows["chunk_block"]]


def row_eta(eta0, rows: dict, T, v, n_blocks: int):
    """``eta_i = eta0_i + z_i' T_b v_b`` per row (``v``: ``(B, q)``)."""
    import jax.numpy as jnp

    u = per_chunk((T @ v[..., None])[..., 0], rows, n_blocks)
    return eta0 + jnp.sum(rows["Z"] * u[:, :, None], axis=1)


def block_value(loglik, eta0, rows: dict, T, v, n_blocks: int):
    """``f_o(v)`` per block alone (no derivatives): one pass over the rows."""
    import jax.numpy as jnp

    eta = row_eta(eta0, rows, T, v, n_blocks)
    return block_sum(masked(loglik(eta), rows), rows, n_blocks) - 0.5 * jnp.sum(v * v, -1)


def block_pass(loglik, eta0, rows: dict, T, v, n_blocks: int, second: bool = True):
    """At standardised effects ``v`` (``(B, q)``): per block the objective ``f_o(v)``, its
    gradient ``T_o' Z_o' l' - v_o`` and (``second``) ``H_o = I + T_o' Z_o' W_o Z_o T_o``,
    ``W = diag(-l'')`` (None otherwise). One pass over the rows."""
    import jax.numpy as jnp

    Z = rows["Z"]
    eta = row_eta(eta0, rows, T, v, n_blocks)
    ll, d, *h = (masked(x, rows) for x in derivatives(loglik, eta, 2 if second else 1))
    Tt = jnp.swapaxes(T, -1, -2)
    f = block_sum(ll, rows, n_blocks) - 0.5 * jnp.sum(v * v, axis=-1)
    grad = (Tt @ block_sum(d[:, None] * Z, rows, n_blocks)[..., None])[..., 0] - v
    if not second:
        return f, grad, None
    S = block_sum(-h[0][:, None, None] * Z[:, :, None] * Z[:, None], rows, n_blocks)
    return f, grad, jnp.eye(v.shape[-1]) + Tt @ S @ T


def find_mode(loglik, eta0, rows: dict, T, n_blocks: int, q: int, v0=None):
    """``(v*, passes)``: the mode per block by damped Newton from ``v0`` (default 0), and
    the passes over the rows it took (forward only: call it on stopped inputs). Each block
    halves its own step while its objective would fall (a Bernoulli block with a large SD
    can overshoot); the loop stops before a step once no block's Newton step exceeds
    :data:`STEP_TOL`, and takes that step without a pass, or after :data:`MAX_NEWTON`
    steps. A block that cannot improve keeps its point."""
    import jax.numpy as jnp
    from jax import lax

    v0 = jnp.zeros((n_blocks, q), dtype=eta0.dtype) if v0 is None else v0.astype(eta0.dtype)
    f0, g0, H0 = block_pass(loglik, eta0, rows, T, v0, n_blocks)

    def better(f_new, f_old):  # rounding slack: float32 objectives of many rows
        return jnp.isfinite(f_new) & (f_new >= f_old - 1e-6 * (1.0 + jnp.abs(f_old)))

    def finite_step(H, g):
        step = newton_step(H, g)
        return jnp.where(jnp.isfinite(step), step, 0.0)

    def body(state):
        v, f, step, it, passes = state

        def try_step(t):
            return block_pass(loglik, eta0, rows, T, v + t[:, None] * step, n_blocks)

        def halve_cond(s):
            _, f_new, _, _, k = s
            return jnp.any(~better(f_new, f)) & (k < MAX_HALVINGS)

        def halve(s):
            t, f_new, g_new, H_new, k = s
            t = jnp.where(better(f_new, f), t, 0.5 * t)
            f_new, g_new, H_new = try_step(t)
            return t, f_new, g_new, H_new, k + 1

        t = jnp.ones((n_blocks,), dtype=v.dtype)
        t, f_new, g_new, H_new, k = lax.while_loop(halve_cond, halve, (t, *try_step(t), 0))
        ok = better(f_new, f)
        v_new = jnp.where(ok[:, None], v + t[:, None] * step, v)
        f_new = jnp.where(ok, f_new, f)
        step_new = jnp.where(ok[:, None], finite_step(H_new, g_new), 0.0)  # stuck: stops
        return v_new, f_new, step_new, it + 1, passes + k + 1

    tol = STEP_TOL[jnp.dtype(eta0.dtype).itemsize]

    def cond(state):
        return (state[3] < MAX_NEWTON) & (jnp.max(jnp.abs(state[2])) > tol)

    state = (v0, f0, finite_step(H0, g0), 0, 1)
    v, _, step, _, passes = lax.while_loop(cond, body, state)
    small = jnp.max(jnp.abs(step), axis=-1, keepdims=True) <= tol
    return v + jnp.where(small, step, 0.0), passes


def moments(w, Z, order: int, rows: dict, n_blocks: int, left=None):
    """Per block ``sum_i w_i z_i (x) ... (x) z_i`` (``order`` factors; ``(B, q, ..., q)``;
    padding masked in ``w``), each distinct entry of the symmetric tensor summed once
    (``q = 2``: 4 of the 8 third moments, 5 of the 16 fourth). ``left``: per-row columns
    (None for a column of ones), each a further factor: ``(B, len(left), q, ..., q)``."""
    import itertools

    import jax.numpy as jnp

    q = Z.shape[1]
    combos = list(itertools.combinations_with_replacement(range(q), order))
    sums = []
    for col in ([None] if left is None else left):
        for combo in combos:
            x = w if col is None else w * col
            for j in combo:
                x = x * Z[:, j]
            sums.append(block_sum(x, rows, n_blocks))
    where = {c: k for k, c in enumerate(combos)}
    index = [where[tuple(sorted(i))] for i in itertools.product(range(q), repeat=order)]
    flat = jnp.stack(sums, -1).reshape((-1, len(sums) // len(combos), len(combos)))
    out = flat[..., np.array(index)].reshape(flat.shape[:-1] + (q,) * order)
    return out[:, 0] if left is None else out


def population_columns(plan: ModelPlan, rows: dict) -> list:
    """The population design per row, as :func:`population_eta` multiplies it by ``theta``:
    None for the intercept (a column of ones), then each column of ``X``."""
    X = rows["X"]
    return [None] * bool(plan.intercept) + [X[..., k] for k in range(X.shape[-1])]


def pass_statistics(loglik, eta0, rows: dict, T, v, n_blocks: int, order: int = 3,
                    design=None) -> dict:
    """One pass over the rows at standardised effects ``v`` (forward only, stopped inputs):
    per block the objective ``f`` and the moments in ``z`` of the rows' derivatives of ``l``:
    ``G = sum l' z``, ``S = -sum l'' z z'``, ``K3 = sum l''' z z z`` (and ``K4``, of the
    fourth, for ``order`` 4); with ``design`` (:func:`population_columns`) also those with
    a population column ``x`` as a further factor, for the derivative in ``theta``:
    ``Dx = sum l' x``, ``HXZ = sum l'' x z'``, ``D3XZZ = sum l''' x z z'``. The Laplace value,
    its whole derivative (:func:`laplace_terms`) and the approximation's error
    (:func:`formulang.infer.laplace_draws.expansion`) are algebra on these per block, so the
    rows are read once."""
    import jax.numpy as jnp

    Z = rows["Z"]
    eta = row_eta(eta0, rows, T, v, n_blocks)
    ll, d, h, *higher = (masked(x, rows) for x in derivatives(loglik, eta, order))
    out = {"f": block_sum(ll, rows, n_blocks) - 0.5 * jnp.sum(v * v, axis=-1),
           "G": moments(d, Z, 1, rows, n_blocks), "S": -moments(h, Z, 2, rows, n_blocks)}
    for k, w in enumerate(higher, start=3):
        out[f"K{k}"] = moments(w, Z, k, rows, n_blocks)
    if design:
        for key, w, k in (("Dx", d, 0), ("HXZ", h, 1), ("D3XZZ", higher[0], 2)):
            out[key] = moments(w, Z, k, rows, n_blocks, left=design)
    return out


def laplace_terms(stats: dict, T, v):
    """From :func:`pass_statistics` at ``v`` (module docstring): the Laplace marginal's value,
    the next Newton step ``s`` and the value's correction toward the mode per block (below),
    ``H``'s Cholesky factors, per block ``u_lam = T lambda`` and ``M = T H^-1 T'`` (per row
    ``d/d eta_i = l' + (z_i' u_lam) l'' + (z_i' M z_i / 2) l'''``), the derivative in ``T``
    directly, and that in ``theta`` (None without the design's moments). No pass over the
    rows: with ``a_i = T' z_i``, ``sum_i l'''_i c_i a_i = T' (K3 : M)``, ``sum_i d_eta_i z_i
    = G - S u_lam + (K3 : M) / 2`` and ``sum_i d_eta_i x_i = Dx + HXZ u_lam + (D3XZZ : M) / 2``.

    ``v`` need not be the mode exactly: with ``g`` the gradient there and ``s = H^-1 g`` the
    next Newton step, the value plus the correction ``g's / 2 + lambda'g`` is
    ``f(v + s) - 1/2 log|H(v + s)|`` to second order in ``s``, so the Newton loop may be
    skipped (:data:`SAMPLER_STEP_TOL`, :data:`AHEAD_MAX`). The derivative's terms assume
    ``g = 0``: off by ``O(s)``, which leaves HMC exact (the value decides acceptance; any
    deterministic gradient keeps the leapfrog reversible and volume-preserving)."""
    import jax.numpy as jnp

    G, S, K3 = stats["G"], stats["S"], stats["K3"]
    Tt = jnp.swapaxes(T, -1, -2)
    H = jnp.eye(v.shape[-1]) + Tt @ S @ T
    L = cholesky(H)
    Hinv = chol_inverse(L)
    M = T @ Hinv @ Tt
    KM = jnp.einsum("...jkl,...kl->...j", K3, M)  # sum_i l'''_i z_i (z_i' M z_i)
    lam = (Hinv @ (Tt @ (0.5 * KM)[..., None]))[..., 0]
    u_lam = (T @ lam[..., None])[..., 0]
    E = G - (S @ u_lam[..., None])[..., 0] + 0.5 * KM  # sum_i d_eta_i z_i
    d_T = (-S @ T @ Hinv + G[..., :, None] * lam[..., None, :]
           + E[..., :, None] * v[..., None, :])
    d_theta = None
    if "Dx" in stats:  # sum_i d_eta_i x_i, summed over blocks
        d_theta = jnp.sum(stats["Dx"] + (stats["HXZ"] @ u_lam[..., None])[..., 0]
                          + 0.5 * jnp.einsum("bpjk,bjk->bp", stats["D3XZZ"], M), axis=0)
    logdet = 2.0 * jnp.sum(jnp.log(jnp.diagonal(L, axis1=-2, axis2=-1)), axis=-1)
    g = (Tt @ G[..., None])[..., 0] - v  # the gradient at v: 0 at the mode
    step = chol_solve(L, chol_solve(L, g), transpose=True)
    ahead = jnp.sum(g * (0.5 * step + lam), axis=-1)  # to the mode, second order
    step = jnp.where(jnp.isfinite(step), step, 0.0)
    return jnp.sum(stats["f"] - 0.5 * logdet), step, ahead, L, u_lam, M, d_T, d_theta


def row_weights(rows: dict, u_lam, M, n_blocks: int):
    """Per row the weights ``(z_i' u_lam, z_i' M z_i / 2)`` of ``l'`` and ``l''`` in the
    derivative in the family parameters (:func:`laplace_terms`)."""
    import jax.numpy as jnp

    Z = rows["Z"]
    c1 = jnp.sum(Z * per_chunk(u_lam, rows, n_blocks)[:, :, None], axis=1)
    c2 = 0.5 * jnp.sum(Z[:, :, None] * per_chunk(M, rows, n_blocks)[..., None] * Z[:, None],
                       axis=(1, 2))
    return c1, c2


# ---- a start near the mode, from the pilot ---------------------------------------------------

def pilot_reference(plan: ModelPlan, pilot):
    """``(theta, trils, aux)`` at the pilot fit's estimates (``theta`` on the centred design
    as the sampler's: ``Intercept_c = Intercept + x_means' b``; ``trils``: the Cholesky
    factors of its ``Sigma_g``), or None where the pilot lacks one (a family parameter, a
    term's covariance of another size)."""
    if pilot is None or any(a not in pilot.aux for a in plan.aux) or \
            len(pilot.cov) != len(plan.groups) or len(pilot.beta) != len(plan.columns):
        return None
    beta = np.asarray(pilot.beta, dtype=np.float64)
    slopes = [j for j, c in enumerate(plan.columns) if c != "Intercept"]
    theta = beta[slopes]
    if plan.intercept:
        b0 = beta[plan.columns.index("Intercept")] + theta @ np.asarray(plan.x_means)
        theta = np.concatenate([[b0], theta])
    trils = []
    for g, cov in zip(plan.groups, pilot.cov):
        cov = np.atleast_2d(np.asarray(cov, dtype=np.float64))
        if cov.shape != (g.k, g.k) or not np.all(np.isfinite(cov)):
            return None
        trils.append(np.linalg.cholesky(cov + 1e-9 * np.eye(g.k)))
    # a family parameter the pilot put at infinity (negative_binomial's phi with no
    # overdispersion seen) as a large finite one: the likelihood's limit, finite
    return theta, trils, {a: np.float64(np.nan_to_num(pilot.aux[a], posinf=1e6))
                          for a in plan.aux}


def start_statistics(plan: ModelPlan, layout: BlockLayout, tree: dict, pilot) -> dict | None:
    """Per block the quadratic model of ``f`` from every row's log-likelihood expanded to
    second order at a reference ``eta`` (the mode's at the pilot's estimates, found once):
    ``a = sum_i z_i (l_i' + l_i'' (offset_i - ref_i))``, ``M = sum_i l_i'' z_i x_i'`` (``x_i``
    with the intercept's 1) and ``S = -sum_i l_i'' z_i z_i'``, so that the Newton start
    ``(I + T'ST)^-1 T'(a + M theta)`` (:func:`start_point`) costs no pass over the rows. Near
    the posterior (where the reference is) it is within about the square of the posterior
    spread of the mode: one or two passes fewer than from ``v = 0``. None without a pilot."""
    import jax
    import jax.numpy as jnp

    ref = pilot_reference(plan, pilot)
    if ref is None:
        return None
    theta, trils, aux = ref
    rows = {k: jnp.asarray(v) for k, v in tree["rows"].items()}
    B, q = layout.n_blocks, layout.q
    T = jnp.asarray(block_scale(plan, layout, trils, tree.get("T_index"), xp=np))

    @jax.jit
    def statistics(rows, theta, T, aux):
        loglik = row_loglik(plan, rows, aux)
        eta0 = population_eta(plan, rows, theta)
        v, _ = find_mode(loglik, eta0, rows, T, B, q)
        eta = row_eta(eta0, rows, T, v, B)
        _, d, h = (masked(x, rows) for x in derivatives(loglik, eta, 2))
        Z, X = rows["Z"], jnp.moveaxis(rows["X"], -1, 1)  # (chunks, q or p, rows)
        if plan.intercept:
            X = jnp.concatenate([jnp.ones_like(X[:, :1]), X], axis=1)
        return {"a": block_sum((d + h * (rows.get("offset", 0.0) - eta))[:, None] * Z, rows, B),
                "M": block_sum(h[:, None, None] * Z[:, :, None] * X[:, None], rows, B),
                "S": block_sum(-h[:, None, None] * Z[:, :, None] * Z[:, None], rows, B)}

    out = {k: np.asarray(v, dtype=np.float64) for k, v in statistics(rows, theta, T, aux).items()}
    return out if all(np.all(np.isfinite(v)) for v in out.values()) else None


def start_point(start: dict | None, theta, T, n_blocks: int, q: int):
    """The Newton start per block: the maximum of :func:`start_statistics`'s quadratic
    model at ``theta`` and ``T`` (``v = 0`` without one)."""
    import jax.numpy as jnp

    if start is None:
        return jnp.zeros((n_blocks, q), dtype=T.dtype)
    b = (jnp.swapaxes(T, -1, -2) @ (start["a"] + start["M"] @ theta)[..., None])[..., 0]
    H = jnp.eye(q) + jnp.swapaxes(T, -1, -2) @ start["S"] @ T
    v = newton_step(H, b)
    return jnp.where(jnp.isfinite(v), v, 0.0).astype(T.dtype)


def laplace_marginal(plan: ModelPlan, layout: BlockLayout, data: dict, theta, trils, aux,
                     with_mode: bool = False):
    """``log p(y | theta, T, aux)`` with the group effects integrated out by the Laplace
    approximation, differentiable once (the implicit function theorem's adjoint, module
    docstring). ``with_mode``: also return the point of the pass at the mode (within
    :data:`SAMPLER_STEP_TOL` of it) and the Cholesky factor of ``H`` there."""
    import jax
    import jax.numpy as jnp

    rows = data["rows"]
    sg = jax.lax.stop_gradient
    T = block_scale(plan, layout, trils, data.get("T_index"))
    eta0 = population_eta(plan, rows, sg(theta))  # its derivative: d_theta below
    B, q = layout.n_blocks, layout.q
    loglik = row_loglik(plan, rows, sg(aux))
    tol = SAMPLER_STEP_TOL[jnp.dtype(eta0.dtype).itemsize]
    v0 = start_point(data.get("start"), sg(theta), sg(T), B, q)
    design = population_columns(plan, rows)

    def at(v):
        stats = pass_statistics(loglik, eta0, rows, sg(T), v, B, design=design)
        return (v, *laplace_terms(stats, sg(T), v))

    def newton(first):  # the start was not close enough: Newton steps, then the pass again
        v, _ = find_mode(loglik, eta0, rows, sg(T), B, q, first[0])
        return at(v)

    # the pilot's start is usually within a few 1e-5 of the mode near the posterior, so
    # the pass at the mode is taken there first, and is the only pass when its next step and
    # the value's correction are small (a step small in prior SDs can still move the value a
    # lot where H is huge: an SD of 1,856 with a correlation of -0.999995 gave +8e8)
    small = AHEAD_MAX[jnp.dtype(eta0.dtype).itemsize]
    first = at(v0)
    close = (jnp.max(jnp.abs(first[2])) <= tol) & (jnp.max(jnp.abs(first[3])) <= small)
    v_star, value, _, ahead, L, u_lam, M, d_T, d_theta = jax.lax.cond(
        close, lambda f: f, newton, first)
    # after Newton steps the correction is kept where it is small (it is then second order)
    value = value + jnp.sum(jnp.where(jnp.abs(ahead) <= small, ahead, 0.0))
    value = sg(value) + jnp.sum(sg(d_T) * (T - sg(T)))
    if d_theta is not None:  # eta0 = offset + [1, X] theta: its derivative, per block summed
        value = value + jnp.sum(sg(d_theta) * (theta - sg(theta)))
    v_star = sg(v_star)
    if aux:  # the family parameters: l, l', l'' at the mode's eta, weighted as in d_eta
        c1, c2 = row_weights(rows, sg(u_lam), sg(M), B)
        eta = row_eta(eta0, rows, sg(T), v_star, B)
        ll, d, h = derivatives(row_loglik(plan, rows, aux), eta, 2)
        part = jnp.sum(masked(ll + c1 * d + c2 * h, rows))
        value = value + part - sg(part)
    return (value, v_star, sg(L)) if with_mode else value


def make_laplace_model(plan: ModelPlan, layout: BlockLayout):
    """``model(data)`` over the full model's non-group sites (same names and priors), with
    the group effects integrated out by the Laplace approximation:
    ``numpyro.factor("y_marginal", log p_LA(y | theta, sd, L, aux))``. ``data``:
    :func:`laplace_data`'s pytree."""

    def model(data):
        import numpyro

        from .numpyro_model import family_parameters

        params = data["priors"]
        theta = population_sites(plan, params)
        trils = [group_scale(g, params) for g in plan.groups]
        aux = family_parameters(plan, data)
        numpyro.factor("y_marginal", laplace_marginal(plan, layout, data, theta, trils, aux))

    return model


__all__ = ["block_pass", "block_value", "chunk_rows", "find_mode", "laplace_data",
           "laplace_marginal", "laplace_terms", "make_laplace_model", "moments",
           "pass_statistics", "pilot_reference", "population_columns", "population_eta",
           "row_loglik", "row_weights",
           "start_point", "start_statistics"]
