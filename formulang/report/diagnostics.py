"""Fit diagnostics: divergences, tree depth, R-hat, ESS and E-BFMI, with advice in plain words.

``diagnose(fit)`` (also ``fit.diagnostics()``) checks a NUTS fit against the usual thresholds:

=====================  ===================================================================
check                  a problem when
=====================  ===================================================================
divergences            any divergent transition after warm-up (an error: estimates may be
                       biased)
tree depth             any draw whose trajectory hit ``max_tree_depth`` (``2^depth - 1``
                       leapfrog steps, NumPyro's ``num_steps``; the same rule as Stan's)
R-hat                  rank-normalised split R-hat > 1.01 (Vehtari et al. 2021)
bulk / tail ESS        < 100 per chain (400 for 4 chains)
E-BFMI                 < 0.3 in any chain (Betancourt 2016)
Laplace k-hat          > 0.7: an embedded-Laplace fit's importance weights of the
                       parameters (:mod:`formulang.infer.laplace_draws`) have a heavy tail,
                       so they cannot correct the approximation (the joint weights, with
                       the effects, are reported, not judged: they multiply every level's
                       error and grow with the levels)
=====================  ===================================================================

R-hat and ESS cover every reported parameter (``b_*``, ``sd_*``, ``cor_*``, family
parameters), every group-level effect ``r_<g>[level,effect]`` and ``lp__``.

Advice names the group term responsible when it can: divergent draws are compared with the
others on ``log sd`` of each group term (a funnel sends divergences to small SDs), and poorly
mixing ``sd``/``cor``/``r`` parameters point at their term. Whether to suggest
``reparam='noncentered'`` or ``'centered'`` for that term follows the plan: a term centered on
levels with little data (weight < 0.5, :mod:`formulang.lower.reparam`) is the classic funnel.
A collapsed fit (``fit.collapsed``: the group effects integrated out, then drawn exactly)
sampled no effects: its advice points at the term's SDs and correlations, not a
reparameterisation.

Fits by ``method="map"`` or ``"vi"`` have no sampler to diagnose; the result says so (and, for
MAP, that the joint mode of a hierarchical model pushes group SDs towards zero).

>>> p = Problem("warning", "ess_bulk", "bulk ESS 212 for sd_g__Intercept (want >= 400)",
...             ("sd_g__Intercept",), "run more draws")
>>> print(p)
[warning] bulk ESS 212 for sd_g__Intercept (want >= 400) — run more draws
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from ..infer.laplace_draws import JOINT, PARAMETERS, pareto_khat
from ..lower.priors import PriorRow
from ..lower.sites import all_groups, flat_effects, flat_parameters, group_sd_name, parse_flat
from ..phrasing import option
from . import convergence as stats_of_draws

RHAT_MAX = 1.01
RHAT_ERROR = 1.05  # above this, R-hat is an error rather than a warning
ESS_PER_CHAIN = 100
BFMI_MIN = 0.3
WEIGHT_THRESHOLD = 0.5  # below: the data say little about a level (reparam's threshold)
SHIFT_MIN = 0.5  # |divergent - other draws| in log-sd SDs that implicates a group term
FEW_LEVELS = 10  # a group SD estimated from this many levels or fewer is weakly identified
KHAT_MAX = 0.7  # PSIS k-hat above which importance weights are unreliable (Vehtari et al.)


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a fit.

    ``severity`` is ``"error"`` (results may be wrong) or ``"warning"`` (results may be
    imprecise, or the run inefficient); ``kind`` is one of ``"divergences"``, ``"tree_depth"``,
    ``"rhat"``, ``"ess_bulk"``, ``"ess_tail"``, ``"bfmi"``, ``"method"``, ``"laplace"``;
    ``where`` names the parameters or group terms (``~county``) concerned.
    """

    severity: str
    kind: str
    what: str
    where: tuple[str, ...] = ()
    advice: str = ""

    def __str__(self) -> str:
        text = f"[{self.severity}] {self.what}"
        return f"{text} — {self.advice}" if self.advice else text


