"""``Fit``: posterior draws of a :class:`~formulang.Model`, with summaries and diagnostics.

A fit holds the model it came from (``fit.model``): the live :class:`~formulang.Model`, or,
for a fit loaded from a file (:func:`formulang.load`), its
:class:`~formulang.compiled.CompiledModel`, which has every decision but no training rows.
Either way ``fit.compiled`` is the compiled model; ``fit.bound`` is the training data, or
``None`` after a load.
"""

from __future__ import annotations

import functools

import numpy as np
import pandas as pd

from .errors import FormulangError
from .phrasing import knows_other_names
from .report.idata import to_inference_data
from .report.summary import format_summary, summary_table


class Fit:
    """Draws from the posterior (NUTS) or from an approximation (``map``, ``vi``).

    ``samples`` holds every sampler site, shaped (chains, draws, ...), plus the reported
    ``b``, ``r_<g>`` and ``cor_<g>`` computed from them (:func:`formulang.lower.sites.derive`).
    """

    collapsed = False  # True when NUTS ran on the collapsed model (group effects drawn after)

    def __init__(self, model, samples: dict, stats: dict, method: str, run=None):
        from .lower.sites import derive

        self.model = model  # a Model, or the CompiledModel of a fit loaded from a file
        self.samples = derive(model.compiled.plan, samples)
        self.stats = stats
        self.method = method
        self.run = run

    @property
    def compiled(self):
        """The model's decisions (:class:`~formulang.compiled.CompiledModel`)."""
        return self.model.compiled

    @property
    def bound(self):
        """The training rows (:class:`~formulang.data.BoundData`); ``None`` when the fit's
        model is only its compiled form (a fit loaded from a file)."""
        return None if self.model is self.compiled else self.model.bound

    @property
    def observed(self):
        """The observed response of the training rows, or ``None`` (ordinal, categorical: the
        category index ``1..K``, brms's scale; the model's own ``y`` is ``0..K-1``)."""
        if self.bound is None:
            return None
        categories = self.plan.family.spec.probabilities is not None
        return self.bound.y + 1 if categories else self.bound.y

    @property
    def plan(self):
        return self.compiled.plan

    @functools.cached_property
    def importance_weights(self) -> np.ndarray | None:
        """An embedded-Laplace fit's (``collapse="laplace"``) Pareto-smoothed importance
        weights of its draws, (chains, draws), summing to 1: they correct the approximation
        toward the full model's posterior, and the summaries (``summary``, ``fixef``,
        ``ranef``, ``coef``, ``hypothesis``) use them. ``None`` for other fits, and where the
        weights' k-hat exceeds 0.7 (unreliable: ``fit.diagnostics()`` says so and the
        summaries are of the plain draws); see :mod:`formulang.infer.laplace_draws`."""
        from .infer.laplace_draws import PARAMETERS, psis_weights
        from .report.diagnostics import KHAT_MAX

        if not self.compiled.laplace or PARAMETERS not in self.stats:
            return None
        weights, khat = psis_weights(self.stats[PARAMETERS])
        return weights if khat <= KHAT_MAX else None

    @functools.cached_property
    def posterior(self):
        """ArviZ data with the posterior and sampler statistics (no log-likelihood)."""
        return to_inference_data(self.plan, self.samples, self.stats, observed=self.observed)

    @functools.cached_property
    def idata(self):
        """ArviZ ``InferenceData``: posterior, sample_stats, observed_data, log_likelihood."""
        return to_inference_data(self.plan, self.samples, self.stats, observed=self.observed,
                                 log_likelihood=self.log_likelihood())

    def log_likelihood(self) -> np.ndarray:
        """Pointwise log-likelihood, shaped (chains, draws, rows); with ``weights()``, each
        row's multiplied by its weight, as the model's likelihood (and brms's ``log_lik``)
        has it."""
        from numpyro.infer import log_likelihood

        # (chains * draws) spelled out: -1 cannot be inferred for an empty site (no
        # centred levels, rc_<g> shaped (chains, draws, 0, k))
        flat = {k: v.reshape((v.shape[0] * v.shape[1],) + v.shape[2:])
                for k, v in self.samples.items()}
        ll = np.asarray(log_likelihood(self.model.numpyro_model, flat, self.model.data)["y"])
        weights = self.model.data.get("weights")
        if weights is not None:  # NumPyro's log_likelihood leaves out the scale handler
            ll = ll * np.asarray(weights, dtype=ll.dtype)
        chains, draws = next(iter(self.samples.values())).shape[:2]
        return ll.reshape(chains, draws, -1)

    def summary(self, prob: float = 0.95) -> pd.DataFrame:
        """brms-style table: one row per parameter (``b_Days``, ``sd_Subject__Days``...);
        ``prob``: the interval's probability (columns ``q2.5``, ``q97.5`` by default)."""
        from .report.idata import posterior_variables

        return summary_table(self.plan, posterior_variables(self.plan, self.samples)[0],
                             method=self.method, prob=prob, weights=self.importance_weights)

    # ---- brms's tables (formulang.report.tables, formulang.report.hypothesis) -------------

    def fixef(self, prob: float = 0.95) -> pd.DataFrame:
        """brms's ``fixef``: Estimate, Est.Error, Q2.5, Q97.5 per population coefficient."""
        from .report.tables import fixef

        return fixef(self.plan, self.samples, prob=prob, weights=self.importance_weights)

    def ranef(self, prob: float = 0.95, group: str | None = None) -> dict:
        """brms's ``ranef``: per grouping factor, levels x (effect, statistic)
        (``fit.ranef()["Subject"]["Days"]`` is brms's ``ranef(fit)$Subject[, , "Days"]``)."""
        from .report.tables import ranef

        return ranef(self.plan, self.samples, prob=prob, group=group,
                     weights=self.importance_weights)

    def coef(self, prob: float = 0.95, group: str | None = None) -> dict:
        """brms's ``coef``: each level's coefficients (population plus group effect), shaped
        as :meth:`ranef`."""
        from .report.tables import coef

        return coef(self.plan, self.samples, prob=prob, group=group,
                    weights=self.importance_weights)

    def hypothesis(self, hypothesis, prob: float = 0.95) -> pd.DataFrame:
        """brms's ``hypothesis``: ``"floor < 0"``, ``"Days - 10 = 0"`` (one or a list), read
        by formulang's own grammar and never evaluated as Python; Estimate, Est.Error, the
        interval, Evid.Ratio and Post.Prob (:mod:`formulang.report.hypothesis`)."""
        from .report.hypothesis import hypothesis_table

        return hypothesis_table(self.plan, self.samples, hypothesis, prob=prob,
                                weights=self.importance_weights)

    def bayes_r2(self, prob: float = 0.95, summary: bool = True):
        """Bayesian R² (Gelman, Goodrich, Gabry & Vehtari 2019), as brms's ``bayes_R2``: a
        one-row table, or the draws with ``summary=False``."""
        from .report.tables import bayes_r2_draws, r2_table

        draws = bayes_r2_draws(self)
        return r2_table(draws, "R2", prob) if summary else draws

    def loo_r2(self, prob: float = 0.95, summary: bool = True, seed: int = 0):
        """LOO-adjusted R² from PSIS-LOO predictions, as brms's ``loo_R2``."""
        from .report.tables import loo_r2_draws, r2_table

        draws = loo_r2_draws(self, seed=seed)
        return r2_table(draws, "R2", prob) if summary else draws

    def diagnostics(self):
        """Divergences, tree depth, R-hat, ESS, E-BFMI, with advice in plain words."""
        from .report.diagnostics import diagnose

        return diagnose(self)

    @knows_other_names
    def predict(self, newdata=None, kind: str = "mean", new_levels: str = "gaussian",
                seed: int = 0, trials=None, dpar: str | None = None):
        """Predictions per draw for ``newdata`` (default: the training data), one column per
        row of ``newdata`` (NaN where a predictor is missing).

        ``kind``: ``"linpred"`` (link scale), ``"prob"`` (binomial, bernoulli: the
        probability per trial; ordinal: the categories' probabilities, draws x rows x K),
        ``"mean"`` (response mean; ordinal: the expected category index 1..K) or
        ``"response"`` (simulated responses; ordinal: the categories' labels). ``new_levels`` says what an unseen group level gets (with a warning
        naming it): ``"gaussian"`` (new effects drawn from the fitted population, with its
        correlation), ``"population"`` (effect 0, as lme4) or ``"error"``. ``trials``: a
        binomial model's trials when ``newdata`` lacks them (a column name, a number, or one
        per row). ``dpar``: a family parameter (``"sigma"``, ``"zi"``): its values
        (``kind="mean"``) or linear predictor (``"linpred"``) per draw and row, from its own
        formula, or its one value per draw on every row where it has none. See
        :mod:`formulang.infer.predict`.
        """
        from .infer.predict import predict

        return predict(self, newdata, kind=kind, new_levels=new_levels, seed=seed,
                       trials=trials, dpar=dpar)

    def posterior_predictive(self, seed: int = 0):
        """Replicated responses for the training rows, as ArviZ data with observed_data."""
        from .infer.predictive import posterior_predictive

        return posterior_predictive(self, seed=seed)

    def plot(self, kind: str = "trace", **options):
        """A matplotlib Figure: ``"trace"``, ``"rank"``, ``"forest"``, ``"lines"`` (posterior
        regression lines per group), ``"funnel"`` or ``"ppc"`` (posterior predictive checks,
        brms's ``pp_check``: ``type="dens_overlay" | "hist" | "stat" | "intervals" | "bars" |
        "loo_pit"``, ``group=``, ``ndraws=``, ``stat=``) (see :mod:`formulang.report.plots`)."""
        from .report.plots import plot

        return plot(self, kind, **options)

    # ---- effects (report/effects/) ----
    def conditional_effects(self, effect: str | None = None, **options):
        """brms's ``conditional_effects``: the response's posterior along ``effect`` (a
        predictor, or ``"x:g"``), the others at their mean or reference level, group effects
        left out; ``.data`` (brms's columns) and ``.plot()``. Options: ``method``, ``prob``,
        ``robust``, ``resolution``, ``conditions``, ``categorical``, ``group_effects``,
        ``dpar`` (:func:`formulang.report.effects.conditional_effects`)."""
        from .report.effects import conditional_effects

        return conditional_effects(self, effect, **options)

    def predictions(self, newdata=None, by=None, **options):
        """marginaleffects' ``predictions`` on posterior draws: per row, or averaged per
        draw ``by`` columns (:func:`formulang.report.effects.predictions`)."""
        from .report.effects import predictions

        return predictions(self, newdata, by=by, **options)

    def comparisons(self, variables=None, newdata=None, by=None, **options):
        """marginaleffects' ``comparisons``: a unit change of a numeric predictor, each level
        against the reference of a factor, averaged over the rows per draw
        (:func:`formulang.report.effects.comparisons`)."""
        from .report.effects import comparisons

        return comparisons(self, variables, newdata=newdata, by=by, **options)

    def slopes(self, variables=None, newdata=None, by=None, **options):
        """marginaleffects' ``slopes``: dY/dx by finite differences, averaged over the rows
        per draw (:func:`formulang.report.effects.slopes`)."""
        from .report.effects import slopes

        return slopes(self, variables, newdata=newdata, by=by, **options)
    # ---- end effects ----

    # ---- cross-validation (infer/kfold.py) ----
    def kfold(self, K: int = 10, folds: str = "random", group: str | None = None,
              seed: int = 0, draws: int | None = None, tune: int | None = None,
              chains: int | None = None, progress: bool | None = None,
              parallel: str = "auto"):
        """K-fold cross-validation: refit on each fold's training rows and score the held-out
        ones; a :class:`~formulang.infer.kfold.KFoldResult` (``elpd``, ``se``,
        ``pointwise``, ``rmse``). ``folds="random"`` holds out rows within groups (stratified
        by ``group``), ``"grouped"`` whole levels of ``group`` (predicted as new levels);
        ``group`` defaults to the model's first grouping factor. The refits use this fit's
        sampler settings unless ``draws``/``tune``/``chains`` say otherwise, and share one
        compiled sampler (see :mod:`formulang.infer.kfold`). ``parallel``: ``"auto"``,
        ``"sequential"``, ``"devices"`` (or ``"folds"``: one fold per device, several at
        once) or ``"vectorized"`` (all folds at once on one GPU); ``"auto"``'s rule is in
        :mod:`formulang.infer.kfold_parallel`, and the result's ``parallel`` says which ran."""
        from dataclasses import replace

        from .infer.kfold import kfold
        from .infer.nuts import SamplerSettings

        if self.bound is None:
            raise FormulangError("this fit was loaded from a file: k-fold refits the model, "
                                 "so build it again from its data (fl.Model(...).fit())")
        base = getattr(self.run, "settings", None)  # map/vi fits: NUTS's defaults
        base = base if isinstance(base, SamplerSettings) else SamplerSettings()
        given = {k: v for k, v in (("draws", draws), ("tune", tune), ("chains", chains))
                 if v is not None}
        return kfold(self.model, K, folds, group, seed, replace(base, **given), progress,
                     parallel)
    # ---- end cross-validation ----

    def save(self, path, data="auto") -> None:
        """Write draws, formula, data encodings and settings to one NetCDF file (no pickle).

        ``data``: also store the training rows as the model saw them (numbers only), so the
        loaded fit predicts them and draws the ``lines`` plot: ``True``, ``False``, or
        ``"auto"`` (when they are small; see :mod:`formulang.fitfile`)."""
        from .fitfile import save_fit

        save_fit(self, path, data=data)

    def __str__(self) -> str:
        m = self.compiled
        chains, draws = next(iter(self.samples.values())).shape[:2]
        header = [f" Family: {m.family}", f"Formula: {m.formula}",
                  f"   Data: {m.n} rows; draws: {chains} chain{'s' * (chains != 1)} x {draws} "
                  f"({self.method}"
                  + ((", group effects integrated out by the Laplace approximation and "
                      "drawn from it)" if self.compiled.laplace else
                      ", group effects integrated out and drawn exactly)") if self.collapsed
                     else ")")]
        text = format_summary(self.plan, self.summary(), header)
        return text + "\n\nDiagnostics: " + str(self.diagnostics())

    def __repr__(self) -> str:
        return f"<Fit of {self.model!r} by {self.method}>"

    def _repr_html_(self) -> str:
        """A notebook shows the summary table and the diagnostics
        (:mod:`formulang.report.html`)."""
        from .report.html import fit_html

        return fit_html(self)
