"""Five browser sessions at once against one server: each uploads its own CSV, trains and
predicts; none sees an error or another session's data, and the server process stays small.

One Chromium, five contexts (five Streamlit sessions), driven from this one thread (Playwright's
sync API is not thread-safe): every step is taken by all five before the next, so the five are
live on the server together and their trainings queue behind its job limit. A side thread
samples the server process's RSS throughout.
"""

import contextlib
import json
import os
import re
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import numpy as np
import pandas as pd
import psutil
import pytest
from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import Page
from test_studio import go_to, wait_idle

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
START_SECONDS = 60
SESSIONS = 5
EPOCHS = 5
PREDICT_ROWS = 20
# Community Cloud gives an app about 2.7 GB; a training worker holds TensorFlow, about 760 MB
# (README). The server process, which never loads TensorFlow, must leave room for workers.
# Measured on 2 cores: 70 MB at start, about 290 MB at most during this test.
SERVER_BUDGET_MB = 600
# Bounds on waits for states, not budgets: a slow machine only waits longer.
STEP_MS = 90_000  # one wait on one page; the pages share two cores with the server and workers
TRAIN_SECONDS = 300  # until all five have trained, two at a time
POLL_SECONDS = 0.5
FINISHED = re.compile(r"run 1: (Finished \d+ epochs|Early stopping after)")
QUEUED = re.compile(r"position \d+ in the queue")
# Any URL not on the loopback: such requests are refused, so the test never leaves 127.0.0.1.
OFFSITE = re.compile(r"^(?!(https?|wss?)://127\.0\.0\.1[:/])[a-z]+://")
# Streamlit fetches the favicon for a Material page icon from Google's font server.
KNOWN_OFFSITE = {"fonts.gstatic.com"}
RUNS_SHOWN = re.compile(r"\brun (\d+)\b")


def table(i: int) -> pd.DataFrame:
    """Session i's own data: every column name, category and class carries its number.

    Even sessions learn a binary target with classes s<i>_no/s<i>_yes, odd ones a number. The
    target comes first, so the Data page's default (the last column) has to be changed.
    """
    rng = np.random.default_rng(i)
    rows = 150 + 10 * i
    size = rng.normal(size=rows)
    weight = rng.uniform(0, 10, rows)
    group = rng.choice([f"s{i}_a", f"s{i}_b", f"s{i}_c"], rows)
    score = size + weight / 5 + (group == f"s{i}_a")
    if i % 2 == 0:
        target = np.where(score > np.median(score), f"s{i}_yes", f"s{i}_no")
    else:
        target = score + rng.normal(0, 0.1, rows)
    return pd.DataFrame(
        {
            f"target_{i}": target,
            f"marker_{i}": rng.normal(i, 1, rows),
            f"size_{i}": size,
            f"weight_{i}": weight,
            f"group_{i}": group,
        }
    )


def csv_file(name: str, frame: pd.DataFrame) -> dict:
    return {"name": name, "mimeType": "text/csv", "buffer": frame.to_csv(index=False).encode()}


def foreign(i: int) -> re.Pattern:
    """Any trace of the other sessions' data: their column names, categories, classes, files."""
    others = "|".join(str(j) for j in range(SESSIONS) if j != i)
    return re.compile(
        rf"\b(marker|target|size|weight|group)_({others})\b"
        rf"|\bs({others})_(a|b|c|yes|no)\b"
        rf"|\b(session|predict)_({others})\.csv"
    )


@dataclass
class Session:
    index: int
    page: Page
    foreign: re.Pattern
    times: dict[str, float] = field(default_factory=dict)  # seconds each step took
    began: dict[str, float] = field(default_factory=dict)
    saw_queue: bool = False

    @property
    def binary(self) -> bool:
        return self.index % 2 == 0

    @property
    def columns(self) -> list[str]:
        return [f"{name}_{self.index}" for name in ("marker", "size", "weight", "group")]

    def check(self, step: str) -> None:
        """No error of any kind on the page, and nothing of another session's."""
        page = self.page
        where = f"session {self.index}, {step}"
        assert not page.get_by_test_id("stException").count(), f"exception shown: {where}"
        errors = page.get_by_test_id("stAlertContentError")
        assert not errors.count(), f"error shown ({where}): {errors.all_inner_texts()}"
        assert not page.get_by_text("Traceback").count(), f"traceback shown: {where}"
        leak = self.foreign.search(page.content())
        assert leak is None, f"another session's data in {where}: {leak and leak.group()}"


