"""``Model.graph()``: the model as a graph of data, priors, parameters and the likelihood.

Nodes, each with a ``kind``, a ``shape`` (``"85 × 2"``; ``""`` for a scalar) and a label:

- ``data``: ``X`` (population-level predictors), ``codes_<g>`` and ``values_<g>`` per group
  term, ``offset`` (when the formula has one), ``trials``, ``weights``;
- ``prior``: ``prior_<parameter>``, labelled with the prior (several lines when the entries
  of a vector have different priors);
- ``coefficient``: ``b``; ``hyperparameter``: ``sd_<g>``, ``L_<g>`` (the Cholesky factor of the
  correlation, ``cor_<g> = L Lᵀ``) and the family parameters (``sigma``...); ``latent``:
  ``r_<g>``, the group effects;
- ``linear_predictor``: ``eta``; ``likelihood``: ``y``, the observed response.

Edges run prior → parameter → linear predictor → likelihood (family parameters and trials go
straight into the likelihood). A family parameter with its own formula (``sigma ~ x + (1 |
g)``) is a ``linear_predictor`` node per row (``sigma = exp(X_sigma b_sigma + ...)``) fed by
its formula's nodes, named as its sites: ``X_sigma``, ``b_sigma``, ``sd_g__sigma``,
``r_g__sigma``, ``codes_g__sigma``...; its priors are its formula's (``prior_b_sigma``). A
smooth term (``s(x)``, ``gp(x, k =)``) adds its penalised basis (data ``Zs_sx``, ``Xgp_gpx``),
its SD (``sds_sx_1``, ``sdgp_gpx``; a GP's ``lscale_gpx`` too) with their priors, and its
coefficients (latent ``s_sx_1``; a GP's standardised ``zgp_gpx``). :meth:`ModelGraph.to_dot` gives Graphviz DOT text without any
dependency; :meth:`ModelGraph.render` draws it with Graphviz's ``dot`` program.

>>> import formulang as fl
>>> g = fl.Model("strength ~ (1 | batch/cask)", fl.datasets.load("Pastes")).graph()
>>> g.node("r_batch:cask").shape, g.parents("r_batch:cask")
('30 × 1', ('sd_batch:cask',))
>>> print(g.to_dot().splitlines()[0])
digraph model {
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from ..errors import FormulangError
from .links import LINKS
from .priors import PriorRow
from .response import source_lines
from .sites import column_dpars, dpar_group, effect_names, uses
from .smooth_plan import own_smooths

KINDS = ("data", "prior", "coefficient", "hyperparameter", "latent", "linear_predictor",
         "likelihood")
SECTIONS = {"data": "Data", "prior": "Priors", "coefficient": "Coefficients",
            "hyperparameter": "Hyperparameters", "latent": "Group effects",
            "linear_predictor": "Linear predictor", "likelihood": "Likelihood"}
_STYLE = {  # Graphviz attributes by kind: observed things grey boxes, unknowns ellipses
    "data": 'shape=box, style="rounded,filled", fillcolor="#e8e8e8"',
    "prior": 'shape=plain, fontcolor="#555555", fontsize=10',
    "coefficient": 'shape=ellipse, style=filled, fillcolor="#dbe9f6"',
    "hyperparameter": 'shape=ellipse, style=filled, fillcolor="#fde9c9"',
    "latent": 'shape=ellipse, style=filled, fillcolor="#d9f0d3"',
    "linear_predictor": 'shape=diamond, style=filled, fillcolor="#ffffff"',
    "likelihood": 'shape=ellipse, style=filled, fillcolor="#bdbdbd", peripheries=2',
}
FORMATS = ("svg", "png", "pdf", "jpg", "jpeg", "gif", "ps", "eps", "dot")


@dataclass(frozen=True)
class Node:
    name: str
    kind: str
    shape: str  # "85 × 2"; "" for a scalar
    label: str


@dataclass(frozen=True)
class Edge:
    source: str
    target: str


class ModelGraph:
    """Nodes and edges of a model; see the module docstring for what they are."""

    def __init__(self, nodes, edges, title: str = ""):
        self.nodes: tuple[Node, ...] = tuple(nodes)
        self.edges: tuple[Edge, ...] = tuple(edges)
        self.title = title
        self._by_name = {n.name: n for n in self.nodes}
        for e in self.edges:
            assert e.source in self._by_name and e.target in self._by_name, e

    # ---- queries --------------------------------------------------------------------------------
    def node(self, name: str) -> Node:
        try:
            return self._by_name[name]
        except KeyError:
            raise KeyError(f"no node {name!r}; nodes: {', '.join(self._by_name)}") from None

    def __contains__(self, name: str) -> bool:
        return name in self._by_name

    def parents(self, name: str) -> tuple[str, ...]:
        return tuple(e.source for e in self.edges if e.target == name)

    def children(self, name: str) -> tuple[str, ...]:
        return tuple(e.target for e in self.edges if e.source == name)

    def of_kind(self, kind: str) -> tuple[Node, ...]:
        return tuple(n for n in self.nodes if n.kind == kind)

    # ---- output ---------------------------------------------------------------------------------
    def to_dot(self) -> str:
        """Graphviz DOT text (every name quoted, so ``batch:cask`` is safe)."""
        lines = ["digraph model {",
                 '  graph [rankdir=TB, fontname="Helvetica", fontsize=12, labelloc=t, '
                 f"label={_quote(self.title)}];",
                 '  node [fontname="Helvetica", fontsize=11];',
                 '  edge [color="#666666", arrowsize=0.7];']
        for n in self.nodes:
            text = n.name + (f" [{n.shape}]" if n.shape else "") + "\n" + n.label
            if n.kind == "prior":
                text = n.label
            lines.append(f"  {_quote(n.name)} [label={_quote(text)}, {_STYLE[n.kind]}];")
        for e in self.edges:
            lines.append(f"  {_quote(e.source)} -> {_quote(e.target)};")
        lines.append("}")
        return "\n".join(lines) + "\n"

    def render(self, path, format: str | None = None) -> Path:
        """Draw the graph to ``path`` (format from the suffix: svg, png, pdf...) with
        Graphviz's ``dot`` program; returns the path."""
        path = Path(path)
        fmt = (format or path.suffix.lstrip(".") or "svg").lower()
        if fmt not in FORMATS:
            raise FormulangError(f"cannot draw a graph as {fmt!r}; formats: "
                                 f"{', '.join(FORMATS)}")
        if fmt == "dot":
            path.write_text(self.to_dot(), encoding="utf-8")
            return path
        path.write_bytes(self._pipe(fmt))
        return path

    def _pipe(self, fmt: str) -> bytes:
        dot = shutil.which("dot")
        if dot is not None:
            done = subprocess.run([dot, f"-T{fmt}"], input=self.to_dot().encode("utf-8"),
                                  capture_output=True, check=False)
            if done.returncode != 0:
                raise FormulangError("Graphviz's dot failed: "
                                     + done.stderr.decode("utf-8", "replace").strip())
            return done.stdout
        try:
            import graphviz
        except ImportError:
            graphviz = None
        if graphviz is not None:
            try:
                return graphviz.Source(self.to_dot()).pipe(format=fmt)
            except graphviz.ExecutableNotFound:
                pass
        raise FormulangError(
            "drawing the graph needs Graphviz's dot program, which was not found on PATH: "
            "install Graphviz (apt install graphviz, brew install graphviz, conda install "
            "graphviz, or https://graphviz.org/download/). Without it, .to_dot() gives the "
            "DOT text and print(graph) an outline.")

    def _repr_svg_(self):
        """A notebook draws the graph as SVG when Graphviz's ``dot`` (or the graphviz
        package with it) is installed; else None, and the notebook shows the text outline."""
        try:
            return self._pipe("svg").decode("utf-8")
        except FormulangError:
            return None

    def __str__(self) -> str:
        lines = [f"Model graph: {self.title}" if self.title else "Model graph"]
        width = max(len(n.name) for n in self.nodes)
        shape_width = max(len(n.shape) for n in self.nodes)
        for kind in KINDS:
            nodes = self.of_kind(kind)
            if not nodes:
                continue
            lines.append(SECTIONS[kind])
            for n in nodes:
                first, *rest = n.label.splitlines() or [""]
                label = first + (": " + "; ".join(rest) if rest else "")
                if kind == "prior":
                    arrow = " -> " + ", ".join(self.children(n.name))
                else:
                    parents = self.parents(n.name)
                    arrow = (" <- " + ", ".join(parents)) if parents else ""
                lines.append(f"  {n.name:<{width}}  {n.shape:<{shape_width}}  {label}{arrow}")
        return "\n".join(lines)

    def __repr__(self) -> str:
        return f"<ModelGraph: {len(self.nodes)} nodes, {len(self.edges)} edges>"

    def _repr_pretty_(self, printer, cycle: bool) -> None:
        """IPython's text view (no SVG without Graphviz): the outline, as ``print``."""
        printer.text(str(self))


