"""The training loop: Keras' own steps, reproducible, stoppable, honest about NaN."""

import keras
import numpy as np
import pytest

from nncore.config import CompileSpec, LayerSpec, TrainSpec
from nncore.learn.model import build_model, compile_model
from nncore.learn.train import Listener, train


def regression_data(n=600, d=5, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, d)).astype(np.float32)
    y = (x @ rng.normal(size=d) + 0.1 * rng.normal(size=n)).astype(np.float32)
    cut = int(n * 0.8)
    return x[:cut], y[:cut], x[cut:], y[cut:]


def fresh_model(d=5, seed=1, layers=(LayerSpec(16), LayerSpec(8)), compile_spec=CompileSpec()):
    keras.utils.set_random_seed(seed)
    model = build_model(d, layers, "regression")
    compile_model(model, compile_spec, "regression")
    return model


def test_same_seed_gives_same_weights_and_metrics():
    data = regression_data()
    spec = TrainSpec(epochs=4, early_stopping=False)
    runs = []
    for _ in range(2):
        model = fresh_model(layers=(LayerSpec(16, dropout=0.2), LayerSpec(8)))
        outcome = train(model, *data, spec, seed=7)
        runs.append((model.get_weights(), outcome.history))
    (w1, h1), (w2, h2) = runs
    assert h1 == h2
    for a, b in zip(w1, w2, strict=True):
        np.testing.assert_array_equal(a, b)


def test_another_seed_shuffles_differently():
    data = regression_data()
    spec = TrainSpec(epochs=2, early_stopping=False, restore_best_weights=False)
    first = train(fresh_model(), *data, spec, seed=1).history
    second = train(fresh_model(), *data, spec, seed=2).history
    assert first != second


