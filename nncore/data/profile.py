"""Look at a table before learning from it: what each column holds, what to predict, what to use.

`profile_columns` gives each column a kind (numeric, categorical, boolean, datetime, identifier,
constant, empty, text), a suggested role and a one-line reason. `infer_task` reads the target and
decides between regression, binary and multiclass, refusing targets nothing can be learned from.
`plan_columns` combines both with the user's role overrides into the columns a model will use,
the ones it leaves out (each with why) and plain-words warnings.

Datetime columns become numbers with `expand_datetimes`. Which parts a column gets is decided
once, at training time, and then reused, so prediction sees exactly the training columns::

    parts = {name: datetime_parts(train[name]) for name in datetime_columns}   # store with model
    train_x = expand_datetimes(train, parts)
    new_x = expand_datetimes(new_rows, parts)   # same columns, even if new_rows have no times

Everything here is deterministic and fast on large tables: counts cover whole columns, while the
date and free-text checks read an evenly spaced sample of at most `SAMPLE_SIZE` values.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from pandas.api.types import (
    infer_dtype,
    is_bool_dtype,
    is_datetime64_any_dtype,
    is_integer_dtype,
    is_numeric_dtype,
    is_object_dtype,
    is_string_dtype,
)

from nncore.config import TASKS, DataSpec, Role, Task
from nncore.errors import ConfigError, DataError

Kind = Literal[
    "numeric", "categorical", "boolean", "datetime", "identifier", "constant", "empty", "text"
]
Label = str | int | float | bool

DATETIME_PARTS = ("year", "month", "day", "dayofweek", "hour")
_ACCESSORS = {"dayofweek": "day_of_week"}  # Monday is 0

SAMPLE_SIZE = 5000  # values read per column by the date and free-text checks
_THREADED_CELLS = 200_000  # profile columns in threads above this many cells
MIN_IDENTIFIER_ROWS = 20  # below this, "a different value on every row" proves nothing
MANY_CATEGORY_LEVELS = 50  # warn above this many categories
MAX_CATEGORY_LEVELS = 1000  # refuse to one-hot encode more categories than this
MAX_INTEGER_CLASSES = 10  # whole-number targets with at most this many values are classes
MAX_CLASSES = 200  # no classification target with more classes than this
DATE_SHARE = 0.95  # share of values that must read as dates
LEAK_CORRELATION = 0.98  # |Pearson r| from which a numeric feature nearly copies the target
LEAK_PURITY = 0.99  # share of rows whose target follows the feature's value
RARE_CLASS_SHARE = 0.10  # a class below this share of rows is rare
ROWS_PER_INPUT = 10  # fewer training rows than this per model input invite overfitting

INDEX_NAMES = ("Unnamed: 0", "", "index")
BOOLEAN_PAIRS = (
    frozenset({"true", "false"}),
    frozenset({"yes", "no"}),
    frozenset({"y", "n"}),
    frozenset({"t", "f"}),
    frozenset({"0", "1"}),
)
TEXT_IGNORED = "this studio learns from numbers and categories, not free text"

# A value looks like a date when digits meet a date separator (2020-01-05, 05/01/2020,
# 05.01.2020) or a month name (5 Jan 2020, March 3, 2021). Times alone ("12:30") are not dates:
# reading them would stamp today's date on them, and results must not depend on the day.
_MONTH = r"(?:jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*\.?"
# Plain ASCII classes (no \s, \d or \b) let pyarrow's regex engine run this on whole columns.
_DATE_LOOK = (
    rf"[0-9][-/][0-9]|[0-9]\.[0-9]{{1,2}}\.[0-9]|[0-9] *{_MONTH}|(?:^|[^a-z]){_MONTH},? *[0-9]"
)


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


@dataclass(frozen=True, slots=True)
class TaskGuess:
    """The task read from a target, why, and its classes (empty for regression)."""

    task: Task
    reason: str
    # Sorted plain Python values; for binary, classes[1] is the positive class (Yes, True, 1).
    classes: tuple[Label, ...]


@dataclass(frozen=True, slots=True)
class ColumnPlan:
    """Which columns a model learns from, which it leaves out and what to watch for."""

    target: str
    task: Task
    task_reason: str
    classes: tuple[Label, ...]
    features: tuple[tuple[str, Role], ...]  # used columns with their role, in the frame's order
    excluded: tuple[tuple[str, str], ...]  # (column, reason) for every unused non-target column
    warnings: tuple[str, ...]
    rows_with_missing_target: int  # these rows are dropped for training


# --------------------------------------------------------------------------------- profiling


def profile_columns(frame: pd.DataFrame) -> list[ColumnProfile]:
    """Profile every column of `frame`, in order."""
    duplicated = sorted({str(c) for c in frame.columns[frame.columns.duplicated()]})
    if duplicated:
        raise DataError(
            f"Column names must be unique, but {_names(duplicated)} appear more than once. "
            "Rename the columns in the CSV so each name is used once."
        )
    columns = [(str(name), frame.iloc[:, i]) for i, name in enumerate(frame.columns)]
    if frame.size < _THREADED_CELLS:
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
    examples = _examples(nonnull)

    def made(kind: Kind, role: Role, reason: str) -> ColumnProfile:
        return ColumnProfile(name, kind, str(series.dtype), missing, unique, role, reason, examples)

    if count == 0:
        return made("empty", "ignore", "empty: every value is missing")
    if unique == 1:
        return made("constant", "ignore", f"constant: always {_show(nonnull.iloc[0])!r}")
    if name in INDEX_NAMES and unique == count:
        return made("identifier", "ignore", f"pandas index written out: {', '.join(examples)}, …")

    value_kind, values = _normalize(nonnull)
    if value_kind == "bool":
        return made("boolean", "categorical", f"boolean: two values, {_pair(values)}")
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
            return made("boolean", "categorical", f"boolean: two values, {_pair(values)}")
    sample = _sample(values).astype(str)
    if _date_share(sample) >= DATE_SHARE:
        return made("datetime", "datetime", "datetime: text that reads as dates")
    long = sample.str.len().mean() > 30 or sample.str.count(" ").mean() >= 3
    varied = unique >= MIN_IDENTIFIER_ROWS and (
        unique >= 0.5 * count or unique > MAX_CATEGORY_LEVELS
    )
    if long and varied:
        return made("text", "ignore", f"free text: long varied strings; {TEXT_IGNORED}")
    if unique == count >= MIN_IDENTIFIER_ROWS:
        return made("identifier", "ignore", "identifier: a different value on every row")
    if unique > MAX_CATEGORY_LEVELS:
        return made(
            "categorical",
            "ignore",
            f"too many categories: {unique} distinct values, more than the "
            f"{MAX_CATEGORY_LEVELS} one-hot encoding allows",
        )
    return made("categorical", "categorical", f"categorical: text with {unique} distinct values")


def _normalize(values: pd.Series) -> tuple[str, pd.Series]:
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


def _sample(values: pd.Series) -> pd.Series:
    """At most SAMPLE_SIZE values, evenly spaced through the column (deterministic)."""
    if len(values) <= SAMPLE_SIZE:
        return values
    positions = np.linspace(0, len(values) - 1, SAMPLE_SIZE).round().astype(np.int64)
    return values.iloc[np.unique(positions)]


def _date_share(text: pd.Series) -> float:
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
    return float(counts[_parse_dates(distinct).notna().to_numpy()].sum() / len(text))


def _parse_dates(series: pd.Series) -> pd.Series:
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


# ------------------------------------------------------------------------------------ task


def infer_task(target: pd.Series, override: str = "auto") -> TaskGuess:
    """Read the task from the target's values, or check that `override` can work on them."""
    if override != "auto" and override not in TASKS:
        raise ConfigError(
            f"data: task {override!r} is not one of auto, {', '.join(TASKS)}; "
            "use auto to let the studio decide."
        )
    name = str(target.name)
    values = target.dropna()
    if len(values) == 0:
        raise DataError(
            f"The target {name!r} has no values: every row is missing. "
            "Pick another column to predict."
        )
    unique = int(values.nunique())
    if unique == 1:
        raise DataError(
            f"The target {name!r} has the same value ({_show(values.iloc[0])!r}) on every row, "
            "so there is nothing to learn. Pick another column to predict."
        )
    value_kind, values = _normalize(values)
    if value_kind == "datetime":
        raise DataError(
            f"The target {name!r} holds dates, but this studio predicts numbers or categories. "
            "Pick another column, or turn the dates into a number (such as days since a start "
            "date) in the CSV."
        )
    if value_kind == "text":
        _refuse_varied_text_target(name, values, unique)
    numeric = value_kind == "number"

    if override == "regression":
        if not numeric:
            held = "true/false values" if value_kind == "bool" else "text"
            raise DataError(
                f"The target {name!r} holds {held} ({_list(_examples(values))}), not numbers, "
                "so it cannot be a regression target: regression predicts numbers. "
                "Choose binary or multiclass, or auto to let the studio decide."
            )
        reason = f"regression, as chosen: numbers with {unique} distinct values"
        return TaskGuess("regression", reason, ())

    classes = _classes(values) if unique <= MAX_CLASSES else ()
    if override == "binary":
        if unique != 2:
            more = ", …" if unique > 5 else ""
            shown = f" ({_list(classes[:5])}{more})" if classes else ""
            others = "multiclass or regression" if numeric else "multiclass"
            raise DataError(
                f"The target {name!r} has {unique} distinct values{shown}, but binary needs "
                f"exactly two. Choose {others}, or auto to let the studio decide."
            )
        return TaskGuess(
            "binary", f"binary, as chosen: 2 distinct values, {_pair(values)}", classes
        )
    if override == "multiclass":
        if unique > MAX_CLASSES:
            raise DataError(
                f"The target {name!r} has {unique} distinct values, but a model can learn at "
                f"most {MAX_CLASSES} classes. Choose regression to predict it as a number, "
                "or auto to let the studio decide."
            )
        return TaskGuess("multiclass", f"multiclass, as chosen: {unique} distinct values", classes)

    if unique == 2:
        return TaskGuess("binary", f"binary: 2 distinct values, {_pair(values)}", classes)
    if not numeric:
        return TaskGuess("multiclass", f"multiclass: {unique} distinct text values", classes)
    if (
        unique <= MAX_INTEGER_CLASSES
        and 2 * unique <= len(values)
        and all(float(c).is_integer() for c in classes)
    ):
        return TaskGuess("multiclass", f"multiclass: {unique} distinct whole numbers", classes)
    return TaskGuess("regression", f"regression: numbers with {unique} distinct values", ())


