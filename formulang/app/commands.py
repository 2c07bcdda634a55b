"""The services the command line and the console share: reading data and saved fits, models
and fits from options, prediction tables, plots, and the options that ask for them.

The choice lists come from the modules that own the choices (families from
``lower.families``, fitting methods from ``model``, parameterisations from ``lower.reparam``,
prediction kinds and new-level rules from ``infer.predict``, ``--shard-rows``' words from
``infer.sharding``, plot kinds and posterior
predictive check types from ``report.plots``, conditional effects' methods from
``report.effects``), so a new choice there is offered here without an edit.

>>> "negative_binomial" in FAMILIES, REPARAMS, METHODS
(True, ('auto', 'centered', 'noncentered'), ('nuts', 'map', 'vi'))
>>> parse_priors(["sd = half_normal(1)"])
{'sd': 'half_normal(1)'}
"""

from __future__ import annotations

import argparse
import inspect
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from .. import datasets
from ..data.frame import load_data, read_table  # the one loader, shared with Model(f, "radon")
from ..errors import FormulangError
from ..infer import kfold as kfold_module
from ..infer import kfold_parallel, predict, sharding
from ..io import load
from ..lower import families, reparam
from ..model import METHODS
from ..report import compare as compare_module
from ..report import effects as effects_module
from ..report import plots
from ..report.plots import ppc as ppc_module

FAMILIES: tuple[str, ...] = tuple(families.FAMILIES)
LINKS: tuple[str, ...] = tuple(sorted({link for spec in families.FAMILIES.values()
                                       for link in spec.links}))
REPARAMS: tuple[str, ...] = reparam.MODES
SHARD_WORDS: tuple[str, ...] = tuple(sharding.SHARD_WORDS)  # or a number of devices
_PREDICT_DEFAULTS = inspect.signature(predict.predict).parameters
DEFAULT_PREDICT_KIND: str = _PREDICT_DEFAULTS["kind"].default
DEFAULT_NEW_LEVELS: str = _PREDICT_DEFAULTS["new_levels"].default


# Keyword arguments of the API whose command-line option has another name.
_OPTION_NAMES = {"priors": "prior", "var_names": "param"}


def option_flags(parser: argparse.ArgumentParser) -> dict[str, str]:
    """Keyword name -> the option that sets it in ``parser`` (``new_levels`` ->
    ``--new-levels``): how messages name options in the command line
    (:func:`formulang.phrasing.phrased_as`).

    >>> p = argparse.ArgumentParser(); add_predict_options(p)
    >>> option_flags(p)["new_levels"], option_flags(p)["kind"]
    ('--new-levels', '--kind')
    """
    flags = {}
    for action in parser._actions:  # argparse lists its options nowhere else
        long = [o for o in action.option_strings if o.startswith("--")]
        if long and action.dest != "help":
            flags[action.dest] = long[0]
    for keyword, dest in _OPTION_NAMES.items():
        if dest in flags:
            flags[keyword] = flags[dest]
    return flags


def _default_first(default: str, choices) -> tuple[str, ...]:
    """The default, then the other choices in their owner's order: how options, help and
    completion list them."""
    return (default,) + tuple(c for c in choices if c != default)


PREDICT_KINDS: tuple[str, ...] = _default_first(DEFAULT_PREDICT_KIND, predict.KINDS)
NEW_LEVELS: tuple[str, ...] = _default_first(DEFAULT_NEW_LEVELS, predict.NEW_LEVELS)
PLOT_KINDS: tuple[str, ...] = tuple(plots.PLOT_KINDS)
PPC_TYPES: tuple[str, ...] = ppc_module.PPC_TYPES
PPC_STATS: tuple[str, ...] = tuple(ppc_module.STATS)
# Posterior summaries carry Monte Carlo error far above 7 significant digits.
CSV_FLOATS = "%.7g"

__all__ = ["CSV_FLOATS", "DEFAULT_NEW_LEVELS", "DEFAULT_PREDICT_KIND", "FAMILIES", "LINKS",
           "METHODS", "NEW_LEVELS", "PLOT_KINDS", "PPC_STATS", "PPC_TYPES", "PREDICT_KINDS",
           "REPARAMS", "SHARD_WORDS", "add_ppc_options", "ppc_options", "write_ppc",
           "add_model_options", "add_plot_options", "add_predict_options", "add_sampler_options",
           "check_counts", "datasets_table", "fit_options", "load_data", "load_fit",
           "model_options", "option_flags", "parse_priors", "prediction_table", "read_table", "save_fit",
           "split_params", "trials_option", "write_plot", "write_table"]


