"""The REPL's state and commands, usable without a terminal.

>>> import io
>>> s = Session(out=io.StringIO())
>>> s.run_command("load sleepstudy")
'loaded sleepstudy: 180 rows, 3 columns (Reaction, Days, Subject)\\n'
>>> s.run_command("parse Reaction ~ Days + (Days | Subject)").splitlines()[0]
'formula:    Reaction ~ 1 + Days + (1 + Days | Subject)'
"""

from __future__ import annotations

import argparse
import io
import textwrap
import warnings
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from ...errors import FormulangError
from ...model import Model
from ...parse import parse
from ...phrasing import phrased_as
from ...report.describe import describe_formula, describe_frame, describe_model
from .. import commands
from .lines import join_continued, split_command, split_formula, split_words

# Models built in this session, reused when the same formula, data and model options come
# again: a Model keeps its compiled samplers, so the second fit skips compilation.
MODEL_CACHE_SIZE = 8
# Longest prediction table printed on screen; longer ones are cut (write them with --out).
MAX_SHOWN_ROWS = 30


@dataclass(frozen=True)
class Command:
    name: str
    usage: str
    summary: str  # one line, for 'help'
    details: str  # for 'help NAME'
    run: Callable[["Session", str], None]


class _OptionParser(argparse.ArgumentParser):
    """argparse that raises FormulangError instead of printing usage and exiting."""

    def error(self, message):
        raise FormulangError(f"{self.prog}: {message}; see 'help {self.prog}'")

    def option_names(self) -> list[str]:
        """``--draws``, ... in the order they were added (for completion)."""
        return [o for action in self._actions for o in action.option_strings]


def _parser(name: str, *adders) -> _OptionParser:
    p = _OptionParser(prog=name, add_help=False, allow_abbrev=False)
    for add in adders:
        add(p)
    return p


class Session:
    """What the REPL knows: the data, the current model and fit.

    ``run_command(line)`` runs one command, writing to ``out`` as it goes (the model is shown
    before a long fit starts) and returning the text written. Bad input raises
    :class:`~formulang.FormulangError`; the console prints it and goes on.

    >>> s = Session(out=io.StringIO())
    >>> s.run_command("load Dyestuff").split(":")[0]
    'loaded Dyestuff'
    >>> s.columns()
    ['Batch', 'Yield']
    """

    def __init__(self, out=None):
        import sys

        self.out = out if out is not None else sys.stdout
        self.data = None
        self.data_name: str | None = None
        self.model = None
        self.fit = None
        self.finished = False  # set by quit/exit
        self._data_token = 0  # changes with every load: the data's identity in the cache
        self._models: OrderedDict = OrderedDict()
        self._captured: io.StringIO | None = None
        self.kfold_results: OrderedDict = OrderedDict()  # by formula, for 'compare'

    # ---- running commands ---------------------------------------------------------------
    def run_command(self, line: str) -> str:
        """Run one command line (continuation backslashes allowed); returns its output."""
        joined = join_continued(line)
        name, rest = split_command(joined)
        if not name or name.startswith("#"):
            return ""
        command = COMMANDS.get(name)
        if command is None:
            raise FormulangError(_unknown_command(name, rest, joined.strip()))
        self._captured = io.StringIO()
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("default")
                warnings.showwarning = self._show_warning
                command.run(self, rest)
            return self._captured.getvalue()
        finally:
            self._captured = None

    def say(self, text: str = "") -> None:
        """Write a line of output (and keep it for ``run_command``'s return value)."""
        self.out.write(text + "\n")
        self.out.flush()
        if self._captured is not None:
            self._captured.write(text + "\n")

    def _show_warning(self, message, category, filename, lineno, file=None, line=None):
        self.say(f"warning: {message}")

    # ---- state, for commands and completion ---------------------------------------------
    def columns(self) -> list[str]:
        """Column names of the loaded data (empty if none)."""
        return [] if self.data is None else [str(c) for c in self.data.columns]

    def group_names(self) -> list[str]:
        """Group terms of the current model (for ``plot --group``)."""
        if self.model is None:
            return []
        return [g.name for g in self.model.plan.groups]

    def require_data(self):
        if self.data is None:
            raise FormulangError("no data loaded: load a dataset first, e.g. 'load radon' "
                                 "('datasets' lists them) or 'load path/to/file.csv'")
        return self.data

    def require_model(self, refits: bool = False):
        """The current model (``refits``: one that k-fold can refit, built from data)."""
        if self.model is None:
            raise FormulangError("no model yet: fit one first, e.g. "
                                 "'fit log_radon ~ floor + (1 | county)'"
                                 + ("" if refits else ", or 'open fit.nc'"))
        return self.model

    def require_fit(self):
        if self.fit is None:
            raise FormulangError("no fit yet: 'fit FORMULA' first, or 'open fit.nc' to load a "
                                 "saved one")
        return self.fit

    def model_for(self, formula: str, family=None, link=None, priors=None, reparam="auto"):
        """The Model for these settings on the loaded data, built once per session."""
        data = self.require_data()
        parsed = parse(formula)
        key = (str(parsed), self._data_token, family, link,
               tuple(sorted((priors or {}).items())),
               tuple(sorted(reparam.items())) if isinstance(reparam, dict) else reparam)
        model = self._models.get(key)
        if model is None:
            model = Model(parsed, data, family=family, link=link, priors=priors,
                          reparam=reparam)
            self._models[key] = model
            while len(self._models) > MODEL_CACHE_SIZE:
                self._models.popitem(last=False)
        else:
            self._models.move_to_end(key)
        return model

    def set_data(self, data, name: str) -> None:
        self.data, self.data_name = data, name
        self._data_token += 1


