"""Simulate responses from a model's generative process, on the model's own design.

:func:`simulate` (``model.simulate``) draws synthetic responses for the rows the model was
built on (its design matrix, group levels, trials and offsets), from parameter values you give
by their user-facing names, with the rest drawn from the model's own priors:

- ``b``: coefficients, a dict by coefficient name (``{"Intercept": 1.5, "floor": -0.7}``) or an
  array in ``model.plan.columns`` order;
- ``sd_<g>``: the SDs of a group term's effects, a dict by effect name or an array;
- ``cor_<g>``: correlations, a dict by pair name (``"Intercept__floor"``), an array in pair
  order, or the full correlation matrix;
- ``r_<g>``: the effects themselves, an array levels x effects (otherwise drawn from
  ``N(0, Sigma_g)``);
- family parameters: ``sigma``, ``nu``, ``phi``, ``shape``.

A dict may name only some entries of ``b``, ``sd_<g>`` or ``cor_<g>``: the others are drawn
from the prior too. The returned :class:`Simulation` holds every value used, and
``sim.data()`` is the training frame with the simulated response in place, ready to refit::

    >>> import formulang as fl
    >>> model = fl.Model("Reaction ~ Days + (Days | Subject)", fl.datasets.load("sleepstudy"))
    >>> sim = model.simulate({"b": {"Intercept": 250, "Days": 10}, "sigma": 25}, seed=1)
    >>> sim.y.shape, sim.params["b"].tolist(), sorted(sim.params)
    ((180,), [250.0, 10.0], ['b', 'cor_Subject', 'r_Subject', 'sd_Subject', 'sigma'])
    >>> refit = fl.Model("Reaction ~ Days + (Days | Subject)", sim.data())

Missing values are drawn from the model's own priors (the distributions and prior parameters
its NumPyro sites use, the intercept on centred predictors as the sampler sees it), effects
from ``N(0, Sigma_g)``, and responses from the family's NumPyro likelihood given the linear
predictor. :func:`sampler_sites` (:func:`formulang.lower.site_values.to_sites`) translates the values
to the sampler's sites (centred intercept, LKJ Cholesky factors, standardised or centred effects
as the model parameterises each level), so the NumPyro model itself can be conditioned on them;
the tests check that it then reproduces the same linear predictor. Observation weights scale
the likelihood, not the data, and do not enter simulation. Censored models simulate the
uncensored response (censor it yourself to mimic the data); truncated ones draw within the
bounds; ``se()`` rows use their known SDs and ``rate()`` rows their exposures.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..errors import FormulangError
from ..lower.families import AUX_SUPPORTS
from ..lower.ordinal import check_thresholds, prior_draws
from ..lower.site_values import cholesky, correlation_matrix, to_sites
from ..lower.joint import terms_of
from ..lower.sites import all_groups, parameters, predictors, to_params

_RESPONSE_STREAM = 1_000_003  # seed offset of the responses' random numbers


@dataclass(frozen=True, eq=False)
class Simulation:
    """Simulated responses and the parameter values that produced them.

    ``y``: the responses, shaped ``(rows,)`` (or ``(draws, rows)`` when ``draws > 1``), on the
    scale the model sees them (successes for binomial models). ``params``: every parameter by
    its user-facing name (``b``, ``sd_<g>``, ``cor_<g>``, ``r_<g>``, family parameters), with a
    leading draws axis when ``draws > 1``. ``linpred``: the linear predictor of each row.
    """

    y: np.ndarray
    params: dict
    linpred: np.ndarray
    seed: int
    draws: int
    compiled: object = field(repr=False)  # the CompiledModel simulated from
    bound: object = field(repr=False)  # its design (BoundData)
    frame: object = field(default=None, repr=False)  # the rows bound, for data()

    def data(self, frame=None, draw: int | None = None) -> pd.DataFrame:
        """A copy of the training data with the response column(s) replaced by simulated ones.

        ``frame`` defaults to the data the model was built on (pass it for a model that does
        not hold its data). Rows the model dropped for missing values are left out, so a
        model built on the result has the same design. ``draw`` picks one simulated dataset
        when ``draws > 1``. For ``cbind(s, f)`` both columns are replaced (``f = trials - s``);
        for ``s | trials(n)`` only ``s``. A transformed response (``log(y)``) cannot be
        written back and is an error.
        """
        return response_frame(self, frame, draw)


def simulate(compiled, bound, params: dict | None = None, seed: int = 0, draws: int = 1,
             frame=None) -> Simulation:
    """Draw responses (and any parameters not given) from the model ``compiled`` (a
    :class:`~formulang.compiled.CompiledModel`) on its design ``bound`` (the
    :class:`~formulang.data.BoundData` of the rows it was built on; ``frame``: those rows, for
    :meth:`Simulation.data`); see the module docstring.

    >>> import formulang as fl
    >>> m = fl.Model("y ~ x + (1 | g)", {"y": [1.0, 2.0, 0.5, 1.5], "x": [0.0, 1.0, 0.0, 1.0],
    ...                                  "g": ["a", "a", "b", "b"]})
    >>> sim = simulate(m.compiled, m.bound, {"b": [0.0, 1.0], "sd_g": [0.5], "sigma": 0.1},
    ...                seed=3, draws=2)
    >>> sim.y.shape, sim.params["sd_g"].tolist()
    ((2, 4), [[0.5], [0.5]])
    """
    from .jax_setup import configure

    configure()
    import jax

    if isinstance(draws, bool) or not isinstance(draws, (int, np.integer)) or draws < 1:
        raise FormulangError(f"draws must be a positive whole number, not {draws!r}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise FormulangError(f"seed must be a non-negative whole number, not {seed!r}")
    draws = int(draws)
    plan = compiled.plan
    params = dict(params or {})
    _check_names(plan, params)
    prior = _prior_values(plan, jax.random.PRNGKey(seed), draws) \
        if _needs_prior(plan, params) else {}
    values = _with_given(plan, params, prior, draws)
    rng = np.random.default_rng(seed)
    for g in all_groups(plan):  # the sub-formulas' too
        name = g.sites.r
        if name in params:
            values[name] = _given_array(params[name], name, (len(g.levels), g.k), draws,
                                        f"levels x effects ({len(g.levels)} x {g.k})")
        else:
            values[name] = _draw_effects(g, values, rng, draws)
    kinds = parameters(plan)
    if any(kinds[name].kind == "r" for name in params):
        sampler_sites(plan, values)  # refuses effects that N(0, Sigma) cannot produce
    eta = linear_predictor(plan, bound, values)
    y = _draw_responses(plan, bound, values, eta, int(seed), _dpar_values(plan, bound, values))
    if draws == 1:
        values = {k: v[0] for k, v in values.items()}
        y, eta = y[0], eta[0]
    return Simulation(y, values, eta, int(seed), draws, compiled, bound, frame)


# ---- names and shapes --------------------------------------------------------------------------

def parameter_names(plan) -> dict[str, tuple[str, ...]]:
    """Every user-facing parameter of ``plan`` -> the names of its entries."""
    return {name: p.entries for name, p in parameters(plan).items()}


def _check_names(plan, params: dict) -> None:
    valid = parameter_names(plan)
    unknown = [k for k in params if k not in valid]
    if unknown:
        raise FormulangError(f"unknown parameter{'s' if len(unknown) > 1 else ''} "
                             f"{', '.join(repr(k) for k in unknown)}; this model's parameters "
                             f"are: {', '.join(valid)}")


def _needs_prior(plan, params: dict) -> bool:
    """Whether some value (or some entry of a partial dict) must come from the prior."""
    for name, p in parameters(plan).items():
        if p.kind == "r":
            continue
        entries = p.entries
        given = params.get(name)
        if given is None or (isinstance(given, dict) and set(given) != set(entries)):
            return True
    return False


def _given_array(value, name: str, shape: tuple, draws: int, what: str) -> np.ndarray:
    """``value`` as float64 (draws, *shape): one value broadcast, or one per draw; a
    parameter of one entry (an SD, a correlation) also takes a plain number, or one per draw."""
    try:
        a = np.asarray(value, dtype=float)
    except (TypeError, ValueError):
        raise FormulangError(f"{name} must be numbers ({what}), not {value!r}") from None
    if int(np.prod(shape)) == 1 and a.shape in ((), (draws,)) and a.shape != shape:
        a = a.reshape(a.shape + shape)  # one entry (an SD, a correlation): a plain number
    if a.shape == shape:
        a = np.broadcast_to(a, (draws,) + shape)
    elif a.shape != (draws,) + shape:
        per_draw = f" or ({draws}, {', '.join(map(str, shape))}) with one per draw" \
            if draws > 1 else ""
        raise FormulangError(f"{name} has shape {a.shape}; expected {shape}{per_draw}: {what}")
    if not np.isfinite(a).all():
        raise FormulangError(f"{name} must be finite numbers, got {value!r}")
    return np.array(a, dtype=float)


def _from_dict(value: dict, name: str, entries: tuple[str, ...], base: np.ndarray | None,
               draws: int) -> np.ndarray:
    """A dict by entry name; entries not named keep their prior draw ``base``."""
    unknown = [k for k in value if k not in entries]
    if unknown:
        raise FormulangError(f"{name} has no entr{'ies' if len(unknown) > 1 else 'y'} "
                             f"{', '.join(repr(k) for k in unknown)}; its entries are: "
                             f"{', '.join(entries)}")
    out = np.array(base, dtype=float) if base is not None else np.zeros((draws, len(entries)))
    for k, v in value.items():
        out[:, entries.index(k)] = _given_array(v, f"{name}[{k!r}]", (), draws, "a number")
    return out


def _with_given(plan, params: dict, prior: dict, draws: int) -> dict:
    """Prior draws overridden by the given values, validated; r_<g> left to the caller."""
    values = dict(prior)
    kinds = parameters(plan)
    for name, given in params.items():
        p = kinds[name]
        if p.kind == "r":
            continue
        entries = p.entries
        if isinstance(given, dict):
            if not entries:
                raise FormulangError(f"{name} is one number, not a dict")
            values[name] = _from_dict(given, name, entries, prior.get(name), draws)
        elif p.kind == "cor" and np.ndim(given) >= 2:
            g = _group(plan, p.group)
            values[name] = _pairs_of_matrix(g, given, name, draws)
        else:
            shape = (len(entries),) if entries else ()
            what = f"one per entry: {', '.join(entries)}" if entries else "a number"
            values[name] = _given_array(given, name, shape, draws, what)
    for g in all_groups(plan):
        sd = values[g.sites.sd]
        if (sd < 0).any():
            raise FormulangError(f"{g.sites.sd} must be >= 0: got {_shown(sd)}")
        if g.correlated_pairs:
            correlation_matrix(g, values[g.sites.cor])  # validates
    check_thresholds(plan, values)
    for aux in plan.aux:
        if AUX_SUPPORTS[aux] == "unit" and not ((values[aux] >= 0) & (values[aux] < 1)).all():
            raise FormulangError(f"{aux} is a probability, at least 0 and below 1: got "
                                 f"{_shown(values[aux])}")
        if AUX_SUPPORTS[aux] != "unit" and not (values[aux] > 0).all():
            raise FormulangError(f"{aux} must be positive: got {_shown(values[aux])}")
    return values


def _group(plan, name: str):
    return next(g for g in all_groups(plan) if g.name == name)


def _shown(a: np.ndarray) -> str:
    a = np.asarray(a)
    return str(a[0].tolist() if a.shape[0] == 1 else a.tolist())


# ---- correlations ------------------------------------------------------------------------------

def _pairs_of_matrix(g, value, name: str, draws: int) -> np.ndarray:
    C = _given_array(value, name, (g.k, g.k), draws,
                     f"a {g.k} x {g.k} correlation matrix of {', '.join(g.columns)}")
    if not np.allclose(C, np.swapaxes(C, 1, 2)) or not np.allclose(
            np.diagonal(C, axis1=1, axis2=2), 1.0):
        raise FormulangError(f"{name}: a correlation matrix must be symmetric with 1 on the "
                             f"diagonal")
    pairs = set(g.correlated_pairs)
    for a in range(g.k):
        for b in range(a + 1, g.k):
            if (a, b) not in pairs and not np.allclose(C[:, a, b], 0.0):
                raise FormulangError(f"{name}: {g.columns[a]} and {g.columns[b]} are in "
                                     f"separate covariance blocks (||), so their correlation "
                                     f"is 0 in this model")
    return np.stack([C[:, a, b] for a, b in g.correlated_pairs], axis=1)


# ---- prior draws and effects -------------------------------------------------------------------

def _prior_values(plan, key, draws: int) -> dict:
    """User-facing values of every parameter but r_<g>, drawn from the model's own priors:
    the sites the NumPyro model samples, with its distributions and prior parameters (drawn
    directly: tracing the whole model would cost a compilation per model and shape)."""
    import jax
    import numpyro.distributions as dist

    from ..lower.priors import numpyro_distribution

    params = plan.prior_params  # what the model takes as data["priors"]
    keys = iter(jax.random.split(key, 64 + 8 * len(all_groups(plan))))

    def draw(distribution_name, values):
        d = numpyro_distribution(distribution_name, np.asarray(values))
        return np.asarray(d.sample(next(keys), (draws,)), dtype=float)

    def pieces(site) -> dict:
        return {name: draw(dist_name, params[key_])
                for name, (dist_name, _, key_) in zip(site.piece_names, site.pieces)}

    sites = {}
    for pred in predictors(plan):  # the response's formula, then the sub-formulas'
        if pred.b is not None:
            sites.update(pieces(pred.b))
        if pred.intercept:
            sites[pred.sites.intercept] = draw(
                plan.priors.lookup("Intercept", dpar=pred.dpar).distribution,
                params[pred.sites.intercept_key][:, 0])
        for g in pred.groups:
            sites.update(pieces(g.sd))
            for site, block in g.sites.lkj if g.correlated_pairs else []:
                eta = float(params[g.lkj_key][0, 0])
                sites[site] = np.asarray(dist.LKJCholesky(len(block), concentration=eta)
                                         .sample(next(keys), (draws,)), dtype=float)
    for aux in plan.aux:
        sites[aux] = draw(plan.priors.lookup(aux).distribution, params[aux][:, 0])
    sites.update(prior_draws(plan, params, next(keys), draws))  # ordinal thresholds
    return to_params(plan, sites)  # no effect sites: every parameter but r_<g>


def parameters_from_sites(plan, sites: dict) -> dict:
    """User-facing ``b``, ``sd_<g>``, ``cor_<g>``, ``r_<g>`` and family parameters from draws
    of the sampler's sites, in any leading shape (``(draws, ...)``, ``(chains, draws, ...)``).
    """
    return to_params(plan, {k: np.asarray(v, dtype=float) for k, v in sites.items()})


def _draw_effects(g, values: dict, rng, draws: int) -> np.ndarray:
    """r ~ N(0, diag(sd) C diag(sd)) per level, (draws, levels, k)."""
    scale_tril = values[g.sites.sd][:, :, None] * cholesky(g, values)
    z = rng.standard_normal((draws, len(g.levels), g.k))
    return np.einsum("dij,dlj->dli", scale_tril, z)


# ---- user-facing values -> sampler sites -------------------------------------------------------

def sampler_sites(plan, values: dict) -> dict:
    """The model's sample sites that reproduce the user-facing ``values`` (draws first):
    :func:`formulang.lower.site_values.to_sites`."""
    return to_sites(plan, values)


# ---- responses ---------------------------------------------------------------------------------

def _draw_responses(plan, bound, values: dict, eta: np.ndarray, seed: int,
                    per_row: dict | None = None) -> np.ndarray:
    """y from the model's likelihood (its family's NumPyro distribution) given eta and the
    family parameters (``per_row``: those with their own formula, (draws, rows)): (draws,
    rows)."""
    from .predict import simulate as draw_from_family

    from ..lower.plan import addition_data

    aux = {name: values[name] for name in plan.family_inputs} | (per_row or {})
    trials = None if bound.trials is None else np.asarray(bound.trials)
    # the parameters were drawn with PRNGKey(seed); the responses get their own stream.
    # Censored models: the uncensored response; truncated: within the bounds.
    return draw_from_family(plan.family, eta, aux, trials, seed=_RESPONSE_STREAM + seed,
                            response=plan.response, additions=addition_data(plan, bound),
                            per_row=tuple(per_row or ()))


def _dpar_values(plan, bound, values: dict) -> dict:
    """Each family parameter with its own formula per draw and row, ``link^-1(eta)``."""
    from ..lower.links import LINKS

    subs = dict(bound.dpars)
    return {d.name: LINKS[d.link].inverse(linear_predictor(plan, subs[d.name], values, d))
            for d in plan.dpars}


def linear_predictor(plan, bound, values: dict, pred=None) -> np.ndarray:
    """eta = X b + offset + sum_g values_g * r_g[codes], in float64: (draws, rows); of the
    response's formula, or of sub-formula ``pred`` (``bound`` its rows)."""
    pred = plan if pred is None else pred
    draws = next(iter(values.values())).shape[0]
    eta = np.broadcast_to(np.asarray(bound.offset, dtype=float), (draws, bound.n)).copy()
    if pred.sites.coefficients in values:
        eta += values[pred.sites.coefficients] @ np.asarray(bound.X, dtype=float).T
    for g, cols, gd in terms_of(plan, pred.dpar, bound):  # spanning formulas: its columns
        r = values[g.sites.r][:, np.asarray(gd.codes)][..., list(cols)]  # (draws, rows, k)
        eta += np.einsum("drk,rk->dr", r, np.asarray(gd.values, dtype=float))
    return eta


