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
``data_from(bound)`` builds those arguments from :func:`formulang.bind` output. A family
parameter with a formula (``y ~ x; sigma ~ z + (1 | g)``) has its own coefficients and group
effects under the library's sites (``Intercept_sigma_c``, ``b_sigma_c``, ``sd_g__sigma``...;
:mod:`formulang.lower.codegen_terms` writes every formula alike), its own arguments
(``X_sigma``, ``g__sigma_codes``...) and is computed per row, ``sigma = exp(eta_sigma)``.

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
from ..data.groups import spec_group_terms
from .codegen_layout import (WIDTH, Writer, distribution, docstring, format_statement,
                             identifier, int_list, num)
from .codegen_smooth import smooth_arguments, smooth_data_lines, smooth_docs
from .codegen_terms import Predictor, predictor
from .joint import positions
from .links import LINKS
from .ordinal import threshold_source
from .plan import ModelPlan
from .response import SOURCE_DOCS, source_data, source_lines
from .sites import GroupSites, all_groups, dpar_group, effect_names, predictors, uses


# ---- the model ----------------------------------------------------------------------------------

class _Context:
    """What the writer needs beyond the plan: names, formula text, which data arrays exist."""

    def __init__(self, model):
        self.model = model  # a CompiledModel
        self.plan: ModelPlan = model.plan
        suffixes = [""] + [f"_{d.name}" for d in self.plan.dpars]
        taken = {"model", "data_from", "subs", "y", "trials", "weights", "b",
                 *self.plan.aux, *self.plan.family.spec.fixed, *self.plan.response.data_keys(),
                 *(d.name for d in self.plan.dpars),
                 *(stem + suffix for stem in ("X", "Xc", "x_means", "eta", "offset")
                   for suffix in suffixes),
                 *(name for pred in predictors(self.plan)
                   for name in (pred.sites.intercept, pred.sites.slopes)),
                 *(sm.sites.basis for sm in self.plan.smooths)}
        specs = {"": model.spec, **dict(model.spec.dpars)}
        preds = predictors(self.plan)
        self.terms_by_name = {g.name: g for g in all_groups(self.plan)}
        ident_of = {g.name: identifier(g.name, taken) for pred in preds for g in pred.groups}
        # each formula's group terms in its linear predictor, and where its bound data hold
        # them (a term spanning formulas is each formula's term on that factor)
        self.positions = {pred.dpar: positions(self.plan, pred.dpar, specs[pred.dpar].groups)
                          for pred in preds}
        written: dict[str, list[tuple[str, str]]] = {}
        for pred in preds:
            texts = [" + ".join(map(str, terms))
                     for terms in spec_group_terms(specs[pred.dpar])]
            for (g, _), i in zip(uses(self.plan, pred.dpar), self.positions[pred.dpar]):
                written.setdefault(g.name, []).append((pred.dpar, texts[i]))
        made = []
        for pred, suffix in zip(preds, suffixes):
            rows = []
            for g, cols in uses(self.plan, pred.dpar):
                # another formula's block: this formula's data of it get their own names
                ident = ident_of[g.name] if g in pred.groups else \
                    identifier(dpar_group(g.label, pred.dpar), taken)
                rows.append((g.name, cols, ident, GroupSites(ident_of[g.name]).r))
            terms = tuple(", ".join((f"{d or 'the response'}'s " if d != pred.dpar else "")
                                    + text for d, text in written[g.name])
                          for g in pred.groups)
            made.append(Predictor(pred, suffix, tuple(ident_of[g.name] for g in pred.groups),
                                  terms, offset=not pred.dpar or bool(
                                      specs[pred.dpar].formula.offsets), uses=tuple(rows)))
        self.predictors = tuple(made)
        self.has_trials = model.has_trials
        self.has_weights = model.has_weights

    def arguments(self) -> list[str]:
        response, *subs = self.predictors
        args = ["X"] if self.plan.b is not None else []
        args.append("y")
        for _, _, ident, _ in response.uses:
            args += [f"{ident}_codes", f"{ident}_values"]
        args += smooth_arguments(self.plan, "")  # s(), gp(): their penalised bases
        args.append("offset")
        if self.has_trials:
            args.append("trials")
        if self.has_weights:
            args.append("weights")
        args += list(self.plan.response.data_keys())
        for p in subs:  # the sub-formulas' data: sigma ~ x gives X_sigma
            args += [p.X] if p.pred.b is not None else []
            for _, _, ident, _ in p.uses:
                args += [f"{ident}_codes", f"{ident}_values"]
            args += smooth_arguments(self.plan, p.pred.dpar)
            args += [p.offset_arg] if p.offset else []
        return args


