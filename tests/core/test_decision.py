"""One decision, everywhere: a binary run's decision threshold is kept in its schema.json, and
the engine, the command line and the files downloaded afterwards all use it."""

import io
import json
import zipfile

import numpy as np
import pandas as pd
import pytest
from clirun import cli
from frames import mixed_frame, tiny_experiment

from nncore.artifacts.bundle import bundle
from nncore.artifacts.predict import load_model, load_schema, predict, set_threshold
from nncore.artifacts.runfiles import RunFiles
from nncore.artifacts.source import ModelSource, import_model_file
from nncore.data.schema import DEFAULT_THRESHOLD, Schema
from nncore.errors import DataError


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A trained binary run in a folder of its own (the tests change its threshold), with the
    table it was trained on as a CSV file and the probabilities its model gives each row."""
    from nncore.run.pipeline import run_experiment

    root = tmp_path_factory.mktemp("decision")
    frame = mixed_frame(task="binary")
    data = root / "data.csv"
    frame.to_csv(data, index=False)
    result = run_experiment(frame, tiny_experiment("binary"), root / "run")
    files = result.files
    table = predict(load_model(files.keras), frame, load_schema(files.schema))
    return files, frame, data, table["probability yes"].to_numpy()


def lower_threshold(p_yes: np.ndarray) -> float:
    """A threshold under 0.5 that changes the label of at least one row."""
    between = np.sort(p_yes[(p_yes > 0.05) & (p_yes < 0.5)])
    assert len(between) >= 2, "the model gives no row a probability between 0.05 and 0.5"
    return float(round(between[len(between) // 2], 3))


def test_a_new_run_decides_at_one_half(run):
    files, frame, _, p_yes = run
    schema = load_schema(files.schema)
    assert schema.threshold == DEFAULT_THRESHOLD == 0.5
    assert json.loads(files.schema.read_text())["threshold"] == 0.5
    table = predict(load_model(files.keras), frame, schema)
    assert table.attrs["threshold"] == 0.5
    assert list(table["predicted label"]) == list(np.where(p_yes >= 0.5, "yes", "no"))


def test_a_threshold_set_on_a_run_labels_the_same_rows_in_the_engine_and_the_cli(run, tmp_path):
    files, frame, data, p_yes = run
    threshold = lower_threshold(p_yes)
    set_threshold(files.folder, threshold)
    try:
        expected = np.where(p_yes >= threshold, "yes", "no")
        assert (expected != np.where(p_yes >= 0.5, "yes", "no")).any()

        schema = load_schema(files.schema)
        assert schema.threshold == threshold
        engine = predict(load_model(files.keras), frame, schema)
        assert engine.attrs["threshold"] == threshold
        assert list(engine["predicted label"]) == list(expected)

        out = tmp_path / "predictions.csv"
        done = cli("predict", "--model", files.h5, "--data", data, "--out", out)
        assert done.returncode == 0, done.stderr
        assert f"yes from a probability of {threshold:g} on" in done.stdout
        assert list(pd.read_csv(out)["predicted label"]) == list(expected)

        # --threshold overrides the saved one for this prediction only.
        done = cli(
            "predict", "--model", files.keras, "--data", data, "--out", out, "--threshold", "0.5"
        )
        assert done.returncode == 0, done.stderr
        assert "yes from a probability of 0.5 on" in done.stdout
        at_half = list(pd.read_csv(out)["predicted label"])
        assert at_half == list(np.where(p_yes >= 0.5, "yes", "no"))
        assert load_schema(files.schema).threshold == threshold
    finally:
        set_threshold(files.folder, DEFAULT_THRESHOLD)


def test_files_downloaded_after_setting_the_threshold_carry_it(run, tmp_path):
    """The model files carry no schema: a run's model travels with its schema.json, alone or in
    the bundle, and both say the threshold; a model imported with them predicts with it."""
    files, frame, _, p_yes = run
    threshold = lower_threshold(p_yes)
    set_threshold(files.folder, threshold)
    try:
        with zipfile.ZipFile(io.BytesIO(bundle(files))) as archive:
            schema_bytes = archive.read("schema.json")
            model_bytes = archive.read("model.keras")
        assert json.loads(schema_bytes)["threshold"] == threshold
        assert ModelSource.of_run("r", "run 1", files.folder).schema.threshold == threshold

        source = import_model_file(
            model_bytes, "model.keras", schema_bytes, "schema.json", tmp_path
        )
        assert source.schema.threshold == threshold
        assert load_schema(RunFiles(tmp_path / source.id).schema).threshold == threshold
        table = predict(load_model(source.model), frame, source.schema)
        assert list(table["predicted label"]) == list(np.where(p_yes >= threshold, "yes", "no"))
    finally:
        set_threshold(files.folder, DEFAULT_THRESHOLD)


def test_a_run_with_a_threshold_can_still_be_trained_more(run, tmp_path):
    from nncore.run.pipeline import continue_run

    files, frame, _, _ = run
    set_threshold(files.folder, 0.3)
    try:
        more = continue_run(files.folder, frame, 2, tmp_path / "more")
    finally:
        set_threshold(files.folder, DEFAULT_THRESHOLD)
    assert len(more.history) == 2
    # A new model's probabilities are its own: its threshold starts at the default again.
    assert load_schema(more.files.schema).threshold == DEFAULT_THRESHOLD


def test_a_schema_written_before_thresholds_reads_as_one_half(run, tmp_path):
    files, *_ = run
    old = json.loads(files.schema.read_text())
    del old["threshold"]
    assert Schema.from_dict(old).threshold == 0.5
    path = tmp_path / "schema.json"
    path.write_text(json.dumps(old))
    assert load_schema(path).threshold == 0.5


@pytest.mark.parametrize(
    "bad", [0, 1, 0.0, 1.0, -0.2, 1.5, float("nan"), float("inf"), True, "0.3"]
)
def test_bad_thresholds_are_refused_in_one_line_and_change_nothing(run, bad, tmp_path):
    files, *_ = run
    before = files.schema.read_bytes()
    with pytest.raises(DataError) as refused:
        set_threshold(files.folder, bad)
    message = str(refused.value)
    assert "\n" not in message
    assert "between 0 and 1" in message
    assert files.schema.read_bytes() == before

    written = {**json.loads(before), "threshold": bad}
    with pytest.raises(DataError, match="between 0 and 1"):
        Schema.from_dict(written)


def test_the_cli_refuses_a_bad_threshold_in_one_line(run, tmp_path):
    files, _, data, _ = run
    out = tmp_path / "p.csv"
    done = cli(
        "predict", "--model", files.keras, "--data", data, "--out", out, "--threshold", "1.5"
    )
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1
    assert "between 0 and 1" in done.stderr
    assert not out.exists()


def test_only_a_binary_model_takes_a_threshold(run, tmp_path):
    files, *_ = run
    schema = json.loads(files.schema.read_text())
    schema["target"] = {**schema["target"], "task": "regression", "classes": []}
    (tmp_path / "schema.json").write_text(json.dumps(schema))
    with pytest.raises(DataError, match="Only a binary model has a decision threshold"):
        set_threshold(tmp_path, 0.3)


def test_the_generated_script_labels_at_the_runs_threshold(run):
    from nncore.artifacts.codegen import render
    from nncore.config import Experiment

    files, *_ = run
    experiment = Experiment.from_json(files.experiment.read_bytes())
    schema = load_schema(files.schema)
    assert "(outputs[:, 0] >= 0.5)" in render(experiment, schema)
    chosen = Schema.from_dict({**schema.to_dict(), "threshold": np.float64(0.25)})
    assert "(outputs[:, 0] >= 0.25)" in render(experiment, chosen)
