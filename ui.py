"""Small helpers the pages share: session-state keys, one initialiser, a guard, error display.

Domain objects (the dataset, the data settings, the experiment) live in `st.session_state` under
the `Keys` below, so a design survives page switches. Widget keys belong to their page; a page
seeds its widgets from these objects, because Streamlit drops the state of widgets it does not
draw.
"""

from __future__ import annotations

import dataclasses
import os
import re
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import streamlit as st

from nncore.config import DataSpec, Experiment, describe_layers
from nncore.errors import ConfigError, NNCoreError
from nncore.run.jobs import CANCELLED_MESSAGE, Job, JobRunner

# nncore.data.csvio, .profile, .sweep and .diagnostics bring pandas, numpy and pyarrow: they are
# imported where they are used, so that a first visit draws its page without them (a third of a
# second here; BENCHMARKS.md, Cold start). tests/pages/test_first_visit.py keeps it so.
if TYPE_CHECKING:
    import pandas as pd

    from nncore.run.sweep import CapacitySearch, RangeTestSpec


class Keys:
    """Names of the domain objects in `st.session_state`."""

    DATASET = "dataset"  # pandas DataFrame as read, or None before any is loaded
    DATASET_NAME = "dataset_name"  # str: the file name or the sample's title
    DATASET_SOURCE = "dataset_source"  # str: where it came from and how it was read
    PROFILES = "profiles"  # list[ColumnProfile] of DATASET, computed once when it is loaded
    DATA_SPEC = "data_spec"  # DataSpec: target, task, roles, scaling, split (source of truth)
    PLAN = "plan"  # ColumnPlan of DATASET under DATA_SPEC, or None while it cannot be planned
    EXPERIMENT = "experiment"  # Experiment: layers, compile, training; its data is DATA_SPEC
    LOAD_ERROR = "load_error"  # NNCoreError of the last failed load, or None
    RUNS = "runs"  # list[Run], oldest first: every training of this session
    CURRENT_RUN = "current_run"  # id of the run Evaluate and Predict show, or None
    WORK_DIR = "work_dir"  # str: this session's temporary folder for run files
    SWEEP = "sweep"  # RateSweep: the Tune page's latest learning-rate sweep, or None
    SEARCH = "capacity_search"  # Search: the Tune page's latest capacity search, or None
    RANGE_TEST = "range_test"  # Job of the Tune page's latest range test, or None


_DEFAULTS = {
    Keys.DATASET: lambda: None,
    Keys.DATASET_NAME: lambda: "",
    Keys.DATASET_SOURCE: lambda: "",
    Keys.PROFILES: lambda: None,
    Keys.DATA_SPEC: DataSpec,
    Keys.PLAN: lambda: None,
    Keys.EXPERIMENT: Experiment,
    Keys.LOAD_ERROR: lambda: None,
    Keys.RUNS: list,
    Keys.CURRENT_RUN: lambda: None,
    Keys.WORK_DIR: lambda: tempfile.mkdtemp(prefix="nnstudio-"),
    Keys.SWEEP: lambda: None,
    Keys.SEARCH: lambda: None,
    Keys.RANGE_TEST: lambda: None,
}


def init_state() -> None:
    """Give every key its default, leaving the ones already set alone; keep this session's
    jobs in flight alive (every page calls this first)."""
    for key, default in _DEFAULTS.items():
        if key not in st.session_state:
            st.session_state[key] = default()
    advance_search()
    keep_jobs_alive()


def require(key: str, fix_page: str, message: str) -> None:
    """Stop the page with `message` and a link to `fix_page` unless `key` holds a value."""
    if st.session_state.get(key) is None:
        st.info(message, icon=":material/info:")
        st.page_link(fix_page)
        st.stop()


_MARKDOWN_SPECIAL = re.compile(r"([\\`*_$~\[\]<>#|])")


def md(text: str) -> str:
    """`text` escaped for st.markdown and alerts, so column names like 'Price ($)' show as is."""
    return _MARKDOWN_SPECIAL.sub(r"\\\1", text)


