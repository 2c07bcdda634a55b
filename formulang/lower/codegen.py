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

import keyword
import re
import textwrap

import numpy as np

from .._version import __version__
from ..errors import FormulangError
from ..data.bind import spec_group_terms
from ..ir.prior import DISTRIBUTIONS
from .plan import GroupPlan, ModelPlan, VectorSite, dpars_not_yet
from .ordinal import threshold_source
from .response import SOURCE_DOCS, source_data, source_lines
from .sites import POPULATION, GroupSites

WIDTH = 99  # longest code line written (comments and docstrings are wrapped to it too)
FLAG_LEVELS = 200  # above this many levels, a mixed term's layout is one 0/1 character a level

# ---- literals -----------------------------------------------------------------------------------

def num(value) -> str:
    """A float literal that reads back exactly: ``3.0``, ``140.8``, ``-2.016``."""
    v = float(value)
    if not np.isfinite(v):
        return f'float("{v}")'
    return repr(v)


def int_list(values) -> str:
    return "[" + ", ".join(str(int(v)) for v in values) + "]"


def array(values) -> str:
    return "jnp.array([" + ", ".join(num(v) for v in values) + "])"


def distribution(name: str, params: np.ndarray, size: int | None = None) -> str:
    """Source of the NumPyro distribution ``name`` with parameters ``params``: one value per
    parameter (a scalar site) or an array (n_params, size) for a vector site. A parameter
    equal across the vector is written once; when all are, the last one is written as an array
    so the distribution still has ``size`` entries, as the compiled model's does."""
    params = np.asarray(params, dtype=float)
    if size is None:
        args = [num(v) for v in params.reshape(-1)]
    else:
        rows = [np.asarray(row).reshape(-1) for row in params]
        args = [num(row[0]) if np.all(row == row[0]) else array(row) for row in rows]
        if all(np.all(row == row[0]) for row in rows):
            args[-1] = array(rows[-1])
    return DISTRIBUTIONS[name].code(*args)


def identifier(name: str, taken: set[str]) -> str:
    """A Python identifier for a grouping factor's label (``batch:cask`` -> ``batch_cask``)."""
    ident = re.sub(r"\W+", "_", name).strip("_") or "g"
    if ident[0].isdigit() or keyword.iskeyword(ident):
        ident = "g_" + ident
    base, i = ident, 2
    while ident in taken:
        ident, i = f"{base}_{i}", i + 1
    taken.add(ident)
    return ident


# ---- line layout --------------------------------------------------------------------------------

_NUMBER = re.compile(r"^-?\d+(\.\d*)?(e[-+]?\d+)?$")


def _scan(code: str):
    """Per character of a code line: bracket depth before it (strings are depth -1), and the
    position of a trailing comment (or len(code))."""
    depth, quote, depths = 0, None, []
    for i, ch in enumerate(code):
        if quote:
            depths.append(-1)
            if ch == quote and code[i - 1] != "\\":
                quote = None
            continue
        if ch in "\"'":
            quote = ch
            depths.append(-1)
            continue
        if ch == "#":
            return depths, i
        if ch in ")]}":
            depth -= 1
        depths.append(depth)
        if ch in "([{":
            depth += 1
    return depths, len(code)


def _split_top(body: str) -> list[str]:
    """``body`` split at its depth-0 commas."""
    depths, _ = _scan(body)
    parts, start = [], 0
    for i, ch in enumerate(body):
        if ch == "," and depths[i] == 0:
            parts.append(body[start:i].strip())
            start = i + 1
    last = body[start:].strip()
    if last:
        parts.append(last)
    return parts


def _closes_at_end(text: str) -> bool:
    """Whether the bracket opening ``text`` is the one closing it."""
    depths, _ = _scan(text)
    return all(d > 0 for d in depths[1:-1]) and depths[-1] == 0


