"""Predict: download a trained model, or use it on new rows (a CSV file, or one row typed in).

Predictions run as jobs in a worker process (TensorFlow never loads in the server); this page
only reads the run's files, checks new rows against its schema and shows what comes back.
"""

import json
import math
from datetime import date, datetime
from pathlib import Path

import pandas as pd
import streamlit as st

from nncore import plots
from nncore.artifacts import codegen, runfiles, sheets
from nncore.artifacts.bundle import EXPORTS, bundle, export_download
from nncore.artifacts.formats import FORMATS, check_file, in_words
from nncore.artifacts.predict import with_interval
from nncore.artifacts.source import ModelSource, import_model_file
from nncore.data.drift import CHECKS, DRIFT_LEVELS
from nncore.data.schema import MISSING_CATEGORY, NumericInput, RawColumn, Schema
from nncore.errors import NNCoreError
from nncore.learn.explain import (
    BASE_VALUE,
    CONTRIBUTION,
    SHAP_MISSING,
    explained_output,
    shap_installed,
)
from nncore.run.jobs import Job
from nncore.run.predicting import Answer, Predictions
from ui import (
    RUN_POLL_SECONDS,
    Keys,
    Run,
    finished,
    init_state,
    job_runner,
    md,
    pick_run,
    read_table,
    show_error,
    workbench,
)

POLL_SECONDS = RUN_POLL_SECONDS
# A small file predicts in well under a second once its worker is up (a new worker first loads
# TensorFlow, a few seconds): a running job is waited for in place, this long at most; one
# queued behind a training is polled instead.
START_SECONDS = 1.0
WAIT_SECONDS = 15.0
DOWNLOADS = (  # file, widget key
    (runfiles.KERAS, "download_keras"),
    (runfiles.H5, "download_h5"),
    (runfiles.SCHEMA, "download_schema"),
    (runfiles.EXPERIMENT, "download_experiment"),
)
EARLIEST, LATEST = date(1900, 1, 1), date(2100, 12, 31)
# Page state: the predictions of each kind ("file", "row"), kept across page switches.
# "why": the contributions to the form's row, a job of its own after the prediction's, so the
# answer shows at once and its waterfall follows.
STATE = {"file": "predict_file_state", "row": "predict_row_state", "why": "predict_why_state"}
IMPORTED, IMPORT_ERROR = "imported_model", "import_error"  # a loaded model file and its refusal
COVERAGES = (0.5, 0.8, 0.9, 0.95, 0.99)  # offered for a regression model's intervals
COVERAGE = 0.9
EXPORT_JOBS = "export_jobs"  # (run id, format) -> the job making that export, until it ends


def slot(kind: str) -> Predictions:
    return st.session_state.setdefault(STATE[kind], Predictions())


def settle(kind: str) -> bool:
    """Wait a little for the job of `kind` and keep what it gives; True while it is running."""
    predictions = slot(kind)
    if predictions.job is not None and not predictions.job.done():
        with st.spinner("Explaining…" if kind == "why" else "Predicting…"):
            predictions.wait(START_SECONDS, WAIT_SECONDS)
    return predictions.settle()


def renew(kind: str, source: ModelSource, reference: str | None = None) -> None:
    """Predict again the rows on show when `source`'s threshold changed since (one kept on
    Evaluate), so they are labelled as the model labels rows now; explained again if they
    were (against `reference`)."""
    predictions = slot(kind)
    shown = predictions.shown
    if (
        predictions.job is None
        and shown is not None
        and shown.source.id == source.id
        and shown.source.schema.threshold != source.schema.threshold
    ):
        explain = reference if BASE_VALUE in shown.table.columns else None
        predictions.submit(job_runner, source, shown.rows, shown.label, explain)


@st.fragment(run_every=POLL_SECONDS)
def wait_for_prediction(kind: str) -> None:
    job: Job | None = slot(kind).job
    if job is None or job.done():
        st.rerun()  # once: the next run settles the job and draws no fragment
    position = job.queue_position()
    progress = job.progress() or {}
    doing = "Predicting…"
    if "rows" in progress:
        doing = f"Explaining: row {progress['rows_done']:,} of {progress['rows']:,}…"
    st.info(
        f"Waiting for a free worker: position {position} in the queue." if position else doing,
        icon=":material/hourglass_top:",
    )


