"""The inverse mass matrix NUTS starts warm-up with: posterior variances from the pilot fit.

NUTS moves freely only when its (diagonal) mass matrix matches the posterior's scales. NumPyro
starts warm-up with the identity and replaces it with the draws' variances at the end of each
slow window, the first after 100 iterations. Until then a posterior whose scales span two
orders of magnitude needs the step size of its narrowest direction and the longest trees:
sleepstudy's centred model (intercept sd about 9 ms, log sigma's about 0.06) spent 72k of a
chain's 100k warm-up gradients in those first 100 iterations, at tree depth 9-10. Started
from the variances below, its warm-up took 28-31k gradients per chain, and sampling cost the
same. The pilot (:func:`formulang.lower.pilot.pilot_fit`) is already there: it chose the
parameterization.

Variances on each sample site's unconstrained scale (what NUTS moves on), from the pilot's
``beta``, residual scale, per-term covariance ``Sigma`` and per-level information ``I_j``:

- ``Intercept_c``, ``b_c``: the pilot's covariance of ``beta``
  (``formulang.lower.pilot._beta_cov``), turned to centred predictors, combined with
  the prior's precision (a tight user prior narrows the posterior too);
- ``sd_<g>`` (log scale): ``1 / (2 J_eff + 1)`` per effect, ``J_eff = sum_j w_j^2`` over the
  levels' shrinkage weights: the Fisher information of ``log tau``, plus a unit of prior;
- ``L_<g>`` (LKJ factor, unconstrained): ``1 / (J_eff + 1)``, as for ``atanh`` of a
  correlation estimated from ``J_eff`` pairs, ``J_eff`` from the levels' least informed
  direction;
- ``rc_<g>`` (centred levels): ``diag V_j + diag Sigma / J``, ``V_j = (I_j + Sigma^-1)^-1`` the
  level's posterior covariance given the hyperparameters, plus the population mean's;
- ``z_<g>`` (non-centred levels): ``diag (L^T I_j L + 1)^-1 + 1.5 / J`` (``Sigma = L L^T``):
  the whitened posterior, plus the population mean's and ``tau``'s share;
- ``sigma`` (log): ``1 / (2 n_res)``, ``n_res`` the rows less the fit's effective degrees of
  freedom; other family parameters as their family's row says (gamma's ``shape`` and beta's
  ``phi``: ``2 / n``, their large-value limit); a probability's logit (``zi``, ``hu``):
  ``c / (n v (1 - v))`` at the pilot's estimate ``v`` (``c`` = 1 for ``hu``, 2 for ``zi``).

A site these rules do not cover (the negative binomial's ``phi``, Student-t's ``nu``, a
coefficient with a prior on a constrained support) starts at 1, NumPyro's default. The matrix
only has to be right within a small factor: warm-up re-estimates it from draws anyway.

>>> import formulang as fl
>>> m = fl.Model("Reaction ~ Days + (Days | Subject)", fl.datasets.load("sleepstudy"),
...              reparam="centered", collapse=False)
>>> v = initial_inverse_mass(m.plan, m.pilot)
>>> sorted(v), v["rc_Subject"].shape
(['Intercept_c', 'L_Subject', 'b_c', 'rc_Subject', 'sd_Subject', 'sigma'], (36,))
>>> round(float(v["Intercept_c"][0] ** 0.5), 1), round(float(v["sigma"][0] ** 0.5), 3)
(9.0, 0.058)
"""

from __future__ import annotations

import numpy as np

from ..lower.plan import GroupPlan, ModelPlan, VectorSite
from ..linalg import chol
from ..lower.pilot import PilotFit, level_posterior_cov, level_weights


def initial_inverse_mass(plan: ModelPlan, pilot: PilotFit | None,
                         collapsed: bool = False, scale: float = 1.0) -> dict[str, np.ndarray]:
    """Per sample site, the variance of each of its unconstrained entries (a 1-D array in the
    site's row-major order). ``collapsed``: the sites of the collapsed model (no effects).
    ``scale``: the unit the sampler runs the response in (the samplers sample the
    sites in the response's unit divided by it, :mod:`formulang.lower.units`): the variances
    of those on the real line are divided by ``scale**2``; the logs of positive ones only
    shift. Empty without a pilot (a model with no response)."""
    if pilot is None:
        return {}
    out: dict[str, np.ndarray] = {}
    _population(plan, pilot, out)
    edf = float(len(plan.columns))  # the fit's effective degrees of freedom
    for g, S, info in zip(plan.groups, pilot.cov, pilot.info):
        if g.column_dpars:  # spans formulas (lower/joint.py): the pilot saw one of them
            continue
        edf += _group(g, np.atleast_2d(S), _as_matrices(info, g.k), out, collapsed)
    _family(plan, pilot, edf, out)
    if scale != 1.0:  # the real-valued sites in the response's unit (SDs' logs only shift)
        real = [plan.sites.intercept] + list(plan.b.piece_names if plan.b is not None else [])
        real += [g.sites.rc for g in plan.groups]  # centred effects: the full model only
        out.update({name: out[name] / float(scale) ** 2 for name in real if name in out})
    return {name: np.asarray(np.maximum(v, _TINY), dtype=float).ravel()
            for name, v in out.items()}


