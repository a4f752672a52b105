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

from __future__ import annotations

import dataclasses
import io
import json
import math
import os
import resource
import stat
import struct
import subprocess
import sys
import tempfile
import zipfile
import zlib
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Literal

import h5py
from h5py import h5a, h5d, h5i, h5l, h5o, h5t

from nncore import config
from nncore.errors import ModelFileError

MAX_FILE_BYTES = 200 * 2**20
# A network the studio trains has at most config.MAX_PARAMETERS; the saved model adds the input
# statistics (two numbers per numeric column), never more than twice the first layer's weights.
MAX_PARAMETERS = 3 * config.MAX_PARAMETERS
CHECK_SECONDS = 60
CHECK_MEMORY_BYTES = 1 << 30  # address space for the checking child
MAX_CONFIG_BYTES = 8 * 2**20  # config.json or model_config: vocabularies make it grow
MAX_METADATA_BYTES = 64 * 2**10
MAX_COMPRESSION_RATIO = 100  # checked for members over SMALL_MEMBER_BYTES
SMALL_MEMBER_BYTES = 64 * 2**10
MAX_CONFIG_DEPTH = 64
MAX_LAYERS = 10_000
MAX_COUNT = 1_000_000  # settings that size something: OOV indices, thresholds, steps
MAX_HDF5_OBJECTS = 100_000
MAX_HDF5_DEPTH = 32
MAX_HDF5_ATTRIBUTES = 64  # per object
MAX_ATTRIBUTE_ELEMENTS = 1_000_000

HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"
ZIP_SIGNATURE = b"PK\x03\x04"
_ZIP_END = b"PK\x05\x06"
_ZIP64_LOCATOR = b"PK\x06\x07"
_MAX_ZIP_DIRECTORY = 64 * 2**10
KERAS_MEMBERS = ("metadata.json", "config.json", "model.weights.h5")

# The studio's hidden-layer choices (nncore.config.ACTIVATIONS), silu (Keras' name for swish)
# and the output heads' sigmoid, softmax and linear.
ACTIVATIONS = frozenset(
    ("relu", "leaky_relu", "elu", "selu", "gelu", "swish", "silu", "tanh", "sigmoid", "linear")
    + ("softmax",)
)

FIX = "Upload the model.keras or model.h5 file this studio saved with the run."

ModelFormat = Literal["keras", "h5"]


@dataclass(frozen=True)
class ModelFileInfo:
    """What a valid model file holds, read without Keras."""

    format: ModelFormat
    config: dict  # the model's config as Keras will read it (config.json or model_config)
    input_names: tuple[str, ...]
    output_width: int
    parameters: int  # weights the model will allocate, as Keras' count_params() counts them


def validate_model_file(
    data: bytes | str | os.PathLike,
    *,
    max_bytes: int = MAX_FILE_BYTES,
    max_parameters: int = MAX_PARAMETERS,
) -> ModelFileInfo:
    """Check `data` (the file's bytes, or its path) before Keras sees it.

    Raises `ModelFileError` saying what was wrong and what to do, for the first problem found.
    """
    limits = _Limits(max_bytes, max_parameters)
    if isinstance(data, bytes | bytearray | memoryview):
        return _validate(io.BytesIO(bytes(data)), len(data), limits)
    path = Path(data)
    try:
        size = path.stat().st_size
        with path.open("rb") as file:
            return _validate(file, size, limits)
    except OSError as exc:
        raise ModelFileError(
            f"Cannot read the model file {path.name} ({exc.strerror or exc}). Check the path."
        ) from None


