"""The Tune page: a learning-rate sweep, a range test and a capacity search, with real
trainings on a small sample, and adopting what they find."""

import json
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from streamlit.testing.v1 import AppTest

from nncore.config import LayerSpec, TrainSpec
from ui import Keys

ROOT = Path(__file__).resolve().parents[2]
APP = str(ROOT / "app.py")
WAIT_SECONDS = 300


def open_tune_page() -> AppTest:
    at = AppTest.from_file(APP, default_timeout=60)
    at.run()
    at.button(key="sample_iris").click().run()
    at.session_state[Keys.EXPERIMENT] = at.session_state[Keys.EXPERIMENT].replace(
        layers=(LayerSpec(8),), training=TrainSpec(epochs=5, patience=3)
    )
    at.switch_page("pages/tune.py").run()
    assert not at.exception
    return at


def run_until(at: AppTest, done, seconds: float = WAIT_SECONDS) -> AppTest:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        at.run()
        assert not at.exception
        if done(at):
            at.run()
            assert not at.exception
            return at
        time.sleep(0.5)
    raise AssertionError("the page did not reach the expected state in time")


def has_button(at: AppTest, key: str) -> bool:
    return key in [b.key for b in at.button]  # at.button(key=...) raises when it is absent


def chart(at: AppTest, key: str) -> dict:
    for element in at.get("plotly_chart"):
        if element.proto.id.endswith(key):
            return json.loads(element.proto.spec)
    raise AssertionError(f"no chart {key!r}")


def test_guard_without_data_links_to_the_data_page():
    at = AppTest.from_file(APP, default_timeout=30)
    at.run()
    at.switch_page("pages/tune.py").run()
    assert not at.exception
    assert "Load a CSV or pick a sample first." in at.info[0].value
    assert "start_sweep" not in [b.key for b in at.button]


def test_a_sweep_trains_one_run_per_rate_overlays_them_and_adopts_the_best():
    at = open_tune_page()
    at.selectbox(key="sweep_optimizer").set_value("sgd").run()
    at.select_slider(key="sweep_range").set_value((1e-3, 0.1)).run()
    at.number_input(key="sweep_count").set_value(3).run()
    at.number_input(key="sweep_epochs").set_value(4).run()
    assert "0.001, 0.01, 0.1" in at.caption[-1].value or any(
        "0.001, 0.01, 0.1" in c.value for c in at.caption
    )
    at.button(key="start_sweep").click().run()
    assert not at.exception
    runs = at.session_state[Keys.WORKBENCH].runs
    assert [r.experiment.compile.learning_rate for r in runs] == [0.001, 0.01, 0.1]
    assert {r.experiment.compile.optimizer for r in runs} == {"sgd"}
    assert all(r.experiment.training.epochs == 4 for r in runs)
    run_until(at, lambda a: not any(r.in_flight for r in runs) and has_button(a, "adopt_rate"))
    assert [r.status for r in runs] == ["finished"] * 3
    spec = chart(at, "sweep_chart")
    curves = [t for t in spec["data"] if t["mode"] == "lines"]
    assert [t["name"].removesuffix(" (best)") for t in curves] == [r.name for r in runs]
    best = [t["name"] for t in curves if t["name"].endswith("(best)")]
    assert len(best) == 1 and any(t["name"].startswith("best: ") for t in spec["data"])
    best_run = next(r for r in runs if f"{r.name} (best)" == best[0])
    assert at.dataframe[0].value.shape[0] == 3
    built = at.session_state["sweep_figure"]
    at.run()  # nothing has changed since: the same figure is sent again, not built again
    assert at.session_state["sweep_figure"] is built
    assert chart(at, "sweep_chart") == spec

    at.button(key="adopt_rate").click().run()
    assert not at.exception
    assert any(
        f"Adopted sgd at {best_run.experiment.compile.learning_rate:g}" in s.value
        for s in at.success
    )
    adopted = at.session_state[Keys.EXPERIMENT].compile
    assert (adopted.optimizer, adopted.learning_rate) == (
        "sgd",
        best_run.experiment.compile.learning_rate,
    )
    # The Train page shows the adopted settings, and Evaluate shows any trial.
    at.switch_page("pages/train.py").run()
    assert not at.exception
    assert at.selectbox(key="optimizer").value == "sgd"
    assert at.select_slider(key="learning_rate").value == adopted.learning_rate
    at.session_state[Keys.WORKBENCH].choose(runs[0].id)
    at.switch_page("pages/evaluate.py").run()
    assert not at.exception and not at.error
    assert at.get("plotly_chart")


