"""Small helpers the pages share: session-state keys, the workspace binding, a guard, errors.

Domain objects (the dataset, the experiment) live in `st.session_state` under the `Keys` below,
so a design survives page switches. Pages seed their widgets from these objects, because
Streamlit drops the state of widgets it does not draw; the keys of the widgets the experiment
seeds are listed once, here.

Everything a user makes is kept in their workspace (`nncore.run.workspace`), a folder on the
server whose key is in the page's address (`?w=<token>`): a reload, a bookmark or a second tab
with that address finds the table, the experiment, the pages' settings and every run again. Runs
and tunings are the engine's `Workbench`, one per open workspace, shared by the tabs that show it.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import tempfile
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import streamlit as st

from nncore import rules
from nncore.config import Experiment
from nncore.errors import ConfigError, NNCoreError
from nncore.run.jobs import CANCELLED_MESSAGE, Job, JobRunner, install_exit_handler
from nncore.run.session import Run, Workbench, Workbenches

# nncore.data.csvio, .profile, .run.rates and .learn.diagnostics bring pandas, numpy and pyarrow:
# they are imported where they are used, so that a first visit draws its page without them (a
# third of a second here; BENCHMARKS.md, Cold start). tests/pages/test_first_visit.py keeps it so.
if TYPE_CHECKING:
    import pandas as pd

    from nncore.run.workspace import LoadedTable, Workspace, WorkspaceStore


class Keys:
    """Names of the domain objects in `st.session_state`."""

    DATASET = "dataset"  # pandas DataFrame as read, or None before any is loaded
    DATASET_NAME = "dataset_name"  # str: the file name or the sample's title
    DATASET_SOURCE = "dataset_source"  # str: where it came from and how it was read
    TABLE = "table_id"  # str: the workspace's id of DATASET, or None
    PROFILES = "profiles"  # list[ColumnProfile] of DATASET, computed once when it is loaded
    # Experiment: every setting of the Data, Model and Train pages; its `data` (target, task,
    # roles, scaling, split) is the one copy of the data settings.
    EXPERIMENT = "experiment"
    PLAN = "plan"  # ColumnPlan of DATASET under EXPERIMENT.data, or None while it cannot be planned
    LOAD_ERROR = "load_error"  # NNCoreError of the last failed load, or None
    WORK_DIR = "work_dir"  # str: this session's temporary folder (a model file to predict with)
    # Workbench of the session's workspace: its runs, the current run, the latest tunings
    WORKBENCH = "workbench"
    WORKSPACE_NOTE = "workspace_note"  # why the address opened no workspace, shown once
    SAVED_EXPERIMENT = "saved_experiment"  # the experiment as the workspace holds it
    SAVED_SETTINGS = "saved_settings"  # the settings as the workspace holds them


_DEFAULTS = {
    Keys.DATASET: lambda: None,
    Keys.DATASET_NAME: lambda: "",
    Keys.DATASET_SOURCE: lambda: "",
    Keys.TABLE: lambda: None,
    Keys.PROFILES: lambda: None,
    Keys.EXPERIMENT: Experiment,
    Keys.PLAN: lambda: None,
    Keys.LOAD_ERROR: lambda: None,
    Keys.WORK_DIR: lambda: tempfile.mkdtemp(prefix="nnstudio-"),
    Keys.SAVED_EXPERIMENT: lambda: None,
    Keys.SAVED_SETTINGS: dict,
}

# The address's parameter that holds the workspace's key.
TOKEN_PARAM = "w"
# "table id:target" the Train page last set the default monitor for (once per target, so a
# monitor the user chose stays).
MONITOR_SUGGESTED = "monitor_suggested"
# The session-state values a workspace keeps besides the experiment (settings.json), restored
# in a new session: the pages' widgets that no experiment seeds, and where the table came from.
# Pages draw these widgets without a `value` (see `remember`), so a restored value is no clash;
# range sliders take theirs from `value` only, so they are not among them.
REMEMBERED = (
    Keys.DATASET_SOURCE,
    *("sweep_optimizer", "sweep_count", "sweep_epochs", "range_steps"),
    *("capacity_start", "capacity_gain", "capacity_epochs", "normalize", "more_epochs"),
    MONITOR_SUGGESTED,
)
CURRENT_RUN = "current_run"  # the settings' entry for the id of the run the pages show
NO_WORKSPACE = (
    "This address opens no workspace: it was mistyped, or the workspace expired or was removed. "
    "You are in a new, empty one; its address is the one now shown."
)


def init_state() -> None:
    """Give every key its default, leaving the ones already set alone; bind the session to its
    workspace and keep in it what changed (every page calls this first)."""
    for key, default in _DEFAULTS.items():
        if key not in st.session_state:
            st.session_state[key] = default()
    bind_workspace()
    save_settings()


@st.cache_resource
def workspace_store() -> WorkspaceStore:
    """The server's workspaces (`NNSTUDIO_HOME`; see the README's server settings)."""
    from nncore.run.workspace import WorkspaceStore

    return WorkspaceStore()


@st.cache_resource
def workbenches() -> Workbenches:
    """One Workbench per open workspace, shared by every session that shows it, so a reload
    finds its trainings in flight."""
    return Workbenches(workspace_store(), job_runner)


def bind_workspace() -> None:
    """Open the workspace of the address (or a new one) for a new session; put its key back in
    the address on every run, as Streamlit clears it on a page switch."""
    bench = st.session_state.get(Keys.WORKBENCH)
    if bench is None:
        token = st.query_params.get(TOKEN_PARAM)
        bench = workbenches().open(token) if token else None
        if bench is None:
            if token:
                st.session_state[Keys.WORKSPACE_NOTE] = NO_WORKSPACE
            bench = workbenches().create()
        st.session_state[Keys.WORKBENCH] = bench
        reopen(bench)
    if st.query_params.get(TOKEN_PARAM) != bench.workspace.token:
        st.query_params[TOKEN_PARAM] = bench.workspace.token


def reopen(bench: Workbench) -> None:
    """Restore what the workspace kept into a new session: the experiment, the pages'
    settings, the current run and the table in use. What no longer reads is said, once."""
    workspace = bench.workspace
    problems = []
    try:
        experiment = workspace.experiment()
    except NNCoreError as exc:
        problems.append(f"The saved experiment was not restored: {exc}")
        experiment = None
    if experiment is not None:
        st.session_state[Keys.EXPERIMENT] = experiment
        st.session_state[Keys.SAVED_EXPERIMENT] = experiment
    settings = workspace.settings()
    st.session_state[Keys.SAVED_SETTINGS] = settings
    for key in REMEMBERED:
        if key in settings:
            st.session_state[key] = settings[key]
    if any(run.id == settings.get(CURRENT_RUN) for run in bench.runs):
        bench.choose(settings[CURRENT_RUN])
    try:
        loaded = bench.load_table()
    except NNCoreError as exc:
        problems.append(f"The table in use was not restored: {exc}")
    else:
        if loaded is not None:
            use_table(loaded, settings.get(Keys.DATASET_SOURCE) or loaded.how)
    if problems:
        st.session_state[Keys.WORKSPACE_NOTE] = " ".join(problems)


def use_table(loaded: LoadedTable, source: str) -> None:
    """Make a workspace's table the session's dataset, planned under the current experiment."""
    from nncore.data.columns import profile_columns

    profiles = profile_columns(loaded.frame)
    st.session_state[Keys.DATASET] = loaded.frame
    st.session_state[Keys.DATASET_NAME] = loaded.info.name
    st.session_state[Keys.DATASET_SOURCE] = source
    st.session_state[Keys.TABLE] = loaded.info.id
    st.session_state[Keys.PROFILES] = profiles
    st.session_state[Keys.PLAN] = _plan(st.session_state[Keys.EXPERIMENT])


def workspace() -> Workspace:
    return workbench().workspace


def save_settings() -> None:
    """Write the remembered values to the workspace when they changed: widgets have their new
    values when a run starts, so this runs first thing."""
    saved = st.session_state[Keys.SAVED_SETTINGS]
    current = {key: st.session_state[key] for key in REMEMBERED if key in st.session_state}
    run = workbench().current_run()
    if run is not None:
        current[CURRENT_RUN] = run.id
    settings = json.loads(json.dumps({**saved, **current}))  # tuples as the file gives them back
    if settings != saved:
        try:
            workspace().save_settings(settings)
        except NNCoreError:
            return  # too large to keep: the session goes on with them, a new one does without
        st.session_state[Keys.SAVED_SETTINGS] = settings


def remember(key: str, default: object) -> None:
    """Give the remembered widget `key` its default unless it holds a value (restored, or set)."""
    if key not in st.session_state:
        st.session_state[key] = default


def set_experiment(experiment: Experiment) -> None:
    """Make `experiment` the current one, and the workspace's when it changed."""
    st.session_state[Keys.EXPERIMENT] = experiment
    if experiment != st.session_state[Keys.SAVED_EXPERIMENT]:
        workspace().save_experiment(experiment)
        st.session_state[Keys.SAVED_EXPERIMENT] = experiment


