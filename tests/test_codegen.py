"""``Model.code()``: the generated NumPyro source is valid, readable Python and defines the same
model as the compiled one (same sites, same log density at the same parameter values)."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

import formulang as fl
from formulang import datasets
from formulang.lower import codegen
from formulang.ir.prior import DISTRIBUTIONS
from formulang.lower.families import FAMILIES

SLEEP = "Reaction ~ Days + (Days | Subject)"
# XLA options for the test programs: they run once, so compiling fast beats running fast
FAST_COMPILE = {"xla_backend_optimization_level": 0, "xla_llvm_disable_expensive_passes": True}
CBPP = "cbind(incidence, size - incidence) ~ period + (1 | herd)"


@pytest.fixture(scope="module")
def data():
    cache = {}

    def load(name):
        if name not in cache:
            cache[name] = datasets.load(name)
        return cache[name].copy()

    return load


def simulated(n_groups=30, seed=1, sizes=None):
    """Rows for every family: gaussian y, counts, 0/1, proportions, positive values."""
    rng = np.random.default_rng(seed)
    sizes = np.asarray(sizes if sizes is not None else rng.integers(2, 9, n_groups))
    g = np.repeat(np.arange(len(sizes)), sizes)
    n = len(g)
    x = rng.normal(size=n)
    u = rng.normal(0, 0.5, len(sizes))[g]
    eta = 0.3 + 0.5 * x + u
    return pd.DataFrame({
        "y": eta + rng.normal(0, 1, n),
        "x": x,
        "x2": rng.normal(size=n),
        "f": rng.choice(["a", "b", "c"], n),
        "g": [f"g{i:03d}" for i in g],
        "count": rng.poisson(np.exp(eta)),
        "binary": rng.binomial(1, 1 / (1 + np.exp(-eta))),
        "prop": np.clip(1 / (1 + np.exp(-eta + rng.normal(0, 0.3, n))), 0.01, 0.99),
        "pos": np.exp(eta + rng.normal(0, 0.3, n)),
        "w": rng.uniform(0.5, 2.0, n),
        "expo": rng.uniform(1.0, 3.0, n),
        "rating": np.digitize(eta, [-0.5, 0.3, 1.0]) + 1,  # ordinal: categories 1..4
    })


def flat(source: str) -> str:
    """Source with statements split over lines joined back: f(\n    a,\n    b\n) -> f(a, b)."""
    source = re.sub(r"([(\[])\n\s+", r"\1", source)
    source = re.sub(r",?\n\s+([)\]])", r"\1", source)
    return re.sub(r",\n\s+", ", ", source)


def run_source(model) -> dict:
    source = model.code()
    compile(source, "<generated>", "exec")
    namespace: dict = {}
    exec(source, namespace)  # generated from the model IR, not user text
    return namespace


def latent_values(model, seed, radius=2.0) -> dict:
    """Values of every latent site, uniform on (-radius, radius) on the unconstrained scale (as
    numpyro's init_to_uniform), made on the host: the model is only traced abstractly (no
    compile) to learn each site's shape and support."""
    import jax
    import jax.numpy as jnp
    import numpyro.distributions.constraints as C
    from numpyro import handlers

    rng = np.random.default_rng(seed)
    values: dict = {}

    def value(site):
        if site["type"] != "sample" or site["is_observed"]:
            return None
        fn, shape = site["fn"], tuple(site["fn"].shape())
        support = fn.support
        while isinstance(support, C.independent):
            support = support.base_constraint
        u = rng.uniform(-radius, radius, shape)
        if support is C.real:
            v = u
        elif support is C.positive:
            v = np.exp(u)
        elif support is C.unit_interval:
            v = 1 / (1 + np.exp(-u))
        elif isinstance(support, C.interval):
            v = support.lower_bound + (support.upper_bound - support.lower_bound) / (
                1 + np.exp(-u))
        elif support is C.ordered_vector:
            v = np.cumsum(np.concatenate([u[..., :1], np.exp(u[..., 1:])], axis=-1), axis=-1)
        elif support is C.corr_cholesky:
            a = rng.uniform(-radius, radius, shape)
            cov = a @ a.T + np.eye(shape[-1])
            d = np.sqrt(np.diag(cov))
            v = np.linalg.cholesky(cov / np.outer(d, d))
        else:  # pragma: no cover - a new kind of parameter
            raise AssertionError(support)
        values[site["name"]] = v
        return jnp.asarray(v)

    def trace(data):
        handlers.trace(handlers.substitute(model.numpyro_model, substitute_fn=value)) \
            .get_trace(data)

    jax.eval_shape(trace, model.data)
    return values


