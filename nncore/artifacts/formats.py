"""A run's model as a TensorFlow SavedModel, a TFLite file or an ONNX file, each checked right
after it is written: in a fresh process, its predictions must equal the .keras model's within
1e-5 (float32), or the export is reported as failed.

Every format takes one (rows, 1) input per input of schema.json, numbers as float32 after the
step `nncore.artifacts.predict.model_inputs` does (missing numbers filled with the training
median, dates split into parts, a missing category written as "(missing)"). SavedModel and TFLite
carry the rest of the preprocessing, string lookups included. ONNX cannot (tf2onnx does not
convert Keras' string lookup tables), so its categorical inputs are one-hot blocks that
`onnx_inputs` makes. Importing this module loads no TensorFlow; exporting and checking do.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from nncore.artifacts.predict import load_model, load_schema, model_inputs, raw_outputs
from nncore.artifacts.runfiles import RunFiles
from nncore.data.schema import Schema
from nncore.errors import DataError, ModelFileError

TOLERANCE = 1e-5  # relative and absolute, float32
CHECK_ROWS = 256  # rows drawn from the schema when the run's table is not at hand
CHECK_SECONDS = 300  # a fresh process loads TensorFlow and both models: generous, bounded
ONNX_OPSET = 17
PREPARE = (
    "Before calling it, prepare each row as nncore.artifacts.predict.model_inputs does: fill a "
    "missing number with the training median (schema.json, numeric[].fill), split a date into "
    'the parts schema.json lists, write a missing category as "(missing)".'
)


@dataclass(frozen=True, slots=True)
class Format:
    name: str
    file_name: str  # the export's name in a run folder or a bundle
    takes: str  # what its inputs are and what the caller must do first


FORMATS = {
    "savedmodel": Format(
        "savedmodel",
        "savedmodel",
        "A TensorFlow SavedModel (TF Serving ready). Its signature serving_default takes one "
        "(rows, 1) tensor per input named in schema.json: numbers float32, categories strings. "
        + PREPARE,
    ),
    "tflite": Format(
        "tflite",
        "model.tflite",
        "A TFLite model. Its signature serving_default takes one (rows, 1) tensor per input "
        "named in schema.json: numbers float32, categories strings. " + PREPARE,
    ),
    "onnx": Format(
        "onnx",
        "model.onnx",
        "An ONNX model (opset 17). It takes one (rows, 1) float32 tensor per number input and, "
        "per category input, a float32 one-hot block (rows, categories + 1) whose first column "
        "stands for a category not seen in training: ONNX cannot carry the string lookup. "
        + PREPARE
        + " Then one-hot encode the categories as nncore.artifacts.formats.onnx_inputs does.",
    ),
}


def onnx_inputs(inputs: dict[str, np.ndarray], schema: Schema) -> dict[str, np.ndarray]:
    """`model_inputs`' arrays as the ONNX export takes them: categories one-hot, unseen first."""
    out = dict(inputs)
    for item in schema.categorical:
        values = inputs[item.name].reshape(-1)
        positions = {category: i + 1 for i, category in enumerate(item.categories)}
        index = np.array([positions.get(v, 0) for v in values], dtype=np.int64)
        out[item.name] = np.eye(len(item.categories) + 1, dtype=np.float32)[index]
    return out


def check_inputs(schema: Schema, rows=None, run_dir: str | Path | None = None, seed: int = 0):
    """The rows a check predicts on, as model inputs: the run's validation rows of `rows` (its
    table) when given, otherwise values drawn across each input's training range, every
    category, and one category never seen."""
    if rows is not None:
        with np.load(RunFiles(Path(run_dir)).validation, allow_pickle=False) as arrays:
            positions = arrays["validation_rows"]
        target = schema.target.name  # the split counts only the rows with a target
        labelled = rows[rows[target].notna()] if target in rows.columns else rows
        if len(positions) == 0 or positions.max() >= len(labelled):
            raise DataError(
                "This table is not the run's: its validation rows are not in it. Pass the "
                "table the run trained on, or leave --data out to check on drawn rows."
            )
        return model_inputs(labelled.iloc[positions], schema)
    rng = np.random.default_rng(seed)
    inputs = {}
    for item in schema.numeric:
        low, high = (item.minimum, item.maximum) if np.isfinite(item.minimum) else (0.0, 1.0)
        inputs[item.name] = rng.uniform(low, high, (CHECK_ROWS, 1)).astype(np.float32)
    for item in schema.categorical:
        choices = np.array([*item.categories, "[never seen]"])
        inputs[item.name] = rng.choice(choices, (CHECK_ROWS, 1))
    return inputs


