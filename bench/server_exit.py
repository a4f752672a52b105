"""How fast the real server lets go: `streamlit run app.py` gets SIGTERM during a training.

    python bench/server_exit.py [--quick] [--repeats 3] [--rows 60000]

One `streamlit run app.py` on a free 127.0.0.1 port per repeat, one tab of Debian's Chromium
driven by Playwright. The tab uploads a seeded CSV (rows x 12 numbers, a numeric target: the
train_speed data) and starts the notes' model training for 10,000 epochs, early stopping off,
from the Train page. Once an epoch past the first is under way the server gets SIGTERM.

The figures: the time from the signal to the server process's exit, its exit status, whether
its output holds a traceback, whether the stopped training's files are on disk (its model,
saved when the stop ends the training, or at least its checkpoint of the best weights) and
how many of the server's child processes still run once it has exited.
"""

from __future__ import annotations

import argparse
import contextlib
import re
import shutil
import signal
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

import psutil

if __package__ in (None, ""):  # run as a script: make `bench` importable
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import machine
from bench.memory import CHROMIUM_ARGS, choose_target, go_to, streamlit_server, wait_idle
from bench.train_speed import make_csv

EPOCHS = 10_000
EXIT_SECONDS = 120  # the server is killed, and the repeat failed, past this


def upload(page, csv: Path) -> None:
    """Upload `csv` on the Data page and pick its target, y."""
    page.get_by_role("heading", name="Data").first.wait_for(timeout=60_000)
    main = page.get_by_test_id("stMainBlockContainer")
    main.locator("input[type=file]").set_input_files(str(csv))
    page.get_by_role("heading", name=csv.name).wait_for(timeout=120_000)
    wait_idle(page)
    choose_target(page, "y")


def start_training(page, csv: Path) -> None:
    """Upload `csv` and start a training of EPOCHS epochs, early stopping off."""
    upload(page, csv)
    go_to(page, "Train")
    epochs = page.get_by_role("spinbutton", name="Epochs", exact=True)
    epochs.fill(str(EPOCHS))
    epochs.press("Enter")
    wait_idle(page)
    if page.get_by_role("checkbox", name="Early stopping").is_checked():
        page.get_by_text("Early stopping", exact=True).click()
        wait_idle(page)
    page.get_by_role("button", name=re.compile("Start training")).click()


def running(process: psutil.Process) -> bool:
    """Whether `process` still runs: a killed worker stays a zombie until init reaps it."""
    try:
        return process.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def sigterm_exit(csv: Path, tmp: Path) -> dict:
    """One server, one training running and one queued, one SIGTERM: the figures of the
    module's notes."""
    from playwright.sync_api import sync_playwright

    server_tmp = tmp / "server"
    server_tmp.mkdir()
    log = tmp / "server.log"
    with (
        streamlit_server(log, tmpdir=server_tmp) as (process, url, children),
        sync_playwright() as playwright,
    ):
        browser = playwright.chromium.launch(
            executable_path=shutil.which("chromium"), args=CHROMIUM_ARGS
        )
        running_tab, queued_tab = (
            browser.new_page(viewport={"width": 1400, "height": 1000}) for _ in range(2)
        )
        for page in (running_tab, queued_tab):
            page.set_default_timeout(60_000)
            page.goto(url)
        start_training(running_tab, csv)
        # The progress line, redrawn every second: any epoch past the first.
        running_tab.get_by_text(re.compile(r"run 1: epoch ([2-9]|\d\d+) of")).first.wait_for(
            timeout=180_000
        )
        start_training(queued_tab, csv)  # the server runs one training at a time
        queued_tab.get_by_text("in the queue").first.wait_for()
        workers = psutil.Process(process.pid).children(recursive=True)
        children.extend(workers)  # killed by streamlit_server if they outlive the server
        sent = time.perf_counter()
        process.send_signal(signal.SIGTERM)
        try:
            status = process.wait(timeout=EXIT_SECONDS)
        except subprocess.TimeoutExpired:
            status = None
        seconds = time.perf_counter() - sent
        left = [worker for worker in workers if running(worker)]
        with contextlib.suppress(Exception):
            browser.close()
    output = log.read_text()
    return {
        "seconds": seconds,
        "status": status,
        "traceback": "Traceback" in output,
        "models": len(list(server_tmp.glob("nnstudio-*/**/model.keras"))),
        "checkpoints": len(list(server_tmp.glob("nnstudio-*/**/checkpoint.npz"))),
        "workers_left": len(left),
        "log": output,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one repeat, fewer rows")
    parser.add_argument("--repeats", type=int, help="servers stopped (default 3, quick 1)")
    parser.add_argument("--rows", type=int, help="rows of the CSV (default 60,000, quick 20,000)")
    parser.add_argument("--show-log", action="store_true", help="print each server's log")
    args = parser.parse_args()
    repeats = args.repeats or (1 if args.quick else 3)
    rows = args.rows or (20_000 if args.quick else 60_000)
    if shutil.which("chromium") is None:
        raise SystemExit("Chromium is missing: apt-get install chromium")

    print(f"machine: {machine()}\n")
    results = []
    with tempfile.TemporaryDirectory() as root:
        csv = Path(root) / "exit.csv"
        make_csv(csv, rows)
        for repeat in range(repeats):
            tmp = Path(root) / f"repeat-{repeat}"
            tmp.mkdir()
            results.append(sigterm_exit(csv, tmp))
            if args.show_log or results[-1]["traceback"]:
                print(f"server log of repeat {repeat + 1}:\n{results[-1]['log'][-4000:]}\n")

    print(
        f"### SIGTERM to `streamlit run app.py`, one training running, one queued ({rows:,} "
        "rows, notes' model)\n"
    )
    print(
        "| repeat | exit after | exit status | traceback in the log | runs with model.keras | "
        "runs with checkpoint.npz | workers running after the exit |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for repeat, r in enumerate(results, start=1):
        print(
            f"| {repeat} | {r['seconds']:.2f} s | {r['status']} | {r['traceback']} | "
            f"{r['models']} | {r['checkpoints']} | {r['workers_left']} |"
        )
    seconds = [r["seconds"] for r in results]
    print(f"\nmedian {statistics.median(seconds):.2f} s, max {max(seconds):.2f} s over {repeats}")


if __name__ == "__main__":
    main()
