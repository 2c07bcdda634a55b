"""Prior distributions as written in formulang's prior syntax: ``normal(0, 2.5)``.

A :class:`Prior` names a distribution and all of its parameters (positional arguments are
matched to names here), already checked against the parameter's constraint. Which parameter a
prior applies to (``b``, ``sd[county]``...) is the model's business, not this module's.

>>> from formulang import parse_prior
>>> str(parse_prior("student_t(3, 0, sigma = 2.5)"))
'student_t(3, 0, 2.5)'
>>> gamma = DISTRIBUTIONS["gamma"]
>>> gamma.code("2.0", "0.1"), float(gamma.centre([2.0, 0.1], None))
('dist.Gamma(2.0, 0.1)', 20.0)
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import reduce
from typing import Callable

from .expr import format_kwarg_value


@dataclass(frozen=True)
class DistributionSpec:
    """A prior distribution and its behaviour, one row of :data:`DISTRIBUTIONS`.

    ``build(dist, p)``: the NumPyro distribution (``dist`` is ``numpyro.distributions``, ``p``
    the parameters in order, scalars or stacked arrays); ``source``: the same as source text,
    ``{0}, {1}...`` the parameters; ``numpyro_class`` and ``attrs``: where a NumPyro
    distribution of this kind keeps the parameters, to read a prior back from one (NUTS's
    starting points see only the distribution); ``centre(p, xp)``: a central value on the
    support (the location on the real line, a typical value of a positive quantity, the mean
    of a beta, the middle of a uniform), ``xp`` the array module; ``scale(p)``: its spread on
    its own scale (1 for non-location families).
    """

    name: str
    params: tuple[str, ...]
    constraints: tuple[str, ...]  # "real", "positive"
    support: str  # "real", "positive", "unit", "correlation", "interval"
    doc: str
    build: Callable | None = None
    source: str = ""
    numpyro_class: str = ""
    attrs: tuple[str, ...] = ()
    centre: Callable | None = None
    scale: Callable = lambda p: 1.0

    def numpyro(self, params):
        """The NumPyro distribution with parameters ``params`` (in :attr:`params` order)."""
        import numpyro.distributions as dist

        return self.build(dist, params)

    def code(self, *args: str) -> str:
        """The NumPyro distribution as source text, given each parameter's text."""
        return self.source.format(*args)

    def read(self, fn) -> tuple | None:
        """The parameters of NumPyro distribution ``fn`` when it is one of this row's, else
        None."""
        if not self.attrs or type(fn).__name__ != self.numpyro_class:
            return None
        try:
            return tuple(reduce(getattr, a.split("."), fn) for a in self.attrs)
        except AttributeError:  # e.g. a folded distribution of another base
            return None


def _spec(name, params, constraints, support, doc, build=None, source="", numpyro=("", ()),
          centre=None, scale=lambda p: 1.0):
    return DistributionSpec(name, tuple(params), tuple(constraints), support, doc, build,
                            source, numpyro[0], tuple(numpyro[1]), centre, scale)


def _first(p, xp):
    return p[0]


def _second(p, xp):
    return p[1]


