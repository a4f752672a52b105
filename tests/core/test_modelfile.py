"""Model files are checked before Keras sees them: hostile files are refused, ours all load.

Every hostile file is built here, most by editing a real file the studio saved. Each refusal is
proved three ways: the message names the problem; the validator ran in a fresh Python without
Keras or TensorFlow ever being imported; and `nncore.artifacts.predict.load_model`, whose Keras
loader is
counted at its call site, never reached it. The Lambda files carry a payload that writes a
marker file when Keras builds the model; a control test shows the payload is live.
"""

import copy
import dataclasses
import functools
import io
import json
import os
import random
import shutil
import subprocess
import sys
import warnings
import zipfile
from collections import Counter
from pathlib import Path

import h5py
import keras
import numpy as np
import pytest
from frames import TARGETS, mixed_frame, tiny_experiment

from nncore import rules
from nncore.artifacts.modelfile import (
    CLASSES,
    LAYERS,
    MAX_PARAMETERS,
    METRIC_CLASSES,
    validate_in_subprocess,
    validate_model_file,
)
from nncore.artifacts.predict import load_model, load_schema, model_inputs, raw_outputs
from nncore.config import CompileSpec, LayerSpec, TrainSpec
from nncore.errors import ModelFileError
from nncore.run.pipeline import run_experiment

ROOT = Path(__file__).resolve().parents[2]

# (task, data settings, layers, compile settings): between them every layer type, optimizer,
# loss family and activation the studio offers, both scalings, with and without a target scale.
EXPORTS = {
    "regression-standard": (
        "regression",
        {"scaling": "standard"},
        (LayerSpec(12, "selu", dropout=0.2, l2=0.01, batch_norm=True), LayerSpec(6, "gelu")),
        CompileSpec(optimizer="adam", loss="huber"),
    ),
    "regression-none": (
        "regression",
        {"scaling": "none", "scale_target": False},
        (LayerSpec(8, "leaky_relu", l1=0.001), LayerSpec(4, "elu", batch_norm=True)),
        CompileSpec(optimizer="sgd", momentum=0.9, nesterov=True, loss="mae"),
    ),
    "binary-standard": (
        "binary",
        {"scaling": "standard"},
        (LayerSpec(10, "swish", dropout=0.3, batch_norm=True), LayerSpec(5, "tanh")),
        CompileSpec(optimizer="rmsprop", momentum=0.5),
    ),
    "multiclass-none": (
        "multiclass",
        {"scaling": "none"},
        (LayerSpec(10, "relu", dropout=0.1, batch_norm=True), LayerSpec(5, "sigmoid")),
        CompileSpec(optimizer="nadam", loss="categorical_crossentropy"),
    ),
    "multiclass-standard": (
        "multiclass",
        {"scaling": "standard"},
        (LayerSpec(6, "linear", dropout=0.2),),
        CompileSpec(optimizer="adamw"),
    ),
    "binary-none": (
        "binary",
        {"scaling": "none"},
        (LayerSpec(6, "relu", batch_norm=True),),
        CompileSpec(optimizer="adagrad"),
    ),
}


@pytest.fixture(scope="module")
def exports(tmp_path_factory):
    """Each export trained for a few epochs; frame and run result, by name."""
    runs = {}
    for name, (task, data, layers, compile_spec) in EXPORTS.items():
        frame = mixed_frame(n=120, task=task, seed=len(runs))
        experiment = dataclasses.replace(
            tiny_experiment(task, **data),
            layers=layers,
            compile=compile_spec,
            training=TrainSpec(epochs=3, batch_size=32),
        )
        runs[name] = (frame, run_experiment(frame, experiment, tmp_path_factory.mktemp(name)))
    return runs


@pytest.fixture(scope="module")
def studio_keras(exports) -> Path:
    return exports["regression-standard"][1].out_dir / "model.keras"


@pytest.fixture(scope="module")
def studio_h5(exports) -> Path:
    return exports["regression-standard"][1].out_dir / "model.h5"


@pytest.fixture
def marker(tmp_path) -> Path:
    return tmp_path / "payload-ran"


