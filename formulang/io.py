"""Load a fit saved with :meth:`Fit.save <formulang.Fit.save>`, without pickle or ``eval``.

The file's layout and its writer are :mod:`formulang.fitfile`. :func:`load` reads the file with
``h5netcdf``/xarray (numbers, strings, JSON text), rebuilds the
:class:`~formulang.compiled.CompiledModel` from its metadata
(:meth:`~formulang.compiled.CompiledModel.from_dict`) and a :class:`LoadedFit` around it: the
loaded fit's ``model`` is that compiled model. The training rows are not in the file: a
loaded fit predicts for ``newdata`` (encoded with the stored data spec) but not for its
training rows, and cannot be refitted. Files from another program, or from a formulang whose
schema version this one does not know, are refused with a
:class:`~formulang.FormulangError`.
"""

from __future__ import annotations

import json
import os

import numpy as np

from .compiled import CompiledModel
from .errors import FormulangError
from .fit import Fit
from .fitfile import (PRIVATE_GROUPS, SAMPLES_GROUP, SCHEMA, SCHEMA_VERSION, STATS_GROUP,
                      formulang_version, run_from_dict, save_fit)


# ---- load --------------------------------------------------------------------------------------

def load(path) -> "LoadedFit":
    """Read a fit written by :meth:`Fit.save <formulang.Fit.save>`; returns a
    :class:`~formulang.Fit` whose ``model`` is a :class:`~formulang.compiled.CompiledModel`."""
    from .report.idata import import_arviz

    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"no such file: {path!r}")
    meta = _read_metadata(path)
    az = import_arviz()
    with az.rc_context({"data.load": "eager"}):
        idata = az.from_netcdf(path)
    groups = set(idata.groups())
    if SAMPLES_GROUP not in groups:
        raise FormulangError(f"{path!r} is damaged: it has no {SAMPLES_GROUP!r} group "
                             f"(the draws formulang predicts from)")
    samples = _arrays(idata[SAMPLES_GROUP])
    stats = _arrays(idata[STATS_GROUP]) if STATS_GROUP in groups else {}
    observed = np.asarray(idata.observed_data["y"].values) if "observed_data" in groups else None
    run = run_from_dict(meta.get("sampler"), samples, stats)
    public = {name: idata[name] for name in groups if name not in PRIVATE_GROUPS}
    fit = LoadedFit(CompiledModel.from_dict(meta), samples, stats, method=meta["method"],
                    run=run, idata=az.InferenceData(**public), observed=observed)
    fit.collapsed = bool(meta.get("collapse", {}).get("fit_collapsed", False))  # issue 7
    return fit


def _read_metadata(path: str) -> dict:
    import h5netcdf

    try:
        with h5netcdf.File(path, mode="r") as f:
            attrs = {k: f.attrs[k] for k in f.attrs}
    except Exception as err:  # h5py raises OSError, h5netcdf ValueError... for non-HDF5 files
        raise FormulangError(f"{path!r} is not a formulang fit file (not a NetCDF4/HDF5 file: "
                             f"{err})") from None
    schema = _text(attrs.get("formulang_schema"))
    if schema != SCHEMA:
        raise FormulangError(f"{path!r} is not a formulang fit file (no {SCHEMA!r} schema "
                             f"attribute); write fits with Fit.save(path)")
    version = attrs.get("formulang_schema_version")
    try:
        version = int(np.asarray(version).item())
    except (TypeError, ValueError):
        pass
    if version != SCHEMA_VERSION:
        raise FormulangError(f"{path!r} is a formulang fit file of schema version {version!r}, "
                             f"written by formulang "
                             f"{_text(attrs.get('formulang_version')) or '?'}; this formulang "
                             f"({formulang_version()}) reads version {SCHEMA_VERSION}")
    try:
        meta = json.loads(_text(attrs.get("formulang_fit")))
    except (TypeError, ValueError) as err:
        raise FormulangError(f"{path!r} is damaged: its formulang_fit attribute is not JSON "
                             f"({err})") from None
    if meta.get("schema") != SCHEMA or meta.get("version") != SCHEMA_VERSION:
        raise FormulangError(f"{path!r} is damaged: its metadata says schema "
                             f"{meta.get('schema')!r} version {meta.get('version')!r}")
    return meta


def _text(value) -> str | None:
    if value is None:
        return None
    if isinstance(value, bytes):
        return value.decode("utf-8")
    if isinstance(value, np.ndarray):
        value = value.item() if value.size == 1 else value
    return value if isinstance(value, str) else str(value)


def _arrays(ds) -> dict:
    return {str(name): np.asarray(ds[name].values) for name in ds.data_vars}


# ---- the loaded fit ------------------------------------------------------------------------------

class LoadedFit(Fit):
    """A :class:`~formulang.Fit` read from a file: draws, statistics and the compiled model.

    ``idata`` is the stored ArviZ data (with the stored log-likelihood); ``observed`` the
    stored response; predictions need ``newdata`` (the training rows are not stored).
    """

    def __init__(self, compiled: CompiledModel, samples: dict, stats: dict, method: str,
                 run=None, *, idata, observed=None):
        super().__init__(compiled, samples, stats, method, run)
        self._stored_idata = idata
        self._observed = observed

    @property
    def idata(self):
        return self._stored_idata

    @property
    def observed(self):
        return self._observed

    def log_likelihood(self) -> np.ndarray:
        """The stored pointwise log-likelihood, shaped (chains, draws, rows)."""
        idata = self.idata
        if "log_likelihood" not in idata.groups():
            raise FormulangError("the file holds no log-likelihood for this fit")
        return np.asarray(idata.log_likelihood["y"].values)

    def __repr__(self) -> str:
        return f"<Fit of {self.model!r} by {self.method}, loaded>"


__all__ = ["LoadedFit", "SCHEMA", "SCHEMA_VERSION", "load", "save_fit"]