def format_statement(code: str, indent: str = "", width: int = WIDTH) -> list[str]:
    """Lay out one statement within ``width`` the way black would: split at the last
    bracket pair whose opening line fits, one argument a line when the arguments do not fit
    on one; runs of numbers (index arrays) fill their lines instead."""
    depths, hash_at = _scan(code)
    comment = code[hash_at:].strip()
    code = code[:hash_at].rstrip()
    if comment:
        if len(indent) + len(code) + 2 + len(comment) <= width:
            return [f"{indent}{code}  {comment}"]
        return [indent + comment] + format_statement(code, indent, width)
    if len(indent) + len(code) <= width:
        return [indent + code]
    # depth-0 bracket pairs, right to left
    pairs, stack = [], []
    for i, ch in enumerate(code):
        if depths[i] == -1:
            continue
        if ch in "([{" and depths[i] == 0:
            stack.append(i)
        elif ch in ")]}" and depths[i] == 0 and stack:
            pairs.append((stack.pop(), i))
    inner = indent + "    "
    fitting = [(o, c) for o, c in pairs if len(indent) + o + 1 <= width and code[o + 1:c].strip()]
    if fitting:
        # the pair with the most inside: split f(a).g(b) at f( when a is the long part
        open_at, close_at = max(fitting, key=lambda p: p[1] - p[0])
        head, body, tail = code[:open_at + 1], code[open_at + 1:close_at].strip(), code[close_at:]
        while (len(body) > 1 and body[0] in "([" and body[-1] == {"(": ")", "[": "]"}[body[0]]
               and _closes_at_end(body)):  # hug a lone bracketed argument: f([...])
            head, tail, body = head + body[0], body[-1] + tail, body[1:-1].strip()
        if len(inner) + len(body) <= width and len(indent) + len(tail) <= width:
            return [indent + head, inner + body, indent + tail]
        items = _split_top(body)
        lines = [indent + head]
        if items and all(_NUMBER.match(item) for item in items):
            current = inner
            for item in items:
                piece = item + ","
                if current != inner and len(current) + 1 + len(piece) > width:
                    lines.append(current)
                    current = inner
                current += (" " if current != inner else "") + piece
            lines.append(current)
        else:
            for item in items:
                sub = format_statement(item, inner, width - 1)
                sub[-1] += ","
                lines.extend(sub)
        lines.extend(format_statement(tail, indent, width))
        return lines
    return [indent + code]  # nothing to split: leave it long


class _Writer:
    def __init__(self):
        self.lines: list[str] = []
        self.level = 0

    def line(self, text: str = "") -> None:
        if not text:
            self.lines.append("")
            return
        self.lines.extend(format_statement(text, "    " * self.level))

    def comment(self, text: str) -> None:
        prefix = "    " * self.level + "# "
        for para in text.split("\n"):
            hang = len(para) - len(para.lstrip())
            first = prefix + " " * hang
            rest = prefix + " " * (hang + 2 if hang else 0)  # items hang under their text
            self.lines.extend(textwrap.wrap(para.strip(), WIDTH, initial_indent=first,
                                            subsequent_indent=rest, break_on_hyphens=False,
                                            break_long_words=False))

    def text(self, block: str) -> None:
        """Raw lines (docstrings), indented to the current level."""
        for ln in block.split("\n"):
            self.lines.append(("    " * self.level + ln) if ln else "")

    def source(self) -> str:
        return "\n".join(self.lines).rstrip() + "\n"


def _docstring(text: str, indent: int) -> str:
    """A triple-quoted docstring, each paragraph wrapped to the page."""
    text = text.replace("\\", "\\\\").replace('"""', '\\"\\"\\"')
    out = []
    for para in text.split("\n\n"):
        if para.startswith("    "):  # preformatted (an example): keep its lines
            out.append(para)
        else:
            out.append("\n".join(textwrap.wrap(" ".join(para.split()), WIDTH - indent,
                                               break_on_hyphens=False)))
    body = "\n\n".join(out)
    return '"""' + body + ("\n" if "\n" in body else "") + '"""'


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


def _sample_vector(w: _Writer, params: dict, site: VectorSite, var: str, coef_names) -> None:
    """``var = numpyro.sample(site.name, ...)``: one site, or one per prior distribution used,
    scattered into a vector (as the compiled model's ``_sample_vector``)."""
    if len(site.pieces) == 1:
        dist_name, _, key = site.pieces[0]
        w.line(f'{var} = numpyro.sample("{site.name}", '
               f'{distribution(dist_name, params[key], site.size)})')
        return
    w.line(f"{var} = jnp.zeros({site.size})")
    for i, (piece, (dist_name, idx, key)) in enumerate(zip(site.piece_names, site.pieces)):
        names = ", ".join(coef_names[j] for j in idx)
        w.comment(f"{names}: {dist_name}")
        w.line(f'{var}_{i} = numpyro.sample("{piece}", '
               f'{distribution(dist_name, params[key], len(idx))})')
        w.line(f"{var} = {var}.at[np.array({int_list(idx)})].set({var}_{i})")


