"""Decisions for classifiers, measured on the validation rows: how far the probabilities can be
trusted (the Brier score, a calibration curve, one temperature that makes them truer), how much
better than chance the ranking finds the positives (cumulative gain and lift), and which
threshold costs least given what a false positive and a false negative cost.

Targets are class indices and outputs the network's (the positive class's probability for a
binary task, one probability per class otherwise), as in `nncore.learn.evaluate.scores`.
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import minimize_scalar
from sklearn import metrics as skm
from sklearn.calibration import calibration_curve as sk_calibration_curve

from nncore.learn.evaluate import brier, class_probabilities

CALIBRATION_BINS = 10
# Thresholds the expected cost is computed at: the slider's range and step on Evaluate.
COST_THRESHOLDS = np.round(np.arange(0.01, 1.0, 0.01), 2)
GAIN_POINTS = 20  # the gain and lift charts' steps through the rows, best-ranked first
# Temperatures searched, as log(T): from sharpening 20x to softening 20x.
LOG_TEMPERATURE_RANGE = (-3.0, 3.0)
_EPSILON = 1e-7


def calibration(task: str, y_true: np.ndarray, output: np.ndarray, classes) -> dict:
    """Per class (the positive one only for a binary task), scikit-learn's calibration curve in
    `CALIBRATION_BINS` equal-width bins: the mean predicted probability of each bin beside the
    share of its rows that are of that class, with how many rows each bin holds."""
    y_true = np.asarray(y_true).astype(int).reshape(-1)
    probabilities = class_probabilities(output, task)
    shown = [1] if task == "binary" else range(probabilities.shape[1])
    curves = []
    for k in shown:
        p = np.clip(probabilities[:, k], 0.0, 1.0)
        hit = (y_true == k).astype(int)
        if hit.min() == hit.max():
            continue  # scikit-learn needs both outcomes among the rows
        observed, predicted = sk_calibration_curve(hit, p, n_bins=CALIBRATION_BINS)
        counts = np.bincount(_bin(p), minlength=CALIBRATION_BINS)
        curves.append(
            {
                "class": str(classes[k]),
                "predicted": predicted.tolist(),
                "observed": observed.tolist(),
                "rows": counts[counts > 0].tolist(),
            }
        )
    return {"brier": brier(task, y_true, output), "bins": CALIBRATION_BINS, "curves": curves}


def _bin(p: np.ndarray) -> np.ndarray:
    # As scikit-learn's uniform strategy bins: [0, 0.1), ..., [0.9, 1].
    edges = np.linspace(0.0, 1.0, CALIBRATION_BINS + 1)
    return np.searchsorted(edges[1:-1], p, side="right")


def gains(y_true: np.ndarray, p_positive: np.ndarray, points: int = GAIN_POINTS) -> list[dict]:
    """Rows ranked by the positive class's probability, highest first, in `points` steps: the
    share of rows taken, the share of all positives they hold (cumulative gain) and how many
    times the positives' overall rate that is (lift)."""
    y_true = np.asarray(y_true).astype(int).reshape(-1)
    positives = int(y_true.sum())
    if positives == 0:
        return []
    order = np.argsort(-np.asarray(p_positive, dtype=float).reshape(-1), kind="stable")
    found = np.cumsum(y_true[order])
    n = len(y_true)
    table = []
    for step in range(1, points + 1):
        taken = max(1, round(n * step / points))
        gain = found[taken - 1] / positives
        share = taken / n
        table.append({"rows": share, "gain": float(gain), "lift": float(gain / share)})
    return table


