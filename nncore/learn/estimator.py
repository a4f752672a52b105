"""A trained network as a fitted scikit-learn estimator over raw columns, for scikit-learn's
inspection tools (`nncore.learn.explain`). `network` maps a DataFrame of raw columns to the
network's outputs: a value, the probability of the positive class, or one per class."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin

Predict = Callable[[pd.DataFrame], np.ndarray]


class NetworkRegressor(RegressorMixin, BaseEstimator):
    """A trained network as a fitted scikit-learn regressor over raw columns."""

    def __init__(self, network: Predict | None = None) -> None:
        self.network = network

    def fit(self, *_):
        return self

    def __sklearn_is_fitted__(self) -> bool:
        return True

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        return np.asarray(self.network(frame), dtype=float).reshape(-1)


class NetworkClassifier(ClassifierMixin, BaseEstimator):
    """A trained network as a fitted scikit-learn classifier over raw columns; its classes are
    the positions of the schema's classes."""

    def __init__(self, network: Predict | None = None, n_classes: int = 2) -> None:
        self.network = network
        self.n_classes = n_classes

    def fit(self, *_):
        return self

    def __sklearn_is_fitted__(self) -> bool:
        return True

    @property
    def classes_(self) -> np.ndarray:
        return np.arange(self.n_classes)

    def predict_proba(self, frame: pd.DataFrame) -> np.ndarray:
        output = np.asarray(self.network(frame), dtype=float)
        if self.n_classes == 2:
            positive = output.reshape(-1)
            return np.column_stack([1 - positive, positive])
        return output

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        return self.predict_proba(frame).argmax(axis=1)
