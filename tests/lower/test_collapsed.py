"""The collapsed Gaussian likelihood and the conditional effect draws are exact (issue 7).

Everything is compared with dense brute force on small data, in float64 (inside
``jax.enable_x64(True)``, so other tests keep float32): the marginal density
``N(y*; X theta, sigma^2 I + Z Sigma Z')`` by scipy, the conditional of the effects
``u | y ~ N(V Z'r / sigma^2, V)``, ``V = (Sigma^-1 + Z'Z / sigma^2)^-1``, by dense inverses.
Parameter points are random (SDs, correlations, coefficients, effects; see random_point).
The agreement of whole posteriors is in ``tests/test_collapsed_fit.py``.
"""

from __future__ import annotations

import jax
import numpy as np
import pandas as pd
import pytest
import scipy.stats as st
from numpyro import handlers
from numpyro.infer.util import log_density

import formulang as fl
import formulang.lower.collapsed as collapsed
from formulang.errors import FormulangError
from formulang.infer.collapsed_draws import conditional_standardized, draw_group_effects
from formulang.lower.collapsed import (block_layout, block_scale, block_terms, choose_collapse,
                                       collapsed_data, make_collapsed_model, scatter_index,
                                       sufficient_statistics)
from formulang.lower.families import family

RTOL = 1e-8  # float64 throughout: only rounding separates the two computations


def small_data(seed: int = 0, n: int = 60) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    g = rng.integers(0, 7, n)
    h = rng.integers(0, 3, n)
    x = rng.normal(size=n)
    return pd.DataFrame({
        "y": 50.0 + 2.0 * x + rng.normal(size=7)[g] * 3 + rng.normal(size=n) * 2,
        "x": x, "x2": rng.normal(size=n), "o": rng.normal(size=n),
        "g": [f"g{v}" for v in g], "h": [f"h{v}" for v in h]})


CASES = {
    "one factor, k=1": "y ~ x + (1 | g)",
    "one factor, k=2 correlated": "y ~ x + (1 + x | g)",
    "|| blocks": "y ~ x + (1 + x || g)",
    "k=3 (jnp.linalg path)": "y ~ x + (1 + x + x2 | g)",
    "two terms on one factor": "y ~ x + (1 | g) + (0 + x | g)",
    "nested (padding)": "y ~ 1 + (1 | h/g)",
    "nested, slopes": "y ~ x + (1 + x | h) + (1 | h:g)",
    "offset": "y ~ x + offset(o) + (1 | g)",
    "no intercept": "y ~ 0 + x + (1 | g)",
}


# Every JAX computation here is jitted once per model and reused across parameter points: op
# by op, each new shape compiles dozens of small kernels, slow on the shared CI machine.

def random_point(model, seed: int) -> dict:
    """A random value of every sampled site of the full model (numpy: sampling from the
    priors in JAX compiles slowly): coefficients around the data, log-normal SDs and sigma,
    random correlation Cholesky factors, standard normal z, rc at the scale of the SDs."""
    plan, rng = model.plan, np.random.default_rng(seed)
    scale = float(np.std(model.data["y"]))
    point = {"sigma": scale * np.exp(rng.normal(-1.0, 0.5))}
    if plan.intercept:
        point["Intercept_c"] = float(np.mean(model.data["y"]) + rng.normal() * scale)
    if plan.b is not None:
        assert len(plan.b.pieces) == 1
        point["b_c"] = rng.normal(size=plan.b.size)
    for g in plan.groups:
        assert len(g.sd.pieces) == 1
        point[f"sd_{g.name}"] = scale * np.exp(rng.normal(-1.0, 0.7, size=g.k))
        multi = [block for block in g.blocks if len(block) > 1]
        for i, block in enumerate(multi):
            raw = np.tril(rng.normal(size=(len(block), len(block))))
            raw[np.diag_indices(len(block))] = np.abs(np.diag(raw)) + 0.3
            name = f"L_{g.name}" if len(multi) == 1 else f"L_{g.name}_{i}"
            point[name] = raw / np.linalg.norm(raw, axis=1, keepdims=True)  # unit rows
        centered = np.asarray(g.centered, dtype=bool)
        if (~centered).any():
            point[f"z_{g.name}"] = rng.normal(size=(int((~centered).sum()), g.k))
        if centered.any():
            point[f"rc_{g.name}"] = scale * rng.normal(size=(int(centered.sum()), g.k))
    return point


