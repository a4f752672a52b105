"""A workspace's workbench: its runs, and the tunings that start runs (a learning-rate sweep, a
capacity search, a range test); and `Workbenches`, a server's registry of them, one per open
workspace.

Every run is a run of the workspace (`nncore.run.workspace`): recorded "queued" before its job
is submitted, "running" when the job starts, and its end (with why, in words) when the job ends.
So a reload, a second tab, a restarted server and the command line all find a run as it stands,
and a run outlives the tab that started it. Jobs get the path of the workspace's table, never a
copy of it. The result of a run this server has no job for is rebuilt from the run's folder
(`nncore.run.pipeline.load_result`), without the table and without TensorFlow.

    benches = Workbenches(WorkspaceStore(), lambda: runner)
    bench = benches.create()                  # its key: bench.workspace.token
    run = bench.start_run(experiment)         # on the workspace's table in use
    run.status, run.curves(), run.result()
    search = bench.start_capacity_search(experiment, start_units=8)
    search.wait(timeout=600)

A capacity search takes its next step when the step before ends (a job's done-callback, on the
runner's dispatcher), so it goes on with no page drawn. Importable without pandas or numpy: a
first visit to the studio makes a Workbench before any table is loaded.
"""

from __future__ import annotations

import contextlib
import threading
import time
import weakref
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

from nncore.config import Experiment, describe_layers
from nncore.errors import ConfigError, NNCoreError
from nncore.rules import SEARCH_EPOCHS, SWEEP_WORK
from nncore.run.capacity import CapacitySearch
from nncore.run.jobs import SHARED_OWNER, Job, JobRunner
from nncore.run.records import Progress
from nncore.run.workspace import RunRecord, TableInfo, Workspace, WorkspaceStore
from nncore.run.workspace.folder import IN_FLIGHT, WORKSPACE_FILE, LoadedTable

if TYPE_CHECKING:
    import pandas as pd

    from nncore.run.pipeline import RunResult
    from nncore.run.range_test import RangeTestSpec
    from nncore.run.search import NetworkSearch, Space

# A job's end, as the workspace records a run's.
_ENDED_AS = {"done": "finished", "stopped": "stopped", "failed": "failed"}
STOPPED_BEFORE_START = "Stopped before it started."
TOUCH_EVERY = 600.0  # seconds: how often opening a kept workspace renews it against expiry
SEARCH_FILE = "search.journal"  # a workspace's network search: Optuna's journal
SEARCH_POLL = 0.2  # seconds between looks at a trial's epochs: well under one epoch
SEARCH_FAILURES = 3  # trials failing in a row that end a search: its settings cannot train


