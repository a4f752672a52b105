"""The studio's jobs for `nncore.run.jobs`: a training and a prediction, each run in a worker
process (TensorFlow loads there, never in the server). Importing this module loads no TensorFlow."""

from __future__ import annotations

import pandas as pd

from nncore.config import Experiment
from nncore.run.pipeline import RunResult, run_experiment
from nncore.run.records import EpochReport, Progress


def train_job(channel, frame: pd.DataFrame, experiment: Experiment, out_dir: str) -> RunResult:
    """`run_experiment` as a job for `nncore.run.jobs`: progress out, stop requests in."""
    from nncore.learn.train import Listener

    diagnosed: dict[int, dict] = {}  # each epoch's record, until its logs go out with it

    def epoch_end(epoch: int, logs: dict[str, float]) -> None:
        channel.report_epoch(EpochReport(epoch, logs, diagnosed.pop(epoch, None)).to_record())

    def progress(fields: dict[str, float]) -> None:
        channel.report_progress(**Progress(**fields).to_dict())

    listener = Listener(
        on_epoch_end=epoch_end,
        on_progress=progress,
        should_stop=channel.stop_requested,
        on_diagnostics=diagnosed.__setitem__,
    )
    return run_experiment(frame, experiment, out_dir, listener=listener)


def predict_job(channel, model_path: str, frame: pd.DataFrame, schema_dict: dict) -> pd.DataFrame:
    """Predictions for `frame` with a saved model, as a job (TensorFlow stays in the worker)."""
    from nncore.artifacts.predict import check_fits, load_model, predict
    from nncore.data.schema import Schema

    schema = Schema.from_dict(schema_dict)
    model = load_model(model_path, reuse=True)  # the same file again: answered at once
    check_fits(model, schema)
    return predict(model, frame, schema)