# ---- data and saved fits ----------------------------------------------------------------------

def datasets_table() -> pd.DataFrame:
    """The shipped datasets: name, rows, columns, description, an example formula and its
    family.

    >>> datasets_table().set_index("name").loc["sleepstudy", ["rows", "columns"]].tolist()
    [180, 3]
    """
    rows = []
    for name in datasets.names():
        df, meta = datasets.load(name), datasets.info(name)
        rows.append({"name": name, "rows": len(df), "columns": df.shape[1],
                     "description": meta.description, "example": meta.example,
                     "family": meta.family})
    return pd.DataFrame(rows)


def load_fit(path: str, data: str | None = None):
    """A fit saved with ``fit.save`` (``formulang.load``), with file problems as clean errors;
    ``data`` (a dataset name or file, as :func:`load_data`) gives it its training rows
    (``LoadedFit.attach_data``), for a file saved without them.

    >>> load_fit("no/such.nc")
    Traceback (most recent call last):
    formulang.errors.FormulangError: no saved fit named 'no/such.nc'
    """
    if not Path(path).expanduser().is_file():
        raise FormulangError(f"no saved fit named {path!r}")
    try:
        fit = load(Path(path).expanduser())
    except OSError as exc:
        raise FormulangError(f"cannot read {path!r} as a saved fit: {exc}") from None
    if data is not None:
        fit.attach_data(load_data(data))
    return fit


def save_fit(fit, path: str, data="auto") -> None:
    """``fit.save(path, data=data)``, with an unwritable path as a clean error."""
    try:
        fit.save(Path(path).expanduser(), data=data)
    except OSError as exc:
        raise FormulangError(f"cannot write {path!r}: {exc}") from None


# ---- models and fits from options ---------------------------------------------------------

def add_model_options(p: argparse.ArgumentParser) -> None:
    """Options that define a model: family, link, priors, parameterisation."""
    p.add_argument("--family", default=None, help="gaussian (default), binomial, poisson, ...")
    p.add_argument("--link", default=None, help="the family's link (default: its first)")
    p.add_argument("--prior", action="append", default=[], metavar="KEY=PRIOR",
                   help="e.g. 'sd=half_normal(1)' or 'b[floor]=normal(0, 0.5)'; repeatable")
    p.add_argument("--reparam", action="append", default=[], metavar="MODE|FACTOR=MODE",
                   help=f"group effects {', '.join(REPARAMS)} (auto: chosen from the data, "
                        f"the default); FACTOR=MODE for one grouping factor, repeatable")


def add_sampler_options(p: argparse.ArgumentParser) -> None:
    """Options of the fit itself: method, draws, warm-up, chains, seed."""
    p.add_argument("--method", default="nuts", choices=METHODS)
    p.add_argument("--draws", type=int, default=1000, help="draws per chain (default 1000)")
    p.add_argument("--tune", type=int, default=1000,
                   help="warm-up iterations per chain, not kept (default 1000)")
    p.add_argument("--chains", type=int, default=4, help="default 4")
    p.add_argument("--seed", type=int, default=0, help="default 0")
    p.add_argument("--target-accept", type=float, default=0.8,
                   help="NUTS's target acceptance rate: higher, smaller steps (default 0.8)")
    p.add_argument("--max-tree-depth", type=int, default=10,
                   help="the longest trajectory: 2^depth - 1 steps (default 10)")
    p.add_argument("--shard-rows", default="no", metavar="N|" + "|".join(SHARD_WORDS),
                   help="split each chain's rows over N devices (CPU devices, GPUs, hosts); "
                        "all: the devices the chains leave; auto: that on GPUs for many rows")


def parse_priors(items: list[str]) -> dict:
    """``["sd=half_normal(1)"]`` -> ``{"sd": "half_normal(1)"}``.

    >>> parse_priors(["b[floor] = normal(0, 1)"])
    {'b[floor]': 'normal(0, 1)'}
    """
    priors = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip() or not value.strip():
            raise FormulangError(f"--prior takes KEY=PRIOR, e.g. 'sd=half_normal(1)', not {item!r}")
        priors[key.strip()] = value.strip()
    return priors


