"""Experiment -> Keras model: hidden Dense layers as specified, the output head from the task.

Two models share the same layers. The training model takes the preprocessed matrix, which keeps
the hot loop lean. The portable model (`nncore.artifacts.export`) wraps those layers with Keras'
own preprocessing layers so that a saved file takes raw rows.
"""

from __future__ import annotations

from collections.abc import Sequence

import keras

from nncore.config import CompileSpec, LayerSpec, output_units
from nncore.errors import DataError

OUTPUT_ACTIVATION = {"regression": "linear", "binary": "sigmoid", "multiclass": "softmax"}


def build_model(
    n_inputs: int, layers: Sequence[LayerSpec], task: str, n_classes: int = 0
) -> keras.Model:
    """The training model: `n_inputs` numbers in, the task's output head out.

    Call `keras.utils.set_random_seed` first for reproducible initial weights.
    """
    if n_inputs < 1:
        # TensorFlow's oneDNN kernels abort the whole process on a Dense layer with zero inputs.
        raise DataError(
            "The model would have no inputs: no feature column is left. Choose at least one "
            "feature column on the data step."
        )
    inputs = keras.Input(shape=(n_inputs,), name="features")
    x = inputs
    for i, spec in enumerate(layers, start=1):
        x = hidden_block(x, spec, i)
    outputs = keras.layers.Dense(
        output_units(task, n_classes), activation=OUTPUT_ACTIVATION[task], name="output"
    )(x)
    return keras.Model(inputs, outputs, name="network")


def hidden_block(x, spec: LayerSpec, index: int):
    regularizer = keras.regularizers.L1L2(l1=spec.l1, l2=spec.l2) if spec.l1 or spec.l2 else None
    initializer = "lecun_normal" if spec.activation == "selu" else "glorot_uniform"
    if spec.batch_norm:
        # Normalize the pre-activations, the arrangement the batch-norm paper recommends.
        x = keras.layers.Dense(
            spec.units,
            use_bias=False,
            kernel_initializer=initializer,
            kernel_regularizer=regularizer,
            name=f"dense_{index}",
        )(x)
        x = keras.layers.BatchNormalization(name=f"batch_norm_{index}")(x)
        x = keras.layers.Activation(spec.activation, name=f"activation_{index}")(x)
    else:
        x = keras.layers.Dense(
            spec.units,
            activation=spec.activation,
            kernel_initializer=initializer,
            kernel_regularizer=regularizer,
            name=f"dense_{index}",
        )(x)
    if spec.dropout:
        x = keras.layers.Dropout(spec.dropout, name=f"dropout_{index}")(x)
    return x


def make_optimizer(spec: CompileSpec) -> keras.optimizers.Optimizer:
    lr = spec.learning_rate
    match spec.optimizer:
        case "sgd":
            return keras.optimizers.SGD(lr, momentum=spec.momentum, nesterov=spec.nesterov)
        case "adam":
            return keras.optimizers.Adam(lr)
        case "adamw":
            return keras.optimizers.AdamW(lr)
        case "rmsprop":
            return keras.optimizers.RMSprop(lr, momentum=spec.momentum)
        case "adagrad":
            return keras.optimizers.Adagrad(lr)
        case "nadam":
            return keras.optimizers.Nadam(lr)
    raise ValueError(f"unknown optimizer {spec.optimizer!r}")  # pragma: no cover


def make_loss(name: str) -> keras.losses.Loss:
    # Loss objects rather than strings: a model saved as .h5 with a string loss fails to load
    # compiled ("Could not deserialize 'keras.metrics.mse'").
    return {
        "mse": keras.losses.MeanSquaredError,
        "mae": keras.losses.MeanAbsoluteError,
        "huber": keras.losses.Huber,
        "binary_crossentropy": keras.losses.BinaryCrossentropy,
        "categorical_crossentropy": keras.losses.CategoricalCrossentropy,
        "sparse_categorical_crossentropy": keras.losses.SparseCategoricalCrossentropy,
    }[name]()


def make_metrics(task: str, loss: str) -> list[keras.metrics.Metric]:
    if task == "regression":
        return [
            keras.metrics.MeanAbsoluteError(name="mae"),
            keras.metrics.RootMeanSquaredError(name="rmse"),
        ]
    if task == "binary":
        return [keras.metrics.BinaryAccuracy(name="accuracy"), keras.metrics.AUC(name="auc")]
    if loss == "categorical_crossentropy":
        return [keras.metrics.CategoricalAccuracy(name="accuracy")]
    return [keras.metrics.SparseCategoricalAccuracy(name="accuracy")]


def compile_model(model: keras.Model, spec: CompileSpec, task: str) -> str:
    """Compile `model` for `task`; returns the loss used. A loss that does not fit is refused."""
    loss = spec.resolved_loss(task)
    model.compile(
        optimizer=make_optimizer(spec), loss=make_loss(loss), metrics=make_metrics(task, loss)
    )
    return loss
