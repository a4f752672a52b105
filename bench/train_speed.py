"""Training speed: the engine against the plain Keras recipe and a hand-written in-graph loop.

    python bench/train_speed.py [--quick] [--repeats 3]

Three cases: the notes' model (12 -> 50 relu -> 32 relu -> 1) on 60,000 rows, a wide model
(12 -> 512 relu -> 256 relu -> 1) on the same rows, and the notes' model on 1,000,000 rows. All
use adam, mse, batch 32, a 70/30 split by the same seed, standardized features, no early
stopping. Three sides read the same synthetic CSV and save the model:

- plain: what an analyst types, `model.fit` with its defaults;
- engine: `read_csv` + `run_experiment`, the `python -m nncore train` path (which also profiles,
  evaluates two scikit-learn baselines and saves `.keras` and `.h5`);
- ceiling: the same network and optimizer trained by a hand-written loop that runs a whole
  epoch in one `tf.function` call (gather a batch, GradientTape, `optimizer.apply`), then the
  validation loss in graph: the practical ceiling of TensorFlow on this machine.

Each side runs in a fresh process, the sides alternate (the order rotates every repeat) and the
median of the repeats is reported. "Training" times the training loop itself with its per-epoch
validation; "end to end" covers CSV in to model saved; the interpreter and TensorFlow import are
excluded from both.
"""

from __future__ import annotations

import argparse
import math
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

if __package__ in (None, ""):  # run as a script: make `bench` importable
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import machine, median, run_fresh

FEATURES = 12
BATCH = 32
SIDES = ("plain", "engine", "ceiling")


@dataclass(frozen=True)
class Case:
    name: str
    rows: int
    layers: tuple[int, ...]
    epochs: int


CASES = (
    Case("notes' model, 60k rows", 60_000, (50, 32), 10),
    Case("wide model, 60k rows", 60_000, (512, 256), 3),
    Case("notes' model, 1M rows", 1_000_000, (50, 32), 2),
)
QUICK = (
    Case("notes' model, 60k rows", 60_000, (50, 32), 4),
    Case("wide model, 60k rows", 60_000, (512, 256), 1),
    Case("notes' model, 1M rows", 1_000_000, (50, 32), 1),
)


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


def _split(csv: str, seed: int):
    """The rows, split and scaled as the engine does (same seed, same validation rows)."""
    from sklearn.model_selection import train_test_split
    from sklearn.preprocessing import StandardScaler

    frame = pd.read_csv(csv)
    x = frame.drop(columns="y").to_numpy(np.float32)
    y = frame["y"].to_numpy(np.float32)
    train, val = train_test_split(np.arange(len(frame)), test_size=0.3, random_state=seed)
    train, val = np.sort(train), np.sort(val)
    x = StandardScaler().fit(x[train]).transform(x).astype(np.float32)
    return x[train], y[train], x[val], y[val]


def _network(width: int, layers: list[int]):
    import keras

    return keras.Sequential(
        [keras.Input(shape=(width,))]
        + [keras.layers.Dense(units, activation="relu") for units in layers]
        + [keras.layers.Dense(1)]
    )


def plain(csv: str, out: str, epochs: int, seed: int, layers: list[int]) -> dict:
    """The notes' recipe as an analyst types it."""
    import keras

    started = time.perf_counter()
    x, y, x_val, y_val = _split(csv, seed)
    keras.utils.set_random_seed(seed)
    model = _network(x.shape[1], layers)
    model.compile(optimizer="adam", loss="mse")
    fit_started = time.perf_counter()
    history = model.fit(x, y, validation_data=(x_val, y_val), epochs=epochs, verbose=0)
    fit_seconds = time.perf_counter() - fit_started
    model.save(Path(out) / "plain.keras")
    return {
        "seconds": time.perf_counter() - started,
        "fit_seconds": fit_seconds,
        "train_rows": len(x),
        "val_loss": history.history["val_loss"][-1],
    }


