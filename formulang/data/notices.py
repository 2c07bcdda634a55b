"""Warnings the data stage (and predictions from new data) give when it can go on but the
user should know.

Each is a :class:`UserWarning` subclass, so ``warnings.simplefilter("error",
FormulangWarning)`` turns them all into errors, and each can be filtered on its own.
"""

from __future__ import annotations


class FormulangWarning(UserWarning):
    """Base of every warning formulang gives about user data."""


class MissingValuesWarning(FormulangWarning):
    """Rows with missing values in a column the formula uses were dropped (lme4's ``na.omit``)."""


class RankDeficiencyWarning(FormulangWarning):
    """Some fixed-effect columns are linear combinations of earlier columns."""


class GroupingWarning(FormulangWarning):
    """A grouping factor that cannot inform its variance, e.g. a single level."""


class NewLevelsWarning(FormulangWarning):
    """Rows to predict have group levels not seen in training (a misspelt level is one): they
    get the effect the ``new_levels`` rule gives (:mod:`formulang.infer.predict`)."""


__all__ = ["FormulangWarning", "GroupingWarning", "MissingValuesWarning", "NewLevelsWarning",
           "RankDeficiencyWarning"]
