"""The gradient-boosting baseline: fitted on the same rows as the others, seeded, timed, and the
verdict's advice when the network trails it."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.ensemble import HistGradientBoostingRegressor

from nncore.learn import evaluate


def curved(n: int = 600, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A target a straight line cannot follow: a step and a square."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(-2, 2, size=(n, 3))
    y = 3 * (x[:, 0] > 0) + x[:, 1] ** 2 + rng.normal(0, 0.1, n)
    return x, y


def test_gradient_boosting_is_scored_on_the_same_rows_and_timed():
    x, y = curved()
    train, held = slice(0, 450), slice(450, None)
    timed = evaluate.baselines("regression", x[train], y[train], x[held], y[held], seed=3)
    results = timed.scores
    assert (
        set(results)
        == set(timed.seconds)
        == {
            "dummy (mean)",
            "linear regression",
            "gradient boosting",
        }
    )
    assert all(seconds > 0 for seconds in timed.seconds.values())
    reference = HistGradientBoostingRegressor(random_state=3).fit(x[train], y[train])
    expected = evaluate.scores("regression", y[held], reference.predict(x[held]))
    boosted = results["gradient boosting"]
    assert boosted == pytest.approx(expected)
    # On a step and a square, the trees beat the straight line.
    assert boosted["mae"] < results["linear regression"]["mae"]


def test_gradient_boosting_for_each_classification_kind():
    x, y = curved()
    for classes, n_classes in (((y > 2).astype(int), 2), (np.digitize(y, [1, 3]), 3)):
        results = evaluate.baselines(
            "binary" if n_classes == 2 else "multiclass",
            x[:450],
            classes[:450],
            x[450:],
            classes[450:],
            n_classes,
        ).scores
        boosted = results["gradient boosting"]
        assert boosted["accuracy"] > results["logistic regression"]["accuracy"]


def test_the_verdict_says_what_to_try_when_the_network_trails():
    part = {
        "network": {"mae": 0.5},
        "baselines": {"linear regression": {"mae": 1.0}, "gradient boosting": {"mae": 0.25}},
    }
    sentence = evaluate.verdict(part, "mae")
    assert "worse than gradient boosting at 0.25, by 0.25 (100%)" in sentence
    assert sentence.endswith(evaluate.TO_CLOSE_THE_GAP)
    part["network"]["mae"] = 0.2
    won = evaluate.verdict(part, "mae")
    assert "better than every baseline, by 0.05 (20%) over the best, gradient boosting" in won
    assert evaluate.TO_CLOSE_THE_GAP not in won