@dataclass(frozen=True)
class Diagnostics:
    """The numbers, the problems found, and a short report (``str(d)``). Numbers that do not
    apply (no sampler statistics, a MAP fit) are ``None``. ``suspects`` lists the group terms
    (``~county``) the problems point at."""

    method: str
    chains: int
    draws: int
    divergences: int | None = None
    divergence_share: float | None = None
    max_tree_depth: int | None = None
    tree_depth_hits: int | None = None
    max_rhat: float | None = None
    max_rhat_param: str | None = None
    min_ess_bulk: float | None = None
    min_ess_bulk_param: str | None = None
    min_ess_tail: float | None = None
    min_ess_tail_param: str | None = None
    bfmi: tuple[float, ...] = ()
    # PSIS k-hat of an embedded-Laplace fit's importance weights: of the parameters and
    # effects jointly, and of the parameters alone (formulang.infer.laplace_draws)
    laplace_khat: float | None = None
    laplace_khat_parameters: float | None = None
    problems: tuple[Problem, ...] = ()
    suspects: tuple[str, ...] = ()
    rhat: dict = field(default_factory=dict, repr=False, compare=False)
    ess_bulk: dict = field(default_factory=dict, repr=False, compare=False)
    ess_tail: dict = field(default_factory=dict, repr=False, compare=False)

    @property
    def ok(self) -> bool:
        """True when nothing was found (approximate fits are never "ok": nothing is checked)."""
        return not self.problems

    @property
    def errors(self) -> tuple[Problem, ...]:
        return tuple(p for p in self.problems if p.severity == "error")

    @property
    def ess_min(self) -> float:
        """The ESS below which bulk or tail ESS is a problem: 100 per chain."""
        return ESS_PER_CHAIN * self.chains

    def _numbers(self) -> str:
        parts = []
        if self.divergences is not None:
            parts.append(f"{self.divergences} divergence{'s' * (self.divergences != 1)}")
        if self.max_rhat is not None:
            parts.append(f"max R-hat {self.max_rhat:.3f} ({self.max_rhat_param})")
        if self.min_ess_bulk is not None:
            parts.append(f"min bulk ESS {self.min_ess_bulk:.0f} ({self.min_ess_bulk_param})")
            parts.append(f"min tail ESS {self.min_ess_tail:.0f} ({self.min_ess_tail_param})")
        if self.bfmi:
            parts.append(f"E-BFMI ≥ {math.floor(min(self.bfmi) * 100) / 100:.2f}")
        if self.laplace_khat is not None:
            weighted = self.laplace_khat_parameters <= KHAT_MAX
            parts.append(f"Laplace PSIS k-hat {self.laplace_khat_parameters:.2f} (parameters: "
                         f"{'summaries weighted' if weighted else 'too high to weight'}), "
                         f"{self.laplace_khat:.2f} (with the effects)")
        return ", ".join(parts)

    def __str__(self) -> str:
        run = (f"{self.chains} chain{'s' * (self.chains != 1)} x {self.draws} "
               f"draw{'s' * (self.draws != 1)} ({self.method})")
        if self.ok:
            return f"No problems: {self._numbers()}; {run}."
        n = len(self.problems)
        lines = [f"{n} problem{'s' if n > 1 else ''} in {run}:"]
        given: list[str] = []
        for p in self.problems:
            lines.append(f"- [{p.severity}] {p.what}.")
            if p.advice and p.advice not in given:  # shared advice is given once
                given.append(p.advice)
                lines.append(f"  -> {p.advice}")
        numbers = self._numbers()
        return "\n".join(lines + ([f"({numbers})"] if numbers else []))

    def _repr_pretty_(self, printer, cycle) -> None:  # pragma: no cover - IPython
        printer.text(str(self))


# ---- entry point ------------------------------------------------------------------------------