def _unknown_command(name: str, rest: str, line: str = "") -> str:
    """What to say about a first word that is no command: the closest command name when one
    is close (a typo: ``fitt y ~ x``), the formula to fit when the line holds one
    (``Reaction ~ Days``: the line as typed, not the lower-cased command word), and the list
    of commands.

    >>> print(_unknown_command("fitt", "y ~ x"))  # doctest: +ELLIPSIS
    unknown command 'fitt'; did you mean 'fit'?
      commands: load, datasets, ...
    >>> print(_unknown_command("log_radon", "~ floor", "log_radon ~ floor"))  # doctest: +ELLIPSIS
    unknown command 'log_radon'
      to fit this formula: fit log_radon ~ floor
      commands: ...
    """
    a_response = rest.startswith("~") or "~" in name  # 'log_radon ~ floor': no command word
    close = None if a_response else _closest_command(name)
    text = f"unknown command {name!r}"
    text += f"; did you mean {close!r}?" if close else ""
    if "~" in name + rest and close != "fit":  # 'fitt y ~ x' is fit mistyped, no formula
        text += f"\n  to fit this formula: fit {line or (name + ' ' + rest)}".rstrip()
    return text + f"\n  commands: {', '.join(COMMANDS)} ('help' explains them)"


def _no_such_command(name: str) -> str:
    close = _closest_command(name)
    hint = f"; did you mean {close!r}?" if close else ""
    return f"no command {name!r}{hint} (commands: {', '.join(COMMANDS)})"


def _closest_command(name: str) -> str | None:
    """The command name closest to ``name``, if any is close."""
    import difflib

    close = difflib.get_close_matches(name, COMMANDS, n=1, cutoff=0.6)
    return close[0] if close else None


def _no_arguments(name: str, rest: str) -> None:
    if rest:
        raise FormulangError(f"{name} takes no arguments, got {rest!r}")


def _one_argument(name: str, rest: str, what: str) -> str:
    words = split_words(rest)
    if len(words) != 1:
        raise FormulangError(f"{name} takes one argument, {what}; see 'help {name}'")
    return words[0]


# ---- commands ---------------------------------------------------------------------------