def explain_reference(schema: Schema, run: Run | None) -> tuple[str | None, str]:
    """The training table (its file) to explain predictions against, or None and why not: a
    run's own table, else for a model file the table in use if it has the model's columns."""
    if not shap_installed():
        return None, SHAP_MISSING
    workspace = workbench().workspace
    table_id = run.record.table_id if run is not None else None
    if table_id is None:
        dataset = st.session_state[Keys.DATASET]
        if dataset is not None and {c.name for c in schema.columns} <= set(dataset.columns):
            table_id = st.session_state[Keys.TABLE]
    if table_id:
        try:
            return str(workspace.table_path(table_id)), ""
        except NNCoreError:
            pass  # the table is gone from the workspace
    return None, (
        "To explain predictions, load the model's training data on the Data page: each "
        "column's contribution is measured against a sample of its rows."
    )


def load_upload(source: ModelSource, reference: str | None) -> None:
    upload = st.session_state["predict_upload"]
    if upload is None:
        return  # a cleared uploader keeps the predictions on show
    try:
        frame, _ = read_table(upload.getvalue(), upload.name)
    except NNCoreError as exc:
        slot("file").refuse(source, exc)
        return
    explain = reference if st.session_state.get("predict_explain") else None
    slot("file").submit(job_runner, source, frame, upload.name, explain)


def explain_again(source: ModelSource, reference: str | None) -> None:
    """Predict the file on show again, with or without the contributions just asked for."""
    shown = slot("file").shown
    if shown is not None and shown.source.id == source.id:
        explain = reference if st.session_state["predict_explain"] else None
        slot("file").submit(job_runner, source, shown.rows, shown.label, explain)


def number_field(column: RawColumn, item: NumericInput, key: str) -> float:
    """A number starting at the training median; any value is taken (one outside the training
    range is predicted with a warning, not refused)."""
    known = math.isfinite(item.minimum)
    help_text = (f"From {item.minimum:g} to {item.maximum:g} in training; " if known else "") + (
        f"the median was {item.fill:g}."
    )
    if column.dtype.lower().startswith(("int", "uint")):
        return st.number_input(md(column.name), value=round(item.fill), key=key, help=help_text)
    span = item.maximum - item.minimum if known else 0.0
    step = 10.0 ** math.floor(math.log10(span / 100)) if span > 0 else 0.01
    return st.number_input(
        md(column.name), value=float(item.fill), step=step, format="%g", key=key, help=help_text
    )


def date_field(column: RawColumn, numbers: dict[str, NumericInput], key: str) -> str:
    """A date (and time, if training saw times) as ISO text, as a CSV would hold it."""
    typical = {
        part: round(numbers[f"{column.name}__{part}"].fill)
        for part in column.datetime_parts
        if f"{column.name}__{part}" in numbers
    }
    try:
        default = date(typical.get("year", 2000), typical.get("month", 1), typical.get("day", 1))
    except ValueError:  # e.g. a median of day 31 in a median month of 30 days
        default = date(typical.get("year", 2000), typical.get("month", 1), 28)
    default = min(max(default, EARLIEST), LATEST)
    help_text = "The model reads its " + ", ".join(column.datetime_parts) + "."
    if "hour" in column.datetime_parts:
        moment = datetime(default.year, default.month, default.day, typical.get("hour", 0))
        return st.datetime_input(
            md(column.name), moment, EARLIEST, LATEST, key=key, help=help_text
        ).isoformat(sep=" ")
    return st.date_input(
        md(column.name), default, EARLIEST, LATEST, key=key, help=help_text
    ).isoformat()


def start_export(run_id: str, name: str) -> None:
    try:
        job = workbench().start_export(run_id, name)
    except NNCoreError as exc:
        st.session_state[f"export_error_{name}"] = exc
        return
    st.session_state.setdefault(EXPORT_JOBS, {})[(run_id, name)] = job


