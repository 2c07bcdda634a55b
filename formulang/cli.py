"""The ``formulang`` command line.

    formulang                                      the interactive console (REPL)
    formulang parse "y ~ x + (1 + x | g)"          canonical formula and the expanded terms
    formulang parse --json "y ~ x + (1 | g)"       the IR as JSON
    formulang fit "log_radon ~ floor + (1 + floor | county)" --data radon [--out fit.nc]
                                                   fit with NUTS, print summary and diagnostics
    formulang summary fit.nc                       a saved fit's summary and diagnostics
    formulang predict fit.nc new.csv [--kind mean] per-row posterior mean, sd and 95% interval
    formulang plot fit.nc trace --out trace.png    a plot of a saved fit, as an image file
    formulang datasets                             the shipped datasets

Errors print one clear message (with a caret under formula problems) and exit with status 2;
``--debug`` (before or after the subcommand) shows the traceback instead.
"""

from __future__ import annotations

import argparse
import inspect
import sys
import warnings
from pathlib import Path

from .errors import FormulangError
from .ir.formula import Formula
from .parse import parse

PREDICT_KINDS = ("mean", "linpred", "response")
NEW_LEVELS = ("gaussian", "population", "error")
REPARAMS = ("auto", "centered", "noncentered")
METHODS = ("nuts", "map", "vi")
# Posterior summaries carry Monte Carlo error far above 7 significant digits.
CSV_FLOATS = "%.7g"


# ---- shared by the subcommands and the REPL ---------------------------------------------------

def describe(formula: Formula) -> str:
    """A short human-readable account of what a formula expands to.

    >>> print(describe(parse("y ~ x + (1 | g)")).splitlines()[0])
    formula:    y ~ 1 + x + (1 | g)
    """
    lines = [f"formula:    {formula}"]
    if formula.response is not None:
        r = formula.response
        lines.append(f"response:   {r.value}" + (f" (failures: {r.failures})" if r.failures else "")
                     + (f" (trials: {r.trials})" if r.trials else "")
                     + (f" (weights: {r.weights})" if r.weights else ""))
    lines.append(f"intercept:  {'yes' if formula.intercept else 'no'}")
    lines.append("terms:      " + (", ".join(t.label for t in formula.terms) or "none"))
    for g in formula.groups:
        effects = (["Intercept"] if g.intercept else []) + [t.label for t in g.terms]
        kind = "correlated" if g.correlated and len(effects) > 1 else (
            "independent" if len(effects) > 1 else "")
        lines.append(f"group:      {g.factor_label}: {', '.join(effects)}"
                     + (f" ({kind})" if kind else ""))
    for o in formula.offsets:
        lines.append(f"offset:     {o}")
    lines.append("columns:    " + ", ".join(formula.columns()))
    return "\n".join(lines)


def read_table(source: str):
    """A CSV or Parquet file as a DataFrame; unreadable files are a FormulangError.

    >>> read_table("no/such.csv")
    Traceback (most recent call last):
    formulang.errors.FormulangError: no file named 'no/such.csv'
    """
    import pandas as pd

    path = Path(source).expanduser()
    if not path.is_file():
        raise FormulangError(f"no file named {source!r}")
    parquet = path.suffix.lower() in (".parquet", ".pq")
    try:
        return pd.read_parquet(path) if parquet else pd.read_csv(path)
    except ImportError as exc:  # parquet without pyarrow/fastparquet
        raise FormulangError(f"cannot read {source!r}: {exc}") from None
    except (OSError, ValueError, UnicodeDecodeError) as exc:
        raise FormulangError(f"cannot read {source!r} as a {'Parquet' if parquet else 'CSV'} "
                             f"table: {exc}") from None


def load_data(source: str):
    """A shipped dataset by name, or a CSV/Parquet file.

    >>> load_data("sleepstudy").shape
    (180, 3)
    """
    from . import datasets

    if source in datasets.names():
        return datasets.load(source)
    if not Path(source).expanduser().is_file():
        raise FormulangError(f"no dataset or file named {source!r}; shipped datasets: "
                             f"{', '.join(datasets.names())}")
    return read_table(source)


