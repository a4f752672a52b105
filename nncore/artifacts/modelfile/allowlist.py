"""The model's config: every object it names against an allow-list of classes, modules and
registered names, and the layer graph with the parameter count it implies."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from nncore import rules
from nncore.artifacts.modelfile.common import Limits, ModelFileInfo, ModelFormat, refuse
from nncore.errors import ModelFileError

MAX_CONFIG_DEPTH = 64
MAX_LAYERS = 10_000
MAX_COUNT = 1_000_000  # settings that size something: OOV indices, thresholds, steps

# The studio's hidden-layer choices under their own and Keras' names (swish is saved as silu),
# and the output heads' activations.
ACTIVATIONS = frozenset(
    {name for row in rules.ACTIVATIONS.values() for name in (row.name, row.keras_name)}
    | {task.output_activation for task in rules.TASKS.values()}
)


# --- the config: an allow-list of every object it may name ------------------------------------

Check = Callable[[Any, str], None]


@dataclass(frozen=True)
class _Class:
    module: str
    kind: str  # layer | initializer | regularizer | dtype_policy | optimizer | loss | metric
    config: dict[str, Check]


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _bad(where: str, value: Any, expected: str) -> ModelFileError:
    shown = json.dumps(value)[:80]
    return refuse(
        f"The model's configuration has {shown} at {where}, where this studio writes {expected}."
    )


def _literal(*allowed: Any) -> Check:
    def check(value: Any, where: str) -> None:
        if value not in allowed or isinstance(value, bool) != isinstance(allowed[0], bool):
            raise _bad(where, value, " or ".join(json.dumps(a) for a in allowed))

    return check


def _typed(expected: str, test: Callable[[Any], bool], none: bool = False) -> Check:
    def check(value: Any, where: str) -> None:
        if not ((none and value is None) or test(value)):
            raise _bad(where, value, expected + (" or null" if none else ""))

    return check


BOOL = _typed("true or false", lambda v: isinstance(v, bool))
NUMBER = _typed("a number", _is_number)
OPT_NUMBER = _typed("a number", _is_number, none=True)
TEXT = _typed("a name", lambda v: isinstance(v, str) and len(v) <= 1000)
COUNT = _typed(
    f"a whole number up to {MAX_COUNT:,}",
    lambda v: isinstance(v, int) and not isinstance(v, bool) and 0 <= v <= MAX_COUNT,
)
OPT_COUNT = _typed(
    f"a whole number up to {MAX_COUNT:,}",
    lambda v: isinstance(v, int) and not isinstance(v, bool) and 0 <= v <= MAX_COUNT,
    none=True,
)
OPT_SEED = _typed("a seed", lambda v: isinstance(v, int) and not isinstance(v, bool), none=True)
NULL = _literal(None)


def _is_axis(v: Any) -> bool:
    return v in (-1, 1) and not isinstance(v, bool)


AXIS = _typed("an axis", _is_axis)
AXES = _typed("axes", lambda v: v is None or v in ([-1], [1]) or _is_axis(v))
NUMBERS = _typed(
    "a list of numbers",
    lambda v: isinstance(v, list) and all(_is_number(x) for x in v),
    none=True,
)
STRINGS = _typed(
    "a list of categories", lambda v: isinstance(v, list) and all(isinstance(x, str) for x in v)
)


def _activation(value: Any, where: str) -> None:
    if not (isinstance(value, str) and value in ACTIVATIONS):
        raise refuse(
            f"The model uses the activation {json.dumps(value)[:80]} at {where}; the studio "
            f"accepts only {', '.join(sorted(ACTIVATIONS))}."
        )


def _object(kind: str, none: bool = False) -> Check:
    def check(value: Any, where: str) -> None:
        if value is None and none:
            return
        name = value.get("class_name") if isinstance(value, dict) else None
        if not isinstance(name, str) or not _known(name) or _spec(value, kind).kind != kind:
            raise _bad(where, value, f"a Keras {kind}")
        shared = ("shared_object_id",) if value["class_name"] == "DTypePolicy" else ()
        _check_keys(value, ("class_name", "config"), where, value["class_name"], _OPTIONAL + shared)
        _check_config(value, where, kind)

    return check


INITIALIZER = _object("initializer")
REGULARIZER = _object("regularizer", none=True)
DTYPE_POLICY = _object("dtype_policy")

_LAYER = {"name": TEXT, "trainable": BOOL, "dtype": DTYPE_POLICY}
_INITIALIZER = {"seed": OPT_SEED, "input_axes": NULL, "output_axes": NULL}
_OPTIMIZER = {
    "name": TEXT,
    "learning_rate": NUMBER,
    "weight_decay": OPT_NUMBER,
    "clipnorm": OPT_NUMBER,
    "global_clipnorm": OPT_NUMBER,
    "clipvalue": OPT_NUMBER,
    "use_ema": BOOL,
    "ema_momentum": NUMBER,
    "ema_overwrite_frequency": OPT_COUNT,
    "loss_scale_factor": OPT_NUMBER,
    "gradient_accumulation_steps": OPT_COUNT,
}
_ADAM = {"beta_1": NUMBER, "beta_2": NUMBER, "epsilon": NUMBER, "amsgrad": BOOL}
_LOSS = {"name": TEXT, "reduction": _literal("sum_over_batch_size", "sum", "mean", "none")}
_CROSSENTROPY = {"from_logits": BOOL, "label_smoothing": NUMBER, "axis": AXIS}
_METRIC = {"name": TEXT, "dtype": _literal("float32")}
# The settings Keras writes for an optimizer, loss or metric class beyond those every one of its
# kind has. A class in rules.OPTIMIZERS, LOSSES or METRICS with more settings needs them here
# (tests/core/test_modelfile.py compares each with Keras' own config).
_OWN: dict[str, dict[str, Check]] = {
    "SGD": {"momentum": NUMBER, "nesterov": BOOL},
    "Adam": _ADAM,
    "AdamW": _ADAM,
    "RMSprop": {"rho": NUMBER, "momentum": NUMBER, "epsilon": NUMBER, "centered": BOOL},
    "Adagrad": {"initial_accumulator_value": NUMBER, "epsilon": NUMBER},
    "Nadam": {"beta_1": NUMBER, "beta_2": NUMBER, "epsilon": NUMBER},
    "BinaryCrossentropy": _CROSSENTROPY,
    "CategoricalCrossentropy": _CROSSENTROPY,
    "SparseCategoricalCrossentropy": {
        "from_logits": BOOL,
        "ignore_class": _typed("a class", _is_number, True),
    },
    "BinaryAccuracy": {"threshold": NUMBER},
    "AUC": {
        "num_thresholds": COUNT,
        "curve": _literal("ROC", "PR"),
        "summation_method": _literal("interpolation", "minoring", "majoring"),
        "multi_label": BOOL,
        "num_labels": OPT_COUNT,
        "label_weights": NULL,
        "from_logits": BOOL,
    },
}

LAYERS = (
    "InputLayer",
    "Concatenate",
    "Normalization",
    "StringLookup",
    "Dense",
    "BatchNormalization",
    "Activation",
    "Dropout",
    "Rescaling",
)

CLASSES: dict[str, _Class] = {
    "InputLayer": _Class(
        "keras.layers",
        "layer",
        {
            # One input per column, one value per row.
            "batch_shape": _typed("[null, 1]", lambda v: v == [None, 1] and type(v[1]) is int),
            "dtype": _literal("float32", "string"),
            "sparse": _literal(False),
            "ragged": _literal(False),
            "name": TEXT,
            "optional": _literal(False),
        },
    ),
    "Concatenate": _Class("keras.layers", "layer", {**_LAYER, "axis": AXIS}),
    "Normalization": _Class(
        "keras.layers",
        "layer",
        {**_LAYER, "axis": AXES, "invert": _literal(False), "mean": NUMBERS, "variance": NUMBERS},
    ),
    "StringLookup": _Class(
        "keras.layers",
        "layer",
        {
            **_LAYER,
            "invert": _literal(False),
            "max_tokens": OPT_COUNT,
            "num_oov_indices": COUNT,
            "oov_token": TEXT,
            "mask_token": NULL,
            "output_mode": _literal("one_hot"),
            "sparse": _literal(False),
            "pad_to_max_tokens": _literal(False),
            "idf_weights": NULL,
            # A string here would be a path that Keras reads vocabulary from.
            "vocabulary": STRINGS,
            "vocabulary_size": OPT_COUNT,
            "oov_method": _literal("floormod"),
            "salt": OPT_SEED,
            "encoding": _literal("utf-8"),
        },
    ),
    "Dense": _Class(
        "keras.layers",
        "layer",
        {
            **_LAYER,
            "units": _typed(
                "a number of units",
                lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= 1,
            ),
            "activation": _activation,
            "use_bias": BOOL,
            "kernel_initializer": INITIALIZER,
            "bias_initializer": INITIALIZER,
            "kernel_regularizer": REGULARIZER,
            "bias_regularizer": REGULARIZER,
            "kernel_constraint": NULL,
            "bias_constraint": NULL,
            "quantization_config": NULL,
        },
    ),
    "BatchNormalization": _Class(
        "keras.layers",
        "layer",
        {
            **_LAYER,
            "axis": AXIS,
            "momentum": NUMBER,
            "epsilon": NUMBER,
            "center": BOOL,
            "scale": BOOL,
            "beta_initializer": INITIALIZER,
            "gamma_initializer": INITIALIZER,
            "moving_mean_initializer": INITIALIZER,
            "moving_variance_initializer": INITIALIZER,
            "beta_regularizer": REGULARIZER,
            "gamma_regularizer": REGULARIZER,
            "beta_constraint": NULL,
            "gamma_constraint": NULL,
            "synchronized": _literal(False),
            "renorm": _literal(False),
            "renorm_clipping": NULL,
            "renorm_momentum": NUMBER,
        },
    ),
    "Activation": _Class("keras.layers", "layer", {**_LAYER, "activation": _activation}),
    "Dropout": _Class(
        "keras.layers",
        "layer",
        {**_LAYER, "rate": NUMBER, "seed": OPT_SEED, "noise_shape": NULL},
    ),
    "Rescaling": _Class("keras.layers", "layer", {**_LAYER, "scale": NUMBER, "offset": NUMBER}),
    "DTypePolicy": _Class("keras", "dtype_policy", {"name": _literal("float32")}),
    "GlorotUniform": _Class("keras.initializers", "initializer", _INITIALIZER),
    "LecunNormal": _Class("keras.initializers", "initializer", _INITIALIZER),
    "Zeros": _Class("keras.initializers", "initializer", {}),
    "Ones": _Class("keras.initializers", "initializer", {}),
    "L1L2": _Class("keras.regularizers", "regularizer", {"l1": NUMBER, "l2": NUMBER}),
    **{
        row.keras: _Class(
            "keras.optimizers", "optimizer", {**_OPTIMIZER, **_OWN.get(row.keras, {})}
        )
        for row in rules.OPTIMIZERS.values()
    },
    **{
        row.keras: _Class("keras.losses", "loss", {**_LOSS, **_OWN.get(row.keras, {})})
        for row in rules.LOSSES.values()
    },
}
# The metrics `nncore.learn.model.make_metrics` compiles the training network with, apart:
# MeanAbsoluteError is both a loss and a metric, and the module tells them apart.
METRIC_CLASSES: dict[str, _Class] = {
    keras_class: _Class("keras.metrics", "metric", {**_METRIC, **_OWN.get(keras_class, {})})
    for row in rules.METRICS.values()
    for _, keras_class in row.keras
}

MODEL_CLASS, MODEL_MODULE = "Functional", "keras.src.models.functional"
_TENSOR = "__keras_tensor__"
# Keys and class names that carry code or functions in Keras' formats, old and new.
_CODE_KEYS = frozenset({"function", "function_type", "__lambda__", "__python_function__"})
_CODE_CLASSES = frozenset({"function", "__lambda__", "__python_function__"})
_CODE_LAYERS = frozenset({"Lambda", "TFSMLayer", "TorchModuleWrapper", "JaxLayer", "FlaxLayer"})
_OPTIONAL = ("module", "registered_name")  # absent in the objects of a legacy .h5


def _check_config(obj: dict, where: str, kind: str = "") -> None:
    """An allowed object's header was checked by the scan; check its config's keys and values."""
    spec = _spec(obj, kind)
    config = obj.get("config")
    if not isinstance(config, dict):
        raise _bad(f"{where}.config", config, "a settings object")
    _check_keys(config, spec.config, f"{where}.config", obj["class_name"])
    for key, check in spec.config.items():
        check(config[key], f"{where}.config.{key}")


def _known(name: str) -> bool:
    return name in CLASSES or name in METRIC_CLASSES


def _spec(obj: dict, kind: str = "") -> _Class:
    """The allow-list entry of a known class. MeanAbsoluteError is both a loss and a metric: the
    module tells them apart, or in a legacy .h5 file, which names none, the `kind` expected where
    the object stands."""
    name = obj["class_name"]
    if name not in METRIC_CLASSES:
        return CLASSES[name]
    if name not in CLASSES:
        return METRIC_CLASSES[name]
    module = obj.get("module")
    metric = module == "keras.metrics" if module is not None else kind == "metric"
    return METRIC_CLASSES[name] if metric else CLASSES[name]


def _check_keys(value: dict, required: Any, where: str, what: str, optional: Any = ()) -> None:
    keys = set(value)
    extra = sorted(keys - set(required) - set(optional))
    if extra:
        raise refuse(
            f"The model's configuration gives {what} a setting {extra[0]!r} at {where}, which "
            "this studio never writes."
        )
    missing = sorted(set(required) - keys)
    if missing:
        raise refuse(
            f"The model's configuration lacks the setting {missing[0]!r} of {what} at {where}."
        )


def _scan(value: Any, where: str, depth: int = 0) -> None:
    """Every object named anywhere must be an allowed class from Keras itself; no code at all."""
    if depth > MAX_CONFIG_DEPTH:
        raise refuse(f"The model's configuration is nested too deeply (at {where}).")
    if isinstance(value, dict):
        if where.endswith(".input_layers"):  # keyed by input names, which come from the data
            for key, item in value.items():
                _scan(item, f"{where}[{json.dumps(key)}]", depth + 1)
            return
        code = sorted(_CODE_KEYS & set(value))
        if code:
            raise _code(where, f"a {code[0]!r} entry")
        if "class_name" in value:
            _scan_object(value, where)
        for key, item in value.items():
            if key != "shared_object_id":
                _scan(item, f"{where}.{key}", depth + 1)
    elif isinstance(value, list):
        for i, item in enumerate(value):
            _scan(item, _item(where, i, item), depth + 1)


def _item(where: str, index: int, item: Any) -> str:
    """Where an item of a list is: a layer by its name, anything else by its position."""
    if where.endswith(".layers") and isinstance(item, dict):
        name = item.get("name")
        if isinstance(name, str) and len(name) <= 100:
            return f"{where}[{name!r}]"
    return f"{where}[{index}]"


def _code(where: str, what: str) -> ModelFileError:
    return refuse(
        f"The model's configuration carries Python code or a function reference ({what} at "
        f"{where}); the studio never loads code from a model file."
    )


def _scan_object(obj: dict, where: str) -> None:
    name = obj["class_name"]
    if not isinstance(name, str):
        raise _bad(f"{where}.class_name", name, "a class name")
    if name in _CODE_CLASSES:
        raise _code(where, f"'class_name': {name!r}")
    if name == _TENSOR:
        _check_keys(obj, ("class_name", "config"), where, "a tensor")
        return
    if name == MODEL_CLASS:
        expected_module = MODEL_MODULE
    elif _known(name):
        expected_module = _spec(obj).module
    else:
        note = " Such layers can run code when the model is loaded." if name in _CODE_LAYERS else ""
        raise refuse(
            f"The model contains a {name!r} object (at {where}), which this studio does not "
            f"accept: it only loads models made of {', '.join(LAYERS)} layers, with its own "
            f"optimizers and losses.{note}"
        )
    if "module" in obj and obj["module"] != expected_module:
        module = json.dumps(obj["module"])[:80]
        outside = not (
            isinstance(obj["module"], str)
            and (obj["module"] == "keras" or obj["module"].startswith("keras."))
        )
        raise refuse(
            f"The model's configuration says {name!r} comes from the module {module} (at "
            f"{where}), "
            + ("outside Keras" if outside else f"where Keras writes {expected_module!r}")
            + "; a module named in a model file decides what code gets imported."
        )
    registered = obj.get("registered_name")
    if registered is not None and registered != name:
        raise refuse(
            f"The model's configuration registers {name!r} under the name "
            f"{json.dumps(registered)[:80]} (at {where}); Keras' own classes are registered "
            "under their class name, and any other registration is custom code."
        )
    if "shared_object_id" in obj and (
        name != "DTypePolicy" or not isinstance(obj["shared_object_id"], int)
    ):
        raise refuse(
            f"The model's configuration shares the {name!r} object at {where}; Keras shares "
            "only dtype policies, and a shared object could stand in for another."
        )


def check_model_config(config: Any, fmt: ModelFormat, limits: Limits) -> ModelFileInfo:
    if not isinstance(config, dict):
        raise refuse("The model's configuration is not a JSON object.")
    _scan(config, "model")
    if config.get("class_name") != MODEL_CLASS:
        raise refuse(
            f"The model is a {json.dumps(config.get('class_name'))[:60]} model; this studio "
            "saves functional models (keras.Model(inputs, outputs)) only."
        )
    optional = ("module", "registered_name", "build_config", "compile_config")
    _check_keys(config, ("class_name", "config"), "model", "the model", optional)
    build = config.get("build_config")
    if build is not None and build != {"input_shape": None}:
        raise _bad("model.build_config", build, '{"input_shape": null}')
    if config.get("compile_config") is not None:
        _check_compile_config(config["compile_config"], "model.compile_config")
    input_names, output_width, parameters = _check_graph(config["config"], fmt, limits)
    return ModelFileInfo(fmt, config, input_names, output_width, parameters)


def _compile_checks(optimizer_key: str) -> dict[str, Check]:
    """The compile settings Keras writes: in a .keras config the optimizer is under "optimizer",
    in an .h5 file's training_config under "optimizer_config"."""
    return {
        optimizer_key: _object("optimizer", none=True),
        "loss": _object("loss", none=True),
        "loss_weights": NULL,
        "metrics": _metrics,
        "weighted_metrics": _metrics,
        "run_eagerly": BOOL,
        "steps_per_execution": COUNT,
        "jit_compile": _literal(True, False),
    }


