"""The compiled-model contract: ``CompiledModel`` holds what ``Model`` decided, writes and reads
it as JSON, and is all that later stages (code, graph, description) and a loaded fit need;
every inference path returns ``(samples, stats, run)``.

Fits here are prior draws (tests/fit_support.py) except for the inference contract itself.
"""

import contextlib
import json

import numpy as np
import pandas as pd
import pytest

import formulang as fl
from formulang import FormulangError
from formulang.compiled import CompiledModel
from formulang.infer.approximate import ApproximationRun, fit_approximation
from formulang.infer.nuts import SamplerRun, SamplerSettings
from fit_support import prior_fit


def _weighted():
    rng = np.random.default_rng(5)
    g = np.repeat(list("abcdef"), 6)
    x = rng.normal(size=g.size)
    return pd.DataFrame({"y": 1.0 + 0.5 * x + rng.normal(size=g.size), "x": x, "g": g,
                         "w": rng.uniform(0.5, 2.0, size=g.size)})


def _bernoulli():
    return pd.DataFrame({"y": [0, 1, 1, 0, 1, 1, 0, 0], "x": list("aabbbbab"),
                         "g": list("uuuuvvvv")})


# (formula, data, options): narrow normal / half-normal priors keep prior draws cheap
MODELS = {
    "plain": ("Reaction ~ Days", "sleepstudy",
              {"priors": {"b": "normal(0, 20)", "sigma": "half_normal(50)"}}),
    "correlated": ("Reaction ~ Days + (Days | Subject)", "sleepstudy",
                   {"collapse": False, "priors": {"b": "normal(0, 20)", "sd": "half_normal(30)",
                                                  "sigma": "half_normal(50)"}}),
    "nested": ("strength ~ 1 + (1 | batch/cask)", "Pastes",
               {"priors": {"Intercept": "normal(60, 5)", "sd": "half_normal(3)",
                           "sigma": "half_normal(1)"}}),
    "binomial": ("cbind(incidence, size - incidence) ~ period + (1 | herd)", "cbpp",
                 {"priors": {"Intercept": "normal(-2, 1)", "b": "normal(0, 1)",
                             "sd": "half_normal(0.5)"}}),
    "collapsed": ("Reaction ~ Days + (Days | Subject)", "sleepstudy", {}),
    "weighted": ("y | weights(w) ~ x + (1 | g)", _weighted,
                 {"priors": {"b": "normal(0, 1)", "sd": "half_normal(1)",
                             "sigma": "half_normal(1)"}}),
    "compressed": ("y ~ x + (1 | g)", _bernoulli,
                   {"family": "bernoulli", "compress": True,
                    "priors": {"Intercept": "normal(0, 1)", "b": "normal(0, 1)",
                               "sd": "half_normal(1)"}}),
}


def _data(source):
    return source() if callable(source) else fl.datasets.load(source)


@pytest.fixture(scope="module", params=sorted(MODELS))
def model(request):
    formula, source, options = MODELS[request.param]
    return fl.Model(formula, _data(source), **options)


def _json_round_trip(c: CompiledModel) -> CompiledModel:
    return CompiledModel.from_dict(json.loads(json.dumps(c.to_dict())))


def test_to_dict_and_from_dict_give_back_an_equal_compiled_model(model):
    c = model.compiled
    again = _json_round_trip(c)
    assert again == c and hash(again) == hash(c)
    assert again.formula == c.formula and again.spec == c.spec and again.priors == c.priors
    assert again.parameterization == c.parameterization
    assert str(again.family) == str(c.family)
    assert (again.n, again.n_input) == (c.n, c.n_input)
    assert (again.collapsed, again.collapse_reason) == (c.collapsed, c.collapse_reason)
    assert (again.compressed, again.compression_reason) == (c.compressed,
                                                           c.compression_reason)
    plan, original = again.plan, c.plan
    assert plan.groups == original.groups and plan.b == original.b
    assert (plan.columns, plan.intercept, plan.x_means, plan.n) == \
        (original.columns, original.intercept, original.x_means, original.n)
    assert plan.prior_params.keys() == original.prior_params.keys()
    for key, value in original.prior_params.items():
        assert np.array_equal(plan.prior_params[key], value), key
    assert _json_round_trip(again).to_dict() == again.to_dict()


