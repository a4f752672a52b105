"""The figures: real Plotly objects, checked by their traces, axes and values."""

import subprocess
import sys

import numpy as np
import pytest
from sklearn.metrics import average_precision_score, r2_score, roc_auc_score

from nncore import plots
from nncore.config import LayerSpec, count_parameters
from nncore.learn import evaluate


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


def test_metric_names_put_loss_first_and_skip_epoch_and_learning_rate():
    history = [
        {"epoch": 1, "mae": 1.0, "loss": 2.0, "rmse": 1.5, "val_loss": 2.1, "learning_rate": 0.01},
        {"epoch": 2, "mae": 0.9, "loss": 1.8, "rmse": 1.4, "val_r2": 0.3, "learning_rate": 0.01},
    ]
    assert plots.metric_names(history) == ["loss", "mae", "rmse", "r2"]
    assert plots.metric_names([]) == []


# --- architecture -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("n_hidden", "task"), [(0, "binary"), (1, "regression"), (3, "multiclass"), (32, "binary")]
)
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


# --- classification ----------------------------------------------------------------------------


def binary_rows(n=400, seed=0):
    """Labels and positive-class probabilities that separate the classes only partly."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    p = 1 / (1 + np.exp(-(2.0 * y - 1 + rng.normal(0, 1.2, n))))
    return y, p


def multiclass_rows(n=300, k=3, seed=1):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, k, n)
    logits = rng.normal(0, 1, (n, k))
    logits[np.arange(n), y] += 1.5
    return y, np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)


@pytest.mark.parametrize("normalize", [False, True])
def test_confusion_matrix_rows_are_true_and_columns_predicted(normalize):
    matrix = [[5, 1, 0], [2, 7, 1], [0, 0, 4]]
    fig = plots.confusion_matrix(matrix, ["a", "b", "c"], normalize=normalize)
    heat = fig.data[0]
    assert list(heat.x) == ["a", "b", "c"] and list(heat.y) == ["a", "b", "c"]
    assert fig.layout.xaxis.title.text == "predicted" and fig.layout.yaxis.title.text == "true"
    if normalize:
        assert np.allclose(heat.z, np.array(matrix) / np.sum(matrix, axis=1, keepdims=True))
        assert heat.text[1][1] == "70%<br>(7)"
    else:
        assert [list(row) for row in heat.z] == matrix
        assert heat.text[1][0] == "2"


def test_confusion_matrix_with_an_empty_row_and_a_wrong_shape():
    fig = plots.confusion_matrix([[0, 0], [3, 1]], ["no", "yes"], normalize=True)
    assert list(fig.data[0].z[0]) == [0, 0]
    with pytest.raises(ValueError, match="2x2"):
        plots.confusion_matrix([[1, 2, 3]], ["no", "yes"])


def test_binary_roc_curve_shows_sklearn_auc_and_the_threshold_point_on_the_curve():
    y, p = binary_rows()
    probabilities = np.column_stack([1 - p, p])
    fig = plots.roc_curves(y, probabilities, ["no", "yes"], threshold=0.3)
    assert [t.name for t in fig.data] == [
        "chance",
        f"yes (AUC {roc_auc_score(y, p):.3f})",
        "threshold 0.3",
    ]
    curve, point = fig.data[1], fig.data[2]
    x, y_point = point.x[0], point.y[0]
    assert (x, y_point) == (np.mean(p[y == 0] >= 0.3), np.mean(p[y == 1] >= 0.3))
    assert on_polyline(x, y_point, np.array(curve.x), np.array(curve.y))


def on_polyline(x, y, xs, ys):
    """Whether (x, y) lies on a segment between consecutive points of the curve."""
    for x0, y0, x1, y1 in zip(xs[:-1], ys[:-1], xs[1:], ys[1:], strict=True):
        inside = min(x0, x1) - 1e-12 <= x <= max(x0, x1) + 1e-12
        inside &= min(y0, y1) - 1e-12 <= y <= max(y0, y1) + 1e-12
        if inside and abs((x1 - x0) * (y - y0) - (y1 - y0) * (x - x0)) < 1e-9:
            return True
    return False


def test_binary_curves_accept_the_positive_probability_alone():
    y, p = binary_rows()
    one_column = plots.roc_curves(y, p, [0, 1])
    assert one_column.data[1].name == f"1 (AUC {roc_auc_score(y, p):.3f})"


def test_multiclass_roc_curves_one_per_class():
    y, probabilities = multiclass_rows()
    fig = plots.roc_curves(y, probabilities, ["red", "green", "blue"])
    names = [t.name for t in fig.data]
    expected = [
        f"{c} (AUC {roc_auc_score(y == k, probabilities[:, k]):.3f})"
        for k, c in enumerate(["red", "green", "blue"])
    ]
    assert names == ["chance", *expected]


def test_roc_curves_skip_a_class_missing_from_the_rows():
    y, probabilities = multiclass_rows()
    keep = y != 2
    fig = plots.roc_curves(y[keep], probabilities[keep], ["red", "green", "blue"])
    assert len(fig.data) == 3
    assert "no curve for blue" in fig.layout.annotations[0].text


def test_precision_recall_curve_shows_average_precision_and_the_threshold_vertex():
    y, p = binary_rows()
    fig = plots.precision_recall_curves(y, np.column_stack([1 - p, p]), ["no", "yes"], 0.6)
    names = [t.name for t in fig.data]
    assert names == [
        f"yes (AP {average_precision_score(y, p):.3f})",
        f"chance ({y.mean():.2f})",
        "threshold 0.6",
    ]
    curve, point = fig.data[0], fig.data[2]
    predicted = p >= 0.6
    precision = (predicted & (y == 1)).sum() / predicted.sum()
    recall = (predicted & (y == 1)).sum() / (y == 1).sum()
    assert (point.x[0], point.y[0]) == pytest.approx((recall, precision))
    vertices = set(zip(np.round(curve.x, 12), np.round(curve.y, 12), strict=True))
    assert (round(recall, 12), round(precision, 12)) in vertices


def test_multiclass_precision_recall_curves():
    y, probabilities = multiclass_rows()
    fig = plots.precision_recall_curves(y, probabilities, ["a", "b", "c"])
    assert [t.name for t in fig.data] == [
        f"{c} (AP {average_precision_score(y == k, probabilities[:, k]):.3f})"
        for k, c in enumerate("abc")
    ]


def test_threshold_scores_at_one_half_match_the_scores():
    y, p = binary_rows()
    at_half = evaluate.threshold_scores(y, p, 0.5)
    reported = evaluate.scores("binary", y, p)
    for name in ("accuracy", "balanced_accuracy", "precision", "recall", "f1", "confusion_matrix"):
        assert at_half[name] == reported[name], name


def test_threshold_scores_trade_precision_for_recall_as_the_threshold_falls():
    y, p = binary_rows()
    high, low = evaluate.threshold_scores(y, p, 0.7), evaluate.threshold_scores(y, p, 0.3)
    assert low["recall"] > high["recall"]
    assert low["precision"] < high["precision"]
    assert evaluate.threshold_scores(y, p, 0.0)["recall"] == 1.0
    assert sum(map(sum, low["confusion_matrix"])) == len(y)
    with pytest.raises(ValueError, match="between 0 and 1"):
        evaluate.threshold_scores(y, p, 1.5)


# --- regression ---------------------------------------------------------------------------------


def regression_rows(n, seed=2):
    rng = np.random.default_rng(seed)
    actual = rng.normal(50, 10, n)
    return actual, actual + rng.normal(0, 3, n)


def test_predicted_vs_actual_draws_every_row_with_r2_and_the_diagonal():
    actual, predicted = regression_rows(200)
    fig = plots.predicted_vs_actual(actual, predicted, "price")
    assert f"R² {r2_score(actual, predicted):.3f}" in fig.layout.title.text
    assert list(fig.data[0].x) == list(actual) and list(fig.data[0].y) == list(predicted)
    line = fig.data[1]
    assert list(line.x) == list(line.y)
    assert fig.layout.xaxis.title.text == "actual price"


def test_predicted_vs_actual_subsamples_large_inputs_the_same_way_each_time():
    actual, predicted = regression_rows(20_000)
    first = plots.predicted_vs_actual(actual, predicted, "price")
    again = plots.predicted_vs_actual(actual, predicted, "price")
    assert len(first.data[0].x) == 5000
    assert list(first.data[0].x) == list(again.data[0].x)
    assert set(first.data[0].x) <= set(actual)
    # R² still covers every row.
    assert f"R² {r2_score(actual, predicted):.3f}" in first.layout.title.text
    assert "5,000 of 20,000" in first.layout.title.subtitle.text


def test_residuals_scatter_zero_line_and_a_histogram_of_all_rows():
    actual, predicted = regression_rows(8000)
    fig = plots.residuals(actual, predicted, "price")
    scatter, histogram = fig.data
    assert len(scatter.x) == 5000
    assert sum(histogram.x) == 8000
    assert any(shape.y0 == 0 == shape.y1 for shape in fig.layout.shapes)
    rows = np.isin(predicted, scatter.x)
    assert np.allclose(np.sort(actual[rows] - predicted[rows]), np.sort(scatter.y))


def test_regression_figures_skip_rows_without_a_value():
    fig = plots.predicted_vs_actual([1.0, 2.0, np.nan, 4.0], [1.1, 2.1, 3.0, np.inf], "y")
    assert list(fig.data[0].x) == [1.0, 2.0]
    plots.residuals([], [], "y").to_json()


def test_baseline_comparison_bars_the_network_against_each_baseline():
    metrics = {
        "network": {"rmse": 2.5, "r2": 0.8},
        "baselines": {"dummy (mean)": {"rmse": 9.0}, "linear regression": {"rmse": 4.0}},
    }
    fig = plots.baseline_comparison(metrics, "rmse")
    bars = fig.data[0]
    assert list(bars.y) == ["network", "dummy (mean)", "linear regression"]
    assert list(bars.x) == [2.5, 9.0, 4.0]
    assert fig.layout.title.subtitle.text == "lower is better"
    r2 = plots.baseline_comparison(metrics, "r2")
    assert r2.data[0].text[1] == "n/a"
    assert r2.layout.title.subtitle.text == "higher is better"
    with pytest.raises(ValueError, match="'accuracy'.*rmse, r2"):
        plots.baseline_comparison(metrics, "accuracy")


# --- boundaries ---------------------------------------------------------------------------------


def test_plots_do_not_import_tensorflow():
    code = "import sys, nncore.plots; print('tensorflow' in sys.modules, 'keras' in sys.modules)"
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    assert done.stdout.split() == ["False", "False"]


# --- readability --------------------------------------------------------------------------------


def test_a_log_axis_over_decades_labels_powers_of_ten():
    fig = plots.training_curves(history_of([500.0, 20.0, 3.0], [600.0, 30.0, 4.0]))
    assert fig.layout.yaxis.type == "log"
    assert fig.layout.yaxis.dtick == 1 and fig.layout.yaxis.exponentformat == "power"
    rates = np.geomspace(1e-6, 1.0, 50)
    test = plots.range_test(rates, np.linspace(2, 1, 50), np.linspace(2, 1, 50))
    assert test.layout.xaxis.type == "log" and test.layout.xaxis.dtick == 1


@pytest.mark.parametrize(
    ("low", "high", "labels"),
    [
        (0.011, 0.095, ["0.01", "0.02", "0.05", "0.1"]),
        (0.021, 0.055, ["0.02", "0.03", "0.04", "0.05", "0.06"]),
        (150.0, 950.0, ["200", "500", "1000"]),
    ],
)
def test_a_log_axis_within_a_decade_labels_every_tick_in_plain_numbers(low, high, labels):
    norms = [
        {"layers": [{"name": "dense", "activation": "relu", "gradient_norm": v}]}
        for v in (low, high)
    ]
    axis = plots.gradient_norms(norms).layout.yaxis
    assert axis.type == "log" and list(axis.ticktext) == labels
    assert [float(t) for t in axis.ticktext] == pytest.approx(list(axis.tickvals))


def test_roc_and_precision_recall_titles_stay_short_with_room_above():
    y, probabilities = multiclass_rows()
    for fig in (
        plots.roc_curves(y, probabilities, ["a", "b", "c"]),
        plots.precision_recall_curves(y, probabilities, ["a", "b", "c"]),
    ):
        assert len(fig.layout.title.text) <= 20
        assert fig.layout.title.subtitle.text == "each class against the rest"
        assert fig.layout.margin.t >= 80


def test_one_rows_class_probabilities_are_bars_with_their_numbers():
    fig = plots.class_probabilities(["no", "yes"], [0.783, 0.217], "no")
    (bars,) = fig.data
    assert list(bars.y) == ["no", "yes"] and list(bars.x) == [0.783, 0.217]
    assert list(bars.text) == ["78.3%", "21.7%"]
    assert bars.marker.color[0] != bars.marker.color[1]  # the predicted class stands out
    assert fig.layout.xaxis.range == (0, 1)


@pytest.mark.parametrize(
    ("actual", "written"),
    [(np.array([120_000.0, 250_000.0, 98_500.0]), ",.0f"), (np.array([1.25, 2.5, 0.75]), ",.2f")],
)
def test_predicted_numbers_are_written_as_the_target_is(actual, written):
    predicted = actual * 1.0123456
    scatter = plots.predicted_vs_actual(actual, predicted, "price").data[0]
    assert f"%{{x:{written}}}" in scatter.hovertemplate
    assert f"%{{y:{written}}}" in scatter.hovertemplate
    assert f"%{{x:{written}}}" in plots.residuals(actual, predicted, "price").data[0].hovertemplate
    measured = np.random.default_rng(0).normal(size=20)
    assert "%{y:.4g}" in plots.predicted_vs_actual(measured, measured, "x").data[0].hovertemplate


def test_a_deep_stack_writes_its_block_labels_narrow_enough_not_to_overlap():
    deep = (LayerSpec(64, dropout=0.2, l2=0.01),) * 5
    fig = plots.architecture(10, deep, "binary", 1, input_label="10 features")
    captions = [a.text for a in fig.layout.annotations if a.yanchor == "top"]
    assert captions[1].split("<br>") == ["hidden", "1", "relu", "D 0.2", "L2"]
    assert captions[0].split("<br>") == ["10", "features"]
    assert max(len(line) for c in captions for line in c.split("<br>")) <= 8
    assert "dropout 0.2" in fig.data[0].text[1]  # in full on hover
    few = plots.architecture(10, deep[:2], "binary", 1, input_label="10 features")
    assert [a.text for a in few.layout.annotations if a.yanchor == "top"][1] == (
        "hidden 1<br>relu<br>dropout 0.2<br>L2 0.01"
    )
