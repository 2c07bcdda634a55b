"""The formulang console script (formulang.app.cli): parse, fit, summary, predict, datasets,
plot; clean errors.

One small NUTS fit of sleepstudy (2 chains x 200) is saved once and shared by the tests of
the commands that read a saved fit.
"""

import io
import json
import shlex
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import formulang as fl
from formulang.app.cli import main
from formulang.app.commands import prediction_table, write_plot
from formulang.errors import FormulangError


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


def test_a_reader_that_stops_early_gets_no_traceback():
    # formulang ... | head -1: the output (here ~150 kB, past any pipe's buffer) meets a
    # closed pipe; once a BrokenPipeError traceback, or "internal error" in the console
    script = "datasets\n" * 200
    proc = subprocess.Popen([sys.executable, "-m", "formulang"], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    proc.stdin.write(script.encode())
    proc.stdin.close()
    assert proc.stdout.readline()
    proc.stdout.close()
    assert proc.wait(timeout=300) == 141
    err = proc.stderr.read().decode()
    assert "Traceback" not in err and "error" not in err, err


# ---- summary, predict, datasets, plot on a saved fit ------------------------------------------

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# The console script installed next to this Python (the venv's bin/ or Scripts/).
CONSOLE_SCRIPT = Path(sys.executable).with_name("formulang")


@pytest.fixture(scope="module")
def saved_fit(tmp_path_factory):
    """A small real NUTS fit of sleepstudy, saved as the CLI's commands find it on disk."""
    model = fl.Model("Reaction ~ Days + (Days | Subject)", fl.datasets.load("sleepstudy"))
    path = tmp_path_factory.mktemp("cli") / "sleep.nc"
    model.fit(draws=200, tune=200, chains=2, seed=2).save(path)
    return path


@pytest.fixture(scope="module")
def loaded_fit(saved_fit):
    return fl.load(saved_fit)


@pytest.fixture
def new_rows(tmp_path):
    """Two known subjects, one new subject, one row with a missing predictor."""
    frame = pd.DataFrame({"Days": [0.0, 9.0, 5.0, np.nan],
                          "Subject": ["308", "308", "999", "309"]})
    path = tmp_path / "new.csv"
    frame.to_csv(path, index=False)
    return frame, path


def test_summary_prints_the_saved_fit(saved_fit, capsys):
    assert main(["summary", str(saved_fit)]) == 0
    out = capsys.readouterr().out
    assert out == str(fl.load(saved_fit)) + "\n"
    for row in ("sd(Intercept)", "sd(Days)", "cor(Intercept,Days)", "Intercept", "Days",
                "sigma", "Diagnostics:"):
        assert row in out


def test_predict_writes_per_row_summaries(saved_fit, new_rows, tmp_path, capsys):
    frame, path = new_rows
    out = tmp_path / "preds.csv"
    assert main(["predict", str(saved_fit), str(path), "--out", str(out), "--seed", "3"]) == 0
    captured = capsys.readouterr()
    assert f"wrote 4 rows to {out}" in captured.err
    # the row with a missing Days keeps its line, empty, and a warning names it
    assert ("warning: 1 of 4 newdata rows have missing values in Days (1 row): their "
            "predictions are NaN (row position 3)") in captured.err
    assert "warning: newdata has 1 group level not seen in training; 'Subject': '999'" in \
        captured.err and "(--new-levels gaussian); --new-levels population: effect 0" in \
        captured.err  # advice in the command line's words
    table = pd.read_csv(out, dtype={"Subject": str})
    assert list(table.columns) == ["row", "Days", "Subject", "mean", "sd", "q2.5", "q97.5"]
    assert table["row"].tolist() == [0, 1, 2, 3]
    assert table["Subject"].tolist() == ["308", "308", "999", "309"]
    assert table.iloc[3][["mean", "sd", "q2.5", "q97.5"]].isna().all()
    table = table.iloc[:3]
    # the same numbers as summarising fit.predict by hand (the CSV keeps 7 digits)
    with pytest.warns(fl.NewLevelsWarning, match="'999'"):
        draws = fl.load(saved_fit).predict(frame.iloc[:3], kind="mean", seed=3)
    np.testing.assert_allclose(table["mean"], draws.mean(axis=0), rtol=1e-6)
    np.testing.assert_allclose(table["sd"], draws.std(axis=0, ddof=1), rtol=1e-6)
    np.testing.assert_allclose(table["q2.5"], np.quantile(draws, 0.025, axis=0), rtol=1e-6)
    np.testing.assert_allclose(table["q97.5"], np.quantile(draws, 0.975, axis=0), rtol=1e-6)
    # the new subject's effect is drawn from the population: wider than a known subject's
    assert table["sd"][2] > table["sd"][0]


@pytest.mark.filterwarnings("ignore::formulang.MissingValuesWarning")
@pytest.mark.filterwarnings("ignore::formulang.NewLevelsWarning")
def test_predict_options_reach_fit_predict(saved_fit, loaded_fit, new_rows, capsys):
    frame, path = new_rows
    for options in (["--kind", "response", "--seed", "1"],
                    ["--kind", "linpred", "--new-levels", "population"]):
        assert main(["predict", str(saved_fit), str(path), *options]) == 0
        printed = pd.read_csv(io.StringIO(capsys.readouterr().out), dtype={"Subject": str})
        kind, value = options[1], options[3]
        expected = prediction_table(loaded_fit, frame, kind=kind,
                                    **({"seed": 1} if kind == "response"
                                       else {"new_levels": value}))
        expected["Subject"] = expected["Subject"].astype(str)
        pd.testing.assert_frame_equal(printed, expected, rtol=1e-6, check_dtype=False)
    # --dpar: a family parameter's value; sigma has no formula here: its draw on every row
    assert main(["predict", str(saved_fit), str(path), "--dpar", "sigma"]) == 0
    printed = pd.read_csv(io.StringIO(capsys.readouterr().out))
    sigma = loaded_fit.samples["sigma"].astype(float)
    np.testing.assert_allclose(printed["mean"][:3], sigma.mean(), rtol=1e-5)
    assert np.isnan(printed["mean"][3])  # its Days is missing


@pytest.mark.filterwarnings("ignore::formulang.MissingValuesWarning")
@pytest.mark.filterwarnings("ignore::formulang.NewLevelsWarning")
def test_prediction_table_seeds_and_kinds(loaded_fit, new_rows):
    frame, _ = new_rows
    mean = prediction_table(loaded_fit, frame, kind="mean", new_levels="population")
    linpred = prediction_table(loaded_fit, frame, kind="linpred", new_levels="population")
    np.testing.assert_allclose(mean["mean"], linpred["mean"])  # gaussian: identity link
    a = prediction_table(loaded_fit, frame, kind="response", seed=1)
    b = prediction_table(loaded_fit, frame, kind="response", seed=1)
    c = prediction_table(loaded_fit, frame, kind="response", seed=2)
    pd.testing.assert_frame_equal(a, b)
    assert not np.allclose(a["mean"], c["mean"])
    # simulated responses add the residual noise: wider than the mean's uncertainty
    assert (a["sd"][:3] > mean["sd"][:3]).all()
    # the row with a missing Days has no prediction of any kind
    for table in (mean, linpred, a):
        assert table.iloc[3][["mean", "sd", "q2.5", "q97.5"]].isna().all()


def test_prediction_table_keeps_its_own_names_apart():
    class Stub:  # a fit whose predictions are known: draw d of row r is d + 10 r
        class compiled:
            @staticmethod
            def apply(newdata):
                return type("B", (), {"rows": np.arange(len(newdata))})

        @staticmethod
        def predict(newdata, **kw):
            return np.arange(5.0)[:, None] + 10 * np.arange(len(newdata))[None, :]

    table = prediction_table(Stub, pd.DataFrame({"mean": [1, 2], "x": [3, 4]}))
    assert list(table.columns) == ["row", "mean", "x", "pred_mean", "sd", "q2.5", "q97.5"]
    assert table["mean"].tolist() == [1, 2] and table["pred_mean"].tolist() == [2.0, 12.0]
    np.testing.assert_allclose(table["sd"], np.std(np.arange(5.0), ddof=1))


def test_predict_errors_name_the_problem(saved_fit, new_rows, tmp_path, capsys):
    _, path = new_rows
    assert main(["predict", str(saved_fit), str(path), "--new-levels", "error"]) == 2
    err = capsys.readouterr().err
    assert "error: newdata has 1 group level" in err and "'Subject': '999'" in err
    assert "(--new-levels error); correct them, or use --new-levels gaussian" in err
    assert "new_levels=" not in err  # no Python syntax in the command line's advice
    assert main(["predict", str(saved_fit), str(tmp_path / "absent.csv")]) == 2
    err = capsys.readouterr().err
    assert "no file named" in err and "absent.csv" in err
    assert main(["predict", str(tmp_path / "absent.nc"), str(path)]) == 2
    assert "no saved fit named" in capsys.readouterr().err


def test_predict_reads_parquet(saved_fit, new_rows, tmp_path, capsys):
    frame, _ = new_rows
    path = tmp_path / "new.parquet"
    try:
        frame.to_parquet(path)
    except ImportError:  # no parquet engine here: reading one must then fail cleanly
        path.write_bytes(b"PAR1 not really parquet")
        assert main(["predict", str(saved_fit), str(path)]) == 2
        err = capsys.readouterr().err
        assert err.startswith("error: cannot read") and "new.parquet" in err
        assert "needs pyarrow" in err.replace("need pyarrow", "needs pyarrow")
        assert "pip install 'formulang[parquet]'" in err
        return
    assert main(["predict", str(saved_fit), str(path)]) == 0
    assert len(pd.read_csv(io.StringIO(capsys.readouterr().out))) == 4


def test_parquet_without_an_engine_names_the_extra(tmp_path, monkeypatch, capsys):
    """Whatever is installed here: pandas without a Parquet engine raises ImportError."""
    def no_engine(*args, **kwargs):
        raise ImportError("Unable to find a usable engine; tried using: 'pyarrow'")

    monkeypatch.setattr(pd, "read_parquet", no_engine)
    path = tmp_path / "radon.parquet"
    path.write_bytes(b"PAR1")
    assert main(["fit", "y ~ x", "--data", str(path)]) == 2
    err = capsys.readouterr().err
    assert err == (f"error: cannot read {str(path)!r}: Parquet files need pyarrow, which is "
                   f"not installed; install it with pip install 'formulang[parquet]' (or save "
                   f"the table as CSV)\n")


def test_fit_refuses_a_numeric_column_with_a_stray_text_cell(tmp_path, capsys):
    rng = np.random.default_rng(0)
    x = [f"{v:.3f}" for v in rng.normal(size=60)]
    x[17] = "1.2x"
    path = tmp_path / "typo.csv"
    pd.DataFrame({"y": rng.normal(size=60), "x": x}).to_csv(path, index=False)
    assert main(["fit", "y ~ x", "--data", str(path), "--draws", "10", "--tune", "10"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: column 'x' is mostly numbers, but 1 of 60 cells are not: "
                          "row position 17: '1.2x'") and "C(x)" in err


@pytest.mark.filterwarnings("ignore:hierarchical MAP")
def test_predict_binomial_with_trials_or_probabilities(tmp_path, capsys):
    cbpp = fl.datasets.load("cbpp")
    model = fl.Model("cbind(incidence, size - incidence) ~ period + (1 | herd)", cbpp)
    fit = model.fit(method="map", draws=20, seed=0)
    saved = tmp_path / "cbpp.nc"
    fit.save(saved)
    new = tmp_path / "new.csv"
    cbpp[["herd", "period"]].head(3).to_csv(new, index=False)
    assert main(["predict", str(saved), str(new)]) == 2
    err = capsys.readouterr().err
    assert "newdata lacks 'size'" in err and "--trials" in err and "--kind prob" in err
    assert "kind=" not in err and "trials=" not in err
    assert main(["predict", str(saved), str(new), "--kind", "prob"]) == 0
    prob = pd.read_csv(io.StringIO(capsys.readouterr().out))
    assert main(["predict", str(saved), str(new), "--trials", "10"]) == 0
    mean = pd.read_csv(io.StringIO(capsys.readouterr().out))
    np.testing.assert_allclose(mean["mean"], 10 * prob["mean"], rtol=1e-6)
    assert ((prob["mean"] > 0) & (prob["mean"] < 1)).all()


@pytest.mark.filterwarnings("ignore:hierarchical MAP")
def test_plot_lines_of_a_saved_fit(saved_fit, tmp_path, capsys):
    """The README's `formulang plot fit.nc lines`: the fit file holds its training rows."""
    out = tmp_path / "lines.png"
    assert main(["plot", str(saved_fit), "lines", "--out", str(out)]) == 0
    assert out.read_bytes().startswith(PNG_SIGNATURE)
    # a fit saved without them takes them from --data, checked against the fit
    model = fl.Model("Reaction ~ Days + (Days | Subject)", fl.datasets.load("sleepstudy"))
    bare = tmp_path / "bare.nc"
    model.fit(method="map", draws=20).save(bare, data=False)
    assert main(["plot", str(bare), "lines", "--out", str(out)]) == 2
    assert "--data DATA" in capsys.readouterr().err
    assert main(["plot", str(bare), "lines", "--data", "sleepstudy", "--out", str(out)]) == 0
    assert main(["plot", str(bare), "lines", "--data", "radon", "--out", str(out)]) == 2
    assert "column 'Days' used in the formula is not in the data" in capsys.readouterr().err


def test_fit_saves_its_data_as_asked(tmp_path, capsys):
    for choice, stored in (("auto", True), ("no", False), ("yes", True)):
        out = tmp_path / f"{choice}.nc"
        assert main(["fit", "Reaction ~ Days + (1 | Subject)", "--data", "sleepstudy",
                     "--method", "map", "--draws", "10", "--out", str(out),
                     "--save-data", choice]) == 0
        assert (fl.load(out).bound is not None) == stored


def test_datasets_lists_every_dataset_with_its_size(capsys):
    assert main(["datasets", "--examples"]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    for name in fl.datasets.names():
        df = fl.datasets.load(name)
        row = next(line for line in lines if line.split()[:1] == [name])
        assert row.split()[1:3] == [str(len(df)), str(df.shape[1])]
        assert fl.datasets.info(name).description in row
        assert f'formulang fit "{fl.datasets.info(name).example}" --data {name}' in out
    # each printed command builds its model: VerbAgg's needs --family bernoulli (its response
    # is a factor), grouseticks's --family poisson (counts), which the lines once left out
    for line in (line for line in lines if line.startswith("formulang fit ")):
        words = shlex.split(line)[2:]
        family = words[words.index("--family") + 1] if "--family" in words else None
        fl.Model(words[0], words[words.index("--data") + 1], family=family)


def test_plot_writes_a_png(saved_fit, tmp_path, capsys):
    out = tmp_path / "trace.png"
    assert main(["plot", str(saved_fit), "trace", "--out", str(out), "--param", "b,sigma"]) == 0
    assert f"wrote the trace plot to {out}" in capsys.readouterr().out
    data = out.read_bytes()
    assert data.startswith(PNG_SIGNATURE) and len(data) > 10_000
    forest = tmp_path / "forest.png"
    assert main(["plot", str(saved_fit), "forest", "--group", "Subject", "--out",
                 str(forest)]) == 0
    assert forest.read_bytes().startswith(PNG_SIGNATURE)


def test_plot_default_file_name(saved_fit, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["plot", str(saved_fit), "rank"]) == 0
    assert (tmp_path / "rank.png").read_bytes().startswith(PNG_SIGNATURE)


def test_plot_errors(saved_fit, loaded_fit, tmp_path, capsys):
    out = str(tmp_path / "x.png")
    assert main(["plot", str(saved_fit), "histogram", "--out", out]) == 2
    err = capsys.readouterr().err
    assert "unknown plot kind 'histogram'" in err and "trace" in err
    with pytest.raises(FormulangError, match="'plate'.*Subject"):
        write_plot(loaded_fit, "forest", out, group="plate")
    with pytest.raises(FormulangError, match="--param"):
        write_plot(loaded_fit, "trace", out, group="Subject")
    with pytest.raises(FormulangError, match="cannot write the plot"):
        write_plot(loaded_fit, "trace", str(tmp_path / "no" / "x.png"))
    assert not Path(out).exists()


def test_ppc_of_a_saved_fit(saved_fit, tmp_path, capsys):
    """``formulang ppc``, and the same check through the generic ``plot ... ppc``."""
    out = tmp_path / "ppc.png"
    assert main(["ppc", str(saved_fit), "--type", "stat", "--group", "Days",
                 "--stat", "sd", "--out", str(out)]) == 0  # a loaded fit: a design column
    assert f"wrote the posterior predictive check to {out}" in capsys.readouterr().out
    assert out.read_bytes().startswith(PNG_SIGNATURE)
    generic = tmp_path / "generic.png"
    assert main(["plot", str(saved_fit), "ppc", "--out", str(generic)]) == 0
    assert generic.read_bytes().startswith(PNG_SIGNATURE)
    assert main(["ppc", str(saved_fit), "--type", "hist", "--group", "Subject",
                 "--out", str(out)]) == 2
    assert "the hist check takes no group" in capsys.readouterr().err
    assert main(["ppc", str(saved_fit), "--group", "Reaction", "--out", str(out)]) == 2
    assert ("no grouping factor or predictor 'Reaction' in this fit (a loaded fit knows its "
            "grouping factors and the columns its design holds: Subject, Days)"
            in capsys.readouterr().err)
    with pytest.raises(SystemExit):  # argparse lists the types
        main(["ppc", str(saved_fit), "--type", "violin"])
    assert "dens_overlay" in capsys.readouterr().err
    # a fit saved without its rows takes them from --data
    bare = tmp_path / "bare.nc"
    fl.load(saved_fit).save(bare, data=False)
    assert main(["ppc", str(bare), "--out", str(out)]) == 2
    assert "ppc ... --data DATA" in capsys.readouterr().err
    assert main(["ppc", str(bare), "--data", "sleepstudy", "--out", str(out)]) == 0


def test_damaged_fit_file_is_a_clean_error(tmp_path, capsys):
    path = tmp_path / "junk.nc"
    path.write_bytes(b"not a netcdf file")
    assert main(["summary", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "junk.nc" in err


# ---- the installed console script ---------------------------------------------------------

def _script(*args, **kwargs):
    return subprocess.run([str(CONSOLE_SCRIPT), *args], capture_output=True, text=True,
                          timeout=300, **kwargs)


def test_readme_command_through_the_console_script():
    assert CONSOLE_SCRIPT.exists(), f"console script not installed at {CONSOLE_SCRIPT}"
    proc = _script("fit", "log_radon ~ floor + (1 | county)", "--data", "radon",
                   "--draws", "100", "--tune", "100", "--chains", "2")
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert "Formula: log_radon ~ 1 + floor + (1 | county)" in out
    assert "Group-level effects: ~county (85 levels)" in out
    rows = {line.split()[0] for line in out.splitlines() if line.strip()}
    assert {"sd(Intercept)", "Intercept", "floor", "sigma"} <= rows
    assert "Diagnostics:" in out and "Traceback" not in proc.stderr


def test_console_script_errors_and_debug(tmp_path):
    proc = _script("fit", "log_radon ~ floor +", "--data", "radon")
    assert proc.returncode == 2
    assert proc.stderr.startswith("error: expected a term after '+'")
    assert "^" in proc.stderr and "Traceback" not in proc.stderr
    missing = str(tmp_path / "missing.nc")
    for args in (["summary", missing], ["--debug", "summary", missing],
                 ["summary", missing, "--debug"]):
        proc = _script(*args)
        assert proc.returncode != 0 and "missing.nc" in proc.stderr
        assert ("Traceback" in proc.stderr) == ("--debug" in args), args


def test_missing_data_file_is_named(tmp_path, capsys):
    assert main(["fit", "y ~ x", "--data", str(tmp_path / "absent.csv")]) == 2
    err = capsys.readouterr().err
    assert "absent.csv" in err and "shipped datasets" in err