def log_joint(*model_fns):
    """``f(data, params)``: the log joint densities of ``model_fns`` at constrained params."""
    fn = jax.jit(lambda d, p: [log_density(m, (d,), {}, p)[0] for m in model_fns])
    return lambda data, params: [float(v) for v in fn(data, params)]


def site_log_probs(model_fn):
    """``f(data, params)``: the log density of each sample site, by name."""
    @jax.jit
    def log_probs(d, p):
        tr = handlers.trace(handlers.substitute(handlers.seed(model_fn, 0), p)).get_trace(d)
        return {k: v["fn"].log_prob(v["value"]).sum() for k, v in tr.items()
                if v["type"] == "sample"}

    return lambda data, params: {k: float(v) for k, v in log_probs(data, params).items()}


def dense(model, params: dict) -> dict:
    """X_c, theta, Z, Sigma, sigma, y* and each term's scale_tril, built without the module."""
    plan, data, bound = model.plan, model.data, model.bound
    n = bound.n
    y = np.asarray(data["y"]) - np.asarray(data["offset"])
    X = np.asarray(data["X"])
    theta = np.asarray(params["b_c"]).ravel() if plan.b is not None else np.zeros(0)
    if plan.intercept:
        X = np.column_stack([np.ones(n), X])
        theta = np.concatenate([[float(params["Intercept_c"])], theta])
    Zs, blocks, trils = [], [], []
    for g, gd in zip(plan.groups, bound.groups):
        k, L = g.k, len(g.levels)
        sd = np.asarray(params[f"sd_{g.name}"]).ravel()
        corr_chol = np.asarray(params[f"L_{g.name}"]) if f"L_{g.name}" in params else np.eye(k)
        tril = sd[:, None] * corr_chol
        Z = np.zeros((n, L * k))
        for j in range(k):
            Z[np.arange(n), gd.codes * k + j] = gd.values[:, j]
        Zs.append(Z)
        blocks += [tril @ tril.T] * L
        trils.append(tril)
    Sigma = np.zeros((sum(b.shape[0] for b in blocks),) * 2)
    at = 0
    for b in blocks:
        Sigma[at:at + len(b), at:at + len(b)] = b
        at += len(b)
    return {"X": X, "theta": theta, "Z": np.hstack(Zs), "Sigma": Sigma,
            "sigma": float(params["sigma"]), "y": y, "trils": trils}


def dense_marginal(d: dict) -> float:
    cov = d["sigma"] ** 2 * np.eye(len(d["y"])) + d["Z"] @ d["Sigma"] @ d["Z"].T
    return float(st.multivariate_normal(d["X"] @ d["theta"], cov).logpdf(d["y"]))


def dense_conditional(d: dict) -> tuple[np.ndarray, np.ndarray]:
    s2 = d["sigma"] ** 2
    V = np.linalg.inv(np.linalg.inv(d["Sigma"]) + d["Z"].T @ d["Z"] / s2)
    return V @ d["Z"].T @ (d["y"] - d["X"] @ d["theta"]) / s2, V


def collapsed_parts(model, scale=1.0):
    """The collapsed model's layout and data; ``scale=1.0``: in the response's own unit, so
    its sites are the full model's (the default standardises: see test_standardised_unit)."""
    layout = block_layout(model.bound, model.family)
    return layout, collapsed_data(model.plan, model.data, layout, scale=scale)


def group_site(name: str) -> bool:
    return name.startswith(("z_", "rc_"))


