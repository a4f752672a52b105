"""The Train page: settings, a real background training, live charts, Stop."""

import json
import re
import time

import numpy as np
import pandas as pd
from streamlit.testing.v1 import AppTest

from nncore import rules
from nncore.config import LayerSpec
from nncore.data.samples import SAMPLES, load_sample
from nncore.run.session import Run
from tests.pages.workspaces import APP, session, token_of
from ui import Keys

WAIT_SECONDS = 240


def open_train_page(sample: str = "iris", rows: int | None = None, layers=None) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=60)
    at.run()
    if rows is None:
        at.button(key=f"sample_{sample}").click().run()
    else:  # uploaded, so that the workspace keeps the table a training reads
        frame = load_sample(sample).sample(rows, replace=True, random_state=0)
        data = frame.to_csv(index=False).encode()
        at.file_uploader(key="upload").set_value((f"{sample}.csv", data, "text/csv")).run()
        at.selectbox(key="target").set_value(SAMPLES[sample].target).run()
    if layers is not None:
        at.session_state[Keys.EXPERIMENT] = at.session_state[Keys.EXPERIMENT].replace(layers=layers)
    at.switch_page("pages/train.py").run()
    assert not at.exception
    return at


def run_until(at: AppTest, done, seconds: float = WAIT_SECONDS) -> AppTest:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        at.run()
        assert not at.exception
        if done(at):
            at.run()  # the state reached may have come after this script run's drawing
            assert not at.exception
            return at
        time.sleep(0.5)
    raise AssertionError("the page did not reach the expected state in time")


def current_run(at: AppTest) -> Run:
    return at.session_state[Keys.WORKBENCH].runs[-1]


def chart_title(element) -> str:
    return json.loads(element.proto.spec)["layout"]["title"]["text"]


def place_on_page(at: AppTest, heading: str) -> int:
    """The position of `heading` among the page's top-level elements."""
    return next(
        i for i, node in at.main.children.items() if getattr(node, "value", None) == heading
    )


def test_guard_without_data_links_to_the_data_page():
    at = AppTest.from_file(APP, default_timeout=30)
    at.run()
    at.switch_page("pages/train.py").run()
    assert not at.exception
    assert "Load a CSV or pick a sample first." in at.info[0].value
    assert "start" not in [b.key for b in at.button]


def test_only_losses_that_fit_the_task_are_offered():
    at = open_train_page("iris")
    assert at.selectbox(key="loss").options == [
        "auto (sparse_categorical_crossentropy)",
        "sparse_categorical_crossentropy",
        "categorical_crossentropy",
    ]
    at = open_train_page("diabetes")
    assert at.selectbox(key="loss").options == ["auto (mse)", "mse", "mae", "huber"]


def test_settings_are_kept_in_the_experiment_and_survive_a_page_switch():
    at = open_train_page("iris")
    at.selectbox(key="optimizer").set_value("sgd").run()
    at.slider(key="momentum").set_value(0.9).run()
    at.checkbox(key="nesterov").check().run()
    at.select_slider(key="learning_rate").set_value(0.01).run()
    at.number_input(key="epochs").set_value(7).run()
    at.checkbox(key="early_stopping").uncheck().run()
    experiment = at.session_state[Keys.EXPERIMENT]
    assert (experiment.compile.optimizer, experiment.compile.learning_rate) == ("sgd", 0.01)
    assert experiment.compile.momentum == 0.9 and experiment.compile.nesterov
    assert experiment.training.epochs == 7 and not experiment.training.early_stopping
    at.switch_page("pages/data.py").run()
    at.switch_page("pages/train.py").run()
    assert not at.exception
    assert at.selectbox(key="optimizer").value == "sgd"
    assert at.number_input(key="epochs").value == 7


def test_a_training_runs_in_the_background_and_its_curves_are_drawn():
    at = open_train_page("iris", layers=(LayerSpec(8),))
    at.number_input(key="epochs").set_value(5).run()
    at.button(key="start").click().run()
    assert not at.exception
    run = current_run(at)
    run_until(at, lambda _: not run.in_flight)
    assert run.status == "finished", run.error()
    assert "Finished 5 epochs" in at.success[0].value or "Early stopping" in at.success[0].value
    titles = [chart_title(c) for c in at.get("plotly_chart")]
    # loss and accuracy, training against validation; then the network's insides
    assert titles == [
        "Loss per epoch",
        "Accuracy per epoch",
        "Dead and saturated units per layer",
        "Gradient norm per layer",
    ]
    assert not at.button(key="start").disabled


def test_stop_ends_a_long_training_and_keeps_its_result():
    at = open_train_page("breast_cancer", rows=4000, layers=(LayerSpec(64), LayerSpec(64)))
    at.number_input(key="epochs").set_value(2000).run()
    at.checkbox(key="early_stopping").uncheck().run()
    at.button(key="start").click().run()
    run = current_run(at)
    run_until(at, lambda _: len(run.history()) >= 2)
    assert at.button(key="start").disabled
    assert at.get("progress")
    place_while_training = place_on_page(at, "Training: run 1")
    at.button(key="stop").click().run()
    run_until(at, lambda _: not run.in_flight, seconds=60)
    assert run.status == "stopped"
    # Nothing above the training comes or goes with the job: an element shifted down the page
    # is drawn twice until the rerun ends (as Streamlit keeps the old one meanwhile).
    assert place_on_page(at, "Training: run 1") == place_while_training
    result = current_run(at).result()
    assert result.training.stopped_by == "user" and 2 <= len(result.history) < 2000
    assert (result.out_dir / "model.keras").exists()