def assert_equivalent(model, seeds=(0, 1), radius=2.0):
    """Same log density, same sites with the same shapes, same deterministic values. One
    compile per model (op-by-op evaluation compiles every operation)."""
    import jax
    from numpyro.infer.util import log_density

    from formulang.lower.sites import derive

    ns = run_source(model)
    args = ns["data_from"](model.bound)
    shapes = {}

    @jax.jit
    def evaluate(params, data, args):
        out = {}
        for tag, fn, a, kw in (("ref", model.numpyro_model, (data,), {}),
                               ("gen", ns["model"], (), args)):
            lp, trace = log_density(fn, a, kw, params)
            shapes[tag] = {k: tuple(np.shape(v["value"]))  # at trace time
                           for k, v in trace.items() if v["type"] == "sample"}
            out[tag] = lp, {k: v["value"] for k, v in trace.items()
                            if v["type"] == "deterministic"}
        return out

    first = latent_values(model, seeds[0], radius)
    evaluate = evaluate.lower(first, model.data, args).compile(FAST_COMPILE)
    for seed in seeds:
        params = first if seed == seeds[0] else latent_values(model, seed, radius)
        out = evaluate(params, model.data, args)
        (ref, _), (gen, gen_det) = out["ref"], out["gen"]
        assert np.isfinite(float(ref))
        np.testing.assert_allclose(float(gen), float(ref), rtol=1e-5)
        # the generated source records b, r_<g>, cor_<g> as deterministic sites; formulang
        # computes them after sampling: the two must agree
        ref_det = derive(model.plan, {k: np.asarray(v)[None, None] for k, v in params.items()})
        assert set(gen_det) <= set(ref_det)
        for name, value in gen_det.items():
            np.testing.assert_allclose(np.asarray(value), ref_det[name][0, 0],
                                       rtol=1e-4, atol=1e-4)
    assert shapes["gen"] == shapes["ref"]
    return ns


def assert_readable(source: str) -> None:
    compile(source, "<generated>", "exec")
    lines = source.splitlines()
    assert max(len(line) for line in lines) <= codegen.WIDTH
    assert source.startswith('"""NumPyro model generated by formulang')
    assert "import numpyro.distributions as dist" in source
    assert "\t" not in source


# ---- equivalence on the reference models ----------------------------------------------------


def test_sleepstudy_correlated(data):
    m = fl.Model(SLEEP, data("sleepstudy"))
    ns = assert_equivalent(m)
    src = m.code()
    assert_readable(src)
    assert "def model(X, y, Subject_codes, Subject_values, offset):" in src
    assert ('numpyro.sample("sd_Subject", dist.FoldedDistribution(dist.StudentT(3.0, 0.0, '
            'jnp.array([140.8, 48.89]))))') in flat(src)
    assert 'dist.LKJCholesky(2, concentration=2.0)' in src
    assert "# (1 + Days | Subject): 18 levels, correlated" in src
    assert 'dist.Normal(eta, sigma), obs=y' in src
    assert ns["FORMULA"] == str(m.formula)
    # data_from gives the raw predictors; the model centres them itself
    args = ns["data_from"](m.bound)
    np.testing.assert_allclose(args["X"] - np.asarray(m.plan.x_means), m.data["X"])
    assert set(args) == {"X", "y", "Subject_codes", "Subject_values", "offset"}


def test_sleepstudy_noncentered(data):
    m = fl.Model(SLEEP, data("sleepstudy"), reparam="noncentered")
    assert m.plan.groups[0].mode == "noncentered"
    assert_equivalent(m)
    assert "z_Subject @ scale_tril_Subject.T" in m.code()


def test_no_intercept_uncorrelated(data):
    m = fl.Model("Reaction ~ 0 + Days + (Days || Subject)", data("sleepstudy"))
    assert not m.plan.intercept and not m.plan.groups[0].correlated_pairs
    ns = assert_equivalent(m)
    src = m.code()
    assert "Intercept_c" not in src and "x_means" not in src and "LKJ" not in src
    assert 'numpyro.deterministic("b", b_c)' in src
    np.testing.assert_allclose(ns["data_from"](m.bound)["X"], m.data["X"])


