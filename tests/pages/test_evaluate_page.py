"""The Evaluate page: scores beside baselines, and the charts of each task."""

import json
import time

import numpy as np
import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from nncore import rules
from nncore.artifacts.predict import load_schema, set_threshold
from nncore.config import DataSpec, Experiment, LayerSpec, TrainSpec
from nncore.data.samples import SAMPLES, load_sample
from nncore.learn import calibrate
from nncore.learn.evaluate import importance_note, threshold_scores, verdict
from nncore.run.session import Run, Workbench
from tests.pages.workspaces import new_bench, open_run, session, start, wait
from ui import Keys, md

SAMPLE_OF = {"multiclass": "iris", "binary": "breast_cancer", "regression": "diabetes"}


def experiment(target: str, epochs: int = 3, **data) -> Experiment:
    return Experiment(
        data=DataSpec(target=target, **data),
        layers=(LayerSpec(8),),
        training=TrainSpec(epochs=epochs, early_stopping=False),
    )


@pytest.fixture(scope="module")
def bench() -> Workbench:
    return new_bench()


@pytest.fixture(scope="module")
def runs(bench) -> dict[str, Run]:
    """One finished run per task (the binary one with test rows), and one that failed, all in
    one workspace."""
    runs = {}
    for task, sample in SAMPLE_OF.items():
        frame = load_sample(sample).sample(120, random_state=0)
        test = 0.2 if task == "binary" else 0.0
        runs[task] = start(
            bench, frame, experiment(SAMPLES[sample].target, test_fraction=test), f"{sample}.csv"
        )
    flat = pd.DataFrame({"x": range(10), "y": ["same"] * 10})
    runs["failed"] = start(bench, flat, experiment("y"), "flat.csv")
    wait(*runs.values())
    statuses = [r.status for r in runs.values()]
    assert statuses == ["finished", "finished", "finished", "failed"], statuses
    return runs


def open_page(bench: Workbench | None = None, run: Run | None = None) -> AppTest:
    """The Evaluate page of `bench`'s workspace showing `run`; else of a new workspace."""
    if bench is None:
        return session(page="pages/evaluate.py")
    return open_run(bench, run, "pages/evaluate.py")


def charts(at: AppTest) -> dict[str, dict]:
    """The Plotly charts on the page by key, as their figure specs."""
    return {
        chart.proto.id.rsplit("-", 1)[-1]: json.loads(chart.proto.spec)
        for chart in at.get("plotly_chart")
    }


def chart_titles(at: AppTest) -> list[str]:
    return [spec["layout"]["title"]["text"] for spec in charts(at).values()]


def trace_names(spec: dict) -> list[str]:
    return [trace.get("name") for trace in spec["data"]]


def test_without_a_run_the_page_links_to_training():
    at = open_page()
    assert "Train a model first" in at.info[0].value
    assert at.page_link[0].proto.page == "train"
    assert not at.dataframe and not at.get("plotly_chart")


@pytest.mark.parametrize("task", ["multiclass", "binary", "regression"])
def test_scores_beside_the_baselines_and_the_charts_of_the_task(bench, runs, task):
    at = open_page(bench, runs[task])
    assert not at.error
    table = at.dataframe[0].value
    baselines = {
        "multiclass": ["dummy (most frequent)", "logistic regression", "gradient boosting"],
        "binary": ["dummy (most frequent)", "logistic regression", "gradient boosting"],
        "regression": ["dummy (mean)", "linear regression", "gradient boosting"],
    }[task]
    assert list(table.index) == ["network", *baselines]
    expected = {
        "regression": ["mean absolute error", "root mean squared error", "R²"],
        "binary": ["accuracy", "precision", "recall", "F1", "ROC AUC"],
        "multiclass": ["accuracy", "balanced accuracy", "F1", "log loss"],
    }[task]
    assert set(expected) <= set(table.columns)
    network = runs[task].result().metrics["validation"]["network"]
    first = next(iter(network))
    assert table.iloc[0, 0] == pytest.approx(network[first])
    titles = chart_titles(at)
    assert titles[0].endswith("the network against baselines")
    if task == "regression":
        assert titles[1].startswith("Predicted vs actual progression")
        assert titles[2] == "Residuals of progression"
        assert not at.toggle and not at.slider
    else:
        assert titles[1:-1] == [
            "Confusion matrix",
            "ROC curve" if task == "binary" else "ROC curves",
            "Precision and recall",
            "Calibration curve",
            *(["Finding the malignant rows", "Expected cost per row"] if task == "binary" else []),
        ]
        assert bool(at.slider) == (task == "binary")
    assert titles[-1] == "Which columns matter"
    importance = runs[task].result().metrics["importance"]["columns"]
    bars = charts(at)["importance"]["data"][0]
    assert bars["y"] == [c["column"] for c in importance]
    # The test rows' scores when held out; each decision chart's table for a classifier.
    assert len(at.dataframe) == {"binary": 5, "multiclass": 2, "regression": 1}[task]
    assert at.session_state[Keys.WORKBENCH].current_run().id == runs[task].id


