"""Diagnostics while training: dead and saturated units, gradient norms per layer, alerts.

Real Keras on small seeded data; each training takes a few seconds.
"""

import re
import subprocess
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf
from frames import mixed_frame, tiny_experiment

from nncore import plots
from nncore.config import CompileSpec, LayerSpec, TrainSpec
from nncore.learn.diagnostics import (
    DEAD_ALERT,
    GRADIENT_ROWS,
    OUTPUT,
    TIME_SHARE,
    VANISHING_RATIO,
    Probe,
    alerts,
    split_history,
)
from nncore.learn.model import build_model, compile_model
from nncore.learn.train import Listener, train


def regression_data(n=600, d=8, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, d)).astype(np.float32)
    y = np.tanh(x[:, :3]).sum(1) + 0.5 * x[:, 3] * x[:, 4] + 0.1 * rng.normal(size=n)
    cut = int(n * 0.8)
    return x[:cut], y[:cut].astype(np.float32), x[cut:], y[cut:].astype(np.float32)


def trained(layers, compile_spec=CompileSpec(), epochs=5, data=None, **options):
    data = regression_data() if data is None else data
    keras.utils.set_random_seed(1)
    model = build_model(data[0].shape[1], layers, "regression")
    compile_model(model, compile_spec, "regression")
    spec = TrainSpec(epochs=epochs, early_stopping=False, restore_best_weights=False)
    return model, train(model, *data, spec, seed=0, **options)


def measured(outcome) -> list[dict]:
    """The records of the epochs measured (the first always is; others may be skipped)."""
    return [record for record in outcome.diagnostics if record]


def kinds(outcome) -> list[str]:
    return [alert.kind for alert in alerts(outcome.diagnostics)]


def test_a_network_driven_to_die_raises_the_dead_unit_alert_and_a_healthy_one_does_not():
    layers = (LayerSpec(32), LayerSpec(32))
    _, healthy = trained(layers, CompileSpec("adam", 0.001))
    _, dying = trained(layers, CompileSpec("adam", 0.3))

    assert alerts(healthy.diagnostics) == []
    assert max(layer["dead"] or 0 for layer in measured(healthy)[-1]["layers"]) < DEAD_ALERT

    dead = [a for a in alerts(dying.diagnostics) if a.kind == "dead"]
    assert dead, alerts(dying.diagnostics)
    worst = max(measured(dying)[-1]["layers"], key=lambda layer: layer["dead"] or 0)
    assert worst["dead"] >= 0.5 and worst["dead_at_start"] == 0.0
    message = next(a.message for a in dead if a.layer == worst["name"])
    assert message.startswith(f"{round(100 * worst['dead'])}% of {worst['name']}'s units are dead")
    assert "lower the learning rate or try leaky_relu / elu" in message


def test_a_deep_sigmoid_stack_shows_vanishing_gradients_and_its_relu_twin_does_not():
    _, sigmoid = trained((LayerSpec(16, "sigmoid"),) * 10, epochs=3)
    _, relu = trained((LayerSpec(16, "relu"),) * 10, epochs=3)

    for record in measured(sigmoid):
        norms = [layer["gradient_norm"] for layer in record["layers"]]
        # The pattern: the norms collapse towards the input, by decades over the last layers.
        assert norms[0] < VANISHING_RATIO * max(norms[1:10])
        assert norms[5] < norms[7] < norms[9]
    vanishing = [a for a in alerts(sigmoid.diagnostics) if a.kind == "vanishing"]
    assert len(vanishing) == 1
    assert re.search(r"layer 1's gradients (are|were) under a", vanishing[0].message, re.I)
    assert vanishing[0].message.endswith("use relu instead of sigmoid.")

    for record in measured(relu):
        norms = [layer["gradient_norm"] for layer in record["layers"]]
        assert norms[0] > 0.01 * max(norms[1:10])
    assert "vanishing" not in kinds(relu)


