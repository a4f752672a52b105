"""What a fitted preprocessing learned, as the `Schema` that travels as `schema.json` beside the
model (from which `nncore.artifacts.export` builds the model's own preprocessing layers, so that a
saved model takes raw rows), and raw rows read into the schema's types. No scikit-learn here: the
pages read schemas."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from nncore import safejson
from nncore.data.dates import expand_datetimes
from nncore.errors import DataError

MISSING_CATEGORY = "(missing)"
SCHEMA_VERSION = 1
MAX_DECIMALS = 6
MAX_RESIDUALS = 1000  # validation errors kept for prediction intervals, at most
# A binary model labels a row positive from this probability of the positive class on, until
# someone chooses another (schema files written before thresholds existed read as this).
DEFAULT_THRESHOLD = 0.5
# Categories are the data's own text, which may be long; far inside, nothing a hostile file needs.
SCHEMA_BOUNDS = safejson.Bounds(text=100_000)


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
    # How the training rows spread, for the drift check when scoring (`nncore.data.drift`):
    # the cut points between their deciles, the share of rows between each pair (one more than
    # the cut points) and the share missing. Schema files written before they existed have none.
    edges: tuple[float, ...] = ()
    shares: tuple[float, ...] = ()
    missing: float = 0.0


@dataclass(frozen=True, slots=True)
class CategoricalInput:
    name: str
    column: str
    categories: tuple[str, ...]  # as text; anything else is an unknown category
    # The most common in the training rows: a form's default (schema files written before it
    # existed have none).
    most_common: str | None = None
    # The share of training rows in each of `categories`, for the drift check (none in schema
    # files written before it existed).
    shares: tuple[float, ...] = ()


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
    # Regression: the decimals the training values are written with (up to MAX_DECIMALS; None
    # beyond), so a prediction is shown as precisely as the target is, not more.
    decimals: int | None = None

    def format(self, value: float) -> str:
        """A predicted number as the target's values are written: 1,235 for whole prices."""
        return f"{value:,.{self.decimals}f}" if self.decimals is not None else f"{value:,.6g}"


@dataclass(frozen=True, slots=True)
class Residuals:
    """A regression model's absolute errors on its validation rows, in the target's units, from
    which split conformal prediction gives an interval of any coverage."""

    count: int  # validation rows
    # The sorted errors at ranks ceil(count * i / len) for i = 1..len: every error when there
    # are at most MAX_RESIDUALS, else evenly spaced order statistics (schema.json stays small).
    quantiles: tuple[float, ...]

    @classmethod
    def of(cls, y_true, y_pred) -> Residuals:
        errors = np.sort(np.abs(np.ravel(y_true).astype(float) - np.ravel(y_pred)))
        errors = errors[np.isfinite(errors)]
        n, kept = len(errors), min(len(errors), MAX_RESIDUALS)
        ranks = np.ceil(n * np.arange(1, kept + 1) / kept).astype(int)
        return cls(count=n, quantiles=tuple(float(e) for e in errors[ranks - 1]))

    @property
    def highest_coverage(self) -> float:
        """Beyond this, `count` rows cannot bound an interval: (n + 1) * coverage > n."""
        return self.count / (self.count + 1)

    def half_width(self, coverage: float) -> float:
        """The interval's half width for `coverage`: the ceil((n + 1) * coverage)-th smallest
        error (split conformal), or the next kept one above it (a slightly wider interval)."""
        number = isinstance(coverage, int | float) and not isinstance(coverage, bool)
        if not (number and math.isfinite(coverage) and 0 < coverage < 1):
            raise DataError(
                f"The interval's coverage must be a number between 0 and 1, got "
                f"{safejson.quote(coverage)}. Pick one such as 0.9."
            )
        rank = math.ceil((self.count + 1) * coverage - 1e-9)  # 1e-9: 0.9 * 100 is 90.00000001
        if rank > self.count:
            most = math.floor(self.highest_coverage * 1000) / 1000
            raise DataError(
                f"A coverage of {coverage:g} needs more than the {self.count:,} validation rows "
                f"this model was checked on; pick at most {most:g}."
            )
        kept = len(self.quantiles)
        return self.quantiles[(rank - 1) * kept // self.count]


@dataclass(frozen=True, slots=True)
class Schema:
    """What a model expects and how raw rows become its inputs; saved as schema.json."""

    columns: tuple[RawColumn, ...]
    numeric: tuple[NumericInput, ...]
    categorical: tuple[CategoricalInput, ...]
    target: TargetInfo
    scaling: str
    version: int = SCHEMA_VERSION
    # Binary only: the probability of the positive class (the second of `target.classes`) from
    # which a row is labelled positive. Chosen after training; saved here so that every place
    # that labels rows with this model decides the same way.
    threshold: float = DEFAULT_THRESHOLD
    # Regression: the validation errors prediction intervals come from (None in schema files
    # written before them, and until the training ends).
    residuals: Residuals | None = None
    # The training rows the inputs' spreads (`NumericInput.shares`...) were counted on; 0 in
    # schema files written before them.
    training_rows: int = 0

    def __post_init__(self) -> None:
        check_threshold(self.threshold)

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
                numeric=tuple(
                    NumericInput(
                        **{
                            **n,
                            "edges": tuple(n.get("edges", ())),
                            "shares": tuple(n.get("shares", ())),
                        }
                    )
                    for n in raw["numeric"]
                ),
                categorical=tuple(
                    CategoricalInput(
                        **{
                            **c,
                            "categories": tuple(c["categories"]),
                            "shares": tuple(c.get("shares", ())),
                        }
                    )
                    for c in raw["categorical"]
                ),
                target=TargetInfo(**{**raw["target"], "classes": tuple(raw["target"]["classes"])}),
                scaling=raw["scaling"],
                version=raw["version"],
                threshold=raw.get("threshold", DEFAULT_THRESHOLD),
                residuals=_residuals(raw.get("residuals")),
                training_rows=int(raw.get("training_rows", 0)),
            )
        except (KeyError, TypeError, AttributeError) as exc:
            raise DataError(
                f"schema.json is not a schema this studio wrote ({safejson.quote(exc)}); use the "
                "schema.json saved with the model."
            ) from None


