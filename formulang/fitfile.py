"""The layout of a saved fit's file, and its writer (:meth:`Fit.save <formulang.Fit.save>`).

``fit.save(path)`` (:func:`save_fit`) writes an ArviZ ``InferenceData`` file (NetCDF4/HDF5, via
``h5netcdf``) that ArviZ opens as it is (``az.from_netcdf(path)``):

- ``posterior``, ``sample_stats``, ``log_likelihood``, ``observed_data``: as ``fit.idata``;
- ``formulang_samples``: every sampler site as drawn (``Intercept_c``, ``z_<g>``, ``L_<g>``...,
  dims ``chain``, ``draw``, ``<site>_dim_<i>``), with their dtypes, so that a loaded fit
  predicts and summarises bit for bit like the original; ``formulang_stats``: the sampler's
  raw statistics;
- root attributes: ``formulang_schema`` (``"formulang.fit"``), ``formulang_schema_version``,
  ``formulang_version``, the formula and family as text, and ``formulang_fit``: JSON text,
  the fit's :meth:`CompiledModel.to_dict <formulang.compiled.CompiledModel.to_dict>`
  (formula, data spec, family and link, prior table, parameterisation, plan, collapse and
  compression) plus the fitting method and sampler settings (:func:`fit_metadata`).

The training data frame is not stored (only the observed response, as ArviZ expects).
:func:`formulang.io.load` reads the file back; this module does not know the
:class:`~formulang.Fit` class, so ``Fit.save`` can use it without an import cycle.
"""

from __future__ import annotations

import dataclasses
import json
import os

import numpy as np

from ._version import __version__

SCHEMA = "formulang.fit"
SCHEMA_VERSION = 1
SAMPLES_GROUP = "formulang_samples"
STATS_GROUP = "formulang_stats"
PRIVATE_GROUPS = (SAMPLES_GROUP, STATS_GROUP)


def formulang_version() -> str:
    return __version__


def save_fit(fit, path) -> None:
    """Write ``fit`` to ``path`` (one NetCDF file; overwritten if it exists)."""
    from .report.idata import import_arviz

    az = import_arviz()
    public = fit.idata
    groups = {name: public[name] for name in public.groups() if name not in PRIVATE_GROUPS}
    groups[SAMPLES_GROUP] = _raw_dataset(fit.samples)
    if fit.stats:
        groups[STATS_GROUP] = _raw_dataset(fit.stats)
    compiled = fit.compiled
    attrs = {
        "formulang_schema": SCHEMA,
        "formulang_schema_version": SCHEMA_VERSION,
        "formulang_version": formulang_version(),
        "formula": str(compiled.formula),
        "family": str(compiled.family),
        "method": str(fit.method),
        "formulang_fit": json.dumps(fit_metadata(fit)),
    }
    az.InferenceData(attrs=attrs, **groups).to_netcdf(os.fspath(path))


def _raw_dataset(arrays: dict):
    import xarray as xr

    variables = {}
    for name, value in arrays.items():
        a = np.asarray(value)
        dims = ("chain", "draw") + tuple(f"{name}_dim_{i}" for i in range(a.ndim - 2))
        variables[name] = (dims, a)
    return xr.Dataset(variables)


def fit_metadata(fit) -> dict:
    """Everything but the draws, as plain JSON types: the compiled model's
    :meth:`~formulang.compiled.CompiledModel.to_dict` and what the fit adds."""
    meta = {"schema": SCHEMA, "version": SCHEMA_VERSION, "formulang_version": formulang_version(),
            "method": fit.method, **fit.compiled.to_dict(), "sampler": run_to_dict(fit.run)}
    # whether this fit (not only the model) integrated the group effects out (issue 7)
    meta["collapse"] = {**meta["collapse"], "fit_collapsed": bool(fit.collapsed)}
    return meta


def run_to_dict(run) -> dict | None:
    from .infer.nuts import SamplerRun

    if not isinstance(run, SamplerRun):
        return None
    warmup = None if run.warmup_gradients is None else \
        [int(v) for v in np.ravel(run.warmup_gradients)]
    return {"settings": dataclasses.asdict(run.settings), "seed": int(run.seed),
            "seconds": float(run.seconds), "chain_method": str(run.chain_method),
            "warmup_gradients": warmup}


def run_from_dict(d, samples, stats):
    """The :class:`~formulang.infer.nuts.SamplerRun` :func:`run_to_dict` wrote, or ``None``."""
    if d is None:
        return None
    from .infer.nuts import SamplerRun, SamplerSettings

    warmup = d.get("warmup_gradients")  # absent in files saved before it was recorded
    return SamplerRun(samples, stats, SamplerSettings(**d["settings"]), int(d["seed"]),
                      float(d["seconds"]), d["chain_method"],
                      warmup_gradients=None if warmup is None else np.asarray(warmup))


__all__ = ["PRIVATE_GROUPS", "SAMPLES_GROUP", "SCHEMA", "SCHEMA_VERSION", "STATS_GROUP",
           "fit_metadata", "run_from_dict", "run_to_dict", "save_fit"]
