"""Small tasks for test_jobs.py.

They live in a module of their own because workers start with "spawn": a worker finds a task by
importing the module it was defined in. Every wait is bounded, so a failing test cannot leave a
worker running for long.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

from nncore.errors import DataError
from nncore.run.jobs import JobChannel

POLL = 0.01


def _wait_for(channel: JobChannel, gate: str | None, timeout: float) -> str:
    """Wait until the gate file exists or a stop is requested; say which (or "timeout")."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if channel.stop_requested():
            return "stopped"
        if gate is not None and os.path.exists(gate):
            return "gate"
        time.sleep(POLL)
    return "timeout"


def epochs_then_wait(channel: JobChannel, epochs: int, gate: str, timeout: float = 20) -> str:
    """Report `epochs` epochs with progress, then wait for the gate file (or a stop)."""
    for epoch in range(epochs):
        channel.report_progress(epoch=epoch, batch=10, batches_per_epoch=10)
        channel.report_epoch({"epoch": epoch, "loss": 1.0 / (epoch + 1)})
    return _wait_for(channel, gate, timeout)


def training_then_wait(channel: JobChannel, epochs: int, gate: str, timeout: float = 20) -> str:
    """A training as the pages see one: `epochs` epochs reported in the records `train_job`
    sends, then a wait for the gate file (or a stop)."""
    from nncore.run.records import EpochReport, Progress

    for epoch in range(epochs):
        progress = Progress(epoch, epochs, 10, 10, 1.0 / (epoch + 1), 500.0, 0.1)
        channel.report_progress(**progress.to_dict())
        channel.report_epoch(EpochReport(epoch, {"loss": 1.0 / (epoch + 1)}).to_record())
    return _wait_for(channel, gate, timeout)


def many_progress_reports(channel: JobChannel, count: int) -> int:
    for batch in range(count):
        channel.report_progress(epoch=0, batch=batch, batches_per_epoch=count)
    return count


def until_stopped(channel: JobChannel, timeout: float = 20) -> str:
    return _wait_for(channel, None, timeout)


def report_pid_then_wait(channel: JobChannel, timeout: float = 20) -> str:
    channel.report_epoch({"pid": os.getpid()})
    return _wait_for(channel, None, timeout)


def record(channel: JobChannel, log: str, label: str) -> str:
    """Append `label` to the file `log`, to show the order in which jobs ran."""
    with open(log, "a", encoding="utf-8") as file:
        file.write(label + "\n")
    return label


def read_lines(path: str) -> list[str]:
    file = Path(path)
    return file.read_text(encoding="utf-8").splitlines() if file.exists() else []


def raise_data_error(channel: JobChannel, message: str) -> None:
    raise DataError(message)


def divide_by_zero(channel: JobChannel) -> float:
    return 1 / 0


def crash(channel: JobChannel, how: str) -> None:
    """Die the way a worker really dies: `os._exit` (a native abort) or SIGKILL (the OOM killer)."""
    channel.report_epoch({"epoch": 0, "loss": 0.5})
    if how == "exit":
        os._exit(1)
    os.kill(os.getpid(), signal.SIGKILL)
    time.sleep(10)


def worker_pid(channel: JobChannel) -> int:
    return os.getpid()


def import_tensorflow(channel: JobChannel) -> str:
    import tensorflow as tf

    return tf.__version__


def reason_when_stopped(channel: JobChannel, timeout: float = 20) -> str:
    """Wait for a stop request; return why it came ("" for a user's stop)."""
    _wait_for(channel, None, timeout)
    return channel.stop_reason()


def ignore_stop(channel: JobChannel, seconds: float = 60) -> str:
    """A job that never checks for a stop request."""
    channel.report_epoch({"epoch": 0})
    time.sleep(seconds)
    return "slept"
