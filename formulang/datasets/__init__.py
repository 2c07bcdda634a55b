"""Small real datasets shipped with formulang, so every example runs offline.

>>> from formulang import datasets
>>> "radon" in datasets.names()
True
>>> df = datasets.load("sleepstudy")
>>> df.shape, list(df["Subject"].cat.categories[:3])
((180, 3), ['308', '309', '310'])

Factor columns come back as pandas Categoricals with R's level order (the first level is the
reference level of treatment contrasts), so fits match lme4 and brms. Origins:

- ``radon``: Minnesota radon survey (Gelman & Hill, ARM data ``srrs2.dat`` + ``cty.dat``),
  919 houses in 85 counties; ``log_radon = log(activity + 0.1)``, county-level
  ``log_uranium``.
- ``nels88``: NELS-88 10-school, 260-student subset (Kreft & de Leeuw), math ~ homework.
- ``sleepstudy``, ``cbpp``, ``Penicillin``, ``Pastes``, ``Dyestuff``, ``grouseticks``,
  ``VerbAgg``: from the R package lme4 1.1-31 (sources: Belenky et al. 2003; Lesnoff et al.
  2004; Davies & Goldsmith 1972; Elston et al. 2001; De Boeck & Wilson 2004).
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources

import pandas as pd

from ..errors import FormulangError


@dataclass(frozen=True)
class DatasetInfo:
    name: str
    description: str
    factors: tuple[str, ...] = ()  # categorical columns, levels sorted (numbers numerically)
    appearance_order: tuple[str, ...] = ()  # categorical columns, levels in file order
    example: str = ""
    family: str = "gaussian"


DATASETS: dict[str, DatasetInfo] = {
    d.name: d
    for d in [
        DatasetInfo("radon", "Minnesota household radon: 919 houses in 85 counties",
                    example="log_radon ~ floor + (1 + floor | county)"),
        DatasetInfo("sleepstudy", "reaction times under sleep deprivation: 18 subjects x 10 days",
                    factors=("Subject",), example="Reaction ~ Days + (Days | Subject)"),
        DatasetInfo("cbpp", "contagious bovine pleuropneumonia: 15 herds over 4 periods",
                    factors=("herd", "period"),
                    example="incidence | trials(size) ~ period + (1 | herd)", family="binomial"),
        DatasetInfo("Penicillin", "penicillin assay: 24 plates crossed with 6 samples",
                    factors=("plate", "sample"),
                    example="diameter ~ 1 + (1 | plate) + (1 | sample)"),
        DatasetInfo("Pastes", "paste strength: 3 casks nested in each of 10 batches",
                    factors=("batch", "cask", "sample"),
                    example="strength ~ 1 + (1 | batch/cask)"),
        DatasetInfo("Dyestuff", "dyestuff yield: 6 batches x 5 preparations",
                    factors=("Batch",), example="Yield ~ 1 + (1 | Batch)"),
        DatasetInfo("grouseticks", "ticks on red grouse chicks: 403 chicks, 118 broods",
                    factors=("INDEX", "BROOD", "YEAR", "LOCATION"),
                    example="TICKS ~ YEAR + scale(HEIGHT) + (1 | BROOD) + (1 | LOCATION)",
                    family="poisson"),
        DatasetInfo("nels88", "NELS-88 subset: 260 students in 10 schools",
                    example="math ~ homework + (1 + homework | schid)"),
        DatasetInfo("VerbAgg", "verbal aggression item responses: 316 persons x 24 items",
                    factors=("Gender", "id", "btype", "situ", "r2", "resp"),
                    appearance_order=("item", "mode"),
                    example="r2 ~ Anger + Gender + btype + situ + (1 | id) + (1 | item)",
                    family="bernoulli"),
    ]
}


def names() -> list[str]:
    """Names of the shipped datasets."""
    return list(DATASETS)


def info(name: str) -> DatasetInfo:
    try:
        return DATASETS[name]
    except KeyError:
        raise FormulangError(f"unknown dataset '{name}'; shipped datasets: "
                             f"{', '.join(DATASETS)}") from None


def _sorted_levels(values: pd.Series) -> list[str]:
    labels = values.dropna().unique().tolist()
    try:
        return sorted(labels, key=float)
    except ValueError:
        return sorted(labels)


def load(name: str) -> pd.DataFrame:
    """Load a shipped dataset as a new DataFrame (yours to modify)."""
    meta = info(name)
    categorical = meta.factors + meta.appearance_order
    path = resources.files(__name__).joinpath("data", f"{name}.csv")
    with path.open("r", encoding="utf-8") as fh:
        df = pd.read_csv(fh, dtype={c: str for c in categorical})
    for col in meta.factors:
        df[col] = pd.Categorical(df[col], categories=_sorted_levels(df[col]))
    for col in meta.appearance_order:
        df[col] = pd.Categorical(df[col], categories=list(df[col].dropna().unique()))
    return df


__all__ = ["DATASETS", "DatasetInfo", "info", "load", "names"]
