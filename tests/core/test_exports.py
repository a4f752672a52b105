"""SavedModel, TFLite and ONNX exports predict what the .keras model predicts, checked in a
fresh process, for each task; the bundle ships them with the step their caller must do first."""

import io
import json
import subprocess
import sys
import zipfile

import numpy as np
import pytest
from clirun import cli
from frames import TARGETS, mixed_frame, tiny_experiment

from nncore.artifacts import formats
from nncore.artifacts.bundle import EXPORTS, bundle
from nncore.artifacts.predict import load_schema
from nncore.artifacts.runfiles import RunFiles
from nncore.config import TrainSpec


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """One tiny trained run per task, with its table."""
    from nncore.run.pipeline import run_experiment

    found = {}
    for task in TARGETS:
        frame = mixed_frame(task=task)
        experiment = tiny_experiment(task).replace(training=TrainSpec(epochs=2, batch_size=16))
        found[task] = (frame, run_experiment(frame, experiment, tmp_path_factory.mktemp(task)))
    return found


@pytest.mark.parametrize("name", list(formats.FORMATS))
@pytest.mark.parametrize("task", list(TARGETS))
def test_each_export_predicts_the_validation_rows_as_the_keras_model(runs, task, name, tmp_path):
    frame, result = runs[task]
    out = tmp_path / formats.FORMATS[name].file_name
    check = formats.export_checked(result.out_dir, name, out, frame)
    assert check["passed"], check
    assert check["rows"] == len(result.validation_rows)
    assert check["max_scaled_difference"] <= formats.TOLERANCE
    assert json.loads(formats.check_file(out).read_text()) == check
    assert "model_inputs" in check["takes"]


def test_a_check_fails_when_the_export_predicts_otherwise(runs, tmp_path):
    """The check can fail: another run's export, same inputs and outputs, other weights."""
    from nncore.run.pipeline import run_experiment

    frame, result = runs["binary"]
    other_experiment = tiny_experiment("binary").replace(
        seed=11, training=TrainSpec(epochs=1, batch_size=16)
    )
    other = run_experiment(frame, other_experiment, tmp_path / "other")
    out = formats.export(other.out_dir, "tflite", tmp_path / "other.tflite")
    schema = load_schema(RunFiles(result.out_dir).schema)
    check = formats.verify(result.out_dir, "tflite", out, formats.check_inputs(schema))
    assert not check["passed"]
    assert check["max_scaled_difference"] > formats.TOLERANCE


def test_the_cli_exports_prints_the_check_and_refuses_another_table(runs, tmp_path):
    frame, result = runs["multiclass"]
    out = tmp_path / "model.tflite"
    done = cli("export", "--run", result.out_dir, "--format", "tflite", "--out", out)
    assert done.returncode == 0, done.stderr
    assert "tflite check passed: on 256 rows" in done.stdout
    assert formats.check_file(out).exists()

    small = tmp_path / "small.csv"
    frame.head(5).to_csv(small, index=False)
    done = cli("export", "--run", result.out_dir, "--format", "onnx", "--data", small)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "error: This table is not the run's: its validation rows are not in it. Pass the table "
        "the run trained on, or leave --data out to check on drawn rows."
    ]


USE_THE_BUNDLE = """
import json, sys
import numpy as np, onnxruntime, pandas as pd, tensorflow as tf
sys.path.insert(0, "exports")
import prepare
rows = pd.read_csv("rows.csv")
session = onnxruntime.InferenceSession("exports/model.onnx", providers=["CPUExecutionProvider"])
onnx = session.run(None, prepare.onnx(rows))[0]
lite = tf.lite.Interpreter(model_path="exports/model.tflite").get_signature_runner()
tflite = next(iter(lite(**prepare.inputs(rows)).values()))
print(json.dumps({"onnx": onnx.tolist(), "tflite": tflite.tolist()}))
"""


def test_the_bundle_ships_the_exports_and_the_step_before_them(runs, tmp_path):
    frame, result = runs["binary"]
    for name in ("onnx", "tflite"):
        out = result.out_dir / EXPORTS / formats.FORMATS[name].file_name
        assert formats.export_checked(result.out_dir, name, out)["passed"]
    folder = tmp_path / "bundle"
    zipfile.ZipFile(io.BytesIO(bundle(result.files))).extractall(folder)
    assert (folder / EXPORTS / "model.onnx.check.json").exists()
    rows = frame.iloc[result.validation_rows].drop(columns=["label"])
    rows.iloc[0, rows.columns.get_loc("color")] = "purple"  # never seen in training
    rows.iloc[1, rows.columns.get_loc("x1")] = np.nan
    rows.to_csv(folder / "rows.csv", index=False)
    # Only the bundle's files: another folder, and nothing of this checkout on the path.
    done = subprocess.run(
        [sys.executable, "-c", USE_THE_BUNDLE],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=300,
        env={"PATH": "/usr/bin:/bin", "TF_CPP_MIN_LOG_LEVEL": "2"},
    )
    assert done.returncode == 0, done.stderr[-2000:]
    got = json.loads(done.stdout.strip().splitlines()[-1])
    from nncore.artifacts.predict import load_model, model_inputs, raw_outputs

    schema = load_schema(result.files.schema)
    want = raw_outputs(load_model(result.files.keras, schema), model_inputs(rows, schema))
    for name in ("onnx", "tflite"):
        np.testing.assert_allclose(got[name], want, rtol=1e-5, atol=1e-5)