def load_fit(path: str):
    """A fit saved with ``fit.save`` (``formulang.load``), with file problems as clean errors."""
    from .io import load

    if not Path(path).expanduser().is_file():
        raise FormulangError(f"no saved fit named {path!r}")
    try:
        return load(Path(path).expanduser())
    except OSError as exc:
        raise FormulangError(f"cannot read {path!r} as a saved fit: {exc}") from None


def save_fit(fit, path: str) -> None:
    """``fit.save(path)``, with an unwritable path as a clean error."""
    try:
        fit.save(Path(path).expanduser())
    except OSError as exc:
        raise FormulangError(f"cannot write {path!r}: {exc}") from None


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


def prediction_table(fit, newdata, kind: str = "mean", new_levels: str = "gaussian",
                     seed: int = 0):
    """Per-row posterior mean, sd and 95% interval of ``fit.predict(newdata, ...)``.

    Columns: ``row`` (the input row, 0-based; rows with missing predictors are dropped as in
    training), the input columns, then ``mean``, ``sd``, ``q2.5``, ``q97.5`` (prefixed
    ``pred_`` if the input already has a column of that name).

    >>> table = prediction_table(fit, pd.DataFrame({"Days": [0, 9], "Subject": ["308", "308"]}))
    ... # doctest: +SKIP
    """
    import numpy as np
    import pandas as pd

    draws = np.asarray(fit.predict(newdata, kind=kind, new_levels=new_levels, seed=seed))
    with warnings.catch_warnings():  # predict() has already warned about dropped rows
        warnings.simplefilter("ignore")
        rows = np.asarray(fit.compiled.apply(newdata).rows)
    table = newdata.iloc[rows].reset_index(drop=True)
    table.insert(0, "row", rows)
    stats = {"mean": draws.mean(axis=0),
             "sd": draws.std(axis=0, ddof=1) if draws.shape[0] > 1 else np.full(len(rows), np.nan),
             "q2.5": np.quantile(draws, 0.025, axis=0),
             "q97.5": np.quantile(draws, 0.975, axis=0)}
    for name, values in stats.items():
        table[f"pred_{name}" if name in table.columns else name] = values
    return pd.DataFrame(table)


def datasets_table():
    """The shipped datasets: name, rows, columns, description, an example formula."""
    import pandas as pd

    from . import datasets

    rows = []
    for name in datasets.names():
        df, meta = datasets.load(name), datasets.info(name)
        rows.append({"name": name, "rows": len(df), "columns": df.shape[1],
                     "description": meta.description, "example": meta.example})
    return pd.DataFrame(rows)


def plot_kinds() -> list[str]:
    """Names of the plot kinds the plotting module offers."""
    return list(_plots_module().PLOT_KINDS)


def _plots_module():
    try:
        from .report import plots
    except ImportError as exc:
        raise FormulangError(f"plotting is not available: {exc}") from None
    return plots


def write_plot(fit, kind: str, out: str, group: str | None = None,
               params: list[str] | None = None) -> Path:
    """Draw plot ``kind`` of ``fit`` and write it to ``out`` (format from the suffix).

    ``group`` picks the group term (forest, lines, funnel), ``params`` the variables (trace,
    rank). Returns the path written.
    """
    import matplotlib

    matplotlib.use("Agg")  # only files are written here: never open a window
    plots = _plots_module()
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
    figure = plots.plot(fit, kind, **options)
    path = Path(out).expanduser()
    try:
        figure.savefig(path, dpi=100, bbox_inches="tight")
    except (OSError, ValueError) as exc:
        raise FormulangError(f"cannot write the plot to {out!r}: {exc}") from None
    finally:
        import matplotlib.pyplot as plt

        plt.close(figure)
    return path


def split_params(items: list[str] | None) -> list[str] | None:
    """``--param b,sigma --param sd_county`` -> ``["b", "sigma", "sd_county"]``."""
    names = [n.strip() for item in items or [] for n in item.split(",") if n.strip()]
    return names or None


