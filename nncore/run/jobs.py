"""Run long work (trainings, predictions) in worker processes, away from the UI's server process.

The server keeps one `JobRunner`; each `submit` returns a `Job` handle that the UI stores in its
session and polls: status, live history, the latest progress snapshot, a stop button.

    runner = JobRunner(max_concurrent=1)
    job = runner.submit(train_task, experiment, data, name="run 3")
    job.touch(); job.status, job.history(), job.progress()
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
  themselves if the server dies (see `_watch_server`).
- A dispatcher thread hands queued jobs (FIFO) to free slots, replaces broken slots and stops jobs
  whose caller has gone (`abandon_after`). The executors' done-callbacks only record the outcome
  and wake it: they run on the executor's own thread, which must not be used to submit or shut
  down executors. The callbacks callers add with `Job.add_done_callback` run on the dispatcher
  instead, holding no lock of the runner's, so they may submit the next job: a caller's own lock
  taken around `submit` cannot then deadlock against the runner's.
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

import json
import logging
import multiprocessing
import os
import pickle
import shutil
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

from nncore.errors import JobError, NNCoreError

__all__ = ["Job", "JobChannel", "JobRunner", "JobStatus"]

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

    def _request_stop(self) -> None:
        try:
            with open(self._stop, "a"):
                pass
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


def _watch_server() -> None:
    """Worker initializer: end the worker when the server dies (it gets a new parent).

    Otherwise an orphaned worker trains on for nobody, then waits forever for its next task: it
    holds both ends of its executor's queues, so it never sees them close.
    """
    server = os.getppid()

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

    def __init__(self, runner: JobRunner, name: str, directory: str, payload: bytes) -> None:
        self.id = uuid.uuid4().hex[:12]
        self.name = name
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
        self.abandoned = False  # stopped because nobody touched it for `abandon_after` seconds
        self._last_touch = time.monotonic()
        self._started_at: float | None = None
        self._finished_at: float | None = None
        self._history = _LineLog(os.path.join(directory, _HISTORY))
        self._progress: dict[str, Any] | None = None
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

    @property
    def last_touch(self) -> float:
        """When someone last looked at the job (`time.monotonic()` seconds)."""
        return self._last_touch

    def touch(self) -> None:
        """Say someone is still looking; call it whenever the job is shown (see `abandon_after`)."""
        self._last_touch = time.monotonic()

    def stop(self) -> None:
        """Ask the job to stop. A queued job is stopped at once, without running; a running task
        stops when it next checks `channel.stop_requested()`. Does nothing once it has ended."""
        self._runner._stop(self)

    def done(self) -> bool:
        return self._finished.is_set()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the job ends or `timeout` seconds pass; True if it has ended."""
        return self._finished.wait(timeout)

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
            initializer=_watch_server,
            max_tasks_per_child=tasks_per_worker,
        )

    def submit(self, fn: Callable[..., Any], /, *args: Any) -> Future[Any]:
        return self._pool.submit(fn, *args)

    def shutdown(self, wait: bool) -> None:
        self._pool.shutdown(wait=wait, cancel_futures=True)


