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
- ``"mean"`` (``posterior_epred``): the mean of the response given the parameters: the
  inverse link of ``eta``; ``exp(eta + sigma^2 / 2)`` for lognormal (``eta`` is the mean of
  ``log y``); for binomial the expected number of successes, ``p * trials``, as brms, so the
  trials must be in ``newdata`` (divide by them for proportions, or use ``"linpred"``).
- ``"response"`` (``posterior_predict``): responses drawn from the likelihood, one per draw
  and row (the model's own NumPyro distribution, so the parameterisations agree).
  Observation weights do not enter predictions. Censored models (``cens()``) give the
  uncensored response; truncated ones (``trunc()``) draw within the bounds (so ``newdata``
  needs bound columns); ``se()`` rows use their known SDs, ``rate()`` their exposures.

Group levels not seen in training (``new_levels``):

- ``"gaussian"`` (default; brms's ``sample_new_levels = "gaussian"``): for each draw, each new
  level gets one effect vector from ``N(0, Sigma_g)`` with that draw's SDs and correlations,
  shared by all rows of the level;
- ``"population"``: effect 0, the population-level prediction (lme4's
  ``allow.new.levels = TRUE``);
- ``"error"``: refuse, naming the grouping factor and its new levels.

Random numbers (new-level effects and ``"response"`` draws) come from ``seed`` only: the same
seed gives the same array.
"""

from __future__ import annotations

import numpy as np

from ..errors import FormulangError

KINDS = ("linpred", "mean", "response")
NEW_LEVELS = ("gaussian", "population", "error")

# Chunks of draws bound the temporaries of the linear predictor to about this many numbers
# (the result itself is draws x rows either way).
_CHUNK_ELEMENTS = 4_000_000


def predict(fit, newdata=None, *, kind: str = "mean", new_levels: str = "gaussian",
            seed: int = 0) -> np.ndarray:
    """Predictions per posterior draw, as a float array shaped ``(chains * draws, rows)``.

    ``newdata`` (a DataFrame or dict of columns) needs the predictors, not the response;
    ``None`` means the training rows. See the module docstring for ``kind`` and
    ``new_levels``. A level of a fixed-effect factor unseen in training is a
    :class:`~formulang.DataError`. Rows with a missing predictor are handled as in training
    (dropped with a warning by default): ``fit.compiled.apply(newdata).rows`` says which
    input rows the columns are.
    """
    if kind not in KINDS:
        raise FormulangError(f"unknown prediction kind {kind!r}; kinds: {', '.join(KINDS)}")
    if new_levels not in NEW_LEVELS:
        raise FormulangError(f"unknown new_levels {new_levels!r}; choose one of: "
                             f"{', '.join(NEW_LEVELS)}")
    bound = _bind(fit, newdata)
    rng = np.random.default_rng(seed)
    eta = linear_predictor(fit, bound, new_levels=new_levels, rng=rng)
    if kind == "linpred":
        return eta
    plan = fit.plan
    family = plan.family
    aux = {name: _flat(fit.samples[name]).astype(float) for name in plan.aux}
    trials = _trials(family, bound, kind)
    if kind == "mean":
        return family_mean(family, eta, aux, trials)
    return simulate(family, eta, aux, trials, seed, plan.response,
                    _addition_arrays(plan, bound))


def _addition_arrays(plan, bound) -> dict:
    """The arrays of the response additions draws need (known SEs, exposures, truncation
    bounds); censoring is not among them: draws are of the uncensored response."""
    from ..lower.plan import addition_data

    arrays = addition_data(plan, bound)
    r = plan.response
    needed = [k for k in ("lb", "ub", "se") if getattr(r, k)]
    missing = [k for k in needed if k not in arrays]
    if missing:
        raise FormulangError(
            f"kind='response' draws need the {' and '.join(missing)} of each row: add the "
            f"columns of {bound.response_name} to newdata")
    return arrays


def _bind(fit, newdata):
    if newdata is None:
        if fit.bound is None:
            raise FormulangError("this fit does not hold its training data (it was loaded from "
                                 "a file): pass the rows to predict as newdata")
        return fit.bound
    return fit.compiled.apply(newdata)


def _flat(a) -> np.ndarray:
    """(chains, draws, ...) -> (chains * draws, ...)."""
    a = np.asarray(a)
    return a.reshape((-1,) + a.shape[2:])


def _n_draws(samples: dict) -> int:
    first = next(iter(samples.values()))
    return int(first.shape[0] * first.shape[1])


def _trials(family, bound, kind: str):
    if not family.spec.trials:
        return None
    if bound.trials is None:
        raise FormulangError(
            f"kind={kind!r} for a {family.name} model needs the number of trials of each new row "
            f"({'expected successes = p x trials' if kind == 'mean' else 'to draw successes'})"
            f": add the columns of {bound.response_name} to newdata (the successes may be "
            f"left out when trials() names the trials), or use kind='linpred'")
    return np.asarray(bound.trials, dtype=float)


# ---- the linear predictor ---------------------------------------------------------------------

def linear_predictor(fit, bound, new_levels: str = "gaussian", rng=None) -> np.ndarray:
    """``eta`` per draw and row: ``X b + sum_g values_g * r_g[codes] + offset``, (S, n)."""
    plan = fit.plan
    samples = fit.samples
    S, n = _n_draws(samples), bound.X.shape[0]
    rng = np.random.default_rng(0) if rng is None else rng

    X = np.asarray(bound.X, dtype=float)
    b = _flat(samples["b"]).astype(float) if "b" in samples else np.zeros((S, 0))
    if b.shape[1] != X.shape[1]:  # pragma: no cover - plan and data disagree: a bug
        raise AssertionError(f"{b.shape[1]} coefficients for {X.shape[1]} design columns")
    terms = []
    for g, gd in zip(plan.groups, bound.groups):
        r = _flat(samples[g.sites.r]).astype(float)  # (S, levels, k)
        codes = np.asarray(gd.codes, dtype=np.int64)
        if (codes < 0).any():
            r, codes = _with_new_levels(fit, g, gd, r, codes, new_levels, rng)
        terms.append((r, codes, np.asarray(gd.values, dtype=float)))

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
    return eta


def _with_new_levels(fit, g, gd, r, codes, new_levels, rng):
    """Extend r (S, L, k) with effects of the new levels; codes -1 -> L + new code."""
    names = tuple(gd.new_levels)
    if new_levels == "error":
        shown = ", ".join(repr(x) for x in names[:10])
        more = f" and {len(names) - 10} more" if len(names) > 10 else ""
        raise FormulangError(
            f"newdata has {len(names)} level{'s' if len(names) != 1 else ''} of the grouping "
            f"factor {g.label!r} not seen in training: {shown}{more}; use "
            f"new_levels='gaussian' (draw their effects from the fitted population) or "
            f"'population' (effect 0)")
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
    from ..lower.links import LINKS

    return LINKS[name].inverse(eta)


def family_mean(family, eta: np.ndarray, aux: dict, trials=None) -> np.ndarray:
    """The mean of the response per draw and row (brms's ``posterior_epred``): the family's
    row says how (:meth:`formulang.lower.families.Family.mean`)."""
    return family.mean(eta, aux, trials)


def simulate(family, eta: np.ndarray, aux: dict, trials, seed: int, response=None,
             additions: dict | None = None) -> np.ndarray:
    """Responses drawn from the family's likelihood, one per draw and row; with a
    :class:`~formulang.lower.response.ResponsePlan` ``response`` and its ``additions``
    arrays, of the uncensored response, within any truncation bounds, with known SEs and
    exposures."""
    from ..lower.response import ResponsePlan, observation
    from .jax_setup import configure

    configure()
    import jax
    import jax.numpy as jnp

    params = {k: jnp.asarray(v[:, None]) for k, v in aux.items()}
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


# ---- ArviZ groups ------------------------------------------------------------------------------

def posterior_predictive(fit, seed: int = 0):
    """``fit.idata`` plus a ``posterior_predictive`` group: replicated ``y`` for the training
    rows, dims (chain, draw, obs), ready for ``az.plot_ppc``. ``fit.idata`` is not changed."""
    from ..report.idata import import_arviz

    az = import_arviz()
    if fit.bound is None:
        raise FormulangError("posterior predictive draws are for the training rows, which a fit "
                             "loaded from a file does not hold: use fit.predict(newdata, "
                             "kind='response') with those rows")
    y = predict(fit, None, kind="response", seed=seed)
    first = next(iter(fit.samples.values()))
    chains, draws = first.shape[:2]
    y = y.reshape(chains, draws, -1)
    base = fit.idata
    ppc = az.from_dict(posterior_predictive={"y": y}, dims={"y": ["obs"]},
                       coords={"obs": np.arange(y.shape[-1])})
    groups = {name: base[name] for name in base.groups()}
    groups["posterior_predictive"] = ppc.posterior_predictive
    return az.InferenceData(**groups)


def prior_predictive(model, draws: int = 500, seed: int = 0):
    """Parameters and responses drawn from the prior, as ArviZ ``InferenceData`` with groups
    ``prior`` (user-facing names: ``b``, ``sd_<g>``, ``cor_<g>``, ``r_<g>``, family
    parameters), ``prior_predictive`` (``y``, dims chain, draw, obs; one chain) and
    ``observed_data``."""
    from .jax_setup import configure

    configure()
    import jax
    from numpyro.infer import Predictive

    from ..lower.sites import derive
    from ..report.idata import import_arviz, posterior_variables

    az = import_arviz()
    if getattr(model, "data", None) is None:
        raise FormulangError("prior predictive draws need the model's data: rebuild the model "
                             "with formulang.Model(formula, data)")
    data = dict(model.data)
    data["y"] = None
    if data.get("trials") is not None:
        data["trials"] = _integer_trials(data["trials"])
    raw = Predictive(model.numpyro_model, num_samples=int(draws))(jax.random.PRNGKey(seed),
                                                                  data)
    samples = derive(model.plan, {k: np.asarray(v)[None] for k, v in raw.items()})
    y = samples.pop("y")
    variables, dims, coords = posterior_variables(model.plan, samples)
    dims["y"] = ["obs"]
    coords["obs"] = np.arange(y.shape[-1])
    observed = model.bound.y
    return az.from_dict(prior=variables, prior_predictive={"y": y},
                        observed_data=None if observed is None else {"y": np.asarray(observed)},
                        coords=coords, dims=dims)


__all__ = ["KINDS", "NEW_LEVELS", "family_mean", "linear_predictor", "posterior_predictive",
           "predict", "prior_predictive", "simulate"]
