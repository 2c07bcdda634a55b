"""Every script in examples/ runs with --quick and prints and draws what it says.

Quick runs are 2 chains x 100 draws, so only facts that hold at any sample size are checked:
the tables have their rows, the numbers are consistent with the data, the figures are PNGs,
and effects large enough to show in 200 draws (shrinkage under partial pooling, wide priors
simulating wilder data) point the right way.
"""

import importlib.util
import sys
from pathlib import Path

import numpy as np

import formulang as fl

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
PNG = b"\x89PNG\r\n\x1a\n"


def run_example(name, tmp_path, capsys):
    sys.path.insert(0, str(EXAMPLES))  # the scripts import their sibling _common
    try:
        spec = importlib.util.spec_from_file_location(f"example_{name}", EXAMPLES / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        result = module.main(["--quick", "--out", str(tmp_path)])
    finally:
        sys.path.remove(str(EXAMPLES))
    out = capsys.readouterr().out
    figure = Path(result["figure"])
    assert figure.parent == tmp_path and figure.read_bytes()[:8] == PNG
    assert f"figure: {figure}" in out
    return result, out


def test_every_example_is_tested():
    scripts = {p.stem for p in EXAMPLES.glob("*.py") if not p.stem.startswith("_")}
    tested = {name[len("test_"):] for name in globals() if name.startswith("test_")}
    assert scripts <= tested


def test_radon_funnel(tmp_path, capsys, monkeypatch):
    """The table reports each fit's own divergences, worst R-hat and smallest bulk ESS: the
    fits the script makes are caught and their numbers recomputed here from the draws and
    sampler statistics. Quick runs need not diverge (both fits: 0 at the quick seed), and
    0 == 0 would pass a count of the wrong chain or of none, so a few draws of each fit's last
    chain are marked divergent before the script reads them, a different number per fit."""
    fits, fit = [], fl.Model.fit

    def keep(self, *args, **kwargs):
        f = fit(self, *args, **kwargs)
        diverging = np.array(f.stats["diverging"], dtype=bool)
        diverging[-1, :2 + len(fits)] = True
        f.stats["diverging"] = diverging
        fits.append(f)
        return f

    monkeypatch.setattr(fl.Model, "fit", keep)
    result, out = run_example("radon_funnel", tmp_path, capsys)
    rows = result["rows"]
    assert [r["parameterization"] for r in rows] == ["centered", "noncentered"]
    assert [f.model.plan.groups[0].mode for f in fits] == ["centered", "noncentered"]
    for r, f in zip(rows, fits):
        assert r["divergences"] == int(np.sum(f.stats["diverging"])) > 0
        # the worst over every quantity (lp__ included): at least the summary table's worst
        table = f.summary()
        assert r["max R-hat"] == round(f.diagnostics().max_rhat, 3)
        assert r["max R-hat"] >= round(float(table["rhat"].max()), 3)
        assert r["min bulk ESS"] <= round(float(table["ess_bulk"].min()))
        line = next(line for line in out.splitlines() if line.startswith(r["parameterization"]
                                                                       + " "))
        assert line.split()[1] == str(r["divergences"])


def test_sleepstudy_vs_lme4(tmp_path, capsys):
    result, out = run_example("sleepstudy_vs_lme4", tmp_path, capsys)
    names = [r["parameter"] for r in result["rows"]]
    assert names == ["b_Intercept", "b_Days", "sd_Subject__Intercept", "sd_Subject__Days",
                     "cor_Subject__Intercept__Days", "sigma"]
    for name in names:
        assert name in out
    days = result["rows"][1]
    # lme4's slope sits well inside the 95% interval (its posterior SD is 1.7): even 200
    # draws place the interval's ends within a fraction of that
    assert days["2.5%"] < days["lme4 (REML)"] < days["97.5%"]


def test_cbpp_binomial(tmp_path, capsys):
    result, out = run_example("cbpp_binomial", tmp_path, capsys)
    rows = {r["statistic"]: r for r in result["rows"]}
    assert set(rows) == {"total cases", "sd of proportions", "zero counts"}
    data = fl.datasets.load("cbpp")
    assert rows["total cases"]["observed"] == data["incidence"].sum()
    assert rows["zero counts"]["observed"] == (data["incidence"] == 0).sum()
    for r in rows.values():
        assert 0.0 <= r["p-value"] <= 1.0 and r["5%"] <= r["replicated mean"] <= r["95%"]
    assert "Group-level effects: ~herd" in out


def test_radon_pooling(tmp_path, capsys):
    result, out = run_example("radon_pooling", tmp_path, capsys)
    rows = result["rows"]
    assert len(rows) == 8
    houses = [r["houses"] for r in rows]
    assert houses == sorted(houses) and houses[-1] == 116  # St Louis, the largest county
    assert len({r["complete"] for r in rows}) == 1  # one intercept for every county
    # partial pooling shrinks the county intercepts towards each other: their spread is
    # far below no pooling's (about 0.3 against 0.6 at any draw count)
    assert result["spread"]["partial"] < result["spread"]["none"]
    for r in rows:
        assert r["county"] in out


def test_prior_predictive(tmp_path, capsys):
    result, out = run_example("prior_predictive", tmp_path, capsys)
    assert [r[""] for r in result["rows"]] == ["observed", "default priors", "wide priors"]
    # default priors keep most simulated responses on the data's scale, wide ones do not
    # (84% against 4% with 100 draws: far from any Monte Carlo noise)
    assert result["inside"]["default"] > 0.5 > result["inside"]["wide"]
    assert result["spread"]["default"] < result["spread"]["wide"]
    assert "Default priors by parameter" in out


def test_parameter_recovery(tmp_path, capsys):
    result, out = run_example("parameter_recovery", tmp_path, capsys)
    rows = result["rows"]
    assert [r["parameter"] for r in rows] == ["b_Intercept", "b_x", "sd_g__Intercept",
                                              "sd_g__x", "cor_g__Intercept__x", "sigma"]
    for r in rows:
        assert r["5%"] < r["95%"]
        assert r["covered"] == ("yes" if r["5%"] <= r["truth"] <= r["95%"] else "NO")
    assert f"{result['covered']} of 6 true values inside" in out
    assert np.isclose(result["covered"], sum(r["covered"] == "yes" for r in rows))


def test_pooling_cv(tmp_path, capsys):
    result, out = run_example("pooling_cv", tmp_path, capsys)
    tables = result["tables"]
    for folds in ("random", "grouped"):
        table = tables[folds]
        assert sorted(table.index) == ["complete", "none", "partial"]
        assert table["elpd_diff"].iloc[0] == 0 and (table["elpd_diff"] <= 0).all()
        assert f"{folds} folds" in out
    # no pooling knows nothing of a held-out county but its coefficient's prior: last, far
    # behind, at any draw count
    grouped = tables["grouped"]
    assert grouped.index[-1] == "none"
    assert grouped.loc["none", "elpd_diff"] < -4 * grouped.loc["none", "se_diff"]
