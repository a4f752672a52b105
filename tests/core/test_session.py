"""The Workbench: one user's runs, a learning-rate sweep and a capacity search, with a real job
runner and real trainings on data made here, and no Streamlit and no page."""

from __future__ import annotations

import threading

import numpy as np
import pandas as pd
import pytest

from nncore.config import DataSpec, Experiment, LayerSpec, TrainSpec
from nncore.errors import ConfigError
from nncore.run.jobs import Job, JobRunner
from nncore.run.session import Workbench, best_run, in_flight

WAIT_SECONDS = 300


def linear_frame(n: int = 300, noise: float = 1.0, seed: int = 0) -> pd.DataFrame:
    """A target that is a straight line in two columns plus noise no network can predict."""
    rng = np.random.default_rng(seed)
    x1, x2 = rng.normal(size=(2, n))
    return pd.DataFrame({"x1": x1, "x2": x2, "y": x1 + x2 + rng.normal(0, noise, n)})


def base(**training) -> Experiment:
    return Experiment(
        data=DataSpec(target="y"),
        layers=(LayerSpec(8),),
        training=TrainSpec(**{"epochs": 6, "batch_size": 32, **training}),
        seed=1,
    )


@pytest.fixture(scope="module")
def runner():
    with JobRunner(max_concurrent=2) as runner:
        yield runner


@pytest.fixture
def bench(runner, tmp_path) -> Workbench:
    return Workbench(lambda: runner, tmp_path)


def after_callbacks(job: Job) -> threading.Event:
    """Set once the callbacks added to `job` so far have run (callbacks run in order)."""
    ran = threading.Event()
    job.add_done_callback(lambda _: ran.set())
    return ran


def test_no_runner_is_made_before_the_first_job(runner, tmp_path):
    made = []
    bench = Workbench(lambda: made.append(runner) or runner, tmp_path)
    assert (bench.current_run(), bench.runs, made) == (None, [], [])
    bench.touch()  # nothing in flight: nothing to do
    assert made == []


def test_runs_are_named_in_order_and_the_newest_is_current(bench):
    frame = linear_frame(120)
    first = bench.start_run(base(epochs=1), frame)
    second = bench.start_run(base(epochs=1), frame, label="again")
    assert [r.name for r in bench.runs] == ["run 1", "run 2 · again"]
    assert bench.current_run() is second
    bench.choose(first.id)
    assert bench.current_run() is first
    for run in bench.runs:
        assert run.job.wait(WAIT_SECONDS) and run.job.status == "done", run.job.error()
    assert not in_flight(bench.runs)
    assert second.out_dir.parent == bench.work_dir and (second.out_dir / "model.keras").exists()
    assert len(first.history()) == 1 and first.score() == first.result().history[0]["val_loss"]


@pytest.mark.slow
def test_a_rate_sweep_picks_the_run_with_the_best_validation_score(bench):
    sweep = bench.start_rate_sweep(
        base(epochs=8, early_stopping=False), linear_frame(), "sgd", (1e-4, 0.1)
    )
    assert bench.sweep is sweep and sweep.runs == bench.runs
    assert [r.experiment.compile.learning_rate for r in sweep.runs] == [1e-4, 0.1]
    assert [r.name for r in sweep.runs] == ["run 1 · sgd 0.0001", "run 2 · sgd 0.1"]
    for run in sweep.runs:
        assert run.job.wait(WAIT_SECONDS) and run.job.status == "done", run.job.error()
    best = best_run(sweep.runs)
    assert best.score() == min(r.score() for r in sweep.runs)
    # sgd at 0.0001 for 8 epochs has barely moved from its random start.
    assert best is sweep.runs[1]


@pytest.mark.slow
def test_a_capacity_search_runs_to_its_end_with_nobody_watching(bench):
    record = bench.start_capacity_search(
        base(epochs=6), linear_frame(), start_units=4, min_improvement=0.05, max_steps=3
    )
    assert bench.search is record and len(record.runs) == 1 and not record.finished
    assert record.wait(WAIT_SECONDS), "the search did not finish"
    steps = record.search.steps
    assert record.error is None and 2 <= len(steps) <= 3
    assert record.runs == bench.runs and len(record.runs) == len(steps)
    assert all(run.job.status == "done" for run in record.runs)
    assert [s.score for s in steps] == [run.score() for run in record.runs]
    assert [run.experiment.layers for run in record.runs] == [s.layers for s in steps]
    assert [s.move for s in steps][:2] == ["start", "wider"]
    assert steps[1].layers == (LayerSpec(8),)
    assert record.runs[1].name == "run 2 · wider: 8 relu"
    assert record.search.chosen is not None and record.search.chosen.accepted


def test_stop_search_stops_the_step_in_training_and_starts_no_other(bench, monkeypatch):
    monkeypatch.setenv("NNSTUDIO_MAX_SWEEP_WORK", str(10**9))  # a search far too long to finish
    record = bench.start_capacity_search(
        base(epochs=10_000, early_stopping=False), linear_frame(2000), start_units=4
    )
    (step,) = record.runs
    ran = after_callbacks(step.job)
    bench.stop_search()
    assert record.finished and record.wait(0)
    assert step.job.wait(WAIT_SECONDS) and step.job.status == "stopped"
    assert ran.wait(WAIT_SECONDS)
    assert record.runs == bench.runs == [step] and len(record.search.steps) == 1


def test_a_search_nobody_looks_at_ends_with_its_step(tmp_path, monkeypatch):
    monkeypatch.setenv("NNSTUDIO_MAX_SWEEP_WORK", str(10**9))
    with JobRunner(max_concurrent=1, abandon_after=1.0) as runner:
        bench = Workbench(lambda: runner, tmp_path)
        record = bench.start_capacity_search(
            base(epochs=10_000, early_stopping=False), linear_frame(2000), start_units=4
        )
        assert record.wait(WAIT_SECONDS)
        (step,) = record.runs
        # Stopped, or failed for want of a finished epoch: stopped before it learned anything.
        assert step.job.status in ("stopped", "failed")
        assert "nobody looked at it" in record.error
        assert len(record.search.steps) == 1


def test_a_sweep_or_search_over_the_work_cap_is_refused_before_any_job(monkeypatch, tmp_path):
    monkeypatch.setenv("NNSTUDIO_MAX_SWEEP_WORK", "10000")

    def no_runner() -> JobRunner:
        raise AssertionError("nothing should be submitted")

    bench = Workbench(no_runner, tmp_path)
    frame = linear_frame(n=300)
    with pytest.raises(ConfigError, match=r"3 trainings × 20 epochs × 300 rows = 18,000, more"):
        bench.start_rate_sweep(base(epochs=20), frame, "adam", (0.001, 0.01, 0.1))
    with pytest.raises(ConfigError, match=r"8 trainings × 20 epochs × 300 rows.+NNSTUDIO_MAX_"):
        bench.start_capacity_search(base(epochs=20), frame, start_units=4)
    table = tmp_path / "table.csv"
    frame.to_csv(table, index=False)
    with pytest.raises(ConfigError, match=r"× 300 rows"):  # a table by its path: its lines
        bench.start_rate_sweep(base(epochs=20), str(table), "adam", (0.001, 0.01, 0.1))
    assert bench.runs == [] and bench.sweep is None and bench.search is None


def test_a_workbench_queues_its_jobs_as_its_owner(runner, tmp_path):
    bench = Workbench(lambda: runner, tmp_path, owner="workspace-1")
    run = bench.start_run(base(epochs=1), linear_frame())
    assert run.job.owner == "workspace-1"
    assert run.job.wait(WAIT_SECONDS) and run.job.status == "done"
