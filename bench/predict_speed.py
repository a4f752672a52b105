"""Prediction: many rows through an exported model, and the one-row form's answer time.

    python bench/predict_speed.py [--quick] [--rows 1000000] [--repeats 1]

A model is trained once (the notes' network, 2 epochs) on a seeded table of 10 numeric and 2
categorical columns plus a date, and saved as the studio saves it (`model.keras` and
`schema.json`: the preprocessing is layers in front of the network).

1. Throughput on `--rows` raw rows, each side in a fresh process, alternating, median of the
   repeats; both sides turn the raw rows into the model's inputs with `model_inputs` (filled
   numbers, date parts, category text) inside the clock:
   - plain: `model.predict(inputs)` with its default batch size (32);
   - studio: `nncore.artifacts.predict.predict(model, frame, schema)`, the path of the CLI and
     of an uploaded file on the Predict page (a table of predictions out).
2. One row, as the Predict page's form sends it: the page checks the row with `model_inputs`,
   then submits `predict_job` (model path, the row, the schema) to a JobRunner like the server's
   and waits for its result. The first answer includes starting the worker and importing
   TensorFlow; the figure is the median over the following answers ("warm").
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

if __package__ in (None, ""):  # run as a script: make `bench` importable
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import machine, median, run_fresh

SIDES = ("plain", "studio")
ONE_ROW_ANSWERS = 20


def make_frame(rows: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({f"x{i}": rng.normal(i, 1 + i, rows).round(3) for i in range(10)})
    frame.loc[rng.random(rows) < 0.01, "x3"] = np.nan  # some missing numbers to fill
    frame["city"] = rng.choice([f"city {i:02d}" for i in range(30)], rows)
    frame["colour"] = rng.choice(["red", "green", "blue", "amber"], rows)
    frame["day"] = (
        pd.Timestamp("2020-01-01") + pd.to_timedelta(rng.integers(0, 1000, rows), "D")
    ).strftime("%Y-%m-%d")
    signal = frame["x0"] + 0.1 * frame["x1"] + (frame["colour"] == "red")
    frame["y"] = signal + rng.normal(0, 1, rows)
    return frame


def train_model(out: str) -> None:
    from nncore.config import DataSpec, Experiment, TrainSpec
    from nncore.run.pipeline import run_experiment

    experiment = Experiment(data=DataSpec(target="y"), training=TrainSpec(epochs=2))
    run_experiment(make_frame(20_000, seed=1), experiment, out)


def throughput(side: str, model_dir: str, rows: int) -> dict:
    """In a fresh process: seconds to predict `rows` raw rows (inputs made inside the clock)."""
    from nncore.artifacts.predict import load_model, load_schema, model_inputs, predict

    frame = make_frame(rows, seed=2).drop(columns="y")
    schema = load_schema(Path(model_dir) / "schema.json")
    model = load_model(Path(model_dir) / "model.keras", schema)
    started = time.perf_counter()
    if side == "plain":
        import tensorflow as tf

        # model.predict takes text as TensorFlow strings, not numpy's unicode or object arrays.
        inputs = {
            k: tf.constant(v) if v.dtype.kind == "U" else v
            for k, v in model_inputs(frame, schema).items()
        }
        output = model.predict(inputs, verbose=0).reshape(-1)
    else:
        output = predict(model, frame, schema).iloc[:, 0].to_numpy()
    return {
        "seconds": time.perf_counter() - started,
        "checksum": float(np.sum(output, dtype=np.float64)),
    }


def one_row(model_dir: str, answers: int) -> list[float]:
    """Seconds from the form's submit to the prediction, `answers` times, as the page does it."""
    from nncore.artifacts.predict import load_schema, model_inputs
    from nncore.run.jobs import JobRunner
    from nncore.run.tasks import predict_job

    schema = load_schema(Path(model_dir) / "schema.json")
    row = make_frame(answers, seed=3).drop(columns="y")
    times = []
    with JobRunner(max_concurrent=1) as runner:
        for i in range(answers):
            started = time.perf_counter()
            frame = row.iloc[[i]].reset_index(drop=True)
            model_inputs(frame, schema)  # the page checks the row before it submits
            job = runner.submit(
                predict_job, str(Path(model_dir) / "model.keras"), frame, schema.to_dict()
            )
            job.result(timeout=120)
            times.append(time.perf_counter() - started)
            job.close()
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="200,000 rows, one repeat")
    parser.add_argument("--rows", type=int, help="rows to predict (default 1,000,000)")
    parser.add_argument("--repeats", type=int, help="runs per side (default 1: minutes each)")
    args = parser.parse_args()
    repeats = args.repeats or 1
    rows = args.rows or (200_000 if args.quick else 1_000_000)

    print(f"machine: {machine()}")
    results: dict[str, list[dict]] = {side: [] for side in SIDES}
    with tempfile.TemporaryDirectory() as model_dir:
        run_fresh("predict_speed", "train_model", out=model_dir)
        for repeat in range(repeats):
            for side in SIDES if repeat % 2 == 0 else SIDES[::-1]:
                result = run_fresh(
                    "predict_speed", "throughput", side=side, model_dir=model_dir, rows=rows
                )
                results[side].append(result)
        answers = one_row(model_dir, ONE_ROW_ANSWERS)

    print(f"\n{rows:,} raw rows (10 numeric, 2 categorical, 1 date column), median of {repeats}\n")
    print("| side | seconds | rows/s | sum of predictions |")
    print("| --- | --- | --- | --- |")
    for side in SIDES:
        seconds = median(results[side], "seconds")
        print(
            f"| {side} | {seconds:.2f} | {rows / seconds:,.0f} | "
            f"{results[side][0]['checksum']:,.1f} |"
        )
    ratio = median(results["plain"], "seconds") / median(results["studio"], "seconds")
    warm = statistics.median(answers[1:])
    print(
        f"\nstudio throughput {ratio:.1f}x model.predict with its default batch (goal >= 5x)\n"
        f"one row through the Predict page's job: first {answers[0] * 1000:.0f} ms (worker "
        f"start), then median {warm * 1000:.0f} ms, max {max(answers[1:]) * 1000:.0f} ms over "
        f"{len(answers) - 1} answers (goal < 100 ms)"
    )


if __name__ == "__main__":
    main()
