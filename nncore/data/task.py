"""What to predict: `suggest_targets` names the columns a table likely predicts, and
`infer_task` reads the chosen target and decides between regression, binary and multiclass,
refusing targets nothing can be learned from."""

from __future__ import annotations

import re
from dataclasses import dataclass

import pandas as pd

from nncore.config import TASKS, Task
from nncore.data.columns import (
    MIN_IDENTIFIER_ROWS,
    ColumnProfile,
    profile_columns,
)
from nncore.data.values import (
    Label,
    distinct_classes,
    examples_of,
    list_text,
    normalize_values,
    pair_text,
    sample_values,
    show_value,
)
from nncore.errors import ConfigError, DataError
from nncore.rules import (
    MAX_INTEGER_CLASSES,
    MAX_SUGGESTIONS,
    TARGET_CLASSES,
    TARGET_WORDS,
)

MAX_CLASSES = TARGET_CLASSES.value()
# Kinds of column a model can predict; the rest (identifiers, dates, free text, constant or empty
# columns) are never suggested, whatever their name.
_PREDICTABLE = ("numeric", "boolean", "categorical")


@dataclass(frozen=True, slots=True)
class TaskGuess:
    """The task read from a target, why, and its classes (empty for regression)."""

    task: Task
    reason: str
    # Sorted plain Python values; for binary, classes[1] is the positive class (Yes, True, 1).
    classes: tuple[Label, ...]


def suggest_targets(
    frame: pd.DataFrame, profiles: list[ColumnProfile] | None = None
) -> list[tuple[str, str]]:
    """The columns `frame` likely predicts, most likely first, each as (column, why).

    A column is suggested for its name (a word such as target, label or price), for its place
    (the last column, where many tables keep the target) or for holding few distinct values
    (classes to predict); its type adds to the reason ("numbers, not an identifier") but does not
    suggest it alone, as most columns are numbers. Only columns a model can predict are named:
    no identifier, date, free text, or text with too many categories. `profiles` are
    `profile_columns(frame)`, computed here when not given.
    """
    profiles = profile_columns(frame) if profiles is None else profiles
    ranked = []
    for position, profile in enumerate(profiles):
        if profile.kind not in _PREDICTABLE or profile.role == "ignore":
            continue
        score, reasons = 0, []
        words = re.sub(r"([a-z0-9])([A-Z])", r"\1 \2", profile.name).lower()
        named = [word for word in re.split(r"[^a-z0-9]+", words) if word in TARGET_WORDS]
        if named:
            score += 4
            reasons.append(f"its name says {named[0]!r}")
        if position == len(profiles) - 1:
            score += 1
            reasons.append("the last column, where tables often keep the target")
        if profile.unique <= MAX_INTEGER_CLASSES:
            score += 2
            reasons.append(f"{profile.unique} distinct values: classes to predict")
        elif profile.kind == "numeric":
            reasons.append("numbers, not an identifier: an amount to predict")
        if score:
            ranked.append((-score, position, profile.name, "; ".join(reasons)))
    return [(name, reason) for _, _, name, reason in sorted(ranked)[:MAX_SUGGESTIONS]]


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
            f"The target {name!r} has the same value ({show_value(values.iloc[0])!r}) on every "
            "row, so there is nothing to learn. Pick another column to predict."
        )
    value_kind, values = normalize_values(values)
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
                f"The target {name!r} holds {held} ({list_text(examples_of(values))}), not "
                "numbers, so it cannot be a regression target: regression predicts numbers. "
                "Choose binary or multiclass, or auto to let the studio decide."
            )
        reason = f"regression, as chosen: numbers with {unique} distinct values"
        return TaskGuess("regression", reason, ())

    classes = distinct_classes(values) if unique <= MAX_CLASSES else ()
    if override == "binary":
        if unique != 2:
            more = ", …" if unique > 5 else ""
            shown = f" ({list_text(classes[:5])}{more})" if classes else ""
            others = "multiclass or regression" if numeric else "multiclass"
            raise DataError(
                f"The target {name!r} has {unique} distinct values{shown}, but binary needs "
                f"exactly two. Choose {others}, or auto to let the studio decide."
            )
        return TaskGuess(
            "binary", f"binary, as chosen: 2 distinct values, {pair_text(values)}", classes
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
        return TaskGuess("binary", f"binary: 2 distinct values, {pair_text(values)}", classes)
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
    sample = sample_values(values)
    numbers = pd.to_numeric(sample, errors="coerce")
    if numbers.notna().mean() >= 0.9:
        bad = sample[numbers.isna()]
        raise DataError(
            f"The target {name!r} is mostly numbers, but some values are not numbers (such as "
            f"{list_text(examples_of(bad))}), so it was read as text with {unique} distinct "
            "values. Make every value a number, or leave the cell empty where it is unknown, to "
            "predict it as a regression."
        )
    raise DataError(
        f"The target {name!r} has {unique} different text values in {count} rows, so it looks "
        "like an identifier or free text, not categories to predict. Pick another column to "
        "predict."
    )