def _refuse_varied_text_target(name: str, values: pd.Series, unique: int) -> None:
    count = len(values)
    if unique <= MAX_CLASSES and not (unique >= MIN_IDENTIFIER_ROWS and 2 * unique > count):
        return
    sample = _sample(values)
    numbers = pd.to_numeric(sample, errors="coerce")
    if numbers.notna().mean() >= 0.9:
        bad = sample[numbers.isna()]
        raise DataError(
            f"The target {name!r} is mostly numbers, but some values are not numbers (such as "
            f"{_list(_examples(bad))}), so it was read as text with {unique} distinct values. "
            "Make every value a number, or leave the cell empty where it is unknown, to "
            "predict it as a regression."
        )
    raise DataError(
        f"The target {name!r} has {unique} different text values in {count} rows, so it looks "
        "like an identifier or free text, not categories to predict. Pick another column to "
        "predict."
    )


def _classes(values: pd.Series) -> tuple[Label, ...]:
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


# ------------------------------------------------------------------------------------- plan


def plan_columns(
    frame: pd.DataFrame, spec: DataSpec, profiles: list[ColumnProfile] | None = None
) -> ColumnPlan:
    """Decide the features, the left-out columns and the warnings for learning `spec.target`.

    `profiles` are `profile_columns(frame)`, computed here when not given.
    """
    columns = [str(c) for c in frame.columns]
    if not spec.target:
        raise DataError(f"Choose a target: the column to predict. Columns: {_names(columns)}.")
    if spec.target not in columns:
        raise DataError(
            f"The target column {spec.target!r} is not in the data. "
            f"Available columns: {_names(columns)}."
        )
    overrides = spec.role_overrides()
    unknown = [c for c in overrides if c not in columns]
    if unknown:
        raise DataError(
            f"A role is set for {_names(unknown)}, but the data has no such column. "
            f"Available columns: {_names(columns)}. Remove the setting or fix the name."
        )
    if profiles is None:
        profiles = profile_columns(frame)
    by_name = {p.name: p for p in profiles}
    if sorted(by_name) != sorted(columns):
        raise ValueError("plan_columns: profiles do not match the frame's columns")

    target = frame[spec.target]
    guess = infer_task(target, spec.task)
    features: list[tuple[str, Role]] = []
    excluded: list[tuple[str, str]] = []
    for column in columns:
        if column == spec.target:
            continue
        profile = by_name[column]
        role = overrides.get(column, profile.role)
        if role == "ignore":
            reason = "set to ignore" if column in overrides else profile.reason
            excluded.append((column, reason))
            continue
        if column in overrides:
            _check_forced_role(frame[column], profile, role)
        if role == "categorical" and profile.unique > MAX_CATEGORY_LEVELS:
            raise DataError(
                f"{column!r} has {profile.unique} categories, but one-hot encoding allows at "
                f"most {MAX_CATEGORY_LEVELS} (each category becomes one input). Set it to "
                "ignore, or group rare values into fewer categories in the CSV."
            )
        features.append((column, role))

    if not features:
        _refuse_no_features(spec.target, excluded)

    has_target = target.notna()
    missing_target = int(len(target) - has_target.sum())
    rows = frame[has_target] if missing_target else frame
    warnings_: list[str] = []
    if missing_target:
        warnings_.append(
            f"{_count(missing_target, 'row')} {'has' if missing_target == 1 else 'have'} no "
            f"value for the target {spec.target!r}; "
            f"{'it is' if missing_target == 1 else 'they are'} left out of training."
        )
    warnings_ += _leak_warnings(rows, spec.target, guess, features, by_name)
    if guess.task != "regression":
        warnings_ += _imbalance_warnings(rows[spec.target], guess)
    for column, role in features:
        levels = by_name[column].unique
        if role == "categorical" and levels > MANY_CATEGORY_LEVELS:
            warnings_.append(
                f"{column!r} has {levels} categories: one-hot encoding makes {levels} inputs; "
                "consider ignoring it or grouping rare values."
            )
    warnings_ += _few_rows_warnings(frame, len(rows), spec, features, by_name)

    return ColumnPlan(
        target=spec.target,
        task=guess.task,
        task_reason=guess.reason,
        classes=guess.classes,
        features=tuple(features),
        excluded=tuple(excluded),
        warnings=tuple(warnings_),
        rows_with_missing_target=missing_target,
    )