def diagnose(fit) -> Diagnostics:
    """Check a :class:`~formulang.Fit`; see the module docstring for the thresholds."""
    samples = fit.samples
    chains, draws = next(iter(samples.values())).shape[:2]
    if fit.method != "nuts":
        return _approximate(fit, chains, draws)
    stats = _stats(fit)
    terms = _Terms(fit)
    problems: list[Problem] = []
    suspects: list[str] = []

    # divergences
    div = stats.get("diverging")
    n_div = share = None
    if div is not None:
        div = np.asarray(div, dtype=bool)
        n_div, share = int(div.sum()), float(div.mean())
        if n_div:
            problem, culprits = _divergence_problem(fit, terms, div, n_div, share)
            problems.append(problem)
            suspects += culprits

    # tree depth
    depth = _max_tree_depth(fit)
    hits = None
    if "num_steps" in stats and depth is not None:
        hits = int(np.sum(np.asarray(stats["num_steps"]) >= 2 ** depth - 1))
        if hits:
            problems.append(_tree_depth_problem(terms, hits, chains * draws, depth))

    # R-hat and ESS over every scalar quantity
    names, blocks = _scalars(fit, stats)
    parts = [stats_of_draws.convergence(block) for block in blocks]
    rhat, ess_b, ess_t = (np.concatenate([p[i] for p in parts]) for i in range(3))
    rhat_d, bulk_d, tail_d = (dict(zip(names, v)) for v in (rhat, ess_b, ess_t))
    max_rhat, max_rhat_param = _extreme(rhat_d, max)
    min_bulk, min_bulk_param = _extreme(bulk_d, min)
    min_tail, min_tail_param = _extreme(tail_d, min)
    bad_rhat = _sorted_bad(rhat_d, lambda v: v > RHAT_MAX, reverse=True)
    if bad_rhat:
        worst = rhat_d[bad_rhat[0]]
        severity = "error" if worst > RHAT_ERROR else "warning"
        what = (f"R-hat above {RHAT_MAX} for {_list(bad_rhat, rhat_d, '{:.3f}')} — the chains "
                f"disagree, so they have not converged to one posterior")
        advice, culprits = _mixing_advice(terms, bad_rhat)
        problems.append(Problem(severity, "rhat", what, tuple(bad_rhat), advice))
        suspects += culprits
    threshold = ESS_PER_CHAIN * chains
    for kind, label, values in (("ess_bulk", "bulk", bulk_d), ("ess_tail", "tail", tail_d)):
        bad = _sorted_bad(values, lambda v: v < threshold)
        if bad:
            use = ("posterior means and medians" if label == "bulk"
                   else "intervals and tail quantiles")
            what = (f"{label} ESS below {threshold} (100 per chain) for "
                    f"{_list(bad, values, '{:.0f}')} — {use} are imprecise")
            advice, culprits = _mixing_advice(terms, bad)
            problems.append(Problem("warning", kind, what, tuple(bad), advice))
            suspects += culprits

    # E-BFMI
    bfmi = ()
    if "energy" in stats:
        energy = np.asarray(stats["energy"], dtype=float)
        bfmi = tuple(float(b) for b in stats_of_draws.bfmi(energy))
        low = [i for i, b in enumerate(bfmi) if b < BFMI_MIN]
        if low:
            problems.append(_bfmi_problem(terms, bfmi, low))

    # the embedded Laplace approximation: Pareto k of its importance weights. The
    # parameters' decides (the summaries are weighted by them below KHAT_MAX); the joint
    # one, a product of every level's error, grows with the levels and is only reported
    khat = khat_theta = None
    if fit.compiled.laplace and JOINT in stats and PARAMETERS in stats:
        khat, khat_theta = pareto_khat(stats[JOINT]), pareto_khat(stats[PARAMETERS])
        if khat_theta > KHAT_MAX:
            problems.append(Problem(
                "warning", "laplace", f"the Laplace approximation's importance weights of "
                f"the parameters have Pareto k-hat {khat_theta:.2f} (> {KHAT_MAX}): the "
                f"approximation may be off for this model and data, and the weights cannot "
                f"correct it (summaries are of unweighted draws)",
                advice=f"refit with {option('collapse', False)} to sample the group "
                       f"effects exactly, or compare the two fits"))

    return Diagnostics(
        method="nuts", chains=chains, draws=draws, divergences=n_div, divergence_share=share,
        max_tree_depth=depth, tree_depth_hits=hits, max_rhat=max_rhat,
        max_rhat_param=max_rhat_param, min_ess_bulk=min_bulk, min_ess_bulk_param=min_bulk_param,
        min_ess_tail=min_tail, min_ess_tail_param=min_tail_param, bfmi=bfmi,
        laplace_khat=khat, laplace_khat_parameters=khat_theta, problems=tuple(problems),
        suspects=tuple(dict.fromkeys(suspects)), rhat=rhat_d,
        ess_bulk=bulk_d, ess_tail=tail_d)