def grid_columns(page) -> list[str]:
    """The column headers of the page's first st.dataframe (from the grid's accessible table,
    which is hidden, hence found by attribute rather than by role)."""
    headers = page.get_by_test_id("stDataFrame").first.locator("[role=columnheader]")
    headers.nth(1).wait_for(state="attached", timeout=STEP_MS)
    return headers.all_inner_texts()


@dataclass
class Server:
    url: str
    process: psutil.Process
    log: Path


@pytest.fixture(scope="module")
def lone_server():
    """A server of its own, like conftest's but with the file watcher off: its RSS starts from a
    fresh process, its log holds only this test, and an edit to the working tree during the run
    (another developer, an editor saving) cannot make Streamlit reload modules under the load."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    ARTIFACTS.mkdir(exist_ok=True)
    log = ARTIFACTS / "load-server.log"
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "NNSTUDIO_MAX_JOBS": "2"}
    command = [sys.executable, "-m", "streamlit", "run", "app.py"]
    command += ["--server.address", "127.0.0.1", "--server.port", str(port)]
    command += ["--server.headless", "true", "--browser.gatherUsageStats", "false"]
    command += ["--server.fileWatcherType", "none"]
    url = f"http://127.0.0.1:{port}"
    with open(log, "w") as out:
        process = subprocess.Popen(command, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, env=env)
        try:
            deadline = time.monotonic() + START_SECONDS
            while not healthy(url):
                assert process.poll() is None, f"streamlit exited early; see {log}"
                assert time.monotonic() < deadline, f"no answer in {START_SECONDS} s; see {log}"
                time.sleep(0.3)
            yield Server(url, psutil.Process(process.pid), log)
        finally:
            process.terminate()
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()


def healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as answer:
            return answer.status == 200
    except OSError:
        return False


class RssSampler(threading.Thread):
    """Samples one process's resident memory every 0.25 s until stopped."""

    def __init__(self, process: psutil.Process) -> None:
        super().__init__(daemon=True)
        self.process = process
        self.samples: list[int] = []
        self.halt = threading.Event()

    def run(self) -> None:
        while not self.halt.is_set():
            try:
                self.samples.append(self.process.memory_info().rss)
            except psutil.Error:
                return
            self.halt.wait(0.25)

    def stop(self) -> None:
        self.halt.set()
        self.join(timeout=5)


