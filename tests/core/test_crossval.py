"""Cross-validation: seeded folds, stratified; the network and the baselines scored on them, the
baselines as scikit-learn's own `cross_val_score` scores them; a stop keeps finished folds."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest
from frames import mixed_frame, tiny_experiment
from sklearn.base import clone
from sklearn.dummy import DummyClassifier, DummyRegressor
from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.model_selection import cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer

from nncore.data.plan import plan_columns
from nncore.data.prepare import prepare
from nncore.data.schema import feature_frame
from nncore.errors import DataError
from nncore.run.crossval import cross_validate, make_folds

K = 3


def short(task: str, **data):
    experiment = tiny_experiment(task, **data)
    return experiment.replace(training=dataclasses.replace(experiment.training, epochs=2))


def frame_of(task: str, n: int = 120) -> pd.DataFrame:
    # No date column: its parts are chosen from the training rows, which the reference
    # pipelines below could not know.
    return mixed_frame(n=n, task=task).drop(columns=["when"])


@pytest.fixture(scope="module")
def binary():
    frame, experiment = frame_of("binary"), short("binary")
    return frame, experiment, cross_validate(frame, experiment, K)


def test_same_seed_gives_the_same_folds_and_scores(binary):
    frame, experiment, first = binary
    again = cross_validate(frame, experiment, K)
    assert again.folds == first.folds
    _, folds = make_folds(frame, experiment, K)
    _, same = make_folds(frame, experiment, K)
    for a, b in zip(folds, same, strict=True):
        for part in ("train", "early_stopping", "held_out"):
            np.testing.assert_array_equal(getattr(a, part), getattr(b, part))
    _, other = make_folds(frame, experiment.replace(seed=experiment.seed + 1), K)
    assert not np.array_equal(other[0].held_out, folds[0].held_out)


def test_folds_cover_every_row_once_and_keep_the_class_shares():
    frame = mixed_frame(n=150, task="multiclass")
    experiment = short("multiclass")
    task, folds = make_folds(frame, experiment, K)
    assert task == "multiclass" and len(folds) == K
    held = np.concatenate([f.held_out for f in folds])
    assert sorted(held) == list(range(len(frame)))
    labels = frame["kind"].to_numpy()
    overall = pd.Series(labels).value_counts()
    for fold in folds:
        assert not set(fold.train) & set(fold.held_out)
        assert not set(fold.early_stopping) & (set(fold.train) | set(fold.held_out))
        assert len(fold.train) + len(fold.early_stopping) + len(fold.held_out) == len(frame)
        counts = pd.Series(labels[fold.held_out]).value_counts()
        # Stratified: each class's rows in a fold are within one of an even share.
        for kind, total in overall.items():
            assert abs(counts.get(kind, 0) - total / K) <= 1


def reference_scores(frame, experiment, folds, estimator, scoring):
    """scikit-learn's cross_val_score of `estimator` after the studio's preprocessing, fitted
    per fold on the fold's training rows, on the same folds."""
    plan = plan_columns(frame, experiment.data)
    prepared = prepare(frame, plan, experiment.data, seed=experiment.seed)
    rows = frame[frame[plan.target].notna()]
    x = feature_frame(rows, prepared.schema)
    if plan.task == "regression":
        y = rows[plan.target].to_numpy(np.float32)
    else:
        y = pd.Categorical(rows[plan.target], categories=plan.classes).codes
    model = make_pipeline(
        clone(prepared.transformer),
        FunctionTransformer(lambda values: values.astype(np.float32)),
        estimator,
    )
    cv = [(fold.train, fold.held_out) for fold in folds]
    return cross_val_score(model, x, y, cv=cv, scoring=scoring)


def test_baselines_score_as_cross_val_score_on_the_same_folds(binary):
    frame, experiment, found = binary
    _, folds = make_folds(frame, experiment, K)
    seed = experiment.seed
    for name, estimator in {
        "dummy (most frequent)": DummyClassifier(strategy="prior"),
        "logistic regression": LogisticRegression(max_iter=1000),
        "gradient boosting": HistGradientBoostingClassifier(random_state=seed),
    }.items():
        for scoring, measure, sign in (
            ("accuracy", "accuracy", 1),
            ("roc_auc", "roc_auc", 1),
            ("neg_log_loss", "log_loss", -1),
        ):
            expected = reference_scores(frame, experiment, folds, estimator, scoring)
            assert found.fold_scores(name, measure) == pytest.approx(sign * expected, abs=1e-6)


def test_regression_baselines_score_as_cross_val_score():
    frame, experiment = frame_of("regression"), short("regression", scale_target=False)
    experiment = experiment.replace(training=dataclasses.replace(experiment.training, epochs=1))
    found = cross_validate(frame, experiment, K)
    _, folds = make_folds(frame, experiment, K)
    for name, estimator in {
        "dummy (mean)": DummyRegressor(),
        "linear regression": LinearRegression(),
        "gradient boosting": HistGradientBoostingRegressor(random_state=experiment.seed),
    }.items():
        for scoring, measure, sign in (("r2", "r2", 1), ("neg_mean_absolute_error", "mae", -1)):
            expected = reference_scores(frame, experiment, folds, estimator, scoring)
            assert found.fold_scores(name, measure) == pytest.approx(sign * expected, rel=1e-4)
    summary = found.summary()["network"]["mae"]
    maes = found.fold_scores("network", "mae")
    assert summary["mean"] == pytest.approx(np.mean(maes))
    assert summary["std"] == pytest.approx(np.std(maes))
    assert found.to_metrics()["stratified"] is False


def test_stop_keeps_the_folds_finished_and_drops_the_one_in_training():
    frame, experiment = frame_of("binary"), short("binary")
    experiment = experiment.replace(training=dataclasses.replace(experiment.training, epochs=3))
    seen = []
    found = cross_validate(
        frame,
        experiment,
        K,
        on_fold=seen.append,
        # Asked to stop while the second fold trains.
        on_progress=lambda fold, fields: seen.append(fold),
        should_stop=lambda: 1 in seen,
    )
    assert [fold["fold"] for fold in found.folds] == [1]
    assert found.folds[0] in seen
    assert found.note == f"Stopped: 1 of {K} folds finished."
    assert "Across 1 fold," in found.in_words("accuracy")


def test_too_few_rows_of_a_class_for_k_folds_is_refused_in_one_line():
    frame = frame_of("binary", n=60)
    frame.loc[frame.index[:57], "label"] = "no"
    frame.loc[frame.index[57:], "label"] = "yes"
    with pytest.raises(DataError, match=r"class 'yes' has 3\. Choose fewer folds"):
        make_folds(frame, short("binary"), 5)