class Run:
    """One run of a workspace: made by this server (`job` is its job) or found on disk (`job` is
    None: the command line's, an earlier server's). Its `record` is refreshed by
    `Workbench.runs`; while this server's job runs, status and curves come live from the job."""

    def __init__(
        self,
        workspace: Workspace,
        record: RunRecord,
        experiment: Experiment | None = None,
        job: Job | None = None,
    ) -> None:
        self.id = record.id
        self.record = record
        self.job = job
        self.out_dir = workspace.run_files(record.id).folder
        self._experiment = experiment
        self._result: RunResult | None = None
        self._first_epoch: int | None = None
        self._finishing = False  # its job makes an interrupted run usable: it stays interrupted
        self._interrupted = False  # the server stopped its job

    def __repr__(self) -> str:
        return f"<Run {self.id} {self.name!r} {self.status}>"

    @property
    def name(self) -> str:
        return self.record.name

    @property
    def experiment(self) -> Experiment:
        if self._experiment is None:
            from nncore.artifacts.runfiles import RunFiles

            self._experiment = Experiment.from_json(RunFiles(self.out_dir).experiment.read_bytes())
        return self._experiment

    @property
    def parent(self) -> str | None:
        return self.record.parent

    @property
    def status(self) -> str:
        """queued, running, finished, stopped, failed or interrupted."""
        job = self.job
        if job is None:
            return self.record.status
        if not job.done():
            return job.status
        if self._interrupted or self._finishing:
            return "interrupted"
        return _ENDED_AS[job.status]

    @property
    def in_flight(self) -> bool:
        return self.status in IN_FLIGHT

    @property
    def needs_finishing(self) -> bool:
        """Interrupted with its best weights saved, but not yet made a usable run (`finish`)."""
        from nncore.artifacts.runfiles import RunFiles

        files = RunFiles(self.out_dir)
        return (
            self.status == "interrupted"
            and files.checkpoint.exists()
            and not files.metrics.exists()
        )

    @property
    def started(self) -> float:
        """When the run was made, in seconds since the epoch."""
        return datetime.fromisoformat(self.record.created).timestamp()

    @property
    def elapsed(self) -> float:
        """Seconds it has been running (0 while queued), frozen once it ends."""
        if self.job is not None:
            return self.job.elapsed
        start, end = self.record.started, self.record.ended
        if start is None:
            return 0.0
        end_time = datetime.fromisoformat(end).timestamp() if end else time.time()
        return max(0.0, end_time - datetime.fromisoformat(start).timestamp())

    @property
    def seconds(self) -> float | None:
        """How long its training took: its one duration, the training alone (not preparing,
        scoring and saving), as its result records it; None before it has one."""
        result = None if self.in_flight else self.result()
        return None if result is None else result.training.seconds

    @property
    def standardised(self) -> bool | None:
        """Whether its losses and scores per epoch are on a standardised target (a regression
        with scale_target), not in the target's units; None while its task is not known (in
        flight, with the task left to auto)."""
        result = None if self.in_flight else self.result()
        task = result.metrics["task"] if result is not None else self.experiment.data.task
        if task == "auto":
            return None
        return task == "regression" and self.experiment.data.scale_target

    @property
    def first_epoch(self) -> int:
        """0-based: the epochs its ancestors ran before its first (0 for a run of its own)."""
        if self.parent is None:
            return 0
        result = self.result()
        if result is not None:
            return result.first_epoch
        if self._first_epoch is None:
            from nncore.run.pipeline import epochs_done

            self._first_epoch = epochs_done(self.out_dir.parent / self.parent)
        return self._first_epoch

    def result(self) -> RunResult | None:
        """What the run produced: from its job, or rebuilt from its folder (kept once read);
        None while in flight, for a failed run, or one not yet usable (`needs_finishing`)."""
        if self._result is not None:
            return self._result
        job = self.job
        if job is not None and job.done() and job.status in ("done", "stopped"):
            with contextlib.suppress(NNCoreError):  # it stopped before its first epoch
                self._result = job.result(timeout=0)
        elif job is None and not self.record.in_flight:
            from nncore.run.pipeline import load_result

            self._result = load_result(self.out_dir)
        return self._result

    def curves(self) -> tuple[list[dict], list[dict | None]]:
        """The epochs so far (all of them once the run has its result) and their diagnostics."""
        from nncore.learn.diagnostics import split_history

        result = self.result()
        if result is not None:
            return result.history, result.diagnostics
        if self.job is not None:
            return split_history(self.job.history())
        from nncore.run.pipeline import checkpoint_history

        history, _ = checkpoint_history(self.out_dir)  # another process's, or an interrupted one
        return history, [None] * len(history)

    def history(self) -> list[dict]:
        return self.curves()[0]

    def score(self) -> float | None:
        """The run's best value of its monitored validation score so far."""
        from nncore.run.rates import best_score

        return best_score(self.history(), self.experiment.training.monitor)

    def judged(self):
        """The run as a tuning judges it (`nncore.run.rates.TrialScore`: a smoothed score, and
        why it is unstable if it is)."""
        from nncore.run.rates import assess

        result = self.result()
        rows = len(result.validation_rows) if result is not None else 0
        return assess(self.history(), self.experiment.training.monitor, rows)

    def progress(self) -> Progress | None:
        """Where the training is within its epoch, while this server runs it."""
        snapshot = self.job.progress() if self.job is not None else None
        return None if snapshot is None else Progress.from_dict(snapshot)

    def queue_position(self) -> int | None:
        """1 for the next job to run...; None when not waiting in this server's queue."""
        return self.job.queue_position() if self.job is not None else None

    def error(self) -> str | None:
        """Why it failed, was stopped or was interrupted, in words; None otherwise."""
        if self.status not in ("failed", "stopped", "interrupted"):
            return None
        if self.job is not None and self.job.done():
            return self._end_message()
        return self.record.message or None

    def stop(self) -> None:
        """Stop this server's job for the run (a queued one at once); nothing for another's."""
        if self.job is not None:
            self.job.stop()

    def _end_message(self) -> str:
        """How this server's job for the run ended, in words."""
        if self._interrupted:
            return "The server stopped while this run was in flight."
        job = self.job
        if job.status == "failed":
            return job.error() or ""
        result = self.result()
        if result is not None:
            return result.message
        return STOPPED_BEFORE_START


