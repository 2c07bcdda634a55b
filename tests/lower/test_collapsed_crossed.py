"""The partial collapse of crossed Gaussian models is exact (issue 20).

One factor's effects (the collapsed set) are integrated out given the other terms' sampled
effects (:mod:`formulang.lower.collapsed_crossed`). Compared with dense brute force on small
crossed data, in float64 (inside ``jax.enable_x64(True)``): the partial model's log joint is
the full model's priors on its sites plus ``N(y*; X theta + Z_s u_s, sigma^2 I + Z_c Sigma_c
Z_c')`` by scipy; the conditional draws of the collapsed effects have the dense conditional's
mean ``V Z_c'r / sigma^2``, ``V = (Sigma_c^-1 + Z_c'Z_c / sigma^2)^-1``. Whole posteriors:
``tests/test_crossed_collapse_fit.py``.
"""

from __future__ import annotations

from dataclasses import replace

import jax
import numpy as np
import pandas as pd
import pytest
import scipy.stats as st
from numpyro import handlers
from numpyro.infer.util import log_density

import formulang as fl
from formulang.errors import FormulangError
from formulang.infer.collapsed_draws import draw_partial_effects
from formulang.lower import collapsed_crossed as cc
from formulang.lower.sites import group_effects
from formulang.lower.units import response_unit_sites

RTOL = 1e-8  # float64 throughout: only rounding separates the two computations


def crossed_data(seed: int = 0, n: int = 90) -> pd.DataFrame:
    """a (9 levels) x b (5 levels), crossed; c (2 levels) nests in b."""
    rng = np.random.default_rng(seed)
    a, b = rng.integers(0, 9, n), rng.integers(0, 5, n)
    x = rng.normal(size=n)
    y = (20.0 + 1.5 * x + rng.normal(size=9)[a] * 2 + rng.normal(size=5)[b]
         + rng.normal(size=9)[a] * 0.5 * x + rng.normal(size=n) * 1.5)
    return pd.DataFrame({"y": y, "x": x, "o": rng.normal(size=n),
                         "a": [f"a{v}" for v in a], "b": [f"b{v}" for v in b],
                         "c": [f"c{v % 2}" for v in b]})


CASES = {
    "intercepts": "y ~ x + (1 | a) + (1 | b)",
    "(1 + x | a) collapsed": "y ~ x + (1 + x | a) + (1 | b)",
    "offset, no intercept, slopes on the sampled factor":
        "y ~ 0 + x + offset(o) + (1 | a) + (1 + x | b)",
}
# (case, parameterisation of every term): each is jitted once (compiling dominates)
EXACT = [("intercepts", "noncentered"), ("(1 + x | a) collapsed", "centered"),
         ("offset, no intercept, slopes on the sampled factor", "centered")]


def random_point(model, seed: int) -> dict:
    """A random value of every sampled site of the full model (see tests/lower/
    test_collapsed.py's twin)."""
    plan, rng = model.plan, np.random.default_rng(seed)
    scale = float(np.std(model.data["y"]))
    point = {"sigma": scale * np.exp(rng.normal(-1.0, 0.5))}
    if plan.intercept:
        point["Intercept_c"] = float(np.mean(model.data["y"]) + rng.normal() * scale)
    if plan.b is not None:
        point["b_c"] = rng.normal(size=plan.b.size)
    for g in plan.groups:
        point[g.sd.name] = scale * np.exp(rng.normal(-1.0, 0.7, size=g.k))
        for name, block in g.sites.lkj:
            raw = np.tril(rng.normal(size=(len(block), len(block))))
            raw[np.diag_indices(len(block))] = np.abs(np.diag(raw)) + 0.3
            point[name] = raw / np.linalg.norm(raw, axis=1, keepdims=True)
        centered = np.asarray(g.centered, dtype=bool)
        if (~centered).any():
            point[g.sites.z] = rng.normal(size=(int((~centered).sum()), g.k))
        if centered.any():
            point[g.sites.rc] = scale * rng.normal(size=(int(centered.sum()), g.k))
    return point


def site_log_probs(model_fn):
    """``f(data, params)``: the log density of each sample site, by name (jitted once)."""
    @jax.jit
    def log_probs(d, p):
        tr = handlers.trace(handlers.substitute(handlers.seed(model_fn, 0), p)).get_trace(d)
        return {k: v["fn"].log_prob(v["value"]).sum() for k, v in tr.items()
                if v["type"] == "sample"}

    return lambda data, params: {k: float(v) for k, v in log_probs(data, params).items()}


