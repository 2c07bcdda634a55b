"""Families and links: likelihoods match their textbook densities; support errors name rows."""

import re

import numpy as np
import pytest
import scipy.stats as st
from scipy.special import gamma as gamma_fn

from formulang import DataError, FormulangError
from formulang.lower.families import FAMILIES, LINKS, SUPPORTS, family
from test_zero_inflated import REFERENCE as ZERO_INFLATED_REFERENCE


def logp(fam, eta, y, aux=None, trials=None):
    import jax.numpy as jnp

    d = family(*fam).distribution(jnp.asarray(eta), aux or {},
                                  None if trials is None else jnp.asarray(trials))
    return np.asarray(d.log_prob(jnp.asarray(y)))


ETA = np.array([-0.7, 0.2, 1.1])

# per family: a response in its support, values of its parameters, trials, the scipy density
REFERENCE = {
    "gaussian": ([0.1, 0.5, 2.0], {"sigma": 1.5}, None,
                 lambda: st.norm(ETA, 1.5).logpdf([0.1, 0.5, 2.0])),
    "student_t": ([0.1, 0.5, 2.0], {"sigma": 1.5, "nu": 4.0}, None,
                  lambda: st.t(4.0, ETA, 1.5).logpdf([0.1, 0.5, 2.0])),
    "bernoulli": ([0, 1, 1], {}, None,
                  lambda: st.bernoulli(1 / (1 + np.exp(-ETA))).logpmf([0, 1, 1])),
    "binomial": ([2, 5, 9], {}, [10, 10, 12],
                 lambda: st.binom([10, 10, 12], 1 / (1 + np.exp(-ETA))).logpmf([2, 5, 9])),
    "poisson": ([0, 3, 4], {}, None, lambda: st.poisson(np.exp(ETA)).logpmf([0, 3, 4])),
    "negative_binomial": ([0, 3, 4], {"phi": 2.5}, None,
                          lambda: st.nbinom(2.5, 2.5 / (2.5 + np.exp(ETA))).logpmf([0, 3, 4])),
    "gamma": ([0.3, 1.0, 4.0], {"shape": 3.0}, None,
              lambda: st.gamma(3.0, scale=np.exp(ETA) / 3.0).logpdf([0.3, 1.0, 4.0])),
    "lognormal": ([0.3, 1.0, 4.0], {"sigma": 0.8}, None,
                  lambda: st.lognorm(0.8, scale=np.exp(ETA)).logpdf([0.3, 1.0, 4.0])),
    "beta": ([0.2, 0.5, 0.9], {"phi": 6.0}, None,
             lambda: st.beta(6 / (1 + np.exp(-ETA)),
                             6 - 6 / (1 + np.exp(-ETA))).logpdf([0.2, 0.5, 0.9])),
    "exponential": ([0.3, 1.0, 4.0], {}, None,
                    lambda: st.expon(scale=np.exp(ETA)).logpdf([0.3, 1.0, 4.0])),
    # brms: mean mu, scale mu / Gamma(1 + 1/k)
    "weibull": ([0.3, 1.0, 4.0], {"shape": 1.7}, None,
                lambda: st.weibull_min(1.7, scale=np.exp(ETA) / gamma_fn(1 + 1 / 1.7))
                .logpdf([0.3, 1.0, 4.0])),
}
# means each support allows (eta = link(mean) is valid for every link)
MEANS = {"real": [0.5, 1.2, 3.0], "binary": [0.2, 0.5, 0.8], "binomial": [0.2, 0.5, 0.8],
         "count": [0.5, 1.2, 3.0], "positive": [0.5, 1.2, 3.0], "unit": [0.2, 0.5, 0.8],
         "nonnegative": [0.5, 1.2, 3.0]}
# a value outside each support
OUTSIDE = {"real": None, "binary": 2.0, "binomial": 13.0, "count": -1.0, "positive": 0.0,
           "unit": 1.0, "nonnegative": -1.0}
# the zero-inflated and hurdle rows' references (their own module tests them further)
REFERENCE.update(ZERO_INFLATED_REFERENCE)


# rows whose response is categories (a density over categories, a mean that is not the
# likelihood's) are checked in tests/lower/test_ordinal.py (against scipy) and
# tests/lower/test_categorical.py (against a direct softmax)
SCALAR_RESPONSE = [name for name, spec in FAMILIES.items() if spec.probabilities is None]


@pytest.mark.parametrize("name", SCALAR_RESPONSE)
def test_every_family_matches_its_reference_density(name):
    y, aux, trials, expected = REFERENCE[name]
    np.testing.assert_allclose(logp((name,), ETA, y, aux, trials), expected(), rtol=2e-4,
                               atol=2e-4)


