"""The intermediate representation: expressions, terms, formulas, priors."""

from .expr import BinOp, Call, Column, Expr, Neg, Number, columns_of
from .formula import Formula, GroupTerm, Response, Term
from .functions import FUNCTIONS, FunctionSpec
from .prior import DISTRIBUTIONS, Prior

__all__ = [
    "BinOp", "Call", "Column", "DISTRIBUTIONS", "Expr", "FUNCTIONS", "Formula", "FunctionSpec",
    "GroupTerm", "Neg", "Number", "Prior", "Response", "Term", "columns_of",
]
