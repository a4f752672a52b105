"""Train: optimizer, loss and fitting settings; start a job and watch it learn, live."""

import dataclasses
import time
from functools import partial

import streamlit as st

from nncore import plots, rules
from nncore.config import CompileSpec, Experiment, TrainSpec, describe_layers, monitor_mode
from nncore.errors import NNCoreError
from nncore.learn.diagnostics import alerts
from nncore.rules import SEARCH_EPOCHS, SEARCH_MAX_MINUTES, SEARCH_MAX_TRIALS, SETTINGS
from ui import (
    CHART_SECONDS,
    MONITOR_SUGGESTED,
    Keys,
    Run,
    built_once,
    init_state,
    lineage_history,
    md,
    require,
    set_experiment,
    show_error,
    workbench,
)

POLL_SECONDS = 1.0
LEARNING_RATES = (1e-5, 3e-5, 1e-4, 3e-4, 1e-3, 3e-3, 0.01, 0.03, 0.1, 0.3, 1.0)
BATCH_SIZES = (8, 16, 32, 64, 128, 256, 512, 1024)
OPTIMIZER_HELP = " ".join(
    f"{o.name}{' (the default)' if o.name == SETTINGS['optimizer'].default else ''}: {o.help}."
    for o in rules.OPTIMIZERS.values()
)
FIND_HELP = (
    "Optuna searches hidden layers, units, activation, dropout, L2, optimizer, learning rate and "
    f"batch size for the minutes given (by default, more for more rows), each trial a run of at "
    f"most {SEARCH_EPOCHS} epochs, stopping those that trail early; then the best design trains "
    "with these settings' epochs and early stopping. Evaluate shows it beside gradient boosting "
    "and a linear model; the search's views are on Tune's Search tab."
)
INSIDE_HELP = (
    "Measured after each epoch (on very small data, after some: at most 5% of the training "
    "time goes to it). Dead: relu units that output zero for every validation row "
    "(they no longer learn). Saturated: sigmoid or tanh units stuck at their extremes on 99% of "
    "the rows, where they pass back under 1% of the gradient. Gradient norm: how strongly the "
    "loss pulls on each layer's weights, measured on the same training rows every epoch; when "
    "the first layers' lines lie decades below the last ones, the gradients vanish."
)

init_state()
st.title("Train")
require(Keys.DATASET, fix_page="pages/data.py", message="Load a CSV or pick a sample first.")
plan = st.session_state[Keys.PLAN]
if plan is None:
    st.info(
        "Choose a target on the Data step first, one a model can learn.", icon=":material/info:"
    )
    st.page_link("pages/data.py")
    st.stop()

experiment: Experiment = st.session_state[Keys.EXPERIMENT]
task = plan.task
counts = st.session_state[Keys.DATASET][plan.target].value_counts().tolist()
suggested = rules.default_monitor(task, counts)
# The suggestion is applied once per table and target, to a monitor still at the default, so a
# monitor the user chose (val_loss included) stays.
target_key = f"{st.session_state[Keys.TABLE]}:{plan.target}"
if st.session_state.get(MONITOR_SUGGESTED) != target_key:
    st.session_state[MONITOR_SUGGESTED] = target_key
    if experiment.training.monitor == SETTINGS["monitor"].default != suggested:
        training = dataclasses.replace(experiment.training, monitor=suggested)
        experiment = experiment.replace(training=training)
        set_experiment(experiment)
        st.session_state.pop("monitor", None)  # the widget takes the new value


def number(label: str, name: str, value: int, where=st, **options) -> int:
    """A whole-number input whose range and help are the setting's rule."""
    rule = SETTINGS[name]
    return where.number_input(
        label, rule.low, rule.high, value, key=name, help=rule.help, **options
    )


def compile_settings(saved: CompileSpec) -> CompileSpec:
    left, right = st.columns(2)
    optimizers = list(rules.OPTIMIZERS)
    optimizer = left.selectbox(
        "Optimizer",
        optimizers,
        index=optimizers.index(saved.optimizer),
        key="optimizer",
        help=OPTIMIZER_HELP,
    )
    rates = sorted({*LEARNING_RATES, saved.learning_rate})
    learning_rate = right.select_slider(
        "Learning rate",
        rates,
        value=saved.learning_rate,
        key="learning_rate",
        help=SETTINGS["learning_rate"].help,
        format_func=lambda v: f"{v:g}",
    )
    momentum, nesterov = 0.0, False
    takes = rules.OPTIMIZERS[optimizer]
    if takes.momentum:
        rule = SETTINGS["momentum"]
        momentum = left.slider(
            "Momentum",
            rule.low,
            rule.high,
            saved.momentum,
            rule.step,
            key="momentum",
            help=rule.help,
        )
    if takes.nesterov:
        nesterov = right.checkbox(
            "Nesterov momentum", saved.nesterov, key="nesterov", help=SETTINGS["nesterov"].help
        )
    fitting = rules.TASKS[task].losses
    losses = ("auto", *fitting)
    loss = left.selectbox(
        "Loss",
        losses,
        index=losses.index(saved.loss) if saved.loss in losses else 0,
        key="loss",
        format_func=lambda name: f"auto ({fitting[0]})" if name == "auto" else name,
        help="Only the losses that fit a "
        + task
        + " task are offered. "
        + " ".join(f"{name}: {rules.LOSSES[name].help}." for name in fitting),
    )
    return CompileSpec(optimizer, learning_rate, momentum, nesterov, loss)