def new_workspace() -> None:
    """Leave this workspace (it stays at its address) for a new, empty one."""
    bench = workbenches().create()
    st.session_state.clear()
    st.session_state[Keys.WORKBENCH] = bench


def workspace_sidebar() -> None:
    """The workspace's part of the sidebar: what the address is, and a new workspace."""
    with st.sidebar:
        if note := st.session_state.pop(Keys.WORKSPACE_NOTE, None):
            st.warning(md(note), icon=":material/warning:")
        st.button(
            "New workspace",
            key="new_workspace",
            on_click=new_workspace,
            icon=":material/add:",
            help="Start again with no table, settings or runs, at a new address. This "
            "workspace stays at its address: bookmark it to come back.",
        )
        st.caption(
            "This page's address is the key to your workspace: bookmark it to come back, and "
            "share it only with whom you would share the data."
        )


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


def read_table(data: bytes, name: str = "") -> tuple[pd.DataFrame, str]:
    """`nncore.data.ingest.read_table` under a spinner. Raises DataError.

    Not cached: a cache would keep a copy of every recent upload in the server, shared across
    sessions, and each upload is read once anyway (from the uploader's change callback).
    """
    from nncore.data import ingest

    with st.spinner("Reading the CSV…"):
        return ingest.read_table(data, name)


