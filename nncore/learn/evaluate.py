"""Scores with scikit-learn, beside baselines trained on the same split.

A dummy model (the mean, or the most frequent class), a linear or logistic regression and
scikit-learn's histogram gradient boosting (the strongest standard model for tables) show
whether the network earns its keep; `verdict` says so in a sentence. Baselines are weighted as
the network was: with class weights "balanced", so are they.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable, Sequence
from typing import NamedTuple

import numpy as np
from sklearn import metrics as skm
from sklearn.dummy import DummyClassifier, DummyRegressor
from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
from sklearn.exceptions import ConvergenceWarning
from sklearn.inspection import permutation_importance
from sklearn.linear_model import LinearRegression, LogisticRegression

from nncore import rules
from nncore.data.schema import DEFAULT_THRESHOLD


def scores(task: str, y_true: np.ndarray, output: np.ndarray, n_classes: int = 0) -> dict:
    """Metrics for `output` (regression values, or class probabilities) against `y_true`.

    Regression targets and values are in the target's own units; classification targets are
    class indices and the output one probability per class (or of the positive class).
    """
    if task == "regression":
        y_pred = np.asarray(output, dtype=float).reshape(-1)
        return {
            "mae": float(skm.mean_absolute_error(y_true, y_pred)),
            "rmse": float(np.sqrt(skm.mean_squared_error(y_true, y_pred))),
            "r2": float(skm.r2_score(y_true, y_pred)) if len(y_true) > 1 else float("nan"),
        }
    probabilities = class_probabilities(output, task)
    labels = list(range(max(n_classes, probabilities.shape[1])))
    y_true = np.asarray(y_true).astype(int)
    if task == "binary":  # labelled as a new model's predictions are
        y_pred = (probabilities[:, 1] >= DEFAULT_THRESHOLD).astype(int)
    else:
        y_pred = probabilities.argmax(axis=1)
    average = "binary" if task == "binary" else "macro"
    result = {
        "accuracy": float(skm.accuracy_score(y_true, y_pred)),
        "balanced_accuracy": _quiet(skm.balanced_accuracy_score, y_true, y_pred),
        "precision": float(
            skm.precision_score(y_true, y_pred, average=average, labels=labels, zero_division=0)
        ),
        "recall": float(
            skm.recall_score(y_true, y_pred, average=average, labels=labels, zero_division=0)
        ),
        "f1": float(skm.f1_score(y_true, y_pred, average=average, labels=labels, zero_division=0)),
        "log_loss": float(skm.log_loss(y_true, _normalized(probabilities), labels=labels)),
        "brier": brier(task, y_true, output),
        "roc_auc": _roc_auc(task, y_true, probabilities, labels),
    }
    if task == "binary":
        result["pr_auc"] = _pr_auc(y_true, probabilities[:, 1])
    result["confusion_matrix"] = skm.confusion_matrix(y_true, y_pred, labels=labels).tolist()
    return result


def brier(task: str, y_true: np.ndarray, output: np.ndarray) -> float:
    """The mean squared gap between each class's probability and what happened (0 or 1), summed
    over the classes for a multiclass task; for a binary one, of the positive class only (as
    scikit-learn's `brier_score_loss`). 0 is perfect."""
    y_true = np.asarray(y_true).astype(int).reshape(-1)
    if task == "binary":
        p = np.asarray(output, dtype=float).reshape(-1)
        return float(np.mean((p - y_true) ** 2))
    probabilities = np.asarray(output, dtype=float)
    truth = np.eye(probabilities.shape[1])[y_true]
    return float(np.mean(np.sum((probabilities - truth) ** 2, axis=1)))


def class_probabilities(output: np.ndarray, task: str) -> np.ndarray:
    output = np.asarray(output, dtype=float)
    if task == "binary":
        positive = output.reshape(-1)
        return np.column_stack([1 - positive, positive])
    return output


def _normalized(probabilities: np.ndarray) -> np.ndarray:
    # float32 softmax outputs sum to 1 only within rounding; log_loss warns about that.
    clipped = np.clip(probabilities, 1e-7, 1)
    return clipped / clipped.sum(axis=1, keepdims=True)


def _quiet(fn, *args) -> float:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return float(fn(*args))


def _roc_auc(task, y_true, probabilities, labels) -> float:
    present = np.unique(y_true)
    if len(present) < 2:
        return float("nan")  # undefined with one class among the rows scored
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if task == "binary":
            return float(skm.roc_auc_score(y_true, probabilities[:, 1]))
        if len(present) < len(labels):
            return float("nan")
        return float(skm.roc_auc_score(y_true, probabilities, multi_class="ovr", labels=labels))


def _pr_auc(y_true, p_positive) -> float:
    if not (np.asarray(y_true) == 1).any():
        return float("nan")  # undefined without a positive row among the rows scored
    return float(skm.average_precision_score(y_true, p_positive))


class Baselines(NamedTuple):
    """Each baseline's scores, and apart from them (a timing differs run to run, the scores of
    the same seed do not) the seconds it took to fit and predict."""

    scores: dict[str, dict]
    seconds: dict[str, float]


def baselines(
    task: str,
    x_train: np.ndarray,
    y_train: np.ndarray,
    x_eval: np.ndarray,
    y_eval: np.ndarray,
    n_classes: int = 0,
    balanced: bool = False,
    seed: int = 0,
) -> Baselines:
    """Scores of a dummy model, a linear/logistic regression and gradient boosting on the same
    rows, and the seconds each took.

    Targets are as the network saw them: regression values in target units, class indices.
    `balanced` (a classification network trained with class weights "balanced") weighs the
    baselines the same way, and their names say so: the logistic regression gets the same class
    weights, and the dummy becomes what the class shares are under them, every class equally
    likely, so that it is not a majority vote a balanced network is measured against.
    """
    if task == "regression":
        models = {
            "dummy (mean)": DummyRegressor(),
            "linear regression": LinearRegression(),
            "gradient boosting": HistGradientBoostingRegressor(random_state=seed),
        }
    elif balanced:
        models = {
            "dummy (balanced)": DummyClassifier(strategy="uniform"),
            "logistic regression (balanced)": LogisticRegression(
                max_iter=1000, class_weight="balanced"
            ),
            "gradient boosting (balanced)": HistGradientBoostingClassifier(
                random_state=seed, class_weight="balanced"
            ),
        }
    else:
        models = {
            "dummy (most frequent)": DummyClassifier(strategy="prior"),
            "logistic regression": LogisticRegression(max_iter=1000),
            "gradient boosting": HistGradientBoostingClassifier(random_state=seed),
        }
    results = Baselines({}, {})
    for name, model in models.items():
        if task != "regression" and len(np.unique(y_train)) < 2:
            continue  # a classifier cannot be fitted on a single class
        started = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            model.fit(x_train, y_train)
        if task == "regression":
            output = model.predict(x_eval)
        else:
            output = _full_probabilities(model, x_eval, n_classes)
            if task == "binary":
                output = output[:, 1]
        results.seconds[name] = time.perf_counter() - started
        results.scores[name] = scores(task, y_eval, output, n_classes)
    return results


TO_CLOSE_THE_GAP = (
    "To close the gap, try a larger network (Tune: the capacity search), more epochs with early "
    "stopping on, or another learning rate (Tune: the learning-rate sweep)."
)


def verdict(part_metrics: dict, measure: str) -> str:
    """One sentence: does the network beat the baselines on `measure`, and by how much.

    `part_metrics` is one part of a run's metrics (`metrics["validation"]` or `["test"]`):
    `{"network": {...}, "baselines": {name: {...}}}`; `measure` one of their scores. Values
    shown alike (4 significant digits) count as the same.
    """
    label = rules.METRICS[measure].label if measure in rules.METRICS else measure
    better = "higher" if rules.higher_is_better(measure) else "lower"
    network = _finite(part_metrics.get("network", {}).get(measure))
    if network is None:
        return f"No verdict on {label}: the network's {label} is undefined on these rows."
    others = {
        name: value
        for name, scores in part_metrics.get("baselines", {}).items()
        if (value := _finite(scores.get(measure))) is not None
    }
    if not others:
        return f"No verdict on {label}: no baseline has one on these rows."
    pick = max if better == "higher" else min
    best = pick(others, key=others.__getitem__)
    opening = f"On {label} ({better} is better), the network scores {_number(network)}"
    if _number(network) == _number(others[best]):
        return f"{opening}, the same as the best baseline, {best}: it adds nothing over it."
    gain = network - others[best] if better == "higher" else others[best] - network
    size = f"by {_number(abs(gain))}"
    if others[best] != 0:
        size += f" ({abs(gain) / abs(others[best]):.0%})"
    if gain > 0:
        return (
            f"{opening}: better than every baseline, {size} over the best, {best} at "
            f"{_number(others[best])}."
        )
    beaten = sum(
        (network > v) if better == "higher" else (network < v)
        for v in others.values()
        if _number(v) != _number(network)
    )
    return (
        f"{opening}: worse than {best} at {_number(others[best])}, {size}; it beats {beaten} "
        f"of the {len(others)} baselines. {TO_CLOSE_THE_GAP}"
    )


def _finite(value) -> float | None:
    if isinstance(value, int | float) and not isinstance(value, bool) and np.isfinite(value):
        return float(value)
    return None


def _number(value: float) -> str:
    return f"{value:,.4g}"


def _full_probabilities(model, x, n_classes: int) -> np.ndarray:
    """predict_proba widened to every class (a class absent from training gets 0)."""
    probabilities = model.predict_proba(x)
    full = np.zeros((len(x), max(n_classes, 2)))
    full[:, model.classes_.astype(int)] = probabilities
    return full


def threshold_scores(y_true: np.ndarray, p_positive: np.ndarray, threshold: float) -> dict:
    """Binary scores when the positive class is predicted at p_positive >= threshold.

    At 0.5 these are the scores `scores("binary", ...)` reports. Lowering the threshold raises
    recall at the cost of precision.
    """
    if not 0.0 <= threshold <= 1.0:
        raise ValueError(f"threshold must be between 0 and 1, got {threshold}.")
    y_true = np.asarray(y_true).astype(int).reshape(-1)
    y_pred = (np.asarray(p_positive, dtype=float).reshape(-1) >= threshold).astype(int)
    labels = [0, 1]
    return {
        "threshold": float(threshold),
        "accuracy": float(skm.accuracy_score(y_true, y_pred)),
        "balanced_accuracy": _quiet(skm.balanced_accuracy_score, y_true, y_pred),
        "precision": float(skm.precision_score(y_true, y_pred, labels=labels, zero_division=0)),
        "recall": float(skm.recall_score(y_true, y_pred, labels=labels, zero_division=0)),
        "f1": float(skm.f1_score(y_true, y_pred, labels=labels, zero_division=0)),
        "confusion_matrix": skm.confusion_matrix(y_true, y_pred, labels=labels).tolist(),
    }


# Enough rows for a steady ranking; more only cost time (each column is scored `repeats` times).
IMPORTANCE_ROWS = 2000


class _Fitted:
    """A trained network as scikit-learn's permutation_importance expects an estimator.

    The rows it is given hold, per raw column, the position of the row whose value to use:
    shuffling that column of positions shuffles the column's values, date parts and one-hot
    blocks together, in the feature matrix made once from the raw rows. One call costs one
    gather and one call of the network's layers, however many inputs the portable model has.
    """

    def __init__(self, predict, features: np.ndarray, owners: np.ndarray) -> None:
        self._predict, self._features, self._owners = predict, features, owners

    def fit(self, *_):
        return self

    def predict(self, positions: np.ndarray) -> np.ndarray:
        return self._predict(np.take_along_axis(self._features, positions[:, self._owners], 0))


def input_sources(schema) -> dict[str, str]:
    """The raw column each model input is made from (a date gives several inputs)."""
    raw = {c.name for c in schema.columns}
    sources = {}
    for item in (*schema.numeric, *schema.categorical):
        column = item.column
        if column not in raw:  # a date part, named f"{column}__{part}"
            column = column.rsplit("__", 1)[0]
        sources[item.name] = column
    return sources


def feature_importance(
    predict: Callable[[np.ndarray], np.ndarray],
    features: np.ndarray,
    sources: Sequence[str],
    y_true: np.ndarray,
    task: str,
    n_classes: int = 0,
    repeats: int = 3,
    seed: int = 0,
) -> dict | None:
    """How much the score falls when one column's values are shuffled among the rows.

    `features` is the matrix the network's layers take for the validation rows (after the
    preprocessing), `predict` maps such a matrix to the network's outputs (values, or
    probabilities), `sources[j]` names the raw column that column `j` of `features` is made
    from (`input_sources` and `feature_inputs`), `y_true` holds the targets as in `scores`. The
    score is R² for regression and log loss for classification (finer than accuracy on few
    rows). Returns None with fewer than 2 rows, where neither score is defined.
    """
    n = len(y_true)
    if n < 2:
        return None
    rows = np.arange(n)
    if n > IMPORTANCE_ROWS:
        rows = np.sort(np.random.default_rng(seed).choice(n, IMPORTANCE_ROWS, replace=False))
    columns = list(dict.fromkeys(sources))
    index = {column: i for i, column in enumerate(columns)}
    owners = np.array([index[source] for source in sources])
    positions = np.repeat(rows[:, None], len(columns), axis=1)
    labels = list(range(max(n_classes, 2)))

    def score(estimator, x, y) -> float:
        output = estimator.predict(x)
        if task == "regression":
            return float(skm.r2_score(y, np.asarray(output, dtype=float).reshape(-1)))
        probabilities = _normalized(class_probabilities(output, task))
        return -float(skm.log_loss(np.asarray(y).astype(int), probabilities, labels=labels))

    found = permutation_importance(
        _Fitted(predict, features, owners),
        positions,
        np.asarray(y_true)[rows],
        scoring=score,
        n_repeats=repeats,
        random_state=seed,
    )
    order = np.argsort(-found.importances_mean, kind="stable")
    return {
        "score": "r2" if task == "regression" else "log_loss",
        "rows": int(len(rows)),
        "repeats": repeats,
        "columns": [
            {
                "column": columns[i],
                "mean": float(found.importances_mean[i]),
                "std": float(found.importances_std[i]),
            }
            for i in order
        ],
    }


def importance_note(importance: dict, network_score: float | None = None) -> str:
    """What the bars of a `feature_importance` result measure, in its score's own terms, and
    their range: a fall in R² can exceed 1, a rise in log loss has no bound.

    `network_score` is the network's own value of that score on the validation rows, which
    the change is measured from.
    """
    name = importance["score"]
    metric = rules.METRICS[name]
    shuffled = (
        f"when the column's values are shuffled among {importance['rows']:,} validation rows "
        f"(the mean of {importance['repeats']} shuffles; the whiskers show their spread)"
    )
    score = _finite(network_score)
    if name == "r2":
        text = (
            f"Each bar is the fall in {metric.label} ({metric.help}) {shuffled}. {metric.label} "
            "is 0 for a model that always predicts the mean and has no floor: a network misled "
            "by a shuffled column does worse than the mean, so a fall can exceed 1."
        )
        if score is not None and score > 0:
            text += (
                f" The network's {metric.label} is {_number(score)}: a fall larger than that "
                "leaves it worse than predicting the mean."
            )
        elif score is not None:
            text += (
                f" The network's {metric.label} is {_number(score)}, no better than predicting "
                "the mean already: these falls say little."
            )
    else:
        text = (
            f"Each bar is the rise in {metric.label} ({metric.help}; lower is better) {shuffled}."
            f" {metric.label.capitalize()} is 0 for confident right answers and has no ceiling: "
            "confident wrong answers cost the most, so a rise has no upper bound."
        )
        if score is not None:
            text += (
                f" The network's {metric.label} is {_number(score)}: a rise of that much "
                "doubles it."
            )
    return (
        text + " Near zero: the network ignores the column, or another column carries the same "
        "information; below zero is the luck of the shuffles."
    )
