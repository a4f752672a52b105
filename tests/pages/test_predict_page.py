"""The Predict page: downloads, predictions for a CSV file and for one row typed in."""

import io
import json
import math
import subprocess
import sys
import textwrap
import time
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from streamlit.runtime.media_file_manager import MediaFileManager
from streamlit.testing.v1 import AppTest

from nncore.config import DataSpec, Experiment, LayerSpec, TrainSpec
from nncore.data.ingest import read_table
from nncore.data.samples import load_sample
from nncore.data.schema import Schema
from nncore.errors import DataError
from nncore.run.session import Run, Workbench
from tests.limits import OVER, SETTINGS, STARTS
from tests.pages.workspaces import (
    APP,
    WAIT_SECONDS,
    new_bench,
    open_run,
    session,
    start,
    wait,
)
from ui import TOKEN_PARAM, Keys, md


def houses(n: int = 120) -> pd.DataFrame:
    """Numbers (a whole-number one), a category with gaps, a date, and a yes/no target."""
    rng = np.random.default_rng(0)
    size = rng.normal(100, 20, n).round(1)
    rooms = rng.integers(1, 6, n)
    # Red the most common, so the form's default is not merely the first in alphabetical order.
    colour = rng.choice(["red", "green", "blue"], n, p=[0.6, 0.25, 0.15]).astype(object)
    colour[::17] = None
    frame = pd.DataFrame(
        {
            "size": size,
            "rooms": rooms,
            "colour": colour,
            "listed": pd.date_range("2024-01-01", periods=n, freq="D").strftime("%Y-%m-%d"),
        }
    )
    frame["sold"] = np.where(size + 10 * (colour == "red") > 105, "yes", "no")
    return frame


def train(bench: Workbench, frame: pd.DataFrame, target: str) -> Run:
    """A finished run of a small network on `frame`, in `bench`'s workspace."""
    experiment = Experiment(
        data=DataSpec(target=target), layers=(LayerSpec(8),), training=TrainSpec(epochs=3)
    )
    run = start(bench, frame, experiment, f"{target}.csv")
    wait(run)
    assert run.status == "finished", run.error()
    return run


@pytest.fixture(scope="module")
def bench() -> Workbench:
    return new_bench()


@pytest.fixture(scope="module")
def runs(bench) -> dict[str, Run]:
    """A binary run on houses and a regression on diabetes, in one workspace."""
    diabetes = load_sample("diabetes").sample(120, random_state=0)
    return {
        "binary": train(bench, houses(), "sold"),
        "regression": train(bench, diabetes, "progression"),
    }


def open_page(bench: Workbench | None = None, run: Run | None = None) -> AppTest:
    """The Predict page of `bench`'s workspace showing `run`; else of a new workspace."""
    if bench is None:
        return session(page="pages/predict.py")
    return open_run(bench, run, "pages/predict.py")


def csv(frame: pd.DataFrame) -> bytes:
    return frame.to_csv(index=False).encode()


def upload(at: AppTest, name: str, data: bytes) -> AppTest:
    at.file_uploader(key="predict_upload").set_value((name, data, "text/csv")).run()
    assert not at.exception
    return at


def errors(at: AppTest) -> str:
    return "\n".join(e.value for e in at.error)


def test_without_a_trained_model_the_page_links_to_training_or_takes_a_file():
    at = open_page()
    assert "Train a model first, or load a model file" in at.info[0].value
    assert at.page_link[0].proto.page == "train"
    assert not at.download_button
    assert [u.key for u in at.file_uploader] == ["model_file", "schema_file"]


def upload_model(at: AppTest, model: Path, schema: Path) -> AppTest:
    at.file_uploader(key="model_file").set_value((model.name, model.read_bytes(), "")).run()
    at.file_uploader(key="schema_file").set_value((schema.name, schema.read_bytes(), "")).run()
    assert not at.exception
    return at


@pytest.mark.parametrize("file", ["model.keras", "model.h5"])
def test_a_model_file_saved_by_the_studio_predicts_a_csv(runs, file):
    run = runs["binary"]
    at = open_page()  # a new session: no runs of its own
    upload_model(at, run.out_dir / file, run.out_dir / "schema.json")
    assert not at.error
    rows = houses().drop(columns="sold").head(7)
    upload(at, "new.csv", csv(rows))
    assert not at.error
    table = at.dataframe[0].value
    assert len(table) == 7 and "predicted sold" in table.columns


