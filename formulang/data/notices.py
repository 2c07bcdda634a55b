"""Warnings the data stage (and predictions from new data) give when it can go on but the
user should know.

Each is a :class:`UserWarning` subclass, so ``warnings.simplefilter("error",
FormulangWarning)`` turns them all into errors, and each can be filtered on its own.
"""

from __future__ import annotations

import os
import sys
import warnings

_PACKAGE = os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep


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


def tell(warning: Warning) -> None:
    """Issue ``warning`` at the user's line: the first frame outside formulang, however deep
    in formulang it arises (a count of frames, ``stacklevel``, broke whenever a call was
    added between). Filters, ``once`` per place and ``catch_warnings`` work as for
    ``warnings.warn``. With no frame outside formulang (its command line): at the caller."""
    frame = sys._getframe(1)
    while frame is not None and frame.f_code.co_filename.startswith(_PACKAGE):
        frame = frame.f_back
    if frame is None:
        warnings.warn(warning, stacklevel=2)
        return
    scope = frame.f_globals
    warnings.warn_explicit(warning, type(warning), frame.f_code.co_filename, frame.f_lineno,
                           module=scope.get("__name__", "<string>"),
                           registry=scope.setdefault("__warningregistry__", {}))


__all__ = ["FormulangWarning", "GroupingWarning", "MissingValuesWarning", "NewLevelsWarning",
           "RankDeficiencyWarning", "tell"]
