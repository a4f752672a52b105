"""Runs: every training of this workspace side by side; compare curves, download, restore,
train more, delete."""

import time

import streamlit as st

from nncore import plots
from nncore.config import describe_layers
from nncore.errors import NNCoreError
from nncore.rules import SETTINGS
from nncore.run.session import Run
from ui import (
    Keys,
    init_state,
    lineage_history,
    md,
    remember,
    restore,
    seeded_widget,
    show_error,
    use_table,
    workbench,
)

POLL_SECONDS = 2.0
# Runs that have weights to go on from: Train more continues them.
CONTINUABLE = ("finished", "stopped", "interrupted")
RUNS_NOTE = "runs_note"  # what the last action on a run did, shown once
# The id of the run whose settings would change the table or target: its restore waits for the
# user to confirm that change.
RESTORE_OFFER = "restore_offer"

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
    record = run.record
    units = {True: "standardised target", False: "", None: ""}[run.standardised]
    return {
        "run": run.name,
        "status": run.status,
        "dataset": record.table_name,
        "rows": record.table_rows,
        "target": record.target,
        "architecture": describe_layers(run.experiment.layers),
        "optimizer": f"{spec.optimizer} {spec.learning_rate:g}",
        "epochs": len(run.history()),
        "best score": run.score(),
        "score in": units,
        "watched": training.monitor,
        "stopped by": result.training.stopped_by if result else "",
        "started": time.strftime("%H:%M:%S", time.localtime(run.started)),
        "training seconds": None if run.seconds is None else round(run.seconds, 1),
    }


busy = any(run.in_flight for run in runs)


@st.fragment(run_every=POLL_SECONDS if busy else None)
def overview() -> None:
    """The table and the overlaid curves, redrawn while any run trains."""
    runs = bench.runs  # a capacity search, another tab or the command line may add runs
    table = [row(run) for run in reversed(runs)]
    st.dataframe(
        table,
        hide_index=True,
        column_config={"best score": st.column_config.NumberColumn(format="%.4g")},
    )
    if any(line["score in"] for line in table):
        st.caption(
            "A regression trained on a standardised target (mean 0, spread 1) is scored in those "
            "units here; Evaluate gives its scores in the target's own units."
        )
    st.subheader("Compare", anchor=False)
    # Only curves on the same data and target compare: a loss on one table says nothing of a
    # loss on another, or of another target's.
    current = bench.current_run().record
    apart = {run.id: current.other_data(run.record) for run in runs if run.id != current.id}
    by_id = {r.id: r for r in reversed(runs) if not apart.get(r.id)}
    if st.session_state.get("compare_newest") != (current.id, runs[-1].id):
        # A new run (a Train more, another tab's) or another current run: the three newest.
        st.session_state["compare_newest"] = (current.id, runs[-1].id)
        st.session_state["compare_runs"] = list(by_id)[:3]
    st.session_state["compare_runs"] = [
        i for i in st.session_state.get("compare_runs", []) if i in by_id
    ]  # a run deleted since
    chosen = st.multiselect(
        "Runs to overlay",
        list(by_id),
        key="compare_runs",
        format_func=lambda i: by_id[i].name,
        help=f"The runs trained on the same data and target as {current.name}, the current one.",
    )
    if others := {i: why for i, why in apart.items() if why}:
        names = {r.id: r.name for r in runs}
        st.caption(
            f"Not comparable with {md(current.name)} ({md(current.table_name)}, predicting "
            f"{md(current.target)}), so not overlaid:  \n"
            + "  \n".join(f"{md(names[i])}: {md(why)}" for i, why in others.items())
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


def other_data(run: Run) -> str:
    """Why restoring `run`'s settings would change the table or target in use; "" if not."""
    record, target = run.record, st.session_state[Keys.EXPERIMENT].data.target
    if record.table_id != st.session_state[Keys.TABLE]:
        loaded = st.session_state[Keys.DATASET_NAME] or "none"
        trained_on = record.table_name or "a table it did not record"
        return f"{run.name} was trained on {trained_on}; the table loaded is {loaded}"
    if target and record.target != target:  # with none chosen yet, the run's is no change
        return f"{run.name} predicts {record.target}; the target now is {target}"
    return ""


def restore_settings(run: Run) -> str | None:
    """Restore `run`'s settings when they fit the table and target in use; else offer to load
    its table and target with them, or refuse when the workspace no longer has that table."""
    if not (why := other_data(run)):
        return adopt_run(run)
    table_id = run.record.table_id
    if table_id != st.session_state[Keys.TABLE] and all(
        t.id != table_id for t in bench.workspace.tables()
    ):
        raise NNCoreError(
            f"{why}, which this workspace no longer has: nothing was restored. Upload "
            f"{run.record.table_name or 'that table'} again, then restore its settings."
        )
    st.session_state[RESTORE_OFFER] = run.id
    return None


def restore_with_data(run: Run) -> str:
    """Load the table `run` was trained on (when it is not the one in use), then its settings,
    target included: what the user confirmed."""
    st.session_state.pop(RESTORE_OFFER, None)
    record = run.record
    if record.table_id == st.session_state[Keys.TABLE]:
        return adopt_run(run)
    loaded = bench.workspace.load_table(record.table_id)
    bench.workspace.choose_table(record.table_id)
    use_table(loaded, loaded.how)
    return f"Loaded {loaded.info.name}. " + adopt_run(run)


def adopt_run(run: Run) -> str:
    restore(run.experiment)
    bench.choose(run.id)
    for key in [k for k in st.session_state if seeded_widget(k)]:
        del st.session_state[key]  # the pages seed them afresh from the restored settings
    return (
        f"Restored the settings of {run.name}, predicting {run.record.target}: see them on the "
        "Data, Model and Train pages."
    )


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
restore_box.button(
    "Restore its settings",
    key="restore",
    icon=":material/restore:",
    help="Make its data settings, layers and training settings the current ones, so the Data, "
    "Model and Train pages show them and Start training reruns it.",
    on_click=attempt,
    args=(restore_settings, picked),
)
if st.session_state.get(RESTORE_OFFER) == picked.id and (why := other_data(picked)):
    record = picked.record
    with restore_box:
        st.warning(
            f"{md(why)}. Its settings would change the table or target in use, so nothing was "
            "restored yet.",
            icon=":material/warning:",
        )
        st.button(
            md(
                f"Load {record.table_name} and its settings, predicting {record.target}"
                if record.table_id != st.session_state[Keys.TABLE]
                else f"Restore its settings, predicting {record.target}"
            ),
            key="restore_with_data",
            icon=":material/restore:",
            on_click=attempt,
            args=(restore_with_data, picked),
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
