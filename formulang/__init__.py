"""formulang: a formula language for Bayesian multilevel models."""

from .infer.jax_setup import request_devices

request_devices()  # before any JAX code runs, so chains can run in parallel (jax_setup)

from .errors import DataError, FormulaError, FormulangError, PriorError
from .ir import Formula, GroupTerm, Prior, Response, Term
from .parse import parse, parse_prior
from .data import (BoundData, DataSpec, FormulangWarning, GroupData, GroupingWarning,
                   MissingValuesWarning, NewLevelsWarning, RankDeficiencyWarning, bind)
from . import datasets
from ._version import __version__  # noqa: F401  (public)
from .model import Model
from .fit import Fit
from .io import load
from .report.compare import compare

__all__ = [
    "BoundData", "DataSpec", "FormulangWarning", "GroupData", "GroupingWarning",
    "MissingValuesWarning", "NewLevelsWarning", "RankDeficiencyWarning", "bind", "datasets", "Model", "Fit", "load", "compare",
    "DataError", "Formula", "FormulaError", "FormulangError", "GroupTerm", "Prior",
    "PriorError", "Response", "Term", "parse", "parse_prior",
]