@st.fragment(run_every=POLL_SECONDS)
def wait_for_exports() -> None:
    if all(job.done() for job in st.session_state[EXPORT_JOBS].values()):
        st.rerun()


def deployment_exports(files: runfiles.RunFiles, run_id: str) -> None:
    """A download per deployment format once it is made and checked; making one is a job."""
    st.caption(
        "For deployment: each export is made in a worker, then checked in a fresh process on "
        "the run's validation rows (rows drawn across the training ranges if its table is "
        "gone): it must predict what the .keras file predicts within 1e-5. Hover a download "
        "for what its caller must do first (the bundle's exports/prepare.py does it)."
    )
    jobs = st.session_state.setdefault(EXPORT_JOBS, {})
    for column, item in zip(st.columns(len(FORMATS)), FORMATS.values(), strict=True):
        job = jobs.get((run_id, item.name))
        if job is not None and job.done():
            del jobs[(run_id, item.name)]
            try:
                job.result(timeout=0)
            except NNCoreError as exc:
                st.session_state[f"export_error_{item.name}"] = exc
            job = None
        download = export_download(files, item.file_name)
        checked = check_file(files.folder / EXPORTS / item.file_name)
        with column:
            if (error := st.session_state.pop(f"export_error_{item.name}", None)) is not None:
                show_error(error)
            if job is not None:
                st.info(f"Making {item.name}…", icon=":material/hourglass_top:")
            elif download is not None and checked.exists():
                check = json.loads(checked.read_text())
                st.download_button(
                    download[1],
                    download[0],
                    file_name=download[1],
                    key=f"download_{item.name}",
                    on_click="ignore",
                    icon=":material/download:",
                    help=check["takes"],
                )
                st.caption(in_words(check) + ".")
            else:
                st.button(
                    f"Make {item.name}",
                    key=f"export_{item.name}",
                    on_click=start_export,
                    args=(run_id, item.name),
                    icon=":material/deployed_code:",
                )
    if any(key[0] == run_id for key in jobs):
        wait_for_exports()


def one_row_form(schema: Schema, key_prefix: str) -> pd.DataFrame | None:
    """A form with one field per column the model reads; the row once it is submitted."""
    numbers = {item.column: item for item in schema.numeric}
    categories = {item.column: item for item in schema.categorical}
    values = {}
    with st.form("one_row"):
        columns = st.columns(3)
        for i, column in enumerate(schema.columns):
            key = f"{key_prefix}_{i}"
            with columns[i % len(columns)]:
                if column.role == "numeric":
                    values[column.name] = number_field(column, numbers[column.name], key)
                elif column.role == "categorical":
                    item = categories[column.name]
                    options = item.categories
                    commonest = (
                        options.index(item.most_common) if item.most_common in options else 0
                    )
                    choice = st.selectbox(md(column.name), options, commonest, key=key)
                    values[column.name] = None if choice == MISSING_CATEGORY else choice
                else:
                    values[column.name] = date_field(column, numbers, key)
        submitted = st.form_submit_button("Predict", icon=":material/online_prediction:")
    return pd.DataFrame({name: [value] for name, value in values.items()}) if submitted else None


def interval_coverage(schema: Schema) -> float | None:
    """The coverage chosen for a regression model's intervals; None for a model without the
    validation errors they come from (a classifier, or one saved before intervals existed)."""
    residuals = schema.residuals if schema.target.task == "regression" else None
    options = [c for c in COVERAGES if residuals and c <= residuals.highest_coverage]
    if not options:
        return None
    return st.select_slider(
        "Prediction interval coverage",
        options,
        value=COVERAGE if COVERAGE in options else options[-1],
        format_func=lambda c: f"{c:.0%}",
        key="interval_coverage",
        help=f"Each prediction gets a lower and an upper bound holding the true value this often "
        f"(split conformal, from the errors on the {residuals.count:,} validation rows).",
    )


