"""Saved models take raw rows and predict exactly as in memory, in both formats."""

import json
import subprocess
import sys
import zipfile

import keras
import numpy as np
import pandas as pd
import pytest
from frames import TARGETS, mixed_frame, tiny_experiment

from nncore.artifacts.export import (
    compile_portable,
    feature_inputs,
    portable_model,
    portable_parts,
    save_h5,
    save_keras,
)
from nncore.artifacts.predict import load_schema, model_inputs, predict, raw_outputs
from nncore.config import CompileSpec
from nncore.data.plan import plan_columns
from nncore.data.prepare import prepare
from nncore.data.schema import feature_frame
from nncore.errors import DataError
from nncore.learn.model import build_model, compile_model
from nncore.learn.train import train


@pytest.mark.parametrize(
    ("task", "scaling"),
    [
        ("regression", "standard"),
        ("binary", "minmax"),
        ("multiclass", "robust"),
        ("regression", "none"),
        ("multiclass", "none"),
    ],
)
def test_portable_model_computes_what_sklearn_and_the_network_compute(task, scaling):
    frame = mixed_frame(task=task)
    experiment = tiny_experiment(task, scaling=scaling)
    plan = plan_columns(frame, experiment.data)
    prepared = prepare(frame, plan, experiment.data, seed=0)
    keras.utils.set_random_seed(0)
    network = build_model(prepared.schema.width, experiment.layers, task, len(plan.classes))
    compile_model(network, experiment.compile, task)
    train(
        network,
        prepared.x_train,
        prepared.y_train,
        prepared.x_val,
        prepared.y_val,
        experiment.training.__class__(epochs=2),
        seed=0,
    )
    rows = frame.iloc[prepared.split.validation].copy()
    rows.iloc[0, rows.columns.get_loc("color")] = "purple"  # a category never seen in training
    rows.iloc[1, rows.columns.get_loc("x2")] = np.nan  # a missing number

    schema = prepared.schema
    features = feature_frame(rows, schema)
    features[[i.column for i in schema.numeric]] = features[
        [i.column for i in schema.numeric]
    ].fillna({i.column: i.fill for i in schema.numeric})
    expected = network(prepared.transformer.transform(features).astype(np.float32)).numpy()
    if task == "regression":
        expected = expected * schema.target.scale + schema.target.center

    portable = portable_model(network, schema)
    got = raw_outputs(portable, model_inputs(rows, schema))
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("task", list(TARGETS))
def test_the_portable_model_cut_after_its_preprocessing_computes_the_same(trained_runs, task):
    frame, result = trained_runs[task]
    schema = load_schema(result.out_dir / "schema.json")
    model = keras.saving.load_model(result.out_dir / "model.keras", compile=False)
    rows = frame[frame[result.plan.target].notna()].iloc[result.validation_rows].copy()
    rows.iloc[0, rows.columns.get_loc("color")] = "purple"  # the unknown category's column
    preprocessing, layers = portable_parts(model)
    inputs = model_inputs(rows, schema)
    matrix = raw_outputs(preprocessing, inputs)
    owners = feature_inputs(schema)
    assert matrix.shape == (len(rows), len(owners))
    np.testing.assert_array_equal(layers.predict_on_batch(matrix), raw_outputs(model, inputs))
    # each input's block: one column per number, one-hot categories with the unknown first
    color = [j for j, name in enumerate(owners) if name == "color"]
    assert matrix[:, color].sum(axis=1).tolist() == [1.0] * len(rows)
    assert matrix[0, color[0]] == 1.0
    numeric = [j for j, name in enumerate(owners) if name == "x2"]
    assert len(numeric) == 1


LOAD_AND_PREDICT = """
import sys, numpy as np, keras, pandas as pd
from nncore.artifacts.predict import load_schema, model_inputs, raw_outputs
schema = load_schema(sys.argv[1])
rows = pd.read_csv(sys.argv[2])
for name in ("model.keras", "model.h5"):
    model = keras.saving.load_model(sys.argv[3] + "/" + name, compile=False, safe_mode=True)
    np.save(sys.argv[4] + "/" + name + ".npy", raw_outputs(model, model_inputs(rows, schema)))
"""