def show_error(exc: NNCoreError) -> None:
    """Show a user's mistake in plain words, never as a traceback."""
    lines = str(exc).split("\n")
    text = "\n\n".join(f"- {md(line[2:])}" if line.startswith("- ") else md(line) for line in lines)
    st.error(text, icon=":material/error:")


# Cells (rows × columns) one upload may hold. Reading a table peaks at several times its final
# size, and every session keeps its own table: the default fits a 1 GB host.
MAX_CELLS = int(os.environ.get("NNSTUDIO_MAX_CELLS", "10000000"))


def read_table(data: bytes) -> tuple[pd.DataFrame, str]:
    """The CSV `data` as a DataFrame, and how it was read in words. Raises DataError.

    Not cached: a cache would keep a copy of every recent upload in the server, shared across
    sessions, and each upload is read once anyway (from the uploader's change callback).
    """
    from nncore.data.csvio import read_csv, sniff

    with st.spinner("Reading the CSV…"):
        return read_csv(data, max_cells=MAX_CELLS), sniff(data).describe()


# Trainings allowed at once on this server; a worker with TensorFlow measures about 760 MB RSS
# (bench/memory.py), so one fits beside the server on a 1 GB host and two do not.
MAX_CONCURRENT_JOBS = int(os.environ.get("NNSTUDIO_MAX_JOBS", "1"))
# A running job nobody has looked at for this long belongs to a closed tab: it is stopped.
ABANDON_AFTER_SECONDS = float(os.environ.get("NNSTUDIO_ABANDON_AFTER", "600"))
# Jobs run as tasks on this Ray cluster when set, else in local worker processes.
RAY_ADDRESS = os.environ.get("NNSTUDIO_RAY_ADDRESS") or os.environ.get("RAY_ADDRESS")


@st.cache_resource
def job_runner() -> JobRunner:
    """The server's one job runner: infrastructure shared by all sessions, holding no user data
    itself (each session keeps only its own `Job` handles). Raises JobError when the configured
    Ray cluster cannot be used; nothing is cached then, so the next call tries again."""
    # Keras writes its config file on import, into ~/.keras unless told otherwise; a server
    # writes only in temporary folders. The workers inherit this.
    os.environ.setdefault("KERAS_HOME", tempfile.mkdtemp(prefix="nnstudio-keras-"))
    if not RAY_ADDRESS:
        return JobRunner(max_concurrent=MAX_CONCURRENT_JOBS, abandon_after=ABANDON_AFTER_SECONDS)
    from nncore.run.raypool import ray_slots  # Ray loads only in a server set to use a cluster

    return JobRunner(
        max_concurrent=MAX_CONCURRENT_JOBS,
        abandon_after=ABANDON_AFTER_SECONDS,
        slot_factory=ray_slots(RAY_ADDRESS),
        # Run folders are made in the temp folder too (WORK_DIR): one setting, TMPDIR, puts both
        # where every node of a cluster can reach them.
        job_root=tempfile.gettempdir(),
    )


@dataclass
class Run:
    """One training of this session: its settings, its job and where its files go."""

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


def start_run(experiment: Experiment, frame: pd.DataFrame, label: str = "") -> Run:
    """Submit a training of `experiment` on `frame` and record it as this session's newest run,
    named "run N", followed by `label` when given."""
    from nncore.run.pipeline import train_job  # TensorFlow-free at import; TF loads in the worker

    runs: list[Run] = st.session_state[Keys.RUNS]
    # Rebuilt from plain data: after Streamlit reloads an edited module, an object made before
    # is of a stale class that no longer pickles.
    experiment = Experiment.from_dict(experiment.to_dict())
    run_id = uuid.uuid4().hex[:8]
    out_dir = Path(st.session_state[Keys.WORK_DIR]) / f"run-{run_id}"
    name = f"run {len(runs) + 1}" + (f" · {label}" if label else "")
    job = job_runner().submit(train_job, frame, experiment, str(out_dir), name=name)
    run = Run(id=run_id, name=name, experiment=experiment, job=job, out_dir=out_dir)
    runs.append(run)
    st.session_state[Keys.CURRENT_RUN] = run_id
    return run


def current_run() -> Run | None:
    runs: list[Run] = st.session_state.get(Keys.RUNS) or []
    wanted = st.session_state.get(Keys.CURRENT_RUN)
    return next((r for r in runs if r.id == wanted), runs[-1] if runs else None)


