"""The plan of a model's smooth terms (``s()``, ``gp()``; :mod:`formulang.data.smooths`), their
default priors, and their part of the NumPyro model.

A penalised smooth adds ``Zs @ (sds * zs)`` to the linear predictor, ``zs ~ N(0, 1)``, ``sds``
its SD (brms's non-centred ``s = sds * zs``); an approximate GP adds ``Xgp @ (sqrt(spd) *
zgp)``, ``spd`` the squared-exponential kernel's spectral density at the basis functions'
frequencies, with ``sdgp`` its marginal SD and ``lscale`` its length-scale (on ``x`` divided by
its range, as brms); an exact GP (``gp(x)``, :mod:`formulang.data.gp_exact`) adds, to each
row, ``f = sdgp chol(C + jitter I) zgp`` at its value's index, ``C`` the squared-exponential
correlation of the unique values. A tensor-product smooth ``t2(x, z)`` has a block per penalty, each with
its own SD: ``Z_i @ (sds_i * zs_i)``, the SDs sharing one prior (brms's ``sds`` of the term).
Default priors, ``s`` the response scale: ``sds``, ``sdgp``
``half_student_t(3, 2.5 s)`` (brms: ``student_t(3, 0, 2.5 s)`` truncated at zero); ``lscale``
brms's ``inv_gamma(a, b)`` with 1% of its mass below the smallest gap between the scaled
values and 1% above their range (1).

>>> import numpy as np, formulang as fl
>>> x = np.linspace(0, 10, 40)
>>> m = fl.Model("y ~ gp(x, k = 10)", {"y": np.sin(x), "x": x})
>>> [(sm.label, sm.kind, sm.k) for sm in m.plan.smooths]
[('gpx', 'gp', 10)]
>>> str(m.priors.lookup("lscale", coef="gpx"))
'inv_gamma(2.118, 0.1758)'
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .sites_smooth import SmoothSites

SMOOTH_CLASSES = ("sds", "sdgp", "lscale")  # the prior classes of smooth terms


@dataclass(frozen=True)
class SmoothPlan:
    """One smooth term: ``label`` its names' stem, ``kind`` ``"s"``, ``"t2"`` or ``"gp"``, ``k``
    its penalised coefficients, ``term`` as written; a GP's ``slambda`` (the square roots of its
    basis functions' eigenvalues); a t2's ``blocks`` (the sizes of its penalised blocks, each
    with an SD of its own)."""

    label: str
    kind: str
    k: int
    term: str
    slambda: tuple[float, ...] = ()
    fixed: tuple[str, ...] = ()  # its unpenalised population-level columns (stimes_1)
    blocks: tuple[int, ...] = ()  # t2: its penalised blocks' sizes
    dpar: str = ""  # the family parameter whose formula it is in ("": the response's)
    xgp: tuple[float, ...] = ()  # an exact GP's unique values, scaled (data/gp_exact.py)
    jitter: float = 0.0  # an exact GP's, on its correlation matrix's diagonal

    @property
    def exact(self) -> bool:
        """An exact GP (``gp(x)`` without ``k``): ``f = sdgp chol(C + jitter I) zgp`` over its
        ``k`` unique values, a row taking its value's."""
        return self.kind == "gp" and bool(self.xgp)

    @property
    def sites(self) -> SmoothSites:
        return SmoothSites(self.label, self.kind, max(1, len(self.blocks)), self.dpar,
                           self.exact)

    def block_index(self) -> np.ndarray:
        """Each penalised coefficient's block (a t2's; all 0 otherwise)."""
        return np.repeat(np.arange(len(self.blocks)), self.blocks) if self.blocks else \
            np.zeros(self.k, dtype=int)

    def to_dict(self) -> dict:
        return {"label": self.label, "kind": self.kind, "k": self.k, "term": self.term,
                "slambda": list(self.slambda), "fixed": list(self.fixed),
                **({"blocks": list(self.blocks)} if self.blocks else {}),
                **({"dpar": self.dpar} if self.dpar else {}),
                **({"xgp": list(self.xgp), "jitter": self.jitter} if self.xgp else {})}

    @classmethod
    def from_dict(cls, d: dict) -> "SmoothPlan":
        return cls(str(d["label"]), str(d["kind"]), int(d["k"]), str(d["term"]),
                   tuple(float(v) for v in d.get("slambda", ())), tuple(d.get("fixed", ())),
                   tuple(int(v) for v in d.get("blocks", ())), str(d.get("dpar", "")),
                   tuple(float(v) for v in d.get("xgp", ())), float(d.get("jitter", 0.0)))


