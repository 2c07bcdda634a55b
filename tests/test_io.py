"""Saving a fit to NetCDF and loading it back: exact predictions and summaries, no pickle,
clear refusals of files that are not formulang fits.

One small NUTS fit (sleepstudy, 2 chains x 200) is shared by the module; other formulas use
prior draws in place of a posterior (the file format does not care where the draws came
from), so they cost no sampling.
"""

import json
import pickle
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import pytest

import formulang as fl
from formulang import DataError, FormulangError
from formulang.compiled import CompiledModel
from formulang.fit import Fit
from formulang.io import SCHEMA_VERSION, load
from formulang.report.idata import import_arviz
from fit_support import prior_fit
from formulang.lower.families import FAMILIES


@pytest.fixture(scope="module")
def sleep():
    return fl.datasets.load("sleepstudy")


@pytest.fixture(scope="module")
def fit(sleep):
    # the model of tests/test_predict.py, whose compiled sampler the JAX cache then holds;
    # the user prior checks that priors travel (prior values are data, not code)
    model = fl.Model("Reaction ~ Days + (Days | Subject)", sleep,
                     priors={"b[Days]": "normal(10, 5)"})
    return model.fit(draws=200, tune=200, chains=2, seed=2)


@pytest.fixture(scope="module")
def saved(fit, tmp_path_factory):
    path = tmp_path_factory.mktemp("io") / "sleep.nc"
    fit.save(path)
    return path


@pytest.fixture(scope="module")
def loaded(saved):
    return load(saved)


@pytest.fixture(scope="module")
def saved_without_data(fit, tmp_path_factory):
    path = tmp_path_factory.mktemp("io") / "sleep_no_data.nc"
    fit.save(path, data=False)
    return path


# NEW has new Subject levels on purpose: the warning about them is tests/test_predict.py's
pytestmark = pytest.mark.filterwarnings("ignore::formulang.NewLevelsWarning")


NEW = pd.DataFrame({"Days": [0.0, 3.0, 9.0, 4.0], "Subject": ["308", "372", "new", "other"]})


def test_loaded_fit_predicts_exactly_like_the_original(fit, loaded):
    assert isinstance(loaded, Fit) and isinstance(loaded.model, CompiledModel)
    for kind in ("linpred", "mean", "response"):
        for new_levels in ("gaussian", "population"):
            assert np.array_equal(loaded.predict(NEW, kind=kind, new_levels=new_levels, seed=7),
                                  fit.predict(NEW, kind=kind, new_levels=new_levels, seed=7))


def test_loaded_fit_summarises_exactly_like_the_original(fit, loaded):
    assert str(loaded.summary()) == str(fit.summary())
    assert str(loaded) == str(fit)
    assert str(loaded.model) == str(fit.model)
    assert loaded.method == "nuts"


def test_every_draw_and_statistic_comes_back_bit_for_bit(fit, loaded):
    assert set(loaded.samples) == set(fit.samples)
    for name, value in fit.samples.items():
        assert loaded.samples[name].dtype == value.dtype, name
        assert np.array_equal(loaded.samples[name], value), name
    assert set(loaded.stats) == set(fit.stats)
    for name, value in fit.stats.items():
        assert loaded.stats[name].dtype == value.dtype, name
        assert np.array_equal(loaded.stats[name], value), name
    assert loaded.run.settings == fit.run.settings and loaded.run.seed == fit.run.seed
    assert np.array_equal(loaded.run.warmup_gradients, fit.run.warmup_gradients)
    assert loaded.run.warmup_gradients.min() > 0


def test_loaded_idata_has_the_arviz_groups(fit, loaded):
    idata = loaded.idata
    assert {"posterior", "sample_stats", "observed_data", "log_likelihood"} <= \
        set(idata.groups())
    assert not any(g.startswith("formulang") for g in idata.groups())
    np.testing.assert_array_equal(idata.posterior["r_Subject"].values,
                                  fit.idata.posterior["r_Subject"].values)
    np.testing.assert_array_equal(loaded.log_likelihood(), fit.log_likelihood())
    np.testing.assert_array_equal(idata.observed_data["y"].values, fit.model.bound.y)