def _load(s: Session, rest: str) -> None:
    source = _one_argument("load", rest, "a dataset name or a CSV/Parquet file")
    data = commands.load_data(source)
    s.set_data(data, Path(source).name if Path(source).suffix else source)
    columns = ", ".join(s.columns())
    s.say(f"loaded {s.data_name}: {len(data)} rows, {data.shape[1]} columns ({columns})")


def _datasets(s: Session, rest: str) -> None:
    _no_arguments("datasets", rest)
    table = commands.datasets_table()
    s.say(table.to_string(index=False, columns=["name", "rows", "columns", "description"]))


def _describe(s: Session, rest: str) -> None:
    _no_arguments("describe", rest)
    s.say(f"{s.data_name}: {len(s.require_data())} rows, {s.data.shape[1]} columns")
    s.say(describe_frame(s.data))


_FIT_OPTIONS = _parser("fit", commands.add_model_options, commands.add_sampler_options)


def _fit(s: Session, rest: str) -> None:
    formula, options = split_formula(rest)
    if not formula:
        raise FormulangError("fit needs a formula, e.g. 'fit log_radon ~ floor + (1 | county)'")
    args = _FIT_OPTIONS.parse_args(split_words(options))
    sampling = commands.fit_options(args)  # checked before the model is built
    cached = len(s._models)
    model = s.model_for(formula, **commands.model_options(args))
    s.say(describe_model(model.compiled, method=sampling["method"]))  # what this fit runs
    if len(s._models) == cached:
        s.say("(the same model as before: its compiled sampler is reused)")
    s.say()
    try:
        fit = model.fit(**sampling)
    except KeyboardInterrupt:  # Ctrl-C: the previous model and fit stay the current ones
        s.say(_kept_after_interrupt(s))
        raise
    s.model, s.fit = model, fit  # only now: a failed or interrupted fit replaces nothing
    s.say(str(s.fit))


def _kept_after_interrupt(s: Session) -> str:
    if s.fit is not None:
        return (f"fit interrupted; the previous fit ({s.fit.model.formula}) is kept: "
                f"'summary' shows it")
    if s.model is not None:
        return f"fit interrupted; the previous model ({s.model.formula}) is kept, unfitted"
    return "fit interrupted; there is no fit yet"


def _model(s: Session, rest: str) -> None:
    _no_arguments("model", rest)
    s.say(str(s.require_model()))


def _summary(s: Session, rest: str) -> None:
    _no_arguments("summary", rest)
    s.say(str(s.require_fit()))


def _priors(s: Session, rest: str) -> None:
    _no_arguments("priors", rest)
    s.say(str(s.require_model().priors))


def _graph(s: Session, rest: str) -> None:
    _no_arguments("graph", rest)
    s.say(s.require_model().graph().to_dot())


def _code(s: Session, rest: str) -> None:
    _no_arguments("code", rest)
    s.say(s.require_model().code())


_PREDICT_OPTIONS = _parser("predict", commands.add_predict_options)


def _predict(s: Session, rest: str) -> None:
    words = split_words(rest)
    if not words or words[0].startswith("--"):
        raise FormulangError("predict needs a CSV or Parquet file of new rows, e.g. "
                             "'predict new.csv --kind mean'")
    args = _PREDICT_OPTIONS.parse_args(words[1:])
    with phrased_as(commands.option_flags(_PREDICT_OPTIONS)):  # advice in this command's words
        table = commands.prediction_table(s.require_fit(), commands.read_table(words[0]),
                                          kind=args.kind, new_levels=args.new_levels,
                                          seed=args.seed,
                                          trials=commands.trials_option(args.trials),
                                          dpar=args.dpar)
    if args.out:
        commands.write_table(table, args.out)
        s.say(f"wrote {len(table)} rows of {args.kind} predictions to {args.out}")
        return
    s.say(table.to_string(index=False, max_rows=MAX_SHOWN_ROWS))
    if len(table) > MAX_SHOWN_ROWS:
        s.say(f"({len(table)} rows; write them all with --out FILE.csv)")


