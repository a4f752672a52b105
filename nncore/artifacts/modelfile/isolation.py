"""Validation in a child process, so that a stranger's bytes reach libhdf5's parser only where a
crash or a runaway allocation costs nothing but that child."""

from __future__ import annotations

import dataclasses
import json
import resource
import subprocess
import sys
import tempfile
from pathlib import Path

from nncore.artifacts.modelfile.common import ModelFileInfo, refuse
from nncore.artifacts.modelfile.container import validate_model_file
from nncore.errors import ModelFileError

CHECK_SECONDS = 60
CHECK_MEMORY_BYTES = 1 << 30  # address space for the checking child


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
                cwd=Path(__file__).resolve().parents[3],  # where `-m nncore...` is found
            )
        except subprocess.TimeoutExpired:
            raise refuse(f"Checking the model file took over {timeout:g} seconds.") from None
    if done.returncode == 0:
        fields = json.loads(done.stdout)
        return ModelFileInfo(**{**fields, "input_names": tuple(fields["input_names"])})
    if done.returncode == _REFUSED:
        raise ModelFileError(done.stderr.decode("utf-8", "replace").strip())
    raise refuse(
        "The model file could not be checked: the checking process ended abnormally "
        f"(exit status {done.returncode}), as files built to attack the parser make it do."
    )


_REFUSED = 3  # the child's exit status for a refusal; its message is on stderr


def check_main(path: str, memory_bytes: str) -> int:
    resource.setrlimit(resource.RLIMIT_AS, (int(memory_bytes), int(memory_bytes)))
    try:
        info = validate_model_file(path)
    except ModelFileError as exc:
        sys.stderr.write(str(exc))
        return _REFUSED
    json.dump(dataclasses.asdict(info), sys.stdout)
    return 0