def test_the_file_is_plain_arviz_netcdf(saved, fit):
    az = import_arviz()
    idata = az.from_netcdf(saved)
    np.testing.assert_array_equal(idata.posterior["b"].values, fit.samples["b"])
    assert list(idata.posterior["b"].coef.values) == ["Intercept", "Days"]
    assert idata.attrs["formulang_schema"] == "formulang.fit"
    meta = json.loads(idata.attrs["formulang_fit"])
    assert meta["family"] == "gaussian" and meta["link"] == "identity"
    assert meta["formula"]["formula"] == str(fit.model.formula)
    rows = {(r["class"], r["coef"]): r for r in meta["priors"]}
    assert rows[("b", "Days")]["prior"] == "normal(10, 5)"
    assert rows[("b", "Days")]["source"] == "user"
    assert meta["plan"]["groups"][0]["centered"] == list(fit.model.plan.groups[0].centered)


def test_loaded_model_is_rebuilt_from_the_file(fit, loaded):
    m, original = loaded.model, fit.model
    assert m == original.compiled and m.compiled is m and loaded.compiled is m
    assert m.formula == original.formula
    assert m.spec == original.bound.spec
    assert m.priors == original.priors
    assert m.plan.columns == original.plan.columns
    assert m.plan.x_means == original.plan.x_means
    assert m.plan.groups == original.plan.groups
    assert str(m.family) == str(original.family)
    for key, value in original.plan.prior_params.items():
        assert np.array_equal(m.plan.prior_params[key], value)


def test_loaded_fit_needs_newdata_and_cannot_refit(saved_without_data, loaded):
    without = load(saved_without_data)
    assert without.bound is None
    with pytest.raises(FormulangError, match="newdata"):
        without.predict()
    with pytest.raises(FormulangError, match="training rows"):
        without.posterior_predictive()
    for fit in (without, loaded):  # with or without the training rows: no refit
        with pytest.raises(FormulangError, match="training data"):
            fit.model.fit()
        with pytest.raises(FormulangError, match="training data"):
            fit.model.prior_predictive()


# ---- the training rows in the file (issue 21, item 8) --------------------------------------------

def test_the_training_rows_come_back(fit, loaded):
    """fit.save() stores the training rows of small data: the loaded fit predicts them, bit
    for bit, and gives posterior predictive draws."""
    b, again = fit.bound, loaded.bound
    assert again is not None and again.spec == b.spec and again.n_input == b.n_input
    for name in ("X", "y", "offset"):
        assert np.array_equal(getattr(again, name), getattr(b, name)), name
        assert not getattr(again, name).flags.writeable
    assert again.trials is None and again.weights is None
    assert np.array_equal(again.rows, b.rows)
    for g0, g1 in zip(b.groups, again.groups, strict=True):
        assert np.array_equal(g0.codes, g1.codes) and np.array_equal(g0.values, g1.values)
    for kind in ("linpred", "response"):
        assert np.array_equal(loaded.predict(kind=kind, seed=4), fit.predict(kind=kind, seed=4))
    ppc = loaded.posterior_predictive(seed=1)
    np.testing.assert_array_equal(ppc.posterior_predictive["y"].values.reshape(400, 180),
                                  fit.predict(kind="response", seed=1))


def test_training_rows_with_dropped_rows_and_trials_come_back(tmp_path):
    data = fl.datasets.load("cbpp").astype({"size": float})
    data.loc[[3, 10], "size"] = np.nan  # two rows dropped in training
    with pytest.warns(fl.MissingValuesWarning):
        model = fl.Model("cbind(incidence, size - incidence) ~ period + (1 | herd)", data,
                         priors=NARROW["cbpp"])
    original = prior_fit(model, draws=10)
    original.save(tmp_path / "fit.nc", data=True)
    again = load(tmp_path / "fit.nc")
    assert np.array_equal(again.bound.rows, model.bound.rows) and again.bound.n == 54
    assert np.array_equal(again.bound.trials, model.bound.trials)
    assert np.array_equal(again.predict(seed=2), original.predict(seed=2))


def test_row_counts_per_level_are_stored_without_the_rows(fit, saved_without_data):
    without = load(saved_without_data)
    assert without.bound is None
    counts = np.bincount(fit.bound.groups[0].codes)
    assert [c.tolist() for c in without.level_counts] == [counts.tolist()]
    # saving a fit loaded without rows keeps its counts
    path = saved_without_data.with_name("again_no_data.nc")
    without.save(path)
    assert [c.tolist() for c in load(path).level_counts] == [counts.tolist()]


