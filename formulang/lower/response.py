"""The observed response's distribution with its additions: censoring, truncation, known
standard errors and exposure (brms's ``cens``, ``trunc``, ``se``, ``rate``).

:class:`ResponsePlan` records which additions a model has (part of the
:class:`~formulang.lower.plan.ModelPlan`); :func:`observation` builds the distribution of the
observed ``y`` from the family's row:

- ``se(s)``: the rows' SDs are the known ``s`` (``sigma`` is then not a parameter);
  ``se(s, sigma = TRUE)``: ``sqrt(sigma^2 + s^2)``;
- ``rate(n)``: ``log(n)`` is in the offset (the mean scales with ``n``); the row's
  ``rate_aux`` parameters are multiplied by ``n`` too (brms: the negative binomial's shape);
- censoring: a row censored on the right contributes ``log S(y) = log P(Y > y)``, on the left
  ``log F(y) = log P(Y <= y)``, in an interval ``log(F(y2) - F(y))`` (Stan's ``_lccdf``,
  ``_lcdf``, as brms);
- truncation to ``[lb, ub]``: the density less ``log(F(ub) - F(lb))`` (``F(lb - 1)`` for
  discrete families, whose bounds are inclusive); draws come from the truncated distribution
  by inverting ``F`` (bisection for discrete families); the mean (``predict(kind="mean")``,
  brms's ``posterior_epred``) is that of the truncated distribution (:func:`truncated_mean`,
  from the row's closed-form partial moments).

Censored and truncated responses are one NumPyro distribution (:func:`observed_class`), so the
model's ``y`` site, the pointwise log-likelihood (LOO) and prior predictive draws all use it.

>>> import jax.numpy as jnp
>>> from formulang.lower.families import family
>>> plan = ResponsePlan(censored=True)
>>> d = observation(family("poisson"), plan, jnp.zeros(2), {}, None,
...                 {"cens": jnp.array([0, 1])})
>>> [round(float(v), 4) for v in d.log_prob(jnp.array([1.0, 1.0]))]  # log P(Y=1), P(Y>1)
[-1.0, -1.3309]
"""

from __future__ import annotations

import functools
from dataclasses import asdict, dataclass

from ..errors import FormulangError
from . import cdfs


@dataclass(frozen=True)
class ResponsePlan:
    """Which response additions a model has: ``censored`` (``cens()``), ``interval`` (with
    ``y2``), truncation bounds ``lb`` / ``ub``, ``se`` (with ``se_sigma``: a residual SD
    too) and ``rate``; ``counts``: the training rows censored on the left, on the right and
    in an interval (for ``print(model)``)."""

    censored: bool = False
    interval: bool = False
    lb: bool = False
    ub: bool = False
    se: bool = False
    se_sigma: bool = False
    rate: bool = False
    counts: tuple[int, int, int] = (0, 0, 0)  # rows censored left, right, in an interval

    @property
    def truncated(self) -> bool:
        return self.lb or self.ub

    @property
    def dropped(self) -> tuple[str, ...]:
        """Family parameters the model does not have: ``sigma`` with known SEs alone."""
        return ("sigma",) if self.se and not self.se_sigma else ()

    def data_keys(self) -> tuple[str, ...]:
        """The model data's arrays for these additions
        (:func:`~formulang.lower.plan.model_data`)."""
        keys = [("cens", self.censored), ("y2", self.interval), ("lb", self.lb),
                ("ub", self.ub), ("se", self.se), ("rate", self.rate)]
        return tuple(k for k, on in keys if on)

    def to_dict(self) -> dict:
        return {k: [int(c) for c in v] if k == "counts" else bool(v)
                for k, v in asdict(self).items()}

    @classmethod
    def from_dict(cls, d: dict | None) -> "ResponsePlan":
        """The plan :meth:`to_dict` wrote; ``None`` (files before it) means no additions."""
        return cls(**{k: tuple(int(c) for c in v) if k == "counts" else bool(v)
                      for k, v in (d or {}).items()})


def response_plan(response, fam) -> ResponsePlan:
    """The additions of ``response`` (a :class:`~formulang.ir.formula.Response`) for family
    ``fam``; an addition the family cannot take is a :class:`FormulangError` that says which
    families can."""
    from .families import FAMILIES

    if response is None:
        return ResponsePlan()
    spec = fam.spec
    plan = ResponsePlan(response.cens is not None, response.y2 is not None,
                        response.lb is not None, response.ub is not None,
                        response.se is not None, bool(response.se_sigma),
                        response.rate is not None)

    def able(test) -> str:
        return ", ".join(name for name, row in FAMILIES.items() if test(row))

    if (plan.censored or plan.truncated) and spec.log_cdfs is None:
        what = "censoring (cens())" if plan.censored else "truncation (trunc())"
        raise FormulangError(f"{what} is not available for the {spec.name} family; families "
                             f"that take it: {able(lambda r: r.log_cdfs is not None)}")
    if plan.se and not spec.se:
        raise FormulangError(f"se() gives known standard errors of a normal-like response; "
                             f"the {spec.name} family has none; families that take it: "
                             f"{able(lambda r: r.se)}")
    if plan.rate and spec.rate_aux is None:
        raise FormulangError(f"rate() is for counts; the {spec.name} family does not take it; "
                             f"families that take it: "
                             f"{able(lambda r: r.rate_aux is not None)}")
    if plan.rate and fam.link.name != "log":
        raise FormulangError("rate() scales the mean through a log offset: it needs the log "
                             "link")
    return plan