def training_settings(saved: TrainSpec) -> TrainSpec:
    left, middle, right = st.columns(3)
    epochs = number("Epochs", "epochs", saved.epochs, left)
    sizes = sorted({*BATCH_SIZES, saved.batch_size})
    batch_size = middle.select_slider(
        "Batch size",
        sizes,
        value=saved.batch_size,
        key="batch_size",
        help=SETTINGS["batch_size"].help,
    )
    class_weight = saved.class_weight
    if task != "regression":
        balanced = right.checkbox(
            "Balance class weights",
            saved.class_weight == "balanced",
            key="class_weight",
            help=SETTINGS["class_weight"].help,
        )
        class_weight = "balanced" if balanced else "none"
    early = left.checkbox(
        "Early stopping",
        saved.early_stopping,
        key="early_stopping",
        help=SETTINGS["early_stopping"].help,
    )
    monitors = list(rules.monitors(task))
    monitor = middle.selectbox(
        "Watch",
        monitors,
        index=monitors.index(saved.monitor) if saved.monitor in monitors else 0,
        key="monitor",
        help=SETTINGS["monitor"].help,
    )
    patience = number("Patience (epochs)", "patience", saved.patience, right, disabled=not early)
    restore = left.checkbox(
        "Keep the best weights",
        saved.restore_best_weights,
        key="restore_best_weights",
        help=SETTINGS["restore_best_weights"].help,
    )
    reduce_lr = middle.checkbox(
        "Lower the learning rate on plateaus",
        saved.reduce_lr_on_plateau,
        key="reduce_lr",
        help=f"{SETTINGS['reduce_lr_on_plateau'].help} Here: times {saved.reduce_lr_factor:g} "
        f"after {saved.reduce_lr_patience} epochs without improvement.",
    )
    if rules.imbalanced(task, counts) and monitor == suggested:
        st.caption(
            f"The rarer class of {md(plan.target)} is "
            f"{min(counts) / sum(counts):.0%} of the rows. {rules.IMBALANCED.help}"
        )
    return TrainSpec(
        epochs=int(epochs),
        batch_size=int(batch_size),
        early_stopping=early,
        monitor=monitor,
        patience=int(patience),
        restore_best_weights=restore,
        reduce_lr_on_plateau=reduce_lr,
        class_weight=class_weight,
        min_delta=saved.min_delta,
        reduce_lr_factor=saved.reduce_lr_factor,
        reduce_lr_patience=saved.reduce_lr_patience,
    )


def best_epoch(history: list[dict], monitor: str) -> int | None:
    values = [h.get(monitor, h.get(monitor.removeprefix("val_"))) for h in history]
    values = [v for v in values if v is not None]
    if not values:
        return None
    pick = max if monitor_mode(monitor) == "max" else min
    return values.index(pick(values))