def test_a_hostile_or_mismatched_model_file_is_refused_with_a_message(runs, tmp_path):
    run = runs["binary"]
    garbage = tmp_path / "model.keras"
    garbage.write_bytes(b"import os; os.system('touch /tmp/pwned')" * 10)
    at = open_page()
    upload_model(at, garbage, run.out_dir / "schema.json")
    assert "not a Keras model file" in errors(at)
    assert not at.dataframe and "predict_upload" not in [u.key for u in at.file_uploader]
    other = runs["regression"]
    upload_model(at, run.out_dir / "model.keras", other.out_dir / "schema.json")
    assert "do not belong together" in errors(at)


def test_downloads_hold_the_run_files_and_a_bundle_of_all(bench, runs, monkeypatch):
    saved: dict[str, bytes] = {}
    add = MediaFileManager.add

    def remember(self, data, mimetype, coordinates, file_name=None, **kwargs):
        url = add(self, data, mimetype, coordinates, file_name, **kwargs)
        saved[url] = data
        return url

    monkeypatch.setattr(MediaFileManager, "add", remember)
    run = runs["binary"]
    at = open_page(bench, run)
    files = {
        "download_keras": "model.keras",
        "download_h5": "model.h5",
        "download_schema": "schema.json",
        "download_experiment": "experiment.json",
    }
    for key, name in files.items():
        assert saved[at.download_button(key=key).proto.url] == (run.out_dir / name).read_bytes()
    bundle = saved[at.download_button(key="download_bundle").proto.url]
    archive = zipfile.ZipFile(io.BytesIO(bundle))
    names = archive.namelist()
    assert sorted(n for n in names if "/" not in n) == sorted(
        [*files.values(), "metrics.json", "history.csv", "report.html"]
    )
    assert archive.read("metrics.json") == (run.out_dir / "metrics.json").read_bytes()
    # the prediction service, with the engine modules it imports
    assert {"serve/app.py", "serve/Dockerfile", "serve/requirements.txt"} <= set(names)
    assert "serve/nncore/artifacts/predict.py" in names


def test_an_export_is_made_in_a_worker_checked_and_offered(bench, runs):
    run = runs["regression"]
    at = open_page(bench, run)
    assert "download_tflite" not in [b.key for b in at.download_button]
    at.button(key="export_tflite").click().run()
    assert not at.exception and not at.error
    deadline = time.monotonic() + WAIT_SECONDS
    while "download_tflite" not in [b.key for b in at.download_button]:
        assert time.monotonic() < deadline, "no tflite export in time"
        time.sleep(0.5)
        at.run()
        assert not at.exception and not at.error, errors(at)
    assert at.download_button(key="download_tflite").proto.label == "model.tflite"
    rows = len(run.result().validation_rows)  # the run's own validation rows, from its table
    assert any(c.value.startswith(f"tflite check passed: on {rows} rows") for c in at.caption)
    assert (run.out_dir / "exports" / "model.tflite.check.json").exists()


def test_a_csv_gets_one_prediction_per_row_beside_its_rows(bench, runs):
    at = open_page(bench, runs["binary"])
    rows = houses().drop(columns="sold").head(10)
    upload(at, "new.csv", csv(rows))
    assert not at.error
    table = at.dataframe[0].value
    assert len(table) == 10
    assert list(table.columns) == [
        "predicted sold",
        "probability no",
        "probability yes",
        "checks",
        *rows.columns,
    ]
    assert set(table["predicted sold"]) <= {"no", "yes"}
    assert np.allclose(table["probability no"] + table["probability yes"], 1, atol=1e-5)
    assert at.download_button(key="download_predictions")
    assert "10 rows of new.csv, predicted by run 1." in [c.value for c in at.caption]


@pytest.mark.parametrize("kind", list(OVER))
def test_a_csv_over_a_limit_gets_the_one_refusal_of_every_door(bench, runs, monkeypatch, kind):
    for setting, value in SETTINGS.items():
        monkeypatch.setenv(setting, value)
    with pytest.raises(DataError) as refused:
        read_table(OVER[kind], "big.csv")
    assert str(refused.value).startswith(STARTS[kind])
    at = upload(open_page(bench, runs["binary"]), "big.csv", OVER[kind])
    assert errors(at) == md(str(refused.value))
    assert not at.dataframe


