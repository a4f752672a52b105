"""What Evaluate says of its numbers: the importance in its score's own terms and range, and
the caution for scores measured on few rows."""

import numpy as np
import pytest

from nncore import rules
from nncore.learn.evaluate import feature_importance, importance_note, scores


def test_a_fall_in_r2_above_1_is_explained_by_the_network_s_own_r2():
    rng = np.random.default_rng(0)
    features = rng.normal(size=(400, 2))
    y = 3 * features[:, 0]

    def predict(x):  # a perfect fit that relies on the first column only
        return 3 * x[:, 0]

    importance = feature_importance(predict, features, ["x", "noise"], y, "regression")
    by_column = {c["column"]: c["mean"] for c in importance["columns"]}
    # Shuffled, x gives predictions as spread as the truth but unrelated: R² falls from 1 to -1.
    assert by_column["x"] > 1.5 and by_column["noise"] == 0
    network_r2 = scores("regression", y, predict(features))["r2"]
    note = importance_note(importance, network_r2)
    assert note.startswith("Each bar is the fall in R² (share of the target's variance")
    assert "among 400 validation rows (the mean of 3 shuffles" in note
    assert "so a fall can exceed 1" in note
    assert (
        "The network's R² is 1: a fall larger than that leaves it worse than predicting the mean"
        in note
    )


def test_a_rise_in_log_loss_is_said_to_have_no_bound():
    rng = np.random.default_rng(1)
    features = rng.normal(size=(300, 2))
    y = (features[:, 1] > 0).astype(int)

    def predict(x):
        return 1 / (1 + np.exp(-4 * x[:, 1]))

    importance = feature_importance(predict, features, ["a", "b"], y, "binary")
    assert importance["columns"][0]["column"] == "b"
    log_loss = scores("binary", y, predict(features))["log_loss"]
    note = importance_note(importance, log_loss)
    assert note.startswith("Each bar is the rise in log loss (the crossentropy")
    assert "has no ceiling" in note and "a rise has no upper bound" in note
    assert f"The network's log loss is {log_loss:,.4g}: a rise of that much doubles it." in note
    assert "The network's" not in importance_note(importance)  # without its score, none said


@pytest.mark.parametrize(("rows", "few"), [(0, False), (1, True), (299, True), (300, False)])
def test_scores_on_fewer_than_300_rows_are_cautioned(rows, few):
    assert rules.SMALL_EVALUATION.value == 300
    assert rules.small_evaluation(rows) is few


def test_a_network_already_worse_than_the_mean_is_said_to_be():
    importance = {"score": "r2", "rows": 40, "repeats": 3, "columns": []}
    assert "The network's R² is -2.5, no better than predicting the mean already" in (
        importance_note(importance, -2.5)
    )
    assert "leaves it worse" in importance_note(importance, 0.5)