def dropped_aux(response, fam) -> tuple[str, ...]:
    """The family parameters a model with this response does not have (see
    :attr:`ResponsePlan.dropped`)."""
    if response is None or response.se is None or not fam.spec.se:
        return ()
    return () if response.se_sigma else ("sigma",)


def with_additions(fam, plan: ResponsePlan, aux: dict, extras: dict) -> dict:
    """The family parameters per row after ``se()`` and ``rate()``."""
    aux = dict(aux)
    if plan.se:
        se = extras["se"]
        aux["sigma"] = ((aux["sigma"] ** 2 + se**2) ** 0.5) if plan.se_sigma else se
    if plan.rate:
        for name in fam.spec.rate_aux:
            aux[name] = aux[name] * extras["rate"]
    return aux


def observation(fam, plan: ResponsePlan, eta, aux: dict, trials, extras: dict,
                censored: bool = True):
    """The distribution of the observed response (see the module docstring). ``extras``
    holds the additions' arrays (keys of :meth:`ResponsePlan.data_keys`); ``censored=False``
    gives the uncensored response (still truncated), for predictions."""
    base = fam.distribution(eta, with_additions(fam, plan, aux, extras), trials)
    cens = extras.get("cens") if plan.censored and censored else None
    if cens is None and not plan.truncated:
        return base
    return observed_class()(base, fam.spec, cens, extras.get("y2") if plan.interval else None,
                            extras.get("lb") if plan.lb else None,
                            extras.get("ub") if plan.ub else None)


def truncated_mean(fam, plan: ResponsePlan, eta, aux: dict, trials, extras: dict):
    """The mean of the truncated response per draw and row, NumPy float64:
    ``E[Y | lb <= Y <= ub] = (M(ub) - M(a)) / (F(ub) - F(a))`` with ``M(y) = E[Y; Y <= y]``
    and ``a = lb`` (``lb - 1`` for discrete families, whose bounds are inclusive), from the
    row's ``moments`` (:class:`~formulang.lower.families.FamilySpec`); where the kept range
    lies in the upper tail, the same from the upper moments (``S`` and ``E[Y; Y > y]``), which
    keep their precision there. ``eta``: (draws, rows); ``aux``: values per draw; ``extras``:
    the additions' arrays per row (bounds, known SEs, exposures).

    >>> import numpy as np
    >>> from formulang.lower.families import family
    >>> m = truncated_mean(family("gaussian"), ResponsePlan(lb=True), np.zeros((1, 1)),
    ...                    {"sigma": np.array([1.0])}, None, {"lb": np.array([0.0])})
    >>> round(float(m[0, 0]), 4)  # half-normal: sqrt(2 / pi)
    0.7979
    """
    import numpy as np

    eta = np.asarray(eta, dtype=float)
    # values per draw against eta's rows; a parameter with its own formula is per row already
    per_draw = {k: np.asarray(v, dtype=float) if np.ndim(v) == eta.ndim else
                np.asarray(v, dtype=float).reshape((-1,) + (1,) * (eta.ndim - 1))
                for k, v in aux.items()}
    params = with_additions(fam, plan, per_draw, extras)
    n = None if trials is None else np.asarray(trials, dtype=float)
    lb = np.asarray(extras["lb"], dtype=float) if plan.lb else -np.inf
    ub = np.asarray(extras["ub"], dtype=float) if plan.ub else np.inf
    a = lb - 1.0 if fam.spec.discrete else lb
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        F_a, S_a, low_a, high_a = fam.spec.moments(fam.link, eta, params, n, a)
        F_b, S_b, low_b, high_b = fam.spec.moments(fam.link, eta, params, n, ub)
        upper = S_a < F_b  # the kept range is nearer the upper tail
        mass = np.where(upper, S_a - S_b, F_b - F_a)
        mean = np.where(upper, high_a - high_b, low_b - low_a) / mass
    # beyond float64's reach (no mass left between the bounds): the bound the mass is near
    lo, hi = np.broadcast_to(lb, eta.shape), np.broadcast_to(ub, eta.shape)
    mean = np.where(mass > 0, mean, np.where(upper, lo, hi))
    return np.clip(mean, lo, hi)


def censored_truncated(base, family_name: str, cens=None, y2=None, lb=None, ub=None):
    """``base`` (a family's NumPyro distribution) censored and/or truncated, as formulang's
    model has it: what generated code (:func:`~formulang.Model.code`) calls."""
    from .families import FAMILIES

    return observed_class()(base, FAMILIES[family_name], cens, y2, lb, ub)


# ---- generated code (:mod:`formulang.lower.codegen`) -----------------------------------------

