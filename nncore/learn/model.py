"""Experiment -> Keras model: hidden Dense layers as specified, the output head from the task.

Two models share the same layers. The training model takes the preprocessed matrix, which keeps
the hot loop lean. The portable model (`nncore.artifacts.export`) wraps those layers with Keras'
own preprocessing layers so that a saved file takes raw rows.
"""

from __future__ import annotations

from collections.abc import Sequence

import keras

from nncore import rules
from nncore.config import CompileSpec, LayerSpec, output_units
from nncore.errors import DataError


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
        output_units(task, n_classes), activation=rules.TASKS[task].output_activation, name="output"
    )(x)
    return keras.Model(inputs, outputs, name="network")


def hidden_block(x, spec: LayerSpec, index: int):
    regularizer = keras.regularizers.L1L2(l1=spec.l1, l2=spec.l2) if spec.l1 or spec.l2 else None
    initializer = rules.ACTIVATIONS[spec.activation].initializer or "glorot_uniform"
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
    row = rules.OPTIMIZERS[spec.optimizer]
    options = {"momentum": spec.momentum} if row.momentum else {}
    if row.nesterov:
        options["nesterov"] = spec.nesterov
    return getattr(keras.optimizers, row.keras)(spec.learning_rate, **options)


def make_loss(name: str) -> keras.losses.Loss:
    # Loss objects rather than strings: a model saved as .h5 with a string loss fails to load
    # compiled ("Could not deserialize 'keras.metrics.mse'").
    return getattr(keras.losses, rules.LOSSES[name].keras)()


def make_metrics(task: str, loss: str) -> list[keras.metrics.Metric]:
    return [
        getattr(keras.metrics, keras_class)(name=name, **dict(rules.METRICS[name].keras_options))
        for name, keras_class in rules.trained_metrics(task, loss)
    ]


def compile_model(model: keras.Model, spec: CompileSpec, task: str) -> str:
    """Compile `model` for `task`; returns the loss used. A loss that does not fit is refused."""
    loss = spec.resolved_loss(task)
    model.compile(
        optimizer=make_optimizer(spec), loss=make_loss(loss), metrics=make_metrics(task, loss)
    )
    return loss
