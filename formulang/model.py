"""``Model``: a formula, data, a family and priors, compiled to a NumPyro model.

>>> import formulang as fl
>>> m = fl.Model("Reaction ~ Days + (Days | Subject)", fl.datasets.load("sleepstudy"))
>>> m.family.name, m.plan.groups[0].columns
('gaussian', ('Intercept', 'Days'))
>>> fl.Model("Reaction ~ Days + (Days | Subject)", "sleepstudy").bound.n   # a shipped dataset
180
"""

from __future__ import annotations

import os
from dataclasses import replace

import numpy as np

from .compiled import CompiledModel
from .data.bind import BoundData, bind
from .data.frame import load_data
from .errors import FormulangError
from .ir.formula import Formula
from .lower.collapsed_crossed import choose as choose_collapse
from .lower.compress import choose_compression
from .lower.families import Family, family as lookup_family
from .lower.numpyro_model import make_model
from .lower.categorical_model import prepare as prepare_categories
from .lower.plan import ModelPlan, build_plan, check_dpars, model_data
from .lower.priors import PriorTable, resolve_priors
from .lower.pilot import pilot_fit
from .lower.reparam import choose_parameterization
from .lower.units import full_model_unit, in_unit, restore_units, sampled_unit_sites
from .lower.response import response_plan
from .parse import parse
from .phrasing import knows_other_names

METHODS = ("nuts", "map", "vi")


