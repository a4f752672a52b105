"""The studio's jobs for `nncore.run.jobs`: a training, its continuation, the finishing of an
interrupted one and a prediction, each run in a worker process (TensorFlow loads there, never in
the server). Importing this module loads no TensorFlow.

A training's table comes as a DataFrame or as the path of its file (a workspace's upload), which
the worker reads: a queued job then holds a path, not a copy of the table.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from nncore.config import Experiment
from nncore.run.pipeline import (
    RunResult,
    Table,
    as_frame,
    continue_run,
    finish_interrupted,
    run_experiment,
)
from nncore.run.records import EpochReport, Progress


def _listener(channel):
    """Progress out, stop requests (and why the runner made them) in."""
    from nncore.learn.train import Listener

    diagnosed: dict[int, dict] = {}  # each epoch's record, until its logs go out with it

    def epoch_end(epoch: int, logs: dict[str, float]) -> None:
        channel.report_epoch(EpochReport(epoch, logs, diagnosed.pop(epoch, None)).to_record())

    def progress(fields: dict[str, float]) -> None:
        channel.report_progress(**Progress(**fields).to_dict())

    return Listener(
        on_epoch_end=epoch_end,
        on_progress=progress,
        should_stop=channel.stop_requested,
        on_diagnostics=diagnosed.__setitem__,
        stop_reason=channel.stop_reason,
    )


def train_job(channel, frame: Table, experiment: Experiment, out_dir: str) -> RunResult:
    """`run_experiment` as a job for `nncore.run.jobs`."""
    return run_experiment(frame, experiment, out_dir, listener=_listener(channel))


def continue_job(
    channel, parent_dir: str, frame: Table, extra_epochs: int, out_dir: str
) -> RunResult:
    """`continue_run` ("train more") as a job: its epochs are reported numbered on from the
    parent's."""
    return continue_run(parent_dir, frame, extra_epochs, out_dir, listener=_listener(channel))


def finish_interrupted_job(channel, run_dir: str, frame: Table) -> RunResult:
    """`finish_interrupted` as a job: a killed training's best weights made a usable run."""
    return finish_interrupted(run_dir, frame)


def predict_job(channel, model_path: str, frame: pd.DataFrame, schema_dict: dict) -> pd.DataFrame:
    """Predictions for `frame` with a saved model, as a job (TensorFlow stays in the worker)."""
    from nncore.artifacts.predict import check_fits, load_model, predict
    from nncore.data.schema import Schema

    schema = Schema.from_dict(schema_dict)
    model = load_model(model_path, reuse=True)  # the same file again: answered at once
    check_fits(model, schema)
    return predict(model, frame, schema)


def calibrate_job(channel, run_dir: str) -> dict:
    """`temperature_scale` as a job: the run's model files rewritten in a worker."""
    from nncore.run.calibration import temperature_scale

    return temperature_scale(run_dir)


def _raw_predict(model_path: str, schema):
    """The saved model's outputs for a DataFrame of raw columns (in this worker)."""
    from nncore.artifacts.predict import check_fits, load_model, model_inputs, raw_outputs

    model = load_model(model_path, reuse=True)
    check_fits(model, schema)
    return lambda frame: raw_outputs(model, model_inputs(frame, schema))


def explain_job(
    channel, model_path: str, frame: pd.DataFrame, schema_dict: dict, reference: Table
) -> pd.DataFrame:
    """Predictions for `frame` followed by each column's contribution to them and the base
    value, against a seeded sample of the `reference` rows (the training table)."""
    from nncore.artifacts.predict import predictions_frame
    from nncore.data.schema import Schema
    from nncore.learn.explain import background_rows, contributions

    schema = Schema.from_dict(schema_dict)
    outputs = _raw_predict(model_path, schema)
    table = predictions_frame(outputs(frame), schema)
    table.index = frame.index
    background = background_rows(as_frame(reference), schema)
    found = contributions(
        outputs,
        frame,
        background,
        schema,
        on_row=lambda done, total: channel.report_progress(rows_done=done, rows=total),
    )
    return pd.concat([table, found], axis=1)


def partial_dependence_job(
    channel, model_path: str, table: Table, schema_dict: dict, importance: dict | None
) -> dict:
    """`nncore.learn.explain.partial_dependence_curves` for the most important columns of a
    seeded sample of `table` (the run's training table), as a job."""
    from nncore.data.schema import Schema
    from nncore.learn.explain import curve_columns, curve_rows, partial_dependence_curves

    schema = Schema.from_dict(schema_dict)
    rows = curve_rows(as_frame(table), schema)
    return partial_dependence_curves(
        _raw_predict(model_path, schema), rows, schema, curve_columns(schema, importance)
    )


def export_job(channel, run_dir: str, name: str, table: Table | None = None) -> dict:
    """The run's model in format `name` into its exports/ folder, checked against the .keras
    model in a fresh process on the run's validation rows of `table` (its own table; without
    it, drawn rows): the check, as `nncore.artifacts.formats.export_checked` gives it."""
    from nncore.artifacts.bundle import EXPORTS
    from nncore.artifacts.formats import FORMATS, export_checked
    from nncore.run.pipeline import as_frame

    out = Path(run_dir) / EXPORTS / FORMATS[name].file_name
    return export_checked(run_dir, name, out, None if table is None else as_frame(table))
