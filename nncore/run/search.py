"""A network search: Optuna's TPE sampler proposes designs (hidden layers, their units and
activation, dropout, L2, optimizer, learning rate, batch size) within ranges from
`nncore.rules.SEARCH_SPACE` that a user may narrow, learning from the trials so far; a median
pruner stops a trial whose validation score, epoch by epoch, trails the trials before it.

`NetworkSearch` is the study: `ask()` a design, `report()` its epochs (True: prune it),
`tell()` its end. Its storage is a journal file (Optuna's JournalFileBackend), so a restarted
server opens it again (`NetworkSearch.open`) and goes on from the trials that ended; the settings
it was started with are kept in the study itself. Trials are trained elsewhere, as ordinary runs
(`nncore.run.session.Workbench.start_network_search` drives one). Free of TensorFlow.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Mapping
from pathlib import Path

import optuna
from optuna.pruners import MedianPruner, NopPruner
from optuna.samplers import TPESampler
from optuna.storages import JournalStorage
from optuna.storages.journal import JournalFileBackend
from optuna.trial import TrialState

from nncore import rules
from nncore.config import Experiment, LayerSpec, describe_layers, monitor_mode
from nncore.errors import ConfigError, NNCoreError
from nncore.rules import (
    SEARCH_EPOCHS,
    SEARCH_MAX_MINUTES,
    SEARCH_MAX_TRIALS,
    SEARCH_SPACE,
    SEARCH_STARTUP,
    SEARCH_WARMUP,
)

optuna.logging.set_verbosity(optuna.logging.WARNING)  # a line per trial is the page's to show

STUDY = "network search"
JUDGED = (TrialState.COMPLETE, TrialState.PRUNED)
ENDED = (*JUDGED, TrialState.FAIL)
Space = dict[str, tuple]  # a setting's (low, high), or its choices


def search_space(**narrowed: tuple) -> Space:
    """The ranges to search: the rules' SEARCH_SPACE, with `narrowed` ones replaced (a number
    setting as (low, high), a choice as the choices kept). Refuses (ConfigError) a range outside
    the rule's or an empty one."""
    space: Space = {}
    for name, rule in SEARCH_SPACE.items():
        value = tuple(narrowed.pop(name, ()))
        if rule.choices:
            value = value or rule.choices
            outside = [v for v in value if v not in rule.choices]
            if outside:
                raise ConfigError(
                    f"The search's {name} may be {', '.join(map(str, rule.choices))}; "
                    f"{', '.join(map(str, outside))} is not among them."
                )
        else:
            value = value or (rule.low, rule.high)
            if len(value) != 2 or not rule.low <= value[0] <= value[1] <= rule.high:
                raise ConfigError(
                    f"The search's {name} is a range from {rule.low:g} to {rule.high:g}, "
                    f"low first; got {', '.join(map(str, value))}."
                )
        space[name] = value
    if narrowed:
        raise ConfigError(
            f"The search has no setting {', '.join(narrowed)}; it searches "
            f"{', '.join(SEARCH_SPACE)}."
        )
    return space


def check_budget(trials: int | None, minutes: float | None) -> None:
    """Refuse (ConfigError) a budget that is missing or past the rules' bounds."""
    if trials is None and minutes is None:
        raise ConfigError("Give the search a budget: a number of trials, minutes, or both.")
    if trials is not None and not 1 <= trials <= SEARCH_MAX_TRIALS:
        raise ConfigError(f"A search takes 1 to {SEARCH_MAX_TRIALS} trials, got {trials}.")
    if minutes is not None and not 0 < minutes <= SEARCH_MAX_MINUTES:
        raise ConfigError(
            f"A search may take more than 0 and at most {SEARCH_MAX_MINUTES} minutes, "
            f"got {minutes:g}."
        )


def design(base: Experiment, params: Mapping) -> Experiment:
    """`base` with a trial's parameters: its layers, dropout, L2, optimizer, learning rate and
    batch size."""
    value = params.__getitem__
    layer = LayerSpec(
        activation=value("activation"), dropout=float(value("dropout")), l2=float(value("l2"))
    )
    layers = tuple(
        dataclasses.replace(layer, units=int(value(f"units_{i + 1}")))
        for i in range(int(value("hidden_layers")))
    )
    optimizer = value("optimizer")
    compile_ = dataclasses.replace(
        base.compile,
        optimizer=optimizer,
        learning_rate=float(value("learning_rate")),
        nesterov=base.compile.nesterov and rules.OPTIMIZERS[optimizer].nesterov,
    )
    training = dataclasses.replace(base.training, batch_size=int(value("batch_size")))
    return base.replace(layers=layers, compile=compile_, training=training)