def expected_costs(
    y_true: np.ndarray,
    p_positive: np.ndarray,
    cost_fp: float,
    cost_fn: float,
    thresholds: np.ndarray = COST_THRESHOLDS,
) -> list[dict]:
    """At each threshold, the false positives and negatives on these rows and their mean cost
    per row: (cost_fp · FP + cost_fn · FN) / rows."""
    if cost_fp < 0 or cost_fn < 0 or cost_fp + cost_fn == 0:
        raise ValueError("The costs must be 0 or more and not both 0.")
    y_true = np.asarray(y_true).astype(int).reshape(-1)
    p = np.asarray(p_positive, dtype=float).reshape(-1)
    table = []
    for threshold in thresholds:
        predicted = p >= threshold
        fp = int(np.sum(predicted & (y_true == 0)))
        fn = int(np.sum(~predicted & (y_true == 1)))
        table.append(
            {
                "threshold": float(threshold),
                "false_positives": fp,
                "false_negatives": fn,
                "cost": (cost_fp * fp + cost_fn * fn) / len(y_true),
            }
        )
    return table


def cheapest(costs: list[dict]) -> dict:
    """The row of `expected_costs` with the lowest cost; of equal ones, the threshold nearest
    0.5 (the usual one, so a tie moves nothing without reason)."""
    return min(costs, key=lambda row: (round(row["cost"], 12), abs(row["threshold"] - 0.5)))


def threshold_for(
    y_true: np.ndarray,
    p_positive: np.ndarray,
    measure: str,
    target: float,
    thresholds: np.ndarray = COST_THRESHOLDS,
) -> float | None:
    """The threshold reaching at least `target` precision or recall on these rows: for recall
    the highest such threshold (fewest false alarms), for precision the lowest (most positives
    found). None when no threshold reaches it."""
    if measure not in ("precision", "recall"):
        raise ValueError(f"measure must be precision or recall, got {measure!r}.")
    y_true = np.asarray(y_true).astype(int).reshape(-1)
    p = np.asarray(p_positive, dtype=float).reshape(-1)
    score = skm.precision_score if measure == "precision" else skm.recall_score
    reached = [
        float(t)
        for t in thresholds
        if score(y_true, (p >= t).astype(int), zero_division=0) >= target
    ]
    if not reached:
        return None
    return max(reached) if measure == "recall" else min(reached)


def logits(task: str, output: np.ndarray) -> np.ndarray:
    """The scores before the last activation that give `output`: log-odds for a binary task,
    log-probabilities (a softmax's inputs up to a constant) otherwise."""
    if task == "binary":
        p = np.clip(np.asarray(output, dtype=float).reshape(-1), _EPSILON, 1 - _EPSILON)
        return np.log(p / (1 - p))
    return np.log(np.clip(np.asarray(output, dtype=float), _EPSILON, 1.0))


def scaled(task: str, output: np.ndarray, temperature: float) -> np.ndarray:
    """`output` with its logits divided by `temperature`, as the scaled model computes it."""
    z = logits(task, output) / temperature
    if task == "binary":
        return (1 / (1 + np.exp(-z))).reshape(np.shape(output))
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def fit_temperature(task: str, y_true: np.ndarray, output: np.ndarray) -> float:
    """The one temperature that minimises the log loss of `output` on these rows (above 1 the
    probabilities soften, below 1 they sharpen); 1, leaving them as they are, when that does no
    better or would make the Brier score worse."""
    y_true = np.asarray(y_true).astype(int).reshape(-1)
    width = 2 if task == "binary" else np.shape(output)[1]
    labels = list(range(width))

    def loss(log_t: float) -> float:
        probabilities = class_probabilities(scaled(task, output, np.exp(log_t)), task)
        clipped = np.clip(probabilities, _EPSILON, 1)
        return skm.log_loss(y_true, clipped / clipped.sum(axis=1, keepdims=True), labels=labels)

    found = minimize_scalar(loss, bounds=LOG_TEMPERATURE_RANGE, method="bounded")
    temperature = float(np.exp(found.x))
    if found.fun >= loss(0.0) or brier(task, y_true, scaled(task, output, temperature)) > brier(
        task, y_true, output
    ):
        return 1.0
    return temperature