def _quote(text: str) -> str:
    """A DOT double-quoted string; newlines become centred line breaks."""
    escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{escaped}"'


def _shape(*dims: int) -> str:
    return " × ".join(str(d) for d in dims)


# ---- building the graph -------------------------------------------------------------------------

class _Builder:
    def __init__(self):
        self.nodes: list[Node] = []
        self.edges: list[Edge] = []

    def node(self, name: str, kind: str, shape: str, label: str) -> str:
        self.nodes.append(Node(name, kind, shape, label))
        return name

    def edge(self, source: str, target: str) -> None:
        edge = Edge(source, target)
        if edge not in self.edges:
            self.edges.append(edge)

    def prior(self, target: str, key: str, what: str, rows: list[tuple[str, object]]) -> None:
        """A prior node ``prior_<key>`` for ``target``; ``rows`` are (entry name, Prior) of its
        entries, shown once as ``what ~ prior`` when they all have the same prior."""
        texts = {str(p) for _, p in rows}
        if len(texts) == 1:
            label = f"{what} ~ {rows[0][1]}"
        else:
            label = "\n".join(f"{name} ~ {p}" for name, p in rows)
        self.node(f"prior_{key}", "prior", "", label)
        self.edge(f"prior_{key}", target)


def _likelihood_label(model) -> str:
    """The family's likelihood as generated code writes it, without module prefixes; the
    names its setup lines assign follow it (``Beta(mu * phi, ...), mu = ...``)."""
    *setup, expression = model.family.source()
    more, expression = source_lines(model.family, model.plan.response, expression)
    text = ", ".join([expression] + setup + more)  # with cens, trunc, se, rate if any
    return text.replace("dist.", "").replace("jnp.", "").replace("jax.nn.", "") \
        .replace("jax.scipy.special.", "")


