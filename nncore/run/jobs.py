"""Run long work (trainings, predictions) in worker processes, away from the UI's server process.

The server keeps one `JobRunner`; each `submit` returns a `Job` handle that the UI stores in its
session and polls: status, live history, the latest progress snapshot, a stop button.

    runner = JobRunner(max_concurrent=1)
    job = runner.submit(train_task, experiment, data, name="run 3")
    job.status, job.history(), job.progress()
    job.stop()

A task is a module-level function `fn(channel: JobChannel, *args) -> result`: workers start with the
"spawn" method, so they find the task by importing its module, and the result comes back pickled.
TensorFlow is imported by the task inside the worker, never by this module.

How it is built, and why:

- Each concurrency slot is its own single-worker `ProcessPoolExecutor`. A worker that dies
  (segfault, `os._exit`, the OOM killer) breaks its executor and fails every future in it; with one
  worker per executor that is only its own job. The slot then gets a fresh executor and the other
  slots never notice. `max_tasks_per_child` recycles workers, which bounds the memory TensorFlow
  keeps growing per model built in one process. Workers start with "spawn" (never fork a server
  with threads), but without loading the server's `__main__` (see `_WorkerProcess`), and end
  themselves if the server dies (see `_start_worker`).
- A dispatcher thread hands queued jobs to free slots, replaces broken slots and stops jobs whose
  wall-time budget is spent (a job outlives the tab that started it; the budget bounds it). The
  queue is fair across owners (a workspace each): the next job comes from the waiting owner with the
  fewest jobs running, ties taken in turn (round robin), so one owner's five queued trainings delay
  another owner's first by at most one of them, and one owner with the server to itself uses every
  slot. A queued job holds its pickled arguments; callers keep them small by passing a table's path
  rather than the table. The executors' done-callbacks only record the outcome and wake it: they run
  on the executor's own thread, which must not be used to submit or shut down executors. The
  callbacks callers add with `Job.add_start_callback` and `Job.add_done_callback` run on the
  dispatcher instead, holding no lock of the runner's, so they may submit the next job: a caller's
  own lock taken around `submit` cannot then deadlock against the runner's.
- The task talks to the caller through files in a per-job temp directory (`JobChannel`): an
  append-only JSON-lines history, a progress snapshot replaced atomically with
  `os.replace`, and a stop flag file. Files need no extra server process (a multiprocessing Manager
  is one more process to lose, and its proxies raise or hang when either side dies), they survive
  the worker's death (a crashed training's history stays readable), and they are cheap. Measured:
  a progress report costs about 60 µs in /dev/shm, where job directories go when it exists (about
  300-500 µs on ext4), and a stop check about 3 µs.
- `_Slot` is the seam for other executors (`nncore.run.raypool` runs jobs as Ray tasks):
  something that runs one call at a time, returns a `concurrent.futures.Future`, and fails it
  with `BrokenProcessPool` when its worker dies. Callers only ever see `submit -> Job`.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import logging
import math
import multiprocessing
import os
import pickle
import shutil
import signal
import sys
import tempfile
import threading
import time
import traceback
import types
import uuid
import weakref
from collections import deque
from collections.abc import Callable, Mapping
from concurrent.futures import CancelledError, Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from functools import partial
from typing import Any, Literal, Protocol

from nncore import rules
from nncore.errors import JobError, NNCoreError

__all__ = ["Job", "JobChannel", "JobRunner", "JobStatus", "install_exit_handler"]

JobStatus = Literal["queued", "running", "done", "failed", "stopped"]

_log = logging.getLogger(__name__)

_HISTORY = "history.jsonl"
_PROGRESS = "progress.json"
_STOP = "stop"

CRASH_MESSAGE = (
    "The process running this job stopped unexpectedly (it may have run out of memory). "
    "The history up to that point is kept. Try a smaller model, fewer rows or a smaller batch "
    "size, then run it again."
)
OUT_OF_MEMORY_MESSAGE = (
    "The job ran out of memory. Try a smaller model, fewer rows or a smaller batch size, "
    "then run it again."
)
CANCELLED_MESSAGE = "The job was stopped before it started, so it has no result."
SHARED_OWNER = ""  # the owner of jobs submitted without one


# --------------------------------------------------------------------------------------------------
# The task's side: JobChannel


class JobChannel:
    """What a task gets as its first argument: reports go out, stop requests come in.

    It is only a directory path, so it pickles into the worker for free. Reporting is best effort:
    a report that cannot be written (disk full, job already closed) is dropped and logged rather
    than failing a training that may have run for an hour.
    """

    def __init__(self, directory: str) -> None:
        self._dir = directory
        self._progress = os.path.join(directory, _PROGRESS)
        self._stop = os.path.join(directory, _STOP)

    def report_epoch(self, logs: Mapping[str, Any]) -> None:
        """Append one epoch's logs (metric name -> float, plus small JSON-able values)."""
        self._append(_HISTORY, dict(logs))

    def report_progress(self, **fields: Any) -> None:
        """Replace the latest progress snapshot, e.g. `nncore.run.records.Progress`'s fields.

        Cheap enough (about 60 µs in RAM, 300-500 µs on disk) to call ten times a second.
        """
        temporary = f"{self._progress}.{os.getpid()}.{threading.get_ident()}.tmp"
        try:
            with open(temporary, "w", encoding="utf-8") as file:
                file.write(_to_json(fields))
            os.replace(temporary, self._progress)
        except OSError as exc:
            _log.debug("Dropped a progress report for %s: %s", self._dir, exc)

    def stop_requested(self) -> bool:
        """True once the job was asked to stop. Costs a few µs."""
        return os.path.exists(self._stop)

    def stop_reason(self) -> str:
        """Why the runner asked the job to stop ("Stopped after its time budget of 3600 s"), or
        "" for a user's Stop or no stop at all."""
        try:
            with open(self._stop, encoding="utf-8") as file:
                return file.read().strip()
        except OSError:
            return ""

    def _request_stop(self, reason: str = "") -> None:
        try:
            with open(self._stop, "a", encoding="utf-8") as file:
                file.write(reason)
        except OSError as exc:
            _log.warning("Could not write the stop flag of %s: %s", self._dir, exc)

    def _append(self, name: str, record: dict[str, Any]) -> None:
        # One write of one line in append mode: readers see whole lines, or a partial last line
        # that they leave for the next read.
        try:
            with open(os.path.join(self._dir, name), "a", encoding="utf-8") as file:
                file.write(_to_json(record) + "\n")
        except OSError as exc:
            _log.warning("Dropped a %s record for %s: %s", name, self._dir, exc)


