"""Prediction intervals for regression: split conformal from the validation errors, kept in
schema.json; they reach their stated coverage on held-out rows of a real dataset."""

import json
import math

import numpy as np
import pandas as pd
import pytest
from clirun import cli
from scipy import stats
from sklearn.linear_model import LinearRegression

from nncore.artifacts.predict import with_interval
from nncore.data.samples import load_sample
from nncore.data.schema import Residuals, Schema
from nncore.errors import DataError


def test_the_half_width_is_the_finite_sample_conformal_quantile():
    errors = np.arange(1, 20, dtype=float)  # 19 validation rows, errors 1..19
    residuals = Residuals.of(errors, np.zeros(19))
    # ceil((19 + 1) * 0.9) = 18: the 18th smallest error.
    assert residuals.half_width(0.9) == 18
    assert residuals.half_width(0.5) == 10
    assert residuals.half_width(0.95) == 19
    with pytest.raises(DataError, match="pick at most 0.95"):
        residuals.half_width(0.96)
    for wrong in (0, 1, 1.5, float("nan"), True, "0.9"):
        with pytest.raises(DataError, match="between 0 and 1"):
            residuals.half_width(wrong)


def test_many_errors_are_kept_as_order_statistics_that_never_narrow_the_interval():
    errors = np.random.default_rng(0).exponential(size=25_000)
    kept = Residuals.of(errors, np.zeros_like(errors))
    assert kept.count == 25_000 and len(kept.quantiles) == 1000
    ordered = np.sort(errors)
    for coverage in (0.5, 0.8, 0.9, 0.95, 0.99):
        exact = ordered[math.ceil(25_001 * coverage) - 1]
        # At most 25 ranks (0.1% coverage) wider than every error would give.
        assert exact <= kept.half_width(coverage) <= ordered[math.ceil(25_001 * coverage) + 24]


def diabetes_coverage(seed: int, coverage: float) -> tuple[float, int]:
    """Coverage on the held-out third of diabetes for a linear model, calibrated on a third."""
    frame = load_sample("diabetes")
    order = np.random.default_rng(seed).permutation(len(frame))
    fit, calibrate, held = np.array_split(order, 3)
    x, y = frame.drop(columns="progression").to_numpy(), frame["progression"].to_numpy()
    model = LinearRegression().fit(x[fit], y[fit])
    half = Residuals.of(y[calibrate], model.predict(x[calibrate])).half_width(coverage)
    covered = np.abs(y[held] - model.predict(x[held])) <= half
    return float(covered.mean()), len(held)


def test_intervals_reach_their_coverage_over_many_splits_of_a_real_dataset():
    # Averaged over 200 random splits, split conformal covers (n+1)c/n-ish: within binomial
    # sampling error of the stated coverage, from above.
    for coverage in (0.8, 0.9):
        rates = [diabetes_coverage(seed, coverage) for seed in range(200)]
        mean = np.mean([r for r, _ in rates])
        rows = sum(n for _, n in rates)
        error = 4 * math.sqrt(coverage * (1 - coverage) / rows)
        assert coverage - error <= mean <= coverage + 1 / 148 + 0.02, (coverage, mean)


def test_with_interval_adds_lower_and_upper_after_the_prediction():
    schema = Schema.from_dict(
        {
            "columns": [{"name": "x", "role": "numeric", "dtype": "float64"}],
            "numeric": [
                {
                    "name": "x",
                    "column": "x",
                    "fill": 0,
                    "center": 0,
                    "scale": 1,
                    "minimum": 0,
                    "maximum": 1,
                }
            ],
            "categorical": [],
            "target": {"name": "y", "task": "regression", "classes": []},
            "scaling": "standard",
            "version": 1,
            "residuals": {"count": 4, "quantiles": [0.5, 1, 2, 3]},
        }
    )
    table = pd.DataFrame({"predicted y": [10.0, 20.0]})
    out = with_interval(table, schema, 0.6)  # ceil(5 * 0.6) = 3: the third error, 2
    assert list(out.columns) == ["predicted y", "lower", "upper"]
    assert out["lower"].tolist() == [8, 18] and out["upper"].tolist() == [12, 22]
    old = Schema.from_dict({k: v for k, v in schema.to_dict().items() if k != "residuals"})
    with pytest.raises(DataError, match="Train it again"):
        with_interval(table, old, 0.9)


@pytest.fixture(scope="module")
def diabetes_run(tmp_path_factory):
    """A small network trained on two thirds of diabetes; the last third held out."""
    root = tmp_path_factory.mktemp("intervals")
    frame = load_sample("diabetes").sample(frac=1, random_state=0)
    frame.iloc[:295].to_csv(root / "train.csv", index=False)
    frame.iloc[295:].to_csv(root / "held.csv", index=False)
    done = cli(
        "train",
        "--data",
        root / "train.csv",
        "--target",
        "progression",
        "--out",
        root / "run",
        "--layers",
        "16:relu",
        "--epochs",
        "40",
        "--validation-split",
        "0.4",
        "--seed",
        "3",
        "--quiet",
    )
    assert done.returncode == 0, done.stderr
    return root


def test_the_cli_intervals_of_a_network_reach_their_coverage_on_held_out_rows(diabetes_run):
    root = diabetes_run
    schema = json.loads((root / "run" / "schema.json").read_text())
    calibration = schema["residuals"]["count"]
    assert calibration == len(schema["residuals"]["quantiles"]) == 118  # 40% of 295
    out = root / "predictions.csv"
    done = cli(
        "predict",
        "--model",
        root / "run" / "model.keras",
        "--data",
        root / "held.csv",
        "--out",
        out,
        "--interval",
        "0.9",
    )
    assert done.returncode == 0, done.stderr
    table = pd.read_csv(out)
    assert list(table.columns[:3]) == ["predicted progression", "lower", "upper"]
    truth = pd.read_csv(root / "held.csv")["progression"]
    covered = int(((truth >= table["lower"]) & (truth <= table["upper"])).sum())
    # Given its calibration rows, a conformal interval covers a new row with a probability
    # drawn from Beta(k, n + 1 - k), k = ceil((n + 1) 0.9); the held-out count is binomial on
    # top: both bounds at one in a thousand.
    k = math.ceil((calibration + 1) * 0.9)
    low, high = stats.beta.ppf([0.0005, 0.9995], k, calibration + 1 - k)
    rows = len(truth)
    assert stats.binom.ppf(0.0005, rows, low) <= covered <= stats.binom.ppf(0.9995, rows, high)


@pytest.mark.parametrize(
    ("value", "message"),
    [("1.5", "between 0 and 1"), ("0.999", "pick at most")],
)
def test_an_impossible_coverage_exits_2_with_one_line(diabetes_run, tmp_path, value, message):
    root = diabetes_run
    done = cli(
        "predict",
        "--model",
        root / "run" / "model.keras",
        "--data",
        root / "held.csv",
        "--out",
        tmp_path / "p.csv",
        "--interval",
        value,
    )
    assert done.returncode == 2
    assert message in done.stderr.strip().splitlines()[-1] and "Traceback" not in done.stderr
    assert not (tmp_path / "p.csv").exists()
