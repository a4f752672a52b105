"""Tune: try several learning rates, test a growing rate, grow the network; adopt the best.
Cross-validate the design to see how much its score moves from one part of the rows to another."""

import dataclasses

import streamlit as st

from nncore import plots
from nncore.config import OPTIMIZERS, Experiment, describe_layers
from nncore.errors import NNCoreError
from nncore.rules import (
    SEARCH_EPOCHS,
    SEARCH_MAX_MINUTES,
    SEARCH_MAX_TRIALS,
    SEARCH_SPACE,
    SETTINGS,
    compare_on,
)
from nncore.run.crossval import CrossValidation
from nncore.run.range_test import RULE, RangeTestSpec
from nncore.run.rates import MAX_TRIALS, learning_rates
from nncore.run.search import search_space
from nncore.run.session import Run, sweep_pick
from ui import (
    CHART_SECONDS,
    Keys,
    adopt,
    built_once,
    init_state,
    md,
    remember,
    require,
    show_error,
    workbench,
)

POLL_SECONDS = 1.0
RATES = (1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 0.1, 1.0, 10.0)
START_UNITS = (2, 4, 8, 16, 32, 64)

init_state()
st.title("Tune")
require(Keys.DATASET, fix_page="pages/data.py", message="Load a CSV or pick a sample first.")
if st.session_state[Keys.PLAN] is None:
    st.info(
        "Choose a target on the Data step first, one a model can learn.", icon=":material/info:"
    )
    st.page_link("pages/data.py")
    st.stop()

experiment: Experiment = st.session_state[Keys.EXPERIMENT]
bench = workbench()
frame = st.session_state[Keys.DATASET]
monitor = experiment.training.monitor
st.caption(
    f"Trials train the current design ({md(describe_layers(experiment.layers))}; "
    f"{experiment.compile.optimizer} at {experiment.compile.learning_rate:g}) with seed "
    f"{experiment.seed}: all learn from the same rows and are judged by {monitor} on the same "
    "validation rows. Each trial is a run that Runs, Evaluate and Predict show."
)


def with_epochs(key: str) -> Experiment:
    """The current experiment with the epochs chosen under `key` for each trial."""
    remember(key, min(experiment.training.epochs, 50))
    epochs = st.number_input(
        "Epochs per trial",
        1,
        10_000,
        key=key,
        help="Early stopping still applies as set on the Train page.",
    )
    return experiment.replace(training=dataclasses.replace(experiment.training, epochs=epochs))


def attempt(action, *args, **kwargs) -> None:
    """Run a start button's action; a user's mistake is shown after the rerun."""
    try:
        action(*args, **kwargs)
    except NNCoreError as exc:
        st.session_state["tune_error"] = exc


def rerun_once_at_end(kind: str, ident: str) -> None:
    """One full rerun when a tuning ends: its timer stops and the start buttons come back."""
    if st.session_state.get(f"tune_seen_{kind}") != ident:
        st.session_state[f"tune_seen_{kind}"] = ident
        st.rerun()


def adopt_button(label: str, key: str, **changes) -> None:
    """Adopt `changes` into the current experiment, then redraw the whole page (a button in a
    fragment reruns only the fragment, and the caption above shows the settings)."""
    if st.button(label, key=key, icon=":material/check:"):
        adopt(**changes)
        st.session_state["tune_adopted"] = label.removeprefix("Use ")
        st.rerun()


def stop_all(runs) -> None:
    for run in runs:
        run.stop()


if error := st.session_state.pop("tune_error", None):
    show_error(error)
if adopted := st.session_state.pop("tune_adopted", None):
    st.success(
        f"Adopted {md(adopted)}: the Model and Train pages now show it; train it there.",
        icon=":material/check_circle:",
    )

sweep_tab, range_tab, capacity_tab, cv_tab, search_tab = st.tabs(
    ["Learning-rate sweep", "Range test", "Capacity search", "Cross-validate", "Search"]
)

