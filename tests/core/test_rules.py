"""The rule tables: every row works in every reader (the model builder, the code generator, the
model-file allow-list, the plots), the readers agree with each other, and every spec field
refuses what its rule does not allow, naming the field."""

import dataclasses
import math

import keras
import numpy as np
import pytest
from frames import TARGETS, mixed_frame

from nncore import plots, rules
from nncore.artifacts.codegen import render
from nncore.artifacts.export import portable_model
from nncore.artifacts.modelfile import validate_model_file
from nncore.config import (
    CompileSpec,
    DataSpec,
    Experiment,
    LayerSpec,
    TrainSpec,
    count_parameters,
    monitor_mode,
    output_units,
)
from nncore.data.plan import plan_columns
from nncore.data.prepare import prepare
from nncore.errors import ConfigError
from nncore.learn.model import build_model, compile_model

# Every (task, loss) the tables allow.
PAIRS = [(task, loss) for task, row in rules.TASKS.items() for loss in row.losses]
N_CLASSES = {"regression": 0, "binary": 2, "multiclass": 3}


def tiny_targets(task: str, loss: str, rows: int, rng: np.random.Generator) -> np.ndarray:
    if task == "regression":
        return rng.normal(size=(rows, 1)).astype("float32")
    labels = rng.integers(0, N_CLASSES[task], rows)
    if rules.LOSSES[loss].one_hot:
        return np.eye(N_CLASSES[task], dtype="float32")[labels]
    return labels.reshape(-1, 1).astype("float32") if task == "binary" else labels


def keras_name(config_value) -> str:
    """An activation as a layer's config gives it: a name, or a serialized function."""
    return config_value if isinstance(config_value, str) else config_value["config"]


# ------------------------------------------------------------------------------ model builder


@pytest.mark.parametrize(("task", "loss"), PAIRS)
def test_every_activation_and_optimizer_builds_and_compiles_for_every_task_and_loss(task, loss):
    classes = N_CLASSES[task]
    for activation in rules.ACTIVATIONS.values():
        for optimizer in rules.OPTIMIZERS.values():
            model = build_model(3, (LayerSpec(4, activation.name),), task, classes)
            used = compile_model(model, CompileSpec(optimizer.name, loss=loss), task)
            assert used == loss
            hidden, output = model.get_layer("dense_1"), model.get_layer("output")
            assert keras_name(hidden.get_config()["activation"]) == activation.keras_name
            initializer = (activation.initializer or "glorot_uniform").split("_")
            assert hidden.get_config()["kernel_initializer"]["class_name"] == "".join(
                part.capitalize() for part in initializer
            )
            assert output.get_config()["activation"] == rules.TASKS[task].output_activation
            assert output.units == output_units(task, classes)
            assert type(model.optimizer).__name__ == optimizer.keras
            assert type(model.loss).__name__ == rules.LOSSES[loss].keras
            assert model.count_params() == count_parameters(
                3, (LayerSpec(4, activation.name),), output_units(task, classes)
            )


@pytest.mark.parametrize(("task", "loss"), PAIRS)
def test_the_logged_metrics_are_the_tables_and_the_plots_and_early_stopping_agree(task, loss):
    rng = np.random.default_rng(0)
    model = build_model(3, (LayerSpec(4),), task, N_CLASSES[task])
    compile_model(model, CompileSpec(loss=loss), task)
    x = rng.normal(size=(16, 3)).astype("float32")
    y = tiny_targets(task, loss, 16, rng)
    history = model.fit(x, y, validation_data=(x, y), epochs=1, verbose=0).history
    trained = [name for name, _ in rules.trained_metrics(task, loss)]
    assert sorted(history) == sorted(
        [*(f"{p}{n}" for p in ("", "val_") for n in ("loss", *trained))]
    )
    assert set(rules.monitors(task)) >= {f"val_{name}" for name in ("loss", *trained)}
    for name in ("loss", *trained):
        metric = rules.METRICS[name]
        assert task in metric.tasks
        assert plots.metric_label(name) == metric.label
        expected = "max" if metric.higher_is_better else "min"
        assert monitor_mode(f"val_{name}") == monitor_mode(name) == expected
        TrainSpec(monitor=f"val_{name}")  # early stopping may follow it


@pytest.mark.parametrize("metric", list(rules.METRICS.values()), ids=lambda m: m.name)
def test_every_metric_reads_the_same_in_the_plots_and_early_stopping(metric):
    """One direction per metric: the figures and early stopping read it from the table."""
    network = {metric.name: 0.5}
    figure = plots.baseline_comparison({"network": network, "baselines": {}}, metric.name)
    better = "higher" if metric.higher_is_better else "lower"
    assert figure.layout.title.subtitle.text == f"{better} is better"
    assert monitor_mode(f"val_{metric.name}") == ("max" if metric.higher_is_better else "min")
    assert plots.metric_label(metric.name) == metric.label
    assert set(metric.tasks) <= set(rules.TASKS)


