"""The data stage: bind a formula to data (design matrices, group indices, encodings).

>>> import pandas as pd
>>> from formulang.data import bind
>>> b = bind("y ~ x + (1 | g)", pd.DataFrame({"y": [1.0, 2.0, 3.0], "x": [0.0, 1.0, 3.0],
...                                           "g": ["a", "b", "a"]}))
>>> b.X_columns, b.groups[0].levels
(('Intercept', 'x'), ('a', 'b'))
"""

from .bind import BoundData, GroupData, apply_spec, bind
from .evaluate import TransformStats
from .notices import (FormulangWarning, GroupingWarning, MissingValuesWarning, NewLevelsWarning,
                      RankDeficiencyWarning)
from .spec import DataSpec, DesignSpec, GroupSpec, TermSpec, VariableSpec

__all__ = [
    "BoundData", "DataSpec", "DesignSpec", "FormulangWarning", "GroupData", "GroupSpec",
    "GroupingWarning", "MissingValuesWarning", "NewLevelsWarning", "RankDeficiencyWarning",
    "TermSpec",
    "TransformStats", "VariableSpec", "apply_spec", "bind",
]