def test_matches_keras_fit_step_for_step():
    # Without shuffling both walk the rows in file order, so every weight must agree exactly:
    # the loop runs Keras' own train_step, only with less overhead around it.
    x, y, xv, yv = regression_data(n=500)
    spec = TrainSpec(epochs=3, batch_size=32, early_stopping=False, restore_best_weights=False)
    ours = fresh_model()
    outcome = train(ours, x, y, xv, yv, spec, seed=0, shuffle=False)
    reference = fresh_model()
    history = reference.fit(
        x, y, batch_size=32, epochs=3, validation_data=(xv, yv), shuffle=False, verbose=0
    )
    np.testing.assert_allclose(
        [h["val_loss"] for h in outcome.history], history.history["val_loss"], rtol=1e-5
    )
    for a, b in zip(ours.get_weights(), reference.get_weights(), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_history_has_training_and_validation_metrics():
    outcome = train(fresh_model(), *regression_data(), TrainSpec(epochs=2), seed=0)
    assert len(outcome.history) == 2
    assert {"loss", "mae", "rmse", "val_loss", "val_mae", "val_rmse", "learning_rate"} <= set(
        outcome.history[0]
    )
    assert outcome.history[1]["loss"] < outcome.history[0]["loss"]


def test_stop_request_ends_within_the_first_chunk_and_keeps_weights():
    x, y, xv, yv = regression_data(n=20_000)
    progress = []
    listener = Listener(on_progress=progress.append, should_stop=lambda: True)
    outcome = train(fresh_model(), x, y, xv, yv, TrainSpec(epochs=50), seed=0, listener=listener)
    assert outcome.stopped_by == "user"
    assert "Stopped on request" in outcome.message
    # One graph call ran, a small part of the first epoch, then the loop returned.
    assert len(progress) == 1
    assert progress[0]["step"] < progress[0]["steps"]
    assert outcome.history == []


def test_stop_after_some_epochs_restores_the_best_weights_seen():
    data = regression_data()
    seen = []
    best = {}

    def on_epoch_end(epoch, logs):
        seen.append(logs["val_loss"])
        if logs["val_loss"] == min(seen):
            best["weights"] = [w.copy() for w in model.get_weights()]

    # A learning rate this high makes the validation loss jump about, so the last epoch is
    # unlikely to be the best.
    model = fresh_model(compile_spec=CompileSpec(optimizer="sgd", learning_rate=0.3))
    listener = Listener(on_epoch_end=on_epoch_end, should_stop=lambda: len(seen) >= 6)
    outcome = train(
        model, *data, TrainSpec(epochs=50, early_stopping=False), seed=0, listener=listener
    )
    assert outcome.stopped_by == "user"
    assert len(outcome.history) == 6
    assert outcome.best_epoch == int(np.argmin(seen))
    for a, b in zip(model.get_weights(), best["weights"], strict=True):
        np.testing.assert_array_equal(a, b)


def test_early_stopping_stops_when_validation_stops_improving():
    x, y, xv, yv = regression_data(n=200)
    # Validation targets unrelated to the inputs: the validation loss cannot keep improving.
    yv = np.random.default_rng(3).normal(size=len(yv)).astype(np.float32) * 5
    spec = TrainSpec(epochs=200, patience=3)
    outcome = train(fresh_model(), x, y, xv, yv, spec, seed=0)
    assert outcome.stopped_by == "early_stopping"
    assert len(outcome.history) < 200
    assert len(outcome.history) - 1 - outcome.best_epoch >= 3


@pytest.mark.parametrize("batch_size", [1, 7, 600])
def test_any_batch_size_covers_every_row_once_per_epoch(batch_size):
    x, y, xv, yv = regression_data(n=100)
    progress = []
    train(
        fresh_model(),
        x,
        y,
        xv,
        yv,
        TrainSpec(epochs=1, batch_size=batch_size),
        seed=0,
        listener=Listener(on_progress=progress.append),
    )
    assert progress[-1]["step"] == progress[-1]["steps"] == -(-len(x) // batch_size)


def test_nan_loss_stops_with_an_explanation():
    x, y, xv, yv = regression_data()
    y = y * 1e30  # hopeless scale for plain SGD with a big step
    model = fresh_model(compile_spec=CompileSpec(optimizer="sgd", learning_rate=5.0))
    outcome = train(model, x, y, xv, yv * 1e30, TrainSpec(epochs=20), seed=0)
    assert outcome.stopped_by == "nan"
    assert "NaN" in outcome.message and "learning rate" in outcome.message
    assert len(outcome.history) < 20


def test_reduce_lr_on_plateau_lowers_the_learning_rate():
    x, y, xv, yv = regression_data(n=200)
    yv = np.random.default_rng(3).normal(size=len(yv)).astype(np.float32) * 5
    spec = TrainSpec(
        epochs=12,
        early_stopping=False,
        reduce_lr_on_plateau=True,
        reduce_lr_patience=1,
        reduce_lr_factor=0.5,
    )
    outcome = train(fresh_model(), x, y, xv, yv, spec, seed=0)
    rates = [h["learning_rate"] for h in outcome.history]
    assert rates[-1] < rates[0]


@pytest.mark.parametrize(
    "layers",
    [
        (),
        (LayerSpec(50), LayerSpec(32)),
        (LayerSpec(7, batch_norm=True, dropout=0.3), LayerSpec(3, l2=0.01)),
    ],
)
@pytest.mark.parametrize(("task", "classes"), [("regression", 0), ("multiclass", 4)])
def test_parameter_count_without_keras_matches_keras(layers, task, classes):
    from nncore.config import count_parameters, output_units

    model = build_model(9, layers, task, classes)
    assert count_parameters(9, layers, output_units(task, classes)) == model.count_params()


def test_repeated_trainings_leave_no_traced_graphs_behind():
    # A worker process trains many times; a traced graph kept alive per training (and the data
    # it captured) made its memory grow by megabytes each time.
    import gc

    from tensorflow.python.framework.func_graph import FuncGraph

    def live_graphs():
        gc.collect()
        # type(), not isinstance(): a lazy module proxy (shap's matplotlib) raises on the
        # attribute lookup isinstance() makes.
        return sum(issubclass(type(o), FuncGraph) for o in gc.get_objects())

    data = regression_data(n=200)
    spec = TrainSpec(epochs=1, early_stopping=False)
    counts = []
    for _ in range(3):
        model = fresh_model()
        train(model, *data, spec, seed=0)
        optimizer = model.optimizer
        del model
        counts.append(live_graphs())
    assert counts[2] == counts[0], counts
    assert "_all_reduce_sum_gradients" not in vars(optimizer)