def _to_json(value: Any) -> str:
    return json.dumps(value, default=_jsonable, separators=(",", ":"))


def _jsonable(value: Any) -> Any:
    """NumPy scalars and arrays, and tensors, as plain Python values; anything else as text."""
    if hasattr(value, "numpy"):
        value = value.numpy()
    if hasattr(value, "tolist"):
        return value.tolist()
    return str(value)


# --------------------------------------------------------------------------------------------------
# In the worker


@dataclass(frozen=True, slots=True)
class _Outcome:
    """What comes back from the worker. Bugs travel as text: their exceptions may not unpickle."""

    status: Literal["done", "stopped", "failed"]
    value: Any = None
    error: str | None = None
    user_error: NNCoreError | None = None
    detail: str | None = None


def _run_task(payload: bytes, channel: JobChannel) -> _Outcome:
    """Runs in the worker process. Unpickling the task here turns an import error into a failed
    job, where unpickling it in the executor's own code would kill the worker."""
    try:
        fn, args = pickle.loads(payload)
        value = fn(channel, *args)
    except NNCoreError as exc:
        return _Outcome("failed", error=str(exc), user_error=_if_picklable(exc))
    except MemoryError:
        return _Outcome("failed", error=OUT_OF_MEMORY_MESSAGE, detail=traceback.format_exc())
    except Exception as exc:
        return _Outcome("failed", error=_bug_message(exc), detail=traceback.format_exc())
    return _Outcome("stopped" if channel.stop_requested() else "done", value=value)


def _start_worker() -> None:
    """Worker initializer: yield the CPU to the server, and end when the server dies.

    TensorFlow takes every core it can; at a lower priority a training still gets every idle
    cycle, but a page's script run (and the browser beside it, on a laptop) goes first.
    An orphaned worker (it gets a new parent) would train on for nobody, then wait forever for
    its next task: it holds both ends of its executor's queues, so it never sees them close.
    """
    server = os.getppid()
    with contextlib.suppress(OSError):
        os.nice(min(19, int(rules.WORKER_NICENESS.value())))

    def watch() -> None:
        while os.getppid() == server:
            time.sleep(1.0)
        os._exit(1)

    threading.Thread(target=watch, name="nncore-server-watch", daemon=True).start()


