"""Decisions kept with a finished classifier's run: its probabilities temperature-scaled inside
its model files, and a decision threshold picked by costs. Both read the validation rows' truths
and outputs the run saved, so neither needs the table.

Temperature scaling rewrites the run in place: model.keras and model.h5 (the temperature folded
into the output layer), the validation outputs and their scores, and a kept threshold moved to
the probability that decides every row as before, since scaling must not change a decision
already made. The test rows' scores stay those measured at training: their labels at 0.5 are
the same after scaling (it keeps the order of the classes' probabilities), their log loss and
Brier score are not, and metrics.json's "calibration" says so.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from nncore.artifacts.predict import load_schema, set_threshold
from nncore.artifacts.runfiles import RunFiles
from nncore.errors import DataError
from nncore.learn import calibrate, evaluate


def _finished(folder: str | Path):
    from nncore.run.pipeline import load_result

    result = load_result(folder)
    if result is None:
        raise DataError(
            f"{Path(folder).name} has no finished run to decide with. Let its training finish."
        )
    return result


def temperature_scale(folder: str | Path) -> dict:
    """Fit one temperature on the run's validation rows and fold it into its model files.

    Returns the run's metrics.json "calibration" section: the temperature applied now, the
    temperature of the files (their product over every scaling), and the validation rows' log
    loss and Brier score before and after.
    """
    import keras

    from nncore.artifacts.export import compile_portable, fold_temperature, save_h5, save_keras
    from nncore.artifacts.predict import load_model
    from nncore.config import Experiment
    from nncore.run.pipeline import _save_result, _write_atomic

    result = _finished(folder)
    files = RunFiles(Path(folder))
    task = result.metrics["task"]
    if task == "regression":
        raise DataError("Temperature scaling is for classifiers; this model is a regression.")
    temperature = calibrate.fit_temperature(task, result.y_val, result.output_val)
    output = calibrate.scaled(task, result.output_val, temperature).astype(result.output_val.dtype)
    before = result.metrics["validation"]["network"]
    n_classes = len(result.plan.classes)
    after = evaluate.scores(task, result.y_val, output, n_classes)
    previous = result.metrics.get("calibration", {}).get("temperature", 1.0)
    section = {
        "temperature": previous * temperature,
        "applied": temperature,
        "validation": {
            "log_loss_before": before["log_loss"],
            "log_loss_after": after["log_loss"],
            "brier_before": evaluate.brier(task, result.y_val, result.output_val),
            "brier_after": after["brier"],
        },
        "test": "scored before scaling: the same labels at 0.5, another log loss and Brier",
    }
    if temperature == 1.0:
        return section  # nothing would improve: the files stay as they are
    model = load_model(files.keras)
    fold_temperature(model, temperature)
    experiment = Experiment.from_json(files.experiment.read_bytes())
    compile_portable(model, experiment.compile, result.metrics["loss"])
    for path, save in ((files.keras, save_keras), (files.h5, save_h5)):
        temporary = path.with_name(f".{os.getpid()}.{path.name}")  # keeps the suffix Keras needs
        save(model, temporary)
        os.replace(temporary, path)
    keras.backend.clear_session(free_memory=True)
    schema = load_schema(files.schema)
    if task == "binary" and schema.threshold != 0.5:
        moved = float(calibrate.scaled(task, np.array([schema.threshold]), temperature)[0])
        set_threshold(files.folder, moved)
    result.output_val = output
    result.metrics["validation"]["network"] = after
    result.metrics["calibration"] = section
    _save_result(result)
    _write_atomic(files.metrics, json.dumps(result.metrics, indent=2, allow_nan=False).encode())
    return section


def keep_cheapest_threshold(folder: str | Path, cost_fp: float, cost_fn: float) -> dict:
    """Keep, as the binary run's decision threshold, the one with the lowest expected cost on its
    validation rows; returns that row of `calibrate.expected_costs`."""
    result = _finished(folder)
    if result.metrics["task"] != "binary":
        raise DataError(
            f"Costs pick a binary model's threshold; this one is {result.metrics['task']}."
        )
    try:
        costs = calibrate.expected_costs(result.y_val, result.output_val, cost_fp, cost_fn)
    except ValueError as exc:
        raise DataError(
            f"{exc} Give the cost of a false positive, then of a false negative."
        ) from None
    best = calibrate.cheapest(costs)
    set_threshold(folder, best["threshold"])
    return best