RUN_POLL_SECONDS = 1.0
# Live charts cost the server and the browser more to redraw than a progress line, so pages
# poll them less often (BENCHMARKS.md, Live charts).
CHART_SECONDS = 3.0


def built_once(name: str, stamp, build):
    """`build()`, called again only when `stamp` differs from the one it was last built for.

    A live page polls its charts; a figure that has not changed since costs the server little to
    send again and the browser nothing to draw again, so it is kept, not rebuilt.
    """
    held = st.session_state.get(name)
    if held is None or held[0] != stamp:
        held = (stamp, build())
        st.session_state[name] = held
    return held[1]


def pick_run(key: str) -> Run:
    """The run a page shows: the current one, with a choice when the session has several."""
    runs: list[Run] = st.session_state[Keys.RUNS]
    run = current_run()
    if len(runs) > 1:
        by_id = {r.id: r for r in reversed(runs)}
        st.session_state[key] = run.id  # follows runs chosen or started on other pages

        def choose() -> None:
            st.session_state[Keys.CURRENT_RUN] = st.session_state[key]

        st.selectbox(
            "Run",
            list(by_id),
            key=key,
            on_change=choose,
            format_func=lambda i: f"{by_id[i].name} · {by_id[i].job.status}",
        )
        run = by_id[st.session_state[key]]
    return run


@st.fragment(run_every=RUN_POLL_SECONDS)
def wait_for_training(run: Run) -> None:
    run.job.touch()
    if run.job.done():
        st.rerun()  # once: the next run finds the job ended and draws no fragment
    position = run.job.queue_position()
    where = f"position {position} in the queue" if position else run.job.status
    st.info(f"{md(run.name)} is still training ({where}).", icon=":material/hourglass_top:")
    st.page_link("pages/train.py", label="Watch it train", icon=":material/model_training:")


def finished(run: Run):
    """The run's result; otherwise say why there is none and stop the page."""
    run.job.touch()
    if run.job.status in ("queued", "running"):
        wait_for_training(run)
        st.stop()
    result = run.result()
    if result is None:
        st.error(md(run.job.error() or CANCELLED_MESSAGE), icon=":material/error:")
        st.page_link("pages/train.py", label="Train again", icon=":material/model_training:")
        st.stop()
    return result


HEARTBEAT_SECONDS = 30.0


def keep_jobs_alive() -> None:
    """While this session has a job in flight, touch it every half minute from any page.

    The runner stops jobs nobody has touched for `ABANDON_AFTER_SECONDS`: that is how a closed
    tab's training ends. A tab that is open on another page still counts as watching.
    """
    runs: list[Run] = st.session_state.get(Keys.RUNS) or []
    in_flight = any(r.job.status in ("queued", "running") for r in runs)
    # Drawn on every run, polling only while a job is in flight: a fragment takes a place on
    # the page, and one that came and went with a job would shift every element below it,
    # which Streamlit shows as a doubled page until that rerun has finished.
    st.fragment(_touch_jobs, run_every=HEARTBEAT_SECONDS if in_flight else None)()


def _touch_jobs() -> None:
    advance_search()
    for run in st.session_state.get(Keys.RUNS) or []:
        if run.job.status in ("queued", "running"):
            run.job.touch()


# ------------------------------------------------------------------------- tuning and run records


def runs_by_id(ids) -> list[Run]:
    by_id = {r.id: r for r in st.session_state.get(Keys.RUNS) or []}
    return [by_id[i] for i in ids if i in by_id]


def run_history(run: Run) -> list[dict]:
    """The epochs so far, or all of them once the run has its result."""
    from nncore.learn.diagnostics import split_history

    result = run.result()
    return result.history if result is not None else split_history(run.job.history())[0]


def run_score(run: Run) -> float | None:
    """The run's best value of its monitored validation score so far."""
    from nncore.run.sweep import best_score

    return best_score(run_history(run), run.experiment.training.monitor)


def in_flight(runs: list[Run]) -> bool:
    return any(r.job.status in ("queued", "running") for r in runs)


