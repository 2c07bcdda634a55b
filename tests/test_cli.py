"""The formulang console script: parse subcommand, clean errors."""

import json
import subprocess
import sys

from formulang.cli import main


def test_parse_prints_the_expansion(capsys):
    assert main(["parse", "y ~ a*b + (1 | g/h)"]) == 0
    out = capsys.readouterr().out
    assert "formula:    y ~ 1 + a + b + a:b + (1 | g) + (1 | g:h)" in out
    assert "group:      g:h: Intercept" in out


def test_parse_json(capsys):
    assert main(["parse", "--json", "y ~ x"]) == 0
    assert json.loads(capsys.readouterr().out)["formula"] == "y ~ 1 + x"


def test_errors_are_one_message_without_traceback():
    proc = subprocess.run([sys.executable, "-m", "formulang", "parse", "y ~ x +"],
                          capture_output=True, text=True)
    assert proc.returncode == 2
    assert proc.stderr.startswith("error: expected a term after '+'")
    assert "Traceback" not in proc.stderr
    assert "^" in proc.stderr


def test_fit_on_a_shipped_dataset(capsys):
    assert main(["fit", "Yield ~ 1 + (1 | Batch)", "--data", "Dyestuff", "--draws", "100",
                 "--tune", "100", "--chains", "2", "--prior", "sd=half_normal(100)"]) == 0
    out = capsys.readouterr().out
    assert "Group-level effects: ~Batch (6 levels)" in out
    assert "sd[Batch][Intercept]" in out and "half_normal(100)" in out and "(user)" in out


def test_fit_errors_are_clean():
    proc = subprocess.run([sys.executable, "-m", "formulang", "fit", "y ~ x", "--data", "nope"],
                          capture_output=True, text=True)
    assert proc.returncode == 2
    assert "no dataset or file named 'nope'" in proc.stderr and "radon" in proc.stderr
    proc = subprocess.run([sys.executable, "-m", "formulang", "fit", "Yield ~ 1",
                           "--data", "Dyestuff", "--prior", "sd"], capture_output=True, text=True)
    assert proc.returncode == 2 and "KEY=PRIOR" in proc.stderr
