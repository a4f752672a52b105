"""The command line: train and predict, exit 2 with one line for user mistakes."""

import json
import zipfile

import pandas as pd
import pytest
from clirun import cli
from frames import mixed_frame

from nncore.config import DataSpec, Experiment, LayerSpec, TrainSpec


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("cli")
    data = root / "data.csv"
    mixed_frame(task="binary").to_csv(data, index=False)
    done = cli(
        "train",
        "--data",
        data,
        "--target",
        "label",
        "--out",
        root / "run",
        "--layers",
        "12:relu,6:tanh",
        "--epochs",
        "4",
        "--seed",
        "1",
        "--quiet",
    )
    assert done.returncode == 0, done.stderr
    return root, data, done


def test_train_writes_every_artifact(trained):
    root, _, done = trained
    assert {p.name for p in (root / "run").iterdir()} == {
        "model.keras",
        "model.h5",
        "metrics.json",
        "schema.json",
        "experiment.json",
        "history.csv",
        "checkpoint.npz",
        "training_state.npz",
        "validation.npz",
        "result.json",
    }
    experiment = json.loads((root / "run" / "experiment.json").read_text())
    assert [layer["units"] for layer in experiment["layers"]] == [12, 6]
    assert experiment["seed"] == 1
    assert "validation:" in done.stdout
    schema = json.loads((root / "run" / "schema.json").read_text())
    roles = {c["name"]: c["role"] for c in schema["columns"]}
    assert roles == {"x1": "numeric", "x2": "numeric", "color": "categorical", "when": "datetime"}


def test_config_file_reruns_the_same_experiment(trained, tmp_path):
    root, data, _ = trained
    done = cli(
        "train",
        "--data",
        data,
        "--config",
        root / "run" / "experiment.json",
        "--out",
        tmp_path,
        "--quiet",
    )
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "history.csv").read_text() == (root / "run" / "history.csv").read_text()


@pytest.mark.parametrize("model", ["model.keras", "model.h5"])
def test_predict_writes_one_row_per_input_row(trained, model, tmp_path):
    root, data, _ = trained
    out = tmp_path / "preds.csv"
    done = cli("predict", "--model", root / "run" / model, "--data", data, "--out", out)
    assert done.returncode == 0, done.stderr
    table = pd.read_csv(out)
    assert len(table) == len(pd.read_csv(data))
    assert list(table.columns) == [
        "predicted label",
        "probability no",
        "probability yes",
        "checks",
    ]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--target", "nope"], "nope"),
        (["--target", "label", "--loss", "mse"], "does not fit a binary task"),
        (["--target", "label", "--layers", "ten:relu"], "should look like 50:relu"),
        (["--target", "label", "--layers", "10:relux"], "is not one of"),
        (["--target", "label", "--learning-rate", "-1"], "learning_rate"),
    ],
)
def test_user_mistakes_exit_2_with_one_line(trained, args, message, tmp_path):
    _, data, _ = trained
    done = cli("train", "--data", data, "--out", tmp_path, "--epochs", "1", *args)
    assert done.returncode == 2
    assert message in done.stderr
    assert "Traceback" not in done.stderr
    assert len([line for line in done.stderr.splitlines() if line.startswith("error:")]) == 1


def test_unreadable_data_and_missing_columns_exit_2(trained, tmp_path):
    root, data, _ = trained
    bad = tmp_path / "bad.csv"
    with zipfile.ZipFile(bad, "w") as workbook:  # what an .xlsx renamed .csv holds
        workbook.writestr("[Content_Types].xml", "<Types/>")
        workbook.writestr("xl/workbook.xml", "<workbook/>")
    done = cli("train", "--data", bad, "--target", "y", "--out", tmp_path / "o")
    assert done.returncode == 2 and "Excel" in done.stderr and "Traceback" not in done.stderr
    partial = tmp_path / "partial.csv"
    pd.read_csv(data).drop(columns=["x2"]).to_csv(partial, index=False)
    done = cli(
        "predict",
        "--model",
        root / "run" / "model.keras",
        "--data",
        partial,
        "--out",
        tmp_path / "p.csv",
    )
    assert done.returncode == 2 and "'x2'" in done.stderr and "Traceback" not in done.stderr
    done = cli(
        "predict", "--model", tmp_path / "none.keras", "--data", data, "--out", tmp_path / "p.csv"
    )
    assert done.returncode == 2 and "Traceback" not in done.stderr