@pytest.mark.parametrize("case", list(CASES))
def test_marginal_equals_dense_gaussian(case):
    with jax.enable_x64(True):
        model = fl.Model(CASES[case], small_data(), reparam="noncentered", collapse=True)
        layout, cdata = collapsed_parts(model)
        full_sites = site_log_probs(model.numpyro_model)
        collapsed_joints = log_joint(*(make_collapsed_model(model.plan, layout, closed_form=cf)
                                       for cf in (True, False)))
        for seed in (1, 2):
            params = random_point(model, seed)
            theta_sites = {k: v for k, v in params.items() if not group_site(k)}
            expected = dense_marginal(dense(model, params))
            priors = full_sites(model.data, params)
            prior_part = sum(v for k, v in priors.items() if k != "y" and not group_site(k))
            # the collapsed joint (closed forms, and jnp.linalg) is the full model's priors on
            # the same sites plus the dense Gaussian marginal: same priors, exact integral
            for value in collapsed_joints(cdata, theta_sites):
                assert value == pytest.approx(prior_part + expected, rel=RTOL, abs=1e-9)


@pytest.mark.parametrize("case", ["one factor, k=2 correlated", "nested, slopes", "offset"])
def test_standardised_unit(case):
    """The sampler's default: statistics of y* / s and the sites in the response's unit
    sampled divided by s (s a power of two near the residuals' RMS). Its joint density at the
    standardised point is the data-unit joint plus log s per standardised scalar (the change
    of variables' Jacobian); the correlations are not rescaled."""
    from formulang.lower.units import response_unit_sites

    with jax.enable_x64(True):
        model = fl.Model(CASES[case], small_data(12), reparam="noncentered", collapse=True)
        layout, unit = collapsed_parts(model)
        _, std = collapsed_parts(model, scale=None)
        s = float(std["stats"]["scale"])
        assert s == 2.0 ** round(np.log2(s)) and s != 1.0
        joint = log_joint(make_collapsed_model(model.plan, layout))
        sites = response_unit_sites(model.plan)
        for seed in (13, 14):
            params = {k: v for k, v in random_point(model, seed).items() if not group_site(k)}
            scaled = {k: np.asarray(v) / s if k in sites else v for k, v in params.items()}
            m = sum(np.size(v) for k, v in params.items() if k in sites)
            (expected,) = joint(unit, params)
            (got,) = joint(std, scaled)
            assert got == pytest.approx(expected + m * np.log(s), rel=RTOL, abs=1e-8)


def test_nested_case_pads_blocks():
    layout = block_layout(fl.bind("y ~ 1 + (1 | h/g)", small_data()), family("gaussian"))
    sizes = [1 + int(np.sum(layout.level_block[1] == o)) for o in range(layout.n_blocks)]
    assert not layout.shared and layout.q == max(sizes) > min(sizes)


@pytest.mark.parametrize("reparam", ["noncentered", "centered", "auto"])
@pytest.mark.parametrize("formula", ["y ~ x + (1 + x | g)", "y ~ 1 + (1 | h/g)",
                                     "y ~ x + (1 | g) + (0 + x | g)"])
def test_full_joint_is_collapsed_joint_times_conditional(formula, reparam):
    """log p_full(theta, sites) = log p_collapsed(theta) + log p(sites | theta, y): the Gaussian
    integral identity, with the Jacobian of the sites: z_l = scale_tril^-1 r_l (non-centred)
    or rc_l = r_l + parent effect (+ the intercept on the intercept effect; centred, unit
    Jacobian)."""
    with jax.enable_x64(True):
        model = fl.Model(formula, small_data(3), reparam=reparam, collapse=True)
        layout, cdata = collapsed_parts(model)
        full_joint = log_joint(model.numpyro_model)
        collapsed_joint = log_joint(make_collapsed_model(model.plan, layout))
        for seed in (4, 5):
            params = random_point(model, seed)
            d = dense(model, params)
            effects = effects_from_sites(model, params, d["trils"])
            u = np.concatenate([r.ravel() for r in effects])
            mean, V = dense_conditional(d)
            log_jac = sum(np.sum(~np.asarray(g.centered)) * np.log(abs(np.linalg.det(t)))
                          for g, t in zip(model.plan.groups, d["trils"]))
            conditional = st.multivariate_normal(mean, V).logpdf(u) + log_jac
            (full,) = full_joint(model.data, params)
            theta_sites = {k: v for k, v in params.items() if not group_site(k)}
            (coll,) = collapsed_joint(cdata, theta_sites)
            assert full == pytest.approx(coll + conditional, rel=RTOL, abs=1e-8)


