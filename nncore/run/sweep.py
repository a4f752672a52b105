"""Tuning: a learning-rate sweep, a learning-rate range test and a capacity search.

The notes tune by trying: several learning rates on the same split and seed, then a network
grown from small until the validation score stops improving. The parts here are plain data and
decisions, free of TensorFlow, so the UI process can use them:

- `learning_rates` and `rate_trials` make one trial `Experiment` per rate; each trial is an
  ordinary training job. `best_score` and `best_trial` pick the winner by the monitored
  validation score; `check_same_split` confirms the trials saw the same validation rows.
- `CapacitySearch` decides the next architecture from the scores so far; each step is an
  ordinary training job too, run after the one before.
- `range_test_job` is the one worker task here (it imports TensorFlow when it runs): one short
  training whose learning rate grows exponentially batch by batch, recording the loss.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from nncore.config import CompileSpec, Experiment, LayerSpec, OptimizerName, monitor_mode
from nncore.errors import ConfigError, JobError
from nncore.rules import SETTINGS

MIN_RATE, MAX_RATE = SETTINGS["learning_rate"].low, SETTINGS["learning_rate"].high
MAX_TRIALS = 12


# --------------------------------------------------------------------------- learning-rate sweep


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


# ------------------------------------------------------------------------------ capacity search


@dataclass
class CapacityStep:
    layers: tuple[LayerSpec, ...]
    move: str  # "start", "wider" or "deeper"
    score: float | None = None  # None if its training logged no score
    done: bool = False
    accepted: bool = False


@dataclass
class CapacitySearch:
    """Start small; double the units while the validation score improves by at least
    `min_improvement` (relative), then add layers of that width while it still does; stop at
    the first step that does not. The best accepted step is the chosen architecture.

    Drive it with `next_layers()` (None once finished) and `record(score)` after each step.
    """

    base: Experiment
    start_units: int = 8
    min_improvement: float = 0.02
    max_steps: int = 8
    max_units: int = 512
    max_layers: int = 6
    steps: list[CapacityStep] = field(default_factory=list)
    finished: bool = False
    phase: str = "wider"  # then "deeper"

    def __post_init__(self) -> None:
        if not 0.0 <= self.min_improvement < 1.0:
            raise ConfigError(
                f"The minimum improvement is a share between 0 and 1, got {self.min_improvement}."
            )
        if not 1 <= self.start_units <= self.max_units:
            raise ConfigError(f"Start with 1 to {self.max_units} units, got {self.start_units}.")

    @property
    def monitor(self) -> str:
        return self.base.training.monitor

    @property
    def chosen(self) -> CapacityStep | None:
        accepted = [s for s in self.steps if s.accepted]
        return accepted[-1] if accepted else None

    def trial(self, layers: tuple[LayerSpec, ...]) -> Experiment:
        return self.base.replace(layers=layers)

    def next_layers(self) -> tuple[LayerSpec, ...] | None:
        """The architecture to train next: the pending one if its score is not in yet."""
        if self.finished:
            return None
        if self.steps and not self.steps[-1].done:
            return self.steps[-1].layers
        layers, move = self._propose()
        if layers is None:
            self.finished = True
            return None
        self.steps.append(CapacityStep(layers, move))
        return layers

    def record(self, score: float | None) -> None:
        """The pending step's validation score (None if its training produced none)."""
        step = self.steps[-1]
        best = self.chosen
        step.score, step.done = score, True
        if score is not None and (best is None or self._improves(score, best.score)):
            step.accepted = True
        elif self.phase == "wider":
            self.phase = "deeper"
        else:
            self.finished = True
        if len(self.steps) >= self.max_steps or self.chosen is None:
            self.finished = True  # at the limit, or nothing scored to grow from

    def _improves(self, score: float, than: float | None) -> bool:
        if than is None:
            return True
        gain = (than - score) if monitor_mode(self.monitor) == "min" else (score - than)
        return gain > self.min_improvement * max(abs(than), 1e-12)

    def _propose(self) -> tuple[tuple[LayerSpec, ...] | None, str]:
        if not self.steps:
            # The current design's first layer (activation, dropout, penalties), made small.
            first = self.base.layers[0] if self.base.layers else LayerSpec()
            return (dataclasses.replace(first, units=self.start_units),), "start"
        layers = self.chosen.layers  # there is one: `record` ends a search without
        if self.phase == "wider":
            units = layers[0].units * 2
            if units <= self.max_units:
                return tuple(dataclasses.replace(s, units=units) for s in layers), "wider"
            self.phase = "deeper"
        if len(layers) < self.max_layers:
            return (*layers, layers[-1]), "deeper"
        return None, ""


# ---------------------------------------------------------------------------- range test (worker)


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
    from nncore.data.preprocess import prepare
    from nncore.data.profile import plan_columns
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
