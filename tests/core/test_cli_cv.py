"""`train --cv K`: the folds' scores of the network and of each baseline in metrics.json."""

import json

from clirun import cli
from frames import mixed_frame


def test_cv_writes_each_models_fold_scores_and_prints_a_summary(tmp_path):
    data = tmp_path / "data.csv"
    mixed_frame(n=120, task="binary").to_csv(data, index=False)
    out = tmp_path / "run"
    args = ("train", "--data", data, "--target", "label", "--out", out, "--epochs", "2")
    done = cli(*args, "--layers", "8:relu", "--quiet", "--cv", "2")
    assert done.returncode == 0, done.stderr
    section = json.loads((out / "metrics.json").read_text())["cross_validation"]
    assert section["k"] == 2 and section["stratified"] is True and section["note"] == ""
    assert [fold["fold"] for fold in section["folds"]] == [1, 2]
    assert sum(fold["rows"] for fold in section["folds"]) == 120
    for fold in section["folds"]:
        assert set(fold["baselines"]) == {
            "dummy (most frequent)",
            "logistic regression",
            "gradient boosting",
        }
        assert 0 <= fold["network"]["accuracy"] <= 1
    network = section["summary"]["network"]["accuracy"]
    folds = [fold["network"]["accuracy"] for fold in section["folds"]]
    assert abs(network["mean"] - sum(folds) / 2) < 1e-9
    line = next(x for x in done.stdout.splitlines() if x.startswith("cross-validation:"))
    assert "Across 2 folds, the network's accuracy is" in line

    refused = cli(*args, "--cv", "50")
    assert refused.returncode == 2
    assert refused.stderr.strip() == (
        "error: cross_validation.folds must be between 2 and 20, got 50."
    )
