"""The prediction service answers as the studio predicts, refuses bad rows with a 422 naming
the column and the problem, and runs from the bundle alone and from the command line."""

import io
import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from frames import mixed_frame, tiny_experiment
from starlette.testclient import TestClient

from nncore.artifacts.bundle import bundle
from nncore.artifacts.predict import load_model, load_schema, predict
from nncore.artifacts.serve import MAX_ROWS, create_app
from nncore.config import TrainSpec

START_SECONDS = 240  # a fresh process loads TensorFlow and the model: generous, bounded


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    from nncore.run.pipeline import run_experiment

    frame = mixed_frame(task="multiclass")
    experiment = tiny_experiment("multiclass").replace(training=TrainSpec(epochs=2, batch_size=16))
    return frame, run_experiment(frame, experiment, tmp_path_factory.mktemp("served"))


@pytest.fixture(scope="module")
def client(run):
    return TestClient(create_app(run[1].out_dir))


def records(frame: pd.DataFrame) -> list[dict]:
    return json.loads(frame.drop(columns=["kind"]).to_json(orient="records"))


def expected(run, rows: pd.DataFrame) -> pd.DataFrame:
    schema = load_schema(run[1].files.schema)
    return predict(load_model(run[1].files.keras, schema), rows, schema)


def test_health_and_schema(client, run):
    assert client.get("/health").json() == {"status": "ok", "target": "kind", "task": "multiclass"}
    assert client.get("/schema").json() == json.loads(run[1].files.schema.read_text())


def test_predictions_equal_the_studios(client, run):
    rows = run[0].head(40)
    answer = client.post("/predict", json=records(rows))
    assert answer.status_code == 200
    want = expected(run, rows)
    got = answer.json()["predictions"]
    assert [p["prediction"] for p in got] == want["predicted kind"].tolist()
    for label in ("high", "low", "mid"):
        np.testing.assert_allclose(
            [p["probabilities"][label] for p in got], want[f"probability {label}"], rtol=1e-6
        )


@pytest.mark.parametrize(
    ("change", "column", "problem"),
    [
        (lambda row: row.pop("x2"), "x2", "missing (null is allowed)"),
        (lambda row: row.update(x1="tall"), "x1", 'expected a number or null, got "tall"'),
        (lambda row: row.update(x1=True), "x1", "expected a number or null, got true"),
        (lambda row: row.update(when="someday"), "when", "not a date: 'someday'"),
        (
            lambda row: row.update(color=[1]),
            "color",
            "expected a category as text, a number or null, got [1]",
        ),
    ],
)
def test_a_bad_row_gets_a_422_naming_the_column_and_the_problem(
    client, run, change, column, problem
):
    rows = records(run[0].head(3))
    change(rows[2])
    answer = client.post("/predict", json={"rows": rows})
    assert answer.status_code == 422
    detail = answer.json()["detail"]
    assert detail["problems"] == [{"row": 2, "column": column, "problem": problem}]
    assert detail["message"] == f"Row 2, column {column!r}: {problem}"


def test_not_rows_and_too_many_rows_are_refused(client):
    for body in ({"rows": []}, [1, 2], {"x": 1}):
        answer = client.post("/predict", json=body)
        assert answer.status_code == 422
        assert answer.json()["detail"]["message"].startswith("Send a non-empty list of rows")
    answer = client.post("/predict", json=[{}] * (MAX_ROWS + 1))
    assert answer.status_code == 422
    assert "send at most 100,000 at a time" in answer.json()["detail"]["message"]


def test_an_unseen_category_and_missing_values_are_predicted_and_named(client, run):
    rows = run[0].head(2).copy()
    rows["color"] = ["purple", None]
    rows["x1"] = [np.nan, 3.0]
    answer = client.post("/predict", json=records(rows)).json()
    assert answer["unseen_categories"] == {"color": ["purple"]}
    assert [p["prediction"] for p in answer["predictions"]] == expected(run, rows)[
        "predicted kind"
    ].tolist()


def test_ten_thousand_rows_in_one_request(client, run):
    rows = mixed_frame(n=10_000, task="multiclass", seed=5)
    answer = client.post("/predict", json=records(rows))
    assert answer.status_code == 200
    got = answer.json()["predictions"]
    assert [p["prediction"] for p in got] == expected(run, rows)["predicted kind"].tolist()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def post(url: str, body) -> tuple[int, dict]:
    request = urllib.request.Request(
        url, json.dumps(body).encode(), {"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def wait_for_health(url: str, server: subprocess.Popen) -> dict:
    deadline = time.monotonic() + START_SECONDS
    while time.monotonic() < deadline:
        assert server.poll() is None, server.stderr.read()[-2000:]
        try:
            with urllib.request.urlopen(url + "/health", timeout=5) as response:
                return json.loads(response.read())
        except OSError:
            time.sleep(0.5)
    raise AssertionError(f"no answer from {url} in {START_SECONDS} s")


@pytest.mark.parametrize("how", ["bundle", "cli"])
def test_the_service_over_http_from_the_bundle_alone_and_from_the_cli(run, tmp_path, how):
    """uvicorn on 127.0.0.1: the bundle's serve/ with only its own files on the path, or
    `python -m nncore serve`."""
    frame, result = run
    port = free_port()
    if how == "bundle":
        folder = tmp_path / "bundle"
        zipfile.ZipFile(io.BytesIO(bundle(result.files))).extractall(folder)
        command = [sys.executable, "-m", "uvicorn", "app:app", "--app-dir", "serve"]
        command += ["--host", "127.0.0.1", "--port", str(port)]
        env = {"PATH": os.environ["PATH"], "TF_CPP_MIN_LOG_LEVEL": "2"}
    else:
        folder = Path(__file__).resolve().parents[2]  # where `python -m nncore` runs
        command = [sys.executable, "-m", "nncore", "serve", "--run", str(result.out_dir)]
        command += ["--port", str(port)]
        env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    server = subprocess.Popen(
        command, cwd=folder, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )
    try:
        url = f"http://127.0.0.1:{port}"
        assert wait_for_health(url, server)["task"] == "multiclass"
        rows = frame.head(25)
        status, answer = post(url + "/predict", records(rows))
        assert status == 200
        want = expected(run, rows)["predicted kind"].tolist()
        assert [p["prediction"] for p in answer["predictions"]] == want
        bad = records(rows.head(1))
        del bad[0]["when"]
        status, answer = post(url + "/predict", bad)
        assert (status, answer["detail"]["problems"][0]["column"]) == (422, "when")
    finally:
        server.terminate()
        server.wait(timeout=30)
