"""A page's predictions of one kind (a file, a typed row): the job in flight, what it was asked,
and the answer to the last question only: a new question (new rows, another model) clears the
answer to the old one, and a refusal leaves nothing on show but itself."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pandas as pd

from nncore.artifacts.predict import model_inputs, outside_training
from nncore.artifacts.source import ModelSource
from nncore.data.drift import drift, row_checks
from nncore.errors import NNCoreError
from nncore.run.jobs import Job, JobRunner
from nncore.run.pipeline import Table
from nncore.run.tasks import explain_job, predict_job


@dataclass(frozen=True)
class Answer:
    """Predictions for `rows` (from `label`: a file name, "the form") made by `source`."""

    rows: pd.DataFrame
    label: str
    source: ModelSource
    table: pd.DataFrame | None = None  # the predictions, once made
    outside: tuple[str, ...] = ()  # what `outside_training` says of the rows, once made
    checks: pd.Series | None = None  # `row_checks` of the rows, once made
    drift: pd.DataFrame | None = None  # `drift` of the rows, once made

    def beside_rows(self, table: pd.DataFrame | None = None) -> pd.DataFrame:
        """The predictions (`table`, by default the answer's), their row checks, then the rows
        they were made from (minus any column named like those: an earlier prediction file
        uploaded again)."""
        table = pd.concat([self.table if table is None else table, self.checks], axis=1)
        rows = self.rows.drop(columns=[c for c in table.columns if c in self.rows.columns])
        return pd.concat([table, rows], axis=1)


class Predictions:
    """One kind of prediction of a session: at most one job at a time, and the answer to the last
    question or its refusal."""

    def __init__(self) -> None:
        self.job: Job | None = None
        self.pending: Answer | None = None  # the question the job answers
        self.shown: Answer | None = None
        self.error: NNCoreError | None = None
        self.asked: str | None = None  # the id of the model the last question was asked of

    def submit(
        self,
        runner: Callable[[], JobRunner],
        source: ModelSource,
        rows: pd.DataFrame,
        label: str,
        reference: Table | None = None,
    ) -> None:
        """Check `rows` here (missing columns are named at once), then predict them in a worker
        of `runner()` (which may itself refuse: a Ray cluster set but unreachable). With
        `reference` (the training table), each prediction comes with its columns'
        contributions against a sample of those rows."""
        self.shown, self.asked = None, source.id
        try:
            model_inputs(rows, source.schema)
            task, extra = (predict_job, ()) if reference is None else (explain_job, (reference,))
            job = runner().submit(
                task,
                str(source.model),
                rows,
                source.schema.to_dict(),
                *extra,
                name=f"predict with {source.name}",
            )
        except NNCoreError as exc:
            self.error = exc
            return
        self.job, self.pending, self.error = job, Answer(rows, label, source), None

    def refuse(self, source: ModelSource, error: NNCoreError) -> None:
        """Keep a refusal of a question to `source` that never became a job (e.g. an unreadable
        file)."""
        self.shown, self.error, self.asked = None, error, source.id

    def follow(self, source: ModelSource) -> None:
        """Forget every question asked of another model than `source` (the page now shows
        `source`): its answer, its refusal, and its job, left to finish unseen."""
        if self.asked not in (None, source.id):
            self.job = self.pending = self.shown = self.error = self.asked = None

    def wait(self, start_seconds: float, wait_seconds: float) -> None:
        """Wait for the job in place: a running one for `wait_seconds` at most, one still queued
        only `start_seconds` (for a worker to take it)."""
        job = self.job
        if job is None or job.done():
            return
        if not job.wait(start_seconds) and job.status == "running":
            job.wait(wait_seconds)

    def settle(self) -> bool:
        """Keep what a finished job gave; True while the job is still running."""
        job = self.job
        if job is None:
            return False
        if not job.done():
            return True
        try:
            asked = self.pending
            schema = asked.source.schema
            self.shown = Answer(
                asked.rows,
                asked.label,
                asked.source,
                job.result(timeout=0),
                tuple(outside_training(asked.rows, schema)),
                row_checks(asked.rows, schema),
                drift(asked.rows, schema),
            )
        except NNCoreError as exc:
            self.error = exc
        self.job = self.pending = None
        return False
