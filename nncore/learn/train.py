"""Fit a compiled model, reporting through plain callables and stopping on request.

`model.fit` with its defaults spends most of its time in per-step overhead (the tf.data
pipeline and one Python round trip per batch). This loop keeps the data as tensors, shuffles
with one seeded permutation per epoch and runs many of Keras' own `train_step`s inside one
`tf.function` call, sized to take about a tenth of a second so progress and stop requests stay
prompt. The mathematics is Keras' own: its train and test steps, losses, metrics, optimizers and
its EarlyStopping and ReduceLROnPlateau callbacks.

A training can save a `Snapshot` of the weights it would end with as it goes (a checkpoint, at
most every few seconds and only when they changed), and can continue an earlier one: with
`initial_epoch`, epochs are numbered on from there and the batch order goes on where it left off
(the generator skips the permutations of the epochs already done).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import keras
import numpy as np
import tensorflow as tf

from nncore.config import TrainSpec, monitor_mode
from nncore.learn.diagnostics import Probe, Record

EpochCallback = Callable[[int, dict[str, float]], None]
ProgressCallback = Callable[[dict[str, float]], None]
DiagnosticsCallback = Callable[[int, Record | None], None]

# Wall time one call into the graph aims for: short enough for a prompt stop, long enough that
# the Python round trip between calls costs little.
CHUNK_SECONDS = 0.1
EVAL_BATCH = 4096


@dataclass
class Listener:
    """Who hears about training. Every hook is optional and does nothing by default."""

    on_epoch_end: EpochCallback | None = None
    on_progress: ProgressCallback | None = None
    should_stop: Callable[[], bool] | None = None
    # Called with each epoch's `nncore.learn.diagnostics` record (None for an epoch not measured),
    # just before `on_epoch_end`.
    on_diagnostics: DiagnosticsCallback | None = None
    # Why a stop was asked for, when not by the user ("Stopped after its time budget of 60 s").
    stop_reason: Callable[[], str] | None = None


@dataclass(frozen=True)
class Snapshot:
    """The weights the training would end with if it ended now, and how far it got."""

    weights: list[np.ndarray]
    epochs_done: int  # counted from the start of the first training, continuations included
    best_epoch: int | None  # 0-based, likewise
    history: list[dict[str, float]]  # this training's epochs so far
    seconds: float  # training so far
    samples_per_second: float


@dataclass
class Checkpoints:
    """Where snapshots go while training, and how often at most (seconds)."""

    save: Callable[[Snapshot], None]
    every: float


@dataclass
class TrainOutcome:
    history: list[dict[str, float]] = field(default_factory=list)
    stopped_by: str = "completed"  # completed | early_stopping | user | nan
    message: str = ""
    best_epoch: int | None = None  # 0-based
    restored_best: bool = False
    seconds: float = 0.0
    samples_per_second: float = 0.0
    # One `nncore.learn.diagnostics` record per epoch of `history` when diagnosing; None for an
    # epoch left unmeasured to keep their cost down (see `Probe.measure_within_budget`).
    diagnostics: list[Record | None] = field(default_factory=list)
    # The state to continue from: the last epoch's weights (not the best ones restored) and the
    # optimizer's variables, as arrays; and the epochs done in all, continuations included.
    final_weights: list[np.ndarray] = field(default_factory=list)
    optimizer_state: list[np.ndarray] = field(default_factory=list)
    epochs_done: int = 0


def train(
    model: keras.Model,
    x: np.ndarray,
    y: np.ndarray,
    x_val: np.ndarray,
    y_val: np.ndarray,
    spec: TrainSpec,
    *,
    seed: int,
    sample_weight: np.ndarray | None = None,
    listener: Listener | None = None,
    shuffle: bool = True,
    diagnose: bool = True,
    initial_epoch: int = 0,
    checkpoints: Checkpoints | None = None,
) -> TrainOutcome:
    """Train compiled `model` on (x, y), validating on (x_val, y_val) after every epoch, for
    `spec.epochs` epochs after the `initial_epoch` done before (see the module's notes).

    With `diagnose`, every epoch also measures dead and saturated units and gradient norms per
    layer (`nncore.learn.diagnostics`) into `TrainOutcome.diagnostics`.
    """
    loop = _Loop(model, x, y, x_val, y_val, spec.batch_size, sample_weight)
    probe = Probe(model, loop.x_val, loop.x, loop.y, loop.w) if diagnose else None
    try:
        return _fit(
            loop, probe, spec, seed, listener or Listener(), shuffle, initial_epoch, checkpoints
        )
    finally:
        loop.close()


def _fit(
    loop: _Loop,
    probe: Probe | None,
    spec: TrainSpec,
    seed: int,
    listener: Listener,
    shuffle: bool,
    initial_epoch: int,
    checkpoints: Checkpoints | None,
):
    model, n = loop.model, loop.n
    callbacks, early = _callbacks(model, spec, has_validation=loop.has_validation)
    restoring = early is not None and spec.restore_best_weights
    outcome = TrainOutcome()
    rng = np.random.default_rng(seed)
    if shuffle:
        for _ in range(initial_epoch):
            rng.permutation(n)
    last_epoch = initial_epoch + spec.epochs
    steps_per_chunk = 8
    started = time.perf_counter()
    trained_samples = 0
    saved: tuple[int | None, float] = (None, started)  # what the last checkpoint held, and when

    def snapshot(epochs_done: int) -> Snapshot:
        seconds = time.perf_counter() - started
        if restoring and early.best_weights is not None:
            weights, best = early.best_weights, early.best_epoch
        else:
            weights, best = model.get_weights(), early.best_epoch if early is not None else None
        speed = trained_samples / seconds if seconds else 0.0
        return Snapshot(weights, epochs_done, best, outcome.history, seconds, speed)

    def kept() -> int | None:
        """Which epoch's weights the training would end with now."""
        return early.best_epoch if restoring else initial_epoch + len(outcome.history) - 1

    model.stop_training = False
    callbacks.on_train_begin()
    for epoch in range(initial_epoch, last_epoch):
        callbacks.on_epoch_begin(epoch)
        order = tf.constant(rng.permutation(n) if shuffle else np.arange(n), tf.int32)
        model.reset_metrics()
        step, epoch_started = 0, time.perf_counter()
        while step < loop.steps_per_epoch:
            count = min(steps_per_chunk, loop.steps_per_epoch - step)
            chunk_started = time.perf_counter()
            loss = float(loop.run_chunk(order, step, count))
            elapsed = time.perf_counter() - chunk_started
            step += count
            trained_samples += min(count * loop.batch_size, n - (step - count) * loop.batch_size)
            if elapsed > 0:
                steps_per_chunk = max(1, min(4096, int(count * CHUNK_SECONDS / elapsed)))
            if not math.isfinite(loss):
                outcome.stopped_by = "nan"
                outcome.message = _nan_message(model, epoch)
                break
            if listener.on_progress:
                done = time.perf_counter() - epoch_started
                listener.on_progress(
                    {
                        "epoch": epoch,
                        "epochs": last_epoch,
                        "step": step,
                        "steps": loop.steps_per_epoch,
                        "loss": loss,
                        "samples_per_second": trained_samples / (time.perf_counter() - started),
                        "epoch_seconds": done,
                    }
                )
            if listener.should_stop and listener.should_stop():
                outcome.stopped_by = "user"
                outcome.message = _stop_message(listener, "during", epoch)
                break
        if outcome.stopped_by != "completed":
            break

        logs = loop.logs()
        if loop.has_validation:
            model.reset_metrics()
            logs.update({f"val_{k}": v for k, v in loop.evaluate().items()})
        logs["learning_rate"] = float(keras.ops.convert_to_numpy(model.optimizer.learning_rate))
        if not all(math.isfinite(v) for v in logs.values()):
            outcome.stopped_by = "nan"
            outcome.message = _nan_message(model, epoch)
            break
        if probe is not None:
            record = probe.measure_within_budget(time.perf_counter() - started)
            outcome.diagnostics.append(record)
            if listener.on_diagnostics:
                listener.on_diagnostics(epoch, record)
        callbacks.on_epoch_end(epoch, logs)
        outcome.history.append(logs)
        if listener.on_epoch_end:
            listener.on_epoch_end(epoch, logs)
        if model.stop_training:
            outcome.stopped_by = "early_stopping"
            outcome.message = (
                f"Early stopping after epoch {epoch + 1}: {spec.monitor} did not improve for "
                f"{spec.patience} epochs."
            )
            break
        if checkpoints is not None and kept() != saved[0]:
            now = time.perf_counter()
            if now - saved[1] >= checkpoints.every:
                checkpoints.save(snapshot(epoch + 1))
                saved = (kept(), now)
        if listener.should_stop and listener.should_stop():
            outcome.stopped_by = "user"
            outcome.message = _stop_message(listener, "after", epoch)
            break

    outcome.epochs_done = initial_epoch + len(outcome.history)
    if checkpoints is not None and outcome.history and kept() != saved[0]:
        checkpoints.save(snapshot(outcome.epochs_done))
    outcome.final_weights = model.get_weights()
    outcome.optimizer_state = [np.asarray(v.numpy()) for v in model.optimizer.variables]
    callbacks.on_train_end()
    if early is not None and early.best_weights is not None:
        outcome.best_epoch = early.best_epoch
        outcome.restored_best = spec.restore_best_weights
    outcome.seconds = time.perf_counter() - started
    outcome.samples_per_second = trained_samples / outcome.seconds if outcome.seconds else 0.0
    return outcome


def _callbacks(model: keras.Model, spec: TrainSpec, has_validation: bool):
    monitor = spec.monitor if has_validation else spec.monitor.removeprefix("val_")
    mode = monitor_mode(monitor)
    items = []
    early = None
    if spec.early_stopping or spec.restore_best_weights:
        # Without early stopping the same callback still tracks the best weights, so a stop
        # request or the last epoch keeps the best model seen.
        early = keras.callbacks.EarlyStopping(
            monitor=monitor,
            mode=mode,
            patience=spec.patience if spec.early_stopping else spec.epochs + 1,
            min_delta=spec.min_delta,
            restore_best_weights=spec.restore_best_weights,
        )
        items.append(early)
    if spec.reduce_lr_on_plateau:
        items.append(
            keras.callbacks.ReduceLROnPlateau(
                monitor=monitor,
                mode=mode,
                factor=spec.reduce_lr_factor,
                patience=spec.reduce_lr_patience,
                verbose=0,
            )
        )
    return keras.callbacks.CallbackList(items, model=model), early


def _stop_message(listener: Listener, when: str, epoch: int) -> str:
    reason = listener.stop_reason() if listener.stop_reason else ""
    if reason:
        return f"{reason}, {when} epoch {epoch + 1}."
    return f"Stopped on request {when} epoch {epoch + 1}."


def _nan_message(model: keras.Model, epoch: int) -> str:
    lr = float(keras.ops.convert_to_numpy(model.optimizer.learning_rate))
    return (
        f"Training stopped in epoch {epoch + 1}: the loss became NaN or infinite. The learning "
        f"rate ({lr:g}) is probably too high for this model, or the data holds extreme values. "
        "Lower the learning rate (try a tenth), scale the data, or check the columns for huge "
        "numbers."
    )


def _unchanged(grads_and_vars):
    return grads_and_vars


class _Loop:
    """Keras' train and test steps over in-memory tensors, many steps per graph call."""

    def __init__(self, model, x, y, x_val, y_val, batch_size, sample_weight):
        self.model = model
        self.batch_size = batch_size
        self.n = len(x)
        self.has_validation = len(x_val) > 0
        self.steps_per_epoch = max(1, math.ceil(self.n / batch_size))
        self.x = tf.constant(x)
        self.y = tf.constant(y)
        self.w = None if sample_weight is None else tf.constant(sample_weight, tf.float32)
        self.x_val = tf.constant(x_val)
        self.y_val = tf.constant(y_val)
        self._skip_lone_all_reduce()
        self._build_metrics()
        # The data goes in as arguments rather than captured constants, so a traced graph that
        # outlives the training (see _skip_lone_all_reduce) cannot hold the data too.
        self._run = tf.function(self._run_graph, reduce_retracing=True)
        self._evaluate = tf.function(self._evaluate_graph, reduce_retracing=True)

    def _skip_lone_all_reduce(self) -> None:
        # Without a distribution strategy Keras' all-reduce sums the gradients of one replica,
        # which changes nothing, but it wraps them in tf.custom_gradient, whose process-wide
        # registry keeps every traced training graph alive: a worker grew by megabytes per
        # training. The override lives on this optimizer instance for this training only.
        if not tf.distribute.has_strategy():
            self.model.optimizer._all_reduce_sum_gradients = _unchanged

    def close(self) -> None:
        self.model.optimizer.__dict__.pop("_all_reduce_sum_gradients", None)

    def _build_metrics(self) -> None:
        # Keras builds the optimizer and compiled metrics lazily, inside the first step; a
        # tf.function may only create variables on its first trace, so build them eagerly here
        # without changing any weight.
        model = self.model
        model.optimizer.build(model.trainable_variables)
        sample = (self.x[:1], self.y[:1])
        model.test_step(sample)
        model.reset_metrics()

    def run_chunk(self, order, first_step: int, count: int):
        data = (self.x, self.y) if self.w is None else (self.x, self.y, self.w)
        return self._run(data, order, tf.constant(first_step), tf.constant(count))

    def _run_graph(self, data, order, first_step, count):
        loss = tf.constant(0.0)
        b = self.batch_size
        n = tf.shape(order)[0]
        for i in tf.range(count):
            start = (first_step + i) * b
            index = order[start : tf.minimum(start + b, n)]
            batch = tuple(tf.gather(part, index) for part in data)
            logs = self.model.train_step(batch)
            loss = tf.cast(logs["loss"], tf.float32)
        return loss

    def _evaluate_graph(self, x_val, y_val):
        n = tf.shape(x_val)[0]
        for start in tf.range(0, n, EVAL_BATCH):
            stop = tf.minimum(start + EVAL_BATCH, n)
            self.model.test_step((x_val[start:stop], y_val[start:stop]))
        return self.model.get_metrics_result()

    def logs(self) -> dict[str, float]:
        return {k: float(v) for k, v in self.model.get_metrics_result().items()}

    def evaluate(self) -> dict[str, float]:
        return {k: float(v) for k, v in self._evaluate(self.x_val, self.y_val).items()}
