"""A learning-rate sweep: one trial per rate, all on the same split and seed.

`learning_rates` and `rate_trials` make one trial `Experiment` per rate; each trial is an ordinary
training job. `best_score` and `best_trial` pick the winner by the monitored validation score;
`check_same_split` confirms the trials saw the same validation rows. Plain data and decisions,
free of TensorFlow, so the UI process can use them.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from nncore.config import CompileSpec, Experiment, OptimizerName, monitor_mode
from nncore.errors import ConfigError, JobError
from nncore.rules import SETTINGS

MIN_RATE, MAX_RATE = SETTINGS["learning_rate"].low, SETTINGS["learning_rate"].high
MAX_TRIALS = 12


def learning_rates(low: float, high: float, count: int) -> tuple[float, ...]:
    """`count` rates spaced evenly on a log scale from `low` to `high`, to two significant
    figures (0.001, 0.0046, 0.022, 0.1), so they read well in a legend."""
    if not 1 <= count <= MAX_TRIALS:
        raise ConfigError(f"A sweep tries 1 to {MAX_TRIALS} learning rates, got {count}.")
    if not MIN_RATE <= low <= high <= MAX_RATE:
        raise ConfigError(
            f"Learning rates must run from low to high within {MIN_RATE:g} to {MAX_RATE:g}, "
            f"got {low:g} to {high:g}."
        )
    if count == 1 or low == high:
        return (float(f"{low:.2g}"),)
    rates = np.geomspace(low, high, count)
    return tuple(dict.fromkeys(float(f"{r:.2g}") for r in rates))


def rate_trials(
    experiment: Experiment, optimizer: OptimizerName, rates: Sequence[float]
) -> list[Experiment]:
    """One experiment per rate: everything else, the seed and so the split included, is shared."""
    spec = experiment.compile
    momentum = spec.momentum if optimizer in ("sgd", "rmsprop") else 0.0
    nesterov = spec.nesterov and optimizer == "sgd"
    return [
        experiment.replace(
            compile=CompileSpec(optimizer, float(rate), momentum, nesterov, spec.loss)
        )
        for rate in rates
    ]


def best_score(history: Sequence[dict[str, float]], monitor: str) -> float | None:
    """The best value of `monitor` over the epochs of `history` (the epoch whose weights a run
    keeps), or None when it was never logged."""
    values = [h[monitor] for h in history if h.get(monitor) is not None]
    values = [v for v in values if math.isfinite(v)]
    if not values:
        return None
    return max(values) if monitor_mode(monitor) == "max" else min(values)


def best_trial(scores: Sequence[float | None], monitor: str) -> int | None:
    """Position of the best score (None for a trial that has none); None if none has one."""
    scored = [(s, i) for i, s in enumerate(scores) if s is not None]
    if not scored:
        return None
    pick = max if monitor_mode(monitor) == "max" else min
    return pick(scored, key=lambda pair: pair[0])[1]


def check_same_split(validation_rows: Sequence[np.ndarray]) -> None:
    """Refuse to compare trials that did not validate on the same rows."""
    first = validation_rows[0] if validation_rows else None
    for rows in validation_rows[1:]:
        if not np.array_equal(first, rows):
            raise JobError(
                "The trials of this sweep were validated on different rows, so their scores "
                "cannot be compared. Run the sweep again without changing the data in between."
            )