def validate_in_subprocess(
    data: bytes, *, timeout: float = CHECK_SECONDS, memory_bytes: int = CHECK_MEMORY_BYTES
) -> ModelFileInfo:
    """`validate_model_file(data)` in a child process with bounded time and address space."""
    with tempfile.TemporaryDirectory(prefix="nnstudio-check-") as folder:
        path = Path(folder) / "upload"
        path.write_bytes(data)
        try:
            done = subprocess.run(
                [sys.executable, "-m", "nncore.artifacts.modelfile", str(path), str(memory_bytes)],
                capture_output=True,
                timeout=timeout,
                cwd=Path(__file__).resolve().parents[2],  # where `-m nncore...` is found
            )
        except subprocess.TimeoutExpired:
            raise _refuse(f"Checking the model file took over {timeout:g} seconds.") from None
    if done.returncode == 0:
        fields = json.loads(done.stdout)
        return ModelFileInfo(**{**fields, "input_names": tuple(fields["input_names"])})
    if done.returncode == _REFUSED:
        raise ModelFileError(done.stderr.decode("utf-8", "replace").strip())
    raise _refuse(
        "The model file could not be checked: the checking process ended abnormally "
        f"(exit status {done.returncode}), as files built to attack the parser make it do."
    )


_REFUSED = 3  # the child's exit status for a refusal; its message is on stderr


def _check_main(path: str, memory_bytes: str) -> int:
    resource.setrlimit(resource.RLIMIT_AS, (int(memory_bytes), int(memory_bytes)))
    try:
        info = validate_model_file(path)
    except ModelFileError as exc:
        sys.stderr.write(str(exc))
        return _REFUSED
    json.dump(dataclasses.asdict(info), sys.stdout)
    return 0


@dataclass(frozen=True)
class _Limits:
    max_bytes: int
    max_parameters: int


def _refuse(problem: str, fix: str = FIX) -> ModelFileError:
    return ModelFileError(f"{problem} {fix}")


def _size(n: int) -> str:
    return f"{n / 2**20:,.1f} MB" if n >= 2**20 else f"{n:,} bytes"


def _validate(file: IO[bytes], size: int, limits: _Limits) -> ModelFileInfo:
    if size == 0:
        raise _refuse("The model file is empty.")
    if size > limits.max_bytes:
        raise _refuse(
            f"The model file is {_size(size)}; the studio accepts model files up to "
            f"{_size(limits.max_bytes)}."
        )
    kind = _sniff(file, size)
    if kind == "keras":
        return _validate_keras(file, size, limits)
    return _validate_h5(file, size, limits)


# --- the format, by magic bytes --------------------------------------------------------------


def _sniff(file: IO[bytes], size: int) -> ModelFormat:
    file.seek(0)
    if file.read(4) == ZIP_SIGNATURE:
        return "keras"
    offset = 0
    while offset + len(HDF5_SIGNATURE) <= size:
        file.seek(offset)
        if file.read(len(HDF5_SIGNATURE)) == HDF5_SIGNATURE:
            file.seek(0)
            # Keras picks its loader by the name and zipfile finds an archive at a file's end,
            # so a file that is both could be checked as one and loaded as the other.
            if zipfile.is_zipfile(file):
                raise _refuse(
                    "The file is an HDF5 file with a zip archive inside it, which no Keras save "
                    "produces."
                )
            return "h5"
        offset = 512 if offset == 0 else offset * 2  # where HDF5 looks for its signature
    raise _refuse(
        "This is not a Keras model file: it is neither a .keras archive (zip) nor an HDF5 "
        "(.h5) file."
    )


# --- .keras: the zip archive ------------------------------------------------------------------


def _validate_keras(file: IO[bytes], size: int, limits: _Limits) -> ModelFileInfo:
    damaged = "The .keras file is damaged or incomplete ({}). Upload the file again, or " + (
        "upload the model.h5 file saved beside it."
    )
    directory_offset = _check_zip_end(file, size, damaged)
    try:
        archive = zipfile.ZipFile(file)
        infos = archive.infolist()
    except (zipfile.BadZipFile, zlib.error, ValueError, OSError, EOFError, struct.error) as exc:
        raise ModelFileError(damaged.format(f"its zip directory cannot be read: {exc}")) from None
    _check_members(file, infos, directory_offset, limits)
    try:
        raw = {name: _read_member(archive, name) for name in KERAS_MEMBERS}
    except (zipfile.BadZipFile, zlib.error, ValueError, OSError, EOFError, struct.error) as exc:
        raise ModelFileError(damaged.format(f"a member cannot be unpacked: {exc}")) from None
    _check_metadata(_json(raw["metadata.json"], "metadata.json"))
    info = _check_model_config(_json(raw["config.json"], "config.json"), "keras", limits)
    weights = raw["model.weights.h5"]
    if not weights.startswith(HDF5_SIGNATURE):
        raise _refuse("The .keras member model.weights.h5 is not an HDF5 file.")
    _check_hdf5_bytes(weights, "the .keras member model.weights.h5", limits)
    return info