def test_the_comparison_follows_the_chosen_score(bench, runs):
    at = open_page(bench, runs["regression"])
    at.selectbox(key="compare_metric").select("r2").run()
    assert chart_titles(at)[0] == "R²: the network against baselines"


def test_the_threshold_recomputes_the_scores_and_marks_the_curves(bench, runs):
    at = open_page(bench, runs["binary"])
    assert [m.label for m in at.metric] == ["accuracy", "precision", "recall", "F1"]
    at_half = [m.value for m in at.metric]
    spec = charts(at)
    assert "threshold 0.5" in trace_names(spec["roc"])
    at.slider(key="threshold").set_value(0.01).run()
    assert not at.exception
    scores = {m.label: m.value for m in at.metric}
    assert scores["recall"] == "1.000"  # everything above 0.01 is called malignant
    assert [m.value for m in at.metric] != at_half
    spec = charts(at)
    assert "threshold 0.01" in trace_names(spec["roc"])
    assert "threshold 0.01" in trace_names(spec["precision_recall"])
    benign_predicted = [row[0] for row in spec["confusion"]["data"][0]["z"]]
    assert benign_predicted == [0, 0]  # nobody is predicted benign any more


def test_the_confusion_matrix_can_show_shares(bench, runs):
    at = open_page(bench, runs["multiclass"])
    at.toggle(key="normalize").set_value(True).run()
    z = charts(at)["confusion"]["data"][0]["z"]
    assert all(sum(row) == pytest.approx(1) for row in z if any(row))


def test_a_failed_run_shows_why(bench, runs):
    at = open_page(bench, runs["failed"])
    assert "same value" in at.error[0].value
    assert not at.dataframe and not at.get("plotly_chart")


def test_a_run_still_training_says_so(runs):
    bench = new_bench()
    iris = load_sample("iris")
    busy = start(bench, iris, experiment("species", epochs=10_000), "iris.csv")
    at = open_page(bench, busy)
    assert at.info[0].value in (
        "run 1 is still training (queued).",
        "run 1 is still training (running).",
    )
    assert not at.dataframe
    busy.stop()
    wait(busy)


def test_with_several_runs_the_chosen_one_is_shown(bench, runs):
    at = open_page(bench, runs["regression"])
    picker = at.selectbox(key="eval_run")
    assert picker.value == runs["regression"].id
    assert picker.options == [
        "run 4 · failed",
        "run 3 · finished",
        "run 2 · finished",
        "run 1 · finished",
    ]
    picker.select(runs["multiclass"].id).run()
    assert not at.exception
    assert at.session_state[Keys.WORKBENCH].current_run().id == runs["multiclass"].id
    assert any(title.startswith("Confusion matrix") for title in chart_titles(at))


def churn(n: int = 300) -> pd.DataFrame:
    """A binary table whose "yes" rows are one in ten, and partly told apart by x."""
    rng = np.random.default_rng(0)
    yes = np.arange(n) % 10 == 0
    frame = pd.DataFrame({"x": rng.normal(size=n) + 1.5 * yes, "z": rng.normal(size=n)})
    frame["churned"] = np.where(yes, "yes", "no")
    return frame


