"""Save a fit to one NetCDF file and load it back, without pickle or ``eval``.

``fit.save(path)`` (:func:`save_fit`) writes an ArviZ ``InferenceData`` file (NetCDF4/HDF5, via
``h5netcdf``) that ArviZ opens as it is (``az.from_netcdf(path)``):

- ``posterior``, ``sample_stats``, ``log_likelihood``, ``observed_data``: as ``fit.idata``;
- ``formulang_samples``: every sampler site as drawn (``Intercept_c``, ``z_<g>``, ``L_<g>``...,
  dims ``chain``, ``draw``, ``<site>_dim_<i>``), with their dtypes, so that a loaded fit
  predicts and summarises bit for bit like the original; ``formulang_stats``: the sampler's
  raw statistics;
- root attributes: ``formulang_schema`` (``"formulang.fit"``), ``formulang_schema_version``,
  ``formulang_version``, the formula and family as text, and ``formulang_fit``: JSON text with
  everything needed to rebuild the model without its data: the formula IR, the data spec
  (encodings of every column, levels, transform statistics), family and link, the prior
  table, the model plan (columns, centring means, group terms with their levels, blocks and
  per-level centred/non-centred choice, prior parameter arrays), the fitting method and
  sampler settings.

The training data frame is not stored (only the observed response, as ArviZ expects):
a loaded fit predicts for ``newdata`` (encoded with the stored spec) but not for its training
rows, and cannot be refitted.

:func:`load` reads the file with ``h5netcdf``/xarray (numbers, strings, JSON text) and
rebuilds a :class:`~formulang.Fit` around a :class:`LoadedModel`. Files from another program,
or from a formulang whose schema version this one does not know, are refused with a
:class:`~formulang.FormulangError`.
"""

from __future__ import annotations

import dataclasses
import json
import os
from dataclasses import dataclass

import numpy as np

from .errors import FormulangError
from .fit import Fit

SCHEMA = "formulang.fit"
SCHEMA_VERSION = 1
SAMPLES_GROUP = "formulang_samples"
STATS_GROUP = "formulang_stats"
_PRIVATE_GROUPS = (SAMPLES_GROUP, STATS_GROUP)


def _version() -> str:
    from . import __version__

    return __version__


# ---- save ----------------------------------------------------------------------------------------

def save_fit(fit, path) -> None:
    """Write ``fit`` to ``path`` (one NetCDF file; overwritten if it exists)."""
    from .report.idata import import_arviz

    az = import_arviz()
    public = fit.idata
    groups = {name: public[name] for name in public.groups() if name not in _PRIVATE_GROUPS}
    groups[SAMPLES_GROUP] = _raw_dataset(fit.samples)
    if fit.stats:
        groups[STATS_GROUP] = _raw_dataset(fit.stats)
    model = fit.model
    attrs = {
        "formulang_schema": SCHEMA,
        "formulang_schema_version": SCHEMA_VERSION,
        "formulang_version": _version(),
        "formula": str(model.formula),
        "family": str(model.family),
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
    """Everything but the draws, as plain JSON types."""
    model = fit.model
    plan = model.plan
    bound = model.bound
    return {
        "schema": SCHEMA,
        "version": SCHEMA_VERSION,
        "formulang_version": _version(),
        "method": fit.method,
        "formula": json.loads(model.formula.to_json()),
        "data_spec": bound.spec.to_dict(),
        "data": {"n": int(bound.n), "n_input": int(bound.n_input)},
        "family": model.family.name,
        "link": model.family.link.name,
        "priors": [_prior_row_to_dict(r) for r in plan.priors.rows],
        "plan": _plan_to_dict(plan),
        "parameterization": [_choice_to_dict(c, g)
                             for c, g in zip(model.parameterization, plan.groups)],
        "sampler": _run_to_dict(fit.run),
        # collapsed Gaussian path (issue 7): how the model and this fit treated group effects
        "collapse": {"collapsed": bool(getattr(model, "collapsed", False)),
                     "reason": getattr(model, "collapse_reason", None),
                     "fit_collapsed": bool(getattr(fit, "collapsed", False))},
    }


def _prior_row_to_dict(row) -> dict:
    return {"class": row.cls, "group": row.group, "coef": row.coef, "prior": str(row.prior),
            "distribution": row.prior.distribution,
            "params": [[k, float(v)] for k, v in row.prior.params], "source": row.source}


def _site_to_dict(site) -> dict | None:
    if site is None:
        return None
    return {"name": site.name, "size": int(site.size),
            "pieces": [[d, [int(i) for i in idx], key] for d, idx, key in site.pieces]}


def _plan_to_dict(plan) -> dict:
    return {
        "columns": list(plan.columns),
        "intercept": bool(plan.intercept),
        "x_means": [float(x) for x in plan.x_means],
        "b": _site_to_dict(plan.b),
        "groups": [{
            "name": g.name, "label": g.label, "columns": list(g.columns),
            "levels": list(g.levels), "blocks": [[int(i) for i in b] for b in g.blocks],
            "centered": [bool(c) for c in g.centered], "sd": _site_to_dict(g.sd),
            "lkj_key": g.lkj_key, "reason": g.reason,
            # hierarchical centring of nested terms: r_<g> is rebuilt from the sampled sites
            "parent": g.parent,
            "parent_levels": None if g.parent_levels is None else
            [int(i) for i in g.parent_levels],
            "intercept_loc": g.intercept_loc} for g in plan.groups],
        "prior_params": {k: {"shape": list(np.shape(v)),
                             "values": [float(x) for x in np.ravel(v)]}
                         for k, v in plan.prior_params.items()},
        "n": int(plan.n),
    }


def _choice_to_dict(choice, g) -> dict:
    def floats(name):
        value = getattr(choice, name, None)
        return None if value is None else [float(x) for x in value]

    sigma = getattr(choice, "sigma", None)
    return {"label": getattr(choice, "label", g.label),
            "centered": [bool(c) for c in getattr(choice, "centered", g.centered)],
            "weights": floats("weights"), "tau": floats("tau"),
            "sigma": None if sigma is None else float(sigma),
            "reason": str(getattr(choice, "reason", g.reason))}


def _run_to_dict(run) -> dict | None:
    from .infer.nuts import SamplerRun

    if not isinstance(run, SamplerRun):
        return None
    warmup = None if run.warmup_gradients is None else \
        [int(v) for v in np.ravel(run.warmup_gradients)]
    return {"settings": dataclasses.asdict(run.settings), "seed": int(run.seed),
            "seconds": float(run.seconds), "chain_method": str(run.chain_method),
            "warmup_gradients": warmup}


# ---- load --------------------------------------------------------------------------------------

def load(path):
    """Read a fit written by :meth:`Fit.save <formulang.Fit.save>`; returns a
    :class:`~formulang.Fit` whose ``model`` is a :class:`LoadedModel`."""
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
    model = LoadedModel.from_metadata(meta, observed)
    run = _run_from_dict(meta.get("sampler"), samples, stats)
    fit = LoadedFit(model, samples, stats, method=meta["method"], run=run)
    fit.collapsed = bool(meta.get("collapse", {}).get("fit_collapsed", False))  # issue 7
    public = {name: idata[name] for name in groups if name not in _PRIVATE_GROUPS}
    fit._stored_idata = az.InferenceData(**public)
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
                             f"({_version()}) reads version {SCHEMA_VERSION}")
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


