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

- ``formulang_data`` (``fit.save(path, data=...)``): the training rows as the model saw them,
  numbers only: ``y``, ``trials``, ``weights``, the design ``X`` (dims ``obs``, ``coef``),
  ``offset``, the input positions ``rows`` of the rows used, and per group term ``i``
  ``group<i>_codes`` (level per row) and ``group<i>_values`` (its columns' values). With them
  a loaded fit predicts its training rows and draws the ``lines`` plot. ``data="auto"`` (the
  default) stores them when they hold at most :data:`AUTO_DATA_NUMBERS` numbers;
- the metadata's ``training``: per group term, the number of training rows of each level
  (forest plots label levels with them), stored whatever ``data`` says.

The input data frame itself is not stored. Files without these parts (written by an earlier
formulang) load as before. :func:`formulang.io.load` reads the file back; this module does not
know the :class:`~formulang.Fit` class, so ``Fit.save`` can use it without an import cycle.
"""

from __future__ import annotations

import dataclasses
import json
import os

import numpy as np

from ._version import __version__
from .errors import FormulangError

SCHEMA = "formulang.fit"
SCHEMA_VERSION = 1
SAMPLES_GROUP = "formulang_samples"
STATS_GROUP = "formulang_stats"
DATA_GROUP = "formulang_data"
PRIVATE_GROUPS = (SAMPLES_GROUP, STATS_GROUP, DATA_GROUP)
DATA_CHOICES = ("auto", True, False)
AUTO_DATA_NUMBERS = 2_000_000  # 16 MB of float64: data="auto" stores training rows up to this


def formulang_version() -> str:
    return __version__


def save_fit(fit, path, data="auto") -> None:
    """Write ``fit`` to ``path`` (one NetCDF file; overwritten if it exists). ``data``: store
    the training rows (``True``), not (``False``), or when small (``"auto"``)."""
    from .report.idata import import_arviz

    if not (data is True or data is False or data == "auto"):
        raise FormulangError(f"data= takes 'auto', True or False, not {data!r}")
    az = import_arviz()
    public = fit.idata
    groups = {name: public[name] for name in public.groups() if name not in PRIVATE_GROUPS}
    groups[SAMPLES_GROUP] = _raw_dataset(fit.samples)
    if fit.stats:
        groups[STATS_GROUP] = _raw_dataset(fit.stats)
    bound = fit.bound
    if bound is not None and (data is True or (data == "auto"
                                               and _numbers(bound) <= AUTO_DATA_NUMBERS)):
        groups[DATA_GROUP] = bound_dataset(bound)
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


def _numbers(bound) -> int:
    arrays = [bound.X, bound.y, bound.trials, bound.weights, bound.offset]
    arrays += [a for g in bound.groups for a in (g.codes, g.values)]
    return sum(int(np.size(a)) for a in arrays if a is not None)


def bound_dataset(bound):
    """The training rows' arrays (:class:`~formulang.data.BoundData`) as an xarray Dataset."""
    import xarray as xr

    variables = {"rows": ("obs", np.asarray(bound.rows, dtype=np.int64))}
    for name in ("y", "trials", "weights"):
        value = getattr(bound, name)
        if value is not None:
            variables[name] = ("obs", np.asarray(value))
    variables.update(_formula_arrays(bound, ""))
    for j, (_, sub) in enumerate(getattr(bound, "dpars", ())):  # sigma ~ ...: its own arrays
        variables.update(_formula_arrays(sub, dpar_prefix(j)))
    return xr.Dataset(variables, attrs={"n_input": int(bound.n_input)})


def dpar_prefix(j: int) -> str:
    """The stem of the stored arrays of the model's ``j``-th family-parameter formula."""
    return f"dpar{j}_"


def _formula_arrays(bound, prefix: str) -> dict:
    """One formula's arrays (design, offset, group terms, smooths), names after ``prefix``."""
    out = {prefix + "X": (("obs", prefix + "coef"), np.asarray(bound.X)),
           prefix + "offset": ("obs", np.asarray(bound.offset))}
    for i, g in enumerate(bound.groups):
        out[f"{prefix}group{i}_codes"] = ("obs", np.asarray(g.codes, dtype=np.int64))
        out[f"{prefix}group{i}_values"] = (("obs", f"{prefix}group{i}_column"),
                                           np.asarray(g.values))
    for i, sm in enumerate(getattr(bound, "smooths", ())):  # s(), gp(): basis and variable
        out[f"{prefix}smooth{i}_Z"] = (("obs", f"{prefix}smooth{i}_column"), np.asarray(sm.Z))
        out[f"{prefix}smooth{i}_x"] = ("obs", np.asarray(sm.x))
    return out


def level_counts(fit) -> list[list[int]] | None:
    """Training rows per level of each group term, or ``None`` when the fit does not know."""
    bound = fit.bound
    if bound is None:
        stored = getattr(fit, "level_counts", None)
        return None if stored is None else [[int(c) for c in g] for g in stored]
    return [np.bincount(np.asarray(g.codes), minlength=g.n_levels).tolist()
            for g in bound.groups]


def fit_metadata(fit) -> dict:
    """Everything but the draws, as plain JSON types: the compiled model's
    :meth:`~formulang.compiled.CompiledModel.to_dict` and what the fit adds."""
    meta = {"schema": SCHEMA, "version": SCHEMA_VERSION, "formulang_version": formulang_version(),
            "method": fit.method, **fit.compiled.to_dict(), "sampler": run_to_dict(fit.run)}
    # whether this fit (not only the model) integrated the group effects out (issue 7)
    meta["collapse"] = {**meta["collapse"], "fit_collapsed": bool(fit.collapsed)}
    meta["training"] = {"level_counts": level_counts(fit)}  # absent in older files
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


__all__ = ["AUTO_DATA_NUMBERS", "DATA_CHOICES", "DATA_GROUP", "PRIVATE_GROUPS", "SAMPLES_GROUP",
           "SCHEMA", "SCHEMA_VERSION", "STATS_GROUP", "bound_dataset", "dpar_prefix",
           "fit_metadata", "level_counts", "run_from_dict", "run_to_dict", "save_fit"]