# ------------------------------------------------------------------------- learning-rate sweep
with sweep_tab:
    busy = any(run.in_flight for run in bench.sweep.runs) if bench.sweep else False
    left, middle, right = st.columns(3)
    remember("sweep_optimizer", experiment.compile.optimizer)
    optimizer = left.selectbox(
        "Optimizer",
        OPTIMIZERS,
        key="sweep_optimizer",
        help="Plain SGD is the usual one to sweep; any optimizer can be swept.",
    )
    low, high = middle.select_slider(
        "Learning rates from … to",
        RATES,
        value=(1e-4, 0.1),
        key="sweep_range",
        format_func=lambda v: f"{v:g}",
    )
    remember("sweep_count", 4)
    count = right.number_input("How many rates", 2, MAX_TRIALS, key="sweep_count")
    base = with_epochs("sweep_epochs")
    rates = learning_rates(low, high, int(count))
    st.caption("Rates to try, spaced evenly on a log scale: " + ", ".join(f"{r:g}" for r in rates))
    if st.button(
        "Start sweep", key="start_sweep", type="primary", disabled=busy, icon=":material/tune:"
    ):
        attempt(bench.start_rate_sweep, base, optimizer, rates)
        st.rerun()

    def sweep_runs(report: bool):
        """The sweep's runs, its recommendation once all have ended (`sweep_pick`, None before)
        and the score they are judged by; with `report`, why they cannot be compared (shown
        once, under the chart)."""
        runs = bench.sweep.runs
        try:
            pick = sweep_pick(runs)
        except NNCoreError as exc:
            if report:
                show_error(exc)
            pick = None
        return runs, pick, runs[0].experiment.training.monitor if runs else monitor

    def best_of(runs: list[Run], pick) -> Run | None:
        return None if pick is None or pick.index is None else runs[pick.index]

    @st.fragment(run_every=CHART_SECONDS if busy else None)
    def sweep_chart() -> None:
        if bench.sweep is None:
            return
        runs, pick, watched = sweep_runs(report=False)
        curves = {run.name: run.history() for run in runs}
        best = best_of(runs, pick)
        best_name = best.name if best else None
        figure = built_once(
            "sweep_figure",
            (tuple((run.id, len(curves[run.name])) for run in runs), best_name),
            lambda: plots.compare_curves(curves, watched.removeprefix("val_"), best=best_name),
        )
        st.plotly_chart(figure, key="sweep_chart")

    @st.fragment(run_every=POLL_SECONDS if busy else None)
    def sweep_progress() -> None:
        sweep = bench.sweep
        if sweep is None:
            return
        runs, pick, watched = sweep_runs(report=True)
        curves = {run.name: run.history() for run in runs}
        st.dataframe(
            [
                {
                    "run": run.name,
                    "learning rate": run.experiment.compile.learning_rate,
                    "status": run.status,
                    "epochs": len(curves[run.name]),
                    f"{watched} (3-epoch mean)": run.judged().score,
                    "verdict": pick.reasons[i] if pick else "",
                }
                for i, run in enumerate(runs)
            ],
            hide_index=True,
        )
        if any(run.in_flight for run in runs):
            st.button("Stop sweep", key="stop_sweep", on_click=stop_all, args=(runs,))
            return
        best = best_of(runs, pick)
        if pick is not None and best is None:
            st.warning(md(pick.why), icon=":material/warning:")
        if best is not None:
            rate = best.experiment.compile
            st.success(md(pick.why), icon=":material/star:")
            adopt_button(
                f"Use {rate.optimizer} at {rate.learning_rate:g}", "adopt_rate", compile=rate
            )
        rerun_once_at_end("sweep", ",".join(run.id for run in runs))

    sweep_chart()
    sweep_progress()

# ---------------------------------------------------------------------------------- range test
with range_tab:
    st.caption(
        "One short training whose learning rate grows by the same factor every batch, from "
        f"tiny to huge. The loss falls, levels, then climbs. Suggested rate: {RULE}."
    )
    job = bench.range_test
    busy = job is not None and not job.done()
    left, right = st.columns(2)
    low, high = left.select_slider(
        "From … to",
        RATES,
        value=(1e-6, 1.0),
        key="range_span",
        format_func=lambda v: f"{v:g}",
    )
    remember("range_steps", 120)
    steps = right.number_input("Batches", 10, 2000, key="range_steps")
    if st.button("Run range test", key="start_range", disabled=busy, icon=":material/speed:"):
        attempt(
            lambda: bench.start_range_test(experiment, frame, RangeTestSpec(low, high, int(steps)))
        )
        st.rerun()

    # Only a chart to redraw: it polls as charts do.
    @st.fragment(run_every=CHART_SECONDS if busy else None)
    def range_progress() -> None:
        job = bench.range_test
        if job is None:
            return
        if job.status == "failed":
            st.error(md(job.error() or "The range test failed."), icon=":material/error:")
        elif job.done() and job.status == "done":
            found = job.result(timeout=0)
            st.plotly_chart(
                plots.range_test(found.rates, found.losses, found.smoothed, found.suggestion),
                key="range_chart",
            )
            if found.suggestion is not None:
                spec = dataclasses.replace(experiment.compile, learning_rate=found.suggestion)
                st.success(
                    f"Suggested learning rate: {found.suggestion:g}.", icon=":material/star:"
                )
                adopt_button(f"Use {found.suggestion:g}", "adopt_suggested", compile=spec)
        else:
            points = job.history()
            rates, losses = [p["learning_rate"] for p in points], [p["loss"] for p in points]
            st.plotly_chart(plots.range_test(rates, losses, []), key="range_chart")
        if job.done():
            rerun_once_at_end("range", job.id)

    range_progress()

