"""The file around the model: its size, its format by magic bytes, a `.keras` zip's members,
and every object of an HDF5 file; the config inside goes to `allowlist`."""

from __future__ import annotations

import io
import json
import math
import os
import stat
import struct
import zipfile
import zlib
from collections import Counter
from pathlib import Path
from typing import IO, Any

import h5py
from h5py import h5a, h5d, h5i, h5l, h5o, h5t

from nncore import config, rules
from nncore.artifacts.modelfile.allowlist import check_model_config, check_training_config
from nncore.artifacts.modelfile.common import (
    Limits,
    ModelFileInfo,
    ModelFormat,
    refuse,
    size_text,
)
from nncore.errors import ModelFileError

MAX_FILE_BYTES = rules.MODEL_FILE_BYTES.value()
# A network the studio trains has at most config.MAX_PARAMETERS; the saved model adds the input
# statistics (two numbers per numeric column), never more than twice the first layer's weights.
MAX_PARAMETERS = 3 * config.MAX_PARAMETERS
MAX_CONFIG_BYTES = 8 * 2**20  # config.json or model_config: vocabularies make it grow
MAX_METADATA_BYTES = 64 * 2**10
MAX_COMPRESSION_RATIO = 100  # checked for members over SMALL_MEMBER_BYTES
SMALL_MEMBER_BYTES = 64 * 2**10
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


def validate_model_file(
    data: bytes | str | os.PathLike,
    *,
    max_bytes: int = MAX_FILE_BYTES,
    max_parameters: int = MAX_PARAMETERS,
) -> ModelFileInfo:
    """Check `data` (the file's bytes, or its path) before Keras sees it.

    Raises `ModelFileError` saying what was wrong and what to do, for the first problem found.
    """
    limits = Limits(max_bytes, max_parameters)
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


