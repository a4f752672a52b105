"""Decisions for classifiers: the Brier score and calibration curve, temperature scaling folded
into the model files, cumulative gain and lift, and a threshold picked by costs that the command
line keeps and predicts with."""

import json

import numpy as np
import pandas as pd
import pytest
from clirun import cli
from frames import TARGETS, mixed_frame, tiny_experiment
from sklearn.calibration import calibration_curve
from sklearn.metrics import brier_score_loss, log_loss

from nncore.artifacts.predict import load_schema, predict
from nncore.learn import calibrate
from nncore.learn.evaluate import brier, scores


def overconfident(n: int = 400, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Truths drawn from probabilities p, and outputs that push p far toward 0 and 1."""
    rng = np.random.default_rng(seed)
    z = rng.normal(0, 1.5, n)
    y = (rng.uniform(size=n) < 1 / (1 + np.exp(-z))).astype(int)
    return y, 1 / (1 + np.exp(-4 * z))


def test_brier_is_scikit_learns_for_binary_and_the_summed_squares_for_multiclass():
    y, p = overconfident()
    assert brier("binary", y, p) == pytest.approx(brier_score_loss(y, p))
    assert scores("binary", y, p)["brier"] == pytest.approx(brier_score_loss(y, p))
    probabilities = np.array([[0.7, 0.2, 0.1], [0.1, 0.1, 0.8], [0.3, 0.4, 0.3]])
    truth = np.array([0, 1, 2])
    rows = [0.3**2 + 0.2**2 + 0.1**2, 0.1**2 + 0.9**2 + 0.8**2, 0.3**2 + 0.4**2 + 0.7**2]
    by_hand = np.mean(rows)
    assert brier("multiclass", truth, probabilities) == pytest.approx(by_hand)


def test_the_calibration_curve_is_scikit_learns_with_the_rows_per_bin():
    y, p = overconfident()
    found = calibrate.calibration("binary", y, p, ["no", "yes"])
    observed, predicted = calibration_curve(y, p, n_bins=calibrate.CALIBRATION_BINS)
    (curve,) = found["curves"]
    assert curve["class"] == "yes"
    np.testing.assert_allclose(curve["observed"], observed)
    np.testing.assert_allclose(curve["predicted"], predicted)
    assert sum(curve["rows"]) == len(y)
    assert len(curve["rows"]) == len(predicted)


def test_temperature_softens_overconfident_probabilities_and_lowers_log_loss_and_brier():
    y, p = overconfident()
    temperature = calibrate.fit_temperature("binary", y, p)
    assert temperature > 2  # the outputs were sharpened 4x
    scaled = calibrate.scaled("binary", p, temperature)
    assert log_loss(y, scaled) < log_loss(y, p)
    assert brier("binary", y, scaled) < brier("binary", y, p)
    # The order of the rows, and so every label at 0.5, stays.
    assert ((scaled >= 0.5) == (p >= 0.5)).all()


def test_gain_and_lift_rank_the_positives_first():
    y = np.array([1, 0, 1, 0, 0, 0, 0, 0, 1, 0])
    p = np.array([0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2, 0.1, 0.05])
    table = calibrate.gains(y, p, points=5)
    assert [row["rows"] for row in table] == [0.2, 0.4, 0.6, 0.8, 1.0]
    # The top 2 rows hold 1 of 3 positives; the top 4, 2 of 3; all 10 hold all.
    assert table[0]["gain"] == pytest.approx(1 / 3)
    assert table[1]["gain"] == pytest.approx(2 / 3)
    assert table[-1]["gain"] == 1.0
    assert table[0]["lift"] == pytest.approx((1 / 3) / 0.2)
    assert table[-1]["lift"] == 1.0


def test_the_cheapest_threshold_counts_errors_at_their_costs():
    y = np.array([0, 0, 0, 1, 1])
    p = np.array([0.1, 0.35, 0.6, 0.3, 0.8])
    costs = calibrate.expected_costs(y, p, cost_fp=1, cost_fn=10, thresholds=np.array([0.2, 0.5]))
    # At 0.2: FP are the rows at 0.35 and 0.6, no FN; at 0.5: FP the row at 0.6, FN the one at 0.3.
    assert [(r["false_positives"], r["false_negatives"]) for r in costs] == [(2, 0), (1, 1)]
    assert [r["cost"] for r in costs] == [pytest.approx(2 / 5), pytest.approx(11 / 5)]
    assert calibrate.cheapest(costs)["threshold"] == 0.2
    with pytest.raises(ValueError):
        calibrate.expected_costs(y, p, 0, 0)


def test_a_target_recall_or_precision_picks_the_threshold_that_reaches_it():
    y = np.array([0, 0, 0, 1, 1])
    p = np.array([0.1, 0.35, 0.6, 0.3, 0.8])
    assert calibrate.threshold_for(y, p, "recall", 1.0) == 0.3
    assert calibrate.threshold_for(y, p, "precision", 1.0) == 0.61
    assert calibrate.threshold_for(y, np.zeros(5), "precision", 1.0) is None


@pytest.fixture(scope="module")
def binary_run(tmp_path_factory):
    """A binary run trained by the command line with --costs, and its table as a CSV file: a
    fifth of the labels flipped, so that no threshold is free of errors."""
    root = tmp_path_factory.mktemp("decide")
    data = root / "data.csv"
    frame = mixed_frame(n=400, task="binary")
    flipped = np.random.default_rng(1).uniform(size=len(frame)) < 0.2
    frame.loc[flipped, "label"] = np.where(frame.loc[flipped, "label"] == "yes", "no", "yes")
    frame.to_csv(data, index=False)
    out = root / "run"
    done = cli(
        "train", "--data", data, "--target", "label", "--out", out, "--epochs", "15",
        "--layers", "16,8", "--seed", "3", "--quiet", "--costs", "1", "8",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return out, data, done.stdout


def test_train_with_costs_keeps_the_cheapest_threshold_and_predict_labels_by_it(
    binary_run, tmp_path
):
    from nncore.run.pipeline import load_result

    out, data, stdout = binary_run
    result = load_result(out)
    costs = calibrate.expected_costs(result.y_val, result.output_val, 1, 8)
    best = calibrate.cheapest(costs)
    threshold = load_schema(out / "schema.json").threshold
    assert threshold == best["threshold"]
    assert f"threshold {threshold:g} kept" in stdout

    # The CLI's labels on the validation rows give exactly the errors the cost chart counts.
    frame = pd.read_csv(data)
    rows = frame[frame["label"].notna()].iloc[result.validation_rows]
    rows.to_csv(tmp_path / "validation.csv", index=False)
    predictions = tmp_path / "p.csv"
    done = cli("predict", "--model", out / "model.h5", "--data", tmp_path / "validation.csv",
               "--out", predictions)  # fmt: skip
    assert done.returncode == 0, done.stderr
    labelled = pd.read_csv(predictions)["predicted label"].to_numpy() == "yes"
    truth = rows["label"].to_numpy() == "yes"
    assert int(np.sum(labelled & ~truth)) == best["false_positives"]
    assert int(np.sum(~labelled & truth)) == best["false_negatives"]
    # A missed positive costs 8 false alarms: more rows are called positive than at 0.5.
    p_yes = pd.read_csv(predictions)["probability yes"].to_numpy()
    assert threshold < 0.5
    assert labelled.sum() > (p_yes >= 0.5).sum()


def test_the_cli_refuses_costs_for_a_regression_before_training(tmp_path):
    data = tmp_path / "data.csv"
    mixed_frame(task="regression").to_csv(data, index=False)
    done = cli("train", "--data", data, "--target", "price", "--out", tmp_path / "r",
               "--costs", "1", "2")  # fmt: skip
    assert done.returncode != 0
    assert done.stderr.count("\n") == 1
    assert "--costs is for binary targets" in done.stderr
    assert not (tmp_path / "r").exists()


@pytest.mark.parametrize("task", ["binary", "multiclass"])
def test_a_temperature_scaled_model_loads_in_safe_mode_and_its_brier_is_not_worse(task, tmp_path):
    import keras

    from nncore.run.calibration import temperature_scale
    from nncore.run.pipeline import load_result, run_experiment

    frame = mixed_frame(task=task)
    before = run_experiment(frame, tiny_experiment(task), tmp_path)
    section = temperature_scale(tmp_path)
    after = load_result(tmp_path)
    assert after.metrics["calibration"]["temperature"] == section["temperature"] > 0
    rows = frame[frame[TARGETS[task]].notna()].iloc[before.validation_rows]
    schema = load_schema(tmp_path / "schema.json")
    for name in ("model.keras", "model.h5"):
        model = keras.saving.load_model(tmp_path / name, compile=False, safe_mode=True)
        table = predict(model, rows, schema)
        probabilities = table[[c for c in table if c.startswith("probability ")]].to_numpy()
        output = probabilities[:, 1] if task == "binary" else probabilities
        assert brier(task, before.y_val, output) <= brier(task, before.y_val, before.output_val)
        np.testing.assert_allclose(output, after.output_val.reshape(output.shape), atol=1e-4)
        # Scaling keeps the order of the classes' probabilities: the labels at 0.5 stay.
        old = before.output_val.ravel() >= 0.5 if task == "binary" else before.output_val.argmax(1)
        new = output >= 0.5 if task == "binary" else output.argmax(1)
        assert (old == new).all()
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["validation"]["network"]["brier"] == pytest.approx(
        section["validation"]["brier_after"]
    )
    assert section["validation"]["brier_after"] <= section["validation"]["brier_before"]