def in_flight(runs: Sequence[Run]) -> bool:
    return any(r.in_flight for r in runs)


def sweep_pick(runs: Sequence[Run]):
    """The sweep's `nncore.run.rates.Recommendation` once every run has ended (None before):
    the best stable run by its smoothed score, ties to the lower rate, with a reason per run.
    Refuses (JobError) runs that validated on different rows."""
    from nncore.run.rates import check_same_split, pick_rate

    if not runs or in_flight(runs):
        return None
    results = [r.result() for r in runs]
    check_same_split([x.validation_rows for x in results if x is not None])
    rows = next((len(x.validation_rows) for x in results if x is not None), 0)
    rates = [r.experiment.compile.learning_rate for r in runs]
    return pick_rate(rates, [r.history() for r in runs], runs[0].experiment.training.monitor, rows)


def check_sweep_size(trials: int, epochs: int, table: str | Path) -> None:
    """Refuse (ConfigError) a sweep or search whose trials × epochs × rows is over the setting
    `nncore.rules.SWEEP_WORK`: one such request would hold a shared server for hours. The rows
    of the table's file are its lines after the header."""
    data = Path(table).read_bytes()
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
    """A capacity search and its runs, one per step, all on the table `table_id` (kept, so a
    step starts on it even if another table is chosen meanwhile)."""

    search: CapacitySearch
    table_id: str
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