def _population(w: _Writer, ctx: _Context) -> None:
    plan = ctx.plan
    slopes = plan.slope_columns
    priors = plan.priors
    ic, bc = plan.sites.intercept, plan.sites.slopes  # sites and local names alike
    w.comment("Population-level effects" + (
        f". The intercept is sampled on centred predictors ({ic}), as brms does; "
        "b reports it for the predictors as given." if plan.intercept and slopes else "."))
    if plan.intercept:
        w.comment(f"  Intercept ~ {priors.lookup('Intercept')}"
                  + (" (on centred predictors)" if slopes else ""))
    for col in slopes:
        w.comment(f"  b[{col}] ~ {priors.lookup('b', coef=col)}")
    w.line("eta = offset")
    if plan.b is not None:
        X = "X"
        if plan.centred:
            w.line(f"x_means = {array(plan.x_means)}  # column means of "
                   f"{', '.join(slopes)}")
            w.line("Xc = X - x_means")
            X = "Xc"
        _sample_vector(w, plan.prior_params, plan.b, bc, [f"b[{c}]" for c in slopes])
        w.line(f"eta = eta + {X} @ {bc}")
    if plan.intercept:
        prior = priors.lookup("Intercept")
        w.line(f'{ic} = numpyro.sample("{ic}", '
               f'{distribution(prior.distribution, plan.prior_params["Intercept"][:, 0])})')
        w.line(f"eta = eta + {ic}")
    if plan.intercept and plan.b is not None:
        w.line(f'numpyro.deterministic("b", jnp.concatenate([jnp.reshape({ic} - '
               f'x_means @ {bc}, (1,)), {bc}]))')
    elif plan.intercept:
        w.line(f'numpyro.deterministic("b", jnp.reshape({ic}, (1,)))')
    elif plan.b is not None:
        w.line(f'numpyro.deterministic("b", {bc})')


def _level_layout(w: _Writer, g: GroupPlan, ident: str) -> tuple[str, str]:
    """Write the static level indices of a mixed term; return the two index expressions."""
    centered = np.asarray(g.centered, dtype=bool)
    nc, c = f"nc_{ident}", f"c_{ident}"
    if len(centered) > FLAG_LEVELS:
        flags = "".join("1" if v else "0" for v in centered)
        w.comment(f"per level of {g.label}, in level order: 1 = centred, 0 = non-centred")
        w.line(f"centered_{ident} = np.array(list(")
        for i in range(0, len(flags), 80):
            w.line(f'    "{flags[i:i + 80]}"')
        w.line(')) == "1"')
        w.line(f"{nc}, {c} = np.flatnonzero(~centered_{ident}), "
               f"np.flatnonzero(centered_{ident})")
    else:
        w.comment(f"levels of {g.label} (indices into its {len(centered)} levels) sampled "
                  f"non-centred and centred")
        w.line(f"{nc} = np.array({int_list(np.flatnonzero(~centered))})")
        w.line(f"{c} = np.array({int_list(np.flatnonzero(centered))})")
    return nc, c


def _describe_group(g: GroupPlan, term: str) -> str:
    parts = [f"{term}: {len(g.levels)} levels"]
    if g.k > 1:
        if len(g.blocks) == 1:
            parts.append("correlated")
        elif g.correlated_pairs:
            parts.append("correlated within blocks " + ", ".join(
                "(" + ", ".join(g.columns[j] for j in block) + ")" for block in g.blocks
                if len(block) > 1))
        else:
            parts.append("independent")
    mode = {"centered": "centered", "noncentered": "non-centered"}.get(g.mode)
    if mode is None:
        n = sum(g.centered)
        mode = f"mixed ({n} of {len(g.centered)} levels centered, the rest non-centered)"
    parts.append(mode)
    return ", ".join(parts)