def test_attach_data_gives_a_loaded_fit_its_training_rows(fit, saved_without_data, sleep):
    without = load(saved_without_data)
    assert without.attach_data(sleep) is without
    assert np.array_equal(without.bound.X, fit.bound.X)
    assert np.array_equal(without.predict(kind="linpred"), fit.predict(kind="linpred"))
    other = load(saved_without_data)
    with pytest.raises(FormulangError, match="fitted to: the fit used 180 rows.*give 90"):
        other.attach_data(sleep.head(90))
    shuffled = sleep.assign(Reaction=sleep.Reaction[::-1].to_numpy())
    with pytest.raises(FormulangError, match="differs from the fit's at .* rows"):
        other.attach_data(shuffled)
    with pytest.raises(DataError, match="Days"):
        other.attach_data(sleep.drop(columns="Days"))
    assert other.bound is None


def test_how_much_data_is_stored(fit, tmp_path, monkeypatch):
    import formulang.fitfile as fitfile

    def has_rows(path):
        return load(path).bound is not None

    fit.save(tmp_path / "big.nc", data=True)
    assert has_rows(tmp_path / "big.nc")
    monkeypatch.setattr(fitfile, "AUTO_DATA_NUMBERS", 100)  # sleepstudy: 180 rows, too many
    fit.save(tmp_path / "auto.nc")
    assert not has_rows(tmp_path / "auto.nc")
    assert load(tmp_path / "auto.nc").level_counts is not None
    with pytest.raises(FormulangError, match="data= takes 'auto', True or False"):
        fit.save(tmp_path / "x.nc", data="yes")


def test_loaded_fit_checks_new_data_like_the_original(loaded):
    with pytest.raises(FormulangError, match="'Subject'.*'new'"):
        loaded.predict(NEW, new_levels="error")
    with pytest.raises(DataError, match="Days"):
        loaded.predict(pd.DataFrame({"Subject": ["308"]}))


def test_save_a_loaded_fit_again(loaded, fit, tmp_path):
    path = tmp_path / "again.nc"
    loaded.save(path)
    again = load(path)
    assert str(again.summary()) == str(fit.summary())
    assert np.array_equal(again.predict(NEW, kind="response", seed=1),
                          fit.predict(NEW, kind="response", seed=1))


# Normal / half-normal priors: cheap to draw from (no gamma sampler to compile)
NARROW = {
    "cbpp": {"Intercept": "normal(-2, 1)", "b": "normal(0, 1)", "sd": "half_normal(0.5)"},
    "radon": {"Intercept": "normal(1, 1)", "b": "normal(0, 1)", "sd": "half_normal(0.5)",
              "sigma": "half_normal(1)"},
    "Pastes": {"Intercept": "normal(60, 5)", "sd": "half_normal(3)", "sigma": "half_normal(1)"},
}


@pytest.mark.parametrize("formula, dataset, family", [
    ("cbind(incidence, size - incidence) ~ period + (1 | herd)", "cbpp", "binomial"),
    ("log_radon ~ floor + scale(log_uranium) + (1 + floor || county)", "radon", None),
    ("strength ~ 1 + (1 | batch/cask)", "Pastes", None),
])
def test_round_trip_of_other_models(formula, dataset, family, tmp_path):
    data = fl.datasets.load(dataset)
    model = fl.Model(formula, data, family=family, priors=NARROW[dataset])
    original = prior_fit(model, draws=50, seed=3)
    path = tmp_path / "fit.nc"
    original.save(path)
    again = load(path)
    new = data.head(6).copy()
    factor = model.plan.groups[0].label.split(":")[0]
    new[factor] = new[factor].astype(str)
    new.loc[new.index[0], factor] = "unseen"  # a new level: drawn from the same seed
    for kind in ("linpred", "mean", "response"):
        assert np.array_equal(again.predict(new, kind=kind, seed=3),
                              original.predict(new, kind=kind, seed=3))
    assert str(again.summary()) == str(original.summary())
    assert again.model.spec == model.bound.spec
    assert again.model == model.compiled
    assert again.run is None and again.stats == {}


