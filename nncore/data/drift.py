"""Checks when scoring: how each new row and each column compare with the training rows.

At training time `profiled` keeps in the schema how the training rows spread (decile cut points
and shares for numbers, shares per category). When scoring, `row_checks` flags each row holding
a number outside the training range, an unseen category or a missing input, and `drift` gives
each column's population stability index (PSI) against the training rows, in plain words (a
column counts as moved only beyond what chance gives that many rows).
No scikit-learn or TensorFlow here: the pages call it.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd

from nncore.data.schema import (
    MISSING_CATEGORY,
    CategoricalInput,
    NumericInput,
    Schema,
    feature_frame,
)

DECILES = np.linspace(0.1, 0.9, 9)
# A share of 0 on either side would make the index infinite; the usual floor instead.
SHARE_FLOOR = 1e-4
# The customary reading of the index: below 0.1 the column looks as in training, from 0.25 on it
# has moved a lot.
DRIFT_LEVELS = ((0.25, "large shift"), (0.1, "some shift"), (0.0, "stable"))
# Rows drawn just like the training rows still give an index of about chi-square(bins - 1) *
# (1/rows + 1/training rows): with a hundred rows, often over 0.1. A column counts as moved only
# beyond what such rows exceed once in a hundred (the standard normal's 99th percentile, for
# the Wilson-Hilferty approximation of the chi-square quantile).
CHANCE_Z = 2.326
CHECKS = "checks"  # the name of the per-row flags column


def profiled(schema: Schema, features: pd.DataFrame) -> Schema:
    """`schema` with how its training rows `features` (as `feature_frame` gives them) spread."""
    numeric = []
    for item in schema.numeric:
        values = features[item.column].to_numpy(float)
        present = values[~np.isnan(values)]
        edges = np.unique(np.quantile(present, DECILES)) if len(present) else np.empty(0)
        shares = _bin_shares(values, edges)
        numeric.append(
            dataclasses.replace(
                item,
                edges=tuple(map(float, edges)),
                shares=tuple(map(float, shares[:-1])),
                missing=float(shares[-1]),
            )
        )
    categorical = [
        dataclasses.replace(
            item, shares=tuple(map(float, _category_shares(features[item.column], item)[:-1]))
        )
        for item in schema.categorical
    ]
    return dataclasses.replace(
        schema,
        numeric=tuple(numeric),
        categorical=tuple(categorical),
        training_rows=len(features),
    )


def _bin_shares(values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Shares of `values` between the `edges` (a value on an edge counts above it), then the
    share missing."""
    missing = np.isnan(values)
    counts = np.bincount(
        np.searchsorted(edges, values[~missing], side="right"), minlength=len(edges) + 1
    )
    return np.append(counts, missing.sum()) / max(len(values), 1)


def _category_shares(values: pd.Series, item: CategoricalInput) -> np.ndarray:
    """Shares of `values` (category text) in each of the item's categories, then unseen ones."""
    counts = values.fillna(MISSING_CATEGORY).value_counts()
    known = np.array([counts.get(c, 0) for c in item.categories], float)
    return np.append(known, len(values) - known.sum()) / max(len(values), 1)


def psi(expected: np.ndarray, actual: np.ndarray) -> float:
    """The population stability index of shares `actual` against `expected` (same bins)."""
    expected = np.maximum(np.asarray(expected, float), SHARE_FLOOR)
    actual = np.maximum(np.asarray(actual, float), SHARE_FLOOR)
    return float(np.sum((actual - expected) * np.log(actual / expected)))


def chance_bound(expected: np.ndarray, rows: int, training_rows: int) -> float:
    """The index that `rows` drawn like `training_rows` training rows (shares `expected`)
    exceed once in a hundred."""
    k = max(int(np.count_nonzero(expected)) - 1, 1)
    quantile = k * (1 - 2 / (9 * k) + CHANCE_Z * np.sqrt(2 / (9 * k))) ** 3
    return float(quantile * (1 / max(rows, 1) + (1 / training_rows if training_rows else 0)))


def level(index: float, chance: float = 0.0) -> str:
    """The index in words; "stable" when chance alone would often give it."""
    if index <= chance:
        return DRIFT_LEVELS[-1][1]
    return next(words for bound, words in DRIFT_LEVELS if index >= bound)


