"""Cross-validation: an experiment's network and the baselines scored on k folds of the rows.

The rows with a target are cut into k folds, shuffled and seeded by the experiment's seed
(stratified by class for a classification). Each fold is held out once. The rest is split as a
run splits its rows, by the experiment's validation fraction (stratified the same way): the
network learns from the training part and watches the other to stop early, as a run does; the
baselines learn from the same training part. Both are scored on the held-out fold. Each fold is
prepared by `nncore.data.prepare` from its own training part (its scaler sees no other row), and
its network is built, trained and scored as `nncore.run.pipeline` does a run's.

`cross_validation_job` runs it as one job: progress says which fold and which epoch within it,
each finished fold is reported as it ends, and a stop keeps the folds finished by then. The
summary (`summary`, `to_metrics`) is plain arithmetic the UI process can use; importing this
module loads no TensorFlow.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from nncore.config import Experiment
from nncore.errors import DataError
from nncore.rules import SETTINGS


@dataclass(frozen=True)
class Fold:
    """Row positions, among the rows with a target, of one fold's parts."""

    train: np.ndarray  # what the network and the baselines learn from
    early_stopping: np.ndarray  # what the network watches to stop early; never scored
    held_out: np.ndarray  # what every model is scored on


@dataclass
class CrossValidation:
    """The folds scored so far; `note` says why they are fewer than `k` ("" when all ran).

    Each fold is `{"fold": n (from 1), "rows": held-out rows, "epochs": epochs trained,
    "network": scores, "baselines": {name: scores}}`, scores as `nncore.learn.evaluate.scores`
    gives them without the confusion matrix.
    """

    task: str
    k: int
    seed: int
    folds: list[dict] = field(default_factory=list)
    note: str = ""

    def models(self) -> list[str]:
        """ "network", then each baseline, as the folds name them."""
        names = {"network": None}
        for fold in self.folds:
            names.update(dict.fromkeys(fold["baselines"]))
        return list(names)

    def fold_scores(self, model: str, measure: str) -> list[float | None]:
        """`model`'s `measure` on each finished fold (None where undefined)."""
        return [_scores_of(fold, model).get(measure) for fold in self.folds]

    def summary(self) -> dict[str, dict[str, dict[str, float | None]]]:
        """Per model and measure, the mean across folds and the spread (the standard deviation
        across folds), over the folds where the measure is defined."""
        out: dict[str, dict] = {}
        for model in self.models():
            measures = dict.fromkeys(m for f in self.folds for m in _scores_of(f, model))
            out[model] = {m: _mean_and_spread(self.fold_scores(model, m)) for m in measures}
        return out

    def to_metrics(self) -> dict:
        """The "cross_validation" section of metrics.json."""
        return {
            "k": self.k,
            "seed": self.seed,
            "stratified": self.task != "regression",
            "folds": self.folds,
            "summary": self.summary(),
            "note": self.note,
        }

    def in_words(self, measure: str) -> str:
        """The network's mean ± spread of `measure` beside the best baseline's, in a sentence."""
        from nncore.rules import METRICS, higher_is_better

        label = METRICS[measure].label if measure in METRICS else measure
        summary = self.summary()
        network = summary.get("network", {}).get(measure)
        if not self.folds or network is None or network["mean"] is None:
            return f"No {label} across folds yet."
        done = len(self.folds)
        text = (
            f"Across {done} fold{'s' if done != 1 else ''}, the network's {label} is {_pm(network)}"
        )
        others = {
            name: found[measure]
            for name, found in summary.items()
            if name != "network" and measure in found and found[measure]["mean"] is not None
        }
        if others:
            pick = max if higher_is_better(measure) else min
            best = pick(others, key=lambda name: others[name]["mean"])
            text += f"; the best baseline, {best}, scores {_pm(others[best])}"
        return text + f" ({'higher' if higher_is_better(measure) else 'lower'} is better)."


def _scores_of(fold: dict, model: str) -> dict:
    return fold["network"] if model == "network" else fold["baselines"].get(model, {})


def _mean_and_spread(values: list[float | None]) -> dict[str, float | None]:
    finite = [v for v in values if v is not None and np.isfinite(v)]
    if not finite:
        return {"mean": None, "std": None}
    return {"mean": float(np.mean(finite)), "std": float(np.std(finite))}


def _pm(found: dict) -> str:
    return f"{found['mean']:.4g} ± {found['std']:.2g}"