# --- the proof of a refusal -------------------------------------------------------------------

VALIDATE_ALONE = """
import json, sys
from nncore.errors import ModelFileError
from nncore.artifacts.modelfile import validate_model_file
try:
    validate_model_file(sys.argv[1], **json.loads(sys.argv[2]))
    message = None
except ModelFileError as exc:
    message = str(exc)
heavy = [m for m in ("keras", "tensorflow", "torch", "jax") if m in sys.modules]
print(json.dumps({"message": message, "imported": heavy}))
"""


def assert_refused(path: Path, expected: str, marker: Path, monkeypatch, **limits) -> str:
    """Refused in a fresh Python without Keras, and by load_model before its Keras call."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-c", VALIDATE_ALONE, str(path), json.dumps(limits)],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["imported"] == []
    message = report["message"]
    assert message is not None, f"{path.name} was accepted"
    assert expected in message
    assert message.endswith(".")

    calls = []
    monkeypatch.setattr(keras.saving, "load_model", lambda *a, **k: calls.append(a))
    if not limits:
        with pytest.raises(ModelFileError) as refused:
            load_model(path)
        assert str(refused.value) == message
    assert calls == []
    assert not marker.exists()
    return message


# --- hostile files, built from real ones ------------------------------------------------------


def lambda_model(marker: Path) -> keras.Model:
    """A model whose Lambda layer writes `marker` whenever Keras builds it."""
    payload = eval(f"lambda x: (open({str(marker)!r}, 'w').write('ran'), x)[1]")
    x1 = keras.Input(shape=(1,), name="x1")
    out = keras.layers.Dense(1, name="output")(keras.layers.Lambda(payload, name="evil")(x1))
    model = keras.Model({"x1": x1}, out)
    marker.unlink()  # building the model ran the payload once already
    return model


@pytest.fixture
def lambda_files(marker, tmp_path) -> dict[str, Path]:
    model = lambda_model(marker)
    paths = {"keras": tmp_path / "lambda.keras", "h5": tmp_path / "lambda.h5"}
    for path in paths.values():
        model.save(path)
    return paths


def zip_members(path: Path) -> list[tuple[str, bytes]]:
    with zipfile.ZipFile(path) as archive:
        return [(info.filename, archive.read(info)) for info in archive.infolist()]


def write_zip(path, members, compression=zipfile.ZIP_STORED):
    """A zip of (name or ZipInfo, bytes) members, duplicates and all."""
    with warnings.catch_warnings(), zipfile.ZipFile(path, "w", compression) as archive:
        warnings.simplefilter("ignore")  # zipfile warns of duplicate names; some tests want them
        for member, data in members:
            archive.writestr(member, data)
    return path


def edited_keras(source: Path, target: Path, edit) -> Path:
    """A copy of a .keras file with `edit(config)` applied to its config.json."""
    members = []
    for name, data in zip_members(source):
        if name == "config.json":
            config = json.loads(data)
            edit(config)
            data = json.dumps(config).encode()
        members.append((name, data))
    return write_zip(target, members)


def edited_h5(source: Path, target: Path, edit) -> Path:
    """A copy of a .h5 file with `edit(config)` applied to its model_config attribute."""
    shutil.copyfile(source, target)
    with h5py.File(target, "r+") as h5:
        config = json.loads(h5.attrs["model_config"])
        edit(config)
        h5.attrs["model_config"] = json.dumps(config)
    return target


def edited_weights(source: Path, target: Path, edit, tmp_path: Path) -> Path:
    """A copy of a .keras file with `edit(h5py.File)` applied to its model.weights.h5."""
    weights = tmp_path / "inner.weights.h5"
    members = []
    for name, data in zip_members(source):
        if name == "model.weights.h5":
            weights.write_bytes(data)
            with h5py.File(weights, "r+") as h5:
                edit(h5)
            data = weights.read_bytes()
        members.append((name, data))
    return write_zip(target, members)


def layer(config: dict, class_name: str) -> dict:
    return next(item for item in config["config"]["layers"] if item["class_name"] == class_name)


# --- the refusals -----------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["keras", "h5"])
def test_a_lambda_holding_python_code_is_refused_and_never_runs(
    fmt, lambda_files, marker, monkeypatch
):
    message = assert_refused(lambda_files[fmt], "'Lambda'", marker, monkeypatch)
    assert "can run code" in message


@pytest.mark.parametrize("fmt", ["keras", "h5"])
def test_the_lambda_payload_is_live_when_safety_is_off(fmt, lambda_files, marker):
    """The control that makes the refusals mean something: unguarded, the payload runs."""
    keras.saving.load_model(lambda_files[fmt], compile=False, safe_mode=False)
    assert marker.read_text() == "ran"


def test_a_lambda_naming_a_keras_function_is_refused(lambda_files, marker, tmp_path, monkeypatch):
    def name_a_function(config):
        layer(config, "Lambda")["config"]["function"] = {
            "module": "keras.ops",
            "class_name": "function",
            "config": "relu",
            "registered_name": None,
        }

    path = edited_keras(lambda_files["keras"], tmp_path / "ops.keras", name_a_function)
    assert_refused(path, "'Lambda'", marker, monkeypatch)


@pytest.mark.parametrize("fmt", ["keras", "h5"])
@pytest.mark.parametrize(
    ("trick", "expected"),
    [
        (
            lambda c: layer(c, "Activation")["config"].update(
                activation={"module": "keras.ops", "class_name": "function", "config": "relu"}
            ),
            "'class_name': 'function'",
        ),
        (
            lambda c: layer(c, "Activation")["config"].update(
                activation={"class_name": "__lambda__", "config": {"code": "AAAA"}}
            ),
            "'class_name': '__lambda__'",
        ),
        (
            lambda c: layer(c, "Dense")["config"].update(function="relu", function_type="raw"),
            "a 'function' entry",
        ),
        (lambda c: layer(c, "Dense").update(module="os"), "outside Keras"),
        (
            lambda c: layer(c, "Dense")["config"]["kernel_initializer"].update(module="builtins"),
            "outside Keras",
        ),
        (
            lambda c: layer(c, "Dense").update(module="keras.src.saving.serialization_lib"),
            "where Keras writes 'keras.layers'",
        ),
        (lambda c: layer(c, "Dense").update(registered_name="evil>Dense"), "registers 'Dense'"),
        (
            lambda c: layer(c, "Dropout")["config"]["dtype"].update(registered_name="x>Policy"),
            "registers 'DTypePolicy'",
        ),
        (lambda c: layer(c, "Dropout").update(class_name="TFSMLayer"), "'TFSMLayer'"),
        (lambda c: layer(c, "Dropout").update(class_name="TorchModuleWrapper"), "can run code"),
        (
            lambda c: layer(c, "Dense")["config"]["kernel_initializer"].update(shared_object_id=1),
            "kernel_initializer; Keras shares only dtype policies",
        ),
        (lambda c: layer(c, "Activation")["config"].update(activation="exponential"), "relu"),
        (
            lambda c: layer(c, "Dense")["config"].update(kernel_constraint="non_neg"),
            "kernel_constraint",
        ),
        (
            lambda c: layer(c, "StringLookup")["config"].update(vocabulary="/etc/passwd"),
            "a list of categories",
        ),
        (
            lambda c: layer(c, "Dense")["inbound_nodes"][0]["kwargs"].update(
                mask={"class_name": "TypeSpec", "config": {}}
            ),
            "'TypeSpec'",
        ),
        (lambda c: c.update(class_name="Sequential"), "'Sequential'"),
    ],
    ids=[
        "function-activation",
        "lambda-marker",
        "function-key",
        "module-os",
        "module-builtins",
        "module-keras-internal",
        "registered-name",
        "registered-name-nested",
        "tfsmlayer",
        "torch-wrapper",
        "shared-object",
        "activation",
        "constraint",
        "vocabulary-path",
        "typespec-in-call",
        "sequential",
    ],
)
def test_config_tricks_are_refused(
    fmt, trick, expected, studio_keras, studio_h5, marker, tmp_path, monkeypatch
):
    edit = edited_keras if fmt == "keras" else edited_h5
    path = edit(studio_keras if fmt == "keras" else studio_h5, tmp_path / f"m.{fmt}", trick)
    assert_refused(path, expected, marker, monkeypatch)


def test_a_trick_in_the_h5_training_config_is_refused(studio_h5, marker, tmp_path, monkeypatch):
    path = tmp_path / "m.h5"
    shutil.copyfile(studio_h5, path)
    with h5py.File(path, "r+") as h5:
        training = json.loads(h5.attrs["training_config"])
        training["optimizer_config"] = {"class_name": "function", "config": "exec"}
        h5.attrs["training_config"] = json.dumps(training)
    assert_refused(path, "'class_name': 'function' at training_config", marker, monkeypatch)


@pytest.mark.parametrize("fmt", ["keras", "h5"])
def test_a_dense_layer_of_three_billion_units_is_refused(
    fmt, studio_keras, studio_h5, marker, tmp_path, monkeypatch
):
    def huge(config):
        layer(config, "Dense")["config"]["units"] = 3_000_000_000

    edit = edited_keras if fmt == "keras" else edited_h5
    path = edit(studio_keras if fmt == "keras" else studio_h5, tmp_path / f"m.{fmt}", huge)
    message = assert_refused(path, "parameters", marker, monkeypatch)
    assert "'dense_1'" in message and f"at most {MAX_PARAMETERS:,}" in message


def test_a_build_config_that_disagrees_with_the_graph_is_refused(
    studio_keras, marker, tmp_path, monkeypatch
):
    """Keras builds each layer from its build_config: a huge input_shape there would allocate."""

    def wide(config):
        layer(config, "Dense")["build_config"]["input_shape"] = [None, 3_000_000_000]

    path = edited_keras(studio_keras, tmp_path / "m.keras", wide)
    assert_refused(path, "build_config", marker, monkeypatch)


def test_a_zip_bomb_is_refused(studio_keras, marker, tmp_path, monkeypatch):
    members = [(n, d) for n, d in zip_members(studio_keras) if n != "model.weights.h5"]
    members.append(("model.weights.h5", bytes(60 * 2**20)))
    path = write_zip(tmp_path / "bomb.keras", members, compression=zipfile.ZIP_DEFLATED)
    assert path.stat().st_size < 2**20
    assert_refused(path, "possible zip bomb", marker, monkeypatch)


def test_an_oversized_config_is_refused(studio_keras, marker, tmp_path, monkeypatch):
    members = [
        (n, d + b" " * (9 * 2**20) if n == "config.json" else d)
        for n, d in zip_members(studio_keras)
    ]
    path = write_zip(tmp_path / "big.keras", members)
    assert_refused(path, "'config.json' unpacks to 9.0 MB", marker, monkeypatch)


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("../evil.py", "points outside"),
        ("/tmp/evil.py", "points outside"),
        ("assets\\..\\evil.py", "points outside"),
        ("C:/evil.py", "points outside"),
        ("config.json", "more than once"),
        ("assets/vocabulary.txt", "it contains 'assets/vocabulary.txt'"),
        ("evil.py", "it contains 'evil.py'"),
    ],
)
def test_unexpected_zip_members_are_refused(
    name, expected, studio_keras, marker, tmp_path, monkeypatch
):
    members = [*zip_members(studio_keras), (zipfile.ZipInfo(name), b"print('hi')")]
    path = write_zip(tmp_path / "m.keras", members)
    assert_refused(path, expected, marker, monkeypatch)


def test_a_symlink_member_is_refused(studio_keras, marker, tmp_path, monkeypatch):
    link = zipfile.ZipInfo("model.weights.h5")
    link.create_system = 3
    link.external_attr = (0o120777) << 16
    members = [(n, d) for n, d in zip_members(studio_keras) if n != "model.weights.h5"]
    path = write_zip(tmp_path / "m.keras", [*members, (link, b"/etc/passwd")])
    assert_refused(path, "symbolic link 'model.weights.h5'", marker, monkeypatch)


def test_a_missing_member_is_refused(studio_keras, marker, tmp_path, monkeypatch):
    members = [(n, d) for n, d in zip_members(studio_keras) if n != "model.weights.h5"]
    path = write_zip(tmp_path / "m.keras", members)
    assert_refused(path, "it lacks model.weights.h5", marker, monkeypatch)


@pytest.mark.parametrize("fmt", ["keras", "h5"])
def test_truncated_files_are_refused(fmt, studio_keras, studio_h5, marker, tmp_path, monkeypatch):
    data = (studio_keras if fmt == "keras" else studio_h5).read_bytes()
    path = tmp_path / f"half.{fmt}"
    path.write_bytes(data[: len(data) // 2])
    assert_refused(path, "damaged or incomplete", marker, monkeypatch)


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"", "The model file is empty."),
        (b"hello, this is not a model\n" * 40, "neither a .keras archive (zip) nor an HDF5"),
        (np.random.default_rng(0).bytes(5000), "neither a .keras archive (zip) nor an HDF5"),
        (b"\x80\x04\x95" + bytes(100), "neither a .keras archive (zip) nor an HDF5"),  # pickle
        (b"PK\x03\x04" + bytes(100), "damaged or incomplete"),
    ],
    ids=["empty", "text", "random", "pickle", "zip-header-only"],
)
@pytest.mark.parametrize("suffix", [".keras", ".h5"])
def test_empty_and_garbage_files_are_refused(data, expected, suffix, marker, tmp_path, monkeypatch):
    path = tmp_path / f"upload{suffix}"
    path.write_bytes(data)
    assert_refused(path, expected, marker, monkeypatch)


def test_a_file_over_the_size_cap_is_refused(studio_h5, marker, monkeypatch):
    assert_refused(
        studio_h5, "accepts model files up to 1,000 bytes", marker, monkeypatch, max_bytes=1000
    )


def test_an_hdf5_file_with_a_zip_inside_is_refused(
    studio_h5, studio_keras, marker, tmp_path, monkeypatch
):
    path = tmp_path / "both.h5"
    path.write_bytes(studio_h5.read_bytes() + studio_keras.read_bytes())
    assert_refused(path, "zip archive inside", marker, monkeypatch)


def add_external_link(h5, tmp_path):
    h5["model_weights"]["evil"] = h5py.ExternalLink("/etc/passwd", "/")


def add_soft_link(h5, tmp_path):
    h5["model_weights"]["evil"] = h5py.SoftLink("/model_weights")


def add_external_storage(h5, tmp_path):
    (tmp_path / "outside.bin").write_bytes(bytes(16))
    h5.create_dataset("evil", shape=(4,), dtype="f4", external=[(tmp_path / "outside.bin", 0, 16)])


def add_virtual_dataset(h5, tmp_path):
    source = tmp_path / "source.h5"
    with h5py.File(source, "w") as other:
        other.create_dataset("data", data=np.arange(4, dtype="f4"))
    layout = h5py.VirtualLayout(shape=(4,), dtype="f4")
    layout[:] = h5py.VirtualSource(source, "data", shape=(4,))
    h5.create_virtual_dataset("evil", layout)


def add_unstored_dataset(h5, tmp_path):
    h5.create_dataset("evil", shape=(10**6,), dtype="f4")  # never written: no storage


def add_huge_dataset(h5, tmp_path):
    h5.create_dataset("evil", shape=(10**9,), dtype="f4")


def add_compressed_dataset(h5, tmp_path):
    h5.create_dataset("evil", data=np.zeros(100, "f4"), compression="gzip")


def add_second_link(h5, tmp_path):
    h5["model_weights"]["loop"] = h5["model_weights"]  # a hard link back to its parent


def add_text_dataset(h5, tmp_path):
    h5.create_dataset("evil", data=np.array([b"text"], dtype=object), dtype=h5py.string_dtype())


HDF5_TRICKS = {
    "external-link": (add_external_link, "external link"),
    "soft-link": (add_soft_link, "soft link"),
    "external-storage": (add_external_storage, "external files"),
    "virtual": (add_virtual_dataset, "virtual dataset"),
    "unstored": (add_unstored_dataset, "but stores 0"),
    "huge": (add_huge_dataset, "declares 1,000,000,000 values"),
    "compressed": (add_compressed_dataset, "compressed or filtered"),
    "cycle": (add_second_link, "linked more than once"),
    "text": (add_text_dataset, "other than numbers"),
}


@pytest.mark.parametrize("trick", list(HDF5_TRICKS))
def test_hdf5_tricks_in_an_h5_file_are_refused(trick, studio_h5, marker, tmp_path, monkeypatch):
    add, expected = HDF5_TRICKS[trick]
    path = tmp_path / "m.h5"
    shutil.copyfile(studio_h5, path)
    with h5py.File(path, "r+") as h5:
        if trick in ("external-link", "soft-link", "cycle"):
            add(h5, tmp_path)
        else:
            add(h5["model_weights"], tmp_path)
    assert_refused(path, expected, marker, monkeypatch)


@pytest.mark.parametrize("trick", ["external-link", "external-storage", "virtual", "unstored"])
def test_hdf5_tricks_inside_a_keras_file_are_refused(
    trick, studio_keras, marker, tmp_path, monkeypatch
):
    add, expected = HDF5_TRICKS[trick]

    def edit(h5):
        if trick == "external-link":
            h5["layers"]["evil"] = h5py.ExternalLink("/etc/passwd", "/")
        else:
            add(h5["layers"], tmp_path)

    path = edited_weights(studio_keras, tmp_path / "m.keras", edit, tmp_path)
    message = assert_refused(path, expected, marker, monkeypatch)
    assert "model.weights.h5" in message


def json_paths(value, path=()):
    yield path
    items = (
        value.items()
        if isinstance(value, dict)
        else enumerate(value)
        if isinstance(value, list)
        else ()
    )
    for key, item in items:
        yield from json_paths(item, (*path, key))


def test_any_mangled_config_is_accepted_or_refused_never_crashes(studio_keras):
    """Every value of the config, swapped for a value of another kind or removed: a refusal."""
    members = dict(zip_members(studio_keras))
    config = json.loads(members["config.json"])
    odd = [None, True, -1, 3_000_000_000, 1.5, "x", "function", [], {}, [None, 1]]
    odd += [{"class_name": "Dense"}, {"class_name": ["x"]}, {"class_name": "__keras_tensor__"}]
    rng = random.Random(0)
    outcomes = Counter()
    paths = list(json_paths(config))[1:]
    for path in rng.sample(paths, 150):
        for value in [*rng.sample(odd, 3), "remove"]:
            mangled = copy.deepcopy(config)
            *parents, last = path
            holder = functools.reduce(lambda node, key: node[key], parents, mangled)
            if value == "remove":
                del holder[last]
            else:
                holder[last] = value
            data = io.BytesIO()
            write_zip(data, {**members, "config.json": json.dumps(mangled).encode()}.items())
            try:
                validate_model_file(data.getvalue())
                outcomes["accepted"] += 1
            except ModelFileError:
                outcomes["refused"] += 1
    assert outcomes["refused"] > 500


# --- the positive control ---------------------------------------------------------------------


@pytest.mark.parametrize("name", list(EXPORTS))
@pytest.mark.parametrize("fmt", ["keras", "h5"])
def test_every_studio_export_is_accepted_and_predicts_as_before(name, fmt, exports):
    frame, result = exports[name]
    path = result.out_dir / f"model.{fmt}"
    schema = load_schema(result.out_dir / "schema.json")
    info = validate_model_file(path)
    assert validate_model_file(path.read_bytes()) == info
    assert info.format == fmt
    assert set(info.input_names) == set(schema.input_names)
    classes = len(schema.target.classes)
    assert info.output_width == (classes if schema.target.task == "multiclass" else 1)

    model = load_model(path, schema)
    assert info.parameters == model.count_params()
    rows = frame[frame[TARGETS[schema.target.task]].notna()].iloc[result.validation_rows]
    got = raw_outputs(model, model_inputs(rows, schema))
    np.testing.assert_allclose(got, result.output_val, rtol=0, atol=1e-6)


def test_a_model_named_for_the_other_format_loads_by_its_bytes(exports, tmp_path, monkeypatch):
    frame, result = exports["binary-standard"]
    schema = load_schema(result.out_dir / "schema.json")
    misnamed = tmp_path / "model.h5"
    shutil.copyfile(result.out_dir / "model.keras", misnamed)
    assert validate_model_file(misnamed).format == "keras"
    calls, keras_load = [], keras.saving.load_model

    def spy(path, **options):
        calls.append((Path(path).suffix, options))
        return keras_load(path, **options)

    monkeypatch.setattr(keras.saving, "load_model", spy)
    model = load_model(misnamed, schema)
    assert calls == [(".keras", {"compile": False, "safe_mode": True})]
    rows = frame[frame["label"].notna()].iloc[result.validation_rows]
    got = raw_outputs(model, model_inputs(rows, schema))
    np.testing.assert_allclose(got, result.output_val, rtol=0, atol=1e-6)


def test_the_allow_list_covers_every_setting_keras_writes_for_these_layers_and_rows():
    """When Keras adds a setting to one of our layers, this fails before users' files do."""
    inputs = keras.Input(shape=(1,), name="x", dtype="string")
    samples = {
        "Concatenate": keras.layers.Concatenate(),
        "Normalization": keras.layers.Normalization(mean=[0.0], variance=[1.0]),
        "StringLookup": keras.layers.StringLookup(vocabulary=["a"], output_mode="one_hot"),
        "Dense": keras.layers.Dense(2, kernel_regularizer=keras.regularizers.L1L2(l2=0.1)),
        "BatchNormalization": keras.layers.BatchNormalization(),
        "Activation": keras.layers.Activation("relu"),
        "Dropout": keras.layers.Dropout(0.1),
        "Rescaling": keras.layers.Rescaling(2.0, 1.0),
        "InputLayer": inputs._keras_history.operation,
    }
    assert set(samples) == set(LAYERS)
    for class_name, sample in samples.items():
        assert set(sample.get_config()) == set(CLASSES[class_name].config), class_name
    for row in rules.OPTIMIZERS.values():
        config = getattr(keras.optimizers, row.keras)().get_config()
        assert set(config) == set(CLASSES[row.keras].config), row.name
    for row in rules.LOSSES.values():
        config = getattr(keras.losses, row.keras)().get_config()
        assert set(config) == set(CLASSES[row.keras].config), row.name
    for name, keras_class in {c for row in rules.METRICS.values() for c in row.keras}:
        config = getattr(keras.metrics, keras_class)().get_config()
        assert set(config) == set(METRIC_CLASSES[keras_class].config), name


