"""Convergence statistics of MCMC draws: rank-normalised split R-hat, bulk and tail ESS
(Vehtari et al. 2021) and E-BFMI, the same estimators as ArviZ's, vectorised over quantities.

ArviZ computes them one quantity at a time (and importing it costs a second or two), which
takes seconds for a model with a few hundred group-level effects; here one call covers every
quantity, so printing a fit needs neither.

>>> import numpy as np
>>> rng = np.random.default_rng(0)
>>> rhat, bulk, tail = convergence(rng.normal(size=(4, 500, 3)))   # chains, draws, quantities
>>> bool(np.all(rhat < 1.01)), bool(np.all(bulk > 1500))
(True, True)
"""

from __future__ import annotations

import numpy as np


# quantities per chunk: bounds the temporaries (a model with 10,000 levels has 20,000 effects x
# 4,000 draws), and chunks run on threads (NumPy's sorts and FFTs release the GIL)
_CHUNK = 512


def convergence(array: np.ndarray):
    """Rank-normalised split R-hat, bulk and tail ESS of each quantity (last axis).

    The same estimators as ``arviz.rhat`` / ``arviz.ess`` (Vehtari et al. 2021), vectorised
    over quantities: ArviZ loops over them in Python, which takes seconds for a few hundred
    group-level effects. Many quantities are split into chunks computed on threads.
    """
    chains, draws, n = array.shape
    if draws < 4 or n == 0:
        nan = np.full(n, np.nan)
        return nan, nan.copy(), nan.copy()
    if n <= _CHUNK:
        return _convergence(array)
    import os
    from concurrent.futures import ThreadPoolExecutor

    starts = range(0, n, _CHUNK)
    with ThreadPoolExecutor(max_workers=max(1, min(os.cpu_count() or 1, 8))) as pool:
        parts = list(pool.map(lambda s: _convergence(array[..., s:s + _CHUNK]), starts))
    return tuple(np.concatenate([part[i] for part in parts]) for i in range(3))


def _convergence(array: np.ndarray):
    chains, _, n = array.shape
    nan = np.full(n, np.nan)
    # float32 draws stay float32 (half the memory traffic; ample for diagnostics), the rest
    # is computed in float64
    dtype = np.float32 if np.asarray(array).dtype == np.float32 else np.float64
    x = np.ascontiguousarray(np.moveaxis(np.asarray(array, dtype=dtype), -1, 0))  # (n, c, d)
    with np.errstate(invalid="ignore", divide="ignore"):
        split = _split_chains(x)
        z = _z_scale(split)  # rank-normalised draws: R-hat and bulk ESS share them
        if chains >= 2:
            med = np.median(split.reshape(n, -1), axis=1)[:, None, None]
            rhat = np.maximum(_rhat(z), _rhat(_z_scale(np.abs(split - med))))
        else:  # as ArviZ: R-hat needs two chains
            rhat = nan
        bulk = _ess(z)
        q = np.quantile(x.reshape(n, -1), [0.05, 0.95], axis=1)  # (2, n)
        tail = np.minimum(*[_ess(_split_chains((x <= q[i][:, None, None]).astype(dtype)))
                            for i in range(2)])
    bad = np.isnan(x).any(axis=(1, 2))
    rhat, bulk, tail = (np.where(bad, np.nan, v).astype(float) for v in (rhat, bulk, tail))
    return rhat, bulk, tail


def _split_chains(x: np.ndarray) -> np.ndarray:
    """(n, chains, draws) -> (n, 2 chains, draws // 2): first and last halves."""
    half = x.shape[2] // 2
    return np.concatenate([x[:, :, :half], x[:, :, x.shape[2] - half:]], axis=1)


def _z_scale(x: np.ndarray) -> np.ndarray:
    """Ranks over all draws of each quantity, mapped to normal scores (Blom's offsets)."""
    from scipy.special import ndtri

    flat = x.reshape(x.shape[0], -1)
    return ndtri((_average_ranks(flat) - 0.375) / (flat.shape[1] + 0.25)).reshape(x.shape)