class Model:
    """A Bayesian multilevel model.

    ``formula``: text, or a list of formulas: the response's, then one per family parameter
    predicted by its own formula, as brms's ``bf(y ~ x, sigma ~ z)``: ``["y ~ x", "sigma ~
    z"]``, or one text ``"y ~ x; sigma ~ z"`` (the parameter on its link scale: log for
    ``sigma``, ``nu``, ``phi``, ``shape``).

    ``data``: a table (pandas, polars, pyarrow, a dict of columns), or text naming a shipped
    dataset (``"radon"``) or a CSV, Parquet or JSON file (``"data.csv"``), read as the command
    line's ``--data`` reads it (:func:`formulang.data.frame.load_data`).

    ``family=None`` means gaussian, or binomial when the response is ``cbind(s, f)`` or
    ``s | trials(n)``. ``priors`` maps brms-style keys to prior text (see
    :mod:`formulang.lower.priors`); ``reparam`` is ``"auto"`` (chosen from the data, per group
    term and level), ``"centered"``, ``"noncentered"``, or a dict by grouping factor.
    ``collapse`` (Gaussian identity models): ``"auto"`` integrates the group effects out
    exactly when the model allows it and ``reparam="auto"`` (NUTS then samples only the
    population, SD, correlation and residual parameters; the effects are drawn from their
    exact conditional afterwards), ``True`` insists (an error says why it cannot), ``False``
    samples the effects. For bernoulli, binomial, poisson and negative_binomial,
    ``collapse="laplace"`` (or ``True``) integrates them out by the embedded Laplace
    approximation (:mod:`formulang.lower.laplace`): NUTS over the same non-effect parameters,
    the effects drawn afterwards, the summaries importance-weighted toward the full model, the
    weights' PSIS k-hat reported by ``fit.diagnostics()``; ``"auto"`` chooses it for 20,000
    rows or more where the pilot finds enough rows per level for it to be accurate
    (:mod:`formulang.lower.laplace_choice`), and samples the effects otherwise.
    ``model.collapsed`` and ``model.collapse_reason`` say what was
    chosen (``model.compiled.laplace``: by the approximation).
    ``compress`` (bernoulli, binomial, poisson): ``"auto"`` lets NUTS run on identical rows
    merged into counts, exactly (:mod:`formulang.lower.compress`), when that removes at least
    20% of them; ``True`` whenever it removes any, ``False`` never. ``model.compression`` (the
    merged rows, or None) and ``model.compression_reason`` say what was done.

    ``model.compiled`` (a :class:`~formulang.compiled.CompiledModel`) holds every decision:
    formula, family, priors, parameterisation, plan, collapse and compression; the model adds
    the bound data (``bound``, ``data``) and the compiled samplers, reused by every refit.
    """

    def __init__(self, formula: str | list | Formula, data, family: str | None = None,
                 link: str | None = None, priors: dict | None = None, reparam="auto",
                 na_action: str = "drop", collapse="auto", compress="auto"):
        text = _formula_text(formula)
        formula = parse(text) if text is not None else formula
        if formula.response is None:
            raise FormulangError("a model needs a response: write it left of '~', e.g. y ~ x")
        if family is None:
            family = "binomial" if formula.response.is_binomial else "gaussian"
        fam: Family = lookup_family(family, link)
        check_dpars(formula, fam, text)  # sigma ~ x: a parameter the family has
        # additions the family cannot take, refused before binding checks their values (an
        # ordinal response's bounds would be compared with its category codes)
        response_plan(formula.response, fam)
        if isinstance(data, (str, os.PathLike)):  # "radon", "data.csv": read once, here
            data = load_data(data)
        # its warnings (dropped rows, rank, grouping) are told at the caller's line
        self.bound: BoundData = bind(formula, data, na_action=na_action,
                                     response=fam.spec.response_levels)
        self.bound, fam = prepare_categories(self.bound, fam, text)  # categorical: mu2, ...
        self._frame = data  # kept (not copied) for simulate(...).data()
        _check_response(formula, fam, self.bound)
        _warn_one_row_per_level(fam, self.bound)
        table: PriorTable = resolve_priors(self.bound, fam, priors)
        # the pilot fit (no MCMC) chooses the parameterization and NUTS's starting mass matrix
        self.pilot = None if self.bound.y is None else pilot_fit(self.bound, fam)
        parameterization = choose_parameterization(self.bound, fam, reparam, self.pilot)
        plan: ModelPlan = build_plan(self.bound, fam, table, parameterization)
        self.data = model_data(plan, self.bound)
        self._samplers: dict = {}
        # exact row compression (issue 7): the sampler's rows; everything else uses all rows
        rows = choose_compression(plan, self.data, compress)
        self.compression = rows.compressed
        # -- collapsed Gaussian fast path (issue 7) --
        choice, self.partial = choose_collapse(
            self.bound, fam, plan, collapse, reparam, parameterization, self.pilot,
            sampler_rows=self.bound.n if rows.compressed is None else rows.compressed.kept)
        self.collapse_layout = choice.layout if choice.collapsed else None
        self._collapsed_data = None  # sufficient statistics: computed at the first fit
        # crossed factors (issue 20): one factor's effects integrated out, the rest sampled
        # or, where they are few, integrated out too (lower/collapsed_schur.py)
        collapsed_terms = () if self.partial is None else tuple(
            plan.groups[i].name for i in self.partial.collapsed
            + (self.partial.sampled if self.partial.schur else ()))
        # -- end collapsed --
        self.compiled = CompiledModel(
            formula, fam, self.bound.spec, int(self.bound.n), int(self.bound.n_input), table,
            tuple(parameterization), plan, choice.collapsed, choice.reason,
            rows.compressed is not None, rows.reason, collapsed_terms, choice.method)
        self._sampled_model = (self.numpyro_model, self.data) if rows.compressed is None \
            else (make_model(rows.compressed.plan), rows.compressed.data)
        # the full model samples a Gaussian response in a unit near its scale (lower/units.py)
        self._unit = full_model_unit(plan, self.bound, fam, rows.compressed is not None,
                                     self.pilot.sigma if self.pilot is not None else 0.0)
        if self._unit != 1.0:
            self._sampled_model = (in_unit(self.numpyro_model, plan),
                                   {**self.data, "unit": np.float64(self._unit)})

    # ---- what the compiled model decided ----------------------------------------------------
    @property
    def formula(self) -> Formula:
        return self.compiled.formula

    @property
    def family(self) -> Family:
        return self.compiled.family

    @property
    def priors(self) -> PriorTable:
        return self.compiled.priors

    @property
    def parameterization(self):
        """One :class:`~formulang.lower.reparam.GroupParameterization` per group term."""
        return self.compiled.parameterization

    @property
    def plan(self) -> ModelPlan:
        return self.compiled.plan

    @property
    def collapsed(self) -> bool:
        return self.compiled.collapsed

    @property
    def collapse_reason(self) -> str:
        return self.compiled.collapse_reason

    @property
    def compression_reason(self) -> str:
        return self.compiled.compression_reason

    @property
    def numpyro_model(self):
        return self.compiled.numpyro_model

    # ---- fitting ----------------------------------------------------------------------------
    @knows_other_names
    def fit(self, draws: int = 1000, tune: int = 1000, chains: int = 4, seed: int = 0,
            target_accept: float = 0.8, max_tree_depth: int = 10, method: str = "nuts",
            progress: bool | None = None, shard_rows=False):
        """Sample the posterior (``method="nuts"``); returns a :class:`~formulang.Fit`.

        Refitting with the same settings reuses the compiled sampler. Faster approximations
        share the ``Fit`` interface: ``method="map"`` (one point, the posterior mode; ``draws``
        is ignored; hierarchical MAP drives group SDs towards zero, and says so) and
        ``method="vi"`` (``draws`` draws from a Gaussian variational approximation). A
        collapsed model (``model.collapsed``) runs NUTS on the collapsed posterior and draws
        the group effects exactly; ``map`` and ``vi`` use the full model.

        ``shard_rows`` splits each chain's likelihood over several XLA devices (CPU devices,
        GPUs, several hosts' devices under ``jax.distributed``): ``False`` (the default) none,
        a number of devices per chain, ``True`` all the devices the chains leave (``devices //
        chains`` each), ``"auto"`` as ``True`` on GPUs and TPUs for many rows, never on CPU
        (see :mod:`formulang.infer.sharding`). Chains and shards compose: 8 devices run 2 chains x
        4 shards. The draws are the same posterior's; a collapsed model has no rows to shard.
        """
        from .fit import Fit
        from .infer.nuts import SamplerSettings

        if method not in METHODS:
            raise FormulangError(f"unknown method {method!r}; methods: {', '.join(METHODS)}")
        if method == "nuts":
            from .infer.sharding import shards_for

            # a partially collapsed model (crossed) also samples from sufficient statistics
            shards = shards_for(shard_rows, self._sampled_model[1], chains,
                                self.collapsed or self.partial is not None)
            settings = SamplerSettings(draws, tune, chains, target_accept, max_tree_depth,
                                       shards)
            samples, stats, run = self.sample_nuts(settings, seed, progress)
        else:
            from .infer.sharding import asks_for_shards

            if asks_for_shards(shard_rows):
                raise FormulangError(f"shard_rows applies to method='nuts', not {method!r}")
            from .infer.approximate import fit_approximation

            samples, stats, run = fit_approximation(self.compiled, self.data, method,
                                                    draws=draws, seed=seed, progress=progress)
        fit = Fit(self, samples, stats, method=method, run=run)
        # recorded by fit.save(); the draws are the full model's sites either way
        fit.collapsed = method == "nuts" and self.collapsed
        return fit

    def sample_nuts(self, settings, seed: int = 0,
                    progress: bool | None = None) -> tuple[dict, dict, object]:
        """NUTS with :class:`~formulang.infer.nuts.SamplerSettings` ``settings``, as
        :meth:`fit` runs it, without the :class:`~formulang.Fit`: ``(samples, stats, run)``,
        the triple every inference path returns (the approximations:
        :func:`~formulang.infer.approximate.fit_approximation`). ``samples``: every site the
        full model samples, shaped (chains, draws, ...); ``run``: a
        :class:`~formulang.infer.nuts.SamplerRun`. The compiled sampler is kept per settings
        and reused."""
        from .infer.mass_matrix import initial_inverse_mass
        from .infer.nuts import make_mcmc, run_nuts
        from .infer.row_order import sampler_rows

        if self.compiled.laplace:
            return self._sample_laplace(settings, seed, progress)
        if self.collapsed:
            if settings.shards > 1:  # no rows to split: the error says so
                from .infer.sharding import shards_for

                shards_for(settings.shards, {}, settings.chains, collapsed=True)
            return self._sample_collapsed(settings, seed, progress)
        if self.partial is not None:
            return self._sample_partial(settings, seed, progress)
        model_fn, data = self._sampled_model  # merged rows where exact, else the model's own
        mcmc = self._samplers.get(settings)
        if mcmc is None:
            mcmc = self._samplers[settings] = make_mcmc(model_fn, settings, progress,
                                                        self.plan.dense_mass)
        # shuffled rows: the gradient's scatter-adds into the effects run faster (row_order.py)
        run = run_nuts(mcmc, sampler_rows(data), settings, seed,
                       initial_inverse_mass(self.plan, self.pilot, scale=self._unit))
        if self._unit != 1.0:
            run = replace(run, samples=restore_units(run.samples, sampled_unit_sites(self.plan),
                                                     self._unit))
        return run.samples, run.stats, run

    def _sample_collapsed(self, settings, seed: int, progress) -> tuple[dict, dict, object]:
        """NUTS over the collapsed posterior, then exact conditional draws of the effects
        (:mod:`formulang.lower.collapsed`, :mod:`formulang.infer.collapsed_draws`)."""
        import time

        from .infer.collapsed_draws import complete_samples
        from .infer.mass_matrix import initial_inverse_mass
        from .infer.nuts import make_mcmc, run_nuts
        from .lower.collapsed import collapsed_data, make_collapsed_model

        layout = self.collapse_layout
        if self._collapsed_data is None:
            self._collapsed_data = collapsed_data(self.plan, self.data, layout)
        key = ("collapsed", settings)
        mcmc = self._samplers.get(key)
        if mcmc is None:
            mcmc = self._samplers[key] = make_mcmc(make_collapsed_model(self.plan, layout),
                                                   settings, progress)
        run = run_nuts(mcmc, self._collapsed_data, settings, seed,
                       initial_inverse_mass(self.plan, self.pilot, collapsed=True,
                                            scale=self._collapsed_data["stats"]["scale"]))
        start = time.perf_counter()
        samples = complete_samples(self.plan, layout, self._collapsed_data["stats"],
                                   run.samples, seed)
        run.timings["conditional_draws_s"] = time.perf_counter() - start
        run.samples = samples  # as for the full model: every site the full model samples
        return samples, run.stats, run

    def _sample_partial(self, settings, seed: int, progress) -> tuple[dict, dict, object]:
        """NUTS with one crossed factor's effects integrated out
        (:mod:`formulang.lower.collapsed_crossed`), or every effect where the other terms'
        are few (:mod:`formulang.lower.collapsed_schur`), then exact conditional draws of
        them."""
        import time

        from .infer.collapsed_draws import draw_partial_effects
        from .infer.mass_matrix import initial_inverse_mass
        from .infer.nuts import make_mcmc, run_nuts
        from .lower import collapsed_crossed as cc
        from .lower.collapsed_schur import make_schur_model, schur_data

        part = self.partial
        if self._collapsed_data is None:
            self._collapsed_data = cc.partial_data(self.plan, self.data, part, self._unit)
            if part.schur:  # every effect integrated out (lower/collapsed_schur.py)
                self._collapsed_data = schur_data(self.plan, self._collapsed_data)
        key = ("partial", settings)
        mcmc = self._samplers.get(key)
        if mcmc is None:
            model_fn = (make_schur_model if part.schur else cc.make_partial_model)(self.plan,
                                                                                   part)
            mcmc = self._samplers[key] = make_mcmc(
                model_fn, settings, progress,
                cc.partial_dense_mass(self.plan, self.compiled.collapsed_terms))
        run = run_nuts(mcmc, self._collapsed_data, settings, seed, cc.partial_inverse_mass(
            self.plan, part, initial_inverse_mass(self.plan, self.pilot, scale=self._unit)))
        samples = restore_units(run.samples, sampled_unit_sites(self.plan), self._unit)
        start = time.perf_counter()
        samples = {**samples, **draw_partial_effects(self.plan, part, self._collapsed_data,
                                                     samples, seed)}
        run.timings["conditional_draws_s"] = time.perf_counter() - start
        run.samples = samples
        return samples, run.stats, run

    def _sample_laplace(self, settings, seed: int, progress) -> tuple[dict, dict, object]:
        """NUTS over the embedded Laplace approximation, then effects drawn from it with
        importance weights on the full joint (:mod:`formulang.lower.laplace`,
        :mod:`formulang.infer.laplace_draws`); the weights go in ``stats``."""
        import time

        from .infer.laplace_draws import complete_samples, draw_runner
        from .infer.mass_matrix import initial_inverse_mass
        from .infer.nuts import make_mcmc, run_nuts
        from .lower.laplace import laplace_data, make_laplace_model

        layout = self.collapse_layout
        if self._collapsed_data is None:
            self._collapsed_data = laplace_data(self.plan, self.data, layout, self.pilot)
        key = ("laplace", settings)
        mcmc = self._samplers.get(key)
        if mcmc is None:
            mcmc = self._samplers[key] = make_mcmc(make_laplace_model(self.plan, layout),
                                                   settings, progress)
        run = run_nuts(mcmc, self._collapsed_data, settings, seed,
                       initial_inverse_mass(self.plan, self.pilot, collapsed=True))
        start = time.perf_counter()
        runner = self._samplers.get("laplace_draws")
        if runner is None:
            runner = self._samplers["laplace_draws"] = draw_runner(self.plan, layout)
        samples, weights = complete_samples(self.plan, layout, self._collapsed_data,
                                            run.samples, seed, runner)
        run.timings["conditional_draws_s"] = time.perf_counter() - start
        run.samples = samples
        run.stats = {**run.stats, **weights}
        return samples, run.stats, run

    def prior_predictive(self, draws: int = 500, seed: int = 0):
        """Draws of parameters and responses from the prior, as ArviZ data."""
        from .infer.predictive import prior_predictive

        return prior_predictive(self.compiled, self.data, self.bound.y, draws=draws, seed=seed)

    def simulate(self, params: dict | None = None, seed: int = 0, draws: int = 1):
        """Responses drawn from this model on its own design, from the parameter values in
        ``params`` (user-facing names: ``b``, ``sd_<g>``, ``cor_<g>``, ``r_<g>``, ``sigma``...)
        and the priors for the rest; see :mod:`formulang.infer.simulate`.

        >>> import formulang as fl
        >>> m = fl.Model("Reaction ~ Days + (Days | Subject)", fl.datasets.load("sleepstudy"))
        >>> sim = m.simulate({"b": {"Intercept": 250, "Days": 10}, "sigma": 25}, seed=1)
        >>> refit = fl.Model("Reaction ~ Days + (Days | Subject)", sim.data())
        """
        from .infer.simulate import simulate

        return simulate(self.compiled, self.bound, params, seed=seed, draws=draws,
                        frame=self._frame)

    def code(self) -> str:
        """Standalone, readable NumPyro source equivalent to this model."""
        return self.compiled.code()

    def graph(self):
        """Data, coefficients, hyperparameters and likelihood as a graph (``.to_dot()``)."""
        return self.compiled.graph()

    # ---- description ------------------------------------------------------------------------
    def __str__(self) -> str:
        return str(self.compiled)

    def __repr__(self) -> str:
        return f"Model({str(self.formula)!r}, family={self.family}, n={self.bound.n})"

    def _repr_html_(self) -> str:
        """A notebook shows ``print(model)`` as HTML (:mod:`formulang.report.html`)."""
        from .report.html import model_html

        return model_html(self.compiled)