# --out first: completion offers the options in the order they were added.
_PLOT_OPTIONS = _parser("plot", lambda p: p.add_argument("--out", default=None),
                        commands.add_plot_options)


def _plot(s: Session, rest: str) -> None:
    words = split_words(rest)
    if not words or words[0].startswith("--"):
        raise FormulangError(f"plot needs a kind: {', '.join(commands.PLOT_KINDS)}")
    kind, args = words[0], _PLOT_OPTIONS.parse_args(words[1:])
    with phrased_as(commands.option_flags(_PLOT_OPTIONS)):  # advice in this command's words
        path = commands.write_plot(s.require_fit(), kind, args.out or f"{kind}.png",
                                   group=args.group, params=commands.split_params(args.param),
                                   x=args.x)
    s.say(f"wrote the {kind} plot to {path.resolve()}")


_PPC_OPTIONS = _parser("ppc", lambda p: p.add_argument("--out", default="ppc.png"),
                       commands.add_ppc_options)


def _ppc(s: Session, rest: str) -> None:
    args = _PPC_OPTIONS.parse_args(split_words(rest))
    path = commands.write_ppc(s.require_fit(), args.out, commands.ppc_options(args))
    s.say(f"wrote the posterior predictive check to {path.resolve()}")


_PROB_OPTIONS = _parser("hypothesis", commands.add_prob_option)


def _hypothesis(s: Session, rest: str) -> None:
    text, options = split_formula(rest)
    if not text:
        raise FormulangError("hypothesis needs one, e.g. 'hypothesis Days > 8'")
    args = _PROB_OPTIONS.parse_args(split_words(options))
    s.say(commands.hypothesis_text(s.require_fit(), [text], prob=args.prob))


def _r2(s: Session, rest: str) -> None:
    args = _PROB_OPTIONS.parse_args(split_words(rest))
    s.say(commands.r2_text(s.require_fit(), prob=args.prob))


_EFFECTS_OPTIONS = _parser("effects", commands.add_effects_options)


def _effects(s: Session, rest: str) -> None:
    words = split_words(rest)
    if not words or words[0].startswith("--"):
        raise FormulangError("effects needs a predictor, e.g. 'effects Days' or 'effects x:g'")
    args = _EFFECTS_OPTIONS.parse_args(words[1:])
    s.say(commands.effects_text(s.require_fit(), words[0], prob=args.prob, method=args.method,
                                categorical=args.categorical, out=args.out))


def _save(s: Session, rest: str) -> None:
    path = _one_argument("save", rest, "the file to write, e.g. fit.nc")
    commands.save_fit(s.require_fit(), path)
    s.say(f"saved the fit to {path}")


def _open(s: Session, rest: str) -> None:
    path = _one_argument("open", rest, "a saved fit, e.g. fit.nc")
    s.fit = commands.load_fit(path)
    s.model = s.fit.model
    s.say(f"opened {path}: {s.fit.model.formula} ({s.fit.model.family}, {s.fit.method}); "
          f"'summary' shows it")


def _parse(s: Session, rest: str) -> None:
    if not rest:
        raise FormulangError("parse needs a formula, e.g. 'parse y ~ x + (1 | g)'")
    s.say(describe_formula(parse(rest)))


def _help(s: Session, rest: str) -> None:
    if rest:
        command = COMMANDS.get(rest.strip().lower())
        if command is None:
            raise FormulangError(_no_such_command(rest.strip()))
        s.say(f"{command.usage}\n  {command.summary}\n\n{command.details}".rstrip())
        return
    width = max(len(c.usage) for c in _HELP_ORDER)
    for c in _HELP_ORDER:
        s.say(f"  {c.usage:<{width}}  {c.summary}")
    s.say("\nA line ending in \\ or with unclosed brackets continues on the next line. "
          "'help COMMAND' gives details; Tab completes commands, datasets, columns and files.")


def _quit(s: Session, rest: str) -> None:
    s.finished = True


# ---- cross-validation and comparison (issue 22) ----
_KFOLD_OPTIONS = _parser("kfold", commands.add_kfold_options)


