"""A capacity search: the notes' way to size a network, by trying.

Start with one small layer; double its units while each step helps; when a wider step does not
help (or the units reach their cap), add layers of the best width while each step helps; stop at
the first deeper step that does not help, at a cap, or when a step runs out of its time budget.
`CapacitySearch` decides the next architecture from the steps so far, and each step is an
ordinary training job, run after the one before (`nncore.run.session.Workbench` runs them).
Steps are judged as the learning-rate sweep judges its trials (`nncore.run.rates`: a score
smoothed over epochs, unstable steps never kept, a tie band that widens on few validation rows).
Free of TensorFlow and numpy, so a first visit to the studio imports it cheaply.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Literal

from nncore.config import Experiment, LayerSpec, describe_layers
from nncore.errors import ConfigError
from nncore.rules import JOB_SECONDS
from nncore.run.rates import TrialScore, gain, tie_band

StopReason = Literal["no gain", "cap", "budget"]


@dataclass
class CapacityStep:
    layers: tuple[LayerSpec, ...]
    move: str  # "start", "wider" or "deeper"
    score: float | None = None  # None if its training logged no score
    done: bool = False
    accepted: bool = False
    verdict: str = ""  # why it was or was not kept, in words


@dataclass
class CapacitySearch:
    """Start with one layer of `start_units`; double the units while each step improves the
    validation score by at least `min_improvement` (a share of the best so far) and by more than
    the tie band; when a wider step does not help, or the units would pass `max_units`, add layers
    of the best width the same way. Stop at the first deeper step that does not help, after
    `max_steps` steps or at `max_layers`, or when a step runs out of its time budget;
    `stop_reason` and `stop_message` say which. The last step kept is the chosen architecture.

    Drive it with `next_layers()` (None once finished) and `record(result)` after each step, or
    `record_over_budget(result)` when the job's wall-time budget stopped the step.
    """

    base: Experiment
    start_units: int = 8
    min_improvement: float = 0.02
    max_steps: int = 8
    max_units: int = 512
    max_layers: int = 6
    steps: list[CapacityStep] = field(default_factory=list)
    finished: bool = False
    phase: str = "wider"  # then "deeper"
    stop_reason: StopReason | None = None  # None: not stopped, or stopped from outside
    stop_message: str = ""  # why it stopped, in words

    def __post_init__(self) -> None:
        if not 0.0 <= self.min_improvement < 1.0:
            raise ConfigError(
                f"The minimum improvement is a share between 0 and 1, got {self.min_improvement}."
            )
        if not 1 <= self.start_units <= self.max_units:
            raise ConfigError(f"Start with 1 to {self.max_units} units, got {self.start_units}.")

    @property
    def monitor(self) -> str:
        return self.base.training.monitor

    @property
    def chosen(self) -> CapacityStep | None:
        accepted = [s for s in self.steps if s.accepted]
        return accepted[-1] if accepted else None

    @property
    def outcome(self) -> str:
        """Why the search ended, in words ("" while it runs)."""
        if not self.finished:
            return ""
        return self.stop_message or "The search was stopped before it came to its end."

    def trial(self, layers: tuple[LayerSpec, ...]) -> Experiment:
        return self.base.replace(layers=layers)

    def next_layers(self) -> tuple[LayerSpec, ...] | None:
        """The architecture to train next: the pending one if its result is not in yet."""
        if self.finished:
            return None
        if self.steps and not self.steps[-1].done:
            return self.steps[-1].layers
        layers, move = self._propose()
        if layers is None:
            return None
        self.steps.append(CapacityStep(layers, move))
        return layers

    def record(self, result: TrialScore | float | None) -> None:
        """The pending step's result: its `TrialScore`, or a bare score (a stable one on
        validation rows not given, so with no tie band), or None if it logged no score."""
        step = self._judge(result)
        if not step.accepted and step.move == "wider" and self.chosen is not None:
            # Width has stopped paying: depth is the other way to grow, tried from the best.
            self.phase = "deeper"
        elif not step.accepted:
            self._stop("no gain", f"Stopped at step {len(self.steps)}: {step.verdict}.")
        if self.finished:
            return
        if len(self.steps) >= self.max_steps:
            self._stop(
                "cap",
                f"Stopped after {self.max_steps} steps, the most this search takes; "
                f"{self._last_step()}.",
            )

    def record_over_budget(self, result: TrialScore | float | None) -> None:
        """The pending step's result when the wall-time budget of a job stopped it: kept if it
        helped even so, but the search ends there, as a larger network would take longer still."""
        step = self._judge(result)
        self._stop(
            "budget",
            f"Stopped at step {len(self.steps)}: {describe_layers(step.layers)} ran out of the "
            f"time a training may take ({JOB_SECONDS.setting}) before it finished, and a larger "
            f"network would take longer still; that step was "
            f"{'kept' if step.accepted else 'not kept'}.",
        )

    def _judge(self, result: TrialScore | float | None) -> CapacityStep:
        if not isinstance(result, TrialScore):
            result = TrialScore(result)
        step, best = self.steps[-1], self.chosen
        step.score, step.done = result.score, True
        step.verdict = self._why_not(step, result, best)
        step.accepted = not step.verdict
        if step.accepted:
            share = 0.0 if best is None else gain(result.score, best.score, self.monitor)
            step.verdict = (
                "kept" if best is None else f"kept: {share:.1%} better than {best.score:.4g}"
            )
        return step

    def _why_not(self, step: CapacityStep, result: TrialScore, best: CapacityStep | None) -> str:
        """Why the step does not help, in words; "" if it does."""
        layers = describe_layers(step.layers)
        if result.unstable:
            return f"{layers} was unstable ({result.unstable}), so it is not kept"
        if result.score is None:
            return f"{layers} logged no {self.monitor}"
        if best is None:
            return ""
        share = gain(result.score, best.score, self.monitor)
        if share > 0 and share >= max(self.min_improvement, tie_band(result.rows)):
            return ""
        return f"{layers} did not help: {self._gain_words(result, best)}"

    def _gain_words(self, result: TrialScore, best: CapacityStep) -> str:
        """The step's score against the best so far, and what a step needs to be kept."""
        share = gain(result.score, best.score, self.monitor)
        band = tie_band(result.rows)
        if band > self.min_improvement:
            need = f" by at least {band:.1%}, the tie band for {result.rows:,} validation rows,"
        elif self.min_improvement > 0:
            need = f" by at least the {self.min_improvement:.1%} asked for"
        else:
            need = ""
        change = f"{share:.1%} better" if share > 0 else "no better"
        return (
            f"{self.monitor} {result.score:.4g} against the best so far, {best.score:.4g}, is "
            f"{change}; a step must be better{need} to be kept"
        )

    def _last_step(self) -> str:
        step = self.steps[-1]
        if step.accepted:
            return "the last step still helped, so a larger network may do better still"
        return f"the last step did not help ({step.verdict})"

    def _stop(self, reason: StopReason, message: str) -> None:
        self.finished, self.stop_reason, self.stop_message = True, reason, message

    def _propose(self) -> tuple[tuple[LayerSpec, ...] | None, str]:
        if not self.steps:
            # The current design's first layer (activation, dropout, penalties), made small.
            first = self.base.layers[0] if self.base.layers else LayerSpec()
            return (dataclasses.replace(first, units=self.start_units),), "start"
        layers = self.chosen.layers  # there is one: `record` stops a search without
        if self.phase == "wider":
            units = layers[0].units * 2
            if units <= self.max_units:
                return tuple(dataclasses.replace(s, units=units) for s in layers), "wider"
            self.phase = "deeper"
        if len(layers) < self.max_layers:
            return (*layers, layers[-1]), "deeper"
        self._stop(
            "cap",
            f"Stopped: {describe_layers(layers)} is as large as this search grows (at most "
            f"{self.max_units} units a layer and {self.max_layers} layers); {self._last_step()}.",
        )
        return None, ""