def _key(cls: str, dpar: str, group: str = "", coef: str = "") -> str:
    """A prior's key as users write it (``b[x]``; of a sub-formula ``b_sigma[x]``)."""
    return PriorRow(cls, group, coef, None, "", dpar).key


def _formula(g: _Builder, model, pred, target: str) -> str:
    """Nodes of one formula (the response's, or a family parameter's ``pred``): its data,
    coefficients, group terms and their priors, with edges into ``target``; returns the
    linear predictor as text (``X b + r_g[codes]·values``)."""
    n, priors, dpar = model.plan.n, model.plan.priors, pred.dpar
    slopes = pred.slope_columns
    suffix = f"_{dpar}" if dpar else ""
    X, offset, b = "X" + suffix, "offset" + suffix, pred.sites.coefficients
    offsets = (model.formula if not dpar else dict(model.spec.dpars)[dpar].formula).offsets
    parts = [offset] if offsets else []
    parts += [f"{X} {b}"] if pred.b is not None else ([b] if pred.intercept else [])
    used = uses(model.plan, dpar)
    # a block spanning formulas (|p|) is drawn once, by the formula holding it; each formula
    # reads its columns of it, through its own codes and values
    own = {grp.name for grp in pred.groups}
    data_stem = {grp.name: grp.name if grp.name in own else dpar_group(grp.label, dpar)
                 for grp, _ in used}
    for grp, cols in used:
        which = "" if len(cols) == grp.k else \
            "; " + ", ".join(grp.columns[j] for j in cols)
        parts.append(f"{grp.sites.r}[codes{which}]·values")

    # data
    if pred.b is not None:
        centred = " (centred)" if pred.intercept else ""
        g.node(X, "data", _shape(n, len(slopes)),
               f"population-level predictors{centred}\n{', '.join(slopes)}")
        g.edge(X, target)
    if offsets:
        g.node(offset, "data", _shape(n), "offset: " + ", ".join(str(o) for o in offsets))
        g.edge(offset, target)
    for grp, cols in used:
        stem, names = data_stem[grp.name], effect_names(grp)
        g.node(f"codes_{stem}", "data", _shape(n), f"level of {grp.label} per row\n"
               f"{len(grp.levels)} levels")
        g.node(f"values_{stem}", "data", _shape(n, len(cols)),
               f"columns of the {grp.label} term\n{', '.join(names[j] for j in cols)}")

    # population-level coefficients
    if pred.columns:
        g.node(b, "coefficient", _shape(len(pred.columns)),
               "population-level coefficients" + (f" of {dpar}" if dpar else "") + "\n"
               + ", ".join(pred.columns)
               + ("\nintercept sampled on centred predictors" if pred.intercept and slopes
                  else ""))
        if pred.intercept:
            g.prior(b, pred.sites.intercept_key, _key("Intercept", dpar),
                    [(_key("Intercept", dpar), priors.lookup("Intercept", dpar=dpar))])
        if slopes:
            g.prior(b, pred.sites.slopes_key, _key("b", dpar),
                    [(_key("b", dpar, c), priors.lookup("b", coef=c, dpar=dpar))
                     for c in slopes])
        g.edge(b, target)

    # group terms
    for grp in pred.groups:
        sd, r = grp.sites.sd, grp.sites.r
        dpars = list(dict.fromkeys(column_dpars(grp)))
        on = (f" on {dpar}" if dpar else "") if len(dpars) == 1 else \
            " on " + ", ".join(d or "the response" for d in dpars)
        g.node(sd, "hyperparameter", _shape(grp.k),
               f"SDs of the {grp.label} effects{on}\n{', '.join(grp.columns)}")
        g.prior(sd, sd, ", ".join(_key("sd", d, grp.label) for d in dpars),
                [(_key("sd", d, grp.label, c), priors.lookup("sd", grp.label, c, d))
                 for c, d in zip(effect_names(grp), column_dpars(grp))])
        parents = [sd]
        if grp.lkj_key:
            L = grp.sites.L
            pairs = len(grp.correlated_pairs)
            g.node(L, "hyperparameter", _shape(grp.k, grp.k),
                   f"Cholesky factor of the correlation\n{grp.sites.cor} = L Lᵀ "
                   f"({pairs} pair{'s' if pairs != 1 else ''})")
            g.prior(L, grp.sites.cor, _key("cor", dpar, grp.label),
                    [(_key("cor", dpar, grp.label), priors.lookup("cor", grp.label, dpar=dpar))])
            parents.append(L)
        n_c = sum(grp.centered)
        mode = {"centered": "centered", "noncentered": "non-centered"}.get(
            grp.mode, f"mixed: {n_c} of {len(grp.levels)} levels centered")
        if model.collapsed:  # NUTS does not sample them: no centring is used there
            mode = f"integrated out under NUTS, drawn exactly\n(map, vi: sampled {mode})"
        g.node(r, "latent", _shape(len(grp.levels), grp.k),
               f"{grp.label} effects{on}\nlevels × ({', '.join(grp.columns)})\n{mode}")
        for p in parents:
            g.edge(p, r)
    for grp, _ in used:
        stem = data_stem[grp.name]
        for source in (grp.sites.r, f"codes_{stem}", f"values_{stem}"):
            g.edge(source, target)
    parts += _smooths(g, model, dpar, target)
    return " + ".join(parts) or "0"


