"""One run from a DataFrame and an experiment to scores and saved files.

The command line calls `run_experiment` directly; the studio calls it in a worker process
through `nncore.run.tasks.train_job`. It imports TensorFlow when it runs, so the UI process
never calls it.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from nncore.artifacts.runfiles import RunFiles
from nncore.config import Experiment, check_size, output_units
from nncore.data.plan import ColumnPlan, plan_columns
from nncore.errors import DataError
from nncore.run.records import TrainingSummary


@dataclass
class RunResult:
    """What a run produced; small and picklable, so it can leave a worker process."""

    out_dir: Path
    plan: ColumnPlan
    history: list[dict[str, float]]
    metrics: dict  # as in metrics.json; its "training" section is `training`, typed
    training: TrainingSummary
    message: str
    seconds: float  # the whole run: preparing, training, scoring and saving
    split_note: str
    # Validation rows as the evaluation page needs them: true targets (target units or class
    # indices) and the network's outputs (values, or probabilities per class).
    y_val: np.ndarray = field(repr=False, default_factory=lambda: np.empty(0))
    output_val: np.ndarray = field(repr=False, default_factory=lambda: np.empty(0))
    # Positions of the validation rows among the rows that have a target.
    validation_rows: np.ndarray = field(repr=False, default_factory=lambda: np.empty(0, int))
    warnings: list[str] = field(default_factory=list)
    # One `nncore.learn.diagnostics` record per epoch of `history` (None for an epoch not measured).
    diagnostics: list[dict | None] = field(default_factory=list)

    @property
    def files(self) -> RunFiles:
        return RunFiles(self.out_dir)


def run_experiment(
    frame: pd.DataFrame,
    experiment: Experiment,
    out_dir: str | Path,
    listener=None,
) -> RunResult:
    """Plan the columns, split, preprocess, train, evaluate and save one experiment."""
    import keras

    from nncore.artifacts.export import (
        compile_portable,
        feature_inputs,
        portable_model,
        portable_parts,
        write_artifacts,
    )
    from nncore.artifacts.predict import model_inputs, raw_outputs
    from nncore.data.prepare import prepare
    from nncore.learn import evaluate
    from nncore.learn.model import build_model, compile_model
    from nncore.learn.train import train

    started = time.perf_counter()
    plan = plan_columns(frame, experiment.data)
    prepared = prepare(frame, plan, experiment.data, seed=experiment.seed)
    schema = prepared.schema
    task = plan.task
    n_classes = len(plan.classes)
    loss = experiment.compile.resolved_loss(task)

    check_size(schema.width, experiment.layers, output_units(task, n_classes))
    keras.utils.set_random_seed(experiment.seed)
    network = build_model(schema.width, experiment.layers, task, n_classes)
    compile_model(network, experiment.compile, task)
    y_train, y_val = prepared.y_train, prepared.y_val
    if loss == "categorical_crossentropy":
        y_train, y_val = (np.eye(n_classes, dtype=np.float32)[y] for y in (y_train, y_val))
    outcome = train(
        network,
        prepared.x_train,
        y_train,
        prepared.x_val,
        y_val,
        experiment.training,
        seed=experiment.seed,
        sample_weight=_class_weights(prepared.y_train, task, n_classes, experiment),
        listener=listener,
    )
    if not outcome.history:
        raise DataError(
            outcome.message
            or "Training ended before the first epoch finished; nothing was learned."
        )

    portable = portable_model(network, schema)
    compile_portable(portable, experiment.compile, loss)
    out = Path(out_dir)
    files = RunFiles(out)
    write_artifacts(portable, schema, experiment, files)
    pd.DataFrame(outcome.history).rename_axis("epoch").to_csv(files.history)

    target = schema.target

    def in_target_units(y: np.ndarray) -> np.ndarray:
        return y * target.scale + target.center if task == "regression" else y

    frame_rows = frame[frame[plan.target].notna()]
    parts = {"validation": prepared.split.validation}
    if len(prepared.split.test):
        parts["test"] = prepared.split.test
    metrics: dict = {"task": task, "loss": loss, "split": prepared.split.note}
    y_true = {"validation": prepared.y_val, "test": prepared.y_test}
    x_rows = {"validation": prepared.x_val, "test": prepared.x_test}
    output_val = None
    for part, rows in parts.items():
        output = raw_outputs(portable, model_inputs(frame_rows.iloc[rows], schema))
        if part == "validation":
            output_val = output
        truth = in_target_units(y_true[part])
        metrics[part] = {
            "network": evaluate.scores(task, truth, output, n_classes),
            "baselines": evaluate.baselines(
                task,
                prepared.x_train,
                in_target_units(prepared.y_train),
                x_rows[part],
                truth,
                n_classes,
            ),
            "rows": int(len(rows)),
        }
    preprocessing, layers = portable_parts(portable)
    sources = evaluate.input_sources(schema)
    metrics["importance"] = evaluate.feature_importance(
        layers.predict_on_batch,
        raw_outputs(
            preprocessing, model_inputs(frame_rows.iloc[prepared.split.validation], schema)
        ),
        [sources[name] for name in feature_inputs(schema)],
        in_target_units(prepared.y_val),
        task,
        n_classes,
        seed=experiment.seed,
    )
    training = TrainingSummary(
        epochs_run=len(outcome.history),
        stopped_by=outcome.stopped_by,
        best_epoch=outcome.best_epoch,
        seconds=outcome.seconds,
        samples_per_second=outcome.samples_per_second,
        train_rows=int(len(prepared.split.train)),
    )
    metrics["training"] = training.to_metrics()
    metrics = _plain(metrics)
    files.metrics.write_text(json.dumps(metrics, indent=2, allow_nan=False))
    keras.backend.clear_session(free_memory=True)
    return RunResult(
        out_dir=out,
        plan=plan,
        history=outcome.history,
        metrics=metrics,
        training=training,
        message=outcome.message,
        seconds=time.perf_counter() - started,
        split_note=prepared.split.note,
        y_val=in_target_units(prepared.y_val),
        output_val=output_val,
        validation_rows=prepared.split.validation,
        warnings=list(plan.warnings),
        diagnostics=outcome.diagnostics,
    )


def _class_weights(y: np.ndarray, task: str, n_classes: int, experiment: Experiment):
    if task == "regression" or experiment.training.class_weight == "none":
        return None
    from sklearn.utils.class_weight import compute_class_weight

    codes = y.astype(int)
    present = np.unique(codes)
    weights = compute_class_weight("balanced", classes=present, y=codes)
    lookup = np.ones(max(n_classes, 2), np.float32)
    lookup[present] = weights
    return lookup[codes]


def _plain(value):
    """JSON-ready: numpy scalars as Python numbers, NaN (an undefined score) as None."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not np.isfinite(value):
        return None
    return value