# ---- options, shared with the REPL --------------------------------------------------------

def add_model_options(p: argparse.ArgumentParser) -> None:
    """Options that define a model: family, link, priors, parameterisation."""
    p.add_argument("--family", default=None, help="gaussian (default), binomial, poisson, ...")
    p.add_argument("--link", default=None, help="the family's link (default: its first)")
    p.add_argument("--prior", action="append", default=[], metavar="KEY=PRIOR",
                   help="e.g. 'sd=half_normal(1)' or 'b[floor]=normal(0, 0.5)'; repeatable")
    p.add_argument("--reparam", default="auto", choices=REPARAMS,
                   help="group effects centred, non-centred, or chosen from the data (auto)")


def add_sampler_options(p: argparse.ArgumentParser) -> None:
    """Options of the fit itself: method, draws, warm-up, chains, seed."""
    p.add_argument("--method", default="nuts", choices=METHODS)
    p.add_argument("--draws", type=int, default=1000)
    p.add_argument("--tune", type=int, default=1000)
    p.add_argument("--chains", type=int, default=4)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--target-accept", type=float, default=0.8)


def add_predict_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--kind", default="mean", choices=PREDICT_KINDS,
                   help="mean of the response (default), linear predictor, or simulated response")
    p.add_argument("--new-levels", default="gaussian", choices=NEW_LEVELS,
                   help="what an unseen group level gets (default: drawn from the population)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default=None, help="write the table to this CSV file")


def add_plot_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--group", default=None, help="the group term (forest, lines, funnel)")
    p.add_argument("--param", action="append", default=[], metavar="NAME",
                   help="variables to draw (trace, rank), e.g. b,sigma; repeatable")


def check_counts(args: argparse.Namespace) -> None:
    """Draws, warm-up and chains must be sensible before anything compiles."""
    for name, low in (("draws", 1), ("tune", 0), ("chains", 1)):
        if getattr(args, name) < low:
            raise FormulangError(f"--{name} must be at least {low}, not {getattr(args, name)}")
    if not 0 < args.target_accept < 1:
        raise FormulangError(f"--target-accept must be between 0 and 1, "
                             f"not {args.target_accept}")


def write_table(table, out: str | None) -> str | None:
    """The table as CSV on stdout, or to ``out``; returns the path written, if any."""
    if out is None:
        table.to_csv(sys.stdout, index=False, float_format=CSV_FLOATS)
        return None
    try:
        table.to_csv(Path(out).expanduser(), index=False, float_format=CSV_FLOATS)
    except OSError as exc:
        raise FormulangError(f"cannot write {out!r}: {exc}") from None
    return out


# ---- subcommands --------------------------------------------------------------------------

def _cmd_parse(args: argparse.Namespace) -> int:
    formula = parse(args.formula)
    print(formula.to_json(indent=2) if args.json else describe(formula))
    return 0


def _cmd_fit(args: argparse.Namespace) -> int:
    from .model import Model

    check_counts(args)
    model = Model(args.formula, load_data(args.data), family=args.family, link=args.link,
                  priors=parse_priors(args.prior), reparam=args.reparam)
    print(model, end="\n\n", flush=True)
    fit = model.fit(draws=args.draws, tune=args.tune, chains=args.chains, seed=args.seed,
                    target_accept=args.target_accept, method=args.method)
    print(fit)  # summary, then diagnostics with advice
    if args.out:
        save_fit(fit, args.out)
        print(f"\nsaved to {args.out}")
    return 0


def _cmd_summary(args: argparse.Namespace) -> int:
    print(load_fit(args.fit))
    return 0


def _cmd_predict(args: argparse.Namespace) -> int:
    fit = load_fit(args.fit)
    table = prediction_table(fit, read_table(args.newdata), kind=args.kind,
                             new_levels=args.new_levels, seed=args.seed)
    if write_table(table, args.out):
        print(f"wrote {len(table)} rows to {args.out}", file=sys.stderr)
    return 0


def _cmd_datasets(args: argparse.Namespace) -> int:
    table = datasets_table()
    print(table.to_string(index=False, columns=["name", "rows", "columns", "description"]))
    if args.examples:
        print()
        for name, example in zip(table["name"], table["example"]):
            print(f"formulang fit \"{example}\" --data {name}")
    return 0


def _cmd_plot(args: argparse.Namespace) -> int:
    fit = load_fit(args.fit)
    out = args.out or f"{args.kind}.png"
    path = write_plot(fit, args.kind, out, group=args.group, params=split_params(args.param))
    print(f"wrote the {args.kind} plot to {path}")
    return 0


def _cmd_repl(args: argparse.Namespace) -> int:
    from .repl import run_repl

    return run_repl(debug=args.debug)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``formulang`` console script."""
    # --debug is accepted before and after the subcommand; SUPPRESS keeps the subcommand's
    # default from overwriting a --debug given before it.
    debug = argparse.ArgumentParser(add_help=False)
    debug.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                       help="show tracebacks")
    ap = argparse.ArgumentParser(prog="formulang",
                                 description="A formula language for Bayesian multilevel "
                                             "models. Without a command: the interactive "
                                             "console.")
    ap.add_argument("--debug", action="store_true", help="show tracebacks")
    sub = ap.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("parse", parents=[debug], help="parse a formula and show its expansion")
    p.add_argument("formula")
    p.add_argument("--json", action="store_true", help="print the IR as JSON")
    p.set_defaults(run=_cmd_parse)

    f = sub.add_parser("fit", parents=[debug],
                       help="fit a model and print its summary and diagnostics")
    f.add_argument("formula")
    f.add_argument("--data", required=True, help="a shipped dataset name or a CSV/Parquet file")
    add_model_options(f)
    add_sampler_options(f)
    f.add_argument("--out", default=None, help="save the fit to this NetCDF file")
    f.set_defaults(run=_cmd_fit)

    s = sub.add_parser("summary", parents=[debug],
                       help="print a saved fit's summary and diagnostics")
    s.add_argument("fit", help="a file written by 'formulang fit --out' or fit.save()")
    s.set_defaults(run=_cmd_summary)

    pr = sub.add_parser("predict", parents=[debug],
                        help="posterior predictions of a saved fit for new rows, as CSV")
    pr.add_argument("fit", help="a saved fit (.nc)")
    pr.add_argument("newdata", help="a CSV or Parquet file with the predictors")
    add_predict_options(pr)
    pr.set_defaults(run=_cmd_predict)

    d = sub.add_parser("datasets", parents=[debug], help="list the shipped datasets")
    d.add_argument("--examples", action="store_true", help="also print an example fit of each")
    d.set_defaults(run=_cmd_datasets)

    pl = sub.add_parser("plot", parents=[debug], help="plot a saved fit to an image file")
    pl.add_argument("fit", help="a saved fit (.nc)")
    pl.add_argument("kind", help="trace, rank, forest, lines, funnel")
    pl.add_argument("--out", default=None, help="image file (default KIND.png); .png/.pdf/.svg")
    add_plot_options(pl)
    pl.set_defaults(run=_cmd_plot)

    r = sub.add_parser("repl", parents=[debug], help="the interactive console (the default)")
    r.set_defaults(run=_cmd_repl)
    return ap


def _show_warning(message, category, filename, lineno, file=None, line=None):
    print(f"warning: {message}", file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    """Run the console script; returns the exit status (0 fine, 2 an error)."""
    args = build_parser().parse_args(argv)
    run = getattr(args, "run", _cmd_repl)  # no subcommand: the REPL
    try:
        with warnings.catch_warnings():
            if not args.debug:  # "warning: message", without formulang's file and line
                warnings.showwarning = _show_warning
            return run(args)
    except KeyboardInterrupt:
        if args.debug:
            raise
        print("interrupted", file=sys.stderr)
        return 130
    except FormulangError as exc:
        if args.debug:
            raise
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
