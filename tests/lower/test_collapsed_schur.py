"""Every crossed Gaussian effect integrated out is exact (issue 20).

The block set's effects by blocks, the other terms' through the dense Schur complement
(:mod:`formulang.lower.collapsed_schur`). Compared with dense brute force on small crossed
data in float64 (inside ``jax.enable_x64(True)``): the model's log joint is the full model's
priors on its sites plus ``N(y*; X theta, sigma^2 I + Z Sigma Z')`` by scipy, ``Z`` and
``Sigma`` over every term; the draws of all effects at one point have the dense conditional's
mean and SDs. Whole posteriors (Penicillin against the fully sampled model):
``tests/test_crossed_collapse_fit.py``.
"""

from __future__ import annotations

from dataclasses import replace

import jax
import numpy as np
import pandas as pd
import pytest
from test_collapsed_crossed import (CASES, EXACT, crossed_data, dense_design, expected_joint,
                                    log_joint, model_for, random_point, sampled_mean,
                                    site_log_probs)

import formulang as fl
from formulang.infer.collapsed_draws import draw_partial_effects
from formulang.lower import collapsed_crossed as cc
from formulang.lower import collapsed_schur as cs
from formulang.lower.sites import group_effects
from formulang.lower.units import response_unit_sites

RTOL = 1e-8  # float64 throughout: only rounding separates the two computations


def every_effect_site(model) -> set[str]:
    return {s for g in model.plan.groups for s in (g.sites.z, g.sites.rc)}


def every_effect_joint(model, params: dict, full_sites) -> float:
    """The log joint with every effect integrated out, by dense brute force."""
    everything = tuple(range(len(model.plan.groups)))
    return expected_joint(model, params, everything, replace(model.partial, sampled=()),
                          full_sites, every_effect_site(model))


def schur_data(model, unit: float = 1.0) -> dict:
    part = model.partial
    return cs.schur_data(model.plan, cc.partial_data(model.plan, model.data, part, unit))


@pytest.mark.parametrize("case, reparam", EXACT)
def test_schur_marginal_equals_dense_gaussian(case, reparam):
    with jax.enable_x64(True):
        model = model_for(CASES[case], reparam)
        part = model.partial
        assert part.schur
        data = schur_data(model)
        marginal = log_joint(cs.make_schur_model(model.plan, part))
        full_sites = site_log_probs(model.numpyro_model)
        gone = every_effect_site(model)
        for seed in (1, 2):
            params = random_point(model, seed)
            kept = {k: v for k, v in params.items() if k not in gone}
            expected = every_effect_joint(model, params, full_sites)
            assert marginal(data, kept) == pytest.approx(expected, rel=RTOL, abs=1e-9)


def test_schur_standardised_unit():
    """At the sampler's unit s, the joint at the standardised point is the data-unit joint
    plus log s per standardised scalar."""
    with jax.enable_x64(True):
        model = model_for(CASES["(1 + x | a) collapsed"])
        s = 4.0
        marginal = log_joint(cs.make_schur_model(model.plan, model.partial))
        sites = response_unit_sites(model.plan)
        gone = every_effect_site(model)
        params = {k: v for k, v in random_point(model, 5).items() if k not in gone}
        scaled = {k: np.asarray(v) / s if k in sites else v for k, v in params.items()}
        m = sum(np.size(v) for k, v in params.items() if k in sites)
        expected, got = marginal(schur_data(model), params), marginal(schur_data(model, s),
                                                                     scaled)
        assert got == pytest.approx(expected + m * np.log(s), rel=RTOL, abs=1e-8)


