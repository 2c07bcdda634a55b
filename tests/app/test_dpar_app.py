"""Formulas for family parameters through the CLI and the console (issue 17): the text with
``;`` between formulas, ``"y ~ x + (1 | g); sigma ~ x"``, reaches the model unchanged.

Kept cheap: 48 rows, one chain of 30 + 30 NUTS iterations per fit (the numbers are not
checked, only that each formula's rows are there), one fit per front end.
"""

import io

import numpy as np
import pandas as pd
import pytest

from formulang.app.cli import main
from formulang.app.repl import Session
from formulang.app.repl.lines import is_incomplete, split_formula

FORMULA = "y ~ x + (1 | g); sigma ~ x"
EXPANDED = "y ~ 1 + x + (1 | g); sigma ~ 1 + x"
SAMPLING = ["--draws", "30", "--tune", "30", "--chains", "1", "--seed", "1"]


@pytest.fixture(scope="module")
def het_csv(tmp_path_factory):
    """Heteroscedastic rows: log sigma = -0.5 + 0.6 x, four groups."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=48)
    g = np.repeat(list("abcd"), 12)
    y = (1 + 0.5 * x + rng.normal(0, 0.5, 4)[np.arange(48) // 12]
         + np.exp(-0.5 + 0.6 * x) * rng.normal(size=48))
    path = tmp_path_factory.mktemp("het") / "het.csv"
    pd.DataFrame({"y": y, "x": x, "g": g}).to_csv(path, index=False)
    return path


def _has_both_formulas(text: str) -> None:
    assert f"Formula: {EXPANDED}" in text
    assert "Intercept_sigma" in text and "b_sigma[x]" in text  # the sub-formula's priors
    rows = [line.split()[0] for line in text.splitlines() if line.strip()]
    for row in ("Intercept", "x", "sigma_Intercept", "sigma_x", "sd(Intercept)"):
        assert row in rows, row


def test_cli_fits_and_summarises_a_formula_for_sigma(het_csv, tmp_path, capsys):
    out_file = tmp_path / "het.nc"
    assert main(["fit", FORMULA, "--data", str(het_csv), *SAMPLING,
                 "--out", str(out_file)]) == 0
    out = capsys.readouterr().out
    _has_both_formulas(out)
    assert "sigma varies by row" in out  # print(model) says why nothing is collapsed
    assert main(["summary", str(out_file)]) == 0
    again = capsys.readouterr().out
    assert "sigma_Intercept" in again and "sigma_x" in again and EXPANDED in again
    assert main(["parse", FORMULA]) == 0
    assert "sigma ~ 1 + x" in capsys.readouterr().out


def test_console_fits_a_formula_for_sigma_and_writes_its_code(het_csv):
    line = f"{FORMULA} --draws 30 --tune 30 --chains 1 --seed 1"
    assert split_formula(line) == (FORMULA, "--draws 30 --tune 30 --chains 1 --seed 1")
    assert not is_incomplete("fit " + line)  # ';' neither ends nor continues the command
    s = Session(out=io.StringIO())
    s.run_command(f"load {het_csv}")
    _has_both_formulas(s.run_command("fit " + line))
    assert [d.name for d in s.model.plan.dpars] == ["sigma"]
    code = s.run_command("code")
    assert f"FORMULA = {EXPANDED!r}" in code
    assert "sigma = jnp.exp(eta_sigma)" in code and "X_sigma" in code
    compile(code, "<code>", "exec")
    assert "sigma" in s.run_command("graph")
