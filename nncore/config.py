"""The experiment: every setting of a run, as frozen dataclasses that round-trip through JSON.

One `Experiment` holds the data settings, the hidden layers, the compile settings, the training
settings and the seed. `Experiment.to_json()` writes it; `Experiment.from_json()` reads it back
and refuses unknown fields or values with a `ConfigError` that names the field and the choices.
Defaults are the notes' model: Dense 50 relu, Dense 32 relu, adam.
"""

from __future__ import annotations

import dataclasses
import json
import math
import types
import typing
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, get_args, get_origin, get_type_hints

from nncore import safejson
from nncore.errors import ConfigError

SCHEMA_VERSION = 1

Task = Literal["regression", "binary", "multiclass"]
TaskChoice = Literal["auto", "regression", "binary", "multiclass"]
Scaling = Literal["standard", "minmax", "robust", "none"]
Role = Literal["numeric", "categorical", "datetime", "ignore"]
Activation = Literal[
    "relu", "leaky_relu", "elu", "selu", "gelu", "swish", "tanh", "sigmoid", "linear"
]
OptimizerName = Literal["sgd", "adam", "adamw", "rmsprop", "adagrad", "nadam"]
LossName = Literal[
    "auto",
    "mse",
    "mae",
    "huber",
    "binary_crossentropy",
    "categorical_crossentropy",
    "sparse_categorical_crossentropy",
]
ClassWeight = Literal["none", "balanced"]

TASKS: tuple[str, ...] = get_args(Task)
ACTIVATIONS: tuple[str, ...] = get_args(Activation)
OPTIMIZERS: tuple[str, ...] = get_args(OptimizerName)
SCALINGS: tuple[str, ...] = get_args(Scaling)
ROLES: tuple[str, ...] = get_args(Role)

# Which losses fit which task, the first being the default. Kept here so the CLI, the pages and
# the validation below agree.
LOSSES_BY_TASK: dict[str, tuple[str, ...]] = {
    "regression": ("mse", "mae", "huber"),
    "binary": ("binary_crossentropy",),
    "multiclass": ("sparse_categorical_crossentropy", "categorical_crossentropy"),
}

LOSS_HELP = {
    "mse": "mean squared error: punishes large errors most",
    "mae": "mean absolute error: robust to outliers",
    "huber": "squared for small errors, absolute for large ones",
    "binary_crossentropy": "for two classes with a sigmoid output",
    "categorical_crossentropy": "for several classes, targets one-hot encoded",
    "sparse_categorical_crossentropy": "for several classes, targets as class indices",
}


def _fail(where: str, message: str) -> typing.NoReturn:
    raise ConfigError(f"{where}: {message}")


def _check_range(where: str, name: str, value: float, low: float, high: float) -> None:
    if not isinstance(value, int | float) or isinstance(value, bool) or math.isnan(value):
        _fail(where, f"{name} must be a number, got {value!r}.")
    if not low <= value <= high:
        _fail(where, f"{name} must be between {low} and {high}, got {value}.")


@dataclass(frozen=True, slots=True)
class DataSpec:
    """Which column to learn, how to treat the others, how to scale and how to split."""

    target: str = ""
    task: TaskChoice = "auto"
    scaling: Scaling = "standard"
    # Per-column overrides of the roles the profiler suggests, as (column, role) pairs.
    roles: tuple[tuple[str, Role], ...] = ()
    validation_fraction: float = 0.2
    test_fraction: float = 0.0
    # Regression only: train on a standardized target and undo it in the model's last layer,
    # so targets in the thousands train as easily as targets near 1.
    scale_target: bool = True

    def __post_init__(self) -> None:
        where = "data"
        _check_range(where, "validation_fraction", self.validation_fraction, 0.05, 0.5)
        _check_range(where, "test_fraction", self.test_fraction, 0.0, 0.5)
        if self.validation_fraction + self.test_fraction > 0.7:
            _fail(
                where,
                "validation and test fractions together leave under 30% of the rows for "
                f"training ({self.validation_fraction} + {self.test_fraction}); lower them.",
            )
        seen = set()
        for pair in self.roles:
            if len(pair) != 2:
                _fail(where, f"each role override is [column, role], got {list(pair)!r}.")
            column, role = pair
            if column in seen:
                _fail(where, f"column {column!r} has two role overrides; keep one.")
            seen.add(column)
            if role not in ROLES:
                _fail(where, f"role {role!r} for {column!r} is not one of {', '.join(ROLES)}.")

    def role_overrides(self) -> dict[str, str]:
        return dict(self.roles)


