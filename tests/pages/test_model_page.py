"""The Model page: presets, the layer editor, the output layer from the task, the live summary."""

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from nncore.config import DataSpec, Experiment, LayerSpec, count_parameters
from nncore.data.columns import profile_columns
from nncore.data.plan import estimate_width, plan_columns
from nncore.data.samples import SAMPLES, load_sample
from nncore.errors import ConfigError
from ui import Keys

APP = str(Path(__file__).resolve().parents[2] / "app.py")
NOTES = (LayerSpec(50, "relu"), LayerSpec(32, "relu"))


def joined(elements) -> str:
    return "\n".join(element.value for element in elements)


def seeded(name: str = "iris", layers: tuple[LayerSpec, ...] | None = None) -> AppTest:
    """The Model page after the sample `name` was loaded on the Data step."""
    app = AppTest.from_file(APP, default_timeout=30)
    frame = load_sample(name)
    profiles = profile_columns(frame)
    spec = DataSpec(target=SAMPLES[name].target)
    app.session_state[Keys.DATASET] = frame
    app.session_state[Keys.PROFILES] = profiles
    app.session_state[Keys.PLAN] = plan_columns(frame, spec, profiles)
    experiment = Experiment(data=spec)
    app.session_state[Keys.EXPERIMENT] = (
        experiment if layers is None else experiment.replace(layers=layers)
    )
    return run(app.switch_page("pages/model.py"))


def run(target) -> AppTest:
    """Run the app, or the app after an interaction with one of its widgets; no exception."""
    app = target.run()
    assert not app.exception
    return app


def stored(app: AppTest) -> tuple[LayerSpec, ...]:
    return app.session_state[Keys.EXPERIMENT].layers


def shown_units(app: AppTest) -> list[int]:
    return [app.number_input(key=f"units_{i}").value for i in range(len(stored(app)))]


@pytest.fixture
def at() -> AppTest:
    return seeded()


def test_without_data_the_page_links_to_the_data_step():
    app = run(AppTest.from_file(APP, default_timeout=30).switch_page("pages/model.py"))
    assert "Load a CSV or pick a sample first." in joined(app.info)
    assert [link.proto.page for link in app.get("page_link")] == ["data"]
    assert not app.number_input and not app.button


def test_without_a_learnable_target_the_page_links_to_the_data_step():
    app = AppTest.from_file(APP, default_timeout=30)
    app.session_state[Keys.DATASET] = load_sample("iris")
    run(app.switch_page("pages/model.py"))
    assert "Choose a target on the Data step first, one a model can learn." in joined(app.info)
    assert [link.proto.page for link in app.get("page_link")] == ["data"]
    assert not app.number_input and not app.button


def test_the_default_design_is_the_notes_model(at):
    assert stored(at) == NOTES
    assert shown_units(at) == [50, 32]
    assert [at.selectbox(key=f"activation_{i}").value for i in range(2)] == ["relu", "relu"]
    assert at.slider(key="dropout_0").value == 0.0
    assert at.checkbox(key="batch_norm_0").value is False
    assert at.number_input(key="l2_1").value == 0.0


def test_the_activation_help_explains_the_choices(at):
    text = at.selectbox(key="activation_0").help
    for words in ("die", "vanish", "self-normalizing", "leaky_relu", "elu", "sigmoid", "tanh"):
        assert words in text


@pytest.mark.parametrize(
    ("preset", "layers"),
    [
        ("small", (LayerSpec(16),)),
        ("wide", (LayerSpec(256), LayerSpec(128))),
        ("deep", (LayerSpec(64),) * 5),
        ("default", NOTES),
    ],
)
def test_a_preset_replaces_the_layers(preset, layers):
    app = seeded(layers=(LayerSpec(8, "tanh", dropout=0.5, batch_norm=True),) * 3)
    run(app.button(key=f"preset_{preset}").click())
    assert stored(app) == layers
    assert shown_units(app) == [layer.units for layer in layers]
    assert all(app.selectbox(key=f"activation_{i}").value == "relu" for i in range(len(layers)))
    assert all(app.slider(key=f"dropout_{i}").value == 0.0 for i in range(len(layers)))
    assert not app.checkbox(key="batch_norm_0").value


def test_add_appends_a_copy_of_the_last_layer(at):
    run(at.number_input(key="units_1").set_value(12))
    run(at.button(key="add_layer").click())
    assert stored(at) == (*NOTES[:1], LayerSpec(12), LayerSpec(12))
    assert shown_units(at) == [50, 12, 12]


def test_remove_then_move_up_and_down():
    layers = (LayerSpec(10), LayerSpec(20, "tanh"), LayerSpec(30, "elu"))
    app = seeded(layers=layers)
    assert app.button(key="up_0").disabled and app.button(key="down_2").disabled
    run(app.button(key="up_2").click())
    assert stored(app) == (layers[0], layers[2], layers[1])
    assert app.selectbox(key="activation_1").value == "elu"
    run(app.button(key="down_0").click())
    assert stored(app) == (layers[2], layers[0], layers[1])
    assert shown_units(app) == [30, 10, 20]
    run(app.button(key="remove_1").click())
    assert stored(app) == (layers[2], layers[1])
    assert shown_units(app) == [30, 20]
    assert app.selectbox(key="activation_1").value == "tanh"


