"""Data: load a table, then choose what to predict, how to use each column, scale and split."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

import streamlit as st

from nncore.config import ROLES, SCALINGS, TASKS
from nncore.data.ingest import is_workbook, with_sheet
from nncore.data.samples import SAMPLES, sample_csv
from nncore.errors import NNCoreError
from nncore.rules import SCALERS, SETTINGS
from ui import (
    DATA_WIDGETS,
    Keys,
    experiment_file,
    init_state,
    md,
    set_experiment,
    show_error,
    use_table,
    workspace,
)

if TYPE_CHECKING:  # pandas is imported once there is a table, not on a first visit
    import pandas as pd

    from nncore.data.columns import ColumnProfile

PREVIEW_ROWS = 50

TASK_LABELS = {
    "auto": "auto: decide from the target",
    "regression": "regression: predict a number",
    "binary": "binary: one of two classes",
    "multiclass": "multiclass: one of several classes",
}
SCALING_HELP = (
    "Scale your data before fitting: a network learns best when every input is on a similar "
    "scale, so a column in thousands does not drown one in fractions. The scaler learns its "
    "numbers from the training rows only and is saved with the model.  \n"
    + "  \n".join(f"**{s.label}**: {s.help}." for s in SCALERS.values())
)
ROLE_HELP = (
    "numeric: use the number; categorical: one input per value (one-hot); datetime: year, "
    "month, day, weekday (and hour); ignore: leave the column out."
)


def load(data: bytes, name: str, source: str | None = None, target: str = "") -> None:
    """Keep a table's bytes in the workspace and make them the session's dataset, predicting
    `target` (none until the user picks one, for an upload); on failure keep the old one and say
    why."""
    try:
        with st.spinner("Reading the table…"):
            loaded = workspace().add_table(data, name)
        use_table(loaded, source or loaded.how)
    except NNCoreError as exc:
        st.session_state[Keys.LOAD_ERROR] = exc
        return
    st.session_state[Keys.LOAD_ERROR] = None
    # Keep the scaling and split the user chose; the rest belongs to the old table.
    experiment = st.session_state[Keys.EXPERIMENT]
    set_experiment(
        experiment.replace(
            data=dataclasses.replace(
                experiment.data,
                target=target,
                task="auto",
                roles=(),
            )
        )
    )
    st.session_state[Keys.PLAN] = None
    for key in DATA_WIDGETS:
        st.session_state.pop(key, None)


def load_sample(name: str) -> None:
    sample = SAMPLES[name]
    source = f"{sample.description} A sample from scikit-learn."
    load(sample_csv(name), sample.title, source, sample.target)


def load_upload() -> None:
    upload = st.session_state["upload"]
    st.session_state.pop("sheet", None)
    if upload is None:
        st.session_state[Keys.LOAD_ERROR] = None
    else:
        sheets = workbook_sheets()
        load(upload.getvalue(), with_sheet(upload.name, sheets[0] if len(sheets) > 1 else None))


def load_sheet() -> None:
    upload = st.session_state["upload"]
    load(upload.getvalue(), with_sheet(upload.name, st.session_state["sheet"]))


def workbook_sheets() -> list[str]:
    """The sheets of the workbook in the uploader; none for another file or a refused one
    (whose refusal the load shows)."""
    upload = st.session_state.get("upload")
    if upload is None or not is_workbook(upload.name):
        return []
    from nncore.data.excel import sheet_names

    try:
        return sheet_names(upload.getvalue(), upload.name)
    except NNCoreError:
        return []


def seed(key: str, value: object) -> None:
    """Give widget `key` the stored setting `value`, unless the widget already holds one."""
    if key not in st.session_state:
        st.session_state[key] = value


def roles_table(
    profiles: list[ColumnProfile], target: str, overrides: dict[str, str]
) -> pd.DataFrame:
    """One row per column except the target: what it holds and the role it gets."""
    import pandas as pd

    rows = [p for p in profiles if p.name != target]
    return pd.DataFrame(
        {
            "kind": [p.kind for p in rows],
            "missing": [p.missing for p in rows],
            "unique": [p.unique for p in rows],
            "suggested": [p.role for p in rows],
            "role": [overrides.get(p.name, p.role) for p in rows],
            "reason": [p.reason for p in rows],
        },
        index=pd.Index([p.name for p in rows], name="column"),
    )


def role_overrides(edited: pd.DataFrame) -> tuple[tuple[str, str], ...]:
    """The (column, role) pairs where the user's role differs from the suggested one."""
    pairs = zip(edited.index, edited["role"], edited["suggested"], strict=True)
    return tuple(
        (column, role) for column, role, suggested in pairs if role in ROLES and role != suggested
    )


init_state()
st.title("Data")

# ------------------------------------------------------------------------------ load a table
samples, upload = st.columns([3, 2], gap="large")
with samples:
    st.markdown("**Try a sample** — one click loads it")
    for column, sample in zip(st.columns(len(SAMPLES)), SAMPLES.values(), strict=True):
        column.button(
            sample.title,
            key=f"sample_{sample.name}",
            help=sample.description,
            on_click=load_sample,
            args=(sample.name,),
            width="stretch",
        )
with upload:
    st.file_uploader(
        "**…or upload a CSV, an Excel workbook (.xlsx) or a Parquet file**",
        key="upload",
        on_change=load_upload,
    )
    if len(sheets := workbook_sheets()) > 1:
        st.selectbox("Sheet", sheets, key="sheet", on_change=load_sheet)

frame = st.session_state[Keys.DATASET]
if st.session_state[Keys.LOAD_ERROR] is not None:
    show_error(st.session_state[Keys.LOAD_ERROR])
    if frame is not None:
        st.caption(f"Still using {md(st.session_state[Keys.DATASET_NAME])}.")