def test_f1_precision_and_recall_are_higher_is_better_everywhere():
    for name in ("f1", "precision", "recall", "accuracy", "auc", "r2"):
        assert monitor_mode(f"val_{name}") == "max"
    for name in ("loss", "mae", "rmse", "log_loss"):
        assert monitor_mode(f"val_{name}") == "min"


# ----------------------------------------------------------------------------- code generator


@pytest.fixture(scope="module")
def schemas():
    """A schema per task and scaling, as the engine prepares them."""
    made = {}
    for task in rules.TASKS:
        frame = mixed_frame(60, task)
        for scaling in rules.SCALERS:
            data = DataSpec(target=TARGETS[task], scaling=scaling)
            plan = plan_columns(frame, data)
            made[task, scaling] = prepare(frame, plan, data, 0).schema
    return made


def test_every_row_reaches_the_generated_script(schemas):
    scalers = [s for s in rules.SCALERS.values() if s.sklearn]
    for (task, scaling), schema in schemas.items():
        scaler = rules.SCALERS[scaling]
        assert schema.scaling == scaling
        for loss in rules.TASKS[task].losses:
            for activation in rules.ACTIVATIONS:
                for optimizer in rules.OPTIMIZERS.values():
                    experiment = Experiment(
                        data=DataSpec(target=TARGETS[task], scaling=scaling),
                        layers=(LayerSpec(4, activation),),
                        compile=CompileSpec(optimizer.name, loss=loss),
                    )
                    script = render(experiment, schema)
                    where = f"{task} {scaling} {loss} {activation} {optimizer.name}"
                    assert f"keras.optimizers.{optimizer.keras}(" in script, where
                    assert f'activation="{activation}"' in script, where
                    initializer = rules.ACTIVATIONS[activation].initializer
                    assert ("kernel_initializer" in script) == bool(initializer), where
                    output = rules.TASKS[task].output_activation
                    assert f'activation="{output}")' in script, where
                    assert f'loss="{loss}"' in script, where
                    for name, keras_class in rules.trained_metrics(task, loss):
                        options = "".join(
                            f", {k}={v!r}".replace("'", '"')
                            for k, v in rules.METRICS[name].keras_options
                        )
                        call = f'keras.metrics.{keras_class}(name="{name}"{options})'
                        assert call in script, where
                    used = {s.name for s in scalers if f"{s.sklearn}()" in script}
                    assert used == ({scaling} if scaler.sklearn else set()), where
                    compile(script, where, "exec")


# ------------------------------------------------------------------------- model-file allow-list


def test_a_model_with_each_activation_optimizer_loss_and_metric_passes_the_allow_list(
    schemas, tmp_path
):
    """One small exported model per activation, cycling through optimizers and (task, loss)
    pairs so that every row of each table is saved in both formats at least once; compiled with
    the training metrics too, so that the metric allow-list sees each of them."""
    optimizers = list(rules.OPTIMIZERS)
    count = max(len(rules.ACTIVATIONS), len(optimizers), len(PAIRS))
    activations = list(rules.ACTIVATIONS)
    seen = set()
    for i in range(count):
        activation = activations[i % len(activations)]
        optimizer = optimizers[i % len(optimizers)]
        task, loss = PAIRS[i % len(PAIRS)]
        schema = schemas[task, "standard"]
        classes = len(schema.target.classes)
        layers = (LayerSpec(4, activation, batch_norm=i % 2 == 1, dropout=0.1),)
        model = portable_model(build_model(schema.width, layers, task, classes), schema)
        compile_model(model, CompileSpec(optimizer, loss=loss), task)
        for suffix in ("keras", "h5"):
            path = tmp_path / f"model_{i}.{suffix}"
            model.save(path)
            info = validate_model_file(path)
            assert info.parameters == model.count_params(), (activation, optimizer, loss)
            assert info.output_width == output_units(task, classes)
        seen |= {("activation", activation), ("optimizer", optimizer), ("loss", loss)}
        seen |= {("metric", name) for name, _ in rules.trained_metrics(task, loss)}
    keras.backend.clear_session()
    trained = {name for task, loss in PAIRS for name, _ in rules.trained_metrics(task, loss)}
    assert seen == (
        {("activation", a) for a in rules.ACTIVATIONS}
        | {("optimizer", o) for o in rules.OPTIMIZERS}
        | {("loss", loss) for _, loss in PAIRS}
        | {("metric", m) for m in trained}
    )


# --------------------------------------------------------------------------------- the specs