def test_a_refused_csv_clears_the_last_predictions(bench, runs):
    at = open_page(bench, runs["binary"])
    good = houses().drop(columns="sold").head(7)
    upload(at, "good.csv", csv(good))
    assert len(at.dataframe[0].value) == 7
    upload(at, "bad.csv", csv(good.drop(columns="colour")))
    assert "'colour'" in errors(at)
    assert not at.dataframe
    assert "download_predictions" not in [b.key for b in at.download_button]
    upload(at, "good.csv", csv(good))
    assert not at.error and len(at.dataframe[0].value) == 7
    upload(at, "empty.csv", b"")
    assert "empty" in errors(at).lower()
    assert not at.dataframe


def test_a_column_named_with_another_case_gets_a_did_you_mean(bench, runs):
    at = open_page(bench, runs["binary"])
    upload(at, "cased.csv", csv(houses().drop(columns="sold").rename(columns={"size": "Size"})))
    assert "Did you mean 'size' (the data has 'Size')?" in errors(at)


def test_switching_the_run_clears_the_predictions_of_the_other(bench, runs):
    at = open_page(bench, runs["binary"])
    upload(at, "new.csv", csv(houses().drop(columns="sold").head(5)))
    at.form_submit_button[0].click().run()
    assert len(at.dataframe[0].value) == 5 and at.metric
    at.selectbox(key="predict_run").select(runs["regression"].id).run()
    assert not at.exception and not at.error
    assert not at.dataframe and not at.metric
    at.selectbox(key="predict_run").select(runs["binary"].id).run()
    assert not at.dataframe and not at.metric  # asked of another model since: gone


def test_predictions_survive_a_visit_to_another_page(bench, runs):
    at = open_page(bench, runs["binary"])
    upload(at, "new.csv", csv(houses().drop(columns="sold").head(4)))
    at.switch_page("pages/data.py").run()
    at.switch_page("pages/predict.py").run()
    assert not at.exception
    assert len(at.dataframe[0].value) == 4


def test_the_one_row_form_starts_at_the_typical_values(bench, runs):
    run = runs["binary"]
    at = open_page(bench, run)
    size, rooms = at.number_input(key=f"row_{run.id}_0"), at.number_input(key=f"row_{run.id}_1")
    frame = houses()
    assert size.value == pytest.approx(frame["size"].median(), abs=10)
    assert "in training; the median was" in size.help
    assert isinstance(rooms.value, int) and 1 <= rooms.value <= 5
    colour = at.selectbox(key=f"row_{run.id}_2")
    assert set(colour.options) == {"blue", "green", "red", "(missing)"}
    assert colour.value == "red"  # the most common, not the first in order
    assert at.date_input(key=f"row_{run.id}_3").value.year == 2024


def test_the_one_row_form_predicts_a_class_with_its_probabilities(bench, runs):
    run = runs["binary"]
    at = open_page(bench, run)
    at.selectbox(key=f"row_{run.id}_2").select("red")
    at.number_input(key=f"row_{run.id}_0").set_value(130.0)
    at.form_submit_button[0].click().run()
    assert not at.exception and not at.error and not at.warning
    assert at.metric[0].label == "Predicted sold"
    assert at.metric[0].value in ("no", "yes")
    chart = at.get("plotly_chart")[0]  # the probabilities, then (when explained) the waterfall
    bars = json.loads(chart.proto.spec)["data"][0]
    assert bars["y"] == ["no", "yes"]
    assert bars["text"] == [f"{p:.1%}" for p in bars["x"]]
    assert sum(bars["x"]) == pytest.approx(1, abs=1e-5)


def test_a_value_outside_the_training_range_is_predicted_with_a_warning(bench, runs):
    run = runs["binary"]
    at = open_page(bench, run)
    at.number_input(key=f"row_{run.id}_0").set_value(1000.0)
    at.form_submit_button[0].click().run()
    assert not at.exception and not at.error
    assert at.metric[0].value in ("no", "yes")
    assert "size is 1000, outside the training range" in at.warning[0].value


def test_rows_of_a_file_outside_the_training_range_are_predicted_with_a_warning(bench, runs):
    at = open_page(bench, runs["binary"])
    rows = houses().drop(columns="sold").head(6)
    rows.loc[[1, 4], "size"] = 1000.0
    upload(at, "far.csv", csv(rows))
    assert not at.error and len(at.dataframe[0].value) == 6
    assert "2 rows have size outside the training range" in at.warning[0].value
    checks = at.dataframe[0].value["checks"]
    assert checks[[1, 4]].str.startswith("size 1000 above the training maximum").all()
    assert checks[0] == "colour missing"  # houses() leaves every 17th colour empty
    assert "3 rows flagged in the checks column" in " ".join(c.value for c in at.caption)


