"""What a model will use: `plan_columns` combines the column profiles, the task and the user's
role overrides into the columns a model learns from, the ones it leaves out (each with why) and
plain-words warnings."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from nncore.config import DataSpec, Role, Task
from nncore.data.columns import (
    MANY_CATEGORY_LEVELS,
    MAX_CATEGORY_LEVELS,
    ColumnProfile,
    profile_columns,
)
from nncore.data.dates import (
    DATE_SHARE,
    DATETIME_PARTS,
    date_share,
    datetime_parts,
)
from nncore.data.schema import MISSING_CATEGORY, as_category_text
from nncore.data.task import TaskGuess, infer_task
from nncore.data.values import (
    Label,
    count_text,
    examples_of,
    label_text,
    list_text,
    names_text,
    normalize_values,
    sample_values,
)
from nncore.errors import DataError

LEAK_CORRELATION = 0.98  # |Pearson r| from which a numeric feature nearly copies the target
LEAK_PURITY = 0.99  # share of rows whose target follows the feature's value
RARE_CLASS_SHARE = 0.10  # a class below this share of rows is rare
ROWS_PER_INPUT = 10  # fewer training rows than this per model input invite overfitting
# How `nncore.data.prepare` fills a missing value of a column with each role, in plain words.
FILLS = {
    "numeric": "with the column's median in the training rows",
    "datetime": "each date part with its median in the training rows",
    "categorical": f'as a category of their own, "{MISSING_CATEGORY}"',
}


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


def plan_columns(
    frame: pd.DataFrame, spec: DataSpec, profiles: list[ColumnProfile] | None = None
) -> ColumnPlan:
    """Decide the features, the left-out columns and the warnings for learning `spec.target`.

    `profiles` are `profile_columns(frame)`, computed here when not given.
    """
    columns = [str(c) for c in frame.columns]
    if not spec.target:
        raise DataError(f"Choose a target: the column to predict. Columns: {names_text(columns)}.")
    if spec.target not in columns:
        raise DataError(
            f"The target column {spec.target!r} is not in the data. "
            f"Available columns: {names_text(columns)}."
        )
    overrides = spec.role_overrides()
    unknown = [c for c in overrides if c not in columns]
    if unknown:
        raise DataError(
            f"A role is set for {names_text(unknown)}, but the data has no such column. "
            f"Available columns: {names_text(columns)}. Remove the setting or fix the name."
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
            f"{count_text(missing_target, 'row')} {'has' if missing_target == 1 else 'have'} no "
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


def missing_fills(plan: ColumnPlan, profiles: list[ColumnProfile]) -> list[tuple[str, int, str]]:
    """(column, missing values, how they are filled) for each column the model reads that has
    missing values."""
    missing = {p.name: p.missing for p in profiles}
    return [
        (column, missing[column], FILLS[role]) for column, role in plan.features if missing[column]
    ]


def _check_forced_role(series: pd.Series, profile: ColumnProfile, role: Role) -> None:
    """Refuse a user-chosen role the column's values cannot take."""
    name = profile.name
    if profile.kind == "empty":
        raise DataError(
            f"{name!r} has no values (every row is missing), so it cannot be used as {role}. "
            "Set it to ignore."
        )
    value_kind, values = normalize_values(series.dropna())
    if role == "numeric" and value_kind == "datetime":
        raise DataError(f"{name!r} holds dates, not numbers. Set it to datetime or ignore.")
    if role == "numeric" and value_kind == "text":
        numbers = pd.to_numeric(values, errors="coerce")
        bad = values[numbers.isna()]
        if len(bad):
            raise DataError(
                f"{name!r} cannot be numeric: {count_text(len(bad), 'row')} "
                f"{'holds' if len(bad) == 1 else 'hold'} values that are not numbers (such as "
                f"{list_text(examples_of(bad))}). Make them numbers, or leave the cells empty "
                "where the value is unknown, or set the column to categorical or ignore."
            )
    if role == "datetime" and value_kind in ("number", "bool"):
        raise DataError(
            f"{name!r} holds {'numbers' if value_kind == 'number' else 'true/false values'}, "
            "not dates, so it cannot be a datetime column. Set it to numeric, categorical or "
            "ignore; write dates like 2024-01-31 to use them as dates."
        )
    if role == "datetime" and value_kind == "text":
        share = date_share(sample_values(values).astype(str))
        if share < DATE_SHARE:
            raise DataError(
                f"{name!r} cannot be a datetime column: only {share:.0%} of its values read as "
                f"dates (such as {list_text(profile.examples)}). Write dates like 2024-01-31, "
                "or set the column to categorical or ignore."
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
        y_codes = pd.Categorical(normalize_values(y)[1], categories=guess.classes).codes.astype(int)
        y_number = y_codes.astype(float) if guess.task == "binary" else None
    found = []
    for column, role in features:
        if role == "datetime":
            continue
        value_kind, x = normalize_values(rows[column])
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
    counts = pd.Series(normalize_values(y)[1]).value_counts()
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
            f"Class {label_text(label)} is only {count / total:.1%} of the rows ({count} of "
            f"{total}): " + advice
        ]
    listed = ", ".join(f"{label_text(label)} ({count / total:.1%})" for count, label in rare[:5])
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
        f"Only {count_text(training, 'row')} {'is' if training == 1 else 'are'} left for training "
        f"({split}), but the model has {count_text(inputs, 'input')} after one-hot encoding; aim "
        f"for at least {ROWS_PER_INPUT} rows per input ({ROWS_PER_INPUT * inputs} rows) or the "
        "model will likely learn the rows by heart. Add rows, or leave out columns with many "
        "categories."
    ]


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