# ---- collecting draws -------------------------------------------------------------------------


def _stats(fit) -> dict:
    stats = dict(getattr(fit, "stats", None) or {})
    if stats:
        return stats
    try:  # a fit read back from disk may only have the ArviZ names
        ss = fit.posterior.sample_stats
    except AttributeError:
        return {}
    names = {"diverging": "diverging", "energy": "energy", "n_steps": "num_steps",
             "lp": "lp"}
    return {ours: ss[theirs].values for theirs, ours in names.items() if theirs in ss}


def _max_tree_depth(fit) -> int | None:
    settings = getattr(getattr(fit, "run", None), "settings", None)
    depth = getattr(settings, "max_tree_depth", None)
    if isinstance(depth, (tuple, list)):  # NumPyro allows (warm-up depth, sampling depth)
        depth = depth[-1]
    return None if depth is None else int(depth)


def _scalars(fit, stats) -> tuple[list[str], list[np.ndarray]]:
    """Every reported scalar, named the brms way, as blocks of (chains, draws, quantities) in
    the order of the names: the parameters and ``lp__`` in float64, then each term's group
    effects in their own precision (float32 from the sampler: half the work for thousands)."""
    from ..report.idata import posterior_variables

    plan = fit.plan
    variables, _, _ = posterior_variables(plan, fit.samples)
    names, columns = [], []

    def add(name, draws):
        names.append(name)
        columns.append(np.asarray(draws, dtype=float)[..., None])

    for p in flat_parameters(plan):
        if p.kind == "b" and p.variable not in variables:  # draws without coefficients
            continue
        draws = variables[p.variable]
        add(p.name, draws if p.index is None else draws[..., p.index])
    if "potential_energy" in stats:
        add("lp__", -np.asarray(stats["potential_energy"], dtype=float))
    elif "lp" in stats:
        add("lp__", stats["lp"])
    blocks = [np.concatenate(columns, axis=-1)]
    for g in all_groups(plan):  # every effect at once: (chains, draws, levels x effects)
        r = np.asarray(variables[g.sites.r])
        names += flat_effects(g)
        blocks.append(r.reshape(r.shape[:2] + (-1,)))
    return names, blocks


def _extreme(values: dict, pick) -> tuple[float | None, str | None]:
    finite = {k: v for k, v in values.items() if np.isfinite(v)}
    if not finite:
        return None, None
    key = pick(finite, key=finite.get)
    return float(finite[key]), key


def _sorted_bad(values: dict, is_bad, reverse: bool = False) -> list[str]:
    bad = [k for k, v in values.items() if np.isfinite(v) and is_bad(v)]
    return sorted(bad, key=values.get, reverse=reverse)


def _list(names: list[str], values: dict, fmt: str, shown: int = 3) -> str:
    text = ", ".join(f"{n} ({fmt.format(values[n])})" for n in names[:shown])
    if len(names) > shown:
        text += f" and {len(names) - shown} more"
    return text


# ---- group terms and advice -------------------------------------------------------------------