if frame is None:
    st.info("Pick a sample or upload a CSV to begin.", icon=":material/upload_file:")
    st.stop()

# Below the stop: a first visit, with no table yet, does not wait for pandas to import.
from nncore.data.columns import profile_columns  # noqa: E402
from nncore.data.plan import missing_fills, plan_columns  # noqa: E402
from nncore.data.task import suggest_targets  # noqa: E402

st.subheader(md(st.session_state[Keys.DATASET_NAME]), anchor=False)
st.caption(
    f"{len(frame):,} rows × {frame.shape[1]:,} columns · "
    f"{md(st.session_state[Keys.DATASET_SOURCE])}"
)
st.dataframe(frame.head(PREVIEW_ROWS), height=240)

# ------------------------------------------------------------------- widgets -> data settings
spec = st.session_state[Keys.EXPERIMENT].data
if st.session_state[Keys.PROFILES] is None:  # a dataset put in place by other code
    st.session_state[Keys.PROFILES] = profile_columns(frame)
profiles = st.session_state[Keys.PROFILES]
columns = [str(c) for c in frame.columns]

st.subheader("What to predict", anchor=False)
target_col, task_col = st.columns(2)
seed("target", spec.target if spec.target in columns else None)
target = target_col.selectbox(
    "Target column",
    columns,
    index=None,
    key="target",
    placeholder="Choose the column to predict",
)
if target is None:  # a guess stated as the task would mislead: the user picks, the page suggests
    set_experiment(
        st.session_state[Keys.EXPERIMENT].replace(data=dataclasses.replace(spec, target=""))
    )
    st.session_state[Keys.PLAN] = None
    experiment_file()
    if suggestions := suggest_targets(frame, profiles):
        target_col.caption(
            "Likely targets:\n"
            + "\n".join(f"- **{md(column)}**: {md(reason)}" for column, reason in suggestions)
        )
    st.stop()
seed("task", spec.task)
task = task_col.selectbox(
    "Task",
    ("auto", *TASKS),
    key="task",
    format_func=TASK_LABELS.get,
    help="Leave on auto unless the guess is wrong, e.g. whole-number codes that are "
    "categories, not amounts.",
)
task_box = st.container()

st.subheader("Columns", anchor=False)
st.caption(
    "To change how a column is used, double-click its cell in the **role** column and pick "
    "another role; **ignore** leaves the column out."
)
edited = st.data_editor(
    roles_table(profiles, target, spec.role_overrides()),
    key="roles",
    disabled=("kind", "missing", "unique", "suggested", "reason"),
    column_config={
        "role": st.column_config.SelectboxColumn(
            "role", options=ROLES, required=True, help=ROLE_HELP
        ),
        "suggested": st.column_config.TextColumn("suggested"),
    },
    column_order=("kind", "missing", "unique", "suggested", "role", "reason"),
)
plan_box = st.container()

st.subheader("Scaling and split", anchor=False)
scale_col, split_col = st.columns(2)
seed("scaling", spec.scaling)
scaling = scale_col.radio(
    "Scaling of numeric columns",
    SCALINGS,
    key="scaling",
    format_func=lambda name: SCALERS[name].label,
    horizontal=True,
    help=SCALING_HELP,
)
seed("validation_fraction", spec.validation_fraction)
validation = split_col.slider(
    "Validation rows",
    SETTINGS["validation_fraction"].low,
    SETTINGS["validation_fraction"].high,
    step=SETTINGS["validation_fraction"].step,
    format="percent",
    key="validation_fraction",
    help=SETTINGS["validation_fraction"].help,
)
seed("test_fraction", spec.test_fraction)
test = split_col.slider(
    "Test rows",
    SETTINGS["test_fraction"].low,
    SETTINGS["test_fraction"].high,
    step=SETTINGS["test_fraction"].step,
    format="percent",
    key="test_fraction",
    help=SETTINGS["test_fraction"].help,
)

try:
    spec = dataclasses.replace(
        spec,
        target=target,
        task=task,
        roles=role_overrides(edited),
        scaling=scaling,
        validation_fraction=round(validation, 2),
        test_fraction=round(test, 2),
    )
except NNCoreError as exc:
    show_error(exc)
    st.stop()
set_experiment(st.session_state[Keys.EXPERIMENT].replace(data=spec))
experiment_file()

# ------------------------------------------------------------------------ engine -> render
try:
    plan = plan_columns(frame, spec, profiles)
except NNCoreError as exc:
    st.session_state[Keys.PLAN] = None
    with task_box:
        show_error(exc)
    st.stop()
st.session_state[Keys.PLAN] = plan

with task_box:
    st.markdown(f"**Task:** {md(plan.task_reason)}")
    if plan.classes:
        st.caption("Classes: " + md(", ".join(map(str, plan.classes))))
with plan_box:
    used = len(plan.features)
    st.caption(f"The model reads {used} column{'' if used == 1 else 's'}.")
    if fills := missing_fills(plan, profiles):
        st.markdown(
            "**Missing values** are filled in:\n"
            + "\n".join(
                f"- {md(column)} ({count:,} missing): {md(how)}" for column, count, how in fills
            )
        )
    if plan.excluded:
        st.markdown(
            "**Left out:**\n"
            + "\n".join(f"- {md(column)}: {md(reason)}" for column, reason in plan.excluded)
        )
    for warning in plan.warnings:
        st.warning(md(warning), icon=":material/warning:")

st.page_link("pages/model.py", label="Next: Model", icon=":material/arrow_forward:")
