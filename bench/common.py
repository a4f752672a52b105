"""What the benchmarks share: the machine's description, fresh-process runs, medians."""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import sys
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MB = 1_000_000


def machine() -> str:
    """CPU, cores, memory and the versions that decide the figures, on one line."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
        memory = int(Path("/proc/meminfo").read_text().split()[1]) / 2**20
    except (OSError, IndexError, ValueError):
        memory = 0
    versions = []
    for package in ("tensorflow-cpu", "keras", "pandas", "pyarrow", "streamlit"):
        try:
            versions.append(f"{package.removesuffix('-cpu')} {metadata.version(package)}")
        except metadata.PackageNotFoundError:
            continue
    return (
        f"{cpu}, {os.cpu_count()} cores, {memory:.0f} GiB, Python {platform.python_version()}, "
        + ", ".join(versions)
    )


def run_fresh(module: str, function: str, **kwargs) -> dict:
    """`bench.<module>.<function>(**kwargs)` in a fresh interpreter; its JSON-able result.

    A fresh process per measurement keeps one side's imports, caches and heap from helping or
    hurting the other.
    """
    code = (
        "import json, sys; "
        f"sys.path.insert(0, {str(ROOT)!r}); "
        f"from bench.{module} import {function} as f; "
        f"print('\\nRESULT ' + json.dumps(f(**json.loads(sys.argv[1]))))"
    )
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    done = subprocess.run(
        [sys.executable, "-c", code, json.dumps(kwargs)],
        capture_output=True,
        text=True,
        env=env,
        check=False,
        cwd=ROOT,
    )
    if done.returncode:
        raise SystemExit(f"{module}.{function} failed:\n{done.stderr[-3000:]}")
    line = [x for x in done.stdout.splitlines() if x.startswith("RESULT ")][-1]
    return json.loads(line.removeprefix("RESULT "))


def median(results: list[dict], key: str) -> float:
    return statistics.median(r[key] for r in results)


def memory_status() -> dict[str, int]:
    """This process's resident and peak resident memory in bytes (VmRSS, VmHWM), from /proc."""
    found = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            found[key] = int(value.split()[0]) * 1024
    return found
