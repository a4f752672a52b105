"""Runs: every training of this session side by side; compare curves, download, restore."""

import time

import streamlit as st

from nncore import plots
from nncore.config import describe_layers
from nncore.run.session import Run, in_flight
from ui import init_state, md, restore, workbench

POLL_SECONDS = 2.0

init_state()
st.title("Runs")
bench = workbench()
runs = bench.runs
if not runs:
    st.info("Train a model first: every training of this session is listed here.")
    st.page_link("pages/train.py")
    st.stop()


def row(run: Run) -> dict:
    result = run.result()
    spec, training = run.experiment.compile, run.experiment.training
    return {
        "run": run.name,
        "status": run.job.status,
        "architecture": describe_layers(run.experiment.layers),
        "optimizer": f"{spec.optimizer} {spec.learning_rate:g}",
        "epochs": len(run.history()),
        "best score": run.score(),
        "watched": training.monitor,
        "stopped by": result.training.stopped_by if result else "",
        "started": time.strftime("%H:%M:%S", time.localtime(run.started)),
        "seconds": round(result.seconds, 1) if result else None,
    }


by_id = {r.id: r for r in reversed(runs)}
busy = in_flight(runs)


@st.fragment(run_every=POLL_SECONDS if busy else None)
def overview() -> None:
    """The table and the overlaid curves, redrawn while any run trains."""
    by_id = {r.id: r for r in reversed(runs)}  # a capacity search may add runs meanwhile
    for run in runs:
        run.job.touch()
    st.dataframe(
        [row(run) for run in reversed(runs)],
        hide_index=True,
        column_config={"best score": st.column_config.NumberColumn(format="%.4g")},
    )
    st.subheader("Compare", anchor=False)
    chosen = st.multiselect(
        "Runs to overlay",
        list(by_id),
        default=list(by_id)[:3],
        key="compare_runs",
        format_func=lambda i: by_id[i].name,
    )
    curves = {by_id[i].name: by_id[i].history() for i in chosen}
    logged = [logs for history in curves.values() for logs in history]
    names = plots.metric_names(logged) or ["loss"]
    metric = st.columns([1, 3])[0].selectbox(
        "Curve", names, key="compare_metric_runs", format_func=plots.metric_label
    )
    st.plotly_chart(plots.compare_curves(curves, metric), key="runs_chart")
    if busy and not in_flight(runs):
        st.rerun()  # once: the next full run finds nothing training and stops the timer


overview()

st.subheader("One run", anchor=False)
picked = by_id[
    st.selectbox("Run", list(by_id), key="runs_pick", format_func=lambda i: by_id[i].name)
]
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
