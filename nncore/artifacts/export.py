"""A trained network as a portable Keras model that takes raw rows, saved as .keras and .h5.

The portable model puts the fitted preprocessing in front of the trained layers using standard
Keras layers only (Normalization, StringLookup with one-hot output, Concatenate, Rescaling),
so either file loads with plain `keras.saving.load_model(path, compile=False, safe_mode=True)`,
no custom objects and no pickle. It takes one input per feature column (see schema.json): numbers
as float32, categories as strings. Missing numbers and dates are the one thing it cannot take
raw: `nncore.artifacts.predict` fills numbers with the training median and splits dates into parts.
"""

from __future__ import annotations

import copy
import json
import logging
from pathlib import Path

import keras
import numpy as np

from nncore.artifacts.runfiles import RunFiles
from nncore.config import CompileSpec, Experiment
from nncore.data.schema import Schema
from nncore.learn.model import make_loss, make_optimizer

OOV_TOKEN = "[UNK]"


def portable_model(network: keras.Model, schema: Schema) -> keras.Model:
    """Raw feature inputs -> preprocessing layers -> the trained `network`'s layers.

    The trained layers are reused, not copied, except the first Dense layer: the one-hot blocks
    gain a column for unknown categories, whose weights are zero, so an unknown category adds
    nothing -- exactly what scikit-learn's `handle_unknown="ignore"` gives during training.
    """
    inputs, parts = {}, []
    if schema.numeric:
        numeric = []
        for item in schema.numeric:
            inputs[item.name] = keras.Input(shape=(1,), name=item.name, dtype="float32")
            numeric.append(inputs[item.name])
        x = numeric[0] if len(numeric) == 1 else keras.layers.Concatenate(name="numbers")(numeric)
        if schema.scaling != "none":
            x = keras.layers.Normalization(
                mean=[i.center for i in schema.numeric],
                variance=[i.scale**2 for i in schema.numeric],
                name="scaling",
            )(x)
        parts.append(x)
    for item in schema.categorical:
        inputs[item.name] = keras.Input(shape=(1,), name=item.name, dtype="string")
        parts.append(
            keras.layers.StringLookup(
                vocabulary=list(item.categories),
                num_oov_indices=1,
                oov_token=OOV_TOKEN,
                output_mode="one_hot",
                name=f"onehot_{item.name}",
            )(inputs[item.name])
        )
    x = parts[0] if len(parts) == 1 else keras.layers.Concatenate(name="features")(parts)

    layers = [layer for layer in network.layers if not isinstance(layer, keras.layers.InputLayer)]
    first, rest = layers[0], layers[1:]
    widened = keras.layers.Dense.from_config(first.get_config())
    x = widened(x)
    kernel, *others = first.get_weights()
    widened.set_weights([_insert_unknown_rows(kernel, schema), *others])
    # The network is a plain chain, so its remaining layers apply in order.
    for layer in rest:
        x = layer(x)
    if schema.target.task == "regression" and (schema.target.scale, schema.target.center) != (
        1.0,
        0.0,
    ):
        x = keras.layers.Rescaling(
            scale=schema.target.scale, offset=schema.target.center, name="target_units"
        )(x)
    return keras.Model(inputs, x, name="portable_network")


def portable_parts(model: keras.Model) -> tuple[keras.Model, keras.Model]:
    """The portable `model` cut where its preprocessing ends: (raw inputs -> the feature
    matrix, the feature matrix -> outputs). The two in a row compute what `model` computes.

    The matrix has one column per number and one per category plus one for unknown categories
    per categorical input (`feature_inputs` names the input of each); shuffling its rows column
    block by column block is cheap where calling `model` costs per input.
    """
    first = next(layer for layer in model.layers if isinstance(layer, keras.layers.Dense))
    return keras.Model(model.inputs, first.input), keras.Model(first.input, model.output)


def feature_inputs(schema: Schema) -> list[str]:
    """The input each column of `portable_parts`' feature matrix comes from, in order."""
    names = [item.name for item in schema.numeric]
    for item in schema.categorical:
        names += [item.name] * (len(item.categories) + 1)  # the unknown category first
    return names


def _insert_unknown_rows(kernel: np.ndarray, schema: Schema) -> np.ndarray:
    rows, position = [kernel[: len(schema.numeric)]], len(schema.numeric)
    zero = np.zeros((1, kernel.shape[1]), kernel.dtype)
    for item in schema.categorical:
        rows += [zero, kernel[position : position + len(item.categories)]]
        position += len(item.categories)
    return np.concatenate(rows, axis=0)


def compile_portable(model: keras.Model, spec: CompileSpec, loss: str) -> None:
    """Compile with a fresh optimizer of the experiment's kind, so the file can be trained on."""
    model.compile(optimizer=make_optimizer(spec), loss=make_loss(loss))


def save_keras(model: keras.Model, path: str | Path) -> Path:
    path = Path(path)
    model.save(path)
    return path


def save_h5(model: keras.Model, path: str | Path) -> Path:
    """Save as legacy HDF5 without harming the model.

    Keras 3.15.1 strips the optimizer from the model's compile config while writing .h5
    (keras-team/keras#23475), so a .keras saved afterwards would reload with the wrong
    optimizer. The compile config is restored here.
    """
    path = Path(path)
    saved = copy.deepcopy(getattr(model, "_compile_config", None))
    absl = logging.getLogger("absl")
    level = absl.level
    absl.setLevel(logging.ERROR)  # .h5 is asked for on purpose; Keras' "legacy" note is noise
    try:
        model.save(path)
    finally:
        absl.setLevel(level)
        if saved is not None:
            model._compile_config = saved
    return path


def write_artifacts(
    model: keras.Model, schema: Schema, experiment: Experiment, files: RunFiles
) -> None:
    """Write the model (.keras and .h5), schema.json and experiment.json into the run's folder."""
    files.folder.mkdir(parents=True, exist_ok=True)
    save_keras(model, files.keras)
    save_h5(model, files.h5)
    files.schema.write_text(json.dumps(schema.to_dict(), indent=2))
    files.experiment.write_text(experiment.to_json())


def fold_temperature(model: keras.Model, temperature: float) -> None:
    """Divide the output layer's logits by `temperature`, in its own weights: the model then
    gives the temperature-scaled probabilities with standard layers only, so its files load with
    `safe_mode=True` as before."""
    output = model.get_layer("output")
    kernel, bias = output.get_weights()
    output.set_weights([kernel / temperature, bias / temperature])
