"""The Runs page: the table of this session's runs, overlaid curves, download and restore."""

import json

import pytest
from streamlit.testing.v1 import AppTest

from nncore.config import CompileSpec, DataSpec, Experiment, LayerSpec, TrainSpec
from nncore.data.samples import load_sample
from nncore.run.session import Run, Workbench
from nncore.run.workspace import TableInfo
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


IRIS = load_sample("iris")
SPECIES, PETALS = "species", "petal length (cm)"
# What the user set on the table in use before restoring a run trained on other data.
MINE = Experiment(data=DataSpec(target=SPECIES, roles=(("sepal width (cm)", "ignore"),)))


def quick(target: str) -> Experiment:
    return Experiment(data=DataSpec(target=target), layers=(LayerSpec(4),), training=TrainSpec(3))


@pytest.fixture(scope="module")
def mixed() -> tuple[Workbench, list[Run]]:
    """A workspace with three finished runs: iris predicting the species, iris predicting the
    petals' length (a regression on a standardised target), and another table (iris's first 120
    rows) predicting the species."""
    bench = new_bench()
    made = [
        start(bench, IRIS, quick(SPECIES), "iris.csv"),
        start(bench, IRIS, quick(PETALS), "iris.csv"),
        start(bench, IRIS.head(120), quick(SPECIES), "iris-120.csv"),
    ]
    wait(*made)
    assert [run.status for run in made] == ["finished"] * 3, [r.error() for r in made]
    return bench, made


def open_with(bench: Workbench, run: Run, table_id: str, experiment: Experiment) -> AppTest:
    """The Runs page of a new session whose table in use is `table_id`, set up as
    `experiment`, its current run `run`."""
    bench.workspace.choose_table(table_id)
    bench.workspace.save_experiment(experiment)
    at = open_run(bench, run, "pages/runs.py")
    assert at.session_state[Keys.TABLE] == table_id
    assert at.session_state[Keys.EXPERIMENT] == experiment
    return at


def test_the_table_names_each_runs_data_rows_target_and_training_time(mixed):
    bench, runs = mixed
    table = open_page(bench).dataframe[0].value
    assert list(table["dataset"]) == ["iris-120.csv", "iris.csv", "iris.csv"]
    assert list(table["rows"]) == [120, 150, 150]
    assert list(table["target"]) == [SPECIES, PETALS, SPECIES]
    # One duration per run: the training's, as Evaluate states it.
    seconds = [round(run.result().training.seconds, 1) for run in reversed(runs)]
    assert list(table["training seconds"]) == seconds


def test_a_score_on_a_standardised_target_is_labelled_so(mixed):
    bench, runs = mixed
    at = open_page(bench)
    table = at.dataframe[0].value
    assert runs[1].experiment.data.scale_target and runs[1].result().metrics["task"] == (
        "regression"
    )
    assert list(table["score in"]) == ["", "standardised target", ""]
    assert any("scored in those units" in caption.value for caption in at.caption)


def test_only_runs_on_the_same_data_and_target_are_overlaid_the_others_said_apart(mixed):
    bench, runs = mixed
    at = open_run(bench, runs[0], "pages/runs.py")
    assert at.multiselect(key="compare_runs").options == ["run 1"]
    assert overlaid(at) == ["run 1"]
    (apart,) = [c.value for c in at.caption if "not overlaid" in c.value]
    assert f"run 2: predicts {PETALS}, not {SPECIES}" in apart
    assert "run 3: trained on other data (iris-120.csv)" in apart
    at = open_run(bench, runs[2], "pages/runs.py")
    assert overlaid(at) == ["run 3"]
    (apart,) = [c.value for c in at.caption if "not overlaid" in c.value]
    assert "run 1: trained on other data (iris.csv)" in apart


def test_restoring_a_run_of_another_table_changes_nothing_until_its_table_is_loaded(mixed):
    bench, runs = mixed
    iris, other = runs[1].record.table_id, runs[2].record.table_id
    at = open_with(bench, runs[2], other, MINE)
    at.selectbox(key="runs_pick").set_value(runs[1].id).run()
    at.button(key="restore").click().run()
    assert not at.exception and not at.success
    (warning,) = at.warning
    assert "run 2 was trained on iris.csv; the table loaded is iris-120.csv" in warning.value
    assert "nothing was restored" in warning.value
    assert at.session_state[Keys.EXPERIMENT] == MINE  # its target and the role set on it
    assert at.session_state[Keys.TABLE] == other
    assert bench.workspace.experiment() == MINE and bench.workspace.table().id == other
    offer = at.button(key="restore_with_data")
    assert offer.proto.label == f"Load iris.csv and its settings, predicting {PETALS}"
    offer.click().run()
    assert not at.exception
    assert f"Loaded iris.csv. Restored the settings of run 2, predicting {PETALS}" in (
        at.success[0].value
    )
    assert at.session_state[Keys.TABLE] == iris and bench.workspace.table().id == iris
    assert len(at.session_state[Keys.DATASET]) == 150
    assert at.session_state[Keys.EXPERIMENT] == runs[1].experiment
    plan = at.session_state[Keys.PLAN]
    assert (plan.target, plan.task) == (PETALS, "regression")
    at.switch_page("pages/data.py").run()
    assert not at.exception


def test_restoring_a_run_with_another_target_asks_before_changing_it(mixed):
    bench, runs = mixed
    petals = runs[1].experiment
    at = open_with(bench, runs[1], runs[0].record.table_id, petals)
    at.selectbox(key="runs_pick").set_value(runs[0].id).run()
    at.button(key="restore").click().run()
    assert f"run 1 predicts {SPECIES}; the target now is {PETALS}" in at.warning[0].value
    assert at.session_state[Keys.EXPERIMENT] == petals
    at.button(key="restore_with_data").click().run()
    assert not at.exception
    assert at.session_state[Keys.EXPERIMENT] == runs[0].experiment
    assert at.session_state[Keys.PLAN].target == SPECIES


def test_restoring_a_run_whose_table_the_workspace_no_longer_has_is_refused():
    bench = new_bench()
    loaded = bench.workspace.add_table(IRIS.to_csv(index=False).encode(), "iris.csv")
    gone = TableInfo("0" * 16, "gone.csv", 10, "0" * 64, "2026-01-01T00:00:00+00:00", 3)
    bench.workspace.create_run(quick(SPECIES), gone, status="failed")
    (run,) = bench.runs
    at = open_with(bench, run, loaded.info.id, MINE)
    at.button(key="restore").click().run()
    assert not at.exception
    assert not [b for b in at.button if b.key == "restore_with_data"]
    (error,) = at.error
    assert "run 1 was trained on gone.csv" in error.value
    assert "no longer has: nothing was restored. Upload gone.csv again" in error.value
    assert at.session_state[Keys.EXPERIMENT] == MINE
    assert at.session_state[Keys.TABLE] == loaded.info.id
