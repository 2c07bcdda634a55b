"""brms's spelling of a design column inside its flat parameter names (used by
:mod:`formulang.lower.sites`, the one owner of names).

brms passes R's column names through its internal ``rename()``: spaces, brackets, commas,
quotes and ``?`` dropped; ``+ - * / ^ =`` spelt ``P M MU D E EQ``. So ``poly(x, 2)``'s columns
are ``b_polyx21``, ``b_polyx22``, ``bs(x, df = 4)``'s ``b_bsxdfEQ41``...,
``bs(t, df = 3):g``'s ``b_bstdfEQ31:ga`` (tests/fixtures/r_smooths/brms_basis_names.json,
brms's own). formulang writes a basis's columns so in its flat names (summary rows, brms's
names in ``fit.summary()``'s index, hypotheses, ``vars=``); its display names and the ``coef``
of ``b`` keep R's (``poly(x, 2)1``). Other columns keep their formulang names (``b_I(x^2)``,
``b_log(x)``; brms: ``b_IxE2``, ``b_logx``).

>>> brms_column("poly(x, 2)1"), brms_column("bs(t, df = 3)1:ga"), brms_column("x:g")
('polyx21', 'bstdfEQ31:ga', 'x:g')
>>> brms_column('ns(x, knots = c(0.3, 0.6))1'), brms_column("poly(x, 3, raw = TRUE)2")
('nsxknotsEQc0.30.61', 'polyx3rawEQTRUE2')
"""

from __future__ import annotations

import re

# brms's rename(): each pattern replaced in turn, as written
RENAME = ((" ", ""), ("(", ""), (")", ""), ("[", ""), ("]", ""), (",", ""), ('"', ""),
          ("'", ""), ("?", ""), ("+", "P"), ("-", "M"), ("*", "MU"), ("/", "D"), ("^", "E"),
          ("=", "EQ"))
BASIS = re.compile(r"(?:^|[:_])(?:poly|bs|ns)\(")  # a column of a basis (data/bases.py), alone
# or in an interaction (or prefixed by its formula: sigma_polyx21)


def brms_rename(text: str) -> str:
    """brms's ``rename()`` of ``text``."""
    for pattern, replacement in RENAME:
        text = text.replace(pattern, replacement)
    return text


def brms_column(column: str) -> str:
    """``column`` as brms's flat names write it: a basis column renamed as brms does, any other
    as it is."""
    return brms_rename(column) if BASIS.search(column) else column