def test_unscaled_inputs_saturate_tanh_units_and_scaled_ones_do_not():
    x, y, xv, yv = regression_data()
    _, scaled = trained((LayerSpec(16, "tanh"),), epochs=1)
    _, unscaled = trained((LayerSpec(16, "tanh"),), epochs=1, data=(x * 1000, y, xv * 1000, yv))
    assert scaled.diagnostics[0]["layers"][0]["saturated"] == 0.0
    assert unscaled.diagnostics[0]["layers"][0]["saturated"] >= 0.9
    assert kinds(scaled) == []
    message = alerts(unscaled.diagnostics)[0].message
    assert "of layer 1's tanh units are saturated" in message
    assert "check that the inputs are scaled" in message


def test_records_follow_the_definitions_measured_independently():
    # One epoch at a high learning rate, then the record against numpy and a gradient tape.
    data = regression_data()
    layers = (LayerSpec(24, batch_norm=True), LayerSpec(12, "sigmoid"), LayerSpec(6, "elu"))
    model, outcome = trained(layers, CompileSpec("adam", 0.3), epochs=1, data=data)
    [record] = outcome.diagnostics
    x, y, xv, _ = data
    assert record["rows"] == len(xv) and record["gradient_rows"] == min(len(x), GRADIENT_ROWS)
    assert [(la["name"], la["activation"], la["units"]) for la in record["layers"]] == [
        ("layer 1", "relu", 24),
        ("layer 2", "sigmoid", 12),
        ("layer 3", "elu", 6),
        (OUTPUT, "linear", 1),
    ]

    # The relu of a batch-normalized layer is its Activation layer, after the normalization.
    outputs = keras.Model(
        model.input, [model.get_layer("activation_1").output, model.get_layer("dense_2").output]
    )(xv, training=False)
    relu, sigmoid = (np.asarray(o) for o in outputs)
    assert record["layers"][0]["dead"] == pytest.approx(np.mean(np.all(relu == 0, axis=0)))
    derivative = sigmoid * (1 - sigmoid) / 0.25
    saturated = np.mean(np.mean(derivative < 0.01, axis=0) >= 0.99)
    assert record["layers"][1]["saturated"] == pytest.approx(saturated)
    assert record["layers"][2]["dead"] is None and record["layers"][2]["saturated"] is None

    rows = np.unique(np.linspace(0, len(x) - 1, min(len(x), GRADIENT_ROWS)).round().astype(int))
    kernels = [model.get_layer(n).kernel for n in ("dense_1", "dense_2", "dense_3", "output")]
    with tf.GradientTape() as tape:
        loss = model.loss(y[rows], model(x[rows], training=False))
    expected = [float(tf.norm(g)) for g in tape.gradient(loss, kernels)]
    measured = [layer["gradient_norm"] for layer in record["layers"]]
    np.testing.assert_allclose(measured, expected, rtol=1e-4)