@pytest.mark.parametrize("reparam", ["noncentered", "centered"])
def test_draws_of_every_effect_match_the_dense_conditional(reparam):
    """4,000 draws of all effects at one point: their means are the dense conditional mean
    ``V Z'r / sigma^2`` (``V = (Sigma^-1 + Z'Z / sigma^2)^-1``) within 5 Monte Carlo SEs
    for every effect, their SDs within 10% of ``sqrt(diag V)`` (relative SE 1.1%); the sites
    are the full model's (``z_`` non-centred, ``rc_`` = effect + intercept, centred). A draw
    of the Schur terms' effects that ignored the block set (or the block set's draw given
    the wrong Schur draw) moves the means by many SEs."""
    model = model_for(CASES["(1 + x | a) collapsed"], reparam)
    part, plan = model.partial, model.plan
    data = schur_data(model)
    params = {k: v for k, v in random_point(model, 3).items()
              if k not in every_effect_site(model)}
    draws = 4000
    samples = {k: np.broadcast_to(np.asarray(v, float), (1, draws) + np.shape(v))
               for k, v in params.items()}
    sites = draw_partial_effects(plan, part, data, samples, seed=0)
    kind = "z" if reparam == "noncentered" else "rc"
    assert set(sites) == {getattr(g.sites, kind) for g in plan.groups}
    flat = {**{k: v[0] for k, v in samples.items()}, **{k: v[0] for k, v in sites.items()}}
    order = part.collapsed + part.sampled
    got = np.concatenate([group_effects(plan.groups[i], flat, None).reshape(draws, -1)
                          for i in order], axis=1)
    Z, Sigma = dense_design(model, params, order)
    s2 = params["sigma"] ** 2
    V = np.linalg.inv(np.linalg.inv(Sigma) + Z.T @ Z / s2)
    resid = np.asarray(model.data["y"], float) - sampled_mean(model, params,
                                                               replace(part, sampled=()))
    mean = V @ Z.T @ resid / s2
    se = np.sqrt(np.diag(V) / draws)
    assert np.all(np.abs(got.mean(0) - mean) < 5 * se)
    np.testing.assert_allclose(got.std(0), np.sqrt(np.diag(V)), rtol=0.1)


def test_the_dense_part_runs_only_where_it_is_cheap():
    pen = fl.Model("diameter ~ 1 + (1 | plate) + (1 | sample)", "Penicillin")
    assert pen.partial.schur and pen.compiled.collapsed_terms == ("plate", "sample")
    assert "plate (24 levels) by blocks, sample through a dense Schur complement" in str(pen)
    # 400 x 300 crossed intercepts: 400 * 300^2 + 300^3 multiply-adds, over SCHUR_MAX_COST
    rng = np.random.default_rng(0)
    n = 3000
    a, b = rng.integers(0, 400, n), rng.integers(0, 300, n)
    df = pd.DataFrame({"y": rng.normal(size=n) + rng.normal(size=400)[a],
                       "a": [f"a{v}" for v in a], "b": [f"b{v}" for v in b]})
    big = fl.Model("y ~ 1 + (1 | a) + (1 | b)", df)
    assert cs.schur_cost(400, 300) > cs.SCHUR_MAX_COST
    assert big.partial is not None and not big.partial.schur
    assert big.compiled.collapsed_terms == ("a",)
    assert "a (400 levels) integrated out exactly; b sampled" in str(big)


def test_a_nested_term_among_the_dense_ones_stays_sampled():
    """A dense term centred on another's effects would need them sampled: the rule keeps the
    partial collapse there (``schur_eligible``)."""
    m = fl.Model("y ~ x + (1 | a) + (1 | b) + (1 | b:c)", crossed_data())
    assert m.partial.collapsed_labels == ("b", "b:c") and m.partial.schur  # b:c is a block's
    plan = m.plan
    nested = replace(plan.groups[0], parent=1)  # as if a nested in b, centred on it
    plan = replace(plan, groups=(nested,) + plan.groups[1:])
    assert cs.schur_eligible(m.plan, (0,), 10) and not cs.schur_eligible(plan, (0,), 10)


def balanced_data(seed: int = 4) -> pd.DataFrame:
    """8 subjects x 5 items x 2 conditions, every cell once: every subject's block has the
    same ``Z'Z``, so :func:`~formulang.lower.collapsed_schur.block_classes` finds one class."""
    rng = np.random.default_rng(seed)
    s, i, c = (a.ravel() for a in np.meshgrid(np.arange(8), np.arange(5), np.arange(2),
                                              indexing="ij"))
    y = (1.0 + 0.5 * c + rng.normal(size=8)[s] + rng.normal(size=8)[s] * 0.4 * c
         + rng.normal(size=5)[i] * 0.7 + rng.normal(size=len(s)))
    return pd.DataFrame({"y": y, "cond": np.where(c == 1, "B", "A"),
                         "subj": [f"s{v}" for v in s], "item": [f"i{v}" for v in i]})