def smooth_plans(bound, priors, params: dict) -> tuple[SmoothPlan, ...]:
    """The plan of each smooth term of ``bound``, the response's formula's first, then each
    family parameter's (:func:`formula_smooths`); their priors' parameters go in ``params``."""
    from ..data.smooths import gp_slambda

    out = []
    for dpar, sd in formula_smooths(bound):
        spec = sd.spec
        sites = SmoothSites(spec.label, spec.kind, dpar=dpar)  # (one prior for a t2's SDs)
        params[sites.sd] = _params(priors.lookup(sites.sd_class, coef=spec.label, dpar=dpar))
        slambda: tuple[float, ...] = ()
        xgp: tuple[float, ...] = ()
        jitter = 0.0
        if spec.kind == "gp":
            params[sites.lscale] = _params(priors.lookup("lscale", coef=spec.label, dpar=dpar))
        if spec.kind == "gp" and spec.state.bs == "exact":
            xgp = tuple(float(v) for v in spec.state.get("u"))
            jitter = float(spec.state.get("jitter"))
        elif spec.kind == "gp":
            slambda = tuple(float(v) for v in gp_slambda(spec.state))
        out.append(SmoothPlan(spec.label, spec.kind, spec.k, str(spec.term), slambda,
                              tuple(spec.fixed), spec.blocks if spec.kind == "t2" else (),
                              dpar, xgp, jitter))
    return tuple(out)


def formula_smooths(bound) -> list:
    """``(dpar, SmoothData)`` of every smooth term of ``bound``: the response's formula's
    (dpar ``""``), then each family parameter's sub-formula's (``sigma ~ s(x)``)."""
    out = [("", sd) for sd in getattr(bound, "smooths", ())]
    for name, sub in getattr(bound, "dpars", ()):
        out += [(name, sd) for sd in getattr(sub, "smooths", ())]
    return out


def smooth_arrays(bound) -> dict:
    """The model data of one formula's smooth terms (``bound`` its rows): their penalised
    bases ``Zs``, in the order of its smooths in the plan (none: no key)."""
    smooths = getattr(bound, "smooths", ())
    return {"Zs": tuple(np.asarray(sm.Z, dtype=float) for sm in smooths)} if smooths else {}


def own_smooths(plan, dpar: str = "") -> tuple[SmoothPlan, ...]:
    """The smooth terms of formula ``dpar`` (``""``: the response's)."""
    return tuple(sm for sm in getattr(plan, "smooths", ()) if sm.dpar == dpar)


def describe_smooths(plan) -> list[str]:
    """``print(model)``'s line per smooth term: what it is and its size.

    >>> import numpy as np, formulang as fl
    >>> x = np.repeat(np.linspace(0, 1, 12), 2)
    >>> describe_smooths(fl.Model("y ~ gp(x)", {"y": np.sin(6 * x), "x": x}).plan)
    ['Smooth gp(x): exact GP over 12 unique values (sdgp_gpx, lscale_gpx, zgp_gpx)']
    """
    out = []
    for sm in getattr(plan, "smooths", ()):
        s, on = sm.sites, f" on {sm.dpar}" if sm.dpar else ""
        if sm.exact:
            what = f"exact GP over {sm.k} unique values"
        elif sm.kind == "gp":
            what = f"approximate GP (Hilbert space), {sm.k} basis functions"
        elif sm.blocks:
            what = f"tensor-product smooth, penalised blocks of {', '.join(map(str, sm.blocks))}"
        else:
            what = f"penalised smooth, {sm.k} penalised coefficients"
        names = ", ".join(s.scalars() + s.vectors())
        out.append(f"Smooth {sm.term}{on}: {what} ({names})")
    return out


def _params(prior) -> np.ndarray:
    return np.array([[v] for _, v in prior.params], dtype=float)