def test_an_imbalanced_target_is_compared_on_pr_auc_with_a_verdict():
    bench = new_bench()
    run = start(bench, churn(), experiment("churned", epochs=5), "churn.csv")
    wait(run)
    assert run.status == "finished", run.error()
    at = open_page(bench, run)
    assert not at.exception and not at.error
    assert at.selectbox(key="compare_metric").value == "pr_auc"
    assert chart_titles(at)[0] == "PR AUC: the network against baselines"
    assert any(rules.IMBALANCED.help in c.value for c in at.caption)
    validation = run.result().metrics["validation"]
    said = verdict(validation, "pr_auc")
    assert said.startswith("On PR AUC (higher is better), the network scores")
    assert md(said) in [m.value for m in at.markdown]
    at.selectbox(key="compare_metric").select("accuracy").run()
    assert md(verdict(validation, "accuracy")) in [m.value for m in at.markdown]


def test_a_kept_threshold_is_saved_with_the_run_and_starts_the_slider(bench, runs):
    run = runs["binary"]
    at = open_page(bench, run)
    assert at.slider(key="threshold").value == 0.5
    assert at.button(key="keep_threshold").disabled
    at.slider(key="threshold").set_value(0.3).run()
    at.button(key="keep_threshold").click().run()
    assert not at.exception and not at.error
    assert "Kept 0.3 as the decision threshold of run 2." in [s.value for s in at.success]
    assert load_schema(run.out_dir / "schema.json").threshold == 0.3
    again = open_page(bench, run)
    assert again.slider(key="threshold").value == 0.3
    assert any("keeps 0.3" in c.value and "≥ 0.3" in c.value for c in again.caption)
    set_threshold(run.out_dir, 0.5)  # as the other tests expect it


def test_every_result_names_its_rows_and_few_rows_are_cautioned(bench, runs):
    run = runs["binary"]
    metrics = run.result().metrics
    validation, test = metrics["validation"]["rows"], metrics["test"]["rows"]
    at = open_page(bench, run)
    assert not at.exception
    captions = [c.value for c in at.caption]
    assert any(c.startswith(f"On the {validation:,} validation rows") for c in captions)
    assert f"**Test rows** ({test:,}), held out until the end:" in [m.value for m in at.markdown]
    # The threshold is tried on the validation rows, under a heading that says so.
    assert [h.value for h in at.subheader][1] == "Classes on the validation rows"
    assert (
        f"The threshold's scores, the confusion matrix and the curves are on the {validation:,} "
        "validation rows, not the test rows, which stay held out for the scores above."
    ) in captions
    assert [w.value for w in at.warning] == [
        f"Only {validation:,} validation rows. {rules.SMALL_EVALUATION.help}",
        f"Only {test:,} test rows. {rules.SMALL_EVALUATION.help}",
    ]
    importance = metrics["importance"]
    note = md(importance_note(importance, metrics["validation"]["network"]["log_loss"]))
    assert any(note in c for c in captions)
    assert "rise in log loss" in note


def test_a_fall_in_r2_is_explained_on_the_page(bench, runs):
    metrics = runs["regression"].result().metrics
    at = open_page(bench, runs["regression"])
    assert [h.value for h in at.subheader][1] == "Predictions on the validation rows"
    note = md(importance_note(metrics["importance"], metrics["validation"]["network"]["r2"]))
    assert "so a fall can exceed 1" in note
    assert any(note in c.value for c in at.caption)