def _if_picklable(exc: NNCoreError) -> NNCoreError | None:
    try:
        pickle.loads(pickle.dumps(exc))
    except Exception:
        return None
    return exc


def _bug_message(exc: BaseException) -> str:
    return (
        f"The job failed with an unexpected error: {type(exc).__name__}: {exc}. "
        "This is a bug in the studio, not a problem with your data; the rest of the app still "
        "works."
    )


# --------------------------------------------------------------------------------------------------
# The caller's side: Job


class _LineLog:
    """Reads a JSON-lines file incrementally, keeping what it has read."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.items: list[dict[str, Any]] = []
        self._offset = 0

    def read(self) -> list[dict[str, Any]]:
        try:
            with open(self.path, "rb") as file:
                file.seek(self._offset)
                data = file.read()
        except FileNotFoundError:
            return self.items
        complete = data.rfind(b"\n") + 1  # a half-written last line waits for the next read
        for line in data[:complete].splitlines():
            try:
                self.items.append(json.loads(line))
            except ValueError:
                _log.warning("Skipped an unreadable line in %s: %r", self.path, line[:200])
        self._offset += complete
        return self.items


class Job:
    """A handle on one submitted task, made by `JobRunner.submit`. Safe to use from any thread.

    `status` is "queued", "running", "done", "failed" or "stopped" (the task ended after a stop
    request, or was stopped before it started). History and progress are readable while
    the job runs, after it ends (even by a crash) and after `close()`.
    """

    def __init__(
        self, runner: JobRunner, name: str, directory: str, payload: bytes, owner: str
    ) -> None:
        self.id = uuid.uuid4().hex[:12]
        self.name = name
        self.owner = owner
        self.budget = math.inf  # wall-time seconds; the runner sets it
        self._serial = 0  # the order of submits; the runner sets it
        self._runner = runner
        self._channel = JobChannel(directory)
        self._payload: bytes | None = payload
        self._lock = threading.Lock()
        self._finished = threading.Event()
        self._status: JobStatus = "queued"
        self._value: Any = None
        self._error: str | None = None
        self._user_error: NNCoreError | None = None
        self._stop_requested = False
        self._events: list[dict[str, str]] = []
        self._started_at: float | None = None
        self._finished_at: float | None = None
        self._history = _LineLog(os.path.join(directory, _HISTORY))
        self._progress: dict[str, Any] | None = None
        self._start_callbacks: list[Callable[[Job], Any]] | None = []  # None once they have run
        self._done_callbacks: list[Callable[[Job], Any]] | None = []  # None once they have run
        self._closed = False
        self._files_gone = False
        self._remove_files = weakref.finalize(self, shutil.rmtree, directory, ignore_errors=True)

    def __repr__(self) -> str:
        return f"<Job {self.id} {self.name!r} {self._status}>"

    @property
    def status(self) -> JobStatus:
        return self._status

    @property
    def elapsed(self) -> float:
        """Seconds since the job started running (0.0 while queued), frozen once it ends."""
        if self._started_at is None:
            return 0.0
        end = self._finished_at if self._finished_at is not None else time.monotonic()
        return end - self._started_at

    def queue_position(self) -> int | None:
        """1 for the next job to run, 2 for the one after...; None when not waiting."""
        return self._runner._queue_position(self)

    def history(self) -> list[dict[str, Any]]:
        """The epoch logs reported so far, oldest first."""
        with self._lock:
            items = self._history.items if self._files_gone else self._history.read()
            return list(items)

    def progress(self) -> dict[str, Any] | None:
        """The latest progress snapshot, or None before the first report."""
        with self._lock:
            if not self._files_gone:
                self._read_progress()
            return None if self._progress is None else dict(self._progress)

    def events(self) -> list[dict[str, str]]:
        """Why the runner stopped the job, if it did: {"kind": "budget", "message": words for
        the user}."""
        return list(self._events)

    def stop(self) -> None:
        """Ask the job to stop. A queued job is stopped at once, without running; a running task
        stops when it next checks `channel.stop_requested()`. Does nothing once it has ended."""
        self._runner._stop(self)

    def done(self) -> bool:
        return self._finished.is_set()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the job ends or `timeout` seconds pass; True if it has ended."""
        return self._finished.wait(timeout)

    def add_start_callback(self, fn: Callable[[Job], Any]) -> None:
        """Call `fn(job)` once the job has started running, as `add_done_callback` calls its
        callbacks (and before them); never for a job stopped before it started."""
        with self._lock:
            if self._start_callbacks is not None:
                self._start_callbacks.append(fn)
                return
            started = self._started_at is not None
        if started:
            _call(fn, self)

    def add_done_callback(self, fn: Callable[[Job], Any]) -> None:
        """Call `fn(job)` once the job has ended, however it ended: on the runner's dispatcher
        thread, where it may submit jobs; at once if its callbacks have already run. An error in
        `fn` is logged, and the other callbacks still run."""
        with self._lock:
            if self._done_callbacks is not None:
                self._done_callbacks.append(fn)
                return
        _call(fn, self)

    def result(self, timeout: float | None = None) -> Any:
        """The task's return value, once it has ended ("done", or "stopped" after running).

        Raises TimeoutError if it is still going after `timeout` seconds, the task's own
        `NNCoreError` if it raised one, and `JobError` for any other failure or if it was stopped
        before it started.
        """
        if not self._finished.wait(timeout):
            raise TimeoutError(f"Job {self.name or self.id} is still {self._status}.")
        if self._user_error is not None:
            raise self._user_error
        if self._status == "failed":
            raise JobError(self._error)
        if self._status == "stopped" and self._started_at is None:
            raise JobError(CANCELLED_MESSAGE)
        return self._value

    def error(self) -> str | None:
        """What went wrong, in words for the user, if the job failed."""
        return self._error

    def close(self) -> None:
        """Delete the job's temp files, keeping history, progress and result in memory.

        A job still queued or running is asked to stop, and its files go when it ends. Also
        happens when the Job is garbage collected.
        """
        with self._lock:
            if self._closed:
                return
            self._closed = True
        if self.done():
            self._release_files()
        else:
            self.stop()

    # Called by the runner.

    def _start(self) -> bytes:
        payload, self._payload = self._payload, None
        assert payload is not None
        self._started_at = time.monotonic()
        self._status = "running"
        return payload

    def _finish(self, outcome: _Outcome) -> None:
        self._payload = None
        self._value = outcome.value
        self._error = outcome.error
        self._user_error = outcome.user_error
        self._finished_at = time.monotonic()
        self._status = outcome.status
        if outcome.detail:
            _log.error("Job %s (%s) failed:\n%s", self.id, self.name, outcome.detail)
        self._finished.set()
        # Its callbacks run on the dispatcher; every caller of _finish holds the runner's lock.
        self._runner._ended.append(self)
        if self._closed:
            self._release_files()

    def _run_start_callbacks(self) -> None:
        with self._lock:
            callbacks, self._start_callbacks = self._start_callbacks or [], None
        for fn in callbacks:
            _call(fn, self)

    def _run_done_callbacks(self) -> None:
        with self._lock:
            callbacks, self._done_callbacks = self._done_callbacks or [], None
        for fn in callbacks:
            _call(fn, self)

    def _release_files(self) -> None:
        with self._lock:
            if self._files_gone:
                return
            self._history.read()
            self._read_progress()
            self._files_gone = True
            self._remove_files()

    def _read_progress(self) -> None:
        try:
            with open(self._channel._progress, encoding="utf-8") as file:
                self._progress = json.load(file)
        except (OSError, ValueError):
            pass  # none yet, or unreadable for a moment: keep the last snapshot