@dataclass
class SearchDrive:
    """A network search (`nncore.run.search.NetworkSearch`) and its trials' runs, by trial
    number, on the table `table_id`. `running` while this server drives it."""

    search: NetworkSearch
    table_id: str
    runs: dict[int, Run] = field(default_factory=dict)
    error: str | None = None  # why it ended early, in words for the user
    _stop: threading.Event = field(default_factory=threading.Event, init=False, repr=False)
    _thread: threading.Thread | None = field(default=None, init=False, repr=False)

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    @property
    def resumable(self) -> bool:
        """Not driven here, not ended, and with budget left: a restart interrupted it."""
        return not self.running and not self.search.ended and self.search.budget_left()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the search stops or `timeout` seconds pass; True if it stopped."""
        if self._thread is not None:
            self._thread.join(timeout)
        return not self.running


def _over_budget(job: Job) -> bool:
    """Whether the runner stopped `job` for its wall-time budget (JOB_SECONDS)."""
    return any(event["kind"] == "budget" for event in job.events())


class Workbench:
    """The runs of `workspace`, oldest first, and its latest sweep, capacity search and range
    test.

    `runner` is called once, when the first job is started, so a session that never trains
    never makes a runner (nor connects to a cluster). Jobs queue as `owner`'s (default: the
    workspace's token; the runner's queue is fair across owners). Safe to use from several
    threads: the pages' and the runner's dispatcher, where a search's steps start.
    """

    def __init__(
        self, runner: Callable[[], JobRunner], workspace: Workspace, owner: str | None = None
    ) -> None:
        self.workspace = workspace
        self.owner = owner if owner is not None else workspace.token or SHARED_OWNER
        self.sweep: RateSweep | None = None
        self.search: Search | None = None
        self.range_test: Job | None = None
        self.cross_validation: Job | None = None
        self._network_search: SearchDrive | None = None
        self._runs: dict[str, Run] = {}
        self._current: str | None = None
        self._connect = runner
        self._runner: JobRunner | None = None
        self._lock = threading.RLock()
        # The table a session of this workspace holds, weakly: a reload's new session shares it
        # instead of reading the file again, and no table outlives the sessions that show it.
        self._read: tuple[TableInfo, weakref.ref, str] | None = None

    def load_table(self) -> LoadedTable | None:
        """The workspace's table in use, read (see `Workspace.load_table`); the same frame as
        another session of this workspace holds, when one does. Treat it as read-only."""
        info = self.workspace.table()
        if info is None:
            return None
        with self._lock:
            if self._read is not None and self._read[0] == info:
                frame = self._read[1]()
                if frame is not None:
                    return LoadedTable(info, frame, self._read[2])
        loaded = self.workspace.load_table(info.id)
        with self._lock:
            self._read = (info, weakref.ref(loaded.frame), loaded.how)
        return loaded

    @property
    def runner(self) -> JobRunner:
        with self._lock:
            if self._runner is None:
                self._runner = self._connect()
            return self._runner

    # ------------------------------------------------------------------------------------- runs

    @property
    def runs(self) -> list[Run]:
        """Every run of the workspace, oldest first: this server's and those found on disk."""
        records = self.workspace.runs()
        with self._lock:
            runs = {}
            for record in records:
                run = self._runs.get(record.id) or Run(self.workspace, record)
                run.record = record
                runs[record.id] = run
            self._runs = runs
            return list(runs.values())

    def busy(self) -> bool:
        """True while a job this workbench started is queued or running."""
        with self._lock:
            jobs = [run.job for run in self._runs.values()]
            jobs += [self.range_test, self.cross_validation]
            searching = self._network_search is not None and self._network_search.running
        return searching or any(job is not None and not job.done() for job in jobs)

    def current_run(self) -> Run | None:
        """The run chosen last (or started last), else the newest; None before any."""
        runs = self.runs
        return next((r for r in runs if r.id == self._current), runs[-1] if runs else None)

    def choose(self, run_id: str) -> None:
        """Make the run `run_id` the current one."""
        self._current = run_id

    def start_run(
        self, experiment: Experiment, label: str = "", table_id: str | None = None
    ) -> Run:
        """Start a training of `experiment` on the table `table_id` (default: the one in use),
        recorded as the workspace's newest run, named "run N" followed by `label` when given;
        it becomes the current run."""
        from nncore.run.tasks import train_job  # TensorFlow-free at import; TF loads in a worker

        # Rebuilt from plain data: after Streamlit reloads an edited module, an object made before
        # is of a stale class that no longer pickles.
        experiment = Experiment.from_dict(experiment.to_dict())
        table = self._table(table_id)
        with self._lock:
            record = self.workspace.create_run(experiment, table, label=label)
            run = Run(self.workspace, record, experiment)
            self._start(run, train_job, self._table_path(table), experiment, str(run.out_dir))
            self._current = run.id
        return run

    def train_more(self, run_id: str, epochs: int) -> Run:
        """Start training the run `run_id` (finished, stopped or interrupted) for `epochs` more
        epochs from its weights and optimizer state, as a new run whose parent it is."""
        from nncore.run.pipeline import epochs_done
        from nncore.run.tasks import continue_job

        parent = self._run(run_id)
        if parent.status not in ("finished", "stopped", "interrupted"):
            raise NNCoreError(
                f"{parent.name} is {parent.status}: only a finished, stopped or interrupted run "
                "can be trained more."
            )
        training = replace(parent.experiment.training, epochs=epochs)
        experiment = Experiment.from_dict(parent.experiment.replace(training=training).to_dict())
        table = self.workspace.table_info(parent.record.table_id)
        label = f"{epochs} more epochs of {parent.name.split(' · ')[0]}"
        with self._lock:
            record = self.workspace.create_run(experiment, table, label=label, parent=run_id)
            run = Run(self.workspace, record, experiment)
            run._first_epoch = epochs_done(parent.out_dir)
            self._start(
                run,
                continue_job,
                str(parent.out_dir),
                self._table_path(table),
                epochs,
                str(run.out_dir),
            )
            self._current = run.id
        return run

    def finish(self, run_id: str) -> Run:
        """Make the interrupted run `run_id` usable: its best weights saved before the
        interruption, scored and saved as a finished run's files are. Returns the same Run, in
        flight until that is done; it stays "interrupted". Does nothing for a run that needs no
        finishing or is being finished."""
        from nncore.run.tasks import finish_interrupted_job

        run = self._run(run_id)
        with self._lock:
            if run.in_flight or not run.needs_finishing:
                return run
            table = self.workspace.table_info(run.record.table_id)
            message = run.record.message
            self.workspace.update_run(run_id, status="queued")
            run._finishing, run._interrupted = True, False
            try:
                self._start(run, finish_interrupted_job, str(run.out_dir), self._table_path(table))
            except NNCoreError:
                run._finishing = False
                self.workspace.update_run(run_id, status="interrupted", message=message)
                raise
        return run

    def delete_run(self, run_id: str) -> None:
        """Delete the run `run_id` and its files; refused (NNCoreError) while it is in flight."""
        with self._lock:
            run = self._runs.get(run_id)
            if run is not None and run.in_flight:
                raise NNCoreError(f"{run.name} is {run.status}. Stop it first, then delete it.")
            self.workspace.delete_run(run_id)
            self._runs.pop(run_id, None)
            if self._current == run_id:
                self._current = None

    def interrupted(self, jobs: Sequence[Job]) -> None:
        """The server is stopping and `jobs` did not run to their end: record their runs
        interrupted (a training stopped this way has saved its best weights)."""
        with self._lock:
            runs = [run for run in self._runs.values() if run.job is not None and run.job in jobs]
            for run in runs:
                run._interrupted = True
                self.workspace.update_run(run.id, status="interrupted", message=run._end_message())

    def _table(self, table_id: str | None) -> TableInfo:
        table = self.workspace.table_info(table_id) if table_id else self.workspace.table()
        if table is None:
            raise NNCoreError("Load a table first: this workspace has none in use.")
        return table

    def _table_path(self, table: TableInfo) -> str:
        return str(self.workspace.table_path(table.id))

    def _run(self, run_id: str) -> Run:
        with self._lock:
            run = self._runs.get(run_id)
        if run is None:
            self.workspace.run(run_id)  # refuses, in one line, a run that is not here
            run = next(r for r in self.runs if r.id == run_id)
        return run

    def _start(self, run: Run, task: Callable, *args) -> None:
        """Submit `task` for `run`, recorded running when it starts and ended when it ends. A run
        the runner refuses (a full queue) is deleted again, unless it is being finished."""
        try:
            job = self.runner.submit(task, *args, name=run.name, owner=self.owner)
        except NNCoreError as exc:
            if not run._finishing:
                self.workspace.update_run(run.id, status="failed", message=str(exc))
                self.workspace.delete_run(run.id)
            raise
        run.job = job
        self._runs[run.id] = run
        job.add_start_callback(partial(self._job_started, run))
        job.add_done_callback(partial(self._job_ended, run))

    def _job_started(self, run: Run, job: Job) -> None:
        # On the runner's dispatcher thread, as is _job_ended.
        self._record(run, status="running")

    def _job_ended(self, run: Run, job: Job) -> None:
        self._record(run, status=run.status, message=run._end_message())

    def _record(self, run: Run, **changes) -> None:
        if run.job is None or run._interrupted:
            return  # `interrupted` wrote its end
        with contextlib.suppress(NNCoreError):  # deleted meanwhile (only ever an ended run)
            run.record = self.workspace.update_run(run.id, **changes)

    # ------------------------------------------------------------------------ learning-rate sweep

    def start_rate_sweep(
        self, experiment: Experiment, optimizer: str, rates: Sequence[float]
    ) -> RateSweep:
        """One training per rate on the table in use; they run side by side as the runner's
        slots allow."""
        from nncore.run.rates import rate_trials

        trials = rate_trials(experiment, optimizer, rates)
        table = self._table(None)
        check_sweep_size(len(trials), experiment.training.epochs, self._table_path(table))
        runs = [
            self.start_run(
                trial, label=f"{optimizer} {trial.compile.learning_rate:g}", table_id=table.id
            )
            for trial in trials
        ]
        self.sweep = RateSweep(optimizer, runs)
        return self.sweep

    # ---------------------------------------------------------------------------- capacity search

    def start_capacity_search(self, experiment: Experiment, **options) -> Search:
        """Start a capacity search (options: those of `CapacitySearch`) on the table in use with
        its first step; each next step starts when the one before ends. A search still going is
        stopped first."""
        table = self._table(None)
        record = Search(CapacitySearch(base=experiment, **options), table.id)
        check_sweep_size(
            record.search.max_steps, experiment.training.epochs, self._table_path(table)
        )
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
            run.stop()

    def _next_step(self, record: Search) -> None:
        layers = record.search.next_layers()
        if layers is None:
            record._finish()
            return
        label = f"{record.search.steps[-1].move}: {describe_layers(layers)}"
        run = self.start_run(record.search.trial(layers), label=label, table_id=record.table_id)
        record.runs.append(run)
        run.job.add_done_callback(partial(self._step_ended, record))

    def _step_ended(self, record: Search, job: Job) -> None:
        # On the runner's dispatcher thread, holding none of its locks.
        with self._lock:
            if record.finished:
                return
            judged = record.runs[-1].judged()
            if any(event["kind"] == "budget" for event in job.events()):
                record.search.record_over_budget(judged)
            else:
                record.search.record(judged)
            try:
                self._next_step(record)
            except NNCoreError as exc:
                record._finish(str(exc))

    # ---------------------------------------------------------------------------------- decisions

    def calibrate(self, run_id: str) -> Job:
        """Temperature-scale the finished run's model files in a worker (`calibrate_job`); once
        it is done, the run's result is read again from its rewritten folder."""
        from nncore.run.tasks import calibrate_job

        run = self._run(run_id)
        job = self.runner.submit(
            calibrate_job, str(run.out_dir), name=f"calibrate {run.name}", owner=self.owner
        )
        job.add_done_callback(partial(_reread_result, run))
        return job

    # ----------------------------------------------------------------------------- network search

    @property
    def network_search(self) -> SearchDrive | None:
        """The workspace's network search: this server's, or the one saved in the workspace
        (ended, or interrupted by a restart: `resume_network_search` goes on with it)."""
        from nncore.run.search import NetworkSearch

        with self._lock:
            if self._network_search is None:
                search = NetworkSearch.open(self.workspace.folder / SEARCH_FILE)
                if search is not None:
                    table = search.study.user_attrs.get("table", "")
                    self._network_search = SearchDrive(search, table)
            return self._network_search

    def start_network_search(
        self,
        experiment: Experiment,
        *,
        space: Space | None = None,
        trials: int | None = None,
        minutes: float | None = None,
        seed: int | None = None,
        prune: bool = True,
        finish: Experiment | None = None,
    ) -> SearchDrive:
        """Search designs for `experiment` on the table in use within `space` (default: the
        rules' ranges), for `trials` trials and/or `minutes`; each trial is a run, one at a time,
        started by a thread of this server. With `finish`, once the budget is spent the best design
        is trained with `finish`'s training settings (`NetworkSearch.final_design`) as one more
        run. It replaces the search before (stopped first)."""
        from nncore.run.search import NetworkSearch, check_budget

        check_budget(trials, minutes)
        table = self._table(None)
        if trials is not None:
            epochs = min(experiment.training.epochs, SEARCH_EPOCHS)  # a trial's at most
            check_sweep_size(trials, epochs, self._table_path(table))
        experiment = Experiment.from_dict(experiment.to_dict())  # see start_run
        self.stop_network_search()
        with self._lock:
            search = NetworkSearch.start(
                self.workspace.folder / SEARCH_FILE,
                experiment,
                space=space,
                trials=trials,
                minutes=minutes,
                seed=seed,
                prune=prune,
                finish=finish,
            )
            search.study.set_user_attr("table", table.id)
            self._network_search = SearchDrive(search, table.id)
            return self._drive(self._network_search)

    def find_network(
        self, experiment: Experiment, minutes: float, trials: int | None = None
    ) -> SearchDrive:
        """ "Find me a network": search designs for `experiment` over the rules' ranges, then
        train the best to completion: `experiment`'s epochs, with early stopping."""
        training = replace(experiment.training, early_stopping=True)
        return self.start_network_search(
            experiment,
            trials=trials,
            minutes=minutes,
            seed=experiment.seed,
            finish=experiment.replace(training=training),
        )

    def resume_network_search(self) -> SearchDrive | None:
        """Go on with the saved search a restart interrupted, from its ended trials (one left
        running is recorded failed); None if there is none to resume."""
        record = self.network_search
        with self._lock:
            if record is None or not record.resumable:
                return None
            record.search.abandon_running()
            record._stop.clear()
            return self._drive(record)

    def stop_network_search(self, wait: bool = True) -> None:
        """End the network search, keeping its ended trials; the trial in training stops
        (within an epoch: `wait` for that)."""
        record = self._network_search
        if record is None or not record.running:
            return
        record._stop.set()
        if wait:
            record.wait()

    def _drive(self, record: SearchDrive) -> SearchDrive:
        record.error = None
        record._thread = threading.Thread(
            target=self._search_guarded, args=(record,), name="network search", daemon=True
        )
        record._thread.start()
        return record

    def _search_guarded(self, record: SearchDrive) -> None:
        try:
            self._search_loop(record)
        except Exception as exc:  # a thread's error reaches nobody: the page shows it instead
            record.error = f"The search stopped on an error: {exc}"

    def _search_loop(self, record: SearchDrive) -> None:
        from optuna.trial import TrialState

        search, failures = record.search, 0
        deadline = search.deadline()
        while not record._stop.is_set():
            if not search.budget_left():
                search.end("Its budget is spent.")
                self._train_best(record)
                return
            number, trial = search.ask()
            try:
                run = self.start_run(
                    trial,
                    label=f"search trial {number}: {describe_layers(trial.layers)}",
                    table_id=record.table_id,
                )
            except NNCoreError as exc:
                search.tell(number, None, TrialState.FAIL)
                record.error = str(exc)  # a full queue, a closed runner: resumable later
                return
            search.set_run(number, run.id)
            record.runs[number] = run
            asked = self._watch_trial(record, number, run, deadline)
            if run.status == "interrupted" or (
                run.status == "stopped" and not asked and not _over_budget(run.job)
            ):
                search.tell(number, None, TrialState.FAIL)
                return  # the server is stopping: a restart resumes the search
            if run.status == "failed":
                search.tell(number, None, TrialState.FAIL)
                failures += 1
                if failures == SEARCH_FAILURES:
                    record.error = f"{failures} trials in a row failed; the last: {run.error()}"
                    search.end(record.error)
                    return
                continue
            failures = 0
            state = TrialState.PRUNED if asked or run.status == "stopped" else TrialState.COMPLETE
            search.tell(number, run.score(), state)
            if deadline is not None and time.monotonic() >= deadline:
                search.end("Its minutes are spent.")
                self._train_best(record)
                return
        search.end("It was stopped.")

    def _train_best(self, record: SearchDrive) -> None:
        """A search with a `finish` trains its best design to completion, as the current run."""
        search = record.search
        if search.finish is None:
            return
        final = search.final_design(Experiment.from_dict(search.finish).training)
        if final is None:
            record.error = "No trial of the search ended with a score: there is no design to train."
            return
        run = self.start_run(final, label="the search's best", table_id=record.table_id)
        search.study.set_user_attr("final run", run.id)

    def _watch_trial(
        self, record: SearchDrive, number: int, run: Run, deadline: float | None
    ) -> bool:
        """Feed the trial's epochs to the pruner until its job ends; True if the search stopped
        it (within an epoch): pruned, the search stopped, or out of minutes."""
        seen, asked, monitor = 0, False, record.search.monitor
        while not run.job.wait(SEARCH_POLL):
            history = run.history()
            for epoch in range(seen, len(history)):
                value = history[epoch].get(monitor)
                if not asked and value is not None and record.search.report(number, epoch, value):
                    asked = True
                    run.stop()
            seen = len(history)
            out_of_time = deadline is not None and time.monotonic() >= deadline
            if not asked and (record._stop.is_set() or out_of_time):
                asked = True
                run.stop()
        return asked

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

    # ---------------------------------------------------------------------------- cross-validation

    def start_cross_validation(self, experiment: Experiment, k: int) -> Job:
        """Score `experiment` by `k`-fold cross-validation on the table in use, as one job
        (`nncore.run.crossval.cross_validation_job`); it replaces the one before."""
        from nncore.run.crossval import cross_validation_job

        experiment = Experiment.from_dict(experiment.to_dict())  # see start_run
        table = self._table_path(self._table(None))
        self.cross_validation = self.runner.submit(
            cross_validation_job,
            table,
            experiment,
            k,
            name=f"{k}-fold cross-validation",
            owner=self.owner,
        )
        return self.cross_validation

    # -------------------------------------------------------------------------------- exports

    def start_export(self, run_id: str, name: str) -> Job:
        """Make the finished run's export `name` and check it, as a job (`tasks.export_job`),
        on the run's validation rows of the table it learned from, or on rows drawn across the
        training ranges when that table is no longer in the workspace."""
        from nncore.run.tasks import export_job

        run = self._run(run_id)
        table = None
        if run.record.table_id:
            with contextlib.suppress(NNCoreError):  # the table was deleted since
                table = self._table_path(self.workspace.table_info(run.record.table_id))
        return self.runner.submit(
            export_job, str(run.out_dir), name, table, name=f"export {name}", owner=self.owner
        )