def _residuals(raw: dict | None) -> Residuals | None:
    if raw is None:
        return None
    residuals = Residuals(count=int(raw["count"]), quantiles=tuple(map(float, raw["quantiles"])))
    if not (1 <= len(residuals.quantiles) <= min(residuals.count, MAX_RESIDUALS)):
        raise TypeError("residuals do not match their count")
    return residuals


def check_threshold(value: object) -> None:
    """Refuse a decision threshold that is not a number strictly between 0 and 1, in one line."""
    number = isinstance(value, int | float) and not isinstance(value, bool)
    if not (number and math.isfinite(value) and 0 < value < 1):
        raise DataError(
            f"The decision threshold must be a number between 0 and 1 (0 and 1 excluded), got "
            f"{safejson.quote(value)}. Pick a probability such as 0.3."
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


def decimals_of(values) -> int | None:
    """The fewest decimals that write every one of `values` exactly; None beyond MAX_DECIMALS."""
    numbers = np.asarray(values, dtype=float)
    numbers = numbers[np.isfinite(numbers)]
    for decimals in range(MAX_DECIMALS + 1):
        # A tolerance relative to the value: 0.1 + 0.2 is 0.3 to one decimal.
        if np.allclose(numbers, np.round(numbers, decimals), rtol=1e-9, atol=0):
            return decimals
    return None


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
        by_case = {str(c).casefold(): str(c) for c in frame.columns}
        near = [
            f"{name!r} (the data has {by_case[name.casefold()]!r})"
            for name in missing
            if name.casefold() in by_case
        ]
        hint = f" Did you mean {', '.join(near)}? Names must match, case included." if near else ""
        raise DataError(
            f"The data lacks {len(missing)} column{'s' if len(missing) > 1 else ''} the model "
            f"needs: {', '.join(map(repr, missing))}.{hint} Add or rename "
            f"{'them' if len(missing) > 1 else 'it'} (empty values are allowed); extra columns "
            "are ignored."
        )
    dates = {c.name: c.datetime_parts for c in schema.columns if c.role == "datetime"}
    expanded = expand_datetimes(frame[[c.name for c in schema.columns]], dates)
    numeric = [item.column for item in schema.numeric]
    # Columns already held as numbers convert as one block: per column, pandas' overhead is
    # most of the cost of a wide table.
    plain = [c for c in numeric if expanded[c].dtype.kind in "iuf"]
    with np.errstate(invalid="ignore"):
        block = expanded[plain].to_numpy(dtype="float64", na_value=np.nan, copy=True)
    block[~np.isfinite(block)] = np.nan
    converted = dict(zip(plain, block.T, strict=True))
    out = {}
    for column in numeric:
        out[column] = converted[column] if column in converted else as_numbers(expanded[column])
    for item in schema.categorical:
        out[item.column] = as_category_text(expanded[item.column])
    return pd.DataFrame(out, index=frame.index)