SOURCE_DOCS = {"cens": "cens: censoring per row (-1 left, 0 none, 1 right, 2 interval).",
               "y2": "y2: the upper end of interval-censored rows (ignored elsewhere).",
               "lb": "lb: the lower truncation bound per row.",
               "ub": "ub: the upper truncation bound per row.",
               "se": "se: the known standard error of each row.",
               "rate": "rate: the exposure of each row (log(rate) is in the offset)."}


def source_lines(fam, plan: ResponsePlan, expression: str) -> tuple[list[str], str]:
    """Source statements before the likelihood and its expression, with the additions."""
    lines = []
    if plan.se:
        lines.append("sigma = jnp.sqrt(sigma**2 + se**2)" if plan.se_sigma else "sigma = se")
    if plan.rate:
        lines += [f"{a} = {a} * rate  # rate() scales {a} too (brms)" for a in fam.spec.rate_aux]
    if not (plan.censored or plan.truncated):
        return lines, expression
    if plan.interval:  # a stand-in upper end outside interval rows keeps gradients finite
        lines.append("y2 = y2 if y is None else "
                     "jnp.where(cens == 2, y2, y + jnp.maximum(1.0, jnp.abs(y)))")
    kw = ", ".join(f"{k}={k}" for k in ("cens", "y2", "lb", "ub") if k in plan.data_keys())
    return lines, f"censored_truncated({expression}, {fam.name!r}, {kw})"


def source_data(plan: ResponsePlan) -> list[str]:
    """``data_from``'s lines for the additions' arrays."""
    return [f'"{k}": np.asarray(bound.additions.{k}, '
            f'dtype={"np.int32" if k == "cens" else "float"}),' for k in plan.data_keys()]


def _log1mexp(x):
    """``log(1 - exp(x))`` for ``x < 0``, accurately at both ends."""
    import jax.numpy as jnp

    x = jnp.minimum(x, -1e-12)
    return jnp.where(x > -0.6931, jnp.log(-jnp.expm1(x)), jnp.log1p(-jnp.exp(x)))


@functools.cache
def observed_class():
    """The NumPyro distribution class of a censored and/or truncated response (defined on
    first use: parsing and binding do not import NumPyro)."""
    import jax
    import jax.numpy as jnp
    import numpyro.distributions as dist

    class CensoredTruncated(dist.Distribution):
        """``base`` censored by ``cens`` (-1, 0, 1, 2 per row; ``y2`` the interval's upper
        end) and truncated to ``[lb, ub]`` (``None``: not)."""

        def __init__(self, base, spec, cens=None, y2=None, lb=None, ub=None):
            self.base, self.spec = base, spec
            self.cens, self.y2, self.lb, self.ub = cens, y2, lb, ub
            super().__init__(batch_shape=base.batch_shape, event_shape=base.event_shape)

        @property
        def support(self):
            return self.base.support

        def _lower(self):
            """The point whose ``F`` lies below the truncated range: ``lb`` (discrete:
            ``lb - 1``)."""
            return self.lb - 1.0 if self.spec.discrete else self.lb

        def log_normaliser(self):
            F = self.spec.log_cdfs
            if self.lb is not None and self.ub is None:
                return F(self.base, self._lower())[1]
            up = F(self.base, self.ub)[0]
            if self.lb is None:
                return up
            return up + _log1mexp(F(self.base, self._lower())[0] - up)

        def log_prob(self, value):
            lp = self.base.log_prob(value)
            if self.cens is not None:
                log_f, log_s = self.spec.log_cdfs(self.base, value)
                lp = jnp.where(self.cens == 1, log_s, jnp.where(self.cens == -1, log_f, lp))
                if self.y2 is not None:
                    upper = self.spec.log_cdfs(self.base, self.y2)[0]
                    lp = jnp.where(self.cens == 2, upper + _log1mexp(log_f - upper), lp)
            if self.lb is not None or self.ub is not None:
                lp = lp - self.log_normaliser()
            return lp

        def sample(self, key, sample_shape=()):
            if self.lb is None and self.ub is None:
                return self.base.sample(key, sample_shape)
            F = self.spec.log_cdfs
            shape = tuple(sample_shape) + tuple(self.batch_shape)
            lo = 0.0 if self.lb is None else jnp.exp(F(self.base, self._lower())[0])
            hi = 1.0 if self.ub is None else jnp.exp(F(self.base, self.ub)[0])
            u = jax.random.uniform(key, shape)
            u = jnp.clip(lo + u * (hi - lo), 1e-7, 1.0 - 1e-7)
            if self.spec.discrete:
                a = -1.0 if self.lb is None else self._lower()
                b = cdfs.DISCRETE_CAP if self.ub is None else self.ub
                y = cdfs.discrete_icdf(F, self.base, u, a, b)
            else:
                y = self.spec.icdf(self.base, u)
            if self.lb is not None:
                y = jnp.maximum(y, self.lb)
            if self.ub is not None:
                y = jnp.minimum(y, self.ub)
            return y

    return CensoredTruncated


__all__ = ["ResponsePlan", "SOURCE_DOCS", "censored_truncated", "dropped_aux", "observation",
           "observed_class", "response_plan", "source_data", "source_lines", "truncated_mean",
           "with_additions"]