# ---- back into a data frame ---------------------------------------------------------------------

def response_frame(sim: Simulation, frame=None, draw: int | None = None) -> pd.DataFrame:
    """See :meth:`Simulation.data`."""
    from ..ir.expr import Column

    response = sim.compiled.formula.response
    if not isinstance(response.value, Column):
        raise FormulangError(f"the response {response.value} is a transformation of the data, "
                             f"which cannot be inverted to write simulated values back: make "
                             f"it a column first (e.g. data['y2'] = ..., then y2 ~ ...), or use "
                             f"sim.y directly")
    y = _one_draw(sim, draw)
    out = _training_rows(sim.bound, sim.frame if frame is None else frame)
    name = response.value.name
    trials = None if sim.bound.trials is None else np.asarray(sim.bound.trials)
    levels = sim.compiled.spec.response_levels
    if levels is not None and levels.mode != "binary":  # categories: written as their labels
        out[name] = _categories_like(out[name], levels.labels(y))
    else:
        out[name] = _like(out[name], y)
    if response.failures is not None:
        if isinstance(response.failures, Column):
            out[response.failures.name] = _like(out[response.failures.name], trials - y)
        else:
            _check_trials_unchanged(sim.compiled.formula, sim.bound, out)
    return out


def _one_draw(sim: Simulation, draw: int | None) -> np.ndarray:
    if sim.draws == 1:
        if draw not in (None, 0):
            raise FormulangError(f"this simulation has one draw; draw={draw!r}")
        return sim.y
    if draw is None or not 0 <= int(draw) < sim.draws:
        raise FormulangError(f"this simulation has {sim.draws} draws: pick one with "
                             f"draw=0..{sim.draws - 1}")
    return sim.y[int(draw)]


