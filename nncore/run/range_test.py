"""The learning-rate range test: one short training whose learning rate grows exponentially
batch by batch, recording the loss, and the rate it suggests.

`range_test_job` is a worker task (it imports TensorFlow when it runs); the rest is plain
arithmetic the UI process can use.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from nncore.config import Experiment
from nncore.errors import ConfigError, JobError
from nncore.run.rates import MAX_RATE, MIN_RATE


@dataclass(frozen=True, slots=True)
class RangeTestSpec:
    low: float = 1e-6
    high: float = 1.0
    steps: int = 120

    def __post_init__(self) -> None:
        if not MIN_RATE <= self.low < self.high <= MAX_RATE:
            raise ConfigError(
                f"The range test needs a low rate below the high one, within {MIN_RATE:g} to "
                f"{MAX_RATE:g}; got {self.low:g} to {self.high:g}."
            )
        if not 10 <= self.steps <= 2000:
            raise ConfigError(f"The range test takes 10 to 2000 steps, got {self.steps}.")


@dataclass
class RangeTest:
    rates: list[float]
    losses: list[float]
    smoothed: list[float]
    suggestion: float | None
    rule: str


# Beyond this many times the lowest smoothed loss, the training has diverged: stop there.
DIVERGED = 4.0
SMOOTHING = 0.9
RULE = (
    "a tenth of the rate at which the smoothed loss was lowest: at the minimum the rate is "
    "already about to make the loss climb, so a tenth of it still learns fast but safely"
)


def smooth(losses: Sequence[float], beta: float = SMOOTHING) -> list[float]:
    """Exponential moving average with bias correction, so the first points are not dragged
    towards zero."""
    average, out = 0.0, []
    for i, loss in enumerate(losses, start=1):
        average = beta * average + (1 - beta) * loss
        out.append(average / (1 - beta**i))
    return out


def suggest_rate(rates: Sequence[float], smoothed: Sequence[float]) -> float | None:
    """The starting rate the range test suggests (see `RULE`); None if no loss was finite."""
    pairs = zip(smoothed, rates, strict=True)
    finite = [(loss, rate) for loss, rate in pairs if math.isfinite(loss)]
    if not finite:
        return None
    _, at_minimum = min(finite)
    return max(MIN_RATE, float(f"{at_minimum / 10:.2g}"))


def range_test_job(channel, frame: pd.DataFrame, experiment: Experiment, spec: RangeTestSpec):
    """One short training from `spec.low` to `spec.high`, the rate multiplied by the same
    factor every batch; each (rate, loss) is reported as it comes. Returns a `RangeTest`."""
    import keras

    from nncore.config import check_size, output_units
    from nncore.data.plan import plan_columns
    from nncore.data.prepare import prepare
    from nncore.learn.model import build_model, compile_model

    plan = plan_columns(frame, experiment.data)
    prepared = prepare(frame, plan, experiment.data, seed=experiment.seed)
    task, n_classes = plan.task, len(plan.classes)
    check_size(prepared.schema.width, experiment.layers, output_units(task, n_classes))
    keras.utils.set_random_seed(experiment.seed)
    network = build_model(prepared.schema.width, experiment.layers, task, n_classes)
    compile_spec = dataclasses.replace(experiment.compile, learning_rate=spec.low)
    loss_name = compile_model(network, compile_spec, task)
    x, y = prepared.x_train, prepared.y_train
    if loss_name == "categorical_crossentropy":
        y = np.eye(n_classes, dtype=np.float32)[y]

    batch = min(experiment.training.batch_size, len(x))
    rng = np.random.default_rng(experiment.seed)
    order, position = rng.permutation(len(x)), 0
    factor = (spec.high / spec.low) ** (1 / (spec.steps - 1))
    rates, losses = [], []
    lowest, average = math.inf, 0.0
    for step in range(spec.steps):
        if channel.stop_requested():
            break
        if position + batch > len(x):
            order, position = rng.permutation(len(x)), 0
        rows = order[position : position + batch]
        position += batch
        rate = spec.low * factor**step
        network.optimizer.learning_rate.assign(rate)
        loss = float(network.train_on_batch(x[rows], y[rows], return_dict=True)["loss"])
        rates.append(rate)
        losses.append(loss)
        average = SMOOTHING * average + (1 - SMOOTHING) * loss
        current = average / (1 - SMOOTHING ** (step + 1))  # as `smooth` computes it
        channel.report_epoch({"step": step + 1, "learning_rate": rate, "loss": loss})
        if not math.isfinite(current) or current > DIVERGED * lowest:
            break
        lowest = min(lowest, current)
    keras.backend.clear_session(free_memory=True)
    if not rates:
        raise JobError("The range test was stopped before its first batch; nothing to show.")
    smoothed = smooth(losses)
    return RangeTest(rates, losses, smoothed, suggest_rate(rates, smoothed), RULE)