def _group(w: _Writer, ctx: _Context, g: GroupPlan, ident: str, term: str) -> None:
    params = ctx.plan.prior_params
    n_levels, k = len(g.levels), g.k
    w.comment(_describe_group(g, term))
    w.comment(f"  {g.reason}")
    for j, col in enumerate(g.columns):
        w.comment(f"  sd[{g.name}][{col}] ~ {ctx.plan.priors.lookup('sd', g.name, col)}")
    if g.lkj_key:
        w.comment(f"  cor[{g.name}] ~ {ctx.plan.priors.lookup('cor', g.name)}")
    local = GroupSites(ident)  # the code's variables, named as the sites they hold
    sd = local.sd
    _sample_vector(w, params, g.sd, sd, [f"sd[{g.name}][{c}]" for c in g.columns])

    sites = g.sites.lkj
    L, scale = local.L, f"scale_tril_{ident}"
    if sites:
        eta_lkj = num(params[g.lkj_key][0, 0])
        if len(sites) == 1 and len(sites[0][1]) == k:
            w.line(f'{L} = numpyro.sample("{sites[0][0]}", '
                   f'dist.LKJCholesky({k}, concentration={eta_lkj}))')
        else:
            w.line(f"{L} = jnp.eye({k})")
            for i, (site, block) in enumerate(sites):
                var = L if len(sites) == 1 else f"{L}_{i}"
                var = f"{L}_block" if var == L else var
                w.line(f'{var} = numpyro.sample("{site}", '
                       f'dist.LKJCholesky({len(block)}, concentration={eta_lkj}))')
                idx = int_list(block)
                w.line(f"{L} = {L}.at[np.ix_({idx}, {idx})].set({var})")
        w.line(f"{scale} = {sd}[:, None] * {L}  # Cholesky factor of the covariance")

    centered = np.asarray(g.centered, dtype=bool)
    n_c = int(centered.sum())
    n_nc = n_levels - n_c
    r = local.r
    noncentered_expr = centered_var = None
    if n_nc:
        z = local.z
        w.line(f'{z} = numpyro.sample("{g.sites.z}", '
               f'dist.Normal(0.0, 1.0).expand([{n_nc}, {k}]).to_event(2))')
        noncentered_expr = f"{z} @ {scale}.T" if sites else f"{z} * {sd}"
    if n_c:
        centered_var = local.rc
        locs = []
        if g.parent is not None:
            # hierarchical centring: a nested level is centred on its enclosing level's effect
            parent_r = GroupSites(ctx.idents[g.parent]).r
            parents = np.asarray(g.parent_levels)[np.flatnonzero(centered)]
            w.comment(f"  centred levels are centred on their {ctx.plan.groups[g.parent].label} "
                      "level's effect")
            locs.append(f"{parent_r}[np.array({int_list(parents)})]")
        if g.intercept_loc is not None:
            # strong data identify intercept + effect, not each: centre on the intercept
            w.comment("  the centred levels' intercept effect is centred on the intercept")
            unit = [1.0 if j == g.intercept_loc else 0.0 for j in range(k)]
            ic = ctx.plan.sites.intercept
            locs.append(f"{ic} * jnp.array({unit})" if k > 1 else ic)
        if locs:
            loc = f"loc_{ident}"
            w.line(f"{loc} = jnp.broadcast_to({' + '.join(locs)}, ({n_c}, {k}))")
            if sites:
                prior = f"dist.MultivariateNormal({loc}, scale_tril={scale}).to_event(1)"
            else:
                prior = f"dist.Normal({loc}, {sd}).to_event(2)"
            w.line(f'{centered_var} = numpyro.sample("{g.sites.rc}", {prior}) - {loc}')
        else:
            if sites:
                prior = (f"dist.MultivariateNormal(jnp.zeros({k}), scale_tril={scale})"
                         f".expand([{n_c}]).to_event(1)")
            else:
                prior = f"dist.Normal(0.0, {sd}).expand([{n_c}, {k}]).to_event(2)"
            w.line(f'{centered_var} = numpyro.sample("{g.sites.rc}", {prior})')
    if not n_c:
        w.line(f"{r} = {noncentered_expr}")
    elif not n_nc:
        w.line(f"{r} = {centered_var}")
    else:
        nc_idx, c_idx = _level_layout(w, g, ident)
        w.line(f"{r} = jnp.zeros(({n_levels}, {k}))")
        w.line(f"{r} = {r}.at[{nc_idx}].set({noncentered_expr})")
        w.line(f"{r} = {r}.at[{c_idx}].set({centered_var})")
    w.line(f'numpyro.deterministic("{g.sites.r}", {r})  # levels x '
           f'({", ".join(g.columns)})')
    if g.correlated_pairs:
        if len(sites) == 1 and len(sites[0][1]) == k:
            w.line(f'numpyro.deterministic("{g.sites.cor}", '
                   f'({L} @ {L}.T)[jnp.triu_indices({k}, 1)])')
        else:
            a, b = zip(*g.correlated_pairs)
            w.line(f'numpyro.deterministic("{g.sites.cor}", '
                   f'({L} @ {L}.T)[np.array({int_list(a)}), np.array({int_list(b)})])')
    w.line(f"eta = eta + jnp.sum({ident}_values * {r}[{ident}_codes], axis=-1)")


def _likelihood(w: _Writer, ctx: _Context) -> None:
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


def _model_docstring(ctx: _Context) -> str:
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
    return _docstring("\n\n".join(parts), 4)


def _data_from(w: _Writer, ctx: _Context) -> None:
    plan = ctx.plan
    w.line("def data_from(bound):")
    w.level += 1
    w.text(_docstring(
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
    w = _Writer()
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
    w.text(_docstring(header, 0))
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
    w.text(_model_docstring(ctx))
    _population(w, ctx)
    for g, ident, term in zip(plan.groups, ctx.idents, ctx.terms):
        w.line()
        _group(w, ctx, g, ident, term)
    w.line()
    _likelihood(w, ctx)
    w.level -= 1
    w.line()
    w.line()
    _data_from(w, ctx)
    return w.source()
