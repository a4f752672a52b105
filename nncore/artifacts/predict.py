"""Raw rows in, predictions out: a class with its probabilities, or a number.

A binary model labels a row positive from the schema's decision threshold on (`set_threshold`
keeps a chosen one with the run), so every place that predicts with it decides the same way;
a regression model's predictions take an interval of a stated coverage (`with_interval`).
`model_inputs` (no TensorFlow) checks and converts the rows as `schema.json` describes: missing
columns are named, extra columns ignored, missing numbers filled with the training median, dates
split into parts; unseen categories are left to the model, which ignores them. `predict` (in a
worker process) runs the portable model on them.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from nncore.artifacts.runfiles import SCHEMA
from nncore.config import output_units
from nncore.data.schema import MISSING_CATEGORY, Schema, feature_frame
from nncore.errors import DataError, ModelFileError

if TYPE_CHECKING:
    import keras

PREDICT_BATCH = 8192
REUSED_MODELS = 2  # models a process keeps for `load_model(..., reuse=True)`, by file content
_REUSABLE: dict[bytes, keras.Model] = {}  # sha256 of the file -> its model, oldest first


def load_schema(path: str | Path) -> Schema:
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise DataError(
            f"Cannot read the schema file {Path(path).name} ({exc}). Use the schema.json saved "
            "with the model."
        ) from None
    return Schema.from_json(data, Path(path).name)


def set_threshold(folder: str | Path, threshold: float) -> Schema:
    """Keep `threshold` as the decision threshold of the binary model in the run `folder`.

    Rewrites its schema.json atomically (a reader sees the old file or the new one); the model
    files carry no schema, and a bundle of the run reads schema.json when it is made, so both
    travel with the threshold from now on. Returns the new schema.
    """
    path = Path(folder) / SCHEMA
    schema = load_schema(path)
    if schema.target.task != "binary":
        raise DataError(
            f"Only a binary model has a decision threshold; this one is {schema.target.task}."
        )
    schema = dataclasses.replace(schema, threshold=threshold)  # checks it
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temporary.write_text(json.dumps(schema.to_dict(), indent=2))
    os.replace(temporary, path)
    return schema


def model_inputs(frame: pd.DataFrame, schema: Schema) -> dict[str, np.ndarray]:
    """The portable model's inputs for `frame`: one (rows, 1) array per input name."""
    if len(frame) == 0:
        raise DataError("The data has no rows to predict. Upload a file with at least one row.")
    features = feature_frame(frame, schema)
    inputs = {}
    for item in schema.numeric:
        with np.errstate(over="ignore"):
            values = features[item.column].fillna(item.fill).to_numpy(np.float32)
        if not np.isfinite(values).all():
            row = int(np.flatnonzero(~np.isfinite(values))[0])
            raise DataError(
                f"Column {item.column!r} holds a value too large to compute with (row "
                f"{row + 1}). Rescale or remove it; the model was trained on values from "
                f"{item.minimum:g} to {item.maximum:g}."
            )
        inputs[item.name] = values.reshape(-1, 1)
    for item in schema.categorical:
        values = features[item.column].fillna(MISSING_CATEGORY).to_numpy(dtype=str)
        inputs[item.name] = values.reshape(-1, 1)
    return inputs


def outside_training(frame: pd.DataFrame, schema: Schema) -> list[str]:
    """One line per number the model reads that `frame` (raw rows it accepts) holds outside the
    training range: the model still predicts those rows, by extrapolating."""
    features = feature_frame(frame, schema)
    lines = []
    for item in schema.numeric:
        values = features[item.column]
        outside = values[(values < item.minimum) | (values > item.maximum)]
        if outside.empty:
            continue
        where = f"outside the training range {item.minimum:g} to {item.maximum:g}"
        lines.append(
            f"{item.column} is {outside.iloc[0]:g}, {where}"
            if len(frame) == 1
            else f"{len(outside):,} rows have {item.column} {where}"
        )
    return lines


def raw_outputs(model: keras.Model, inputs: dict[str, np.ndarray]) -> np.ndarray:
    """The model's outputs for `inputs`, in large batches (strings need TensorFlow tensors)."""
    import tensorflow as tf

    n = len(next(iter(inputs.values())))
    call = _compiled_call(model)
    outputs = []
    for start in range(0, n, PREDICT_BATCH):
        batch = {k: tf.constant(v[start : start + PREDICT_BATCH]) for k, v in inputs.items()}
        outputs.append(call(batch).numpy())
    return np.concatenate(outputs, axis=0)


def _compiled_call(model: keras.Model):
    import tensorflow as tf

    call = getattr(model, "_nncore_predict", None)
    if call is None:
        call = tf.function(lambda batch: model(batch, training=False), reduce_retracing=True)
        model._nncore_predict = call
    return call


