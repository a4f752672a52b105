"""One run from a DataFrame and an experiment to scores and saved files.

The command line calls `run_experiment` directly; the studio calls it in a worker process
through `nncore.run.tasks.train_job`. It imports TensorFlow when it runs, so the UI process
never calls it.

A run survives its process: schema.json and experiment.json are written before the first epoch
and the best weights as it goes (`runfiles.CHECKPOINT`), so `finish_interrupted` makes a usable
run of one killed midway. Every training ends by saving its last weights and optimizer state
(`runfiles.TRAINING_STATE`), from which `continue_run` trains it more as a new run.
"""

from __future__ import annotations

import dataclasses
import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from nncore.artifacts.runfiles import RunFiles
from nncore.config import Experiment, check_size, output_units
from nncore.data.drift import profiled
from nncore.data.plan import ColumnPlan, plan_columns
from nncore.data.schema import Residuals, feature_frame
from nncore.errors import DataError, NNCoreError
from nncore.rules import CHECKPOINT_SECONDS, SETTINGS
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
    # 0-based number of the first epoch of `history`: the epochs its parent ran, for a run that
    # continues another (its curves go on where the parent's end).
    first_epoch: int = 0

    @property
    def files(self) -> RunFiles:
        return RunFiles(self.out_dir)


Table = pd.DataFrame | str | os.PathLike


def as_frame(table: Table) -> pd.DataFrame:
    """A table given as a DataFrame, or as the path of its file's bytes (read as an upload is)."""
    if isinstance(table, pd.DataFrame):
        return table
    from nncore.data.ingest import read_table
    from nncore.run.workspace.folder import uploaded_name

    path = Path(table)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise DataError(
            f"Cannot read the table {path.name}: {exc.strerror}. Load it again."
        ) from None
    return read_table(data, uploaded_name(path))[0]


@dataclass
class _Setup:
    """An experiment's data, prepared, and its network, built and compiled."""

    plan: ColumnPlan
    prepared: Any  # nncore.data.prepare.Prepared
    loss: str
    n_classes: int
    y_train: np.ndarray  # as the loss takes them (one-hot for categorical cross-entropy)
    y_val: np.ndarray
    network: Any  # keras.Model

    @property
    def schema(self):
        return self.prepared.schema


def _setup(frame: pd.DataFrame, experiment: Experiment, split=None) -> _Setup:
    """`split` (a `nncore.data.split.Split`) as `prepare` takes it; by default the experiment's."""
    import keras

    from nncore.data.prepare import prepare
    from nncore.learn.model import build_model, compile_model

    plan = plan_columns(frame, experiment.data)
    prepared = prepare(frame, plan, experiment.data, seed=experiment.seed, split=split)
    # How the training rows spread travels in schema.json, for the drift check when scoring.
    training_rows = frame[frame[plan.target].notna()].iloc[prepared.split.train]
    prepared.schema = profiled(prepared.schema, feature_frame(training_rows, prepared.schema))
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
    return _Setup(plan, prepared, loss, n_classes, y_train, y_val, network)


def run_experiment(
    frame: Table,
    experiment: Experiment,
    out_dir: str | Path,
    listener=None,
) -> RunResult:
    """Plan the columns, split, preprocess, train, evaluate and save one experiment."""
    frame = as_frame(frame)
    started = time.perf_counter()
    setup = _setup(frame, experiment)
    files = RunFiles(Path(out_dir))
    _write_start(files, setup.schema, experiment)
    outcome = _train(setup, experiment, files, listener, initial_epoch=0, parent=None)
    return _finish(frame, experiment, setup, outcome, files, started, first_epoch=0, parent=None)


def continue_run(
    parent_dir: str | Path,
    frame: Table,
    extra_epochs: int,
    out_dir: str | Path,
    listener=None,
) -> RunResult:
    """Train the run in `parent_dir` (finished, stopped or interrupted) for `extra_epochs` more
    epochs on the same table, split and seed, from its last weights and optimizer state (an
    interrupted one's best weights, with a fresh optimizer), into a new run in `out_dir` whose
    epochs are numbered on from the parent's."""
    frame = as_frame(frame)
    started = time.perf_counter()
    parent = RunFiles(Path(parent_dir))
    experiment = _saved_experiment(parent)
    state = _continued_from(parent)
    if state is None:
        raise NNCoreError(
            f"{parent.folder.name} has nothing to continue from (no {parent.training_state.name}"
            f" nor {parent.checkpoint.name}): it is still training, or was made by an older "
            "version. Train it again instead."
        )
    if not 1 <= extra_epochs <= SETTINGS["epochs"].high:
        raise NNCoreError(
            f"Train more takes 1 to {SETTINGS['epochs'].high:g} epochs, got {extra_epochs}."
        )
    weights, optimizer_state, meta = _read_arrays(state)
    setup = _setup(frame, experiment)
    _check_same_table(setup, parent)
    setup.network.set_weights(weights)
    if optimizer_state:
        optimizer = setup.network.optimizer
        optimizer.build(setup.network.trainable_variables)
        for variable, value in zip(optimizer.variables, optimizer_state, strict=True):
            variable.assign(value)
    done = int(meta["epochs_done"])
    # Its experiment.json says what this run did: `extra_epochs` epochs, after the parent's.
    more = experiment.replace(
        training=dataclasses.replace(experiment.training, epochs=extra_epochs)
    )
    files = RunFiles(Path(out_dir))
    _write_start(files, setup.schema, more)
    outcome = _train(setup, more, files, listener, initial_epoch=done, parent=parent.folder)
    return _finish(
        frame, more, setup, outcome, files, started, first_epoch=done, parent=parent.folder
    )


