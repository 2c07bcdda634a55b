"""Radon: a prior predictive check of formulang's default priors.

    python examples/prior_predictive.py [--quick] [--out DIR]

Before fitting, simulate data sets from the priors alone (``model.prior_predictive()``) and ask
whether they look like data this model could meet. Flat or very wide priors put most of their
mass on absurd data (log radon of +-1000); priors scaled to the data (formulang's defaults,
see the README) keep simulated data on the scale of the response while still allowing far
more than the observed range. Prints the observed range and quantiles next to those of the
simulated responses, and writes a histogram of both.
"""

from __future__ import annotations

import numpy as np

import formulang as fl

from _common import options, save, table

FORMULA = "log_radon ~ floor + (1 + floor | county)"


def figure(observed, simulated):
    from matplotlib.figure import Figure

    fig = Figure(figsize=(8, 4), layout="constrained")
    ax = fig.subplots()
    lo, hi = np.quantile(simulated, [0.005, 0.995])
    bins = np.linspace(min(lo, observed.min()), max(hi, observed.max()), 80)
    ax.hist(simulated.ravel(), bins=bins, density=True, color="C0", alpha=0.5,
            label="prior predictive (all draws)")
    ax.hist(observed, bins=bins, density=True, color="k", histtype="step", lw=1.5,
            label="observed")
    ax.set_xlabel("log_radon")
    ax.set_ylabel("density")
    ax.set_title("Default priors: simulated data on the scale of the observed (99% shown)",
                 fontsize=10)
    ax.legend(fontsize=8)
    return fig


# "Vague" priors of the kind many older texts use, for contrast (not scaled to the data).
WIDE = {"Intercept": "normal(0, 100)", "b": "normal(0, 100)", "sd": "half_normal(100)",
        "sigma": "half_normal(100)"}


def simulate(model, draws: int) -> np.ndarray:
    prior = model.prior_predictive(draws=draws, seed=0)
    return np.asarray(prior.prior_predictive["y"].values, dtype=float)[0]  # draws x rows


def describe(label: str, y: np.ndarray) -> dict:
    qs = [0.01, 0.25, 0.5, 0.75, 0.99]
    return {"": label, "min": float(y.min()),
            **{f"{q:.0%}": float(np.quantile(y, q)) for q in qs}, "max": float(y.max())}


def main(argv=None) -> dict:
    args = options(__doc__.splitlines()[0], argv)
    data = fl.datasets.load("radon")
    model = fl.Model(FORMULA, data)
    draws = 100 if args.quick else 1000
    simulated = simulate(model, draws)
    wide = simulate(fl.Model(FORMULA, data, priors=WIDE), draws)
    observed = np.asarray(model.bound.y, dtype=float)
    rows = [describe("observed", observed), describe("default priors", simulated),
            describe("wide priors", wide)]
    print(f"{FORMULA}: {draws} data sets simulated from the priors\n")
    print(table(rows, floatfmt="{:.2f}"))
    sd_obs = observed.std()
    band = observed.mean() + np.array([-10, 10]) * sd_obs
    inside = {name: float(np.mean((y > band[0]) & (y < band[1])))
              for name, y in (("default", simulated), ("wide", wide))}
    spread = {name: np.median(y.std(axis=1)) / sd_obs
              for name, y in (("default", simulated), ("wide", wide))}
    print(f"\nWithin 10 observed SDs of the observed mean ({band[0]:.1f} to {band[1]:.1f}): "
          f"{inside['default']:.0%} of responses simulated under the default priors, "
          f"{inside['wide']:.0%} under the wide ones.")
    print(f"A simulated data set's SD is typically {spread['default']:.1f} times the observed "
          f"SD under the default priors ({spread['wide']:.0f} times under the wide ones): "
          f"weakly informative, on the response's scale, with room for much more variation "
          f"than observed.")
    print("\nDefault priors by parameter:")
    print(model.priors)
    path = save(figure(observed, simulated), args.out, "prior_predictive.png")
    return {"rows": rows, "inside": inside, "spread": spread, "figure": path}


if __name__ == "__main__":
    main()