def show_status(run: Run, polling: bool) -> None:
    """Where the run is: its place in the queue, its progress with Stop, or how it ended."""
    status = run.status
    if polling and not run.in_flight:
        # Ended since the page was drawn: rerun it whole, which stops the polling and enables
        # Start again, and draws the end once instead of here and then again there.
        st.rerun()
    if status == "queued":
        position = run.queue_position()  # None if a trainer took it a moment ago
        where = f"position {position} in the queue" if position else "starting"
        st.info(
            f"{md(run.name)} is waiting for a free trainer: {where}.",
            icon=":material/hourglass_top:",
        )
    elif status == "running":
        progress = run.progress()  # None before the first report
        epochs = run.experiment.training.epochs
        # Epochs are numbered on from those of the runs it continues (Train more).
        epoch = progress.epoch + 1 if progress else run.first_epoch + 1
        steps = max(1, progress.steps) if progress else 1
        step = progress.step if progress else 0
        done = (epoch - 1 - run.first_epoch + step / steps) / epochs
        last = run.first_epoch + epochs
        st.progress(
            min(1.0, max(0.0, done)),
            text=f"{run.name}: epoch {epoch} of {last}, batch {step} of {steps}",
        )
        elapsed = run.elapsed
        eta = elapsed * (1 - done) / done if done > 0.01 else None
        cols = st.columns(3)
        cols[0].metric("Elapsed", f"{elapsed:.0f} s")
        cols[1].metric("Remaining (at most)", f"{eta:.0f} s" if eta is not None else "…")
        cols[2].metric(
            "Samples per second", f"{progress.samples_per_second if progress else 0:,.0f}"
        )
        st.button("Stop", key="stop", on_click=run.stop, icon=":material/stop:")
    elif status == "failed":
        st.error(md(run.error() or "The training failed."), icon=":material/error:")
    elif status == "interrupted":
        st.warning(md(run.error() or "The training was interrupted."), icon=":material/warning:")
        st.page_link(
            "pages/evaluate.py", label="Evaluate its best weights", icon=":material/insights:"
        )
    elif (result := run.result()) is not None:
        text = result.message or f"Finished {len(result.history)} epochs."
        st.success(f"{md(run.name)}: {md(text)}", icon=":material/check_circle:")
        st.page_link("pages/evaluate.py", label="See how well it does", icon=":material/insights:")


def show_charts(run: Run) -> None:
    """The curves per epoch and the network's insides, as far as the run has got."""
    result = None if run.in_flight else run.result()
    diagnostics = run.curves()[1]
    history = lineage_history(run, workbench().runs)
    if task == "regression" and run.experiment.data.scale_target:
        st.caption(
            "The network learns a standardized target (mean 0, spread 1), so the losses and "
            "errors below are in those units; Evaluate reports them in the target's own units."
        )
    # Each figure is built just before it is sent, so the loss chart reaches the browser while
    # the others are still being built (after a reload, the first chart is back sooner).
    best = best_epoch(history, run.experiment.training.monitor)
    stopped = (
        len(history) - 1
        if result is not None and result.training.stopped_by == "early_stopping"
        else None
    )
    metrics = plots.metric_names(history) or ["loss"]
    columns = st.columns(min(len(metrics), 3))
    for i, metric in enumerate(metrics):
        figure = built_once(
            f"live_{metric}",
            (run.id, len(history), stopped),
            partial(plots.training_curves, history, metric, best_epoch=best, stopped_epoch=stopped),
        )
        columns[i % len(columns)].plotly_chart(figure, key=f"curve_{metric}")
    if any(diagnostics):
        st.subheader("Inside the network", help=INSIDE_HELP)
        for alert in alerts(diagnostics):
            st.warning(md(alert.message), icon=":material/warning:")
        left, right = st.columns(2)
        stamp = (run.id, len(diagnostics))
        health = built_once("live_health", stamp, partial(plots.unit_health, diagnostics))
        left.plotly_chart(health, key="unit_health")
        norms = built_once("live_norms", stamp, partial(plots.gradient_norms, diagnostics))
        right.plotly_chart(norms, key="gradient_norms")


def learned_elsewhere(run: Run) -> str | None:
    """Why the run's curves are not shown here: it learned from another table or target than
    the ones in use (None when it learned from them, or its record does not say)."""
    record = run.record
    if not record.table_id or (
        record.table_id == st.session_state[Keys.TABLE] and record.target == plan.target
    ):
        return None
    return (
        f"{md(run.name)} learned from {md(record.table_name)} (target {md(record.target)}), not "
        f"from the data in use, {md(st.session_state[Keys.DATASET_NAME])} (target "
        f"{md(plan.target)}): its curves are not shown here. Its results are on Evaluate and Runs."
    )


