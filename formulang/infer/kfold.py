"""K-fold cross-validation: refit on each fold's training rows, score the held-out rows.

Two kinds of folds, the two levels of validation a hierarchical model must pass:

- ``"random"``: rows held out *within* groups, stratified by ``group`` (as ``loo``'s
  ``kfold_split_stratified`` and brms's ``folds = "stratified"``): the rows of each level are
  spread over the folds, so a level with at least two rows keeps training rows in every fold.
  Without a group, plain random folds.
- ``"grouped"``: whole levels of ``group`` held out (brms's ``group =``). A held-out level has
  no training rows, so its effect's posterior is the population distribution: it is predicted
  as a new level, its effect drawn per draw from ``N(0, Sigma)`` (``new_levels="gaussian"``).

One compiled sampler serves every fold: all rows stay in the data and a fold's held-out rows
get weight 0 in the likelihood (``weights()``; a weight-0 row contributes nothing), so each
fold has the same shapes and runs the same program, with the data, weights and keys as
arguments. ``parallel=`` says how the folds run (:mod:`.kfold_parallel`): one after another
(each fold's chains in parallel over the devices), several at once with one fold per device,
or all at once vectorised (one GPU); ``"auto"`` picks by the device count and platform, and
the result says which ran. Progress: a line per fold or per round of folds. The samplers
adapt the plan's dense mass-matrix block (crossed intercepts), as a fit's does.

What differs from refitting on the subset: the data-scaled default priors are the full
data's (brms also refits with the same priors), the sampler's starting mass matrix comes from
the full data's pilot fit, and the full (not collapsed, not row-compressed) model is
sampled. Grouped folds sample every level non-centred: a held-out level is pure prior,
which a centred parameterisation would turn into a funnel.

The held-out log predictive density of row i is ``log mean_s p(y_i | draw s)`` from the
model's own likelihood (censoring, truncation and the rest included); ``elpd`` is their sum,
with SE ``sqrt(n) * sd(pointwise)``. ``rmse`` compares the posterior mean prediction of each
held-out row with its response.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..errors import FormulangError
from .jax_setup import jit

FOLDS = ("random", "grouped")


@dataclass(frozen=True, eq=False)
class KFoldResult:
    """What :func:`kfold` found: ``elpd`` (``elpd_kfold``) and its ``se``, the ``pointwise``
    held-out log predictive densities and the ``fold`` of each row (0..K-1), ``rmse`` of the
    posterior mean prediction, and how long it took (``seconds``; ``sampling_seconds`` of
    which the samplers ran, per run: a fold, or a round of folds run at once; compilation
    included in the first). ``parallel``: how the folds ran (``"sequential"``,
    ``"devices"``: ``width`` at a time, one per device, or ``"vectorized"``: all at once),
    :mod:`formulang.infer.kfold_parallel`."""

    formula: str
    K: int
    folds: str
    group: str | None
    pointwise: np.ndarray
    fold: np.ndarray
    rmse: float
    seconds: float
    sampling_seconds: tuple[float, ...] = field(default=())
    divergences: int = 0
    parallel: str = "sequential"
    width: int = 1

    @property
    def n(self) -> int:
        return int(self.pointwise.shape[0])

    @property
    def elpd(self) -> float:
        return float(np.sum(self.pointwise))

    @property
    def se(self) -> float:
        return float(np.sqrt(self.n) * np.std(self.pointwise, ddof=1)) if self.n > 1 else 0.0

    def to_frame(self) -> pd.DataFrame:
        """One row: elpd_kfold, se, p (rows), rmse (brms's ``kfold`` print)."""
        return pd.DataFrame({"elpd_kfold": [self.elpd], "se": [self.se],
                             "rmse": [self.rmse], "n": [self.n]}, index=[self.formula])

    def ways_text(self) -> str:
        """How the folds ran, in words."""
        if self.parallel == "devices":
            return f"{self.width} at a time, one per device (parallel='devices')"
        if self.parallel == "vectorized":
            return "all at once, vectorised on one device (parallel='vectorized')"
        return "one after another, chains in parallel (parallel='sequential')"

    def __str__(self) -> str:
        by = f" by {self.group}" if self.group else ""
        head = (f"{self.K}-fold cross-validation ({self.folds} folds{by}) of {self.formula}, "
                f"{self.n} rows")
        text = (f"{head}\n  elpd_kfold {self.elpd:10.1f}   SE {self.se:6.1f}\n"
                f"  RMSE       {self.rmse:10.4g}   (posterior mean prediction, held out)")
        text += f"\n  folds run {self.ways_text()}"
        if self.divergences:
            text += f"\n  {self.divergences} divergent transitions over the folds' refits"
        return text


def assign_folds(labels, K: int, folds: str = "random", seed: int = 0,
                 n: int | None = None) -> np.ndarray:
    """The fold (0..K-1) of each row. ``labels``: the group of each row (or ``None``: plain
    random folds of ``n`` rows).

    >>> assign_folds(["a", "a", "b", "b", "b", "c"], 2, "grouped", seed=1).tolist()
    [0, 0, 1, 1, 1, 0]
    >>> f = assign_folds(["a"] * 4 + ["b"] * 4, 2, "random")
    >>> sorted(f[:4].tolist()), sorted(f[4:].tolist())  # each group in both folds
    ([0, 0, 1, 1], [0, 0, 1, 1])
    >>> sorted(np.bincount(assign_folds(None, 3, n=7)).tolist())  # no group: random folds
    [2, 2, 3]
    """
    if folds not in FOLDS:
        raise FormulangError(f"unknown folds {folds!r}; choose one of: {', '.join(FOLDS)}")
    rng = np.random.default_rng(seed)
    if folds == "grouped":
        if labels is None:
            raise FormulangError("grouped folds hold out whole groups: name the group "
                                 "(group=..., --group)")
        codes, levels = pd.factorize(pd.Series(labels).astype(str), sort=True)
        if len(levels) < K:
            raise FormulangError(f"grouped folds need at least K={K} levels of the group; "
                                 f"it has {len(levels)}")
        per_level = _cyclic(rng.permutation(len(levels)), K, rng)
        return per_level[codes]
    n = len(labels) if labels is not None else n
    if n is None:
        raise FormulangError("random folds without a group need the number of rows")
    if n < K:
        raise FormulangError(f"K={K} folds need at least {K} rows; the data have {n}")
    if labels is None:
        return _cyclic(rng.permutation(n), K, rng)
    codes = pd.factorize(pd.Series(labels).astype(str), sort=True)[0]
    # rows in random order within their group, groups one after another: dealing folds
    # cyclically along that order spreads each group's rows over distinct folds
    order = np.lexsort((rng.random(n), codes))
    return _cyclic(order, K, rng)


def _cyclic(order: np.ndarray, K: int, rng) -> np.ndarray:
    out = np.empty(len(order), dtype=np.int64)
    out[order] = rng.permutation(K)[np.arange(len(order)) % K]
    return out


def group_labels(model, group: str | None):
    """The group of each training row, read from the model's data (so models with and without
    the group term get the same folds), or ``None``."""
    if group is None:
        return None
    from ..data.frame import as_frame, require_columns

    frame = as_frame(model._frame).subset(model.bound.kept_rows)
    names = group.split(":")
    require_columns(frame, names, what=f"group={group!r}")
    parts = [frame.get(name).astype(str).to_numpy() for name in names]
    return parts[0] if len(parts) == 1 else np.array([":".join(p) for p in zip(*parts)])


def default_group(model, folds: str) -> str | None:
    """The model's first grouping factor, if any (a pooled model has none: name it)."""
    groups = model.bound.groups
    return groups[0].spec.label if groups else None


def kfold(model, K: int = 10, folds: str = "random", group: str | None = None, seed: int = 0,
          settings=None, progress: bool | None = None, parallel: str = "auto") -> KFoldResult:
    """K-fold cross-validation of ``model`` (a live :class:`~formulang.Model`) with NUTS
    :class:`~formulang.infer.nuts.SamplerSettings` ``settings``; see the module docstring.
    ``parallel``: how the folds run, ``"auto"``, ``"sequential"``, ``"devices"`` (or
    ``"folds"``: one fold per device) or ``"vectorized"``
    (:mod:`formulang.infer.kfold_parallel`). Every way gives fold k's chains the same keys:
    on CPU ``"devices"`` gives the sequential numbers exactly; vectorised chains round
    differently, so they are other draws, equal within Monte Carlo error."""
    from .kfold_parallel import choose

    if not isinstance(K, (int, np.integer)) or K < 2:
        raise FormulangError(f"K must be a whole number of folds, at least 2; got {K!r}")
    if folds not in FOLDS:
        raise FormulangError(f"unknown folds {folds!r}; choose one of: {', '.join(FOLDS)}")
    if model.bound.y is None:
        raise FormulangError("cross-validation needs a response")
    from .nuts import SamplerSettings

    settings = settings or SamplerSettings()
    way = choose(parallel, int(K), settings.chains)
    group = group if group is not None else default_group(model, folds)
    fold = assign_folds(group_labels(model, group), int(K), folds, seed, int(model.bound.n))
    start = time.perf_counter()
    plan = _fold_plan(model, folds)
    base = dict(model.data)
    weights = base.get("weights")
    weights = np.ones(model.bound.n) if weights is None else np.asarray(weights, float)
    pointwise = np.empty(model.bound.n)
    mean = np.empty(model.bound.n)
    show = sys.stderr.isatty() if progress is None else progress
    runs = _sequential if way == "sequential" else _at_once
    times, divergent, width = [], 0, 1
    for k, samples, stats, seconds, width in runs(model, plan, folds, settings, way, fold,
                                                  weights, base, seed, show):
        held = fold == k
        if seconds is not None:
            times.append(seconds)
        divergent += int(np.sum(stats["diverging"]))
        ll, mu = _held_out(model, plan, samples, base, held, seed + k)
        pointwise[held] = ll * weights[held]
        mean[held] = mu
    y = np.asarray(model.bound.y, float)
    rmse = float(np.sqrt(np.mean((mean - y) ** 2)))
    return KFoldResult(str(model.formula), int(K), folds, group, pointwise, fold, rmse,
                       time.perf_counter() - start, tuple(times), divergent, way, width)


def _fold_plan(model, folds: str):
    """The model's plan, or for grouped folds every level non-centred (kept on the model)."""
    from ..lower.plan import build_plan
    from ..lower.reparam import choose_parameterization

    if folds != "grouped" or not model.bound.groups:
        return model.plan
    plan = model._samplers.get(("kfold plan", folds))
    if plan is None:
        parameterization = choose_parameterization(model.bound, model.family,
                                                   "noncentered", model.pilot)
        plan = build_plan(model.bound, model.family, model.priors, parameterization)
        model._samplers[("kfold plan", folds)] = plan
    return plan


def _nuts(model, plan, folds: str, settings, progress: bool):
    """One compiled NUTS sampler per model, kind of folds and settings, for every fold and
    rerun; with the plan's dense mass-matrix block, as a fit's sampler has."""
    from ..lower.numpyro_model import make_model
    from .nuts import make_mcmc

    key = ("kfold", folds, settings)
    sampler = model._samplers.get(key)
    if sampler is None:
        sampler = model._samplers[key] = make_mcmc(make_model(plan), settings, progress,
                                                   plan.dense_mass)
    return sampler


def _sequential(model, plan, folds, settings, way, fold, weights, base, seed, show):
    """Fold after fold: ``(k, samples, stats, seconds, 1)``."""
    from .mass_matrix import initial_inverse_mass
    from .nuts import run_nuts
    from .row_order import sampler_order, sampler_rows

    sampler = _nuts(model, plan, folds, settings, show)
    inverse_mass = initial_inverse_mass(plan, model.pilot)
    order = sampler_order(dict(base, weights=weights))  # the same for every fold
    K = int(fold.max()) + 1
    for k in range(K):
        held = fold == k
        if show:
            print(f"fold {k + 1}/{K}: refitting without {int(held.sum())} rows",
                  file=sys.stderr, flush=True)
        data = dict(base, weights=np.where(held, 0.0, weights))
        run = run_nuts(sampler, sampler_rows(data, order), settings, seed + k, inverse_mass)
        yield k, run.samples, run.stats, run.seconds, 1


def _at_once(model, plan, folds, settings, way, fold, weights, base, seed, show):
    """Several folds per run of one compiled program (:mod:`.kfold_parallel`): ``(k,
    samples, stats, seconds of its round or None after the round's first fold, width)``."""
    from .kfold_parallel import fold_keys, folds_sampler, rounds
    from .mass_matrix import initial_inverse_mass
    from .row_order import sampler_order, sampler_rows

    K = int(fold.max()) + 1
    key = ("kfold", folds, settings, way)
    runner = model._samplers.get(key)
    if runner is None:
        from ..lower.numpyro_model import make_model
        from .nuts import make_mcmc

        # a sampler of its own, without the progress bar's callback: the rounds print lines
        one_chain = make_mcmc(make_model(plan), settings, False, plan.dense_mass).one_chain
        runner = model._samplers[key] = folds_sampler(one_chain, way, K, plan.dense_mass)
    inverse_mass = initial_inverse_mass(plan, model.pilot)
    # the rows in the sampler's order (row_order.py), each fold's weights with them
    order = sampler_order(base)
    data = sampler_rows({k: v for k, v in base.items() if k != "weights"}, order)
    rows = slice(None) if order is None else order
    for ks in rounds(K, runner.width):
        real = sorted(set(ks))
        if show:
            where = (f"one per device on {runner.width} devices" if way == "devices"
                     else "vectorised on one device")
            which = (f"folds {real[0] + 1}-{real[-1] + 1}" if len(real) > 1
                     else f"fold {real[0] + 1}")
            print(f"{which} of {K}: refitting {len(real)} at once, {where}",
                  file=sys.stderr, flush=True)
        start = time.perf_counter()
        w = np.stack([np.where(fold == k, 0.0, weights)[rows] for k in ks])
        samples, stats, _ = runner.run(fold_keys(seed, ks, settings.chains), data, w,
                                       inverse_mass)
        samples = {name: np.asarray(v) for name, v in samples.items()}
        stats = {name: np.asarray(v) for name, v in stats.items()}
        seconds = time.perf_counter() - start
        for i, k in enumerate(real):  # the padding repeats ks[0] at the end: dropped
            yield (k, {name: v[i] for name, v in samples.items()},
                   {name: v[i] for name, v in stats.items()},
                   seconds if i == 0 else None, runner.width)


@dataclass(frozen=True)
class _Draws:
    """What :func:`formulang.infer.predict.linear_predictor` reads of a fit."""

    plan: object
    samples: dict


def _held_out(model, plan, raw: dict, data: dict, held: np.ndarray, seed: int):
    """Per held-out row: log mean_s p(y_i | s), and the posterior mean of the response.

    A level with no training rows is a new level: its non-centred effects ``z`` are pure
    prior, N(0, 1), so the draws are repeated with fresh ``z`` for those levels
    (:data:`NEW_LEVEL_DRAWS` in all) to integrate over the new group's effect more finely
    than one effect per posterior draw would."""
    from scipy.special import logsumexp

    from ..lower.sites import derive
    from .predict import _flat, dpar_values, family_mean, linear_predictor

    fresh = _fresh_levels(plan, model.bound, held)
    S = int(np.prod(next(iter(raw.values())).shape[:2]))
    repeats = max(1, NEW_LEVEL_DRAWS // S) if fresh else 1
    rng = np.random.default_rng(seed)
    unweighted = {k: v for k, v in data.items() if k != "weights"}
    pointwise = _log_likelihood(model, plan)
    trials = None if model.bound.trials is None else np.asarray(model.bound.trials)[held]
    lpds, means = [], []
    for m in range(repeats):
        draws = dict(raw)
        for site, rows in fresh:
            z = np.array(raw[site])
            if m:
                z[:, :, rows, :] = rng.standard_normal(z[:, :, rows, :].shape)
            draws[site] = z
        flat = {k: v.reshape((-1,) + v.shape[2:]) for k, v in draws.items()}
        ll = np.asarray(pointwise(flat, unweighted), dtype=float)[:, held]
        lpds.append(logsumexp(ll, axis=0))
        samples = derive(plan, draws)
        eta = linear_predictor(_Draws(plan, samples), model.bound)[:, held]
        aux = {name: _flat(samples[name]).astype(float) for name in plan.family_inputs}
        # a family parameter with its own formula, per draw and held-out row
        aux.update({name: v[:, held] for name, v in
                    dpar_values(_Draws(plan, samples), model.bound).items()})
        means.append(np.mean(family_mean(plan.family, eta, aux, trials), axis=0))
    lpd = logsumexp(np.stack(lpds), axis=0) - np.log(repeats * S)
    return lpd, np.mean(means, axis=0)


NEW_LEVEL_DRAWS = 8000  # effects of held-out levels: at least this many, over the repeats


def _fresh_levels(plan, bound, held: np.ndarray) -> list[tuple[str, np.ndarray]]:
    """(z site, its rows) of the non-centred levels with no training rows in this fold, in
    every formula (a family parameter's group terms too)."""
    from ..lower.sites import predictors

    subs = dict(bound.dpars)
    out = []
    pairs = [(g, gd) for pred in predictors(plan)
             for g, gd in zip(pred.groups, (subs[pred.dpar] if pred.dpar else bound).groups)]
    for g, gd in pairs:
        codes = np.asarray(gd.codes, dtype=np.int64)
        trained = np.bincount(codes[~held], minlength=len(g.centered)) > 0
        nc = np.flatnonzero(~np.asarray(g.centered, dtype=bool))
        rows = np.flatnonzero(~trained[nc])
        if len(rows):
            out.append((g.sites.z, rows))
    return out


def _log_likelihood(model, plan):
    """``(draws, data) -> log p(y_i | draw)`` per draw and row, compiled once per model and
    plan (the data and draws are arguments, so every fold and repeat reuses it)."""
    key = ("kfold log-likelihood", id(plan))  # plans are cached on the model, so ids last
    function = model._samplers.get(key)
    if function is None:
        from numpyro.infer import log_likelihood

        from ..lower.numpyro_model import make_model

        model_fn = model.numpyro_model if plan is model.plan else make_model(plan)
        function = model._samplers[key] = jit(
            lambda draws, data: log_likelihood(model_fn, draws, data)["y"])
    return function
