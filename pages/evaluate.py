"""Evaluate: how well a trained network does on rows it did not learn from, beside baselines."""

from functools import partial

import numpy as np
import pandas as pd
import streamlit as st

from nncore import plots, rules
from nncore.artifacts.predict import load_schema, set_threshold
from nncore.artifacts.report import report_html
from nncore.errors import DataError, NNCoreError
from nncore.learn import calibrate
from nncore.learn.evaluate import importance_note, threshold_scores, verdict
from ui import (
    RUN_POLL_SECONDS,
    Keys,
    Run,
    finished,
    init_state,
    md,
    pick_run,
    show_error,
    workbench,
)

THRESHOLD_SCORES = ("accuracy", "precision", "recall", "f1")
# Widgets whose value belongs to the run shown: another run starts from its own kept threshold
# and its own default score, not from the last run's.
PER_RUN_WIDGETS = ("threshold", "compare_metric")
# Page state: each run's temperature-scaling job while it runs, then what it did (or its error).
CALIBRATING, CALIBRATED = "calibrating", "calibrated"
DECIDE_BY = {
    "costs": "the costs of errors",
    "precision": "a target precision",
    "recall": "a target recall",
}


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


def calibration_table(found: dict) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {"class": curve["class"], "predicted": p, "observed": o, "rows": n}
            for curve in found["curves"]
            for p, o, n in zip(curve["predicted"], curve["observed"], curve["rows"], strict=True)
        ]
    )


def show_calibration(run: Run, result, task: str, classes: list[str]) -> None:
    st.subheader("How far the probabilities can be trusted", anchor=False)
    found = calibrate.calibration(task, result.y_val, result.output_val, classes)
    chart, table = st.columns([3, 2])
    chart.plotly_chart(plots.calibration_curves(found), key="calibration")
    table.dataframe(
        calibration_table(found),
        hide_index=True,
        column_config={
            "predicted": st.column_config.NumberColumn("mean predicted", format="%.3f"),
            "observed": st.column_config.NumberColumn("share observed", format="%.3f"),
        },
    )
    st.caption(
        f"On the validation rows, grouped in {found['bins']} bins of predicted probability: in "
        "a bin where the network says 0.8, about 8 rows in 10 should be of that class. Brier "
        f"score {found['brier']:.4f} ({rules.METRICS['brier'].help})."
    )
    done = result.metrics.get("calibration")
    if done:
        change = done["validation"]
        st.caption(
            f"Temperature-scaled: the model files divide the network's logits by "
            f"{done['temperature']:.3g}. On the validation rows the Brier score went from "
            f"{change['brier_before']:.4f} to {change['brier_after']:.4f}, the log loss from "
            f"{change['log_loss_before']:.4f} to {change['log_loss_after']:.4f}."
            + (
                " The test rows' scores above are from before scaling: the same labels at 0.5, "
                "another log loss and Brier score."
                if "test" in result.metrics
                else ""
            )
        )
    calibration_job(run)


def calibration_job(run: Run) -> None:
    """The button that temperature-scales the run in a worker, its progress and its outcome."""
    jobs = st.session_state.setdefault(CALIBRATING, {})
    job = jobs.get(run.id)
    if job is not None and not job.done():
        wait_for_calibration(run.id)
        return
    if job is not None:
        del jobs[run.id]
        try:
            st.session_state.setdefault(CALIBRATED, {})[run.id] = job.result(timeout=0)
        except NNCoreError as exc:
            st.session_state.setdefault(CALIBRATED, {})[run.id] = exc
    outcome = st.session_state.get(CALIBRATED, {}).get(run.id)
    if isinstance(outcome, NNCoreError):
        show_error(outcome)
    elif outcome is not None and outcome["applied"] == 1.0:
        st.info(
            "No temperature makes these probabilities truer on the validation rows: the model "
            "files are left as they are.",
            icon=":material/info:",
        )
    elif outcome is not None:
        st.success(
            f"Scaled by the temperature {outcome['applied']:.3g}; the model files give "
            "the calibrated probabilities."
        )
    if st.button(
        "Calibrate with a temperature",
        key="calibrate",
        icon=":material/thermostat:",
        help="Fit one temperature on the validation rows that makes the probabilities truer "
        "(lower log loss) and fold it into the model files: the downloaded .keras and .h5 then "
        "give calibrated probabilities. Labels at 0.5 and a kept threshold's decisions stay.",
    ):
        try:
            jobs[run.id] = workbench().calibrate(run.id)
        except NNCoreError as exc:
            show_error(exc)
            return
        st.rerun()


@st.fragment(run_every=RUN_POLL_SECONDS)
def wait_for_calibration(run_id: str) -> None:
    job = st.session_state.get(CALIBRATING, {}).get(run_id)
    if job is None or job.done():
        st.rerun()  # once: the next run shows what the job did
    st.info("Fitting a temperature…", icon=":material/hourglass_top:")


