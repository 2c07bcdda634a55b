"""CBPP: a binomial GLMM, with a posterior predictive check.

    python examples/cbpp_binomial.py [--quick] [--out DIR]

``incidence | trials(size) ~ period + (1 | herd)``: new cases of contagious bovine
pleuropneumonia among ``size`` cattle in 15 herds over 4 periods, with a varying intercept per
herd on the logit scale. Prints the summary, then checks the model against replicated data:
the total number of cases, the spread of the herd-period proportions and the number of zero
counts, each observed value against the distribution of its replicates (a posterior
predictive p-value near 0 or 1 flags a misfit). Writes the forest plot of the herd effects.
"""

from __future__ import annotations

import numpy as np

import formulang as fl
from formulang.report.plots import plot_forest

from _common import options, save, table

FORMULA = "incidence | trials(size) ~ period + (1 | herd)"


def main(argv=None) -> dict:
    args = options(__doc__.splitlines()[0], argv)
    data = fl.datasets.load("cbpp")
    model = fl.Model(FORMULA, data)
    fit = model.fit(**args.sampler)
    print(fit)

    y = np.asarray(model.bound.y, dtype=float)
    size = np.asarray(model.bound.trials, dtype=float)
    replicated = fit.predict(kind="response", seed=1)  # draws x rows
    checks = {
        "total cases": lambda v: v.sum(axis=-1),
        "sd of proportions": lambda v: (v / size).std(axis=-1),
        "zero counts": lambda v: (v == 0).sum(axis=-1),
    }
    rows = []
    for name, stat in checks.items():
        observed, reps = float(stat(y)), stat(replicated)
        lo, hi = np.quantile(reps, [0.05, 0.95])
        rows.append({"statistic": name, "observed": observed, "replicated mean":
                     float(reps.mean()), "5%": float(lo), "95%": float(hi),
                     "p-value": float(np.mean(reps >= observed))})
    print("\nPosterior predictive check (p-value: share of replicates >= observed)\n")
    print(table(rows))
    path = save(plot_forest(fit, group="herd"), args.out, "cbpp_forest.png")
    return {"rows": rows, "figure": path}


if __name__ == "__main__":
    main()
