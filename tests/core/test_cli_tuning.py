"""The command line's tunings: a capacity search and a learning-rate sweep, run to their end
with real trainings; a user's mistake exits 2 with one line."""

import re

import numpy as np
import pandas as pd
import pytest
from clirun import cli


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    rng = np.random.default_rng(0)
    x1, x2 = rng.normal(size=(2, 300))
    path = tmp_path_factory.mktemp("tuning") / "data.csv"
    pd.DataFrame({"x1": x1, "x2": x2, "y": x1 + x2 + rng.normal(0, 1, 300)}).to_csv(
        path, index=False
    )
    return path


@pytest.mark.slow
def test_capacity_prints_each_step_writes_its_run_and_names_the_chosen_layers(data, tmp_path):
    out = tmp_path / "capacity"
    done = cli(
        "capacity",
        *("--data", data, "--target", "y", "--out", out),
        *("--epochs", 4, "--start-units", 4, "--max-steps", 3),
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.strip().splitlines()
    steps = [line for line in lines if line.startswith("step ")]
    assert 2 <= len(steps) <= 3
    assert steps[0].startswith("step 1 (start) 4 relu: val_loss ")
    assert steps[1].startswith("step 2 (wider) 8 relu: val_loss ")
    folders = sorted(p for p in (out / "runs").iterdir())  # --out is a workspace
    assert len(folders) == len(steps)
    assert all((folder / "model.keras").exists() for folder in folders)
    assert all(str(folder) in "\n".join(steps) for folder in folders)
    kept = [line for line in steps if line.endswith(" kept") and "not kept" not in line]
    assert kept and re.fullmatch(r"chosen: .+ \(val_loss [0-9.e+-]+\)", lines[-1])
    assert lines[-1].split(": ")[1].split(" (")[0] == kept[-1].split(") ")[1].split(":")[0]


@pytest.mark.slow
def test_sweep_trains_once_per_rate_and_names_the_best(data, tmp_path):
    out = tmp_path / "sweep"
    done = cli(
        "sweep",
        *("--data", data, "--target", "y", "--out", out),
        *("--rates", "0.0001:0.1:2", "--optimizer", "sgd", "--epochs", 6, "--jobs", 2),
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.strip().splitlines()
    assert [line.split(":")[0] for line in lines[:2]] == ["sgd 0.0001", "sgd 0.1"]
    scores = [float(line.split("val_loss ")[1].split()[0]) for line in lines[:2]]
    assert len(list((out / "runs").iterdir())) == 2  # --out is a workspace
    best = lines[-1]
    assert best.startswith(f"best: sgd {('0.0001', '0.1')[scores.index(min(scores))]} ")


@pytest.mark.parametrize(
    "args, message",
    [
        (("capacity", "--target", "nope"), "target column 'nope' is not in this data"),
        (("capacity", "--target", "y", "--min-improvement", "2"), "minimum improvement"),
        (("capacity", "--target", "y", "--max-steps", "0"), "--max-steps must be at least 1"),
        (("capacity",), "No target column"),
        (("sweep", "--target", "y", "--rates", "1:2"), "--rates takes LOW:HIGH:COUNT"),
        (("sweep", "--target", "y", "--rates", "0.1:0.001:3"), "from low to high"),
    ],
)
def test_mistakes_exit_2_with_one_line(data, tmp_path, args, message):
    command, *rest = args
    done = cli(command, "--data", data, "--out", tmp_path / "out", *rest, timeout=120)
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and message in done.stderr
    assert not (tmp_path / "out").exists()