def log_joint(model_fn):
    fn = jax.jit(lambda d, p: log_density(model_fn, (d,), {}, p)[0])
    return lambda data, params: float(fn(data, params))


def dense_design(model, params: dict, terms) -> tuple[np.ndarray, np.ndarray]:
    """``(Z, Sigma)`` of the terms ``terms`` (indices), without the module."""
    plan, bound, n = model.plan, model.bound, model.bound.n
    Zs, blocks = [], []
    for i in terms:
        g, gd = plan.groups[i], bound.groups[i]
        k, L = g.k, len(g.levels)
        sd = np.asarray(params[g.sd.name]).ravel()
        chol = np.asarray(params[g.sites.lkj[0][0]]) if g.sites.lkj else np.eye(k)
        tril = sd[:, None] * chol
        Z = np.zeros((n, L * k))
        for j in range(k):
            Z[np.arange(n), gd.codes * k + j] = gd.values[:, j]
        Zs.append(Z)
        blocks += [tril @ tril.T] * L
    Sigma = np.zeros((sum(len(b) for b in blocks),) * 2)
    at = 0
    for b in blocks:
        Sigma[at:at + len(b), at:at + len(b)] = b
        at += len(b)
    return np.hstack(Zs), Sigma


def sampled_mean(model, params: dict, part) -> np.ndarray:
    """offset + X_c theta + the sampled terms' Z u, from the point (numpy)."""
    plan, data = model.plan, model.data
    mean = np.asarray(data["offset"], float).copy()
    if plan.intercept:
        mean += float(params["Intercept_c"])
    if plan.b is not None:
        mean += np.asarray(data["X"]) @ np.asarray(params["b_c"])
    samples = {k: np.asarray(v, float) for k, v in params.items()}
    for i in part.sampled:
        g = plan.groups[i]
        r = group_effects(g, samples, None)
        codes, values = np.asarray(data["codes"][i]), np.asarray(data["values"][i])
        mean += np.sum(values * r[codes], axis=-1)
    return mean


def expected_joint(model, params: dict, integrated, part, full_sites, gone) -> float:
    """The full model's priors on every site but ``gone`` plus ``N(y*; X theta + the
    sampled terms' Z u, sigma^2 I + Z Sigma Z')``, ``Z`` and ``Sigma`` over the ``integrated``
    terms (indices), by scipy."""
    y = np.asarray(model.data["y"], float)
    priors = full_sites(model.data, params)
    prior_part = sum(v for k, v in priors.items() if k != "y" and k not in gone)
    Z, Sigma = dense_design(model, params, integrated)
    cov = params["sigma"] ** 2 * np.eye(len(y)) + Z @ Sigma @ Z.T
    return prior_part + st.multivariate_normal(sampled_mean(model, params, part), cov).logpdf(y)


def model_for(formula: str, reparam="noncentered"):
    model = fl.Model(formula, crossed_data(), reparam=reparam, collapse=True)
    assert model.partial is not None and not model.collapsed
    return model


def blocks_only(model):
    """The model's partial collapse with the other terms' effects sampled (these small
    designs would integrate them out too: tests/lower/test_collapsed_schur.py)."""
    return replace(model.partial, schur=False)


@pytest.mark.parametrize("case, reparam", EXACT)
def test_partial_marginal_equals_dense_gaussian(case, reparam):
    with jax.enable_x64(True):
        model = model_for(CASES[case], reparam)
        part = blocks_only(model)
        data = cc.partial_data(model.plan, model.data, part, 1.0)  # the response's unit
        partial = log_joint(cc.make_partial_model(model.plan, part))
        full_sites = site_log_probs(model.numpyro_model)
        gone = {s for i in part.collapsed for s in (model.plan.groups[i].sites.z,
                                                     model.plan.groups[i].sites.rc)}
        for seed in (1, 2):
            params = random_point(model, seed)
            kept = {k: v for k, v in params.items() if k not in gone}
            expected = expected_joint(model, params, part.collapsed, part, full_sites, gone)
            assert partial(data, kept) == pytest.approx(expected, rel=RTOL, abs=1e-9)