def finish_interrupted(run_dir: str | Path, frame: Table) -> RunResult:
    """Make a usable run of one whose training was killed: the network rebuilt from
    experiment.json and schema.json with the checkpoint's weights, scored on the same validation
    rows, saved with every file a finished run has; its metrics say "interrupted"."""
    from nncore.learn.train import TrainOutcome

    frame = as_frame(frame)
    started = time.perf_counter()
    files = RunFiles(Path(run_dir))
    experiment = _saved_experiment(files)
    if not files.checkpoint.exists():
        raise NNCoreError(
            f"{files.folder.name} has no saved weights ({files.checkpoint.name}): it was stopped "
            "before its first checkpoint. Train it again."
        )
    weights, _, meta = _read_arrays(files.checkpoint)
    setup = _setup(frame, experiment)
    _check_same_table(setup, files)
    setup.network.set_weights(weights)
    outcome = TrainOutcome(
        history=meta["history"],
        stopped_by="interrupted",
        message=(
            f"The training was interrupted after epoch {meta['epochs_done']}; this is its best "
            "model saved by then."
        ),
        best_epoch=meta["best_epoch"],
        seconds=meta["seconds"],
        samples_per_second=meta["samples_per_second"],
        final_weights=weights,
        epochs_done=meta["epochs_done"],
    )
    first_epoch = meta["first_epoch"]
    parent = meta.get("parent")
    return _finish(
        frame,
        experiment,
        setup,
        outcome,
        files,
        started,
        first_epoch=first_epoch,
        parent=None if parent is None else Path(parent),
    )


def _saved_experiment(files: RunFiles) -> Experiment:
    try:
        return Experiment.from_json(files.experiment.read_bytes())
    except FileNotFoundError:
        raise NNCoreError(
            f"No {files.experiment.name} in {files.folder}: pass the folder of a run."
        ) from None


def _check_same_table(setup: _Setup, files: RunFiles) -> None:
    saved, fresh = json.loads(files.schema.read_text()), setup.schema.to_dict()
    # The decision threshold and the validation errors come after training, from the model: not
    # part of the table.
    for learned in ("threshold", "residuals", "training_rows"):
        saved.pop(learned, None)
        fresh.pop(learned)
    # Nor is how the training rows spread (nor on how many), which older runs lack.
    for schema in (saved, fresh):
        for item in schema["numeric"] + schema["categorical"]:
            for spread in ("edges", "shares", "missing"):
                item.pop(spread, None)
    if saved != json.loads(json.dumps(fresh)):
        raise DataError(
            f"This table is not the one {files.folder.name} was trained on (its columns, "
            "categories or value ranges differ). Load that table, then try again."
        )


def _write_start(files: RunFiles, schema, experiment: Experiment) -> None:
    """What a run needs to be finished later, written before its first epoch."""
    files.folder.mkdir(parents=True, exist_ok=True)
    _write_atomic(files.schema, json.dumps(schema.to_dict(), indent=2).encode())
    _write_atomic(files.experiment, experiment.to_json().encode())
    files.checkpoint.unlink(missing_ok=True)  # a folder used again: the old weights are not these
    files.training_state.unlink(missing_ok=True)


def _train(
    setup: _Setup,
    experiment: Experiment,
    files: RunFiles,
    listener,
    initial_epoch: int,
    parent: Path | None,
):
    from nncore.learn.train import Checkpoints, train

    prepared = setup.prepared
    outcome = train(
        setup.network,
        prepared.x_train,
        setup.y_train,
        prepared.x_val,
        setup.y_val,
        experiment.training,
        seed=experiment.seed,
        sample_weight=_class_weights(
            prepared.y_train, setup.plan.task, setup.n_classes, experiment
        ),
        listener=listener,
        initial_epoch=initial_epoch,
        checkpoints=Checkpoints(
            lambda snapshot: _save_checkpoint(files, snapshot, initial_epoch, parent),
            every=CHECKPOINT_SECONDS.value(),
        ),
    )
    if not outcome.history:
        raise DataError(
            outcome.message
            or "Training ended before the first epoch finished; nothing was learned."
        )
    return outcome


