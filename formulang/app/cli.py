"""The ``formulang`` command line.

    formulang                                      the interactive console (REPL)
    formulang parse "y ~ x + (1 + x | g)"          canonical formula and the expanded terms
    formulang parse --json "y ~ x + (1 | g)"       the IR as JSON
    formulang fit "log_radon ~ floor + (1 + floor | county)" --data radon [--out fit.nc]
                                                   fit with NUTS, print summary and diagnostics
    formulang summary fit.nc                       a saved fit's summary and diagnostics
    formulang predict fit.nc new.csv [--kind mean] per-row posterior mean, sd and 95% interval
    formulang plot fit.nc trace --out trace.png    a plot of a saved fit, as an image file
                                                   (--data DATA: the training rows, for a fit
                                                   saved without them)
    formulang ppc fit.nc [--type dens_overlay] [--group g] [--out ppc.png]
                                                   a posterior predictive check (brms's
                                                   pp_check types; --data DATA as for plot)
    formulang hypothesis fit.nc "Days > 8"         brms's hypothesis test (--prob P)
    formulang r2 fit.nc                            Bayesian R² and LOO R² (needs the rows)
    formulang effects fit.nc Days [--prob 0.9] [--out effects.png]
                                                   brms's conditional effects of a predictor
                                                   ("x:g" for two), as a table and a figure
    formulang datasets                             the shipped datasets
    formulang kfold "log_radon ~ floor + (1 | county)" "log_radon ~ floor" --data radon
          [-K 10] [--folds random|grouped] [--group county] [--out pointwise.csv]
          [--parallel auto|sequential|devices|vectorized]
                                                   k-fold cross-validation of each formula,
                                                   and their comparison table
    formulang compare a.nc b.nc                    compare saved fits by PSIS-LOO

Errors print one clear message (with a caret under formula problems) and exit with status 2;
``--debug`` (before or after the subcommand) shows the traceback instead. The work itself is
done by :mod:`formulang.app.commands`, which the console shares.
"""

from __future__ import annotations

import argparse
import os
import sys
import warnings

from ..errors import FormulangError
from ..model import Model
from ..parse import parse
from ..phrasing import phrased_as
from ..report.describe import describe_formula, describe_model
from . import commands
from .repl import run_repl


# ---- subcommands --------------------------------------------------------------------------

def _cmd_parse(args: argparse.Namespace) -> int:
    formula = parse(args.formula)
    print(formula.to_json(indent=2) if args.json else describe_formula(formula))
    return 0


def _cmd_fit(args: argparse.Namespace) -> int:
    sampling = commands.fit_options(args)  # checked before the data are read
    data = commands.load_data(args.data)
    model = Model(args.formula, data, **commands.model_options(args))
    print(describe_model(model.compiled, method=args.method), end="\n\n", flush=True)
    fit = model.fit(**sampling)
    print(fit)  # summary, then diagnostics with advice
    if args.out:
        commands.save_fit(fit, args.out,
                          data={"auto": "auto", "yes": True, "no": False}[args.save_data])
        print(f"\nsaved to {args.out}")
    return 0


def _cmd_summary(args: argparse.Namespace) -> int:
    print(commands.load_fit(args.fit))
    return 0


def _cmd_predict(args: argparse.Namespace) -> int:
    fit = commands.load_fit(args.fit)
    table = commands.prediction_table(fit, commands.read_table(args.newdata), kind=args.kind,
                                      new_levels=args.new_levels, seed=args.seed,
                                      trials=commands.trials_option(args.trials),
                                      dpar=args.dpar)
    if commands.write_table(table, args.out):
        print(f"wrote {len(table)} rows to {args.out}", file=sys.stderr)
    return 0


def _cmd_datasets(args: argparse.Namespace) -> int:
    table = commands.datasets_table()
    print(table.to_string(index=False, columns=["name", "rows", "columns", "description"]))
    if args.examples:
        print()
        for name, example, family in zip(table["name"], table["example"], table["family"]):
            print(f"formulang fit \"{example}\" --data {name}"
                  + (f" --family {family}" if family != "gaussian" else ""))
    return 0


