"""Small data sets made in the tests, with the mix of columns analysts' files have."""

import numpy as np
import pandas as pd

from nncore.config import DataSpec, Experiment, LayerSpec, TrainSpec


def mixed_frame(n: int = 240, task: str = "binary", seed: int = 0) -> pd.DataFrame:
    """Numbers (some missing), a category (some missing), a date, an id, and a target."""
    rng = np.random.default_rng(seed)
    x1 = rng.normal(10, 3, n)
    x2 = rng.uniform(0, 1000, n)
    color = rng.choice(["red", "green", "blue"], n)
    signal = (x1 - 10) / 3 + (x2 - 500) / 300 + np.where(color == "red", 1.5, 0.0)
    frame = pd.DataFrame(
        {
            "id": np.arange(1000, 1000 + n),
            "x1": x1,
            "x2": x2,
            "color": color,
            "when": pd.date_range("2024-01-01", periods=n, freq="D").strftime("%Y-%m-%d"),
        }
    )
    if task == "regression":
        frame["price"] = 200 + 50 * signal + rng.normal(0, 5, n)
    elif task == "binary":
        frame["label"] = np.where(signal > 0.3, "yes", "no")
    else:
        frame["kind"] = np.select([signal < -0.5, signal < 0.8], ["low", "mid"], "high")
    frame.loc[rng.choice(n, n // 20, replace=False), "x1"] = np.nan
    frame.loc[rng.choice(n, n // 20, replace=False), "color"] = np.nan
    return frame


TARGETS = {"regression": "price", "binary": "label", "multiclass": "kind"}


def tiny_experiment(task: str, **data) -> Experiment:
    return Experiment(
        data=DataSpec(target=TARGETS[task], **data),
        layers=(LayerSpec(16), LayerSpec(8)),
        training=TrainSpec(epochs=15, batch_size=16),
        seed=3,
    )
