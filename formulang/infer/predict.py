"""Predictions from a fitted model: linear predictor, mean and simulated responses per draw.

:func:`predict` returns a plain NumPy array shaped ``(draws, rows)``: one row per posterior
draw, chains stacked chain after chain (chain 0's draws first), one column per row of
``newdata``. Summaries are array reductions::

    >>> import formulang as fl                                    # doctest: +SKIP
    >>> fit = fl.Model("Reaction ~ Days + (Days | Subject)",      # doctest: +SKIP
    ...                fl.datasets.load("sleepstudy")).fit()
    >>> new = {"Days": [0, 9], "Subject": ["308", "999"]}          # doctest: +SKIP
    >>> mu = fit.predict(new)                                     # doctest: +SKIP
    >>> mu.shape, mu.mean(axis=0), np.quantile(mu, [0.05, 0.95], axis=0)  # doctest: +SKIP

Kinds (brms's names in brackets):

- ``"linpred"`` (``posterior_linpred``): the linear predictor ``eta`` on the link scale,
  offsets included.
- ``"prob"`` (``posterior_linpred(transform = TRUE)``; binomial and bernoulli models): the
  probability of success per trial, the inverse link of ``eta``. It needs no trials.
- ``"mean"`` (``posterior_epred``): the mean of the response given the parameters: the
  inverse link of ``eta``; ``exp(eta + sigma^2 / 2)`` for lognormal (``eta`` is the mean of
  ``log y``); for binomial the expected number of successes, ``p * trials``, as brms.
  Truncated models (``trunc()``) give the mean of the truncated distribution,
  ``E[Y | lb <= Y <= ub]``, as brms (closed forms from the family's row:
  :func:`~formulang.lower.response.truncated_mean`), so ``newdata`` needs the bound columns;
  censored models the mean of the uncensored response.
- ``"response"`` (``posterior_predict``): responses drawn from the likelihood, one per draw
  and row (the model's own NumPyro distribution, so the parameterisations agree).
  Observation weights do not enter predictions. Censored models (``cens()``) give the
  uncensored response; truncated ones (``trunc()``) draw within the bounds (so ``newdata``
  needs bound columns); ``se()`` rows use their known SDs, ``rate()`` their exposures.

Binomial ``"mean"`` and ``"response"`` need the number of trials of each row, and nothing
else of the response: ``s | trials(n)`` reads column ``n``; ``cbind(s, n - s)`` reads ``n``
too (the successes ``s`` are not needed); another ``cbind(s, f)`` needs both ``s`` and ``f``.
``trials=`` gives them instead: a column of ``newdata``, a number, or one number per row.

Rows: the result has one column per row of ``newdata``, in order. A row with a missing
predictor cannot be predicted: its column is NaN, with a
:class:`~formulang.data.MissingValuesWarning` naming the rows (a model built with
``na_action="raise"`` refuses them instead). ``newdata=None`` predicts the training rows used
in the fit.

Group levels not seen in training (``new_levels``) are named in a
:class:`~formulang.data.NewLevelsWarning`, per grouping factor, with the known levels they
resemble (a misspelt ``hennepin`` for ``HENNEPIN``), and get:

- ``"gaussian"`` (default; brms's ``sample_new_levels = "gaussian"``): for each draw, each new
  level gets one effect vector from ``N(0, Sigma_g)`` with that draw's SDs and correlations,
  shared by all rows of the level;
- ``"population"``: effect 0, the population-level prediction (lme4's
  ``allow.new.levels = TRUE``);
- ``"error"``: refuse, with the same message.

Random numbers (new-level effects and ``"response"`` draws) come from ``seed`` only: the same
seed gives the same array.
"""

from __future__ import annotations

import difflib
import warnings

import numpy as np
import pandas as pd

from ..data.frame import as_frame
from ..data.notices import MissingValuesWarning, NewLevelsWarning, tell
from ..errors import FormulangError
from ..ir.expr import columns_of
from ..lower.links import LINKS
from ..lower.smooth_plan import own_smooths, smooth_effects_draws
from ..phrasing import option

