"""Imbalance-aware by default: a binary target with a rare class is trained, compared and judged
on a measure that sees that class, against baselines weighted as the network was."""

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import make_classification
from sklearn.linear_model import LogisticRegression

from nncore import rules
from nncore.config import DataSpec, Experiment, LayerSpec, TrainSpec
from nncore.learn import evaluate

ROWS = 1500


def imbalanced_frame(weights=(0.95, 0.05), seed: int = 0) -> pd.DataFrame:
    x, y = make_classification(
        n_samples=ROWS,
        n_features=8,
        n_informative=4,
        weights=list(weights),
        class_sep=0.8,
        random_state=seed,
    )
    frame = pd.DataFrame(x, columns=[f"x{i}" for i in range(x.shape[1])])
    frame["churned"] = np.where(y == 1, "yes", "no")  # "yes", the positive class, is rare
    return frame


def counts(frame: pd.DataFrame) -> list[int]:
    return frame["churned"].value_counts().tolist()


@pytest.fixture(scope="module")
def balanced_run(tmp_path_factory):
    """A network trained on the imbalanced table as the studio would by default: class weights
    "balanced" (the Data page's advice) and early stopping on the default monitor."""
    from nncore.run.pipeline import run_experiment

    frame = imbalanced_frame()
    experiment = Experiment(
        data=DataSpec(target="churned"),
        layers=(LayerSpec(16), LayerSpec(8)),
        training=TrainSpec(
            epochs=8,
            batch_size=64,
            patience=3,
            class_weight="balanced",
            monitor=rules.default_monitor("binary", counts(frame)),
        ),
        seed=5,
    )
    return run_experiment(frame, experiment, tmp_path_factory.mktemp("imbalanced"))


def test_the_default_measure_of_an_imbalanced_binary_target_sees_the_minority():
    frame = imbalanced_frame()
    share = min(counts(frame)) / ROWS
    assert share < rules.IMBALANCED.value
    assert rules.imbalanced("binary", counts(frame))
    assert rules.default_monitor("binary", counts(frame)) == "val_pr_auc"
    assert rules.compare_on("binary", counts(frame)) == "pr_auc"
    assert rules.METRICS["pr_auc"].higher_is_better

    even = imbalanced_frame(weights=(0.5, 0.5))
    assert not rules.imbalanced("binary", counts(even))
    assert rules.default_monitor("binary", counts(even)) == "val_loss"
    assert rules.compare_on("binary", counts(even)) == "accuracy"
    assert rules.compare_on("regression") == "mae"
    assert rules.default_monitor("regression", ()) == "val_loss"


def test_the_imbalance_rule_is_the_stated_share():
    limit = rules.IMBALANCED.value
    assert f"{limit:.0%}" == "20%"
    assert rules.imbalanced("binary", [81, 19])
    assert not rules.imbalanced("binary", [80, 20])
    # Several classes: each may be a small share without any being rare; the rule is binary.
    assert not rules.imbalanced("multiclass", [90, 5, 5])
    assert rules.compare_on("multiclass", [90, 5, 5]) == "accuracy"


def test_keras_logs_the_precision_recall_area_each_epoch():
    from nncore.learn.model import make_metrics

    logged = {m.name: m.get_config() for m in make_metrics("binary", "binary_crossentropy")}
    assert logged["pr_auc"]["curve"] == "PR"
    assert logged["auc"]["curve"] == "ROC"
    assert "val_pr_auc" in rules.SETTINGS["monitor"].choices
    TrainSpec(monitor="val_pr_auc")  # early stopping may follow it


def test_training_stops_on_and_keeps_the_best_minority_aware_epoch(balanced_run):
    history = pd.DataFrame(balanced_run.history)
    assert "val_pr_auc" in history
    assert balanced_run.training.best_epoch == int(history["val_pr_auc"].to_numpy().argmax())
    network = balanced_run.metrics["validation"]["network"]
    y_val, p_yes = balanced_run.y_val, balanced_run.output_val.reshape(-1)
    from sklearn.metrics import average_precision_score

    assert network["pr_auc"] == pytest.approx(average_precision_score(y_val, p_yes))


