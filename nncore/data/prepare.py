"""Turn the columns into the numbers a network trains on.

The preprocessing is scikit-learn's: imputation, the user's choice of scaler, one-hot encoding;
it is fitted on the training rows only. What it learned is written into a `Schema`.
"""

from __future__ import annotations

import dataclasses
import re
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sklearn import preprocessing
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import MinMaxScaler, OneHotEncoder, RobustScaler, StandardScaler

from nncore import rules
from nncore.config import DataSpec
from nncore.data.dates import datetime_parts
from nncore.data.plan import ColumnPlan
from nncore.data.schema import (
    MISSING_CATEGORY,
    CategoricalInput,
    NumericInput,
    RawColumn,
    Schema,
    TargetInfo,
    as_numbers,
    decimals_of,
    feature_frame,
)
from nncore.data.split import Split, split_rows
from nncore.errors import DataError


@dataclass(slots=True)
class Prepared:
    """Model-ready arrays for each part of the split, and how they were made."""

    schema: Schema
    split: Split
    transformer: ColumnTransformer
    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray | None
    y_test: np.ndarray | None


def prepare(
    frame: pd.DataFrame, plan: ColumnPlan, spec: DataSpec, seed: int, split: Split | None = None
) -> Prepared:
    """Split `frame` by `plan` and fit the preprocessing on the training rows only.

    `split` gives the parts instead (positions among the rows that have a target), for a caller
    that chooses them itself: cross-validation holds out each fold as the test part.
    """
    frame = frame[frame[plan.target].notna()]
    y_raw = frame[plan.target]
    if split is None:
        split = split_rows(
            y_raw, plan.task, spec.validation_fraction, spec.test_fraction, seed=seed
        )
    if len(split.train) < 2:
        raise DataError(
            f"Only {len(split.train)} training row(s) are left after the split; a network needs "
            "more. Use a file with more rows or smaller validation and test fractions."
        )

    roles = dict(plan.features)
    date_columns = [c for c, r in roles.items() if r == "datetime"]
    train_rows = frame.iloc[split.train]
    dates = {c: datetime_parts(train_rows[c]) for c in date_columns}
    columns = tuple(
        RawColumn(name=c, role=r, dtype=str(frame[c].dtype), datetime_parts=dates.get(c, ()))
        for c, r in plan.features
    )
    numeric_columns = [c for c, r in plan.features if r == "numeric"] + [
        f"{c}__{part}" for c in date_columns for part in dates[c]
    ]
    categorical_columns = [c for c, r in plan.features if r == "categorical"]
    draft = Schema(
        columns=columns,
        numeric=tuple(NumericInput(c, c, 0.0, 0.0, 1.0, 0.0, 0.0) for c in numeric_columns),
        categorical=tuple(CategoricalInput(c, c, ()) for c in categorical_columns),
        target=TargetInfo(plan.target, plan.task, plan.classes),
        scaling=spec.scaling,
    )
    features = feature_frame(frame, draft)

    _refuse_huge_numbers(features, numeric_columns)
    transformer = _make_transformer(numeric_columns, categorical_columns, spec.scaling)
    with warnings.catch_warnings():
        # An all-missing training column is reported by the profile, not by sklearn's warning.
        warnings.simplefilter("ignore", UserWarning)
        x_train = transformer.fit_transform(features.iloc[split.train]).astype(np.float32)
        x_val = transformer.transform(features.iloc[split.validation]).astype(np.float32)
        x_test = (
            transformer.transform(features.iloc[split.test]).astype(np.float32)
            if len(split.test)
            else None
        )

    target = _target_info(y_raw.iloc[split.train], plan, spec)
    encode = _target_encoder(target)
    ranges = features.iloc[split.train][numeric_columns].agg(["min", "max"])
    commonest = {
        column: _most_common(features.iloc[split.train][column]) for column in categorical_columns
    }
    schema = _learned_schema(
        draft, transformer, numeric_columns, categorical_columns, target, ranges, commonest
    )
    if schema.width == 0:
        raise DataError(
            "No usable input is left after preprocessing (every feature column is empty in the "
            "training rows). Choose other feature columns."
        )
    return Prepared(
        schema=schema,
        split=split,
        transformer=transformer,
        x_train=x_train,
        y_train=encode(y_raw.iloc[split.train]),
        x_val=x_val,
        y_val=encode(y_raw.iloc[split.validation]),
        x_test=x_test,
        y_test=encode(y_raw.iloc[split.test]) if len(split.test) else None,
    )


HUGE = rules.NUMBER_MAGNITUDE.value()


def _refuse_huge_numbers(frame: pd.DataFrame, columns: list[str]) -> None:
    for column in columns:
        largest = frame[column].abs().max()
        if pd.notna(largest) and largest > HUGE:
            raise DataError(
                f"Column {column!r} holds a value of {largest:.3g}, too large to compute with. "
                "Rescale the column (for example to thousands or millions), remove those rows, "
                "or set the column to ignore."
            )


