"""The Workbench and Workbenches: a workspace's runs recorded on disk as their jobs go, found
again by another workbench (a restarted server) with their results rebuilt from the run folders,
train more, finishing an interrupted run, deleting a run, a learning-rate sweep and a capacity
search; with a real job runner and real trainings on data made here, and no Streamlit."""

from __future__ import annotations

import gc
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
import weakref
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from jobtasks import epochs_then_wait

from nncore.config import DataSpec, Experiment, LayerSpec, TrainSpec
from nncore.errors import ConfigError, NNCoreError
from nncore.run.jobs import Job, JobRunner
from nncore.run.session import Workbench, Workbenches, in_flight, sweep_pick
from nncore.run.workspace import StorePolicy, Workspace, WorkspaceStore

WAIT_SECONDS = 300
REPO = Path(__file__).resolve().parents[2]


def linear_csv(n: int = 300, noise: float = 1.0, seed: int = 0) -> bytes:
    """A target that is a straight line in two columns plus noise no network can predict."""
    rng = np.random.default_rng(seed)
    x1, x2 = rng.normal(size=(2, n))
    frame = pd.DataFrame({"x1": x1, "x2": x2, "y": x1 + x2 + rng.normal(0, noise, n)})
    return frame.to_csv(index=False).encode()


def base(**training) -> Experiment:
    return Experiment(
        data=DataSpec(target="y"),
        layers=(LayerSpec(8),),
        training=TrainSpec(**{"epochs": 6, "batch_size": 32, **training}),
        seed=1,
    )


def wait_until(condition, timeout: float = WAIT_SECONDS) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


@pytest.fixture(scope="module")
def runner():
    with JobRunner(max_concurrent=2) as runner:
        yield runner


@pytest.fixture
def store(tmp_path) -> WorkspaceStore:
    return WorkspaceStore(tmp_path / "home", StorePolicy())


@pytest.fixture
def workspace(store) -> Workspace:
    workspace = store.create()
    workspace.add_table(linear_csv(), "line.csv")
    return workspace


@pytest.fixture
def bench(runner, workspace) -> Workbench:
    return Workbench(lambda: runner, workspace)


def no_runner() -> JobRunner:
    raise AssertionError("nothing should be submitted")


def after_callbacks(job: Job) -> threading.Event:
    """Set once the callbacks added to `job` so far have run (callbacks run in order)."""
    ran = threading.Event()
    job.add_done_callback(lambda _: ran.set())
    return ran


def finished(run) -> bool:
    return run.job.wait(WAIT_SECONDS) and after_callbacks(run.job).wait(WAIT_SECONDS)


def test_no_runner_is_made_before_the_first_job(runner, workspace):
    made = []
    bench = Workbench(lambda: made.append(runner) or runner, workspace)
    assert (bench.current_run(), bench.runs, made, bench.owner) == (None, [], [], workspace.token)


def test_a_run_is_recorded_queued_then_running_then_finished(workspace, tmp_path):
    with JobRunner(max_concurrent=1) as runner:
        bench = Workbench(lambda: runner, workspace)
        gate = tmp_path / "gate"
        holder = runner.submit(epochs_then_wait, 0, str(gate), WAIT_SECONDS)
        wait_until(lambda: holder.status == "running")
        run = bench.start_run(base(epochs=2), label="first")
        assert workspace.run(run.id).status == "queued" == run.status
        assert run.queue_position() == 1 and run.result() is None
        # Its task is left to auto: whether its scores are standardised is not known yet.
        assert (run.seconds, run.standardised) == (None, None)
        seen = []
        run.job.add_start_callback(lambda job: seen.append(workspace.run(run.id).status))
        gate.touch()
        assert holder.wait(WAIT_SECONDS)
        assert finished(run), run.error()
    assert seen == ["running"]
    record = workspace.run(run.id)
    assert (record.status, record.name, run.status, run.error()) == (
        "finished",
        "run 1 · first",
        "finished",
        None,
    )
    assert record.started is not None and record.ended is not None
    assert record.score == run.score() == min(h["val_loss"] for h in run.history())
    assert run.out_dir == workspace.run_files(run.id).folder
    assert (run.out_dir / "model.keras").exists()
    assert bench.current_run() is run and bench.runs == [run]


