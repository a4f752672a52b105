"""Robust picks: a sweep's trials and a capacity search's steps are judged by a score smoothed
over epochs, unstable ones are never recommended, ties within a band that widens on few
validation rows go to the safer choice, and a capacity search says truthfully why it stopped.
Pure functions on synthetic histories: nothing here needs a training."""

from __future__ import annotations

import math

import pytest

from nncore.config import Experiment, LayerSpec, TrainSpec
from nncore.rules import UNSTABLE_RISE
from nncore.run.capacity import CapacitySearch
from nncore.run.rates import (
    TrialScore,
    assess,
    best_score,
    instability,
    pick_rate,
    robust_score,
    tie_band,
)


def curve(*losses: float, monitor: str = "val_loss") -> list[dict[str, float]]:
    return [{monitor: loss, "loss": loss} for loss in losses]


# A steady rate, and one whose validation loss swings from epoch to epoch and touches the
# lowest value of all once, as in the sweep that crowned adam 0.1 on 69 validation rows.
STEADY = curve(1.0, 0.6, 0.45, 0.41, 0.39, 0.38, 0.37, 0.37)
SWINGING = curve(1.0, 0.5, 2.0, 0.4, 1.9, 1e-5, 2.0, 1.7)


# ---------------------------------------------------------------------------- the robust score


def test_the_robust_score_is_the_best_mean_of_three_consecutive_epochs():
    assert robust_score(STEADY, "val_loss") == pytest.approx((0.38 + 0.37 + 0.37) / 3)
    # One lucky epoch is diluted by its neighbours: the swinging run's best single epoch is far
    # below the steady run's, its robust score above it.
    assert best_score(SWINGING, "val_loss") < best_score(STEADY, "val_loss")
    assert robust_score(SWINGING, "val_loss") > robust_score(STEADY, "val_loss")
    # Higher is better for accuracy; fewer epochs than the window: their mean.
    accuracy = curve(0.5, 0.9, 0.6, 0.95, 0.97, monitor="val_accuracy")
    assert robust_score(accuracy, "val_accuracy") == pytest.approx((0.6 + 0.95 + 0.97) / 3)
    assert robust_score(curve(0.5, 0.3), "val_loss") == pytest.approx(0.4)
    # A window with a NaN does not count; no finite window, no score.
    assert robust_score(curve(0.5, 0.4, 0.3, math.nan), "val_loss") == pytest.approx(0.4)
    assert robust_score(curve(math.nan), "val_loss") is None
    assert robust_score([{"loss": 0.1}], "val_loss") is None


def test_a_late_rise_beyond_the_stated_factor_is_unstable_and_early_falls_are_not():
    assert UNSTABLE_RISE == 3.0
    assert instability(STEADY) == ""
    assert instability(SWINGING) == "val_loss rose 2e+05-fold from epoch 6 to 7"
    # A fast fall early, and a rise in the first half, are learning, not instability.
    assert instability(curve(10.0, 1.0, 5.0, 0.2, 0.19, 0.18, 0.18, 0.17)) == ""
    # Just under the factor late in training is stable; just over it is not.
    assert instability(curve(1.0, 0.5, 0.4, 0.3, 0.3, 0.89)) == ""
    assert instability(curve(1.0, 0.5, 0.4, 0.3, 0.3, 0.91)) == (
        "val_loss rose 3.03-fold from epoch 5 to 6"
    )
    assert instability(curve(1.0, 0.5, 0.4, math.inf)) == "val_loss became inf at epoch 4"
    assert assess(SWINGING, "val_loss", 69).unstable
    assert assess(STEADY, "val_loss", 69) == TrialScore(robust_score(STEADY, "val_loss"), 69, "")


def test_the_tie_band_grows_as_validation_rows_shrink():
    assert tie_band(100) == pytest.approx(0.1)
    assert tie_band(400) == pytest.approx(0.05)
    assert tie_band(10_000) == pytest.approx(0.01)
    assert tie_band(69) > tie_band(400) > tie_band(10_000)
    assert tie_band(0) == 0.0  # rows unknown: no band


# ---------------------------------------------------------------------------------- the sweep


def test_a_rate_whose_validation_loss_swings_does_not_win():
    rates, histories = [0.01, 0.1], [STEADY, SWINGING]
    # The old rule, the best single epoch, crowned the swinging rate.
    assert best_score(SWINGING, "val_loss") < best_score(STEADY, "val_loss")
    picked = pick_rate(rates, histories, "val_loss", rows=69)
    assert picked.index == 0
    assert picked.reasons[0] == "recommended"
    assert picked.reasons[1] == (
        "not picked: unstable (val_loss rose 2e+05-fold from epoch 6 to 7)"
    )
    assert picked.why.startswith("Recommended: rate 0.01, the best val_loss averaged over 3 ")


