"""One user's workbench: their runs, and the tunings that start runs (a learning-rate sweep, a
capacity search, a range test).

The studio keeps one `Workbench` per browser session; the command line makes one for its run.
Each training is a job of a `JobRunner`. A capacity search takes its next step when the step
before ends (a job's done-callback), so it goes on with no page drawn and from the command line.

    bench = Workbench(lambda: runner, "/tmp/work")
    record = bench.start_capacity_search(experiment, frame, start_units=8)
    record.wait(timeout=600)
    record.search.chosen

Importable without pandas or numpy: a first visit to the studio makes a Workbench before any
table is loaded.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

from nncore.config import Experiment, describe_layers
from nncore.errors import ConfigError, NNCoreError
from nncore.rules import SWEEP_WORK
from nncore.run.capacity import CapacitySearch
from nncore.run.jobs import SHARED_OWNER, Job, JobRunner

if TYPE_CHECKING:
    import pandas as pd

    from nncore.run.range_test import RangeTestSpec

IN_FLIGHT = ("queued", "running")


@dataclass
class Run:
    """One training: its settings, its job and where its files go."""

    id: str
    name: str
    experiment: Experiment
    job: Job
    out_dir: Path
    started: float = field(default_factory=time.time)

    def result(self):
        """The `nncore.run.pipeline.RunResult`, once the job has one; else None."""
        if self.job.status in ("done", "stopped"):
            try:
                return self.job.result(timeout=0)
            except NNCoreError:
                return None
        return None

    def history(self) -> list[dict]:
        """The epochs so far, or all of them once the run has its result."""
        from nncore.learn.diagnostics import split_history

        result = self.result()
        return result.history if result is not None else split_history(self.job.history())[0]

    def score(self) -> float | None:
        """The run's best value of its monitored validation score so far."""
        from nncore.run.rates import best_score

        return best_score(self.history(), self.experiment.training.monitor)


def in_flight(runs: Sequence[Run]) -> bool:
    return any(r.job.status in IN_FLIGHT for r in runs)


def best_run(runs: Sequence[Run]) -> Run | None:
    """The run with the best monitored validation score, once every run has ended; refuses
    (JobError) runs that validated on different rows."""
    from nncore.run.rates import best_trial, check_same_split

    if not runs or in_flight(runs):
        return None
    results = [r.result() for r in runs]
    check_same_split([x.validation_rows for x in results if x is not None])
    index = best_trial([r.score() for r in runs], runs[0].experiment.training.monitor)
    return None if index is None else runs[index]


def check_sweep_size(trials: int, epochs: int, frame: pd.DataFrame | str | Path) -> None:
    """Refuse (ConfigError) a sweep or search whose trials × epochs × rows is over the setting
    `nncore.rules.SWEEP_WORK`: one such request would hold a shared server for hours. A table
    given by its file's path counts its lines after the header."""
    if hasattr(frame, "columns"):
        rows = len(frame)
    else:
        data = Path(frame).read_bytes()
        rows = data.count(b"\n") + (not data.endswith(b"\n")) - 1  # less the header
    work, limit = trials * epochs * rows, SWEEP_WORK.value()
    if work > limit:
        raise ConfigError(
            f"This asks for {trials} trainings × {epochs} epochs × {rows:,} rows = {work:,}, more "
            f"than the {limit:,} one sweep may ({SWEEP_WORK.setting}); use fewer trainings, epochs "
            "or rows."
        )


@dataclass
class RateSweep:
    """A learning-rate sweep: one run per rate, all on the same split and seed."""

    optimizer: str
    runs: list[Run]