def predictions_frame(outputs: np.ndarray, schema: Schema) -> pd.DataFrame:
    """Outputs as a table: `prediction`, and for classification one probability per class.

    A binary model's rows are labelled positive at `schema.threshold` and above; the table's
    `attrs["threshold"]` says which threshold that was.
    """
    target = schema.target
    if target.task == "regression":
        return pd.DataFrame({f"predicted {target.name}": outputs.reshape(-1).astype(float)})
    if target.task == "binary":
        positive = outputs.reshape(-1).astype(float)
        probabilities = np.column_stack([1 - positive, positive])
        chosen = (positive >= schema.threshold).astype(int)
    else:
        probabilities = outputs.astype(float)
        chosen = probabilities.argmax(axis=1)
    table = {f"predicted {target.name}": np.asarray(target.classes, dtype=object)[chosen]}
    for i, label in enumerate(target.classes):
        table[f"probability {label}"] = probabilities[:, i]
    frame = pd.DataFrame(table)
    if target.task == "binary":
        frame.attrs["threshold"] = schema.threshold
    return frame


def interval_half_width(schema: Schema, coverage: float) -> float:
    """How far either side of a regression model's prediction its interval of `coverage` reaches
    (split conformal, from the validation errors kept in the schema); refused in one line for a
    model without them."""
    if schema.target.task != "regression":
        raise DataError(
            f"Prediction intervals are for regression models; this one is {schema.target.task}. "
            "Its class probabilities say how sure it is."
        )
    if schema.residuals is None:
        raise DataError(
            "This model's schema.json keeps no validation errors (it was saved before prediction "
            "intervals existed). Train it again to get intervals."
        )
    return schema.residuals.half_width(coverage)


def with_interval(table: pd.DataFrame, schema: Schema, coverage: float) -> pd.DataFrame:
    """`table` (a regression model's predictions) with columns `lower` and `upper` after the
    prediction: an interval that holds the true value of a new row with probability `coverage`."""
    half = interval_half_width(schema, coverage)
    predicted = table[f"predicted {schema.target.name}"]
    at = table.columns.get_loc(predicted.name) + 1
    table = table.copy()
    table.insert(at, "lower", predicted - half)
    table.insert(at + 1, "upper", predicted + half)
    return table


def predict(model: keras.Model, frame: pd.DataFrame, schema: Schema) -> pd.DataFrame:
    """Predictions for each row of `frame`, index kept, one output row per input row."""
    outputs = raw_outputs(model, model_inputs(frame, schema))
    table = predictions_frame(outputs, schema)
    table.index = frame.index
    return table


def load_model(
    path: str | Path, schema: Schema | None = None, *, reuse: bool = False
) -> keras.Model:
    """Load a model file once `nncore.artifacts.modelfile` has found it safe; with `schema`,
    check it fits.

    Keras picks its loader by the file name, so a file whose name does not match what its bytes
    are is loaded from a copy with the right name. With `reuse`, a file whose bytes this process
    loaded recently gives back that same model, already checked and traced: loading and tracing
    take most of a one-row prediction's time in a worker.
    """
    path = Path(path)
    if not reuse:
        model = _load(path)
    else:
        digest = hashlib.sha256(path.read_bytes()).digest()
        model = _REUSABLE.pop(digest, None) or _load(path)
        _REUSABLE[digest] = model  # the most recent last
        while len(_REUSABLE) > REUSED_MODELS:
            del _REUSABLE[next(iter(_REUSABLE))]
    if schema is not None:
        check_fits(model, schema)
    return model


def _load(path: Path) -> keras.Model:
    from nncore.artifacts.modelfile import validate_model_file

    info = validate_model_file(path)  # before Keras is even imported
    import keras

    names = (".keras",) if info.format == "keras" else (".h5", ".hdf5")
    try:
        if path.suffix in names:
            model = keras.saving.load_model(path, compile=False, safe_mode=True)
        else:
            with tempfile.TemporaryDirectory() as tmp:
                copy = Path(tmp) / f"model{names[0]}"
                shutil.copyfile(path, copy)
                model = keras.saving.load_model(copy, compile=False, safe_mode=True)
    except Exception as exc:  # Keras raises many types for a bad file; all mean "unusable".
        raise ModelFileError(
            f"Cannot load the model file {path.name}: {str(exc).splitlines()[0][:200]}. Use a "
            ".keras or .h5 file saved by this studio."
        ) from None
    return model


def check_fits(model: keras.Model, schema: Schema) -> None:
    """Refuse a model whose inputs or outputs do not match the schema."""
    names = set(getattr(model, "input_names", None) or [t.name for t in model.inputs])
    expected = set(schema.input_names)
    if names != expected:
        missing = sorted(expected - names)
        extra = sorted(names - expected)
        raise ModelFileError(
            "The model does not fit this schema: "
            + "; ".join(
                part
                for part in (
                    f"it lacks inputs {missing}" if missing else "",
                    f"it has inputs the schema does not know {extra}" if extra else "",
                )
                if part
            )
            + ". Use the schema.json saved with this model."
        )
    width = model.outputs[0].shape[-1]
    task = schema.target.task
    expected_width = output_units(task, len(schema.target.classes))
    if width != expected_width:
        raise ModelFileError(
            f"The model gives {width} output(s) but a {task} task with this schema needs "
            f"{expected_width}. Use the schema.json saved with this model."
        )
