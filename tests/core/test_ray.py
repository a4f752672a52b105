"""Jobs as Ray tasks, against a real local cluster started with `ray start --head`.

Ray binds the machine's network address whatever `--node-ip-address` says, so the cluster and the
tests that use it run in a network namespace with only loopback, where Ray's node address is
127.0.0.1 and nothing can leave the machine. The namespace also has its own process IDs and
mounts: `ray stop` sees only this cluster, Ray's session files go to a tmpfs of its own, and
everything Ray started dies with the namespace, even when the test times out.

`test_a_local_cluster_runs_the_jobs` builds that namespace, starts the head node in it and runs
pytest again on `TestOnALocalCluster`, which is skipped anywhere else.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import shlex
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from nncore.config import DataSpec, Experiment, LayerSpec, TrainSpec
from nncore.data.samples import SAMPLES, load_sample
from nncore.errors import JobError
from nncore.learn.diagnostics import split_history
from nncore.run.jobs import CRASH_MESSAGE, JobRunner
from tests.core import jobtasks

REPO = Path(__file__).resolve().parents[2]
CLUSTER = os.environ.get("NNSTUDIO_TEST_RAY_CLUSTER")  # set only inside the namespace
PORT = 6379  # free: the namespace has no other listener
CLUSTER_SECONDS = 420
# CI installs requirements-ray.txt, so there a missing Ray fails these tests instead.
needs_ray = pytest.mark.skipif(
    importlib.util.find_spec("ray") is None and not os.environ.get("CI"),
    reason="Ray is not installed (pip install -r requirements-ray.txt)",
)


def _ray_environment() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("RAY_ADDRESS", "NNSTUDIO_RAY_ADDRESS")}
    env["RAY_USAGE_STATS_ENABLED"] = "0"
    return env


@needs_ray
@pytest.mark.skipif(CLUSTER is not None, reason="this is the test that runs the cluster's tests")
@pytest.mark.timeout(CLUSTER_SECONDS + 60)
def test_a_local_cluster_runs_the_jobs(tmp_path):
    ray = shlex.quote(str(Path(sys.executable).with_name("ray")))
    python = shlex.quote(sys.executable)
    start_log = tmp_path / "ray-start.log"
    log = shlex.quote(str(start_log))
    script = textwrap.dedent(
        f"""\
        set -e
        ip link set lo up
        mkdir -p /tmp/ray && mount -t tmpfs -o size=512m nncore-ray /tmp/ray
        {ray} start --head --port={PORT} --num-cpus=2 --object-store-memory=200000000 \\
            --include-dashboard=false --disable-usage-stats > {log} 2>&1
        set +e
        NNSTUDIO_TEST_RAY_CLUSTER=127.0.0.1:{PORT} {python} -m pytest -q -p no:cacheprovider \\
            --durations=0 "tests/core/test_ray.py::TestOnALocalCluster"
        code=$?
        {ray} stop --force > /dev/null 2>&1
        exit $code
        """
    )
    # As root (CI) the namespaces need no more; anyone else maps themselves to root in their own.
    user = [] if os.geteuid() == 0 else ["--map-root-user"]
    command = ["unshare", *user, "--net", "--pid", "--mount-proc", "--kill-child", "sh", "-c"]
    mount_point = Path("/tmp/ray")
    made_mount_point = not mount_point.exists()
    started = time.monotonic()
    try:
        done = subprocess.run(
            [*command, script],
            cwd=REPO,
            env=_ray_environment(),
            capture_output=True,
            text=True,
            timeout=CLUSTER_SECONDS,
            stdin=subprocess.DEVNULL,
        )
    finally:
        if made_mount_point:
            with contextlib.suppress(OSError):
                mount_point.rmdir()  # empty: what Ray wrote there was in the namespace's tmpfs
    seconds = time.monotonic() - started
    assert done.returncode == 0, (
        f"exit {done.returncode} after {seconds:.0f} s\n{done.stdout[-6000:]}\n"
        f"{done.stderr[-3000:]}\n{start_log.read_text()[-2000:] if start_log.exists() else ''}"
    )
    assert " passed" in done.stdout and "skipped" not in done.stdout, done.stdout[-3000:]
    print(f"Ray cluster tests: {seconds:.0f} s\n{done.stdout[-3000:]}")


def test_a_server_without_a_cluster_never_imports_ray():
    code = "import sys, ui; ui.job_runner().shutdown(); print('ray' in sys.modules)"
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=REPO,
        env=_ray_environment(),
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert done.stdout.strip().splitlines()[-1] == "False"


def test_a_cluster_set_without_ray_installed_says_what_to_do(monkeypatch):
    from nncore.run.raypool import ray_slots

    monkeypatch.setitem(sys.modules, "ray", None)  # what `import ray` meets without the package
    with pytest.raises(JobError, match=r"Ray is not installed.*requirements-ray\.txt"):
        ray_slots("127.0.0.1:6379")


@needs_ray
def test_a_cluster_nobody_listens_at_is_reported_at_once():
    from nncore.run.raypool import ray_slots

    with socket.socket() as probe:  # a loopback port that was free a moment ago
        probe.bind(("127.0.0.1", 0))
        address = f"127.0.0.1:{probe.getsockname()[1]}"
    started = time.monotonic()
    with pytest.raises(JobError, match=r"Could not connect .*ray start --head"):
        ray_slots(address)
    assert time.monotonic() - started < 10


@needs_ray
def test_the_train_page_says_when_its_cluster_cannot_be_reached():
    code = textwrap.dedent(
        f"""\
        from streamlit.testing.v1 import AppTest
        at = AppTest.from_file({str(REPO / "app.py")!r}, default_timeout=60)
        at.run()
        at.button(key="sample_iris").click().run()
        at.switch_page("pages/train.py").run()
        at.button(key="start").click().run()
        assert not at.exception, at.exception
        print(at.error[0].value)
        """
    )
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        env = {**_ray_environment(), "NNSTUDIO_RAY_ADDRESS": f"127.0.0.1:{probe.getsockname()[1]}"}
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "Could not connect to the Ray cluster" in done.stdout
    assert "ray start --head" in done.stdout


def _same_run_experiment() -> Experiment:
    sample = SAMPLES["iris"]
    return Experiment(
        data=DataSpec(target=sample.target),
        layers=(LayerSpec(16), LayerSpec(8)),
        training=TrainSpec(epochs=30, batch_size=16, patience=5),
        seed=7,
    )


@pytest.mark.skipif(CLUSTER is None, reason="runs in the cluster's namespace (see the first test)")
class TestOnALocalCluster:
    @pytest.fixture(scope="class")
    def ray_runner(self):
        from nncore.run.raypool import ray_slots

        with JobRunner(max_concurrent=2, slot_factory=ray_slots(CLUSTER)) as runner:
            yield runner

    def test_jobs_run_as_ray_tasks(self, ray_runner):
        import psutil

        pid = ray_runner.submit(jobtasks.worker_pid).result(timeout=120)
        assert pid != os.getpid()
        assert psutil.Process(pid).cmdline()[0].startswith("ray::"), psutil.Process(pid).cmdline()

    def test_a_training_gives_the_same_run_as_on_local_workers(self, ray_runner, tmp_path):
        from nncore.run.tasks import train_job

        frame = load_sample("iris")
        experiment = _same_run_experiment()
        with JobRunner() as local_runner:
            local = local_runner.submit(train_job, frame, experiment, str(tmp_path / "local"))
            on_ray = ray_runner.submit(train_job, frame, experiment, str(tmp_path / "ray"))
            local_run = local.result(timeout=300)
            ray_run = on_ray.result(timeout=300)
        assert on_ray.status == local.status == "done"
        assert len(ray_run.history) >= 5
        assert ray_run.history == local_run.history
        ray_logs, ray_diagnostics = split_history(on_ray.history())
        local_logs, local_diagnostics = split_history(local.history())
        assert ray_logs == local_logs  # as reported live, epoch by epoch
        # Which epochs get diagnostics depends on how long measuring takes against training
        # (`Probe.measure_within_budget`), so on the load of the machine; the first epoch always
        # does. An epoch both runs measured must have the same record.
        pairs = zip(ray_diagnostics, local_diagnostics, strict=True)
        both = [
            i
            for i, (on_ray_record, local_record) in enumerate(pairs)
            if on_ray_record and local_record
        ]
        assert both[:1] == [0]
        assert [ray_diagnostics[i] for i in both] == [local_diagnostics[i] for i in both]
        assert ray_run.metrics["validation"] == local_run.metrics["validation"]
        assert ray_run.training.best_epoch == local_run.training.best_epoch
        assert (ray_run.validation_rows == local_run.validation_rows).all()
        assert (ray_run.output_val == local_run.output_val).all()
        assert (tmp_path / "ray" / "model.keras").is_file()

    def test_stop_ends_a_running_task(self, ray_runner):
        job = ray_runner.submit(jobtasks.until_stopped, 60)
        assert _wait_until(lambda: job.status == "running")
        time.sleep(1.0)  # let the task itself start
        job.stop()
        assert job.wait(timeout=30)
        assert job.status == "stopped"
        assert job.result() == "stopped"

    def test_a_crashed_task_fails_only_its_own_job(self, ray_runner, tmp_path):
        gate = tmp_path / "gate"
        survivor = ray_runner.submit(jobtasks.epochs_then_wait, 1, str(gate), 120)
        assert _wait_until(lambda: len(survivor.history()) == 1, timeout=120)

        crashed = ray_runner.submit(jobtasks.crash, "exit")
        assert crashed.wait(timeout=60)
        assert crashed.status == "failed"
        assert crashed.error() == CRASH_MESSAGE
        assert crashed.history() == [{"epoch": 0, "loss": 0.5}]  # kept past the crash

        # The other slot is busy, so this runs in the crashed slot's replacement.
        assert survivor.status == "running"
        assert isinstance(ray_runner.submit(jobtasks.worker_pid).result(timeout=60), int)
        gate.touch()
        assert survivor.result(timeout=30) == "gate"

    def test_the_train_page_trains_on_the_cluster_its_environment_names(self):
        # AppTest runs the page in a thread of its own, as the server does: Ray connects there.
        code = textwrap.dedent(
            f"""\
            import time
            import psutil, ray
            from streamlit.testing.v1 import AppTest
            import ui
            from tests.core import jobtasks

            at = AppTest.from_file({str(REPO / "app.py")!r}, default_timeout=60)
            at.run()
            at.button(key="sample_iris").click().run()
            at.switch_page("pages/train.py").run()
            at.button(key="start").click().run()
            job = at.session_state[ui.Keys.WORKBENCH].runs[-1].job
            job.wait(timeout=240)
            at.run()
            assert not at.exception, at.exception
            print(job.status, ray.is_initialized())
            pid = ui.job_runner().submit(jobtasks.worker_pid).result(timeout=60)
            print(psutil.Process(pid).cmdline()[0])
            """
        )
        env = {**_ray_environment(), "RAY_ADDRESS": CLUSTER}
        done = subprocess.run(
            [sys.executable, "-c", code],
            cwd=REPO,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert done.returncode == 0, done.stderr[-3000:]
        trained, worker = done.stdout.strip().splitlines()[-2:]
        assert trained == "done True"
        assert worker.startswith("ray::")


def _wait_until(condition, timeout: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return condition()