def ceiling(csv: str, out: str, epochs: int, seed: int, layers: list[int]) -> dict:
    """A whole epoch per graph call: the least per-step overhead TensorFlow allows."""
    import keras
    import tensorflow as tf

    started = time.perf_counter()
    x, y, x_val, y_val = _split(csv, seed)
    keras.utils.set_random_seed(seed)
    model = _network(x.shape[1], layers)
    optimizer = keras.optimizers.Adam()
    optimizer.build(model.trainable_variables)
    x, y = tf.constant(x), tf.constant(y[:, None])
    x_val, y_val = tf.constant(x_val), tf.constant(y_val[:, None])
    n = int(x.shape[0])
    steps = math.ceil(n / BATCH)

    @tf.function
    def epoch(order):
        for i in tf.range(steps):
            index = order[i * BATCH : tf.minimum((i + 1) * BATCH, n)]
            xb, yb = tf.gather(x, index), tf.gather(y, index)
            with tf.GradientTape() as tape:
                loss = tf.reduce_mean(tf.square(model(xb, training=True) - yb))
            grads = tape.gradient(loss, model.trainable_variables)
            optimizer.apply(grads, model.trainable_variables)
        total = tf.constant(0.0)
        for start in tf.range(0, tf.shape(x_val)[0], 4096):
            error = model(x_val[start : start + 4096], training=False) - y_val[start : start + 4096]
            total += tf.reduce_sum(tf.square(error))
        return total / tf.cast(tf.shape(x_val)[0], tf.float32)

    rng = np.random.default_rng(seed)
    fit_started = time.perf_counter()
    for _ in range(epochs):
        val_loss = float(epoch(tf.constant(rng.permutation(n), tf.int32)))
    fit_seconds = time.perf_counter() - fit_started
    model.save(Path(out) / "ceiling.keras")
    return {
        "seconds": time.perf_counter() - started,
        "fit_seconds": fit_seconds,
        "train_rows": n,
        "val_loss": val_loss,
    }


def engine(csv: str, out: str, epochs: int, seed: int, layers: list[int]) -> dict:
    # Imported before the clock starts, as the other sides import Keras before theirs.
    import nncore.artifacts.export  # noqa: F401
    import nncore.learn.train  # noqa: F401
    from nncore.config import DataSpec, Experiment, LayerSpec, TrainSpec
    from nncore.data.csvio import read_csv
    from nncore.run.pipeline import run_experiment

    experiment = Experiment(
        data=DataSpec(target="y", validation_fraction=0.3, scale_target=False),
        layers=tuple(LayerSpec(units) for units in layers),
        training=TrainSpec(epochs=epochs, early_stopping=False, restore_best_weights=False),
        seed=seed,
    )
    started = time.perf_counter()
    frame = read_csv(Path(csv).read_bytes())
    result = run_experiment(frame, experiment, out)
    return {
        "seconds": time.perf_counter() - started,
        "fit_seconds": result.training.seconds,
        "train_rows": result.training.train_rows,
        "val_loss": result.history[-1]["val_loss"],
    }


def measure(case: Case, repeats: int, seed: int) -> dict[str, list[dict]]:
    results: dict[str, list[dict]] = {side: [] for side in SIDES}
    with tempfile.TemporaryDirectory() as tmp:
        csv = Path(tmp) / "data.csv"
        make_csv(csv, case.rows, seed)
        for repeat in range(repeats):
            order = SIDES[repeat % 3 :] + SIDES[: repeat % 3]
            for side in order:
                with tempfile.TemporaryDirectory() as out:
                    results[side].append(
                        run_fresh(
                            "train_speed",
                            side,
                            csv=str(csv),
                            out=out,
                            epochs=case.epochs,
                            seed=seed,
                            layers=list(case.layers),
                        )
                    )
    return results


def report(case: Case, results: dict[str, list[dict]], repeats: int) -> None:
    samples = results["engine"][0]["train_rows"] * case.epochs
    print(
        f"\n### {case.name}: 12 -> {' -> '.join(map(str, case.layers))} -> 1, {case.rows:,} rows, "
        f"{case.epochs} epochs, batch {BATCH}, median of {repeats}\n"
    )
    print("| side | end to end (s) | training (s) | training samples/s | val loss |")
    print("| --- | --- | --- | --- | --- |")
    for side in SIDES:
        fit = median(results[side], "fit_seconds")
        print(
            f"| {side} | {median(results[side], 'seconds'):.2f} | {fit:.2f} | "
            f"{samples / fit:,.0f} | {median(results[side], 'val_loss'):.4f} |"
        )
    fit = {side: median(results[side], "fit_seconds") for side in SIDES}
    of_ceiling = fit["ceiling"] / fit["engine"]
    end_to_end = median(results["plain"], "seconds") / median(results["engine"], "seconds")
    loss = {side: median(results[side], "val_loss") for side in SIDES}
    # The ceiling walks the engine's seeded batch order; model.fit shuffles its own way.
    print(
        f"\nengine training throughput: {of_ceiling:.0%} of the ceiling (goal >= 60%); "
        f"end to end {end_to_end:.2f}x plain model.fit (goal >= 4x); val loss engine/ceiling "
        f"{loss['engine'] / loss['ceiling']:.4f} (same batch order), engine/plain "
        f"{loss['engine'] / loss['plain']:.3f} (another order)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer epochs and one repeat")
    parser.add_argument("--repeats", type=int, help="runs per side (default 3, quick 1)")
    parser.add_argument("--case", type=int, action="append", help="only case number N (0-2)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    repeats = args.repeats or (1 if args.quick else 3)
    cases = QUICK if args.quick else CASES

    print(f"machine: {machine()}")
    for i, case in enumerate(cases):
        if args.case and i not in args.case:
            continue
        report(case, measure(case, repeats, args.seed), repeats)


if __name__ == "__main__":
    main()