def _smooths(g: _Builder, model, dpar: str, target: str) -> list[str]:
    """Nodes of formula ``dpar``'s smooth terms (``s()``, ``gp()``): the penalised basis
    (data), the SD (and a GP's length-scale) with their priors, the coefficients; their
    unpenalised columns are among ``X``'s. Returns their parts of the linear predictor."""
    n, priors, parts = model.plan.n, model.plan.priors, []
    on = f" on {dpar}" if dpar else ""
    for sm in own_smooths(model.plan, dpar):
        s = sm.sites
        g.node(s.basis, "data", _shape(n, 1) if sm.exact else _shape(n, sm.k),
               f"{'unique-value index' if sm.exact else 'penalised basis'} of {sm.term}{on}")
        g.node(s.sd, "hyperparameter", "", f"SD of the smooth {sm.term}{on}")
        g.prior(s.sd, s.sd, s.prior_key(s.sd_class),
                [(s.prior_key(s.sd_class), priors.lookup(s.sd_class, coef=sm.label,
                                                         dpar=dpar))])
        if sm.kind == "gp":
            g.node(s.lscale, "hyperparameter", "", f"length-scale of {sm.term}{on}\n(x "
                   "divided by its range)")
            g.prior(s.lscale, s.lscale, s.prior_key("lscale"),
                    [(s.prior_key("lscale"), priors.lookup("lscale", coef=sm.label,
                                                           dpar=dpar))])
            g.node(s.z, "latent", _shape(sm.k), f"standardised coefficients of {sm.term}"
                   f"{on}\nN(0, 1), " + (f"times {s.sd} chol(C({s.lscale})) over its {sm.k} "
                                          "unique values (exact GP)" if sm.exact else
                                          "scaled by the root of the spectral density"))
            for source in (s.sd, s.lscale, s.z, s.basis):
                g.edge(source, target)
            parts.append(f"({s.sd} chol(C({s.lscale})) {s.z})[{s.basis}]" if sm.exact else
                         f"{s.basis} (sqrt(spd({s.sd}, {s.lscale})) {s.z})")
        else:
            sd = f"{s.sd}[block]" if sm.blocks else s.sd  # a t2: an SD per penalised block
            g.node(s.coefficients, "latent", _shape(sm.k), f"penalised coefficients of "
                   f"{sm.term}{on}\n{s.coefficients} = {sd} {s.z}, {s.z} ~ N(0, 1)")
            g.edge(s.sd, s.coefficients)
            for source in (s.coefficients, s.basis):
                g.edge(source, target)
            parts.append(f"{s.basis} {s.coefficients}")
    return parts