def _check_forced_role(series: pd.Series, profile: ColumnProfile, role: Role) -> None:
    """Refuse a user-chosen role the column's values cannot take."""
    name = profile.name
    if profile.kind == "empty":
        raise DataError(
            f"{name!r} has no values (every row is missing), so it cannot be used as {role}. "
            "Set it to ignore."
        )
    value_kind, values = _normalize(series.dropna())
    if role == "numeric" and value_kind == "datetime":
        raise DataError(f"{name!r} holds dates, not numbers. Set it to datetime or ignore.")
    if role == "numeric" and value_kind == "text":
        numbers = pd.to_numeric(values, errors="coerce")
        bad = values[numbers.isna()]
        if len(bad):
            raise DataError(
                f"{name!r} cannot be numeric: {_count(len(bad), 'row')} "
                f"{'holds' if len(bad) == 1 else 'hold'} values that are not numbers (such as "
                f"{_list(_examples(bad))}). Make them numbers, or leave the cells empty where "
                "the value is unknown, or set the column to categorical or ignore."
            )
    if role == "datetime" and value_kind in ("number", "bool"):
        raise DataError(
            f"{name!r} holds {'numbers' if value_kind == 'number' else 'true/false values'}, "
            "not dates, so it cannot be a datetime column. Set it to numeric, categorical or "
            "ignore; write dates like 2024-01-31 to use them as dates."
        )
    if role == "datetime" and value_kind == "text":
        share = _date_share(_sample(values).astype(str))
        if share < DATE_SHARE:
            raise DataError(
                f"{name!r} cannot be a datetime column: only {share:.0%} of its values read as "
                f"dates (such as {_list(profile.examples)}). Write dates like 2024-01-31, or set "
                "the column to categorical or ignore."
            )


