"""The automatic centered / non-centered choice (formulang.lower.reparam)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import formulang
from formulang import FormulangError, datasets
from formulang.lower.families import family
from formulang.data.groups import enclosing
from formulang.lower.pilot import level_weights, pilot_fit
from formulang.lower.reparam import GroupParameterization, _choose, choose_parameterization

GAUSSIAN = family("gaussian")


def simulate(sizes, tau, sigma, seed, fam="gaussian", beta0=0.0, slope_tau=None):
    """Rows of ``y ~ x + (1 | g)`` (plus a random slope when ``slope_tau``)."""
    rng = np.random.default_rng(seed)
    sizes = np.asarray(sizes)
    g = np.repeat(np.arange(len(sizes)), sizes)
    x = rng.normal(size=len(g))
    eta = beta0 + 0.5 * x + rng.normal(0.0, tau, len(sizes))[g]
    if slope_tau is not None:
        eta = eta + rng.normal(0.0, slope_tau, len(sizes))[g] * x
    if fam == "gaussian":
        y = eta + rng.normal(0.0, sigma, len(g))
    elif fam == "poisson":
        y = rng.poisson(np.exp(eta))
    elif fam == "bernoulli":
        y = rng.binomial(1, 1.0 / (1.0 + np.exp(-eta)))
    else:
        raise AssertionError(fam)
    return pd.DataFrame({"y": y, "x": x, "g": [f"g{i:03d}" for i in g]})


def choose(formula, data, fam=GAUSSIAN, reparam="auto"):
    bound = formulang.bind(formula, data)
    return bound, choose_parameterization(bound, fam, reparam)


def rows_per_level(group) -> np.ndarray:
    return np.bincount(group.codes, minlength=group.n_levels)


# -- the weight -------------------------------------------------------------------------------


def test_weight_is_the_gaussian_shrinkage_factor():
    tau, sigma = 0.5, 1.0
    n = np.arange(1, 51)
    w = level_weights(n / sigma**2, tau**2)
    np.testing.assert_allclose(w, tau**2 / (tau**2 + sigma**2 / n), rtol=1e-12)
    # the threshold w = 1/2 is n_j = sigma^2 / tau^2 = 4
    assert w[3] == pytest.approx(0.5)
    assert ((w >= 0.5) == (n >= 4)).all()


def test_weight_for_several_effects():
    rng = np.random.default_rng(0)
    # diagonal information and covariance: the smallest of the per-effect Gaussian weights
    info = np.stack([np.diag(d) for d in rng.uniform(0.1, 20.0, (6, 2))])
    cov = np.diag([0.3, 2.0])
    per_effect = np.diagonal(info, axis1=1, axis2=2) * np.diag(cov)
    np.testing.assert_allclose(level_weights(info, cov),
                               (per_effect / (1 + per_effect)).min(axis=1), rtol=1e-12)
    # the definition: lambda_min / (1 + lambda_min), lambda_min the smallest eigenvalue of the
    # whitened information, i.e. the smallest generalized eigenvalue of (I_j, Sigma^-1)
    A = rng.normal(size=(6, 3, 3))
    info = A @ A.transpose(0, 2, 1)
    B = rng.normal(size=(3, 3))
    cov = B @ B.T + 0.1 * np.eye(3)
    lam = np.array([np.min(np.linalg.eigvals(np.linalg.solve(np.linalg.inv(cov), i)).real)
                    for i in info])
    w = level_weights(info, cov)
    np.testing.assert_allclose(w, lam / (1 + lam), rtol=1e-8)
    # unchanged by a linear change of the effect columns (say, centering a covariate)
    T = np.array([[1.0, 0.0, 0.0], [-2.0, 1.0, 0.0], [0.5, 0.3, 1.0]])
    Ti = np.linalg.inv(T)
    np.testing.assert_allclose(level_weights(T.T @ info @ T, Ti @ cov @ Ti.T), w, rtol=1e-8)


def test_a_level_that_cannot_identify_its_slope_is_noncentered():
    # one row: information values values^T has rank 1, so one whitened direction gets no
    # information at all and the level's weight is 0, however large tau is
    v = np.array([1.0, 0.0])
    w = level_weights((100.0 * np.outer(v, v))[None], np.diag([10.0, 10.0]))
    assert w[0] == pytest.approx(0.0, abs=1e-9)


# -- simulated Gaussian data --------------------------------------------------------------------


def test_many_rows_per_group_are_centered():
    bound, (p,) = choose("y ~ x + (1 | g)", simulate([200] * 30, 1.0, 1.0, seed=1))
    assert p.mode == "centered" and p.n_centered == 30
    # judged at half the pilot tau: 0.25 * 200 / (1 + 0.25 * 200) = 0.98
    assert min(p.weights) > 0.97
    assert p.reason.startswith("centered: all 30 levels")


def test_few_rows_and_small_tau_are_noncentered():
    bound, (p,) = choose("y ~ x + (1 | g)", simulate([3] * 100, 0.2, 1.0, seed=2))
    assert p.mode == "noncentered" and p.n_centered == 0
    assert max(p.weights) < 0.3


def test_mixed_sizes_split_at_weight_one_half():
    sizes = [1, 2, 3, 30, 60, 100] * 20
    bound, (p,) = choose("y ~ x + (1 | g)", simulate(sizes, 0.5, 1.0, seed=3))
    n = rows_per_level(bound.groups[0])
    c = p.mask()
    assert p.mode == "mixed"
    assert not c[n <= 3].any() and c[n >= 30].all()
    # the choice is exactly the threshold on the weights (no level is near it here)
    w = np.array(p.weights)
    assert (c == (w >= 0.5)).all()
    # and the weights are the Gaussian shrinkage factor at the pilot's tau and sigma (120
    # levels identify tau well, so no safety factor applies)
    tau, sigma = p.tau[0], p.sigma
    np.testing.assert_allclose(w, tau**2 / (tau**2 + sigma**2 / n), rtol=1e-9)
    assert f"{p.n_centered} of 120 levels centered" in p.reason


@pytest.mark.parametrize("seed", [11, 12, 13])
def test_pilot_recovers_tau_and_sigma(seed):
    # 200 groups x 5 rows, tau = 0.5, sigma = 1. Sampling SDs of the ML estimates:
    # var(tau^2 hat) ~ 2 / m (tau^2 + sigma^2 / n)^2 -> SD(tau hat) ~ 0.045;
    # var(sigma^2 hat) ~ 2 sigma^4 / (N - m) -> SD(sigma hat) ~ 0.025. Tolerance: 4 SDs.
    bound = formulang.bind("y ~ x + (1 | g)", simulate([5] * 200, 0.5, 1.0, seed))
    fit = pilot_fit(bound, GAUSSIAN)
    assert np.sqrt(fit.cov[0][0, 0]) == pytest.approx(0.5, abs=0.18)
    assert fit.sigma == pytest.approx(1.0, abs=0.1)
    assert fit.beta == pytest.approx([0.0, 0.5], abs=0.2)


def test_pilot_recovers_a_random_slope():
    # 200 groups x 10 rows, tau = (0.5, 0.3): SDs about 0.04 (intercept) and 0.035 (slope)
    data = simulate([10] * 200, 0.5, 1.0, seed=5, slope_tau=0.3)
    bound = formulang.bind("y ~ x + (1 + x | g)", data)
    fit = pilot_fit(bound, GAUSSIAN)
    tau = np.sqrt(np.diag(fit.cov[0]))
    assert tau == pytest.approx([0.5, 0.3], abs=0.15)
    assert fit.sigma == pytest.approx(1.0, abs=0.08)
    (p,) = choose_parameterization(bound, GAUSSIAN)
    assert p.tau == pytest.approx(tuple(tau))
    assert "Intercept" in p.reason and "x " in p.reason


# -- real data ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def radon():
    return datasets.load("radon")


def test_radon_varying_intercept_is_mixed(radon):
    bound, (p,) = choose("log_radon ~ floor + (1 | county)", radon)
    g = bound.groups[0]
    n = rows_per_level(g)
    c = p.mask()
    assert p.label == "county" and p.mode == "mixed"
    assert c[g.levels.index("ST LOUIS")] and c[g.levels.index("HENNEPIN")]
    assert not c[n == 1].any() and (n == 1).sum() > 0
    # one effect, Gaussian: the weight grows with the county's rows, so the split is by size
    assert c[n >= n[c].min()].all()
    assert "here the levels with >=" in p.reason
    # lme4 (REML): tau = 0.33, sigma = 0.76; the pilot's within-county sigma is 0.73
    assert 0.2 < p.tau[0] < 0.45 and 0.65 < p.sigma < 0.85


def test_radon_varying_slope(radon):
    bound, (p,) = choose("log_radon ~ floor + (1 + floor | county)", radon)
    g = bound.groups[0]
    # Few counties see their floor slope, so tau is weakly identified (J_eff < 5) and the
    # levels are judged at half the pilot tau: no county identifies its slope well enough to be
    # centred (with the pilot tau itself St Louis and Hennepin were, and NUTS met 91
    # divergences at small slope SDs; non-centred had none).
    assert p.mode == "noncentered" and len(p.tau) == 2
    assert "tau weakly identified" in p.reason
    w = np.array(p.weights)
    assert w.max() < 0.5 and w[g.levels.index("ST LOUIS")] == w.max()
    # lme4 (REML): tau = (0.35, 0.34)
    assert 0.2 < p.tau[0] < 0.5 and 0.1 < p.tau[1] < 0.6


def test_sleepstudy_is_centered():
    bound, (p,) = choose("Reaction ~ Days + (Days | Subject)", datasets.load("sleepstudy"))
    # 10 days per subject identify the slope's direction moderately: weight 0.61 for every
    # subject; 18 such levels identify tau well (J_eff = 18 * 0.61^2 = 6.7), so the pilot tau is
    # trusted and every subject is centred (non-centred met a rare divergence at large SDs)
    assert p.mode == "centered" and p.n_centered == 18
    assert min(p.weights) > 0.55
    assert "weakly identified" not in p.reason
    # lme4 (REML): tau = (24.7, 5.92), sigma = 25.6; the pilot is ML (a little smaller)
    assert p.tau == pytest.approx((24.7, 5.92), rel=0.15)
    assert p.sigma == pytest.approx(25.6, rel=0.1)


def test_pastes_nested():
    data = datasets.load("Pastes")
    bound, (batch, cask) = choose("strength ~ 1 + (1 | batch/cask)", data)
    assert (batch.label, cask.label) == ("batch", "batch:cask")
    # casks (2 rows each, tau_cask ~ 2.9 >> sigma ~ 0.82) identify their effects; a batch's
    # effect is blurred by its casks' large variation, so batches are non-centered
    assert cask.mode == "centered" and batch.mode == "noncentered"
    # balanced nested design: the within-cask variance is sigma^2 exactly (lme4: 0.678)
    assert batch.sigma**2 == pytest.approx(0.678, abs=1e-3)
    assert batch.tau[0] == pytest.approx(1.29, rel=0.25) and cask.tau[0] == pytest.approx(
        2.90, rel=0.25)
    # the batch information integrates its casks out: sum over casks n a / (1 + n a tau^2)
    fit = pilot_fit(bound, GAUSSIAN)
    a = 1.0 / fit.scale
    expected = 3 * 2 * a / (1 + 2 * a * fit.cov[1][0, 0])
    np.testing.assert_allclose(fit.info[0][:, 0, 0], expected, rtol=1e-9)


def test_enclosing_terms():
    bound = formulang.bind("strength ~ 1 + (1 | batch/cask)", datasets.load("Pastes"))
    assert enclosing(bound)[0] == ()
    ((h, parent),) = enclosing(bound)[1]
    casks, batches = bound.groups[1], bound.groups[0]
    assert h == 0
    assert [batches.levels[parent[i]] for i in range(3)] == ["A", "A", "A"]
    assert all(casks.levels[i].split(":")[0] == batches.levels[parent[i]]
               for i in range(casks.n_levels))
    crossed = formulang.bind("diameter ~ 1 + (1 | plate) + (1 | sample)",
                             datasets.load("Penicillin"))
    assert enclosing(crossed) == ((), ())


def test_penicillin_crossed():
    data = datasets.load("Penicillin")
    _, (plate, sample) = choose("diameter ~ 1 + (1 | plate) + (1 | sample)", data)
    assert plate.mode == "centered" and sample.mode == "centered"
    # lme4 (REML): tau_plate = 0.85, tau_sample = 1.93, sigma = 0.55
    assert plate.tau[0] == pytest.approx(0.85, rel=0.2)
    assert sample.tau[0] == pytest.approx(1.93, rel=0.25)
    assert plate.sigma == pytest.approx(0.55, rel=0.1)


def test_cbpp_binomial():
    bound, (p,) = choose("cbind(incidence, size - incidence) ~ period + (1 | herd)",
                         datasets.load("cbpp"), family("binomial"))
    # glmer (Laplace): tau_herd = 0.64
    assert p.tau[0] == pytest.approx(0.64, abs=0.15)
    assert p.sigma is None and "sigma" not in p.reason
    w = np.array(p.weights)
    # every herd is either above the threshold or near it (and then follows the majority)
    assert p.mode == "centered"
    assert (w >= 0.4).all()


def test_poisson():
    sizes = [2, 40] * 150
    bound, (p,) = choose("y ~ x + (1 | g)", simulate(sizes, 0.5, None, seed=7, fam="poisson"),
                         family("poisson"))
    # mu ~ 1: information n_j mu, weight 0.25 n mu / (1 + 0.25 n mu): 0.33 for 2 rows, 0.91
    # for 40 (300 levels identify tau well: no safety factor). A 2-row level with a large
    # effect (mu ~ 5) is informative too, and centered.
    n = rows_per_level(bound.groups[0])
    c = p.mask()
    assert p.mode == "mixed"
    assert c[n == 40].all() and c[n == 2].mean() < 0.1
    counts = np.bincount(bound.groups[0].codes, weights=bound.y)
    small = n == 2
    assert counts[small & c].min() > np.median(counts[small])
    # 300 groups: SD of tau hat about 0.035
    assert p.tau[0] == pytest.approx(0.5, abs=0.12)
    assert p.sigma is None


def test_bernoulli_small_clusters_are_noncentered():
    data = simulate([4] * 150, 0.7, None, seed=8, fam="bernoulli")
    _, (p,) = choose("y ~ x + (1 | g)", data, family("bernoulli"))
    # 4 binary rows carry information about 4 x 0.2 = 0.8: weight ~ 0.3
    assert p.mode == "noncentered"
    assert 0.3 < p.tau[0] < 1.0  # PQL: a little low for binary data


# -- forcing, per-term control, errors ----------------------------------------------------------


def test_forced_modes_keep_the_evidence(radon):
    bound = formulang.bind("log_radon ~ floor + (1 | county)", radon)
    (auto,) = choose_parameterization(bound, GAUSSIAN)
    for mode in ("centered", "noncentered"):
        (p,) = choose_parameterization(bound, GAUSSIAN, mode)
        assert p.mode == mode
        assert p.weights == auto.weights and p.tau == auto.tau and p.sigma == auto.sigma
        assert "forced" in p.reason and auto.reason.split(";")[0] in p.reason


def test_per_term_dict():
    bound = formulang.bind("strength ~ 1 + (1 | batch/cask)", datasets.load("Pastes"))
    batch, cask = choose_parameterization(bound, GAUSSIAN, {"batch": "centered"})
    assert batch.mode == "centered" and "forced" in batch.reason
    assert cask.mode == "centered" and "forced" not in cask.reason
    batch, cask = choose_parameterization(bound, GAUSSIAN, {"batch:cask": "noncentered",
                                                           "batch": "auto"})
    assert batch.mode == "noncentered" and cask.mode == "noncentered"
    assert "forced" in cask.reason and "forced" not in batch.reason


def test_bad_labels_and_values():
    bound = formulang.bind("strength ~ 1 + (1 | batch/cask)", datasets.load("Pastes"))
    with pytest.raises(FormulangError, match=r"'cask'.*'batch', 'batch:cask'"):
        choose_parameterization(bound, GAUSSIAN, {"cask": "centered"})
    with pytest.raises(FormulangError, match=r"'auto', 'centered', 'noncentered'.*'nc'"):
        choose_parameterization(bound, GAUSSIAN, {"batch": "nc"})
    with pytest.raises(FormulangError, match=r"'auto', 'centered', 'noncentered'.*'center'"):
        choose_parameterization(bound, GAUSSIAN, "center")
    with pytest.raises(FormulangError, match="dict"):
        choose_parameterization(bound, GAUSSIAN, ["auto"])


# -- edge cases and the near-threshold rule -----------------------------------------------------


def test_near_threshold_levels_follow_a_large_majority():
    w = np.array([0.45] * 5 + [0.9] * 95)
    centered, moved = _choose(w)
    assert centered.all() and moved == 5
    # a clearly uninformed level is never moved
    centered, moved = _choose(np.array([0.1] + [0.45] * 4 + [0.9] * 95))
    assert centered.sum() == 95 and moved == 0
    # nor without a 90% majority
    centered, moved = _choose(np.array([0.45] * 20 + [0.9] * 80))
    assert centered.sum() == 80 and moved == 0
    centered, moved = _choose(np.array([0.55] * 3 + [0.1] * 97))
    assert not centered.any() and moved == 3


def test_no_response_is_noncentered():
    data = simulate([3] * 10, 0.5, 1.0, seed=9)
    bound = formulang.bind("~ x + (1 | g)", data)
    (p,) = choose_parameterization(bound, GAUSSIAN)
    assert p.mode == "noncentered" and "no response" in p.reason
    assert choose_parameterization(bound, GAUSSIAN, "centered")[0].mode == "centered"


def test_a_grouping_without_variation_is_noncentered():
    # every level holds the same 20 values: no variation between levels at all
    base = np.random.default_rng(14).normal(size=20)
    data = pd.DataFrame({"y": np.tile(base, 10), "h": np.repeat(np.arange(10), 20)})
    _, (h,) = choose("y ~ 1 + (1 | h)", data)
    assert h.mode == "noncentered" and max(h.weights) < 0.01
    assert "at its floor" in h.reason and h.tau[0] < 0.01


def test_no_group_terms():
    bound = formulang.bind("y ~ x", simulate([3] * 10, 0.5, 1.0, seed=10))
    assert choose_parameterization(bound, GAUSSIAN) == ()


def test_mode_and_count():
    p = GroupParameterization("g", (True, False, True), (0.9, 0.1, 0.8), (1.0,), 1.0, "x")
    assert p.mode == "mixed" and p.n_centered == 2
    assert GroupParameterization("g", (False,), (0.1,), (1.0,), None, "").mode == "noncentered"
    assert GroupParameterization("g", (True,), (0.9,), (1.0,), None, "").mode == "centered"


def test_double_bar_with_a_categorical_does_not_stop_the_pilot():
    # (1 + period || herd): an intercept block and a 3-column period block; the pilot's
    # covariance estimate has zero-variance directions and used to be inverted as it was
    cbpp = datasets.load("cbpp")
    bound, (p,) = choose("cbind(incidence, size - incidence) ~ 1 + (1 + period || herd)", cbpp,
                         fam="binomial")
    assert len(p.centered) == 15 and all(np.isfinite(p.tau))
