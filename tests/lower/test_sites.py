"""formulang.lower.sites: the names of sampler sites and reported parameters, and the map
between them; group terms named by their grouping factor.

- the names, and flat (brms) names read back apart;
- the map both ways: ``to_sites(to_params(x)) == x`` on plans that use every kind of site
  (pieces, several LKJ blocks, centred, non-centred and mixed levels, nested terms, the
  intercept as centre);
- no module but sites.py spells a site name (an ``ast`` walk over the package);
- ``(Days || Subject)`` and ``(1 | Subject) + (0 + Days | Subject)`` are one model with brms's
  names, which a ``sd[Subject]`` prior covers.
"""

from __future__ import annotations

import ast
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import formulang as fl
from formulang import FormulangError
from formulang.lower import sites
from formulang.lower.site_values import to_sites
from formulang.lower.sites import (POPULATION, GroupSites, flat_effects, flat_parameters,
                                   parameters, parse_flat, piece_names, to_params)

# ---- names -----------------------------------------------------------------------------------


def test_group_sites_names():
    s = GroupSites("batch:cask", ((0, 1), (2,)))
    assert (s.sd, s.z, s.rc, s.r, s.cor, s.L) == (
        "sd_batch:cask", "z_batch:cask", "rc_batch:cask", "r_batch:cask", "cor_batch:cask",
        "L_batch:cask")
    assert (s.effect_dim, s.level_dim, s.pair_dim) == (
        "batch:cask__effect", "batch:cask__level", "batch:cask__pair")
    assert s.lkj == (("L_batch:cask", (0, 1)),)  # one correlated block: no index
    assert GroupSites("g", ((0, 1), (2, 3, 4))).lkj == (("L_g_0", (0, 1)), ("L_g_1", (2, 3, 4)))
    assert GroupSites("g", ((0,), (1,))).lkj == ()
    assert (POPULATION.intercept, POPULATION.slopes, POPULATION.coefficients) == (
        "Intercept_c", "b_c", "b")


@given(st.text(min_size=1, max_size=8), st.integers(1, 6))
def test_piece_names(stem, n):
    names = piece_names(stem, n)
    assert len(names) == len(set(names)) == n
    assert names == (stem,) if n == 1 else all(name.startswith(stem + "_") for name in names)


def data(seed=0, groups=6, rows=8) -> pd.DataFrame:
    """Labels that contain the characters names are built from: ``_``, ``,``, ``:``."""
    rng = np.random.default_rng(seed)
    g = np.repeat(np.arange(groups), rows)
    return pd.DataFrame({"y": rng.normal(size=g.size), "x_1": rng.normal(size=g.size),
                         "z": rng.normal(size=g.size), "w": rng.normal(size=g.size),
                         "g_a": [f"lev,{i}_b" for i in g],
                         "h": [f"h{i % 3}" for i in range(g.size)]})


def test_flat_names_read_back_exactly():
    m = fl.Model("y ~ x_1 + (1 + x_1 | g_a) + (1 | g_a:h)", data())
    plan = m.plan
    flats = flat_parameters(plan)
    assert [p.name for p in flats] == [
        "sd_g_a__Intercept", "sd_g_a__x_1", "cor_g_a__Intercept__x_1", "sd_g_a:h__Intercept",
        "b_Intercept", "b_x_1", "sigma"]
    for p in flats:
        assert parse_flat(p.name, plan) == p
    assert [p.short for p in flats] == ["sd(Intercept)", "sd(x_1)", "cor(Intercept,x_1)",
                                        "sd(Intercept)", "Intercept", "x_1", "sigma"]
    for g in plan.groups:
        names = flat_effects(g)
        assert len(names) == len(g.levels) * g.k
        read = [parse_flat(name, plan) for name in names]
        assert {(f.kind, f.variable, f.group) for f in read} == {("r", g.sites.r, g.name)}
        assert [f.entries for f in read] == [(lev, col) for lev in g.levels for col in g.columns]
    assert parse_flat("r_g_a[lev,0_b,x_1]", plan).entries == ("lev,0_b", "x_1")
    assert parse_flat("lp__", plan) is None and parse_flat("sd_h__Intercept", plan) is None


