"""An installed wheel (not only an editable checkout) carries and finds the grammar."""

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                    "--quiet", "-w", str(out), str(ROOT)], check=True)
    return next(out.glob("formulang-*.whl"))


def test_wheel_ships_the_grammar(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    assert "formulang/grammar/formula.lark" in names
    assert (ROOT / "grammar" / "formula.lark").read_bytes() == \
        zipfile.ZipFile(wheel).read("formulang/grammar/formula.lark")


@pytest.fixture(scope="module")
def site(wheel, tmp_path_factory) -> Path:
    """The wheel installed into a folder of its own (with its console script in bin/)."""
    target = tmp_path_factory.mktemp("site")
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "--quiet",
                    "--target", str(target), str(wheel)], check=True)
    return target


def test_installed_wheel_parses_without_the_checkout(site, tmp_path):
    target = site
    code = ("import formulang, sys; from formulang.parse.grammar import grammar_text; "
            "assert formulang.__file__.startswith(sys.argv[1]), formulang.__file__; "
            "print(formulang.parse('y ~ x*z + (1 | g)'))")
    env = {**os.environ, "PYTHONPATH": str(target)}
    proc = subprocess.run([sys.executable, "-c", code, str(target)], cwd=tmp_path, env=env,
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "y ~ 1 + x + z + x:z + (1 | g)"


def test_installed_console_script_runs(site, tmp_path):
    script = site / "bin" / "formulang"
    assert script.is_file(), sorted(p.name for p in (site / "bin").iterdir())
    env = {**os.environ, "PYTHONPATH": str(site)}
    proc = subprocess.run([sys.executable, str(script), "parse", "y ~ x + (1 | g)"],
                          cwd=tmp_path, env=env, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines()[0] == "formula:    y ~ 1 + x + (1 | g)"