def _validate(file: IO[bytes], size: int, limits: Limits) -> ModelFileInfo:
    if size == 0:
        raise refuse("The model file is empty.")
    if size > limits.max_bytes:
        raise refuse(
            f"The model file is {size_text(size)}; the studio accepts model files up to "
            f"{size_text(limits.max_bytes)}."
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
                raise refuse(
                    "The file is an HDF5 file with a zip archive inside it, which no Keras save "
                    "produces."
                )
            return "h5"
        offset = 512 if offset == 0 else offset * 2  # where HDF5 looks for its signature
    raise refuse(
        "This is not a Keras model file: it is neither a .keras archive (zip) nor an HDF5 "
        "(.h5) file."
    )


# --- .keras: the zip archive ------------------------------------------------------------------


def _validate_keras(file: IO[bytes], size: int, limits: Limits) -> ModelFileInfo:
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
    info = check_model_config(_json(raw["config.json"], "config.json"), "keras", limits)
    weights = raw["model.weights.h5"]
    if not weights.startswith(HDF5_SIGNATURE):
        raise refuse("The .keras member model.weights.h5 is not an HDF5 file.")
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
        raise refuse(
            "The .keras archive uses the ZIP64 format, which Keras does not write for models of "
            "this size."
        )
    entries, directory_size, directory_offset = struct.unpack("<2xHII", tail[at + 8 : at + 20])
    if directory_offset + directory_size != size - 22:
        raise refuse(
            "The .keras archive has data before its first member or between its members and "
            "its directory, which Keras never writes."
        )
    if entries > 16 or directory_size > _MAX_ZIP_DIRECTORY:
        raise refuse(
            f"The .keras archive lists {entries} members in a {directory_size:,}-byte directory; "
            f"a .keras file from this studio holds exactly {', '.join(KERAS_MEMBERS)}."
        )
    return directory_offset


def _check_members(
    file: IO[bytes], infos: list[zipfile.ZipInfo], directory_offset: int, limits: Limits
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
            raise refuse(
                f"The .keras archive has a member named {name!r}, a path that points outside "
                "the archive (absolute, with '..', a drive or a backslash). Keras never writes "
                "such names."
            )
        mode = info.external_attr >> 16
        if info.create_system == 3 and stat.S_ISLNK(mode):
            raise refuse(
                f"The .keras archive holds a symbolic link {name!r}; Keras never writes links."
            )
    counts = Counter(info.orig_filename for info in infos)
    twice = sorted(name for name, n in counts.items() if n > 1)
    if twice:
        raise refuse(
            f"The .keras archive contains {twice[0]!r} more than once; Keras writes each member "
            "once, and which copy a reader takes is not defined."
        )
    names = set(counts)
    if names != set(KERAS_MEMBERS):
        extra = sorted(names - set(KERAS_MEMBERS))
        missing = [n for n in KERAS_MEMBERS if n not in names]
        problem = f"it contains {extra[0]!r}" if extra else f"it lacks {missing[0]}"
        raise refuse(
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
            raise refuse(f"The .keras member {name!r} is encrypted; Keras never encrypts.")
        if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
            raise refuse(
                f"The .keras member {name!r} uses a compression method ({info.compress_type}) "
                "that Keras does not use; only stored and deflated members are accepted."
            )
        if (
            info.file_size > SMALL_MEMBER_BYTES
            and info.file_size > MAX_COMPRESSION_RATIO * info.compress_size
        ):
            ratio = info.file_size / max(info.compress_size, 1)
            raise refuse(
                f"The .keras member {name!r} would expand {ratio:,.0f} times, from "
                f"{info.compress_size:,} to {info.file_size:,} bytes, beyond the "
                f"{MAX_COMPRESSION_RATIO}x limit: refusing a possible zip bomb."
            )
        if info.file_size > caps[name]:
            raise refuse(
                f"The .keras member {name!r} unpacks to {size_text(info.file_size)}; the "
                f"studio allows at most {size_text(caps[name])} for it."
            )
        ends.append((info.header_offset, _member_end(file, info), name))
    # Members laid over one another are how zip bombs multiply their size without a big ratio.
    ends.sort()
    position = 0
    for start, end, name in ends:
        if start < position or end > directory_offset:
            raise refuse(
                f"The .keras member {name!r} overlaps another member or the zip directory, "
                "which Keras never writes: refusing a possible zip bomb."
            )
        position = end


def _member_end(file: IO[bytes], info: zipfile.ZipInfo) -> int:
    file.seek(info.header_offset)
    header = file.read(30)
    if len(header) < 30 or header[:4] != ZIP_SIGNATURE:
        raise refuse(f"The .keras file is damaged: member {info.filename!r} has no header.")
    name_length, extra_length = struct.unpack("<HH", header[26:30])
    return info.header_offset + 30 + name_length + extra_length + info.compress_size


def _read_member(archive: zipfile.ZipFile, name: str) -> bytes:
    with archive.open(name) as member:
        return member.read()  # the declared size was checked; zipfile stops there


def _json(raw: bytes | str, where: str) -> Any:
    try:
        return json.loads(raw)
    except (ValueError, RecursionError) as exc:  # JSONDecodeError and bad UTF-8 are ValueErrors
        raise refuse(f"The model's {where} is not valid JSON ({str(exc)[:120]}).") from None


def _check_metadata(metadata: Any) -> None:
    if not isinstance(metadata, dict) or not all(
        key in ("keras_version", "date_saved") and isinstance(value, str)
        for key, value in metadata.items()
    ):
        raise refuse(
            "The .keras member metadata.json is not what Keras writes (an object with "
            "keras_version and date_saved)."
        )


# --- .h5: the legacy HDF5 file ----------------------------------------------------------------


def _validate_h5(file: IO[bytes], size: int, limits: Limits) -> ModelFileInfo:
    file.seek(0)
    with _open_hdf5(file, "the .h5 file") as h5:
        _check_hdf5(h5, "the .h5 file", size, limits)
        raw = h5.attrs.get("model_config")
        if raw is None:
            raise refuse("The .h5 file holds no model (no model_config); it may hold weights only.")
        if isinstance(raw, bytes):
            raw = raw.decode("utf-8", errors="replace")
        if not isinstance(raw, str):
            raise refuse("The .h5 file's model_config is not text.")
        if len(raw) > MAX_CONFIG_BYTES:
            raise refuse(
                f"The .h5 file's model_config is {size_text(len(raw))}; the studio allows at "
                f"most {size_text(MAX_CONFIG_BYTES)}."
            )
        config = _json(raw, "model_config")
        info = check_model_config(config, "h5", limits)
        training = h5.attrs.get("training_config")
        if training is not None:
            if isinstance(training, bytes):
                training = training.decode("utf-8", errors="replace")
            if not isinstance(training, str) or len(training) > MAX_CONFIG_BYTES:
                raise refuse("The .h5 file's training_config is not what Keras writes.")
            check_training_config(_json(training, "training_config"))
        return info


def _open_hdf5(file: IO[bytes], label: str) -> h5py.File:
    try:
        return h5py.File(file, "r")
    except Exception as exc:  # h5py raises OSError and others for bytes it cannot parse
        raise refuse(
            f"{label[0].upper()}{label[1:]} is damaged or incomplete: HDF5 cannot open it "
            f"({str(exc).splitlines()[0][:120]}).",
            "Upload the file again, or the model.keras file saved beside it.",
        ) from None


def _check_hdf5_bytes(data: bytes, label: str, limits: Limits) -> None:
    with _open_hdf5(io.BytesIO(data), label) as h5:
        _check_hdf5(h5, label, len(data), limits)


def _check_hdf5(h5: h5py.File, label: str, size: int, limits: Limits) -> None:
    """Walk every object with the low-level API; no dataset's data is read."""
    walk = _HDF5Walk(label, size, limits)
    try:
        walk.object(h5.id, "/")
        walk.group(h5.id, "/")
    except ModelFileError:
        raise
    except Exception as exc:  # a damaged object table surfaces as various h5py errors
        raise refuse(
            f"{label[0].upper()}{label[1:]} is damaged: {str(exc).splitlines()[0][:120]}."
        ) from None


class _HDF5Walk:
    def __init__(self, label: str, size: int, limits: Limits) -> None:
        self.label, self.size, self.limits = label, size, limits
        self.objects = 0
        self.data_bytes = 0

    def refuse(self, problem: str) -> ModelFileError:
        return refuse(f"In {self.label}, {problem}")

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
