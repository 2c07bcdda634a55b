"""The inverse mass matrix warm-up starts from (``formulang.infer.mass_matrix``)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import formulang as fl
from formulang.infer.mass_matrix import initial_inverse_mass

from test_agreement import CASES, FIXTURES  # the brms reference fits' models

REFERENCE = {key: (formula, dataset) for key, (formula, dataset, _) in CASES.items()}
REFERENCE["radon_varying_slope"] = ("log_radon ~ floor + (1 + floor | county)", "radon")
FACTOR = 5.0


@pytest.mark.parametrize("key", sorted(REFERENCE))
def test_variances_are_within_a_small_factor_of_brms_posterior_variances(key):
    # Warm-up re-estimates the matrix from draws, so the start only has to get each scale
    # right within a small factor; the identity it replaces is off by up to 1e4 in variance
    # here (sleepstudy's intercept). brms's posterior SDs carry about 3% Monte Carlo error
    # (bulk ESS >= 900), nothing against the factor. Compared: the coefficients (the pilot's
    # covariance of beta, uncentred as brms reports them), and the SDs and sigma on the log
    # scale (delta method: var(log s) ~ (sd(s) / mean(s))^2). The weakest figure is radon's
    # floor-slope SD (about 0.26 of brms's): a weakly identified SD, whose log-scale
    # posterior is wider than its Fisher information says.
    formula, dataset = REFERENCE[key]
    reference = {s["variable"]: s for s in FIXTURES["models"][key]["brms"]["summary"]}
    model = fl.Model(formula, fl.datasets.load(dataset), collapse=False)
    start = initial_inverse_mass(model.plan, model.pilot)
    ratios = {}
    for j, column in enumerate(model.plan.columns):
        ratios[f"b_{column}"] = model.pilot.beta_cov[j, j] / reference[f"b_{column}"]["sd"] ** 2
    for g in model.plan.groups:
        for p, column in enumerate(g.columns):
            name = f"sd_{g.label}__{column}"
            ref = reference[name]
            ratios[name] = start[g.sd.name][p] / (ref["sd"] / ref["mean"]) ** 2
    if "sigma" in reference:
        ref = reference["sigma"]
        ratios["sigma"] = start["sigma"][0] / (ref["sd"] / ref["mean"]) ** 2
    assert len(ratios) == len(reference) - sum(name.startswith("cor_") for name in reference)
    off = {name: round(r, 2) for name, r in ratios.items() if not 1 / FACTOR <= r <= FACTOR}
    assert not off, off


def _frame(n_groups=6, rows=8, seed=0):
    rng = np.random.default_rng(seed)
    g = np.repeat(np.arange(n_groups), rows)
    # group sizes vary, so auto centres some levels and not others
    keep = rng.random(len(g)) < np.where(g < n_groups // 2, 1.0, 0.3)
    x = rng.normal(size=len(g))
    eta = 0.3 + 0.5 * x + rng.normal(size=n_groups)[g] + 0.4 * rng.normal(size=n_groups)[g] * x
    return pd.DataFrame({
        "y": eta + rng.normal(size=len(g)), "x": x, "g": [f"g{i}" for i in g],
        "h": [f"h{i % 3}" for i in range(len(g))], "count": rng.poisson(np.exp(eta / 2)),
        "pos": np.exp(eta / 3) * rng.gamma(5.0, 0.2, size=len(g)),
        "unit": 1 / (1 + np.exp(-eta / 2 + rng.normal(scale=0.3, size=len(g)))),
    })[keep]


SITE_CASES = [
    ("y ~ x + (1 + x | g)", {"reparam": "centered"}),
    ("y ~ x + (1 + x | g)", {"reparam": "noncentered"}),
    ("y ~ x + (1 + x | g) + (1 | h)", {}),
    ("y ~ x + (1 + x || g)", {}),
    ("y ~ 1 + (1 | g/h)", {}),
    ("y ~ x", {}),
    ("y ~ 0 + x + (1 | g)", {}),
    ("y ~ x + pos + (1 | g)", {"priors": {"b[x]": "student_t(3, 0, 1)", "sd": "exponential(1)"}}),
    ("y ~ x + (1 | g)", {"family": "student_t"}),
    ("count ~ x + (1 | g)", {"family": "poisson"}),
    ("count ~ x + (1 | g)", {"family": "negative_binomial"}),
    ("pos ~ x + (1 | g)", {"family": "gamma"}),
    ("unit ~ x + (1 | g)", {"family": "beta"}),
]


def _unconstrained_sizes(model_fn, data) -> dict[str, int]:
    from numpyro import handlers
    from numpyro.distributions import biject_to

    trace = handlers.trace(handlers.seed(model_fn, 0)).get_trace(data)
    return {name: int(np.size(biject_to(site["fn"].support).inv(site["value"])))
            for name, site in trace.items()
            if site["type"] == "sample" and not site["is_observed"]}


@pytest.mark.parametrize("formula, options", SITE_CASES,
                         ids=[f"{f} {o}" for f, o in SITE_CASES])
def test_every_variance_belongs_to_a_site_of_the_sampled_model_and_fits_its_size(formula,
                                                                              options):
    # NumPyro takes the variances as one block over these sites and would fail deep inside
    # the kinetic energy on a size mismatch; sites left out start at 1 (NumPyro's default)
    model = fl.Model(formula, _frame(), collapse=False, **options)
    sizes = _unconstrained_sizes(model.numpyro_model, model.data)
    start = initial_inverse_mass(model.plan, model.pilot)
    assert start and set(start) <= set(sizes)
    for name, variances in start.items():
        assert variances.shape == (sizes[name],), name
        assert np.all(np.isfinite(variances)) and np.all(variances > 0), name
    # every site is covered but Student-t's nu and the negative binomial's phi (identified by
    # the tails or the overdispersion alone: they start at 1)
    assert set(start) == set(sizes) - {"nu"} - (
        {"phi"} if options.get("family") == "negative_binomial" else set())


def test_the_collapsed_model_gets_its_own_sites():
    from formulang.lower.collapsed import collapsed_data, make_collapsed_model

    model = fl.Model("y ~ x + (1 + x | g)", _frame())
    assert model.collapsed
    data = collapsed_data(model.plan, model.data, model.collapse_layout)
    sizes = _unconstrained_sizes(make_collapsed_model(model.plan, model.collapse_layout), data)
    start = initial_inverse_mass(model.plan, model.pilot, collapsed=True)
    assert set(start) == set(sizes)
    assert all(start[name].shape == (sizes[name],) for name in start)


def test_a_tight_prior_narrows_the_start():
    # the posterior is no wider than the prior: a coefficient pinned by its prior starts at
    # the prior's scale, not the data's
    frame = _frame()
    loose = initial_inverse_mass(*_plan_pilot(fl.Model("y ~ x + (1 | g)", frame)))
    tight = initial_inverse_mass(*_plan_pilot(fl.Model("y ~ x + (1 | g)", frame,
                                                       priors={"b": "normal(0, 0.01)"})))
    assert loose["b_c"][0] > 1e-3
    assert 0.9e-4 < tight["b_c"][0] <= 1e-4


def _plan_pilot(model):
    return model.plan, model.pilot


def test_a_coefficient_the_data_leave_free_starts_as_wide_as_its_prior():
    # a column collinear with the intercept: the data say nothing about its coefficient, so
    # it must start at its prior's variance, not pinned by a pseudo-inverse's small share
    frame = _frame().assign(const=2.0)
    with pytest.warns(fl.RankDeficiencyWarning):
        model = fl.Model("y ~ x + const + (1 | g)", frame, priors={"b[const]": "normal(0, 3)"})
    start = initial_inverse_mass(model.plan, model.pilot)
    const = model.plan.slope_columns.index("const")
    assert start["b_c"][const] == pytest.approx(9.0)