def _finish(
    frame: pd.DataFrame,
    experiment: Experiment,
    setup: _Setup,
    outcome,
    files: RunFiles,
    started: float,
    *,
    first_epoch: int,
    parent: Path | None,
) -> RunResult:
    """Save the trained network as portable model files, score it and write the run's reports;
    keep its training state for a continuation."""
    import keras

    from nncore.artifacts.export import (
        compile_portable,
        feature_inputs,
        portable_model,
        portable_parts,
        write_artifacts,
    )
    from nncore.artifacts.predict import model_inputs, raw_outputs
    from nncore.learn import evaluate

    plan, prepared, schema, network = setup.plan, setup.prepared, setup.schema, setup.network
    task, n_classes, loss = plan.task, setup.n_classes, setup.loss
    _save_arrays(
        files.training_state,
        outcome.final_weights,
        outcome.optimizer_state,
        {"epochs_done": outcome.epochs_done},
    )
    portable = portable_model(network, schema)
    compile_portable(portable, experiment.compile, loss)
    write_artifacts(portable, schema, experiment, files)
    history = pd.DataFrame(outcome.history)
    history.index += first_epoch
    history.rename_axis("epoch").to_csv(files.history)

    in_target_units = _in_target_units(schema.target)
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
        baselines = evaluate.baselines(
            task,
            prepared.x_train,
            in_target_units(prepared.y_train),
            x_rows[part],
            truth,
            n_classes,
            balanced=experiment.training.class_weight == "balanced",
            seed=experiment.seed,
        )
        metrics[part] = {
            "network": evaluate.scores(task, truth, output, n_classes),
            "baselines": baselines.scores,
            "rows": int(len(rows)),
        }
        metrics.setdefault("baseline_seconds", {})[part] = baselines.seconds
    if task == "regression":
        # Kept with the model for prediction intervals (split conformal).
        schema = dataclasses.replace(
            schema, residuals=Residuals.of(in_target_units(prepared.y_val), output_val)
        )
        _write_atomic(files.schema, json.dumps(schema.to_dict(), indent=2).encode())
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
        first_epoch=first_epoch,
        message=outcome.message,
    )
    metrics["training"] = training.to_metrics()
    if parent is not None:
        metrics["training"]["parent"] = parent.name
    result = RunResult(
        out_dir=files.folder,
        plan=plan,
        history=outcome.history,
        metrics=_plain(metrics),
        training=training,
        message=outcome.message,
        seconds=time.perf_counter() - started,
        split_note=prepared.split.note,
        y_val=in_target_units(prepared.y_val),
        output_val=output_val,
        validation_rows=prepared.split.validation,
        warnings=list(plan.warnings),
        diagnostics=outcome.diagnostics,
        first_epoch=first_epoch,
    )
    _save_result(result)
    # Written last: a run with metrics.json is whole (`finish_interrupted` is for one without).
    _write_atomic(files.metrics, json.dumps(result.metrics, indent=2, allow_nan=False).encode())
    keras.backend.clear_session(free_memory=True)
    return result


def _in_target_units(target):
    """Targets or outputs as the network trained on them, to the target's own units (a
    regression network learns a standardized target; class indices stay as they are)."""
    if target.task != "regression":
        return lambda y: y
    return lambda y: y * target.scale + target.center


def _save_result(result: RunResult) -> None:
    """What `load_result` needs beside metrics.json, in the run's folder."""
    files = result.files
    temporary = files.validation.with_name(f".{files.validation.name}.{os.getpid()}.tmp")
    with open(temporary, "wb") as file:
        np.savez(
            file,
            y_val=result.y_val,
            output_val=result.output_val,
            validation_rows=result.validation_rows,
        )
    os.replace(temporary, files.validation)
    rest = {
        "plan": dataclasses.asdict(result.plan),
        "history": result.history,
        "training": dataclasses.asdict(result.training),  # unrounded, unlike metrics.json's
        "message": result.message,
        "seconds": result.seconds,
        "split_note": result.split_note,
        "warnings": result.warnings,
        "diagnostics": result.diagnostics,
        "first_epoch": result.first_epoch,
    }
    # NaN stays NaN (a loss that diverged), so the result read back equals the one written.
    _write_atomic(files.result, json.dumps(rest, default=_item).encode())


