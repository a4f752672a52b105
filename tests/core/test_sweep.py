"""Tuning: learning-rate sweeps as concurrent jobs, the range test, the capacity search, and
which columns a trained network relies on. Real Keras on data made here."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from nncore.config import CompileSpec, DataSpec, Experiment, LayerSpec, TrainSpec
from nncore.errors import ConfigError, JobError
from nncore.run.capacity import CapacitySearch
from nncore.run.jobs import JobChannel, JobRunner
from nncore.run.pipeline import run_experiment
from nncore.run.range_test import RangeTestSpec, range_test_job, smooth, suggest_rate
from nncore.run.rates import (
    assess,
    best_score,
    check_same_split,
    learning_rates,
    rate_trials,
    tie_band,
)
from nncore.run.tasks import train_job


def linear_frame(n: int = 400, noise: float = 1.0, seed: int = 0) -> pd.DataFrame:
    """A target that is a straight line in two columns plus noise, and a column of pure noise."""
    rng = np.random.default_rng(seed)
    x1, x2, junk = rng.normal(size=(3, n))
    return pd.DataFrame({"x1": x1, "x2": x2, "junk": junk, "y": x1 + x2 + rng.normal(0, noise, n)})


# ------------------------------------------------------------------------- learning-rate sweep


def test_rates_are_log_spaced_and_readable():
    assert learning_rates(1e-4, 0.1, 4) == (0.0001, 0.001, 0.01, 0.1)
    assert learning_rates(0.001, 0.1, 3) == (0.001, 0.01, 0.1)
    assert learning_rates(0.01, 0.01, 5) == (0.01,)
    with pytest.raises(ConfigError, match="1 to 12"):
        learning_rates(0.001, 0.1, 40)
    with pytest.raises(ConfigError, match="from low to high"):
        learning_rates(0.1, 0.001, 3)


def test_trials_change_only_the_optimizer_and_rate():
    base = Experiment(
        compile=CompileSpec("sgd", 0.5, momentum=0.9, nesterov=True, loss="mae"), seed=7
    )
    trials = rate_trials(base, "sgd", (0.001, 0.01))
    assert [t.compile.learning_rate for t in trials] == [0.001, 0.01]
    assert all(t.compile.momentum == 0.9 and t.compile.nesterov for t in trials)
    assert all(t.replace(compile=base.compile) == base for t in trials)
    adam = rate_trials(base, "adam", (0.01,))[0].compile
    assert (adam.optimizer, adam.momentum, adam.nesterov, adam.loss) == ("adam", 0.0, False, "mae")


def test_the_best_score_follows_the_monitor():
    histories = [
        [{"val_loss": 0.9, "val_accuracy": 0.6}, {"val_loss": 0.5, "val_accuracy": 0.7}],
        [{"val_loss": 0.4, "val_accuracy": 0.65}],
        [{"val_loss": float("nan")}],
    ]
    losses = [best_score(h, "val_loss") for h in histories]
    assert losses == [0.5, 0.4, None]
    assert [best_score(h, "val_accuracy") for h in histories] == [0.7, 0.65, None]


@pytest.mark.slow
def test_a_sweep_over_three_rates_gives_three_runs_on_identical_splits(tmp_path):
    frame = linear_frame(300)
    base = Experiment(
        data=DataSpec(target="y"),
        layers=(LayerSpec(8),),
        training=TrainSpec(epochs=8, early_stopping=False),
        seed=5,
    )
    trials = rate_trials(base, "sgd", learning_rates(1e-4, 0.1, 3))
    with JobRunner(max_concurrent=2) as runner:
        jobs = [
            runner.submit(train_job, frame, trial, str(tmp_path / f"trial{i}"), name=f"t{i}")
            for i, trial in enumerate(trials)
        ]
        results = [job.result(timeout=300) for job in jobs]
    assert [job.status for job in jobs] == ["done"] * 3
    assert len({str(r.out_dir) for r in results}) == 3
    check_same_split([r.validation_rows for r in results])
    assert all(np.array_equal(r.y_val, results[0].y_val) for r in results)
    scores = [best_score(r.history, "val_loss") for r in results]
    best = scores.index(min(scores))
    assert scores[best] == min(scores)
    # sgd at 0.0001 for 8 epochs has barely moved from its random start.
    assert best != 0 and scores[0] > scores[best]


def test_trials_on_different_rows_are_not_compared():
    with pytest.raises(JobError, match="different rows"):
        check_same_split([np.array([1, 2, 3]), np.array([1, 2, 4])])


# ---------------------------------------------------------------------------------- range test


def test_the_suggestion_is_a_tenth_of_the_rate_at_the_lowest_smoothed_loss():
    rates = [1e-4, 1e-3, 1e-2, 1e-1, 1.0]
    assert suggest_rate(rates, [5.0, 3.0, 1.0, 2.0, math.nan]) == 0.001
    assert suggest_rate(rates, [math.nan] * 5) is None
    assert smooth([2.0, 2.0, 2.0]) == pytest.approx([2.0, 2.0, 2.0])  # no pull towards zero


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_range_test_suggests_a_sane_rate_on_a_simple_problem(tmp_path, optimizer):
    experiment = Experiment(
        data=DataSpec(target="y"),
        layers=(LayerSpec(16),),
        compile=CompileSpec(optimizer),
        training=TrainSpec(batch_size=16),
    )
    found = range_test_job(
        JobChannel(str(tmp_path)), linear_frame(noise=0.3), experiment, RangeTestSpec(1e-6, 10.0)
    )
    assert len(found.rates) == len(found.losses) == len(found.smoothed) >= 30
    assert found.rates == sorted(found.rates)
    # The loss fell from where it started, and the test ended where it blew up or at the top.
    assert min(found.smoothed) < 0.5 * found.smoothed[0]
    assert 1e-4 <= found.suggestion <= 0.5
    lines = (tmp_path / "history.jsonl").read_text().splitlines()
    assert len(lines) == len(found.rates)  # every batch was reported live


def test_range_test_settings_are_checked():
    with pytest.raises(ConfigError, match="low rate below the high one"):
        RangeTestSpec(0.1, 0.01)
    with pytest.raises(ConfigError, match="10 to 2000 steps"):
        RangeTestSpec(steps=3)


# ----------------------------------------------------------------------------- capacity search


def scripted(scores: list[float | None], **options) -> CapacitySearch:
    """A search fed the given scores in turn, without training anything."""
    design = Experiment(layers=(LayerSpec(50, "tanh", dropout=0.1),))
    search = CapacitySearch(base=design, **options)
    for score in scores:
        assert search.next_layers() is not None
        search.record(score)
    return search


def shapes(search: CapacitySearch) -> list[list[int]]:
    return [[layer.units for layer in step.layers] for step in search.steps]


def test_capacity_grows_wider_then_deeper_and_stops_at_the_first_deeper_step_that_does_not_help():
    search = scripted([1.0, 0.5, 0.49, 0.48], start_units=4, min_improvement=0.05)
    assert shapes(search) == [[4], [8], [16], [8, 8]]
    assert [s.move for s in search.steps] == ["start", "wider", "wider", "deeper"]
    assert [s.accepted for s in search.steps] == [True, True, False, False]
    assert search.finished and search.next_layers() is None
    assert search.stop_reason == "no gain" and search.chosen is search.steps[1]
    # Every step keeps the design's own activation and dropout; only the size changes.
    assert {(s.activation, s.dropout) for step in search.steps for s in step.layers} == {
        ("tanh", 0.1)
    }


def test_capacity_goes_deeper_once_the_units_reach_their_cap():
    search = scripted([1.0, 0.5, 0.3, 0.299], start_units=4, max_units=8, min_improvement=0.05)
    assert shapes(search) == [[4], [8], [8, 8], [8, 8, 8]]
    assert [s.move for s in search.steps] == ["start", "wider", "deeper", "deeper"]
    assert [s.accepted for s in search.steps] == [True, True, True, False]
    assert search.finished and search.chosen is search.steps[2]


def test_capacity_search_for_a_higher_is_better_score_and_its_limits():
    base = Experiment(training=TrainSpec(monitor="val_accuracy"))
    search = CapacitySearch(base=base, start_units=256, max_units=512, max_steps=3)
    for score in (0.7, 0.8, 0.9):
        search.next_layers()
        search.record(score)
    assert shapes(search) == [[256], [512], [512, 512]]  # no wider than max_units
    assert search.finished and search.stop_reason == "cap"  # max_steps, though it still improved
    assert scripted([None]).finished  # nothing to grow from


def test_the_pending_step_is_offered_again_until_its_score_is_in():
    search = CapacitySearch(base=Experiment())
    first = search.next_layers()
    assert search.next_layers() == first and len(search.steps) == 1


@pytest.mark.slow
def test_capacity_search_stops_when_validation_stops_improving(tmp_path):
    # The target is linear plus noise that no network can predict: a few units reach the
    # noise floor, so growing the network cannot keep improving the validation loss.
    frame = linear_frame(400, noise=1.0)
    base = Experiment(data=DataSpec(target="y"), training=TrainSpec(epochs=60, patience=8), seed=1)
    search = CapacitySearch(base=base, start_units=4, min_improvement=0.05, max_steps=8)
    while (layers := search.next_layers()) is not None:
        result = run_experiment(frame, search.trial(layers), tmp_path / str(len(search.steps)))
        rows = len(result.validation_rows)
        search.record(assess(result.history, "val_loss", rows))
    assert search.finished and len(search.steps) < search.max_steps
    assert search.stop_reason == "no gain"
    assert all(step.done and step.score is not None for step in search.steps)
    # Wider while it helps; the first wider step that does not help turns to depth; the first
    # deeper step that does not help ends it.
    last = search.steps[-1]
    assert not last.accepted and last.move == "deeper"
    assert sum(s.move == "wider" and not s.accepted for s in search.steps) <= 1
    # A larger step may score a little better, but within the tie band of 80 validation rows.
    assert search.chosen.score <= min(s.score for s in search.steps) * (1 + tie_band(rows))


# -------------------------------------------------------------------------- feature importance


def test_importance_ranks_an_informative_column_above_noise(tmp_path):
    rng = np.random.default_rng(2)
    n = 300
    frame = pd.DataFrame(
        {
            "noise": rng.normal(size=n),
            "signal": rng.normal(size=n),
            "color": rng.choice(["red", "blue"], n),
        }
    )
    frame["label"] = np.where(frame["signal"] + 0.2 * rng.normal(size=n) > 0, "yes", "no")
    experiment = Experiment(
        data=DataSpec(target="label"), layers=(LayerSpec(8),), training=TrainSpec(epochs=30)
    )
    importance = run_experiment(frame, experiment, tmp_path).metrics["importance"]
    ranked = [c["column"] for c in importance["columns"]]
    assert ranked[0] == "signal" and set(ranked) == {"noise", "signal", "color"}
    by_column = {c["column"]: c["mean"] for c in importance["columns"]}
    assert by_column["signal"] > 10 * max(abs(by_column["noise"]), abs(by_column["color"]), 1e-3)
    assert importance["score"] == "log_loss" and importance["rows"] == 60
    assert '"importance"' in (tmp_path / "metrics.json").read_text()  # saved with the run


def test_importance_names_each_raw_column_once_dates_included(trained_runs):
    for task, (_, result) in trained_runs.items():
        importance = result.metrics["importance"]
        assert sorted(c["column"] for c in importance["columns"]) == ["color", "when", "x1", "x2"]
        assert importance["score"] == ("r2" if task == "regression" else "log_loss")
        means = [c["mean"] for c in importance["columns"]]
        assert means == sorted(means, reverse=True)


# ------------------------------------------------------------------------------------- charts


def test_overlaid_curves_mark_the_best_run_at_its_best_epoch():
    from nncore import plots

    curves = {
        "run 1": [{"loss": 1.0, "val_loss": 0.9}, {"loss": 0.8, "val_loss": 0.7}],
        "run 2": [{"loss": 0.5, "val_loss": 0.4}, {"loss": 0.3, "val_loss": 0.45}],
    }
    fig = plots.compare_curves(curves, "loss", best="run 2")
    assert [t.name for t in fig.data] == ["run 1", "run 2 (best)", "best: run 2, epoch 1"]
    assert list(fig.data[0].y) == [0.9, 0.7]  # validation, not training
    assert (fig.data[2].x, fig.data[2].y) == ((1,), (0.4,))
    assert fig.data[1].line.width > fig.data[0].line.width
    accuracy = plots.compare_curves(
        {"a": [{"accuracy": 0.5}, {"accuracy": 0.9}]}, "accuracy", best="a"
    )
    assert accuracy.data[-1].x == (2,)  # higher is better; no validation: the training curve


def test_range_test_chart_has_a_log_axis_and_the_suggestion():
    from nncore import plots

    fig = plots.range_test([1e-4, 1e-3, 1e-2], [2.0, 1.0, 5.0], [2.0, 1.5, 3.0], 1e-4)
    assert fig.layout.xaxis.type == "log"
    assert [t.name for t in fig.data] == ["loss of each batch", "smoothed", "suggested rate 0.0001"]
    assert plots.range_test([], [], []).data[0].x == ()


def test_capacity_and_importance_charts():
    from nncore import plots

    fig = plots.capacity_steps(["8 relu", "16 relu"], [0.5, None], [True, False], "val_loss")
    assert list(fig.data[0].x) == ["1. 8 relu", "2. 16 relu"] and fig.data[0].text[1] == "n/a"
    importance = {
        "score": "r2",
        "rows": 80,
        "repeats": 3,
        "columns": [
            {"column": "a", "mean": 0.4, "std": 0.1},
            {"column": "b", "mean": -0.01, "std": 0},
        ],
    }
    fig = plots.feature_importance(importance)
    assert list(fig.data[0].y) == ["a", "b"] and "fall in R²" in fig.layout.xaxis.title.text
