"""Load a fit saved with :meth:`Fit.save <formulang.Fit.save>`, without pickle or ``eval``.

The file's layout and its writer are :mod:`formulang.fitfile`. :func:`load` reads the file with
``h5netcdf``/xarray (numbers, strings, JSON text), rebuilds the
:class:`~formulang.compiled.CompiledModel` from its metadata
(:meth:`~formulang.compiled.CompiledModel.from_dict`) and a :class:`LoadedFit` around it: the
loaded fit's ``model`` is that compiled model. It predicts for ``newdata`` (encoded with the
stored data spec); when the file holds the training rows (``fit.save(path, data=...)``) its
``bound`` is them, so it also predicts them and draws every plot; otherwise
:meth:`LoadedFit.attach_data` takes them from the training data. It cannot be refitted. Files from another program, or from a formulang whose
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
from .fitfile import (DATA_GROUP, PRIVATE_GROUPS, SAMPLES_GROUP, SCHEMA, SCHEMA_VERSION,
                      STATS_GROUP, dpar_prefix, formulang_version, run_from_dict, save_fit)


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
    compiled = CompiledModel.from_dict(meta)
    bound = _bound(compiled, idata[DATA_GROUP]) if DATA_GROUP in groups else None
    counts = (meta.get("training") or {}).get("level_counts")  # absent in older files
    fit = LoadedFit(compiled, samples, stats, method=meta["method"],
                    run=run, idata=az.InferenceData(**public), observed=observed, bound=bound,
                    level_counts=None if counts is None else
                    tuple(np.asarray(c, dtype=np.int64) for c in counts))
    fit.collapsed = bool(meta.get("collapse", {}).get("fit_collapsed", False))  # issue 7
    return fit


def _bound(compiled: CompiledModel, ds):
    """The training rows :func:`formulang.fitfile.bound_dataset` stored, as ``BoundData``."""
    from .data.bind import BoundData, GroupData
    from .data.smooths import SmoothData

    def get(name):
        if name not in ds:
            return None
        a = np.array(ds[name].values)  # owns its memory, read-only as bind() makes them
        a.flags.writeable = False
        return a

    def formula(spec, prefix):  # one formula's arrays (fitfile._formula_arrays)
        groups = tuple(GroupData(g, get(f"{prefix}group{i}_codes"),
                                 get(f"{prefix}group{i}_values"))
                       for i, g in enumerate(spec.groups))
        X = get(prefix + "X")
        columns = spec.fixed.columns + tuple(c for sm in spec.smooths for c in sm.fixed)
        smooths = tuple(SmoothData(sm, X[:, [columns.index(c) for c in sm.fixed]],
                                   get(f"{prefix}smooth{i}_Z"), get(f"{prefix}smooth{i}_x"))
                        for i, sm in enumerate(spec.smooths))  # s(), gp()
        return X, get(prefix + "offset"), groups, smooths

    spec = compiled.spec
    rows = np.asarray(ds["rows"].values, dtype=np.intp)
    n_input = int(np.asarray(ds.attrs["n_input"]).item())
    kept = None if len(rows) == n_input else rows
    X, offset, groups, smooths = formula(spec, "")
    dpars = []  # the family parameters' formulas (files before they were stored lack them)
    for j, (name, sub) in enumerate(spec.dpars):
        if dpar_prefix(j) + "X" in ds:
            d_X, d_offset, d_groups, d_smooths = formula(sub, dpar_prefix(j))
            dpars.append((name, BoundData(sub, None, None, None, d_X, d_offset, d_groups,
                                          kept, n_input, smooths=d_smooths)))
    return BoundData(spec, get("y"), get("trials"), get("weights"), X, offset,
                     groups, kept, n_input, dpars=tuple(dpars), smooths=smooths)


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
    stored response; ``bound`` the training rows when the file holds them (else ``None``:
    predictions need ``newdata``); ``level_counts`` the training rows of each level per group
    term (``None`` in files before they were stored).
    """

    def __init__(self, compiled: CompiledModel, samples: dict, stats: dict, method: str,
                 run=None, *, idata, observed=None, bound=None, level_counts=None):
        super().__init__(compiled, samples, stats, method, run)
        self._stored_idata = idata
        self._observed = observed
        self._bound = bound
        self.level_counts = level_counts  # training rows per level of each group term

    @property
    def bound(self):
        """The training rows, when the file holds them or :meth:`attach_data` gave them."""
        return self._bound

    def attach_data(self, data) -> "LoadedFit":
        """Take the training rows from ``data`` (the data the model was fitted to), for what
        needs them: predicting the training rows, the ``lines`` plot. Rows are encoded with
        the stored data spec and checked against the fit: as many rows as the fit used, and
        the same observed response. Returns the fit itself."""
        import warnings

        from .data.notices import MissingValuesWarning

        compiled = self.compiled
        with warnings.catch_warnings():  # the same rows were dropped in training, as told then
            warnings.simplefilter("ignore", MissingValuesWarning)
            bound = compiled.apply(data)
        if bound.n != compiled.n or bound.y is None:
            raise FormulangError(
                f"these are not the data this model was fitted to: the fit used {compiled.n} "
                f"rows with {compiled.response_name}, the data give "
                f"{bound.n if bound.y is not None else 'no'} such rows")
        if self._observed is not None:
            differ = np.flatnonzero(~np.isclose(np.asarray(bound.y, dtype=float),
                                                np.asarray(self._observed, dtype=float).ravel()))
            if len(differ):
                raise FormulangError(
                    f"these are not the data this model was fitted to: the response "
                    f"{compiled.response_name} differs from the fit's at {len(differ)} "
                    f"row{'s' * (len(differ) != 1)}, "
                    f"e.g. row position {int(bound.rows[differ[0]])}")
        self._bound = bound
        return self

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