@pytest.mark.parametrize("fmt", ["keras", "h5"])
def test_the_check_in_a_child_process_gives_the_same_verdicts(fmt, exports, lambda_files):
    path = exports["multiclass-standard"][1].out_dir / f"model.{fmt}"
    assert validate_in_subprocess(path.read_bytes()) == validate_model_file(path)
    with pytest.raises(ModelFileError) as here:
        validate_model_file(lambda_files[fmt])
    with pytest.raises(ModelFileError) as there:
        validate_in_subprocess(lambda_files[fmt].read_bytes())
    assert str(there.value) == str(here.value)


def test_a_check_that_dies_or_hangs_is_a_refusal_and_the_caller_lives_on(studio_h5):
    data = studio_h5.read_bytes()
    # An address space too small for the parser: the child fails its allocations and ends.
    with pytest.raises(ModelFileError, match="the checking process ended abnormally"):
        validate_in_subprocess(data, memory_bytes=1 << 20)
    with pytest.raises(ModelFileError, match="Checking the model file took over 0.001 seconds"):
        validate_in_subprocess(data, timeout=0.001)
    assert validate_in_subprocess(data).format == "h5"


def test_a_missing_file_is_a_model_file_error(tmp_path):
    with pytest.raises(ModelFileError, match="Cannot read the model file nothing.keras"):
        validate_model_file(tmp_path / "nothing.keras")
