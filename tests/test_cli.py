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
