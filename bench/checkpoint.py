"""What keeping a run safe costs, and how fast a stopping server lets go.

    python bench/checkpoint.py [--quick] [--repeats 3]

Checkpoints: the notes' model (12 -> 50 relu -> 32 relu -> 1, adam, batch 32) on 60,000 rows
(42,000 training rows), trained by `nncore.learn.train.train` with no checkpoints, with the
engine's checkpoints at their default pace (`NNSTUDIO_CHECKPOINT_SECONDS`, 5 s) and, as a worst
case, with a checkpoint after every epoch whose best weights changed. Every side writes with the
pipeline's own writer into a run folder on disk. Each run is a fresh process, the sides
alternate (the order rotates every repeat) and the median training throughput is reported.

SIGTERM: a process with a `JobRunner` and `install_exit_handler` trains the notes' model in a
worker (a second training queued); SIGTERM arrives once the first epoch is in. The figure is the
time from the signal to the process's exit.
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import numpy as np

if __package__ in (None, ""):  # run as a script: make `bench` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import ROOT, machine, median, run_fresh

ROWS = 60_000
SIDES = {"none": None, "default pace": "default", "every epoch": 0.0}


def _data(rows: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(rows, 12)).astype(np.float32)
    y = (np.tanh(x[:, :4]).sum(1) + 0.1 * rng.normal(size=rows)).astype(np.float32)
    cut = int(rows * 0.7)
    return x[:cut], y[:cut], x[cut:], y[cut:]


def side(every: float | str | None, epochs: int, rows: int, folder: str) -> dict:
    """One training; `every` None for no checkpoints, "default" for the setting's pace."""
    import keras

    from nncore.artifacts.runfiles import RunFiles
    from nncore.config import CompileSpec, Experiment, TrainSpec
    from nncore.learn.model import build_model, compile_model
    from nncore.learn.train import Checkpoints, train
    from nncore.rules import CHECKPOINT_SECONDS
    from nncore.run.pipeline import _save_checkpoint

    x, y, x_val, y_val = _data(rows)
    keras.utils.set_random_seed(0)
    model = build_model(12, Experiment().layers, "regression")
    compile_model(model, CompileSpec(), "regression")
    files = RunFiles(Path(folder))
    files.folder.mkdir(parents=True)
    saves = []

    def save(snapshot) -> None:
        started = time.perf_counter()
        _save_checkpoint(files, snapshot, 0, None)
        saves.append(time.perf_counter() - started)

    checkpoints = None
    if every is not None:
        pace = CHECKPOINT_SECONDS.value() if every == "default" else every
        checkpoints = Checkpoints(save, every=pace)
    outcome = train(
        model,
        x,
        y,
        x_val,
        y_val,
        TrainSpec(epochs=epochs, early_stopping=False),
        seed=0,
        checkpoints=checkpoints,
        diagnose=False,
    )
    return {
        "samples_per_second": outcome.samples_per_second,
        "seconds": outcome.seconds,
        "checkpoints": len(saves),
        "save_ms": 1000 * statistics.median(saves) if saves else 0.0,
    }


EXIT_SCRIPT = """
    import sys, time
    from nncore.config import Experiment, TrainSpec
    from nncore.run.jobs import JobRunner, install_exit_handler
    from nncore.run.tasks import train_job
    import numpy as np, pandas as pd

    rng = np.random.default_rng(0)
    x = rng.normal(size=(60_000, 12))
    frame = pd.DataFrame(x, columns=[f"x{i}" for i in range(12)])
    frame["y"] = np.tanh(x[:, :4]).sum(1)
    experiment = Experiment.from_dict(
        {**Experiment().to_dict(), "data": {"target": "y"}, "training": {"epochs": 1000}}
    )
    runner = JobRunner()
    install_exit_handler(runner, lambda jobs: None)
    job = runner.submit(train_job, frame, experiment, sys.argv[1])
    runner.submit(train_job, frame, experiment, sys.argv[1] + "-queued")
    while not job.history():
        time.sleep(0.05)
    print("training", flush=True)
    while True:
        time.sleep(1)
"""


def sigterm_exit(folder: str) -> dict:
    child = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(EXIT_SCRIPT), folder],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "3"},
    )
    try:
        if child.stdout.readline().strip() != "training":
            raise SystemExit(f"the training did not start:\n{child.stderr.read()[-3000:]}")
        sent = time.perf_counter()
        child.send_signal(signal.SIGTERM)
        _, err = child.communicate(timeout=120)
        seconds = time.perf_counter() - sent
    finally:
        child.kill()
    return {
        "seconds": seconds,
        "status": child.returncode,
        "traceback": "Traceback" in err,
        "checkpoint": (Path(folder) / "checkpoint.npz").exists(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer epochs and repeats")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    repeats = 1 if args.quick else args.repeats
    epochs = 5 if args.quick else 25

    print(f"machine: {machine()}\n")
    results: dict[str, list[dict]] = {name: [] for name in SIDES}
    names = list(SIDES)
    with tempfile.TemporaryDirectory() as root:
        for repeat in range(repeats):
            for name in names[repeat % len(names) :] + names[: repeat % len(names)]:
                folder = str(Path(root) / f"{name}-{repeat}")
                results[name].append(
                    run_fresh(
                        "checkpoint",
                        "side",
                        every=SIDES[name],
                        epochs=epochs,
                        rows=ROWS,
                        folder=folder,
                    )
                )
        exits = [sigterm_exit(str(Path(root) / f"exit-{i}")) for i in range(repeats)]

    base = median(results["none"], "samples_per_second")
    print(f"### Checkpoints: notes' model, {ROWS:,} rows, {epochs} epochs, median of {repeats}\n")
    print("| checkpoints | training samples/s | vs none | checkpoints per training | one save |")
    print("| --- | --- | --- | --- | --- |")
    for name in SIDES:
        speed = median(results[name], "samples_per_second")
        count = median(results[name], "checkpoints")
        save = median(results[name], "save_ms")
        print(
            f"| {name} | {speed:,.0f} | {100 * (speed / base - 1):+.1f}% | {count:g} | "
            f"{save:.1f} ms |"
        )
    seconds = [e["seconds"] for e in exits]
    print(
        f"\n### SIGTERM during a training: exit in median {statistics.median(seconds):.2f} s, "
        f"max {max(seconds):.2f} s over {repeats}; exit status "
        f"{sorted({e['status'] for e in exits})}, traceback in stderr: "
        f"{any(e['traceback'] for e in exits)}, checkpoint kept: "
        f"{all(e['checkpoint'] for e in exits)}"
    )


if __name__ == "__main__":
    main()