# a response value in each support, to build a model
PLACEHOLDER = {"real": 0.5, "binary": 1.0, "binomial": 1.0, "count": 1.0, "positive": 1.0,
               "unit": 0.5, "nonnegative": 1.0, "ordinal": 2.0,
               "categorical": 2.0}


@pytest.mark.parametrize("family", list(FAMILIES))
def test_every_family_round_trips(family, tmp_path):
    """The file stores the family by name: every row comes back and predicts the same."""
    spec = FAMILIES[family]
    df = pd.DataFrame({"y": PLACEHOLDER[spec.support], "x": np.arange(12.0) / 12, "n": 5,
                       "g": np.repeat(list("abc"), 4)})
    # two values: 0/1 for binary, categories 1 and 2 for ordinal
    df.loc[::2, "y"] = {"binary": 0.0, "ordinal": 1.0, "categorical": 1.0}.get(
        spec.support, df.loc[::2, "y"])
    formula = "cbind(y, n - y) ~ x + (1 | g)" if spec.trials else "y ~ x + (1 | g)"
    priors = {"Intercept": "normal(0, 0.5)", "b": "normal(0, 0.3)", "sd": "half_normal(0.5)"}
    if spec.per_category:  # categorical: the priors of category 2's formula (mu2)
        priors = {f"{cls}_mu2": prior for cls, prior in priors.items()}
    original = prior_fit(fl.Model(formula, df, family=family, priors=priors), draws=20, seed=3)
    original.save(tmp_path / "fit.nc")
    again = load(tmp_path / "fit.nc")
    assert str(again.model.family) == str(original.model.family)
    for kind in ("linpred", "mean", "response"):
        assert np.array_equal(again.predict(df, kind=kind, seed=3),
                              original.predict(df, kind=kind, seed=3))


# ---- refusals and safety -----------------------------------------------------------------------

def test_load_never_unpickles(saved, monkeypatch, fit):
    def refuse(*args, **kwargs):
        raise AssertionError("load() must not unpickle")

    monkeypatch.setattr(pickle, "load", refuse)
    monkeypatch.setattr(pickle, "loads", refuse)
    monkeypatch.setattr(pickle, "Unpickler", refuse)
    again = load(saved)
    assert np.array_equal(again.predict(NEW, kind="linpred"), fit.predict(NEW, kind="linpred"))


def _plain_value(value) -> bool:
    """Numbers, booleans, text, or HDF5 object references (netCDF's dimension-scale links)."""
    if isinstance(value, (str, bytes, bool, int, float, np.number, np.bool_, h5py.Reference)):
        return True
    if isinstance(value, (tuple, np.void)):  # compound: (reference, index) pairs
        return all(_plain_value(v) for v in value)
    if isinstance(value, np.ndarray):
        if value.dtype.kind in "biufS" or h5py.check_string_dtype(value.dtype) is not None:
            return True
        return all(_plain_value(v) for v in value.ravel())
    return False


def test_the_file_holds_only_numbers_and_text(saved):
    """Every dataset and attribute in the HDF5 file is numeric, boolean or text (plus the
    object references netCDF uses to attach dimensions): there is no opaque or object payload
    where a pickle could hide."""
    seen = []

    def check(name, obj):
        for key, value in obj.attrs.items():
            assert _plain_value(value), (name, key, value)
        if isinstance(obj, h5py.Dataset):
            seen.append(name)
            dtype = obj.dtype
            assert dtype.kind in "biufS" or h5py.check_string_dtype(dtype) is not None, \
                (name, dtype)

    with h5py.File(saved, "r") as f:
        check("/", f)
        f.visititems(check)
    assert any(name.startswith("formulang_samples/") for name in seen)
    with open(saved, "rb") as f:
        assert f.read(8) == b"\x89HDF\r\n\x1a\n"


def test_refuses_a_file_that_is_not_a_formulang_fit(tmp_path):
    az = import_arviz()
    path = tmp_path / "other.nc"
    az.from_dict(posterior={"mu": np.zeros((2, 10))}).to_netcdf(str(path))
    with pytest.raises(FormulangError, match="not a formulang fit"):
        load(path)
    text = tmp_path / "notes.nc"
    text.write_text("y ~ x\n")
    with pytest.raises(FormulangError, match="not a formulang fit file"):
        load(text)
    with pytest.raises(FileNotFoundError):
        load(tmp_path / "missing.nc")