def _refuse_no_features(target: str, excluded: list[tuple[str, str]]) -> None:
    if not excluded:
        raise DataError(
            f"The data has only the target column {target!r}, so there is nothing to learn "
            "from. Add columns that describe each row."
        )
    lines = "\n".join(f"- {column!r}: {reason}" for column, reason in excluded)
    raise DataError(
        f"No column is left to learn from: every column other than the target {target!r} is "
        f"left out.\n{lines}\nSet a column's role to numeric or categorical to use it anyway, "
        "or add columns that describe each row."
    )


def _leak_warnings(
    rows: pd.DataFrame,
    target: str,
    guess: TaskGuess,
    features: list[tuple[str, Role]],
    by_name: dict[str, ColumnProfile],
) -> list[str]:
    """Features that nearly copy the target, which usually means the target leaked into them."""
    if len(rows) < 3:
        return []
    y = rows[target]
    if guess.task == "regression":
        y_number = pd.to_numeric(y).to_numpy(dtype=float)
        y_codes = None
    else:
        y_codes = pd.Categorical(_normalize(y)[1], categories=guess.classes).codes.astype(int)
        y_number = y_codes.astype(float) if guess.task == "binary" else None
    found = []
    for column, role in features:
        if role == "datetime":
            continue
        value_kind, x = _normalize(rows[column])
        detail = None
        if role == "numeric" and y_number is not None and value_kind != "datetime":
            detail = _correlation_detail(pd.to_numeric(x, errors="coerce"), y_number)
        few_levels = role == "categorical" or by_name[column].unique <= MANY_CATEGORY_LEVELS
        if detail is None and few_levels:
            levels, codes = _levels(x)
            if 2 <= levels < len(rows) / 2:
                if y_codes is not None:
                    detail = _purity_detail(codes, levels, y_codes, len(guess.classes))
                else:
                    detail = _variance_detail(codes, levels, y_number)
        if detail:
            found.append(
                f"{column!r} nearly copies the target {target!r} ({detail}) — if it is only "
                "known after the fact, set it to ignore."
            )
    return found


