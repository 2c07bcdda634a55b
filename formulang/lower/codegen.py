"""``Model.code()``: standalone, readable NumPyro source equivalent to the compiled model.

The source is written from the :class:`~formulang.lower.plan.ModelPlan`, the same plan
:mod:`formulang.lower.numpyro_model` builds the model from, so the two cannot disagree: same
sample sites (``Intercept_c``, ``b_c``, ``sd_<g>``, ``L_<g>``, ``z_<g>``, ``rc_<g>``, family
parameters, ``y``), the reported ``b``, ``r_<g>``, ``cor_<g>`` as deterministic sites (for
readers; formulang computes them after sampling, :func:`formulang.lower.sites.derive`), same priors
(written out as literal NumPyro distributions with the numbers of the prior table) and the same
per-level centred / non-centred parameterisation (index arrays written as literals). The one
difference is the interface: the generated ``model`` takes the arrays as named arguments
(``X, y, <g>_codes, <g>_values, offset[, trials][, weights]``) rather than one data pytree,
and ``X`` holds the raw predictor columns (the model centres them itself); the generated
``data_from(bound)`` builds those arguments from :func:`formulang.bind` output.

>>> import formulang as fl
>>> m = fl.Model("Reaction ~ Days + (Days | Subject)", fl.datasets.load("sleepstudy"))
>>> src = m.code()
>>> print(src[src.index("def model"):].splitlines()[0])
def model(X, y, Subject_codes, Subject_values, offset):
>>> 'dist.LKJCholesky(2, concentration=2.0)' in src
True
"""

from __future__ import annotations

from .._version import __version__
from ..errors import FormulangError
from ..data.bind import spec_group_terms
from .codegen_layout import (WIDTH, Writer, distribution, docstring, format_statement,
                             identifier, int_list, num)
from .codegen_terms import group, population
from .plan import ModelPlan, dpars_not_yet
from .ordinal import threshold_source
from .response import SOURCE_DOCS, source_data, source_lines
from .sites import POPULATION


# ---- the model ----------------------------------------------------------------------------------

class _Context:
    """What the writer needs beyond the plan: names, formula text, which data arrays exist."""

    def __init__(self, model):
        self.model = model  # a CompiledModel
        self.plan: ModelPlan = model.plan
        taken = {"X", "y", "offset", "trials", "weights", "eta", POPULATION.slopes, "b",
                 "x_means", "Xc", POPULATION.intercept, "model", "data_from",
                 *self.plan.aux, *self.plan.response.data_keys()}
        self.idents = [identifier(g.name, taken) for g in self.plan.groups]
        self.terms = [" + ".join(map(str, terms)) for terms in spec_group_terms(model.spec)]
        self.has_trials = model.has_trials
        self.has_weights = model.has_weights

    def arguments(self) -> list[str]:
        args = ["X"] if self.plan.b is not None else []
        args.append("y")
        for ident in self.idents:
            args += [f"{ident}_codes", f"{ident}_values"]
        args.append("offset")
        if self.has_trials:
            args.append("trials")
        if self.has_weights:
            args.append("weights")
        return args + list(self.plan.response.data_keys())


def _likelihood(w: Writer, ctx: _Context) -> None:
    plan = ctx.plan
    if plan.aux:
        w.comment("Family parameters")
        for aux in plan.aux:
            prior = plan.priors.lookup(aux)
            w.comment(f"  {aux} ~ {prior}")
            w.line(f'{aux} = numpyro.sample("{aux}", '
                   f'{distribution(prior.distribution, plan.prior_params[aux][:, 0])})')
        w.line()
    for line in threshold_source(plan, distribution):  # an ordinal model's thresholds
        w.comment(line[2:]) if line.startswith("# ") else w.line(line)
    fam = plan.family
    w.comment(f"Likelihood: {ctx.model.response_text} ~ {fam} "
              f"({fam.spec.doc})" + (", rows weighted" if ctx.has_weights else ""))
    *setup, expression = fam.source()
    more, expression = source_lines(fam, plan.response, expression)  # cens, trunc, se, rate
    for line in setup + more:
        w.line(line)
    w.line('with numpyro.plate("obs", eta.shape[0]):')
    w.level += 1
    if ctx.has_weights:
        w.line("with handlers.scale(scale=weights):")
        w.level += 1
    w.line(f'numpyro.sample("y", {expression}, obs=y)')
    w.level -= 2 if ctx.has_weights else 1


def _modeldocstring(ctx: _Context) -> str:
    plan = ctx.plan
    parts = []
    if plan.b is not None:
        parts.append(f"X: the population-level predictors ({', '.join(plan.slope_columns)}), "
                     f"n x {len(plan.slope_columns)}, as given (not centred).")
    parts.append(f"y: the response {ctx.model.response_text} (n), or None to sample it.")
    for g, ident in zip(plan.groups, ctx.idents):
        parts.append(f"{ident}_codes: the level of {g.label} of each row (0..{len(g.levels) - 1}"
                     f", in the order of the levels); {ident}_values: the term's columns "
                     f"({', '.join(g.columns)}) per row, n x {g.k}.")
    parts.append("offset: added to the linear predictor (zeros without an offset).")
    if ctx.has_trials:
        parts.append("trials: the number of trials of each row.")
    if ctx.has_weights:
        parts.append("weights: the weight of each row's log-likelihood.")
    parts += [SOURCE_DOCS[k] for k in plan.response.data_keys()]
    return docstring("\n\n".join(parts), 4)


