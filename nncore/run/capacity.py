"""A capacity search: the notes' way to size a network, by trying.

Start small, grow wider while the validation score improves, then deeper; `CapacitySearch`
decides the next architecture from the scores so far, and each step is an ordinary training job,
run after the one before (`nncore.run.session.Workbench` runs them). Free of TensorFlow and
numpy, so a first visit to the studio imports it cheaply.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from nncore.config import Experiment, LayerSpec, monitor_mode
from nncore.errors import ConfigError


@dataclass
class CapacityStep:
    layers: tuple[LayerSpec, ...]
    move: str  # "start", "wider" or "deeper"
    score: float | None = None  # None if its training logged no score
    done: bool = False
    accepted: bool = False


@dataclass
class CapacitySearch:
    """Start small; double the units while the validation score improves by at least
    `min_improvement` (relative), then add layers of that width while it still does; stop at
    the first step that does not. The best accepted step is the chosen architecture.

    Drive it with `next_layers()` (None once finished) and `record(score)` after each step.
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

    def trial(self, layers: tuple[LayerSpec, ...]) -> Experiment:
        return self.base.replace(layers=layers)

    def next_layers(self) -> tuple[LayerSpec, ...] | None:
        """The architecture to train next: the pending one if its score is not in yet."""
        if self.finished:
            return None
        if self.steps and not self.steps[-1].done:
            return self.steps[-1].layers
        layers, move = self._propose()
        if layers is None:
            self.finished = True
            return None
        self.steps.append(CapacityStep(layers, move))
        return layers

    def record(self, score: float | None) -> None:
        """The pending step's validation score (None if its training produced none)."""
        step = self.steps[-1]
        best = self.chosen
        step.score, step.done = score, True
        if score is not None and (best is None or self._improves(score, best.score)):
            step.accepted = True
        elif self.phase == "wider":
            self.phase = "deeper"
        else:
            self.finished = True
        if len(self.steps) >= self.max_steps or self.chosen is None:
            self.finished = True  # at the limit, or nothing scored to grow from

    def _improves(self, score: float, than: float | None) -> bool:
        if than is None:
            return True
        gain = (than - score) if monitor_mode(self.monitor) == "min" else (score - than)
        return gain > self.min_improvement * max(abs(than), 1e-12)

    def _propose(self) -> tuple[tuple[LayerSpec, ...] | None, str]:
        if not self.steps:
            # The current design's first layer (activation, dropout, penalties), made small.
            first = self.base.layers[0] if self.base.layers else LayerSpec()
            return (dataclasses.replace(first, units=self.start_units),), "start"
        layers = self.chosen.layers  # there is one: `record` ends a search without
        if self.phase == "wider":
            units = layers[0].units * 2
            if units <= self.max_units:
                return tuple(dataclasses.replace(s, units=units) for s in layers), "wider"
            self.phase = "deeper"
        if len(layers) < self.max_layers:
            return (*layers, layers[-1]), "deeper"
        return None, ""