def _training_rows(bound, frame) -> pd.DataFrame:
    if frame is None:
        raise FormulangError("this model does not hold its training data: pass it as "
                             "sim.data(frame)")
    if not isinstance(frame, pd.DataFrame):
        frame = frame.to_pandas() if callable(getattr(frame, "to_pandas", None)) \
            else pd.DataFrame(frame)
    if len(frame) != bound.n_input:
        raise FormulangError(f"frame has {len(frame)} rows, but the model was built on "
                             f"{bound.n_input}")
    return frame.iloc[np.asarray(bound.rows)].copy()


def _like(column: pd.Series, values: np.ndarray) -> np.ndarray:
    """Simulated values in the column's own kind: bool, whole numbers or floats."""
    if pd.api.types.is_bool_dtype(column.dtype):
        return values.astype(bool)
    if pd.api.types.is_integer_dtype(column.dtype):
        return np.rint(values).astype(column.dtype)
    return values.astype(float)


def _categories_like(column: pd.Series, labels: np.ndarray):
    """Drawn categories' labels in the column's own kind: a Categorical with its categories,
    or numbers ``1..K`` (labels of integer levels), or text."""
    if isinstance(column.dtype, pd.CategoricalDtype):
        return pd.Categorical(labels, categories=column.cat.categories,
                              ordered=column.cat.ordered)
    if labels.dtype != object:
        return _like(column, labels)
    return labels


def _check_trials_unchanged(formula, bound, out: pd.DataFrame) -> None:
    """cbind(s, <expression>): writing s back must leave the trials as they were."""
    from ..data.bind import bind

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        again = bind(formula, out, na_action=bound.spec.na_action)
    if not np.allclose(again.trials, bound.trials):
        raise FormulangError(f"the failures of {bound.response_name} are an expression "
                             f"that does not keep the trials fixed when the successes change; "
                             f"write cbind(s, f) with a failures column, or s | trials(n)")


__all__ = ["Simulation", "linear_predictor", "parameter_names",
           "parameters_from_sites", "sampler_sites", "simulate"]