def _data_from(w: Writer, ctx: _Context) -> None:
    plan = ctx.plan
    w.line("def data_from(bound):")
    w.level += 1
    w.text(docstring(
        "The arguments of model() from data bound by formulang, as a dict: bound = "
        "formulang.bind(FORMULA, df) (or Model.bound); then mcmc.run(key, "
        "**data_from(bound)). Plain NumPy: formulang is needed only to bind the data.", 4))
    w.line("return {")
    w.level += 1
    if plan.b is not None:
        slopes = [j for j, c in enumerate(plan.columns) if c != "Intercept"]
        if slopes == list(range(len(plan.columns))):
            cols = ""
        elif slopes == list(range(1, len(plan.columns))):
            cols = "[:, 1:]"
        else:
            cols = f"[:, {int_list(slopes)}]"
        w.line(f'"X": np.asarray(bound.X, dtype=float){cols},  # '
               f'{", ".join(plan.slope_columns)}')
    w.line('"y": None if bound.y is None else np.asarray(bound.y, dtype='
           f'{"np.int32" if plan.thresholds is not None else "float"}),')
    for i, (g, ident) in enumerate(zip(plan.groups, ctx.idents)):
        w.line(f'"{ident}_codes": np.asarray(bound.groups[{i}].codes, dtype=np.int32),'
               f'  # {g.label}')
        w.line(f'"{ident}_values": np.asarray(bound.groups[{i}].values, dtype=float),')
    w.line('"offset": np.asarray(bound.offset, dtype=float),')
    if ctx.has_trials:
        w.line('"trials": np.asarray(bound.trials, dtype=float),')
    if ctx.has_weights:
        w.line('"weights": np.asarray(bound.weights, dtype=float),')
    for line in source_data(plan.response):
        w.line(line)
    w.level -= 1
    w.line("}")
    w.level -= 1


def generate_code(model) -> str:
    """Standalone NumPyro source for ``model`` (a
    :class:`~formulang.compiled.CompiledModel`, ``Model.compiled``): imports,
    ``FORMULA``, ``model(X, y, <g>_codes, <g>_values, offset[, trials][, weights])`` and
    ``data_from(bound)``. ``exec`` it, or save it as a module. Models with sub-formulas for
    family parameters (``sigma ~ x``) are refused for now rather than written wrong."""
    if model.plan.dpars:
        raise FormulangError(dpars_not_yet("code()", model.plan))
    ctx = _Context(model)
    plan = ctx.plan
    w = Writer()
    formula = str(model.formula)
    header = (f"NumPyro model generated by formulang {__version__} from\n\n"
              f"    {formula}\n\n"
              f"family {plan.family}, fitted to {plan.n} rows. Sample sites, priors and "
              f"parameterisation are those of formulang.Model(...).numpyro_model, so draws "
              f"of either model mean the same thing.\n\n"
              f"Run it with NUTS, its chains starting where formulang's do:\n\n"
              f"    import jax, formulang\n"
              f"    from numpyro.infer import MCMC, NUTS\n"
              f"    from formulang.infer.init import init_near_prior_centre\n"
              f"    bound = formulang.bind(FORMULA, df)  # df: the data frame\n"
              f"    kernel = NUTS(model, init_strategy=init_near_prior_centre)\n"
              f"    mcmc = MCMC(kernel, num_warmup=1000, num_samples=1000)\n"
              f"    mcmc.run(jax.random.PRNGKey(0), **data_from(bound))\n"
              f"    mcmc.print_summary()")
    w.text(docstring(header, 0))
    w.line()
    link_code = "\n".join(plan.family.source())
    if "jax.scipy.special" in link_code:
        w.line("import jax.scipy.special")
    elif "jax.nn" in link_code:
        w.line("import jax")
    w.line("import jax.numpy as jnp")
    w.line("import numpy as np")
    w.line("import numpyro")
    w.line("import numpyro.distributions as dist")
    if ctx.has_weights:
        w.line("from numpyro import handlers")
    if plan.thresholds is not None:  # the thresholds' ordered prior is formulang's
        w.line("from formulang.lower.ordinal import ordered_prior")
    if plan.response.censored or plan.response.truncated:  # its distribution is formulang's
        w.line("from formulang.lower.response import censored_truncated")
    w.line()
    w.line(f"FORMULA = {formula!r}")
    w.line()
    w.line()
    w.line(f"def model({', '.join(ctx.arguments())}):")
    w.level += 1
    w.text(_modeldocstring(ctx))
    population(w, ctx)
    for g, ident, term in zip(plan.groups, ctx.idents, ctx.terms):
        w.line()
        group(w, ctx, g, ident, term)
    w.line()
    _likelihood(w, ctx)
    w.level -= 1
    w.line()
    w.line()
    _data_from(w, ctx)
    return w.source()


# the layout helpers, where callers and tests have always found them
__all__ = ["WIDTH", "distribution", "format_statement", "generate_code", "identifier", "num"]