KINDS = ("linpred", "prob", "mean", "response")
NEW_LEVELS = ("gaussian", "population", "error")

# Chunks of draws bound the temporaries of the linear predictor to about this many numbers
# (the result itself is draws x rows either way).
_CHUNK_ELEMENTS = 4_000_000


def predict(fit, newdata=None, *, kind: str = "mean", new_levels: str = "gaussian",
            trials=None, seed: int = 0, labels: bool = True,
            dpar: str | None = None) -> np.ndarray:
    """Predictions per posterior draw, as a float array shaped ``(chains * draws, rows)``.

    ``newdata`` (a DataFrame or dict of columns) needs the predictors, not the response;
    ``None`` means the training rows. One column per row of ``newdata``: NaN for a row with a
    missing predictor (with a warning naming it). ``trials``: the binomial trials of each row
    (a column name, a number, or one number per row), for ``kind="mean"``/``"response"``
    when ``newdata`` lacks the response's trials. See the module docstring for ``kind`` and
    ``new_levels``. A level of a fixed-effect factor unseen in training is a
    :class:`~formulang.DataError`. Ordinal models: ``kind="prob"`` is ``(draws, rows, K)``;
    ``kind="response"`` gives the categories' labels (``labels=False``: codes ``0..K-1``).
    Categorical models: ``kind="prob"`` and ``"mean"`` are ``(draws, rows, K)``,
    ``kind="linpred"`` every category's linear predictor ``(draws, rows, K)`` (the
    reference's 0), ``kind="response"`` labels.

    ``dpar``: a family parameter (``sigma`` of ``y ~ x; sigma ~ z``): its values per draw
    and row (``kind="mean"``) or its linear predictor (``kind="linpred"``), as brms's
    ``posterior_linpred(dpar = "sigma")``; one without a formula of its own (``zi`` of a
    zero-inflated model) has its draw on every row.
    """
    if dpar is not None:
        return _predict_dpar(fit, newdata, dpar, kind, new_levels, seed)
    if kind not in KINDS:
        raise FormulangError(f"unknown prediction kind {kind!r}; kinds: {', '.join(KINDS)}")
    if new_levels not in NEW_LEVELS:
        raise FormulangError(f"unknown new_levels {new_levels!r}; choose one of: "
                             f"{', '.join(NEW_LEVELS)}")
    plan = fit.plan
    family = plan.family
    if kind == "prob" and not _per_trial(family) and family.spec.probabilities is None:
        raise FormulangError(
            f"{option('kind', 'prob')} is the probability of success per trial of a binomial "
            f"or bernoulli model; for this {family.name} model use {option('kind', 'mean')} "
            f"(the response's mean) or {option('kind', 'linpred')}")
    bound = _bind(fit, newdata)
    report_new_levels(bound, new_levels)
    n_trials = _trials(fit, bound, kind, trials, newdata)
    rng = np.random.default_rng(seed)
    drawn: dict = {}  # new levels' effects, shared by the formulas (one draw per level)
    eta = linear_predictor(fit, bound, new_levels=new_levels, rng=rng, drawn=drawn)
    if kind == "linpred" and family.spec.linpred is not None:  # categorical: (draws, rows, K)
        out = family.spec.linpred(eta, dpar_values(fit, bound, new_levels, rng, linear=True,
                                                   drawn=drawn))
    elif kind == "linpred":
        out = eta
    elif kind == "prob" and family.spec.probabilities is None:
        out = inverse_link(family.link.name, eta)
    else:
        aux = {name: _flat(fit.samples[name]).astype(float) for name in plan.family_inputs}
        aux.update(dpar_values(fit, bound, new_levels, rng, drawn=drawn))  # per draw, row
        if kind == "prob":  # ordinal: the categories' probabilities, (draws, rows, K)
            out = family.spec.probabilities(family.link, eta, aux)
        elif kind == "response":
            out = simulate(family, eta, aux, n_trials, seed, plan.response,
                           _addition_arrays(plan, bound, kind),
                           per_row=tuple(d.name for d in plan.dpars))
            if labels:  # ordinal: the categories' labels (ints 1..K, or the factor's)
                out = response_labels(fit.compiled, out)
        elif plan.response.truncated:
            from ..lower.response import truncated_mean

            out = truncated_mean(family, plan.response, eta, aux, n_trials,
                                 _addition_arrays(plan, bound, kind))
        else:
            out = family_mean(family, eta, aux, n_trials)
    return out if newdata is None else _aligned(out, bound)


