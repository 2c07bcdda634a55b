"""``formulang effects`` and the console's ``effects``: brms's conditional effects of a saved
fit, as a table and a figure, through the one service layer (formulang.app.commands). The fit
is prior draws of sleepstudy (no sampling), saved with its rows."""

import io

import numpy as np
import pytest

import formulang as fl
from formulang.app import commands
from formulang.app.cli import main
from formulang.app.repl import Session
from fit_support import prior_fit


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    model = fl.Model("Reaction ~ Days + (Days | Subject)", fl.datasets.load("sleepstudy"))
    path = tmp_path_factory.mktemp("effects") / "sleep.nc"
    prior_fit(model, draws=40).save(path)
    return path


def test_cli_prints_the_table_and_writes_the_figure(saved, tmp_path, capsys):
    png = tmp_path / "days.png"
    assert main(["effects", str(saved), "Days", "--prob", "0.9", "--out", str(png)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("Conditional effects of Days on Reaction (posterior_epred")
    assert out[1].split() == ["Days", "estimate__", "se__", "lower__", "upper__"]
    want = fl.load(saved).conditional_effects("Days", prob=0.9).data  # the loaded fit's rows
    first = [float(v) for v in out[2].split()]
    np.testing.assert_allclose(first, want.iloc[0][["Days", "estimate__", "se__", "lower__",
                                                    "upper__"]].astype(float), rtol=1e-3)
    assert len(out) == 2 + 100 + 1 and out[-1].endswith("days.png")
    assert png.stat().st_size > 1000
    assert main(["effects", str(saved), "Subject"]) == 2
    assert "grouping factor" in capsys.readouterr().err


def test_console_effects(saved, tmp_path):
    s = Session(out=io.StringIO())
    s.run_command(f"open {saved}")
    text = s.run_command("effects Days --method posterior_linpred")
    assert "posterior_linpred" in text and len(text.splitlines()) == 102
    assert "conditional effects" in s.run_command("help effects").lower()
    with pytest.raises(fl.errors.FormulangError, match="effects needs a predictor"):
        s.run_command("effects --prob 0.9")


def test_methods_are_the_owners():
    from formulang.report.effects import METHODS

    assert commands.EFFECT_METHODS == tuple(METHODS)