def make_folds(frame: pd.DataFrame, experiment: Experiment, k: int) -> tuple[str, list[Fold]]:
    """The task, and the k folds of `frame`'s rows with a target, as `cross_validate` uses
    them."""
    from sklearn.model_selection import KFold, StratifiedKFold

    from nncore.data.plan import plan_columns
    from nncore.data.split import split_rows

    setting = SETTINGS["folds"]
    setting.check(k, "cross_validation")
    plan = plan_columns(frame, experiment.data)
    y = frame.loc[frame[plan.target].notna(), plan.target].reset_index(drop=True)
    seed = experiment.seed
    if plan.task == "regression":
        if len(y) < 2 * k:
            raise DataError(
                f"{k}-fold cross-validation needs at least {2 * k} rows with a target; this "
                f"table has {len(y)}. Choose fewer folds or load more rows."
            )
        cuts = KFold(k, shuffle=True, random_state=seed).split(np.zeros(len(y)))
    else:
        labels = y.astype(str).to_numpy()
        counts = pd.Series(labels).value_counts()
        if counts.min() < k:
            raise DataError(
                f"{k}-fold cross-validation needs at least {k} rows of every class; class "
                f"{counts.idxmin()!r} has {counts.min()}. Choose fewer folds."
            )
        cuts = StratifiedKFold(k, shuffle=True, random_state=seed).split(labels, labels)
    folds = []
    for rest, held_out in cuts:
        part = split_rows(
            y.iloc[rest].reset_index(drop=True),
            plan.task,
            experiment.data.validation_fraction,
            0.0,
            seed=seed,
        )
        folds.append(Fold(rest[part.train], rest[part.validation], np.sort(held_out)))
    return plan.task, folds


def cross_validate(
    frame: pd.DataFrame,
    experiment: Experiment,
    k: int,
    *,
    on_fold: Callable[[dict], None] | None = None,
    on_progress: Callable[[int, dict], None] | None = None,
    should_stop: Callable[[], bool] = lambda: False,
    stop_reason: Callable[[], str] = lambda: "",
) -> CrossValidation:
    """Score `experiment`'s network and the baselines on each of `k` folds (see the module).

    `on_fold` hears each finished fold's record, `on_progress` the fold's index (from 0) with
    the training's progress fields (`nncore.run.records.Progress`); when `should_stop` turns
    true, the fold in training is dropped and the folds finished are returned.
    """
    import keras

    from nncore.data.split import Split
    from nncore.learn import evaluate
    from nncore.learn.train import Listener, train
    from nncore.run.pipeline import _class_weights, _in_target_units, _setup

    task, folds = make_folds(frame, experiment, k)
    result = CrossValidation(task, k, experiment.seed)
    balanced = experiment.training.class_weight == "balanced"
    for index, fold in enumerate(folds):
        if should_stop():
            break
        split = Split(fold.train, fold.early_stopping, fold.held_out, False, f"fold {index + 1}")
        setup = _setup(frame, experiment, split=split)
        prepared, n_classes = setup.prepared, setup.n_classes
        listener = Listener(
            on_progress=None if on_progress is None else lambda f, i=index: on_progress(i, f),
            should_stop=should_stop,
            stop_reason=stop_reason,
        )
        outcome = train(
            setup.network,
            prepared.x_train,
            setup.y_train,
            prepared.x_val,
            setup.y_val,
            experiment.training,
            seed=experiment.seed,
            sample_weight=_class_weights(prepared.y_train, task, n_classes, experiment),
            listener=listener,
            diagnose=False,
        )
        if outcome.stopped_by in ("user", "nan") or not outcome.history:
            keras.backend.clear_session(free_memory=True)
            if outcome.stopped_by == "nan":
                result.note = f"Fold {index + 1}: {outcome.message}"
            break
        in_units = _in_target_units(setup.schema.target)
        truth = in_units(prepared.y_test)
        output = in_units(setup.network.predict(prepared.x_test, batch_size=4096, verbose=0))
        baselines = evaluate.baselines(
            task,
            prepared.x_train,
            in_units(prepared.y_train),
            prepared.x_test,
            truth,
            n_classes,
            balanced=balanced,
            seed=experiment.seed,
        )
        keras.backend.clear_session(free_memory=True)
        record = {
            "fold": index + 1,
            "rows": int(len(fold.held_out)),
            "epochs": len(outcome.history),
            "network": _numbers(evaluate.scores(task, truth, output, n_classes)),
            "baselines": {name: _numbers(s) for name, s in baselines.scores.items()},
        }
        result.folds.append(record)
        if on_fold is not None:
            on_fold(record)
    if len(result.folds) < k and not result.note:
        reason = (stop_reason() or "Stopped").rstrip(".")
        result.note = f"{reason}: {len(result.folds)} of {k} folds finished."
    return result


def _numbers(scores: dict) -> dict[str, float | None]:
    """The scores that are numbers, NaN (undefined on these rows) as None, for JSON."""
    return {
        name: (float(value) if np.isfinite(value) else None)
        for name, value in scores.items()
        if isinstance(value, int | float)
    }


def cross_validation_job(channel, frame, experiment: Experiment, k: int) -> CrossValidation:
    """`cross_validate` as a job for `nncore.run.jobs`: a table or its file's path; each fold's
    record goes into the job's history as it ends, and the progress snapshot is the training's
    (`nncore.run.records.Progress`) with "fold" (from 0) and "folds"."""
    from nncore.run.pipeline import as_frame
    from nncore.run.records import Progress

    def progress(index: int, fields: dict) -> None:
        channel.report_progress(fold=index, folds=k, **Progress(**fields).to_dict())

    return cross_validate(
        as_frame(frame),
        experiment,
        k,
        on_fold=channel.report_epoch,
        on_progress=progress,
        should_stop=channel.stop_requested,
        stop_reason=channel.stop_reason,
    )