def test_a_regression_csv_gets_intervals_of_the_chosen_coverage_and_a_drift_table(bench, runs):
    run = runs["regression"]
    at = open_page(bench, run)
    rows = load_sample("diabetes").drop(columns="progression").tail(50)
    rows["bmi"] += 10  # heavier than the training rows
    upload(at, "new.csv", csv(rows))
    assert not at.error
    residuals = Schema.from_json((run.out_dir / "schema.json").read_bytes()).residuals
    widths = {}
    for coverage in (0.9, 0.5):
        at.select_slider(key="interval_coverage").set_value(coverage).run()
        table = at.dataframe[0].value
        assert list(table.columns[:3]) == ["predicted progression", "lower", "upper"]
        half = table["upper"] - table["predicted progression"]
        assert np.allclose(half, residuals.half_width(coverage))
        assert np.allclose(table["predicted progression"] - table["lower"], half)
        widths[coverage] = half.iloc[0]
    assert widths[0.5] < widths[0.9]
    drift = next(d.value for d in at.dataframe if "PSI" in d.value.columns).set_index("column")
    assert drift.loc["bmi", "level"] == "large shift"
    assert at.get("plotly_chart")  # the drift chart beside its table
    assert any("columns moved away from the training rows (bmi" in m.value for m in at.markdown)


def test_invalid_input_in_the_form_clears_the_last_row_prediction(bench, runs):
    run = runs["binary"]
    at = open_page(bench, run)
    at.form_submit_button[0].click().run()
    assert at.metric
    at.number_input(key=f"row_{run.id}_0").set_value(1e39)  # beyond float32
    at.form_submit_button[0].click().run()
    assert "too large to compute with" in errors(at)
    assert not at.metric and not at.get("plotly_chart")


def test_the_one_row_form_predicts_a_number_written_as_the_target_is(bench, runs):
    at = open_page(bench, runs["regression"])
    at.form_submit_button[0].click().run()
    assert not at.exception and not at.error
    assert at.metric[0].label == "Predicted progression"
    shown = at.metric[0].value
    assert np.isfinite(float(shown.replace(",", ""))) and "." not in shown  # whole numbers
    assert any(c.value.startswith("90% prediction interval: ") for c in at.caption)


def test_with_several_runs_the_chosen_one_is_used(bench, runs):
    at = open_page(bench, runs["regression"])
    picker = at.selectbox(key="predict_run")
    assert picker.value == runs["regression"].id
    picker.select(runs["binary"].id).run()
    assert not at.exception
    assert at.session_state[Keys.WORKBENCH].current_run().id == runs["binary"].id
    assert "predicts **sold**" in at.caption[0].value


