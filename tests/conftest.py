import hashlib
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

# Quiet TensorFlow's start-up lines in test output; set before any test imports it.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# The studio's workspaces (and the servers the browser tests start) go to a folder of this test
# session, never to the user's ~/.nnstudio.
os.environ["NNSTUDIO_HOME"] = tempfile.mkdtemp(prefix="nnstudio-test-home-")

ROOT = Path(__file__).resolve().parents[1]
_TRACKED_AT_START = pytest.StashKey[dict[str, str] | None]()


def tracked_changes() -> dict[str, str] | None:
    """Each tracked file that differs from HEAD, with a hash of what it holds now (so a test that
    writes into a file already edited by hand is caught too); None outside a git checkout."""
    if shutil.which("git") is None:
        return None
    try:
        status = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no", "-z"],
            cwd=ROOT,
            capture_output=True,
            check=True,
            timeout=60,
        ).stdout.decode()
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired):
        return None  # not a checkout (an unpacked archive, say): nothing to guard
    changes = {}
    entries = iter(status.split("\0"))
    for entry in entries:
        if not entry:
            continue
        code, path = entry[:2], entry[3:]
        if code[0] in "RC":
            next(entries)  # a rename's or copy's source path follows; the new path is the one
        file = ROOT / path
        content = hashlib.sha256(file.read_bytes()).hexdigest() if file.is_file() else "missing"
        changes[path] = f"{code} {content}"
    return changes


def pytest_sessionstart(session: pytest.Session) -> None:
    session.stash[_TRACKED_AT_START] = tracked_changes()


def pytest_sessionfinish(session: pytest.Session) -> None:
    """No test may write into a tracked file: fail the run, naming the files, if one did."""
    before = session.stash.get(_TRACKED_AT_START, None)
    if before is None:
        return
    after = tracked_changes() or {}
    changed = sorted(
        path for path in before.keys() | after.keys() if before.get(path) != after.get(path)
    )
    if not changed:
        return
    session.exitstatus = pytest.ExitCode.TESTS_FAILED
    message = "tracked files changed during the test run (tests must write to tmp_path): "
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        reporter.ensure_newline()
        reporter.write_sep("!", message + ", ".join(changed), red=True)