class _Terms:
    """What the plan says about each group term: its parameterisation and level weights."""

    def __init__(self, fit):
        self.plan = fit.plan
        self.groups = list(all_groups(self.plan))  # sub-formulas' too
        # an integrated-out term's effects were not sampled: no centring to blame, no funnel
        # to undo (every term of a collapsed fit; a crossed model's partially collapsed ones)
        partial = fit.compiled.collapsed_terms if fit.method == "nuts" else ()
        self.integrated = {g.name for g in self.groups} if fit.collapsed else set(partial)
        self.weights = {}
        for g, choice in zip(self.groups, fit.compiled.parameterization):
            w = np.asarray(choice.weights, dtype=float)
            # a term spanning formulas is always non-centred: its weights advise nothing
            if len(w) == len(g.levels) and not g.column_dpars:
                self.weights[g.name] = w

    def of(self, param: str):
        """The group term a flat name belongs to (``sd_g__x``, ``cor_g__...``, ``r_g[...]``)."""
        flat = parse_flat(param, self.plan)
        if flat is None or flat.group is None:
            return None
        return next(g for g in self.groups if g.name == flat.group)

    def centered_weak(self, g) -> int:
        """How many levels are centered although the data say little about them."""
        if g.name in self.integrated:
            return 0
        centered = np.asarray(g.centered, dtype=bool)
        w = self.weights.get(g.name)
        if w is None:
            return int(centered.sum()) if g.mode == "centered" else 0
        return int(np.sum(centered & (w < WEIGHT_THRESHOLD)))

    def noncentered_strong(self, g) -> int:
        """How many levels are non-centered although the data pin them down."""
        w = self.weights.get(g.name)
        if g.name in self.integrated:
            return 0
        if w is None:
            return 0
        return int(np.sum(~np.asarray(g.centered, dtype=bool) & (w >= WEIGHT_THRESHOLD)))

    def cure(self, g, prefer: str | None = None, sd_poor: bool = False) -> str:
        """Plain-words advice for one term, from its parameterisation.

        ``prefer="noncentered"``: the evidence is a funnel (trouble at small SDs), so centered
        levels are to blame even when the pilot thought the data strong enough for them;
        ``"centered"``: the opposite; ``None``: only the plan's weights speak. ``sd_poor``: the
        term's SD itself mixes poorly.
        """
        n = len(g.levels)
        if g.name in self.integrated:
            return self._collapsed_cure(g, n, sd_poor or prefer is not None)
        centered = np.asarray(g.centered, dtype=bool)
        weak, strong = self.centered_weak(g), self.noncentered_strong(g)
        blame_centered = weak if prefer != "noncentered" else (weak or int(centered.sum()))
        if prefer != "centered" and blame_centered:
            where = ("all its levels" if blame_centered == n
                     else f"{blame_centered} of its {n} levels")
            little = ", which have little data" if weak and g.name in self.weights else ""
            return (f"Group term ~{g.label} is centered on {where}{little}: refit with "
                    f"{option('reparam', 'noncentered')} (or "
                    f"{option('reparam', {g.label: 'noncentered'})})")
        blame_noncentered = strong if prefer != "centered" else (strong or int((~centered)
                                                                               .sum()))
        if prefer != "noncentered" and blame_noncentered:
            where = ("all its levels" if blame_noncentered == n
                     else f"{blame_noncentered} of its {n} levels")
            pinned = ", which the data pin down" if strong else ""
            return (f"Group term ~{g.label} is non-centered on {where}{pinned}: refit with "
                    f"{option('reparam', {g.label: 'centered'})}")
        if (sd_poor or prefer) and n <= FEW_LEVELS:
            return (f"Group term {_term(g)} has only {n} levels, so the data say little about "
                    f"its SD: a tighter prior on {_sd_key(g)} helps")
        return f"Group term {_term(g)} ({g.mode}) is where the chains mix slowly"

    @staticmethod
    def _collapsed_cure(g, n: int, sd_poor: bool = True) -> str:
        """Advice for a term of a collapsed fit: its effects were integrated out, so the
        trouble is in its SDs or correlations, which reparameterising cannot change (only an
        effect flagged: drawn exactly given them, it mixes as they do)."""
        if not sd_poor:
            return (f"Group term {_term(g)} is integrated out (collapsed): its effects are "
                    f"drawn exactly given its SDs, so they mix as the SDs do")
        what = (f"Group term {_term(g)} is integrated out (collapsed: no funnel to "
                f"reparameterise), so its SD{'s' if g.k > 1 else ''}"
                f"{' and correlations' if g.correlated_pairs else ''} "
                f"mix{'es' if g.k == 1 and not g.correlated_pairs else ''} slowly")
        if n <= FEW_LEVELS:
            return (f"{what}: with only {n} levels the data say little about them; a tighter "
                    f"prior on {_sd_key(g)} helps")
        return f"{what}: a tighter prior on {_sd_key(g)} helps"