def _check_zip_end(file: IO[bytes], size: int, damaged: str) -> int:
    """Read the end-of-archive record before zipfile does, so a huge directory is never parsed."""
    # Keras writes no archive comment, so the record is the last 22 bytes: the one zipfile reads.
    tail_size = min(size, 42)
    file.seek(size - tail_size)
    tail = file.read(tail_size)
    at = len(tail) - 22
    if at < 0 or tail[at : at + 4] != _ZIP_END or tail[-2:] != b"\0\0":
        raise ModelFileError(damaged.format("the end of its zip directory is missing"))
    if at >= 20 and tail[at - 20 : at - 16] == _ZIP64_LOCATOR:
        raise _refuse(
            "The .keras archive uses the ZIP64 format, which Keras does not write for models of "
            "this size."
        )
    entries, directory_size, directory_offset = struct.unpack("<2xHII", tail[at + 8 : at + 20])
    if directory_offset + directory_size != size - 22:
        raise _refuse(
            "The .keras archive has data before its first member or between its members and "
            "its directory, which Keras never writes."
        )
    if entries > 16 or directory_size > _MAX_ZIP_DIRECTORY:
        raise _refuse(
            f"The .keras archive lists {entries} members in a {directory_size:,}-byte directory; "
            f"a .keras file from this studio holds exactly {', '.join(KERAS_MEMBERS)}."
        )
    return directory_offset


def _check_members(
    file: IO[bytes], infos: list[zipfile.ZipInfo], directory_offset: int, limits: _Limits
) -> None:
    for info in infos:
        name = info.orig_filename
        parts = name.replace("\\", "/").split("/")
        if (
            name.startswith(("/", "\\"))
            or "\\" in name
            or "\x00" in name
            or ".." in parts
            or (len(name) > 1 and name[1] == ":")
        ):
            raise _refuse(
                f"The .keras archive has a member named {name!r}, a path that points outside "
                "the archive (absolute, with '..', a drive or a backslash). Keras never writes "
                "such names."
            )
        mode = info.external_attr >> 16
        if info.create_system == 3 and stat.S_ISLNK(mode):
            raise _refuse(
                f"The .keras archive holds a symbolic link {name!r}; Keras never writes links."
            )
    counts = Counter(info.orig_filename for info in infos)
    twice = sorted(name for name, n in counts.items() if n > 1)
    if twice:
        raise _refuse(
            f"The .keras archive contains {twice[0]!r} more than once; Keras writes each member "
            "once, and which copy a reader takes is not defined."
        )
    names = set(counts)
    if names != set(KERAS_MEMBERS):
        extra = sorted(names - set(KERAS_MEMBERS))
        missing = [n for n in KERAS_MEMBERS if n not in names]
        problem = f"it contains {extra[0]!r}" if extra else f"it lacks {missing[0]}"
        raise _refuse(
            f"This is not a .keras model saved by this studio: {problem}. A .keras file from "
            f"this studio holds exactly {', '.join(KERAS_MEMBERS)}."
        )
    caps = {
        "metadata.json": MAX_METADATA_BYTES,
        "config.json": MAX_CONFIG_BYTES,
        "model.weights.h5": limits.max_bytes,
    }
    ends = []
    for info in infos:
        name = info.filename
        if info.flag_bits & 0x1:
            raise _refuse(f"The .keras member {name!r} is encrypted; Keras never encrypts.")
        if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
            raise _refuse(
                f"The .keras member {name!r} uses a compression method ({info.compress_type}) "
                "that Keras does not use; only stored and deflated members are accepted."
            )
        if (
            info.file_size > SMALL_MEMBER_BYTES
            and info.file_size > MAX_COMPRESSION_RATIO * info.compress_size
        ):
            ratio = info.file_size / max(info.compress_size, 1)
            raise _refuse(
                f"The .keras member {name!r} would expand {ratio:,.0f} times, from "
                f"{info.compress_size:,} to {info.file_size:,} bytes, beyond the "
                f"{MAX_COMPRESSION_RATIO}x limit: refusing a possible zip bomb."
            )
        if info.file_size > caps[name]:
            raise _refuse(
                f"The .keras member {name!r} unpacks to {_size(info.file_size)}; the "
                f"studio allows at most {_size(caps[name])} for it."
            )
        ends.append((info.header_offset, _member_end(file, info), name))
    # Members laid over one another are how zip bombs multiply their size without a big ratio.
    ends.sort()
    position = 0
    for start, end, name in ends:
        if start < position or end > directory_offset:
            raise _refuse(
                f"The .keras member {name!r} overlaps another member or the zip directory, "
                "which Keras never writes: refusing a possible zip bomb."
            )
        position = end