def _check_compile_config(compile_config: Any, where: str) -> None:
    allowed = _compile_checks("optimizer")
    if not isinstance(compile_config, dict):
        raise _bad(where, compile_config, "the compile settings")
    _check_keys(compile_config, allowed, where, "the compile settings")
    for key, check in allowed.items():
        check(compile_config[key], f"{where}.{key}")


def check_training_config(training: Any) -> None:
    allowed = _compile_checks("optimizer_config")
    if not isinstance(training, dict):
        raise _bad("training_config", training, "the compile settings")
    _scan(training, "training_config")
    _check_keys(training, allowed, "training_config", "the compile settings")
    for key, check in allowed.items():
        check(training[key], f"training_config.{key}")


def _metrics(value: Any, where: str) -> None:
    if value is None:
        return
    if not isinstance(value, list):
        raise _bad(where, value, "a list of metrics")
    for i, item in enumerate(value):
        _object("metric")(item, f"{where}[{i}]")


def _check_graph(config: Any, fmt: ModelFormat, limits: Limits) -> tuple[tuple[str, ...], int, int]:
    """Walk the layers in order, each tensor's width following from the layers before it."""
    where = "model.config"
    if not isinstance(config, dict):
        raise _bad(where, config, "the model's settings")
    allowed = ("name", "trainable", "layers", "input_layers", "output_layers")
    _check_keys(config, allowed, where, "the model")
    TEXT(config["name"], f"{where}.name")
    BOOL(config["trainable"], f"{where}.trainable")
    layers = config["layers"]
    if not isinstance(layers, list) or not 2 <= len(layers) <= MAX_LAYERS:
        raise _bad(f"{where}.layers", layers, f"a list of 2 to {MAX_LAYERS:,} layers")
    widths: dict[str, int] = {}
    inputs: set[str] = set()
    parameters = 0
    for i, layer in enumerate(layers):
        name, width, count = _check_layer(layer, _item(f"{where}.layers", i, layer), fmt, widths)
        if name in widths:
            raise refuse(f"The model has two layers named {name!r}; Keras names layers uniquely.")
        widths[name] = width
        if layer["class_name"] == "InputLayer":
            inputs.add(name)
        parameters += count
        if parameters > limits.max_parameters:
            raise refuse(
                f"The model declares more than {limits.max_parameters:,} parameters (layer "
                f"{name!r}, a {layer['class_name']} of width {width:,}, alone has {count:,}); "
                f"the studio accepts at most {limits.max_parameters:,}."
            )
    input_names = _input_names(config["input_layers"], f"{where}.input_layers", inputs)
    outputs = config["output_layers"]
    output = _history(outputs, f"{where}.output_layers", widths)
    if output is None and isinstance(outputs, list) and len(outputs) == 1:
        output = _history(outputs[0], f"{where}.output_layers[0]", widths)
    if output is None:
        raise _bad(f"{where}.output_layers", config["output_layers"], "one output layer")
    return input_names, widths[output], parameters


