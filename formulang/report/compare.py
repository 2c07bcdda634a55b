"""Model comparison by expected log predictive density: brms's ``loo_compare`` table.

:func:`compare` ranks models best first: ``elpd`` (``elpd_loo`` or ``elpd_kfold``), its ``se``,
``elpd_diff`` to the best model (0 for it; negative for the rest) and ``se_diff``, the SE of
that difference from the pointwise differences, ``sqrt(n) * sd(elpd_a,i - elpd_b,i)``. For
``criterion="loo"`` the table is ArviZ's ``az.compare`` (PSIS-LOO), and every model with
Pareto k above 0.7 is named in a warning; for ``"kfold"`` it is built from the pointwise
held-out values of :class:`~formulang.infer.kfold.KFoldResult` s (or of fits, cross-validated
with ``**kfold``). The models must be fitted to the same rows (and, for k-fold, the same
folds: the same ``K``, ``folds``, ``group`` and ``seed``).

>>> import numpy as np
>>> from types import SimpleNamespace as R
>>> a = R(pointwise=np.array([-1.0, -1.2, -0.9]), fold=np.array([0, 1, 2]), rmse=0.5)
>>> b = R(pointwise=np.array([-1.5, -1.1, -1.4]), fold=np.array([0, 1, 2]), rmse=0.7)
>>> compare({"a": a, "b": b}, criterion="kfold")[["rank", "elpd_diff"]].round(2)
   rank  elpd_diff
a     0        0.0
b     1       -0.9
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from ..data.notices import FormulangWarning, tell
from ..errors import FormulangError

CRITERIA = ("loo", "kfold")
PARETO_K_LIMIT = 0.7


class ParetoKWarning(FormulangWarning):
    """PSIS-LOO is unreliable for some rows (Pareto k above :data:`PARETO_K_LIMIT`)."""


def compare(models, criterion: str = "loo", **kfold) -> pd.DataFrame:
    """The comparison table of ``models`` (a dict name -> fit or k-fold result, or a list,
    named by formula), best first; see the module docstring."""
    if criterion not in CRITERIA:
        raise FormulangError(f"unknown criterion {criterion!r}; choose one of: "
                             f"{', '.join(CRITERIA)}")
    named = _named(models)
    if len(named) < 2:
        raise FormulangError("compare needs at least two models")
    if criterion == "loo":
        return _loo_table(named)
    results = {name: (m.kfold(**kfold) if hasattr(m, "kfold") else m)
               for name, m in named.items()}
    return kfold_table(results)


def _named(models) -> dict:
    if isinstance(models, dict):
        return dict(models)
    out: dict = {}
    for i, m in enumerate(models):
        name = str(getattr(m, "formula", None) or getattr(getattr(m, "compiled", None),
                                                         "formula", f"model{i + 1}"))
        out[name if name not in out else f"{name} ({i + 1})"] = m
    return out


def _loo_table(named: dict) -> pd.DataFrame:
    import arviz as az

    idata = {}
    for name, fit in named.items():
        if not hasattr(fit, "idata"):
            raise FormulangError(f"{name}: LOO compares fits; a k-fold result compares with "
                                 "criterion='kfold'")
        idata[name] = fit.idata
    _same_rows({name: d.log_likelihood["y"].shape[-1] for name, d in idata.items()})
    high = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ArviZ's own wording; ours names the models below
        for name, d in idata.items():
            k = np.asarray(az.loo(d, pointwise=True).pareto_k)
            if (k > PARETO_K_LIMIT).any():
                high[name] = int((k > PARETO_K_LIMIT).sum())
        table = az.compare(idata, ic="loo")
    if high:
        listed = "; ".join(f"{name}: {n} row{'s' * (n > 1)}" for name, n in high.items())
        tell(ParetoKWarning(f"Pareto k > {PARETO_K_LIMIT} (PSIS-LOO unreliable for those "
                            f"rows; k-fold cross-validation is the safer estimate): {listed}"))
    table = table.rename(columns={"dse": "se_diff"})
    table["elpd_diff"] = -table["elpd_diff"]  # brms's sign: below the best is negative
    return table[["rank", "elpd_loo", "se", "elpd_diff", "se_diff", "p_loo", "weight",
                  "warning"]]


def kfold_table(results: dict) -> pd.DataFrame:
    """The table for k-fold results (``pointwise``, ``fold``, ``rmse``), best first."""
    _same_rows({name: len(r.pointwise) for name, r in results.items()})
    folds = [np.asarray(r.fold) for r in results.values()]
    if any(not np.array_equal(folds[0], f) for f in folds[1:]):
        raise FormulangError("the k-fold results used different folds: run them with the "
                             "same K, folds, group and seed")
    elpd = {name: float(np.sum(r.pointwise)) for name, r in results.items()}
    order = sorted(elpd, key=elpd.get, reverse=True)
    best = np.asarray(results[order[0]].pointwise)
    n = len(best)
    rows = []
    for rank, name in enumerate(order):
        p = np.asarray(results[name].pointwise)
        diff = p - best
        rows.append({"rank": rank, "elpd_kfold": elpd[name],
                     "se": float(np.sqrt(n) * np.std(p, ddof=1)),
                     "elpd_diff": float(np.sum(diff)),
                     "se_diff": float(np.sqrt(n) * np.std(diff, ddof=1)),
                     "rmse": float(results[name].rmse)})
    return pd.DataFrame(rows, index=order)


def _same_rows(counts: dict) -> None:
    if len(set(counts.values())) > 1:
        listed = ", ".join(f"{name}: {n}" for name, n in counts.items())
        raise FormulangError(f"the models were fitted to different numbers of rows ({listed}): "
                             "compare models of the same data")