def _member_end(file: IO[bytes], info: zipfile.ZipInfo) -> int:
    file.seek(info.header_offset)
    header = file.read(30)
    if len(header) < 30 or header[:4] != ZIP_SIGNATURE:
        raise _refuse(f"The .keras file is damaged: member {info.filename!r} has no header.")
    name_length, extra_length = struct.unpack("<HH", header[26:30])
    return info.header_offset + 30 + name_length + extra_length + info.compress_size


def _read_member(archive: zipfile.ZipFile, name: str) -> bytes:
    with archive.open(name) as member:
        return member.read()  # the declared size was checked; zipfile stops there


def _json(raw: bytes | str, where: str) -> Any:
    try:
        return json.loads(raw)
    except (ValueError, RecursionError) as exc:  # JSONDecodeError and bad UTF-8 are ValueErrors
        raise _refuse(f"The model's {where} is not valid JSON ({str(exc)[:120]}).") from None


def _check_metadata(metadata: Any) -> None:
    if not isinstance(metadata, dict) or not all(
        key in ("keras_version", "date_saved") and isinstance(value, str)
        for key, value in metadata.items()
    ):
        raise _refuse(
            "The .keras member metadata.json is not what Keras writes (an object with "
            "keras_version and date_saved)."
        )


# --- .h5: the legacy HDF5 file ----------------------------------------------------------------


def _validate_h5(file: IO[bytes], size: int, limits: _Limits) -> ModelFileInfo:
    file.seek(0)
    with _open_hdf5(file, "the .h5 file") as h5:
        _check_hdf5(h5, "the .h5 file", size, limits)
        raw = h5.attrs.get("model_config")
        if raw is None:
            raise _refuse(
                "The .h5 file holds no model (no model_config); it may hold weights only."
            )
        if isinstance(raw, bytes):
            raw = raw.decode("utf-8", errors="replace")
        if not isinstance(raw, str):
            raise _refuse("The .h5 file's model_config is not text.")
        if len(raw) > MAX_CONFIG_BYTES:
            raise _refuse(
                f"The .h5 file's model_config is {_size(len(raw))}; the studio allows at "
                f"most {_size(MAX_CONFIG_BYTES)}."
            )
        config = _json(raw, "model_config")
        info = _check_model_config(config, "h5", limits)
        training = h5.attrs.get("training_config")
        if training is not None:
            if isinstance(training, bytes):
                training = training.decode("utf-8", errors="replace")
            if not isinstance(training, str) or len(training) > MAX_CONFIG_BYTES:
                raise _refuse("The .h5 file's training_config is not what Keras writes.")
            _check_training_config(_json(training, "training_config"))
        return info


def _open_hdf5(file: IO[bytes], label: str) -> h5py.File:
    try:
        return h5py.File(file, "r")
    except Exception as exc:  # h5py raises OSError and others for bytes it cannot parse
        raise _refuse(
            f"{label[0].upper()}{label[1:]} is damaged or incomplete: HDF5 cannot open it "
            f"({str(exc).splitlines()[0][:120]}).",
            "Upload the file again, or the model.keras file saved beside it.",
        ) from None


def _check_hdf5_bytes(data: bytes, label: str, limits: _Limits) -> None:
    with _open_hdf5(io.BytesIO(data), label) as h5:
        _check_hdf5(h5, label, len(data), limits)