def test_blocks_alike_share_one_class_and_give_the_same_density():
    """The class path (fixed ``Pi``) against the dense Gaussian, in float64, and against the
    general path (``Pi`` removed) at the same points; the draws of every effect still match
    the dense conditional's mean within 5 Monte Carlo SEs."""
    with jax.enable_x64(True):
        model = fl.Model("y ~ cond + (1 + cond | subj) + (1 | item)", balanced_data(),
                         reparam="noncentered", collapse=True)
        part = model.partial
        assert part.schur and part.collapsed_labels == ("subj",)
        data = schur_data(model)
        assert data["Pi"].shape == (1, 2, 2, 5, 5) and len(data["ZtZ_class"]) == 1
        general = {k: v for k, v in data.items() if k not in ("Pi", "ZtZ_class")}
        marginal = log_joint(cs.make_schur_model(model.plan, part))
        full_sites = site_log_probs(model.numpyro_model)
        gone = every_effect_site(model)
        y = np.asarray(model.data["y"], float)
        for seed in (1, 2):
            params = random_point(model, seed)
            kept = {k: v for k, v in params.items() if k not in gone}
            expected = every_effect_joint(model, params, full_sites)
            assert marginal(data, kept) == pytest.approx(expected, rel=RTOL, abs=1e-9)
            assert marginal(general, kept) == pytest.approx(expected, rel=RTOL, abs=1e-9)
    params = {k: v for k, v in random_point(model, 3).items() if k not in gone}
    draws = 4000
    samples = {k: np.broadcast_to(np.asarray(v, float), (1, draws) + np.shape(v))
               for k, v in params.items()}
    sites = draw_partial_effects(model.plan, part, data, samples, seed=0)
    flat = {**{k: v[0] for k, v in samples.items()}, **{k: v[0] for k, v in sites.items()}}
    got = np.concatenate([group_effects(model.plan.groups[i], flat, None).reshape(draws, -1)
                          for i in (0, 1)], axis=1)
    Z, Sigma = dense_design(model, params, (0, 1))
    s2 = params["sigma"] ** 2
    V = np.linalg.inv(np.linalg.inv(Sigma) + Z.T @ Z / s2)
    resid = y - sampled_mean(model, params, replace(part, sampled=()))
    assert np.all(np.abs(got.mean(0) - V @ Z.T @ resid / s2) < 5 * np.sqrt(np.diag(V) / draws))


def test_the_gaussian_integral_gradient_is_the_cholesky_one():
    """The hand-written gradient of ``-1/2 log|S| + 1/2 h'S^-1 h`` against JAX's own
    through the Cholesky factor (float64): a missing ``a a'`` term, or ``S^-1`` from the
    wrong factor, is off by O(1)."""
    import jax.numpy as jnp
    import jax.scipy.linalg as jsl

    def plain(S, h):
        R = jnp.linalg.cholesky(S)
        z = jsl.solve_triangular(R, h, lower=True)
        return 0.5 * jnp.sum(z * z) - jnp.sum(jnp.log(jnp.diagonal(R)))

    rng = np.random.default_rng(7)
    with jax.enable_x64(True):
        for n in (1, 3, 12):
            X = rng.normal(size=(n, n))
            S, h = jnp.asarray(np.eye(n) + X @ X.T), jnp.asarray(rng.normal(size=n))
            assert float(cs._gaussian_integral(S, h)) == pytest.approx(float(plain(S, h)),
                                                                       rel=1e-12)
            got = jax.grad(cs._gaussian_integral, argnums=(0, 1))(S, h)
            want = jax.grad(plain, argnums=(0, 1))(S, h)
            np.testing.assert_allclose(got[1], want[1], rtol=1e-10)
            # JAX symmetrises the input, so compare the symmetric parts
            np.testing.assert_allclose(got[0] + got[0].T, want[0] + want[0].T, rtol=1e-10,
                                       atol=1e-12)
