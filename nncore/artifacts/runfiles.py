"""The files a run writes into its folder, named once: the pipeline and the exporter write them,
the Predict page offers them, the command line lists them, tests look for them."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

KERAS = "model.keras"
H5 = "model.h5"
SCHEMA = "schema.json"
EXPERIMENT = "experiment.json"
METRICS = "metrics.json"
HISTORY = "history.csv"
RUN_FILES = (KERAS, H5, SCHEMA, EXPERIMENT, METRICS, HISTORY)
# The best weights so far, saved while training (and so the only weights of an interrupted run).
CHECKPOINT = "checkpoint.npz"
# The last epoch's weights and the optimizer's state, saved when a training ends: what "train
# more" continues from.
TRAINING_STATE = "training_state.npz"
# What the studio needs to show a run again without its table or TensorFlow (a `RunResult`
# rebuilt after a reload or a restart): the validation rows' truths and outputs, and the rest.
VALIDATION = "validation.npz"
RESULT = "result.json"
# What a model file needs beside it to be used or trained again.
MODEL_FILES = (KERAS, H5, SCHEMA, EXPERIMENT)


@dataclass(frozen=True, slots=True)
class RunFiles:
    """The paths of a run's files in `folder`."""

    folder: Path

    @property
    def keras(self) -> Path:
        return self.folder / KERAS

    @property
    def h5(self) -> Path:
        return self.folder / H5

    @property
    def schema(self) -> Path:
        return self.folder / SCHEMA

    @property
    def experiment(self) -> Path:
        return self.folder / EXPERIMENT

    @property
    def metrics(self) -> Path:
        return self.folder / METRICS

    @property
    def history(self) -> Path:
        return self.folder / HISTORY

    @property
    def checkpoint(self) -> Path:
        return self.folder / CHECKPOINT

    @property
    def training_state(self) -> Path:
        return self.folder / TRAINING_STATE

    @property
    def validation(self) -> Path:
        return self.folder / VALIDATION

    @property
    def result(self) -> Path:
        return self.folder / RESULT

    def by_name(self) -> dict[str, Path]:
        """Every file of the run, by its name."""
        return {name: self.folder / name for name in RUN_FILES}