def _check_hdf5(h5: h5py.File, label: str, size: int, limits: _Limits) -> None:
    """Walk every object with the low-level API; no dataset's data is read."""
    walk = _HDF5Walk(label, size, limits)
    try:
        walk.object(h5.id, "/")
        walk.group(h5.id, "/")
    except ModelFileError:
        raise
    except Exception as exc:  # a damaged object table surfaces as various h5py errors
        raise _refuse(
            f"{label[0].upper()}{label[1:]} is damaged: {str(exc).splitlines()[0][:120]}."
        ) from None


class _HDF5Walk:
    def __init__(self, label: str, size: int, limits: _Limits) -> None:
        self.label, self.size, self.limits = label, size, limits
        self.objects = 0
        self.data_bytes = 0

    def refuse(self, problem: str) -> ModelFileError:
        return _refuse(f"In {self.label}, {problem}")

    def group(self, group: h5py.h5g.GroupID, path: str, depth: int = 0) -> None:
        if depth > MAX_HDF5_DEPTH:
            raise self.refuse(f"groups are nested more than {MAX_HDF5_DEPTH} deep at {path!r}.")
        for raw_name in group:
            name = raw_name.decode("utf-8", errors="replace")
            where = f"{path.rstrip('/')}/{name}"
            link = group.links.get_info(raw_name).type
            if link == h5l.TYPE_SOFT:
                raise self.refuse(f"{where!r} is a soft link; Keras writes hard links only.")
            if link == h5l.TYPE_EXTERNAL:
                raise self.refuse(
                    f"{where!r} is an external link to another file; Keras never writes "
                    "those, and following one would read files on this server."
                )
            if link != h5l.TYPE_HARD:
                raise self.refuse(
                    f"{where!r} is a user-defined link; Keras writes hard links only."
                )
            self.objects += 1
            if self.objects > MAX_HDF5_OBJECTS:
                raise self.refuse(f"there are more than {MAX_HDF5_OBJECTS:,} objects.")
            child = h5o.open(group, raw_name)
            self.object(child, where)
            kind = h5i.get_type(child)
            if kind == h5i.GROUP:
                self.group(child, where, depth + 1)
            elif kind == h5i.DATASET:
                self.dataset(child, where)
            else:
                raise self.refuse(f"{where!r} is a stored datatype, which Keras never writes.")

    def object(self, obj, where: str) -> None:
        # A second hard link to an object is how a file loops back on itself.
        if h5o.get_info(obj).rc != 1:
            raise self.refuse(f"{where!r} is linked more than once; Keras links each object once.")
        count = h5a.get_num_attrs(obj)
        if count > MAX_HDF5_ATTRIBUTES:
            raise self.refuse(f"{where!r} has {count} attributes; Keras writes a few.")
        for index in range(count):
            attribute = h5a.open(obj, index=index)
            name = attribute.name.decode("utf-8", errors="replace")
            kind = attribute.get_type().get_class()
            if kind not in (h5t.STRING, h5t.INTEGER, h5t.FLOAT):
                raise self.refuse(
                    f"the attribute {name!r} of {where!r} is of a kind Keras never writes "
                    "(only text and numbers are accepted)."
                )
            if math.prod(attribute.shape or ()) > MAX_ATTRIBUTE_ELEMENTS:
                raise self.refuse(f"the attribute {name!r} of {where!r} is too large.")

    def dataset(self, dataset: h5py.h5d.DatasetID, where: str) -> None:
        plist = dataset.get_create_plist()
        if plist.get_layout() == h5d.VIRTUAL:
            raise self.refuse(
                f"{where!r} is a virtual dataset, which maps data from other files; Keras "
                "never writes those."
            )
        if plist.get_external_count() > 0:
            raise self.refuse(
                f"{where!r} keeps its data in external files; Keras stores weights inside the "
                "file, and reading those would read files on this server."
            )
        if plist.get_nfilters() > 0:
            raise self.refuse(
                f"{where!r} is compressed or filtered; Keras stores weights uncompressed."
            )
        datatype = dataset.get_type()
        if datatype.get_class() not in (h5t.INTEGER, h5t.FLOAT):
            raise self.refuse(f"{where!r} holds something other than numbers.")
        elements = math.prod(dataset.shape or ())
        declared = elements * datatype.get_size()
        if elements > self.limits.max_parameters:
            raise self.refuse(
                f"{where!r} declares {elements:,} values; the studio accepts at most "
                f"{self.limits.max_parameters:,} parameters."
            )
        stored = dataset.get_storage_size()
        if declared > stored:
            raise self.refuse(
                f"{where!r} declares {declared:,} bytes of data but stores {stored:,}; Keras "
                "stores every weight it writes, and reading the rest would fill memory."
            )
        self.data_bytes += declared
        if self.data_bytes > self.size:
            raise self.refuse("the datasets declare more data than the file holds.")


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
    return _refuse(
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
        raise _refuse(
            f"The model uses the activation {json.dumps(value)[:80]} at {where}; the studio "
            f"accepts only {', '.join(sorted(ACTIVATIONS))}."
        )


def _object(kind: str, none: bool = False) -> Check:
    def check(value: Any, where: str) -> None:
        if value is None and none:
            return
        name = value.get("class_name") if isinstance(value, dict) else None
        if not isinstance(name, str) or name not in CLASSES or _spec(value).kind != kind:
            raise _bad(where, value, f"a Keras {kind}")
        shared = ("shared_object_id",) if value["class_name"] == "DTypePolicy" else ()
        _check_keys(value, ("class_name", "config"), where, value["class_name"], _OPTIONAL + shared)
        _check_config(value, where)

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
    "SGD": _Class(
        "keras.optimizers", "optimizer", {**_OPTIMIZER, "momentum": NUMBER, "nesterov": BOOL}
    ),
    "Adam": _Class("keras.optimizers", "optimizer", {**_OPTIMIZER, **_ADAM}),
    "AdamW": _Class("keras.optimizers", "optimizer", {**_OPTIMIZER, **_ADAM}),
    "RMSprop": _Class(
        "keras.optimizers",
        "optimizer",
        {**_OPTIMIZER, "rho": NUMBER, "momentum": NUMBER, "epsilon": NUMBER, "centered": BOOL},
    ),
    "Adagrad": _Class(
        "keras.optimizers",
        "optimizer",
        {**_OPTIMIZER, "initial_accumulator_value": NUMBER, "epsilon": NUMBER},
    ),
    "Nadam": _Class(
        "keras.optimizers",
        "optimizer",
        {**_OPTIMIZER, "beta_1": NUMBER, "beta_2": NUMBER, "epsilon": NUMBER},
    ),
    "MeanSquaredError": _Class("keras.losses", "loss", _LOSS),
    "MeanAbsoluteError": _Class("keras.losses", "loss", _LOSS),
    "Huber": _Class("keras.losses", "loss", _LOSS),
    "BinaryCrossentropy": _Class("keras.losses", "loss", {**_LOSS, **_CROSSENTROPY}),
    "CategoricalCrossentropy": _Class("keras.losses", "loss", {**_LOSS, **_CROSSENTROPY}),
    "SparseCategoricalCrossentropy": _Class(
        "keras.losses",
        "loss",
        {**_LOSS, "from_logits": BOOL, "ignore_class": _typed("a class", _is_number, True)},
    ),
    # The metrics `nncore.learn.model.make_metrics` compiles the training network with.
    "RootMeanSquaredError": _Class("keras.metrics", "metric", _METRIC),
    "BinaryAccuracy": _Class("keras.metrics", "metric", {**_METRIC, "threshold": NUMBER}),
    "AUC": _Class(
        "keras.metrics",
        "metric",
        {
            **_METRIC,
            "num_thresholds": COUNT,
            "curve": _literal("ROC", "PR"),
            "summation_method": _literal("interpolation", "minoring", "majoring"),
            "multi_label": BOOL,
            "num_labels": OPT_COUNT,
            "label_weights": NULL,
            "from_logits": BOOL,
        },
    ),
    "CategoricalAccuracy": _Class("keras.metrics", "metric", _METRIC),
    "SparseCategoricalAccuracy": _Class("keras.metrics", "metric", _METRIC),
}
# MeanAbsoluteError is both a loss and a metric; the module tells them apart.
_METRIC_MAE = _Class("keras.metrics", "metric", _METRIC)