def test_refuses_an_unknown_schema_version(saved, tmp_path):
    path = tmp_path / "future.nc"
    path.write_bytes(saved.read_bytes())
    with h5py.File(path, "r+") as f:
        f.attrs["formulang_schema_version"] = SCHEMA_VERSION + 98
    with pytest.raises(FormulangError, match=rf"version {SCHEMA_VERSION + 98}.*reads version "
                                             rf"{SCHEMA_VERSION}"):
        load(path)


# ---- files written before CompiledModel ---------------------------------------------------------

OLD_FILE = Path(__file__).parent / "fixtures" / "fits" / "cbpp_f1ace93.nc"


def test_a_file_written_before_compiled_models_still_loads():
    """tests/fixtures/fits/cbpp_f1ace93.nc was written by formulang at f1ace93 (its metadata
    has no "compression" entry): it loads, with the decisions a model built today makes,
    and predicts from its draws as a fit of that model does."""
    data = fl.datasets.load("cbpp")
    model = fl.Model("cbind(incidence, size - incidence) ~ period + (1 | herd)", data,
                     priors=NARROW["cbpp"])
    old = load(OLD_FILE)
    meta = json.loads(import_arviz().from_netcdf(OLD_FILE).attrs["formulang_fit"])
    assert "compression" not in meta  # the old layout, as written then
    m = old.model
    assert isinstance(m, CompiledModel)
    assert m.spec == model.bound.spec and m.priors == model.priors
    assert m.plan.groups == model.plan.groups
    # the same choices; the pilot's numbers behind them as today's pilot computes them (its
    # arithmetic may move in the last bits between versions)
    for stored, today in zip(m.parameterization, model.parameterization, strict=True):
        assert (stored.label, stored.centered, stored.reason) == \
            (today.label, today.centered, today.reason)
        np.testing.assert_allclose(stored.weights + stored.tau, today.weights + today.tau,
                                   rtol=1e-12)
    assert not m.compressed and not m.collapsed and m.has_trials
    assert str(m).splitlines()[:5] == str(model).splitlines()[:5]
    raw = {k: v for k, v in old.samples.items() if k not in ("b", "r_herd")}
    now = Fit(model, raw, {}, method="prior")
    new = data.head(6).copy()
    for kind in ("linpred", "mean", "response"):
        assert np.array_equal(old.predict(new, kind=kind, seed=3),
                              now.predict(new, kind=kind, seed=3))
    assert str(old.summary()) == str(now.summary())
    assert old.bound is None and old.level_counts is None  # neither was stored then


def test_a_fit_saved_before_terms_on_one_factor_were_one_term_loads(sleep):
    """A file from formulang at f1ace93 (tests/fixtures/README.md): two group terms on Subject
    (``Subject``, ``Subject_2``), one data-spec group per term, slopes stored as ``b``. It loads,
    and summarises and predicts as that formulang did (values printed by it)."""
    from pathlib import Path

    path = Path(__file__).parent / "fixtures" / "fit_f1ace93_split_terms.nc"
    old = load(path)
    assert [g.name for g in old.plan.groups] == ["Subject", "Subject_2"]
    table = old.summary()
    assert list(table.index) == ["sd_Subject__Intercept", "sd_Subject_2__Days", "b_Intercept",
                                 "b_Days", "b_I(Days^2)", "sigma"]
    np.testing.assert_allclose(table["mean"], [2.6797637111e-04, 6.8636279106e+00,
                                               2.5617129517e+02, 6.7971992493e+00,
                                               3.8426974416e-01, 2.7409452438e+01], rtol=1e-9)
    new = sleep.head(3).assign(Subject=["308", "new", "309"])
    np.testing.assert_allclose(old.predict(new, new_levels="population"),
                               [[256.1712951663, 263.3527641594, 242.2546809327]], rtol=1e-9)
    assert list(old.idata.posterior.data_vars) == ["b", "sd_Subject", "r_Subject",
                                                   "sd_Subject_2", "r_Subject_2", "sigma"]
