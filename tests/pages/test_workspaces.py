"""The address is the key: a session with `?w=<token>` finds that workspace's table, settings
and runs; a session without it gets a new, empty one; runs can be continued and deleted."""

import json
import secrets
import subprocess
import sys
import time
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from nncore.config import LayerSpec
from nncore.data.samples import sample_csv
from nncore.run.workspace import WorkspaceStore
from tests.pages.workspaces import WAIT_SECONDS, bench_of, session, token_of
from ui import NO_WORKSPACE, Keys

ROOT = Path(__file__).resolve().parents[2]


def wait_until(at: AppTest, done, seconds: float = WAIT_SECONDS) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        at.run()
        assert not at.exception
        if done():
            at.run()
            assert not at.exception
            return
        time.sleep(0.5)
    raise AssertionError("the page did not reach the expected state in time")


def train(at: AppTest, epochs: int) -> None:
    """Start a training of `epochs` on the Train page and wait for it to finish."""
    at.switch_page("pages/train.py").run()
    at.number_input(key="epochs").set_value(epochs).run()
    at.checkbox(key="early_stopping").uncheck().run()
    at.button(key="start").click().run()
    assert not at.exception
    run = bench_of(at).current_run()
    wait_until(at, lambda: not run.in_flight)
    assert run.status == "finished", run.error()


@pytest.fixture(scope="module")
def trained() -> str:
    """The token of a workspace with iris, 16 units, a tuned sweep count and one finished run."""
    at = session()
    at.button(key="sample_iris").click().run()
    at.session_state[Keys.EXPERIMENT] = at.session_state[Keys.EXPERIMENT].replace(
        layers=(LayerSpec(16),)
    )
    train(at, epochs=3)
    at.switch_page("pages/tune.py").run()
    at.number_input(key="sweep_count").set_value(6).run()
    assert not at.exception
    return token_of(at)


def test_the_address_restores_the_table_the_experiment_and_the_runs(trained):
    at = session(trained)
    assert token_of(at) == trained
    assert at.session_state[Keys.DATASET].shape == (150, 5)
    assert at.session_state[Keys.DATASET_NAME] == "Iris flowers"
    assert "scikit-learn" in at.session_state[Keys.DATASET_SOURCE]
    experiment = at.session_state[Keys.EXPERIMENT]
    assert experiment.layers == (LayerSpec(16),)
    assert experiment.training.epochs == 3 and not experiment.training.early_stopping
    assert at.session_state[Keys.PLAN].target == "species"
    at.switch_page("pages/runs.py").run()
    assert not at.exception
    table = at.dataframe[0].value
    assert list(table["run"]) == ["run 1"] and list(table["status"]) == ["finished"]
    assert list(table["epochs"]) == [3]
    at.switch_page("pages/tune.py").run()
    assert at.number_input(key="sweep_count").value == 6
    at.switch_page("pages/train.py").run()
    assert at.number_input(key="epochs").value == 3
    assert "run 1: Finished 3 epochs" in at.success[0].value


def test_a_page_switch_keeps_the_token_in_the_address(trained):
    at = session(trained)
    at.query_params.clear()  # as Streamlit's page navigation does
    at.switch_page("pages/model.py").run()
    assert token_of(at) == trained


def test_a_second_session_with_the_address_sees_the_same_runs(trained):
    first, second = session(trained, "pages/runs.py"), session(trained, "pages/runs.py")
    assert bench_of(first) is bench_of(second)
    ids = [r.id for r in bench_of(first).runs]
    assert [r.id for r in bench_of(second).runs] == ids
    assert list(second.dataframe[0].value["run"]) == ["run 1"]


def test_a_session_without_the_address_sees_nothing_of_it(trained):
    at = session(page="pages/runs.py")
    assert token_of(at) != trained
    assert "Train a model first" in at.info[0].value
    assert at.session_state[Keys.DATASET] is None
    at.switch_page("pages/data.py").run()
    assert "Pick a sample or upload a CSV" in at.info[0].value


