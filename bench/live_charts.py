"""Live charts: training throughput with the Train page open and polling, and with it closed.

    python bench/live_charts.py [--quick] [--repeats 3] [--rows 60000] [--epochs 60]
                                [--page train|tune]

One `streamlit run app.py` on a free 127.0.0.1 port, one tab of Debian's Chromium driven by
Playwright. The tab uploads a seeded CSV (rows x 12 numbers, a numeric target: the train_speed
data), then trains the notes' model from the Train page again and again, early stopping off:

- attached: the tab stays on the Train page, which redraws the progress line every second and
  the curves and the network's insides every three seconds until the run ends (a training
  here lasts tens of seconds, so the charts are redrawn many times);
- nothing attached: right after Start the tab goes to the Data page, which does not poll; the
  bench waits for the run's metrics.json.

With `--page tune` each run is a learning-rate sweep of two trials instead, started from the
Tune page, whose overlaid curves and table then poll in place of the Train page's; the figure is
the median of the trials' throughputs.

The figure is the engine's own training throughput (samples per second over the training loop,
from the run's metrics.json), for the same data, settings and worker on both sides. The sides
alternate after one warm-up run; medians of the repeats.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import re
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import psutil

if __package__ in (None, ""):  # run as a script: make `bench` importable
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from playwright.sync_api import TimeoutError as PlaywrightTimeout

from bench.common import machine
from bench.memory import CHROMIUM_ARGS, go_to, streamlit_server, wait_idle
from bench.server_exit import upload
from bench.train_speed import make_csv

SIDES = ("attached", "nothing attached")
RUN_SECONDS = 600


def new_metrics(root: Path, seen: set[Path], deadline: float) -> dict:
    """The metrics.json of the next run to finish under `root` (the server's temporary files)."""
    while time.monotonic() < deadline:
        for path in root.glob("nnstudio-*/**/metrics.json"):
            if path not in seen:
                seen.add(path)
                time.sleep(0.2)  # written whole before the run's other files; let it settle
                return json.loads(path.read_text())
        time.sleep(0.2)
    raise SystemExit("A training did not finish in time.")


def cpu_seconds(processes: list[psutil.Process]) -> float:
    total = 0.0
    for process in processes:
        with contextlib.suppress(psutil.Error):
            times = process.cpu_times()
            total += times.user + times.system
    return total


def browsers() -> list[psutil.Process]:
    """Chromium's processes (under Playwright's driver, a child of this one)."""
    found = []
    for process in psutil.Process().children(recursive=True):
        with contextlib.suppress(psutil.Error):
            if "chrom" in process.name().lower():
                found.append(process)
    return found


def train_once(
    page, side: str, epochs: int, root: Path, seen: set[Path], run: int, server: psutil.Process
) -> dict:
    """This session's run number `run`, started from the Train page: its training samples/s,
    and the CPU seconds the server process (its own, not the worker's) and Chromium used."""
    cpu_before = cpu_seconds([server]), cpu_seconds(browsers())
    go_to(page, "Train")
    epochs_box = page.get_by_role("spinbutton", name="Epochs", exact=True)
    if epochs_box.input_value() != str(epochs):
        epochs_box.fill(str(epochs))
        epochs_box.press("Enter")
        wait_idle(page)
    if page.get_by_role("checkbox", name="Early stopping").is_checked():
        page.get_by_text("Early stopping", exact=True).click()
        wait_idle(page)
    started = page.get_by_role("heading", name=f"Training: run {run}", exact=True)
    for _ in range(3):  # a click during a rerun can be lost: the run's heading tells
        page.get_by_role("button", name=re.compile("Start training")).click()
        try:
            started.wait_for(timeout=20_000)
            break
        except PlaywrightTimeout:
            wait_idle(page)
    else:
        raise SystemExit(f"run {run} did not start")
    if side == "nothing attached":
        go_to(page, "Data")
    metrics = new_metrics(root, seen, time.monotonic() + RUN_SECONDS)
    if side == "attached":  # the page saw the end too: wait for it, so runs never overlap
        page.get_by_text(re.compile(r"Finished \d+ epochs")).first.wait_for(timeout=60_000)
        wait_idle(page)
    return {
        "speed": metrics["training"]["samples_per_second"],
        "seconds": metrics["training"]["seconds"],
        "server_cpu": cpu_seconds([server]) - cpu_before[0],
        "browser_cpu": cpu_seconds(browsers()) - cpu_before[1],
    }


def switch_early_stopping_off(page) -> None:
    go_to(page, "Train")
    if page.get_by_role("checkbox", name="Early stopping").is_checked():
        page.get_by_text("Early stopping", exact=True).click()
        wait_idle(page)


def set_number(page, label: str, value: int) -> None:
    box = page.get_by_role("spinbutton", name=label, exact=True).first
    if box.input_value() != str(value):
        box.fill(str(value))
        box.press("Enter")
        wait_idle(page)


TRIALS = 2


def sweep_once(
    page, side: str, epochs: int, root: Path, seen: set[Path], sweep: int, server: psutil.Process
) -> dict:
    """A sweep of two learning rates started from the Tune page: its trials' median training
    samples/s, and the CPU seconds the server and Chromium used while they trained."""
    switch_early_stopping_off(page)
    cpu_before = cpu_seconds([server]), cpu_seconds(browsers())
    go_to(page, "Tune")
    set_number(page, "How many rates", TRIALS)
    set_number(page, "Epochs per trial", epochs)
    stop = page.get_by_role("button", name="Stop sweep")
    runs_before = len(list(root.glob("nnstudio-*/**/run.json")))
    for _ in range(3):  # a click during a rerun can be lost: its Stop button or run files tell
        page.get_by_role("button", name=re.compile("Start sweep")).click()
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if stop.is_visible() or len(list(root.glob("nnstudio-*/**/run.json"))) > runs_before:
                break
            time.sleep(0.1)
        else:
            wait_idle(page)
            continue
        break
    else:
        raise SystemExit(f"sweep {sweep} did not start")
    if side == "nothing attached":
        go_to(page, "Data")
    deadline = time.monotonic() + RUN_SECONDS * TRIALS
    trials = [new_metrics(root, seen, deadline) for _ in range(TRIALS)]
    if side == "attached":  # the page saw the end too: wait for it, so sweeps never overlap
        page.get_by_text(re.compile(r"^Best: ")).first.wait_for(timeout=60_000)
        wait_idle(page)
    seconds = sum(t["training"]["seconds"] for t in trials)
    return {
        "speed": statistics.median(t["training"]["samples_per_second"] for t in trials),
        "each": [t["training"]["samples_per_second"] for t in trials],
        "seconds": seconds,
        "server_cpu": cpu_seconds([server]) - cpu_before[0],
        "browser_cpu": cpu_seconds(browsers()) - cpu_before[1],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one repeat, fewer rows")
    parser.add_argument("--repeats", type=int, help="runs per side (default 3, quick 1)")
    parser.add_argument("--rows", type=int, help="rows of the CSV (default 60,000, quick 20,000)")
    parser.add_argument("--epochs", type=int, help="epochs per run (default 60, quick 20)")
    parser.add_argument("--page", choices=("train", "tune"), default="train")
    args = parser.parse_args()
    repeats = args.repeats or (1 if args.quick else 3)
    rows = args.rows or (20_000 if args.quick else 60_000)
    epochs = args.epochs or (20 if args.quick else 60)
    chromium = shutil.which("chromium")
    if chromium is None:
        raise SystemExit("Chromium is missing: apt-get install chromium")
    from playwright.sync_api import sync_playwright

    print(f"machine: {machine()}")
    results: dict[str, list[dict]] = {side: [] for side in SIDES}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        csv = tmp / "live.csv"
        make_csv(csv, rows)
        server_tmp = tmp / "server"
        server_tmp.mkdir()
        with (
            streamlit_server(tmp / "server.log", tmpdir=server_tmp) as (process, url, _children),
            sync_playwright() as playwright,
        ):
            browser = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.goto(url)
            upload(page, csv)
            seen: set[Path] = set()
            server = psutil.Process(process.pid)
            once = sweep_once if args.page == "tune" else train_once
            once(page, "attached", 3, server_tmp, seen, 1, server)  # warm-up
            for repeat in range(repeats):
                for side in SIDES if repeat % 2 == 0 else SIDES[::-1]:
                    run = len(seen) + 1
                    figures = once(page, side, epochs, server_tmp, seen, run, server)
                    results[side].append(figures)
            browser.close()

    runs_are = f"sweeps of {TRIALS} learning rates" if args.page == "tune" else "runs"
    print(
        f"\n{rows:,} rows x 12 features, notes' model, {epochs} epochs, batch 32, {runs_are}, "
        f"median of {repeats}\n"
    )
    print(
        f"| {args.page.title()} page | training samples/s (each run) | median | server CPU s "
        "per training s | Chromium CPU s per training s |"
    )
    print("| --- | --- | --- | --- | --- |")
    for side in SIDES:
        runs = results[side]
        each = ", ".join(f"{v:,.0f}" for r in runs for v in r.get("each", [r["speed"]]))
        server = statistics.median(r["server_cpu"] / r["seconds"] for r in runs)
        browser = statistics.median(r["browser_cpu"] / r["seconds"] for r in runs)
        print(
            f"| {side} | {each} | {statistics.median(r['speed'] for r in runs):,.0f} | "
            f"{server:.2f} | {browser:.2f} |"
        )
    speed = {side: statistics.median(r["speed"] for r in results[side]) for side in SIDES}
    ratio = speed["attached"] / speed["nothing attached"]
    print(
        f"\nattached / nothing attached: {ratio:.3f} (goal >= 0.95). Chromium runs on the same "
        "two cores here; a visitor's browser runs on the visitor's machine."
    )


if __name__ == "__main__":
    main()