def model_graph(model) -> ModelGraph:
    """The graph of a :class:`~formulang.compiled.CompiledModel` (``Model.compiled``). A family
    parameter with a formula (``sigma ~ x``) is a node per row, ``sigma = exp(X_sigma
    b_sigma + ...)``, fed by its formula's data, coefficients and group effects."""
    plan = model.plan
    n = plan.n
    g = _Builder()
    priors = plan.priors

    # the linear predictor first: everything else points at it
    eta = _formula(g, model, plan, "eta")
    if model.has_trials:
        g.node("trials", "data", _shape(n), "trials per row")
    if model.has_weights:
        g.node("weights", "data", _shape(n), "weight of each row's log-likelihood")
    g.node("eta", "linear_predictor", _shape(n), "linear predictor\n" + eta)
    response = model.response_text
    g.node("y", "likelihood", _shape(n), f"{response} ~ {_likelihood_label(model)}")
    g.edge("eta", "y")
    for aux in plan.aux:
        g.node(aux, "hyperparameter", "", f"family parameter of {plan.family.name}")
        g.prior(aux, aux, aux, [(aux, priors.lookup(aux))])
        g.edge(aux, "y")
    for d in plan.dpars:  # a family parameter per row, from its own formula
        eta_d = _formula(g, model, d, d.name)
        link = LINKS[d.link]
        bare = " + " not in eta_d or "({})" in link.source  # exp(...) brackets it already
        inverse = link.code(eta_d if bare else f"({eta_d})")
        g.node(d.name, "linear_predictor", _shape(n),
               f"family parameter of {plan.family.name} per row\n{d.name} = "
               + inverse.replace("jnp.", "").replace("jax.nn.", "")
               .replace("jax.scipy.special.", ""))
        g.edge(d.name, "y")
    if model.has_trials:
        g.edge("trials", "y")
    if model.has_weights:
        g.edge("weights", "y")

    # order: by kind, in the order each kind was added
    order = {k: i for i, k in enumerate(KINDS)}
    nodes = sorted(g.nodes, key=lambda node: order[node.kind])
    return ModelGraph(nodes, g.edges, title=f"{model.formula}  [{plan.family}]")


__all__ = ["Edge", "ModelGraph", "Node", "model_graph"]