def _reread_result(run: Run, job: Job) -> None:
    if job.status == "done":
        from nncore.run.pipeline import load_result

        run._result = load_result(run.out_dir)


class Workbenches:
    """A server's workbenches, one per open workspace of `store`, by token; their jobs run on
    `runner()`. At most `keep` are kept in memory: past that, the least recently opened idle
    ones are dropped (their workspaces stay on disk; opening one again makes a new workbench),
    never one with a job in flight. Safe to use from several threads."""

    def __init__(
        self, store: WorkspaceStore, runner: Callable[[], JobRunner], keep: int = 64
    ) -> None:
        self.store = store
        self.keep = keep
        self._runner = runner
        self._benches: OrderedDict[str, Workbench] = OrderedDict()  # least recently opened first
        self._touched: dict[str, float] = {}  # token -> when its workspace was last renewed
        # Reentrant: `interrupted` runs in a signal handler, on whatever the main thread was doing.
        self._lock = threading.RLock()

    def create(self) -> Workbench:
        """A workbench on a new, empty workspace; its key is `.workspace.token`."""
        workspace = self.store.create()
        with self._lock:
            return self._keep(Workbench(self._runner, workspace))

    def open(self, token: str) -> Workbench | None:
        """The workbench of the workspace `token`: the same object while it is kept (so a
        reload finds its jobs in flight); None for a token that opens no workspace. Runs whose
        process is gone (a command-line training killed meanwhile) are marked interrupted."""
        with self._lock:
            bench = self._benches.get(token) if isinstance(token, str) else None
            if bench is not None:
                if not (bench.workspace.folder / WORKSPACE_FILE).is_file():  # expired, removed
                    del self._benches[token]
                    return None
                self._benches.move_to_end(token)
                if time.monotonic() - self._touched[token] > TOUCH_EVERY:
                    bench.workspace.touch()
                    self._touched[token] = time.monotonic()
        if bench is not None:
            bench.workspace.recover()  # this server's own runs are alive: it leaves them be
            return bench
        workspace = self.store.open(token)  # outside the lock: it reads and repairs the folder
        if workspace is None:
            return None
        with self._lock:
            bench = self._benches.get(token)  # opened by another thread meanwhile
            return bench if bench is not None else self._keep(Workbench(self._runner, workspace))

    def interrupted(self, jobs: Sequence[Job]) -> None:
        """The server is stopping (SIGTERM) and `jobs` did not run to their end: their runs are
        recorded interrupted. Give it to `nncore.run.jobs.install_exit_handler`."""
        with self._lock:
            benches = list(self._benches.values())
        for bench in benches:
            bench.interrupted(jobs)

    def _keep(self, bench: Workbench) -> Workbench:
        token = bench.workspace.token
        self._benches[token] = bench
        self._touched[token] = time.monotonic()
        for old in list(self._benches):
            if len(self._benches) <= self.keep:
                break
            if old != token and not self._benches[old].busy():
                del self._benches[old]
                del self._touched[old]
        return bench