def test_editing_a_layer_updates_its_spec(at):
    run(at.number_input(key="units_0").set_value(64))
    run(at.selectbox(key="activation_0").select("leaky_relu"))
    run(at.slider(key="dropout_0").set_value(0.2))
    run(at.checkbox(key="batch_norm_0").check())
    run(at.number_input(key="l1_0").set_value(0.001))
    run(at.number_input(key="l2_0").set_value(0.01))
    assert stored(at) == (LayerSpec(64, "leaky_relu", 0.2, 0.001, 0.01, True), NOTES[1])
    table = at.dataframe[0].value
    assert table.loc["hidden 1", "extras"] == "dropout 0.2, batch norm, L1 0.001, L2 0.01"


def test_all_layers_can_be_removed_for_a_linear_model():
    app = seeded("diabetes", layers=(LayerSpec(8),))
    run(app.button(key="remove_0").click())
    assert stored(app) == ()
    assert "linear regression" in joined(app.info)
    assert not app.number_input
    assert list(app.dataframe[0].value.index) == ["input", "output"]
    run(app.button(key="add_layer").click())
    assert stored(app) == (LayerSpec(32),)


def test_no_more_than_32_layers():
    app = seeded(layers=(LayerSpec(4),) * 32)
    assert app.button(key="add_layer").disabled


def test_a_layer_the_engine_refuses_is_explained_and_the_old_one_kept(at, monkeypatch):
    """The widgets' bounds keep values in range; should the engine still refuse one, the user
    reads why and the design is unchanged."""
    checks = LayerSpec.__post_init__

    def stricter(layer: LayerSpec) -> None:
        checks(layer)
        if layer.units % 2:
            raise ConfigError(f"layer: this engine takes even units only, got {layer.units}.")

    monkeypatch.setattr(LayerSpec, "__post_init__", stricter)
    run(at.number_input(key="units_0").set_value(51))
    assert "even units only, got 51" in joined(at.error)
    assert stored(at) == NOTES
    assert at.number_input(key="units_0").value == 50
    run(at.number_input(key="units_0").set_value(60))
    assert not at.error
    assert stored(at) == (LayerSpec(60), NOTES[1])


@pytest.mark.parametrize(
    ("name", "units", "activation", "why"),
    [
        ("iris", 3, "softmax", "one probability per class"),
        ("wine", 3, "softmax", "one probability per class"),
        ("breast_cancer", 1, "sigmoid", "the probability of malignant"),
        ("diabetes", 1, "linear", "predicts any number"),
    ],
)
def test_the_output_layer_follows_the_task(name, units, activation, why):
    app = seeded(name)
    plural = "" if units == 1 else "s"
    assert f"**{units} unit{plural}, {activation}**: " in joined(app.markdown)
    assert why in joined(app.markdown)
    output = app.dataframe[0].value.loc["output"]
    assert (output["units"], output["activation"]) == (units, activation)


@pytest.mark.parametrize("name", list(SAMPLES))
def test_the_summary_counts_inputs_and_parameters(name):
    layers = (LayerSpec(20, batch_norm=True), LayerSpec(7, "tanh"))
    app = seeded(name, layers=layers)
    frame, plan = app.session_state[Keys.DATASET], app.session_state[Keys.PLAN]
    width = estimate_width(frame, plan)
    outputs = len(plan.classes) if plan.task == "multiclass" else 1
    total = count_parameters(width, layers, outputs)
    metrics = {metric.label: metric.value for metric in app.metric}
    assert metrics == {"Inputs": f"{width:,}", "Parameters": f"{total:,}"}
    table = app.dataframe[0].value
    assert list(table.index) == ["input", "hidden 1", "hidden 2", "output"]
    assert list(table["units"]) == [width, 20, 7, outputs]
    assert table["parameters"].sum() == total


def test_the_architecture_diagram_shows_the_design(at):
    run(at.button(key="preset_deep").click())
    (chart,) = at.get("plotly_chart")
    figure = json.loads(chart.proto.spec)
    text = json.dumps(figure)
    assert f"{count_parameters(4, (LayerSpec(64),) * 5, 3):,}" in text
    assert "hidden 5" in text and "softmax" in text


def test_the_design_survives_a_visit_to_the_data_page(at):
    run(at.button(key="preset_wide").click())
    run(at.selectbox(key="activation_1").select("elu"))
    run(at.slider(key="dropout_0").set_value(0.5))
    design = stored(at)
    run(at.switch_page("pages/data.py"))
    assert at.selectbox(key="target")  # the Data page is drawn; the Model widgets are gone
    run(at.switch_page("pages/model.py"))
    assert stored(at) == design == (LayerSpec(256, dropout=0.5), LayerSpec(128, "elu"))
    assert shown_units(at) == [256, 128]
    assert at.selectbox(key="activation_1").value == "elu"
    assert at.slider(key="dropout_0").value == 0.5


def test_the_server_side_never_imports_tensorflow():
    """In a fresh process: other tests in this session may have imported TensorFlow."""
    code = textwrap.dedent(
        f"""
        import sys
        from streamlit.testing.v1 import AppTest
        at = AppTest.from_file({APP!r}, default_timeout=60).run()
        at.button(key="sample_iris").click().run()
        at.switch_page("pages/model.py").run()
        at.button(key="preset_deep").click().run()
        at.button(key="add_layer").click().run()
        assert not at.exception, at.exception
        assert len(at.session_state["{Keys.EXPERIMENT}"].layers) == 6
        assert at.get("plotly_chart")
        print("tensorflow" in sys.modules, "keras" in sys.modules)
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=Path(APP).parent,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["False", "False"]
