"""Radon: which pooling predicts better, for new houses and for new counties? K-fold CV.

    python examples/pooling_cv.py [--quick] [--out DIR]

The three specifications of ``radon_pooling.py`` (complete pooling ``log_radon ~ floor``, no
pooling ``log_radon ~ 0 + county + floor``, partial pooling ``log_radon ~ floor +
(1 | county)``) compared by 10-fold cross-validation (``fit.kfold``, ``fl.compare``), with
both kinds of folds:

- random folds (stratified by county): new houses in known counties. Partial pooling should
  win: it uses each county's houses, shrunk by how many there are; no pooling overfits small
  counties, complete pooling ignores the county.
- grouped folds (whole counties held out): new counties. A held-out county is a new level:
  partial pooling predicts it from the population of counties (its predictive includes the
  county variance); complete pooling from the state mean; no pooling has nothing but its
  coefficient's prior for an unseen county, and loses badly.

Prints the two comparison tables (elpd_diff and se_diff to the best model, RMSE) and draws
elpd_diff +- 2 se_diff per model and kind of folds. ``--quick`` uses 20 counties and K=3.
"""

from __future__ import annotations

import warnings

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

import formulang as fl  # noqa: E402

from _common import options, save  # noqa: E402

SPECS = {
    "complete": "log_radon ~ floor",
    "none": "log_radon ~ 0 + county + floor",
    "partial": "log_radon ~ floor + (1 | county)",
}


def main(argv=None) -> dict:
    args = options(__doc__.splitlines()[0], argv)
    radon = fl.datasets.load("radon")
    K = 10
    if args.quick:  # a smoke test: 20 counties, 3 folds
        radon = radon[radon["county"].isin(sorted(radon["county"].unique())[:20])]
        K = 3
    sampler = dict(args.sampler)
    tables = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # no pooling's unseen counties: named in the text
        fits = {name: fl.Model(formula, radon).fit(**sampler) for name, formula in SPECS.items()}
        for folds in ("random", "grouped"):
            tables[folds] = fl.compare(fits, criterion="kfold", K=K, folds=folds,
                                       group="county", seed=0, draws=sampler["draws"],
                                       tune=sampler["tune"], chains=sampler["chains"],
                                       progress=False)
    for folds, table in tables.items():
        what = "new houses in known counties" if folds == "random" else "new counties"
        print(f"\n{K}-fold CV, {folds} folds ({what}):")
        print(table.to_string(float_format=lambda v: f"{v:.1f}" if abs(v) >= 1 else
                              f"{v:.3f}"))
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.2), sharey=True)
    for ax, (folds, table) in zip(axes, tables.items()):
        names = list(SPECS)
        ax.errorbar([table.loc[n, "elpd_diff"] for n in names], range(len(names)),
                    xerr=[2 * table.loc[n, "se_diff"] for n in names], fmt="o")
        ax.axvline(0, color="grey", lw=0.8)
        ax.set_yticks(range(len(names)), names)
        ax.set_title(f"{folds} folds")
        ax.set_xlabel("elpd_diff to the best (+- 2 se_diff)")
    fig.tight_layout()
    figure = save(fig, args.out, "pooling_cv.png")
    plt.close(fig)
    return {"figure": str(figure), "tables": tables}


if __name__ == "__main__":
    main()