class JobRunner:
    """Runs submitted tasks in worker processes, at most `max_concurrent` at a time, FIFO.

    One per server process. `tasks_per_worker` jobs run in a worker before it is replaced by a
    fresh one. With `abandon_after` seconds set, a job nobody has `touch()`ed for that long is
    asked to stop (if running) or dropped (if queued): its browser tab is gone. `slot_factory`,
    called with `tasks_per_worker`, runs jobs elsewhere than in local worker processes (see
    `nncore.run.raypool.ray_slots`); `job_root` is where job files go (default: /dev/shm, else the
    temp
    folder), which workers on other machines must share.

    Use it as a context manager or call `shutdown()`.
    """

    def __init__(
        self,
        max_concurrent: int = 1,
        tasks_per_worker: int = 20,
        *,
        abandon_after: float | None = None,
        slot_factory: Callable[[int], _Slot] | None = None,
        job_root: str | None = None,
    ) -> None:
        if max_concurrent < 1:
            raise ValueError(f"max_concurrent must be at least 1, got {max_concurrent}.")
        if tasks_per_worker < 1:
            raise ValueError(f"tasks_per_worker must be at least 1, got {tasks_per_worker}.")
        if abandon_after is not None and abandon_after <= 0:
            raise ValueError(
                f"abandon_after must be a positive number of seconds or None, got {abandon_after}."
            )
        self._tasks_per_worker = tasks_per_worker
        self._slot_factory = slot_factory or _ProcessSlot
        self._job_root = job_root
        self._abandon_after = abandon_after
        self._tick = 0.5 if abandon_after is None else min(0.5, abandon_after / 4)
        self._cond = threading.Condition(threading.RLock())
        self._queue: deque[Job] = deque()
        self._slots: list[_Slot] = [self._new_slot() for _ in range(max_concurrent)]
        self._running: dict[int, Job] = {}  # slot index -> job
        self._ended: list[Job] = []  # ended jobs whose done-callbacks have not run yet
        self._broken: set[int] = set()
        self._shutting_down = False
        self._dispatcher = threading.Thread(
            target=self._dispatch_loop, name="nncore-job-dispatcher", daemon=True
        )
        self._dispatcher.start()

    def __enter__(self) -> JobRunner:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.shutdown(wait=True)

    def submit(self, fn: Callable[..., Any], /, *args: Any, name: str = "") -> Job:
        """Queue `fn(channel, *args)` to run in a worker process; returns its Job at once.

        `fn` must be a function defined at the top level of an importable module (not in the
        script being run, which workers do not load), and `args` picklable.
        """
        if getattr(fn, "__module__", None) == "__main__":
            raise TypeError(
                f"The task {getattr(fn, '__qualname__', fn)!r} is defined in the script being run "
                "(__main__), which worker processes do not load. Move it into a module and import "
                "it from there."
            )
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
                raise RuntimeError("This JobRunner has been shut down; make a new one.")
            job = Job(self, name, _make_job_directory(self._job_root), payload)
            self._queue.append(job)
            self._cond.notify_all()
        return job

    def shutdown(self, wait: bool = True) -> None:
        """Stop taking jobs. With `wait`, run the queued jobs, then return once all have ended.
        Without, drop the queued jobs, ask the running ones to stop and return at once."""
        with self._cond:
            self._shutting_down = True
            if not wait:
                while self._queue:
                    self._queue.popleft()._finish(_Outcome("stopped"))
                for job in self._running.values():
                    self._request_stop(job)
            self._cond.notify_all()
        if wait and threading.current_thread() is not self._dispatcher:
            self._dispatcher.join()

    def _new_slot(self) -> _Slot:
        return self._slot_factory(self._tasks_per_worker)

    def _queue_position(self, job: Job) -> int | None:
        with self._cond:
            for position, queued in enumerate(self._queue, start=1):
                if queued is job:
                    return position
            return None

    def _stop(self, job: Job) -> None:
        with self._cond:
            if job in self._queue:
                self._queue.remove(job)
                job._finish(_Outcome("stopped"))
                self._cond.notify_all()
            elif not job.done():
                self._request_stop(job)

    @staticmethod
    def _request_stop(job: Job) -> None:
        job._stop_requested = True
        job._channel._request_stop()

    def _dispatch_loop(self) -> None:
        while True:
            with self._cond:
                try:
                    self._replace_broken_slots()
                    self._stop_abandoned()
                    self._start_queued()
                except Exception:  # a bug here must not silently end all dispatching
                    _log.exception("The job dispatcher hit an error; it carries on.")
                ended, self._ended = self._ended, []
                if not ended:
                    if self._shutting_down and not self._queue and not self._running:
                        slots = list(self._slots)
                        break
                    self._cond.wait(self._tick)
            # Outside the lock: a callback may submit, or wait for a lock of its caller's.
            for job in ended:
                job._run_done_callbacks()
        for slot in slots:
            slot.shutdown(wait=True)

    def _replace_broken_slots(self) -> None:
        for index in sorted(self._broken):
            self._slots[index].shutdown(wait=False)
            self._slots[index] = self._new_slot()
        self._broken.clear()

    def _stop_abandoned(self) -> None:
        if self._abandon_after is None:
            return
        now = time.monotonic()
        for job in [*self._queue, *self._running.values()]:
            if not job._stop_requested and now - job._last_touch > self._abandon_after:
                job.abandoned = True
                self._stop(job)

    def _start_queued(self) -> None:
        for index in range(len(self._slots)):
            if not self._queue:
                return
            if index in self._running:
                continue
            job = self._queue.popleft()
            payload = job._start()
            try:
                future = self._submit_to_slot(index, payload, job._channel)
            except Exception as exc:
                job._finish(
                    _Outcome("failed", error=_bug_message(exc), detail=traceback.format_exc())
                )
                continue
            self._running[index] = job
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
            outcome = _Outcome("failed", error=CRASH_MESSAGE)
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
            job._finish(outcome)
            self._cond.notify_all()