# ------------------------------------------------------------------------------ capacity search
with capacity_tab:
    st.caption(
        "Size a network by trying: start with one small layer and double its units while each "
        "step helps; when a wider step does not help (or the units reach their cap), add layers "
        "while each step helps; stop at the first deeper step that does not help. Each step is "
        "a run, trained after the one before, judged by its validation score averaged over 3 "
        "epochs."
    )
    busy = bench.search is not None and not bench.search.finished
    left, middle, right = st.columns(3)
    remember("capacity_start", 8)
    start_units = left.select_slider("Start with units", START_UNITS, key="capacity_start")
    remember("capacity_gain", 0.02)
    min_gain = middle.slider(
        "Keep a step if it improves by at least",
        0.0,
        0.2,
        step=0.01,
        format="percent",
        key="capacity_gain",
        help=f"Relative improvement of {monitor} over the best step so far.",
    )
    with right:
        base = with_epochs("capacity_epochs")
    if st.button(
        "Start capacity search",
        key="start_capacity",
        disabled=busy,
        icon=":material/account_tree:",
    ):
        attempt(
            bench.start_capacity_search,
            base,
            start_units=int(start_units),
            min_improvement=float(min_gain),
        )
        st.rerun()

    @st.fragment(run_every=CHART_SECONDS if busy else None)
    def capacity_charts() -> None:
        record = bench.search
        if record is None:
            return
        search, runs = record.search, list(record.runs)
        steps = search.steps
        scores = [s.score if s.done else r.score() for s, r in zip(steps, runs, strict=False)]
        curves = {r.name: r.history() for r in runs}
        chosen = search.chosen
        best_name = next((r.name for s, r in zip(steps, runs, strict=False) if s is chosen), None)

        def figures():
            names = [describe_layers(s.layers) for s in steps]
            accepted = [s.accepted for s in steps]
            return (
                plots.capacity_steps(names, scores, accepted, monitor),
                plots.compare_curves(curves, monitor.removeprefix("val_"), best=best_name),
            )

        stamp = (
            tuple((s.layers, s.accepted, score) for s, score in zip(steps, scores, strict=False)),
            tuple((r.id, len(curves[r.name])) for r in runs),
            best_name,
        )
        steps_figure, curves_figure = built_once("capacity_figures", stamp, figures)
        st.plotly_chart(steps_figure, key="capacity_chart")
        st.plotly_chart(curves_figure, key="capacity_curves")

    @st.fragment(run_every=POLL_SECONDS if busy else None)
    def capacity_progress() -> None:
        record = bench.search
        if record is None:
            return
        search, runs = record.search, list(record.runs)
        steps, chosen = search.steps, search.chosen
        if not search.finished:
            st.info(
                f"Step {len(steps)}: training {md(describe_layers(steps[-1].layers))}.",
                icon=":material/hourglass_top:",
            )
            st.button("Stop search", key="stop_capacity", on_click=bench.stop_search)
            return
        if record.error:
            st.error(md(record.error), icon=":material/error:")
        if chosen is None:
            st.warning(md(search.outcome), icon=":material/warning:")
        else:
            st.success(
                f"Chosen: {md(describe_layers(chosen.layers))} ({monitor} {chosen.score:.4g}). "
                + md(search.outcome),
                icon=":material/star:",
            )
            adopt_button(
                f"Use {describe_layers(chosen.layers)}", "adopt_layers", layers=chosen.layers
            )
        rerun_once_at_end("capacity", ",".join(run.id for run in runs))

    capacity_charts()
    capacity_progress()

