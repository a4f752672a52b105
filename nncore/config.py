"""The experiment: every setting of a run, as frozen dataclasses that round-trip through JSON.

One `Experiment` holds the data settings, the hidden layers, the compile settings, the training
settings and the seed. `Experiment.to_json()` writes it; `Experiment.from_json()` reads it back
and refuses unknown fields or values with a `ConfigError` that names the field and the choices.
Every spec checks every value when it is made, however it is made, against the field's rule in
`nncore.rules.SETTINGS`, which also gives its default. Defaults are the notes' model: Dense 50
relu, Dense 32 relu, adam.
"""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, get_args, get_origin, get_type_hints

from nncore import rules, safejson
from nncore.errors import ConfigError
from nncore.rules import SETTINGS
from nncore.safejson import quote

SCHEMA_VERSION = 1

# Names in a rule table; the specs check them against it (see `rules.SETTINGS`).
Task = str
TaskChoice = str
Scaling = str
Activation = str
OptimizerName = str
LossName = str
ClassWeight = str
Role = Literal["numeric", "categorical", "datetime", "ignore"]

# The names of each table in its order, for the callers that list them.
TASKS: tuple[str, ...] = tuple(rules.TASKS)
ACTIVATIONS: tuple[str, ...] = tuple(rules.ACTIVATIONS)
OPTIMIZERS: tuple[str, ...] = tuple(rules.OPTIMIZERS)
SCALINGS: tuple[str, ...] = tuple(rules.SCALERS)
ROLES: tuple[str, ...] = get_args(Role)
MAX_PARAMETERS: int = SETTINGS["max_parameters"].default


def _fail(where: str, message: str) -> typing.NoReturn:
    raise ConfigError(f"{where}: {message}")


def _setting(name: str) -> Any:
    """A spec field whose default, range or choices and help are `rules.SETTINGS[name]`."""
    rule = SETTINGS[name]
    return field(default=rule.default, metadata={"rule": rule})


def _check_settings(cls: type, values: dict[str, Any], where: str) -> None:
    for spec_field in dataclasses.fields(cls):
        rule = spec_field.metadata.get("rule")
        if rule is not None and spec_field.name in values:
            rule.check(values[spec_field.name], where)


def _check_all(spec: Any, where: str) -> None:
    fields = dataclasses.fields(spec)
    _check_settings(type(spec), {f.name: getattr(spec, f.name) for f in fields}, where)


@dataclass(frozen=True, slots=True)
class DataSpec:
    """Which column to learn, how to treat the others, how to scale and how to split."""

    target: str = ""
    task: TaskChoice = _setting("task")
    scaling: Scaling = _setting("scaling")
    # Per-column overrides of the roles the profiler suggests, as (column, role) pairs.
    roles: tuple[tuple[str, Role], ...] = ()
    validation_fraction: float = _setting("validation_fraction")
    test_fraction: float = _setting("test_fraction")
    # Regression only: train on a standardized target and undo it in the model's last layer,
    # so targets in the thousands train as easily as targets near 1.
    scale_target: bool = _setting("scale_target")

    def __post_init__(self) -> None:
        where = "data"
        if not isinstance(self.target, str):
            _fail(where, f"target must be a column name, got {quote(self.target)}.")
        _check_all(self, where)
        if self.validation_fraction + self.test_fraction > 0.7:
            _fail(
                where,
                "validation and test fractions together leave under 30% of the rows for "
                f"training ({self.validation_fraction} + {self.test_fraction}); lower them.",
            )
        seen = set()
        for pair in self.roles:
            if len(pair) != 2:
                _fail(where, f"each role override is [column, role], got {quote(list(pair))}.")
            column, role = pair
            if column in seen:
                _fail(where, f"column {quote(column)} has two role overrides; keep one.")
            seen.add(column)
            if role not in ROLES:
                _fail(
                    where,
                    f"role {quote(role)} for {quote(column)} is not one of {', '.join(ROLES)}.",
                )

    def role_overrides(self) -> dict[str, str]:
        return dict(self.roles)


@dataclass(frozen=True, slots=True)
class LayerSpec:
    """One hidden Dense layer."""

    units: int = _setting("units")
    activation: Activation = _setting("activation")
    dropout: float = _setting("dropout")
    l1: float = _setting("l1")
    l2: float = _setting("l2")
    batch_norm: bool = _setting("batch_norm")

    def __post_init__(self) -> None:
        _check_all(self, "layer")


def describe_layers(layers: Sequence[LayerSpec]) -> str:
    """`16 relu → 16 relu`, or "no hidden layer"."""
    return " → ".join(f"{s.units} {s.activation}" for s in layers) or "no hidden layer"


@dataclass(frozen=True, slots=True)
class CompileSpec:
    """Optimizer, its learning rate and the loss ("auto" picks the task's usual loss)."""

    optimizer: OptimizerName = _setting("optimizer")
    learning_rate: float = _setting("learning_rate")
    momentum: float = _setting("momentum")  # optimizers that take momentum only
    nesterov: bool = _setting("nesterov")  # optimizers that take Nesterov momentum only
    loss: LossName = _setting("loss")

    def __post_init__(self) -> None:
        _check_all(self, "compile")
        if self.nesterov and not rules.OPTIMIZERS[self.optimizer].nesterov:
            takes = [o.name for o in rules.OPTIMIZERS.values() if o.nesterov]
            _fail(
                "compile", f"nesterov applies to {', '.join(takes)} only, not to {self.optimizer}."
            )

    def resolved_loss(self, task: str) -> str:
        """The loss to use for `task`; a loss that does not fit the task is refused."""
        fitting = rules.TASKS[task].losses
        if self.loss == "auto":
            return fitting[0]
        if self.loss not in fitting:
            _fail(
                "compile",
                f"the loss {quote(self.loss)} does not fit a {task} task: "
                f"{_loss_mismatch_reason(self.loss, task)} Use one of: {', '.join(fitting)}.",
            )
        return self.loss


