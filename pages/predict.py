"""Predict: download a trained model, or use it on new rows (a CSV file, or one row typed in).

Predictions run as jobs in a worker process (TensorFlow never loads in the server); this page
only reads the run's files, checks new rows against its schema and shows what comes back.
"""

import math
from datetime import date, datetime
from pathlib import Path

import pandas as pd
import streamlit as st

from nncore import plots
from nncore.artifacts import codegen, runfiles, sheets
from nncore.artifacts.bundle import bundle
from nncore.artifacts.source import ModelSource, import_model_file
from nncore.data.schema import MISSING_CATEGORY, NumericInput, RawColumn, Schema
from nncore.errors import NNCoreError
from nncore.run.jobs import Job
from nncore.run.predicting import Answer, Predictions
from ui import (
    RUN_POLL_SECONDS,
    Keys,
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
STATE = {"file": "predict_file_state", "row": "predict_row_state"}
IMPORTED, IMPORT_ERROR = "imported_model", "import_error"  # a loaded model file and its refusal


def slot(kind: str) -> Predictions:
    return st.session_state.setdefault(STATE[kind], Predictions())


def settle(kind: str) -> bool:
    """Wait a little for the job of `kind` and keep what it gives; True while it is running."""
    predictions = slot(kind)
    if predictions.job is not None and not predictions.job.done():
        with st.spinner("Predicting…"):
            predictions.wait(START_SECONDS, WAIT_SECONDS)
    return predictions.settle()


def renew(kind: str, source: ModelSource) -> None:
    """Predict again the rows on show when `source`'s threshold changed since (one kept on
    Evaluate), so they are labelled as the model labels rows now."""
    predictions = slot(kind)
    shown = predictions.shown
    if (
        predictions.job is None
        and shown is not None
        and shown.source.id == source.id
        and shown.source.schema.threshold != source.schema.threshold
    ):
        predictions.submit(job_runner, source, shown.rows, shown.label)


@st.fragment(run_every=POLL_SECONDS)
def wait_for_prediction(kind: str) -> None:
    job: Job | None = slot(kind).job
    if job is None or job.done():
        st.rerun()  # once: the next run settles the job and draws no fragment
    position = job.queue_position()
    st.info(
        f"Waiting for a free worker: position {position} in the queue."
        if position
        else "Predicting…",
        icon=":material/hourglass_top:",
    )


def load_upload(source: ModelSource) -> None:
    upload = st.session_state["predict_upload"]
    if upload is None:
        return  # a cleared uploader keeps the predictions on show
    try:
        frame, _ = read_table(upload.getvalue(), upload.name)
    except NNCoreError as exc:
        slot("file").refuse(source, exc)
        return
    slot("file").submit(job_runner, source, frame, upload.name)


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


def show_row_prediction(predictions: pd.DataFrame, schema: Schema) -> None:
    answer = predictions.iloc[0]
    target = schema.target
    heading = md(f"Predicted {target.name}")
    if target.task == "regression":
        st.metric(heading, target.format(answer.iloc[0]))
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
        "training; the bundle adds the scores and the history."
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

# ------------------------------------------------------------------------------ a CSV file
st.subheader("Predict a CSV file", anchor=False)
needed = md(", ".join(column.name for column in schema.columns))
st.file_uploader(
    "Rows to predict",
    key="predict_upload",
    on_change=load_upload,
    args=(source,),
    help=f"A CSV, an Excel workbook (.xlsx, its first sheet) or a Parquet file. It needs the "
    f"columns {needed}; any others are ignored. Empty cells are allowed.",
)
state = slot("file")
state.follow(source)
renew("file", source)
if settle("file"):
    wait_for_prediction("file")
if state.error is not None:
    show_error(state.error)
if (shown := state.shown) is not None:
    table = shown.beside_rows()
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
            f"predicted {predicted.name}": st.column_config.NumberColumn(
                format=f"%.{predicted.decimals}f"
            )
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

# --------------------------------------------------------------------------------- one row
st.subheader("Predict one row", anchor=False)
row = one_row_form(schema, key_prefix=f"row_{source.id}")
if row is not None:
    slot("row").submit(job_runner, source, row, "the form")
state = slot("row")
state.follow(source)
renew("row", source)
if settle("row"):
    wait_for_prediction("row")
if state.error is not None:
    show_error(state.error)
if state.shown is not None:
    show_row_prediction(state.shown.table, schema)
    warn_outside_training(state.shown)