# ------------------------------------------------------------------------------ cross-validation
with cv_tab:
    folds_rule = SETTINGS["folds"]
    st.caption(
        "Score the current design on every part of the rows, not one split: the rows are cut "
        "into k folds (by class for a classification, shuffled with the seed) and each is held "
        "out once while the network learns from the rest (less its validation fraction, kept "
        "to stop early). The baselines learn from the same rows and are scored on the same "
        "held-out fold. The spread across folds says how sure one split's score is."
    )
    job = bench.cross_validation
    busy = job is not None and not job.done()
    left, right = st.columns(2)
    remember("cv_folds", folds_rule.default)
    k = left.number_input(
        "Folds (k)",
        int(folds_rule.low),
        int(folds_rule.high),
        key="cv_folds",
        help=folds_rule.help,
    )
    with right:
        base = with_epochs("cv_epochs")
    if st.button(
        "Start cross-validation", key="start_cv", disabled=busy, icon=":material/view_week:"
    ):
        attempt(bench.start_cross_validation, base, int(k))
        st.rerun()

    @st.fragment(run_every=POLL_SECONDS if busy else None)
    def cv_progress() -> None:
        job = bench.cross_validation
        if job is None:
            return
        if job.status == "failed":
            st.error(md(job.error() or "The cross-validation failed."), icon=":material/error:")
            return
        if not job.done():
            progress = job.progress()
            if progress is None:
                st.info("Waiting for a free worker…", icon=":material/hourglass_top:")
            else:
                st.info(
                    f"Fold {progress['fold'] + 1} of {progress['folds']}: epoch "
                    f"{progress['epoch'] + 1} of {progress['epochs']}.",
                    icon=":material/hourglass_top:",
                )
            st.button("Stop cross-validation", key="stop_cv", on_click=job.stop)
            found = CrossValidation(
                st.session_state[Keys.PLAN].task, 0, experiment.seed, job.history()
            )
        else:
            try:
                found = job.result(timeout=0)
            except NNCoreError as exc:
                show_error(exc)
                return
        if found.folds:
            task = st.session_state[Keys.PLAN].task
            measures = list(found.summary()["network"])
            counts = frame[st.session_state[Keys.PLAN].target].value_counts()
            default = compare_on(task, counts)
            measure = st.selectbox(
                "Score",
                measures,
                index=measures.index(default) if default in measures else 0,
                key="cv_measure",
                format_func=plots.metric_label,
            )
            scores = {model: found.fold_scores(model, measure) for model in found.models()}
            chart_column, table_column = st.columns([3, 2])
            chart_column.plotly_chart(plots.cross_validation(scores, measure), key="cv_chart")
            summary = found.summary()
            table_column.dataframe(
                [
                    {
                        "model": model,
                        **{f"fold {i}": v for i, v in enumerate(values, start=1)},
                        "mean": summary[model][measure]["mean"],
                        "spread (sd)": summary[model][measure]["std"],
                    }
                    for model, values in scores.items()
                ],
                hide_index=True,
                key="cv_table",
            )
            st.markdown(md(found.in_words(measure)))
        if job.done():
            if found.note:
                st.warning(md(found.note), icon=":material/warning:")
            rerun_once_at_end("cv", job.id)

    cv_progress()