def _rhs(model, dpar: str) -> str:
    """The right-hand side of ``dpar``'s formula (a category's may be the response's)."""
    return str(dict(model.spec.dpars)[dpar].formula).split("~")[-1].strip()


def _dpar(w: Writer, ctx: _Context, p: Predictor) -> None:
    """A family parameter's formula, and the parameter per row through its link."""
    d = p.pred
    link = LINKS[d.link]
    w.comment(f"Family parameter {d.name}, predicted per row by its formula "
              f"{d.name} ~ {_rhs(ctx.model, d.name)} on the {d.link} scale: "
              f"{d.name} = {link.code(p.eta)}")
    predictor(w, ctx.plan, p)
    w.line(f"{d.name} = {link.code(p.eta)}")


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
    predicted = {d.name for d in plan.dpars}
    for name, value in plan.family.spec.fixed.items():  # brms's disc: 1 unless predicted
        if name not in predicted:
            w.line(f"{name} = {value!r}  # fixed, as brms ({name} ~ ... would predict it)")
    fam = plan.family
    w.comment(f"Likelihood: {ctx.model.response_text} ~ {fam} "
              f"({fam.spec.doc})" + (", rows weighted" if ctx.has_weights else ""))
    *setup, expression = fam.source()
    if fam.spec.per_category:  # the source reads the categories' predictors as `mus`
        setup.insert(0, f"mus = [{', '.join(d.name for d in plan.dpars)}]")
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


def _terms(ctx: _Context, p: Predictor) -> list:
    """``(group term, the names of its columns this formula's data hold, identifier)`` of
    each group term in formula ``p``'s linear predictor."""
    out = []
    for name, cols, ident, _ in p.uses:
        g = ctx.terms_by_name[name]
        names = effect_names(g)
        out.append((g, [names[j] for j in cols], ident))
    return out


def _model_docstring(ctx: _Context) -> str:
    plan = ctx.plan
    parts = []
    if plan.b is not None:
        parts.append(f"X: the population-level predictors ({', '.join(plan.slope_columns)}), "
                     f"n x {len(plan.slope_columns)}, as given (not centred).")
    parts.append(f"y: the response {ctx.model.response_text} (n), or None to sample it.")
    for g, cols, ident in _terms(ctx, ctx.predictors[0]):
        parts.append(f"{ident}_codes: the level of {g.label} of each row (0..{len(g.levels) - 1}"
                     f", in the order of the levels); {ident}_values: the term's columns "
                     f"({', '.join(cols)}) per row, n x {len(cols)}.")
    parts += smooth_docs(plan, "")
    parts.append("offset: added to the linear predictor (zeros without an offset).")
    if ctx.has_trials:
        parts.append("trials: the number of trials of each row.")
    if ctx.has_weights:
        parts.append("weights: the weight of each row's log-likelihood.")
    parts += [SOURCE_DOCS[k] for k in plan.response.data_keys()]
    for p in ctx.predictors[1:]:
        d = p.pred
        if d.b is not None:
            parts.append(f"{p.X}: the predictors of {d.name}'s formula "
                         f"({', '.join(d.slope_columns)}), n x {len(d.slope_columns)}, "
                         f"as given.")
        for g, cols, ident in _terms(ctx, p):
            parts.append(f"{ident}_codes, {ident}_values: the level of {g.label} and the "
                         f"term's columns ({', '.join(cols)}) per row, in {d.name}'s "
                         f"formula.")
        parts += smooth_docs(plan, d.name)
        if p.offset:
            parts.append(f"{p.offset_arg}: the offset of {d.name}'s formula.")
    return docstring("\n\n".join(parts), 4)


def _slopes(pred, bound: str) -> str:
    """The expression of a formula's slope columns, as given, from bound data ``bound``."""
    slopes = [j for j, c in enumerate(pred.columns) if c != "Intercept"]
    if slopes == list(range(len(pred.columns))):
        cols = ""
    elif slopes == list(range(1, len(pred.columns))):
        cols = "[:, 1:]"
    else:
        cols = f"[:, {int_list(slopes)}]"
    return f"np.asarray({bound}.X, dtype=float){cols}"