def _term(g) -> str:
    """A group term as advice names it: ``~g``; in a family parameter's formula ``~g in
    sigma's formula``."""
    return f"~{g.label}" + (f" in {g.dpar}'s formula" if g.dpar else "")


def _sd_key(g) -> str:
    """The prior key of a term's SDs as users write it: ``sd[g]``, ``sd_sigma[g]``."""
    return PriorRow("sd", g.label, "", None, "", g.dpar).key


def _divergence_problem(fit, terms: _Terms, div: np.ndarray, n_div: int, share: float):
    what = (f"{n_div} divergent transition{'s' if n_div != 1 else ''} ({_share(share)}) — the "
            f"posterior has regions the sampler cannot follow, so estimates may be biased")
    culprits, notes = [], []
    # Evidence from the draws: in a funnel, divergences sit at small SDs of the term (an
    # inverted funnel, non-centered levels the data pin down, puts them at large SDs). The
    # shift must stand out from chance: 2 / sqrt(n) SDs for n divergent draws.
    found = []
    if terms.groups:
        from .idata import posterior_variables

        variables, _, _ = posterior_variables(fit.plan, fit.samples)
        need = max(SHIFT_MIN, 2.0 / math.sqrt(n_div))
        for g in terms.groups:
            sd = np.asarray(variables[g.sites.sd], dtype=float)
            for j, col in enumerate(g.columns):
                shift = _shift(np.log(np.maximum(sd[..., j], 1e-300)), div)
                if shift is not None and abs(shift) >= need:
                    found.append((abs(shift), shift, g, col))
    for _, shift, g, col in sorted(found, key=lambda t: -t[0]):
        if f"~{g.label}" in culprits:
            continue
        side = "below" if shift < 0 else "above"
        notes.append(f"Divergent draws sit at {'small' if shift < 0 else 'large'} "
                     f"{group_sd_name(g, col)}")
        notes[-1] += f" ({abs(shift):.1f} SDs of log sd {side} the other draws)"
        notes.append(terms.cure(g, "noncentered" if shift < 0 else "centered"))
        culprits.append(f"~{g.label}")
    if not culprits:
        # No clear signal in the draws: centered terms on levels with little data are the
        # usual funnel culprits.
        for g in terms.groups:
            if terms.centered_weak(g):
                notes.append(terms.cure(g, "noncentered"))
                culprits.append(f"~{g.label}")
    target = getattr(getattr(getattr(fit, "run", None), "settings", None), "target_accept",
                     0.8)
    raise_to = 0.95 if target < 0.95 else 0.99
    if notes:
        advice = ". ".join(notes) + (f", or refit with {option('target_accept', raise_to)} "
                                     f"(smaller steps).")
    else:
        advice = (f"Refit with {option('target_accept', raise_to)} (smaller steps); if "
                  f"divergences remain, look for weakly identified parameters and give them "
                  f"tighter priors.")
    return Problem("error", "divergences", what, tuple(culprits), advice), culprits


def _share(x: float) -> str:
    return f"{x:.1%}" if x >= 0.001 else f"{x:.2%}"


def _shift(x: np.ndarray, div: np.ndarray) -> float | None:
    """(mean at divergent draws - mean at the others) in SDs of x."""
    if div.all() or not div.any():
        return None
    sd = float(np.std(x))
    if not np.isfinite(sd) or sd == 0:
        return None
    return float((np.mean(x[div]) - np.mean(x[~div])) / sd)


def _mixing_advice(terms: _Terms, bad: list[str]) -> tuple[str, list[str]]:
    """Advice for poorly mixing parameters (R-hat, ESS), naming their group terms."""
    groups, sd_poor = [], set()
    for name in bad:
        g = terms.of(name)
        if g is None:
            continue
        if g not in groups:
            groups.append(g)
        if parse_flat(name, terms.plan).kind == "sd":
            sd_poor.add(g.name)
    culprits = [f"~{g.label}" for g in groups]
    longer = "run longer chains (more tune and draws)"
    if groups:
        cures = ". ".join(terms.cure(g, sd_poor=g.name in sd_poor) for g in groups)
        return f"{cures}. Longer chains (more tune and draws) help too.", culprits
    return (f"R{longer[1:]}; if that does not help, the posterior may be multimodal or "
            f"badly scaled (check the parameters named).", culprits)