def _history(value: Any, where: str, known: dict[str, int] | set[str]) -> str | None:
    """The layer a [name, 0, 0] reference points to, or None if `value` is not one."""
    if (
        isinstance(value, list)
        and len(value) == 3
        and isinstance(value[0], str)
        and value[1:] == [0, 0]
        and not any(isinstance(v, bool) for v in value[1:])
    ):
        if value[0] not in known:
            raise refuse(f"The model's configuration refers to an unknown layer at {where}.")
        return value[0]
    return None


def _input_names(value: Any, where: str, inputs: set[str]) -> tuple[str, ...]:
    if isinstance(value, dict):
        items = list(value.items())
    elif isinstance(value, list):
        items = [(None, v) for v in value]
    else:
        raise _bad(where, value, "the model's inputs")
    names = []
    for key, reference in items:
        name = _history(reference, where, inputs)
        if name is None or (key is not None and key != name):
            raise _bad(where, reference, "a reference to an input layer")
        names.append(name)
    if not names or len(set(names)) != len(names):
        raise _bad(where, value, "each input once")
    return tuple(names)


def _check_layer(
    layer: Any, where: str, fmt: ModelFormat, widths: dict[str, int]
) -> tuple[str, int, int]:
    """Check one layer entry; returns its name, output width and parameter count."""
    if not isinstance(layer, dict) or layer.get("class_name") not in LAYERS:
        raise _bad(where, layer, "a layer")
    kind = layer["class_name"]
    optional = ("module", "registered_name", "build_config") if fmt == "keras" else ()
    _check_keys(layer, ("class_name", "config", "name", "inbound_nodes"), where, kind, optional)
    _check_config(layer, where)
    config = layer["config"]
    name = config["name"]
    if layer["name"] != name:
        raise _bad(f"{where}.name", layer["name"], json.dumps(name))
    incoming = _inbound(layer["inbound_nodes"], f"{where}.inbound_nodes", kind, widths)
    if "build_config" in layer:
        _check_build(layer["build_config"], f"{where}.build_config", kind, incoming)
    if kind == "InputLayer":
        return name, config["batch_shape"][1], 0
    width = sum(incoming) if kind == "Concatenate" else incoming[0]
    if kind == "Dense":
        units = config["units"]
        return name, units, width * units + (units if config["use_bias"] else 0)
    if kind == "BatchNormalization":
        return name, width, width * (2 + config["center"] + config["scale"])
    if kind == "Normalization":
        for key in ("mean", "variance"):
            if config[key] is not None and len(config[key]) != width:
                raise _bad(f"{where}.config.{key}", config[key], f"{width} numbers")
    if kind == "StringLookup":
        lookup = len(config["vocabulary"]) + config["num_oov_indices"]
        if config["vocabulary_size"] not in (None, lookup):
            raise _bad(f"{where}.config.vocabulary_size", config["vocabulary_size"], str(lookup))
        return name, lookup, 0
    return name, width, 0