def model_options(args: argparse.Namespace) -> dict:
    """``Model(formula, data, **model_options(args))`` for :func:`add_model_options`' options.

    >>> p = argparse.ArgumentParser(); add_model_options(p)
    >>> model_options(p.parse_args(["--prior", "sd=half_normal(1)"]))
    {'family': None, 'link': None, 'priors': {'sd': 'half_normal(1)'}, 'reparam': 'auto'}
    >>> model_options(p.parse_args(["--reparam", "Subject=centered"]))["reparam"]
    {'Subject': 'centered'}
    """
    return {"family": args.family, "link": args.link, "priors": parse_priors(args.prior),
            "reparam": parse_reparam(args.reparam)}


def parse_reparam(items: list[str]):
    """``--reparam`` as ``Model``'s ``reparam``: one mode for every term, or a dict
    ``{factor: mode}`` from ``FACTOR=MODE`` items (the terms not named: auto)."""
    if not items:
        return "auto"
    named = [item for item in items if "=" in item]
    if not named:
        if len(items) > 1:
            raise FormulangError(f"--reparam takes one mode for every term, or FACTOR=MODE "
                                 f"for each term, not {' and '.join(items)}")
        return items[0].strip()
    if len(named) != len(items):
        raise FormulangError(f"--reparam takes one mode for every term, or FACTOR=MODE for "
                             f"each term, not both ({', '.join(items)})")
    return {k.strip(): v.strip() for k, v in (item.partition("=")[::2] for item in named)}


def check_counts(args: argparse.Namespace) -> None:
    """Draws, warm-up and chains must be sensible before anything compiles."""
    for name, low in (("draws", 1), ("tune", 0), ("chains", 1)):
        if getattr(args, name) < low:
            raise FormulangError(f"--{name} must be at least {low}, not {getattr(args, name)}")
    if getattr(args, "max_tree_depth", 10) < 1:
        raise FormulangError(f"--max-tree-depth must be at least 1, not {args.max_tree_depth}")
    if not 0 < args.target_accept < 1:
        raise FormulangError(f"--target-accept must be between 0 and 1, "
                             f"not {args.target_accept}")


def fit_options(args: argparse.Namespace) -> dict:
    """``model.fit(**fit_options(args))`` for :func:`add_sampler_options`' options, checked
    first (:func:`check_counts`).

    >>> p = argparse.ArgumentParser(); add_sampler_options(p)
    >>> fit_options(p.parse_args(["--draws", "200", "--method", "map"]))["draws"]
    200
    >>> fit_options(p.parse_args(["--shard-rows", "4"]))["shard_rows"]
    4
    >>> fit_options(p.parse_args(["--chains", "0"]))
    Traceback (most recent call last):
    formulang.errors.FormulangError: --chains must be at least 1, not 0
    """
    check_counts(args)
    options = {"draws": args.draws, "tune": args.tune, "chains": args.chains,
               "seed": args.seed, "target_accept": args.target_accept, "method": args.method}
    if getattr(args, "max_tree_depth", 10) != 10:  # the fit's default
        options["max_tree_depth"] = args.max_tree_depth
    shard_rows = getattr(args, "shard_rows", "no")  # a parser without the option: none
    if shard_rows != "no":
        options["shard_rows"] = sharding.parse_shard_rows(shard_rows)
    return options


# ---- predictions ------------------------------------------------------------------------------