def effects_from_sites(model, params, trils) -> list[np.ndarray]:
    """r per term (levels x k) from z / rc, as the full model defines them."""
    out = []
    for g, tril in zip(model.plan.groups, trils):
        centered = np.asarray(g.centered, dtype=bool)
        r = np.zeros((len(centered), g.k))
        if (~centered).any():
            r[~centered] = np.asarray(params[f"z_{g.name}"]) @ tril.T
        if centered.any():
            rc = np.array(params[f"rc_{g.name}"], dtype=float).reshape(-1, g.k)  # a copy
            if g.parent is not None:
                rc = rc - out[g.parent][np.asarray(g.parent_levels)[centered]]
            if g.intercept_loc is not None:  # the intercept effect centred on the intercept
                rc[:, g.intercept_loc] -= float(params["Intercept_c"])
            r[centered] = rc
        out.append(r)
    return out


def block_to_dense_index(model, layout):
    """For each dense coordinate (term, level, effect): its (block, position)."""
    blocks, positions = [], []
    for gi, g in enumerate(model.plan.groups):
        for level in range(len(g.levels)):
            for j in range(g.k):
                blocks.append(layout.level_block[gi][level])
                positions.append(layout.level_slot[gi][level] + j)
    return np.asarray(blocks), np.asarray(positions)


@pytest.mark.parametrize("formula", ["y ~ x + (1 | g)", "y ~ x + (1 + x | g)",
                                     "y ~ 1 + (1 | h/g)", "y ~ x + (1 + x + x2 | g)"])
def test_conditional_moments_equal_dense(formula):
    """The draw v = R^-T (R^-1 c + e): e = 0 gives the mean, e = unit vectors the columns of
    R^-T, whose outer product is M^-1. Mapped back by T: the dense mean and covariance of u."""
    with jax.enable_x64(True):
        model = fl.Model(formula, small_data(6), collapse=True)
        layout, cdata = collapsed_parts(model)
        stats = cdata["stats"]
        params = random_point(model, 8)
        d = dense(model, params)
        T = block_scale(model.plan, layout, d["trils"], None if layout.shared
                        else scatter_index(model.plan, layout), xp=np)
        delta = d["theta"] - stats["theta0"]
        _, A, c = block_terms(stats, delta, np.float64(d["sigma"]), T, xp=np)
        B, q = layout.n_blocks, layout.q
        mean_v = conditional_standardized(A, c, np.zeros((B, q)))
        cols = np.stack([conditional_standardized(A, c, np.broadcast_to(np.eye(q)[i], (B, q)))
                         - mean_v for i in range(q)], axis=-1)  # (B, q, q): R^-T
        Tb = np.broadcast_to(T, (B, q, q))
        mean_u = (Tb @ mean_v[..., None])[..., 0]
        cov_u = Tb @ cols @ np.swapaxes(cols, -1, -2) @ np.swapaxes(Tb, -1, -2)
        mean, V = dense_conditional(d)
        blk, pos = block_to_dense_index(model, layout)
        np.testing.assert_allclose(mean_u[blk, pos], mean, rtol=1e-7,
                                   atol=1e-9 * np.abs(mean).max())
        same = blk[:, None] == blk[None, :]
        got = np.where(same, cov_u[blk[:, None], pos[:, None], pos[None, :]], 0.0)
        np.testing.assert_allclose(got, V, rtol=1e-7, atol=1e-9 * np.abs(V).max())