def test_a_restarted_server_lists_the_run_with_its_result_rebuilt_from_disk(bench, workspace):
    run = bench.start_run(base(epochs=3), label="kept")
    assert finished(run), run.error()
    original = run.result()

    again = Workbench(no_runner, Workspace(workspace.folder, token=workspace.token))
    (found,) = again.runs
    assert found.job is None and found.id == run.id and found.name == "run 1 · kept"
    assert (found.status, found.in_flight, found.parent, found.first_epoch) == (
        "finished",
        False,
        None,
        0,
    )
    assert found.experiment == run.experiment
    rebuilt = found.result()
    assert rebuilt is not None and found.result() is rebuilt  # read once, then kept
    assert rebuilt.history == original.history and len(rebuilt.history) == 3
    assert rebuilt.metrics == original.metrics
    assert rebuilt.training == original.training
    assert rebuilt.plan == original.plan
    assert rebuilt.diagnostics == original.diagnostics
    assert (rebuilt.message, rebuilt.split_note, rebuilt.warnings) == (
        original.message,
        original.split_note,
        original.warnings,
    )
    for name in ("y_val", "output_val", "validation_rows"):
        np.testing.assert_array_equal(getattr(rebuilt, name), getattr(original, name))
    assert found.curves() == (original.history, original.diagnostics)
    assert found.score() == run.score()
    # One duration, the training's, the same from the job and from the disk.
    assert found.seconds == run.seconds == original.training.seconds > 0
    # A regression on a standardised target (the default) is scored in standardised units.
    assert found.standardised is True
    unscaled = base(epochs=1).replace(data=DataSpec(target="y", scale_target=False))
    other = bench.start_run(unscaled)
    assert finished(other), other.error()
    assert other.standardised is False


def test_train_more_continues_a_run_as_its_child(bench, workspace):
    parent = bench.start_run(base(epochs=3, early_stopping=False))
    assert finished(parent), parent.error()
    child = bench.train_more(parent.id, 2)
    assert child.parent == parent.id and child.first_epoch == 3
    assert child.name == "run 2 · 2 more epochs of run 1"
    assert bench.current_run() is child
    assert finished(child), child.error()
    assert child.status == "finished" and child.first_epoch == child.result().first_epoch == 3
    assert len(child.history()) == 2
    (_, found) = Workbench(no_runner, Workspace(workspace.folder)).runs
    assert (found.parent, found.first_epoch, found.record.parent) == (parent.id, 3, parent.id)
    with pytest.raises(NNCoreError, match="No run 'nope'"):
        bench.train_more("nope", 2)


def test_delete_run_refuses_a_run_in_flight_then_deletes_it(bench, workspace, monkeypatch):
    run = bench.start_run(base(epochs=10_000, early_stopping=False))
    with pytest.raises(NNCoreError, match=r"run 1 is (queued|running)\. Stop it first"):
        bench.delete_run(run.id)
    run.stop()
    assert finished(run)
    assert run.status in ("stopped", "failed")  # failed: stopped before its first epoch
    # The record is written by the job's done-callback, a moment after the job has ended.
    wait_until(lambda: workspace.run(run.id).status == run.status)
    assert run.error()
    bench.delete_run(run.id)
    assert bench.runs == [] and not run.out_dir.exists() and bench.current_run() is None


INTERRUPTED_TRAINING = """
    import sys
    from pathlib import Path
    from nncore.config import DataSpec, Experiment, LayerSpec, TrainSpec
    from nncore.run.pipeline import run_experiment
    from nncore.run.workspace import Workspace

    workspace = Workspace(Path(sys.argv[1]))
    experiment = Experiment(
        data=DataSpec(target="y"),
        layers=(LayerSpec(8),),
        training=TrainSpec(epochs=10_000, early_stopping=False, batch_size=32),
        seed=1,
    )
    table = workspace.table()
    record = workspace.create_run(experiment, table, status="running")
    run_experiment(
        workspace.table_path(table.id), experiment, workspace.run_files(record.id).folder
    )
"""


@pytest.mark.slow
def test_a_run_interrupted_by_a_killed_server_is_listed_interrupted_and_finish_makes_it_usable(
    runner, store, workspace
):
    benches = Workbenches(store, lambda: runner)
    held = benches.open(workspace.token)  # the studio has the workspace open meanwhile
    # The "server" that started the run is a process killed after its first checkpoint.
    server = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(INTERRUPTED_TRAINING), str(workspace.folder)],
        cwd=REPO,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO), "NNSTUDIO_CHECKPOINT_SECONDS": "1"},
    )
    try:
        deadline = time.monotonic() + WAIT_SECONDS
        while not any(workspace.run_files(r.id).checkpoint.exists() for r in workspace.runs()):
            assert server.poll() is None, server.stderr.read()[-3000:]
            assert time.monotonic() < deadline, "no checkpoint"
            time.sleep(0.05)
        server.send_signal(signal.SIGKILL)
        server.wait(timeout=30)
    finally:
        server.kill()
        server.communicate()

    bench = benches.open(workspace.token)  # a reload, say
    assert bench is held
    (run,) = bench.runs
    assert (run.status, run.needs_finishing, run.result()) == ("interrupted", True, None)
    assert "The server stopped while this run was running" in run.error()
    history, diagnostics = run.curves()  # up to its checkpoint
    assert len(history) >= 1 and diagnostics == [None] * len(history)

    assert bench.finish(run.id) is run and run.in_flight
    assert finished(run), run.error()
    assert (run.status, run.needs_finishing) == ("interrupted", False)
    assert run.result().training.stopped_by == "interrupted"
    assert "interrupted after epoch" in run.error()
    # The record is written by the job's done-callback, a moment after the job has ended.
    wait_until(lambda: workspace.run(run.id).status == "interrupted")
    assert workspace.run(run.id).message == run.error()
    # Usable after another restart too.
    (found,) = Workbench(no_runner, Workspace(workspace.folder)).runs
    assert found.result().training.stopped_by == "interrupted" and not found.needs_finishing
    assert bench.finish(run.id) is run and not run.in_flight  # nothing more to finish


