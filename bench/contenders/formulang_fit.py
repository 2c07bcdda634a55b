"""Contender: formulang, from ``import formulang`` to the printed summary.

    python bench/contenders/formulang_fit.py MODEL VARIANT CACHE_DIR DRAWS RERUNS

Variants: ``auto`` is ``fl.Model(formula, data)``, every default, what a user gets (on a
Gaussian model that is the collapsed fast path where ``Model`` has it); ``auto-sampled``:
``reparam="auto", collapse=False`` (effects sampled, centring chosen per level);
``centered``, ``noncentered``: ``reparam=...`` (effects sampled); ``collapsed``:
``collapse=True`` (group effects integrated out). Where ``Model`` does not take ``collapse``,
or refuses to collapse the model, the collapsed row says "not available".

Stages timed with perf_counter (the wall-time breakdown): import, model build (``Model(...)``),
first fit (tracing + compiling or loading the compiled program from the cache, warm-up,
sampling), summary text (``str(fit)``: summary and diagnostics), conversion to ArviZ
(``fit.posterior``), where the wall time stops. formulang builds ArviZ data only on demand,
but bambi's wall includes it, so both walls include it (one definition). Then RERUNS compiled
refits with other seeds (sampling speed); for ``auto``
with reruns, a warm-up-only fit (one draw), timed after one untimed call that compiles it,
splits the fastest rerun into warm-up and sampling.
"""

from __future__ import annotations

import os
import time

from common import arguments, report, rerun_figures, sampler_figures, since_start, timed_fits

model_name, variant, cache, draws, reruns = arguments()
os.environ["FORMULANG_CACHE_DIR"] = cache

import formulang as fl  # noqa: E402

from models import MODELS, load  # noqa: E402

stages = {"import": since_start()}
contender = f"formulang ({variant})"
bench = load(model_name)
t0 = time.perf_counter()
OPTIONS = {"auto": {}, "auto-sampled": {"reparam": "auto", "collapse": False},
           "centered": {"reparam": "centered"}, "noncentered": {"reparam": "noncentered"},
           "collapsed": {"collapse": True}}
try:
    try:
        model = fl.Model(MODELS[model_name], bench.data, **OPTIONS[variant])
    except TypeError:  # a Model without collapse=: effects are always sampled
        if variant != "auto-sampled":
            raise
        model = fl.Model(MODELS[model_name], bench.data, reparam="auto")
except (TypeError, fl.FormulangError) as error:
    report(contender=contender, model=model_name, status="not available",
           reason=f"{type(error).__name__}: {error}")
    raise SystemExit(0)
stages["model build"] = time.perf_counter() - t0


def fit_figures(fit) -> dict:
    """ESS and R-hat over the population coefficients, group SDs, correlations, family
    parameters: the same set for every contender."""
    posterior = fit.posterior.posterior
    names = ["b", *(f"sd_{g.name}" for g in model.plan.groups),
             *(f"cor_{g.name}" for g in model.plan.groups if g.correlated_pairs),
             *model.plan.aux]
    names = [k for k in names if k in posterior]
    return sampler_figures({k: posterior[k].values for k in names}, fit.stats["diverging"],
                           names)


fit, wall, first, runs = timed_fits(model, fit_figures, draws, 4, reruns, stages)


def split_fit(rerun_seconds: float) -> dict:
    """Warm-up and sampling seconds of a compiled fit: a warm-up-only fit (same tune, one
    draw; timed after one untimed call that compiles it) against the fastest full rerun.
    Public API only, so it survives changes to formulang's sampler."""
    options = dict(draws=1, tune=draws, chains=4, progress=False)
    model.fit(seed=100, **options)
    t0 = time.perf_counter()
    model.fit(seed=101, **options)
    warmup = time.perf_counter() - t0
    return {"warm-up": warmup, "sampling": max(rerun_seconds - warmup, 0.0),
            "compiled fit": rerun_seconds}


try:
    fastest = min((r["seconds"] for r in runs), default=None)
    split = split_fit(fastest) if variant == "auto" and runs else {}
except Exception as error:  # noqa: BLE001 - formulang internals moved: report, don't crash
    split = {"error": f"{type(error).__name__}: {error}"}
report(contender=contender, model=model_name, status="ok", wall_seconds=wall,
       collapsed=bool(getattr(model, "collapsed", False)),
       collapse_reason=getattr(model, "collapse_reason", "Model has no collapse option"),
       stages=stages, split=split, fit_seconds=stages["first fit"], **first,
       **rerun_figures(runs),
       parameterization=[getattr(c, "reason", str(c))
                         for c in getattr(model, "parameterization", [])])
