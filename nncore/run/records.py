"""The records a run hands across a boundary, typed: its training summary (in a `RunResult` and,
as JSON, in metrics.json), and what a training job reports while it runs (a progress snapshot,
one report per epoch), written by the worker and read by the pages.

Epochs are counted from 0 in every record here, as Keras and `nncore.learn.train` count them;
people see them counted from 1 (the pages add 1, and so does metrics.json, a file for people
and other tools, whose format stays as it is).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class TrainingSummary:
    """How the training of a run went."""

    epochs_run: int  # in this run; a continued run's epochs follow its parent's
    stopped_by: str  # completed | early_stopping | user | nan | interrupted
    best_epoch: int | None  # 0-based; None when nothing picked a best epoch
    seconds: float  # the training alone, not the run's preparing, scoring and saving
    samples_per_second: float
    train_rows: int
    first_epoch: int = 0  # 0-based: the epochs its parent ran, for a continued run
    message: str = ""  # how the training ended, in words ("Stopped after its time budget ...")

    def to_metrics(self) -> dict[str, Any]:
        """The "training" section of metrics.json (its best epoch counted from 1)."""
        return {
            "epochs_run": self.epochs_run,
            "stopped_by": self.stopped_by,
            "best_epoch": None if self.best_epoch is None else self.best_epoch + 1,
            "seconds": round(self.seconds, 3),
            "samples_per_second": round(self.samples_per_second, 1),
            "rows": {"train": self.train_rows},
            "first_epoch": self.first_epoch + 1,
            "message": self.message,
        }

    @classmethod
    def from_metrics(cls, section: dict[str, Any]) -> TrainingSummary:
        best = section["best_epoch"]
        return cls(
            epochs_run=section["epochs_run"],
            stopped_by=section["stopped_by"],
            best_epoch=None if best is None else best - 1,
            seconds=section["seconds"],
            samples_per_second=section["samples_per_second"],
            train_rows=section["rows"]["train"],
            first_epoch=section.get("first_epoch", 1) - 1,
            message=section.get("message", ""),
        )


@dataclass(frozen=True, slots=True)
class Progress:
    """Where a training is within its epoch: the snapshot `nncore.learn.train` reports after each
    chunk of batches, and the Train page draws."""

    epoch: int  # 0-based
    epochs: int
    step: int  # batches done in this epoch
    steps: int  # batches per epoch
    loss: float
    samples_per_second: float
    epoch_seconds: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> Progress:
        return cls(**raw)


@dataclass(frozen=True, slots=True)
class EpochReport:
    """One finished epoch as a training job reports it: its logs (loss, metrics, their
    validation twins, the learning rate) and its `nncore.learn.diagnostics` record, if measured."""

    epoch: int  # 0-based
    logs: dict[str, float]
    diagnostics: dict | None = field(default=None)

    def to_record(self) -> dict[str, Any]:
        """The line of the job's history. Its "epoch" counts from 1: the history is what the
        pages chart, with epochs as people count them."""
        return {"epoch": self.epoch + 1, **self.logs, "diagnostics": self.diagnostics}

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> EpochReport:
        logs = {k: v for k, v in record.items() if k not in ("epoch", "diagnostics")}
        return cls(record["epoch"] - 1, logs, record.get("diagnostics"))