def test_the_server_side_never_imports_tensorflow(bench, runs, tmp_path):
    """A fresh process (a server restarted) opens the workspace, predicts a file and shows the
    run's scores, rebuilt from its folder: TensorFlow only in the worker."""
    run = runs["binary"]
    rows = tmp_path / "rows.csv"
    rows.write_bytes(csv(houses().drop(columns="sold").head(3)))
    code = textwrap.dedent(
        f"""
        import sys
        from pathlib import Path
        from streamlit.testing.v1 import AppTest
        from ui import Keys

        at = AppTest.from_file({APP!r}, default_timeout=60)
        at.query_params[{TOKEN_PARAM!r}] = {bench.workspace.token!r}
        at.run()
        at.session_state[Keys.WORKBENCH].choose({run.id!r})
        at.switch_page("pages/predict.py").run()
        upload = at.file_uploader(key="predict_upload")
        upload.set_value(("rows.csv", Path({str(rows)!r}).read_bytes(), "text/csv")).run()
        for _ in range(20):  # each run waits up to 16 s; a busy machine starts workers slowly
            if at.exception or at.error or at.dataframe:
                break
            at.run()
        assert not at.exception, at.exception
        assert len(at.dataframe[0].value) == 3, [e.value for e in at.error]
        at.switch_page("pages/evaluate.py").run()
        assert not at.exception, at.exception
        # a binary task's curves, its calibration, gain and cost charts, and importance
        assert len(at.get("plotly_chart")) >= 5
        print("tensorflow" in sys.modules, "keras" in sys.modules)
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=400,  # a loaded 2-core machine: AppTest plus a prediction job's TF start-up
        cwd=Path(APP).parent,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.split()[-2:] == ["False", "False"]


LINK = '=HYPERLINK("http://evil.invalid","click")'
COMMAND = "+cmd|' /C calc'!A0"


def test_the_download_is_safe_to_open_in_a_spreadsheet(tmp_path, monkeypatch):
    """Labels, column names and cells that a spreadsheet would run come back prefixed by ';
    numbers (-1.5 among them) come back as the same numbers."""
    n = 90
    size = np.round(np.linspace(-3, 3, n), 2)
    size[::9] = -1.5
    hostile = pd.DataFrame(
        {
            "=size": size,
            "@note": np.resize(["=1+1", "plain", "-1.5"], n),
            "label": np.where(size < 0, LINK, COMMAND),
        }
    )
    bench = new_bench()
    run = train(bench, hostile, "label")
    saved: dict[str, bytes] = {}
    add = MediaFileManager.add

    def remember(self, data, mimetype, coordinates, file_name=None, **kwargs):
        url = add(self, data, mimetype, coordinates, file_name, **kwargs)
        saved[url] = data
        return url

    monkeypatch.setattr(MediaFileManager, "add", remember)
    at = open_page(bench, run)
    upload(at, "hostile.csv", csv(hostile))
    assert not at.error
    assert any("do not run them as formulas" in c.value for c in at.caption)
    data = saved[at.download_button(key="download_predictions").proto.url]
    table = pd.read_csv(io.BytesIO(data))
    assert list(table.columns) == [
        "predicted label",
        *(f"probability {c}" for c in sorted([LINK, COMMAND])),  # no formula: "probability …"
        "checks",
        "'=size",
        "'@note",
        "label",
    ]
    assert set(table["predicted label"]) <= {"'" + LINK, "'" + COMMAND}
    assert set(table["label"]) == {"'" + LINK, "'" + COMMAND}
    assert table["'@note"].tolist() == ["'=1+1" if v == "=1+1" else v for v in hostile["@note"]]
    assert table["'=size"].dtype == np.float64 and table["'=size"].tolist() == size.tolist()
    assert b"\n=" not in data and b",=" not in data and b",+" not in data and b",@" not in data


@pytest.mark.parametrize(
    ("content", "words"),
    [
        (b"[" * 450_000, "450,000 levels deep"),
        (b'{"version": ' + b"9" * 5_000 + b"}", "5,000 digits"),
        (b'{"version": 1, "scaling": "' + b"A" * 900_000 + b'"}', "900,000 characters"),
    ],
    ids=["deep", "long-integer", "long-text"],
)
def test_a_hostile_schema_file_is_refused_in_one_short_line(runs, tmp_path, content, words):
    schema = tmp_path / "schema.json"
    schema.write_bytes(content)
    at = open_page()
    upload_model(at, runs["binary"].out_dir / "model.keras", schema)
    assert words in errors(at) and len(errors(at)) < 300
    assert "predict_upload" not in [u.key for u in at.file_uploader]


def test_a_threshold_kept_on_evaluate_labels_the_rows_on_predict():
    bench = new_bench()
    run = train(bench, houses(), "sold")
    rows = houses().drop(columns="sold").head(40)
    at = open_page(bench, run)
    assert "Rows are labelled yes from P(yes) ≥ 0.5." in at.caption[0].value
    upload(at, "new.csv", csv(rows))
    before = at.dataframe[0].value
    assert (
        before["predicted sold"] == np.where(before["probability yes"] >= 0.5, "yes", "no")
    ).all()
    # The row nearest 0.5, and a threshold on the other side of it, so its label changes.
    row = int((before["probability yes"] - 0.5).abs().idxmin())
    p = float(before.loc[row, "probability yes"])
    threshold = math.ceil(p * 100 + 1) / 100 if p >= 0.5 else math.floor(p * 100) / 100
    assert 0.01 <= threshold <= 0.99 and threshold != 0.5
    at.switch_page("pages/evaluate.py").run()
    at.slider(key="threshold").set_value(threshold).run()
    at.button(key="keep_threshold").click().run()
    assert not at.exception and not at.error
    at.switch_page("pages/predict.py").run()
    deadline = time.monotonic() + WAIT_SECONDS
    while (
        not at.dataframe  # labelled again: no stale labels meanwhile
        or at.dataframe[0].value.loc[row, "predicted sold"] == before.loc[row, "predicted sold"]
    ):
        assert time.monotonic() < deadline, "the rows on show were not labelled again"
        time.sleep(0.5)
        at.run()
    assert not at.exception and not at.error
    after = at.dataframe[0].value
    expected = np.where(after["probability yes"] >= threshold, "yes", "no")
    assert (after["predicted sold"] == expected).all()
    assert f"Rows are labelled yes from P(yes) ≥ {threshold:g}." in at.caption[0].value