def _run_from_dict(d, samples, stats):
    if d is None:
        return None
    from .infer.nuts import SamplerRun, SamplerSettings

    warmup = d.get("warmup_gradients")  # absent in files saved before it was recorded
    return SamplerRun(samples, stats, SamplerSettings(**d["settings"]), int(d["seed"]),
                      float(d["seconds"]), d["chain_method"],
                      warmup_gradients=None if warmup is None else np.asarray(warmup))


# ---- the rebuilt model ---------------------------------------------------------------------------

@dataclass(frozen=True)
class StoredParameterization:
    """The centred/non-centred choice of one group term, as recorded when the model was fitted
    (what :func:`formulang.lower.reparam.choose_parameterization` returned)."""

    label: str
    centered: tuple[bool, ...]
    weights: tuple[float, ...] | None
    tau: tuple[float, ...] | None
    sigma: float | None
    reason: str

    @property
    def n_centered(self) -> int:
        return int(sum(self.centered))

    @property
    def mode(self) -> str:
        n = self.n_centered
        return "centered" if n == len(self.centered) else ("noncentered" if n == 0 else "mixed")

    def mask(self) -> np.ndarray:
        return np.array(self.centered, dtype=bool)


class StoredData:
    """Stands in for :class:`~formulang.data.BoundData` in a loaded model: the data spec (to
    encode new rows, :meth:`apply`), the number of rows and the observed response; no design
    matrices (``X`` is ``None``)."""

    X = None

    def __init__(self, spec, n: int, n_input: int, y=None):
        self.spec = spec
        self.n = n
        self.n_input = n_input
        self.y = y
        self.trials = None
        self.weights = None

    @property
    def formula(self):
        return self.spec.formula

    @property
    def X_columns(self) -> tuple[str, ...]:
        return self.spec.fixed.columns

    @property
    def response_name(self) -> str | None:
        r = self.spec.formula.response
        return None if r is None else str(r)

    def apply(self, data, *, na_action: str | None = None):
        """Encode new rows with the stored encodings; see :meth:`BoundData.apply`."""
        from .data.bind import apply_spec

        return apply_spec(self.spec, data, na_action=na_action)

    def __repr__(self) -> str:
        return f"StoredData(n={self.n}, X columns={self.X_columns}, no rows stored)"