def response_labels(compiled, codes: np.ndarray) -> np.ndarray:
    """Drawn categories (codes ``0..K-1``) as their labels: ints ``1..K`` for a numeric
    ordinal response, else the factor's labels (an object array); other responses as
    drawn."""
    levels = compiled.spec.response_levels
    if levels is None or levels.mode == "binary":
        return codes
    return levels.labels(codes)


def _predict_dpar(fit, newdata, dpar: str, kind: str, new_levels: str, seed: int):
    plan = fit.plan
    names = [d.name for d in plan.dpars]
    constant = dpar not in names and dpar in plan.aux and dpar in fit.samples
    if dpar not in names and not constant:
        has = [*names, *(a for a in plan.aux if a in fit.samples)]
        raise FormulangError(f"{option('dpar', dpar)}: the {plan.family.name} family's "
                             f"parameters are {', '.join(has) or 'none'}")
    if kind not in ("linpred", "mean"):
        raise FormulangError(f"{option('dpar', dpar)} takes {option('kind', 'mean')} (its "
                             f"values) or {option('kind', 'linpred')} (its link scale), not "
                             f"{kind!r}")
    if new_levels not in NEW_LEVELS:
        raise FormulangError(f"unknown new_levels {new_levels!r}; choose one of: "
                             f"{', '.join(NEW_LEVELS)}")
    bound = _bind(fit, newdata)
    if constant:  # no formula of its own: its draw on every row (brms's dpar = "zi")
        value = _flat(fit.samples[dpar]).astype(float)
        if kind == "linpred":
            value = LINKS[plan.family.spec.dpar(dpar).link].forward(value)
        out = np.repeat(value[:, None], bound.n, axis=1)
        return out if newdata is None else _aligned(out, bound)
    # the parameter's own terms: the response's new levels do not reach it
    report_new_levels(dict(bound.dpars)[dpar], new_levels)
    out = dpar_values(fit, bound, new_levels, np.random.default_rng(seed),
                      linear=kind == "linpred")[dpar]
    return out if newdata is None else _aligned(out, bound)


def dpar_values(fit, bound, new_levels: str = "gaussian", rng=None,
                linear: bool = False, drawn: dict | None = None) -> dict:
    """Each family parameter with its own formula, per draw and row: ``link^-1(eta)`` (or
    ``eta`` itself, ``linear``), (S, n). ``drawn``: as :func:`linear_predictor`'s."""
    out = {}
    subs = dict(bound.dpars)
    drawn = {} if drawn is None else drawn
    for d in fit.plan.dpars:
        eta = linear_predictor(fit, subs[d.name], new_levels, rng, pred=d, drawn=drawn)
        out[d.name] = eta if linear else inverse_link(d.link, eta)
    return out


def _per_trial(family) -> bool:
    """Binomial (successes of trials) and bernoulli (one trial, merged into binomial rows
    when compressed): the inverse link is the probability of success per trial."""
    return bool(family.spec.trials or family.spec.merges_into)