def add_predict_options(p: argparse.ArgumentParser) -> None:
    """Options of a prediction table: kind, new levels, trials, seed, output file."""
    p.add_argument("--kind", default=DEFAULT_PREDICT_KIND, choices=PREDICT_KINDS,
                   help="mean of the response (default), linear predictor, probability per "
                        "trial (binomial), or simulated response")
    p.add_argument("--new-levels", default=DEFAULT_NEW_LEVELS, choices=NEW_LEVELS,
                   help="what an unseen group level gets (default: drawn from the population)")
    p.add_argument("--trials", default=None, metavar="COLUMN|NUMBER",
                   help="binomial trials of each row, when the new data lack the response's")
    p.add_argument("--dpar", default=None, metavar="PARAMETER",
                   help="a family parameter (sigma, zi, ...) instead of the response: its "
                        "value (--kind mean) or link scale (--kind linpred)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default=None, help="write the table to this CSV file")


def trials_option(text: str | None):
    """``--trials``: a number, or else the name of a column of the new data.

    >>> trials_option("10"), trials_option("size"), trials_option(None)
    (10.0, 'size', None)
    """
    if text is None:
        return None
    try:
        return float(text)
    except ValueError:
        return text


def prediction_table(fit, newdata, kind: str = DEFAULT_PREDICT_KIND,
                     new_levels: str = DEFAULT_NEW_LEVELS, seed: int = 0,
                     trials=None, dpar: str | None = None) -> pd.DataFrame:
    """Per-row posterior mean, sd and 95% interval of ``fit.predict(newdata, ...)``.

    Columns: ``row`` (the input row, 0-based), the input columns, then ``mean``, ``sd``,
    ``q2.5``, ``q97.5`` (prefixed ``pred_`` if the input already has a column of that name).
    One line per input row, in order: a row with a missing predictor has empty (NaN)
    statistics, and ``predict`` warns naming it.

    >>> table = prediction_table(fit, pd.DataFrame({"Days": [0, 9], "Subject": ["308", "308"]}))
    ... # doctest: +SKIP
    """
    draws = np.asarray(fit.predict(newdata, kind=kind, new_levels=new_levels, seed=seed,
                                   trials=trials, dpar=dpar))
    table = pd.DataFrame(newdata).reset_index(drop=True)
    table.insert(0, "row", np.arange(len(table)))
    stats = {"mean": draws.mean(axis=0),
             "sd": draws.std(axis=0, ddof=1) if draws.shape[0] > 1 else
             np.full(draws.shape[1], np.nan),
             "q2.5": np.quantile(draws, 0.025, axis=0),
             "q97.5": np.quantile(draws, 0.975, axis=0)}
    for name, values in stats.items():
        table[f"pred_{name}" if name in table.columns else name] = values
    return table


def write_table(table: pd.DataFrame, out: str | None) -> str | None:
    """The table as CSV on stdout, or to ``out``; returns the path written, if any."""
    if out is None:
        table.to_csv(sys.stdout, index=False, float_format=CSV_FLOATS)
        return None
    try:
        table.to_csv(Path(out).expanduser(), index=False, float_format=CSV_FLOATS)
    except OSError as exc:
        raise FormulangError(f"cannot write {out!r}: {exc}") from None
    return out


# ---- plots ------------------------------------------------------------------------------------

def add_plot_options(p: argparse.ArgumentParser) -> None:
    """Options that pick what a plot shows: the group term, the variables."""
    p.add_argument("--group", default=None,
                   help="the group term (forest, lines, funnel); ppc: a column, one panel "
                        "per level")
    p.add_argument("--param", action="append", default=[], metavar="NAME",
                   help="variables to draw (trace, rank), e.g. b,sigma; repeatable")
    p.add_argument("--x", default=None, metavar="COLUMN",
                   help="the lines plot's covariate (default: the first with a slope)")


def split_params(items: list[str] | None) -> list[str] | None:
    """``--param b,sigma --param sd_county`` -> ``["b", "sigma", "sd_county"]``.

    >>> split_params(["b,sigma", "sd_county"])
    ['b', 'sigma', 'sd_county']
    """
    names = [n.strip() for item in items or [] for n in item.split(",") if n.strip()]
    return names or None


def write_plot(fit, kind: str, out: str, group: str | None = None,
               params: list[str] | None = None, x: str | None = None) -> Path:
    """Draw plot ``kind`` of ``fit`` and write it to ``out`` (format from the suffix).

    ``group`` picks the group term (forest, lines, funnel), ``params`` the variables (trace,
    rank), ``x`` the lines plot's covariate. Returns the path written.
    """
    import matplotlib

    matplotlib.use("Agg")  # only files are written here: never open a window
    if kind not in plots.PLOT_KINDS:
        raise FormulangError(f"unknown plot kind {kind!r}; kinds: {', '.join(plots.PLOT_KINDS)}")
    function = plots.PLOT_KINDS[kind]
    accepted = inspect.signature(function).parameters
    options = {}
    if group is not None:
        if "group" not in accepted:
            raise FormulangError(f"the {kind} plot takes no group (--group); it draws "
                                 f"parameters: use --param")
        options["group"] = group
    if params:
        if "var_names" not in accepted:
            raise FormulangError(f"the {kind} plot takes no parameter names (--param); "
                                 f"use --group to pick the group term")
        options["var_names"] = params
    if x is not None:
        if "x" not in accepted:
            raise FormulangError(f"the {kind} plot takes no covariate (--x); the lines plot "
                                 f"does")
        options["x"] = x
    return _save_figure(plots.plot(fit, kind, **options), out)


def _save_figure(figure, out: str) -> Path:
    path = Path(out).expanduser()
    try:
        figure.savefig(path, dpi=100, bbox_inches="tight")
    except (OSError, ValueError) as exc:
        raise FormulangError(f"cannot write the plot to {out!r}: {exc}") from None
    finally:
        import matplotlib.pyplot as plt

        plt.close(figure)
    return path


# ---- posterior predictive checks --------------------------------------------------------------

def add_ppc_options(p: argparse.ArgumentParser) -> None:
    """Options of a posterior predictive check: type, group, replicates, statistic, seed."""
    p.add_argument("--type", default=None, choices=PPC_TYPES,
                   help="default: bars for discrete families, else dens_overlay")
    p.add_argument("--group", default=None,
                   help="a data column or grouping factor: one panel per level "
                        f"({', '.join(ppc_module.GROUPED_TYPES)})")
    p.add_argument("--ndraws", type=int, default=None,
                   help=f"replicates drawn (default {ppc_module.DEFAULT_NDRAWS}; all for "
                        f"{', '.join(ppc_module.ALL_DRAWS_TYPES)})")
    p.add_argument("--stat", default="mean", choices=PPC_STATS, help="the stat type's statistic")
    p.add_argument("--seed", type=int, default=0, help="the replicates' seed")


def ppc_options(args: argparse.Namespace) -> dict:
    """``fit.plot("ppc", **ppc_options(args))`` for :func:`add_ppc_options`' options.

    >>> p = argparse.ArgumentParser(); add_ppc_options(p)
    >>> ppc_options(p.parse_args(["--type", "stat", "--stat", "sd", "--group", "g"]))
    {'type': 'stat', 'group': 'g', 'ndraws': None, 'stat': 'sd', 'seed': 0}
    """
    return {"type": args.type, "group": args.group, "ndraws": args.ndraws, "stat": args.stat,
            "seed": args.seed}


def write_ppc(fit, out: str, options: dict) -> Path:
    """Draw the posterior predictive check of ``fit`` (:func:`ppc_options`) to ``out``."""
    import matplotlib

    matplotlib.use("Agg")  # only files are written here: never open a window
    return _save_figure(plots.plot(fit, "ppc", **options), out)


# ---- brms's tables: hypothesis, r2 ------------------------------------------------------------

def add_prob_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--prob", type=float, default=0.95,
                   help="the intervals' probability (default 0.95)")