def drift(frame: pd.DataFrame, schema: Schema) -> pd.DataFrame:
    """One row per input the schema kept a training spread for: its PSI against the training
    rows, the level in words and what moved most. Empty for a schema without spreads."""
    features = feature_frame(frame, schema)
    rows = []

    def add(column: str, kind: str, expected: np.ndarray, actual: np.ndarray, note: str) -> None:
        index = psi(expected, actual)
        chance = chance_bound(expected, len(frame), schema.training_rows)
        if index <= chance:
            note += f"; within what chance gives {len(frame):,} rows (PSI up to {chance:.2f})"
        rows.append((column, kind, index, level(index, chance), note))

    for item in schema.numeric:
        if item.shares:
            values = features[item.column].to_numpy(float)
            actual = _bin_shares(values, np.asarray(item.edges, float))
            expected = np.append(item.shares, item.missing)
            add(item.column, "number", expected, actual, _numeric_note(item, values))
    for item in schema.categorical:
        if item.shares:
            expected = np.append(item.shares, 0.0)
            actual = _category_shares(features[item.column], item)
            note = _category_note(item, features[item.column], expected, actual)
            add(item.column, "category", expected, actual, note)
    table = pd.DataFrame(rows, columns=["column", "kind", "PSI", "level", "what moved"])
    return table.sort_values("PSI", ascending=False, ignore_index=True)


def _numeric_note(item: NumericInput, values: np.ndarray) -> str:
    present = values[~np.isnan(values)]
    if not len(present):
        return "every value is missing"
    parts = [f"median {item.fill:g} in training, {np.median(present):g} here"]
    outside = np.mean((present < item.minimum) | (present > item.maximum))
    if outside:
        parts.append(f"{outside:.0%} outside the training range")
    missing = 1 - len(present) / len(values)
    if abs(missing - item.missing) >= 0.05:
        parts.append(f"{missing:.0%} missing ({item.missing:.0%} in training)")
    return "; ".join(parts)


def _category_note(
    item: CategoricalInput, values: pd.Series, expected: np.ndarray, actual: np.ndarray
) -> str:
    unseen = values.dropna()[~values.dropna().isin(item.categories)]
    if len(unseen):
        top = unseen.value_counts().index[0]
        return f"{actual[-1]:.0%} unseen categories, most often {top!r}"
    i = int(np.argmax(np.abs(actual - expected)))
    return f"{item.categories[i]!r}: {expected[i]:.0%} in training, {actual[i]:.0%} here"


def row_checks(frame: pd.DataFrame, schema: Schema) -> pd.Series:
    """Per row of `frame`, what the model had to guess about it ("" when nothing): numbers
    outside the training range, unseen categories, missing inputs (filled as in training)."""
    features = feature_frame(frame, schema)
    raw = {c.name for c in schema.columns}
    flags: dict[str, pd.Series] = {}

    def flag(column: str, mask: pd.Series, text: pd.Series | str) -> None:
        if mask.any():
            new = pd.Series(text, index=features.index).where(mask)
            old = flags.get(column)
            flags[column] = new if old is None else old.fillna(new)

    for item in schema.numeric:
        values = features[item.column]
        # A date part is reported as its date column, once.
        column = item.column if item.column in raw else item.column.rsplit("__", 1)[0]
        flag(column, values.isna(), f"{column} missing")
        written = values.map(lambda v: f"{v:g}")
        flag(
            item.column,
            values < item.minimum,
            item.column + " " + written + f" below the training minimum {item.minimum:g}",
        )
        flag(
            item.column,
            values > item.maximum,
            item.column + " " + written + f" above the training maximum {item.maximum:g}",
        )
    for item in schema.categorical:
        values = features[item.column]
        flag(item.column, values.isna(), f"{item.column} missing")
        unseen = values.notna() & ~values.isin(item.categories)
        flag(item.column, unseen, item.column + " " + values.map(repr) + " unseen in training")
    joined = pd.Series("", index=frame.index, name=CHECKS, dtype=object)
    for text in flags.values():
        # Column by column, not row by row: a file may have a million rows.
        joined = joined.where(text.isna(), joined + np.where(joined == "", "", "; ") + text)
    return joined