_TINY = 1e-12  # a variance must be positive; the pilot can give 0 for a pinned direction


def _as_matrices(info, k: int) -> np.ndarray:
    info = np.asarray(info, dtype=float)
    return info[:, None, None] if info.ndim == 1 else info.reshape(len(info), k, k)


def _population(plan: ModelPlan, pilot: PilotFit, out: dict) -> None:
    C = pilot.beta_cov
    if C is None or C.shape != (len(plan.columns),) * 2:
        return
    slopes = [j for j, c in enumerate(plan.columns) if c != "Intercept"]
    if plan.intercept:  # Intercept_c = Intercept + sum_q mean(x_q) b_q
        T = np.eye(len(plan.columns))
        T[0, slopes] = plan.x_means
        C = T @ C @ T.T
    var = np.diag(C)
    # a direction the data leave free (a column that is constant after centring) gets no
    # data variance from the pseudo-inverse: it is then as wide as its prior
    var = np.where(np.isfinite(var) & (var > 0), var, np.inf)
    if plan.intercept:
        prior = plan.priors.lookup("Intercept").distribution
        v = _with_prior(var[:1], prior, plan.prior_params["Intercept"][:, 0])
        if v is not None:
            out[plan.sites.intercept] = v
    if plan.b is not None:
        _pieces(plan.b, var[slopes], plan.prior_params, out, with_prior=True)


def _with_prior(var: np.ndarray, dist_name: str, params) -> np.ndarray | None:
    """The data's variance combined with a real-valued prior's, or None when the prior lives
    on a constrained support (the unconstrained scale is then not the coefficient's). The
    prior's row (:data:`formulang.ir.prior.DISTRIBUTIONS`) gives its spread, so no NumPyro
    distribution is built (each costs small JAX compiles on a process's first fit)."""
    from ..ir.prior import DISTRIBUTIONS

    spec = DISTRIBUTIONS[dist_name]
    if spec.support != "real":
        return None
    spread = np.broadcast_to(np.asarray(spec.scale(params), dtype=float), np.shape(var))
    return 1.0 / (1.0 / var + 1.0 / spread**2)


def _pieces(site: VectorSite, var: np.ndarray, params: dict, out: dict,
            with_prior: bool = False) -> None:
    """Split one vector's variances into the sample sites its pieces are drawn as
    (:attr:`VectorSite.piece_names <formulang.lower.plan.VectorSite.piece_names>`)."""
    for name, (dist_name, idx, key) in zip(site.piece_names, site.pieces):
        v = var[np.asarray(idx)]
        if with_prior:
            v = _with_prior(v, dist_name, params[key])
            if v is None:
                continue
        out[name] = v


def _group(g: GroupPlan, S: np.ndarray, info: np.ndarray, out: dict, collapsed: bool) -> float:
    """The term's sites; returns its effective degrees of freedom, sum_j trace(I_j V_j)."""
    J = len(info)
    V = level_posterior_cov(info, S)
    edf = float(np.einsum("jpq,jqp->", info, V))
    diag_info = np.diagonal(info, axis1=1, axis2=2)
    w = diag_info * np.diag(S) / (1.0 + diag_info * np.diag(S))  # per level and effect
    _pieces(g.sd, 1.0 / (2.0 * np.sum(w**2, axis=0) + 1.0), {}, out)
    for name, block in g.sites.lkj:
        idx = np.ix_(block, block)
        wb = np.nan_to_num(level_weights(info[(slice(None),) + idx], S[idx]), nan=0.0)
        m = len(block)
        out[name] = np.full(m * (m - 1) // 2, 1.0 / (float(np.sum(wb**2)) + 1.0))
    if collapsed:
        return edf
    centered = np.asarray(g.centered, dtype=bool)
    if centered.any():
        v = np.diagonal(V[centered], axis1=1, axis2=2) + np.diag(S) / J
        out[g.sites.rc] = v
    if (~centered).any():
        Lc = chol(S)
        M = np.einsum("pa,jpq,qb->jab", Lc, info[~centered], Lc)
        W = np.linalg.inv(M + np.eye(g.k)[None])
        out[g.sites.z] = np.diagonal(W, axis1=1, axis2=2) + 1.5 / J
    return edf


def _family(plan: ModelPlan, pilot: PilotFit, edf: float, out: dict) -> None:
    """The family parameters whose rows give a starting variance (of their log, or logit for
    a probability), at the pilot's estimate of each."""
    n = max(plan.n, 1)
    for aux in plan.family.spec.parameters:
        if aux.mass is not None and aux.name in plan.aux:
            out[aux.name] = np.array([aux.mass(n, edf, pilot.aux.get(aux.name))])


__all__ = ["initial_inverse_mass"]
