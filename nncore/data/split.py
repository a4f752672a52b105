"""Split the rows into training, validation and test parts.

The split is shuffled and seeded (Keras' own `validation_split` takes the last rows of the file,
which on a sorted CSV gives a useless validation set) and stratified for classification.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.model_selection import train_test_split

from nncore.errors import DataError


@dataclass(frozen=True, slots=True)
class Split:
    """Row positions of each part; `note` says how the split was made, in plain words."""

    train: np.ndarray
    validation: np.ndarray
    test: np.ndarray
    stratified: bool
    note: str


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