@dataclass
class RateSweep:
    """A learning-rate sweep: one run per rate, all on the same split and seed."""

    optimizer: str
    run_ids: list[str]


def start_rate_sweep(
    experiment: Experiment, frame: pd.DataFrame, optimizer: str, rates: tuple[float, ...]
) -> RateSweep:
    """One training job per rate; they run side by side as the server's trainers allow."""
    from nncore.run.sweep import rate_trials

    runs = [
        start_run(trial, frame, label=f"{optimizer} {trial.compile.learning_rate:g}")
        for trial in rate_trials(experiment, optimizer, rates)
    ]
    sweep = RateSweep(optimizer, [r.id for r in runs])
    st.session_state[Keys.SWEEP] = sweep
    return sweep


def best_run(runs: list[Run]) -> Run | None:
    """The run with the best monitored validation score, once every run has ended; refuses
    (JobError) runs that validated on different rows."""
    from nncore.run.sweep import best_trial, check_same_split

    if not runs or in_flight(runs):
        return None
    results = [r.result() for r in runs]
    check_same_split([x.validation_rows for x in results if x is not None])
    index = best_trial([run_score(r) for r in runs], runs[0].experiment.training.monitor)
    return None if index is None else runs[index]


@dataclass
class Search:
    """A capacity search and its runs, one per step; the frame it trains on is kept so a step
    starts even if another table is loaded meanwhile."""

    search: CapacitySearch
    frame: pd.DataFrame
    run_ids: list[str] = field(default_factory=list)


def start_capacity_search(experiment: Experiment, frame: pd.DataFrame, **options) -> Search:
    from nncore.run.sweep import CapacitySearch

    record = Search(CapacitySearch(base=experiment, **options), frame)
    st.session_state[Keys.SEARCH] = record
    advance_search()
    return record


def advance_search() -> None:
    """Record a finished step's score and start the next step, if the search goes on. Called
    whenever a page of this session runs, and by the pages' timers."""
    record: Search | None = st.session_state.get(Keys.SEARCH)
    if record is None or record.search.finished:
        return
    search = record.search
    runs = runs_by_id(record.run_ids)
    if len(runs) == len(search.steps) and runs:
        if not runs[-1].job.done():
            return
        search.record(run_score(runs[-1]))
    layers = search.next_layers()
    if layers is not None:
        label = f"{search.steps[-1].move}: {describe_layers(layers)}"
        record.run_ids.append(start_run(search.trial(layers), record.frame, label=label).id)


def stop_search() -> None:
    record: Search | None = st.session_state.get(Keys.SEARCH)
    if record is not None:
        record.search.finished = True
        for run in runs_by_id(record.run_ids):
            run.job.stop()


def start_range_test(experiment: Experiment, frame: pd.DataFrame, spec: RangeTestSpec) -> Job:
    from nncore.run.sweep import range_test_job

    experiment = Experiment.from_dict(experiment.to_dict())  # see start_run
    job = job_runner().submit(range_test_job, frame, experiment, spec, name="range test")
    st.session_state[Keys.RANGE_TEST] = job
    return job


def adopt(**changes) -> None:
    """Put tuned settings (`compile=...`, `layers=...`) into the current experiment."""
    experiment = st.session_state[Keys.EXPERIMENT]
    st.session_state[Keys.EXPERIMENT] = experiment.replace(
        data=st.session_state[Keys.DATA_SPEC], **changes
    )


def restore(experiment: Experiment) -> None:
    """Make `experiment` the one the Data, Model and Train pages show and train next."""
    st.session_state[Keys.EXPERIMENT] = experiment
    if experiment.data != st.session_state[Keys.DATA_SPEC]:
        from nncore.data.profile import plan_columns

        st.session_state[Keys.DATA_SPEC] = experiment.data
        try:
            plan = plan_columns(
                st.session_state[Keys.DATASET], experiment.data, st.session_state[Keys.PROFILES]
            )
        except (NNCoreError, ValueError, TypeError):
            plan = None  # the Data page says what to fix
        st.session_state[Keys.PLAN] = plan


# ---------------------------------------------------------------------------- experiment files