def show_row_prediction(predictions: pd.DataFrame, schema: Schema, coverage: float | None) -> None:
    answer = predictions.iloc[0]
    target = schema.target
    heading = md(f"Predicted {target.name}")
    if target.task == "regression":
        st.metric(heading, target.format(answer.iloc[0]))
        if coverage is not None:
            interval = with_interval(predictions, schema, coverage).iloc[0]
            st.caption(
                f"{coverage:.0%} prediction interval: {target.format(interval['lower'])} to "
                f"{target.format(interval['upper'])}."
            )
        return
    label, chart = st.columns([1, 3])
    label.metric(heading, str(answer.iloc[0]))
    chart.plotly_chart(
        plots.class_probabilities(
            target.classes,
            [float(answer[f"probability {c}"]) for c in target.classes],
            answer.iloc[0],
        ),
        key="row_probabilities",
    )


def warn_outside_training(answer: Answer) -> None:
    if answer.outside:
        st.warning(
            md(
                "Outside what the model was trained on, so predicted by extrapolation and less "
                "reliable: " + "; ".join(answer.outside) + "."
            ),
            icon=":material/warning:",
        )


def show_row_contributions(predictions: pd.DataFrame, row: pd.DataFrame, schema: Schema) -> None:
    """The waterfall of the row's contributions, with its numbers beside it."""
    answer = predictions.iloc[0]
    columns = [c.name for c in schema.columns]
    found = {c: float(answer[f"{CONTRIBUTION}{c}"]) for c in columns}
    output = explained_output(schema)
    if schema.target.task == "multiclass":
        output = f"the probability of {answer.iloc[0]}"
    chart, numbers = st.columns([3, 2])
    chart.plotly_chart(
        plots.waterfall(found, float(answer[BASE_VALUE]), output), key="row_waterfall"
    )
    table = pd.DataFrame(
        {
            "column": columns,
            "value": [str(row.iloc[0][c]) for c in columns],
            "contribution": list(found.values()),
        }
    )
    table = table.reindex(table["contribution"].abs().sort_values(ascending=False).index)
    base = {"column": "base value", "value": "", "contribution": float(answer[BASE_VALUE])}
    numbers.dataframe(pd.concat([pd.DataFrame([base]), table], ignore_index=True), hide_index=True)
    numbers.caption(
        md(
            f"The base value is the average of {output} over a sample of the training rows; "
            "each column's contribution moves it to this row's prediction (shap's permutation "
            "method, seeded)."
        )
    )


def show_checks(answer: Answer) -> None:
    """How many rows the model had to guess about, and each column's drift as a chart and a
    table."""
    flagged = int((answer.checks != "").sum())
    if flagged:
        st.caption(
            f"{flagged:,} row{'s' if flagged != 1 else ''} flagged in the {CHECKS} column: a "
            "number outside the training range, a category unseen in training or a missing "
            "input, which the model fills as in training."
        )
    table = answer.drift
    if table.empty:
        st.caption("No drift check: this model's schema.json keeps no training spread.")
        return
    moved = table[table["level"] != "stable"]
    words = (
        "Every column looks as it did in the training rows."
        if moved.empty
        else f"{len(moved)} of {len(table)} columns moved away from the training rows "
        f"({md(', '.join(moved['column']))}): predictions on these rows may be less reliable."
    )
    st.markdown(
        f"**Drift.** {words} The population stability index (PSI) compares each column's spread "
        "here with the training rows': under 0.1 stable, 0.1 to 0.25 some shift, above 0.25 a "
        f"large shift, and stable whatever its value when chance alone often gives it with "
        f"{len(answer.rows):,} rows."
    )
    chart, data = st.columns(2)
    bounds = [bound for bound, _ in DRIFT_LEVELS if bound > 0]
    chart.plotly_chart(plots.drift(table, bounds), key="drift_chart")
    data.dataframe(
        table,
        hide_index=True,
        key="drift_table",
        column_config={"PSI": st.column_config.NumberColumn(format="%.3f")},
    )


def labelling(schema: Schema) -> str:
    """How a binary model's rows get their class; nothing for other tasks."""
    if schema.target.task != "binary":
        return ""
    positive = md(str(schema.target.classes[1]))
    return f" Rows are labelled {positive} from P({positive}) ≥ {schema.threshold:g}."