@pytest.mark.parametrize("reparam", ["noncentered", "centered"])
def test_draws_match_dense_conditional_and_map_to_sites(reparam):
    """4000 draws at one parameter point: sample mean and covariance of every effect within
    Monte Carlo error of the dense conditional. Bounds: 5 standard errors per quantity
    (mean: sqrt(V_ii / D); covariance entry: sqrt((V_ii V_jj + V_ij^2) / D)); with ~60
    coordinates and ~2000 covariance entries a false alarm has probability ~1e-3. The sites
    are the full model's: z = scale_tril^-1 r, rc = r + parent effect."""
    formula = "y ~ 1 + (1 | h/g)" if reparam == "centered" else "y ~ x + (1 + x | g)"
    with jax.enable_x64(True):
        model = fl.Model(formula, small_data(9), reparam=reparam, collapse=True)
        layout, cdata = collapsed_parts(model)
        params = random_point(model, 10)
        d = dense(model, params)
        D = 4000
        samples = {k: np.broadcast_to(v, (1, D) + np.shape(v)) for k, v in params.items()
                   if not group_site(k)}
        sites, effects = draw_group_effects(model.plan, layout, cdata["stats"], samples, seed=3)
        u = np.concatenate([effects[f"r_{g.name}"][0].reshape(D, -1)
                            for g in model.plan.groups], axis=1)
        mean, V = dense_conditional(d)
        sd = np.sqrt(np.diag(V))
        assert np.all(np.abs(u.mean(0) - mean) <= 5 * sd / np.sqrt(D))
        cov = np.cov(u, rowvar=False)
        se = np.sqrt((np.outer(sd ** 2, sd ** 2) + V ** 2) / D)
        assert np.all(np.abs(cov - V) <= 5 * se)
        # jointly: whitened draws have E|w|^2 / dim = 1, standard error sqrt(2 / (D dim)),
        # far tighter than any one entry (a 5% error in the draw's scale fails it)
        w = np.linalg.solve(np.linalg.cholesky(V), (u - mean).T)
        assert abs(np.mean(w ** 2) - 1.0) <= 5 * np.sqrt(2.0 / w.size)
        rebuilt = effects_from_sites(model, {**params, **{k: v[0, 17] for k, v in sites.items()}},
                                     d["trils"])
        for g, r in zip(model.plan.groups, rebuilt):
            np.testing.assert_allclose(r, effects[f"r_{g.name}"][0, 17], rtol=1e-9, atol=1e-9)
        again, _ = draw_group_effects(model.plan, layout, cdata["stats"], samples, seed=3)
        other, _ = draw_group_effects(model.plan, layout, cdata["stats"], samples, seed=4)
        for k in sites:
            np.testing.assert_array_equal(sites[k], again[k])  # deterministic given the seed
            assert not np.array_equal(sites[k], other[k])


def test_statistics_stream_in_chunks(monkeypatch):
    model = fl.Model("y ~ x + offset(o) + (1 + x | h) + (1 | h:g)", small_data(11))
    layout = block_layout(model.bound, model.family)
    whole = sufficient_statistics(model.plan, model.data, layout)
    monkeypatch.setattr(collapsed, "_CHUNK_ENTRIES", 50)  # a few rows per chunk
    chunked = sufficient_statistics(model.plan, model.data, layout)
    for k in whole:
        np.testing.assert_allclose(chunked[k], whole[k], rtol=1e-12, atol=1e-9)
    # the statistics sit around the least-squares fit: X'y0 is (nearly) zero
    assert np.all(np.abs(whole["Xty"]) < 1e-6 * np.sqrt(whole["yty"] * np.diag(whole["XtX"])))