@pytest.mark.parametrize("name", SCALAR_RESPONSE)
def test_every_family_row_is_complete(name):
    """What every feature asks of a row: default priors for its parameters (positive), a mean
    equal to its likelihood's mean for every link, a pilot start and working weights that are
    finite, source text naming its parameters, and a support check."""
    import jax.numpy as jnp

    from formulang.ir.prior import DISTRIBUTIONS

    spec = FAMILIES[name]
    y, aux, trials, _ = REFERENCE[name]
    assert set(aux) == set(spec.aux)
    for a in spec.parameters:
        dist_name, *params = a.prior(2.0)
        assert DISTRIBUTIONS[dist_name].support in ("positive", "unit"), a.name
        assert a.mass is None or a.mass(100, 3.0) > 0
    assert spec.support in SUPPORTS
    for link in spec.links:
        fam = family(name, link)
        eta = fam.link.forward(np.array(MEANS[spec.support]))
        n = None if trials is None else np.asarray(trials, dtype=float)
        mean = fam.mean(eta[None], {k: np.array([v]) for k, v in aux.items()}, n)
        d = fam.distribution(jnp.asarray(eta), aux, None if n is None else jnp.asarray(n))
        np.testing.assert_allclose(mean[0], np.asarray(d.mean), rtol=2e-4, err_msg=str(fam))
        text = "\n".join(fam.source())
        assert all(a in text for a in spec.aux) and "eta" in text
        bad = OUTSIDE[spec.support]
        if bad is not None:
            with pytest.raises(DataError, match=rf"{name} family .*row position 1 \({bad:g}\)"):
                fam.check_response(np.array([y[0], bad]), None if n is None else n[:2])


@pytest.mark.parametrize("name", list(LINKS))
def test_links_agree_with_themselves(name):
    """NumPy and JAX inverses agree, invert the forward link, and the derivative is the
    inverse's slope."""
    import jax.numpy as jnp

    link = LINKS[name]
    mu = np.array([0.2, 0.5, 0.8])
    eta = link.forward(mu)
    np.testing.assert_allclose(link.inverse(eta), mu, rtol=1e-12)
    np.testing.assert_allclose(np.asarray(link.inverse_jax(jnp.asarray(eta))), mu, rtol=1e-5)
    h = 1e-6
    slope = (link.inverse(eta + h) - link.inverse(eta - h)) / (2 * h)
    np.testing.assert_allclose(link.dmu_deta(eta), slope, rtol=1e-6)
    assert np.all(np.isfinite(link.forward(link.start(np.array([0.0, 0.5, 1.0])))))
    assert np.isfinite(link.location(0.5))


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


@pytest.mark.parametrize("alias, name", [
    ("student", "student_t"), ("t", "student_t"), ("negbinomial", "negative_binomial"),
    ("negativebinomial", "negative_binomial"), ("Gamma", "gamma"), ("Gaussian", "gaussian"),
    ("normal", "gaussian"), ("zero_inflated_negative_binomial", "zero_inflated_negbinomial"),
    ("hurdle_negativebinomial", "hurdle_negbinomial"), ("POISSON", "poisson")])
def test_other_packages_family_names_are_the_same_family(alias, name):
    # brms's, bambi's and R's spellings: the family itself, reported under its own name
    assert family(alias).spec is FAMILIES[name]
    assert family(alias, "log" if name != "gaussian" and name != "student_t" else
                  "identity").spec.name == name


def test_every_family_has_a_default_link():
    for spec in FAMILIES.values():
        assert family(spec.name).link.name == spec.default_link


def test_bad_family_or_link_lists_choices():
    with pytest.raises(FormulangError, match="did you mean 'gaussian'.*families: gaussian, "
                                             "student_t"):
        family("gausian")
    with pytest.raises(FormulangError, match="did you mean 'negative_binomial'"):
        family("negbinomal")  # near an alias: its family is suggested
    with pytest.raises(FormulangError, match="'log'"):
        family("poisson", "identity")


@pytest.mark.parametrize("name, y, rows", [
    ("bernoulli", [0, 1, 2, 1], "row position 2 (2)"),
    ("poisson", [0, -1, 2.5], "row position 1 (-1), row position 2 (2.5)"),
    ("gamma", [1.0, 0.0], "row position 1 (0)"),
    ("beta", [0.5, 1.0], "row position 1 (1)"),
])
def test_response_outside_support_names_rows(name, y, rows):
    with pytest.raises(DataError, match=rf"{name} family .*{re.escape(rows)}"):
        family(name).check_response(np.array(y, dtype=float))


def test_binomial_needs_trials_and_bounds():
    with pytest.raises(DataError, match="needs trials"):
        family("binomial").check_response(np.array([1.0]))
    with pytest.raises(DataError, match="row position 1 \\(6\\)"):
        family("binomial").check_response(np.array([1.0, 6.0]), np.array([5.0, 5.0]))