def show_gains(result, classes: list[str]) -> None:
    st.subheader(f"How fast the ranking finds {md(classes[1])}", anchor=False)
    gains = calibrate.gains(result.y_val, result.output_val)
    if not gains:
        st.caption(f"No validation row is {md(classes[1])}: there is nothing to find.")
        return
    chart, table = st.columns([3, 2])
    chart.plotly_chart(plots.gain_and_lift(gains, classes[1]), key="gains")
    table.dataframe(
        pd.DataFrame(gains),
        hide_index=True,
        column_config={
            "rows": st.column_config.NumberColumn("share of rows", format="percent"),
            "gain": st.column_config.NumberColumn(f"share of {classes[1]} found", format="percent"),
            "lift": st.column_config.NumberColumn("lift", format="%.2f"),
        },
    )
    st.caption(
        "Rows taken in order of the network's probability, highest first (on the validation "
        f"rows): the gain is the share of all {md(classes[1])} rows among them, the lift how "
        "many times more often they are found than by taking rows at random."
    )


def keep_decided(run: Run, chosen: float) -> None:
    """Keep the threshold the costs or the target chose, and put the slider on it."""
    try:
        set_threshold(run.out_dir, chosen)
    except DataError as exc:
        st.session_state["decided_error"] = exc
        return
    st.session_state.pop("threshold", None)  # the slider starts again from the kept threshold


def show_costs(run: Run, result, classes: list[str], threshold: float) -> None:
    st.subheader("A threshold from what errors cost", anchor=False)
    by = st.radio(
        "Choose the threshold by",
        list(DECIDE_BY),
        format_func=DECIDE_BY.get,
        horizontal=True,
        key="decide_by",
    )
    y, p = result.y_val, result.output_val
    if by == "costs":
        left, right = st.columns(2)
        cost_fp = left.number_input(
            f"Cost of a false positive (a row called {md(classes[1])} that is not)",
            min_value=0.0,
            value=1.0,
            key="cost_fp",
        )
        cost_fn = right.number_input(
            f"Cost of a false negative (a {md(classes[1])} row missed)",
            min_value=0.0,
            value=1.0,
            key="cost_fn",
        )
        if cost_fp + cost_fn == 0:
            st.warning("Give at least one cost above 0.", icon=":material/warning:")
            return
        costs = calibrate.expected_costs(y, p, cost_fp, cost_fn)
        best = calibrate.cheapest(costs)
        chosen = best["threshold"]
        chart, table = st.columns([3, 2])
        chart.plotly_chart(plots.expected_cost(costs, chosen, threshold), key="expected_cost")
        table.dataframe(
            pd.DataFrame(costs),
            hide_index=True,
            column_config={
                "threshold": st.column_config.NumberColumn(format="%.2f"),
                "false_positives": "false positives",
                "false_negatives": "false negatives",
                "cost": st.column_config.NumberColumn("cost per row", format="%.4g"),
            },
        )
        said = (
            f"The cheapest threshold on the {len(y):,} validation rows is {chosen:g}: "
            f"{best['false_positives']} false positives and {best['false_negatives']} false "
            f"negatives, {best['cost']:.4g} per row on average."
        )
    else:
        target = st.number_input(
            f"Target {by}", min_value=0.01, max_value=1.0, value=0.9, step=0.01, key="target"
        )
        found = calibrate.threshold_for(y, p, by, target)
        if found is None:
            st.warning(
                f"No threshold reaches a {by} of {target:g} on the validation rows. Lower the "
                "target.",
                icon=":material/warning:",
            )
            return
        chosen = found
        reached = threshold_scores(y, p, chosen)
        said = (
            f"Threshold {chosen:g} reaches a {by} of {reached[by]:.3f} on the {len(y):,} "
            f"validation rows (precision {reached['precision']:.3f}, recall "
            f"{reached['recall']:.3f})."
        )
    keep, note = st.columns([1, 3], vertical_alignment="center")
    keep.button(
        f"Keep {chosen:g}",
        key="keep_decided",
        disabled=chosen == load_schema(result.files.schema).threshold,
        icon=":material/push_pin:",
        on_click=keep_decided,
        args=(run, chosen),
    )
    note.caption(f"{said} Keeping it makes it the run's threshold, as Keep this threshold does.")
    if error := st.session_state.pop("decided_error", None):
        show_error(error)


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
    show_calibration(run, result, task, classes)
    if task == "binary":
        show_gains(result, classes)
        show_costs(run, result, classes, threshold)

if importance := metrics.get("importance"):
    st.subheader("Which columns matter", anchor=False)
    st.caption(
        "Shuffling a column's values breaks its link to the target: the more the score "
        "suffers, the more the network relies on that column. "
        + md(importance_note(importance, validation["network"].get(importance["score"])))
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