def _cmd_plot(args: argparse.Namespace) -> int:
    fit = commands.load_fit(args.fit, data=args.data)
    out = args.out or f"{args.kind}.png"
    path = commands.write_plot(fit, args.kind, out, group=args.group,
                               params=commands.split_params(args.param), x=args.x)
    print(f"wrote the {args.kind} plot to {path}")
    return 0


def _cmd_ppc(args: argparse.Namespace) -> int:
    fit = commands.load_fit(args.fit, data=args.data)
    path = commands.write_ppc(fit, args.out, commands.ppc_options(args))
    print(f"wrote the posterior predictive check to {path}")
    return 0


def _cmd_hypothesis(args: argparse.Namespace) -> int:
    fit = commands.load_fit(args.fit)
    print(commands.hypothesis_text(fit, args.hypothesis, prob=args.prob))
    return 0


def _cmd_r2(args: argparse.Namespace) -> int:
    fit = commands.load_fit(args.fit, data=args.data)
    print(commands.r2_text(fit, prob=args.prob, loo=not args.no_loo))
    return 0


def _cmd_effects(args: argparse.Namespace) -> int:
    fit = commands.load_fit(args.fit, data=args.data)
    print(commands.effects_text(fit, args.effect, prob=args.prob, method=args.method,
                                categorical=args.categorical, out=args.out))
    return 0


# ---- cross-validation and comparison (issue 22) ----
def _cmd_kfold(args: argparse.Namespace) -> int:
    options = commands.kfold_options(args)  # checked before the data are read
    data = commands.load_data(args.data)
    results = {}
    for formula in args.formula:
        model = Model(formula, data, **commands.model_options(args))
        results[str(model.formula)] = result = commands.run_kfold(model, options)
        print(result, end="\n\n", flush=True)
    if len(results) > 1:
        print(commands.comparison_text(commands.comparison(results, "kfold")))
    if args.out:
        commands.write_table(commands.pointwise_table(results), args.out)
        print(f"wrote the pointwise held-out elpd to {args.out}", file=sys.stderr)
    return 0


def _cmd_compare(args: argparse.Namespace) -> int:
    fits = {path: commands.load_fit(path) for path in args.fits}
    print(commands.comparison_text(commands.comparison(fits, "loo")))
    return 0


