"""The ``formulang`` command line.

    formulang parse "y ~ x + (1 + x | g)"          canonical formula and the expanded terms
    formulang parse --json "y ~ x + (1 | g)"       the IR as JSON
    formulang fit "log_radon ~ floor + (1 + floor | county)" --data radon
                                                   fit with NUTS, print summary and diagnostics

Errors print one clear message (with a caret under formula problems) and exit with status 2;
``--debug`` shows the traceback too.
"""

from __future__ import annotations

import argparse
import sys

from .errors import FormulangError
from .ir.formula import Formula
from .parse import parse


def describe(formula: Formula) -> str:
    """A short human-readable account of what a formula expands to."""
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


def _cmd_parse(args: argparse.Namespace) -> int:
    formula = parse(args.formula)
    print(formula.to_json(indent=2) if args.json else describe(formula))
    return 0


def load_data(source: str):
    """A shipped dataset by name, or a CSV/Parquet file."""
    from pathlib import Path

    import pandas as pd

    from . import datasets

    if source in datasets.names():
        return datasets.load(source)
    path = Path(source)
    if not path.is_file():
        raise FormulangError(f"no dataset or file named {source!r}; shipped datasets: "
                             f"{', '.join(datasets.names())}")
    if path.suffix.lower() == ".parquet":
        return pd.read_parquet(path)
    return pd.read_csv(path)


def parse_priors(items: list[str]) -> dict:
    priors = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip() or not value.strip():
            raise FormulangError(f"--prior takes KEY=PRIOR, e.g. 'sd=half_normal(1)', not {item!r}")
        priors[key.strip()] = value.strip()
    return priors


def _cmd_fit(args: argparse.Namespace) -> int:
    from .model import Model

    model = Model(args.formula, load_data(args.data), family=args.family, link=args.link,
                  priors=parse_priors(args.prior), reparam=args.reparam)
    print(model, end="\n\n", flush=True)
    fit = model.fit(draws=args.draws, tune=args.tune, chains=args.chains, seed=args.seed,
                    target_accept=args.target_accept, method=args.method)
    print(fit)  # summary, then diagnostics with advice
    if args.out:
        fit.save(args.out)
        print(f"\nsaved to {args.out}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="formulang",
                                 description="A formula language for Bayesian multilevel models.")
    ap.add_argument("--debug", action="store_true", help="show tracebacks")
    sub = ap.add_subparsers(dest="command", required=True)
    p = sub.add_parser("parse", help="parse a formula and show its expansion")
    p.add_argument("formula")
    p.add_argument("--json", action="store_true", help="print the IR as JSON")
    p.set_defaults(run=_cmd_parse)

    f = sub.add_parser("fit", help="fit a model and print its summary and diagnostics")
    f.add_argument("formula")
    f.add_argument("--data", required=True, help="a shipped dataset name or a CSV/Parquet file")
    f.add_argument("--family", default=None, help="gaussian (default), binomial, poisson, ...")
    f.add_argument("--link", default=None)
    f.add_argument("--prior", action="append", default=[], metavar="KEY=PRIOR",
                   help="e.g. 'sd=half_normal(1)' or 'b[floor]=normal(0, 0.5)'; repeatable")
    f.add_argument("--reparam", default="auto", choices=["auto", "centered", "noncentered"])
    f.add_argument("--method", default="nuts", choices=["nuts", "map", "vi"])
    f.add_argument("--draws", type=int, default=1000)
    f.add_argument("--tune", type=int, default=1000)
    f.add_argument("--chains", type=int, default=4)
    f.add_argument("--seed", type=int, default=0)
    f.add_argument("--target-accept", type=float, default=0.8)
    f.add_argument("--out", default=None, help="save the fit to this NetCDF file")
    f.set_defaults(run=_cmd_fit)
    return ap


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.run(args)
    except FormulangError as exc:
        if args.debug:
            raise
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
