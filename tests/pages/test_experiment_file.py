"""Experiment files in the sidebar: save every setting as one JSON file, load one back into every
widget of the Data, Model and Train steps, and refuse a file that does not fit with a message."""

import json
from pathlib import Path

import pytest
from streamlit.runtime.media_file_manager import MediaFileManager
from streamlit.testing.v1 import AppTest

from nncore.config import CompileSpec, DataSpec, Experiment, LayerSpec, TrainSpec
from ui import Keys

APP = str(Path(__file__).resolve().parents[2] / "app.py")

# Every setting away from its default, on the iris sample.
LOADED = Experiment(
    data=DataSpec(
        target="species",
        task="multiclass",
        scaling="minmax",
        roles=(("sepal width (cm)", "ignore"),),
        validation_fraction=0.3,
        test_fraction=0.1,
    ),
    layers=(
        LayerSpec(24, "tanh", dropout=0.2, l2=0.01),
        LayerSpec(12, "elu", batch_norm=True, l1=0.001),
        LayerSpec(6, "gelu"),
    ),
    compile=CompileSpec("sgd", 0.03, momentum=0.9, nesterov=True, loss="categorical_crossentropy"),
    training=TrainSpec(
        epochs=40,
        batch_size=64,
        monitor="val_accuracy",
        patience=4,
        restore_best_weights=False,
        reduce_lr_on_plateau=True,
        class_weight="balanced",
    ),
    seed=77,
)


def errors(at: AppTest) -> str:
    """The error messages shown, markdown escapes removed."""
    return "\n".join(e.value for e in at.error).replace("\\", "")


def open_page(page: str, sample: str = "iris") -> AppTest:
    at = AppTest.from_file(APP, default_timeout=60)
    at.run()
    at.button(key=f"sample_{sample}").click().run()
    if page != "pages/data.py":
        at.switch_page(page).run()
    assert not at.exception
    return at


def load(at: AppTest, data: bytes, name: str = "experiment.json") -> AppTest:
    at.file_uploader(key="experiment_upload").set_value((name, data, "application/json")).run()
    assert not at.exception
    return at


@pytest.fixture
def downloads(monkeypatch) -> dict[str, bytes]:
    """The bytes behind every download button drawn, by the button's URL."""
    saved: dict[str, bytes] = {}
    add = MediaFileManager.add

    def remember(self, data, mimetype, coordinates, file_name=None, **kwargs):
        url = add(self, data, mimetype, coordinates, file_name, **kwargs)
        saved[url] = data if isinstance(data, bytes) else data.encode()
        return url

    monkeypatch.setattr(MediaFileManager, "add", remember)
    return saved


def saved_experiment(at: AppTest, downloads: dict[str, bytes]) -> Experiment:
    return Experiment.from_json(downloads[at.download_button(key="experiment_download").proto.url])


def test_save_holds_the_settings_on_screen(downloads):
    at = open_page("pages/data.py")
    at.radio(key="scaling").set_value("robust").run()
    at.slider(key="validation_fraction").set_value(0.35).run()
    saved = saved_experiment(at, downloads)
    assert saved.data.target == "species"
    assert (saved.data.scaling, saved.data.validation_fraction) == ("robust", 0.35)
    at.switch_page("pages/model.py").run()
    at.button(key="preset_wide").click().run()
    saved = saved_experiment(at, downloads)
    assert [layer.units for layer in saved.layers] == [256, 128]
    assert saved.data.scaling == "robust"  # the data settings travel with the model


