"""How a model and a fit show in a notebook (``_repr_html_``): the text ``print`` gives, as
HTML, with every piece of user text escaped (a column named ``<b>`` shows as ``<b>``).

- a model (:func:`model_html`): formula, family, data, terms and parameterisation (as
  ``print(model)``), then the priors as a table;
- a fit (:func:`fit_html`): formula, family, draws, the summary table (brms's names, one row per
  parameter), and the diagnostics with their advice.

>>> import formulang as fl
>>> html = model_html(fl.Model("Reaction ~ Days + (Days | Subject)", "sleepstudy").compiled)
>>> html.startswith('<div class="formulang-model">'), "<td>lkj(2)</td>" in html
(True, True)
"""

from __future__ import annotations

from html import escape

import pandas as pd

_STYLE = "font-size: 90%"


def _pre(text: str) -> str:
    return f'<pre style="{_STYLE}">{escape(text)}</pre>'


def _table(frame: pd.DataFrame, index: bool = True) -> str:
    # pandas escapes cell text and labels (escape=True, its default)
    return frame.to_html(index=index, escape=True, na_rep="—", border=0,
                         float_format=lambda v: f"{v:.4g}")


def model_html(compiled) -> str:
    """``print(model)`` as HTML: the description, then the priors table."""
    text = str(compiled)
    description = text.split("\nPriors:")[0]
    return (f'<div class="formulang-model">{_pre(description)}'
            f"<p><b>Priors</b></p>{compiled.priors._repr_html_()}</div>")


def fit_html(fit) -> str:
    """``print(fit)`` as HTML: the header, the summary table and the diagnostics."""
    m = fit.compiled
    chains, draws = next(iter(fit.samples.values())).shape[:2]
    header = (f"Formula: {m.formula}\n Family: {m.family}\n   Data: {m.n} rows; draws: "
              f"{chains} chain{'s' * (chains != 1)} x {draws} ({fit.method})")
    summary = fit.summary()
    diagnostics = str(fit.diagnostics())
    first, _, advice = diagnostics.partition("\n")
    return (f'<div class="formulang-fit">{_pre(header)}{_table(summary)}'
            f"<p><b>Diagnostics:</b> {escape(first)}</p>"
            + (_pre(advice) if advice else "") + "</div>")


__all__ = ["fit_html", "model_html"]