def _tree_depth_problem(terms: _Terms, hits: int, total: int, depth: int) -> Problem:
    what = (f"{hits} draw{'s' if hits != 1 else ''} ({_share(hits / total)}) hit the maximum "
            f"tree depth {depth} — trajectories were cut short, so sampling is inefficient")
    strong = [g for g in terms.groups if terms.noncentered_strong(g)]
    advice = f"Refit with {option('max_tree_depth', depth + 2)}, or reparameterise"
    if strong:
        advice += (". " + ". ".join(terms.cure(g, "centered") for g in strong))
    else:
        advice += (": strongly correlated or badly scaled parameters make long trajectories "
                   "(e.g. predictors on very different scales, or non-identified "
                   "coefficients)")
    return Problem("warning", "tree_depth", what, tuple(f"~{g.label}" for g in strong),
                   advice + ".")


def _bfmi_problem(terms: _Terms, bfmi: tuple, low: list[int]) -> Problem:
    shown = ", ".join(f"chain {i + 1}: {bfmi[i]:.2f}" for i in low)
    what = (f"E-BFMI below {BFMI_MIN} ({shown}) — the sampler explores the energy poorly, "
            f"typically in a funnel or heavy tails")
    weak = [g for g in terms.groups if terms.centered_weak(g)]
    if weak:
        advice = ". ".join(terms.cure(g, "noncentered") for g in weak) + "."
    else:
        advice = ("Reparameterise, or give weakly identified parameters (group SDs, family "
                  "parameters) tighter priors.")
    return Problem("warning", "bfmi", what, tuple(f"~{g.label}" for g in weak), advice)


# ---- approximations ---------------------------------------------------------------------------


def _approximate(fit, chains: int, draws: int) -> Diagnostics:
    method = fit.method
    problems = []
    what = (f"{option('method', method)} gives no sampler diagnostics: divergences, R-hat, "
            f"ESS and E-BFMI exist only for NUTS")
    if method == "map":
        what = (f"{option('method', 'map')} is a point estimate (the posterior mode): no sampler "
                "diagnostics, which exist only for NUTS, and no uncertainty")
        advice = f"Refit with {option('method', 'nuts')} for inference."
    else:
        advice = ("Variational approximations tend to understate posterior uncertainty and "
                  f"correlations: check key results against {option('method', 'nuts')}.")
    problems.append(Problem("warning", "method", what, (), advice))
    run = getattr(fit, "run", None)
    if getattr(run, "converged", True) is False:
        steps = getattr(run, "steps", None)
        problems.append(Problem(
            "warning", "method", f"the {method.upper()} optimisation stopped"
            + (f" after {steps} steps" if steps else "") + " before converging",
            (), f"The estimate may be off the optimum: refit with {option('method', 'nuts')}."))
    groups = all_groups(fit.plan)
    if method == "map" and groups:
        from ..report.idata import posterior_variables

        variables, _, _ = posterior_variables(fit.plan, fit.samples)
        values = []
        for g in groups:
            sd = np.asarray(variables[g.sites.sd], dtype=float)
            sd = sd.reshape(-1, sd.shape[-1]).mean(axis=0)
            values += [f"{group_sd_name(g, col)} = {v:.3g}" for col, v in zip(g.columns, sd)]
        problems.append(Problem(
            "warning", "method",
            "the mode of a hierarchical model drives group SDs towards zero (the density "
            "grows without bound as an SD and its effects shrink together), so MAP "
            "understates them: " + ", ".join(values),
            tuple(f"~{g.label}" for g in groups),
            f"Use {option('method', 'nuts')} for group-level SDs and effects."))
    return Diagnostics(method=method, chains=chains, draws=draws, problems=tuple(problems))