def _levels(values: pd.Series) -> tuple[int, np.ndarray]:
    """Number of levels and a level code per row, missing values being a level of their own."""
    codes, distinct = pd.factorize(values)
    codes = np.where(codes < 0, len(distinct), codes)
    return len(distinct) + int((codes == len(distinct)).any()), codes


def _correlation_detail(x: pd.Series, y: np.ndarray) -> str | None:
    x = x.to_numpy(dtype=float, na_value=np.nan)
    both = np.isfinite(x) & np.isfinite(y)
    if both.sum() < 3 or np.ptp(x[both]) == 0 or np.ptp(y[both]) == 0:
        return None
    r = float(np.corrcoef(x[both], y[both])[0, 1])
    return f"correlation {r:+.3f}" if abs(r) >= LEAK_CORRELATION else None


def _purity_detail(codes: np.ndarray, levels: int, y: np.ndarray, classes: int) -> str | None:
    """How often each feature value goes with its most common class, against the plain guess."""
    table = np.bincount(codes * classes + y, minlength=levels * classes).reshape(levels, classes)
    purity = table.max(axis=1).sum() / len(y)
    baseline = table.sum(axis=0).max() / len(y)
    if purity >= LEAK_PURITY and 1 - purity <= 0.1 * (1 - baseline):
        return f"each of its {levels} values goes with one class on {purity:.1%} of rows"
    return None


def _variance_detail(codes: np.ndarray, levels: int, y: np.ndarray) -> str | None:
    """Share of the target's variance explained by the feature's values (correlation ratio²)."""
    known = np.isfinite(y)
    codes, y = codes[known], y[known]
    total = ((y - y.mean()) ** 2).sum()
    if total == 0:
        return None
    sizes = np.bincount(codes, minlength=levels)
    means = np.bincount(codes, weights=y, minlength=levels) / np.maximum(sizes, 1)
    explained = float((sizes * (means - y.mean()) ** 2).sum() / total)
    if explained >= LEAK_CORRELATION**2:
        return f"its {levels} values explain {explained:.1%} of the target's variation"
    return None


