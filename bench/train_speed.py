"""Training speed: the engine end to end against the plain Keras recipe, side by side.

    python bench/train_speed.py [--rows 60000] [--epochs 10] [--repeats 3]

Both sides read the same synthetic CSV (rows x 12 numeric features), split the same rows 70/30
with the same seed, standardize the features, train the notes' model (n -> 50 relu -> 32 relu
-> 1, adam, mse, batch 32) for the same epochs without early stopping, and save the model. The
plain recipe is what an analyst types: `model.fit` with its defaults. Each side runs in a fresh
process, alternating, and the median of the repeats is reported. Times cover CSV in to model
saved; the interpreter and TensorFlow import are excluded from both.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
FEATURES = 12


def make_csv(path: Path, rows: int, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(rows, FEATURES)) * rng.uniform(0.5, 20, FEATURES) + rng.normal(
        0, 10, FEATURES
    )
    z = (x - x.mean(0)) / x.std(0)
    y = np.tanh(z[:, :4]).sum(1) + 0.5 * z[:, 4] * z[:, 5] + 0.1 * rng.normal(size=rows)
    frame = pd.DataFrame(x, columns=[f"x{i}" for i in range(FEATURES)])
    frame["y"] = y
    frame.to_csv(path, index=False)


def plain_recipe(csv: str, out: str, epochs: int, seed: int) -> dict:
    """The notes' recipe as an analyst types it; validation rows chosen like the engine's."""
    import keras
    from sklearn.model_selection import train_test_split
    from sklearn.preprocessing import StandardScaler

    started = time.perf_counter()
    frame = pd.read_csv(csv)
    x = frame.drop(columns="y").to_numpy(np.float32)
    y = frame["y"].to_numpy(np.float32)
    rows = np.arange(len(frame))
    train, val = train_test_split(rows, test_size=0.3, random_state=seed)
    train, val = np.sort(train), np.sort(val)
    scaler = StandardScaler().fit(x[train])
    x = scaler.transform(x).astype(np.float32)
    keras.utils.set_random_seed(seed)
    model = keras.Sequential(
        [
            keras.Input(shape=(x.shape[1],)),
            keras.layers.Dense(50, activation="relu"),
            keras.layers.Dense(32, activation="relu"),
            keras.layers.Dense(1),
        ]
    )
    model.compile(optimizer="adam", loss="mse")
    fit_started = time.perf_counter()
    history = model.fit(
        x[train], y[train], validation_data=(x[val], y[val]), epochs=epochs, verbose=0
    )
    fit_seconds = time.perf_counter() - fit_started
    model.save(Path(out) / "plain.keras")
    return {
        "seconds": time.perf_counter() - started,
        "fit_seconds": fit_seconds,
        "train_rows": len(train),
        "val_loss": history.history["val_loss"][-1],
    }


def engine(csv: str, out: str, epochs: int, seed: int) -> dict:
    # Imported before the clock starts, as the plain recipe imports Keras before its clock.
    import nncore.export  # noqa: F401
    import nncore.train  # noqa: F401
    from nncore.config import DataSpec, Experiment, TrainSpec
    from nncore.csvio import read_csv
    from nncore.pipeline import run_experiment

    experiment = Experiment(
        data=DataSpec(target="y", validation_fraction=0.3, scale_target=False),
        training=TrainSpec(epochs=epochs, early_stopping=False, restore_best_weights=False),
        seed=seed,
    )
    started = time.perf_counter()
    frame = read_csv(Path(csv).read_bytes())
    result = run_experiment(frame, experiment, out)
    return {
        "seconds": time.perf_counter() - started,
        "fit_seconds": result.metrics["training"]["seconds"],
        "train_rows": result.metrics["training"]["rows"]["train"],
        "val_loss": result.history[-1]["val_loss"],
    }


def run_side(side: str, csv: Path, epochs: int, seed: int) -> dict:
    with tempfile.TemporaryDirectory() as out:
        code = (
            f"import json, sys; sys.path.insert(0, {str(ROOT)!r}); "
            f"from bench.train_speed import {side} as f; "
            f"print(json.dumps(f({str(csv)!r}, {out!r}, {epochs}, {seed})))"
        )
        env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
        done = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=False
        )
        if done.returncode:
            raise SystemExit(f"{side} failed:\n{done.stderr[-3000:]}")
        return json.loads(done.stdout.strip().splitlines()[-1])


def machine() -> str:
    import tensorflow as tf

    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return (
        f"{cpu}, {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"TensorFlow {tf.__version__}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=60_000)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        csv = Path(tmp) / "data.csv"
        make_csv(csv, args.rows, args.seed)
        results = {"plain_recipe": [], "engine": []}
        for _ in range(args.repeats):
            for side in results:
                results[side].append(run_side(side, csv, args.epochs, args.seed))

    def median(side, key):
        return statistics.median(r[key] for r in results[side])

    samples = results["engine"][0]["train_rows"] * args.epochs
    print(f"machine: {machine()}")
    print(
        f"data: {args.rows} rows x {FEATURES} features, {args.epochs} epochs, batch 32, "
        f"median of {args.repeats}"
    )
    print("| side | end to end (s) | training (s) | samples/s (end to end) | val loss |")
    print("| --- | --- | --- | --- | --- |")
    for side in results:
        seconds = median(side, "seconds")
        print(
            f"| {side} | {seconds:.2f} | {median(side, 'fit_seconds'):.2f} | "
            f"{samples / seconds:,.0f} | {median(side, 'val_loss'):.4f} |"
        )
    ratio = median("plain_recipe", "seconds") / median("engine", "seconds")
    print(f"engine speed-up end to end: {ratio:.2f}x")


if __name__ == "__main__":
    main()
