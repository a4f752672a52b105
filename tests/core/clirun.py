"""The command line as a user runs it: `python -m nncore ...` in a fresh process."""

import subprocess
import sys


def cli(*args, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "nncore", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=timeout,
    )