@dataclass
class Search:
    """A capacity search and its runs, one per step; the frame it trains on is kept so a step
    starts even if another table is loaded meanwhile."""

    search: CapacitySearch
    frame: pd.DataFrame = field(repr=False)
    runs: list[Run] = field(default_factory=list)
    error: str | None = None  # why it ended early, in words for the user
    _ended: threading.Event = field(default_factory=threading.Event, init=False, repr=False)

    @property
    def finished(self) -> bool:
        return self.search.finished

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the search has finished or `timeout` seconds pass; True if finished."""
        return self._ended.wait(timeout)

    def _finish(self, error: str | None = None) -> None:
        self.search.finished = True
        self.error = self.error or error
        self._ended.set()


class Workbench:
    """One user's runs, newest last, and their latest sweep, capacity search and range test.

    `runner` is called once, when the first job is started, so a session that never trains
    never makes a runner (nor connects to a cluster). Runs write their files in `work_dir`; their
    jobs queue as `owner`'s (a workspace's token: the runner's queue is fair across owners).
    Safe to use from the user's thread while a search's steps start on the runner's.
    """

    def __init__(
        self, runner: Callable[[], JobRunner], work_dir: str | Path, owner: str = SHARED_OWNER
    ) -> None:
        self.work_dir = Path(work_dir)
        self.owner = owner
        self.runs: list[Run] = []
        self.sweep: RateSweep | None = None
        self.search: Search | None = None
        self.range_test: Job | None = None
        self._current: str | None = None
        self._connect = runner
        self._runner: JobRunner | None = None
        self._lock = threading.RLock()

    @property
    def runner(self) -> JobRunner:
        with self._lock:
            if self._runner is None:
                self._runner = self._connect()
            return self._runner

    # ------------------------------------------------------------------------------------- runs

    def start_run(self, experiment: Experiment, frame: pd.DataFrame, label: str = "") -> Run:
        """Submit a training of `experiment` on `frame` and record it as the newest run, named
        "run N", followed by `label` when given; it becomes the current run."""
        from nncore.run.tasks import train_job  # TensorFlow-free at import; TF loads in a worker

        # Rebuilt from plain data: after Streamlit reloads an edited module, an object made before
        # is of a stale class that no longer pickles.
        experiment = Experiment.from_dict(experiment.to_dict())
        run_id = uuid.uuid4().hex[:8]
        out_dir = self.work_dir / f"run-{run_id}"
        with self._lock:
            name = f"run {len(self.runs) + 1}" + (f" · {label}" if label else "")
            job = self.runner.submit(
                train_job, frame, experiment, str(out_dir), name=name, owner=self.owner
            )
            run = Run(id=run_id, name=name, experiment=experiment, job=job, out_dir=out_dir)
            self.runs.append(run)
            self._current = run_id
        return run

    def current_run(self) -> Run | None:
        """The run chosen last (or started last), else the newest; None before any."""
        runs = self.runs
        return next((r for r in runs if r.id == self._current), runs[-1] if runs else None)

    def choose(self, run_id: str) -> None:
        """Make the run `run_id` the current one."""
        self._current = run_id

    def touch(self) -> None:
        """Say the user is still there, for every run in flight (see JobRunner's abandon_after)."""
        for run in self.runs:
            if run.job.status in IN_FLIGHT:
                run.job.touch()

    # ------------------------------------------------------------------------ learning-rate sweep

    def start_rate_sweep(
        self, experiment: Experiment, frame: pd.DataFrame, optimizer: str, rates: Sequence[float]
    ) -> RateSweep:
        """One training job per rate; they run side by side as the runner's slots allow."""
        from nncore.run.rates import rate_trials

        trials = rate_trials(experiment, optimizer, rates)
        check_sweep_size(len(trials), experiment.training.epochs, frame)
        runs = [
            self.start_run(trial, frame, label=f"{optimizer} {trial.compile.learning_rate:g}")
            for trial in trials
        ]
        self.sweep = RateSweep(optimizer, runs)
        return self.sweep

    # ---------------------------------------------------------------------------- capacity search

    def start_capacity_search(
        self, experiment: Experiment, frame: pd.DataFrame, **options
    ) -> Search:
        """Start a capacity search (options: those of `CapacitySearch`) with its first step; each
        next step starts when the one before ends. A search still going is stopped first."""
        record = Search(CapacitySearch(base=experiment, **options), frame)
        check_sweep_size(record.search.max_steps, experiment.training.epochs, frame)
        with self._lock:
            self.stop_search()
            self._next_step(record)
            self.search = record
        return record

    def stop_search(self) -> None:
        """End the capacity search and stop its step in training."""
        with self._lock:
            record = self.search
            if record is None:
                return
            record._finish()
            runs = list(record.runs)
        for run in runs:
            run.job.stop()

    def _next_step(self, record: Search) -> None:
        layers = record.search.next_layers()
        if layers is None:
            record._finish()
            return
        label = f"{record.search.steps[-1].move}: {describe_layers(layers)}"
        run = self.start_run(record.search.trial(layers), record.frame, label=label)
        record.runs.append(run)
        run.job.add_done_callback(partial(self._step_ended, record))

    def _step_ended(self, record: Search, job: Job) -> None:
        # On the runner's dispatcher thread, holding none of its locks.
        with self._lock:
            if record.finished:
                return
            if any(event["kind"] == "abandoned" for event in job.events()):
                # Nobody watched the step: the user is gone, so the search ends with it.
                record._finish("The search was stopped: nobody looked at it for a while.")
                return
            record.search.record(record.runs[-1].score())
            try:
                self._next_step(record)
            except NNCoreError as exc:
                record._finish(str(exc))

    # --------------------------------------------------------------------------------- range test

    def start_range_test(
        self, experiment: Experiment, frame: pd.DataFrame, spec: RangeTestSpec
    ) -> Job:
        from nncore.run.range_test import range_test_job

        experiment = Experiment.from_dict(experiment.to_dict())  # see start_run
        self.range_test = self.runner.submit(
            range_test_job, frame, experiment, spec, name="range test", owner=self.owner
        )
        return self.range_test