def _loss_mismatch_reason(loss: str, task: str) -> str:
    if task == "regression":
        return (
            "a crossentropy measures how well class probabilities match labels, but this "
            "target is a number to predict."
        )
    if "regression" in rules.LOSSES[loss].tasks:
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

    epochs: int = _setting("epochs")
    batch_size: int = _setting("batch_size")
    early_stopping: bool = _setting("early_stopping")
    monitor: str = _setting("monitor")
    patience: int = _setting("patience")
    min_delta: float = _setting("min_delta")
    restore_best_weights: bool = _setting("restore_best_weights")
    reduce_lr_on_plateau: bool = _setting("reduce_lr_on_plateau")
    reduce_lr_factor: float = _setting("reduce_lr_factor")
    reduce_lr_patience: int = _setting("reduce_lr_patience")
    class_weight: ClassWeight = _setting("class_weight")

    def __post_init__(self) -> None:
        _check_all(self, "training")


@dataclass(frozen=True, slots=True)
class Experiment:
    """Everything needed to rerun a training exactly (given the same data and machine)."""

    data: DataSpec = field(default_factory=DataSpec)
    layers: tuple[LayerSpec, ...] = (LayerSpec(50, "relu"), LayerSpec(32, "relu"))
    compile: CompileSpec = field(default_factory=CompileSpec)
    training: TrainSpec = field(default_factory=TrainSpec)
    seed: int = _setting("seed")
    # Where this design came from when a tuning chose it (e.g. "search: trial 7, val_loss
    # 0.31"); "" for one set by hand.
    origin: str = ""
    schema_version: int = SCHEMA_VERSION

    def __post_init__(self) -> None:
        _check_all(self, "experiment")
        for name, kind in (
            ("data", DataSpec),
            ("compile", CompileSpec),
            ("training", TrainSpec),
        ):
            if not isinstance(getattr(self, name), kind):
                _fail(
                    "experiment",
                    f"{name} must be a {kind.__name__}, got {quote(getattr(self, name))}.",
                )
        if not isinstance(self.layers, tuple) or not all(
            isinstance(x, LayerSpec) for x in self.layers
        ):
            _fail("experiment", f"layers must be a tuple of LayerSpec, got {quote(self.layers)}.")
        SETTINGS["hidden_layers"].check(len(self.layers), "experiment")
        if not isinstance(self.origin, str):
            _fail("experiment", f"origin must be text, got {quote(self.origin)}.")
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
                f"the target column {quote(self.data.target)} is not in this data, whose columns "
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
        f"schema_version must be {SCHEMA_VERSION} (the only version so far), got {quote(version)}. "
        "Save the experiment again from the studio.",
    )


def _names(names: Sequence[str], limit: int = 12) -> str:
    shown = ", ".join(map(quote, list(names)[:limit]))
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
            f"unknown field{'s' if len(unknown) > 1 else ''} {_names(unknown, limit=3)}; "
            f"known fields are {', '.join(sorted(known))}.",
        )
    kwargs = {name: _coerce(hints[name], value, f"{where}.{name}") for name, value in raw.items()}
    _check_settings(cls, kwargs, where)
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
            _fail(where, f"{quote(value)} is not one of {', '.join(map(repr, choices))}.")
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
            _fail(where, f"expected true or false, got {quote(value)}.")
        return value
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            _fail(where, f"expected a whole number, got {quote(value)}.")
        return value
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            _fail(where, f"expected a number, got {quote(value)}.")
        return float(value)
    if hint is str:
        if not isinstance(value, str):
            _fail(where, f"expected text, got {quote(value)}.")
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
                f"layers: {quote(part)} should look like 50:relu (units, then an activation)."
            ) from None
        activation = activation.strip() or "relu"
        if activation not in ACTIVATIONS:
            raise ConfigError(
                f"layers: activation {quote(activation)} in {quote(part)} is not one of "
                f"{', '.join(ACTIVATIONS)}."
            )
        layers.append(LayerSpec(units=units, activation=activation))
    return tuple(layers)


def output_units(task: str, n_classes: int) -> int:
    """Units of the output layer (one per class for multiclass, else one)."""
    return rules.TASKS[task].output_units(n_classes)


def layer_parameters(n_inputs: int, layers: Sequence[LayerSpec], n_outputs: int) -> list[int]:
    """Parameters of each hidden layer and of the output layer, in order, computed without
    Keras (the UI's live summary).

    A hidden layer with batch normalization counts its Dense kernel (no bias) and the 4
    parameters per unit of the normalization.
    """
    counts, width = [], n_inputs
    for spec in layers:
        counts.append(width * spec.units + (4 * spec.units if spec.batch_norm else spec.units))
        width = spec.units
    counts.append(width * n_outputs + n_outputs)
    return counts


def count_parameters(n_inputs: int, layers: Sequence[LayerSpec], n_outputs: int) -> int:
    """Parameters of the whole network (see `layer_parameters`)."""
    return sum(layer_parameters(n_inputs, layers, n_outputs))


def monitor_mode(monitor: str) -> str:
    """ "max" for scores where higher is better (accuracy, auc), "min" for losses and errors."""
    return "max" if rules.higher_is_better(monitor) else "min"


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
