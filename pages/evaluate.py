"""Evaluate: how well a trained network does on rows it did not learn from, beside baselines."""

import pandas as pd
import streamlit as st

from nncore import plots
from nncore.learn.evaluate import threshold_scores
from ui import Run, finished, init_state, md, pick_run, workbench

THRESHOLD_SCORES = ("accuracy", "precision", "recall", "f1")


def how_it_ended(run: Run, result) -> str:
    training = result.training
    text = f"{run.name}: {training.epochs_run} epochs on {training.train_rows:,} rows"
    text += f" in {training.seconds:.1f} s. "
    text += result.message or "It ran every epoch it was given."
    best = training.best_epoch
    if best is not None and run.experiment.training.restore_best_weights:
        text += f" The weights are those of epoch {best + 1}, the best on the validation rows."
    return md(text)


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
result = finished(run)
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
    "not learn from them, though training watched them to decide when to stop. A dummy model "
    "and a linear one, fitted on the same training rows, show what the network adds."
)
show_scores(validation)
names = [k for k in validation["network"] if k != "confusion_matrix"]
metric = st.columns([1, 3])[0].selectbox(
    "Compare on", names, key="compare_metric", format_func=plots.metric_label
)
st.plotly_chart(plots.baseline_comparison(validation, metric), key="baselines")
if "test" in metrics:
    st.markdown(f"**Test rows** ({metrics['test']['rows']:,}), held out until the end:")
    show_scores(metrics["test"])

# --------------------------------------------------------------------------------------- charts
if task == "regression":
    st.subheader("Predictions", anchor=False)
    target = result.plan.target
    left, right = st.columns(2)
    left.plotly_chart(
        plots.predicted_vs_actual(result.y_val, result.output_val, target),
        key="predicted_vs_actual",
    )
    right.plotly_chart(plots.residuals(result.y_val, result.output_val, target), key="residuals")
else:
    st.subheader("Classes", anchor=False)
    classes = [str(c) for c in result.plan.classes]
    threshold = None
    matrix = validation["network"]["confusion_matrix"]
    if task == "binary":
        threshold = st.slider(
            "Decision threshold",
            0.01,
            0.99,
            0.5,
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
        "Shuffling a column's values among the validation rows breaks its link to the target; "
        "the more the score suffers, the more the network relies on that column. Near zero: the "
        "network ignores it (or another column carries the same information)."
    )
    st.plotly_chart(plots.feature_importance(importance), key="importance")

st.page_link("pages/predict.py", label="Use this model", icon=":material/online_prediction:")
