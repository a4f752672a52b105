"""Dates in a table: which values read as dates, and date columns as numbers.

Datetime columns become numbers with `expand_datetimes`. Which parts a column gets is decided
once, at training time, and then reused, so prediction sees exactly the training columns::

    parts = {name: datetime_parts(train[name]) for name in datetime_columns}   # store with model
    train_x = expand_datetimes(train, parts)
    new_x = expand_datetimes(new_rows, parts)   # same columns, even if new_rows have no times
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from pandas.api.types import (
    is_datetime64_any_dtype,
)

from nncore.data.values import names_text
from nncore.errors import DataError

DATETIME_PARTS = ("year", "month", "day", "dayofweek", "hour")
_ACCESSORS = {"dayofweek": "day_of_week"}  # Monday is 0
DATE_SHARE = 0.95  # share of values that must read as dates
# A value looks like a date when digits meet a date separator (2020-01-05, 05/01/2020,
# 05.01.2020) or a month name (5 Jan 2020, March 3, 2021). Times alone ("12:30") are not dates:
# reading them would stamp today's date on them, and results must not depend on the day.
_MONTH = r"(?:jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*\.?"
# Plain ASCII classes (no \s, \d or \b) let pyarrow's regex engine run this on whole columns.
_DATE_LOOK = (
    rf"[0-9][-/][0-9]|[0-9]\.[0-9]{{1,2}}\.[0-9]|[0-9] *{_MONTH}|(?:^|[^a-z]){_MONTH},? *[0-9]"
)


def date_share(text: pd.Series) -> float:
    """Share of `text` values (non-missing strings) that look like dates and parse as dates.

    Each distinct value is read once, weighted by how often it occurs: a category column holds
    a few values many times over.
    """
    if len(text) == 0:
        return 0.0
    codes, distinct = pd.factorize(text)
    counts = np.bincount(codes, minlength=len(distinct))
    distinct = pd.Series(np.asarray(distinct, dtype=object))
    if counts[pd.to_numeric(distinct, errors="coerce").notna().to_numpy()].sum() >= len(text) / 2:
        return 0.0  # plain numbers, not dates
    return float(counts[parse_dates(distinct).notna().to_numpy()].sum() / len(text))


def parse_dates(series: pd.Series) -> pd.Series:
    """Parse a column as naive datetimes; what is missing or not a date becomes NaT.

    Each distinct value is parsed once: ISO 8601 first (fast), then pandas' mixed formats for
    the rest (month first in 05/01/2020). Text with a UTC offset is converted to UTC; a column
    that already has a time zone keeps its local clock time. Values that do not look like dates,
    and dates before year 1000 (a date without a year), are NaT.
    """
    if is_datetime64_any_dtype(series.dtype):
        if getattr(series.dt, "tz", None) is not None:
            series = series.dt.tz_localize(None)
        return series.astype("datetime64[us]")
    codes, distinct = pd.factorize(series)
    text = pd.Series(np.asarray(distinct, dtype=object)).astype(str)
    looks = text.str.contains(_DATE_LOOK, case=False, regex=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        parsed = pd.to_datetime(text.where(looks), format="ISO8601", errors="coerce", utc=True)
        retry = looks & parsed.isna()
        if retry.any():
            parsed[retry] = pd.to_datetime(text[retry], format="mixed", errors="coerce", utc=True)
    parsed = parsed.dt.tz_localize(None).astype("datetime64[us]")
    parsed = parsed.where(parsed.dt.year >= 1000)
    table = np.append(parsed.to_numpy(), np.datetime64("NaT", "us"))
    return pd.Series(table[codes], index=series.index, name=series.name)  # code -1 -> NaT


def datetime_parts(series: pd.Series) -> tuple[str, ...]:
    """The parts to make of this date column: year, month, day, day of week, and the hour only
    when some value has a time of day. Decide this on the training data and keep it."""
    parsed = parse_dates(series).dropna()
    has_time = bool((parsed != parsed.dt.normalize()).any())
    return DATETIME_PARTS if has_time else DATETIME_PARTS[:-1]


def expand_datetimes(
    frame: pd.DataFrame, columns: Mapping[str, Sequence[str]] | Sequence[str]
) -> pd.DataFrame:
    """A copy of `frame` where each date column is replaced, in place, by float columns
    `f"{column}__{part}"` (values that are missing or not dates give NaN).

    `columns` maps each column to its parts, as `datetime_parts` chose them on the training
    data; pass the same mapping at prediction time to get the same columns. A plain list of
    names gives every part in DATETIME_PARTS, which is also stable between training and
    prediction.
    """
    if isinstance(columns, str):
        raise TypeError("expand_datetimes: pass a list of column names, not one string")
    parts = (
        {name: tuple(p) for name, p in columns.items()}
        if isinstance(columns, Mapping)
        else dict.fromkeys(columns, DATETIME_PARTS)
    )
    missing = [name for name in parts if name not in frame.columns]
    if missing:
        raise DataError(
            f"The data has no column {names_text(missing)}, which the model reads as dates. "
            f"Available columns: {names_text([str(c) for c in frame.columns])}."
        )
    for name, wanted in parts.items():
        unknown = [p for p in wanted if p not in DATETIME_PARTS]
        if unknown:
            raise ValueError(f"expand_datetimes: unknown parts {unknown} for {name!r}")

    out: dict[str, pd.Series] = {}
    for name in frame.columns:
        if name not in parts:
            out[name] = frame[name]
            continue
        dates = parse_dates(frame[name]).dt
        for part in parts[name]:
            out[f"{name}__{part}"] = getattr(dates, _ACCESSORS.get(part, part)).astype("float64")
    return pd.DataFrame(out, index=frame.index)