def test_radon_mixed_parameterisation(data):
    m = fl.Model("log_radon ~ floor + (1 | county)", data("radon"), reparam="auto")
    g = m.plan.groups[0]
    assert g.mode == "mixed"
    assert_equivalent(m)
    src = m.code()
    assert_readable(src)
    nc = np.flatnonzero(~np.asarray(g.centered))
    assert "nc_county = np.array([" in src
    assert ", ".join(map(str, nc[:5])) in src
    assert 'numpyro.sample("z_county"' in src and 'numpyro.sample("rc_county"' in flat(src)
    assert "mixed (" in src


def test_many_levels_mixed_layout_is_compact():
    sizes = np.where(np.arange(240) % 3 == 0, 25, 1)
    m = fl.Model("y ~ x + (1 | g)", simulated(sizes=sizes), reparam="auto")
    assert m.plan.groups[0].mode == "mixed"
    src = m.code()
    assert "np.array(list(" in src
    assert len(src.splitlines()) < 120
    assert_equivalent(m, seeds=(0,))


def test_pastes_nested(data):
    m = fl.Model("strength ~ (1 | batch/cask)", data("Pastes"))
    assert [g.name for g in m.plan.groups] == ["batch", "batch:cask"]
    ns = assert_equivalent(m)
    src = m.code()
    assert_readable(src)
    assert 'numpyro.sample("sd_batch:cask"' in flat(src)
    assert "batch_cask_codes" in src and "def model(y, batch_codes" in src
    assert "# (1 | batch:cask)" in src
    assert "X" not in ns["data_from"](m.bound)


def test_binomial_cbpp(data):
    m = fl.Model(CBPP, data("cbpp"), family="binomial")
    ns = assert_equivalent(m)
    src = m.code()
    assert "dist.BinomialLogits(eta, total_count=trials)" in src
    assert "trials" in ns["data_from"](m.bound)


def test_poisson_with_offset(data):
    m = fl.Model("incidence ~ period + offset(log(size)) + (1 | herd)", data("cbpp"),
                 family="poisson")
    assert np.ptp(m.data["offset"]) > 0
    ns = assert_equivalent(m)
    assert "dist.Poisson(jnp.exp(eta))" in m.code()
    np.testing.assert_allclose(ns["data_from"](m.bound)["offset"], m.data["offset"])


def test_mixed_user_priors_split_vector_sites(data):
    priors = {"b[floor]": "student_t(3, 0, 1)", "sd[county][floor]": "exponential(2)"}
    m = fl.Model("log_radon ~ floor + log_uranium + (1 + floor | county)", data("radon"),
                 priors=priors)
    assert len(m.plan.b.pieces) == 2 and len(m.plan.groups[0].sd.pieces) == 2
    assert_equivalent(m)
    src = m.code()
    assert 'numpyro.sample("b_c_0"' in src and 'numpyro.sample("b_c_1"' in src
    assert "dist.StudentT(3.0, 0.0, jnp.array([1.0]))" in src
    assert "dist.Exponential(jnp.array([2.0]))" in src
    assert "# b[floor]: student_t" in src


def test_block_diagonal_covariance_with_mixed_levels(monkeypatch):
    # || with a factor: the factor's columns (fb, fc) form one correlated block, the intercept
    # and x their own. The parameterisation is set here (every other level centred) so the
    # test covers a block-diagonal Cholesky factor with both z and rc sites.
    from types import SimpleNamespace

    import formulang.model

    def every_other(bound, family, reparam, pilot=None):
        return tuple(SimpleNamespace(centered=tuple(bool(j % 2) for j in range(g.n_levels)),
                                     weights=(0.5,) * g.n_levels, reason="set by the test")
                     for g in bound.groups)

    monkeypatch.setattr(formulang.model, "choose_parameterization", every_other)
    m = fl.Model("y ~ x + (1 + x + f || g)", simulated())
    g = m.plan.groups[0]
    assert [len(b) for b in g.blocks] == [1, 1, 2] and g.mode == "mixed"
    assert_equivalent(m)
    src = flat(m.code())
    assert "np.ix_([2, 3], [2, 3])" in src
    assert 'numpyro.deterministic("cor_g", (L_g @ L_g.T)[np.array([2]), np.array([3])])' in src


