"""Runs: every training of this workspace side by side; compare curves, download, restore,
train more, delete."""

import time

import streamlit as st

from nncore import plots
from nncore.config import describe_layers
from nncore.errors import NNCoreError
from nncore.rules import SETTINGS
from nncore.run.session import Run
from ui import init_state, lineage_history, md, remember, restore, show_error, workbench

POLL_SECONDS = 2.0
# Runs that have weights to go on from: Train more continues them.
CONTINUABLE = ("finished", "stopped", "interrupted")
RUNS_NOTE = "runs_note"  # what the last action on a run did, shown once

init_state()
st.title("Runs")
bench = workbench()
runs = bench.runs
if not runs:
    st.info("Train a model first: every training of this workspace is listed here.")
    st.page_link("pages/train.py")
    st.stop()


def row(run: Run) -> dict:
    result = None if run.in_flight else run.result()
    spec, training = run.experiment.compile, run.experiment.training
    return {
        "run": run.name,
        "status": run.status,
        "dataset": run.record.table_name,
        "target": run.record.target,
        "architecture": describe_layers(run.experiment.layers),
        "optimizer": f"{spec.optimizer} {spec.learning_rate:g}",
        "epochs": len(run.history()),
        "best score": run.score(),
        "watched": training.monitor,
        "stopped by": result.training.stopped_by if result else "",
        "started": time.strftime("%H:%M:%S", time.localtime(run.started)),
        "seconds": round(result.seconds, 1) if result else None,
    }


busy = any(run.in_flight for run in runs)


@st.fragment(run_every=POLL_SECONDS if busy else None)
def overview() -> None:
    """The table and the overlaid curves, redrawn while any run trains."""
    runs = bench.runs  # a capacity search, another tab or the command line may add runs
    by_id = {r.id: r for r in reversed(runs)}
    st.dataframe(
        [row(run) for run in reversed(runs)],
        hide_index=True,
        column_config={"best score": st.column_config.NumberColumn(format="%.4g")},
    )
    st.subheader("Compare", anchor=False)
    if st.session_state.get("compare_newest") != runs[-1].id:
        # A new run (a Train more, another tab's) joins the overlay: the three newest.
        st.session_state["compare_newest"] = runs[-1].id
        st.session_state["compare_runs"] = list(by_id)[:3]
    chosen = st.multiselect(
        "Runs to overlay", list(by_id), key="compare_runs", format_func=lambda i: by_id[i].name
    )
    # A continued run is drawn on from its parent's epochs, as one line.
    curves = {by_id[i].name: lineage_history(by_id[i], runs) for i in chosen}
    logged = [logs for history in curves.values() for logs in history]
    names = plots.metric_names(logged) or ["loss"]
    metric = st.columns([1, 3])[0].selectbox(
        "Curve", names, key="compare_metric_runs", format_func=plots.metric_label
    )
    st.plotly_chart(plots.compare_curves(curves, metric), key="runs_chart")
    if busy and not any(run.in_flight for run in runs):
        st.rerun()  # once: the next full run finds nothing training and stops the timer


def attempt(action, *args) -> None:
    """Run a button's action; what it did, or why it could not, is shown after the rerun."""
    try:
        st.session_state[RUNS_NOTE] = action(*args)
    except NNCoreError as exc:
        st.session_state[RUNS_NOTE] = exc


def train_more(run: Run, epochs: int) -> str:
    more = bench.train_more(run.id, epochs)
    bench.choose(more.id)
    return f"Started {more.name}: watch it on the Train page."


def delete(run: Run) -> str:
    bench.delete_run(run.id)
    st.session_state.pop("runs_pick", None)
    return f"Deleted {run.name} and its files."


overview()

note = st.session_state.pop(RUNS_NOTE, None)
if isinstance(note, NNCoreError):
    show_error(note)
elif note:
    st.success(md(note), icon=":material/check_circle:")

st.subheader("One run", anchor=False)
by_id = {r.id: r for r in reversed(runs)}
picked = by_id[
    st.selectbox("Run", list(by_id), key="runs_pick", format_func=lambda i: by_id[i].name)
]
if error := picked.error():
    st.caption(f"{md(picked.name)} is {picked.status}: {md(error)}")
download_box, restore_box = st.columns(2)
download_box.download_button(
    "Download experiment.json",
    picked.experiment.to_json(),
    file_name=f"{picked.name.split(' · ')[0].replace(' ', '-')}-experiment.json",
    mime="application/json",
    key="download_experiment",
    icon=":material/download:",
)
if restore_box.button(
    "Restore its settings",
    key="restore",
    icon=":material/restore:",
    help="Make its data settings, layers and training settings the current ones, so the Data, "
    "Model and Train pages show them and Start training reruns it.",
):
    restore(picked.experiment)
    bench.choose(picked.id)
    st.success(
        f"Restored the settings of {md(picked.name)}: see them on the Model and Train pages.",
        icon=":material/check:",
    )

more_box, delete_box = st.columns(2)
with more_box:
    rule = SETTINGS["epochs"]
    remember("more_epochs", 50)
    epochs = st.number_input(
        "More epochs",
        rule.low,
        rule.high,
        key="more_epochs",
        help="Go on from this run's weights and optimizer state, as a new run whose curves "
        "continue this one's.",
    )
    st.button(
        "Train more",
        key="train_more",
        icon=":material/resume:",
        disabled=picked.status not in CONTINUABLE,
        on_click=attempt,
        args=(train_more, picked, int(epochs)),
    )
# In a popover: one stray click deletes nothing.
with delete_box.popover(
    "Delete…",
    icon=":material/delete:",
    disabled=picked.in_flight,
    help="Remove the run and its files from this workspace. A run in training cannot be "
    "deleted: stop it first.",
):
    st.button(
        f"Delete {picked.name} and its files",
        key="delete_run",
        type="primary",
        on_click=attempt,
        args=(delete, picked),
    )