def find_network(experiment: Experiment) -> None:
    """One button: a search sized for the data, then its best design trained to completion."""
    bench = workbench()
    record = bench.network_search
    searching = record is not None and record.running
    st.subheader("Find me a network", help=FIND_HELP)
    left, middle, right = st.columns(3, vertical_alignment="bottom")
    rows = len(st.session_state[Keys.DATASET])
    minutes = left.number_input(
        "Minutes", 1, SEARCH_MAX_MINUTES, rules.find_minutes(rows), key="find_minutes"
    )
    trials = middle.number_input(
        "Trials at most",
        1,
        SEARCH_MAX_TRIALS,
        None,
        key="find_trials",
        placeholder="as time allows",
    )
    if right.button(
        "Find me a network",
        key="find_network",
        disabled=busy or searching,
        icon=":material/auto_awesome:",
    ):
        try:
            experiment.compile.resolved_loss(task)
            bench.find_network(experiment, float(minutes), trials and int(trials))
            st.rerun()
        except NNCoreError as exc:
            st.session_state["find_error"] = exc
    if error := st.session_state.pop("find_error", None):
        show_error(error)
    if record is None or record.search.finish is None:
        return
    drawn = (searching, len(record.runs), record.search.final_run)

    @st.fragment(run_every=POLL_SECONDS if searching else None)
    def find_status() -> None:
        search = record.search
        if (record.running, len(record.runs), search.final_run) != drawn:
            st.rerun()  # a trial or the final run started: the run above is to show it
        best, ended = search.best(), len(search.ended_trials())
        if record.running:
            so_far = f"; best {search.monitor} so far {best.value:.4g}" if best else ""
            st.info(
                f"Searching: trial {len(record.runs) - 1} training, {ended} ended{so_far}.",
                icon=":material/hourglass_top:",
            )
            st.button(
                "Stop the search",
                key="find_stop",
                on_click=lambda: bench.stop_network_search(wait=False),
            )
        elif record.error:
            st.error(md(record.error), icon=":material/error:")
        elif record.resumable:
            st.warning(
                f"The server stopped while this search ran, after {ended} ended trials. Resume "
                "it on Tune's Search tab: it goes on from them, then trains the best.",
                icon=":material/warning:",
            )
        final = next((r for r in bench.runs if r.id == search.final_run), None)
        if final is None:
            return
        if final.in_flight:
            st.info(
                f"{md(final.name)} trains the best design to completion, with early stopping.",
                icon=":material/hourglass_top:",
            )
        elif run is not None and run.id == final.id:
            st.success(
                f"{md(final.name)}: {md(final.experiment.origin)}, trained to completion.",
                icon=":material/star:",
            )
            st.page_link(
                "pages/evaluate.py",
                label="Compare it with gradient boosting and a linear model",
                icon=":material/insights:",
            )
        elif st.button(f"Show {final.name}, the search's best", key="find_show"):
            bench.choose(final.id)
            st.rerun()
        st.page_link("pages/tune.py", label="The search's trials", icon=":material/search:")

    find_status()


run = workbench().current_run()
busy = run is not None and run.in_flight
elsewhere = run and learned_elsewhere(run)
# The live run is drawn first, though the page shows it below the settings: its charts reach the
# browser before the settings' widgets are built (after a reload, they are back sooner).
settings_area = st.container()
if run is not None:
    st.subheader(f"Training: {run.name}")

    # Two fragments: the progress line is cheap and polls every second; the charts cost the
    # server and the browser more and redraw less often, so watching does not slow training.
    @st.fragment(run_every=POLL_SECONDS if busy else None)
    def status_line() -> None:
        show_status(run, polling=busy)

    @st.fragment(run_every=CHART_SECONDS if busy else None)
    def charts() -> None:
        show_charts(run)

    if elsewhere:
        st.info(elsewhere, icon=":material/info:")
    if busy or not elsewhere:  # a run in flight keeps its progress and Stop, whatever its data
        status_line()
    if not elsewhere:
        charts()
    started = time.strftime("%H:%M:%S", time.localtime(run.started))
    st.caption(f"{md(run.name)} started at {started}; its files are kept in this workspace.")

with settings_area:
    # Folded away while a run trains, so its live charts are in view.
    with st.expander("Settings", expanded=not busy, icon=":material/tune:"):
        st.subheader("Compile")
        try:
            compile_spec = compile_settings(experiment.compile)
        except NNCoreError as exc:
            show_error(exc)
            compile_spec = experiment.compile
        st.subheader("Fit")
        try:
            train_spec = training_settings(experiment.training)
        except NNCoreError as exc:
            show_error(exc)
            train_spec = experiment.training
        seed = number("Seed", "seed", experiment.seed)

    experiment = experiment.replace(
        compile=compile_spec,
        training=train_spec,
        seed=int(seed),
    )
    set_experiment(experiment)
    st.caption(
        f"Network: {plan.task} on {len(plan.features)} columns; "
        f"hidden layers: {describe_layers(experiment.layers)}."
    )

    # A plain button, not a callback: this run of the script already holds every widget's latest
    # value, so the experiment started is exactly the one on screen.
    if st.button(
        "Start training", key="start", type="primary", disabled=busy, icon=":material/play_arrow:"
    ):
        try:
            experiment.compile.resolved_loss(task)
            workbench().start_run(experiment, table_id=st.session_state[Keys.TABLE])
            st.rerun()
        except NNCoreError as exc:
            st.session_state["start_error"] = exc
    if error := st.session_state.pop("start_error", None):
        show_error(error)

    find_network(experiment)