def _cmd_repl(args: argparse.Namespace) -> int:
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
    p.add_argument("formula", help="e.g. 'y ~ x * z + (1 | g)' (quoted: it has spaces)")
    p.add_argument("--json", action="store_true", help="print the IR as JSON")
    p.set_defaults(run=_cmd_parse)

    f = sub.add_parser("fit", parents=[debug],
                       help="fit a model and print its summary and diagnostics")
    f.add_argument("formula", help="e.g. 'log_radon ~ floor + (1 | county)'; a family "
                                   "parameter's formula after ';'")
    f.add_argument("--data", required=True, help="a shipped dataset name or a CSV/Parquet/JSON file")
    commands.add_model_options(f)
    commands.add_sampler_options(f)
    f.add_argument("--out", default=None, help="save the fit to this NetCDF file")
    f.add_argument("--save-data", default="auto", choices=("auto", "yes", "no"),
                   help="store the training rows in the saved fit (auto: when small), for "
                        "the lines plot and predictions of those rows")
    f.set_defaults(run=_cmd_fit)

    s = sub.add_parser("summary", parents=[debug],
                       help="print a saved fit's summary and diagnostics")
    s.add_argument("fit", help="a file written by 'formulang fit --out' or fit.save()")
    s.set_defaults(run=_cmd_summary)

    pr = sub.add_parser("predict", parents=[debug],
                        help="posterior predictions of a saved fit for new rows, as CSV")
    pr.add_argument("fit", help="a saved fit (.nc)")
    pr.add_argument("newdata", help="a CSV or Parquet file with the predictors")
    commands.add_predict_options(pr)
    pr.set_defaults(run=_cmd_predict)

    d = sub.add_parser("datasets", parents=[debug], help="list the shipped datasets")
    d.add_argument("--examples", action="store_true", help="also print an example fit of each")
    d.set_defaults(run=_cmd_datasets)

    pl = sub.add_parser("plot", parents=[debug], help="plot a saved fit to an image file")
    pl.add_argument("fit", help="a saved fit (.nc)")
    pl.add_argument("kind", help=", ".join(commands.PLOT_KINDS))
    pl.add_argument("--out", default=None, help="image file (default KIND.png); .png/.pdf/.svg")
    pl.add_argument("--data", default=None,
                    help="the data the fit was made from (a shipped dataset name or a "
                         "CSV/Parquet file), for a fit saved without them (lines plot)")
    commands.add_plot_options(pl)
    pl.set_defaults(run=_cmd_plot)

    pc = sub.add_parser("ppc", parents=[debug],
                        help="posterior predictive check of a saved fit, as an image file")
    pc.add_argument("fit", help="a saved fit (.nc)")
    commands.add_ppc_options(pc)
    pc.add_argument("--out", default="ppc.png", help="image file (default ppc.png)")
    pc.add_argument("--data", default=None,
                    help="the data the fit was made from, for a fit saved without them")
    pc.set_defaults(run=_cmd_ppc)

    hy = sub.add_parser("hypothesis", parents=[debug],
                        help="test hypotheses on a saved fit's parameters, as brms does")
    hy.add_argument("fit", help="a saved fit (.nc)")
    hy.add_argument("hypothesis", nargs="+",
                    help='e.g. "Days > 8", "Days - 10 = 0" (parameter names, numbers, + - * /)')
    commands.add_prob_option(hy)
    hy.set_defaults(run=_cmd_hypothesis)

    r2 = sub.add_parser("r2", parents=[debug], help="Bayesian R² and LOO R² of a saved fit")
    r2.add_argument("fit", help="a saved fit (.nc)")
    r2.add_argument("--data", default=None,
                    help="the data the fit was made from, for a fit saved without them")
    r2.add_argument("--no-loo", action="store_true", help="only the Bayesian R²")
    commands.add_prob_option(r2)
    r2.set_defaults(run=_cmd_r2)

    ef = sub.add_parser("effects", parents=[debug],
                        help="brms's conditional effects of a predictor of a saved fit")
    ef.add_argument("fit", help="a saved fit (.nc)")
    ef.add_argument("effect", help='a predictor, e.g. Days, or two as "x:g"')
    ef.add_argument("--data", default=None,
                    help="the data the fit was made from, for a fit saved without them")
    commands.add_effects_options(ef)
    ef.set_defaults(run=_cmd_effects)

    kf = sub.add_parser("kfold", parents=[debug],
                        help="k-fold cross-validation of one or more models, compared")
    kf.add_argument("formula", nargs="+", help="one or more formulas, fitted to the same data")
    kf.add_argument("--data", required=True, help="a shipped dataset name or a CSV/Parquet/JSON file")
    commands.add_model_options(kf)
    commands.add_kfold_options(kf)
    kf.add_argument("--out", default=None, help="write each row's fold and held-out elpd (CSV)")
    kf.set_defaults(run=_cmd_kfold)

    cm = sub.add_parser("compare", parents=[debug],
                        help="compare saved fits by PSIS-LOO (elpd_diff, se_diff)")
    cm.add_argument("fits", nargs="+", help="saved fits (.nc) of the same data")
    cm.set_defaults(run=_cmd_compare)

    r = sub.add_parser("repl", parents=[debug], help="the interactive console (the default)")
    r.set_defaults(run=_cmd_repl)
    for command in sub.choices.values():  # advice in messages names this command's options
        command.set_defaults(option_flags=commands.option_flags(command))
    return ap


def _show_warning(message, category, filename, lineno, file=None, line=None):
    print(f"warning: {message}", file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    """Run the console script; returns the exit status (0 fine, 2 an error)."""
    args = build_parser().parse_args(argv)
    run = getattr(args, "run", _cmd_repl)  # no subcommand: the REPL
    try:
        with warnings.catch_warnings(), phrased_as(getattr(args, "option_flags", {})):
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
    except BrokenPipeError:  # | head: the reader has what it wanted; no traceback, as a
        # command killed by SIGPIPE. Python would flush stdout again at exit and fail anew
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
