"""The Runs page: the table of this session's runs, overlaid curves, download and restore."""

import json

import pytest
from streamlit.testing.v1 import AppTest

from nncore.config import CompileSpec, DataSpec, Experiment, LayerSpec, TrainSpec
from nncore.data.samples import load_sample
from nncore.run.session import Run, Workbench
from tests.pages.workspaces import new_bench, open_run, session, start, wait
from ui import Keys


@pytest.fixture(scope="module")
def bench() -> Workbench:
    return new_bench()


@pytest.fixture(scope="module")
def runs(bench) -> list[Run]:
    """Two finished runs of iris, in one workspace, with different data, layers and compile
    settings."""
    frame = load_sample("iris")
    experiments = [
        Experiment(
            data=DataSpec(target="species"),
            layers=(LayerSpec(8),),
            compile=CompileSpec("adam", 0.01),
            training=TrainSpec(epochs=4),
        ),
        Experiment(
            data=DataSpec(target="species", validation_fraction=0.3, scaling="minmax"),
            layers=(LayerSpec(16), LayerSpec(4, "tanh")),
            compile=CompileSpec("sgd", 0.1, momentum=0.9),
            training=TrainSpec(epochs=6, early_stopping=False),
            seed=9,
        ),
    ]
    made = [start(bench, frame, experiment, "iris.csv") for experiment in experiments]
    wait(*made)
    assert [run.status for run in made] == ["finished", "finished"], made[0].error()
    return made


def open_page(bench: Workbench | None = None) -> AppTest:
    """The Runs page of `bench`'s workspace, its newest run current; else of a new one."""
    if bench is None:
        return session(page="pages/runs.py")
    return open_run(bench, bench.runs[-1], "pages/runs.py")


def overlaid(at: AppTest) -> list[str]:
    (chart,) = at.get("plotly_chart")
    return [trace["name"] for trace in json.loads(chart.proto.spec)["data"]]


def test_without_runs_the_page_links_to_training():
    at = open_page()
    assert "Train a model first" in at.info[0].value
    assert at.page_link[0].proto.page == "train"


def test_the_table_lists_every_run_newest_first_with_its_settings_and_scores(bench, runs):
    at = open_page(bench)
    table = at.dataframe[0].value
    assert list(table["run"]) == ["run 2", "run 1"]
    assert list(table["architecture"]) == ["16 relu → 4 tanh", "8 relu"]
    assert list(table["optimizer"]) == ["sgd 0.1", "adam 0.01"]
    assert list(table["epochs"]) == [len(r.result().history) for r in reversed(runs)]
    assert list(table["stopped by"]) == [r.result().training.stopped_by for r in reversed(runs)]
    best = min(h["val_loss"] for h in runs[0].result().history)
    assert table["best score"].iloc[1] == pytest.approx(best)


def test_curves_of_the_chosen_runs_are_overlaid(bench, runs):
    at = open_page(bench)
    assert overlaid(at) == ["run 2", "run 1"]
    at.multiselect(key="compare_runs").set_value([runs[0].id]).run()
    assert overlaid(at) == ["run 1"]
    at.selectbox(key="compare_metric_runs").set_value("accuracy").run()
    (chart,) = at.get("plotly_chart")
    spec = json.loads(chart.proto.spec)
    assert spec["layout"]["title"]["text"] == "Validation accuracy per epoch"
    assert spec["data"][0]["y"] == [h["val_accuracy"] for h in runs[0].result().history]


def test_download_and_restore_of_a_runs_experiment(bench, runs):
    at = open_page(bench)
    at.selectbox(key="runs_pick").set_value(runs[1].id).run()
    download = at.get("download_button")[0]
    assert download.proto.label == "Download experiment.json"
    at.button(key="restore").click().run()
    assert not at.exception
    assert "Restored the settings of run 2" in at.success[0].value
    assert at.session_state[Keys.EXPERIMENT] == runs[1].experiment
    assert at.session_state[Keys.PLAN].target == "species"
    at.switch_page("pages/train.py").run()
    assert not at.exception
    assert at.selectbox(key="optimizer").value == "sgd"
    assert at.select_slider(key="learning_rate").value == 0.1
    assert at.number_input(key="seed").value == 9
    at.switch_page("pages/model.py").run()
    assert not at.exception
    assert at.number_input(key="units_0").value == 16
    assert at.selectbox(key="activation_1").value == "tanh"
    at.switch_page("pages/data.py").run()
    assert not at.exception
    assert at.radio(key="scaling").value == "minmax"
