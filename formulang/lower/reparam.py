"""Centered or non-centered group effects, chosen per level from a cheap pilot fit.

For a group term with ``k`` effect columns, level ``j`` has effects ``r_j ~ N(0, Sigma)``.
*Non-centered* samples ``z_j ~ N(0, I)`` and sets ``r_j = chol(Sigma) z_j``; *centered*
samples ``r_j`` directly. Which one lets a sampler move freely depends on how much the data
say about ``r_j`` compared with the prior (Papaspiliopoulos, Roberts & Skold 2007; Gorinova,
Moore & Hoffman 2020). In the Gaussian case with one effect, ``n_j`` rows and residual SD
``sigma``, the posterior shrinkage weight is ``w_j = tau^2 / (tau^2 + sigma^2 / n_j)``; the
centered sampler's convergence rate is ``1 - w_j`` and the non-centered one's is ``w_j``, so
centered wins exactly when ``w_j > 1/2``.

**The weight for k effects.** With ``I_j`` the level's information matrix (below) and
``Sigma = L L^T``, the whitened information ``M_j = L^T I_j L`` has eigenvalues ``lambda``;
each whitened direction has shrinkage weight ``lambda / (1 + lambda)``. The level weight is
that of its *least* informed direction::

    w_j = lambda_min / (1 + lambda_min)

so a level is centred only when its data identify every direction of its effect. The two
failure modes are not symmetric: centring a level with one weakly identified direction (a
county with plenty of houses but hardly any on the first floor) puts a funnel in that
direction, which NUTS meets as divergences, while non-centring a level with one well
identified direction only slows mixing. (An average over directions, tried first, centred 13
radon counties in ``(1 + floor | county)`` and produced divergences at small slope SDs; the
minimum centres none there.) For ``k = 1`` it is the Gaussian ``w_j`` above, exactly. It is
invariant to a linear change of the effect columns (the eigenvalues of ``L^T I_j L`` do not
depend on the basis), and it needs no inverse of ``I_j``: a level whose rows cannot identify a
slope (one house, or all on one floor) has ``lambda_min = 0`` and is non-centred.

The weights come from a cheap pilot fit (:mod:`formulang.lower.pilot`: penalized IRLS with
PX-EM for the covariances, no MCMC), which also gives each level's information ``I_j``; a
term nested in another is integrated out of the outer term's information there.

>>> import formulang
>>> from formulang.lower.families import family
>>> b = formulang.bind("log_radon ~ floor + (1 | county)", formulang.datasets.load("radon"))
>>> (p,) = choose_parameterization(b, family("gaussian"))
>>> p.mode, p.n_centered > 10, len(p.centered)
('mixed', True, 85)
>>> p.centered[b.groups[0].levels.index("ST LOUIS")], round(p.tau[0], 2), round(p.sigma, 2)
(True, 0.31, 0.73)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

import numpy as np

from ..errors import FormulangError
from .families import family as _family
from .pilot import PilotFit, level_weights, pilot_fit

MODES = ("auto", "centered", "noncentered")
THRESHOLD = 0.5
"""A level is centered when its weight is at least this (the two convergence rates cross)."""
TAU_SAFETY = 0.5
WELL_IDENTIFIED = 5.0
"""When the pilot's tau is weakly identified, levels are judged at ``TAU_SAFETY`` times the
pilot SDs instead of the pilot SDs themselves.