def test_diagnosing_changes_nothing_in_the_training():
    layers = (LayerSpec(16, dropout=0.2), LayerSpec(8, "tanh"))
    with_probe, diagnosed = trained(layers, epochs=3)
    without, plain = trained(layers, epochs=3, diagnose=False)
    assert diagnosed.history == plain.history
    for a, b in zip(with_probe.get_weights(), without.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    assert len(diagnosed.diagnostics) == 3 and diagnosed.diagnostics[0]
    assert plain.diagnostics == []


def test_each_epoch_reports_its_record_before_its_logs():
    heard = []
    listener = Listener(
        on_diagnostics=lambda epoch, record: heard.append(("diagnostics", epoch, record)),
        on_epoch_end=lambda epoch, logs: heard.append(("logs", epoch, logs)),
    )
    _, outcome = trained((LayerSpec(8),), epochs=2, listener=listener)
    assert [(kind, epoch) for kind, epoch, _ in heard] == [
        ("diagnostics", 0),
        ("logs", 0),
        ("diagnostics", 1),
        ("logs", 1),
    ]
    assert [item for kind, _, item in heard if kind == "diagnostics"] == outcome.diagnostics


def test_a_run_carries_one_record_per_epoch_to_its_result_and_the_charts(tmp_path):
    from nncore.run.pipeline import run_experiment

    result = run_experiment(mixed_frame(task="binary"), tiny_experiment("binary"), tmp_path)
    assert len(result.diagnostics) == len(result.history) > 0
    names = [layer["name"] for layer in result.diagnostics[0]["layers"]]
    assert names == ["layer 1", "layer 2", OUTPUT]

    norms = plots.gradient_norms(result.diagnostics)
    assert [t.name for t in norms.data] == [
        "layer 1 (relu)",
        "layer 2 (relu)",
        "output layer (sigmoid)",
    ]
    assert norms.layout.yaxis.type == "log"
    epochs = [i + 1 for i, record in enumerate(result.diagnostics) if record]
    assert all(list(t.x) == epochs for t in norms.data)
    units = plots.unit_health(result.diagnostics)
    assert [t.name for t in units.data] == ["layer 1 (relu), dead", "layer 2 (relu), dead"]
    assert list(units.data[0].y) == [r["layers"][0]["dead"] for r in result.diagnostics if r]


# --- alerts and charts from records, without training -------------------------------------------


def layer(name, activation="relu", dead=0.0, dead_at_start=0.0, saturated=None, norm=0.1):
    if activation != "relu":
        dead = dead_at_start = None
    return {
        "name": name,
        "activation": activation,
        "units": 10,
        "dead": dead,
        "dead_at_start": dead_at_start,
        "saturated": saturated,
        "gradient_norm": norm,
    }


def record(*layers):
    return {"rows": 50, "gradient_rows": 200, "layers": [*layers, layer(OUTPUT, "linear")]}


def test_dead_units_from_the_start_are_blamed_on_the_layers_not_the_learning_rate():
    [alert] = alerts([record(layer("layer 1", dead=0.4, dead_at_start=0.3))])
    assert alert.message == (
        "40% of layer 1's units are dead: they output zero for every validation row, so they "
        "no longer learn. Most were dead before training began: use fewer or wider layers, or "
        "try leaky_relu / elu."
    )
    [alert] = alerts([record(layer("layer 1", dead=1.0))])
    assert alert.message.startswith(
        "All of layer 1's units are dead: the network's output no longer depends on its inputs. "
        "They died while training"
    )


def test_vanishing_is_judged_at_its_worst_epoch_and_told_in_the_past_when_it_eased():
    vanished = record(layer("layer 1", "tanh", 0, 0, 0.0, 1e-7), layer("layer 2", "tanh", norm=1))
    eased = record(layer("layer 1", "tanh", 0, 0, 0.0, 1e-2), layer("layer 2", "tanh", norm=1))
    [alert] = alerts([None, vanished, eased])
    assert alert.message == (
        "In epoch 2, layer 1's gradients were under a millionth of layer 2's, so the first "
        "layers barely learned: use relu instead of tanh."
    )
    assert alerts([eased]) == []
    no_gradient = record(layer("layer 1", norm=0.0), layer("layer 2", norm=1.0))
    assert [a.message for a in alerts([no_gradient])] == [
        "Layer 1 gets no gradient at all: add batch normalization to the layers or use fewer "
        "layers."
    ]


def test_split_history_separates_logs_from_records():
    logs, records = split_history(
        [{"epoch": 1, "loss": 0.5, "diagnostics": record(layer("layer 1"))}, {"epoch": 2}]
    )
    assert logs == [{"epoch": 1, "loss": 0.5}, {"epoch": 2}]
    assert records[0]["layers"][0]["name"] == "layer 1" and records[1] is None


def test_charts_wait_for_the_first_epoch_and_bridge_unmeasured_epochs():
    assert plots.gradient_norms([]).layout.annotations[0].text == "waiting for the first epoch"
    assert plots.unit_health([None]).layout.annotations[0].text == "waiting for the first epoch"
    fig = plots.gradient_norms([record(layer("layer 1", norm=0.0)), None, record(layer("layer 1"))])
    assert list(fig.data[0].x) == [1, 3]
    assert list(fig.data[0].y) == [None, 0.1]  # zero has no place on a log axis: a gap
    elu = plots.unit_health([record(layer("layer 1", "elu"))])
    assert elu.layout.annotations[0].text == "no relu, sigmoid or tanh layer to watch"


def test_the_ui_side_of_diagnostics_does_not_import_tensorflow():
    code = (
        "import sys, nncore.learn.diagnostics, nncore.plots; "
        "print('tensorflow' in sys.modules, 'keras' in sys.modules)"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    assert done.stdout.split() == ["False", "False"]


def test_measuring_keeps_within_its_share_of_the_training_time():
    x, y, xv, _ = regression_data()
    keras.utils.set_random_seed(1)
    model = build_model(x.shape[1], (LayerSpec(8),), "regression")
    compile_model(model, CompileSpec(), "regression")
    probe = Probe(model, tf.constant(xv), tf.constant(x), tf.constant(y))
    assert probe.measure_within_budget(training_seconds=0.0) is not None  # the first always
    assert probe.seconds > 0
    assert probe.measure_within_budget(training_seconds=0.0) is None
    assert probe.measure_within_budget(training_seconds=2 * probe.seconds / TIME_SHARE) is not None


def test_validation_sets_larger_than_one_batch_are_counted_in_full():
    # Weights set by hand so that some units come alive only on the last 808 of 9,000 rows,
    # beyond the two full batches of 4,096.
    keras.utils.set_random_seed(2)
    model = build_model(4, (LayerSpec(64), LayerSpec(64, "sigmoid")), "regression")
    compile_model(model, CompileSpec(), "regression")
    x_val = np.full((9000, 4), -1.0, np.float32)
    x_val[8192:, 0] = 1.0
    relu_kernel = np.zeros((4, 64), np.float32)
    relu_kernel[np.arange(64) % 4, np.arange(64)] = 1.0  # unit j follows input j % 4
    sigmoid_kernel = np.zeros((64, 64), np.float32)
    sigmoid_kernel[::4, :32] = 50 / 16  # 0 on the 16 live relu units' rows, else -50
    sigmoid_bias = np.r_[np.full(32, -50.0), np.zeros(32)].astype(np.float32)
    *_, out_kernel, out_bias = model.get_weights()
    model.set_weights(
        [relu_kernel, np.zeros(64, np.float32), sigmoid_kernel, sigmoid_bias, out_kernel, out_bias]
    )
    x, y = x_val[:100], np.zeros(100, np.float32)
    record = Probe(model, tf.constant(x_val), tf.constant(x), tf.constant(y)).measure()
    assert record["rows"] == 9000
    assert record["layers"][0]["dead"] == 0.75  # only the units following input 0 ever live
    assert record["layers"][1]["saturated"] == 0.0  # 808 rows are more than 1% of 9,000
    first_batches = Probe(model, tf.constant(x_val[:8192]), tf.constant(x), tf.constant(y))
    layers = first_batches.measure()["layers"]
    assert (layers[0]["dead"], layers[1]["saturated"]) == (1.0, 0.5)


@pytest.mark.parametrize("layers", [(), (LayerSpec(8, "elu"), LayerSpec(4, "linear"))])
def test_networks_without_units_to_watch_still_get_gradient_norms(layers):
    _, outcome = trained(layers, epochs=1)
    [record] = outcome.diagnostics
    assert [la["name"] for la in record["layers"]][-1] == OUTPUT
    assert len(record["layers"]) == len(layers) + 1
    assert all(la["dead"] is None and la["saturated"] is None for la in record["layers"])
    assert all(la["gradient_norm"] > 0 for la in record["layers"])
    assert alerts(outcome.diagnostics) == []