def _kfold(s: Session, rest: str) -> None:
    options = commands.kfold_options(_KFOLD_OPTIONS.parse_args(split_words(rest)))
    model = s.require_model(refits=True)
    if not hasattr(model, "bound"):
        raise FormulangError("this model was opened from a file: k-fold refits it, so fit it "
                             "again from its data ('load ...', then 'fit FORMULA')")
    with phrased_as(commands.option_flags(_KFOLD_OPTIONS)):
        result = commands.run_kfold(model, options)
    s.kfold_results[str(model.formula)] = result
    s.say(str(result))
    if len(s.kfold_results) > 1:
        s.say("'compare' ranks the k-fold results of this session")


def _compare(s: Session, rest: str) -> None:
    files = split_words(rest)
    if files:
        table = commands.comparison({f: commands.load_fit(f) for f in files}, "loo")
    elif len(s.kfold_results) >= 2:
        table = commands.comparison(dict(s.kfold_results), "kfold")
    else:
        raise FormulangError("compare needs saved fits ('compare a.nc b.nc', by PSIS-LOO) "
                             "or two k-fold results of this session ('kfold' after each fit)")
    s.say(commands.comparison_text(table))
# ---- end cross-validation ----


def _choices(names, default: str, why: str = "") -> str:
    """``auto (default; chosen from the data), centered, noncentered``."""
    return ", ".join(f"{n} (default{why})" if n == default else n for n in names)


def _option_help(option: str, text: str) -> str:
    """An option and its help, the help wrapped in a column of its own."""
    return textwrap.fill(text, width=92, initial_indent=f"  {option:<20}",
                         subsequent_indent=" " * 22, break_on_hyphens=False)


_FIT_DETAILS = "\n".join([
    "The formula is everything before the first --option. Options:",
    _option_help("--family F", _choices(commands.FAMILIES, "gaussian")),
    _option_help("--link L", "the family's link (default: its first)"),
    _option_help("--prior KEY=PRIOR",
                 "e.g. --prior sd=half_normal(1) --prior b[floor]=normal(0, 0.5)"),
    _option_help("--reparam R", _choices(commands.REPARAMS, "auto", "; chosen from the data")
                 + "; or FACTOR=R for one grouping factor (repeatable)"),
    _option_help("--method M", _choices(commands.METHODS, "nuts")),
    "  --draws N --tune N --chains N --seed N --target-accept P --max-tree-depth D",
    "Prints the model, then the summary and diagnostics. Fitting the same formula with the same",
    "data and model options again reuses the model and its compiled sampler."])

