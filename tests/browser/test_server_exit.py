"""SIGTERM to the server (a host shutting down, a container stopped) while a training runs."""

import re
import signal
import time

import psutil
import pytest
from test_studio import MAX_EPOCHS, load_sample, start_training

pytestmark = pytest.mark.browser
EXIT_SECONDS = 30  # generous: the server's own deadline for its jobs is 4 s


def running(process: psutil.Process) -> bool:
    """Whether `process` still runs: a killed worker stays a zombie until init reaps it."""
    try:
        return process.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def test_sigterm_during_a_training_ends_the_server_and_its_worker_cleanly(
    browser, own_server, tmp_path
):
    log = tmp_path / "server.log"
    with own_server(log, TMPDIR=str(tmp_path)) as (process, url):
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.set_default_timeout(60_000)
        page.goto(url)
        load_sample(page, "Breast cancer")
        start_training(page, MAX_EPOCHS, early_stopping=False)
        page.get_by_text(re.compile(r"run 1: epoch ([2-9]|\d\d+) of")).first.wait_for()
        workers = psutil.Process(process.pid).children(recursive=True)
        assert workers, "the training runs in a worker process of the server"

        process.send_signal(signal.SIGTERM)
        process.wait(timeout=EXIT_SECONDS)
        page.close()

    deadline = time.monotonic() + EXIT_SECONDS
    while any(running(worker) for worker in workers) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not [worker for worker in workers if running(worker)]
    output = log.read_text()
    assert "Traceback" not in output, output[-3000:]