@dataclass(frozen=True, slots=True)
class LayerSpec:
    """One hidden Dense layer."""

    units: int = 50
    activation: Activation = "relu"
    dropout: float = 0.0
    l1: float = 0.0
    l2: float = 0.0
    batch_norm: bool = False

    def __post_init__(self) -> None:
        where = "layer"
        if not isinstance(self.units, int) or isinstance(self.units, bool):
            _fail(where, f"units must be a whole number, got {self.units!r}.")
        if not 1 <= self.units <= 4096:
            _fail(where, f"a layer needs between 1 and 4096 units, got {self.units}.")
        _check_range(where, "dropout", self.dropout, 0.0, 0.9)
        _check_range(where, "l1", self.l1, 0.0, 1.0)
        _check_range(where, "l2", self.l2, 0.0, 1.0)


@dataclass(frozen=True, slots=True)
class CompileSpec:
    """Optimizer, its learning rate and the loss ("auto" picks the task's usual loss)."""

    optimizer: OptimizerName = "adam"
    learning_rate: float = 0.001
    momentum: float = 0.0  # sgd and rmsprop only
    nesterov: bool = False  # sgd only
    loss: LossName = "auto"

    def __post_init__(self) -> None:
        _check_range("compile", "learning_rate", self.learning_rate, 1e-7, 10.0)
        _check_range("compile", "momentum", self.momentum, 0.0, 0.999)
        if self.nesterov and self.optimizer != "sgd":
            _fail("compile", f"nesterov applies to sgd only, not to {self.optimizer}.")

    def resolved_loss(self, task: str) -> str:
        """The loss to use for `task`; a loss that does not fit the task is refused."""
        fitting = LOSSES_BY_TASK[task]
        if self.loss == "auto":
            return fitting[0]
        if self.loss not in fitting:
            _fail(
                "compile",
                f"the loss {self.loss!r} does not fit a {task} task: "
                f"{_loss_mismatch_reason(self.loss, task)} Use one of: {', '.join(fitting)}.",
            )
        return self.loss


def _loss_mismatch_reason(loss: str, task: str) -> str:
    if task == "regression":
        return (
            "a crossentropy measures how well class probabilities match labels, but this "
            "target is a number to predict."
        )
    if loss in ("mse", "mae", "huber"):
        return (
            f"{loss} measures distances between numbers, but this target is a class label; "
            "a crossentropy scores the predicted probabilities."
        )
    if task == "binary":
        return "two classes need a single sigmoid output scored with binary crossentropy."
    return (
        "binary crossentropy scores one yes/no output, but this target has more than two "
        "classes and needs a softmax output."
    )


@dataclass(frozen=True, slots=True)
class TrainSpec:
    """How long and how to fit: epochs, batch size, early stopping, schedules, class weights."""

    epochs: int = 100
    batch_size: int = 32
    early_stopping: bool = True
    monitor: str = "val_loss"
    patience: int = 10
    min_delta: float = 0.0
    restore_best_weights: bool = True
    reduce_lr_on_plateau: bool = False
    reduce_lr_factor: float = 0.5
    reduce_lr_patience: int = 5
    class_weight: ClassWeight = "none"

    def __post_init__(self) -> None:
        where = "training"
        for name, low, high in (
            ("epochs", 1, 10_000),
            ("batch_size", 1, 65_536),
            ("patience", 0, 10_000),
            ("reduce_lr_patience", 0, 10_000),
        ):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool):
                _fail(where, f"{name} must be a whole number, got {value!r}.")
            _check_range(where, name, value, low, high)
        _check_range(where, "min_delta", self.min_delta, 0.0, 1e12)
        _check_range(where, "reduce_lr_factor", self.reduce_lr_factor, 0.01, 0.99)
        if not isinstance(self.monitor, str) or not self.monitor.startswith(("val_", "loss")):
            _fail(
                where,
                f"monitor must name a logged value such as 'val_loss' or 'val_accuracy', "
                f"got {self.monitor!r}.",
            )


