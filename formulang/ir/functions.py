"""The whitelist of functions a formula may call, and where each may appear.

Formulas are never executed as Python: the parser accepts a call only if its name is in
:data:`FUNCTIONS`, with the arguments declared here, and the data stage evaluates each one
with its own numpy implementation. Adding a function means adding it here and to the
evaluator in :mod:`formulang.data.evaluate`.

Roles:

- ``elementwise``: a pure numeric map (``log``, ``sqrt``...), allowed anywhere a value is;
  ``binary``: one of two values (numpy's spelling ``np.power(x, k)``).
- ``stateful``: learns statistics from the training data that are reused on new data
  (``scale``, ``center``, ``standardize``).
- ``basis``: a stateful function that makes several columns (``poly``, ``bs``, ``ns``): its
  knots or polynomial coefficients come from the training data
  (:mod:`formulang.data.bases`); allowed only as a factor of a term.
- ``indicator``: lme4's ``dummy(f, "level")``, a 0/1 value of a categorical.
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
    # (name, type, default); the types: bool, float, int (a whole number), str (a level),
    # tuple (a vector of numbers: knots = c(1, 2)), list (a vector of levels: levels = ["b"])
    kwargs: tuple[tuple[str, type, KwargValue | None], ...] = ()
    doc: str = ""
    # keyword arguments that may also be written by position after the ``nargs`` values, in
    # this order (R's poly(x, 2): degree; round(x, 1): digits)
    extra: tuple[str, ...] = ()


def _elementwise(name: str, doc: str) -> FunctionSpec:
    return FunctionSpec(name, "elementwise", 1, doc=doc)


# numpy's spellings (bambi, formulae, patsy) of functions we have: names, never evaluated
NUMPY_NAMES = {"log": "log", "exp": "exp", "sqrt": "sqrt", "abs": "abs", "log1p": "log1p",
               "log2": "log2", "log10": "log10", "expm1": "expm1"}
_NUMPY = [_elementwise(f"{prefix}.{name}", f"numpy's spelling of {ours}()")
          for prefix in ("np", "numpy") for name, ours in NUMPY_NAMES.items()]
_POWER = [FunctionSpec(f"{prefix}.power", "binary", 2, (),
                       f"{prefix}.power(x, k): numpy's spelling of I(x^k)")
          for prefix in ("np", "numpy")]


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
        *_NUMPY,
        *_POWER,
        FunctionSpec("round", "elementwise", 1, (("digits", float, 0.0),),
                     "R's round(x, digits): half to even, to the nearest representable value",
                     ("digits",)),
        FunctionSpec("dummy", "indicator", 1, (("level", str, None),),
                     "lme4's dummy(f, \"level\"): 1 where the factor f is that level, else 0",
                     ("level",)),
        FunctionSpec("poly", "basis", 1, (("degree", int, 1), ("raw", bool, False)),
                     "R's poly(x, degree): orthogonal polynomials (raw = TRUE: x, x^2, ...)",
                     ("degree",)),
        FunctionSpec("bs", "basis", 1, (("df", int, None), ("knots", tuple, None),
                                        ("degree", int, 3), ("intercept", bool, False),
                                        ("Boundary.knots", tuple, None)),
                     "R's splines::bs(x, df =, knots =, degree = 3): a B-spline basis",
                     ("df",)),
        FunctionSpec("ns", "basis", 1, (("df", int, None), ("knots", tuple, None),
                                        ("intercept", bool, False),
                                        ("Boundary.knots", tuple, None)),
                     "R's splines::ns(x, df =, knots =): a natural cubic spline basis",
                     ("df",)),
        FunctionSpec("scale", "stateful", 1, (("center", bool, True), ("scale", bool, True)),
                     "R's scale(): subtract the training mean, divide by the training SD (n - 1)"),
        FunctionSpec("center", "stateful", 1, (), "subtract the training mean"),
        FunctionSpec("standardize", "stateful", 1, (),
                     "subtract the training mean, divide by the training SD (n - 1)"),
        FunctionSpec("I", "identity", 1, (), "arithmetic: I(x^2), I(x - 1950), I(a / b)"),
        FunctionSpec("C", "categorical", 1, (("ref", str, None), ("levels", list, None)),
                     "treat as categorical; ref = \"level\" sets the reference level, "
                     "levels = [\"b\", \"a\"] the order of the levels (the first is the "
                     "reference)"),
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
        FunctionSpec("t2", "smooth", 2, (("k", float, None), ("bs", str, "cr")),
                     "tensor-product smooth (mgcv's t2, as brms): t2(x, z), t2(x, z, k = "
                     "c(5, 6), bs = c(\"cr\", \"tp\")); one SD per penalty"),
        FunctionSpec("gp", "smooth", 1, (("k", float, None), ("c", float, None),
                                         ("cov", str, "exp_quad"), ("scale", bool, True)),
                     "Gaussian process (brms): gp(x) exact, gp(x, k = 15, c = 1.25) approximate"),
        FunctionSpec("p", "response", 2, (), "formulae: p(y, n), as y | trials(n)"),
        FunctionSpec("prop", "response", 2, (), "formulae: prop(y, n), as y | trials(n)"),
    ]
}

VALUE_ROLES = ("elementwise", "binary", "stateful", "identity", "indicator")


FORMULA_ROLES = ("elementwise", "binary", "stateful", "identity", "categorical", "offset", "basis",
                 "indicator", "smooth")  # the roles of functions on the right of ~

_SPELLINGS = {spec.name for spec in _NUMPY + _POWER}
SMOOTH_BASES = ("tp", "cr")  # s()'s bs = values: mgcv's thin-plate and cubic regression
GP_COVS = ("exp_quad",)  # gp()'s cov = values


def names_with_role(*roles: str) -> list[str]:
    """The functions of these roles, as messages list them (numpy's spellings left out).

    >>> names_with_role("basis")
    ['bs', 'ns', 'poly']
    """
    return sorted(name for name, spec in FUNCTIONS.items()
                  if spec.role in roles and name not in _SPELLINGS)


# Calls other formula languages have that formulang writes otherwise: what to write instead
_OTHER_CALLS = {"Q": "a column whose name is not a plain name goes in backquotes: `x y` "
                     "(patsy's Q('x y'))",
                "bf": "a family parameter's formula follows after ';': y ~ x; sigma ~ z "
                      "(brms's bf(y ~ x, sigma ~ z))"}


def unknown_function(name: str) -> str:
    """The message for a call of ``name``, which is not a formula function: what to write
    instead where another formula language has it, and the functions there are.

    >>> print(unknown_function("Q").split(";")[1])
     a column whose name is not a plain name goes in backquotes: `x y` (patsy's Q('x y'))
    """
    from ..errors import shorten

    hint = f"; {_OTHER_CALLS[name]}" if name in _OTHER_CALLS else ""
    return (f"unknown function '{shorten(name)}'{hint}; allowed functions: "
            f"{', '.join(names_with_role(*FORMULA_ROLES))}")
