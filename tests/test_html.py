"""Notebook views: Model, Fit and PriorTable as HTML (``_repr_html_``), the model graph as
SVG (``_repr_svg_``) or its text outline. The HTML must parse, hold what ``print`` shows, and
keep user text as text: a column named ``<b>`` and a level named ``<i>x</i>`` arrive escaped.
"""

from html.parser import HTMLParser

import numpy as np
import pandas as pd
import pytest

import formulang as fl

VOID = {"br", "hr", "img", "meta", "input", "col"}


class Tree(HTMLParser):
    """Tags (checked balanced), text, and the table rows' cells."""

    def __init__(self, html: str):
        super().__init__(convert_charrefs=True)
        self.stack, self.tags, self.text, self.rows = [], [], [], []
        self._row = self._cell = None
        self.feed(html)
        self.close()
        assert not self.stack, f"unclosed tags: {self.stack}"

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        if tag not in VOID:
            self.stack.append(tag)
        if tag == "tr":
            self._row = []
        elif tag in ("td", "th"):
            self._cell = []

    def handle_endtag(self, tag):
        assert self.stack and self.stack[-1] == tag, f"</{tag}> closes {self.stack[-1:]}"
        self.stack.pop()
        if tag in ("td", "th") and self._row is not None:
            self._row.append("".join(self._cell).strip())
            self._cell = None
        elif tag == "tr":
            self.rows.append(self._row)
            self._row = None

    def handle_data(self, data):
        self.text.append(data)
        if self._cell is not None:
            self._cell.append(data)

    @property
    def all_text(self) -> str:
        return "".join(self.text)


def random_fit(model, draws, chains, seed=1):
    """A Fit of random values of the sampler's sites (nothing compiled: a notebook view
    needs draws, not good ones); Fit derives b and r_<g> from them as after sampling."""
    rng = np.random.default_rng(seed)
    plan, shape = model.plan, (chains, draws)
    samples = {"Intercept_c": rng.normal(size=shape),
               "b_c": rng.normal(size=shape + (plan.b.size,))}
    for g in plan.groups:
        samples[f"sd_{g.name}"] = np.exp(rng.normal(size=shape + (g.k,)))
        samples[f"rc_{g.name}"] = rng.normal(size=shape + (len(g.levels), g.k))
        samples[f"z_{g.name}"] = np.zeros(shape + (0, g.k))
    for name in plan.aux:
        samples[name] = np.exp(rng.normal(size=shape))
    return fl.Fit(model, samples, {}, method="prior")


@pytest.fixture(scope="module")
def odd_names():
    """A predictor named <b> and group levels that look like markup."""
    rng = np.random.default_rng(0)
    return pd.DataFrame({"<b>": rng.normal(size=30), "y": rng.normal(size=30),
                         "g": np.repeat(["<i>x</i>", "a&b", "c"], 10)})


@pytest.fixture(scope="module")
def model(odd_names):
    return fl.Model("y ~ `<b>` + (1 | g)", odd_names, reparam="centered", collapse=False)


def test_model_html_is_print_model_with_a_prior_table(model):
    html = model._repr_html_()
    tree = Tree(html)
    text = tree.all_text
    assert "Formula: y ~ 1 + `<b>` + (1 | g)" in text  # the text itself, unescaped by parsing
    assert "<b>" not in html.replace("<b>Priors</b>", "")  # and escaped in the markup
    assert "&lt;b&gt;" in html
    for line in str(model).split("\nPriors:")[0].splitlines():
        assert line in text  # family, data, terms, parameterisation
    assert "parameterization: centered" in text
    header, *rows = [r for r in tree.rows if r]
    assert header == ["class", "group", "coef", "prior", "source"]
    expected = [[r.cls, r.group, r.coef, str(r.prior), r.source] for r in model.priors.rows]
    assert rows == expected and ["b", "", "`<b>`"] == rows[1][:3]


def test_prior_table_html_escapes_its_cells(model):
    html = model.priors._repr_html_()
    tree = Tree(html)
    assert tree.tags.count("tr") == len(model.priors.rows) + 1
    assert "`&lt;b&gt;`" in html and "`<b>`" not in html
    assert [r[3] for r in tree.rows[1:]] == [str(r.prior) for r in model.priors.rows]


def test_fit_html_shows_the_summary_and_diagnostics(model):
    fit = random_fit(model, draws=30, chains=2)
    html = fit._repr_html_()
    tree = Tree(html)
    summary = fit.summary()
    rows = {r[0]: r[1:] for r in tree.rows if r}
    assert set(summary.index) <= set(rows)  # one row per parameter, brms's names
    assert "b_`<b>`" in rows and "&lt;b&gt;" in html
    mean = summary.columns.get_loc("mean")
    for name in summary.index:
        assert float(rows[name][mean]) == pytest.approx(summary.loc[name, "mean"], rel=1e-3)
    assert "Formula: y ~ 1 + `<b>` + (1 | g)" in tree.all_text
    assert "draws: 2 chains x 30 (prior)" in tree.all_text
    diagnostics = str(fit.diagnostics()).splitlines()
    assert "Diagnostics: " + diagnostics[0] in tree.all_text
    for line in diagnostics[1:]:
        assert line in tree.all_text


def test_levels_that_look_like_markup_stay_text(model):
    fit = random_fit(model, draws=5, chains=1)
    html = fit._repr_html_()
    assert "<i>" not in html and "a&b" not in html.replace("a&amp;b", "")


def test_graph_shows_as_svg_with_graphviz_and_as_its_outline_without(model, tmp_path,
                                                                     monkeypatch):
    import shutil
    import sys

    g = model.graph()
    fake = tmp_path / "bin" / "dot"  # a stand-in for Graphviz's dot: checks it is asked for SVG
    fake.parent.mkdir()
    fake.write_text('#!/bin/sh\n[ "$1" = "-Tsvg" ] || exit 3\ncat > /dev/null\n'
                    'echo "<svg>drawn</svg>"\n')
    fake.chmod(0o755)
    monkeypatch.setattr(shutil, "which", lambda name: str(fake) if name == "dot" else None)
    assert g._repr_svg_().strip() == "<svg>drawn</svg>"
    monkeypatch.setattr(shutil, "which", lambda name: None)
    monkeypatch.setitem(sys.modules, "graphviz", None)
    assert g._repr_svg_() is None  # no Graphviz: the notebook falls back to the text view

    class Printer:
        def __init__(self):
            self.out = []

        def text(self, s):
            self.out.append(s)

    p = Printer()
    g._repr_pretty_(p, False)
    assert p.out == [str(g)] and p.out[0].startswith("Model graph: y ~ 1 + `<b>`")