@pytest.mark.parametrize(
    ("make", "field"),
    [
        (lambda: LayerSpec(activation="banana"), "layer.activation"),
        (lambda: LayerSpec(activation=None), "layer.activation"),
        (lambda: LayerSpec(units=0), "layer.units"),
        (lambda: LayerSpec(units=5000), "layer.units"),
        (lambda: LayerSpec(units=2.5), "layer.units"),
        (lambda: LayerSpec(units=True), "layer.units"),
        (lambda: LayerSpec(dropout=0.95), "layer.dropout"),
        (lambda: LayerSpec(dropout=math.nan), "layer.dropout"),
        (lambda: LayerSpec(l1=-0.1), "layer.l1"),
        (lambda: LayerSpec(l2="big"), "layer.l2"),
        (lambda: LayerSpec(batch_norm="yes"), "layer.batch_norm"),
        (lambda: CompileSpec(optimizer="banana"), "compile.optimizer"),
        (lambda: CompileSpec(learning_rate=-1), "compile.learning_rate"),
        (lambda: CompileSpec(learning_rate=0), "compile.learning_rate"),
        (lambda: CompileSpec(learning_rate=11.0), "compile.learning_rate"),
        (lambda: CompileSpec(momentum=1.0), "compile.momentum"),
        (lambda: CompileSpec(nesterov=1), "compile.nesterov"),
        (lambda: CompileSpec(nesterov=True), "nesterov"),
        (lambda: CompileSpec(loss="banana"), "compile.loss"),
        (lambda: TrainSpec(epochs=0), "training.epochs"),
        (lambda: TrainSpec(epochs=10.0), "training.epochs"),
        (lambda: TrainSpec(batch_size=0), "training.batch_size"),
        (lambda: TrainSpec(patience=-1), "training.patience"),
        (lambda: TrainSpec(min_delta=-0.1), "training.min_delta"),
        (lambda: TrainSpec(reduce_lr_factor=1.5), "training.reduce_lr_factor"),
        (lambda: TrainSpec(reduce_lr_patience=-2), "training.reduce_lr_patience"),
        (lambda: TrainSpec(monitor="val_banana"), "training.monitor"),
        (lambda: TrainSpec(monitor="val_f1"), "training.monitor"),  # not logged while training
        (lambda: TrainSpec(monitor=3), "training.monitor"),
        (lambda: TrainSpec(class_weight="heavy"), "training.class_weight"),
        (lambda: TrainSpec(early_stopping="no"), "training.early_stopping"),
        (lambda: TrainSpec(restore_best_weights=None), "training.restore_best_weights"),
        (lambda: TrainSpec(reduce_lr_on_plateau=0), "training.reduce_lr_on_plateau"),
        (lambda: DataSpec(scaling="x"), "data.scaling"),
        (lambda: DataSpec(task="clustering"), "data.task"),
        (lambda: DataSpec(validation_fraction=0.01), "data.validation_fraction"),
        (lambda: DataSpec(test_fraction=0.6), "data.test_fraction"),
        (lambda: DataSpec(scale_target="yes"), "data.scale_target"),
        (lambda: DataSpec(target=5), "target"),
        (lambda: Experiment(seed=-1), "experiment.seed"),
        (lambda: Experiment(seed=1.5), "experiment.seed"),
        (lambda: Experiment(layers=(LayerSpec(),) * 33), "experiment.hidden_layers"),
    ],
)
def test_every_spec_field_refuses_values_outside_its_rule_naming_the_field(make, field):
    with pytest.raises(ConfigError, match=f"(^|: ){field}\\b"):
        make()


SPECS = {
    DataSpec: DataSpec(),
    LayerSpec: LayerSpec(),
    CompileSpec: CompileSpec(optimizer="sgd"),  # sgd takes every compile setting
    TrainSpec: TrainSpec(),
    Experiment: Experiment(),
}
RULED = [
    (spec, f.name, f.metadata["rule"])
    for spec in SPECS
    for f in dataclasses.fields(spec)
    if "rule" in f.metadata
]


@pytest.mark.parametrize(
    ("spec", "name", "rule"), RULED, ids=[f"{spec.__name__}.{name}" for spec, name, _ in RULED]
)
def test_each_setting_is_the_fields_default_and_its_bounds_hold(spec, name, rule):
    assert rule.name == name
    assert getattr(spec(), name) == rule.default
    base = SPECS[spec]
    if isinstance(rule.default, bool):
        for value in (True, False):
            dataclasses.replace(base, **{name: value})
        return
    if isinstance(rule.default, str):
        assert rule.default in rule.choices
        for value in rule.choices:
            dataclasses.replace(base, **{name: value})
        with pytest.raises(ConfigError, match=f"{name}: 'no such' is not one of"):
            dataclasses.replace(base, **{name: "no such"})
        return
    assert rule.low <= rule.default <= rule.high
    for value in (rule.low, rule.high):
        dataclasses.replace(base, **{name: value})
    step = 1 if isinstance(rule.default, int) else rule.high / 100
    for value in (rule.low - step, rule.high + step):
        with pytest.raises(ConfigError, match=f"{name} must be between"):
            dataclasses.replace(base, **{name: value})


def test_a_long_value_is_quoted_shortly():
    with pytest.raises(ConfigError) as caught:
        LayerSpec(activation="x" * 10_000)
    assert "layer.activation" in str(caught.value)
    assert len(str(caught.value)) < 300


def test_a_file_names_the_full_path_of_a_refused_value():
    raw = Experiment().to_dict()
    raw["layers"][1]["units"] = 0
    with pytest.raises(ConfigError, match=r"experiment\.layers\[1\]\.units must be between 1"):
        Experiment.from_dict(raw)