@pytest.mark.parametrize("where", ["pages/data.py", "pages/model.py"])
def test_loading_a_file_sets_every_widget_of_data_model_and_train(where):
    at = load(open_page(where), LOADED.to_json().encode())
    assert not at.error
    assert "Loaded experiment.json: predict species" in at.success[0].value

    at.switch_page("pages/data.py").run()
    assert at.selectbox(key="target").value == "species"
    assert at.selectbox(key="task").value == "multiclass"
    assert at.radio(key="scaling").value == "minmax"
    assert at.slider(key="validation_fraction").value == pytest.approx(0.3)
    assert at.slider(key="test_fraction").value == pytest.approx(0.1)
    assert "sepal width (cm)" not in dict(at.session_state[Keys.PLAN].features)

    at.switch_page("pages/model.py").run()
    for i, layer in enumerate(LOADED.layers):
        assert at.number_input(key=f"units_{i}").value == layer.units
        assert at.selectbox(key=f"activation_{i}").value == layer.activation
        assert at.slider(key=f"dropout_{i}").value == pytest.approx(layer.dropout)
        assert at.number_input(key=f"l1_{i}").value == pytest.approx(layer.l1)
        assert at.number_input(key=f"l2_{i}").value == pytest.approx(layer.l2)
        assert at.checkbox(key=f"batch_norm_{i}").value == layer.batch_norm
    assert f"units_{len(LOADED.layers)}" not in [w.key for w in at.number_input]

    at.switch_page("pages/train.py").run()
    assert not at.exception
    shown = {key: at.selectbox(key=key).value for key in ("optimizer", "loss", "monitor")} | {
        key: at.select_slider(key=key).value for key in ("learning_rate", "batch_size")
    }
    assert shown == {
        "optimizer": "sgd",
        "loss": "categorical_crossentropy",
        "monitor": "val_accuracy",
        "learning_rate": 0.03,
        "batch_size": 64,
    }
    assert at.slider(key="momentum").value == pytest.approx(0.9)
    assert at.number_input(key="epochs").value == 40
    assert at.number_input(key="patience").value == 4
    assert at.number_input(key="seed").value == 77
    checks = ("nesterov", "class_weight", "early_stopping", "restore_best_weights", "reduce_lr")
    assert [at.checkbox(key=key).value for key in checks] == [True, True, True, False, True]
    # The Train page rebuilt the experiment from its widgets: nothing was lost on the way.
    assert at.session_state[Keys.EXPERIMENT] == LOADED


def test_a_loss_for_another_task_is_refused():
    at = open_page("pages/data.py")
    before = at.session_state[Keys.EXPERIMENT]
    load(at, LOADED.replace(compile=CompileSpec(loss="mse")).to_json().encode())
    assert "the loss 'mse' does not fit a multiclass task" in errors(at)
    assert at.session_state[Keys.EXPERIMENT] == before


def test_a_file_made_for_other_columns_is_refused_and_nothing_changes():
    at = open_page("pages/model.py")
    at.button(key="preset_deep").click().run()
    before = at.session_state[Keys.EXPERIMENT]
    other = LOADED.replace(data=DataSpec(target="price", roles=(("rooms", "categorical"),)))
    load(at, other.to_json().encode(), "houses.json")
    message = errors(at)
    assert "target column 'price' is not in this data" in message
    assert "'petal width (cm)'" in message  # the columns it has
    assert at.session_state[Keys.EXPERIMENT] == before
    assert [at.number_input(key=f"units_{i}").value for i in range(5)] == [64] * 5
    assert not at.success


@pytest.mark.parametrize(
    ("content", "words"),
    [
        (b"not json", ["not valid JSON"]),
        (json.dumps({**LOADED.to_dict(), "colour": "red"}).encode(), ["unknown field 'colour'"]),
        (
            json.dumps({**LOADED.to_dict(), "schema_version": 3}).encode(),
            ["schema_version 3", "newer studio"],
        ),
        (
            LOADED.to_json().replace('"tanh"', '"tanhh"').encode(),
            ["experiment.layers[0].activation", "'tanhh' is not one of"],
        ),
        (b" " * 1_100_000, ["an experiment file has a few kilobytes"]),
    ],
    ids=["not-json", "unknown-field", "newer-version", "unknown-value", "huge"],
)
def test_a_file_that_is_not_a_valid_experiment_is_refused_with_the_reason(content, words):
    at = open_page("pages/data.py")
    before = at.session_state[Keys.EXPERIMENT]
    load(at, content)
    for word in words:
        assert word in errors(at)
    assert at.session_state[Keys.EXPERIMENT] == before
    assert at.selectbox(key="target").value == "species"


HOSTILE = {
    "deep": (b"[" * 450_000, "450,000 levels deep"),
    "long-integer": (
        LOADED.to_json().replace('"seed": 77', '"seed": ' + "7" * 5_000).encode(),
        "5,000 digits",
    ),
    "long-text": (
        LOADED.to_json().replace('"sgd"', '"' + "A" * 900_000 + '"').encode(),
        "900,000 characters",
    ),
}


@pytest.mark.parametrize(("content", "words"), HOSTILE.values(), ids=HOSTILE.keys())
def test_a_hostile_file_is_refused_in_one_short_line(content, words):
    at = open_page("pages/data.py")
    before = at.session_state[Keys.EXPERIMENT]
    load(at, content)
    assert [e.value for e in at.error] and len(errors(at)) < 300
    assert words in errors(at) and "\n" not in errors(at)
    assert at.session_state[Keys.EXPERIMENT] == before