def _addition_arrays(plan, bound, kind: str) -> dict:
    """The arrays of the response additions that draws or a truncated mean need (known SEs,
    exposures, truncation bounds); censoring is not among them: predictions are of the
    uncensored response."""
    from ..lower.plan import addition_data

    arrays = addition_data(plan, bound)
    r = plan.response
    needed = [k for k in ("lb", "ub", "se") if getattr(r, k)]
    missing = [k for k in needed if k not in arrays]
    if missing:
        what = "draws" if kind == "response" else "of a truncated response"
        raise FormulangError(
            f"{option('kind', kind)} {what} need{'s' if kind == 'mean' else ''} the "
            f"{' and '.join(missing)} of each row: add the columns of {bound.response_name} "
            f"to newdata")
    return arrays


def _bind(fit, newdata):
    if newdata is None:
        if fit.bound is None:
            raise FormulangError("this fit does not hold its training data (it was saved "
                                 "without it): pass the rows to predict as newdata")
        return fit.bound
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", MissingValuesWarning)
        bound = fit.compiled.apply(newdata, keep_empty=True)  # all rows missing: all NaN
    for w in caught:  # others go on to the user; dropped rows are told below, as NaN columns
        if not issubclass(w.category, MissingValuesWarning):
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    if bound.kept_rows is not None:
        _warn_unpredicted(fit, newdata, bound)
    return bound


def _warn_unpredicted(fit, newdata, bound) -> None:
    frame = as_frame(newdata)
    lost = np.setdiff1d(np.arange(bound.n_input), bound.rows)
    columns = [c for c in fit.compiled.formula.columns() if c in frame.series]
    detail = []
    for c in columns:
        count = int(np.asarray(frame.series[c].isna(), dtype=bool)[lost].sum())
        if count:
            detail.append(f"{c} ({count} row{'s' if count != 1 else ''})")
    shown = ", ".join(str(int(i)) for i in lost[:10]) + (", ..." if len(lost) > 10 else "")
    tell(MissingValuesWarning(
        f"{len(lost)} of {bound.n_input} newdata rows have missing values in "
        f"{', '.join(detail) or 'the columns the formula uses'}: their predictions are NaN "
        f"(row position{'s' if len(lost) != 1 else ''} {shown})"))


def _aligned(out: np.ndarray, bound) -> np.ndarray:
    """One column per input row: the predicted rows in place, NaN for the others."""
    if bound.kept_rows is None:
        return out
    if out.dtype == object:  # category labels: None for rows not predicted
        full = np.full((out.shape[0], bound.n_input) + out.shape[2:], None, dtype=object)
    else:
        full = np.full((out.shape[0], bound.n_input) + out.shape[2:], np.nan)
    full[:, bound.rows] = out
    return full


def report_new_levels(bound, new_levels: str) -> None:
    """Warn (:class:`~formulang.data.NewLevelsWarning`, at the user's line) or, for
    ``new_levels="error"``, raise about group levels not seen in training, per grouping
    factor, with close known ones."""
    lines, seen = [], set()
    for gd in bound.groups:
        if not gd.new_levels or gd.label in seen:
            continue
        seen.add(gd.label)
        lines.append(f"{gd.label!r}: " + new_levels_text(gd.new_levels, gd.levels))
    if not lines:
        return
    count = sum(len(gd.new_levels) for gd in bound.groups if gd.label in seen)
    head = (f"newdata has {count} group level{'s' if count != 1 else ''} not seen in "
            f"training; " + "; ".join(lines) + ". ")
    told = [f"{option('new_levels', rule)}: {_NEW_LEVEL_RULES[rule]}" for rule in NEW_LEVELS
            if rule != new_levels]
    if new_levels == "error":
        raise FormulangError(head + f"They are refused ({option('new_levels', 'error')}); "
                             f"correct them, or use " + "; ".join(told))
    tell(NewLevelsWarning(
        head + f"They get {_NEW_LEVEL_RULES[new_levels]} ({option('new_levels', new_levels)})"
        f"; " + "; ".join(told)))


_NEW_LEVEL_RULES = {"gaussian": "effects drawn from the fitted population, N(0, Sigma) per draw",
                    "population": "effect 0, the population-level prediction",
                    "error": "refused"}


