"""The job runner with real worker processes: live reports, stop, queueing, failures, crashes."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import types
from collections.abc import Callable, Iterator
from pathlib import Path

import psutil
import pytest

from nncore.errors import DataError, JobError
from nncore.run.jobs import Job, JobRunner
from tests.core import jobtasks

REPO = Path(__file__).resolve().parents[2]


def wait_until(condition: Callable[[], bool], timeout: float = 15.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return condition()


def started(job: Job, epochs: int = 1) -> bool:
    """Wait until the task itself is running (it has reported `epochs` epochs)."""
    return wait_until(lambda: len(job.history()) >= epochs)


@pytest.fixture
def make_runner() -> Iterator[Callable[..., JobRunner]]:
    runners: list[JobRunner] = []

    def make(**options: object) -> JobRunner:
        runner = JobRunner(**options)  # type: ignore[arg-type]
        runners.append(runner)
        return runner

    yield make
    for runner in runners:
        runner.shutdown(wait=False)


def test_history_and_progress_are_live_and_kept_after_close(make_runner, tmp_path):
    gate = tmp_path / "gate"
    job = make_runner().submit(jobtasks.epochs_then_wait, 3, str(gate), name="live")

    assert started(job, epochs=3)
    assert job.status == "running"
    assert job.name == "live"
    assert job.history() == [
        {"epoch": 0, "loss": 1.0},
        {"epoch": 1, "loss": 0.5},
        {"epoch": 2, "loss": 1 / 3},
    ]
    assert job.progress() == {"epoch": 2, "batch": 10, "batches_per_epoch": 10}

    gate.touch()
    assert job.result(timeout=10) == "gate"
    assert (job.status, job.error(), job.done()) == ("done", None, True)
    assert job.elapsed > 0
    directory = job._channel._dir
    assert os.path.isdir(directory)

    job.close()
    assert not os.path.exists(directory)
    assert len(job.history()) == 3
    assert job.progress() == {"epoch": 2, "batch": 10, "batches_per_epoch": 10}
    assert job.result() == "gate"


def test_progress_is_the_latest_snapshot(make_runner):
    job = make_runner().submit(jobtasks.many_progress_reports, 300)
    assert job.result(timeout=15) == 300
    assert job.progress() == {"epoch": 0, "batch": 299, "batches_per_epoch": 300}
    assert job.history() == []


def test_stop_ends_a_cooperative_task_promptly(make_runner, tmp_path):
    job = make_runner().submit(jobtasks.epochs_then_wait, 1, str(tmp_path / "never"))
    assert started(job)

    job.stop()
    assert job.wait(timeout=5)
    assert job.status == "stopped"
    assert job.result() == "stopped"  # a stopped training still hands back what it has
    assert job.error() is None
    job.stop()  # stopping an ended job does nothing
    assert job.status == "stopped"


def test_jobs_queue_fifo_and_a_queued_job_can_be_cancelled(make_runner, tmp_path):
    runner = make_runner(max_concurrent=1)
    gate, log = tmp_path / "gate", str(tmp_path / "order.txt")
    first = runner.submit(jobtasks.epochs_then_wait, 1, str(gate))
    assert started(first)
    second = runner.submit(jobtasks.record, log, "second")
    third = runner.submit(jobtasks.record, log, "third")
    fourth = runner.submit(jobtasks.record, log, "fourth")

    assert first.queue_position() is None
    assert [job.queue_position() for job in (second, third, fourth)] == [1, 2, 3]
    assert (second.status, second.progress(), second.history(), second.elapsed) == (
        "queued",
        None,
        [],
        0.0,
    )

    third.stop()
    assert (third.status, third.done()) == ("stopped", True)
    assert [second.queue_position(), third.queue_position(), fourth.queue_position()] == [
        1,
        None,
        2,
    ]
    with pytest.raises(JobError, match="before it started"):
        third.result()

    gate.touch()
    assert fourth.result(timeout=15) == "fourth"
    assert [job.status for job in (first, second, third, fourth)] == [
        "done",
        "done",
        "stopped",
        "done",
    ]
    assert jobtasks.read_lines(log) == ["second", "fourth"]


def test_a_user_error_fails_the_job_with_its_own_message(make_runner):
    job = make_runner().submit(jobtasks.raise_data_error, "Column 'price' has no numbers.")
    assert job.wait(timeout=15)
    assert job.status == "failed"
    assert job.error() == "Column 'price' has no numbers."
    with pytest.raises(DataError, match="Column 'price' has no numbers."):
        job.result()


def test_any_other_exception_fails_the_job_and_names_it(make_runner):
    job = make_runner().submit(jobtasks.divide_by_zero)
    assert job.wait(timeout=15)
    assert job.status == "failed"
    assert "ZeroDivisionError: division by zero" in job.error()
    with pytest.raises(JobError, match="ZeroDivisionError"):
        job.result()


@pytest.mark.parametrize("how", ["exit", "kill"])
def test_a_crashed_worker_fails_only_its_own_job(make_runner, tmp_path, how):
    runner = make_runner(max_concurrent=2)
    gate = tmp_path / "gate"
    survivor = runner.submit(jobtasks.epochs_then_wait, 1, str(gate))
    assert started(survivor)

    crashed = runner.submit(jobtasks.crash, how)
    assert crashed.wait(timeout=15)
    assert crashed.status == "failed"
    assert "stopped unexpectedly" in crashed.error()
    assert "smaller batch" in crashed.error()
    assert crashed.history() == [{"epoch": 0, "loss": 0.5}]  # kept past the crash
    with pytest.raises(JobError, match="stopped unexpectedly"):
        crashed.result()

    # The other slot is busy, so this runs in the crashed slot's replacement.
    assert survivor.status == "running"
    later = runner.submit(jobtasks.worker_pid)
    assert isinstance(later.result(timeout=15), int)

    gate.touch()
    assert survivor.result(timeout=10) == "gate"
    assert survivor.status == "done"


def test_workers_are_recycled_after_tasks_per_worker_jobs(make_runner):
    runner = make_runner(max_concurrent=1, tasks_per_worker=2)
    jobs = [runner.submit(jobtasks.worker_pid) for _ in range(5)]
    pids = [job.result(timeout=20) for job in jobs]
    assert pids[0] == pids[1]
    assert pids[2] == pids[3]
    assert len({pids[0], pids[2], pids[4]}) == 3
    assert os.getpid() not in pids


def test_start_callbacks_run_once_a_job_starts_and_never_for_one_stopped_while_queued(
    make_runner,
):
    runner = make_runner(max_concurrent=1)
    first = runner.submit(jobtasks.until_stopped, 30)
    waiting = runner.submit(jobtasks.until_stopped, 30)
    order: list[tuple[str, str]] = []
    started, ended = threading.Event(), threading.Event()
    first.add_start_callback(lambda job: (order.append(("start", job.status)), started.set()))
    first.add_done_callback(lambda job: (order.append(("done", job.status)), ended.set()))
    waiting.add_start_callback(lambda job: order.append(("waiting started", job.status)))
    assert started.wait(60)
    assert order == [("start", "running")]
    waiting.stop()
    first.stop()
    assert ended.wait(60) and waiting.wait(60)
    assert order == [("start", "running"), ("done", "stopped")]
    late: list[str] = []
    first.add_start_callback(lambda job: late.append("ran at once"))
    waiting.add_start_callback(lambda job: late.append("never started"))
    assert late == ["ran at once"]


SERVER = """
import sys, time
from nncore.run.jobs import JobRunner
from tests.core import jobtasks