def test_baselines_are_weighted_like_a_balanced_network(balanced_run):
    validation = balanced_run.metrics["validation"]
    assert set(validation["baselines"]) == {
        "dummy (balanced)",
        "logistic regression (balanced)",
        "gradient boosting (balanced)",
    }
    dummy = validation["baselines"]["dummy (balanced)"]
    positives = float(np.mean(balanced_run.y_val == 1))
    # Every class equally likely: chance on every measure that sees the minority.
    assert dummy["balanced_accuracy"] == 0.5
    assert dummy["pr_auc"] == pytest.approx(positives)
    assert dummy["roc_auc"] == 0.5


def test_a_balanced_logistic_regression_is_the_one_scikit_learn_fits():
    frame = imbalanced_frame()
    x = frame.drop(columns="churned").to_numpy()
    y = (frame["churned"] == "yes").to_numpy().astype(int)
    train, held = np.arange(1000), np.arange(1000, ROWS)
    weighted = evaluate.baselines(
        "binary", x[train], y[train], x[held], y[held], 2, balanced=True
    ).scores
    plain = evaluate.baselines("binary", x[train], y[train], x[held], y[held], 2).scores
    assert set(plain) == {"dummy (most frequent)", "logistic regression", "gradient boosting"}

    reference = LogisticRegression(max_iter=1000, class_weight="balanced").fit(x[train], y[train])
    expected = evaluate.scores("binary", y[held], reference.predict_proba(x[held])[:, 1], 2)
    assert weighted["logistic regression (balanced)"] == expected
    # Weighting is what makes it find the rare class: recall rises.
    assert (
        weighted["logistic regression (balanced)"]["recall"]
        > plain["logistic regression"]["recall"]
    )
    # The unweighted dummy's accuracy is the majority's share, the number that misled.
    assert plain["dummy (most frequent)"]["accuracy"] == pytest.approx(np.mean(y[held] == 0))
    assert plain["dummy (most frequent)"]["recall"] == 0


def test_the_verdict_names_the_measure_and_the_comparison_truthfully(balanced_run):
    validation = balanced_run.metrics["validation"]
    measure = rules.compare_on("binary", np.bincount(balanced_run.y_val.astype(int)))
    assert measure == "pr_auc"
    sentence = evaluate.verdict(validation, measure)
    network = validation["network"][measure]
    baselines = {name: s[measure] for name, s in validation["baselines"].items()}
    best = max(baselines, key=baselines.get)
    assert sentence.startswith("On PR AUC (higher is better), the network scores ")
    assert f"{network:,.4g}" in sentence and f"{baselines[best]:,.4g}" in sentence
    assert best in sentence
    assert ("better than every baseline" in sentence) == (network > baselines[best])
    assert ("worse than" in sentence) == (network < baselines[best])
    assert sentence.count(".") >= 1 and "\n" not in sentence


@pytest.mark.parametrize(
    ("network", "expected"),
    [
        (0.40, "better than every baseline, by 0.1 (33%) over the best, logistic regression"),
        (0.20, "worse than logistic regression at 0.3, by 0.1 (33%); it beats 1 of the 2"),
        (0.04, "worse than logistic regression at 0.3, by 0.26 (87%); it beats 0 of the 2"),
        (0.30, "the same as the best baseline, logistic regression: it adds nothing over it"),
        (None, "No verdict on PR AUC: the network's PR AUC is undefined on these rows."),
    ],
)
def test_the_verdict_of_each_outcome(network, expected):
    part = {
        "network": {"pr_auc": network},
        "baselines": {"dummy": {"pr_auc": 0.05}, "logistic regression": {"pr_auc": 0.3}},
    }
    assert expected in evaluate.verdict(part, "pr_auc")


def test_a_lower_is_better_verdict_counts_a_smaller_error_as_better():
    part = {
        "network": {"mae": 12.0},
        "baselines": {"dummy (mean)": {"mae": 40.0}, "linear regression": {"mae": 15.0}},
    }
    sentence = evaluate.verdict(part, "mae")
    assert sentence.startswith("On mean absolute error (lower is better), the network scores 12")
    assert "better than every baseline, by 3 (20%) over the best, linear regression at 15." in (
        sentence
    )
    no_baselines = {"network": {"mae": 12.0}, "baselines": {}}
    assert evaluate.verdict(no_baselines, "mae") == (
        "No verdict on mean absolute error: no baseline has one on these rows."
    )
