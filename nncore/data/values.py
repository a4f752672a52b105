"""How the profiling reads a column's values and speaks of them: the kind of values a column
holds, an even sample of them, its classes, and short text for messages."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from pandas.api.types import (
    infer_dtype,
    is_bool_dtype,
    is_datetime64_any_dtype,
    is_integer_dtype,
    is_numeric_dtype,
    is_object_dtype,
    is_string_dtype,
)

Label = str | int | float | bool
SAMPLE_SIZE = 5000  # values read per column by the date and free-text checks


def normalize_values(values: pd.Series) -> tuple[str, pd.Series]:
    """Classify a column as bool, number, datetime or text, converting odd dtypes.

    Object and category columns are read by what they hold; other unusual dtypes (timedelta,
    period, interval) are treated as text. Missing values stay missing.
    """
    dtype = values.dtype
    if is_bool_dtype(dtype):
        return "bool", values
    if isinstance(dtype, pd.CategoricalDtype) or is_object_dtype(dtype):
        values = values.astype(object)
        inferred = infer_dtype(values, skipna=True)
        if inferred == "boolean":
            return "bool", values.astype("boolean")
        if inferred in ("integer", "floating", "mixed-integer-float", "decimal"):
            return "number", pd.to_numeric(values)
        if inferred in ("datetime", "datetime64", "date"):
            return "datetime", pd.to_datetime(values, errors="coerce")
        if inferred == "string":
            return "text", values
        return "text", values.map(str, na_action="ignore")
    if is_numeric_dtype(dtype):
        return "number", values
    if is_datetime64_any_dtype(dtype):
        return "datetime", values
    if is_string_dtype(dtype):
        return "text", values
    return "text", values.map(str, na_action="ignore")


def sample_values(values: pd.Series) -> pd.Series:
    """At most SAMPLE_SIZE values, evenly spaced through the column (deterministic)."""
    if len(values) <= SAMPLE_SIZE:
        return values
    positions = np.linspace(0, len(values) - 1, SAMPLE_SIZE).round().astype(np.int64)
    return values.iloc[np.unique(positions)]


def distinct_classes(values: pd.Series) -> tuple[Label, ...]:
    distinct = values.unique()
    if is_integer_dtype(values.dtype):
        plain = [int(v) for v in distinct]
    elif is_bool_dtype(values.dtype):
        plain = [bool(v) for v in distinct]
    elif is_numeric_dtype(values.dtype):
        plain = [float(v) for v in distinct]
    else:
        plain = [str(v) for v in distinct]
    return tuple(sorted(plain))


def examples_of(values: pd.Series) -> tuple[str, ...]:
    """Up to 3 distinct values from the start of the column, as short text."""
    distinct = values.iloc[:1000].unique()  # in order of appearance
    return tuple(show_value(v) for v in distinct[pd.notna(distinct)][:3])


def show_value(value: object, width: int = 40) -> str:
    text = f"{value:.6g}" if isinstance(value, float | np.floating) else str(value)
    return text if len(text) <= width else text[: width - 1] + "…"


def pair_text(values: pd.Series) -> str:
    return "/".join(show_value(v) for v in sorted(distinct_classes(values)))


def label_text(value: object) -> str:
    return repr(value.item() if isinstance(value, np.generic) else value)


def list_text(items) -> str:
    return ", ".join(repr(i) if isinstance(i, str) else str(i) for i in items)


def names_text(names: Sequence[str], limit: int = 30) -> str:
    shown = ", ".join(repr(n) for n in names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")


def count_text(number: int, noun: str) -> str:
    return f"{number} {noun}{'' if number == 1 else 's'}"