def test_parameters_name_every_reported_quantity():
    m = fl.Model("y ~ x_1 + (1 + x_1 | g_a)", data())
    ps = parameters(m.plan)
    assert list(ps) == ["b", "sd_g_a", "cor_g_a", "r_g_a", "sigma"]
    assert ps["cor_g_a"].entries == ("Intercept__x_1",) and ps["cor_g_a"].group == "g_a"
    assert ps["r_g_a"].kind == "r" and len(ps["r_g_a"].entries) == 6


# ---- the map, both ways ------------------------------------------------------------------------


def _strong_data(seed=0) -> pd.DataFrame:
    """Groups whose data pin each level's intercept down: the intercept becomes their centre."""
    rng = np.random.default_rng(seed)
    g = np.repeat(np.arange(8), 60)
    x = rng.normal(size=g.size)
    y = 3.0 + rng.normal(size=8)[g] * 2.0 + 0.5 * x + rng.normal(size=g.size) * 0.1
    return pd.DataFrame({"y": y, "x": x, "g": [f"g{i}" for i in g]})


def _models():
    sleep = fl.datasets.load("sleepstudy")
    split_priors = {"b[Days]": "normal(0, 10)", "b[I(Days^2)]": "student_t(3, 0, 1)",
                    "sd[Subject][Days]": "half_normal(10)"}
    return {
        "noncentered": fl.Model("Reaction ~ Days + (Days | Subject)", sleep,
                                reparam="noncentered"),
        "pieces and blocks": fl.Model(
            "Reaction ~ Days + I(Days^2) + (1 + Days | Subject) + (0 + I(Days^2) | Subject)",
            sleep, priors=split_priors, reparam="centered"),
        "two lkj blocks": fl.Model("y ~ x_1 + (1 + x_1 | g_a) + (0 + z + w | g_a)", data(),
                                   reparam="noncentered"),
        "nested": fl.Model("strength ~ 1 + (1 | batch/cask)", fl.datasets.load("Pastes"),
                           reparam="centered"),
        "mixed": fl.Model("log_radon ~ floor + (1 | county)", fl.datasets.load("radon")),
        "intercept centre": fl.Model("y ~ x + (1 | g)", _strong_data()),
    }


@pytest.fixture(scope="module")
def models():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return _models()


def test_the_plans_use_every_kind_of_site(models):
    plans = {k: m.plan for k, m in models.items()}
    assert len(plans["pieces and blocks"].b.pieces) == 2
    assert len(plans["pieces and blocks"].groups[0].sd.pieces) == 2
    assert plans["pieces and blocks"].groups[0].blocks == ((0, 1), (2,))
    assert [n for n, _ in plans["two lkj blocks"].groups[0].sites.lkj] == ["L_g_a_0", "L_g_a_1"]
    assert plans["nested"].groups[1].parent == 0
    assert plans["mixed"].groups[0].mode == "mixed"
    assert plans["intercept centre"].groups[0].intercept_loc == 0


def random_sites(plan, seed: int, draws: int = 2) -> dict:
    """Draws of every site of ``plan`` (one leading draws axis), in their supports."""
    rng = np.random.default_rng(seed)
    out = {}
    if plan.intercept:
        out[plan.sites.intercept] = rng.normal(size=draws) * 3
    if plan.b is not None:
        for name, (_, idx, _) in zip(plan.b.piece_names, plan.b.pieces):
            out[name] = rng.normal(size=(draws, len(idx)))
    for g in plan.groups:
        for name, (_, idx, _) in zip(g.sd.piece_names, g.sd.pieces):
            out[name] = np.exp(rng.normal(size=(draws, len(idx))))
        for name, block in g.sites.lkj:
            a = rng.normal(size=(draws, len(block), len(block) + 2))
            cov = a @ np.swapaxes(a, 1, 2)
            d = np.sqrt(np.diagonal(cov, axis1=1, axis2=2))
            out[name] = np.linalg.cholesky(cov / (d[:, :, None] * d[:, None, :]))
        centered = np.asarray(g.centered, dtype=bool)
        if (~centered).any():
            out[g.sites.z] = rng.normal(size=(draws, int((~centered).sum()), g.k))
        if centered.any():
            out[g.sites.rc] = rng.normal(size=(draws, int(centered.sum()), g.k))
    for aux in plan.aux:
        out[aux] = np.exp(rng.normal(size=draws))
    return out


