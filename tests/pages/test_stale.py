"""Nothing stale: what Train and Evaluate show belongs to the data and the run in use, or is
cleared, when either changes."""

import json

import numpy as np
import pandas as pd
import pytest

from nncore.artifacts.predict import load_schema
from nncore.config import DataSpec, Experiment, LayerSpec, TrainSpec
from nncore.data.samples import SAMPLES, load_sample
from nncore.learn import calibrate
from nncore.learn.evaluate import threshold_scores
from tests.pages.test_train_page import current_run, open_train_page, run_until
from tests.pages.workspaces import new_bench, open_run, start, wait
from ui import Keys


def experiment(target: str, **data) -> Experiment:
    return Experiment(
        data=DataSpec(target=target, **data),
        layers=(LayerSpec(8),),
        training=TrainSpec(epochs=3, early_stopping=False),
    )


def charts(at) -> dict[str, dict]:
    return {
        chart.proto.id.rsplit("-", 1)[-1]: json.loads(chart.proto.spec)
        for chart in at.get("plotly_chart")
    }


def test_train_shows_a_run_s_curves_only_with_the_data_it_learned_from():
    at = open_train_page("iris", layers=(LayerSpec(8),))
    at.number_input(key="epochs").set_value(3).run()
    at.button(key="start").click().run()
    run = current_run(at)
    run_until(at, lambda _: not run.in_flight)
    assert run.status == "finished", run.error()
    assert at.get("plotly_chart") and at.success

    at.switch_page("pages/data.py").run()
    at.button(key="sample_diabetes").click().run()
    at.switch_page("pages/train.py").run()
    assert not at.exception
    assert not at.get("plotly_chart") and not at.success  # no curve nor end of iris's run
    said = at.info[0].value
    assert said.startswith("run 1 learned from Iris flowers (target species), not from the data")
    assert "Diabetes (target progression)" in said
    assert any(c.value.startswith("Network: regression on 10 columns") for c in at.caption)

    at.switch_page("pages/data.py").run()
    at.button(key="sample_iris").click().run()  # the same bytes: the same table again
    at.switch_page("pages/train.py").run()
    assert not at.exception and not at.info
    assert at.get("plotly_chart") and at.success

    at.switch_page("pages/data.py").run()
    at.selectbox(key="target").set_value("petal length (cm)").run()  # the same table
    at.switch_page("pages/train.py").run()
    assert not at.exception
    assert not at.get("plotly_chart") and not at.success
    assert "(target petal length (cm))" in at.info[0].value


def churn(n: int = 200) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    yes = np.arange(n) % 10 == 0
    frame = pd.DataFrame({"x": rng.normal(size=n) + 1.5 * yes, "z": rng.normal(size=n)})
    frame["churned"] = np.where(yes, "yes", "no")
    return frame


@pytest.fixture(scope="module")
def two_binary_runs():
    bench = new_bench()
    cancer = load_sample("breast_cancer").sample(150, random_state=0)
    first = start(bench, cancer, experiment("diagnosis", test_fraction=0.2), "cancer.csv")
    second = start(bench, churn(), experiment("churned"), "churn.csv")
    wait(first, second)
    assert [first.status, second.status] == ["finished", "finished"]
    return bench, first, second


def test_evaluate_replaces_every_result_when_another_run_is_picked(two_binary_runs):
    bench, first, second = two_binary_runs
    at = open_run(bench, first, "pages/evaluate.py")
    at.slider(key="threshold").set_value(0.01).run()
    at.selectbox(key="compare_metric").select("log_loss").run()
    # The validation and the test rows' scores, then the calibration, gain and cost tables.
    assert len(at.dataframe) == 5

    at.selectbox(key="eval_run").select(second.id).run()
    assert not at.exception
    result = second.result()
    validation = result.metrics["validation"]
    # The threshold and the score compared on start from this run's own, not the last run's.
    kept = load_schema(second.out_dir / "schema.json").threshold
    assert at.slider(key="threshold").value == kept
    assert at.selectbox(key="compare_metric").value == "pr_auc"  # churn is imbalanced
    table, calibration, gains, costs = [d.value for d in at.dataframe]  # no test rows here
    assert table.loc["network", "accuracy"] == pytest.approx(validation["network"]["accuracy"])
    assert calibration["rows"].sum() == validation["rows"]
    assert list(gains["gain"]) == [
        g["gain"] for g in calibrate.gains(result.y_val, result.output_val)
    ]
    expected_costs = calibrate.expected_costs(result.y_val, result.output_val, 1.0, 1.0)
    assert list(costs["cost"]) == pytest.approx([c["cost"] for c in expected_costs])
    expected = threshold_scores(result.y_val, result.output_val, kept)
    assert [m.value for m in at.metric] == [
        f"{expected[name]:.3f}" for name in ("accuracy", "precision", "recall", "f1")
    ]
    spec = charts(at)
    assert spec["baselines"]["layout"]["title"]["text"].startswith("PR AUC")
    assert spec["confusion"]["data"][0]["z"] == expected["confusion_matrix"]
    assert f"threshold {kept:g}" in [t.get("name") for t in spec["roc"]["data"]]
    importance = result.metrics["importance"]["columns"]
    assert spec["importance"]["data"][0]["y"] == [c["column"] for c in importance]
    assert any("churn.csv (target churned)" in c.value for c in at.caption)


def test_evaluate_says_when_the_run_learned_from_other_data_than_the_table_in_use(
    two_binary_runs,
):
    bench, _, second = two_binary_runs
    at = open_run(bench, second, "pages/evaluate.py")  # churn.csv, the last table kept
    assert not at.info
    assert "run 2 learned from churn.csv (target churned), the table in use." in [
        c.value for c in at.caption
    ]
    at.switch_page("pages/data.py").run()
    at.button(key="sample_iris").click().run()
    assert at.session_state[Keys.PLAN].target == SAMPLES["iris"].target
    at.switch_page("pages/evaluate.py").run()
    assert not at.exception
    assert at.info[0].value == (
        "run 2 learned from churn.csv (target churned), not from the data in use, Iris "
        "flowers (target species): every result below is churn.csv's."
    )
    assert at.dataframe and at.get("plotly_chart")  # still there, and said to be churn.csv's
