"""From a frame and an experiment to a trained, evaluated and saved run."""

import json

import numpy as np
import pandas as pd
import pytest
from frames import TARGETS, mixed_frame, tiny_experiment

from nncore.artifacts.runfiles import CHECKPOINT, RESULT, RUN_FILES, TRAINING_STATE, VALIDATION
from nncore.config import CompileSpec, DataSpec, Experiment, TrainSpec
from nncore.data.plan import plan_columns
from nncore.data.prepare import prepare
from nncore.data.split import split_rows
from nncore.errors import ConfigError, DataError
from nncore.learn.model import build_model
from nncore.rules import LOSSES_BY_TASK
from nncore.run.pipeline import run_experiment
from nncore.run.records import TrainingSummary

ALL_LOSSES = sorted({loss for losses in LOSSES_BY_TASK.values() for loss in losses})


@pytest.mark.parametrize("task", list(LOSSES_BY_TASK))
@pytest.mark.parametrize("loss", ALL_LOSSES)
def test_every_loss_task_mismatch_is_refused_with_a_reason(task, loss):
    spec = CompileSpec(loss=loss)
    if loss in LOSSES_BY_TASK[task]:
        assert spec.resolved_loss(task) == loss
    else:
        with pytest.raises(ConfigError, match=f"does not fit a {task} task: .+ Use one of"):
            spec.resolved_loss(task)


def test_the_scaler_sees_training_rows_only():
    frame = mixed_frame(task="regression")
    # Make validation rows stand out: any leak into the scaler moves its mean.
    experiment = tiny_experiment("regression")
    plan = plan_columns(frame, experiment.data)
    prepared = prepare(frame, plan, experiment.data, seed=5)
    x2 = prepared.schema.numeric[[i.column for i in prepared.schema.numeric].index("x2")]
    train_rows = frame.iloc[prepared.split.train]["x2"]
    assert x2.center == pytest.approx(train_rows.mean())
    assert x2.scale == pytest.approx(train_rows.std(ddof=0))
    assert x2.center != pytest.approx(frame["x2"].mean())
    # The transformed training columns are standardized; validation ones only roughly.
    column = [i.column for i in prepared.schema.numeric].index("x2")
    assert prepared.x_train[:, column].mean() == pytest.approx(0, abs=1e-5)


def test_split_is_shuffled_and_stratified_on_a_sorted_file():
    # Sorted by the target, as many exported files are: the last rows are all one class.
    y = pd.Series(["a"] * 150 + ["b"] * 50)
    split = split_rows(y, "binary", 0.2, 0.1, seed=1)
    assert split.stratified
    assert set(split.train) | set(split.validation) | set(split.test) == set(range(200))
    assert not set(split.train) & set(split.validation)
    share_b = (y.iloc[split.validation] == "b").mean()
    assert share_b == pytest.approx(0.25, abs=0.03)
    assert split.validation.max() < 199 or split.validation.min() < 150  # not the file's tail
    again = split_rows(y, "binary", 0.2, 0.1, seed=1)
    np.testing.assert_array_equal(split.validation, again.validation)
    other = split_rows(y, "binary", 0.2, 0.1, seed=2)
    assert not np.array_equal(split.validation, other.validation)


def test_split_falls_back_when_a_class_is_too_rare():
    y = pd.Series(["a"] * 60 + ["b"] * 39 + ["rare"])
    split = split_rows(y, "multiclass", 0.2, 0.0, seed=0)
    assert not split.stratified
    assert "not stratified because class 'rare' has only 1 row" in split.note


def test_no_usable_feature_is_refused_before_keras_sees_it():
    frame = pd.DataFrame({"id": range(50), "const": 1, "y": np.arange(50) % 2})
    with pytest.raises(DataError) as caught:
        plan_columns(frame, DataSpec(target="y"))
    assert "id" in str(caught.value) and "const" in str(caught.value)
    with pytest.raises(DataError, match="no inputs"):
        build_model(0, (), "binary")


def test_the_training_summary_counts_epochs_from_0_and_metrics_json_from_1(tmp_path):
    frame = mixed_frame(task="regression")
    result = run_experiment(frame, tiny_experiment("regression"), tmp_path)
    training = result.training
    losses = [epoch["val_loss"] for epoch in result.history]
    assert training.best_epoch == int(np.argmin(losses))  # restored best weights: the lowest
    assert training.epochs_run == len(result.history)
    with_target = int(frame[TARGETS["regression"]].notna().sum())
    assert training.train_rows + result.metrics["validation"]["rows"] == with_target
    on_disk = json.loads(result.files.metrics.read_text())["training"]
    assert on_disk["best_epoch"] == training.best_epoch + 1
    assert on_disk["rows"] == {"train": training.train_rows}
    assert TrainingSummary.from_metrics(on_disk).best_epoch == training.best_epoch
    # Beside the files a user takes away, what finishing or continuing the run needs, and what
    # the studio shows it again from.
    files = sorted(p.name for p in tmp_path.iterdir())
    assert files == sorted((*RUN_FILES, CHECKPOINT, TRAINING_STATE, VALIDATION, RESULT))