# ------------------------------------------------------------------------------ network search
with search_tab:
    st.caption(
        "Let the studio find a network: Optuna's TPE sampler proposes hidden layers, units, "
        "activation, dropout, L2, optimizer, learning rate and batch size, learning from the "
        "trials so far; a median pruner stops a trial whose validation score trails the trials "
        f"before it. Each trial is a run (at most {SEARCH_EPOCHS} epochs), one at a time; the "
        "search goes on with no tab open, and after a restart it can resume from its ended "
        "trials."
    )
    record = bench.network_search
    busy = record is not None and record.running
    left, middle, right = st.columns(3)
    remember("search_trials", 20)
    trials = left.number_input("Trials at most", 1, SEARCH_MAX_TRIALS, key="search_trials")
    remember("search_minutes", 5)
    minutes = middle.number_input("Minutes at most", 1, SEARCH_MAX_MINUTES, key="search_minutes")
    with right:
        base = with_epochs("search_epochs")
    with st.expander("Ranges to search"):
        narrowed = {}
        for name in ("hidden_layers", "units", "learning_rate"):
            rule = SEARCH_SPACE[name]
            if rule.log:
                steps = (
                    [1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2]
                    if name == "learning_rate"
                    else [8, 16, 32, 64, 128, 256]
                )
                narrowed[name] = st.select_slider(
                    name.replace("_", " "),
                    steps,
                    value=(steps[0], steps[-1]),
                    key=f"search_{name}",
                    help=rule.help,
                )
            else:
                narrowed[name] = st.slider(
                    name.replace("_", " "),
                    int(rule.low),
                    int(rule.high),
                    value=(int(rule.low), int(rule.high)),
                    key=f"search_{name}",
                    help=rule.help,
                )
        for name in ("activation", "optimizer", "batch_size"):
            rule = SEARCH_SPACE[name]
            narrowed[name] = st.multiselect(
                name.replace("_", " "),
                rule.choices,
                default=rule.choices,
                key=f"search_{name}",
                help=rule.help,
            )
    start, resume = st.columns(2)
    if start.button("Start search", key="start_search", disabled=busy, icon=":material/search:"):
        attempt(
            lambda: bench.start_network_search(
                base,
                space=search_space(**narrowed),
                trials=int(trials),
                minutes=float(minutes),
                seed=experiment.seed,
            )
        )
        st.rerun()
    if (
        record is not None
        and record.resumable
        and resume.button("Resume search", key="resume_search", icon=":material/play_arrow:")
    ):
        attempt(bench.resume_network_search)
        st.rerun()

    @st.fragment(run_every=CHART_SECONDS if busy else None)
    def search_views() -> None:
        record = bench.network_search
        if record is None:
            return
        search = record.search
        rows = search.table()
        ended = [r for r in rows if r["state"] != "running"]
        if record.running:
            st.info(
                f"Trial {len(rows) - 1} training; {len(ended)} ended.",
                icon=":material/hourglass_top:",
            )
            st.button(
                "Stop search",
                key="stop_search",
                on_click=lambda: bench.stop_network_search(wait=False),
            )
        elif record.error:
            st.error(md(record.error), icon=":material/error:")
        elif record.resumable:
            st.warning(
                "The server stopped while this search ran; resume it to go on from its "
                f"{len(ended)} ended trials.",
                icon=":material/warning:",
            )
        if not rows:
            return
        stamp = tuple((r["trial"], r["state"], r["epochs"]) for r in rows)
        metric = search.monitor

        def figures():
            pruned = [r["trial"] for r in rows if r["state"] == "pruned"]
            return (
                plots.search_progress(
                    [r["seconds"] for r in ended], [r["best so far"] for r in ended], metric
                ),
                plots.search_curves(search.curves(), pruned, metric),
            )

        progress_figure, curves_figure = built_once("search_figures", stamp, figures)
        chart, table = st.columns([3, 2])
        chart.plotly_chart(progress_figure, key="search_progress")
        table.dataframe(
            [
                {"trial": r["trial"], "minutes": (r["seconds"] or 0) / 60, "best": r["best so far"]}
                for r in ended
            ],
            hide_index=True,
            key="search_progress_table",
        )
        chart, table = st.columns([3, 2])
        chart.plotly_chart(curves_figure, key="search_curves")
        table.dataframe(
            [{"trial": r["trial"], "state": r["state"], "epochs": r["epochs"]} for r in rows],
            hide_index=True,
            key="search_curves_table",
        )
        st.dataframe(rows, hide_index=True, key="search_trials_table")
        best = search.best()
        if best is not None:
            chosen = search.best_design()
            st.success(
                f"Best: trial {best.number}, {md(search.describe(best))} "
                f"({metric} {best.value:.4g}).",
                icon=":material/star:",
            )
            adopt_button(
                f"Use the best (trial {best.number})",
                "adopt_search",
                layers=chosen.layers,
                compile=chosen.compile,
                training=dataclasses.replace(
                    experiment.training, batch_size=chosen.training.batch_size
                ),
                origin=f"search: trial {best.number}, {metric} {best.value:.4g}",
            )
        if not record.running and len(ended) >= 5:
            import optuna.visualization as views  # no TensorFlow: fine in the server

            left, right = st.columns(2)
            left.plotly_chart(views.plot_parallel_coordinate(search.study), key="search_coords")
            try:
                right.plotly_chart(views.plot_param_importances(search.study), key="search_imp")
            except (RuntimeError, ValueError):
                right.caption("The parameters' importance needs more completed trials.")
        if not record.running:
            rerun_once_at_end("search", str(len(rows)))

    search_views()