def export(run_dir: str | Path, name: str, out: str | Path) -> Path:
    """Write the run's model in format `name` to `out` (TensorFlow loads here)."""
    files = RunFiles(Path(run_dir))
    schema = load_schema(files.schema)
    model = load_model(files.keras, schema)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    if name == "savedmodel":
        model.export(out, verbose=False)
    elif name == "tflite":
        import tensorflow as tf

        with tempfile.TemporaryDirectory() as tmp:
            model.export(tmp, verbose=False)
            out.write_bytes(tf.lite.TFLiteConverter.from_saved_model(tmp).convert())
    elif name == "onnx":
        _needs("tf2onnx")
        _needs("onnxruntime")  # to check it
        _write_onnx(_onehot_model(model, schema), out)
    else:
        raise DataError(f"No export format {name!r}. Use one of {', '.join(FORMATS)}.")
    return out


def _needs(module: str) -> None:
    import importlib.util

    if importlib.util.find_spec(module) is None:
        raise DataError(
            f"The ONNX export needs {module}, which is not installed: pip install -r "
            "requirements-deploy.txt"
        )


def _onehot_model(model, schema: Schema):
    """The portable `model` with one-hot blocks in for its string inputs, same layers after."""
    import keras

    inputs, parts = {}, []
    if schema.numeric:
        numbers = [keras.Input((1,), name=i.name, dtype="float32") for i in schema.numeric]
        inputs.update((i.name, t) for i, t in zip(schema.numeric, numbers, strict=True))
        x = numbers[0] if len(numbers) == 1 else model.get_layer("numbers")(numbers)
        if schema.scaling != "none":
            x = model.get_layer("scaling")(x)
        parts.append(x)
    for item in schema.categorical:
        width = len(item.categories) + 1
        inputs[item.name] = keras.Input((width,), name=item.name, dtype="float32")
        parts.append(inputs[item.name])
    x = parts[0] if len(parts) == 1 else model.get_layer("features")(parts)
    first = next(i for i, layer in enumerate(model.layers) if isinstance(layer, keras.layers.Dense))
    for layer in model.layers[first:]:  # a plain chain from the first Dense layer on
        x = layer(x)
    return keras.Model(inputs, x)


def _write_onnx(model, out: Path) -> None:
    import tensorflow as tf
    import tf2onnx
    from tensorflow.python.framework.convert_to_constants import (
        convert_variables_to_constants_v2,
    )

    names = [t.name.split(":")[0] for t in model.inputs]
    spec = [
        tf.TensorSpec((None, *t.shape[1:]), tf.float32, name=n)
        for n, t in zip(names, model.inputs, strict=True)
    ]
    for name in ("tensorflow", "tf2onnx"):  # deprecation notes about tf2onnx's own calls
        logging.getLogger(name).setLevel(logging.ERROR)
    call = tf.function(lambda *tensors: model(dict(zip(names, tensors, strict=True))))
    # Frozen first: tf2onnx takes the constants Keras' Normalization captures for inputs.
    frozen = convert_variables_to_constants_v2(call.get_concrete_function(*spec))
    output = frozen.outputs[0].name
    tf2onnx.convert.from_graph_def(
        frozen.graph.as_graph_def(),
        input_names=[f"{n}:0" for n in names],
        output_names=[output],
        opset=ONNX_OPSET,
        tensors_to_rename={**{f"{n}:0": n for n in names}, output: "output"},
        output_path=str(out),
    )