def test_a_reload_re_attaches_to_the_training_in_flight():
    at = open_train_page("iris")
    at.number_input(key="epochs").set_value(5000).run()
    at.checkbox(key="early_stopping").uncheck().run()
    at.button(key="start").click().run()
    run = current_run(at)
    run_until(at, lambda _: len(run.history()) >= 2)
    reloaded = session(token_of(at), page="pages/train.py")
    assert reloaded.session_state[Keys.WORKBENCH].current_run().id == run.id
    assert reloaded.button(key="start").disabled
    assert "epoch" in reloaded.get("progress")[0].proto.text
    (loss, *_) = reloaded.get("plotly_chart")
    drawn = len(json.loads(loss.proto.spec)["data"][0]["x"])
    assert drawn >= 2
    run_until(reloaded, lambda _: len(run.history()) > drawn + 1)
    (loss, *_) = reloaded.get("plotly_chart")
    assert len(json.loads(loss.proto.spec)["data"][0]["x"]) > drawn  # the chart goes on
    reloaded.button(key="stop").click().run()
    run_until(reloaded, lambda _: not run.in_flight, seconds=60)
    assert run.status == "stopped"


def test_a_deep_sigmoid_stack_shows_its_vanishing_gradients_live_and_after():
    at = open_train_page("iris", layers=(LayerSpec(16, "sigmoid"),) * 10)
    at.number_input(key="epochs").set_value(2000).run()
    at.checkbox(key="early_stopping").uncheck().run()
    at.button(key="start").click().run()
    run = current_run(at)

    def vanishing_alert(at: AppTest) -> str | None:
        return next((w.value for w in at.warning if "'s gradients " in w.value), None)

    run_until(at, lambda at: run.status == "running" and vanishing_alert(at))
    assert run.status == "running"  # shown while it trains
    at.button(key="stop").click().run()
    run_until(at, lambda _: not run.in_flight, seconds=60)
    assert run.status == "stopped"
    alert = vanishing_alert(at)  # and still shown after
    assert re.search(r"layer 1's gradients (are|were) under a", alert, re.IGNORECASE), alert
    assert "use relu instead of sigmoid" in alert
    charts = {chart_title(c): json.loads(c.proto.spec) for c in at.get("plotly_chart")}
    norms = charts["Gradient norm per layer"]
    assert norms["layout"]["yaxis"]["type"] == "log"
    assert [t["name"] for t in norms["data"]] == [
        *(f"layer {i} (sigmoid)" for i in range(1, 11)),
        "output layer (softmax)",
    ]
    measured = [r for r in current_run(at).result().diagnostics if r]
    assert all(len(t["y"]) == len(measured) > 0 for t in norms["data"])
    assert "Dead and saturated units per layer" in charts


def test_the_charts_are_built_again_only_when_an_epoch_has_ended():
    at = open_train_page("iris", layers=(LayerSpec(8),))
    at.number_input(key="epochs").set_value(3).run()
    at.checkbox(key="early_stopping").uncheck().run()
    at.button(key="start").click().run()
    run = current_run(at)
    run_until(at, lambda _: not run.in_flight)
    (loss, *_) = at.get("plotly_chart")
    assert json.loads(loss.proto.spec)["data"][0]["x"] == [1, 2, 3]
    built = {key: at.session_state[key] for key in ("live_loss", "live_health")}
    at.run()  # no epoch has ended since: the same figures are sent again
    assert not at.exception
    assert all(at.session_state[key] is figure for key, figure in built.items())


def churn(n: int = 200) -> bytes:
    """A binary table whose target, churned, is "yes" on one row in ten."""
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"x": rng.normal(size=n), "z": rng.normal(size=n)})
    frame["churned"] = np.where(np.arange(n) % 10 == 0, "yes", "no")
    return frame.to_csv(index=False).encode()


def test_an_imbalanced_binary_target_is_watched_on_pr_auc_unless_the_user_chose():
    at = AppTest.from_file(APP, default_timeout=60)
    at.run()
    at.file_uploader(key="upload").set_value(("churn.csv", churn(), "text/csv")).run()
    at.selectbox(key="target").set_value("churned").run()
    at.switch_page("pages/train.py").run()
    assert not at.exception
    assert at.selectbox(key="monitor").value == "val_pr_auc"
    assert at.session_state[Keys.EXPERIMENT].training.monitor == "val_pr_auc"
    why = [c.value for c in at.caption if rules.IMBALANCED.help in c.value]
    assert why == [f"The rarer class of churned is 10% of the rows. {rules.IMBALANCED.help}"]
    at.selectbox(key="monitor").select("val_loss").run()
    at.switch_page("pages/data.py").run()
    at.switch_page("pages/train.py").run()
    assert at.selectbox(key="monitor").value == "val_loss"  # the user's choice stays
    assert not [c for c in at.caption if rules.IMBALANCED.help in c.value]
    reloaded = session(token_of(at), "pages/train.py")
    assert reloaded.selectbox(key="monitor").value == "val_loss"


def test_a_balanced_target_keeps_watching_the_loss():
    at = open_train_page("breast_cancer")
    assert at.selectbox(key="monitor").value == "val_loss"
    assert not [c for c in at.caption if rules.IMBALANCED.help in c.value]