def test_an_experiment_file_from_the_studio_trains_as_it_says(trained, tmp_path):
    _, data, _ = trained
    experiment = Experiment(
        data=DataSpec(target="label", scaling="minmax", roles=(("x2", "ignore"),)),
        layers=(LayerSpec(7, "tanh", dropout=0.1),),
        training=TrainSpec(epochs=3, batch_size=64),
        seed=8,
    )
    config = tmp_path / "experiment.json"
    config.write_text(experiment.to_json())  # what the studio's Save experiment downloads
    done = cli("train", "--config", config, "--data", data, "--out", tmp_path / "run", "--quiet")
    assert done.returncode == 0, done.stderr
    written = (tmp_path / "run" / "experiment.json").read_text()
    assert Experiment.from_json(written) == experiment
    schema = json.loads((tmp_path / "run" / "schema.json").read_text())
    assert "x2" not in {c["name"] for c in schema["columns"]}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda raw: raw.update(colour="red"), "unknown field 'colour'"),
        (lambda raw: raw["compile"].update(optimizer="adamax"), "experiment.compile.optimizer"),
        (lambda raw: raw.update(schema_version=2), "newer studio"),
        (lambda raw: raw.pop("schema_version"), "schema_version is missing"),
        (lambda raw: raw["data"].update(target="cost"), "'cost' is not in this data"),
        (lambda raw: raw["data"].update(roles=[["size", "ignore"]]), "'size', which this data"),
    ],
)
def test_a_wrong_experiment_file_exits_2_naming_the_field(trained, change, message, tmp_path):
    _, data, _ = trained
    raw = json.loads(Experiment(data=DataSpec(target="label")).to_json())
    change(raw)
    config = tmp_path / "experiment.json"
    config.write_text(json.dumps(raw))
    done = cli("train", "--config", config, "--data", data, "--out", tmp_path / "run")
    assert done.returncode == 2
    assert message in done.stderr and "Traceback" not in done.stderr
    assert not (tmp_path / "run").exists()


def test_code_writes_the_runs_script(trained, tmp_path):
    root, _, _ = trained
    done = cli("code", "--run", root / "run", "--data", "shop.csv", "--out", tmp_path / "t.py")
    assert done.returncode == 0, done.stderr
    script = (tmp_path / "t.py").read_text()
    compile(script, "t.py", "exec")
    assert 'TARGET = "label"' in script and '"shop.csv"' in script and "nncore" not in script
    printed = cli("code", "--run", root / "run", "--data", "shop.csv")
    assert printed.stdout == script
    missing = cli("code", "--run", tmp_path / "nothing")
    assert missing.returncode == 2 and "No experiment.json" in missing.stderr
    assert "Traceback" not in missing.stderr


def test_train_continue_trains_a_run_more_as_a_new_run(trained, tmp_path):
    root, data, _ = trained
    out = tmp_path / "more"
    done = cli("train", "--continue", root / "run", "--epochs", 2, "--data", data, "--out", out)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("epoch 5: loss ")  # numbered on from the parent's 4
    assert "epoch 6: " in done.stdout
    assert f"continued {root / 'run'} from epoch 5" in done.stdout
    metrics = json.loads((out / "metrics.json").read_text())["training"]
    assert (metrics["first_epoch"], metrics["epochs_run"], metrics["parent"]) == (5, 2, "run")
    history = pd.read_csv(out / "history.csv")
    assert list(history["epoch"]) == [4, 5]


def test_train_continue_says_what_is_missing(trained, tmp_path):
    root, data, _ = trained
    done = cli("train", "--continue", root / "run", "--data", data, "--out", tmp_path / "x")
    assert (done.returncode, done.stderr.strip()) == (
        2,
        "error: --continue needs --epochs N: how many epochs more to train.",
    )
    done = cli("train", "--continue", tmp_path, "--epochs", 2, "--data", data, "--out", tmp_path)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines()[-1].startswith("error: No experiment.json in ")