def test_costs_pick_the_cheapest_threshold_and_keeping_it_decides_as_the_chart_says(bench, runs):
    run = runs["binary"]
    result = run.result()
    y, p = result.y_val.ravel(), result.output_val.ravel()

    def pick(cost_fp: float, cost_fn: float) -> tuple[list[dict], dict]:
        costs = calibrate.expected_costs(y, p, cost_fp, cost_fn)
        return costs, calibrate.cheapest(costs)

    # Costs whose cheapest threshold labels some validation row otherwise than 0.5 does.
    cost_fp, cost_fn = next(
        pair
        for pair in [(1.0, 8.0), (8.0, 1.0), (1.0, 3.0), (3.0, 1.0), (1.0, 30.0), (30.0, 1.0)]
        if ((p >= pick(*pair)[1]["threshold"]) != (p >= 0.5)).any()
    )
    costs, best = pick(cost_fp, cost_fn)
    chosen = best["threshold"]
    at = open_page(bench, run)
    at.number_input(key="cost_fp").set_value(cost_fp).run()
    at.number_input(key="cost_fn").set_value(cost_fn).run()
    assert not at.exception
    line = charts(at)["expected_cost"]["data"]
    assert line[0]["y"] == pytest.approx([row["cost"] for row in costs])
    assert line[1]["x"] == [chosen]
    table = at.dataframe[-1].value
    assert list(table["threshold"]) == [row["threshold"] for row in costs]
    at.button(key="keep_decided").click().run()
    try:
        assert not at.exception and not at.error
        assert load_schema(run.out_dir / "schema.json").threshold == chosen
        assert at.slider(key="threshold").value == chosen
        # The confusion matrix, as Predict labels rows from now on, holds the chart's errors.
        at.toggle(key="normalize").set_value(False).run()
        matrix = charts(at)["confusion"]["data"][0]["z"]
        assert (matrix[0][1], matrix[1][0]) == (best["false_positives"], best["false_negatives"])
        assert at.button(key="keep_decided").disabled

        # Predict labels the same validation rows with the chart's errors.
        sample = load_sample("breast_cancer").sample(120, random_state=0)
        target = SAMPLES["breast_cancer"].target
        rows = sample[sample[target].notna()].iloc[result.validation_rows]
        at.switch_page("pages/predict.py").run()
        data = rows.drop(columns=target).to_csv(index=False).encode()
        at.file_uploader(key="predict_upload").set_value(("rows.csv", data, "text/csv")).run()
        deadline = time.monotonic() + 120
        while not at.dataframe:
            assert not at.exception and not at.error
            assert time.monotonic() < deadline, "the predictions did not come in time"
            time.sleep(0.5)
            at.run()
        table = at.dataframe[0].value
        positive = result.plan.classes[1]
        labelled = (table[f"predicted {target}"] == str(positive)).to_numpy()
        truth = (rows[target] == positive).to_numpy()
        assert int((labelled & ~truth).sum()) == best["false_positives"]
        assert int((~labelled & truth).sum()) == best["false_negatives"]
    finally:
        set_threshold(run.out_dir, 0.5)  # as the other tests expect it


def test_a_target_recall_picks_the_highest_threshold_reaching_it(bench, runs):
    run = runs["binary"]
    result = run.result()
    at = open_page(bench, run)
    at.radio(key="decide_by").set_value("recall").run()
    at.number_input(key="target").set_value(0.95).run()
    assert not at.exception
    chosen = calibrate.threshold_for(result.y_val, result.output_val, "recall", 0.95)
    assert threshold_scores(result.y_val, result.output_val, chosen)["recall"] >= 0.95
    assert at.button(key="keep_decided").label == f"Keep {chosen:g}"
    assert "expected_cost" not in charts(at)


def test_calibrating_a_run_rewrites_its_model_in_a_worker_and_says_what_it_did(bench, runs):
    run = runs["multiclass"]
    before = run.result().metrics["validation"]["network"]["brier"]
    at = open_page(bench, run)
    at.button(key="calibrate").click().run()
    assert not at.exception
    job = at.session_state["calibrating"][run.id]
    deadline = time.monotonic() + 300
    while not job.done():
        assert time.monotonic() < deadline, "the calibration did not end in time"
        time.sleep(0.2)
    at.run()
    assert not at.exception and not at.error
    section = json.loads((run.out_dir / "metrics.json").read_text())["calibration"]
    assert section["validation"]["brier_after"] <= before
    if section["applied"] == 1.0:
        assert "left as they are" in at.info[0].value
    else:
        assert f"{section['applied']:.3g}" in at.success[0].value
        assert any("Temperature-scaled" in c.value for c in at.caption)
        assert run.result().metrics["validation"]["network"]["brier"] <= before