@pytest.mark.slow
def test_runs_stopped_by_the_server_exiting_are_recorded_interrupted(store):
    runner = JobRunner(max_concurrent=1)
    benches = Workbenches(store, lambda: runner)
    bench = benches.create()
    bench.workspace.add_table(linear_csv(2000), "long.csv")
    running = bench.start_run(base(epochs=10_000, early_stopping=False))
    queued = bench.start_run(base(epochs=10_000, early_stopping=False))
    wait_until(lambda: len(running.history()) >= 1)
    interrupted = runner.shutdown_for_exit()
    benches.interrupted(interrupted)
    assert set(interrupted) == {running.job, queued.job}
    for run in (running, queued):
        assert run.status == "interrupted" == bench.workspace.run(run.id).status
        assert run.error() == "The server stopped while this run was in flight."
    # The running training was stopped cleanly: a usable run. The queued one never ran.
    assert running.result() is not None and not running.needs_finishing
    assert queued.result() is None


def test_workbenches_open_the_same_workbench_for_the_same_token(runner, store, tmp_path):
    benches = Workbenches(store, lambda: runner, keep=2)
    first = benches.create()
    token = first.workspace.token
    assert benches.open(token) is first and benches.open(token) is first
    for garbage in ("", "nope", "../../etc", None, "A" * 22):
        assert benches.open(garbage) is None
    # Past `keep`, the least recently opened idle workbench is dropped; its workspace stays.
    second, third = benches.create(), benches.create()
    assert benches.open(second.workspace.token) is second
    again = benches.open(token)
    assert again is not None and again is not first and again.workspace.folder.exists()
    # Opening it again dropped `third`, the least recently opened.
    assert benches.open(third.workspace.token) is not third


def test_workbenches_never_drop_a_workbench_with_a_job_in_flight(runner, store):
    benches = Workbenches(store, lambda: runner, keep=1)
    busy = benches.create()
    busy.workspace.add_table(linear_csv(), "line.csv")
    run = busy.start_run(base(epochs=10_000, early_stopping=False))
    try:
        benches.create()
        assert benches.open(busy.workspace.token) is busy
    finally:
        run.stop()
        assert finished(run)


def test_a_table_a_session_holds_is_shared_and_one_nobody_holds_is_read_again(store):
    workspace = store.create()
    bench = Workbench(no_runner, workspace)
    assert bench.load_table() is None
    workspace.add_table(linear_csv(), "line.csv")
    first = bench.load_table()
    assert first.frame.shape == (300, 3)
    # A second session (a reload) gets the frame the first one holds, not a second read.
    assert bench.load_table().frame is first.frame
    held = weakref.ref(first.frame)
    del first
    gc.collect()
    assert held() is None  # the workbench does not keep a table nobody shows alive
    assert bench.load_table().frame.shape == (300, 3)
    # Another table in use is read, not confused with the one held.
    workspace.add_table(linear_csv(50), "short.csv")
    assert bench.load_table().frame.shape == (50, 3)


def test_runs_need_a_table(runner, store):
    bench = Workbench(no_runner, store.create())
    with pytest.raises(NNCoreError, match="Load a table first"):
        bench.start_run(base())
    assert bench.runs == []


def test_runs_are_named_in_order_and_the_chosen_one_is_current(bench):
    first = bench.start_run(base(epochs=1))
    second = bench.start_run(base(epochs=1), label="again")
    assert [r.name for r in bench.runs] == ["run 1", "run 2 · again"]
    assert bench.current_run() is second
    bench.choose(first.id)
    assert bench.current_run() is first
    for run in (first, second):
        assert finished(run), run.error()
    assert not in_flight(bench.runs)
    assert len(first.history()) == 1 and first.score() == first.result().history[0]["val_loss"]


