"""``Model.graph()``: nodes, edges, DOT text, rendering and the text outline."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

import formulang as fl
from formulang import FormulangError, datasets
from formulang.lower.families import FAMILIES
from formulang.lower.graph import KINDS, ModelGraph

CBPP = "cbind(incidence, size - incidence) ~ period + (1 | herd)"


@pytest.fixture(scope="module")
def graphs():
    return {
        "sleepstudy": fl.Model("Reaction ~ Days + (Days | Subject)",
                               datasets.load("sleepstudy")).graph(),
        "radon": fl.Model("log_radon ~ floor + (1 | county)", datasets.load("radon")).graph(),
        "pastes": fl.Model("strength ~ (1 | batch/cask)", datasets.load("Pastes")).graph(),
        "cbpp": fl.Model(CBPP, datasets.load("cbpp"), family="binomial").graph(),
    }


def names(graph: ModelGraph, kind: str) -> set[str]:
    return {n.name for n in graph.of_kind(kind)}


def edges(graph: ModelGraph) -> set[tuple[str, str]]:
    return {(e.source, e.target) for e in graph.edges}


# ---- a small DOT reader: enough to check the syntax formulang writes ---------------------------

_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"|->|[{}\[\];=,]|[A-Za-z_][A-Za-z0-9_.]*|-?[0-9.]+|\S')


def parse_dot(text: str):
    """(declared node ids, edges) of a digraph; raises AssertionError on bad syntax."""
    tokens = _TOKEN.findall(text)
    assert tokens[:3] == ["digraph", "model", "{"] and tokens[-1] == "}"
    depth = 0
    for t in tokens:
        depth += (t == "{") - (t == "}")
        assert depth >= 0
    assert depth == 0
    nodes, edge_list = set(), []
    body = tokens[3:-1]
    statements, current, in_attrs = [], [], False
    for t in body:
        if t == "[":
            in_attrs = True
        elif t == "]":
            in_attrs = False
        if t == ";" and not in_attrs:
            statements.append(current)
            current = []
        else:
            current.append(t)
    assert not current, current  # every statement ends with ';'
    for st in statements:
        head = st[0]
        if head in ("graph", "node", "edge"):
            assert st[1] == "[" and st[-1] == "]"
            continue
        assert head.startswith('"'), f"unquoted id {head}"
        if len(st) > 1 and st[1] == "->":
            assert len(st) == 3 and st[2].startswith('"'), st
            edge_list.append((head[1:-1], st[2][1:-1]))
        else:
            assert st[1] == "[" and st[-1] == "]", st
            attrs = st[2:-1]
            # attribute list: key = value (, key = value)*
            i = 0
            while i < len(attrs):
                assert re.match(r"[a-z]+$", attrs[i]) and attrs[i + 1] == "=", attrs[i:i + 3]
                i += 3
                if i < len(attrs):
                    assert attrs[i] == ","
                    i += 1
            nodes.add(head[1:-1])
    return nodes, edge_list


# ---- structure ------------------------------------------------------------------------------


def test_sleepstudy_nodes_and_edges(graphs):
    g = graphs["sleepstudy"]
    assert names(g, "data") == {"X", "codes_Subject", "values_Subject"}
    assert names(g, "coefficient") == {"b"}
    assert names(g, "hyperparameter") == {"sd_Subject", "L_Subject", "sigma"}
    assert names(g, "latent") == {"r_Subject"}
    assert names(g, "linear_predictor") == {"eta"}
    assert names(g, "likelihood") == {"y"}
    assert names(g, "prior") == {"prior_Intercept", "prior_b", "prior_sd_Subject",
                                 "prior_cor_Subject", "prior_sigma"}
    assert g.node("X").shape == "180 × 1"
    assert g.node("r_Subject").shape == "18 × 2"
    assert g.node("L_Subject").shape == "2 × 2"
    assert g.node("b").shape == "2" and g.node("sigma").shape == ""
    assert "centered" in g.node("r_Subject").label
    assert g.node("prior_Intercept").label == "Intercept ~ student_t(3, 298.5, 140.8)"
    assert "sd[Subject][Days] ~ half_student_t(3, 48.89)" in g.node("prior_sd_Subject").label
    assert g.node("y").label == "Reaction ~ Normal(eta, sigma)"
    assert {("prior_Intercept", "b"), ("prior_b", "b"), ("prior_sd_Subject", "sd_Subject"),
            ("prior_cor_Subject", "L_Subject"), ("prior_sigma", "sigma"),
            ("sd_Subject", "r_Subject"), ("L_Subject", "r_Subject"), ("r_Subject", "eta"),
            ("b", "eta"), ("X", "eta"), ("codes_Subject", "eta"), ("values_Subject", "eta"),
            ("eta", "y"), ("sigma", "y")} == edges(g)
    assert set(g.parents("y")) == {"eta", "sigma"}
    assert g.children("sd_Subject") == ("r_Subject",)


def test_radon_mixed(graphs):
    g = graphs["radon"]
    assert "L_county" not in g and "cor_county" not in g
    r = g.node("r_county")
    assert r.shape == "85 × 1" and "mixed" in r.label and "of 85 levels centered" in r.label
    assert g.parents("r_county") == ("sd_county",)
    assert g.node("codes_county").shape == "919"


def test_pastes_nested(graphs):
    g = graphs["pastes"]
    assert "X" not in g  # intercept only: no predictor matrix
    assert names(g, "latent") == {"r_batch", "r_batch:cask"}
    assert g.node("r_batch:cask").shape == "30 × 1"
    assert g.node("r_batch").shape == "10 × 1"
    assert g.parents("r_batch:cask") == ("sd_batch:cask",)
    assert {"codes_batch:cask", "values_batch:cask", "r_batch:cask"} <= set(g.parents("eta"))
    assert g.node("b").label.startswith("population-level coefficients\nIntercept")
    dot = g.to_dot()
    assert '"r_batch:cask" [' in dot and '"sd_batch:cask" -> "r_batch:cask";' in dot


def test_binomial_cbpp(graphs):
    g = graphs["cbpp"]
    assert "sigma" not in g
    assert "trials" in names(g, "data")
    assert set(g.parents("y")) == {"eta", "trials"}
    assert g.node("X").shape == "56 × 3"
    prior_b = g.node("prior_b").label.splitlines()
    assert prior_b[0] == "b[period2] ~ normal(0, 5.722)" and len(prior_b) == 3
    assert "BinomialLogits(eta, total_count=trials)" in g.node("y").label


# a response value in each support, to build a model
PLACEHOLDER = {"real": 0.5, "binary": 1.0, "binomial": 1.0, "count": 1.0, "positive": 1.0,
               "unit": 0.5, "nonnegative": 1.0, "ordinal": 2.0, "categorical": 2.0}


@pytest.mark.parametrize("family", list(FAMILIES))
def test_every_family_draws_its_likelihood_and_parameters(family):
    spec = FAMILIES[family]
    df = pd.DataFrame({"y": PLACEHOLDER[spec.support], "x": np.arange(12.0), "n": 5,
                       "g": np.repeat(list("abc"), 4)})
    # two values: 0/1 for binary, categories 1 and 2 for ordinal; three for categorical
    df.loc[::2, "y"] = {"binary": 0.0, "ordinal": 1.0, "categorical": 1.0}.get(
        spec.support, df.loc[::2, "y"])
    if spec.per_category:
        df.loc[::3, "y"] = 3.0
    formula = "cbind(y, n - y) ~ x + (1 | g)" if spec.trials else "y ~ x + (1 | g)"
    g = fl.Model(formula, df, family=family).graph()
    label = g.node("y").label
    assert "dist." not in label and "jnp." not in label and "eta" in label
    for aux in spec.aux:
        assert aux in label and aux in names(g, "hyperparameter")
        assert (aux, "y") in edges(g) and f"prior_{aux}" in g


def test_offset_weights_and_no_intercept():
    rng = np.random.default_rng(0)
    df = pd.DataFrame({"y": rng.poisson(3, 40), "x": rng.normal(size=40),
                       "t": rng.uniform(1, 2, 40), "w": rng.uniform(0.5, 1, 40),
                       "g": np.repeat(list("abcd"), 10)})
    g = fl.Model("y | weights(w) ~ 0 + x + offset(log(t)) + (1 | g)", df,
                 family="poisson").graph()
    assert {"offset", "weights", "X"} <= names(g, "data")
    assert ("offset", "eta") in edges(g) and ("weights", "y") in edges(g)
    assert "prior_Intercept" not in g
    assert "centred" not in g.node("X").label
    assert g.node("y").label == "y ~ Poisson(exp(eta))"
    assert g.node("eta").label.startswith("linear predictor\noffset + X b")


# ---- output -------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["sleepstudy", "radon", "pastes", "cbpp"])
def test_dot_text_is_valid(graphs, name):
    g = graphs[name]
    dot = g.to_dot()
    nodes, edge_list = parse_dot(dot)
    assert nodes == {n.name for n in g.nodes}
    assert set(edge_list) == edges(g)
    assert all(a in nodes and b in nodes for a, b in edge_list)
    if shutil.which("dot"):  # Graphviz itself, when installed
        out = subprocess.run(["dot", "-Tsvg"], input=dot.encode(), capture_output=True)
        assert out.returncode == 0, out.stderr
        assert b"<svg" in out.stdout


def test_dot_quotes_and_escapes():
    g = ModelGraph([], [], title='a "quoted" title\\ with backslash')
    dot = g.to_dot()
    assert 'label="a \\"quoted\\" title\\\\ with backslash"' in dot
    parse_dot(dot)


def test_render(graphs, tmp_path, monkeypatch):
    g = graphs["pastes"]
    assert g.render(tmp_path / "g.dot").read_text(encoding="utf-8") == g.to_dot()
    with pytest.raises(FormulangError, match="formats"):
        g.render(tmp_path / "g.docx")
    if shutil.which("dot"):
        out = g.render(tmp_path / "g.svg")
        assert out.read_bytes().lstrip().startswith((b"<?xml", b"<svg"))
    # no Graphviz anywhere: a clear error saying what to install
    monkeypatch.setattr(shutil, "which", lambda name: None)
    monkeypatch.setitem(sys.modules, "graphviz", None)
    with pytest.raises(FormulangError, match="install Graphviz"):
        g.render(tmp_path / "g.png")
    assert g._repr_svg_() is None


def test_render_runs_dot(graphs, tmp_path, monkeypatch):
    # a stand-in for Graphviz's dot that checks its arguments and echoes an SVG
    fake = tmp_path / "bin" / "dot"
    fake.parent.mkdir()
    fake.write_text('#!/bin/sh\n[ "$1" = "-Tsvg" ] || exit 3\ncat > /dev/null\n'
                    'echo "<svg>fake</svg>"\n')
    fake.chmod(0o755)
    monkeypatch.setattr(shutil, "which", lambda name: str(fake) if name == "dot" else None)
    out = graphs["cbpp"].render(tmp_path / "graph.svg")
    assert out.read_text().strip() == "<svg>fake</svg>"
    with pytest.raises(FormulangError, match="dot failed"):
        graphs["cbpp"].render(tmp_path / "graph.png")


def test_text_outline(graphs):
    text = str(graphs["sleepstudy"])
    assert text.startswith("Model graph: Reaction ~ 1 + Days + (1 + Days | Subject)")
    for section in ("Data", "Priors", "Coefficients", "Hyperparameters", "Group effects",
                    "Linear predictor", "Likelihood"):
        assert f"\n{section}\n" in text
    assert re.search(r"r_Subject\s+18 × 2\s+Subject effects: .*<- sd_Subject, L_Subject", text)
    assert "prior_sigma" in text and "-> sigma" in text
    assert repr(graphs["sleepstudy"]) == "<ModelGraph: 15 nodes, 14 edges>"
    assert all(n.kind in KINDS for g in graphs.values() for n in g.nodes)


def test_model_graph_method_is_wired():
    m = fl.Model("Reaction ~ Days", datasets.load("sleepstudy"))
    g = m.graph()
    assert names(g, "latent") == set() and names(g, "hyperparameter") == {"sigma"}
    with pytest.raises(KeyError, match="no node"):
        g.node("r_Subject")


# ---- formulas for family parameters (sigma ~ x) ---------------------------------------------


def dpar_data(n=60, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    return pd.DataFrame({"y": rng.normal(x, np.exp(0.3 * x)), "x": x, "x2": rng.normal(size=n),
                         "count": rng.poisson(2.0, n) * rng.binomial(1, 0.7, n),
                         "g": np.repeat([f"g{i}" for i in range(6)], n // 6)})


def test_sigma_formula_feeds_the_family_parameter_node():
    g = fl.Model("y ~ x + (1 | g); sigma ~ x + (1 + x | g)", dpar_data()).graph()
    assert names(g, "data") == {"X", "codes_g", "values_g", "X_sigma", "codes_g__sigma",
                                "values_g__sigma"}
    assert names(g, "coefficient") == {"b", "b_sigma"}
    assert names(g, "hyperparameter") == {"sd_g", "sd_g__sigma", "L_g__sigma"}
    assert names(g, "latent") == {"r_g", "r_g__sigma"}
    assert names(g, "linear_predictor") == {"eta", "sigma"}
    assert "prior_sigma" not in g  # its formula's coefficients have the priors
    assert names(g, "prior") == {"prior_Intercept", "prior_b", "prior_sd_g",
                                 "prior_Intercept_sigma", "prior_b_sigma", "prior_sd_g__sigma",
                                 "prior_cor_g__sigma"}
    sigma = g.node("sigma")
    assert sigma.shape == "60"
    assert sigma.label.endswith("sigma = exp(X_sigma b_sigma + r_g__sigma[codes]·values)")
    assert set(g.parents("sigma")) == {"X_sigma", "b_sigma", "r_g__sigma", "codes_g__sigma",
                                       "values_g__sigma"}
    assert set(g.parents("r_g__sigma")) == {"sd_g__sigma", "L_g__sigma"}
    assert set(g.parents("y")) == {"eta", "sigma"}
    assert g.node("r_g__sigma").shape == "6 × 2"
    assert "non-centered" in g.node("r_g__sigma").label
    priors = fl.Model("y ~ x + (1 | g); sigma ~ x + (1 + x | g)", dpar_data()).priors
    assert g.node("prior_b_sigma").label == \
        f"b_sigma ~ {priors.lookup('b', coef='x', dpar='sigma')}"
    assert f"sd_sigma[g][x] ~ {priors.lookup('sd', 'g', 'x', 'sigma')}" in \
        g.node("prior_sd_g__sigma").label
    assert g.node("prior_Intercept").label == f"Intercept ~ {priors.lookup('Intercept')}"
    nodes, edge_list = parse_dot(g.to_dot())
    assert nodes == {n.name for n in g.nodes} and set(edge_list) == edges(g)


@pytest.mark.parametrize("formula, family, node, label", [
    ("count ~ x; zi ~ x + offset(x2)", "zero_inflated_poisson", "zi",
     "zi = sigmoid(offset_zi + X_zi b_zi)"),
    ("y ~ x; nu ~ 1", "student_t", "nu", "nu = exp(b_nu)"),
])
def test_other_family_parameters_with_formulas(formula, family, node, label):
    g = fl.Model(formula, dpar_data(), family=family).graph()
    assert g.node(node).kind == "linear_predictor" and g.node(node).label.endswith(label)
    assert (node, "y") in edges(g) and f"prior_{node}" not in g
    assert node in g.node("y").label
    assert ("b_" + node, node) in edges(g)
    # the family's other parameters are still one value each
    for aux in {"student_t": ["sigma"], "zero_inflated_poisson": []}[family]:
        assert g.node(aux).kind == "hyperparameter" and (aux, "y") in edges(g)
    parse_dot(g.to_dot())