def _table_text(table: pd.DataFrame) -> str:
    return table.to_string(na_rep="NA", float_format=lambda x: f"{x:.4g}")


def hypothesis_text(fit, hypotheses: list[str], prob: float = 0.95) -> str:
    """brms's hypothesis table of ``fit`` as text (NaN shown as brms's NA)."""
    table = fit.hypothesis(list(hypotheses), prob=prob)
    one_sided = "; one-sided: Post.Prob = P(h), Evid.Ratio = its odds" if any(
        h.strip() and "=" not in h for h in hypotheses) else ""
    return (f"Hypothesis tests ({prob:g} intervals{one_sided}):\n"
            + _table_text(table.set_index("Hypothesis")))


def r2_text(fit, prob: float = 0.95, loo: bool = True) -> str:
    """Bayesian R² and (``loo``) LOO R², as brms's ``bayes_R2`` and ``loo_R2`` print them."""
    parts = [fit.bayes_r2(prob=prob).set_axis(["bayes_R2"])]
    if loo:
        parts.append(fit.loo_r2(prob=prob).set_axis(["loo_R2"]))
    return _table_text(pd.concat(parts))


# ---- cross-validation and comparison (issue 22) -----------------------------------------------

KFOLDS: tuple[str, ...] = kfold_module.FOLDS
PARALLEL: tuple[str, ...] = kfold_parallel.WAYS + tuple(kfold_parallel.ALIASES)
CRITERIA: tuple[str, ...] = compare_module.CRITERIA


def add_kfold_options(p: argparse.ArgumentParser) -> None:
    """Options of k-fold cross-validation: K, kind of folds, group, the refits' sampler."""
    p.add_argument("-K", "--K", dest="K", type=int, default=10, help="number of folds")
    p.add_argument("--folds", default=KFOLDS[0], choices=KFOLDS,
                   help="random: rows held out within groups; grouped: whole groups held out")
    p.add_argument("--group", default=None,
                   help="the grouping column (default: the model's first grouping factor)")
    p.add_argument("--draws", type=int, default=1000)
    p.add_argument("--tune", type=int, default=1000)
    p.add_argument("--chains", type=int, default=4)
    p.add_argument("--seed", type=int, default=0, help="the folds' and the refits' seed")
    p.add_argument("--target-accept", type=float, default=0.8)
    p.add_argument("--parallel", default=PARALLEL[0], choices=PARALLEL,
                   help="how the folds run: auto (by device count and platform), sequential, "
                        "devices or folds (one fold per device, several at once), vectorized "
                        "(all folds at once on one GPU)")


