"""Files that are whole or absent, folders only the server's user reads, and telling whether the
process that owns a run still lives.

Every JSON file and every table of a workspace is written by `write_atomic`: to a temporary file
in the same folder, flushed to the disk, then renamed over the target. A process killed at any
moment leaves the old file or the new one, never half of either; at worst a hidden temporary
file (`.<name>.*.tmp`) that nothing lists.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from nncore.errors import NNCoreError
from nncore.safejson import Bounds, loads

DIR_MODE = 0o700
FILE_MODE = 0o600
TEMP_SUFFIX = ".tmp"


def write_atomic(path: Path, data: bytes | str) -> None:
    """Write `data` to `path` so that a reader, or a crash, sees the old content or the new."""
    if isinstance(data, str):
        data = data.encode()
    # mkstemp creates the file readable by its owner only, and the rename keeps that.
    handle, temporary = tempfile.mkstemp(
        dir=path.parent, prefix=f".{path.name}.", suffix=TEMP_SUFFIX
    )
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    _sync_folder(path.parent)


def write_json(path: Path, value: Any) -> None:
    write_atomic(path, json.dumps(value, indent=2, allow_nan=False))


def read_json(path: Path, bounds: Bounds | None = None) -> Any:
    """The JSON in `path`, or None when it is missing or cannot be read whole."""
    try:
        data = path.read_bytes()
        return loads(data, what=path.name, advice="", error=NNCoreError, bounds=bounds or Bounds())
    except (OSError, NNCoreError):
        return None


def make_folder(path: Path) -> None:
    """Create `path` (not its parents) readable by the server's user only; fine if it exists."""
    path.mkdir(mode=DIR_MODE, exist_ok=True)


def restrict(folder: Path) -> None:
    """Make everything under `folder` readable by its owner only: files that other code wrote
    there (Keras saves with the process' umask)."""
    for root, folders, files in os.walk(folder):
        for name in folders:
            os.chmod(os.path.join(root, name), DIR_MODE)
        for name in files:
            os.chmod(os.path.join(root, name), FILE_MODE)


def folder_bytes(folder: Path) -> int:
    """The bytes of the files under `folder`, links not followed."""
    total = 0
    for root, _, files in os.walk(folder):
        for name in files:
            with contextlib.suppress(FileNotFoundError):  # removed while counting
                total += os.lstat(os.path.join(root, name)).st_size
    return total


def remove_folder(folder: Path) -> None:
    """Remove `folder` so that no reader ever sees it half removed: it is first renamed to a
    hidden name in its parent (which nothing lists), then deleted."""
    trash = folder.with_name(f".trash-{folder.name}-{os.urandom(4).hex()}")
    try:
        folder.rename(trash)
    except FileNotFoundError:
        return
    shutil.rmtree(trash, ignore_errors=True)


def remove_leftovers(folder: Path, older_than: float = 3600.0) -> None:
    """Delete what killed writers left in `folder`: temporary files and renamed folders not yet
    deleted, once older than `older_than` seconds (a younger one may still be in use)."""
    cutoff = time.time() - older_than
    for entry in folder.iterdir():
        if not (entry.name.startswith(".trash-") or entry.name.endswith(TEMP_SUFFIX)):
            continue
        try:
            if entry.lstat().st_mtime >= cutoff:
                continue
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry, ignore_errors=True)
            else:
                entry.unlink(missing_ok=True)
        except FileNotFoundError:
            pass


def _sync_folder(folder: Path) -> None:
    """Make a rename in `folder` durable (POSIX; Windows cannot open a folder)."""
    if os.name != "posix":
        return
    handle = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(handle)
    finally:
        os.close(handle)


# ---------------------------------------------------------------------------- process identity


def this_process() -> dict[str, Any]:
    """What tells, even after a restart of the machine, whether this process still runs: the
    boot's id, the pid and the pid's start time (a pid is reused; the pair is not)."""
    pid = os.getpid()
    return {"boot": _boot_id(), "pid": pid, "start": _start_time(pid)}


def process_alive(owner: dict[str, Any]) -> bool:
    """Whether the process `this_process()` described then is still running."""
    boot, pid, start = owner.get("boot"), owner.get("pid"), owner.get("start")
    if not isinstance(pid, int) or isinstance(pid, bool) or pid <= 0:
        return False
    if boot and boot != _boot_id():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, another user's
        pass
    now = _start_time(pid)
    return not (start is not None and now is not None and now != start) and not _zombie(pid)


def _boot_id() -> str:
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return ""


def _stat_fields(pid: int) -> list[str]:
    """/proc/<pid>/stat from its third field (the state) on; [] where there is no /proc."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return []
    return text.rpartition(")")[2].split()  # the name, in parentheses, may hold spaces


def _start_time(pid: int) -> int | None:
    fields = _stat_fields(pid)
    return int(fields[19]) if len(fields) > 19 else None


def _zombie(pid: int) -> bool:
    fields = _stat_fields(pid)
    return bool(fields) and fields[0] in ("Z", "X")
