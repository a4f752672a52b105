"""The figures: real Plotly objects, checked by their traces, axes and values."""

import subprocess
import sys

import numpy as np
import pytest

from nncore import plots
from nncore.config import LayerSpec, count_parameters


def history_of(losses, val_losses=None, **extra):
    history = []
    for i, loss in enumerate(losses):
        logs = {"loss": loss}
        if val_losses is not None:
            logs["val_loss"] = val_losses[i]
        for name, values in extra.items():
            logs[name] = values[i]
        history.append(logs)
    return history


# --- training curves ----------------------------------------------------------------------------


def test_training_curves_draw_training_and_validation_by_1_based_epoch():
    history = history_of([1.0, 0.8, 0.7], [1.1, 0.9, 0.95])
    fig = plots.training_curves(history)
    assert [t.name for t in fig.data] == ["training", "validation"]
    assert list(fig.data[0].x) == [1, 2, 3]
    assert list(fig.data[0].y) == [1.0, 0.8, 0.7]
    assert list(fig.data[1].y) == [1.1, 0.9, 0.95]
    assert fig.layout.xaxis.title.text == "epoch"
    assert fig.layout.yaxis.type != "log"


def test_training_curves_without_validation_have_one_line():
    fig = plots.training_curves(history_of([0.5, 0.4]))
    assert [t.name for t in fig.data] == ["training"]


def test_training_curves_mark_best_epoch_on_validation_curve_and_early_stop():
    history = history_of([1.0, 0.8, 0.7, 0.6, 0.5], [1.1, 0.9, 0.85, 0.88, 0.9])
    fig = plots.training_curves(history, best_epoch=2, stopped_epoch=4)
    best = fig.data[-1]
    assert best.name == "best epoch 3"
    assert list(best.x) == [3] and list(best.y) == [0.85]
    lines = {shape.line.dash: shape.x0 for shape in fig.layout.shapes}
    assert lines == {"dash": 3, "dot": 5}
    assert {a.text for a in fig.layout.annotations} == {"best epoch 3", "early stop"}


def test_training_curves_ignore_marks_outside_the_history():
    fig = plots.training_curves(history_of([1.0, 0.9], [1.0, 0.9]), best_epoch=7, stopped_epoch=-1)
    assert len(fig.data) == 2
    assert not fig.layout.shapes


def test_training_curves_switch_to_a_log_axis_when_the_loss_spans_decades():
    spanning = plots.training_curves(history_of([500.0, 20.0, 3.0], [600.0, 30.0, 4.0]))
    assert spanning.layout.yaxis.type == "log"
    narrow = plots.training_curves(history_of([5.0, 2.0, 0.1]))  # 50x: under 2 decades
    assert narrow.layout.yaxis.type != "log"
    accuracy = history_of([1.0, 0.5], accuracy=[0.001, 0.9])
    assert plots.training_curves(accuracy, "accuracy").layout.yaxis.type != "log"


def test_training_curves_of_another_metric():
    history = history_of([1.0, 0.8], [1.2, 1.0], mae=[0.9, 0.7], val_mae=[1.0, 0.8])
    fig = plots.training_curves(history, "mae")
    assert list(fig.data[1].y) == [1.0, 0.8]
    assert fig.layout.yaxis.title.text == "mean absolute error"
    with pytest.raises(ValueError, match="'accuracy'.*loss, mae"):
        plots.training_curves(history, "accuracy")


def test_training_curves_of_an_empty_history():
    fig = plots.training_curves([])
    assert len(fig.data) == 0
    assert fig.layout.annotations[0].text == "waiting for the first epoch"
    assert fig.layout.xaxis.title.text == "epoch"
    fig.to_json()  # serialisable as Streamlit will send it


def test_training_curves_are_cheap_enough_to_redraw_every_second():
    import time

    history = history_of(list(np.linspace(2, 0.1, 500)), list(np.linspace(2.2, 0.2, 500)))
    started = time.perf_counter()
    for _ in range(5):
        plots.training_curves(history, best_epoch=400, stopped_epoch=499)
    assert (time.perf_counter() - started) / 5 < 0.1


def test_metric_names_put_loss_first_and_skip_epoch_and_learning_rate():
    history = [
        {"epoch": 1, "mae": 1.0, "loss": 2.0, "rmse": 1.5, "val_loss": 2.1, "learning_rate": 0.01},
        {"epoch": 2, "mae": 0.9, "loss": 1.8, "rmse": 1.4, "val_r2": 0.3, "learning_rate": 0.01},
    ]
    assert plots.metric_names(history) == ["loss", "mae", "rmse", "r2"]
    assert plots.metric_names([]) == []


# --- architecture -------------------------------------------------------------------------------


@pytest.mark.parametrize("n_hidden", [0, 1, 3, 32])
@pytest.mark.parametrize("task", ["regression", "binary", "multiclass"])
def test_architecture_has_a_block_per_layer_and_the_total_in_its_title(n_hidden, task):
    layers = tuple(
        LayerSpec(units=2 ** (1 + i % 9), batch_norm=i % 2 == 1, dropout=0.2 * (i % 3 == 0))
        for i in range(n_hidden)
    )
    n_outputs = 4 if task == "multiclass" else 1
    fig = plots.architecture(13, layers, task, n_outputs)
    blocks = [s for s in fig.layout.shapes if s.type == "rect"]
    assert len(blocks) == n_hidden + 2
    assert [b.name for b in blocks][0] == "inputs" and blocks[-1].name == "output"
    total = count_parameters(13, layers, n_outputs)
    assert f"{total:,} parameters" in fig.layout.title.text
    assert sum(fig.data[0].customdata) == total
    activation = {"regression": "linear", "binary": "sigmoid", "multiclass": "softmax"}[task]
    assert f"activation {activation}" in fig.data[0].text[-1]
    assert fig.layout.xaxis.visible is False and fig.layout.yaxis.visible is False


def test_architecture_shows_units_badges_and_log_heights():
    layers = (LayerSpec(256, "relu", dropout=0.3, l2=0.01, batch_norm=True), LayerSpec(4, "tanh"))
    fig = plots.architecture(10, layers, "binary", 1, input_label="10 features")
    hidden = fig.data[0].text[1]
    assert "256 units" in hidden and "activation relu" in hidden
    assert "dropout 0.3" in hidden and "L2 0.01" in hidden and "batch norm" in hidden
    # The Dense kernel without bias plus batch normalization's 4 parameters per unit.
    assert f"{10 * 256 + 4 * 256:,} parameters" in hidden
    heights = [s.y1 - s.y0 for s in fig.layout.shapes if s.type == "rect"]
    assert heights[1] > heights[0] > heights[2] > heights[3]  # 256 > 10 > 4 > 1
    assert fig.layout.shapes[0].name == "10 features"


def test_architecture_refuses_an_unknown_task():
    with pytest.raises(ValueError, match="regression, binary, multiclass"):
        plots.architecture(3, (), "ranking", 1)


# --- boundaries ---------------------------------------------------------------------------------


def test_plots_do_not_import_tensorflow():
    code = "import sys, nncore.plots; print('tensorflow' in sys.modules, 'keras' in sys.modules)"
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    assert done.stdout.split() == ["False", "False"]