def test_five_sessions_upload_train_and_predict_at_once(browser, lone_server):
    began = time.monotonic()
    server, process = lone_server.url, lone_server.process
    sampler = RssSampler(process)
    sampler.start()
    baseline_mb = process.memory_info().rss / 2**20
    offsite: list[str] = []

    def block(route) -> None:
        offsite.append(route.request.url)
        route.abort()

    sessions: list[Session] = []

    def each(step: str, action) -> None:
        """`action(session)` for the five in turn, then each page checked."""
        for s in sessions:
            action(s)
        for s in sessions:
            s.check(step)

    try:
        for i in range(SESSIONS):
            context = browser.new_context(viewport={"width": 1400, "height": 1000})
            context.route(OFFSITE, block)
            page = context.new_page()
            page.set_default_timeout(STEP_MS)
            sessions.append(Session(i, page, foreign(i)))
        for s in sessions:
            s.page.goto(server, wait_until="commit")

        def landed(s: Session) -> None:
            s.page.get_by_role("heading", name="Data").first.wait_for()
            wait_idle(s.page)

        each("first visit", landed)

        # ------------------------------------------------------------ upload, five at once
        def upload(s: Session) -> None:
            s.began["upload"] = time.monotonic()
            uploader = s.page.get_by_test_id("stFileUploader").locator("input[type=file]")
            uploader.set_input_files(csv_file(f"session_{s.index}.csv", table(s.index)))

        def uploaded(s: Session) -> None:
            s.page.get_by_role("heading", name=f"session_{s.index}.csv").wait_for()
            wait_idle(s.page)
            s.times["upload"] = time.monotonic() - s.began["upload"]

        each("upload", upload)
        each("upload shown", uploaded)

        def choose_target(s: Session) -> None:
            s.page.get_by_label("Target column").click()
            s.page.get_by_role("option", name=f"target_{s.index}", exact=True).click()

        def planned(s: Session) -> None:
            task = "binary" if s.binary else "regression"
            s.page.locator("p", has_text=re.compile(rf"^Task: {task}")).wait_for()
            wait_idle(s.page)
            rows = 150 + 10 * s.index
            s.page.get_by_text(f"{rows} rows × 5 columns").wait_for()
            assert grid_columns(s.page) == ["", f"target_{s.index}", *s.columns]

        each("target chosen", choose_target)
        each("data page", planned)

        # ------------------------------------------ train: five starts, two slots, a queue
        def settings(s: Session) -> None:
            go_to(s.page, "Train")
            epochs = s.page.get_by_role("spinbutton", name="Epochs", exact=True)
            epochs.fill(str(EPOCHS))
            epochs.press("Enter")
            wait_idle(s.page)

        def start(s: Session) -> None:
            s.began["train"] = time.monotonic()
            s.page.get_by_role("button", name=re.compile("Start training")).click()

        each("train settings", settings)
        each("start", start)

        # Polled, not waited for one by one, so each finish is seen within a round.
        waiting = list(sessions)
        deadline = time.monotonic() + TRAIN_SECONDS
        while waiting and time.monotonic() < deadline:
            for s in list(waiting):
                if s.page.get_by_text(QUEUED).count():
                    s.saw_queue = True
                if s.page.get_by_text(FINISHED).count():
                    s.times["train"] = time.monotonic() - s.began["train"]
                    waiting.remove(s)
                s.check("training")
            time.sleep(POLL_SECONDS)
        assert not waiting, f"sessions {[s.index for s in waiting]} did not finish training"

        def own_run_only(s: Session) -> None:
            wait_idle(s.page)
            s.page.get_by_role("heading", name="Training: run 1").wait_for()
            runs = set(RUNS_SHOWN.findall(s.page.get_by_test_id("stMain").inner_text()))
            assert runs == {"1"}, f"session {s.index} shows runs {sorted(runs)}"

        each("trained", own_run_only)

        # ---------------------------------------------------------- predict, five at once
        def predict_page(s: Session) -> None:
            go_to(s.page, "Predict")
            s.page.get_by_text(f"predicts target_{s.index}").wait_for()

        def predict(s: Session) -> None:
            s.began["predict"] = time.monotonic()
            rows = table(s.index).drop(columns=f"target_{s.index}").head(PREDICT_ROWS)
            uploader = s.page.get_by_test_id("stFileUploader").locator("input[type=file]")
            uploader.set_input_files(csv_file(f"predict_{s.index}.csv", rows))

        def predicted(s: Session) -> None:
            caption = f"{PREDICT_ROWS} rows of predict_{s.index}.csv, predicted by run 1."
            s.page.get_by_text(caption).wait_for()
            wait_idle(s.page)
            s.times["predict"] = time.monotonic() - s.began["predict"]
            outputs = [f"predicted target_{s.index}"]
            if s.binary:
                outputs += [f"probability s{s.index}_no", f"probability s{s.index}_yes"]
            else:
                outputs += ["lower", "upper"]  # the 90% prediction interval
            assert grid_columns(s.page) == ["", *outputs, "checks", *s.columns]

        each("predict page", predict_page)
        each("predict upload", predict)
        each("predictions", predicted)
    finally:
        sampler.stop()
        for s in sessions:
            with contextlib.suppress(PlaywrightError):  # a failure above is the one to see
                shot = ARTIFACTS / f"load-session-{s.index}.png"
                s.page.screenshot(path=str(shot), full_page=True)
            s.page.context.close()
        total = time.monotonic() - began
        max_mb = max(sampler.samples, default=0) / 2**20
        figures = {
            "server_rss_mb": {"start": round(baseline_mb), "max": round(max_mb)},
            "rss_samples": len(sampler.samples),
            "total_seconds": round(total, 1),
            "sessions": {s.index: {k: round(v, 1) for k, v in s.times.items()} for s in sessions},
            "saw_queue": [s.index for s in sessions if s.saw_queue],
            "refused_offsite": sorted(set(offsite)),
        }
        (ARTIFACTS / "load-figures.json").write_text(json.dumps(figures, indent=2))
        print(json.dumps(figures))

    assert max_mb < SERVER_BUDGET_MB, figures
    mapped = [m.path for m in process.memory_maps() if "tensorflow" in m.path.lower()]
    assert not mapped, f"TensorFlow is mapped into the server: {mapped[:3]}"
    assert figures["saw_queue"], "five trainings on two slots, yet no session showed a queue"
    unexpected = {urlsplit(url).hostname for url in offsite} - KNOWN_OFFSITE
    assert not unexpected, f"requests off the loopback (refused): {sorted(unexpected)}"
    log = lone_server.log.read_text(errors="replace")
    assert "Traceback" not in log, f"the server logged a traceback; see {lone_server.log}"