def test_the_range_test_draws_loss_against_rate_and_suggests_a_rate():
    at = open_tune_page()
    at.number_input(key="range_steps").set_value(40).run()
    at.button(key="start_range").click().run()
    assert not at.exception
    job = at.session_state[Keys.WORKBENCH].range_test
    run_until(at, lambda a: job.done() and has_button(a, "adopt_suggested"))
    found = job.result(timeout=0)
    assert 1e-6 <= found.suggestion <= 1.0
    names = [t["name"] for t in chart(at, "range_chart")["data"]]
    assert names == ["loss of each batch", "smoothed", f"suggested rate {found.suggestion:g}"]
    at.button(key="adopt_suggested").click().run()
    assert at.session_state[Keys.EXPERIMENT].compile.learning_rate == found.suggestion


def test_a_capacity_search_grows_until_it_stops_and_adopts_the_chosen_layers():
    at = open_tune_page()
    at.select_slider(key="capacity_start").set_value(4).run()
    at.slider(key="capacity_gain").set_value(0.2).run()
    at.number_input(key="capacity_epochs").set_value(3).run()
    at.button(key="start_capacity").click().run()
    assert not at.exception
    record = at.session_state[Keys.WORKBENCH].search
    assert [s.layers for s in record.search.steps] == [(LayerSpec(4),)]
    # No page runs meanwhile: each step starts when the one before ends, on the runner's side.
    assert record.wait(WAIT_SECONDS), "the search did not finish"
    run_until(at, lambda a: has_button(a, "adopt_layers"))
    steps = record.search.steps
    runs = at.session_state[Keys.WORKBENCH].runs
    assert len(runs) == len(steps) >= 2 and all(r.status == "finished" for r in runs)
    bars = chart(at, "capacity_chart")["data"][0]
    assert len(bars["x"]) == len(steps)
    built = at.session_state["capacity_figures"]
    at.run()
    assert at.session_state["capacity_figures"] is built
    chosen = record.search.chosen
    at.button(key="adopt_layers").click().run()
    assert not at.exception
    assert at.session_state[Keys.EXPERIMENT].layers == chosen.layers


def test_the_server_side_never_imports_tensorflow():
    """In a fresh process (other tests may have imported TensorFlow): a range test runs in a
    worker and its chart is drawn, the Runs page is shown, and the server stays TF-free."""
    code = textwrap.dedent(
        f"""
        import sys, time
        from streamlit.testing.v1 import AppTest
        at = AppTest.from_file({APP!r}, default_timeout=60).run()
        at.button(key="sample_iris").click().run()
        at.switch_page("pages/tune.py").run()
        at.number_input(key="range_steps").set_value(20).run()
        at.button(key="start_range").click().run()
        job = at.session_state["{Keys.WORKBENCH}"].range_test
        assert job.wait(240), "the range test did not end"
        at.run()
        assert not at.exception, at.exception
        assert at.button(key="adopt_suggested")
        at.switch_page("pages/runs.py").run()
        assert not at.exception, at.exception
        print("tensorflow" in sys.modules, "keras" in sys.modules)
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=300, cwd=ROOT
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split()[-2:] == ["False", "False"]


def test_cross_validation_runs_to_its_chart_and_summary():
    at = open_tune_page()
    at.number_input(key="cv_folds").set_value(2)
    at.number_input(key="cv_epochs").set_value(2)
    at.button(key="start_cv").click().run()
    assert not at.exception
    at = run_until(at, lambda at: any("Across 2 folds" in m.value for m in at.markdown))
    figure = chart(at, "cv_chart")
    names = [trace["name"] for trace in figure["data"]]
    assert names[0] == "network" and len(names) == 4  # the network and three baselines
    assert all(len(trace["x"]) == 2 for trace in figure["data"])
    assert not has_button(at, "stop_cv")