def _imbalance_warnings(y: pd.Series, guess: TaskGuess) -> list[str]:
    counts = pd.Series(_normalize(y)[1]).value_counts()
    total = int(counts.sum())
    rare = sorted(
        (
            (int(counts[label]), label)
            for label in counts.index
            if counts[label] < RARE_CLASS_SHARE * total
        ),
        key=lambda pair: (pair[0], str(pair[1])),
    )
    if not rare:
        return []
    advice = (
        'the model may learn to ignore it. Consider class weights "balanced" in the training '
        "settings."
    )
    if len(rare) == 1:
        count, label = rare[0]
        return [
            f"Class {_label(label)} is only {count / total:.1%} of the rows ({count} of {total}): "
            + advice
        ]
    listed = ", ".join(f"{_label(label)} ({count / total:.1%})" for count, label in rare[:5])
    more = f" and {len(rare) - 5} more" if len(rare) > 5 else ""
    return [
        f"Classes {listed}{more} are each under {RARE_CLASS_SHARE:.0%} of the rows: "
        + advice.replace("ignore it", "ignore them")
    ]


def _few_rows_warnings(
    frame: pd.DataFrame,
    rows: int,
    spec: DataSpec,
    features: list[tuple[str, Role]],
    by_name: dict[str, ColumnProfile],
) -> list[str]:
    held_out = spec.validation_fraction + spec.test_fraction
    training = int(rows * (1 - held_out))
    inputs = 0
    dates = [column for column, role in features if role == "datetime"]
    for column, role in features:
        profile = by_name[column]
        if role == "categorical":
            inputs += profile.unique + (1 if profile.missing else 0)
        elif role == "numeric":
            inputs += 1
    # Reading dates is the slow part: skip it when even every part of every date fits.
    if training >= ROWS_PER_INPUT * (inputs + len(DATETIME_PARTS) * len(dates)):
        return []
    inputs += sum(len(datetime_parts(frame[column])) for column in dates)
    if training >= ROWS_PER_INPUT * inputs:
        return []
    split = f"{spec.validation_fraction:.0%} kept for validation"
    if spec.test_fraction:
        split += f" and {spec.test_fraction:.0%} for testing"
    return [
        f"Only {_count(training, 'row')} {'is' if training == 1 else 'are'} left for training "
        f"({split}), but the model has {_count(inputs, 'input')} after one-hot encoding; aim "
        f"for at least {ROWS_PER_INPUT} rows per input ({ROWS_PER_INPUT * inputs} rows) or the "
        "model will likely learn the rows by heart. Add rows, or leave out columns with many "
        "categories."
    ]


# -------------------------------------------------------------------------------- datetimes


def datetime_parts(series: pd.Series) -> tuple[str, ...]:
    """The parts to make of this date column: year, month, day, day of week, and the hour only
    when some value has a time of day. Decide this on the training data and keep it."""
    parsed = _parse_dates(series).dropna()
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
            f"The data has no column {_names(missing)}, which the model reads as dates. "
            f"Available columns: {_names([str(c) for c in frame.columns])}."
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
        dates = _parse_dates(frame[name]).dt
        for part in parts[name]:
            out[f"{name}__{part}"] = getattr(dates, _ACCESSORS.get(part, part)).astype("float64")
    return pd.DataFrame(out, index=frame.index)


# ------------------------------------------------------------------------------------ words


def _examples(values: pd.Series) -> tuple[str, ...]:
    """Up to 3 distinct values from the start of the column, as short text."""
    head = values.iloc[:1000]
    return tuple(_show(v) for v in head.dropna().drop_duplicates().iloc[:3])


def _show(value: object, width: int = 40) -> str:
    text = f"{value:.6g}" if isinstance(value, float | np.floating) else str(value)
    return text if len(text) <= width else text[: width - 1] + "…"


def _pair(values: pd.Series) -> str:
    return "/".join(_show(v) for v in sorted(_classes(values)))


def _label(value: object) -> str:
    return repr(value.item() if isinstance(value, np.generic) else value)


def _list(items) -> str:
    return ", ".join(repr(i) if isinstance(i, str) else str(i) for i in items)


def _names(names: Sequence[str], limit: int = 30) -> str:
    shown = ", ".join(repr(n) for n in names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}{'' if number == 1 else 's'}"