def new_levels_text(new: tuple[str, ...], known: tuple[str, ...], limit: int = 10) -> str:
    """The new levels, each with the known levels it resembles.

    >>> new_levels_text(("hennepin", "zzz"), ("HENNEPIN", "RAMSEY"))
    "'hennepin' (did you mean 'HENNEPIN'?), 'zzz'"
    """
    folded: dict[str, list[str]] = {}
    for k in known:
        folded.setdefault(k.casefold(), []).append(k)
    parts = []
    for level in new[:limit]:
        close = folded.get(level.casefold(), []) + difflib.get_close_matches(
            level, known, n=3, cutoff=0.6)
        close = list(dict.fromkeys(close))[:3]
        hint = f" (did you mean {' or '.join(repr(c) for c in close)}?)" if close else ""
        parts.append(f"{level!r}{hint}")
    more = f" and {len(new) - limit} more" if len(new) > limit else ""
    return ", ".join(parts) + more


def _flat(a) -> np.ndarray:
    """(chains, draws, ...) -> (chains * draws, ...)."""
    a = np.asarray(a)
    return a.reshape((-1,) + a.shape[2:])


def _n_draws(samples: dict) -> int:
    first = next(iter(samples.values()))
    return int(first.shape[0] * first.shape[1])


def _trials(fit, bound, kind: str, trials, newdata):
    """The trials of each bound row, for a binomial mean or draws; ``None`` otherwise."""
    family = fit.plan.family
    if kind in ("linpred", "prob") or not family.spec.trials:
        if trials is not None and not family.spec.trials:
            raise FormulangError(f"{option('trials')} is for binomial models; this one is "
                                 f"{family.name}")
        return None
    if trials is not None:
        return _given_trials(trials, bound, newdata)
    if bound.trials is not None:
        return np.asarray(bound.trials, dtype=float)
    needed = trials_columns(fit.compiled.formula.response)
    have = () if newdata is None else as_frame(newdata).names
    missing = [c for c in needed if c not in have]
    raise FormulangError(
        f"{option('kind', kind)} for a binomial model needs the number of trials of each "
        f"row ({'expected successes = p x trials' if kind == 'mean' else 'to draw successes'})"
        f": newdata lacks {', '.join(repr(c) for c in missing)}, which the trials of "
        f"{bound.response_name} need. Add {'it' if len(missing) == 1 else 'them'}, give "
        f"{option('trials')} (a column of newdata or a number), or use "
        f"{option('kind', 'prob')} (the probability per trial, no trials needed)")


def trials_columns(response) -> tuple[str, ...]:
    """The columns the trials of a binomial response are computed from: those of ``n`` in
    ``s | trials(n)`` and ``cbind(s, n - s)``, else those of both sides of ``cbind(s, f)``.

    >>> from formulang import parse
    >>> trials_columns(parse("cbind(s, n - s) ~ 1").response)
    ('n',)
    """
    from ..data.bind import trials_expression

    expr = trials_expression(response)
    if expr is not None:
        return tuple(columns_of(expr))
    return tuple(dict.fromkeys(columns_of(response.value) + columns_of(response.failures)))


def _given_trials(trials, bound, newdata) -> np.ndarray:
    """``trials=``: a column of newdata, a number, or one number per newdata row."""
    n_input = bound.n_input
    if isinstance(trials, str):
        frame = None if newdata is None else as_frame(newdata)
        if frame is None or trials not in frame.series:
            raise FormulangError(f"{option('trials', trials)} names no column of newdata")
        values = pd.to_numeric(frame.series[trials], errors="coerce").to_numpy(dtype=float)
    else:
        try:
            values = np.asarray(trials, dtype=float)
        except (TypeError, ValueError):
            raise FormulangError(f"{option('trials')} takes a column name, a number or one "
                                 f"number per row, not {type(trials).__name__}") from None
        if values.ndim == 0:
            values = np.full(n_input, float(values))
    if values.shape != (n_input,):
        raise FormulangError(f"{option('trials')} has {values.size} values for "
                             f"{n_input} rows of newdata")
    values = values[bound.rows]
    bad = np.flatnonzero(~np.isfinite(values) | (values < 0) | (values != np.round(values)))
    if len(bad):
        i = int(bound.rows[bad[0]])
        raise FormulangError(f"{option('trials')}: the trials must be whole numbers >= 0, not "
                             f"{values[bad[0]]!r} (row position {i})")
    return values