@dataclass(frozen=True, slots=True)
class Experiment:
    """Everything needed to rerun a training exactly (given the same data and machine)."""

    data: DataSpec = field(default_factory=DataSpec)
    layers: tuple[LayerSpec, ...] = (LayerSpec(50, "relu"), LayerSpec(32, "relu"))
    compile: CompileSpec = field(default_factory=CompileSpec)
    training: TrainSpec = field(default_factory=TrainSpec)
    seed: int = 42
    schema_version: int = SCHEMA_VERSION

    def __post_init__(self) -> None:
        if not isinstance(self.seed, int) or isinstance(self.seed, bool):
            _fail("experiment", f"seed must be a whole number, got {self.seed!r}.")
        _check_range("experiment", "seed", self.seed, 0, 2**31 - 1)
        if len(self.layers) > 32:
            _fail("experiment", f"at most 32 hidden layers, got {len(self.layers)}.")
        _check_version(self.schema_version)

    def replace(self, **changes: Any) -> Experiment:
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        plain = _to_plain(self)
        # The version first, where a reader of the file looks.
        return {"schema_version": plain.pop("schema_version"), **plain}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)

    @classmethod
    def from_dict(cls, raw: Any) -> Experiment:
        """Read an experiment file's content. Every field is checked; `schema_version` must be
        there, so a file from another program or a future studio is not half understood."""
        if isinstance(raw, dict) and "schema_version" not in raw:
            _fail(
                "experiment",
                "schema_version is missing. An experiment file saved by the studio starts with "
                f'"schema_version": {SCHEMA_VERSION}; save the experiment again from the studio '
                "(or from `python -m nncore train`, which writes experiment.json).",
            )
        if isinstance(raw, dict):
            _check_version(raw["schema_version"])
        return _from_plain(cls, raw, "experiment")

    def check_columns(self, columns: Sequence[str]) -> None:
        """Refuse an experiment whose target or role overrides name columns the data lacks."""
        have = set(columns)
        if self.data.target and self.data.target not in have:
            _fail(
                "data",
                f"the target column {self.data.target!r} is not in this data, whose columns "
                f"are {_names(columns)}. Load the file the experiment was made for, or choose "
                "the target again.",
            )
        missing = [column for column, _ in self.data.roles if column not in have]
        if missing:
            _fail(
                "data",
                f"the experiment sets roles for {_names(missing)}, which this data lacks. Load "
                "the file the experiment was made for, or remove those columns from "
                "data.roles.",
            )

    @classmethod
    def from_json(cls, text: str | bytes) -> Experiment:
        advice = "Save it again from the studio or fix the JSON by hand."
        raw = safejson.loads(text, what="The experiment file", advice=advice, error=ConfigError)
        return cls.from_dict(raw)


def _check_version(version: Any) -> None:
    if version == SCHEMA_VERSION and not isinstance(version, bool):
        return
    if isinstance(version, int) and not isinstance(version, bool) and version > SCHEMA_VERSION:
        _fail(
            "experiment",
            f"this file has schema_version {version}, written by a newer studio; this one reads "
            f"version {SCHEMA_VERSION}. Update the studio (pip install -r requirements.txt) or "
            "save the experiment again from this version.",
        )
    _fail(
        "experiment",
        f"schema_version must be {SCHEMA_VERSION} (the only version so far), got {version!r}. "
        "Save the experiment again from the studio.",
    )


def _names(names: Sequence[str], limit: int = 12) -> str:
    shown = ", ".join(map(repr, list(names)[:limit]))
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")


def _to_plain(value: Any) -> Any:
    if dataclasses.is_dataclass(value):
        return {f.name: _to_plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, tuple | list):
        return [_to_plain(v) for v in value]
    return value


def _from_plain(cls: type, raw: Any, where: str) -> Any:
    """Build dataclass `cls` from parsed JSON, checking names, types and Literal choices."""
    if not isinstance(raw, dict):
        _fail(where, f"expected an object with fields, got {type(raw).__name__}.")
    hints = get_type_hints(cls)
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(raw) - known)
    if unknown:
        _fail(
            where,
            f"unknown field{'s' if len(unknown) > 1 else ''} {', '.join(map(repr, unknown))}; "
            f"known fields are {', '.join(sorted(known))}.",
        )
    kwargs = {name: _coerce(hints[name], value, f"{where}.{name}") for name, value in raw.items()}
    try:
        return cls(**kwargs)
    except TypeError as exc:  # pragma: no cover - guarded by the checks above
        _fail(where, str(exc))


