"""Check a model file before Keras reads a byte of it: a stranger's upload must never run code.

Keras' `safe_mode` is a deny-list, and deserializing a config resolves and calls whatever Keras
objects it names. So a model file is accepted only when it looks exactly like what this studio
writes (`nncore.artifacts.export`): a functional model of InputLayer, Concatenate, Normalization,
StringLookup, Dense, BatchNormalization, Activation, Dropout and Rescaling layers, compiled with
one of the studio's optimizers and losses, its weights plain numbers stored inside the file.

`validate_model_file` checks, in order: the size; the format by its magic bytes (a `.keras` zip
or an HDF5 `.h5`), never by the file name; for `.keras`, the zip's members, names, sizes and
compression ratios; every object named anywhere in the config against an allow-list of classes,
modules and registered names; the layer graph, with the parameter count it implies; and every
HDF5 object (hard links only, no external or virtual storage, no data declared but not stored).
Only then may Keras load the file, with `compile=False, safe_mode=True`
(`nncore.artifacts.predict`).

No TensorFlow or Keras here: the server validates uploads with h5py, zipfile and json alone, and
`validate_in_subprocess` does it in a child process, so that a stranger's bytes reach libhdf5's
parser only where a crash or a runaway allocation costs nothing but that child.
"""

from nncore.artifacts.modelfile.allowlist import CLASSES, LAYERS, METRIC_CLASSES
from nncore.artifacts.modelfile.common import FIX, ModelFileInfo, ModelFormat
from nncore.artifacts.modelfile.container import (
    MAX_FILE_BYTES,
    MAX_PARAMETERS,
    validate_model_file,
)
from nncore.artifacts.modelfile.isolation import (
    CHECK_MEMORY_BYTES,
    CHECK_SECONDS,
    validate_in_subprocess,
)

__all__ = [
    "CHECK_MEMORY_BYTES",
    "CHECK_SECONDS",
    "CLASSES",
    "FIX",
    "LAYERS",
    "METRIC_CLASSES",
    "MAX_FILE_BYTES",
    "MAX_PARAMETERS",
    "ModelFileInfo",
    "ModelFormat",
    "validate_in_subprocess",
    "validate_model_file",
]