def test_terms_on_one_factor(data):
    """(1 + Days | Subject) + (0 + I(Days^2) | Subject) is one term of two blocks: the LKJ
    factor of the correlated block scattered into the identity, as in the compiled model."""
    m = fl.Model("Reaction ~ Days + (1 + Days | Subject) + (0 + I(Days^2) | Subject)",
                 data("sleepstudy"))
    assert [g.blocks for g in m.plan.groups] == [((0, 1), (2,))]
    assert_equivalent(m)
    src = m.code()
    assert_readable(src)
    assert "# (1 + Days | Subject) + (0 + I(Days^2) | Subject): 18 levels, correlated within " \
        "blocks\n    # (Intercept, Days)" in src
    assert 'L_Subject_block = numpyro.sample("L_Subject", dist.LKJCholesky(2' in src


# the column of simulated() each support's responses come from
RESPONSE = {"real": "y", "binary": "binary", "binomial": "cbind(binary, 1 - binary)",
            "count": "count", "positive": "pos", "unit": "prop", "nonnegative": "pos",
            "ordinal": "rating", "categorical": "rating"}


@pytest.mark.parametrize("family", list(FAMILIES))
def test_every_family_in_the_table(family):
    """Every family row, default link: the generated likelihood is the model's."""
    response = RESPONSE[FAMILIES[family].support]
    m = fl.Model(f"{response} ~ x + (1 | g)", simulated(), family=family)
    assert_equivalent(m, seeds=(0,))
    assert_readable(m.code())


@pytest.mark.parametrize("formula, family, link", [
    ("y ~ x + (1 | g)", "student_t", None),
    ("binary ~ x + (1 | g)", "bernoulli", "probit"),
    ("count ~ x + (1 | g)", "negative_binomial", None),
    ("prop ~ x + (1 | g)", "beta", None),
    ("pos ~ x + offset(10 * expo) + (1 | g)", "gamma", "inverse"),
    ("pos ~ x + (1 | g)", "lognormal", None),
    ("y | weights(w) ~ x + f + (1 + x | g)", "gaussian", None),
])
def test_families_and_links(formula, family, link):
    m = fl.Model(formula, simulated(), family=family, link=link)
    # small values keep eta > 0 for the inverse link
    assert_equivalent(m, seeds=(0,), radius=0.5 if link == "inverse" else 2.0)
    assert_readable(m.code())


def test_every_prior_distribution_row_writes_the_distribution_it_builds():
    """Each prior row's source text (generated code) and NumPyro constructor (the model) give
    the same log density, and the row reads its parameters back from what it built."""
    import jax
    import jax.numpy as jnp
    import numpyro.distributions as dist

    values = {"normal": [[0.5], [2.0]], "student_t": [[3.0], [0.5], [2.0]],
              "cauchy": [[0.5], [2.0]], "laplace": [[0.5], [2.0]], "half_normal": [[2.0]],
              "half_cauchy": [[2.0]], "half_student_t": [[3.0], [2.0]],
              "exponential": [[1.5]], "gamma": [[2.0], [0.5]], "inv_gamma": [[2.0], [0.5]],
              "lognormal": [[0.5], [1.0]], "beta": [[2.0], [3.0]],
              "uniform": [[-1.0], [4.0]]}
    assert set(values) == set(DISTRIBUTIONS) - {"lkj"}
    for name, params in values.items():
        spec = DISTRIBUTIONS[name]
        read = spec.read(spec.numpyro(np.asarray(params)))
        np.testing.assert_allclose(np.ravel(read), np.ravel(params), err_msg=name)
        assert all(other.read(spec.numpyro(np.asarray(params))) is None
                   for other in DISTRIBUTIONS.values() if other is not spec), name

    @jax.jit
    def log_probs(x):
        out = {}
        for name, params in values.items():
            params = np.asarray(params)
            ref = DISTRIBUTIONS[name].numpyro(params)
            gen = eval(codegen.distribution(name, params, 1), {"dist": dist, "jnp": jnp})
            assert gen.batch_shape == ref.batch_shape == (1,)
            out[name] = gen.log_prob(x), ref.log_prob(x)
        return out

    for name, (gen, ref) in log_probs(jnp.array([0.3])).items():
        np.testing.assert_allclose(gen, ref, rtol=1e-6, err_msg=name)


