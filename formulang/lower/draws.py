"""Parameter draws against the linear predictor.

A family parameter's draws come per draw, ``(draws,)``, or, when it has its own formula
(``sigma ~ x``), per draw and row, ``(draws, rows)``; NumPy code that combines them with
``eta`` (draws x rows) asks :func:`per_draw` for the broadcastable form.

>>> import numpy as np
>>> per_draw(np.ones(3)).shape, per_draw(np.ones((3, 5))).shape
((3, 1), (3, 5))
"""

from __future__ import annotations

import numpy as np


def per_draw(v) -> np.ndarray:
    """``v`` against ``eta`` (draws, rows): a column, or as it is if per row already."""
    v = np.asarray(v, dtype=float)
    return v[:, None] if v.ndim == 1 else v


__all__ = ["per_draw"]