def test_the_cases_cover_what_they_are_named_for():
    def compiled(name):
        formula, source, options = MODELS[name]
        return fl.Model(formula, _data(source), **options).compiled

    assert compiled("collapsed").collapsed and not compiled("correlated").collapsed
    assert compiled("compressed").compressed and compiled("binomial").has_trials
    assert compiled("weighted").has_weights
    assert compiled("nested").plan.groups[1].parent == 0


def test_a_changed_decision_makes_a_different_compiled_model(model):
    c = model.compiled
    d = c.to_dict()
    d["data"]["n"] += 1
    assert CompiledModel.from_dict(d) != c


def test_the_model_delegates_to_its_compiled_model(model):
    c = model.compiled
    assert model.formula is c.formula and model.family is c.family
    assert model.priors is c.priors and model.parameterization is c.parameterization
    assert model.plan is c.plan and model.numpyro_model is c.numpyro_model
    assert model.collapsed is c.collapsed and model.collapse_reason is c.collapse_reason
    assert model.compression_reason is c.compression_reason
    assert (model.compression is not None) == c.compressed
    assert (c.n, c.n_input, c.spec) == (model.bound.n, model.bound.n_input, model.bound.spec)
    assert str(model) == str(c)


def test_a_loaded_fit_describes_codes_and_draws_its_model_as_the_live_one(model, tmp_path):
    path = tmp_path / "fit.nc"
    prior_fit(model, draws=5, chains=1).save(path, data=False)  # the compiled model alone
    loaded = fl.load(path)
    m = loaded.model
    assert isinstance(m, CompiledModel) and loaded.compiled is m and loaded.bound is None
    assert m == model.compiled
    assert m.code() == model.code()
    assert m.graph().to_dot() == model.graph().to_dot()
    assert str(m) == str(model)


def test_a_compiled_model_alone_refuses_what_needs_training_rows():
    c = fl.Model("Reaction ~ Days", fl.datasets.load("sleepstudy")).compiled
    for call in (c.fit, c.prior_predictive, c.simulate):
        with pytest.raises(FormulangError, match="training data"):
            call()


def test_new_rows_are_encoded_with_the_stored_spec():
    formula, source, _ = MODELS["binomial"]
    data = _data(source)
    c = _json_round_trip(fl.Model(formula, data).compiled)
    live = fl.Model(formula, data).bound.apply(data.head(5))
    again = c.apply(data.head(5))
    assert np.array_equal(again.X, live.X) and np.array_equal(again.trials, live.trials)
    assert [g.codes.tolist() for g in again.groups] == [g.codes.tolist() for g in live.groups]


# ---- every inference path returns (samples, stats, run) ----------------------------------------

TINY = SamplerSettings(draws=20, tune=20, chains=1)


@pytest.fixture(scope="module")
def dyestuff():
    return fl.datasets.load("Dyestuff")


def _check_triple(result, model, chains, draws, run_type):
    assert isinstance(result, tuple) and len(result) == 3
    samples, stats, run = result
    assert isinstance(samples, dict) and isinstance(stats, dict)
    assert isinstance(run, run_type)
    assert "y" not in samples
    for name, value in samples.items():
        assert np.shape(value)[:2] == (chains, draws), name
    fit = fl.Fit(model, samples, stats, method="test", run=run)  # what Model.fit makes of it
    assert fit.samples["r_Batch"].shape == (chains, draws, 6, 1)
    return samples, stats, run


@pytest.mark.parametrize("collapse", [True, False])
def test_nuts_returns_samples_stats_and_run(dyestuff, collapse):
    m = fl.Model("Yield ~ 1 + (1 | Batch)", dyestuff, collapse=collapse)
    assert m.collapsed is collapse
    _, stats, run = _check_triple(m.sample_nuts(TINY, seed=1, progress=False), m, 1, 20,
                                  SamplerRun)
    assert stats["diverging"].shape == (1, 20) and run.settings == TINY


@pytest.mark.parametrize("method, draws", [("map", 1), ("vi", 30)])
def test_approximations_return_samples_stats_and_run(dyestuff, method, draws):
    m = fl.Model("Yield ~ 1 + (1 | Batch)", dyestuff)
    with pytest.warns(UserWarning) if method == "map" else contextlib.nullcontext():
        _, stats, run = _check_triple(fit_approximation(m.compiled, m.data, method, draws=draws,
                                                        seed=1, progress=False), m, 1, draws,
                                      ApproximationRun)
    assert stats == {} and run.method == method
