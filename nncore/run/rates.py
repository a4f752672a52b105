"""A learning-rate sweep: one trial per rate, all on the same split and seed, and how trials are
judged against each other (the sweep's and the capacity search's).

`learning_rates` and `rate_trials` make one trial `Experiment` per rate; each trial is an ordinary
training job. `assess` turns a trial's epochs into a `TrialScore`: a robust score (the best
average of `SMOOTHING_EPOCHS` consecutive epochs, not one lucky epoch) and whether it was
unstable. `pick_rate` recommends the best stable rate, a tie going to the lower rate, and says
why each other rate was not picked; `check_same_split` confirms the trials saw the same
validation rows. Plain data and decisions, free of TensorFlow and (at import) numpy, so the UI
process and `nncore.run.capacity` can use them cheaply.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from nncore.config import CompileSpec, Experiment, OptimizerName, monitor_mode
from nncore.errors import ConfigError, JobError
from nncore.rules import SETTINGS, SMOOTHING_EPOCHS, TIE_BAND, UNSTABLE_RISE

MIN_RATE, MAX_RATE = SETTINGS["learning_rate"].low, SETTINGS["learning_rate"].high
MAX_TRIALS = 12


def learning_rates(low: float, high: float, count: int) -> tuple[float, ...]:
    """`count` rates spaced evenly on a log scale from `low` to `high`, to two significant
    figures (0.001, 0.0046, 0.022, 0.1), so they read well in a legend."""
    if not 1 <= count <= MAX_TRIALS:
        raise ConfigError(f"A sweep tries 1 to {MAX_TRIALS} learning rates, got {count}.")
    if not MIN_RATE <= low <= high <= MAX_RATE:
        raise ConfigError(
            f"Learning rates must run from low to high within {MIN_RATE:g} to {MAX_RATE:g}, "
            f"got {low:g} to {high:g}."
        )
    if count == 1 or low == high:
        return (float(f"{low:.2g}"),)
    rates = (low * (high / low) ** (i / (count - 1)) for i in range(count))
    return tuple(dict.fromkeys(float(f"{r:.2g}") for r in rates))


def rate_trials(
    experiment: Experiment, optimizer: OptimizerName, rates: Sequence[float]
) -> list[Experiment]:
    """One experiment per rate: everything else, the seed and so the split included, is shared."""
    spec = experiment.compile
    momentum = spec.momentum if optimizer in ("sgd", "rmsprop") else 0.0
    nesterov = spec.nesterov and optimizer == "sgd"
    return [
        experiment.replace(
            compile=CompileSpec(optimizer, float(rate), momentum, nesterov, spec.loss)
        )
        for rate in rates
    ]


def best_score(history: Sequence[dict[str, float]], monitor: str) -> float | None:
    """The best value of `monitor` over the epochs of `history` (the epoch whose weights a run
    keeps), or None when it was never logged."""
    values = [h[monitor] for h in history if h.get(monitor) is not None]
    values = [v for v in values if math.isfinite(v)]
    if not values:
        return None
    return max(values) if monitor_mode(monitor) == "max" else min(values)


# ------------------------------------------------------------------------------- robust picks


@dataclass(frozen=True, slots=True)
class TrialScore:
    """What a trial is judged by: its robust score (None if it logged none), the validation rows
    it was measured on (0: unknown, so no tie band) and, if it was unstable, why, in words."""

    score: float | None
    rows: int = 0
    unstable: str = ""


def robust_score(history: Sequence[dict[str, float]], monitor: str) -> float | None:
    """The best mean of `monitor` over `SMOOTHING_EPOCHS` consecutive epochs (over all of them
    when there are fewer); a window with a NaN or infinite value does not count. None when no
    window has a finite mean."""
    values = [h[monitor] for h in history if h.get(monitor) is not None]
    width = min(SMOOTHING_EPOCHS, len(values))
    if not width:
        return None
    means = [sum(values[i : i + width]) / width for i in range(len(values) - width + 1)]
    means = [m for m in means if math.isfinite(m)]
    if not means:
        return None
    return max(means) if monitor_mode(monitor) == "max" else min(means)


def instability(history: Sequence[dict[str, float]]) -> str:
    """Why the trial is unstable, in words ("val_loss rose 12-fold from epoch 8 to 9": its
    largest rise), or "" if it is not (see `UNSTABLE_RISE`); a trial that logged no val_loss
    cannot be judged so."""
    losses = [h.get("val_loss") for h in history]
    rises = []
    for i in range(max(1, len(losses) // 2), len(losses)):
        before, after = losses[i - 1], losses[i]
        if before is None or after is None or not math.isfinite(before):
            continue
        if not math.isfinite(after):
            return f"val_loss became {after} at epoch {i + 1}"
        if before > 0 and after > UNSTABLE_RISE * before:
            rises.append((after / before, i))
    if not rises:
        return ""
    rise, i = max(rises)
    return f"val_loss rose {rise:.3g}-fold from epoch {i} to {i + 1}"


def assess(history: Sequence[dict[str, float]], monitor: str, rows: int) -> TrialScore:
    """A trial's `TrialScore` from its epochs and its number of validation rows."""
    return TrialScore(robust_score(history, monitor), rows, instability(history))