def load_result(out_dir: str | Path) -> RunResult | None:
    """The `RunResult` of the finished run in `out_dir`, read from its files without the table
    or TensorFlow; None for a run without them (not finished, or made by an older version)."""
    files = RunFiles(Path(out_dir))
    try:
        metrics = json.loads(files.metrics.read_bytes())
        rest = json.loads(files.result.read_bytes())
        with np.load(files.validation, allow_pickle=False) as arrays:
            y_val, output_val = arrays["y_val"], arrays["output_val"]
            validation_rows = arrays["validation_rows"]
        plan = rest["plan"]
    except (OSError, ValueError, KeyError):
        return None
    return RunResult(
        out_dir=files.folder,
        plan=ColumnPlan(
            **{
                **plan,
                "classes": tuple(plan["classes"]),
                "features": tuple(map(tuple, plan["features"])),
                "excluded": tuple(map(tuple, plan["excluded"])),
                "warnings": tuple(plan["warnings"]),
            }
        ),
        history=rest["history"],
        metrics=metrics,
        training=TrainingSummary(**rest["training"]),
        message=rest["message"],
        seconds=rest["seconds"],
        split_note=rest["split_note"],
        y_val=y_val,
        output_val=output_val,
        validation_rows=validation_rows,
        warnings=rest["warnings"],
        diagnostics=rest["diagnostics"],
        first_epoch=rest["first_epoch"],
    )


def checkpoint_history(run_dir: str | Path) -> tuple[list[dict], int]:
    """The epochs an interrupted run had trained by its last checkpoint, and the 0-based number
    of its first; ([], 0) without a checkpoint."""
    meta = _read_meta(RunFiles(Path(run_dir)).checkpoint)
    return (meta["history"], meta["first_epoch"]) if meta else ([], 0)


def epochs_done(run_dir: str | Path) -> int:
    """The epochs a run and its ancestors trained by the state a continuation starts from (what
    it numbers its epochs on from); 0 without one."""
    state = _continued_from(RunFiles(Path(run_dir)))
    meta = _read_meta(state) if state is not None else None
    return int(meta["epochs_done"]) if meta else 0


def _continued_from(files: RunFiles) -> Path | None:
    """What "train more" starts from: the last weights and optimizer state of a training that
    ended, else the best weights of one killed (with a fresh optimizer); None without either."""
    return next((p for p in (files.training_state, files.checkpoint) if p.exists()), None)


def _item(value):
    """NumPy scalars and arrays as plain Python values, for json.dumps."""
    return value.tolist() if hasattr(value, "tolist") else str(value)


def _save_checkpoint(files: RunFiles, snapshot, first_epoch: int, parent: Path | None) -> None:
    meta = {
        "epochs_done": snapshot.epochs_done,
        "best_epoch": snapshot.best_epoch,
        "first_epoch": first_epoch,
        "history": snapshot.history,
        "seconds": snapshot.seconds,
        "samples_per_second": snapshot.samples_per_second,
        "parent": None if parent is None else str(parent),
    }
    _save_arrays(files.checkpoint, snapshot.weights, [], meta)


def _save_arrays(path: Path, weights, optimizer_state, meta: dict) -> None:
    """Weights, optimizer variables and a JSON note in one .npz, replaced atomically: a reader
    (or a restart after SIGKILL) sees the old file or the new one, never half of one."""
    arrays = {f"weight_{i}": w for i, w in enumerate(weights)}
    arrays |= {f"optimizer_{i}": v for i, v in enumerate(optimizer_state)}
    arrays["meta"] = np.array(json.dumps(_plain(meta)))
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(temporary, "wb") as file:
        np.savez(file, **arrays)
    os.replace(temporary, path)


def _read_arrays(path: Path) -> tuple[list[np.ndarray], list[np.ndarray], dict]:
    with np.load(path, allow_pickle=False) as saved:
        meta = json.loads(str(saved["meta"]))
        weights = [saved[f"weight_{i}"] for i in range(_count(saved, "weight_"))]
        optimizer = [saved[f"optimizer_{i}"] for i in range(_count(saved, "optimizer_"))]
    return weights, optimizer, meta


def _read_meta(path: Path) -> dict | None:
    """The JSON note of a .npz that `_save_arrays` wrote, without reading its arrays."""
    try:
        with np.load(path, allow_pickle=False) as saved:
            return json.loads(str(saved["meta"]))
    except (OSError, ValueError, KeyError):
        return None


def _count(saved, prefix: str) -> int:
    return sum(1 for name in saved.files if name.startswith(prefix))


def _write_atomic(path: Path, data: bytes) -> None:
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temporary.write_bytes(data)
    os.replace(temporary, path)


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
