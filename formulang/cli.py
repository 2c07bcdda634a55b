"""The ``formulang`` command line.

    formulang parse "y ~ x + (1 + x | g)"          canonical formula and the expanded terms
    formulang parse --json "y ~ x + (1 | g)"       the IR as JSON

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


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="formulang",
                                 description="A formula language for Bayesian multilevel models.")
    ap.add_argument("--debug", action="store_true", help="show tracebacks")
    sub = ap.add_subparsers(dest="command", required=True)
    p = sub.add_parser("parse", help="parse a formula and show its expansion")
    p.add_argument("formula")
    p.add_argument("--json", action="store_true", help="print the IR as JSON")
    p.set_defaults(run=_cmd_parse)
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
