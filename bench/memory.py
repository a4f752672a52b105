"""Memory: the server process, a worker over many trainings, and the peak of a 200 MB upload.

    python bench/memory.py [--trainings 50] [--upload-mb 198] [--no-browser]

1. Server: `streamlit run app.py` on a free loopback port, driven by Debian's Chromium through
   Playwright: first visit, the "Breast cancer" sample, one short training from the Train page,
   the CSV of part 3 uploaded on the Data page, the tab closed, then a new visitor (Streamlit
   drops a closed tab's session only when another session comes; its TTL is cut to 10 s here).
   The server process's RSS (its own pid, not its children) after each step, its peak (VmHWM)
   over the upload, and whether any TensorFlow library is mapped into it (/proc/<pid>/maps); the
   training's worker is checked the same way, as a control that the check finds TensorFlow.
2. Worker: one JobRunner(max_concurrent=1) runs N small real trainings one after another
   (`train_job` on the breast-cancer sample, 5 epochs), with the studio's default
   `tasks_per_worker` and again without recycling (N + 1). The RSS of the worker process after
   each training, and its peak (VmHWM) sampled throughout.
3. Upload: a seeded ~200 MB CSV (20 numeric and text columns) read in a fresh process exactly as
   the server reads an upload: `read_csv` and `sniff` of the bytes, `profile_columns`,
   `plan_columns` for its target. Peak RSS from
   `getrusage`, against the DataFrame's `memory_usage(deep=True)`.

Sizes are in MB of 10^6 bytes. The whole run takes about 5 minutes on an idle 2-core machine.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.metadata
import inspect
import json
import os
import platform
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run as a script from anywhere

MB = 1_000_000
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
START_SECONDS = 60
# Seconds a closed tab's session is kept (Streamlit's default is 120), short to see it go.
SESSION_TTL = 10
UPLOAD_TARGET = "label"


# --------------------------------------------------------------------------------------------------
# Processes


def memory(pid: int) -> dict[str, int]:
    """The process's VmRSS, its peak VmHWM, and RssAnon / RssFile (the part of RSS that is its
    own data, and the part that is mapped files: shared libraries, reclaimable), in bytes."""
    found = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM", "RssAnon", "RssFile"):
            found[key] = int(value.split()[0]) * 1024
    return found


def rss(pid: int) -> int:
    return memory(pid)["VmRSS"]


def tensorflow_libraries(pid: int) -> list[str]:
    """The files of TensorFlow's shared libraries mapped into the process (empty if none)."""
    names = set()
    for line in Path(f"/proc/{pid}/maps").read_text().splitlines():
        fields = line.split(maxsplit=5)
        if len(fields) == 6 and "tensorflow" in fields[5] and ".so" in fields[5]:
            names.add(Path(fields[5]).name)
    return sorted(names)


def workers(parent: int) -> list[int]:
    """Pids of the spawned worker processes of `parent` (not multiprocessing's resource tracker)."""
    found = []
    for child in psutil.Process(parent).children():
        try:
            command = " ".join(child.cmdline())
        except psutil.Error:
            continue
        if "spawn_main" in command and "resource_tracker" not in command:
            found.append(child.pid)
    return found


def mb(value: float) -> str:
    return f"{value / MB:,.0f}"


# --------------------------------------------------------------------------------------------------
# 3. The upload, read as the server reads it