def _format_outputs(name: str, path: Path, inputs: dict[str, np.ndarray], schema: Schema):
    if name == "savedmodel":
        import tensorflow as tf

        served = tf.saved_model.load(str(path)).signatures["serving_default"]
        result = served(**{k: tf.constant(v) for k, v in inputs.items()})
        return next(iter(result.values())).numpy()
    if name == "tflite":
        import tensorflow as tf

        interpreter = tf.lite.Interpreter(model_path=str(path))
        result = interpreter.get_signature_runner()(**inputs)
        return next(iter(result.values()))
    import onnxruntime

    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(None, onnx_inputs(inputs, schema))[0]


def compare(run_dir: str | Path, name: str, path: str | Path, inputs_file: str | Path) -> dict:
    """The export's predictions beside the .keras model's on the inputs in `inputs_file`."""
    files = RunFiles(Path(run_dir))
    schema = load_schema(files.schema)
    with np.load(inputs_file, allow_pickle=False) as arrays:
        inputs = {k: arrays[k] for k in arrays.files}
    want = raw_outputs(load_model(files.keras, schema), inputs)
    got = np.asarray(_format_outputs(name, Path(path), inputs, schema)).reshape(want.shape)
    difference = np.abs(got.astype(np.float64) - want)
    # np.allclose's test with rtol = atol = TOLERANCE, as one number to show
    scaled = difference / (1.0 + np.abs(want))
    return {
        "format": name,
        "rows": len(want),
        "max_abs_difference": float(difference.max()),
        "max_scaled_difference": float(scaled.max()),
        "tolerance": TOLERANCE,
        "passed": bool(scaled.max() <= TOLERANCE),
    }


def verify(run_dir: str | Path, name: str, path: str | Path, inputs: dict[str, np.ndarray]) -> dict:
    """`compare` in a fresh Python process, so nothing of the exporting process helps."""
    path = Path(path)
    with tempfile.TemporaryDirectory() as tmp:
        inputs_file = Path(tmp) / "inputs.npz"
        np.savez(inputs_file, **inputs)
        root = str(Path(__file__).resolve().parents[2])
        env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")])),
            "TF_CPP_MIN_LOG_LEVEL": "2",
        }
        command = [sys.executable, "-m", "nncore.artifacts.formats"]
        command += [str(run_dir), name, str(path), str(inputs_file)]
        try:
            done = subprocess.run(
                command, capture_output=True, text=True, timeout=CHECK_SECONDS, env=env
            )
        except subprocess.TimeoutExpired:
            raise ModelFileError(
                f"Checking the {name} export took over {CHECK_SECONDS} s and was stopped. Try "
                "again when the machine is less busy."
            ) from None
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no message"])[-1][:300]
        raise ModelFileError(f"The {name} export could not be checked: {last}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def export_checked(run_dir: str | Path, name: str, out: str | Path, rows=None) -> dict:
    """`export`, then `verify` on the run's validation rows of `rows` (or drawn rows): the
    check, with what the export takes and what a caller must do first, also written beside
    the export as `<export>.check.json`."""
    schema = load_schema(RunFiles(Path(run_dir)).schema)
    inputs = check_inputs(schema, rows, run_dir)
    path = export(run_dir, name, out)
    check = verify(run_dir, name, path, inputs)
    check["takes"] = FORMATS[name].takes
    check_file(path).write_text(json.dumps(check, indent=2))
    return check


def check_file(path: str | Path) -> Path:
    path = Path(path)
    return path.with_name(path.name + ".check.json")


def in_words(check: dict) -> str:
    verdict = "passed" if check["passed"] else "FAILED"
    return (
        f"{check['format']} check {verdict}: on {check['rows']} rows, its predictions differ "
        f"from the .keras model's by at most {check['max_abs_difference']:.2g}, "
        f"{check['max_scaled_difference']:.2g} relative to 1 + |prediction| "
        f"(tolerance {check['tolerance']:g})"
    )


if __name__ == "__main__":
    print(json.dumps(compare(*sys.argv[1:5])))