def _data_from(w: Writer, ctx: _Context) -> None:
    plan = ctx.plan
    w.line("def data_from(bound):")
    w.level += 1
    w.text(docstring(
        "The arguments of model() from data bound by formulang, as a dict: bound = "
        "formulang.bind(FORMULA, df) (or Model.bound); then mcmc.run(key, "
        "**data_from(bound)). Plain NumPy: formulang is needed only to bind the data.", 4))
    if plan.dpars:
        w.line("subs = dict(bound.dpars)  # the sub-formulas' data, by parameter")
    w.line("return {")
    w.level += 1
    if plan.b is not None:
        w.line(f'"X": {_slopes(plan, "bound")},  # {", ".join(plan.slope_columns)}')
    w.line('"y": None if bound.y is None else np.asarray(bound.y, dtype='
           f'{"np.int32" if plan.family.spec.probabilities is not None else "float"}),')
    for (g, _, ident), i in zip(_terms(ctx, ctx.predictors[0]), ctx.positions[""]):
        w.line(f'"{ident}_codes": np.asarray(bound.groups[{i}].codes, dtype=np.int32),'
               f'  # {g.label}')
        w.line(f'"{ident}_values": np.asarray(bound.groups[{i}].values, dtype=float),')
    for line in smooth_data_lines(plan, "", "bound"):
        w.line(line)
    w.line('"offset": np.asarray(bound.offset, dtype=float),')
    if ctx.has_trials:
        w.line('"trials": np.asarray(bound.trials, dtype=float),')
    if ctx.has_weights:
        w.line('"weights": np.asarray(bound.weights, dtype=float),')
    for line in source_data(plan.response):
        w.line(line)
    for p in ctx.predictors[1:]:
        d, sub = p.pred, f'subs["{p.pred.name}"]'
        if d.b is not None:
            w.line(f'"{p.X}": {_slopes(d, sub)},  # {", ".join(d.slope_columns)}')
        for (g, _, ident), i in zip(_terms(ctx, p), ctx.positions[d.dpar]):
            w.line(f'"{ident}_codes": np.asarray({sub}.groups[{i}].codes, dtype=np.int32),'
                   f'  # {g.label}')
            w.line(f'"{ident}_values": np.asarray({sub}.groups[{i}].values, dtype=float),')
        for line in smooth_data_lines(plan, d.dpar, sub):
            w.line(line)
        if p.offset:
            w.line(f'"{p.offset_arg}": np.asarray({sub}.offset, dtype=float),')
    w.level -= 1
    w.line("}")
    w.level -= 1


def generate_code(model) -> str:
    """Standalone NumPyro source for ``model`` (a
    :class:`~formulang.compiled.CompiledModel`, ``Model.compiled``): imports,
    ``FORMULA``, ``model(X, y, <g>_codes, <g>_values, offset[, trials][, weights])`` and
    ``data_from(bound)``. ``exec`` it, or save it as a module. A family parameter with a
    formula (``sigma ~ x``) takes its data as more arguments (``X_sigma``...) and is
    computed per row from its own coefficients and group effects."""
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
    link_code = "\n".join(plan.family.source() + [LINKS[d.link].source for d in plan.dpars])
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
    if plan.thresholds is not None:  # the thresholds' ordered prior is formulang's, and so
        # is the logit link's log-space likelihood (brms's log_diff_exp)
        names = ["ordered_prior"] + ["logistic_log_probs"] * ("logistic_log_probs" in link_code)
        w.line(f"from formulang.lower.ordinal import {', '.join(sorted(names))}")
    if plan.response.censored or plan.response.truncated:  # its distribution is formulang's
        w.line("from formulang.lower.response import censored_truncated")
    w.line()
    w.line(f"FORMULA = {formula!r}")
    w.line()
    w.line()
    w.line(f"def model({', '.join(ctx.arguments())}):")
    w.level += 1
    w.text(_model_docstring(ctx))
    predictor(w, plan, ctx.predictors[0])
    for p in ctx.predictors[1:]:
        w.line()
        _dpar(w, ctx, p)
    w.line()
    _likelihood(w, ctx)
    w.level -= 1
    w.line()
    w.line()
    _data_from(w, ctx)
    return w.source()


# the layout helpers, where callers and tests have always found them
__all__ = ["WIDTH", "distribution", "format_statement", "generate_code", "identifier", "num"]