def _formula_text(formula) -> str | None:
    """The formula as text (a list of formulas joined by ``;``); None for a parsed one."""
    if isinstance(formula, (list, tuple)):
        if not formula or not all(isinstance(f, str) for f in formula):
            raise FormulangError("a list of formulas holds text: the response's formula, then "
                                 "one per family parameter, e.g. ['y ~ x', 'sigma ~ x']")
        return "; ".join(formula)
    return formula if isinstance(formula, str) else None


def _check_response(formula: Formula, family: Family, bound: BoundData) -> None:
    binomial_response = formula.response.is_binomial
    if family.spec.trials and not binomial_response:
        raise FormulangError(f"the {family.name} family needs trials: write cbind(successes, "
                             "failures) ~ ... or successes | trials(n) ~ ...")
    if binomial_response and not family.spec.trials:
        raise FormulangError(f"cbind()/trials() make a binomial response, but the family "
                             f"is {family.name}: use family='binomial'")
    family.check_response(bound.y, bound.trials, name=f"the response {formula.response.value}",
                          positions=bound.rows)


def _warn_one_row_per_level(family: Family, bound: BoundData) -> None:
    """A group term with an intercept whose factor has exactly one row per level, in a family
    with a residual scale (``sigma``): its effects and the residual describe the same per-row
    variation, only their priors tell them apart, and NUTS mixes badly (Penicillin's
    ``(1 | plate:sample)``: R-hat 1.8, 18% divergences). lme4 refuses such a model. Known
    standard errors (``se()``) leave the residual out, as in a random-effects meta-analysis,
    and count families take observation-level effects as overdispersion: no warning then."""
    from .data.notices import GroupingWarning, tell

    if not family.spec.gaussian_like or bound.additions.se is not None:
        return
    for group in bound.groups:
        levels = len(group.spec.levels)
        if levels < 2 or "Intercept" not in group.spec.columns:
            continue
        if np.all(np.bincount(np.asarray(group.codes), minlength=levels) == 1):
            tell(GroupingWarning(
                f"grouping factor {group.spec.label!r} has one row per level ({levels} "
                f"levels, {bound.n} rows): in a {family.name} model its effects and sigma "
                f"describe the same variation, so only their priors tell them apart and the "
                f"sampler mixes badly. Drop the term (lme4 refuses this model), or give the "
                f"rows known standard errors with se()"))

