"""Sleepstudy: correlated intercepts and slopes, formulang's posterior next to lme4 and brms.

    python examples/sleepstudy_vs_lme4.py [--quick] [--out DIR]

``Reaction ~ Days + (Days | Subject)``: reaction times of 18 subjects over 10 days of sleep
deprivation, each subject with their own baseline and their own slope, correlated. Prints
formulang's posterior mean and 95% interval for every parameter beside lme4's REML estimate
and brms's posterior mean, and draws the fitted lines of eight subjects over their data.
"""

from __future__ import annotations

import formulang as fl
from formulang.report.plots import plot_group_lines

from _common import options, save, table

FORMULA = "Reaction ~ Days + (Days | Subject)"

# From tests/fixtures/lme4_brms.json (model "sleepstudy_corr"): lme4 1.1-31 lmer(REML) and
# brms 2.18 (4 chains x 1000 draws, default priors) on the same CSV, R 4.2.2. Copied here so
# the example runs from an installed package without the tests folder.
REFERENCE = {  # parameter: (lme4 estimate, brms posterior mean)
    "b_Intercept": (251.405, 251.465),
    "b_Days": (10.467, 10.402),
    "sd_Subject__Intercept": (24.741, 26.695),
    "sd_Subject__Days": (5.922, 6.578),
    "cor_Subject__Intercept__Days": (0.066, 0.090),
    "sigma": (25.592, 25.957),
}


def main(argv=None) -> dict:
    args = options(__doc__.splitlines()[0], argv)
    model = fl.Model(FORMULA, fl.datasets.load("sleepstudy"))
    fit = model.fit(**args.sampler)
    summary = fit.summary()
    rows = []
    for name, (lme4, brms) in REFERENCE.items():
        s = summary.loc[name]
        rows.append({"parameter": name, "formulang": float(s["mean"]),
                     "2.5%": float(s["q2.5"]), "97.5%": float(s["q97.5"]),
                     "lme4 (REML)": lme4, "brms": brms})
    print(f"{FORMULA}  ({args.sampler['chains']} chains x {args.sampler['draws']} draws)\n")
    print(table(rows, floatfmt="{:.4g}"))
    print("\nlme4's SDs are REML point estimates: the posterior means of SDs, skewed right, sit "
          "a little above them (as brms's do).")
    print("\n" + str(fit.diagnostics()))
    path = save(plot_group_lines(fit, x="Days", group="Subject"), args.out,
                "sleepstudy_lines.png")
    return {"rows": rows, "figure": path, "fit": fit}


if __name__ == "__main__":
    main()