def smooth_effects(plan, data: dict, dpar: str = "", arrays: dict | None = None):
    """Sample the parameters of formula ``dpar``'s smooth terms (``arrays`` its arrays, with
    their bases ``Zs``; default the model's ``data``); their sum per row (0 without)."""
    import jax.numpy as jnp
    import numpyro
    import numpyro.distributions as dist

    from ..data.gp_exact import gp_exact_values
    from ..data.smooths import gp_spd_sqrt
    from ..ir.prior import DISTRIBUTIONS

    def numpyro_distribution(name, values):  # as lower/priors.py's (which imports this module)
        return DISTRIBUTIONS[name].numpyro(values)

    params = data["priors"]
    total = 0.0
    for sm, Z in zip(own_smooths(plan, dpar), (data if arrays is None else arrays)["Zs"]):
        s = sm.sites
        prior = numpyro_distribution(
            plan.priors.lookup(s.sd_class, coef=sm.label, dpar=dpar).distribution,
            params[s.sd][:, 0])
        if sm.blocks:  # t2: an SD per block
            prior = prior.expand([len(sm.blocks)])  # (batch, not event: units.py scales it)
        sd = numpyro.sample(s.sd, prior)
        z = numpyro.sample(s.z, dist.Normal(0.0, 1.0).expand([sm.k]).to_event(1))
        if sm.kind == "gp":
            lscale = numpyro.sample(s.lscale, numpyro_distribution(
                plan.priors.lookup("lscale", coef=sm.label, dpar=dpar).distribution,
                params[s.lscale][:, 0]))
        if sm.exact:  # f at the unique values; a row takes its value's (Z: the index)
            f = gp_exact_values(jnp.asarray(sm.xgp), sd, lscale, z, sm.jitter, jnp)
            total = total + jnp.take(f, jnp.asarray(Z)[:, 0].astype(jnp.int32), axis=-1)
            continue
        if sm.kind == "gp":
            beta = gp_spd_sqrt(jnp.asarray(sm.slambda), sd, lscale) * z
        elif sm.blocks:
            beta = sd[..., sm.block_index()] * z
        else:
            beta = sd * z
        total = total + Z @ beta
    return total


def smooth_effects_draws(plan, samples: dict, smooths, dpar: str = "",
                         rng=None) -> np.ndarray:
    """Formula ``dpar``'s smooth terms' sum per draw and row (``samples`` flat: draws first),
    for predictions; ``smooths`` the rows' :class:`~formulang.data.smooths.SmoothData` of
    that formula. An exact GP at values it was not fitted on is drawn from its conditional
    normal (brms's ``posterior_epred``; :mod:`formulang.data.gp_exact`), with ``rng``
    (default: seed 0)."""
    from ..data.gp_exact import gp_exact_draws
    from ..data.smooths import gp_spd_sqrt

    total = 0.0
    for sm, sd in zip(own_smooths(plan, dpar), smooths):
        s = sm.sites
        z = np.asarray(samples[s.z], dtype=float)
        sdv = np.asarray(samples[s.sd], dtype=float)
        if sm.exact:
            rng = np.random.default_rng(0) if rng is None else rng
            total = total + gp_exact_draws(sd.spec.state, sdv, np.asarray(
                samples[s.lscale], dtype=float), z, sd.x, rng)
            continue
        if sm.kind == "gp":
            beta = gp_spd_sqrt(np.asarray(sm.slambda), sdv, np.asarray(samples[s.lscale],
                                                                      dtype=float)) * z
        elif sm.blocks:
            beta = sdv[..., sm.block_index()] * z
        else:
            beta = sdv[..., None] * z
        total = total + beta @ np.asarray(sd.Z, dtype=float).T
    return total


def default_smooth_rows(bound, s: float, row, prior) -> list:
    """The default prior rows of ``bound``'s smooth terms, of every formula (``row``/``prior``:
    the prior table's constructors, :mod:`formulang.lower.priors`). A family parameter's
    formula is on its link scale, where brms's SD priors have scale 2.5 (``s`` = 1)."""
    out = []
    for dpar, sd in formula_smooths(bound):
        spec = sd.spec
        sites = SmoothSites(spec.label, spec.kind, dpar=dpar)
        scale = 2.5 * (1.0 if dpar else s)
        out.append(row(sites.sd_class, "", spec.label, prior("half_student_t", 3, scale),
                       "default", dpar))
        if spec.kind == "gp":
            a, b = lscale_inv_gamma(float(spec.state.get("gap")), 1.0)
            out.append(row("lscale", "", spec.label, prior("inv_gamma", a, b), "default", dpar))
    return out


def lscale_inv_gamma(gap: float, span: float) -> tuple[float, float]:
    """brms's data-tuned ``inv_gamma(a, b)`` of a length-scale: 1% of its mass below the
    smallest gap between the scaled values (at least 1% of their span), 1% above their span.

    >>> lscale_inv_gamma(0.05, 1.0)
    (2.938537, 0.415087)
    """
    from scipy.optimize import least_squares
    from scipy.stats import invgamma

    lb, ub = max(gap, 0.01 * span), span

    def equations(logp):
        a, b = np.exp(logp)
        return [invgamma.logcdf(lb, a, scale=b) - np.log(0.01),
                invgamma.logsf(ub, a, scale=b) - np.log(0.01)]

    fit = least_squares(equations, [0.5, np.log(lb)], xtol=1e-14, ftol=1e-14)
    a, b = np.exp(fit.x)
    return float(round(a, 6)), float(round(b, 6))