@pytest.mark.parametrize("name", ["noncentered", "pieces and blocks", "two lkj blocks",
                                  "nested", "mixed", "intercept centre"])
@settings(max_examples=10, deadline=None)
@given(seed=st.integers(0, 2**32 - 1))
def test_to_sites_inverts_to_params(models, name, seed):
    plan = models[name].plan
    x = random_sites(plan, seed)
    params = to_params(plan, x)
    assert list(params) == list(parameters(plan))  # every reported parameter, in order
    back = to_sites(plan, params)
    assert set(back) == set(x)
    for key, value in x.items():
        np.testing.assert_allclose(back[key], value, rtol=1e-7, atol=1e-9, err_msg=key)
    again = to_params(plan, back)
    for key, value in params.items():
        np.testing.assert_allclose(again[key], value, rtol=1e-7, atol=1e-9, err_msg=key)


def test_to_params_leaves_out_what_its_sites_do_not_give(models):
    plan = models["noncentered"].plan
    x = random_sites(plan, 0)
    del x["z_Subject"]
    assert sorted(to_params(plan, x)) == ["b", "cor_Subject", "sd_Subject", "sigma"]
    given_r = {**x, "r_Subject": np.zeros((2, 18, 2))}
    assert to_params(plan, given_r)["r_Subject"] is given_r["r_Subject"]


def test_derive_adds_the_reported_quantities_to_the_sites(models):
    plan = models["pieces and blocks"].plan
    x = random_sites(plan, 1)
    out = sites.derive(plan, x)
    assert set(out) == set(x) | {"b", "r_Subject", "cor_Subject"}
    assert out["b"].shape == (2, 3) and out["cor_Subject"].shape == (2, 1)


def test_to_sites_refuses_effects_the_sds_cannot_produce(models):
    plan = models["noncentered"].plan
    params = to_params(plan, random_sites(plan, 2))
    params["sd_Subject"] = params["sd_Subject"] * [1.0, 0.0]
    with pytest.raises(FormulangError, match="r_Subject has non-zero effects where sd_Subject"):
        to_sites(plan, params)


# ---- nothing else spells a site name -------------------------------------------------------------

PREFIXES = ("sd_", "r_", "z_", "rc_", "cor_", "L_", "b_")
EXACT = {"Intercept_c", "b_c"}


def site_name_offenders(source: str, filename: str = "<source>") -> list[str]:
    """``file:line`` of every string that builds a site name: an f-string whose leading literal
    starts with a site prefix, or a constant ``Intercept_c``/``b_c`` or ``<prefix>{...``."""
    out = []
    for node in ast.walk(ast.parse(source, filename)):
        if isinstance(node, ast.JoinedStr):
            head = node.values[0] if node.values else None
            if isinstance(head, ast.Constant) and str(head.value).startswith(PREFIXES):
                out.append(f"{filename}:{node.lineno}: {ast.unparse(node)}")
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            if node.value in EXACT or node.value.startswith(tuple(p + "{" for p in PREFIXES)):
                out.append(f"{filename}:{node.lineno}: {node.value!r}")
    return out


def test_the_offender_check_sees_site_names():
    source = ('a = f"sd_{g.name}"\nb = "Intercept_c"\nc = "r_{}".format(x)\n'
              'd = f"{name}_std"\ne = "b"\nf = f"by {x}"\n')
    assert [line.split(":")[1] for line in site_name_offenders(source)] == ["1", "2", "3"]


def test_only_sites_py_spells_site_names():
    package = Path(fl.__file__).parent
    owners = (package / "lower" / "sites.py", package / "lower" / "sites_smooth.py")
    offenders = [hit for path in sorted(package.rglob("*.py")) if path not in owners
                 for hit in site_name_offenders(path.read_text(), str(path.relative_to(
                     package.parent)))]
    assert not offenders, ("site names spelt outside formulang/lower/sites.py:\n"
                           + "\n".join(offenders))