The pilot gives a point estimate of tau. Its uncertainty is roughly
``se(log tau) = 1 / sqrt(2 J_eff)`` with ``J_eff = sum_j w_j^2`` (the levels' weights at the pilot
tau, least informed direction): the levels that see their effect are the ones that inform tau.
With ``J_eff < WELL_IDENTIFIED`` (se above about 0.32), the posterior of tau reaches well below
the estimate, and the centred funnel lives exactly there: at small tau even a large level is
dominated by its prior. Measured on radon ``(1 + floor | county)`` (J_eff about 1.6;
4 x 1000 draws): centring the two counties whose weight at the pilot tau was above 1/2 gave 91
divergences, non-centring all of them none. Such terms centre only levels that stay
data-dominated at half the pilot tau (information at least 4 times the prior precision).
A well identified tau (sleepstudy's slopes, J_eff about 6.7; radon's county intercepts) is
trusted as it is."""
SNAP_SHARE = 0.9
SNAP_BAND = 0.1
"""When at least ``SNAP_SHARE`` of the levels take one side and every other level is within
``SNAP_BAND`` of the threshold, those few follow the majority (see :func:`_choose`)."""

@dataclass(frozen=True)
class GroupParameterization:
    """The choice for one group term.

    ``centered`` and ``weights`` are per level (the order of ``GroupData.levels``); ``tau`` is
    the pilot SD per effect column (``GroupData.columns`` order); ``sigma`` the pilot residual
    SD for Gaussian-like families (gaussian, student_t, lognormal), else ``None``.
    """

    label: str
    centered: tuple[bool, ...]
    weights: tuple[float, ...]
    tau: tuple[float, ...]
    sigma: float | None
    reason: str

    @property
    def mode(self) -> str:
        """``"centered"``, ``"noncentered"`` or ``"mixed"``."""
        n = self.n_centered
        if n == len(self.centered):
            return "centered"
        return "noncentered" if n == 0 else "mixed"

    @property
    def n_centered(self) -> int:
        return int(sum(self.centered))

    def mask(self) -> np.ndarray:
        """``centered`` as a boolean array (True = centered)."""
        return np.array(self.centered, dtype=bool)


def choose_parameterization(bound, family, reparam="auto",
                            pilot: PilotFit | None = None) -> tuple[GroupParameterization, ...]:
    """Choose centered or non-centered effects, per level, for each of ``bound.groups``.

    ``family`` is a :class:`~formulang.lower.families.Family` (or a family name).
    ``reparam`` is ``"auto"`` (per level: centered where the weight is >= 0.5),
    ``"centered"`` or ``"noncentered"`` (forced; the pilot evidence is still reported), or a
    dict ``{group label: mode}`` for per-term control (terms not named are ``"auto"``).
    ``pilot``: :func:`pilot_fit`'s result when the caller has it already.
    """
    fam = _family(family) if isinstance(family, str) else family
    modes = _modes(bound, reparam)
    if not bound.groups:
        return ()
    if bound.y is None:
        return tuple(_no_response(g, mode) for g, mode in zip(bound.groups, modes))
    fit = pilot_fit(bound, fam) if pilot is None else pilot
    out = []
    for gi, (g, mode) in enumerate(zip(bound.groups, modes)):
        w = np.clip(np.nan_to_num(level_weights(fit.info[gi], fit.cov[gi]), nan=0.0), 0.0, 1.0)
        weak_tau = float(np.sum(w ** 2)) < WELL_IDENTIFIED
        if weak_tau:  # judge the levels at half the pilot SDs: see TAU_SAFETY
            w = level_weights(fit.info[gi], fit.cov[gi] * TAU_SAFETY ** 2)
            w = np.clip(np.nan_to_num(w, nan=0.0), 0.0, 1.0)
        auto, snapped = _choose(w)
        tau = np.sqrt(np.diag(fit.cov[gi]))
        sigma = fit.sigma if fam.spec.gaussian_like else None
        evidence = _evidence(g, tau, sigma, fit.aux, fit.at_floor(gi))
        summary = _summary(auto, w, fit.rows[gi], snapped)
        if weak_tau:
            summary += " at half the pilot tau (tau weakly identified)"
        if mode == "auto":
            centered, reason = auto, f"{summary}; {evidence}"
        else:
            centered = np.full(g.n_levels, mode == "centered")
            reason = f"{mode} (forced; auto would be {summary}); {evidence}"
        out.append(GroupParameterization(g.label, tuple(bool(c) for c in centered),
                                         tuple(float(x) for x in w),
                                         tuple(float(t) for t in tau), sigma, reason))
    return tuple(out)

# --- choice and wording ------------------------------------------------------------------------


def _choose(w: np.ndarray) -> tuple[np.ndarray, int]:
    """Centered where ``w >= 0.5``. Levels near the threshold follow a large majority.

    Mixing within a term costs nothing in the model, but a uniform term is simpler to print and
    to read. So when at least 90% of the levels take one side and *every* other level is
    within 0.1 of the threshold (convergence rates ``w`` and ``1 - w`` both between 0.4 and
    0.6: either choice mixes about as well), those levels follow the majority. A clearly
    informative level is never forced to non-centered, nor a clearly uninformed one to
    centered. Returns the choice and how many levels were moved.
    """
    centered = w >= THRESHOLD
    n = len(w)
    if n == 0:
        return centered, 0
    n_c = int(centered.sum())
    for side, count in ((True, n_c), (False, n - n_c)):
        if 0 < n - count and count >= SNAP_SHARE * n:
            minority = centered != side
            if np.all(np.abs(w[minority] - THRESHOLD) < SNAP_BAND):
                return np.full(n, side), int(minority.sum())
    return centered, 0


def _summary(centered: np.ndarray, w: np.ndarray, rows: np.ndarray, snapped: int) -> str:
    n, n_c = len(centered), int(centered.sum())
    if snapped:
        side = "centered" if n_c == n else "noncentered"
        others = w[(w >= THRESHOLD) != (n_c == n)]
        if snapped == 1:
            rest = f"the other one (weight {others[0]:.2f}) is near the threshold and follows"
        else:
            rest = (f"the other {snapped} (weights {others.min():.2f} to {others.max():.2f}) "
                    f"are near the threshold and follow")
        return (f"{side}: {n - snapped} of {n} levels have weight "
                f"{'>=' if n_c == n else '<'} {THRESHOLD:g}; {rest}")
    if n_c == n:
        return f"centered: all {n} levels have weight >= {THRESHOLD:g} (lowest {w.min():.2f})"
    if n_c == 0:
        return f"noncentered: all {n} levels have weight < {THRESHOLD:g} (highest {w.max():.2f})"
    rule = f"weight >= {THRESHOLD:g}"
    lo_c, hi_n = rows[centered].min(), rows[~centered].max()
    if lo_c > hi_n:
        rule += f", here the levels with >= {lo_c} rows"
    return f"mixed: {n_c} of {n} levels centered ({rule})"


def _evidence(g, tau: np.ndarray, sigma: float | None, aux: dict, floor: np.ndarray) -> str:
    flat = [" (at its floor: no variation between levels found)" if f else "" for f in floor]
    if len(tau) == 1:
        text = f"pilot tau = {tau[0]:.2g}{flat[0]}"
    else:
        text = "pilot tau = " + ", ".join(f"{c} {t:.2g}{f}"
                                          for c, t, f in zip(g.columns, tau, flat))
    if sigma is not None:
        text += f", sigma = {sigma:.2g}"
    for name, value in aux.items():
        text += f", {name} = {value:.2g}"
    return text


def _no_response(g, mode: str) -> GroupParameterization:
    centered = mode == "centered"
    why = "forced" if mode != "auto" else "the data have no response, so nothing informs " \
                                          "the levels (prior only)"
    return GroupParameterization(
        g.label, (centered,) * g.n_levels, (0.0,) * g.n_levels, (float("nan"),) *
        len(g.columns), None, f"{'centered' if centered else 'noncentered'}: {why}")


def _modes(bound, reparam) -> list[str]:
    labels = [g.label for g in bound.groups]
    if isinstance(reparam, str):
        _check_mode(reparam, "reparam")
        return [reparam] * len(labels)
    if isinstance(reparam, Mapping):
        unknown = [k for k in reparam if k not in labels]
        if unknown:
            valid = ", ".join(repr(x) for x in dict.fromkeys(labels)) or "none"
            raise FormulangError(f"reparam names group term {unknown[0]!r}, which the model "
                                 f"does not have; group terms: {valid}")
        for k, v in reparam.items():
            _check_mode(v, f"reparam[{k!r}]")
        _refuse_centring_spanning_terms(bound, reparam)
        return [reparam.get(lab, "auto") for lab in labels]
    raise FormulangError(f"reparam must be one of {', '.join(repr(m) for m in MODES)} or a "
                         f"dict {{group label: mode}}, not {type(reparam).__name__}")


def _refuse_centring_spanning_terms(bound, reparam: Mapping) -> None:
    """A term spanning formulas (``(1 |p| g)`` in two of them: :mod:`~formulang.lower.joint`)
    is always non-centred; a dict asking to centre one is refused, not ignored."""
    from .joint import find

    joined = {gi for j in find(bound) for d, gi in j.members if not d}  # response's terms
    spanning = {g.label for gi, g in enumerate(bound.groups) if gi in joined}
    own = {g.label for gi, g in enumerate(bound.groups) if gi not in joined}
    for label, mode in reparam.items():
        if mode == "centered" and label in spanning - own:
            raise FormulangError(
                f"reparam[{label!r}] = 'centered', but ~{label}'s effects span formulas "
                f"(an ID shared with a family parameter's formula, |p|), and such terms are "
                f"always non-centred: the pilot fits the response's formula only, so it "
                f"cannot say whether the data identify their other effects")


def _check_mode(value, what: str) -> None:
    if not isinstance(value, str) or value not in MODES:
        raise FormulangError(f"{what} must be one of {', '.join(repr(m) for m in MODES)}, "
                             f"not {value!r}")


__all__ = ["GroupParameterization", "MODES", "choose_parameterization"]
