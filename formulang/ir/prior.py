"""Prior distributions as written in formulang's prior syntax: ``normal(0, 2.5)``.

A :class:`Prior` names a distribution and all of its parameters (positional arguments are
matched to names here), already checked against the parameter's constraint. Which parameter a
prior applies to (``b``, ``sd[county]``...) is the model's business, not this module's.

>>> from formulang import parse_prior
>>> str(parse_prior("student_t(3, 0, sigma = 2.5)"))
'student_t(3, 0, 2.5)'
"""

from __future__ import annotations

from dataclasses import dataclass

from .expr import format_kwarg_value


@dataclass(frozen=True)
class DistributionSpec:
    name: str
    params: tuple[str, ...]
    constraints: tuple[str, ...]  # "real", "positive"
    support: str  # "real", "positive", "unit", "correlation", "interval"
    doc: str


def _spec(name, params, constraints, support, doc):
    return DistributionSpec(name, tuple(params), tuple(constraints), support, doc)


# Parameter names follow Stan/brms, so brms users can read them unchanged.
DISTRIBUTIONS: dict[str, DistributionSpec] = {
    d.name: d
    for d in [
        _spec("normal", ["mu", "sigma"], ["real", "positive"], "real", "normal(mu, sigma)"),
        _spec("student_t", ["df", "mu", "sigma"], ["positive", "real", "positive"], "real",
              "Student t with df degrees of freedom"),
        _spec("cauchy", ["mu", "sigma"], ["real", "positive"], "real", "Cauchy(mu, sigma)"),
        _spec("laplace", ["mu", "sigma"], ["real", "positive"], "real", "double exponential"),
        _spec("half_normal", ["sigma"], ["positive"], "positive", "|normal(0, sigma)|"),
        _spec("half_cauchy", ["sigma"], ["positive"], "positive", "|Cauchy(0, sigma)|"),
        _spec("half_student_t", ["df", "sigma"], ["positive", "positive"], "positive",
              "|Student t(df, 0, sigma)|"),
        _spec("exponential", ["rate"], ["positive"], "positive", "exponential with rate"),
        _spec("gamma", ["alpha", "beta"], ["positive", "positive"], "positive",
              "gamma with shape alpha and rate beta"),
        _spec("inv_gamma", ["alpha", "beta"], ["positive", "positive"], "positive",
              "inverse gamma with shape alpha and scale beta"),
        _spec("lognormal", ["mu", "sigma"], ["real", "positive"], "positive",
              "log-normal: log(x) ~ normal(mu, sigma)"),
        _spec("beta", ["alpha", "beta"], ["positive", "positive"], "unit", "beta(alpha, beta)"),
        _spec("uniform", ["lower", "upper"], ["real", "real"], "interval",
              "uniform on (lower, upper)"),
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