MODEL_CLASS, MODEL_MODULE = "Functional", "keras.src.models.functional"
_TENSOR = "__keras_tensor__"
# Keys and class names that carry code or functions in Keras' formats, old and new.
_CODE_KEYS = frozenset({"function", "function_type", "__lambda__", "__python_function__"})
_CODE_CLASSES = frozenset({"function", "__lambda__", "__python_function__"})
_CODE_LAYERS = frozenset({"Lambda", "TFSMLayer", "TorchModuleWrapper", "JaxLayer", "FlaxLayer"})
_OPTIONAL = ("module", "registered_name")  # absent in the objects of a legacy .h5


def _check_config(obj: dict, where: str) -> None:
    """An allowed object's header was checked by the scan; check its config's keys and values."""
    spec = _spec(obj)
    config = obj.get("config")
    if not isinstance(config, dict):
        raise _bad(f"{where}.config", config, "a settings object")
    _check_keys(config, spec.config, f"{where}.config", obj["class_name"])
    for key, check in spec.config.items():
        check(config[key], f"{where}.config.{key}")


def _spec(obj: dict) -> _Class:
    if obj["class_name"] == "MeanAbsoluteError" and obj.get("module") == "keras.metrics":
        return _METRIC_MAE
    return CLASSES[obj["class_name"]]