def _call(fn: Callable[[Job], Any], job: Job) -> None:
    try:
        fn(job)
    except Exception:
        _log.exception("A done-callback of job %s (%s) failed.", job.id, job.name)


# --------------------------------------------------------------------------------------------------
# The runner


def _make_job_directory(root: str | None) -> str:
    """A fresh directory in `root` if given, else in RAM (/dev/shm) where there is one: replacing
    the progress file there costs about 60 µs, against 300-500 µs on ext4, which flushes data on
    every rename-over. The files are small (a few hundred bytes per epoch)."""
    if root is not None:
        return tempfile.mkdtemp(prefix="nncore-job-", dir=root)
    if os.access("/dev/shm", os.W_OK | os.X_OK):
        try:
            return tempfile.mkdtemp(prefix="nncore-job-", dir="/dev/shm")
        except OSError:
            pass  # full or read-only: use the usual temp directory
    return tempfile.mkdtemp(prefix="nncore-job-")


class _Slot(Protocol):
    """Runs one call at a time somewhere else. Its future fails with `BrokenProcessPool` when the
    worker dies; the runner then shuts the slot down and makes a new one."""

    def submit(self, fn: Callable[..., Any], /, *args: Any) -> Future[Any]: ...

    def shutdown(self, wait: bool) -> None: ...


