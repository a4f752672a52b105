"""What diagnostics cost: the same trainings with and without them, side by side in one run.

    python bench/diagnostics_overhead.py [--repeats 5]

Each workload trains the same model from the same initial weights on the same rows and seed,
once with `train(..., diagnose=True)` (the default: dead and saturated units and gradient
norms per layer after every epoch, see nncore/learn/diagnostics.py) and once with
`diagnose=False`.
The two alternate, their order swapping every repeat, after one untimed warm-up pair; the
minimum of the repeats is reported (on a shared machine, the least disturbed run). Times are
of the whole `train` call, so the diagnostics' graph tracing and their measurement before the
first epoch count against them. CPU time (all threads of the process) is reported beside wall
time: on a shared machine it moves less with the other load. The goal of issue 5: training
with diagnostics within 1.2x the time without.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from bench.train_speed import machine  # noqa: E402
from nncore.config import DataSpec, LayerSpec, TrainSpec  # noqa: E402


@dataclass(frozen=True)
class Workload:
    name: str
    layers: tuple[LayerSpec, ...]
    epochs: int
    data: tuple  # x, y, x_val, y_val
    task: str
    n_classes: int = 0


def sample(name: str, target: str) -> tuple[tuple, str, int]:
    from nncore.data.plan import plan_columns
    from nncore.data.prepare import prepare
    from nncore.data.samples import load_sample

    frame = load_sample(name)
    spec = DataSpec(target=target)
    plan = plan_columns(frame, spec)
    p = prepare(frame, plan, spec, seed=0)
    return (p.x_train, p.y_train, p.x_val, p.y_val), plan.task, len(plan.classes)


def synthetic(rows: int, features: int = 12, seed: int = 0) -> tuple:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(rows, features)).astype(np.float32)
    y = (np.tanh(x[:, :4]).sum(1) + 0.5 * x[:, 4] * x[:, 5]).astype(np.float32)
    cut = int(rows * 0.8)
    return x[:cut], y[:cut], x[cut:], y[cut:]


def workloads() -> list[Workload]:
    notes = (LayerSpec(50), LayerSpec(32))
    iris, iris_task, iris_classes = sample("iris", "species")
    cancer, cancer_task, _ = sample("breast_cancer", "diagnosis")
    return [
        Workload("iris (120 rows), notes' model, 100 epochs", notes, 100, iris, iris_task, 3),
        Workload(
            "breast cancer (455 rows), notes' model, 100 epochs", notes, 100, cancer, "binary"
        ),
        Workload(
            "48,000 rows x 12, notes' model, 5 epochs", notes, 5, synthetic(60_000), "regression"
        ),
        Workload(
            "16,000 rows x 12, 10 sigmoid layers of 32, 10 epochs",
            (LayerSpec(32, "sigmoid"),) * 10,
            10,
            synthetic(20_000),
            "regression",
        ),
    ]


def timed(work: Workload, diagnose: bool) -> tuple[float, float, int]:
    """Wall seconds, CPU seconds (all threads of this process) and epochs measured."""
    import keras

    from nncore.config import CompileSpec
    from nncore.learn.model import build_model, compile_model
    from nncore.learn.train import train

    keras.utils.set_random_seed(0)
    model = build_model(work.data[0].shape[1], work.layers, work.task, work.n_classes)
    compile_model(model, CompileSpec(), work.task)
    spec = TrainSpec(epochs=work.epochs, early_stopping=False, restore_best_weights=False)
    started, cpu_started = time.perf_counter(), time.process_time()
    outcome = train(model, *work.data, spec, seed=0, diagnose=diagnose)
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    assert len(outcome.history) == work.epochs, outcome.message
    keras.backend.clear_session(free_memory=True)
    return seconds, cpu, sum(1 for record in outcome.diagnostics if record)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()

    print(f"Machine: {machine()}; load average at start {os.getloadavg()[0]:.1f}")
    print(
        "| workload | wall without (s) | wall with (s) | wall ratio | CPU without (s) "
        "| CPU with (s) | CPU ratio | epochs measured |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for work in workloads():
        runs: dict[bool, list[tuple[float, float, int]]] = {True: [], False: []}
        timed(work, True), timed(work, False)  # warm-up: TensorFlow's first kernels and traces
        for repeat in range(args.repeats):
            for diagnose in (True, False) if repeat % 2 else (False, True):
                runs[diagnose].append(timed(work, diagnose))
        wall = {d: min(r[0] for r in runs[d]) for d in runs}
        cpu = {d: min(r[1] for r in runs[d]) for d in runs}
        measured = min(r[2] for r in runs[True])  # the fewest epochs any repeat measured
        print(
            f"| {work.name} | {wall[False]:.2f} | {wall[True]:.2f} | "
            f"{wall[True] / wall[False]:.2f}x | {cpu[False]:.2f} | {cpu[True]:.2f} | "
            f"{cpu[True] / cpu[False]:.2f}x | {measured:.0f} of {work.epochs} |",
            flush=True,
        )
    print(f"Load average at the end {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
