"""Families and links: likelihoods match their textbook densities; support errors name rows."""

import re

import numpy as np
import pytest
import scipy.stats as st

from formulang import DataError, FormulangError
from formulang.lower.families import FAMILIES, LINKS, family


def logp(fam, eta, y, aux=None, trials=None):
    import jax.numpy as jnp

    d = family(*fam).distribution(jnp.asarray(eta), aux or {},
                                  None if trials is None else jnp.asarray(trials))
    return np.asarray(d.log_prob(jnp.asarray(y)))


ETA = np.array([-0.7, 0.2, 1.1])


@pytest.mark.parametrize("fam, y, aux, trials, expected", [
    (("gaussian",), [0.1, 0.5, 2.0], {"sigma": 1.5}, None,
     lambda: st.norm(ETA, 1.5).logpdf([0.1, 0.5, 2.0])),
    (("student_t",), [0.1, 0.5, 2.0], {"sigma": 1.5, "nu": 4.0}, None,
     lambda: st.t(4.0, ETA, 1.5).logpdf([0.1, 0.5, 2.0])),
    (("bernoulli", "logit"), [0, 1, 1], {}, None,
     lambda: st.bernoulli(1 / (1 + np.exp(-ETA))).logpmf([0, 1, 1])),
    (("bernoulli", "probit"), [0, 1, 1], {}, None,
     lambda: st.bernoulli(st.norm.cdf(ETA)).logpmf([0, 1, 1])),
    (("binomial",), [2, 5, 9], {}, [10, 10, 12],
     lambda: st.binom([10, 10, 12], 1 / (1 + np.exp(-ETA))).logpmf([2, 5, 9])),
    (("poisson",), [0, 3, 4], {}, None, lambda: st.poisson(np.exp(ETA)).logpmf([0, 3, 4])),
    (("negative_binomial",), [0, 3, 4], {"phi": 2.5}, None,
     lambda: st.nbinom(2.5, 2.5 / (2.5 + np.exp(ETA))).logpmf([0, 3, 4])),
    (("gamma",), [0.3, 1.0, 4.0], {"shape": 3.0}, None,
     lambda: st.gamma(3.0, scale=np.exp(ETA) / 3.0).logpdf([0.3, 1.0, 4.0])),
    (("lognormal",), [0.3, 1.0, 4.0], {"sigma": 0.8}, None,
     lambda: st.lognorm(0.8, scale=np.exp(ETA)).logpdf([0.3, 1.0, 4.0])),
    (("beta",), [0.2, 0.5, 0.9], {"phi": 6.0}, None,
     lambda: st.beta(6 / (1 + np.exp(-ETA)), 6 - 6 / (1 + np.exp(-ETA))).logpdf([0.2, 0.5, 0.9])),
])
def test_likelihoods_match_scipy(fam, y, aux, trials, expected):
    np.testing.assert_allclose(logp(fam, ETA, y, aux, trials), expected(), rtol=2e-4, atol=2e-4)


def test_links_invert():
    import jax.numpy as jnp

    for name in ("identity", "log", "logit", "probit", "inverse"):
        link = LINKS[name]
        mu = np.array([0.2, 0.5, 0.8])
        np.testing.assert_allclose(np.asarray(link.inverse(jnp.asarray(link.forward(mu)))), mu,
                                   rtol=1e-5)


def test_every_family_has_a_default_link():
    for spec in FAMILIES.values():
        assert family(spec.name).link.name == spec.default_link


def test_bad_family_or_link_lists_choices():
    with pytest.raises(FormulangError, match="families: gaussian, student_t"):
        family("gausian")
    with pytest.raises(FormulangError, match="'log'"):
        family("poisson", "identity")


@pytest.mark.parametrize("name, y, rows", [
    ("bernoulli", [0, 1, 2, 1], "row 2 (2)"),
    ("poisson", [0, -1, 2.5], "row 1 (-1), row 2 (2.5)"),
    ("gamma", [1.0, 0.0], "row 1 (0)"),
    ("beta", [0.5, 1.0], "row 1 (1)"),
])
def test_response_outside_support_names_rows(name, y, rows):
    with pytest.raises(DataError, match=rf"{name} family .*{re.escape(rows)}"):
        family(name).check_response(np.array(y, dtype=float))


def test_binomial_needs_trials_and_bounds():
    with pytest.raises(DataError, match="needs trials"):
        family("binomial").check_response(np.array([1.0]))
    with pytest.raises(DataError, match="row 1 \\(6\\)"):
        family("binomial").check_response(np.array([1.0, 6.0]), np.array([5.0, 5.0]))
