"""Runs that survive their process: checkpoints, finishing an interrupted run, training more,
a budget that stops a real training, and SIGTERM during a training."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
from frames import mixed_frame, tiny_experiment

from nncore.artifacts.runfiles import RunFiles
from nncore.config import LayerSpec, TrainSpec
from nncore.errors import DataError, NNCoreError
from nncore.run.pipeline import continue_run, finish_interrupted, run_experiment

REPO = Path(__file__).resolve().parents[2]
LONG = TrainSpec(epochs=10_000, early_stopping=False, batch_size=16)


def _wait_for(condition, process: subprocess.Popen, timeout: float = 300) -> None:
    """Until `condition()` holds; fail early if the process ended first."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert process.poll() is None, process.stderr.read()[-3000:]
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def _child(script: str, *args: str, env: dict | None = None) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(script), *args],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO), **(env or {})},
    )


TRAIN_FROM_PATH = """
    import sys
    sys.path.insert(0, "tests/core")
    from frames import tiny_experiment
    from nncore.config import TrainSpec
    from nncore.run.pipeline import run_experiment

    experiment = tiny_experiment("binary").replace(
        training=TrainSpec(epochs=10_000, early_stopping=False, batch_size=16)
    )
    run_experiment(sys.argv[1], experiment, sys.argv[2])
"""


@pytest.mark.slow
def test_a_training_killed_after_a_checkpoint_is_finished_into_a_usable_run(tmp_path):
    import keras

    from nncore.artifacts.predict import load_schema, predict

    table = tmp_path / "table.csv"
    mixed_frame(task="binary").to_csv(table, index=False)
    run = RunFiles(tmp_path / "run")
    child = _child(
        TRAIN_FROM_PATH, str(table), str(run.folder), env={"NNSTUDIO_CHECKPOINT_SECONDS": "1"}
    )
    try:
        # Before the first epoch the run already says what it is.
        _wait_for(run.checkpoint.exists, child)
        assert run.schema.exists() and run.experiment.exists()
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)
    finally:
        child.kill()
        child.communicate()
    assert not run.keras.exists()

    result = finish_interrupted(run.folder, str(table))  # the table by its path, as a job gets it
    metrics = json.loads(run.metrics.read_text())
    assert metrics["training"]["stopped_by"] == "interrupted"
    assert "interrupted" in metrics["training"]["message"]
    assert metrics["validation"]["rows"] == len(result.validation_rows) > 0
    assert 0.0 <= metrics["validation"]["network"]["accuracy"] <= 1.0
    history = run.history.read_text().splitlines()
    assert history[0].startswith("epoch,") and len(history) - 1 == result.training.epochs_run >= 1
    frame = mixed_frame(task="binary", seed=1)
    for path in (run.keras, run.h5):
        model = keras.saving.load_model(path, compile=False, safe_mode=True)
        predicted = predict(model, frame, load_schema(run.schema))
        assert len(predicted) == len(frame)
        assert set(predicted["predicted label"]) <= {"yes", "no"}
    # An interrupted run can be trained more, from its best weights with a fresh optimizer.
    more = continue_run(run.folder, str(table), 2, tmp_path / "more")
    assert more.first_epoch == result.training.epochs_run
    assert len(more.history) == 2


def test_finishing_needs_a_checkpoint_and_the_same_table(tmp_path):
    frame = mixed_frame(task="binary")
    experiment = tiny_experiment("binary").replace(training=TrainSpec(epochs=2))
    run = run_experiment(frame, experiment, tmp_path / "run")
    with pytest.raises(DataError, match="not the one run was trained on"):
        finish_interrupted(run.out_dir, mixed_frame(task="binary", seed=7))
    run.files.checkpoint.unlink()
    with pytest.raises(NNCoreError, match="no saved weights"):
        finish_interrupted(run.out_dir, frame)


