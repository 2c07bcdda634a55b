"""What formulang says it ran is what it ran (issue 21, item 7).

A collapsed Gaussian model's effects are integrated out under NUTS: ``print(model)``, the graph
and the funnel plot used to describe a centring ("39 of 85 levels centered") that such a fit
never uses; ``--method map`` printed "NUTS runs over 4 parameters"; the VI table showed ESS
that its own diagnostics say does not exist. Small fits of Dyestuff (30 rows) and sleepstudy.
"""

from __future__ import annotations

import io

import pytest

import formulang as fl
from formulang.app.repl import Session
from formulang.report.describe import describe_model


@pytest.fixture(scope="module")
def radon_county():
    model = fl.Model("log_radon ~ floor + (1 | county)", fl.datasets.load("radon"))
    assert model.collapsed and model.plan.groups[0].mode == "mixed"  # a centring to not use
    return model


def test_print_model_says_nuts_integrates_and_map_vi_sample(radon_county):
    text = str(radon_county)
    assert "effects: integrated out and drawn exactly under NUTS (no centring)" in text
    assert "parameterization for map, vi, collapse=False: mixed" in text
    assert "map and vi sample the full model" in text
    nuts = describe_model(radon_county.compiled, "nuts")
    assert "effects: integrated out and drawn exactly (collapsed; no centring)" in nuts
    assert "centered" not in nuts and "centred levels" not in nuts
    assert "NUTS runs over 4 parameters" in nuts
    for method in ("map", "vi"):
        text = describe_model(radon_county.compiled, method)
        assert "NUTS" not in text and "integrated out and drawn" not in text, method
        assert "parameterization: mixed" in text
        assert f"Group effects: sampled ({method} fits the full model" in text


def test_not_collapsed_models_are_described_as_before():
    model = fl.Model("log_radon ~ floor + (1 | county)", fl.datasets.load("radon"),
                     collapse=False)
    for method in (None, "nuts", "map"):
        text = describe_model(model.compiled, method)
        assert "parameterization: mixed" in text and "integrated out" not in text


def test_graph_of_a_collapsed_model(radon_county):
    dot = radon_county.graph().to_dot()
    assert "integrated out under NUTS, drawn exactly" in dot
    assert "(map, vi: sampled mixed:" in dot  # the centring is named only for what uses it
    full = fl.Model("log_radon ~ floor + (1 | county)", fl.datasets.load("radon"),
                    collapse=False).graph().to_dot()
    assert "integrated out" not in full and "levels centered" in full


def test_console_map_fit_prints_no_nuts_line():
    s = Session(out=io.StringIO())
    s.run_command("load Dyestuff")
    out = s.run_command("fit Yield ~ 1 + (1 | Batch) --method map")
    assert "NUTS runs over" not in out and "integrated out" not in out
    assert "Group effects: sampled (map fits the full model" in out
    assert "rhat, ess: — (method='map' draws no Markov chains" in out


def test_collapsed_funnel_and_summary_say_what_ran(tmp_path):
    model = fl.Model("Yield ~ 1 + (1 | Batch)", fl.datasets.load("Dyestuff"))
    fit = model.fit(draws=60, tune=60, chains=2, seed=1, progress=False)
    assert fit.collapsed
    fig = fit.plot("funnel", group="Batch")
    title = fig.axes[0].get_title()
    assert "integrated out, drawn exactly (collapsed: no centring)" in title
    assert "centered" not in title
    table = fit.summary()
    assert table[["rhat", "ess_bulk"]].notna().all().all()  # NUTS: they apply
    assert "rhat, ess: —" not in str(fit)
