"""Seeing inside training: dead and saturated units, gradient norms per layer, and alerts.

Measured after validation at the end of each epoch by `Probe` (in the training worker), and
read by `alerts` (anywhere: this module imports TensorFlow only inside `Probe`, so the Streamlit
server can import it). Measuring takes at most 5% of the training's time (`TIME_SHARE`):
where an epoch lasts only milliseconds, some epochs go unmeasured and their record is None.

Definitions, per hidden layer:

- A unit is **dead** when it outputs exactly zero for every validation row. Only relu units can
  (its output is zero for every negative input, and so is its gradient, so a dead unit never
  learns again); leaky_relu, elu, selu, gelu and swish keep a gradient for negative inputs.
- A sigmoid or tanh unit is **saturated** when its derivative is below 1% of its maximum for at
  least 99% of the validation rows: |pre-activation| above about 6.0 for sigmoid (output below
  0.0025 or above 0.9975) and above about 3.0 for tanh (|output| above 0.995). It is computed
  from the unit's output, which fixes its derivative: s(1 - s) for sigmoid, 1 - t² for tanh.
- The **gradient norm** of a layer is the L2 norm of the loss's gradient with respect to its
  kernel, measured at the end of the epoch on a fixed set of up to 512 training rows spread
  evenly through the training data, in inference mode (no dropout; batch normalization uses its
  moving averages), regularization included. One fixed batch costs one extra step per epoch,
  where a mean over the epoch's batches would cost work in every step; and with the same rows
  every epoch a change in the norm comes from the weights, not from which rows were drawn.

The record of one epoch is plain data (it travels as JSON through the job channel):

    {"rows": 91, "gradient_rows": 364, "layers": [
        {"name": "layer 1", "activation": "relu", "units": 50,
         "dead": 0.04, "dead_at_start": 0.0, "saturated": None, "gradient_norm": 0.021},
        ...,
        {"name": "output layer", "activation": "sigmoid", "units": 1,
         "dead": None, "dead_at_start": None, "saturated": None, "gradient_norm": 0.13}]}

`dead` (and `dead_at_start`, measured before the first step) is None for layers other than
relu, `saturated` for layers other than sigmoid and tanh.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from nncore import rules

# Thresholds of the alerts, and why.
#
# Dead units: at initialization a relu unit is active on about half of the rows. Measured on
# the studio's four samples with their default network (50 relu -> 32 relu, adam): at the
# default learning rate 0.001 the layers end with 0-22% dead units (22%: iris' second layer,
# judged on only 30 validation rows); at 0.3 the second layer loses 72-88%. Alerting at 30%
# keeps the first quiet and catches the second.
DEAD_ALERT = 0.3
# Saturated units: the same share; a saturated unit passes back under 1% of the gradient.
SATURATED_ALERT = 0.3
# Vanishing gradients: a sigmoid layer passes back at most a quarter of the gradient (its
# derivative's maximum), so a handful of them already cost decades. Measured (tests): with ten
# layers of 16 units, layer 1's gradient is about 1e-5 of layer 10's with sigmoid and within
# a factor of 3 of the largest with relu. At a thousandth, plain SGD moves the first layer a
# thousand times more slowly than the layer learning fastest.
VANISHING_RATIO = 1e-3

# Diagnostics may take this share of the training's time, besides tracing their graph once
# (0.1-0.3 s). On data sets so small that an epoch takes a few milliseconds, measuring every
# epoch would cost a fifth more (a measurement costs about as much as the validation pass);
# there some epochs go unmeasured instead.
TIME_SHARE = 0.05

SATURATION_DERIVATIVE = 0.01  # of the derivative's maximum
SATURATION_ROWS = 0.99  # of the validation rows
GRADIENT_ROWS = 512
PROBE_BATCH = 4096

SATURATING = tuple(a.name for a in rules.ACTIVATIONS.values() if a.saturates)
DYING = tuple(a.name for a in rules.ACTIVATIONS.values() if a.can_die)
OUTPUT = "output layer"
# The derivative each activation has at its output, divided by the derivative's maximum.
_RELATIVE_DERIVATIVE = {
    "sigmoid": lambda out: 4.0 * out * (1.0 - out),
    "tanh": lambda out: 1.0 - out * out,
}

Record = dict[str, Any]


@dataclass(frozen=True, slots=True)
class Alert:
    """Something wrong inside the network, in plain words with what to do."""

    kind: Literal["dead", "saturated", "vanishing"]
    layer: str
    message: str


def split_history(records: Iterable[Mapping[str, Any]]) -> tuple[list[dict], list[Record | None]]:
    """Epoch records as the job channel carries them -> (metric logs, diagnostics per epoch)."""
    logs, diagnostics = [], []
    for record in records:
        logs.append({k: v for k, v in record.items() if k != "diagnostics"})
        diagnostics.append(record.get("diagnostics"))
    return logs, diagnostics


def alerts(diagnostics: Sequence[Record | None]) -> list[Alert]:
    """What the records of the epochs so far say is wrong; [] if nothing.

    Dead and saturated units are judged at the latest epoch. Vanishing gradients are judged at
    the epoch where the first layer's share was smallest: as a network fits, every gradient
    shrinks with the loss and the ratio drifts up, though the first layers have learned little.
    """
    records = [record for record in diagnostics if record]
    if not records:
        return []
    hidden = _hidden(records[-1])
    found = [_dead_alert(layer) for layer in hidden if (layer["dead"] or 0) >= DEAD_ALERT]
    found += [
        _saturated_alert(layer) for layer in hidden if (layer["saturated"] or 0) >= SATURATED_ALERT
    ]
    vanishing = _vanishing_alert(diagnostics)
    return found + ([vanishing] if vanishing else [])


def _hidden(record: Record) -> list[Record]:
    return [layer for layer in record["layers"] if layer["name"] != OUTPUT]


def _percent(fraction: float) -> str:
    return "All" if fraction >= 1 else f"{round(100 * fraction)}%"


def _dead_alert(layer: Record) -> Alert:
    consequence = (
        "the network's output no longer depends on its inputs"
        if layer["dead"] >= 1
        else "they output zero for every validation row, so they no longer learn"
    )
    if (layer["dead_at_start"] or 0) >= layer["dead"] / 2:
        # Not the learning rate's doing: deep stacks of narrow relu layers lose units to their
        # random initial weights.
        cause = "Most were dead before training began"
        fix = "use fewer or wider layers, or try leaky_relu / elu"
    else:
        cause, fix = "They died while training", "lower the learning rate or try leaky_relu / elu"
    return Alert(
        "dead",
        layer["name"],
        f"{_percent(layer['dead'])} of {layer['name']}'s units are dead: {consequence}. "
        f"{cause}: {fix}.",
    )


def _saturated_alert(layer: Record) -> Alert:
    activation = layer["activation"]
    ends = "0 or 1" if activation == "sigmoid" else "-1 or 1"
    return Alert(
        "saturated",
        layer["name"],
        f"{_percent(layer['saturated'])} of {layer['name']}'s {activation} units are saturated: "
        f"stuck near {ends}, they pass back under 1% of the gradient. Lower the learning rate, "
        f"check that the inputs are scaled, or use relu instead of {activation}.",
    )


def _vanishing_alert(diagnostics: Sequence[Record | None]) -> Alert | None:
    worst = None  # (ratio, epoch, hidden layers, index of the largest norm)
    for epoch, record in enumerate(diagnostics, start=1):
        hidden = _hidden(record) if record else []
        norms = [layer["gradient_norm"] for layer in hidden]
        if len(hidden) < 2 or any(n is None for n in norms):
            continue
        largest = max(range(1, len(hidden)), key=lambda i: norms[i])
        if norms[largest] > 0 and (worst is None or norms[0] / norms[largest] < worst[0]):
            worst = (norms[0] / norms[largest], epoch, hidden, largest)
    if worst is None or worst[0] >= VANISHING_RATIO:
        return None
    ratio, epoch, hidden, largest = worst
    saturating = sorted({layer["activation"] for layer in hidden} & set(SATURATING))
    if saturating:
        fix = f"use relu instead of {' and '.join(saturating)}"
    elif any((layer["dead"] or 0) >= DEAD_ALERT for layer in hidden):
        return None  # dead units block the gradient; their alert says what to do
    else:
        fix = "add batch normalization to the layers or use fewer layers"
    first, other = hidden[0]["name"], hidden[largest]["name"]
    now = epoch == max(i for i, record in enumerate(diagnostics, start=1) if record)
    if ratio == 0:
        told = f"{first} gets no gradient at all" if now else f"{first} got no gradient at all"
    else:
        told = (
            f"{first}'s gradients {'are' if now else 'were'} {_fraction_words(ratio)} of "
            f"{other}'s, so the first layers {'barely learn' if now else 'barely learned'}"
        )
    told = told[:1].upper() + told[1:] if now else f"In epoch {epoch}, {told}"
    return Alert("vanishing", first, f"{told}: {fix}.")


def _fraction_words(ratio: float) -> str:
    decades = int(np.floor(-np.log10(ratio)))
    if decades >= 6:
        return "under a millionth"
    words = {3: "a thousandth", 4: "a ten-thousandth", 5: "a hundred-thousandth"}
    return f"under {words[decades]}" if decades in words else f"1/{1 / ratio:,.0f}"


# --- measuring, in the training worker ----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Layer:
    name: str
    activation: str
    units: int
    dense: Any  # the keras Dense layer holding the kernel
    unit_output: Any  # the layer whose output is the units' activations


def _layers(model) -> list[_Layer]:
    """The model's Dense layers with their activations; a batch-normalized layer's activation
    is the Activation layer that follows its BatchNormalization."""
    import keras

    found: list[_Layer] = []
    for layer in model.layers:
        if isinstance(layer, keras.layers.Dense):
            activation = keras.activations.serialize(layer.activation)
            found.append(_Layer("", str(activation), layer.units, layer, layer))
        elif isinstance(layer, keras.layers.Activation) and found:
            last = found[-1]
            if last.activation == "linear":
                activation = str(keras.activations.serialize(layer.activation))
                found[-1] = _Layer("", activation, last.units, last.dense, layer)
    names = [f"layer {i}" for i in range(1, len(found))] + [OUTPUT]
    return [
        _Layer(name, f.activation, f.units, f.dense, f.unit_output)
        for name, f in zip(names, found, strict=True)
    ]


class Probe:
    """Measures an epoch's diagnostics of `model`, in one graph call for up to 4096 validation
    rows.

    `x_val` are the rows the unit statistics look at (the validation rows); `x`, `y` and
    `sample_weight` the training data, from which a fixed subset gives the gradient norms.
    """

    def __init__(self, model, x_val, x, y, sample_weight=None) -> None:
        import keras
        import tensorflow as tf

        self.model = model
        self.layers = _layers(model)
        self.hidden = self.layers[:-1]
        n = int(x.shape[0])
        picked = np.unique(np.linspace(0, n - 1, min(n, GRADIENT_ROWS)).round().astype(np.int32))
        self._batch = tuple(
            tf.gather(part, picked) for part in (x, y, sample_weight) if part is not None
        )
        self._x_val = x_val if int(x_val.shape[0]) else self._batch[0]
        self._watched = [
            layer for layer in self.hidden if layer.activation in (*DYING, *SATURATING)
        ]
        outputs = [layer.unit_output.output for layer in self._watched]
        self._units = keras.Model(model.input, outputs) if outputs else None
        # The data goes in as arguments, not captured constants, as in the training loop.
        self._measure = tf.function(self._graph, reduce_retracing=True)
        self._count = tf.function(self._count_graph, reduce_retracing=True)
        # Units dead before any training tell a bad initialization from a too-large step.
        # (This first call also traces the graph, a one-off cost left out of the budget.)
        self._dead_at_start = [layer["dead"] for layer in self._layers_now()]
        self.seconds = 0.0  # spent measuring epochs

    def measure_within_budget(self, training_seconds: float) -> Record | None:
        """`measure()`, unless the measurements so far took more than `TIME_SHARE` of the
        `training_seconds` so far: then None. The first call always measures."""
        if self.seconds > TIME_SHARE * training_seconds:
            return None
        started = time.perf_counter()
        record = self.measure()
        self.seconds += time.perf_counter() - started
        return record

    def measure(self) -> Record:
        """The record of the model as it is now."""
        layers = self._layers_now()
        for layer, at_start in zip(layers, self._dead_at_start, strict=True):
            layer["dead_at_start"] = at_start
        return {
            "rows": int(self._x_val.shape[0]),
            "gradient_rows": int(self._batch[0].shape[0]),
            "layers": layers,
        }

    def _layers_now(self) -> list[Record]:
        x_val, rows = self._x_val, int(self._x_val.shape[0])
        # One graph call for validation sets up to PROBE_BATCH rows; more rows, more calls (a
        # loop inside the graph would cost a tenth of a second more to trace, every training).
        live, norms = self._measure(
            x_val[:PROBE_BATCH] if rows > PROBE_BATCH else x_val, self._batch
        )
        for start in range(PROBE_BATCH, rows, PROBE_BATCH):
            more = self._count(x_val[start : start + PROBE_BATCH])
            live = [total + extra for total, extra in zip(live, more, strict=True)]
        layers = []
        watched = iter(live)
        for layer, norm in zip(self.layers, norms.numpy(), strict=True):
            dead = saturated = None
            if layer in self._watched:
                count = next(watched).numpy()
                if layer.activation in DYING:
                    dead = float(np.mean(count == 0))
                else:
                    saturated = float(np.mean(count <= (1 - SATURATION_ROWS) * rows))
            layers.append(
                {
                    "name": layer.name,
                    "activation": layer.activation,
                    "units": layer.units,
                    "dead": dead,
                    "saturated": saturated,
                    "gradient_norm": float(norm) if np.isfinite(norm) else None,
                }
            )
        return layers

    def _graph(self, x_val, batch):
        import tensorflow as tf

        live = self._count_graph(x_val)
        x, y, *weight = batch
        with tf.GradientTape() as tape:
            y_pred = self.model(x, training=False)
            loss = self.model.compute_loss(
                x, y, y_pred, weight[0] if weight else None, training=False
            )
        gradients = tape.gradient(loss, [layer.dense.kernel for layer in self.layers])
        return live, tf.stack([tf.norm(g) for g in gradients])

    def _count_graph(self, x_val):
        """Per watched layer and unit: on how many rows it passes back at least 1% of its
        largest gradient (for relu: on how many it is not zero)."""
        import tensorflow as tf

        if not self._watched:
            return []
        outputs = self._units(x_val, training=False)
        outputs = outputs if isinstance(outputs, list | tuple) else [outputs]
        live = []
        for layer, out in zip(self._watched, outputs, strict=True):
            if layer.activation in DYING:
                alive = tf.not_equal(out, 0)
            else:
                alive = _RELATIVE_DERIVATIVE[layer.activation](out) >= SATURATION_DERIVATIVE
            live.append(tf.reduce_sum(tf.cast(alive, tf.int32), axis=0))
        return live