@pytest.mark.slow
def test_training_more_gives_the_weights_of_one_longer_training(tmp_path):
    """With early stopping off, E1 epochs then E2 more is one training of E1 + E2 epochs. The
    network has no dropout: a dropout layer's random state is not part of the saved state."""
    import keras

    frame = mixed_frame(task="regression")
    design = tiny_experiment("regression").replace(
        layers=(LayerSpec(16), LayerSpec(8)),
        training=TrainSpec(epochs=3, early_stopping=False, restore_best_weights=True),
    )
    parent = run_experiment(frame, design, tmp_path / "parent")
    child = continue_run(parent.out_dir, frame, 4, tmp_path / "child")
    whole = run_experiment(
        frame,
        design.replace(training=TrainSpec(epochs=7, early_stopping=False)),
        tmp_path / "whole",
    )
    # The same curve: the child's epochs go on where the parent's end.
    assert child.first_epoch == 3
    joined = parent.history + child.history
    for a, b in zip(joined, whole.history, strict=True):
        assert a["loss"] == pytest.approx(b["loss"], rel=1e-5)
    history = child.files.history.read_text().splitlines()
    assert [line.split(",")[0] for line in history[1:]] == ["3", "4", "5", "6"]
    assert child.metrics["training"]["parent"] == "parent"
    assert child.metrics["training"]["first_epoch"] == 4

    def last_weights(run):
        with np.load(run.files.training_state) as saved:
            return [saved[f"weight_{i}"] for i in range(len(whole_model.get_weights()))]

    whole_model = keras.saving.load_model(whole.files.keras, compile=False)
    for a, b in zip(last_weights(child), last_weights(whole), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_training_more_refuses_a_folder_that_is_no_finished_run(tmp_path):
    frame = mixed_frame(task="binary")
    with pytest.raises(NNCoreError, match="pass the folder of a run"):
        continue_run(tmp_path, frame, 3, tmp_path / "child")
    run = run_experiment(
        frame, tiny_experiment("binary").replace(training=TrainSpec(epochs=1)), tmp_path / "run"
    )
    with pytest.raises(NNCoreError, match="1 to 10000 epochs, got 0"):
        continue_run(run.out_dir, frame, 0, tmp_path / "child")
    run.files.training_state.unlink()  # as after a kill: only the best weights so far
    assert continue_run(run.out_dir, frame, 1, tmp_path / "from-checkpoint").first_epoch == 1
    run.files.checkpoint.unlink()
    with pytest.raises(NNCoreError, match="nothing to continue from"):
        continue_run(run.out_dir, frame, 3, tmp_path / "child")


BUDGET = """
    import json, sys
    sys.path.insert(0, "tests/core")
    from frames import mixed_frame, tiny_experiment
    from nncore.config import TrainSpec
    from nncore.run.jobs import JobRunner
    from nncore.run.tasks import train_job

    experiment = tiny_experiment("binary").replace(
        training=TrainSpec(epochs=10_000, early_stopping=False, batch_size=16)
    )
    frame = mixed_frame(task="binary")
    with JobRunner() as runner:
        # A first training in the same worker: the budget then goes to training, not to
        # TensorFlow starting.
        warm = runner.submit(train_job, frame, tiny_experiment("binary"), sys.argv[1] + "-warm")
        warm.result(timeout=300)
        job = runner.submit(train_job, frame, experiment, sys.argv[1], budget=float(sys.argv[2]))
        result = job.result(timeout=300)
    print(json.dumps({
        "status": job.status,
        "events": job.events(),
        "message": result.message,
        "stopped_by": json.load(open(sys.argv[1] + "/metrics.json"))["training"],
        "epochs": len(result.history),
    }))
"""


@pytest.mark.slow
def test_a_training_over_its_budget_stops_keeping_its_best_weights(tmp_path):
    child = _child(BUDGET, str(tmp_path / "run"), "4")
    out, err = child.communicate(timeout=600)
    assert child.returncode == 0, err[-3000:]
    report = json.loads(out.strip().splitlines()[-1])
    assert report["status"] == "stopped"
    assert [e["kind"] for e in report["events"]] == ["budget"]
    assert report["message"].startswith("Stopped after its time budget of 4 s, ")
    training = report["stopped_by"]
    assert training["stopped_by"] == "user"
    assert training["message"] == report["message"]
    assert training["best_epoch"] is not None
    assert 1 <= report["epochs"] < 10_000


SIGTERM = """
    import sys, time
    sys.path.insert(0, "tests/core")
    from frames import mixed_frame, tiny_experiment
    from nncore.config import TrainSpec
    from nncore.run.jobs import JobRunner, install_exit_handler
    from nncore.run.tasks import train_job

    experiment = tiny_experiment("binary").replace(
        training=TrainSpec(epochs=10_000, early_stopping=False, batch_size=16)
    )
    runner = JobRunner()
    install_exit_handler(
        runner, lambda jobs: print("interrupted:", sorted(j.name for j in jobs), flush=True)
    )
    frame = mixed_frame(task="binary")
    running = runner.submit(train_job, frame, experiment, sys.argv[1], name="running")
    runner.submit(train_job, frame, experiment, sys.argv[1] + "-2", name="queued")
    while not running.history():
        time.sleep(0.05)
    print("training", flush=True)
    while True:
        time.sleep(1)
"""


@pytest.mark.slow
def test_sigterm_during_a_training_ends_the_process_promptly_and_keeps_the_weights(tmp_path):
    run = RunFiles(tmp_path / "run")
    child = _child(SIGTERM, str(run.folder))
    try:
        assert child.stdout.readline().strip() == "training", child.stderr.read()[-3000:]
        child.send_signal(signal.SIGTERM)
        out, err = child.communicate(timeout=60)
    finally:
        child.kill()
    assert child.returncode == 128 + signal.SIGTERM, err[-3000:]
    assert "Traceback" not in err
    assert "interrupted: ['queued', 'running']" in out
    assert run.checkpoint.exists()
    assert not (tmp_path / "run-2").exists()  # the queued training never started