def _suggest(trial: optuna.Trial, space: Space) -> None:
    """Draw every parameter of `space` for `trial` (their values land in `trial.params`)."""
    low, high = space["hidden_layers"]
    for i in range(trial.suggest_int("hidden_layers", int(low), int(high))):
        low, high = space["units"]
        trial.suggest_int(f"units_{i + 1}", int(low), int(high), log=SEARCH_SPACE["units"].log)
    for name in ("activation", "optimizer", "batch_size"):
        trial.suggest_categorical(name, space[name])
    for name in ("dropout", "l2", "learning_rate"):
        low, high = space[name]
        trial.suggest_float(name, low, high, log=SEARCH_SPACE[name].log)


class NetworkSearch:
    """An Optuna study of network designs for `base` in the journal file `path`.

    Make one with `start` (a new study; the file is replaced) or `open` (the study in the file,
    to go on with). The budget: `trials` completed or pruned trials and/or
    `minutes` of trials' wall time, whichever comes first. Not thread-safe: one thread drives
    it, others may read `trials()` and `best()`.
    """

    def __init__(self, path: Path, study: optuna.Study, settings: dict) -> None:
        self.path = path
        self.study = study
        self.base = Experiment.from_dict(settings["base"])
        self.space: Space = {k: tuple(v) for k, v in settings["space"].items()}
        self.trials_budget: int | None = settings["trials"]
        self.minutes: float | None = settings["minutes"]
        self.seed: int = settings["seed"]
        # The experiment whose training settings the best design is trained with once the budget
        # is spent (None: the search only searches).
        self.finish: dict | None = settings.get("finish")
        self._asked: dict[int, optuna.Trial] = {}

    @classmethod
    def start(
        cls,
        path: Path,
        base: Experiment,
        *,
        space: Space | None = None,
        trials: int | None = None,
        minutes: float | None = None,
        seed: int | None = None,
        prune: bool = True,
        finish: Experiment | None = None,
    ) -> NetworkSearch:
        """A new search (see the class); `finish`: train the best design with its training
        settings (but the batch size found) once the budget is spent."""
        check_budget(trials, minutes)
        base = base.replace(
            training=dataclasses.replace(
                base.training, epochs=min(base.training.epochs, SEARCH_EPOCHS)
            )
        )
        settings = {
            "base": base.to_dict(),
            "space": {k: list(v) for k, v in (space or search_space()).items()},
            "trials": trials,
            "minutes": minutes,
            "seed": base.seed if seed is None else seed,
            "prune": prune,  # off only to measure what pruning gains (bench/search.py)
            "finish": None if finish is None else finish.to_dict(),
        }
        path.unlink(missing_ok=True)
        study = cls._study(path, settings)
        study.set_user_attr("settings", settings)
        return cls(path, study, settings)

    @classmethod
    def open(cls, path: Path) -> NetworkSearch | None:
        """The search in `path`; None if there is none (or it holds no settings)."""
        if not path.is_file():
            return None
        try:
            storage = cls._storage(path)
            settings = optuna.load_study(study_name=STUDY, storage=storage).user_attrs["settings"]
        except (KeyError, ValueError) as exc:
            raise NNCoreError(
                f"The search saved in {path.name} cannot be read ({exc}); start a new search."
            ) from None
        return cls(path, cls._study(path, settings), settings)

    @staticmethod
    def _storage(path: Path) -> JournalStorage:
        return JournalStorage(JournalFileBackend(str(path)))

    @classmethod
    def _study(cls, path: Path, settings: dict) -> optuna.Study:
        monitor = Experiment.from_dict(settings["base"]).training.monitor
        return optuna.create_study(
            study_name=STUDY,
            storage=cls._storage(path),
            sampler=TPESampler(seed=settings["seed"]),
            pruner=MedianPruner(n_startup_trials=SEARCH_STARTUP, n_warmup_steps=SEARCH_WARMUP)
            if settings.get("prune", True)
            else NopPruner(),
            direction="maximize" if monitor_mode(monitor) == "max" else "minimize",
            load_if_exists=True,
        )

    @property
    def monitor(self) -> str:
        return self.base.training.monitor

    @property
    def ended(self) -> bool:
        """Stopped by the user or its budget spent: it is not to be resumed."""
        return bool(self.study.user_attrs.get("ended"))

    def end(self, why: str) -> None:
        self.study.set_user_attr("ended", why)

    @property
    def why_ended(self) -> str:
        return self.study.user_attrs.get("ended", "")

    def ended_trials(self) -> list[optuna.trial.FrozenTrial]:
        return self.study.get_trials(deepcopy=False, states=ENDED)

    def seconds_spent(self) -> float:
        return sum(
            (t.datetime_complete - t.datetime_start).total_seconds()
            for t in self.ended_trials()
            if t.datetime_start and t.datetime_complete
        )

    def deadline(self) -> float | None:
        """When (time.monotonic) the minutes left run out, counted from now; None: no limit."""
        if self.minutes is None:
            return None
        return time.monotonic() + max(0.0, self.minutes * 60 - self.seconds_spent())

    def budget_left(self) -> bool:
        """Trials left to run: a failed trial (a training error, a server stopping) is not
        counted, as it judged no design."""
        judged = self.study.get_trials(deepcopy=False, states=JUDGED)
        if self.trials_budget is not None and len(judged) >= self.trials_budget:
            return False
        return self.minutes is None or self.minutes * 60 > self.seconds_spent()

    def abandon_running(self) -> None:
        """Trials a killed server left running end failed: their runs were interrupted."""
        for trial in self.study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
            self.study.tell(trial.number, state=TrialState.FAIL)

    def ask(self) -> tuple[int, Experiment]:
        trial = self.study.ask()
        _suggest(trial, self.space)
        experiment = design(self.base, trial.params)
        self._asked[trial.number] = trial
        return trial.number, experiment

    def set_run(self, number: int, run_id: str) -> None:
        self._asked[number].set_user_attr("run", run_id)

    def report(self, number: int, epoch: int, value: float) -> bool:
        """Epoch `epoch`'s (0-based) validation score; True if the pruner stops the trial."""
        trial = self._asked[number]
        if not math.isfinite(value):
            return False
        trial.report(value, epoch)
        return trial.should_prune()

    def tell(self, number: int, score: float | None, state: TrialState) -> None:
        """The trial's end: its best score for a completed one; a pruned one keeps its last
        report. A completed trial without a score failed."""
        trial = self._asked.pop(number)
        if state == TrialState.COMPLETE and (score is None or not math.isfinite(score)):
            state = TrialState.FAIL
        if score is not None and math.isfinite(score):
            trial.set_user_attr("best", score)
        self.study.tell(trial, score if state == TrialState.COMPLETE else None, state=state)

    def best(self) -> optuna.trial.FrozenTrial | None:
        """The completed trial with the best score; None before one."""
        done = self.study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
        if not done:
            return None
        return self.study.best_trial

    def best_design(self) -> Experiment | None:
        best = self.best()
        return None if best is None else design(self.base, best.params)

    def final_design(self, training) -> Experiment | None:
        """The best design, to train to completion with `training` (a TrainSpec) but the batch
        size the search found, recording where it came from; None before a completed trial."""
        best, chosen = self.best(), self.best_design()
        if best is None:
            return None
        trials = len(self.study.get_trials(deepcopy=False))
        return chosen.replace(
            training=dataclasses.replace(training, batch_size=chosen.training.batch_size),
            origin=f"search: trial {best.number} of {trials}, {self.monitor} {best.value:.4g}",
        )

    @property
    def final_run(self) -> str:
        """The id of the run that trained the best design to completion; "" before it."""
        return self.study.user_attrs.get("final run", "")

    def describe(self, trial: optuna.trial.FrozenTrial) -> str:
        """A trial's design in a few words: `64 relu → 32 relu, adam 0.003, batch 64`."""
        d = design(self.base, trial.params)
        return (
            f"{describe_layers(d.layers)}, {d.compile.optimizer} "
            f"{d.compile.learning_rate:.2g}, batch {d.training.batch_size}"
        )

    def table(self) -> list[dict]:
        """The trials, one row each: number, state, score, best score so far, seconds, epochs
        reported, run and parameters."""
        rows, best = [], None
        sign = 1 if self.study.direction == optuna.study.StudyDirection.MINIMIZE else -1
        for t in self.study.get_trials(deepcopy=False):
            score = t.value if t.state == TrialState.COMPLETE else t.user_attrs.get("best")
            if t.state == TrialState.COMPLETE and (best is None or sign * score < sign * best):
                best = score
            seconds = (
                (t.datetime_complete - t.datetime_start).total_seconds()
                if t.datetime_start and t.datetime_complete
                else None
            )
            rows.append(
                {
                    "trial": t.number,
                    "state": t.state.name.lower(),
                    self.monitor: score,
                    "best so far": best,
                    "seconds": seconds,
                    "epochs": len(t.intermediate_values),
                    "run": t.user_attrs.get("run", ""),
                    **t.params,
                }
            )
        return rows

    def curves(self) -> dict[int, dict[int, float]]:
        """Each trial's reported score per epoch."""
        return {t.number: dict(t.intermediate_values) for t in self.study.get_trials()}