# Parameter names follow Stan/brms, so brms users can read them unchanged.
DISTRIBUTIONS: dict[str, DistributionSpec] = {
    d.name: d
    for d in [
        _spec("normal", ["mu", "sigma"], ["real", "positive"], "real", "normal(mu, sigma)",
              lambda d, p: d.Normal(p[0], p[1]), "dist.Normal({0}, {1})",
              ("Normal", ["loc", "scale"]), _first, lambda p: p[1]),
        _spec("student_t", ["df", "mu", "sigma"], ["positive", "real", "positive"], "real",
              "Student t with df degrees of freedom",
              lambda d, p: d.StudentT(p[0], p[1], p[2]), "dist.StudentT({0}, {1}, {2})",
              ("StudentT", ["df", "loc", "scale"]), _second, lambda p: p[2]),
        _spec("cauchy", ["mu", "sigma"], ["real", "positive"], "real", "Cauchy(mu, sigma)",
              lambda d, p: d.Cauchy(p[0], p[1]), "dist.Cauchy({0}, {1})",
              ("Cauchy", ["loc", "scale"]), _first, lambda p: p[1]),
        _spec("laplace", ["mu", "sigma"], ["real", "positive"], "real", "double exponential",
              lambda d, p: d.Laplace(p[0], p[1]), "dist.Laplace({0}, {1})",
              ("Laplace", ["loc", "scale"]), _first, lambda p: p[1]),
        _spec("half_normal", ["sigma"], ["positive"], "positive", "|normal(0, sigma)|",
              lambda d, p: d.HalfNormal(p[0]), "dist.HalfNormal({0})",
              ("HalfNormal", ["scale"]), _first),
        _spec("half_cauchy", ["sigma"], ["positive"], "positive", "|Cauchy(0, sigma)|",
              lambda d, p: d.HalfCauchy(p[0]), "dist.HalfCauchy({0})",
              ("HalfCauchy", ["scale"]), _first),
        _spec("half_student_t", ["df", "sigma"], ["positive", "positive"], "positive",
              "|Student t(df, 0, sigma)|",
              lambda d, p: d.FoldedDistribution(d.StudentT(p[0], 0.0, p[1])),
              "dist.FoldedDistribution(dist.StudentT({0}, 0.0, {1}))",
              ("FoldedDistribution", ["base_dist.df", "base_dist.scale"]), _second),
        _spec("exponential", ["rate"], ["positive"], "positive", "exponential with rate",
              lambda d, p: d.Exponential(p[0]), "dist.Exponential({0})",
              ("Exponential", ["rate"]), lambda p, xp: 1.0 / p[0]),
        _spec("gamma", ["alpha", "beta"], ["positive", "positive"], "positive",
              "gamma with shape alpha and rate beta",
              lambda d, p: d.Gamma(p[0], p[1]), "dist.Gamma({0}, {1})",
              ("Gamma", ["concentration", "rate"]), lambda p, xp: p[0] / p[1]),
        # its mean where finite, else its scale
        _spec("inv_gamma", ["alpha", "beta"], ["positive", "positive"], "positive",
              "inverse gamma with shape alpha and scale beta",
              lambda d, p: d.InverseGamma(p[0], p[1]), "dist.InverseGamma({0}, {1})",
              ("InverseGamma", ["concentration", "rate"]),
              lambda p, xp: p[1] / xp.maximum(p[0] - 1.0, 1.0)),
        _spec("lognormal", ["mu", "sigma"], ["real", "positive"], "positive",
              "log-normal: log(x) ~ normal(mu, sigma)",
              lambda d, p: d.LogNormal(p[0], p[1]), "dist.LogNormal({0}, {1})",
              ("LogNormal", ["loc", "scale"]), lambda p, xp: xp.exp(p[0])),
        _spec("beta", ["alpha", "beta"], ["positive", "positive"], "unit", "beta(alpha, beta)",
              lambda d, p: d.Beta(p[0], p[1]), "dist.Beta({0}, {1})",
              ("Beta", ["concentration1", "concentration0"]),
              lambda p, xp: p[0] / (p[0] + p[1])),
        _spec("uniform", ["lower", "upper"], ["real", "real"], "interval",
              "uniform on (lower, upper)",
              lambda d, p: d.Uniform(p[0], p[1]), "dist.Uniform({0}, {1})",
              ("Uniform", ["low", "high"]), lambda p, xp: (p[0] + p[1]) / 2,
              lambda p: (p[1] - p[0]) / 4),
        # built by the group-effects code (a Cholesky factor per block), not from this row
        _spec("lkj", ["eta"], ["positive"], "correlation",
              "LKJ prior on a correlation matrix (eta = 1 is uniform)"),
    ]
}


@dataclass(frozen=True)
class Prior:
    """A distribution with every parameter named, in the distribution's order."""

    distribution: str
    params: tuple[tuple[str, float], ...]

    def __post_init__(self):
        spec = DISTRIBUTIONS.get(self.distribution)
        if spec is None or tuple(name for name, _ in self.params) != spec.params:
            raise ValueError(f"invalid prior {self.distribution}{self.params}")

    @property
    def spec(self) -> DistributionSpec:
        return DISTRIBUTIONS[self.distribution]

    def __getitem__(self, name: str) -> float:
        return dict(self.params)[name]

    def __str__(self) -> str:
        args = ", ".join(format_kwarg_value(v) for _, v in self.params)
        return f"{self.distribution}({args})"


PARAMETER_ALIASES = {"nu": "df"}
"""Other names of a distribution's parameters: Stan's and brms's ``nu`` of the Student t."""


def unknown_distribution(name: str) -> str:
    """The message for a prior named ``name``, which is not a distribution here.

    >>> unknown_distribution("flat").split(";")[1]  # doctest: +ELLIPSIS
    " brms's flat prior is improper, ... normal(0, 100), is close"
    """
    from ..errors import shorten

    hint = ("; brms's flat prior is improper, and every prior here is proper: a wide one, "
            "normal(0, 100), is close" if name == "flat" else "")
    return (f"unknown distribution '{shorten(name)}'{hint}; known: "
            f"{', '.join(sorted(DISTRIBUTIONS))}")