def _make_transformer(numeric: list[str], categorical: list[str], scaling: str):
    # The Data page tells these fills from `nncore.data.plan.FILLS`: change both together.
    steps = [("impute", SimpleImputer(strategy="median", keep_empty_features=True))]
    if scaling != "none":
        steps.append(("scale", getattr(preprocessing, rules.SCALERS[scaling].sklearn)()))
    parts = []
    if numeric:
        parts.append(("numeric", Pipeline(steps), numeric))
    if categorical:
        parts.append(
            (
                "categorical",
                Pipeline(
                    [
                        (
                            "impute",
                            SimpleImputer(strategy="constant", fill_value=MISSING_CATEGORY),
                        ),
                        (
                            "onehot",
                            OneHotEncoder(
                                handle_unknown="ignore", sparse_output=False, dtype=np.float32
                            ),
                        ),
                    ]
                ),
                categorical,
            )
        )
    return ColumnTransformer(parts, remainder="drop", sparse_threshold=0.0)


def _scaler_stats(scaler) -> tuple[np.ndarray, np.ndarray]:
    """(center, scale) such that the scaler computes (x - center) / scale."""
    if isinstance(scaler, StandardScaler):
        return scaler.mean_, scaler.scale_
    if isinstance(scaler, RobustScaler):
        return scaler.center_, scaler.scale_
    if isinstance(scaler, MinMaxScaler):
        # MinMaxScaler computes x * scale_ + min_.
        return -scaler.min_ / scaler.scale_, 1.0 / scaler.scale_
    raise TypeError(f"unexpected scaler {scaler!r}")  # pragma: no cover


def _learned_schema(
    draft: Schema,
    transformer: ColumnTransformer,
    numeric: list[str],
    categorical: list[str],
    target: TargetInfo,
    ranges: pd.DataFrame,
    commonest: dict[str, str],
) -> Schema:
    names = _input_names(numeric + categorical)
    numeric_inputs = []
    if numeric:
        pipe = transformer.named_transformers_["numeric"]
        imputer = pipe.named_steps["impute"]
        fills = imputer.statistics_
        center, scale = (np.zeros(len(numeric)), np.ones(len(numeric)))
        if "scale" in pipe.named_steps:
            center, scale = _scaler_stats(pipe.named_steps["scale"])
        for i, column in enumerate(numeric):
            numeric_inputs.append(
                NumericInput(
                    name=names[column],
                    column=column,
                    fill=float(fills[i]),
                    center=float(center[i]),
                    scale=float(scale[i]),
                    minimum=float(ranges.at["min", column]),
                    maximum=float(ranges.at["max", column]),
                )
            )
    categorical_inputs = []
    if categorical:
        encoder = transformer.named_transformers_["categorical"].named_steps["onehot"]
        for column, categories in zip(categorical, encoder.categories_, strict=True):
            categorical_inputs.append(
                CategoricalInput(
                    name=names[column],
                    column=column,
                    categories=tuple(str(c) for c in categories),
                    most_common=commonest[column],
                )
            )
    return dataclasses.replace(
        draft, numeric=tuple(numeric_inputs), categorical=tuple(categorical_inputs), target=target
    )


def _most_common(values: pd.Series) -> str:
    """The most common category of `values` (category text), the first in order among equals;
    missing counts as the category it becomes."""
    counts = values.fillna(MISSING_CATEGORY).value_counts()
    return str(min(counts.index[counts == counts.max()]))


def _input_names(columns: list[str]) -> dict[str, str]:
    """Keras input names for columns: the column name where Keras accepts it, else a safe one."""
    names, used = {}, set()
    for column in columns:
        base = re.sub(r"[^0-9A-Za-z_.\-]", "_", column).strip("_") or "column"
        name, n = base, 2
        while name in used:
            name, n = f"{base}_{n}", n + 1
        used.add(name)
        names[column] = name
    return names


def _target_info(y_train: pd.Series, plan: ColumnPlan, spec: DataSpec) -> TargetInfo:
    if plan.task != "regression":
        return TargetInfo(plan.target, plan.task, tuple(plan.classes))
    values = as_numbers(y_train)
    if values.isna().any():
        bad = y_train[values.isna()].iloc[0]
        raise DataError(
            f"The target {plan.target!r} is treated as a number to predict, but it holds "
            f"{bad!r}, which is not a number. Fix that value or choose a classification task."
        )
    center, scale = 0.0, 1.0
    if spec.scale_target:
        center, scale = float(values.mean()), float(values.std(ddof=0))
        if not np.isfinite(scale) or scale == 0:
            scale = 1.0
    return TargetInfo(plan.target, "regression", (), center, scale, decimals_of(values))


def _target_encoder(target: TargetInfo):
    """A function from target values to what the network trains on."""
    if target.task == "regression":
        return lambda y: ((as_numbers(y).to_numpy() - target.center) / target.scale).astype(
            np.float32
        )
    index = {_class_key(c): i for i, c in enumerate(target.classes)}

    def encode(y: pd.Series) -> np.ndarray:
        codes = y.map(lambda v: index.get(_class_key(v), -1)).to_numpy()
        if (codes < 0).any():
            unknown = y[codes < 0].iloc[0]
            raise DataError(
                f"The target holds {unknown!r}, which is not one of the classes "
                f"{list(target.classes)}."
            )
        return codes.astype(np.int32 if target.task == "multiclass" else np.float32)

    return encode


def _class_key(value: Any) -> str:
    """Classes compare by their text, so 1, 1.0 and "1" are one class."""
    if isinstance(value, float | np.floating) and float(value).is_integer():
        return str(int(value))
    if isinstance(value, bool | np.bool_):
        return str(bool(value))
    return str(value).strip()