@pytest.mark.parametrize("task", list(TARGETS))
def test_saved_files_predict_raw_rows_as_in_memory(trained_runs, task, tmp_path):
    frame, result = trained_runs[task]
    rows = frame[frame[result.plan.target].notna()].iloc[result.validation_rows]
    rows.to_csv(tmp_path / "rows.csv", index=False)
    subprocess.run(
        [
            sys.executable,
            "-c",
            LOAD_AND_PREDICT,
            str(result.out_dir / "schema.json"),
            str(tmp_path / "rows.csv"),
            str(result.out_dir),
            str(tmp_path),
        ],
        check=True,
        capture_output=True,
        timeout=300,
    )
    for name in ("model.keras", "model.h5"):
        got = np.load(tmp_path / f"{name}.npy")
        np.testing.assert_allclose(got, result.output_val, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("order", [("h5", "keras"), ("keras", "h5")])
def test_both_save_orders_keep_the_optimizer_and_predictions(trained_runs, order, tmp_path):
    frame, result = trained_runs["multiclass"]
    schema = load_schema(result.out_dir / "schema.json")
    model = keras.saving.load_model(result.out_dir / "model.keras", compile=False)
    spec = CompileSpec(optimizer="sgd", learning_rate=0.05, momentum=0.9, nesterov=True)
    compile_portable(model, spec, "sparse_categorical_crossentropy")
    for ext in order:
        (save_h5 if ext == "h5" else save_keras)(model, tmp_path / f"m.{ext}")
    config = json.loads(zipfile.ZipFile(tmp_path / "m.keras").read("config.json"))
    assert config["compile_config"]["optimizer"]["class_name"] == "SGD"
    rows = frame.head(20)
    expected = raw_outputs(model, model_inputs(rows, schema))
    for ext in ("keras", "h5"):
        loaded = keras.saving.load_model(tmp_path / f"m.{ext}")  # compiled, as users may
        assert isinstance(loaded.optimizer, keras.optimizers.SGD)
        assert loaded.optimizer.get_config()["nesterov"] is True
        np.testing.assert_allclose(
            raw_outputs(loaded, model_inputs(rows, schema)), expected, rtol=1e-6
        )


def test_artifacts_hold_no_pickle(trained_runs):
    _, result = trained_runs["binary"]
    members = zipfile.ZipFile(result.out_dir / "model.keras").namelist()
    assert set(members) == {"metadata.json", "config.json", "model.weights.h5"} | {
        m for m in members if m.startswith("assets/")
    }
    for path in result.out_dir.iterdir():
        assert not path.read_bytes().startswith(b"\x80")  # pickle protocol 2+ header


def test_prediction_names_missing_columns_and_ignores_extra_ones(trained_runs):
    frame, result = trained_runs["binary"]
    schema = load_schema(result.out_dir / "schema.json")
    with pytest.raises(DataError, match=r"lacks 2 columns.*'x1'.*'color'"):
        model_inputs(frame.drop(columns=["x1", "color"]), schema)
    model = keras.saving.load_model(result.out_dir / "model.keras", compile=False)
    plain = predict(model, frame.head(30), schema)
    extra = predict(model, frame.head(30).assign(unrelated=1, another="x"), schema)
    pd.testing.assert_frame_equal(plain, extra)


def test_prediction_table_for_classes_and_numbers(trained_runs):
    frame, result = trained_runs["multiclass"]
    schema = load_schema(result.out_dir / "schema.json")
    model = keras.saving.load_model(result.out_dir / "model.h5", compile=False)
    rows = frame.head(25).copy()
    rows["color"] = ["violet"] * 25  # unseen everywhere: tolerated
    rows["when"] = "not a date"  # unreadable dates become missing parts
    table = predict(model, rows, schema)
    assert list(table.columns) == ["predicted kind"] + [
        f"probability {c}" for c in schema.target.classes
    ]
    assert len(table) == 25 and table.index.equals(rows.index)
    np.testing.assert_allclose(table.filter(like="probability").sum(axis=1), 1.0, rtol=1e-5)
    assert set(table["predicted kind"]) <= set(schema.target.classes)

    frame, result = trained_runs["regression"]
    schema = load_schema(result.out_dir / "schema.json")
    model = keras.saving.load_model(result.out_dir / "model.keras", compile=False)
    table = predict(model, frame.head(10), schema)
    assert list(table.columns) == ["predicted price"]
    # The model answers in the target's units, not in standardized ones.
    assert 50 < table["predicted price"].mean() < 400


def test_a_value_too_large_for_the_model_is_named(trained_runs):
    frame, result = trained_runs["regression"]
    schema = load_schema(result.out_dir / "schema.json")
    rows = frame.head(3).copy()
    rows["x1"] = [1.0, 1e200, 2.0]
    with pytest.raises(DataError, match=r"Column 'x1' holds a value too large.*row 2"):
        model_inputs(rows, schema)


def test_a_reused_model_is_the_same_file_loaded_once(trained_runs, tmp_path):
    from nncore.artifacts.predict import load_model
    from nncore.errors import ModelFileError

    _, binary = trained_runs["binary"]
    _, regression = trained_runs["regression"]
    path = tmp_path / "model.keras"
    path.write_bytes((binary.out_dir / "model.keras").read_bytes())
    first = load_model(path, reuse=True)
    assert load_model(path, reuse=True) is first
    assert load_model(path) is not first  # without reuse, always a fresh load

    # The same path with other bytes is another model, loaded and checked afresh.
    path.write_bytes((regression.out_dir / "model.keras").read_bytes())
    other = load_model(path, reuse=True)
    assert other is not first
    schema = load_schema(regression.out_dir / "schema.json")
    rows = trained_runs["regression"][0].head(5)
    np.testing.assert_allclose(
        predict(other, rows, schema).to_numpy(dtype=float),
        predict(load_model(path), rows, schema).to_numpy(dtype=float),
    )
    path.write_bytes(b"PK\x03\x04 not a model")
    with pytest.raises(ModelFileError):
        load_model(path, reuse=True)
