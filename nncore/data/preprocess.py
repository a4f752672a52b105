"""Split the rows and turn the columns into the numbers a network trains on.

The split is shuffled and seeded (Keras' own `validation_split` takes the last rows of the file,
which on a sorted CSV gives a useless validation set) and stratified for classification. The
preprocessing is scikit-learn's: imputation, the user's choice of scaler, one-hot encoding; it is
fitted on the training rows only. What it learned is written into a `Schema`, which travels as
`schema.json` beside the model and from which `nncore.artifacts.export` builds the model's own
preprocessing layers, so that a saved model takes raw rows.
"""

from __future__ import annotations

import dataclasses
import re
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import MinMaxScaler, OneHotEncoder, RobustScaler, StandardScaler

from nncore import safejson
from nncore.config import DataSpec
from nncore.data.profile import ColumnPlan, datetime_parts, expand_datetimes
from nncore.errors import DataError

MISSING_CATEGORY = "(missing)"
SCHEMA_VERSION = 1
# Categories are the data's own text, which may be long; far inside, nothing a hostile file needs.
SCHEMA_BOUNDS = safejson.Bounds(text=100_000)

_SCALERS = {
    "standard": StandardScaler,
    "minmax": MinMaxScaler,
    "robust": RobustScaler,
}


@dataclass(frozen=True, slots=True)
class NumericInput:
    """A number the model takes: a numeric column, or one part of a date column."""

    name: str  # the Keras input's name
    column: str  # the column in the (date-expanded) frame
    fill: float  # the training median, used where the value is missing
    center: float  # scaled = (value - center) / scale
    scale: float
    minimum: float  # training range, for forms and checks
    maximum: float


@dataclass(frozen=True, slots=True)
class CategoricalInput:
    name: str
    column: str
    categories: tuple[str, ...]  # as text; anything else is an unknown category


@dataclass(frozen=True, slots=True)
class RawColumn:
    """A column of the uploaded file the model needs, with its role."""

    name: str
    role: str  # numeric | categorical | datetime
    dtype: str
    datetime_parts: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class TargetInfo:
    name: str
    task: str
    classes: tuple = ()
    # Regression with scale_target: the network learns (y - center) / scale.
    center: float = 0.0
    scale: float = 1.0


@dataclass(frozen=True, slots=True)
class Schema:
    """What a model expects and how raw rows become its inputs; saved as schema.json."""

    columns: tuple[RawColumn, ...]
    numeric: tuple[NumericInput, ...]
    categorical: tuple[CategoricalInput, ...]
    target: TargetInfo
    scaling: str
    version: int = SCHEMA_VERSION

    @property
    def input_names(self) -> tuple[str, ...]:
        return tuple(i.name for i in self.numeric) + tuple(i.name for i in self.categorical)

    @property
    def width(self) -> int:
        """The number of values one row becomes after one-hot encoding."""
        return len(self.numeric) + sum(len(c.categories) for c in self.categorical)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, data: str | bytes, name: str = "schema.json") -> Schema:
        """Read a schema file `name` holds, refusing a hostile or foreign one in one line."""
        advice = "Use the schema.json saved with the model."
        raw = safejson.loads(data, what=name, advice=advice, error=DataError, bounds=SCHEMA_BOUNDS)
        return cls.from_dict(raw)

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> Schema:
        try:
            if raw.get("version") != SCHEMA_VERSION:
                raise DataError(
                    f"schema.json has version {safejson.quote(raw.get('version'))}; this studio "
                    f"reads version {SCHEMA_VERSION}."
                )
            return cls(
                columns=tuple(
                    RawColumn(**{**c, "datetime_parts": tuple(c.get("datetime_parts", ()))})
                    for c in raw["columns"]
                ),
                numeric=tuple(NumericInput(**n) for n in raw["numeric"]),
                categorical=tuple(
                    CategoricalInput(**{**c, "categories": tuple(c["categories"])})
                    for c in raw["categorical"]
                ),
                target=TargetInfo(**{**raw["target"], "classes": tuple(raw["target"]["classes"])}),
                scaling=raw["scaling"],
                version=raw["version"],
            )
        except (KeyError, TypeError, AttributeError) as exc:
            raise DataError(
                f"schema.json is not a schema this studio wrote ({safejson.quote(exc)}); use the "
                "schema.json saved with the model."
            ) from None


@dataclass(frozen=True, slots=True)
class Split:
    """Row positions of each part; `note` says how the split was made, in plain words."""

    train: np.ndarray
    validation: np.ndarray
    test: np.ndarray
    stratified: bool
    note: str


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
    warnings: list[str] = field(default_factory=list)


