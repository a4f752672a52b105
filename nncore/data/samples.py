"""Small data sets to try the studio on, built from the ones scikit-learn ships (no downloads).

Each `Sample` says what it is in one line, which column to predict and which task that makes.
Class labels are text ("setosa", "malignant"), as they would be in an analyst's CSV.
`sample_csv` writes a sample as CSV bytes, so the app reads samples through the same CSV reader
as uploaded files and both paths give the same kind of frame.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from nncore.config import Task
from nncore.errors import DataError

if TYPE_CHECKING:  # the Data page lists the samples before anything needs pandas
    import pandas as pd


def _iris() -> pd.DataFrame:
    from sklearn.datasets import load_iris

    return _with_labels(load_iris(as_frame=True), "species")


def _wine() -> pd.DataFrame:
    from sklearn.datasets import load_wine

    return _with_labels(load_wine(as_frame=True), "cultivar")


def _breast_cancer() -> pd.DataFrame:
    from sklearn.datasets import load_breast_cancer

    return _with_labels(load_breast_cancer(as_frame=True), "diagnosis")


def _diabetes() -> pd.DataFrame:
    from sklearn.datasets import load_diabetes

    bunch = load_diabetes(as_frame=True, scaled=False)
    return bunch.frame.rename(columns={"target": "progression"})


def _with_labels(bunch, target: str) -> pd.DataFrame:
    """The bunch's features with its class codes replaced by their names, as text."""
    frame = bunch.data.copy()
    names = [str(name) for name in bunch.target_names]
    frame[target] = [names[code] for code in bunch.target]
    return frame


@dataclass(frozen=True, slots=True)
class Sample:
    """A bundled data set: what it is, what to predict and the task that makes."""

    name: str
    title: str
    description: str
    target: str
    task: Task
    build: Callable[[], pd.DataFrame]


SAMPLES: dict[str, Sample] = {
    sample.name: sample
    for sample in (
        Sample(
            "iris",
            "Iris flowers",
            "150 flowers measured in cm; predict which of 3 species each one is.",
            "species",
            "multiclass",
            _iris,
        ),
        Sample(
            "wine",
            "Wine",
            "178 Italian wines by chemical analysis; predict which of 3 cultivars made each.",
            "cultivar",
            "multiclass",
            _wine,
        ),
        Sample(
            "breast_cancer",
            "Breast cancer",
            "569 tumour scans with 30 cell measurements; predict malignant or benign.",
            "diagnosis",
            "binary",
            _breast_cancer,
        ),
        Sample(
            "diabetes",
            "Diabetes",
            "442 patients' age, sex, BMI, blood pressure and blood tests; predict disease "
            "progression a year later.",
            "progression",
            "regression",
            _diabetes,
        ),
    )
}


def _sample(name: str) -> Sample:
    try:
        return SAMPLES[name]
    except KeyError:
        raise DataError(
            f"There is no sample data set called {name!r}. Samples: {', '.join(SAMPLES)}."
        ) from None


def load_sample(name: str) -> pd.DataFrame:
    """A fresh copy of the sample `name` as a DataFrame, the target last."""
    return _sample(name).build()


@functools.cache
def sample_csv(name: str) -> bytes:
    """The sample `name` as UTF-8 CSV bytes with a header row and no index column."""
    return load_sample(name).to_csv(index=False).encode("utf-8")