_BARE_MAIN = types.ModuleType("__main__")
_MAIN_SWAP = threading.Lock()


class _WorkerProcess(multiprocessing.context.SpawnProcess):
    """A spawned worker that does not run the server's main script.

    Spawn makes each child import the parent's `__main__` from its file. Under Streamlit that is
    the app script (Streamlit installs it as `sys.modules["__main__"]`, with `__file__`, on every
    rerun), so each worker would run the whole app once. Tasks live in importable modules and need
    nothing from `__main__`, so the child is started while a bare `__main__` stands in; the swap
    lasts only for `start()`.
    """

    def start(self) -> None:
        with _MAIN_SWAP:
            main = sys.modules["__main__"]
            sys.modules["__main__"] = _BARE_MAIN
            try:
                super().start()
            finally:
                if sys.modules["__main__"] is _BARE_MAIN:  # unless a rerun installed a new one
                    sys.modules["__main__"] = main


class _WorkerContext(multiprocessing.context.SpawnContext):
    Process = _WorkerProcess


class _ProcessSlot:
    def __init__(self, tasks_per_worker: int) -> None:
        self._pool = ProcessPoolExecutor(
            max_workers=1,
            mp_context=_WorkerContext(),
            initializer=_start_worker,
            max_tasks_per_child=tasks_per_worker,
        )

    def submit(self, fn: Callable[..., Any], /, *args: Any) -> Future[Any]:
        return self._pool.submit(fn, *args)

    def shutdown(self, wait: bool) -> None:
        self._pool.shutdown(wait=wait, cancel_futures=True)

    def kill(self) -> None:
        """End the worker now, whatever it is doing (a job that ignored its stop request)."""
        for process in list((self._pool._processes or {}).values()):
            process.kill()
        self.shutdown(wait=False)


class RunnerClosed(JobError, RuntimeError):
    """A job was submitted to a runner that has shut down (the server is stopping)."""