def split_rows(
    y: pd.Series, task: str, validation_fraction: float, test_fraction: float, seed: int
) -> Split:
    """Shuffle and split the rows, stratified by class when every class has enough rows."""
    positions = np.arange(len(y))
    stratify = task != "regression"
    note = "shuffled with seed {seed}" + (", stratified by class" if stratify else "")
    if stratify:
        counts = y.value_counts()
        parts = 2 + (test_fraction > 0)
        smallest = counts.min()
        n_val = int(round(len(y) * validation_fraction))
        if smallest < parts or n_val < len(counts):
            stratify = False
            note = (
                "shuffled with seed {seed}; not stratified because class "
                f"{counts.idxmin()!r} has only {smallest} row{'s' if smallest != 1 else ''}"
            )
    labels = y.to_numpy() if stratify else None
    try:
        rest, test = (positions, positions[:0])
        if test_fraction > 0:
            rest, test = train_test_split(
                positions, test_size=test_fraction, random_state=seed, stratify=labels
            )
        relative = validation_fraction / (1 - test_fraction)
        train, val = train_test_split(
            rest,
            test_size=relative,
            random_state=seed,
            stratify=labels[rest] if labels is not None else None,
        )
    except ValueError as exc:
        raise DataError(
            f"Cannot split {len(y)} rows into training, validation and test parts ({exc}). "
            "Use a file with more rows or smaller validation and test fractions."
        ) from None
    return Split(
        train=np.sort(train),
        validation=np.sort(val),
        test=np.sort(test),
        stratified=stratify,
        note=note.format(seed=seed),
    )


def as_category_text(series: pd.Series) -> pd.Series:
    """Category values as text, missing kept missing; 1 and 1.0 both become "1".

    A numeric column read with missing values turns float, so the same category must not change
    its spelling between the training file and a prediction file.
    """
    if pd.api.types.is_bool_dtype(series):
        series = series.astype(object)
    if pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series):
        values = pd.to_numeric(series, errors="coerce")
        whole = values.notna() & np.isfinite(values) & (values == np.round(values))
        text = values.astype(object).where(~whole, values[whole].astype("int64"))
        return text.map(lambda v: str(v) if pd.notna(v) else np.nan).astype(object)
    return series.map(lambda v: str(v).strip() if pd.notna(v) else np.nan).astype(object)


def as_numbers(series: pd.Series) -> pd.Series:
    """Numbers as float64, anything unreadable or infinite as missing."""
    if pd.api.types.is_bool_dtype(series):
        series = series.astype(float)
    values = pd.to_numeric(series, errors="coerce").astype("float64")
    return values.where(np.isfinite(values))


def feature_frame(frame: pd.DataFrame, schema: Schema) -> pd.DataFrame:
    """The columns the model's inputs are made of, from raw rows, in the schema's types.

    Dates are expanded into their parts; numbers and categories get the same spelling as at
    training time. Missing values stay missing here (the transformer or `impute` fills them).
    """
    missing = [c.name for c in schema.columns if c.name not in frame.columns]
    if missing:
        raise DataError(
            f"The data lacks {len(missing)} column{'s' if len(missing) > 1 else ''} the model "
            f"needs: {', '.join(map(repr, missing))}. Add "
            f"{'them' if len(missing) > 1 else 'it'} (empty values are allowed); extra columns "
            "are ignored."
        )
    dates = {c.name: c.datetime_parts for c in schema.columns if c.role == "datetime"}
    expanded = expand_datetimes(frame[[c.name for c in schema.columns]], dates)
    out = {}
    for item in schema.numeric:
        out[item.column] = as_numbers(expanded[item.column])
    for item in schema.categorical:
        out[item.column] = as_category_text(expanded[item.column])
    return pd.DataFrame(out, index=frame.index)


def prepare(frame: pd.DataFrame, plan: ColumnPlan, spec: DataSpec, seed: int) -> Prepared:
    """Split `frame` by `plan` and fit the preprocessing on the training rows only."""
    frame = frame[frame[plan.target].notna()]
    y_raw = frame[plan.target]
    split = split_rows(y_raw, plan.task, spec.validation_fraction, spec.test_fraction, seed=seed)
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
    schema = _learned_schema(
        draft, transformer, numeric_columns, categorical_columns, target, ranges
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


# Beyond this a column's variance overflows float64 and float32 inputs turn infinite: the loss
# would become NaN with no word why.
HUGE = 1e30


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
    steps = [("impute", SimpleImputer(strategy="median", keep_empty_features=True))]
    if scaling != "none":
        steps.append(("scale", _SCALERS[scaling]()))
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
                )
            )
    return dataclasses.replace(
        draft, numeric=tuple(numeric_inputs), categorical=tuple(categorical_inputs), target=target
    )


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
    return TargetInfo(plan.target, "regression", (), center, scale)


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


def class_index(classes: tuple, value: Any) -> int | None:
    """Position of `value` among `classes`, compared as text; None if it is not a class."""
    keys = [_class_key(c) for c in classes]
    key = _class_key(value)
    return keys.index(key) if key in keys else None


def estimate_width(frame: pd.DataFrame, plan: ColumnPlan) -> int:
    """How many numbers one row becomes, before any split (the model page's live summary).

    The trained model may have a few inputs fewer: one-hot encoding learns its categories from
    the training rows only.
    """
    width = 0
    for column, role in plan.features:
        if role == "numeric":
            width += 1
        elif role == "datetime":
            width += len(datetime_parts(frame[column]))
        else:
            values = as_category_text(frame[column])
            width += values.nunique() + int(values.isna().any())
    return width
