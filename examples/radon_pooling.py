"""Radon: complete, no and partial pooling of the county means, side by side.

    python examples/radon_pooling.py [--quick] [--out DIR]

Three specifications of the same question, the mean log radon of a county's ground-floor
basements:

- complete pooling, ``log_radon ~ floor``: one intercept for all counties;
- no pooling, ``log_radon ~ 0 + county + floor``: each county its own intercept, estimated
  from its houses alone;
- partial pooling, ``log_radon ~ floor + (1 | county)``: county intercepts drawn from a common
  distribution whose spread the data estimate, so small counties are pulled towards the
  state mean and large ones keep their own.

Prints the three estimates for the smallest and largest counties and writes a figure of each
estimate against the county's number of houses (Gelman & Hill 2007, ch. 12).
"""

from __future__ import annotations

import numpy as np

import formulang as fl

from _common import options, save, table

SPECS = {
    "complete": "log_radon ~ floor",
    "none": "log_radon ~ 0 + county + floor",
    "partial": "log_radon ~ floor + (1 | county)",
}


def county_intercepts(fits: dict, levels) -> dict:
    """Posterior mean of each county's intercept (floor = 0) under each specification."""
    complete = fits["complete"].posterior.posterior["b"].sel(coef="Intercept").mean().item()
    b_none = fits["none"].posterior.posterior["b"].mean(("chain", "draw"))
    none = np.array([b_none.sel(coef=f"county{c}").item() for c in levels])
    post = fits["partial"].posterior.posterior
    r = post["r_county"].sel(county__effect="Intercept")
    partial = (post["b"].sel(coef="Intercept") + r).mean(("chain", "draw"))
    partial = np.array([partial.sel(county__level=c).item() for c in levels])
    return {"complete": np.full(len(levels), complete), "none": none, "partial": partial}


def figure(levels_n, estimates, state_mean):
    from matplotlib.figure import Figure

    fig = Figure(figsize=(8, 4.5), layout="constrained")
    ax = fig.subplots()
    jitter = np.random.default_rng(0).uniform(0.93, 1.07, size=len(levels_n))
    x = levels_n * jitter
    ax.scatter(x, estimates["none"], s=14, color="C1", label="no pooling (county alone)")
    ax.scatter(x, estimates["partial"], s=14, color="C0", label="partial pooling")
    for xi, a, b in zip(x, estimates["none"], estimates["partial"]):
        ax.plot([xi, xi], [a, b], color="0.7", lw=0.6, zorder=0)
    ax.axhline(state_mean, color="C3", ls="--", label="complete pooling")
    ax.set_xscale("log")
    ax.set_xlabel("houses in the county (log scale)")
    ax.set_ylabel("county intercept: mean log radon, ground floor")
    ax.set_title("Small counties are pulled towards the state mean; large ones keep theirs",
                 fontsize=10)
    ax.legend(fontsize=8)
    return fig


def main(argv=None) -> dict:
    args = options(__doc__.splitlines()[0], argv)
    data = fl.datasets.load("radon")
    fits = {name: fl.Model(formula, data).fit(**args.sampler) for name, formula in SPECS.items()}
    partial = fits["partial"].model
    levels = partial.plan.groups[0].levels
    n = np.bincount(partial.bound.groups[0].codes, minlength=len(levels))
    estimates = county_intercepts(fits, levels)
    order = np.argsort(n, kind="stable")
    shown = list(order[:4]) + list(order[-4:])
    rows = [{"county": levels[i], "houses": int(n[i]),
             "complete": float(estimates["complete"][i]), "none": float(estimates["none"][i]),
             "partial": float(estimates["partial"][i])} for i in shown]
    for name, formula in SPECS.items():
        print(f"{name:>8}: {formula}")
    print("\nCounty intercepts (posterior means), the four smallest and four largest counties\n")
    print(table(rows, floatfmt="{:.2f}"))
    spread = {k: float(np.std(v)) for k, v in estimates.items()}
    print(f"\nSpread of the 85 county intercepts: no pooling {spread['none']:.2f}, partial "
          f"{spread['partial']:.2f}, complete {spread['complete']:.2f}")
    path = save(figure(n, estimates, float(estimates["complete"][0])), args.out,
                "radon_pooling.png")
    return {"rows": rows, "spread": spread, "figure": path}


if __name__ == "__main__":
    main()