def test_literals_and_layout():
    assert codegen.num(140.8) == "140.8" and codegen.num(3) == "3.0"
    assert float(codegen.num(0.16648531011969533)) == 0.16648531011969533
    assert codegen.distribution("normal", np.array([[0.0, 0.0], [1.0, 2.0]]), 2) == \
        "dist.Normal(0.0, jnp.array([1.0, 2.0]))"
    # equal parameters across the vector still give a vector
    assert codegen.distribution("half_normal", np.array([[1.0, 1.0]]), 2) == \
        "dist.HalfNormal(jnp.array([1.0, 1.0]))"
    assert codegen.identifier("batch:cask", set()) == "batch_cask"
    taken = {"g"}
    assert codegen.identifier("g", taken) == "g_2"
    assert codegen.identifier("1st", set()) == "g_1st"
    long = "x = f(" + ", ".join(str(i) for i in range(60)) + ")"
    lines = codegen.format_statement(long)
    assert len(lines) > 1 and max(map(len, lines)) <= codegen.WIDTH
    compile("\n".join(lines), "<t>", "exec")
    text = 'y = g("a, b, c", ' + ", ".join(f"h{i}(z)" for i in range(20)) + ")  # note"
    lines = codegen.format_statement(text, "    ")
    compile("def f():\n" + "\n".join(lines), "<t>", "exec")
    assert max(map(len, lines)) <= codegen.WIDTH
    assert any('"a, b, c"' in line for line in lines)


# ---- formulas for family parameters (sigma ~ x) ---------------------------------------------


@pytest.mark.parametrize("formula, family", [
    ("y ~ x + (1 | g); sigma ~ x", "gaussian"),
    ("y ~ x + (1 | g); sigma ~ x + (1 | g)", "gaussian"),
    ("count ~ x; zi ~ x", "zero_inflated_poisson"),
    ("y ~ x; nu ~ 1", "student_t"),
    ("pos ~ x; shape ~ x", "gamma"),
    ("count ~ x + (1 | g); hu ~ x + (1 + x | g)", "hurdle_poisson"),
    ("y ~ x; sigma ~ 0 + x + offset(0.1 * x2)", "gaussian"),
])
def test_family_parameters_with_formulas(formula, family):
    """Each sub-formula's coefficients and group effects are sampled under the library's
    sites, the parameter is link^-1(eta) per row, and the log density is the model's."""
    m = fl.Model(formula, simulated(), family=family)
    assert m.plan.dpars
    ns = assert_equivalent(m, seeds=(0, 1))
    src = m.code()
    assert_readable(src)
    args = ns["data_from"](m.bound)
    n = len(m.bound.y)
    for d in m.plan.dpars:
        link = fl.lower.links.LINKS[d.link]
        assert f"{d.name} = {link.code('eta_' + d.name)}" in src
        # predicted, not one value
        assert not re.search(rf"^\s*{d.name} = numpyro\.sample", src, re.M)
        if d.b is not None:
            assert args["X_" + d.name].shape == (n, len(d.slope_columns))
    assert set(args) == set(ns["model"].__code__.co_varnames[:ns["model"].__code__.co_argcount])


def test_sub_formula_names_and_priors_are_its_own():
    """sigma ~ x + (1 | g): the sites and the prior keys are the sub-formula's (b_sigma_c,
    sd_g__sigma; b_sigma[x], sd_sigma[g]), and the response's priors stay the response's
    (a sub-formula's priors once overwrote them in the plan)."""
    m = fl.Model("y ~ x + (1 | g); sigma ~ x + (1 | g)", simulated())
    src = flat(m.code())
    priors = m.plan.priors
    assert f"#   Intercept ~ {priors.lookup('Intercept')} (on centred predictors)" in src
    assert f"#   b_sigma[x] ~ {priors.lookup('b', coef='x', dpar='sigma')}" in src
    assert f"#   sd_sigma[g][Intercept] ~ {priors.lookup('sd', 'g', 'Intercept', 'sigma')}" in src
    assert 'numpyro.sample("Intercept_c", ' + codegen.distribution(
        "student_t", m.plan.prior_params["Intercept"][:, 0]) in src
    np.testing.assert_allclose(m.plan.prior_params["Intercept"][:, 0],
                               [v for _, v in priors.lookup("Intercept").params])
    np.testing.assert_allclose(m.plan.prior_params["Intercept_sigma"][:, 0],
                               [v for _, v in priors.lookup("Intercept", dpar="sigma").params])
    assert 'b_sigma_c = numpyro.sample("b_sigma_c"' in src
    assert 'sd_g__sigma = numpyro.sample("sd_g__sigma"' in src
    assert 'numpyro.deterministic("b_sigma", ' in src
    assert "sigma = jnp.exp(eta_sigma)" in src and "dist.Normal(eta, sigma)" in src
    assert "def model(X, y, g_codes, g_values, offset, X_sigma, g__sigma_codes, " \
        "g__sigma_values):" in src