# ---- the linear predictor ---------------------------------------------------------------------

def linear_predictor(fit, bound, new_levels: str = "gaussian", rng=None,
                     pred=None, drawn: dict | None = None) -> np.ndarray:
    """``eta`` per draw and row: ``X b + sum_g values_g * r_g[codes] + offset``, (S, n); of
    the response's formula, or of a sub-formula ``pred`` (a
    :class:`~formulang.lower.plan.DparPlan`, ``bound`` its bound rows). ``drawn``: the new
    levels' effects drawn so far, by term: a term spanning formulas draws a new level's
    effects once, jointly, for all of them."""
    from ..lower.joint import terms_of

    plan = fit.plan if pred is None else pred
    drawn = {} if drawn is None else drawn
    samples = fit.samples
    S, n = _n_draws(samples), bound.X.shape[0]
    rng = np.random.default_rng(0) if rng is None else rng

    if new_levels == "error":
        report_new_levels(bound, new_levels)
    X = np.asarray(bound.X, dtype=float)
    coefficients = plan.sites.coefficients
    b = _flat(samples[coefficients]).astype(float) if coefficients in samples \
        else np.zeros((S, 0))
    if b.shape[1] != X.shape[1]:  # pragma: no cover - plan and data disagree: a bug
        raise AssertionError(f"{b.shape[1]} coefficients for {X.shape[1]} design columns")
    terms = []
    for g, cols, gd in terms_of(fit.plan, plan.dpar, bound):
        r = _flat(samples[g.sites.r]).astype(float)  # (S, levels, k)
        codes = np.asarray(gd.codes, dtype=np.int64)
        if (codes < 0).any():
            if g.name not in drawn:
                drawn[g.name] = _with_new_levels(fit, g, gd, r, codes, new_levels, rng)
            r, codes = drawn[g.name]
        terms.append((r[..., list(cols)], codes, np.asarray(gd.values, dtype=float)))

    eta = np.empty((S, n))
    offset = np.asarray(bound.offset, dtype=float)
    step = max(1, _CHUNK_ELEMENTS // max(n, 1))
    for start in range(0, S, step):
        part = slice(start, min(S, start + step))
        out = eta[part]
        np.matmul(b[part], X.T, out=out)
        out += offset
        for r, codes, values in terms:
            for k in range(values.shape[1]):
                out += values[:, k] * r[part, :, k][:, codes]
    own = own_smooths(fit.plan, plan.dpar)
    if own:  # s(), gp() of this formula: their bases on these rows
        if len(bound.smooths) != len(own):  # pragma: no cover - a bug
            raise AssertionError("the rows lack the smooth terms' bases")
        flat = {k: _flat(samples[k]) for s in (sm.sites for sm in own)
                for k in (s.sd, s.z, s.lscale) if k is not None}
        eta += smooth_effects_draws(fit.plan, flat, bound.smooths, plan.dpar, rng)
    return eta


def _with_new_levels(fit, g, gd, r, codes, new_levels, rng):
    """Extend r (S, L, k) with effects of the new levels; codes -1 -> L + new code."""
    names = tuple(gd.new_levels)
    S, L, k = r.shape
    if new_levels == "gaussian":
        extra = draw_group_effects(fit.samples, g, len(names), rng)
    else:
        extra = np.zeros((S, len(names), k))
    new_codes = np.asarray(gd.new_codes, dtype=np.int64)
    codes = np.where(codes >= 0, codes, L + new_codes)
    return np.concatenate([r, extra], axis=1), codes


def draw_group_effects(samples: dict, g, n_levels: int, rng) -> np.ndarray:
    """Effects of ``n_levels`` new levels per draw, ``N(0, diag(sd) C diag(sd))``: (S, m, k)."""
    from ..lower.sites import vector

    sd = _flat(vector(samples, g.sd)).astype(float)  # (S, k)
    S, k = sd.shape
    z = rng.standard_normal((S, n_levels, k))
    L = correlation_cholesky(samples, g)
    if L is not None:
        z = np.einsum("sij,smj->smi", L, z)
    return z * sd[:, None, :]


def correlation_cholesky(samples: dict, g) -> np.ndarray | None:
    """Per draw, the Cholesky factor of the effects' correlation matrix (block diagonal as
    :attr:`GroupPlan.blocks`), ``(S, k, k)``; ``None`` when no effects are correlated."""
    if not g.sites.lkj:
        return None
    from ..lower import sites

    S, k = _n_draws(samples), g.k
    names = [name for name, _ in g.sites.lkj]
    if all(name in samples for name in names):
        shape = np.shape(samples[names[0]])[:-2]
        return _flat(sites.correlation_cholesky(g, samples, shape)).astype(float)
    # No Cholesky sites (e.g. draws from elsewhere): rebuild from the correlations.
    cor = _flat(samples[g.sites.cor]).astype(float)
    C = np.broadcast_to(np.eye(k), (S, k, k)).copy()
    for j, (a, b) in enumerate(g.correlated_pairs):
        C[:, a, b] = C[:, b, a] = cor[:, j]
    return np.linalg.cholesky(C + 1e-10 * np.eye(k))


# ---- family means and simulation ----------------------------------------------------------------

def inverse_link(name: str, eta: np.ndarray) -> np.ndarray:
    """The inverse link in NumPy float64 (the family's own inverse is JAX, float32)."""
    return LINKS[name].inverse(eta)


def family_mean(family, eta: np.ndarray, aux: dict, trials=None) -> np.ndarray:
    """The mean of the response per draw and row (brms's ``posterior_epred``): the family's
    row says how (:meth:`formulang.lower.families.Family.mean`)."""
    return family.mean(eta, aux, trials)


def simulate(family, eta: np.ndarray, aux: dict, trials, seed: int, response=None,
             additions: dict | None = None, per_row: tuple[str, ...] = ()) -> np.ndarray:
    """Responses drawn from the family's likelihood, one per draw and row; with a
    :class:`~formulang.lower.response.ResponsePlan` ``response`` and its ``additions``
    arrays, of the uncensored response, within any truncation bounds, with known SEs and
    exposures. ``aux`` values are per draw (a leading draws axis), those named in ``per_row``
    (parameters with their own formula) per draw and row."""
    from ..lower.response import ResponsePlan, observation
    from .jax_setup import configure

    configure()
    import jax
    import jax.numpy as jnp

    params = {k: jnp.asarray(v if k in per_row else np.asarray(v)[:, None])
              for k, v in aux.items()}
    extras = {k: jnp.asarray(v) for k, v in (additions or {}).items()}
    likelihood = observation(family, response or ResponsePlan(), jnp.asarray(eta), params,
                             _integer_trials(trials), extras, censored=False)
    y = likelihood.sample(jax.random.PRNGKey(seed))
    return np.asarray(y, dtype=float)


def _integer_trials(trials):
    """NumPyro's binomial draws need whole-number trials as an integer array (the likelihood
    itself takes floats)."""
    if trials is None:
        return None
    import jax.numpy as jnp

    return jnp.asarray(np.rint(np.asarray(trials)), dtype=jnp.int32)


__all__ = ["KINDS", "NEW_LEVELS", "family_mean", "linear_predictor", "new_levels_text",
           "predict", "report_new_levels", "response_labels", "simulate", "trials_columns"]