# ---- group terms are named by their grouping factor ---------------------------------------------


SPELLINGS = ("Reaction ~ Days + (Days || Subject)",
             "Reaction ~ Days + (1 | Subject) + (0 + Days | Subject)",
             "Reaction ~ Days + (0 + Days | Subject) + (1 | Subject)")


@pytest.fixture(scope="module")
def spellings():
    sleep = fl.datasets.load("sleepstudy")
    return [fl.Model(f, sleep) for f in SPELLINGS]


def test_spellings_of_one_model_give_one_plan(spellings):
    first = spellings[0].plan
    for m in spellings[1:]:
        plan = m.plan
        assert plan.groups == first.groups
        assert {k: v.tolist() for k, v in plan.prior_params.items()} == \
            {k: v.tolist() for k, v in first.prior_params.items()}
        assert parameters(plan) == parameters(first)
        assert flat_parameters(plan) == flat_parameters(first)
    (g,) = first.groups
    assert (g.name, g.columns, g.blocks, g.correlated_pairs) == (
        "Subject", ("Intercept", "Days"), ((0,), (1,)), ())
    assert [p.name for p in flat_parameters(first)][:2] == ["sd_Subject__Intercept",
                                                             "sd_Subject__Days"]


def test_a_factor_prior_covers_every_block():
    sleep = fl.datasets.load("sleepstudy")
    m = fl.Model(SPELLINGS[1], sleep, priors={"sd[Subject]": "exponential(0.1)"})
    assert [str(m.plan.priors.lookup("sd", "Subject", c)) for c in ("Intercept", "Days")] == \
        ["exponential(0.1)"] * 2
    m = fl.Model(SPELLINGS[1], sleep, priors={"sd[Subject]": "exponential(0.1)",
                                              "sd[Subject][Days]": "half_normal(10)"})
    assert [str(m.plan.priors.lookup("sd", "Subject", c)) for c in ("Intercept", "Days")] == \
        ["exponential(0.1)", "half_normal(10)"]


def test_an_effect_twice_on_one_factor_is_an_error():
    sleep = fl.datasets.load("sleepstudy")
    with pytest.raises(FormulangError, match="the effect 'Intercept' varies by 'Subject'"):
        fl.Model("Reaction ~ Days + (1 | Subject) + (1 + Days | Subject)", sleep)
    with pytest.raises(FormulangError, match="the effect 'Days' varies by 'Subject'"):
        fl.Model("Reaction ~ Days + (Days | Subject) + (0 + Days || Subject)", sleep)


def test_spellings_give_one_posterior(spellings, tmp_path):
    """The same MAP estimate, table and names; and everything downstream works on the merged
    term: predictions for new levels, save and load, diagnostics, graph and code."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fits = [m.fit(method="map", seed=1) for m in spellings[:2]]
    tables = [f.summary() for f in fits]
    assert list(tables[0].index) == ["sd_Subject__Intercept", "sd_Subject__Days", "b_Intercept",
                                     "b_Days", "sigma"]
    pd.testing.assert_frame_equal(tables[0], tables[1])
    merged = fits[1]
    assert "sd(Days)" in str(merged) and "cor(" not in str(merged)
    new = pd.DataFrame({"Days": [1.0, 2.0], "Subject": ["308", "new"]})
    assert merged.predict(new).shape == (1, 2)
    merged.save(tmp_path / "fit.nc")
    loaded = fl.load(tmp_path / "fit.nc")
    pd.testing.assert_frame_equal(loaded.summary(), tables[1])
    np.testing.assert_allclose(loaded.predict(new, new_levels="population"),
                               merged.predict(new, new_levels="population"))
    assert merged.diagnostics().problems
    assert "sd_Subject" in str(spellings[1].graph())
    namespace: dict = {}
    exec(compile(spellings[1].code(), "<generated>", "exec"), namespace)
    assert "(1 | Subject) + (0 + Days | Subject): 18 levels, independent" in spellings[1].code()