def _coerce(hint: Any, value: Any, where: str) -> Any:
    origin = get_origin(hint)
    if dataclasses.is_dataclass(hint):
        return _from_plain(hint, value, where)
    if origin is Literal:
        choices = get_args(hint)
        if value not in choices:
            _fail(where, f"{value!r} is not one of {', '.join(map(repr, choices))}.")
        return value
    if origin is tuple:
        if not isinstance(value, list | tuple):
            _fail(where, f"expected a list, got {type(value).__name__}.")
        args = get_args(hint)
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_coerce(args[0], v, f"{where}[{i}]") for i, v in enumerate(value))
        if len(value) != len(args):
            _fail(where, f"expected {len(args)} items, got {len(value)}.")
        return tuple(
            _coerce(a, v, f"{where}[{i}]") for i, (a, v) in enumerate(zip(args, value, strict=True))
        )
    if origin in (typing.Union, types.UnionType):
        return value
    if hint is bool:
        if not isinstance(value, bool):
            _fail(where, f"expected true or false, got {value!r}.")
        return value
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            _fail(where, f"expected a whole number, got {value!r}.")
        return value
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            _fail(where, f"expected a number, got {value!r}.")
        return float(value)
    if hint is str:
        if not isinstance(value, str):
            _fail(where, f"expected text, got {value!r}.")
        return value
    return value  # pragma: no cover - every field type is handled above


def parse_layers(text: str) -> tuple[LayerSpec, ...]:
    """Parse the command line's `50:relu,32:relu` (units, then optional activation)."""
    layers = []
    for part in filter(None, (p.strip() for p in text.split(","))):
        units_text, _, activation = part.partition(":")
        try:
            units = int(units_text)
        except ValueError:
            raise ConfigError(
                f"layers: {part!r} should look like 50:relu (units, then an activation)."
            ) from None
        activation = activation.strip() or "relu"
        if activation not in ACTIVATIONS:
            raise ConfigError(
                f"layers: activation {activation!r} in {part!r} is not one of "
                f"{', '.join(ACTIVATIONS)}."
            )
        layers.append(LayerSpec(units=units, activation=activation))
    return tuple(layers)


def output_units(task: str, n_classes: int) -> int:
    """Units of the output layer: one per class for multiclass, else one."""
    return n_classes if task == "multiclass" else 1


def count_parameters(n_inputs: int, layers: tuple[LayerSpec, ...], n_outputs: int) -> int:
    """Parameters of the network, computed without Keras (the UI's live summary)."""
    total, width = 0, n_inputs
    for spec in layers:
        total += width * spec.units
        # With batch normalization the Dense layer has no bias; the normalization has 4 per unit.
        total += 4 * spec.units if spec.batch_norm else spec.units
        width = spec.units
    return total + width * n_outputs + n_outputs


_HIGHER_IS_BETTER = ("accuracy", "auc", "r2")


def monitor_mode(monitor: str) -> str:
    """ "max" for scores where higher is better (accuracy, auc), "min" for losses and errors."""
    return "max" if monitor.endswith(_HIGHER_IS_BETTER) else "min"


# The largest network this studio trains: with Adam's two slots and float32 that is ~80 MB of
# weights and optimizer state, which fits beside TensorFlow in a 1 GB host.
MAX_PARAMETERS = 5_000_000


def check_size(n_inputs: int, layers: tuple[LayerSpec, ...], n_outputs: int) -> int:
    """The parameter count, or a `ConfigError` when it is over `MAX_PARAMETERS`."""
    count = count_parameters(n_inputs, layers, n_outputs)
    if count > MAX_PARAMETERS:
        raise ConfigError(
            f"The network would have {count:,} parameters, more than this studio trains "
            f"({MAX_PARAMETERS:,}). Use fewer or narrower layers, or leave out categorical "
            f"columns with many categories ({n_inputs:,} inputs now)."
        )
    return count