class LoadedModel:
    """A :class:`~formulang.Model` rebuilt from a saved fit, without its training data.

    It has what predictions and summaries need: ``formula``, ``family``, ``priors``,
    ``parameterization``, ``plan``, ``numpyro_model`` and ``bound`` (a :class:`StoredData`).
    ``data`` is ``None``: refit with ``formulang.Model(model.formula, data, ...)``.
    """

    data = None
    collapsed = False  # collapsed Gaussian path (issue 7), restored from the file
    collapse_reason = None

    def __init__(self, formula, family, bound, priors, parameterization, plan):
        self.formula = formula
        self.family = family
        self.bound = bound
        self.priors = priors
        self.parameterization = parameterization
        self.plan = plan

    @classmethod
    def from_metadata(cls, meta: dict, observed=None) -> "LoadedModel":
        from .data.spec import DataSpec
        from .ir.formula import Formula
        from .lower.families import family as lookup_family

        formula = Formula.from_json(json.dumps(meta["formula"]))
        spec = DataSpec.from_dict(meta["data_spec"])
        fam = lookup_family(meta["family"], meta["link"])
        priors = _priors_from(meta["priors"])
        plan = _plan_from(meta["plan"], fam, priors)
        choices = tuple(StoredParameterization(
            c["label"], tuple(bool(x) for x in c["centered"]),
            None if c["weights"] is None else tuple(c["weights"]),
            None if c["tau"] is None else tuple(c["tau"]), c["sigma"], c["reason"])
            for c in meta["parameterization"])
        bound = StoredData(spec, int(meta["data"]["n"]), int(meta["data"]["n_input"]),
                           observed)
        model = cls(formula, fam, bound, priors, choices, plan)
        collapse = meta.get("collapse") or {}  # issue 7; absent in older files
        model.collapsed = bool(collapse.get("collapsed", False))
        model.collapse_reason = collapse.get("reason")
        return model

    @property
    def numpyro_model(self):
        from .lower.numpyro_model import make_model

        return make_model(self.plan)

    def fit(self, *args, **kwargs):
        raise FormulangError("a model loaded from a file has no training data to fit: build "
                             "it again with formulang.Model(formula, data, ...)")

    def prior_predictive(self, *args, **kwargs):
        raise FormulangError("a model loaded from a file has no training data for prior "
                             "predictive draws: build it again with formulang.Model(...)")

    def __str__(self) -> str:
        from .report.describe import describe_model

        return describe_model(self)

    def __repr__(self) -> str:
        return f"LoadedModel({str(self.formula)!r}, family={self.family}, n={self.bound.n})"


def _priors_from(rows: list) -> object:
    from .ir.prior import Prior
    from .lower.priors import PriorRow, PriorTable

    return PriorTable(tuple(
        PriorRow(r["class"], r["group"], r["coef"],
                 Prior(r["distribution"], tuple((k, float(v)) for k, v in r["params"])),
                 r["source"]) for r in rows))


def _site_from(d, name: str):
    """A stored vector site, named ``name`` by :mod:`formulang.lower.sites` (the stored name
    is not read back: files before it named the sampled coefficients ``b_c`` stored ``b``)."""
    from .lower.plan import VectorSite

    if d is None:
        return None
    return VectorSite(name, int(d["size"]),
                      tuple((p[0], tuple(int(i) for i in p[1]), p[2]) for p in d["pieces"]))


def _plan_from(d: dict, fam, priors):
    from .lower.plan import GroupPlan, ModelPlan
    from .lower.sites import POPULATION, GroupSites

    groups = tuple(GroupPlan(
        g["name"], g["label"], tuple(g["columns"]), tuple(g["levels"]),
        tuple(tuple(int(i) for i in b) for b in g["blocks"]),
        tuple(bool(c) for c in g["centered"]), _site_from(g["sd"], GroupSites(g["name"]).sd),
        g["lkj_key"], g["reason"],
        g.get("parent"),
        None if g.get("parent_levels") is None else tuple(int(i) for i in g["parent_levels"]),
        g.get("intercept_loc"))  # absent in files saved before it existed: not centred on it
        for g in d["groups"])
    params = {k: np.array(v["values"], dtype=float).reshape(v["shape"])
              for k, v in d["prior_params"].items()}
    return ModelPlan(fam, tuple(d["columns"]), bool(d["intercept"]),
                     tuple(float(x) for x in d["x_means"]), _site_from(d["b"], POPULATION.slopes),
                     groups, priors, params, int(d["n"]))


# ---- the loaded fit ------------------------------------------------------------------------------

class LoadedFit(Fit):
    """A :class:`~formulang.Fit` read from a file: draws, statistics and the rebuilt model.

    ``idata`` is the stored ArviZ data (with the stored log-likelihood); predictions need
    ``newdata`` (the training rows are not stored).
    """

    _stored_idata = None

    @property
    def idata(self):
        if self._stored_idata is None:  # pragma: no cover - load() always sets it
            raise FormulangError("this fit has no stored ArviZ data")
        return self._stored_idata

    def log_likelihood(self) -> np.ndarray:
        """The stored pointwise log-likelihood, shaped (chains, draws, rows)."""
        idata = self.idata
        if "log_likelihood" not in idata.groups():
            raise FormulangError("the file holds no log-likelihood for this fit")
        return np.asarray(idata.log_likelihood["y"].values)

    def __repr__(self) -> str:
        return f"<Fit of {self.model!r} by {self.method}, loaded>"


__all__ = ["LoadedFit", "LoadedModel", "SCHEMA", "SCHEMA_VERSION", "StoredData", "load",
           "save_fit"]
