"""Evaluate: how well a trained network does on rows it did not learn from, beside baselines."""

from functools import partial

import numpy as np
import pandas as pd
import streamlit as st

from nncore import plots, rules
from nncore.artifacts.predict import load_schema, set_threshold
from nncore.artifacts.report import report_html
from nncore.errors import DataError
from nncore.learn.evaluate import importance_note, threshold_scores, verdict
from ui import Keys, Run, finished, init_state, md, pick_run, show_error, workbench

THRESHOLD_SCORES = ("accuracy", "precision", "recall", "f1")
# Widgets whose value belongs to the run shown: another run starts from its own kept threshold
# and its own default score, not from the last run's.
PER_RUN_WIDGETS = ("threshold", "compare_metric")


def how_it_ended(run: Run, result) -> str:
    training = result.training
    text = f"{run.name}: {training.epochs_run} epochs on {training.train_rows:,} rows"
    text += f" in {training.seconds:.1f} s. "
    text += result.message or "It ran every epoch it was given."
    best = training.best_epoch
    if best is not None and run.experiment.training.restore_best_weights:
        text += f" The weights are those of epoch {best + 1}, the best on the validation rows."
    return md(text)


def where_from(run: Run) -> None:
    """Name the data the run learned from; warn when it is not the table and target in use."""
    record = run.record
    if not record.table_id:
        return  # recorded before runs named their table
    learned = f"{md(record.table_name)} (target {md(record.target)})"
    plan = st.session_state[Keys.PLAN]
    if st.session_state[Keys.TABLE] == record.table_id and (
        plan is None or plan.target == record.target
    ):
        st.caption(f"{md(run.name)} learned from {learned}, the table in use.")
        return
    in_use = md(st.session_state[Keys.DATASET_NAME] or "no table")
    if plan is not None:
        in_use += f" (target {md(plan.target)})"
    st.info(
        f"{md(run.name)} learned from {learned}, not from the data in use, {in_use}: every "
        f"result below is {md(record.table_name)}'s.",
        icon=":material/info:",
    )


def caution_if_few(rows: int, which: str) -> None:
    if rules.small_evaluation(rows):
        st.warning(
            f"Only {rows:,} {which} rows. {rules.SMALL_EVALUATION.help}", icon=":material/warning:"
        )


def score_table(part: dict) -> pd.DataFrame:
    """One row per model (the network, then the baselines), one column per score."""
    models = {"network": part["network"], **part["baselines"]}
    table = pd.DataFrame.from_dict(
        {
            name: {k: v for k, v in scores.items() if k != "confusion_matrix"}
            for name, scores in models.items()
        },
        orient="index",
    )
    return table.astype(float).rename(columns=plots.metric_label).rename_axis("model")


def show_scores(part: dict) -> None:
    table = score_table(part)
    st.dataframe(
        table,
        column_config={c: st.column_config.NumberColumn(format="%.3f") for c in table.columns},
    )


init_state()
st.title("Evaluate")
if not workbench().runs:
    st.info("Train a model first: there is nothing to evaluate yet.", icon=":material/info:")
    st.page_link("pages/train.py")
    st.stop()

run = pick_run("eval_run")
if st.session_state.get("eval_shown") != run.id:
    st.session_state["eval_shown"] = run.id
    for key in PER_RUN_WIDGETS:
        st.session_state.pop(key, None)
result = finished(run)
where_from(run)
metrics = result.metrics
task = metrics["task"]
validation = metrics["validation"]
if result.training.stopped_by == "nan":
    st.warning(how_it_ended(run, result), icon=":material/warning:")
else:
    st.caption(how_it_ended(run, result))

# -------------------------------------------------------------------------------------- scores
st.subheader("Scores", anchor=False)
st.caption(
    f"On the {validation['rows']:,} validation rows ({md(result.split_note)}): the network did "
    "not learn from them, though training watched them to decide when to stop. A dummy model, "
    "a linear one and gradient boosting (the strongest standard model for tables), fitted on the "
    "same training rows, show what the network adds."
)
show_scores(validation)
caution_if_few(validation["rows"], "validation")
names = [k for k in validation["network"] if k != "confusion_matrix"]
counts = () if task == "regression" else np.bincount(np.asarray(result.y_val, int).ravel())
default = rules.compare_on(task, counts)
metric = st.columns([1, 3])[0].selectbox(
    "Compare on",
    names,
    index=names.index(default) if default in names else 0,
    key="compare_metric",
    format_func=plots.metric_label,
)
if rules.imbalanced(task, counts):
    st.caption(
        f"{md(result.plan.classes[int(np.argmin(counts))])} is {min(counts) / sum(counts):.0%} "
        f"of the validation rows. {rules.IMBALANCED.help}"
    )
