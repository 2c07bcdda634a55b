"""The smooth terms' part of generated source (:mod:`formulang.lower.codegen`): each ``s()``
and ``gp()`` of a formula, sampled under the sites and priors of the plan as
:func:`formulang.lower.smooth_plan.smooth_effects` samples them, and added to the formula's
linear predictor. The generated ``model()`` takes each smooth's penalised basis (rows x ``k``)
as an argument named by :attr:`SmoothSites.basis
<formulang.lower.sites_smooth.SmoothSites.basis>` (``Zs_sx``, ``Xgp_gpx``); its unpenalised
columns are among the formula's population-level ones (``X``).

>>> import numpy as np, formulang as fl
>>> x = np.linspace(0, 1, 30)
>>> m = fl.Model("y ~ s(x, k = 5); sigma ~ gp(x, k = 6)", {"y": np.sin(6 * x), "x": x})
>>> [basis_argument(sm) for sm in m.plan.smooths]
['Zs_sx', 'Xgp_sigma_gpx']
>>> print(m.code().split("eta_sigma = eta_sigma + ")[-1].splitlines()[0])
Xgp_sigma_gpx @ (spd_sigma_gpx * zgp_sigma_gpx)
"""

from __future__ import annotations

import numpy as np

from .codegen_layout import Writer, array, distribution
from .smooth_plan import own_smooths


def basis_argument(sm) -> str:
    """The argument of ``model()`` holding smooth ``sm``'s penalised basis."""
    return sm.sites.basis


def smooth_arguments(plan, dpar: str) -> list[str]:
    """The basis arguments of formula ``dpar``'s smooths, in the plan's order."""
    return [basis_argument(sm) for sm in own_smooths(plan, dpar)]


def smooth_docs(plan, dpar: str) -> list[str]:
    """One docstring paragraph per smooth of formula ``dpar``: what its argument holds."""
    where = f" in {dpar}'s formula" if dpar else ""
    return [f"{basis_argument(sm)}: each row's index among the {sm.k} unique values of "
            f"{sm.term}{where}, n x 1." if sm.exact else
            f"{basis_argument(sm)}: the penalised basis of {sm.term}{where} per row, "
            f"n x {sm.k}." for sm in own_smooths(plan, dpar)]


def smooth_data_lines(plan, dpar: str, bound: str) -> list[str]:
    """``data_from``'s entries of formula ``dpar``'s bases, from bound data ``bound``."""
    return [f'"{basis_argument(sm)}": np.asarray({bound}.smooths[{i}].Z, dtype=float),'
            f'  # {sm.term}' for i, sm in enumerate(own_smooths(plan, dpar))]


def smooth_source(w: Writer, plan, dpar: str, add) -> None:
    """Formula ``dpar``'s smooth terms: their SDs (and length-scales), standardised
    coefficients, and their part of the linear predictor (``add(expression)``)."""
    params = plan.prior_params
    for sm in own_smooths(plan, dpar):
        s = sm.sites
        sd_prior = plan.priors.lookup(s.sd_class, coef=sm.label, dpar=dpar)
        w.line()
        sd_key = s.prior_key(s.sd_class)
        if sm.exact:
            lscale_prior = plan.priors.lookup("lscale", coef=sm.label, dpar=dpar)
            w.comment(f"{sm.term}: exact Gaussian process over its {sm.k} unique values "
                      f"(brms's gp() without k): {s.gp_values} = {s.sd} * chol(C + "
                      f"{sm.jitter:g} I) @ {s.z}, C their squared-exponential correlation; "
                      f"a row takes its value's ({s.basis})")
            w.comment(f"  {sd_key} ~ {sd_prior}; {s.prior_key('lscale')} ~ {lscale_prior}")
        elif sm.kind == "gp":
            lscale_prior = plan.priors.lookup("lscale", coef=sm.label, dpar=dpar)
            w.comment(f"{sm.term}: Hilbert-space Gaussian process, {sm.k} basis functions "
                      "(brms's gp(k =)); its coefficients are the standardised ones scaled "
                      "by the root of the squared-exponential spectral density")
            w.comment(f"  {sd_key} ~ {sd_prior}; {s.prior_key('lscale')} ~ {lscale_prior}")
        elif sm.blocks:
            w.comment(f"{sm.term}: tensor-product smooth, {len(sm.blocks)} penalised blocks "
                      f"of {', '.join(map(str, sm.blocks))} coefficients, each with its SD "
                      f"(brms's {', '.join(s.block_sds)}): coefficients {s.sd}[block] * {s.z}")
            w.comment(f"  {sd_key} ~ {sd_prior}, one per block")
        else:
            w.comment(f"{sm.term}: penalised smooth, {sm.k} penalised coefficients "
                      f"{s.coefficients} = {s.sd} * {s.z} (brms's non-centred form)")
            w.comment(f"  {sd_key} ~ {sd_prior}")
        sd_dist = distribution(sd_prior.distribution, params[s.sd][:, 0])
        if sm.blocks:  # a t2's SDs: one per block (a batch, as the compiled model samples it)
            sd_dist = f"{sd_dist}.expand([{len(sm.blocks)}])"
        w.line(f'{s.sd} = numpyro.sample("{s.sd}", {sd_dist})')
        if sm.kind == "gp":
            w.line(f'{s.lscale} = numpyro.sample("{s.lscale}", '
                   f'{distribution(lscale_prior.distribution, params[s.lscale][:, 0])})')
        w.line(f'{s.z} = numpyro.sample("{s.z}", '
               f'dist.Normal(0.0, 1.0).expand([{sm.k}]).to_event(1))')
        if sm.exact:
            xgp, corr = s.unique_values, f"corr_{s.stem}"
            w.line(f"{xgp} = {array(np.asarray(sm.xgp))}  # unique values / their range")
            w.line(f"{corr} = jnp.exp(-0.5 * (({xgp}[:, None] - {xgp}[None, :]) / {s.lscale})"
                   f" ** 2) + {sm.jitter!r} * jnp.eye({sm.k})")
            w.line(f"{s.gp_values} = {s.sd} * (jnp.linalg.cholesky({corr}) @ {s.z})")
            add(f"{s.gp_values}[{basis_argument(sm)}[:, 0].astype(jnp.int32)]")
        elif sm.kind == "gp":
            slambda, spd = f"slambda_{s.stem}", f"spd_{s.stem}"
            w.line(f"{slambda} = {array(np.asarray(sm.slambda))}  # sqrt(eigenvalues)")
            w.line(f"{spd} = {s.sd} * jnp.sqrt(jnp.sqrt(2 * jnp.pi) * {s.lscale}) * "
                   f"jnp.exp(-0.25 * {s.lscale} ** 2 * {slambda} ** 2)")
            add(f"{basis_argument(sm)} @ ({spd} * {s.z})")
        elif sm.blocks:
            index = "jnp.array([" + ", ".join(str(int(v)) for v in sm.block_index()) + "])"
            w.line(f"{s.coefficients} = {s.sd}[{index}] * {s.z}  # each block's SD")
            add(f"{basis_argument(sm)} @ {s.coefficients}")
        else:
            w.line(f"{s.coefficients} = {s.sd} * {s.z}")
            w.line(f'numpyro.deterministic("{s.coefficients}", {s.coefficients})')
            add(f"{basis_argument(sm)} @ {s.coefficients}")
