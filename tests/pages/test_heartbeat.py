"""A session's job in flight stays alive on every page; a closed tab's job is stopped."""

import time
import uuid
from pathlib import Path

from streamlit.testing.v1 import AppTest

from nncore.config import Experiment
from nncore.run.jobs import JobRunner
from nncore.run.session import Run, Workbench
from tests.core import jobtasks
from ui import Keys

APP = str(Path(__file__).resolve().parents[2] / "app.py")


def test_every_page_run_touches_the_sessions_running_job(tmp_path):
    with JobRunner(max_concurrent=1) as runner:
        job = runner.submit(jobtasks.until_stopped, 60)
        at = AppTest.from_file(APP, default_timeout=60)
        bench = Workbench(lambda: runner, tmp_path)
        bench.runs.append(Run(uuid.uuid4().hex[:8], "run 1", Experiment(), job, tmp_path))
        at.session_state[Keys.WORKBENCH] = bench
        for page in ("pages/data.py", "pages/model.py", "pages/evaluate.py"):
            before = time.monotonic()
            at.switch_page(page).run()  # no training in view on any of them
            assert not at.exception
            assert job.last_touch >= before, page
        job.stop()
        assert job.wait(60)


def test_a_job_nobody_touches_is_stopped():
    with JobRunner(max_concurrent=1, abandon_after=1.0) as runner:
        job = runner.submit(jobtasks.until_stopped, 60)
        assert job.wait(30)
        assert job.status == "stopped"
