"""Why this prediction (Predict: a waterfall for one row, contributions for a file) and how the
output moves (Evaluate: partial dependence), each computed in a worker."""

import json
import math
import sys
import time

import numpy as np
import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from nncore.artifacts.predict import set_threshold
from nncore.learn.explain import BASE_VALUE, CONTRIBUTION
from nncore.run.session import Workbench
from tests.pages.test_predict_page import houses, train
from tests.pages.workspaces import WAIT_SECONDS, new_bench, open_run

COLUMNS = ["size", "rooms", "colour", "listed"]


@pytest.fixture(scope="module")
def bench() -> Workbench:
    return new_bench()


@pytest.fixture(scope="module")
def run(bench):
    return train(bench, houses(), "sold")


def settled(at: AppTest, state: str) -> AppTest:
    """Run the page again until its job of `state` has ended (bounded, generously)."""
    deadline = time.monotonic() + WAIT_SECONDS
    while (job := at.session_state[state].job) is not None and not job.done():
        assert time.monotonic() < deadline, "the job did not end in time"
        job.wait(1.0)
    at.run()
    assert not at.exception
    return at


def charts(at: AppTest) -> dict[str, dict]:
    return {
        chart.proto.id.rsplit("-", 1)[-1]: json.loads(chart.proto.spec)
        for chart in at.get("plotly_chart")
    }


def test_one_row_gets_a_waterfall_whose_steps_add_up_to_its_probability(bench, run):
    at = open_run(bench, run, "pages/predict.py")
    at.selectbox(key=f"row_{run.id}_2").select("red")
    at.form_submit_button[0].click().run()
    at = settled(settled(at, "predict_row_state"), "predict_why_state")
    assert not at.error
    table = at.session_state["predict_row_state"].shown.table
    probability = float(table["probability yes"].iloc[0])
    waterfall = charts(at)["row_waterfall"]
    steps = waterfall["data"][0]
    assert steps["type"] == "waterfall"
    assert steps["y"][0] == "base value" and steps["y"][-1] == "prediction"
    assert set(steps["y"][1:-1]) == set(COLUMNS)
    assert sum(steps["x"][:-1]) == pytest.approx(probability, abs=1e-4)
    assert steps["x"][-1] == pytest.approx(probability, abs=1e-4)
    numbers = at.dataframe[-1].value
    assert list(numbers["column"]) == ["base value", *steps["y"][1:-1]]
    assert numbers["contribution"].sum() == pytest.approx(probability, abs=1e-4)
    assert numbers.set_index("column").loc["colour", "value"] == "red"


def test_explain_each_row_adds_the_contribution_columns_to_a_file(bench, run):
    at = open_run(bench, run, "pages/predict.py")
    at.checkbox(key="predict_explain").check().run()
    rows = houses(8).drop(columns="sold")
    at.file_uploader(key="predict_upload").set_value(
        ("new.csv", rows.to_csv(index=False).encode(), "text/csv")
    ).run()
    at = settled(at, "predict_file_state")
    assert not at.error
    shown = at.dataframe[0].value
    contributions = [f"{CONTRIBUTION}{c}" for c in COLUMNS]
    assert set([*contributions, BASE_VALUE]) <= set(shown.columns)
    np.testing.assert_allclose(
        shown[[*contributions, BASE_VALUE]].sum(axis=1), shown["probability yes"], atol=1e-4
    )
    # Unticked, the same file is predicted again without them.
    at.checkbox(key="predict_explain").uncheck().run()
    at = settled(at, "predict_file_state")
    assert BASE_VALUE not in at.dataframe[0].value.columns
    assert len(at.dataframe[0].value) == len(rows)


def test_evaluate_draws_partial_dependence_in_a_worker(bench, run):
    at = open_run(bench, run, "pages/evaluate.py")
    assert not [k for k in charts(at) if k.startswith("curve_")]
    at.button(key="draw_curves").click().run()
    deadline = time.monotonic() + WAIT_SECONDS
    while not (job := at.session_state["partial_dependence_jobs"][run.id]).done():
        assert time.monotonic() < deadline, "the curves did not come in time"
        job.wait(1.0)
    at.run()
    assert not at.exception and not at.error
    found = charts(at)
    curves = [k for k in found if k.startswith("curve_")]
    # The three columns that are not a date; a category is drawn as bars, one per value.
    assert sorted(curves) == ["curve_colour", "curve_rooms", "curve_size"]
    bars = [t for t in found["curve_colour"]["data"] if t["type"] == "bar"]
    assert set(bars[0]["x"]) == {"red", "green", "blue", "(missing)"}
    heat = found["interaction"]["data"][0]
    assert heat["type"] == "heatmap"
    table = at.dataframe[-1].value
    assert isinstance(table, pd.DataFrame)
    assert np.allclose(np.asarray(heat["z"], dtype=float), table.to_numpy(dtype=float))


def test_without_shap_the_page_predicts_and_says_how_to_explain(bench, run, monkeypatch):
    monkeypatch.setitem(sys.modules, "shap", None)  # what `import shap` meets when not installed
    at = open_run(bench, run, "pages/predict.py")
    explain = at.checkbox(key="predict_explain")
    assert explain.disabled and "requirements-explain.txt" in explain.help
    at.form_submit_button[0].click().run()
    at = settled(at, "predict_row_state")
    assert not at.error and at.metric[0].label == "Predicted sold"
    assert "row_waterfall" not in charts(at)
    assert any("requirements-explain.txt" in c.value for c in at.caption)


def test_explained_rows_stay_explained_when_a_kept_threshold_labels_them_again(bench, run):
    at = open_run(bench, run, "pages/predict.py")
    at.checkbox(key="predict_explain").check().run()
    rows = houses(6).drop(columns="sold")
    at.file_uploader(key="predict_upload").set_value(
        ("new.csv", rows.to_csv(index=False).encode(), "text/csv")
    ).run()
    at = settled(at, "predict_file_state")
    before = at.dataframe[0].value
    # The row nearest 0.5, and a threshold on the other side of it, so its label changes.
    p = float(before.loc[(before["probability yes"] - 0.5).abs().idxmin(), "probability yes"])
    threshold = math.ceil(p * 100 + 1) / 100 if p >= 0.5 else math.floor(p * 100) / 100
    assert 0.01 <= threshold <= 0.99 and threshold != 0.5
    set_threshold(run.out_dir, threshold)
    bench.choose(run.id)
    at.run()  # the page sees the new threshold and predicts the rows on show again
    at = settled(at, "predict_file_state")
    after = at.dataframe[0].value
    assert (after["predicted sold"] != before["predicted sold"]).any()
    assert BASE_VALUE in after.columns
    np.testing.assert_allclose(after[BASE_VALUE], before[BASE_VALUE], atol=1e-6)