def import_model() -> None:
    """Check an uploaded model file and its schema.json before anything loads them."""
    model, schema_file = st.session_state["model_file"], st.session_state["schema_file"]
    st.session_state[IMPORT_ERROR] = None
    if model is None or schema_file is None:
        return
    try:
        st.session_state[IMPORTED] = import_model_file(
            model.getvalue(),
            model.name,
            schema_file.getvalue(),
            schema_file.name,
            Path(st.session_state[Keys.WORK_DIR]),
        )
    except NNCoreError as exc:
        st.session_state[IMPORT_ERROR] = exc


def imported_source() -> ModelSource:
    """The uploader pair for a model file; stops the page until a usable pair is loaded."""
    left, right = st.columns(2)
    left.file_uploader("Model file (.keras or .h5)", key="model_file", on_change=import_model)
    right.file_uploader("Its schema.json", key="schema_file", on_change=import_model)
    st.caption(
        "Only files this studio saved are accepted: each is checked for unexpected content "
        "before anything loads it."
    )
    if (error := st.session_state.get(IMPORT_ERROR)) is not None:
        show_error(error)
    source = st.session_state.get(IMPORTED)
    if source is None:
        st.stop()
    return source


init_state()
st.title("Predict")
use_file = st.toggle(
    "Use a model file",
    # A new widget once the session has a run, so a visit before training leaves no "on".
    key=f"use_model_file_{bool(workbench().runs)}",
    value=not workbench().runs,
    help="Predict with a model.keras or model.h5 saved by this studio, with its schema.json.",
)
if use_file:
    if not workbench().runs:
        st.info(
            "Train a model first, or load a model file this studio saved.", icon=":material/info:"
        )
        st.page_link("pages/train.py")
    source = imported_source()
    schema = source.schema
    run = None
    st.caption(
        f"{md(source.name)} predicts **{md(schema.target.name)}** ({schema.target.task}) from "
        f"{len(schema.columns)} column{'s' if len(schema.columns) != 1 else ''}."
        + labelling(schema)
    )
else:
    source = None
if source is None:
    if not workbench().runs:
        st.info("Train a model first: predictions need a trained network.", icon=":material/info:")
        st.page_link("pages/train.py")
        st.stop()

    run = pick_run("predict_run")
    result = finished(run)
    try:
        source = ModelSource.of_run(run.id, run.name, run.out_dir)
    except NNCoreError as exc:  # the session's files are gone
        show_error(exc)
        st.stop()
    schema = source.schema
    target = schema.target
    st.caption(
        f"{md(run.name)} predicts **{md(target.name)}** ({target.task}) from "
        f"{len(schema.columns)} column{'s' if len(schema.columns) != 1 else ''}."
        + labelling(schema)
    )

    # --------------------------------------------------------------------------------- downloads
    st.subheader("Download the model", anchor=False)
    st.caption(
        "The .keras and .h5 files take raw rows (see schema.json); experiment.json reruns the "
        "training; the bundle adds the scores, the history, a prediction service (serve/) and "
        "the exports made below."
    )
    files = result.files
    buttons = st.columns(len(DOWNLOADS) + 1)
    for column, (name, key) in zip(buttons[:-1], DOWNLOADS, strict=True):
        column.download_button(
            name,
            (files.folder / name).read_bytes(),
            file_name=name,
            key=key,
            on_click="ignore",
            icon=":material/download:",
        )
    buttons[-1].download_button(
        "Everything (.zip)",
        bundle(files),
        file_name=f"{run.name.replace(' ', '-')}.zip",
        mime="application/zip",
        key="download_bundle",
        on_click="ignore",
        icon=":material/folder_zip:",
        type="primary",
    )
    deployment_exports(files, run.id)

    with st.expander("Show me the code", icon=":material/code:"):
        data_name = st.session_state[Keys.DATASET_NAME]
        script = codegen.render(
            run.experiment, schema, data_name if data_name.endswith(".csv") else "data.csv"
        )
        st.caption(
            "This training as a standalone script, step by step (read, split, scale, specify, "
            "compile, fit, evaluate, save, predict), with pandas, scikit-learn and Keras only. "
            "Run beside the CSV, it trains the same network."
        )
        st.download_button(
            codegen.script_name(schema),
            script,
            file_name=codegen.script_name(schema),
            mime="text/x-python",
            key="download_code",
            on_click="ignore",
            icon=":material/download:",
        )
        rows = st.session_state[Keys.DATASET]
        if rows is not None and not data_name.endswith(".csv"):  # a sample: rows for the script
            st.download_button(
                "data.csv",
                rows.to_csv(index=False),
                file_name="data.csv",
                mime="text/csv",
                key="download_code_data",
                on_click="ignore",
                icon=":material/table:",
            )
        st.code(script, language="python")

