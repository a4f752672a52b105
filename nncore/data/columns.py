"""What each column of a table holds: `profile_columns` gives each column a kind (numeric,
categorical, boolean, datetime, identifier, constant, empty, text), a suggested role and a one-line
reason.

Deterministic and fast on large tables: counts cover whole columns, while the date and free-text
checks read an evenly spaced sample of at most `SAMPLE_SIZE` values.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from pandas.api.types import (
    is_integer_dtype,
)

from nncore.config import Role
from nncore.data.dates import (
    DATE_SHARE,
    date_share,
)
from nncore.data.values import (
    SAMPLE_SIZE,
    examples_of,
    names_text,
    normalize_values,
    pair_text,
    sample_values,
    show_value,
)
from nncore.errors import DataError
from nncore.rules import CATEGORY_LEVELS

Kind = Literal[
    "numeric", "categorical", "boolean", "datetime", "identifier", "constant", "empty", "text"
]
_THREADED_CELLS = 200_000  # profile columns in threads above this many cells ...
_THREADED_ROWS = 10_000  # ... in columns this long: on short ones threads only add overhead
MIN_IDENTIFIER_ROWS = 20  # below this, "a different value on every row" proves nothing
# Text codes (one word holding a digit: "CUST-397864343", "A17B", "2024/0017") that differ on
# this share of the rows, and on at least MIN_CODE_ROWS rows, are identifiers: as categories
# each would be seen about once, so a model could only learn the rows by heart.
CODE_UNIQUE_SHARE = 0.9
MIN_CODE_ROWS = 10
_CODE = r"\S*\d\S*"
MANY_CATEGORY_LEVELS = 50  # warn above this many categories
MAX_CATEGORY_LEVELS = CATEGORY_LEVELS.value()
INDEX_NAMES = ("Unnamed: 0", "", "index")
BOOLEAN_PAIRS = (
    frozenset({"true", "false"}),
    frozenset({"yes", "no"}),
    frozenset({"y", "n"}),
    frozenset({"t", "f"}),
    frozenset({"0", "1"}),
)
TEXT_IGNORED = "this studio learns from numbers and categories, not free text"


@dataclass(frozen=True, slots=True)
class ColumnProfile:
    """What one column holds, the role suggested for it and why."""

    name: str
    kind: Kind
    dtype: str  # pandas dtype as text
    missing: int  # count of missing values
    unique: int  # distinct non-missing values
    role: Role  # suggested role
    reason: str  # one plain line: why this kind and role
    examples: tuple[str, ...]  # up to 3 example values as text


def profile_columns(frame: pd.DataFrame) -> list[ColumnProfile]:
    """Profile every column of `frame`, in order."""
    duplicated = sorted({str(c) for c in frame.columns[frame.columns.duplicated()]})
    if duplicated:
        raise DataError(
            f"Column names must be unique, but {names_text(duplicated)} appear more than once. "
            "Rename the columns in the CSV so each name is used once."
        )
    columns = [(str(name), frame.iloc[:, i]) for i, name in enumerate(frame.columns)]
    if frame.size < _THREADED_CELLS or len(frame) < _THREADED_ROWS:
        return [_profile(name, series) for name, series in columns]
    # numpy's sort and Arrow's kernels release the GIL, so columns profile side by side.
    with ThreadPoolExecutor(max_workers=min(len(columns), os.cpu_count() or 1)) as pool:
        return list(pool.map(lambda column: _profile(*column), columns))


def _profile(name: str, series: pd.Series) -> ColumnProfile:
    rows = len(series)
    present = series.notna()
    count = int(present.sum())
    missing = rows - count
    nonnull = series[present] if missing else series
    unique = _count_unique(nonnull)
    examples = examples_of(nonnull)

    def made(kind: Kind, role: Role, reason: str) -> ColumnProfile:
        return ColumnProfile(name, kind, str(series.dtype), missing, unique, role, reason, examples)

    if count == 0:
        return made("empty", "ignore", "empty: every value is missing")
    if unique == 1:
        return made("constant", "ignore", f"constant: always {show_value(nonnull.iloc[0])!r}")
    if name in INDEX_NAMES and unique == count:
        return made("identifier", "ignore", f"pandas index written out: {', '.join(examples)}, …")

    value_kind, values = normalize_values(nonnull)
    if value_kind == "bool":
        return made("boolean", "categorical", f"boolean: two values, {pair_text(values)}")
    if value_kind == "datetime":
        return made("datetime", "datetime", "datetime: a date column")
    if value_kind == "number":
        return _profile_numbers(values, unique, rows, made)
    return _profile_text(values, unique, made)


def _count_unique(values: pd.Series) -> int:
    """Distinct values (none missing); -0.0 and 0.0 count once, as in `nunique`.

    For a million numbers, Arrow's hash kernel takes 5 ms where they hold 7,191 values and 35
    ms where 224,000, but 66 ms where 373,000 and 102 ms where nearly all differ; sorting takes
    53 ms whatever they hold. An evenly spaced sample tells which to use: when 1.5% of its values
    repeat, the column has a quarter of a million distinct values or fewer.
    """
    if not (isinstance(values.dtype, np.dtype) and values.dtype.kind in "iuf"):
        return int(values.nunique())
    array = values.to_numpy()
    sample = array[:: max(1, len(array) // SAMPLE_SIZE)]
    if len(pd.unique(sample)) < 0.985 * len(sample):
        if array.dtype.kind == "f":
            array = array + 0.0  # -0.0 becomes 0.0, which Arrow would count apart
        return int(pc.count_distinct(pa.array(array)).as_py())
    ordered = np.sort(array)
    return int(len(ordered) > 0) + int(np.count_nonzero(ordered[1:] != ordered[:-1]))


def _profile_numbers(values: pd.Series, unique: int, rows: int, made) -> ColumnProfile:
    if unique == 2 and set(values.unique().tolist()) == {0, 1}:
        return made("boolean", "categorical", "boolean: two values, 0/1")
    whole = is_integer_dtype(values.dtype)
    if whole and unique == len(values) >= MIN_IDENTIFIER_ROWS:
        low, high = values.min(), values.max()
        if unique == rows and (low, high) == (0, rows - 1):
            return made("identifier", "ignore", "pandas index written out: 0, 1, 2, …")
        if unique == rows and (low, high) == (1, rows):
            return made("identifier", "ignore", "row numbers: 1, 2, 3, …")
        return made("identifier", "ignore", "identifier: a different whole number on every row")
    numbers = "whole numbers" if whole else "numbers"
    return made("numeric", "numeric", f"numeric: {numbers}, {unique} distinct values")


def _profile_text(values: pd.Series, unique: int, made) -> ColumnProfile:
    count = len(values)
    if unique == 2:
        pair = frozenset(str(v).strip().lower() for v in values.unique())
        if pair in BOOLEAN_PAIRS:
            return made("boolean", "categorical", f"boolean: two values, {pair_text(values)}")
    sample = sample_values(values).astype(str)
    if date_share(sample) >= DATE_SHARE:
        return made("datetime", "datetime", "datetime: text that reads as dates")
    long = sample.str.len().mean() > 30 or sample.str.count(" ").mean() >= 3
    varied = unique >= MIN_IDENTIFIER_ROWS and (
        unique >= 0.5 * count or unique > MAX_CATEGORY_LEVELS
    )
    if long and varied:
        return made("text", "ignore", f"free text: long varied strings; {TEXT_IGNORED}")
    if unique == count >= MIN_IDENTIFIER_ROWS:
        return made("identifier", "ignore", "identifier: a different value on every row")
    if (
        unique >= max(CODE_UNIQUE_SHARE * count, MIN_CODE_ROWS)
        and sample.str.fullmatch(_CODE).all()
    ):
        rows = "every row" if unique == count else f"{unique} of {count} rows"
        return made("identifier", "ignore", f"identifier: a different code on {rows}")
    if unique > MAX_CATEGORY_LEVELS:
        return made(
            "categorical",
            "ignore",
            f"too many categories: {unique} distinct values, more than the "
            f"{MAX_CATEGORY_LEVELS} one-hot encoding allows",
        )
    return made("categorical", "categorical", f"categorical: text with {unique} distinct values")
