"""Group terms (formulang.data.groups and GroupData): level codes, combined levels, per-row
values of the term's columns, covariance blocks, new levels — on the shared datasets."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from formulang import parse
from formulang.data import GroupingWarning, apply_spec, bind


def test_radon_varying_slope(load):
    radon = load("radon")
    b = bind("log_radon ~ floor + (1 + floor | county)", radon)
    (g,) = b.groups
    assert g.label == "county" and g.factor == ("county",)
    assert g.n_levels == 85 and g.levels == tuple(sorted(radon["county"].unique()))
    assert g.codes.dtype.kind == "i" and g.codes.min() == 0 and g.codes.max() == 84
    assert (np.asarray(g.levels, dtype=object)[g.codes] == radon["county"].to_numpy()).all()
    # county_code is the alphabetical county index: the same coding
    np.testing.assert_array_equal(g.codes, radon["county_code"])
    assert g.columns == ("Intercept", "floor")
    assert g.values.shape == (919, 2)  # n x k, never n x (L k)
    np.testing.assert_array_equal(g.values[:, 0], 1.0)
    np.testing.assert_array_equal(g.values[:, 1], radon["floor"])
    assert g.blocks == ((0, 1),)
    assert not g.new.any() and g.new_levels == ()


def test_pastes_nested_levels(load):
    pastes = load("Pastes")
    b = bind("strength ~ 1 + (1 | batch/cask)", pastes)
    assert [g.label for g in b.groups] == ["batch", "batch:cask"]
    batch, nested = b.groups
    assert batch.levels == tuple("ABCDEFGHIJ")
    assert nested.n_levels == 30
    assert nested.levels[:4] == ("A:a", "A:b", "A:c", "B:a")
    # the combined names are R's interaction labels: the shared `sample` column
    assert nested.levels == tuple(sorted(pastes["sample"].unique()))
    labels = np.asarray(nested.levels, dtype=object)[nested.codes]
    assert (labels == pastes["sample"].to_numpy()).all()
    assert nested.values.shape == (60, 1) and nested.columns == ("Intercept",)
    assert b.group("batch:cask") is nested


def test_a_nested_term_written_first_comes_after_its_enclosing_one(load):
    # each brood lies in one location (lme4 reads it as nested): the enclosing term goes
    # first, so a centred brood centres on its location (grouseticks' divergences)
    ticks = load("grouseticks")
    b = bind("TICKS ~ YEAR + (1 + YEAR | BROOD) + (1 | LOCATION) + (1 | YEAR)", ticks)
    assert [g.label for g in b.groups] == ["LOCATION", "YEAR", "BROOD"]
    assert b.groups[2].columns == ("Intercept", "YEAR96", "YEAR97")
    new = apply_spec(b.spec, ticks.head(5))  # new rows: each term with its own design
    assert [g.label for g in new.groups] == ["LOCATION", "YEAR", "BROOD"]
    assert new.groups[2].values.shape == (5, 3)
    np.testing.assert_array_equal(new.groups[0].codes, b.groups[0].codes[:5])
    crossed = bind("TICKS ~ (1 | YEAR) + (1 | LOCATION)", ticks)  # not nested: as written
    assert [g.label for g in crossed.groups] == ["YEAR", "LOCATION"]


def test_combined_levels_only_present_combinations():
    data = {"y": np.arange(5.0), "a": ["B", "A", "B", "A", "B"], "b": ["x", "y", "y", "y", "x"]}
    g = bind("y ~ (1 | a:b)", data).groups[0]
    assert g.levels == ("A:y", "B:x", "B:y")
    assert g.codes.tolist() == [1, 0, 2, 0, 1]


def test_three_way_grouping_interaction():
    rng = np.random.default_rng(5)
    data = pd.DataFrame({"y": rng.normal(size=200), "a": rng.integers(0, 3, 200),
                         "b": rng.choice(["p", "q"], 200), "c": rng.integers(10, 12, 200)})
    g = bind("y ~ (1 | a:b:c)", data).groups[0]
    expected = data["a"].astype(str) + ":" + data["b"] + ":" + data["c"].astype(str)
    assert (np.asarray(g.levels, dtype=object)[g.codes] == expected.to_numpy()).all()
    assert list(g.levels) == sorted(set(expected), key=lambda s: (int(s.split(":")[0]),
                                                                 s.split(":")[1],
                                                                 int(s.split(":")[2])))


def test_sleepstudy_uncorrelated_blocks(load):
    sleep = load("sleepstudy")
    b = bind("Reaction ~ Days + (Days || Subject)", sleep)
    (g,) = b.groups
    assert g.columns == ("Intercept", "Days")
    assert g.blocks == ((0,), (1,))
    assert g.spec.correlated is False
    assert g.n_levels == 18 and g.levels[0] == "308"
    corr = bind("Reaction ~ Days + (Days | Subject)", sleep).groups[0]
    assert corr.blocks == ((0, 1),)


def test_categorical_lhs_blocks_stay_together():
    data = pd.DataFrame({"y": np.arange(12.0), "x": np.linspace(0, 1, 12),
                         "c": list("pqr") * 4, "s": list("aabbccddeeff")})
    g = bind("y ~ (1 + x + c || s)", data).groups[0]
    assert g.columns == ("Intercept", "x", "cq", "cr")
    assert g.blocks == ((0,), (1,), (2, 3))
    full = bind("y ~ (0 + c | s)", data).groups[0]
    assert full.columns == ("cp", "cq", "cr")  # its own little formula: no intercept
    np.testing.assert_array_equal(full.values.sum(axis=1), 1.0)


def test_cbpp_herd_as_text_and_as_numbers(load):
    cbpp = load("cbpp").astype({"herd": str, "period": str})  # as read_csv gives
    text = bind("incidence ~ period + (1 | herd)", cbpp).groups[0]
    assert text.levels[:3] == ("1", "10", "11")  # text sorts as text
    numbers = bind("incidence ~ period + (1 | herd)",
                   cbpp.assign(herd=cbpp["herd"].astype(int))).groups[0]
    assert numbers.levels[:3] == ("1", "2", "3")  # numbers sort numerically
    ordered = bind("incidence ~ period + (1 | herd)",
                   cbpp.assign(herd=pd.Categorical(cbpp["herd"],
                                                   categories=[str(i) for i in range(15, 0, -1)])))
    assert ordered.groups[0].levels[:2] == ("15", "14")  # a Categorical keeps its order


@pytest.mark.parametrize("values, levels", [
    (["b", "a", "b", "c"], ("a", "b", "c")),
    (pd.Categorical(["b", "a", "b", "c"], categories=["c", "b", "a", "z"]), ("c", "b", "a")),
    ([True, False, True, True], ("FALSE", "TRUE")),
    ([3, 1, 3, 20], ("1", "3", "20")),
    ([2.5, 1.0, 2.5, 0.5], ("0.5", "1", "2.5")),
])
def test_group_factor_types(values, levels):
    g = bind("y ~ (1 | g)", {"y": np.arange(4.0), "g": values}).groups[0]
    assert g.levels == levels
    np.testing.assert_array_equal(np.asarray(g.levels, dtype=object)[g.codes],
                                  [levels[i] for i in g.codes])


def test_single_level_grouping_factor_warns():
    data = {"y": np.arange(4.0), "g": ["a"] * 4, "h": ["u", "v", "u", "v"]}
    with pytest.warns(GroupingWarning, match=r"grouping factor 'g' has a single level \('a'\)"):
        bind("y ~ (1 | g)", data)
    with pytest.warns(GroupingWarning, match=r"'g:h'") as record:
        bind("y ~ (1 | g:h)", {**data, "h": ["u"] * 4})
    assert issubclass(record[0].category, UserWarning)


def test_terms_on_one_factor_are_one_group_term():
    """(1 | g) + (0 + x | g) is (1 + x || g): one term, one block per term (brms's names)."""
    data = pd.DataFrame({"y": np.arange(6.0), "x": np.arange(6.0), "g": list("abcabc")})
    split = bind("y ~ (1 | g) + (0 + x | g)", data)
    reversed_ = bind("y ~ (0 + x | g) + (1 | g)", data)
    double_bar = bind("y ~ (1 + x || g)", data)
    for b in (split, reversed_):
        (g,) = b.groups
        assert g.spec == double_bar.groups[0].spec
        assert g.columns == ("Intercept", "x") and g.blocks == ((0,), (1,))
        np.testing.assert_array_equal(g.values, double_bar.groups[0].values)
        np.testing.assert_array_equal(g.codes, double_bar.groups[0].codes)
        new = b.apply(pd.DataFrame({"x": [7.0, 8.0], "g": ["c", "zz"]})).groups[0]
        np.testing.assert_array_equal(new.values, [[1, 7], [1, 8]])
        assert new.codes.tolist() == [2, -1] and new.new_levels == ("zz",)


def test_terms_on_one_factor_keep_their_blocks_and_coding():
    data = pd.DataFrame({"y": np.arange(6.0), "x": np.arange(6.0), "z": np.arange(6.0) ** 2,
                         "f": list("uvuvuv"), "g": list("abcabc"), "h": list("pqqppq")})
    b = bind("y ~ (1 + x | g) + (1 | h) + (0 + z | g)", data)
    g, h = b.groups
    assert (g.label, h.label) == ("g", "h")
    assert g.columns == ("Intercept", "x", "z") and g.blocks == ((0, 1), (2,))
    assert not g.spec.correlated and h.columns == ("Intercept",)
    # each term is coded as written alone: 0 + f has both indicators beside the intercept
    f = bind("y ~ (1 | g) + (0 + f | g)", data).groups[0]
    assert f.columns == ("Intercept", "fu", "fv") and f.blocks == ((0,), (1, 2))


@pytest.mark.parametrize("formula, effect", [
    ("y ~ (1 | g) + (1 + x | g)", "Intercept"),
    ("y ~ (x | g) + (0 + x | g)", "x"),
    ("y ~ (x | g) + (x || g)", "Intercept"),
])
def test_an_effect_in_two_terms_on_one_factor_is_refused(formula, effect):
    from formulang import FormulangError

    data = pd.DataFrame({"y": np.arange(6.0), "x": np.arange(6.0), "g": list("abcabc")})
    with pytest.raises(FormulangError, match=rf"the effect '{effect}' varies by 'g' in two "
                                             rf"group terms"):
        bind(formula, data)


def test_a_spec_saved_with_one_group_per_term_still_applies():
    """Data specs saved before terms on one factor were gathered hold one GroupSpec per term;
    new data is encoded with them as before."""
    from formulang.data.spec import DataSpec, GroupSpec

    data = pd.DataFrame({"y": np.arange(6.0), "x": np.arange(6.0), "g": list("abcabc")})
    spec = bind("y ~ (1 | g) + (0 + x | g)", data).spec
    gathered = spec.groups[0]
    old = [GroupSpec(("g",), gathered.levels, bind("y ~ (1 | g)", data).spec.groups[0].design,
                     ((0,),)),
           GroupSpec(("g",), gathered.levels,
                     bind("y ~ (0 + x | g)", data).spec.groups[0].design, ((0,),))]
    old_spec = DataSpec.from_dict({**spec.to_dict(), "groups": [g.to_dict() for g in old]})
    first, second = apply_spec(old_spec, pd.DataFrame({"x": [7.0], "g": ["b"]})).groups
    assert first.values.tolist() == [[1.0]] and second.values.tolist() == [[7.0]]
    assert first.codes.tolist() == second.codes.tolist() == [1]


def test_new_levels_are_marked():
    train = pd.DataFrame({"y": np.arange(6.0), "x": np.arange(6.0), "g": list("abcabc")})
    b = bind("y ~ x + (1 + x | g)", train)
    new = b.apply(pd.DataFrame({"x": [1.0, 2.0, 3.0, 4.0], "g": ["b", "zz", "a", "yy"]}))
    g = new.groups[0]
    assert g.codes.tolist() == [1, -1, 0, -1]
    assert g.new.tolist() == [False, True, False, True]
    assert g.new_levels == ("zz", "yy")
    assert g.new_codes.tolist() == [-1, 0, -1, 1]
    assert g.levels == ("a", "b", "c")  # the training levels
    np.testing.assert_array_equal(g.values, [[1, 1], [1, 2], [1, 3], [1, 4]])


def test_new_combined_levels_from_known_components():
    train = {"y": np.arange(4.0), "a": ["A", "A", "B", "B"], "b": ["x", "y", "x", "x"]}
    b = bind("y ~ (1 | a/b)", train)
    new = b.apply({"a": ["B", "A", "C"], "b": ["y", "y", "x"]})
    outer, nested = new.groups
    assert outer.codes.tolist() == [1, 0, -1] and outer.new_levels == ("C",)
    assert nested.codes.tolist() == [-1, 1, -1] and nested.new_levels == ("B:y", "C:x")


def test_group_values_frame(load):
    sleep = load("sleepstudy")
    frame = bind("Reaction ~ (Days | Subject)", sleep).groups[0].values_frame()
    assert list(frame.columns) == ["Intercept", "Days"] and len(frame) == 180


def test_group_lhs_uses_the_formula_ir():
    f = parse("y ~ (1 + x || g)")
    data = {"y": [1.0, 2.0, 3.0, 4.0], "x": [0.0, 1.0, 0.0, 1.0], "g": ["a", "a", "b", "b"]}
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        g = bind(f, data).groups[0]
    assert g.blocks == ((0,), (1,))
