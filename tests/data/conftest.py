"""Shared helpers for the data-stage tests: the datasets formulang ships."""

from __future__ import annotations

import pandas as pd
import pytest

from formulang import datasets


@pytest.fixture(scope="session")
def load():
    cache: dict[str, pd.DataFrame] = {}

    def _load(name: str) -> pd.DataFrame:
        if name not in cache:
            cache[name] = datasets.load(name)
        return cache[name].copy()

    return _load
