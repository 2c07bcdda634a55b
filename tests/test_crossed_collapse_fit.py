"""A collapsed crossed fit samples the full model's posterior and is a normal Fit (issue 20).

Penicillin, ``diameter ~ 1 + (1 | plate) + (1 | sample)``: by default plate's 24 effects are
integrated out by blocks and sample's 6 through the dense Schur complement
(:mod:`formulang.lower.collapsed_schur`), then all drawn exactly; with the Schur part off
(``SCHUR_MAX_COST = 0``, as for a large second factor) plate's are integrated out given
sample's sampled ones (:mod:`formulang.lower.collapsed_crossed`). ``collapse=False`` samples
everything. For every scalar compared (``b``, both SDs, ``sigma``,
the first three levels of each ``r``) the posterior means and SDs must agree within
``Z * sqrt(MCSE_1^2 + MCSE_2^2)`` (MCSE(mean) = sd / sqrt(ESS_bulk); MCSE(sd) = sd *
sqrt((kurtosis - 1) / (4 ESS_bulk)), the delta-method SE of a sample SD). ``Z = 4``: 20
comparisons, each failing by chance with probability 6e-5; a wrong likelihood or effect draw
moves a mean by many MCSEs (an MCSE is 3-5% of a posterior SD here). So a failed fit cannot
widen its own tolerance, each compared scalar needs a bulk ESS >= 100 and R-hat < 1.05 in both
fits (4 chains x 500 draws).

SDs and sigma are compared on the log scale, with 4 x 500 draws. ``sd_sample`` (6 levels) has
a long right tail (posterior mean 2.47, SD 1.01 in 20,000 draws of each fit): a short fit that
visits the tail less than its share reports both a lower SD and, from it, a smaller MCSE, so
it narrows its own tolerance. With 2 x 300 draws one exact fit gave 2.33 / 0.76, and its log
an SD of 0.295 against 0.351: 5 of its own MCSEs.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.stats as st

import formulang as fl
from formulang.lower import collapsed_schur
from formulang.report.idata import import_arviz

FORMULA = "diameter ~ 1 + (1 | plate) + (1 | sample)"
SETTINGS = dict(chains=4, tune=500, draws=500, progress=False, seed=3)
Z = 4.0


@pytest.fixture(scope="module")
def full_fit():
    return fl.Model(FORMULA, fl.datasets.load("Penicillin"), collapse=False).fit(**SETTINGS)


@pytest.fixture(scope="module", params=["schur", "blocks"])
def fits(request, full_fit):
    data = fl.datasets.load("Penicillin")
    with pytest.MonkeyPatch.context() as patch:
        if request.param == "blocks":
            patch.setattr(collapsed_schur, "SCHUR_MAX_COST", 0.0)
        model = fl.Model(FORMULA, data)
    assert model.partial is not None and model.partial.schur == (request.param == "schur")
    return model, model.fit(**SETTINGS), full_fit


def scalars(fit) -> dict[str, np.ndarray]:
    post = fit.posterior.posterior
    out = {}
    for name in post.data_vars:
        if not (name in ("b", "sigma") or name.startswith(("sd_", "r_"))):
            continue
        a = np.asarray(post[name].values)
        a = a[:, :, :3, 0] if name.startswith("r_") else a
        a = np.log(a) if name == "sigma" or name.startswith("sd_") else a  # see the docstring
        a = a.reshape(a.shape[:2] + (-1,))
        out.update({f"{name}[{i}]": a[:, :, i] for i in range(a.shape[2])})
    return out


def moments(x: np.ndarray):
    az = import_arviz()
    ess = float(az.ess(x, method="bulk"))
    sd = float(np.std(x))
    kurt = float(st.kurtosis(x.ravel(), fisher=False))
    return float(np.mean(x)), sd, sd / np.sqrt(ess), sd * np.sqrt(max(kurt - 1, 0.5) / (4 * ess)), \
        ess, float(az.rhat(x))


def test_partial_and_full_posteriors_agree(fits):
    _, partial, full = fits
    a, b = scalars(partial), scalars(full)
    assert set(a) == set(b) and len(a) >= 10
    failures = []
    for key in a:
        m1, s1, se_m1, se_s1, ess1, r1 = moments(a[key])
        m2, s2, se_m2, se_s2, ess2, r2 = moments(b[key])
        if min(ess1, ess2) < 100 or max(r1, r2) >= 1.05:
            failures.append(f"{key}: ESS {ess1:.0f}/{ess2:.0f}, R-hat {r1:.3f}/{r2:.3f}")
        if abs(m1 - m2) > Z * np.hypot(se_m1, se_m2):
            failures.append(f"{key} mean {m1:.4g} vs {m2:.4g} (mcse {se_m1:.2g}, {se_m2:.2g})")
        if abs(s1 - s2) > Z * np.hypot(se_s1, se_s2):
            failures.append(f"{key} sd {s1:.4g} vs {s2:.4g} (mcse {se_s1:.2g}, {se_s2:.2g})")
    assert not failures, "\n".join(failures)
    assert int(np.sum(partial.stats["diverging"])) == 0


def test_partial_fit_is_a_full_fit(fits, tmp_path):
    """The full model's sites (plate's effects drawn afterwards), log-likelihood, summary,
    predictions, save/load and simulation."""
    model, partial, full = fits
    assert set(full.samples) == set(partial.samples)
    for k, v in full.samples.items():
        assert partial.samples[k].shape == v.shape, k
    chains, draws = SETTINGS["chains"], SETTINGS["draws"]
    assert partial.log_likelihood().shape == (chains, draws, 144)
    assert set(partial.summary().index) == set(full.summary().index)
    new = pd.DataFrame({"plate": ["a", "x"], "sample": ["A", "F"]})
    assert partial.predict(new, kind="mean").shape == (chains * draws, 2)
    path = tmp_path / "fit.nc"
    partial.save(path)
    loaded = fl.load(path)
    if model.partial.schur:
        assert loaded.model.collapsed_terms == ("plate", "sample")
        assert "plate (24 levels) by blocks, sample through a dense Schur complement" in \
            str(loaded.model)
    else:
        assert loaded.model.collapsed_terms == ("plate",)
        assert "collapsed: plate (24 levels) integrated out exactly; sample sampled" in \
            str(loaded.model)
    assert loaded.model == model.compiled
    np.testing.assert_allclose(loaded.predict(new, kind="mean", seed=1),
                               partial.predict(new, kind="mean", seed=1))
    sim = model.simulate({"b": {"Intercept": 23.0}, "sigma": 0.5}, seed=1)
    assert sim.data()["diameter"].shape == (144,)


def test_refit_reuses_the_compiled_sampler(fits):
    model, first, _ = fits
    samplers = dict(model._samplers)
    second = model.fit(**SETTINGS)
    assert model._samplers == samplers and len(samplers) == 1
    for k in first.samples:  # same seed: the same draws, the integrated effects included
        np.testing.assert_array_equal(first.samples[k], second.samples[k])


def test_asking_to_shard_a_partially_collapsed_model_says_why_not(fits):
    """Its sampler runs on sufficient statistics: no rows to split (infer/sharding.py)."""
    model = fits[0]
    with pytest.raises(fl.FormulangError, match="no rows to shard"):
        model.fit(shard_rows=2, draws=10, tune=10, progress=False)