def kfold_options(args: argparse.Namespace) -> dict:
    """``kfold(model, **kfold_options(args))`` for :func:`add_kfold_options`' options.

    >>> p = argparse.ArgumentParser(); add_kfold_options(p)
    >>> o = kfold_options(p.parse_args(["-K", "5", "--folds", "grouped", "--group", "g"]))
    >>> o["K"], o["folds"], o["group"], o["settings"].draws, o["parallel"]
    (5, 'grouped', 'g', 1000, 'auto')
    >>> kfold_options(p.parse_args(["--parallel", "devices"]))["parallel"]
    'devices'
    >>> kfold_options(p.parse_args(["-K", "1"]))
    Traceback (most recent call last):
    formulang.errors.FormulangError: -K must be at least 2 folds, not 1
    """
    from ..infer.nuts import SamplerSettings

    check_counts(args)
    if args.K < 2:
        raise FormulangError(f"-K must be at least 2 folds, not {args.K}")
    settings = SamplerSettings(args.draws, args.tune, args.chains, args.target_accept)
    return {"K": args.K, "folds": args.folds, "group": args.group, "seed": args.seed,
            "settings": settings, "parallel": args.parallel}


def run_kfold(model, options: dict, progress: bool | None = None):
    """:func:`formulang.infer.kfold.kfold` of ``model`` with :func:`kfold_options`."""
    return kfold_module.kfold(model, progress=progress, **options)


def comparison(models: dict, criterion: str = "loo") -> pd.DataFrame:
    """The comparison table (:func:`formulang.compare`) of fits or k-fold results by name."""
    return compare_module.compare(models, criterion=criterion)


def comparison_text(table: pd.DataFrame) -> str:
    """The table as text, brms's way round: the best model first, differences to it."""
    shown = table.drop(columns=[c for c in ("warning",) if c in table], errors="ignore")
    return shown.to_string(float_format=lambda v: f"{v:.2f}")


def pointwise_table(results: dict) -> pd.DataFrame:
    """Per row: its fold and each model's held-out elpd (for ``--out``)."""
    first = next(iter(results.values()))
    table = pd.DataFrame({"row": np.arange(first.n), "fold": first.fold})
    for name, r in results.items():
        table[f"elpd[{name}]"] = r.pointwise
    return table


# ---- conditional effects (issue 22) -----------------------------------------------------------

EFFECT_METHODS: tuple[str, ...] = tuple(effects_module.METHODS)


def add_effects_options(p: argparse.ArgumentParser) -> None:
    """``effects``'s options: the figure file, the interval, brms's method."""
    p.add_argument("--out", default=None,
                   help="also draw the effect to this image file (.png/.pdf/.svg)")
    add_prob_option(p)
    p.add_argument("--method", default=EFFECT_METHODS[0], choices=EFFECT_METHODS,
                   help="brms's method (default: posterior_epred, the response's mean)")
    p.add_argument("--categorical", action="store_true",
                   help="ordinal and categorical models: one curve per category")


def effects_text(fit, effect: str, prob: float = 0.95, method: str = EFFECT_METHODS[0],
                 categorical: bool = False, out: str | None = None) -> str:
    """brms's conditional effects of ``effect`` as a table (its grid columns and summary),
    and with ``out`` the figure written there (its path told on the last line)."""
    ce = fit.conditional_effects(effect, prob=prob, method=method, categorical=categorical)
    shown = [c for c in ce.effects] + ["estimate__", "se__", "lower__", "upper__"]
    head = (f"Conditional effects of {':'.join(ce.effects)} on {ce.response} ({method}; "
            f"median, MAD and {prob:g} interval; other predictors at their mean or reference "
            f"level, group effects left out):")
    text = head + "\n" + ce.data[shown].to_string(index=False,
                                                  float_format=lambda x: f"{x:.4g}")
    if out is not None:
        text += f"\nwrote the effects plot to {save_figure(ce.plot(), out)}"
    return text


def save_figure(figure, out: str) -> Path:
    """Write a matplotlib Figure to ``out`` (format from the suffix), as a clean error when
    it cannot be."""
    path = Path(out).expanduser()
    try:
        figure.savefig(path, dpi=100, bbox_inches="tight")
    except (OSError, ValueError) as exc:
        raise FormulangError(f"cannot write the plot to {out!r}: {exc}") from None
    return path