st.plotly_chart(plots.baseline_comparison(validation, metric), key="baselines")
st.markdown(md(verdict(validation, metric)))
if "test" in metrics:
    st.markdown(f"**Test rows** ({metrics['test']['rows']:,}), held out until the end:")
    show_scores(metrics["test"])
    caution_if_few(metrics["test"]["rows"], "test")
st.download_button(
    "Model report (.html)",
    partial(report_html, result.files),  # written when clicked, not on every rerun
    file_name=f"{run.name.replace(' ', '-')}-report.html",
    mime="text/html",
    key="download_report",
    on_click="ignore",
    icon=":material/description:",
)

# The charts, the threshold and the importance are measured on the validation rows: a threshold
# chosen on the test rows would make their scores flatter the model.
charted_rows = f"the {validation['rows']:,} validation rows"
if "test" in metrics:
    charted_rows += ", not the test rows, which stay held out for the scores above"

# --------------------------------------------------------------------------------------- charts
if task == "regression":
    st.subheader("Predictions on the validation rows", anchor=False)
    st.caption(f"On {charted_rows}.")
    target = result.plan.target
    left, right = st.columns(2)
    left.plotly_chart(
        plots.predicted_vs_actual(result.y_val, result.output_val, target),
        key="predicted_vs_actual",
    )
    right.plotly_chart(plots.residuals(result.y_val, result.output_val, target), key="residuals")
else:
    st.subheader("Classes on the validation rows", anchor=False)
    shown = (
        "The threshold's scores, the confusion matrix"
        if task == "binary"
        else "The confusion matrix"
    )
    st.caption(f"{shown} and the curves are on {charted_rows}.")
    classes = [str(c) for c in result.plan.classes]
    threshold = None
    matrix = validation["network"]["confusion_matrix"]
    if task == "binary":
        kept = load_schema(result.files.schema).threshold
        threshold = st.slider(
            "Decision threshold",
            0.01,
            0.99,
            kept,
            0.01,
            key="threshold",
            help=f"A row is predicted {md(classes[1])} when the network gives it at least this "
            f"probability. Lower it to find more {md(classes[1])} rows (recall) at the cost of "
            "more false alarms (precision); raise it for the opposite.",
        )
        scores = threshold_scores(result.y_val, result.output_val, threshold)
        usual = threshold_scores(result.y_val, result.output_val, 0.5)
        for column, name in zip(st.columns(len(THRESHOLD_SCORES)), THRESHOLD_SCORES, strict=True):
            change = scores[name] - usual[name]
            column.metric(
                plots.metric_label(name),
                f"{scores[name]:.3f}",
                f"{change:+.3f} against 0.5" if threshold != 0.5 else None,
            )
        matrix = scores["confusion_matrix"]
        keep, note = st.columns([1, 3], vertical_alignment="center")
        if keep.button(
            "Keep this threshold",
            key="keep_threshold",
            disabled=threshold == kept,
            icon=":material/push_pin:",
        ):
            try:
                kept = set_threshold(run.out_dir, threshold).threshold
            except DataError as exc:
                show_error(exc)
            else:
                st.success(f"Kept {kept:g} as the decision threshold of {md(run.name)}.")
        note.caption(
            f"{md(run.name)} keeps {kept:g}: Predict, the downloaded schema.json and the command "
            f"line (python -m nncore predict) label a row {md(classes[1])} from "
            f"P({md(classes[1])}) ≥ {kept:g}."
        )
    normalize = st.toggle("Shares of each true class", key="normalize")
    matrix_box, roc_box, pr_box = st.columns(3)
    matrix_box.plotly_chart(plots.confusion_matrix(matrix, classes, normalize), key="confusion")
    roc_box.plotly_chart(
        plots.roc_curves(result.y_val, result.output_val, classes, threshold), key="roc"
    )
    pr_box.plotly_chart(
        plots.precision_recall_curves(result.y_val, result.output_val, classes, threshold),
        key="precision_recall",
    )

if importance := metrics.get("importance"):
    st.subheader("Which columns matter", anchor=False)
    st.caption(
        "Shuffling a column's values breaks its link to the target: the more the score "
        "suffers, the more the network relies on that column. "
        + md(importance_note(importance, validation["network"].get(importance["score"])))
    )
    st.plotly_chart(plots.feature_importance(importance), key="importance")

st.page_link("pages/predict.py", label="Use this model", icon=":material/online_prediction:")