@pytest.mark.slow
def test_a_rate_sweep_picks_the_run_with_the_best_validation_score(bench):
    sweep = bench.start_rate_sweep(base(epochs=8, early_stopping=False), "sgd", (1e-4, 0.1))
    assert bench.sweep is sweep and sweep.runs == bench.runs
    assert [r.experiment.compile.learning_rate for r in sweep.runs] == [1e-4, 0.1]
    assert [r.name for r in sweep.runs] == ["run 1 · sgd 0.0001", "run 2 · sgd 0.1"]
    for run in sweep.runs:
        assert finished(run) and run.status == "finished", run.error()
    pick = sweep_pick(sweep.runs)
    best = sweep.runs[pick.index]
    assert best.judged().score == min(r.judged().score for r in sweep.runs)
    # sgd at 0.0001 for 8 epochs has barely moved from its random start.
    assert best is sweep.runs[1]


@pytest.mark.slow
def test_a_capacity_search_runs_to_its_end_with_nobody_watching(bench, workspace):
    record = bench.start_capacity_search(
        base(epochs=6), start_units=4, min_improvement=0.05, max_steps=3
    )
    assert bench.search is record and len(record.runs) == 1 and not record.finished
    # Another table chosen meanwhile: the search keeps to its own.
    workspace.add_table(linear_csv(50, seed=9), "other.csv")
    assert record.wait(WAIT_SECONDS), "the search did not finish"
    steps = record.search.steps
    assert record.error is None and 2 <= len(steps) <= 3
    assert record.runs == bench.runs and len(record.runs) == len(steps)
    assert all(run.status == "finished" for run in record.runs)
    assert {run.record.table_name for run in record.runs} == {"line.csv"}
    assert [s.score for s in steps] == [run.judged().score for run in record.runs]
    assert [run.experiment.layers for run in record.runs] == [s.layers for s in steps]
    assert [s.move for s in steps][:2] == ["start", "wider"]
    assert steps[1].layers == (LayerSpec(8),)
    assert record.runs[1].name == "run 2 · wider: 8 relu"
    assert record.search.chosen is not None and record.search.chosen.accepted


def test_stop_search_stops_the_step_in_training_and_starts_no_other(runner, store, monkeypatch):
    monkeypatch.setenv("NNSTUDIO_MAX_SWEEP_WORK", str(10**9))  # a search far too long to finish
    bench = Workbench(lambda: runner, store.create())
    bench.workspace.add_table(linear_csv(2000), "long.csv")
    record = bench.start_capacity_search(base(epochs=10_000, early_stopping=False), start_units=4)
    (step,) = record.runs
    ran = after_callbacks(step.job)
    bench.stop_search()
    assert record.finished and record.wait(0)
    assert step.job.wait(WAIT_SECONDS) and ran.wait(WAIT_SECONDS)
    assert step.status in ("stopped", "failed")  # failed: stopped before its first epoch
    assert record.runs == bench.runs == [step] and len(record.search.steps) == 1


def test_a_sweep_or_search_over_the_work_cap_is_refused_before_any_job(monkeypatch, workspace):
    monkeypatch.setenv("NNSTUDIO_MAX_SWEEP_WORK", "10000")
    bench = Workbench(no_runner, workspace)
    with pytest.raises(ConfigError, match=r"3 trainings × 20 epochs × 300 rows = 18,000, more"):
        bench.start_rate_sweep(base(epochs=20), "adam", (0.001, 0.01, 0.1))
    with pytest.raises(ConfigError, match=r"8 trainings × 20 epochs × 300 rows.+NNSTUDIO_MAX_"):
        bench.start_capacity_search(base(epochs=20), start_units=4)
    assert bench.runs == [] and bench.sweep is None and bench.search is None


def test_a_workbench_queues_its_jobs_as_its_owner(runner, workspace):
    bench = Workbench(lambda: runner, workspace, owner="workspace-1")
    run = bench.start_run(base(epochs=1))
    assert run.job.owner == "workspace-1"
    assert finished(run) and run.status == "finished"


def test_a_full_queue_refuses_a_run_and_leaves_no_record(workspace, monkeypatch, tmp_path):
    monkeypatch.setenv("NNSTUDIO_MAX_QUEUED", "1")
    with JobRunner(max_concurrent=1) as runner:
        bench = Workbench(lambda: runner, workspace)
        gate = tmp_path / "gate"
        holder = runner.submit(epochs_then_wait, 0, str(gate), WAIT_SECONDS, owner=bench.owner)
        wait_until(lambda: holder.status == "running")
        queued = bench.start_run(base(epochs=1))
        with pytest.raises(NNCoreError, match="jobs waiting"):
            bench.start_run(base(epochs=1))
        assert [r.id for r in bench.runs] == [queued.id]
        gate.touch()
        assert finished(queued)
