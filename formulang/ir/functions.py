"""The whitelist of functions a formula may call, and where each may appear.

Formulas are never executed as Python: the parser accepts a call only if its name is in
:data:`FUNCTIONS`, with the arguments declared here, and the data stage evaluates each one
with its own numpy implementation. Adding a function means adding it here and to the
evaluator in :mod:`formulang.data.evaluate`.

Roles:

- ``elementwise``: a pure numeric map (``log``, ``sqrt``...), allowed anywhere a value is.
- ``stateful``: learns statistics from the training data that are reused on new data
  (``scale``, ``center``, ``standardize``).
- ``identity``: ``I(...)``, which protects arithmetic from formula algebra.
- ``categorical``: marks a column as a factor (``C``, ``factor``, ``as.factor``).
- ``offset``: ``offset(x)``, a term with a fixed coefficient of one.
- ``response``: ``cbind(successes, failures)`` on the left of ``~``, and the bambi and
  formulae response spellings (``censored``, ``truncated``, ``constrained``, ``p``,
  ``prop``), each read as its brms twin.
- ``addition``: brms addition terms after ``|`` on the left (``trials``, ``weights``,
  ``cens``, ``trunc``, ``se``, ``rate``); their arguments are read by
  :mod:`formulang.parse.to_ir` (``nargs`` is the most positional arguments they take).
- ``smooth``: brms's penalised smooths and Gaussian processes (``s``, ``gp``, ``t2``), terms
  of their own (:attr:`formulang.ir.formula.Formula.smooths`), built by
  :mod:`formulang.data.smooths`.
"""

from __future__ import annotations

from dataclasses import dataclass

from .expr import KwargValue


@dataclass(frozen=True)
class FunctionSpec:
    name: str
    role: str
    nargs: int
    kwargs: tuple[tuple[str, type, KwargValue | None], ...] = ()  # (name, type, default)
    doc: str = ""


def _elementwise(name: str, doc: str) -> FunctionSpec:
    return FunctionSpec(name, "elementwise", 1, doc=doc)


FUNCTIONS: dict[str, FunctionSpec] = {
    spec.name: spec
    for spec in [
        _elementwise("log", "natural logarithm"),
        _elementwise("log1p", "log(1 + x)"),
        _elementwise("log2", "base-2 logarithm"),
        _elementwise("log10", "base-10 logarithm"),
        _elementwise("exp", "exponential"),
        _elementwise("expm1", "exp(x) - 1"),
        _elementwise("sqrt", "square root"),
        _elementwise("abs", "absolute value"),
        FunctionSpec("scale", "stateful", 1, (("center", bool, True), ("scale", bool, True)),
                     "R's scale(): subtract the training mean, divide by the training SD (n - 1)"),
        FunctionSpec("center", "stateful", 1, (), "subtract the training mean"),
        FunctionSpec("standardize", "stateful", 1, (),
                     "subtract the training mean, divide by the training SD (n - 1)"),
        FunctionSpec("I", "identity", 1, (), "arithmetic: I(x^2), I(x - 1950), I(a / b)"),
        FunctionSpec("C", "categorical", 1, (("ref", str, None),),
                     "treat as categorical; ref = \"level\" sets the reference level"),
        FunctionSpec("factor", "categorical", 1, (("ref", str, None),), "same as C()"),
        FunctionSpec("as.factor", "categorical", 1, (("ref", str, None),), "same as C()"),
        FunctionSpec("offset", "offset", 1, (), "a term with coefficient fixed at one"),
        FunctionSpec("cbind", "response", 2, (), "binomial response: cbind(successes, failures)"),
        FunctionSpec("trials", "addition", 1, (), "binomial trials: successes | trials(n)"),
        FunctionSpec("weights", "addition", 1, (), "observation weights: y | weights(w)"),
        FunctionSpec("cens", "addition", 2, (),
                     "censoring: y | cens(c) or y | cens(c, y2), c left/none/right/interval"),
        FunctionSpec("trunc", "addition", 2, (), "truncation: y | trunc(lb = 0, ub = 100)"),
        FunctionSpec("se", "addition", 1, (("sigma", bool, False),),
                     "known standard errors: y | se(s) or y | se(s, sigma = TRUE)"),
        FunctionSpec("rate", "addition", 1, (), "exposure: count | rate(n), log(n) offset"),
        FunctionSpec("censored", "response", 3, (),
                     "bambi: censored(y, status) or censored(lower, upper, status)"),
        FunctionSpec("truncated", "response", 3, (),
                     "bambi: truncated(y, lb, ub), as y | trunc(lb, ub)"),
        FunctionSpec("constrained", "response", 3, (),
                     "bambi: constrained(y, lb, ub), as y | trunc(lb, ub)"),
        FunctionSpec("s", "smooth", 1, (("k", float, None), ("bs", str, "tp"), ("by", str, None)),
                     "penalised smooth (mgcv's thin-plate spline, as brms): s(x), "
                     "s(x, k = 10, bs = \"tp\")"),
        FunctionSpec("t2", "smooth", 2, (("k", float, None),),
                     "tensor-product smooth t2(x, z) (not supported yet: refused when bound)"),
        FunctionSpec("gp", "smooth", 1, (("k", float, None), ("c", float, None),
                                         ("cov", str, "exp_quad"), ("scale", bool, True)),
                     "approximate Gaussian process (brms): gp(x, k = 15, c = 1.25)"),
        FunctionSpec("p", "response", 2, (), "formulae: p(y, n), as y | trials(n)"),
        FunctionSpec("prop", "response", 2, (), "formulae: prop(y, n), as y | trials(n)"),
    ]
}

VALUE_ROLES = ("elementwise", "stateful", "identity")
SMOOTH_BASES = ("tp", "cr")  # s()'s bs = values: mgcv's thin-plate and cubic regression
GP_COVS = ("exp_quad",)  # gp()'s cov = values


def names_with_role(*roles: str) -> list[str]:
    return sorted(name for name, spec in FUNCTIONS.items() if spec.role in roles)