def _check_keys(value: dict, required: Any, where: str, what: str, optional: Any = ()) -> None:
    keys = set(value)
    extra = sorted(keys - set(required) - set(optional))
    if extra:
        raise _refuse(
            f"The model's configuration gives {what} a setting {extra[0]!r} at {where}, which "
            "this studio never writes."
        )
    missing = sorted(set(required) - keys)
    if missing:
        raise _refuse(
            f"The model's configuration lacks the setting {missing[0]!r} of {what} at {where}."
        )


def _scan(value: Any, where: str, depth: int = 0) -> None:
    """Every object named anywhere must be an allowed class from Keras itself; no code at all."""
    if depth > MAX_CONFIG_DEPTH:
        raise _refuse(f"The model's configuration is nested too deeply (at {where}).")
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
    return _refuse(
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
    elif name in CLASSES:
        expected_module = _spec(obj).module
    else:
        note = " Such layers can run code when the model is loaded." if name in _CODE_LAYERS else ""
        raise _refuse(
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
        raise _refuse(
            f"The model's configuration says {name!r} comes from the module {module} (at "
            f"{where}), "
            + ("outside Keras" if outside else f"where Keras writes {expected_module!r}")
            + "; a module named in a model file decides what code gets imported."
        )
    registered = obj.get("registered_name")
    if registered is not None and registered != name:
        raise _refuse(
            f"The model's configuration registers {name!r} under the name "
            f"{json.dumps(registered)[:80]} (at {where}); Keras' own classes are registered "
            "under their class name, and any other registration is custom code."
        )
    if "shared_object_id" in obj and (
        name != "DTypePolicy" or not isinstance(obj["shared_object_id"], int)
    ):
        raise _refuse(
            f"The model's configuration shares the {name!r} object at {where}; Keras shares "
            "only dtype policies, and a shared object could stand in for another."
        )


def _check_model_config(config: Any, fmt: ModelFormat, limits: _Limits) -> ModelFileInfo:
    if not isinstance(config, dict):
        raise _refuse("The model's configuration is not a JSON object.")
    _scan(config, "model")
    if config.get("class_name") != MODEL_CLASS:
        raise _refuse(
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


def _check_training_config(training: Any) -> None:
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


def _check_graph(
    config: Any, fmt: ModelFormat, limits: _Limits
) -> tuple[tuple[str, ...], int, int]:
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
            raise _refuse(f"The model has two layers named {name!r}; Keras names layers uniquely.")
        widths[name] = width
        if layer["class_name"] == "InputLayer":
            inputs.add(name)
        parameters += count
        if parameters > limits.max_parameters:
            raise _refuse(
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
            raise _refuse(f"The model's configuration refers to an unknown layer at {where}.")
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


if __name__ == "__main__":
    sys.exit(_check_main(*sys.argv[1:]))