@pytest.mark.slow
def test_same_seed_same_run_and_every_artifact(tmp_path):
    frame = mixed_frame(task="binary")
    experiment = tiny_experiment("binary").replace(
        training=TrainSpec(epochs=5, early_stopping=False)
    )
    first = run_experiment(frame, experiment, tmp_path / "a")
    second = run_experiment(frame, experiment, tmp_path / "b")
    assert first.history == second.history
    assert first.metrics["validation"] == second.metrics["validation"]
    names = {p.name for p in (tmp_path / "a").iterdir()}
    assert names == {
        "model.keras",
        "model.h5",
        "schema.json",
        "experiment.json",
        "metrics.json",
        "history.csv",
        "checkpoint.npz",
        "training_state.npz",
        "validation.npz",
        "result.json",
    }
    metrics = json.loads((tmp_path / "a" / "metrics.json").read_text())
    assert {
        "accuracy",
        "balanced_accuracy",
        "precision",
        "recall",
        "f1",
        "roc_auc",
        "log_loss",
        "confusion_matrix",
    } <= set(metrics["validation"]["network"])
    assert set(metrics["validation"]["baselines"]) == {
        "dummy (most frequent)",
        "logistic regression",
        "gradient boosting",
    }
    assert set(metrics["baseline_seconds"]["validation"]) == set(metrics["validation"]["baselines"])
    assert len(pd.read_csv(tmp_path / "a" / "history.csv")) == 5
    assert Experiment.from_json((tmp_path / "a" / "experiment.json").read_text()) == experiment


@pytest.mark.slow
def test_held_out_test_rows_balanced_weights_and_one_hot_targets(tmp_path):
    frame = mixed_frame(n=300, task="multiclass")
    experiment = tiny_experiment("multiclass", test_fraction=0.2).replace(
        compile=CompileSpec(loss="categorical_crossentropy"),
        training=TrainSpec(epochs=3, class_weight="balanced"),
    )
    result = run_experiment(frame, experiment, tmp_path)
    assert result.metrics["test"]["rows"] == 60
    assert result.metrics["validation"]["rows"] == 60
    assert result.output_val.shape == (60, 3)
    matrix = np.array(result.metrics["test"]["network"]["confusion_matrix"])
    assert matrix.shape == (3, 3) and matrix.sum() == 60


@pytest.mark.slow
def test_regression_reports_in_target_units(tmp_path):
    frame = mixed_frame(task="regression")
    result = run_experiment(frame, tiny_experiment("regression"), tmp_path)
    scores = result.metrics["validation"]["network"]
    assert set(scores) == {"mae", "rmse", "r2"}
    # Targets are around 200 with a spread of ~50: errors are in those units.
    assert 1 < scores["rmse"] < 120
    assert 100 < result.y_val.mean() < 300


def test_rows_without_target_are_dropped_and_counted():
    frame = mixed_frame(task="binary")
    frame.loc[:9, "label"] = np.nan
    plan = plan_columns(frame, DataSpec(target="label"))
    assert plan.rows_with_missing_target == 10
    prepared = prepare(frame, plan, DataSpec(target="label"), seed=0)
    total = len(prepared.split.train) + len(prepared.split.validation)
    assert total == len(frame) - 10


@pytest.mark.parametrize("task", list(TARGETS))
def test_task_is_inferred_per_target(task):
    plan = plan_columns(mixed_frame(task=task), DataSpec(target=TARGETS[task]))
    assert plan.task == task
    assert plan.task_reason.startswith(task)


@pytest.mark.parametrize("task", list(TARGETS))
def test_width_estimate_matches_the_prepared_width(task):
    from nncore.data.plan import estimate_width

    frame = mixed_frame(task=task)
    spec = DataSpec(target=TARGETS[task])
    plan = plan_columns(frame, spec)
    # x1, x2, 4 date parts, and 3 colors plus "(missing)".
    assert estimate_width(frame, plan) == 2 + 4 + 4
    assert prepare(frame, plan, spec, seed=0).schema.width == 10


def test_a_network_over_the_parameter_cap_is_refused_before_keras_builds_it(tmp_path):
    from nncore.config import MAX_PARAMETERS, LayerSpec

    frame = mixed_frame(task="regression")
    wide = tiny_experiment("regression").replace(layers=(LayerSpec(4096), LayerSpec(4096)))
    with pytest.raises(ConfigError, match=f"more than this studio trains \\({MAX_PARAMETERS:,}"):
        run_experiment(frame, wide, tmp_path)
    assert not any(tmp_path.iterdir())


def test_astronomically_large_values_are_refused_not_turned_into_nan():
    frame = mixed_frame(task="regression")
    frame.loc[5, "x2"] = 1e300
    experiment = tiny_experiment("regression")
    plan = plan_columns(frame, experiment.data)
    with pytest.raises(DataError, match=r"Column 'x2' holds a value of 1e\+300"):
        prepare(frame, plan, experiment.data, seed=0)


def test_infinite_values_are_missing_values():
    frame = mixed_frame(task="regression")
    frame["x2"] = frame["x2"].astype(float)
    frame.loc[:20, "x2"] = np.inf
    experiment = tiny_experiment("regression")
    plan = plan_columns(frame, experiment.data)
    prepared = prepare(frame, plan, experiment.data, seed=0)
    assert np.isfinite(prepared.x_train).all() and np.isfinite(prepared.x_val).all()