def make_csv(path: Path, target_bytes: int, seed: int = 0, rows: int | None = None) -> int:
    """A CSV of about `target_bytes` (or of `rows` rows): 14 decimal, 2 whole-number and 3 text
    columns, a text label last. Returns its row count."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    def chunk(rows: int, rng: np.random.Generator) -> pa.Table:
        columns = {}
        scales = (1, 10, 100, 1000, 0.01, 5, 50, 0.5, 2, 20, 300, 7, 0.1, 40)
        for i, scale in enumerate(scales):
            columns[f"x{i}"] = np.round(rng.normal(i, 1, rows) * scale, 3)
        columns["age"] = rng.integers(18, 90, rows)
        columns["visits"] = rng.poisson(3, rows)
        columns["colour"] = rng.choice(["red", "green", "blue", "amber"], rows)
        columns["city"] = rng.choice([f"city {i:02d}" for i in range(30)], rows)
        columns["code"] = rng.choice([f"K{i:03d}" for i in range(200)], rows)
        score = (
            columns["x0"] + 0.01 * columns["x1"] - 0.001 * columns["x2"] + rng.normal(0, 1, rows)
        )
        columns[UPLOAD_TARGET] = np.where(score > 0, "yes", "no")
        return pa.table(columns)

    rng = np.random.default_rng(seed)
    sample = pacsv.WriteOptions(include_header=False)
    probe = pa.BufferOutputStream()
    pacsv.write_csv(chunk(20_000, np.random.default_rng(seed)), probe, sample)
    rows = rows or int(target_bytes / (probe.getvalue().size / 20_000))
    with pacsv.CSVWriter(str(path), chunk(1, rng).schema) as writer:
        left = rows
        while left:
            part = min(left, 200_000)
            writer.write_table(chunk(part, rng))
            left -= part
    return rows


def ingest(csv: str, target: str) -> dict:
    """Run in a fresh process: what the server does with an upload's bytes. After each step, the
    peak RSS so far (`getrusage`, the process's high-water mark) and the RSS still held."""
    import resource

    import pyarrow as pa

    from nncore.config import DataSpec
    from nncore.data.columns import profile_columns
    from nncore.data.csvio import read_csv, sniff
    from nncore.data.plan import plan_columns

    def step(name: str) -> None:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        result["steps"].append((name, peak, rss(os.getpid())))

    result: dict = {"steps": []}
    step("imports (nncore, pandas, pyarrow)")
    data = Path(csv).read_bytes()  # the upload's bytes, as `UploadedFile.getvalue()` gives them
    result["bytes"] = len(data)
    step("the CSV's bytes in memory")
    started = time.perf_counter()
    frame = read_csv(data)  # ui.read_table, which also sniffs the dialect for its caption
    sniff(data)
    step(f"read_csv + sniff ({time.perf_counter() - started:.1f} s)")
    started = time.perf_counter()
    profiles = profile_columns(frame)  # pages/data.py load()
    plan_columns(frame, DataSpec(target=target), profiles)  # pages/data.py, every rerun
    step(f"profile_columns + plan_columns ({time.perf_counter() - started:.1f} s)")
    result["frame"] = int(frame.memory_usage(deep=True).sum())
    result["shape"] = list(frame.shape)
    # Not something the studio does (yet): hand pyarrow's freed memory back to the system.
    pa.default_memory_pool().release_unused()
    step(f"then pyarrow's pool ({pa.default_memory_pool().backend_name}) releases unused memory")
    return result


def run_ingest(csv: Path) -> dict:
    code = (
        f"import json, sys; sys.path.insert(0, {str(ROOT)!r}); "
        f"from bench.memory import ingest; "
        f"print(json.dumps(ingest({str(csv)!r}, {UPLOAD_TARGET!r})))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=False, timeout=600
    )
    if done.returncode:
        raise SystemExit(f"The ingest process failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


# --------------------------------------------------------------------------------------------------
# 1. The server, driven by a browser


@dataclass
class ServerFigures:
    # moment, VmRSS, RssAnon (None if not measured), TensorFlow libraries mapped
    rows: list[tuple[str, int, int | None, str]] = field(default_factory=list)
    seconds: float = 0.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until_healthy(process: subprocess.Popen, url: str, seconds: float, poll: float) -> None:
    """Until the Streamlit server at `url` answers its health check; SystemExit if it exits or
    stays silent for `seconds`."""
    deadline = time.monotonic() + seconds
    while True:
        if process.poll() is not None:
            raise SystemExit("streamlit exited early.")
        if time.monotonic() > deadline:
            raise SystemExit(f"streamlit did not answer within {seconds} s.")
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as answer:
                if answer.status == 200:
                    return
        except OSError:
            time.sleep(poll)


@contextlib.contextmanager
def streamlit_server(log: Path, tmpdir: Path | None = None):
    """`streamlit run app.py` on 127.0.0.1 only; yields (process, url, children), where the
    caller adds the server's worker processes it has seen. All of them are ended on exit. With
    `tmpdir`, the server's temporary files and workspaces (so its run folders) go there."""
    port = free_port()
    # As with the upload size below, the bench measures tables over the studio's byte and cell
    # limits.
    env = {
        **os.environ,
        "TF_CPP_MIN_LOG_LEVEL": "2",
        "NNSTUDIO_MAX_BYTES": str(10**10),
        "NNSTUDIO_MAX_CELLS": str(10**9),
    }
    if tmpdir is not None:
        env["TMPDIR"] = str(tmpdir)
    # The workspaces, and so the run folders the benches look for, in the server's own
    # temporary folder, never in ~/.nnstudio.
    env["NNSTUDIO_HOME"] = str(Path(env.get("TMPDIR") or tempfile.gettempdir()) / "nnstudio-home")
    command = [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        "app.py",
        "--server.address",
        "127.0.0.1",
        "--server.port",
        str(port),
        "--server.headless",
        "true",
        "--server.fileWatcherType",
        "none",
        "--server.maxUploadSize",  # the bench measures what uploads over the studio's limit cost
        "1000",
        "--server.disconnectedSessionTTL",
        str(SESSION_TTL),
        "--browser.gatherUsageStats",
        "false",
    ]
    with open(log, "w") as out:
        process = subprocess.Popen(command, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, env=env)
    children: list[psutil.Process] = []
    try:
        url = f"http://127.0.0.1:{port}"
        wait_until_healthy(process, url, START_SECONDS, poll=0.3)
        yield process, url, children
    except BaseException:
        print(f"streamlit's log ends with:\n{log.read_text()[-3000:]}", file=sys.stderr)
        raise
    finally:
        with contextlib.suppress(psutil.Error):
            children.extend(psutil.Process(process.pid).children())
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
        # Its workers end themselves within a second of the server; make sure. (psutil checks
        # each is still the process it was, so a reused pid is never hit.)
        _, alive = psutil.wait_procs(children, timeout=5)
        for child in alive:
            with contextlib.suppress(psutil.Error):
                child.kill()


def wait_idle(page) -> None:
    """Until Streamlit has finished the current script run."""
    page.wait_for_function(
        "() => !document.querySelector('[data-testid=\"stStatusWidget\"]')"
        " || !document.querySelector('[data-testid=\"stStatusWidget\"]').innerText"
        ".includes('Running')",
        timeout=60_000,
    )


def go_to(page, title: str) -> None:
    page.get_by_role("link", name=title, exact=True).first.click()
    page.get_by_role("heading", name=title, exact=True).first.wait_for()
    wait_idle(page)


def choose_target(page, column: str) -> None:
    """Pick the Data page's target column: an uploaded table has none until the user picks one."""
    page.get_by_label("Target column").click()
    page.get_by_role("option", name=column, exact=True).click()
    page.locator("p", has_text=re.compile(r"^Task: ")).wait_for(timeout=60_000)
    wait_idle(page)


def tensorflow_note(pid: int) -> str:
    libraries = tensorflow_libraries(pid)
    if not libraries:
        return "no"
    named = [name for name in libraries if name.startswith("libtensorflow")][:2] or libraries[:2]
    return f"yes: {', '.join(named)} and {len(libraries) - len(named)} more"


def measure_server(csv: Path | None, epochs: int) -> ServerFigures:
    from playwright.sync_api import sync_playwright

    figures = ServerFigures()
    started = time.perf_counter()
    with (
        tempfile.TemporaryDirectory() as tmp,
        streamlit_server(Path(tmp) / "server.log") as (process, url, children),
    ):
        pid = process.pid

        def record(moment: str, of: int = pid) -> None:
            now = memory(of)
            figures.rows.append((moment, now["VmRSS"], now["RssAnon"], tensorflow_note(of)))

        time.sleep(2)
        record("started, no session yet")
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            try:
                context = browser.new_context(viewport={"width": 1400, "height": 1000})
                page = context.new_page()
                page.set_default_timeout(60_000)
                page.goto(url)
                page.get_by_role("button", name="Breast cancer").wait_for()
                wait_idle(page)
                record("first visit (Data page drawn)")

                page.get_by_role("button", name="Breast cancer").click()
                page.get_by_role("heading", name="Breast cancer").wait_for()
                wait_idle(page)
                record('"Breast cancer" sample loaded')

                go_to(page, "Train")
                epochs_box = page.get_by_role("spinbutton", name="Epochs", exact=True)
                epochs_box.fill(str(epochs))
                epochs_box.press("Enter")
                wait_idle(page)
                page.get_by_role("button", name=re.compile("Start training")).click()
                page.get_by_text(re.compile(r"run 1: (Finished|Early stopping)")).first.wait_for(
                    timeout=240_000
                )
                wait_idle(page)
                record(f"one training done from the Train page ({epochs} epochs)")
                for worker in workers(pid):
                    children.append(psutil.Process(worker))
                    record("  its worker process (a child; the control)", worker)

                if csv is not None:
                    go_to(page, "Data")
                    before = memory(pid)["VmHWM"]
                    uploaded = time.perf_counter()
                    with page.expect_file_chooser() as chooser:
                        # The Data page's uploader, not the sidebar's one for experiment files.
                        page.get_by_test_id("stMainBlockContainer").get_by_role(
                            "button", name="Upload", exact=True
                        ).click()
                    chooser.value.set_files(str(csv))
                    page.get_by_role("heading", name=csv.name).wait_for(timeout=600_000)
                    wait_idle(page)
                    seconds = time.perf_counter() - uploaded
                    peak = memory(pid)["VmHWM"]
                    size = mb(csv.stat().st_size)
                    note = "" if peak > before else " (no higher than before it)"
                    figures.rows.append((f"{size} MB upload: peak (VmHWM){note}", peak, None, ""))
                    record(f"{size} MB upload: after it, table shown ({seconds:.0f} s)")
                context.close()
                time.sleep(SESSION_TTL + 5)
                record(f"tab closed, {SESSION_TTL + 5} s later (past the session TTL)")
                # Streamlit drops an expired session lazily, when another session is stored.
                visitor = browser.new_page()
                visitor.goto(url)
                visitor.get_by_role("button", name="Breast cancer").wait_for()
                wait_idle(visitor)
                time.sleep(3)
                record("then a new visitor's first page (the closed session expires)")
            finally:
                browser.close()
    figures.seconds = time.perf_counter() - started
    return figures


# --------------------------------------------------------------------------------------------------
# 2. One worker over many trainings


@dataclass
class WorkerFigures:
    tasks_per_worker: int
    after: list[int] = field(default_factory=list)  # worker RSS after training k (index k - 1)
    anonymous: list[int] = field(default_factory=list)  # its RssAnon then
    job_seconds: list[float] = field(default_factory=list)  # training k's time in the worker
    pids: list[int] = field(default_factory=list)  # the worker alive after training k
    peak: int = 0  # the highest VmHWM seen in any worker
    seconds: float = 0.0


class _PeakWatch:
    """Samples the workers' VmHWM in a thread, so a recycled worker's peak is not lost."""

    def __init__(self, parent: int, every: float = 0.2) -> None:
        self.peak = 0
        self._parent, self._every = parent, every
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> _PeakWatch:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.wait(self._every):
            for pid in workers(self._parent):
                with contextlib.suppress(OSError, RuntimeError, psutil.Error):
                    self.peak = max(self.peak, memory(pid)["VmHWM"])


def studio_tasks_per_worker() -> int:
    """What the studio runs with: ui.job_runner() leaves `tasks_per_worker` at its default."""
    from nncore.run.jobs import JobRunner

    return inspect.signature(JobRunner).parameters["tasks_per_worker"].default


def measure_worker(trainings: int, tasks_per_worker: int) -> WorkerFigures:
    from nncore.config import DataSpec, Experiment, TrainSpec
    from nncore.data.samples import SAMPLES, load_sample
    from nncore.run.jobs import JobRunner
    from nncore.run.tasks import train_job

    sample = SAMPLES["breast_cancer"]
    frame = load_sample(sample.name)
    experiment = Experiment(data=DataSpec(target=sample.target), training=TrainSpec(epochs=5))
    figures = WorkerFigures(tasks_per_worker)
    me = os.getpid()
    started = time.perf_counter()
    with (
        tempfile.TemporaryDirectory() as tmp,
        JobRunner(max_concurrent=1, tasks_per_worker=tasks_per_worker) as runner,
        _PeakWatch(me) as watch,
    ):
        for k in range(1, trainings + 1):
            out_dir = Path(tmp) / f"run-{k}"
            job = runner.submit(train_job, frame, experiment, str(out_dir), name=f"run {k}")
            job.result(timeout=300)
            figures.job_seconds.append(job.elapsed)
            job.close()
            shutil.rmtree(out_dir, ignore_errors=True)
            # A recycled worker exits as it hands back its last result and a fresh one starts:
            # wait for that to settle, then take the RSS of the one worker left.
            deadline = time.monotonic() + 10
            while len(alive := workers(me)) != 1 and time.monotonic() < deadline:
                time.sleep(0.1)
            time.sleep(0.3)
            alive = workers(me)
            now = [memory(pid) for pid in alive]
            figures.pids.append(alive[0] if alive else 0)
            figures.after.append(sum(m["VmRSS"] for m in now))
            figures.anonymous.append(sum(m["RssAnon"] for m in now))
        figures.peak = watch.peak
    figures.seconds = time.perf_counter() - started
    return figures


# --------------------------------------------------------------------------------------------------
# Report


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break

    def version(*names: str) -> str:
        for name in names:
            with contextlib.suppress(importlib.metadata.PackageNotFoundError):
                return importlib.metadata.version(name)
        return "?"

    return (
        f"{cpu}, {os.cpu_count()} cores, {psutil.virtual_memory().total / 2**30:.0f} GiB, "
        f"Python {platform.python_version()}, "
        f"TensorFlow {version('tensorflow-cpu', 'tensorflow')}, Keras {version('keras')}, "
        f"Streamlit {version('streamlit')}, pandas {version('pandas')}, "
        f"pyarrow {version('pyarrow')}"
    )


def print_server(figures: ServerFigures) -> None:
    print(f"\n### Server process ({figures.seconds:.0f} s)\n")
    print("| moment | RSS (MB) | of which anonymous (MB) | TensorFlow libraries mapped |")
    print("| --- | --- | --- | --- |")
    for moment, value, anonymous, mapped in figures.rows:
        own = "" if anonymous is None else mb(anonymous)
        print(f"| {moment} | {mb(value)} | {own} | {mapped} |")


def print_workers(runs: list[WorkerFigures], trainings: int, default: int) -> None:
    n = trainings
    print(f"\n### One worker over {n} trainings (breast cancer, 5 epochs each)\n")
    print(
        f"| tasks_per_worker | workers started | RSS after 5 (MB) | RSS after {n} (MB) | "
        f"after {n} / after 5 | max after a training (MB) | max / after 5 | peak, VmHWM (MB) | "
        f"anonymous after 5 → {n} (MB) | median s per training | total s |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for run in runs:
        why = "studio default" if run.tasks_per_worker == default else "no recycling"
        fifth = run.after[4]
        print(
            f"| {run.tasks_per_worker} ({why}) | {len(set(run.pids))} | {mb(fifth)} | "
            f"{mb(run.after[-1])} | **{run.after[-1] / fifth:.2f}** | {mb(max(run.after))} | "
            f"{max(run.after) / fifth:.2f} | {mb(run.peak)} | "
            f"{mb(run.anonymous[4])} → {mb(run.anonymous[-1])} | "
            f"{statistics.median(run.job_seconds):.1f} | {run.seconds:.0f} |"
        )
    print("\nRSS (MB) after training k; * marks a fresh worker (the one before was recycled):\n")
    steps = sorted({1, *range(5, n + 1, 5), n})
    print("| k | " + " | ".join(f"tasks_per_worker={run.tasks_per_worker}" for run in runs) + " |")
    print("| --- |" + " --- |" * len(runs))
    for k in steps:
        cells = []
        for run in runs:
            fresh = k > 1 and run.pids[k - 1] != run.pids[k - 2]
            cells.append(f"{mb(run.after[k - 1])}{' *' if fresh else ''}")
        print(f"| {k} | " + " | ".join(cells) + " |")


def print_ingest(result: dict, seconds: float) -> None:
    frame = result["frame"]
    base = result["steps"][0][2]  # the RSS held after the imports
    rows, columns = result["shape"]
    print(
        f"\n### Upload read in a fresh process: {mb(result['bytes'])} MB CSV, "
        f"{rows:,} rows x {columns} columns ({seconds:.0f} s)\n"
    )
    print(
        "| step | peak RSS so far (MB) | peak / DataFrame | (peak - imports) / DataFrame | "
        "RSS held after it (MB) |"
    )
    print("| --- | --- | --- | --- | --- |")
    for label, peak, held in result["steps"]:
        print(
            f"| {label} | {mb(peak)} | {peak / frame:.2f} | {(peak - base) / frame:.2f} | "
            f"{mb(held)} |"
        )
    print(
        f"\nCSV bytes {mb(result['bytes'])} MB; DataFrame memory_usage(deep=True) {mb(frame)} MB."
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trainings", type=int, default=50)
    parser.add_argument("--upload-mb", type=float, default=198, help="size of the CSV (MB)")
    parser.add_argument("--ui-epochs", type=int, default=20, help="the Train page's training")
    parser.add_argument("--no-browser", action="store_true", help="skip the server (part 1)")
    parser.add_argument(
        "--workers-only", action="store_true", help="only part 2, the worker over N trainings"
    )
    parser.add_argument("--upload-only", action="store_true", help="only part 3, the upload")
    args = parser.parse_args()
    if args.trainings < 5:
        parser.error("--trainings must be at least 5 (RSS after 5 is the reference).")
    if args.workers_only or args.upload_only:
        args.no_browser = True
    if not args.no_browser and not os.path.exists(CHROMIUM):
        parser.error(f"{CHROMIUM} is missing (apt-get install chromium), or pass --no-browser.")

    print(f"machine: {machine()}")
    started = time.perf_counter()
    ingested = server = None
    if not args.workers_only:
        with tempfile.TemporaryDirectory() as tmp:
            csv = Path(tmp) / f"upload-{args.upload_mb:.0f}mb.csv"
            make_csv(csv, int(args.upload_mb * MB))
            ingest_started = time.perf_counter()
            ingested = run_ingest(csv)
            ingest_seconds = time.perf_counter() - ingest_started
            server = None if args.no_browser else measure_server(csv, args.ui_epochs)

    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "2"  # for the workers, which inherit it
    default = studio_tasks_per_worker()
    runs = []
    if not args.upload_only:
        runs.append(measure_worker(args.trainings, default))
        if args.trainings + 1 != default:
            runs.append(measure_worker(args.trainings, args.trainings + 1))

    if server is not None:
        print_server(server)
    if runs:
        print_workers(runs, args.trainings, default)
    if ingested is not None:
        print_ingest(ingested, ingest_seconds)
    print(f"\nwhole bench: {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