_HELP_ORDER = [
    Command("load", "load NAME|FILE", "load a shipped dataset or a CSV/Parquet file",
            "load radon       a shipped dataset ('datasets' lists them)\n"
            "load data.csv    a CSV or Parquet file", _load),
    Command("datasets", "datasets", "list the shipped datasets", "", _datasets),
    Command("describe", "describe", "rows, columns, types, factor levels, missing values",
            "", _describe),
    Command("fit", "fit FORMULA [--options]", "fit a model to the loaded data", _FIT_DETAILS,
            _fit),
    Command("model", "model", "show the current model (terms, priors, parameterisation)",
            "", _model),
    Command("summary", "summary", "the current fit's summary and diagnostics", "", _summary),
    Command("priors", "priors", "the current model's priors as a table", "", _priors),
    Command("graph", "graph", "the model as a Graphviz DOT graph", "", _graph),
    Command("code", "code", "standalone NumPyro code of the model", "", _code),
    Command("predict", "predict FILE [--kind K]", "posterior predictions for new rows",
            f"predict new.csv [--kind {'|'.join(commands.PREDICT_KINDS)}]\n"
            f"                [--new-levels {'|'.join(commands.NEW_LEVELS)}] [--seed N] "
            f"[--dpar P] [--out FILE]\n"
            "Per-row posterior mean, sd and 95% interval; --out writes them as CSV.", _predict),
    Command("plot", "plot KIND [--out FILE]", "plot the fit to an image file",
            "plot KIND [--out FILE.png] [--group G] [--param NAME] [--x COLUMN]\n"
            "Kinds: trace, rank (--param picks variables), forest, lines (--x picks the\n"
            "covariate), funnel (--group picks the group term), effects, ppc, smooth. The\n"
            "file defaults to KIND.png in the current folder.", _plot),
    Command("ppc", "ppc [--type T] [--group G]", "posterior predictive check to an image file",
            f"ppc [--type {'|'.join(commands.PPC_TYPES)}]\n"
            f"    [--group G] [--ndraws N] [--stat {'|'.join(commands.PPC_STATS)}] [--seed N]\n"
            "    [--out FILE.png]\n"
            "brms's pp_check: the data against replicates from the fit (default type: bars\n"
            "for discrete families, else dens_overlay); --group: one panel per level.", _ppc),
    Command("hypothesis", "hypothesis H [--prob P]", "brms's hypothesis test of the fit",
            "hypothesis Days > 8      one-sided: Post.Prob and Evid.Ratio (its odds)\n"
            "hypothesis Days - 10 = 0 two-sided: the interval of Days - 10\n"
            "Names: b_Days or Days, sd_Subject__Days, sigma...; numbers, + - * /, ( ).",
            _hypothesis),
    Command("r2", "r2 [--prob P]", "Bayesian R² and LOO R² of the fit", "", _r2),
    Command("effects", "effects X [--prob P] [--out FILE]",
            "brms's conditional effects of a predictor",
            f"effects Days [--prob 0.9] [--out effects.png] [--method M] [--categorical]\n"
            f"effects x:g  curves of x per level of g (mean +- 1 SD of a numeric g)\n"
            f"The response's posterior median and interval along X, the other predictors at\n"
            f"their mean or reference level, group effects left out. Methods: "
            f"{', '.join(commands.EFFECT_METHODS)}.", _effects),
    Command("kfold", "kfold [-K N] [--folds F] [--group G]",
            "k-fold cross-validation of the current model",
            f"kfold [-K 10] [--folds {'|'.join(commands.KFOLDS)}] [--group G] [--draws N]\n"
            "      [--tune N] [--chains N] [--seed N]\n"
            f"      [--parallel {'|'.join(commands.PARALLEL)}]\n"
            "Refits the current model on each fold (one compiled sampler) and reports the\n"
            "held-out elpd, its SE and RMSE. random: rows held out within groups; grouped:\n"
            "whole groups, predicted as new levels. Results are kept for 'compare'.", _kfold),
    Command("compare", "compare [FILE.nc ...]", "rank models by elpd (k-fold or LOO)",
            "compare            the k-fold results of this session (models fitted to the\n"
            "                   same data, with the same folds)\n"
            "compare a.nc b.nc  saved fits by PSIS-LOO, with Pareto-k warnings", _compare),
    Command("save", "save FILE.nc", "save the current fit (NetCDF)", "", _save),
    Command("open", "open FILE.nc", "open a saved fit", "The data loaded stay as they are.",
            _open),
    Command("parse", "parse FORMULA", "show what a formula expands to", "", _parse),
    Command("help", "help [COMMAND]", "this list, or one command's details", "", _help),
    Command("quit", "quit", "leave (also 'exit' or Ctrl-D)", "", _quit),
]
COMMANDS: dict[str, Command] = {c.name: c for c in _HELP_ORDER}
COMMANDS["exit"] = Command("exit", "exit", "leave", "", _quit)
# The commands that take --options, and their parsers (completion offers their options).
OPTION_PARSERS: dict[str, _OptionParser] = {"fit": _FIT_OPTIONS, "predict": _PREDICT_OPTIONS,
                                            "plot": _PLOT_OPTIONS, "ppc": _PPC_OPTIONS,
                                            "hypothesis": _PROB_OPTIONS, "r2": _PROB_OPTIONS,
                                            "kfold": _KFOLD_OPTIONS,
                                            "effects": _EFFECTS_OPTIONS}