# Trainings allowed at once on this server; a worker with TensorFlow measures about 760 MB RSS
# (bench/memory.py), so one fits beside the server on a 1 GB host and two do not.
MAX_CONCURRENT_JOBS = int(os.environ.get("NNSTUDIO_MAX_JOBS", "1"))
# Jobs run as tasks on this Ray cluster when set, else in local worker processes.
RAY_ADDRESS = os.environ.get("NNSTUDIO_RAY_ADDRESS") or os.environ.get("RAY_ADDRESS")


@st.cache_resource
def job_runner() -> JobRunner:
    """The server's one job runner: infrastructure shared by all sessions, holding no user data
    itself (each workspace's Workbench keeps its own `Job` handles). Raises JobError when the
    configured Ray cluster cannot be used; nothing is cached then, so the next call tries again."""
    # Keras writes its config file on import, into ~/.keras unless told otherwise; a server
    # writes only in temporary folders. The workers inherit this.
    os.environ.setdefault("KERAS_HOME", tempfile.mkdtemp(prefix="nnstudio-keras-"))
    if not RAY_ADDRESS:
        runner = JobRunner(max_concurrent=MAX_CONCURRENT_JOBS)
    else:
        from nncore.run.raypool import ray_slots  # Ray loads only in a server set to use a cluster

        runner = JobRunner(
            max_concurrent=MAX_CONCURRENT_JOBS,
            slot_factory=ray_slots(RAY_ADDRESS),
            # Set TMPDIR and NNSTUDIO_HOME to a folder every node of the cluster reaches: jobs
            # read their tables and write their runs in the workspaces.
            job_root=tempfile.gettempdir(),
        )
    # The runs SIGTERM stops are marked interrupted in their workspaces before the server ends.
    stop_jobs_on_sigterm(runner, workbenches().interrupted)
    return runner


def stop_jobs_on_sigterm(
    runner: JobRunner, on_interrupted: Callable[[list[Job]], Any] | None = None
) -> None:
    """Make SIGTERM to the server stop `runner`'s jobs first, their trainings saving what they
    learned, then shut Streamlit down (`nncore.run.jobs.install_exit_handler`).

    A signal handler can only be set from the main thread, and page scripts run in threads of
    their own: the handler is set from the main thread's event loop, the runtime's. Streamlit
    sets its own SIGTERM handler once its server has started, before any page runs, so ours
    comes after it and ends by calling it.
    """
    from streamlit import runtime

    if runtime.exists():  # not when a script runs bare, without a server
        loop = runtime.get_instance()._get_async_objs().eventloop
        loop.call_soon_threadsafe(install_exit_handler, runner, on_interrupted)


def workbench() -> Workbench:
    """The runs and tunings of this session's workspace (the engine's `Workbench`)."""
    return st.session_state[Keys.WORKBENCH]


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
    bench = workbench()
    runs = bench.runs
    run = bench.current_run()
    if len(runs) > 1:
        by_id = {r.id: r for r in reversed(runs)}
        st.session_state[key] = run.id  # follows runs chosen or started on other pages

        def choose() -> None:
            bench.choose(st.session_state[key])

        st.selectbox(
            "Run",
            list(by_id),
            key=key,
            on_change=choose,
            format_func=lambda i: f"{by_id[i].name} · {by_id[i].status}",
        )
        run = by_id[st.session_state[key]]
    return run


FINISHING = "finishing"  # ids of the interrupted runs this session started to finish