reference, no_reference = explain_reference(schema, run)
coverage = interval_coverage(schema)

# ------------------------------------------------------------------------------ a CSV file
st.subheader("Predict a CSV file", anchor=False)
needed = md(", ".join(column.name for column in schema.columns))
st.checkbox(
    "Explain each row",
    key="predict_explain",
    disabled=reference is None,
    on_change=explain_again,
    args=(source, reference),
    help=no_reference
    or f"Adds each column's contribution to {md(explained_output(schema))} "
    "(contribution_<column>) and the base value they start from; about a second per row.",
)
st.file_uploader(
    "Rows to predict",
    key="predict_upload",
    on_change=load_upload,
    args=(source, reference),
    help=f"A CSV, an Excel workbook (.xlsx, its first sheet) or a Parquet file. It needs the "
    f"columns {needed}; any others are ignored. Empty cells are allowed.",
)
state = slot("file")
state.follow(source)
renew("file", source, reference)
if settle("file"):
    wait_for_prediction("file")
if state.error is not None:
    show_error(state.error)
if (shown := state.shown) is not None:
    answered = shown.table
    if coverage is not None:
        answered = with_interval(answered, shown.source.schema, coverage)
    table = shown.beside_rows(answered)
    st.caption(
        f"{len(table):,} row{'s' if len(table) != 1 else ''} of {md(shown.label)}, "
        f"predicted by {md(shown.source.name)}."
    )
    warn_outside_training(shown)
    predicted = shown.source.schema.target
    st.dataframe(
        table,
        height=300,
        column_config={
            name: st.column_config.NumberColumn(format=f"%.{predicted.decimals}f")
            for name in (f"predicted {predicted.name}", "lower", "upper")
        }
        if predicted.decimals is not None
        else None,
    )
    st.download_button(
        "Download the predictions (.csv)",
        sheets.to_csv(table).encode("utf-8"),
        file_name=f"{Path(shown.label).stem}-predictions.csv",
        mime="text/csv",
        key="download_predictions",
        on_click="ignore",
        icon=":material/download:",
    )
    st.caption(
        "In the file, cells and column names that start with =, +, -, @, a tab or a carriage "
        "return are prefixed with ' so spreadsheet programs do not run them as formulas."
    )
    show_checks(shown)

# --------------------------------------------------------------------------------- one row
st.subheader("Predict one row", anchor=False)
row = one_row_form(schema, key_prefix=f"row_{source.id}")
if row is not None:
    slot("row").submit(job_runner, source, row, "the form")
    if reference is not None:
        slot("why").submit(job_runner, source, row, "the form", reference)
state = slot("row")
state.follow(source)
renew("row", source)
if settle("row"):
    wait_for_prediction("row")
if state.error is not None:
    show_error(state.error)
if state.shown is not None:
    show_row_prediction(state.shown.table, schema, coverage)
    warn_outside_training(state.shown)
    why = slot("why")
    if settle("why"):
        wait_for_prediction("why")
    if why.error is not None:
        show_error(why.error)
    if (
        why.shown is not None
        and why.shown.source.id == source.id
        and why.shown.rows.equals(state.shown.rows)
    ):
        show_row_contributions(why.shown.table, why.shown.rows, schema)
    elif no_reference:
        st.caption(md(no_reference))
