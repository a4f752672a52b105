"""Experiment files: a versioned JSON round trip, strict about every field and value."""

import json

import pytest

from nncore.config import (
    SCHEMA_VERSION,
    CompileSpec,
    DataSpec,
    Experiment,
    LayerSpec,
    TrainSpec,
)
from nncore.errors import ConfigError

EVERYTHING_CHANGED = Experiment(
    data=DataSpec(
        target="price",
        task="regression",
        scaling="robust",
        roles=(("zip", "categorical"), ("id", "ignore")),
        validation_fraction=0.25,
        test_fraction=0.1,
        scale_target=False,
    ),
    layers=(LayerSpec(64, "selu", 0.1, 0.001, 0.01, True), LayerSpec(8, "tanh")),
    compile=CompileSpec("sgd", 0.03, momentum=0.9, nesterov=True, loss="huber"),
    training=TrainSpec(
        epochs=7,
        batch_size=128,
        early_stopping=False,
        monitor="val_mae",
        patience=4,
        min_delta=0.01,
        restore_best_weights=False,
        reduce_lr_on_plateau=True,
        reduce_lr_factor=0.2,
        reduce_lr_patience=2,
        class_weight="balanced",
    ),
    seed=1234,
)


def saved(**changes) -> dict:
    raw = json.loads(EVERYTHING_CHANGED.to_json())
    for path, value in changes.items():
        *parents, name = path.split("__")
        node = raw
        for parent in parents:
            node = node[int(parent)] if parent.isdigit() else node[parent]
        if value is DELETE:
            del node[name]
        else:
            node[name] = value
    return raw


DELETE = object()


def test_every_setting_survives_the_file_and_the_version_comes_first():
    text = EVERYTHING_CHANGED.to_json()
    assert Experiment.from_json(text) == EVERYTHING_CHANGED
    assert Experiment.from_json(text.encode()) == EVERYTHING_CHANGED
    assert next(iter(json.loads(text))) == "schema_version"
    assert json.loads(text)["schema_version"] == SCHEMA_VERSION


@pytest.mark.parametrize(
    ("changes", "words"),
    [
        ({"colour": "red"}, ["unknown field 'colour'", "known fields are"]),
        ({"data__targte": "x"}, ["experiment.data", "unknown field 'targte'"]),
        ({"layers__0__unit": 5}, ["experiment.layers[0]", "unknown field 'unit'"]),
        ({"compile__optimizer": "adamax"}, ["experiment.compile.optimizer", "'adamax'", "'adam'"]),
        ({"layers__1__activation": "ReLU"}, ["'ReLU' is not one of", "'relu'"]),
        ({"data__scaling": "zscore"}, ["experiment.data.scaling", "'standard'"]),
        ({"training__epochs": 2.5}, ["experiment.training.epochs", "whole number"]),
        ({"training__early_stopping": "yes"}, ["true or false"]),
        ({"layers__0__dropout": 0.95}, ["dropout must be between 0.0 and 0.9"]),
        ({"compile__learning_rate": "fast"}, ["learning_rate", "expected a number"]),
        ({"data__roles": [["zip", "text"]]}, ["'text' is not one of"]),
        ({"seed": -1}, ["seed must be between"]),
    ],
)
def test_unknown_fields_and_values_are_refused_naming_the_field_and_the_choices(changes, words):
    with pytest.raises(ConfigError) as caught:
        Experiment.from_dict(saved(**changes))
    for word in words:
        assert word in str(caught.value)


@pytest.mark.parametrize(
    ("version", "words"),
    [
        (DELETE, ["schema_version is missing", "save the experiment again"]),
        (2, ["schema_version 2", "newer studio", "Update the studio"]),
        (0, ["must be 1", "got 0"]),
        ("1", ["must be 1", "got '1'"]),
        (True, ["must be 1", "got True"]),
    ],
)
def test_a_file_of_another_version_is_refused_saying_what_to_do(version, words):
    with pytest.raises(ConfigError) as caught:
        Experiment.from_dict(saved(schema_version=version))
    for word in words:
        assert word in str(caught.value)


@pytest.mark.parametrize("text", ["", "{", "[1, 2]", "null", b"\xff\xfe{"])
def test_a_file_that_is_not_an_experiment_is_refused(text):
    with pytest.raises(ConfigError):
        Experiment.from_json(text)


def test_columns_the_data_lacks_are_named():
    EVERYTHING_CHANGED.check_columns(["price", "zip", "id", "rooms"])
    with pytest.raises(ConfigError, match=r"target column 'price' is not in this data"):
        EVERYTHING_CHANGED.check_columns(["cost", "zip", "id"])
    with pytest.raises(ConfigError, match=r"sets roles for 'zip', which this data lacks"):
        EVERYTHING_CHANGED.check_columns(["price", "id"])