def _average_ranks(flat: np.ndarray) -> np.ndarray:
    """Ranks 1..N along each row, ties given their average rank (``scipy.stats.rankdata``'s
    ``"average"``), with one sort. Ties are common: float32 draws repeat values."""
    q, N = flat.shape
    order = np.argsort(flat, axis=1)
    ordered = np.take_along_axis(flat, order, axis=1)
    starts = np.ones((q, N), dtype=bool)  # where a run of equal values begins, in sorted order
    starts[:, 1:] = ordered[:, 1:] != ordered[:, :-1]
    first = np.flatnonzero(starts)  # runs never cross rows: every row starts one
    last = np.append(first[1:], q * N) - 1
    mean_position = (first + last) / 2.0 - (first // N) * N + 1.0  # 1-based, within its row
    in_sorted_order = mean_position[np.cumsum(starts.ravel()) - 1].reshape(q, N)
    ranks = np.empty((q, N), dtype=flat.dtype)  # exact in float32 too: N < 2**23
    np.put_along_axis(ranks, order, in_sorted_order, axis=1)
    return ranks


def _rhat(x: np.ndarray) -> np.ndarray:
    n = x.shape[2]
    between = n * np.var(np.mean(x, axis=2), axis=1, ddof=1)
    within = np.mean(np.var(x, axis=2, ddof=1), axis=1)
    return np.sqrt((between / within + n - 1) / n)


def _ess(x: np.ndarray) -> np.ndarray:
    """ESS of (quantities, chains, draws) by Geyer's initial monotone sequence, as ArviZ."""
    from scipy.fft import next_fast_len

    q, m, n = x.shape
    centred = x - x.mean(axis=2, keepdims=True)
    size = next_fast_len(2 * n)
    f = np.fft.rfft(centred, n=size, axis=2)
    acov = np.fft.irfft(f * np.conjugate(f), n=size, axis=2)[..., :n] / n
    acov_mean = np.ascontiguousarray(acov.mean(axis=1).T)  # (lags, q)
    mean_var = acov_mean[0] * n / (n - 1.0)
    var_plus = mean_var * (n - 1.0) / n
    if m > 1:
        var_plus = var_plus + np.var(x.mean(axis=2), axis=1, ddof=1)
    rho = np.zeros((n, q))
    rho[0] = 1.0
    even = np.ones(q)
    odd = 1.0 - (mean_var - acov_mean[1]) / var_plus
    rho[1] = odd
    t_end = np.ones(q, dtype=int)
    active = even + odd > 0
    t = 1
    while t < n - 3 and active.any():  # Geyer's initial positive sequence
        e = 1.0 - (mean_var - acov_mean[t + 1]) / var_plus
        o = 1.0 - (mean_var - acov_mean[t + 2]) / var_plus
        keep = active & (e + o >= 0)
        rho[t + 1, keep], rho[t + 2, keep] = e[keep], o[keep]
        even, odd = np.where(active, e, even), np.where(active, o, odd)
        t_end = np.where(active, t + 2, t_end)
        active = active & (e + o > 0)
        t += 2
    max_t = t_end - 2
    cols = np.arange(q)
    last = np.minimum(max_t + 1, n - 1)
    rho[last, cols] = np.where(even > 0, even, rho[last, cols])
    t = 1
    while t <= max_t.max() - 2:  # Geyer's initial monotone sequence
        on = (t <= max_t - 2) & (rho[t + 1] + rho[t + 2] > rho[t - 1] + rho[t])
        value = (rho[t - 1] + rho[t]) / 2.0
        rho[t + 1] = np.where(on, value, rho[t + 1])
        rho[t + 2] = np.where(on, value, rho[t + 2])
        t += 2
    cum = np.cumsum(rho, axis=0)
    head = np.where(max_t >= 0, cum[np.clip(max_t, 0, n - 1), cols], 0.0)
    nxt = np.where(max_t + 1 < n, rho[np.clip(max_t + 1, 0, n - 1), cols], 0.0)
    total = m * n
    tau = np.maximum(-1.0 + 2.0 * head + nxt, 1.0 / np.log10(total))
    ess = np.where(np.isnan(rho).any(axis=0), np.nan, total / tau)
    flat = x.reshape(q, -1)
    constant = (flat.max(axis=1) - flat.min(axis=1)) < np.finfo(float).resolution
    return np.where(constant, float(total), ess)


def bfmi(energy: np.ndarray) -> np.ndarray:
    """E-BFMI per chain (``arviz.bfmi``): mean squared energy change over the energy
    variance, energy shaped (chains, draws)."""
    energy = np.atleast_2d(np.asarray(energy, dtype=float))
    if energy.shape[1] < 2:
        return np.full(energy.shape[0], np.nan)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.mean(np.square(np.diff(energy, axis=1)), axis=1) / np.var(energy, axis=1,
                                                                            ddof=1)