@st.fragment(run_every=RUN_POLL_SECONDS)
def wait_for_training(run: Run) -> None:
    if not run.in_flight:
        st.rerun()  # once: the next run finds the job ended and draws no fragment
    position = run.queue_position()
    where = f"position {position} in the queue" if position else run.status
    if run.id in st.session_state.get(FINISHING, ()):
        st.info(
            f"{md(run.name)} was interrupted: its model is being made from the best weights it "
            f"saved ({where}).",
            icon=":material/hourglass_top:",
        )
        return
    st.info(f"{md(run.name)} is still training ({where}).", icon=":material/hourglass_top:")
    st.page_link("pages/train.py", label="Watch it train", icon=":material/model_training:")


def finished(run: Run):
    """The run's result; otherwise say why there is none and stop the page. A run the server
    interrupted is finished first (its saved weights evaluated), which the page waits for."""
    if run.needs_finishing:
        try:
            run = workbench().finish(run.id)
        except NNCoreError as exc:
            show_error(exc)
            st.stop()
        st.session_state[FINISHING] = {*st.session_state.get(FINISHING, ()), run.id}
    if run.in_flight:
        wait_for_training(run)
        st.stop()
    result = run.result()
    if result is None:
        st.error(md(run.error() or CANCELLED_MESSAGE), icon=":material/error:")
        st.page_link("pages/train.py", label="Train again", icon=":material/model_training:")
        st.stop()
    return result


def lineage_history(run: Run, runs: list[Run]) -> list[dict]:
    """The run's epochs after those of the runs it continues (Train more), as one curve."""
    by_id = {r.id: r for r in runs}
    history, seen = run.history(), {run.id}
    while run.parent in by_id and run.parent not in seen:
        first = run.first_epoch
        run = by_id[run.parent]
        seen.add(run.id)
        history = run.history()[:first] + history
    return history


# -------------------------------------------------------------------------- the experiment


def adopt(**changes) -> None:
    """Put tuned settings (`compile=...`, `layers=...`) into the current experiment."""
    set_experiment(st.session_state[Keys.EXPERIMENT].replace(**changes))


def _plan(experiment: Experiment):
    """The session's table planned under `experiment`; None without a table or while the
    settings do not fit it (the Data page says what to fix)."""
    if st.session_state[Keys.DATASET] is None:
        return None
    from nncore.data.plan import plan_columns

    try:
        return plan_columns(
            st.session_state[Keys.DATASET], experiment.data, st.session_state[Keys.PROFILES]
        )
    except (NNCoreError, ValueError, TypeError):
        return None


def restore(experiment: Experiment) -> None:
    """Make `experiment` the one the Data, Model and Train pages show and train next."""
    before = st.session_state[Keys.EXPERIMENT]
    set_experiment(experiment)
    if experiment.data != before.data:
        st.session_state[Keys.PLAN] = _plan(experiment)


# ---------------------------------------------------------------------------- experiment files

# The widgets the Data, Model and Train pages seed from the experiment. Loading an experiment
# clears them all, and loading a table the data ones, so the pages seed them afresh.
DATA_WIDGETS = ("target", "task", "roles", "scaling", "validation_fraction", "test_fraction")
LAYER_FIELDS = ("units", "activation", "dropout", "l1", "l2", "batch_norm")
LAYER_WIDGET = re.compile(rf"({'|'.join(LAYER_FIELDS)})_\d+")  # f"{field}_{position}"
TRAINING_WIDGETS = (
    *("optimizer", "learning_rate", "momentum", "nesterov", "loss", "epochs", "batch_size"),
    *("class_weight", "early_stopping", "monitor", "patience", "restore_best_weights"),
    *("reduce_lr", "seed"),
)


def seeded_widget(key) -> bool:
    """Whether the widget `key` is one the pages seed from the experiment."""
    key = str(key)
    return key in DATA_WIDGETS or key in TRAINING_WIDGETS or bool(LAYER_WIDGET.fullmatch(key))


EXPERIMENT_UPLOAD = "experiment_upload"
EXPERIMENT_NOTE = "experiment_note"  # what the last load did, shown once beside the uploader
MAX_EXPERIMENT_BYTES = rules.EXPERIMENT_BYTES.value()


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
        chosen = st.session_state[Keys.EXPERIMENT].data.target
        experiment = experiment.replace(data=dataclasses.replace(experiment.data, target=chosen))
    frame = st.session_state[Keys.DATASET]
    plan = None
    if frame is not None:
        from nncore.data.plan import plan_columns

        experiment.check_columns([str(c) for c in frame.columns])
        plan = plan_columns(frame, experiment.data, st.session_state[Keys.PROFILES])
        experiment.compile.resolved_loss(plan.task)  # a loss for another task is refused
    set_experiment(experiment)
    st.session_state[Keys.PLAN] = plan
    for key in [k for k in st.session_state if seeded_widget(k)]:
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
            st.session_state[Keys.EXPERIMENT].to_json(),
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