def test_an_unstable_rate_is_not_recommended_even_when_its_robust_score_is_best():
    calm_but_worse = curve(1.0, 0.9, 0.85, 0.8, 0.8, 0.8)
    good_then_jumpy = curve(1.0, 0.3, 0.1, 0.1, 0.1, 0.35)  # rises 3.5-fold at the end
    picked = pick_rate([0.001, 0.01], [calm_but_worse, good_then_jumpy], "val_loss", rows=1000)
    assert robust_score(good_then_jumpy, "val_loss") < robust_score(calm_but_worse, "val_loss")
    assert picked.index == 0 and "unstable" in picked.reasons[1]


def test_when_every_rate_is_unstable_or_unscored_none_is_recommended():
    picked = pick_rate([0.1, 1.0], [SWINGING, curve(math.nan, math.nan)], "val_loss", rows=200)
    assert picked.index is None
    assert picked.reasons == (
        "not picked: unstable (val_loss rose 2e+05-fold from epoch 6 to 7)",
        "not picked: it logged no val_loss",
    )
    assert picked.why == (
        "No rate is recommended: every one was unstable or logged no val_loss; try lower "
        "learning rates."
    )


def test_a_tie_within_the_band_goes_to_the_lower_rate():
    lower = curve(1.0, 0.5, 0.42, 0.40, 0.40, 0.40)  # robust 0.40
    higher = curve(1.0, 0.45, 0.40, 0.39, 0.38, 0.38)  # robust 0.3833, 4% better
    worse = curve(1.0, 0.8, 0.7, 0.7, 0.7, 0.7)
    rates = [0.1, 0.001, 0.01]  # in any order
    # 100 rows: the band is ±10%, so 0.001 and 0.01 tie and the lower rate is picked.
    few = pick_rate(rates, [worse, lower, higher], "val_loss", rows=100)
    assert few.index == 1
    assert few.reasons[2] == (
        "not picked: its val_loss 0.3833 ties (within ±10.0% of the best, the tie band for 100 "
        "validation rows) with rate 0.001's 0.4, and the lower rate is the safer choice"
    )
    assert few.reasons[0] == "not picked: its val_loss 0.7 is worse than rate 0.001's 0.4"
    assert few.why == (
        "Recommended: rate 0.001 (val_loss averaged over 3 consecutive epochs: 0.4): 2 stable "
        "rates score within ±10.0% of the best, the tie band for 100 validation rows, and the "
        "lowest of them is the safer choice."
    )
    # 10,000 rows: the band is ±1%, so the 4% better rate wins.
    many = pick_rate(rates, [worse, lower, higher], "val_loss", rows=10_000)
    assert many.index == 2 and "worse than rate 0.01's 0.3833" in many.reasons[1]


def test_a_higher_is_better_monitor_ties_the_same_way():
    lower = curve(0.5, 0.80, 0.80, 0.80, monitor="val_accuracy")
    higher = curve(0.5, 0.82, 0.82, 0.82, monitor="val_accuracy")
    assert pick_rate([0.001, 0.01], [lower, higher], "val_accuracy", rows=60).index == 0
    assert pick_rate([0.001, 0.01], [lower, higher], "val_accuracy", rows=60_000).index == 1


# ---------------------------------------------------------------------------- capacity search


def search_of(**options) -> CapacitySearch:
    return CapacitySearch(base=Experiment(layers=(LayerSpec(50),)), start_units=4, **options)


def feed(search: CapacitySearch, *results: TrialScore | float | None) -> CapacitySearch:
    for result in results:
        assert search.next_layers() is not None
        search.record(result)
    return search


