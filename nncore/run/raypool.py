"""Run the studio's jobs as Ray tasks on a cluster, instead of in local worker processes.

`ray_slots(address)` connects this process to the Ray cluster at `address` and returns a slot
factory for `JobRunner(slot_factory=...)`; every job (a training, a prediction, a sweep's trial)
is then one Ray task, and the runner's queue, stop, crash handling and results work as before.
Only this module imports Ray, and the server imports this module only when a cluster is set.

How it maps onto the local workers, and why:

- Reports and stop requests still go through the job's files (`JobChannel`), and a run's model
  files still go to its folder: the task reads and writes them where it runs. On one machine that
  is simply the same disk. On several, those folders must be shared at the same path on every
  node (see the README); Ray itself does not move files.
- A task runs once (`max_retries=0`): a training that killed its worker (out of memory, say)
  would likely kill the next one too, and a retry would append a second history to the same
  files. A worker, node or cluster lost under a task fails its future with `BrokenProcessPool`,
  as a dead local worker does, so the user sees the same crash message and the runner gives the
  slot a fresh start.
- `max_calls=tasks_per_worker` recycles Ray's workers as the local ones are recycled, bounding
  the memory TensorFlow keeps per model built. Ray ends a driver's tasks when the driver exits,
  as local workers end with their server.
- The `nncore` package travels with the connection (`py_modules`), so the cluster's nodes need
  the requirements installed, not this source tree.
"""

from __future__ import annotations

import functools
import logging
import socket
from collections.abc import Callable
from concurrent.futures import Future
from concurrent.futures import wait as wait_for
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Any

from nncore.errors import JobError

__all__ = ["RaySlot", "ray_slots"]


def ray_slots(address: str) -> Callable[[int], RaySlot]:
    """Connect to the Ray cluster at `address` ("host:port", "auto" or "ray://host:port") and
    return what `JobRunner(slot_factory=...)` needs. Raises JobError when Ray is not installed
    or the cluster cannot be reached."""
    try:
        import ray
    except ImportError as exc:
        raise JobError(
            f"Jobs are set to run on the Ray cluster at {address!r}, but Ray is not installed. "
            "Install it with `pip install -r requirements-ray.txt`, or unset RAY_ADDRESS and "
            "NNSTUDIO_RAY_ADDRESS to run jobs on this machine."
        ) from exc
    _check_reachable(address)
    if not ray.is_initialized():
        import nncore

        try:
            ray.init(
                address=address,
                runtime_env={"py_modules": [str(Path(nncore.__file__).parent)]},
                log_to_driver=False,  # TensorFlow's worker chatter stays in Ray's own logs
                logging_level=logging.WARNING,
            )
        except (ConnectionError, ValueError, RuntimeError) as exc:
            raise _unreachable(address, exc) from exc
    return RaySlot


def _check_reachable(address: str) -> None:
    """`ray.init` waits for minutes on an address where nothing listens; a plain connection
    attempt tells within seconds."""
    host, _, port = address.removeprefix("ray://").rpartition(":")
    if not host or not port.isdigit():
        return  # "auto": Ray finds the cluster on this machine, or says at once there is none
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=5).close()
    except OSError as exc:
        raise _unreachable(address, exc) from exc


def _unreachable(address: str, reason: Exception) -> JobError:
    return JobError(
        f"Could not connect to the Ray cluster at {address!r} ({reason}). Start it (on this "
        "machine: `ray start --head`), correct RAY_ADDRESS or NNSTUDIO_RAY_ADDRESS, or unset "
        "both to run jobs on this machine."
    )


@functools.cache
def _remote_call(tasks_per_worker: int) -> Any:
    import ray

    return ray.remote(max_retries=0, max_calls=tasks_per_worker, num_cpus=1)(_call)


def _call(fn: Callable[..., Any], *args: Any) -> Any:
    return fn(*args)


@functools.cache
def _lost_worker_errors() -> tuple[type[BaseException], ...]:
    from ray import exceptions

    return (
        exceptions.WorkerCrashedError,
        exceptions.OutOfMemoryError,  # Ray's memory monitor killed the worker
        exceptions.NodeDiedError,
        exceptions.LocalRayletDiedError,
        exceptions.ObjectLostError,
        exceptions.RaySystemError,
    )


class RaySlot:
    """One job at a time as a Ray task; see `nncore.run.jobs._Slot`."""

    def __init__(self, tasks_per_worker: int) -> None:
        self._remote = _remote_call(tasks_per_worker)
        self._running: Future[Any] | None = None

    def submit(self, fn: Callable[..., Any], /, *args: Any) -> Future[Any]:
        future: Future[Any] = Future()
        future.set_running_or_notify_cancel()
        self._remote.remote(fn, *args).future().add_done_callback(
            functools.partial(_settle, future)
        )
        self._running = future
        return future

    def shutdown(self, wait: bool) -> None:
        # Like a process pool's shutdown, this never ends a running task: stopping is the job's.
        if wait and self._running is not None:
            wait_for([self._running])


def _settle(future: Future[Any], ray_future: Future[Any]) -> None:
    error = ray_future.exception()
    if error is None:
        future.set_result(ray_future.result())
    elif isinstance(error, _lost_worker_errors()):
        future.set_exception(BrokenProcessPool(f"The Ray worker running the job was lost: {error}"))
    else:
        future.set_exception(error)