# The widgets the Data, Model and Train pages seed from DATA_SPEC and EXPERIMENT. Loading an
# experiment clears them, so every page seeds them afresh from the loaded settings.
SEEDED_WIDGETS = re.compile(
    r"target|task|roles|scaling|validation_fraction|test_fraction"
    r"|(units|activation|dropout|l1|l2|batch_norm)_\d+"
    r"|optimizer|learning_rate|momentum|nesterov|loss|epochs|batch_size|class_weight"
    r"|early_stopping|monitor|patience|restore_best_weights|reduce_lr|seed"
)
EXPERIMENT_UPLOAD = "experiment_upload"
EXPERIMENT_NOTE = "experiment_note"  # what the last load did, shown once beside the uploader
# An experiment file is a few kilobytes; anything far larger is not one.
MAX_EXPERIMENT_BYTES = 1_000_000


def current_experiment() -> Experiment:
    """Every setting on the pages as one experiment: the data settings, layers and training."""
    return st.session_state[Keys.EXPERIMENT].replace(data=st.session_state[Keys.DATA_SPEC])


def load_experiment(data: bytes) -> Experiment:
    """Put the experiment file `data` in place of this session's settings.

    Raises NNCoreError, changing nothing, when the file is not an experiment or does not fit the
    loaded data. A file without a target keeps the target chosen now.
    """
    if len(data) > MAX_EXPERIMENT_BYTES:
        raise ConfigError(
            f"This file has {len(data) / 1e6:.1f} MB; an experiment file has a few kilobytes. "
            "Choose the experiment.json the studio saved."
        )
    experiment = Experiment.from_json(data)
    if not experiment.data.target:
        chosen = st.session_state[Keys.DATA_SPEC].target
        experiment = experiment.replace(data=dataclasses.replace(experiment.data, target=chosen))
    frame = st.session_state[Keys.DATASET]
    plan = None
    if frame is not None:
        from nncore.data.profile import plan_columns

        experiment.check_columns([str(c) for c in frame.columns])
        plan = plan_columns(frame, experiment.data, st.session_state[Keys.PROFILES])
        experiment.compile.resolved_loss(plan.task)  # a loss for another task is refused
    st.session_state[Keys.DATA_SPEC] = experiment.data
    st.session_state[Keys.EXPERIMENT] = experiment
    st.session_state[Keys.PLAN] = plan
    for key in [k for k in st.session_state if SEEDED_WIDGETS.fullmatch(str(k))]:
        del st.session_state[key]
    return experiment


def _load_experiment_upload() -> None:
    upload = st.session_state[EXPERIMENT_UPLOAD]
    if upload is None:
        return
    try:
        experiment = load_experiment(upload.getvalue())
    except NNCoreError as exc:
        st.session_state[EXPERIMENT_NOTE] = exc
        return
    layers = " → ".join(f"{s.units} {s.activation}" for s in experiment.layers) or "no hidden layer"
    st.session_state[EXPERIMENT_NOTE] = (
        f"Loaded {upload.name}: predict {experiment.data.target}; {layers}; "
        f"{experiment.compile.optimizer} at {experiment.compile.learning_rate:g}, "
        f"{experiment.training.epochs} epochs."
    )


def experiment_file() -> None:
    """Save and load every setting as one experiment file, from the sidebar.

    Call it after the page has stored its settings, so the file saved is the one on screen.
    """
    with st.sidebar:
        st.subheader("Experiment", anchor=False)
        st.download_button(
            "Save experiment",
            current_experiment().to_json(),
            file_name="experiment.json",
            mime="application/json",
            key="experiment_download",
            on_click="ignore",
            icon=":material/download:",
            help="The data, model and training settings as one JSON file, to load here again "
            "or to train from the command line: python -m nncore train --config experiment.json",
        )
        st.file_uploader(
            "Load an experiment",
            type="json",
            key=EXPERIMENT_UPLOAD,
            on_change=_load_experiment_upload,
            help="An experiment.json saved here (or beside a trained model) sets every widget "
            "of the Data, Model and Train steps.",
        )
        note = st.session_state.pop(EXPERIMENT_NOTE, None)
        if isinstance(note, NNCoreError):
            show_error(note)
        elif note:
            st.success(md(note), icon=":material/check_circle:")