class JobRunner:
    """Runs submitted tasks in worker processes, at most `max_concurrent` at a time, fairly
    across owners (see the module's notes).

    One per server process. `tasks_per_worker` jobs run in a worker before it is replaced by a fresh
    one. A job running longer than its budget (`submit`'s, else `budget` seconds, else the setting
    `nncore.rules.JOB_SECONDS`) is asked to stop. An owner may have `max_queued` jobs waiting
    (default: the setting `nncore.rules.QUEUED_PER_OWNER`). `slot_factory`, called with
    `tasks_per_worker`, runs jobs elsewhere than in local worker processes (see
    `nncore.run.raypool.ray_slots`); `job_root` is where job files go (default: /dev/shm, else the
    temp folder), which workers on other machines must share.

    Use it as a context manager or call `shutdown()`; a server stopping calls
    `shutdown_for_exit()` (see `install_exit_handler`).
    """

    def __init__(
        self,
        max_concurrent: int = 1,
        tasks_per_worker: int = 20,
        *,
        budget: float | None = None,
        max_queued: int | None = None,
        slot_factory: Callable[[int], _Slot] | None = None,
        job_root: str | None = None,
    ) -> None:
        if max_concurrent < 1:
            raise ValueError(f"max_concurrent must be at least 1, got {max_concurrent}.")
        if tasks_per_worker < 1:
            raise ValueError(f"tasks_per_worker must be at least 1, got {tasks_per_worker}.")
        if budget is not None and budget <= 0:
            raise ValueError(f"budget must be a positive number of seconds or None, got {budget}.")
        self._tasks_per_worker = tasks_per_worker
        self._slot_factory = slot_factory or _ProcessSlot
        self._job_root = job_root
        self._budget = budget or rules.JOB_SECONDS.value()
        self._max_queued = max_queued or rules.QUEUED_PER_OWNER.value()
        self._tick = 0.5
        self._cond = threading.Condition(threading.RLock())
        self._queues: dict[str, deque[Job]] = {}  # owner -> their queued jobs, oldest first
        self._serial = itertools.count(1)  # orders submits, and slots given to owners
        self._served: dict[str, int] = {}  # owner -> when it last got a slot (a serial number)
        self._slots: list[_Slot] = [self._new_slot() for _ in range(max_concurrent)]
        self._running: dict[int, Job] = {}  # slot index -> job
        self._started: list[Job] = []  # started jobs whose start-callbacks have not run yet
        self._ended: list[Job] = []  # ended jobs whose done-callbacks have not run yet
        self._broken: set[int] = set()
        self._shutting_down = False
        self._exiting = False
        _at_interpreter_exit(self)
        self._dispatcher = threading.Thread(
            target=self._dispatch_loop, name="nncore-job-dispatcher", daemon=True
        )
        self._dispatcher.start()

    def __enter__(self) -> JobRunner:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.shutdown(wait=True)

    def submit(
        self,
        fn: Callable[..., Any],
        /,
        *args: Any,
        name: str = "",
        owner: str = SHARED_OWNER,
        budget: float | None = None,
    ) -> Job:
        """Queue `fn(channel, *args)` to run in a worker process; returns its Job at once.

        `fn` must be a function defined at the top level of an importable module (not in the
        script being run, which workers do not load), and `args` picklable. `owner` (a
        workspace's token) is whose turn it is in the fair queue; `budget` the job's wall-time
        budget in seconds (default: the runner's). Raises JobError when `owner` already has
        `max_queued` jobs waiting.
        """
        if getattr(fn, "__module__", None) == "__main__":
            raise TypeError(
                f"The task {getattr(fn, '__qualname__', fn)!r} is defined in the script being run "
                "(__main__), which worker processes do not load. Move it into a module and import "
                "it from there."
            )
        if budget is not None and budget <= 0:
            raise ValueError(f"budget must be a positive number of seconds, got {budget}.")
        try:
            payload = pickle.dumps((fn, args), protocol=pickle.HIGHEST_PROTOCOL)
        except (pickle.PicklingError, TypeError, AttributeError) as exc:
            raise TypeError(
                f"A job's task and arguments must be picklable to reach a worker process, but "
                f"{getattr(fn, '__qualname__', fn)!r} with its arguments is not ({exc}). "
                "Use a function defined at module level, not a lambda or a nested function."
            ) from exc
        with self._cond:
            if self._shutting_down:
                raise RunnerClosed("This JobRunner has been shut down; make a new one.")
            waiting = len(self._queues.get(owner, ()))
            if waiting >= self._max_queued:
                raise JobError(
                    f"You already have {waiting} jobs waiting, the most one workspace may "
                    f"queue ({rules.QUEUED_PER_OWNER.setting}); wait for one to start or stop one."
                )
            job = Job(self, name, _make_job_directory(self._job_root), payload, owner)
            job.budget = budget or self._budget
            job._serial = next(self._serial)
            self._queues.setdefault(owner, deque()).append(job)
            self._cond.notify_all()
        return job

    def shutdown(self, wait: bool = True) -> None:
        """Stop taking jobs. With `wait`, run the queued jobs, then return once all have ended.
        Without, drop the queued jobs, ask the running ones to stop and return at once."""
        with self._cond:
            self._shutting_down = True
            if not wait:
                self._drop_queued()
                for job in self._running.values():
                    self._request_stop(job)
            self._cond.notify_all()
        if wait and threading.current_thread() is not self._dispatcher:
            self._dispatcher.join()

    def shutdown_for_exit(self, deadline: float = 4.0) -> list[Job]:
        """The server is stopping: drop the queued jobs, ask the running ones to stop (a
        training then saves its best weights and ends), and return within `deadline` seconds,
        killing every worker then, whether its job ended or not. Returns the jobs that did not
        run to their end: the dropped ones and the ones that were running."""
        until = time.monotonic() + deadline
        with self._cond:
            self._shutting_down = self._exiting = True
            dropped = self._drop_queued()
            running = dict(self._running)
            for job in running.values():
                self._request_stop(job)
            self._cond.notify_all()
        for job in running.values():
            job.wait(max(0.0, until - time.monotonic()))
        with self._cond:
            for job in running.values():
                if not job.done():
                    _log.warning("Job %s did not stop in time; its worker is killed.", job.id)
            # The idle workers too: they hold nothing now, and one with TensorFlow loaded takes
            # a second or two to exit when asked, which the interpreter's exit would wait for.
            for slot in self._slots:
                _kill(slot)
        return [*dropped, *running.values()]

    def _drop_queued(self) -> list[Job]:
        dropped = [job for queue in self._queues.values() for job in queue]
        self._queues.clear()
        for job in dropped:
            job._finish(_Outcome("stopped"))
        return dropped

    def _new_slot(self) -> _Slot:
        return self._slot_factory(self._tasks_per_worker)

    def _running_by_owner(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for job in self._running.values():
            counts[job.owner] = counts.get(job.owner, 0) + 1
        return counts

    def _queue_position(self, job: Job) -> int | None:
        """Where `job` is in the order the queue would start jobs if none ended meanwhile."""
        with self._cond:
            queue = self._queues.get(job.owner)
            if queue is None or job not in queue:
                return None
            running = self._running_by_owner()
            served = dict(self._served)
            taken = dict.fromkeys(self._queues, 0)  # how far into each owner's queue
            for position in itertools.count(1):
                heads = {
                    o: q[taken[o]]._serial for o, q in self._queues.items() if taken[o] < len(q)
                }
                owner = _next_owner(heads, running, served)
                if self._queues[owner][taken[owner]] is job:
                    return position
                taken[owner] += 1
                running[owner] = running.get(owner, 0) + 1
                served[owner] = position + len(self._served) + 2**40  # after every real one
            raise AssertionError("unreachable")

    def _stop(self, job: Job, reason: str = "") -> None:
        with self._cond:
            queue = self._queues.get(job.owner)
            if queue is not None and job in queue:
                queue.remove(job)
                if not queue:
                    del self._queues[job.owner]  # only owners with jobs waiting have a queue
                job._finish(_Outcome("stopped"))
                self._cond.notify_all()
            elif not job.done():
                self._request_stop(job, reason)

    @staticmethod
    def _request_stop(job: Job, reason: str = "") -> None:
        job._stop_requested = True
        job._channel._request_stop(reason)

    def _dispatch_loop(self) -> None:
        while True:
            with self._cond:
                try:
                    self._replace_broken_slots()
                    self._stop_over_budget()
                    self._start_queued()
                except Exception:  # a bug here must not silently end all dispatching
                    _log.exception("The job dispatcher hit an error; it carries on.")
                started, self._started = self._started, []
                ended, self._ended = self._ended, []
                if not ended and not started:
                    if self._shutting_down and not self._queued() and not self._running:
                        slots = list(self._slots)
                        break
                    self._cond.wait(self._tick)
            # Outside the lock: a callback may submit, or wait for a lock of its caller's.
            for job in started:
                job._run_start_callbacks()
            for job in ended:
                job._run_done_callbacks()
        for slot in slots:
            slot.shutdown(wait=not self._exiting)

    def _queued(self) -> list[Job]:
        return [job for queue in self._queues.values() for job in queue]

    def _replace_broken_slots(self) -> None:
        if self._exiting:
            return  # no new workers while the server stops
        for index in sorted(self._broken):
            self._slots[index].shutdown(wait=False)
            self._slots[index] = self._new_slot()
        self._broken.clear()

    def _stop_over_budget(self) -> None:
        for job in self._running.values():
            budget = job.budget
            if not job._stop_requested and job.elapsed > budget:
                message = f"Stopped after its time budget of {budget:g} s"
                job._events.append({"kind": "budget", "message": message})
                self._request_stop(job, message)

    def _start_queued(self) -> None:
        if self._exiting:
            return
        for index in range(len(self._slots)):
            if index in self._running:
                continue
            heads = {owner: queue[0]._serial for owner, queue in self._queues.items()}
            owner = _next_owner(heads, self._running_by_owner(), self._served)
            if owner is None:
                return
            job = self._queues[owner].popleft()
            if not self._queues[owner]:
                del self._queues[owner]
            self._served[owner] = next(self._serial)
            payload = job._start()
            try:
                future = self._submit_to_slot(index, payload, job._channel)
            except Exception as exc:
                job._finish(
                    _Outcome("failed", error=_bug_message(exc), detail=traceback.format_exc())
                )
                continue
            self._running[index] = job
            self._started.append(job)
            future.add_done_callback(partial(self._on_done, index, job))

    def _submit_to_slot(self, index: int, payload: bytes, channel: JobChannel) -> Future[Any]:
        try:
            return self._slots[index].submit(_run_task, payload, channel)
        except (BrokenProcessPool, RuntimeError):
            # Its idle worker died (say, killed from outside): replace the slot, try once more.
            self._slots[index].shutdown(wait=False)
            self._slots[index] = self._new_slot()
            return self._slots[index].submit(_run_task, payload, channel)

    def _on_done(self, index: int, job: Job, future: Future[Any]) -> None:
        # Runs on the executor's thread: record and wake the dispatcher, nothing more.
        try:
            outcome = future.result()
        except BrokenProcessPool:
            # Killed on purpose while the server stops, or died.
            outcome = (
                _Outcome("stopped") if self._exiting else _Outcome("failed", error=CRASH_MESSAGE)
            )
            broken = True
        except CancelledError:
            outcome = _Outcome("stopped")
            broken = False
        except BaseException as exc:  # e.g. a result that does not pickle
            detail = "".join(traceback.format_exception(exc))
            outcome = _Outcome("failed", error=_bug_message(exc), detail=detail)
            broken = False
        else:
            broken = False
        with self._cond:
            if self._running.get(index) is job:
                del self._running[index]
            if broken:
                self._broken.add(index)
            if job.owner not in self._queues and job.owner not in self._running_by_owner():
                self._served.pop(job.owner, None)  # gone quiet: served first when back
            job._finish(outcome)
            self._cond.notify_all()


def _next_owner(
    heads: dict[str, int], running: dict[str, int], served: dict[str, int]
) -> str | None:
    """Whose job starts next, of the owners with jobs waiting (`heads`: owner -> the serial of
    its oldest waiting job): the one with the fewest jobs running, then the one served longest
    ago (never, for a newcomer), then the one waiting longest."""
    if not heads:
        return None
    return min(heads, key=lambda owner: (running.get(owner, 0), served.get(owner, 0), heads[owner]))


def _kill(slot: _Slot) -> None:
    kill = getattr(slot, "kill", None)
    if kill is not None:
        kill()
    else:
        slot.shutdown(wait=False)


def _at_interpreter_exit(runner: JobRunner) -> None:
    """Stop the runner's jobs when the interpreter exits without `shutdown_for_exit`.

    Python's exit joins the worker pools' threads, which wait for the jobs they run: a training
    would hold the exit until it ended, and the dispatcher would meanwhile hand queued jobs to
    pools that refuse them ("cannot schedule new futures after shutdown"). Hooks registered
    here run before those joins (the pools registered theirs first, and the hooks run newest
    first)."""
    ref = weakref.ref(runner)

    def stop() -> None:
        alive = ref()
        # A runner already shut down has nothing to stop, and its pools are closed.
        if alive is not None and not alive._shutting_down:
            alive.shutdown_for_exit()

    with contextlib.suppress(RuntimeError):  # raised when the interpreter is already exiting
        threading._register_atexit(stop)  # type: ignore[attr-defined]


def install_exit_handler(
    runner: JobRunner | Callable[[], JobRunner | None],
    on_interrupted: Callable[[list[Job]], Any] | None = None,
    deadline: float = 4.0,
) -> None:
    """Make SIGTERM stop `runner`'s jobs (`JobRunner.shutdown_for_exit`), tell
    `on_interrupted` which jobs did not run to their end, then do what SIGTERM did before: the
    previous handler (Streamlit's own shutdown), or exit with status 143 where it was the default.

    `runner` may be a callable returning the runner or None (one made lazily). Call it from the
    main thread, as `signal.signal` requires."""
    previous = signal.getsignal(signal.SIGTERM)

    def handle(signum: int, frame: types.FrameType | None) -> None:
        current = runner() if callable(runner) else runner
        if current is not None:
            interrupted = current.shutdown_for_exit(deadline)
            if on_interrupted is not None:
                try:
                    on_interrupted(interrupted)
                except Exception:
                    _log.exception("Recording the interrupted jobs failed.")
        if callable(previous):
            previous(signum, frame)
        elif previous != signal.SIG_IGN:
            raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, handle)