def tie_band(rows: int) -> float:
    """The share of a score within which another ties with it on `rows` validation rows (0
    when the rows are unknown): `TIE_BAND` / √rows."""
    return TIE_BAND / math.sqrt(rows) if rows > 0 else 0.0


def gain(score: float, than: float, monitor: str) -> float:
    """How much better `score` is than `than`, as a share of `than` (negative: worse)."""
    better = (than - score) if monitor_mode(monitor) == "min" else (score - than)
    return better / max(abs(than), 1e-12)


@dataclass(frozen=True, slots=True)
class Recommendation:
    """The trial to recommend (None: none is) and, one per trial, why it was or was not picked."""

    index: int | None
    reasons: tuple[str, ...]
    why: str  # the recommendation, or why there is none, in one sentence


def pick_rate(
    rates: Sequence[float], histories: Sequence[Sequence[dict]], monitor: str, rows: int
) -> Recommendation:
    """The sweep's recommendation among the trials of `rates`, judged on `rows` validation rows:
    the best robust score among the stable trials; trials within the tie band of it tie, and a
    tie goes to the lowest rate, the safer one. Unstable trials and trials without a score are
    never recommended."""
    trials = [assess(history, monitor, rows) for history in histories]
    reasons = [
        f"not picked: unstable ({t.unstable})"
        if t.unstable
        else f"not picked: it logged no {monitor}"
        if t.score is None
        else ""
        for t in trials
    ]
    stable = [i for i, t in enumerate(trials) if not reasons[i]]
    if not stable:
        why = (
            f"No rate is recommended: every one was unstable or logged no {monitor}; try lower "
            "learning rates."
        )
        return Recommendation(None, tuple(reasons), why)
    best = (max if monitor_mode(monitor) == "max" else min)(stable, key=lambda i: trials[i].score)
    band = tie_band(rows)
    tied = [i for i in stable if -gain(trials[i].score, trials[best].score, monitor) <= band]
    chosen = min(tied, key=lambda i: rates[i])
    top, name = trials[chosen].score, f"rate {rates[chosen]:g}"
    smoothed = f"{monitor} averaged over {SMOOTHING_EPOCHS} consecutive epochs"
    band_words = f"within ±{band:.1%} of the best, the tie band for {rows:,} validation rows"
    for i in stable:
        score = trials[i].score
        if i in tied and i != chosen:
            reasons[i] = (
                f"not picked: its {monitor} {score:.4g} ties ({band_words}) with {name}'s "
                f"{top:.4g}, and the lower rate is the safer choice"
            )
        elif i != chosen:
            reasons[i] = f"not picked: its {monitor} {score:.4g} is worse than {name}'s {top:.4g}"
    reasons[chosen] = "recommended"
    if len(tied) == 1:
        why = f"Recommended: {name}, the best {smoothed} of the stable rates ({top:.4g})"
    else:
        why = (
            f"Recommended: {name} ({smoothed}: {top:.4g}): {len(tied)} stable rates score "
            f"{band_words}, and the lowest of them is the safer choice"
        )
    return Recommendation(chosen, tuple(reasons), why + ".")


def check_same_split(validation_rows: Sequence) -> None:
    """Refuse to compare trials that did not validate on the same rows."""
    import numpy as np

    first = validation_rows[0] if validation_rows else None
    for rows in validation_rows[1:]:
        if not np.array_equal(first, rows):
            raise JobError(
                "The trials of this sweep were validated on different rows, so their scores "
                "cannot be compared. Run the sweep again without changing the data in between."
            )
