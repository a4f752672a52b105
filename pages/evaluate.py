"""Evaluate: how well a trained network does on rows it did not learn from, beside baselines."""

import numpy as np
import pandas as pd
import streamlit as st

from nncore import plots, rules
from nncore.artifacts.predict import load_schema, set_threshold
from nncore.errors import DataError
from nncore.learn.evaluate import threshold_scores, verdict
from ui import Run, finished, init_state, md, pick_run, show_error, workbench

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
        "Shuffling a column's values among the validation rows breaks its link to the target; "
        "the more the score suffers, the more the network relies on that column. Near zero: the "
        "network ignores it (or another column carries the same information)."
    )
    st.plotly_chart(plots.feature_importance(importance), key="importance")


# A run's partial-dependence job (its result once done), by run id, for this session.
CURVES = "partial_dependence_jobs"
# A running job is waited for in place this long, then polled.
CURVE_WAIT_SECONDS = 15.0


def how_the_output_moves(run: Run, result) -> None:
    """Partial dependence and individual curves of the most important columns, and a pair of
    them together, computed in a worker when asked for."""
    # Imported here, with the section: the page above does not need them.
    from nncore.artifacts.predict import load_schema
    from nncore.errors import NNCoreError
    from nncore.run.tasks import partial_dependence_job
    from ui import job_runner

    st.subheader("How the output moves", anchor=False)
    st.caption(
        "Each chart sets one column to each of its values in a sample of the training rows, "
        "the other columns as they are, and averages the network's output (partial "
        "dependence); grey lines follow single rows. Flat: the output hardly depends on it."
    )
    jobs = st.session_state.setdefault(CURVES, {})
    job = jobs.get(run.id)
    if job is None:
        if not st.button("Draw the curves", key="draw_curves", icon=":material/show_chart:"):
            return
        try:
            if not run.record.table_id:
                raise NNCoreError(
                    "This run's table is not in this workspace. Train the run here to draw its "
                    "curves."
                )
            job = job_runner().submit(
                partial_dependence_job,
                str(result.files.keras),
                str(workbench().workspace.table_path(run.record.table_id)),
                load_schema(result.files.schema).to_dict(),
                result.metrics.get("importance"),
                name=f"partial dependence of {run.name}",
            )
        except NNCoreError as exc:
            show_error(exc)
            return
        jobs[run.id] = job
    if not job.done():
        with st.spinner("Computing the curves…"):
            job.wait(CURVE_WAIT_SECONDS)
    if not job.done():
        wait_for_curves(job)
        return
    try:
        found = job.result(timeout=0)
    except NNCoreError as exc:
        del jobs[run.id]  # the button comes back to try again
        show_error(exc)
        return
    show_curves(found)


@st.fragment(run_every=1.0)
def wait_for_curves(job) -> None:
    if job.done():
        st.rerun()
    position = job.queue_position()
    st.info(
        f"Waiting for a free worker: position {position} in the queue."
        if position
        else "Computing the curves…",
        icon=":material/hourglass_top:",
    )


def show_curves(found: dict) -> None:
    outputs, task = found["outputs"], found["task"]
    for curve in found["curves"]:
        chart, numbers = st.columns([3, 2])
        chart.plotly_chart(
            plots.partial_dependence(curve, outputs, task), key=f"curve_{curve['column']}"
        )
        table = pd.DataFrame(
            dict(zip(outputs, curve["average"], strict=True)),
            index=pd.Index(curve["grid"], name=curve["column"]),
        )
        numbers.dataframe(table)
    pair = found["pair"]
    if pair is None:
        return
    index = 0
    if task == "multiclass":
        index = outputs.index(st.selectbox("Probability of", outputs, key="interaction_output"))
    chart, numbers = st.columns([3, 2])
    chart.plotly_chart(plots.interaction(pair, outputs[index], index), key="interaction")
    first, second = pair["columns"]
    numbers.dataframe(
        pd.DataFrame(
            pair["average"][index],
            index=pd.Index(pair["grids"][0], name=first),
            columns=pd.Index(pair["grids"][1], name=second),
        )
    )


how_the_output_moves(run, result)
st.page_link("pages/predict.py", label="Use this model", icon=":material/online_prediction:")