runner = JobRunner()
job = runner.submit(jobtasks.report_pid_then_wait)
deadline = time.monotonic() + 15
while not job.history() and time.monotonic() < deadline:
    time.sleep(0.02)
print(job.history()[0]["pid"], job._channel._dir, flush=True)
time.sleep(30)
"""


def test_a_worker_ends_when_its_server_dies():
    server = subprocess.Popen(
        [sys.executable, "-c", SERVER], cwd=REPO, stdout=subprocess.PIPE, text=True
    )
    try:
        pid, directory = server.stdout.readline().split()
        worker = psutil.Process(int(pid))
        server.send_signal(signal.SIGKILL)
        server.wait(timeout=10)
        worker.wait(timeout=10)  # raises TimeoutExpired if the worker lives on
    finally:
        server.kill()
        server.wait(timeout=10)
    shutil.rmtree(directory, ignore_errors=True)  # the dead server could not clean up


def test_workers_do_not_run_the_servers_main_script(make_runner, tmp_path):
    # Streamlit installs the app script as __main__; a plain spawn worker would run it.
    marker = tmp_path / "main-ran"
    script = tmp_path / "app.py"
    script.write_text(f"open({str(marker)!r}, 'w').close()\n")
    app_main = types.ModuleType("__main__")
    app_main.__file__ = str(script)
    real_main = sys.modules["__main__"]
    sys.modules["__main__"] = app_main
    try:
        pid = make_runner().submit(jobtasks.worker_pid).result(timeout=15)
    finally:
        sys.modules["__main__"] = real_main
    assert isinstance(pid, int)
    assert not marker.exists()


def test_tasks_workers_cannot_import_are_refused_at_submit(make_runner):
    runner = make_runner()
    with pytest.raises(TypeError, match="module level"):
        runner.submit(lambda channel: 1)

    def task_in_main(channel):
        return 1

    task_in_main.__module__ = "__main__"
    with pytest.raises(TypeError, match="Move it into a module"):
        runner.submit(task_in_main)


def test_shutdown_waits_as_a_context_manager_and_refuses_new_jobs():
    with JobRunner() as runner:
        job = runner.submit(jobtasks.worker_pid)
    assert job.status == "done"
    with pytest.raises(RuntimeError, match="shut down"):
        runner.submit(jobtasks.worker_pid)


def test_shutdown_without_waiting_drops_queued_and_stops_running_jobs(tmp_path):
    runner = JobRunner(max_concurrent=1)
    running = runner.submit(jobtasks.epochs_then_wait, 1, str(tmp_path / "never"))
    queued = runner.submit(jobtasks.worker_pid)
    assert started(running)

    runner.shutdown(wait=False)
    assert queued.status == "stopped"
    assert running.wait(timeout=5)
    assert running.status == "stopped"


def test_tensorflow_stays_in_the_worker():
    tensorflow_was_loaded = "tensorflow" in sys.modules  # by another test file, in a full run
    with JobRunner() as runner:
        job = runner.submit(jobtasks.import_tensorflow)
        assert job.result(timeout=120)[0].isdigit()
    if not tensorflow_was_loaded:
        assert "tensorflow" not in sys.modules

    fresh = subprocess.run(
        [sys.executable, "-c", "import sys, nncore.run.jobs; print('tensorflow' in sys.modules)"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert fresh.stdout.strip() == "False"


def test_done_callbacks_run_on_the_dispatcher_and_may_submit_the_next_job(make_runner, tmp_path):
    """A chain of jobs, each submitted by the done-callback of the one before, while the caller
    holds its own lock around its submits: the lock order a Workbench has."""
    runner = make_runner(max_concurrent=1)
    log = str(tmp_path / "order.txt")
    lock = threading.Lock()
    chain: list[Job] = []
    threads: list[str] = []
    ended = threading.Event()

    def next_link(job: Job) -> None:
        threads.append(threading.current_thread().name)
        with lock:
            if len(chain) == 3:
                ended.set()
                return
            link = runner.submit(jobtasks.record, log, f"link {len(chain)}")
            chain.append(link)
            link.add_done_callback(next_link)

    with lock:
        chain.append(runner.submit(jobtasks.record, log, "link 0"))
        chain[0].add_done_callback(next_link)
    assert ended.wait(60)
    assert [job.status for job in chain] == ["done"] * 3
    assert jobtasks.read_lines(log) == ["link 0", "link 1", "link 2"]
    assert set(threads) == {"nncore-job-dispatcher"}


def test_a_done_callback_sees_stopped_and_failed_jobs_and_one_added_late_runs_at_once(
    make_runner,
):
    runner = make_runner(max_concurrent=1)
    running = runner.submit(jobtasks.until_stopped, 30)
    queued = runner.submit(jobtasks.until_stopped, 30)
    seen: dict[str, str] = {}
    seen_all = threading.Event()

    def note(job: Job) -> None:
        seen[job.name or job.id] = job.status
        if len(seen) == 3:
            seen_all.set()

    def broken(job: Job) -> None:
        raise RuntimeError("a callback's own bug")

    queued.add_done_callback(broken)  # logged; the callbacks after it still run
    queued.add_done_callback(lambda job: note(job) if job is queued else None)
    running.add_done_callback(note)
    failing = runner.submit(jobtasks.raise_data_error, "bad rows", name="failing")
    failing.add_done_callback(note)
    queued.stop()  # stopped before it started
    running.stop()
    assert seen_all.wait(60)
    assert seen == {running.id: "stopped", queued.id: "stopped", "failing": "failed"}
    late: list[str] = []
    failing.add_done_callback(lambda job: late.append(threading.current_thread().name))
    assert late == [threading.current_thread().name]


def test_the_queue_is_fair_across_owners(make_runner, tmp_path):
    """One owner with five queued jobs does not delay another owner's first job: the owner whose
    turn came longest ago (never, here) goes first."""
    runner = make_runner(max_concurrent=1)
    gate, log = tmp_path / "gate", str(tmp_path / "order")
    blocker = runner.submit(jobtasks.epochs_then_wait, 1, str(gate), owner="a")
    assert started(blocker)
    many = [runner.submit(jobtasks.record, log, f"a{i}", owner="a") for i in range(5)]
    other = runner.submit(jobtasks.record, log, "b0", owner="b")
    assert other.queue_position() == 1
    assert [job.queue_position() for job in many] == [2, 3, 4, 5, 6]

    gate.touch()
    assert wait_until(lambda: all(job.done() for job in [*many, other]))
    assert jobtasks.read_lines(log) == ["b0", "a0", "a1", "a2", "a3", "a4"]


def test_an_owner_alone_uses_every_slot_and_gives_way_when_another_waits(make_runner, tmp_path):
    runner = make_runner(max_concurrent=2)
    gates = [tmp_path / f"gate{i}" for i in range(3)]
    first, second, third = (
        runner.submit(jobtasks.epochs_then_wait, 1, str(gate), owner="a") for gate in gates
    )
    assert started(first) and started(second)  # alone, "a" runs two at once
    late = runner.submit(jobtasks.epochs_then_wait, 1, str(tmp_path / "late"), owner="b")
    assert (late.queue_position(), third.queue_position()) == (1, 2)
    gates[0].touch()
    assert started(late)
    assert third.status == "queued"
    for job in (second, third, late):
        job.stop()


def test_an_owner_may_queue_only_so_many_jobs(make_runner, tmp_path):
    runner = make_runner(max_concurrent=1, max_queued=2)
    running = runner.submit(jobtasks.until_stopped, owner="a")
    assert wait_until(lambda: running.status == "running")
    queued = [runner.submit(jobtasks.worker_pid, owner="a") for _ in range(2)]
    with pytest.raises(JobError, match=r"already have 2 jobs waiting.+wait for one to start"):
        runner.submit(jobtasks.worker_pid, owner="a")
    runner.submit(jobtasks.worker_pid, owner="b")  # another owner's queue is its own
    queued[0].stop()
    runner.submit(jobtasks.worker_pid, owner="a")
    running.stop()


def test_a_job_over_its_budget_is_asked_to_stop_and_says_why(make_runner):
    runner = make_runner(budget=0.3)
    job = runner.submit(jobtasks.reason_when_stopped)
    assert job.result(timeout=15) == "Stopped after its time budget of 0.3 s"
    assert job.status == "stopped"
    assert job.events() == [{"kind": "budget", "message": "Stopped after its time budget of 0.3 s"}]
    own = runner.submit(jobtasks.reason_when_stopped, budget=0.2)
    assert own.result(timeout=15) == "Stopped after its time budget of 0.2 s"
    stopped = runner.submit(jobtasks.reason_when_stopped, 5)
    assert wait_until(lambda: stopped.status == "running")
    stopped.stop()
    assert stopped.result(timeout=15) == ""  # a user's stop gives no reason


def test_shutdown_for_exit_stops_what_runs_kills_what_ignores_it_and_drops_the_queue(tmp_path):
    runner = JobRunner(max_concurrent=2)
    cooperative = runner.submit(jobtasks.epochs_then_wait, 1, str(tmp_path / "never"))
    stubborn = runner.submit(jobtasks.ignore_stop, 60)
    queued = runner.submit(jobtasks.worker_pid)
    assert started(cooperative) and started(stubborn)

    began = time.monotonic()
    interrupted = runner.shutdown_for_exit(deadline=1.0)
    assert time.monotonic() - began < 5  # the deadline, plus killing
    assert set(interrupted) == {cooperative, stubborn, queued}
    assert queued.status == "stopped"
    assert cooperative.wait(timeout=5) and cooperative.result() == "stopped"
    assert stubborn.wait(timeout=5) and stubborn.status == "stopped"
    with pytest.raises(JobError, match="shut down"):
        runner.submit(jobtasks.worker_pid)


def test_owners_with_queues_take_turns(make_runner, tmp_path):
    runner = make_runner(max_concurrent=1)
    gate, log = tmp_path / "gate", str(tmp_path / "order")
    blocker = runner.submit(jobtasks.epochs_then_wait, 1, str(gate), owner="c")
    assert started(blocker)
    jobs = [runner.submit(jobtasks.record, log, f"a{i}", owner="a") for i in range(3)]
    jobs += [runner.submit(jobtasks.record, log, f"b{i}", owner="b") for i in range(3)]
    gate.touch()
    assert wait_until(lambda: all(job.done() for job in jobs))
    assert jobtasks.read_lines(log) == ["a0", "b0", "a1", "b1", "a2", "b2"]


def test_a_queue_emptied_by_a_stop_holds_up_no_one(make_runner, tmp_path):
    runner = make_runner(max_concurrent=1)
    gate = tmp_path / "gate"
    blocker = runner.submit(jobtasks.epochs_then_wait, 1, str(gate), owner="a")
    assert started(blocker)
    cancelled = runner.submit(jobtasks.worker_pid, owner="b")
    cancelled.stop()
    later = runner.submit(jobtasks.worker_pid, owner="c")
    gate.touch()
    assert later.wait(timeout=15) and later.status == "done"
    assert cancelled.status == "stopped"
