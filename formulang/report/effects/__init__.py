"""Effects on the response scale after the fit: brms's ``conditional_effects``
(:mod:`.conditional`) and marginaleffects' ``predictions``, ``comparisons`` and ``slopes``
on posterior draws (:mod:`.verbs`); :mod:`.data` holds what they share. All predict through
:func:`formulang.infer.predict.predict`."""

from .conditional import RESOLUTION, ConditionalEffects, conditional_effects
from .data import METHODS
from .verbs import comparisons, predictions, slopes

__all__ = ["METHODS", "RESOLUTION", "ConditionalEffects", "comparisons", "conditional_effects",
           "predictions", "slopes"]