def test_a_wider_step_that_does_not_help_turns_to_depth_and_a_deeper_one_stops_it():
    search = feed(search_of(min_improvement=0.05), 1.0, 0.5, 0.49)
    assert not search.finished and search.phase == "deeper"  # width stopped paying
    assert search.steps[2].verdict == (
        "16 relu did not help: val_loss 0.49 against the best so far, 0.5, "
        "is 2.0% better; a step must be better by at least the 5.0% asked for to be kept"
    )
    search = feed(search, 0.495)
    assert [s.move for s in search.steps] == ["start", "wider", "wider", "deeper"]
    assert search.next_layers() is None and len(search.steps) == 4
    assert search.stop_reason == "no gain" and search.chosen is search.steps[1]
    assert search.outcome == (
        "Stopped at step 4: 8 relu → 8 relu did not help: val_loss 0.495 against the best so "
        "far, 0.5, is 1.0% better; a step must be better by at least the 5.0% asked for to be "
        "kept."
    )
    assert search.steps[1].verdict == "kept: 50.0% better than 1"


def test_on_few_validation_rows_a_step_must_beat_the_tie_band():
    # 5% better than the best so far is enough with 10,000 validation rows, not with 100.
    many = feed(search_of(), TrialScore(1.0, 10_000), TrialScore(0.95, 10_000))
    assert many.steps[1].accepted and not many.finished
    few = feed(search_of(), TrialScore(1.0, 100), TrialScore(0.95, 100))
    assert not few.steps[1].accepted and few.phase == "deeper"
    assert few.steps[1].verdict.endswith(
        "is 5.0% better; a step must be better by at least 10.0%, the tie band for 100 "
        "validation rows, to be kept"
    )
    assert few.chosen is few.steps[0]  # the tie goes to the smaller network


def test_an_unstable_step_is_not_kept_and_a_deeper_one_ends_the_search():
    unstable = TrialScore(0.2, 500, "val_loss rose 40-fold from epoch 9 to 10")
    search = feed(search_of(), TrialScore(1.0, 500), unstable)
    assert not search.steps[1].accepted and search.phase == "deeper"
    search = feed(search, unstable)
    assert search.stop_reason == "no gain" and search.chosen is search.steps[0]
    assert search.outcome == (
        "Stopped at step 3: 4 relu → 4 relu was unstable (val_loss rose 40-fold from epoch 9 to "
        "10), so it is not kept."
    )
    first = feed(search_of(), None)  # nothing to grow from
    assert first.chosen is None and first.outcome == "Stopped at step 1: 4 relu logged no val_loss."


def test_it_stops_at_its_caps_and_says_a_larger_network_may_still_help():
    steps = feed(search_of(max_steps=3), 1.0, 0.5, 0.25)
    assert steps.stop_reason == "cap" and steps.next_layers() is None
    assert steps.outcome == (
        "Stopped after 3 steps, the most this search takes; the last step still helped, so a "
        "larger network may do better still."
    )
    size = feed(search_of(max_units=8, max_layers=2), 1.0, 0.5, 0.25)
    assert not size.finished and size.next_layers() is None  # nothing larger to try
    assert [[s.units for s in step.layers] for step in size.steps] == [[4], [8], [8, 8]]
    assert size.stop_reason == "cap" and size.outcome == (
        "Stopped: 8 relu → 8 relu is as large as this search grows (at most 8 units a layer and "
        "2 layers); the last step still helped, so a larger network may do better still."
    )


def test_a_step_stopped_by_the_time_budget_ends_the_search():
    search = feed(search_of(), 1.0)
    search.next_layers()
    search.record_over_budget(0.5)  # it helped, though cut short
    assert search.steps[1].accepted and search.chosen is search.steps[1]
    assert search.stop_reason == "budget" and search.next_layers() is None
    assert search.outcome == (
        "Stopped at step 2: 8 relu ran out of the time a training may take "
        "(NNSTUDIO_JOB_SECONDS) before it finished, and a larger network would take longer "
        "still; that step was kept."
    )
    worse = feed(search_of(), 1.0)
    worse.next_layers()
    worse.record_over_budget(1.2)
    assert worse.stop_reason == "budget" and worse.outcome.endswith("that step was not kept.")


def test_a_search_stopped_from_outside_says_so_and_a_running_one_says_nothing():
    search = feed(search_of(), 1.0)
    assert search.outcome == "" and search.stop_reason is None
    search.finished = True  # as the Workbench's Stop does
    assert search.outcome == "The search was stopped before it came to its end."


def test_a_higher_is_better_monitor_grows_while_it_rises():
    search = CapacitySearch(
        base=Experiment(training=TrainSpec(monitor="val_accuracy")), start_units=4
    )
    feed(search, TrialScore(0.7, 400), TrialScore(0.8, 400), TrialScore(0.82, 400))
    assert [s.accepted for s in search.steps] == [True, True, False]
    assert "is 2.5% better; a step must be better by at least 5.0%" in search.steps[2].verdict