def test_standardised_unit():
    """The sampler's default unit s (a power of two): the joint at the standardised point is
    the data-unit joint plus log s per standardised scalar."""
    with jax.enable_x64(True):
        model = model_for(CASES["(1 + x | a) collapsed"])
        part, s = blocks_only(model), 4.0
        partial = log_joint(cc.make_partial_model(model.plan, part))
        unit = cc.partial_data(model.plan, model.data, part, 1.0)
        std = cc.partial_data(model.plan, model.data, part, s)
        sites = response_unit_sites(model.plan)
        gone = {model.plan.groups[i].sites.z for i in part.collapsed}
        params = {k: v for k, v in random_point(model, 5).items() if k not in gone}
        scaled = {k: np.asarray(v) / s if k in sites else v for k, v in params.items()}
        m = sum(np.size(v) for k, v in params.items() if k in sites)
        expected, got = partial(unit, params), partial(std, scaled)
        assert got == pytest.approx(expected + m * np.log(s), rel=RTOL, abs=1e-8)


@pytest.mark.parametrize("reparam", ["noncentered", "centered"])
def test_conditional_draws_match_the_dense_conditional(reparam):
    """4,000 draws of the collapsed effects at one point: their mean is the dense conditional
    mean within 5 Monte Carlo SEs (sqrt(diag V / 4000)) for every effect, their SDs within
    10% of sqrt(diag V) (the SD of 4,000 normal draws has a relative SE of 1.1%); the sites
    are the full model's (``z_`` non-centred, ``rc_`` = effect + intercept, centred)."""
    model = model_for(CASES["(1 + x | a) collapsed"], reparam)
    part, plan = blocks_only(model), model.plan
    data = cc.partial_data(model.plan, model.data, part, 1.0)
    params = random_point(model, 3)
    draws = 4000
    samples = {k: np.broadcast_to(np.asarray(v, float), (1, draws) + np.shape(v))
               for k, v in params.items()}
    sites = draw_partial_effects(plan, part, data, samples, seed=0)
    (i,) = part.collapsed
    g = plan.groups[i]
    assert set(sites) == ({g.sites.z} if reparam == "noncentered" else {g.sites.rc})
    r = group_effects(g, {**{k: v[0] for k, v in samples.items()},
                          **{k: v[0] for k, v in sites.items()}}, None)  # (draws, L, k)
    Z, Sigma = dense_design(model, params, part.collapsed)
    s2 = params["sigma"] ** 2
    V = np.linalg.inv(np.linalg.inv(Sigma) + Z.T @ Z / s2)
    resid = np.asarray(model.data["y"], float) - sampled_mean(model, params, part)
    mean = V @ Z.T @ resid / s2
    got = r.reshape(draws, -1)
    se = np.sqrt(np.diag(V) / draws)
    assert np.all(np.abs(got.mean(0) - mean) < 5 * se)
    np.testing.assert_allclose(got.std(0), np.sqrt(np.diag(V)), rtol=0.1)


def test_choice_of_the_collapsed_set():
    pen = fl.Model("diameter ~ 1 + (1 | plate) + (1 | sample)", "Penicillin")
    assert pen.partial.collapsed_labels == ("plate",) and pen.partial.sampled_labels == \
        ("sample",)
    # the most effects: a has 9 levels x 2 effects, b 5 x 1; c nests in b and joins it
    df = crossed_data()
    m = fl.Model("y ~ x + (1 | b) + (1 + x | a) + (1 | c:b)", df)
    assert m.partial.collapsed_labels == ("a",)
    m = fl.Model("y ~ x + (1 | a) + (1 | b) + (1 | b:c)", df)
    assert m.partial.collapsed_labels == ("b", "b:c")  # 5 + 5 levels against a's 9
    assert m.partial.sampled_labels == ("a",)
    # nested-only models keep the full collapse, unchanged
    sleep = fl.Model("Reaction ~ Days + (Days | Subject)", "sleepstudy")
    assert sleep.collapsed and sleep.partial is None and sleep.compiled.collapsed_terms == ()
    assert "terms" not in sleep.compiled.to_dict()["collapse"]


def test_switches():
    formula = "diameter ~ 1 + (1 | plate) + (1 | sample)"
    off = fl.Model(formula, "Penicillin", collapse=False)
    assert off.partial is None and "collapse=False" in off.collapse_reason
    forced = fl.Model(formula, "Penicillin", reparam="centered")
    assert forced.partial is None and "reparam='centered'" in forced.collapse_reason
    assert fl.Model(formula, "Penicillin", reparam="centered", collapse=True).partial
    # not Gaussian: collapse=True means the Laplace path (issue 23), which refuses crossed
    # factors (its Hessian is not block-diagonal), saying so
    with pytest.raises(FormulangError, match="Laplace approximation: .*crossed"):
        fl.Model("incidence | trials(size) ~ period + (1 | herd) + (1 | period)", "cbpp",
                 collapse=True)
