"""K-fold's folds at once (formulang.infer.kfold_parallel): the same numbers as one after another.

Several host devices exist only if JAX is told before it starts, so the multi-device runs go in
a fresh process with ``XLA_FLAGS=--xla_force_host_platform_device_count=4``. With the same
per-fold keys, ``parallel="devices"`` runs on CPU the same unbatched program per chain as the
sequential way, so the held-out elpd is equal to rounding (asserted to 1e-6), here with 5 folds
over 4 devices: a full round and a padded one. ``"vectorized"`` (``vmap``) rounds differently,
which NUTS trajectories amplify: its folds are other draws of the same posteriors, checked within
Monte Carlo error.
"""

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import formulang as fl
from formulang.errors import FormulangError
from formulang.infer.kfold import _fold_plan, _nuts, kfold
from formulang.infer.kfold_parallel import choose, rounds
from formulang.infer.nuts import SamplerSettings

SCRIPT = textwrap.dedent("""
    import json, sys, warnings
    import numpy as np, pandas as pd
    import formulang as fl
    from formulang.infer.kfold import kfold
    from formulang.infer.nuts import SamplerSettings

    warnings.simplefilter("ignore")
    rng = np.random.default_rng(4)
    g = np.repeat(np.arange(6), 4)
    d = pd.DataFrame({"y": rng.normal(0, 1, 6)[g] + rng.normal(0, 0.5, 24),
                      "g": [f"g{i}" for i in g]})
    model = fl.Model("y ~ 1 + (1 | g)", d)
    settings = SamplerSettings(100, 100, 2)
    out = {}
    for way in sys.argv[1:]:
        print(f"== {way}", file=sys.stderr, flush=True)
        r = kfold(model, 5, "random", "g", seed=2, settings=settings, progress=True,
                  parallel=way)
        out[way] = {"pointwise": r.pointwise.tolist(), "parallel": r.parallel,
                    "width": r.width, "runs": len(r.sampling_seconds), "text": str(r)}
    print(json.dumps(out))
""")


@pytest.fixture(scope="module")
def four_devices(tmp_path_factory):
    script = tmp_path_factory.mktemp("kfold") / "kfold_ways.py"
    script.write_text(SCRIPT)
    env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=4")
    proc = subprocess.run([sys.executable, str(script), "sequential", "devices", "auto"],
                          capture_output=True, text=True, timeout=600, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1]), proc.stderr


def test_folds_over_devices_give_the_sequential_numbers(four_devices):
    out, _ = four_devices
    seq, dev = out["sequential"], out["devices"]
    assert seq["parallel"] == "sequential" and seq["runs"] == 5
    assert dev["parallel"] == "devices" and dev["width"] == 4 and dev["runs"] == 2
    a, b = np.array(seq["pointwise"]), np.array(dev["pointwise"])
    assert np.isfinite(a).all() and a.shape == (24,)
    np.testing.assert_allclose(b, a, rtol=0, atol=1e-6)
    assert "4 at a time, one per device (parallel='devices')" in dev["text"]
    assert "one after another" in seq["text"]


def test_progress_per_round_and_auto_names_its_choice(four_devices):
    out, err = four_devices
    devices = err.split("== devices")[1].split("== auto")[0]
    assert "folds 1-4 of 5: refitting 4 at once, one per device on 4 devices" in devices
    assert "fold 5 of 5: refitting 1 at once" in devices  # the padded round
    assert "fold 1/5: refitting without" in err.split("== devices")[0]
    # 2 chains on 4 devices: the rule's answer depends on this machine's cores
    cores = len(os.sched_getaffinity(0))
    expected = choose("auto", 5, 2, devices=4, platform="cpu", cores=cores)
    assert out["auto"]["parallel"] == expected
    np.testing.assert_allclose(out["auto"]["pointwise"], out["sequential"]["pointwise"],
                               rtol=0, atol=1e-6)


def test_the_rule_and_the_rounds():
    assert choose("auto", 10, 4, devices=4, platform="cpu", cores=2) == "sequential"
    assert choose("auto", 10, 2, devices=4, platform="cpu", cores=4) == "devices"
    assert choose("auto", 10, 4, devices=4, platform="cpu", cores=16) == "sequential"
    assert choose("auto", 10, 4, devices=1, platform="gpu") == "vectorized"
    assert choose("auto", 10, 4, devices=8, platform="gpu") == "devices"
    assert choose("folds", 10, 4) == "devices"
    with pytest.raises(FormulangError, match="unknown parallel='many'"):
        choose("many", 10, 4)
    assert rounds(5, 4) == [[0, 1, 2, 3], [4, 4, 4, 4]]
    assert rounds(4, 4) == [[0, 1, 2, 3]]


def test_the_kfold_sampler_of_a_crossed_model_has_the_dense_block():
    """Penicillin's crossed intercepts get one dense mass-matrix block in a fit
    (lower/plan.py's dense_mass); k-fold's samplers, sequential and at once, get it too."""
    from formulang.infer.kfold import _at_once  # noqa: F401 - the runner that builds it

    m = fl.Model("diameter ~ 1 + (1 | plate) + (1 | sample)", fl.datasets.load("Penicillin"))
    settings = SamplerSettings(10, 10, 1)
    assert m.plan.dense_mass == ("Intercept_c", "rc_plate", "rc_sample")
    assert _nuts(m, m.plan, "random", settings, False).dense == m.plan.dense_mass
    grouped = _fold_plan(m, "grouped")  # every level non-centred: the z sites
    assert grouped.dense_mass and grouped.dense_mass[0] == "Intercept_c"
    assert _nuts(m, grouped, "grouped", settings, False).dense == grouped.dense_mass


def test_bad_parallel_is_named_before_any_fit():
    d = {"y": [1.0, 2.0, 3.0, 4.0]}
    with pytest.raises(FormulangError, match="unknown parallel='gpu'"):
        kfold(fl.Model("y ~ 1", d), 2, parallel="gpu")
