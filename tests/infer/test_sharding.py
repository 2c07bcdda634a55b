"""Rows sharded across devices (issue 20): the sharded log density and its gradient equal the
unsharded ones, and a sharded fit draws what an unsharded one draws.

JAX's device count is fixed when it starts, so the checks on 4 host devices run in one fresh
process (``XLA_FLAGS=--xla_force_host_platform_device_count=4``) that prints its findings as
JSON; the tests below read them. 1,003 rows: not a multiple of 4 or of 2, so every sharded
evaluation has padded rows of weight 0.

The log densities are compared in float64 (to ~1e-10: the padding adds exactly nothing) and
in float32, the project's precision (the partial sums add in another order, and round
differently). The fits run in float64: chains 2 x shards 2 against the
same 2 chains unsharded, same seed. Their draws are not bit-equal
(the reduction order changes the last bits), but in float64 the difference stays far below
the posterior's scale over a short run (measured: ~5e-5 after 100 iterations on 1,003 rows,
SDs ~0.1), so the draws are compared one by one, not as means within Monte Carlo error.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

import formulang as fl
from formulang.errors import FormulangError
from formulang.infer.sharding import ShardLayout, choose_layout, pad_rows, resolve_shards

SCRIPT = r'''
import json
import numpy as np, pandas as pd, jax
import formulang as fl
from formulang.infer import sharding as sh
from numpyro import handlers
from numpyro.distributions import biject_to

rng = np.random.default_rng(0)
n = 1003
g = rng.integers(0, 17, n)
x = rng.normal(size=n)
a = rng.normal(0, 0.5, 17)
frame = pd.DataFrame({"x": x, "g": g.astype(str), "w": rng.uniform(0.5, 2.0, n),
                      "yb": rng.binomial(1, 1 / (1 + np.exp(-(0.3 * x + a[g])))),
                      "yg": 10 + 2 * x + 3 * a[g] + rng.normal(0, 2, n)})
models = {
    "bernoulli": lambda: fl.Model("yb ~ x + (1 | g)", frame, family="bernoulli",
                                  compress=False),
    "gaussian": lambda: fl.Model("yg | weights(w) ~ x + (1 | g)", frame, collapse=False),
}


def compare(model):
    model_fn, data = model._sampled_model
    # a point drawn from the prior, on the sampler's unconstrained scale
    trace = handlers.trace(handlers.seed(model_fn, 1)).get_trace(data)
    z = {k: biject_to(s["fn"].support).inv(s["value"]) for k, s in trace.items()
         if s["type"] == "sample" and not s["is_observed"]}
    vg = sh.potential_and_gradient(model_fn)
    v0, g0 = vg(z, data)
    placed = sh.place(sh.pad_rows(data, 4), sh.make_mesh(sh.ShardLayout(4, 1)))
    v1, g1 = vg(z, placed)
    scale = max(abs(float(v0)), 1.0)
    grad = max(float(np.max(np.abs(g0[k] - g1[k]))) / max(float(np.max(np.abs(g0[k]))), 1.0)
               for k in g0)
    return {"value": abs(float(v0) - float(v1)) / scale, "gradient": grad,
            "sharded": str(placed["y"].sharding.spec), "rows": int(placed["y"].shape[0]),
            "dtype": str(v1.dtype)}


models = {k: m() for k, m in models.items()}
out = {"devices": jax.device_count(), "float32": {k: compare(m) for k, m in models.items()}}
jax.config.update("jax_enable_x64", True)  # and the fits: see the module docstring
out["float64"] = {k: compare(m) for k, m in models.items()}

model = models["bernoulli"]
settings = dict(draws=20, tune=30, chains=2, seed=1, progress=False)
plain = model.fit(**settings)
sharded = model.fit(shard_rows=2, **settings)
out["fit"] = {
    "chain_method": [plain.run.chain_method, sharded.run.chain_method],
    "shards": [plain.run.settings.shards, sharded.run.settings.shards],
    "difference": {k: float(np.max(np.abs(plain.samples[k] - sharded.samples[k])))
                   for k in ("b", "sd_g", "r_g")},
    "shape": list(sharded.samples["b"].shape),
    "log_lik_shape": list(sharded.log_likelihood().shape),
    "predict_shape": list(np.shape(sharded.predict())),
}
import arviz as az
out["fit"]["elpd_loo"] = [float(az.loo(f.idata).elpd_loo) for f in (plain, sharded)]
print("RESULT " + json.dumps(out))
'''


@pytest.fixture(scope="module")
def on_four_devices():
    env = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"}
    env.update(XLA_FLAGS="--xla_force_host_platform_device_count=4", JAX_PLATFORMS="cpu",
               PYTHONPATH=os.pathsep.join(sys.path))
    proc = subprocess.run([sys.executable, "-c", SCRIPT], env=env, capture_output=True,
                          text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    line = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")][-1]
    return json.loads(line[len("RESULT "):])


@pytest.mark.parametrize("family", ["bernoulli", "gaussian"])
def test_sharded_log_density_and_gradient_equal_the_unsharded(on_four_devices, family):
    assert on_four_devices["devices"] == 4
    f32, f64 = on_four_devices["float32"][family], on_four_devices["float64"][family]
    assert f32["sharded"].endswith("('rows',)") and f32["rows"] == 1004  # 1,003 + 1
    assert f32["dtype"] == "float32" and f64["dtype"] == "float64"
    # the padding adds exactly 0: only the order of the partial sums differs
    assert f64["value"] < 1e-12 and f64["gradient"] < 1e-10
    # float32: the same sums, rounded; at a point drawn from the prior a gradient is a sum
    # of 1,003 terms that cancel to ~1e-3 of their size (measured: 6e-5 for the Gaussian's)
    assert f32["value"] < 1e-5 and f32["gradient"] < 1e-3


def test_a_sharded_fit_draws_what_the_unsharded_fit_draws(on_four_devices):
    fit = on_four_devices["fit"]
    # 2 chains x 2 shards on 4 devices: the chains side by side (vectorised, the batch split
    # over the mesh's chain axis), each over 2 devices
    assert fit["chain_method"] == ["parallel", "vectorized"] and fit["shards"] == [1, 2]
    assert fit["shape"] == [2, 20, 2]
    # posterior SDs here are ~0.1 (b) to ~0.2 (sd_g): 1e-6 is rounding, not sampling
    assert max(fit["difference"].values()) < 1e-6, fit["difference"]


def test_predictions_and_loo_after_a_sharded_fit_use_the_models_own_rows(on_four_devices):
    fit = on_four_devices["fit"]
    assert fit["log_lik_shape"] == [2, 20, 1003] and fit["predict_shape"][-1] == 1003
    plain, sharded = fit["elpd_loo"]
    assert np.isfinite(sharded) and abs(plain - sharded) < 1e-4


# ---- the choices, in this process (no devices needed) ----------------------------------------

def test_chains_and_shards_compose_on_the_devices_there_are():
    assert choose_layout(chains=2, shards=4, devices=8) == ShardLayout(4, 2)
    assert choose_layout(chains=4, shards=2, devices=8) == ShardLayout(2, 4)
    assert choose_layout(chains=4, shards=2, devices=4) == ShardLayout(2, 2)  # 2 x 2 vectorised
    assert choose_layout(chains=3, shards=2, devices=4) == ShardLayout(2, 1)
    assert resolve_shards(True, rows=10, chains=4, devices=8) == 2
    assert resolve_shards(True, rows=10, chains=4, devices=4) == 4  # chains vectorised
    assert resolve_shards("auto", rows=10**6, chains=4, devices=4, platform="gpu") == 1
    assert resolve_shards("auto", rows=10**6, chains=4, devices=8, platform="gpu") == 2
    assert resolve_shards("auto", rows=10**6, chains=4, devices=8) == 1  # CPU: never
    with pytest.raises(FormulangError, match="use True, False, 'auto'"):
        resolve_shards("yes", rows=10, chains=1, devices=4)


def test_padding_keeps_weights_and_gives_the_padding_weight_zero():
    data = {"y": np.arange(5.0), "weights": np.full(5, 2.0), "codes": (np.arange(5),),
            "dpars": {"sigma": {"X": np.ones((5, 1))}}, "priors": {"a": np.ones(5)},
            "unit": np.float64(4.0)}
    out = pad_rows(data, 4)
    assert out["weights"].tolist() == [2.0] * 5 + [0.0] * 3
    assert out["y"].tolist() == [0, 1, 2, 3, 4, 4, 4, 4]  # copies of the last row
    assert out["codes"][0].shape == (8,) and out["dpars"]["sigma"]["X"].shape == (8, 1)
    assert out["priors"]["a"].shape == (5,) and out["unit"] == 4.0  # not rows: untouched


def test_a_collapsed_model_has_no_rows_to_shard():
    m = fl.Model("Reaction ~ Days + (Days | Subject)", "sleepstudy")
    assert m.collapsed
    with pytest.raises(FormulangError, match="sufficient statistics"):
        m.fit(shard_rows=2, draws=10, tune=10, chains=1, progress=False)
    with pytest.raises(FormulangError, match="method='nuts'"):
        m.fit(method="map", shard_rows=True)


def test_the_command_line_option_is_fits_keyword():
    import argparse
    import inspect

    from formulang.app import commands

    p = argparse.ArgumentParser()
    commands.add_sampler_options(p)
    for text, value in (("4", 4), ("all", True), ("auto", "auto")):
        options = commands.fit_options(p.parse_args(["--shard-rows", text]))
        assert options["shard_rows"] == value
        inspect.signature(fl.Model.fit).bind(None, **options)
    assert "shard_rows" not in commands.fit_options(p.parse_args([]))  # default: none
    with pytest.raises(FormulangError, match="--shard-rows takes a number of devices"):
        commands.fit_options(p.parse_args(["--shard-rows", "0"]))
