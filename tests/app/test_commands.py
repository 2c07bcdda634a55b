"""The service layer the command line and the console share (formulang.app.commands): its
choices are the owners' choices, and its options become Model's and fit's keyword arguments."""

import argparse
import inspect
import io

import pytest
from prompt_toolkit.completion import CompleteEvent
from prompt_toolkit.document import Document

from formulang import Model
from formulang.errors import FormulangError
from formulang.app import commands
from formulang.app.cli import build_parser
from formulang.app.repl import Session
from formulang.app.repl.completion import SessionCompleter
from formulang.infer import predict
from formulang.lower.families import FAMILIES
from formulang.lower.reparam import MODES
from formulang.model import METHODS
from formulang.report.plots import PLOT_KINDS


def complete(text: str) -> list[str]:
    completer = SessionCompleter(Session(out=io.StringIO()))
    return [c.text for c in completer.get_completions(Document(text, len(text)),
                                                      CompleteEvent(completion_requested=True))]


def parse_fit(*options: str) -> argparse.Namespace:
    return build_parser().parse_args(["fit", "y ~ x", "--data", "radon", *options])


def parse_predict(*options: str) -> argparse.Namespace:
    return build_parser().parse_args(["predict", "fit.nc", "new.csv", *options])


def test_every_family_is_offered():
    fit_help = Session(out=io.StringIO()).run_command("help fit")
    for name in FAMILIES:
        assert name in fit_help, name
        assert name in complete(f"fit y ~ x --family {name[:-1]}"), name
    links = {link for spec in FAMILIES.values() for link in spec.links}
    assert set(complete("fit y ~ x --link ")) == links


@pytest.mark.parametrize("mode", MODES)
def test_every_parameterisation_is_accepted(mode):
    assert commands.model_options(parse_fit("--reparam", mode))["reparam"] == mode
    # per grouping factor, as the diagnostics' advice spells it in the command line
    assert commands.model_options(parse_fit("--reparam", f"g={mode}", "--reparam",
                                            "h=auto"))["reparam"] == {"g": mode, "h": "auto"}
    with pytest.raises(FormulangError, match="one mode for every term, or FACTOR=MODE"):
        commands.model_options(parse_fit("--reparam", mode, "--reparam", f"g={mode}"))
    assert mode in complete("fit y ~ x --reparam ")
    assert mode in Session(out=io.StringIO()).run_command("help fit")


@pytest.mark.parametrize("method", METHODS)
def test_every_fitting_method_is_accepted(method):
    assert parse_fit("--method", method).method == method
    assert method in complete("fit y ~ x --method ")


def test_prediction_choices_and_defaults_are_predicts():
    defaults = inspect.signature(predict.predict).parameters
    args = parse_predict()
    assert args.kind == defaults["kind"].default
    assert args.new_levels == defaults["new_levels"].default
    for kind in predict.KINDS:
        assert parse_predict("--kind", kind).kind == kind
    for rule in predict.NEW_LEVELS:
        assert parse_predict("--new-levels", rule).new_levels == rule
    assert sorted(complete("predict new.csv --kind ")) == sorted(predict.KINDS)
    assert sorted(complete("predict new.csv --new-levels ")) == sorted(predict.NEW_LEVELS)
    help_predict = Session(out=io.StringIO()).run_command("help predict")
    assert all(kind in help_predict for kind in predict.KINDS + predict.NEW_LEVELS)


def test_every_plot_kind_is_offered(capsys):
    assert complete("plot ") == list(PLOT_KINDS)
    with pytest.raises(SystemExit):
        build_parser().parse_args(["plot", "--help"])
    assert ", ".join(PLOT_KINDS) in capsys.readouterr().out


def test_options_are_the_keywords_of_model_and_fit():
    args = parse_fit("--family", "poisson", "--prior", "sd=half_normal(1)", "--draws", "10",
                     "--method", "map", "--target-accept", "0.9")
    model = commands.model_options(args)
    assert model == {"family": "poisson", "link": None, "priors": {"sd": "half_normal(1)"},
                     "reparam": "auto"}
    inspect.signature(Model).bind("y ~ x", None, **model)
    fit = commands.fit_options(args)
    assert fit == {"draws": 10, "tune": 1000, "chains": 4, "seed": 0, "target_accept": 0.9,
                   "method": "map"}
    inspect.signature(Model.fit).bind(None, **fit)


@pytest.mark.parametrize("options, message", [
    (["--draws", "0"], "--draws must be at least 1, not 0"),
    (["--tune", "-1"], "--tune must be at least 0, not -1"),
    (["--target-accept", "1"], "--target-accept must be between 0 and 1, not 1.0"),
])
def test_fit_options_are_checked_before_anything_compiles(options, message):
    with pytest.raises(FormulangError, match=message):
        commands.fit_options(parse_fit(*options))


def test_priors_need_a_key_and_a_value():
    assert commands.parse_priors(["b[floor] = normal(0, 1)", "sd=half_normal(2)"]) == {
        "b[floor]": "normal(0, 1)", "sd": "half_normal(2)"}
    for bad in ("sd", "=normal(0, 1)", "sd="):
        with pytest.raises(FormulangError, match="KEY=PRIOR"):
            commands.parse_priors([bad])