def test_float32_sampler_density_is_close_to_float64():
    """The sampler runs in float32. Around the least-squares fit, r'r has no cancellation, so
    on sleepstudy (response mean 300, residual SD 25) the float32 log density stays within
    1e-3 of float64 (without centring y*'y* ~ 1.7e7 would cost ~1 unit of rounding)."""
    model = fl.Model("Reaction ~ Days + (Days | Subject)", fl.datasets.load("sleepstudy"))
    layout, cdata = collapsed_parts(model, scale=None)  # as the sampler runs: standardised
    joint = log_joint(make_collapsed_model(model.plan, layout))
    s = float(cdata["stats"]["scale"])
    sites = {"Intercept_c": 298.5 / s, "b_c": np.array([10.4]) / s,
             "sd_Subject": np.array([25.0, 6.0]) / s,
             "L_Subject": np.array([[1.0, 0.0], [0.1, np.sqrt(0.99)]]), "sigma": 25.5 / s}
    (low,) = joint(cdata, sites)
    with jax.enable_x64(True):
        (high,) = joint(cdata, sites)
    assert abs(low - high) < 1e-3


# ---- eligibility ---------------------------------------------------------------------------

def test_eligible_models_are_collapsed_under_auto():
    for formula, data in [("Reaction ~ Days + (Days | Subject)", "sleepstudy"),
                          ("strength ~ 1 + (1 | batch/cask)", "Pastes")]:
        m = fl.Model(formula, fl.datasets.load(data))
        assert m.collapsed and m.collapse_reason == "collapsed"
        assert "integrated out exactly" in str(m)


@pytest.mark.parametrize("kwargs, words", [
    # (a binomial model with collapse=True takes the embedded Laplace path, issue 23:
    # tests/lower/test_laplace.py; a family with neither integral is refused; crossed
    # Gaussian factors are partially collapsed, tests/lower/test_collapsed_crossed.py)
    (dict(formula="Reaction ~ Days + (Days | Subject)", data="sleepstudy", family="student_t"),
     ["student_t", "gaussian(identity)"]),
    (dict(formula="Reaction ~ Days + (Days | Subject)", data="sleepstudy", link="log"),
     ["gaussian(log)"]),
])
def test_ineligible_models(kwargs, words):
    kwargs = dict(kwargs)
    formula, data = kwargs.pop("formula"), fl.datasets.load(kwargs.pop("data"))
    m = fl.Model(formula, data, **kwargs)
    assert not m.collapsed
    assert all(w in m.collapse_reason for w in words)
    assert "Group effects: sampled (not collapsed" in str(m)
    with pytest.raises(FormulangError) as err:
        fl.Model(formula, data, collapse=True, **kwargs)
    assert "collapse=True" in str(err.value) and all(w in str(err.value) for w in words)


def test_weights_are_ineligible():
    df = small_data()
    df["w"] = np.linspace(0.5, 2.0, len(df))
    assert not fl.Model("y | weights(w) ~ x + (1 | g)", df).collapsed
    with pytest.raises(FormulangError, match="weights"):
        fl.Model("y | weights(w) ~ x + (1 | g)", df, collapse=True)


def test_blocks_too_large():
    rng = np.random.default_rng(0)
    df = pd.DataFrame({"y": rng.normal(size=300), "h": ["a", "b"] * 150,
                       "g": [f"g{i}" for i in range(150)] * 2})
    assert not fl.Model("y ~ 1 + (1 | h/g)", df).collapsed
    with pytest.raises(FormulangError, match=r"holds 76 group effects.*q = 64"):
        fl.Model("y ~ 1 + (1 | h/g)", df, collapse=True)


def test_explicit_reparam_and_switches():
    data = fl.datasets.load("sleepstudy")
    forced = fl.Model("Reaction ~ Days + (Days | Subject)", data, reparam="noncentered")
    assert not forced.collapsed and "reparam='noncentered'" in forced.collapse_reason
    assert fl.Model("Reaction ~ Days + (Days | Subject)", data, reparam="noncentered",
                    collapse=True).collapsed
    off = fl.Model("Reaction ~ Days + (Days | Subject)", data, collapse=False)
    assert not off.collapsed and "collapse=False" in off.collapse_reason
    with pytest.raises(FormulangError, match="collapse must be"):
        fl.Model("Reaction ~ Days + (Days | Subject)", data, collapse="yes")
    no_groups = choose_collapse(fl.bind("y ~ x", small_data()), forced.family)
    assert not no_groups.collapsed and "no group terms" in no_groups.reason