def test_an_address_that_opens_nothing_says_so_and_gives_a_new_workspace():
    at = session("A" * 22)
    assert at.sidebar.warning[0].value == NO_WORKSPACE
    assert token_of(at) != "A" * 22
    assert at.session_state[Keys.DATASET] is None
    at.run()
    assert not at.sidebar.warning  # said once


def test_new_workspace_leaves_this_one_at_its_address(trained):
    at = session(trained)
    at.sidebar.button(key="new_workspace").click().run()
    assert not at.exception
    assert token_of(at) != trained
    assert at.session_state[Keys.DATASET] is None
    assert bench_of(at).runs == []
    at.switch_page("pages/runs.py").run()
    assert "Train a model first" in at.info[0].value
    back = session(trained)
    assert len(bench_of(back).runs) == 1


def test_train_more_continues_a_run_as_one_curve_and_delete_removes_it():
    at = session()
    at.button(key="sample_iris").click().run()
    train(at, epochs=3)
    at.switch_page("pages/runs.py").run()
    at.number_input(key="more_epochs").set_value(2).run()
    at.button(key="train_more").click().run()
    assert not at.exception
    bench = bench_of(at)
    parent, more = bench.runs
    assert f"Started {more.name}" in at.success[0].value
    assert more.name.startswith("run 2")
    assert more.parent == parent.id and more.first_epoch == 3
    wait_until(at, lambda: not more.in_flight)
    assert more.status == "finished", more.error()
    table = at.dataframe[0].value
    assert list(table["run"]) == [more.name, parent.name]
    assert list(table["epochs"]) == [2, 3]
    (chart,) = at.get("plotly_chart")
    continued, first = json.loads(chart.proto.spec)["data"]  # the new run joined, newest first
    # One line across both: the parent's three epochs, then the two more.
    assert continued["x"] == [1, 2, 3, 4, 5]
    assert continued["y"][:3] == first["y"] and len(first["y"]) == 3
    folder = more.out_dir
    assert folder.is_dir()
    at.selectbox(key="runs_pick").set_value(more.id).run()
    at.button(key="delete_run").click().run()
    assert not at.exception
    assert f"Deleted {more.name}" in at.success[0].value
    assert list(at.dataframe[0].value["run"]) == [parent.name]
    assert not folder.exists()
    assert [r.id for r in bench_of(session(token_of(at))).runs] == [parent.id]


def test_evaluate_finishes_a_run_whose_process_was_killed(tmp_path):
    """A command-line training into a workspace, killed (SIGKILL) after its first checkpoint:
    opening the workspace lists it interrupted, and Evaluate makes it usable and shows it."""
    token = secrets.token_urlsafe(16)
    folder = WorkspaceStore().root / token  # the store of NNSTUDIO_HOME, as the studio's
    data = tmp_path / "iris.csv"
    data.write_bytes(sample_csv("iris"))
    command = [sys.executable, "-m", "nncore", "train", "--workspace", str(folder)]
    command += ["--data", str(data), "--target", "species", "--epochs", "10000"]
    training = subprocess.Popen(
        [*command, "--no-early-stopping", "--quiet"],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + WAIT_SECONDS
        while not list(folder.glob("runs/*/checkpoint.npz")):
            assert training.poll() is None, "the training ended before its first checkpoint"
            assert time.monotonic() < deadline, "no checkpoint in time"
            time.sleep(0.2)
    finally:
        training.kill()
        training.wait(60)

    at = session(token, page="pages/runs.py")
    assert list(at.dataframe[0].value["status"]) == ["interrupted"]
    at.switch_page("pages/evaluate.py").run()
    assert not at.exception
    run = bench_of(at).current_run()
    if run.in_flight:  # it may be finished already on a fast machine
        assert "its model is being made from the best weights it saved" in at.info[0].value
    wait_until(at, lambda: not run.in_flight and bool(at.dataframe))
    assert run.status == "interrupted" and run.result() is not None
    assert list(at.dataframe[0].value.index)[0] == "network"
