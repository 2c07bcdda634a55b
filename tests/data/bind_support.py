"""Paths for the data-stage tests (imported by conftest and by parametrised tests)."""

from __future__ import annotations

from pathlib import Path

# R's model.matrix output for 22 formulas (copied from shared/reference/model_matrix).
MODEL_MATRIX = Path(__file__).resolve().parents[1] / "fixtures" / "model_matrix"