def _inbound(nodes: Any, where: str, kind: str, widths: dict[str, int]) -> list[int]:
    """Widths of the tensors a layer is called on; each layer is called exactly once."""
    if kind == "InputLayer":
        if nodes != []:
            raise _bad(where, nodes, "[] for an input layer")
        return []
    if (
        not isinstance(nodes, list)
        or len(nodes) != 1
        or not isinstance(nodes[0], dict)
        or set(nodes[0]) != {"args", "kwargs"}
        or not isinstance(nodes[0]["args"], list)
        or len(nodes[0]["args"]) != 1
    ):
        raise _bad(where, nodes, "one call of the layer on its inputs")
    kwargs = nodes[0]["kwargs"]
    if not isinstance(kwargs, dict) or not all(
        key in ("mask", "training") and value in (None, True, False)
        for key, value in kwargs.items()
    ):
        raise _bad(f"{where}[0].kwargs", kwargs, "{}, a mask of null or a training flag")
    argument = nodes[0]["args"][0]
    tensors = argument if kind == "Concatenate" else [argument]
    if not isinstance(tensors, list) or not tensors:
        raise _bad(f"{where}[0].args", argument, "a list of tensors")
    return [_tensor(t, f"{where}[0].args[{i}]", widths) for i, t in enumerate(tensors)]


def _tensor(tensor: Any, where: str, widths: dict[str, int]) -> int:
    config = tensor.get("config") if isinstance(tensor, dict) else None
    if (
        not isinstance(config, dict)
        or tensor.get("class_name") != _TENSOR
        or set(config) != {"shape", "dtype", "keras_history"}
        or config["dtype"] not in ("float32", "string")
    ):
        raise _bad(where, tensor, "a tensor from an earlier layer")
    source = _history(config["keras_history"], f"{where}.config.keras_history", widths)
    if source is None:
        raise _bad(where, config["keras_history"], "a reference to an earlier layer")
    if config["shape"] != [None, widths[source]]:
        raise _bad(f"{where}.config.shape", config["shape"], f"[null, {widths[source]}]")
    return widths[source]


def _check_build(build: Any, where: str, kind: str, incoming: list[int]) -> None:
    shapes = [[None, w] for w in incoming]
    expected = [{}] if kind == "StringLookup" else []
    if kind == "Concatenate":
        expected.append({"input_shape": shapes})
    elif incoming:
        expected.append({"input_shape": shapes[0]})
    if build not in expected:
        raise _bad(where, build, " or ".join(json.dumps(e) for e in expected) or "nothing")
