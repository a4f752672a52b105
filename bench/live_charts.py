"""Live charts: training throughput with the Train page open and polling, and with it closed.

    python bench/live_charts.py [--quick] [--repeats 3] [--rows 60000] [--epochs 8]

One `streamlit run app.py` on a free 127.0.0.1 port, one tab of Debian's Chromium driven by
Playwright. The tab uploads a seeded CSV (rows x 12 numbers, a numeric target: the train_speed
data), then trains the notes' model from the Train page again and again, early stopping off:

- attached: the tab stays on the Train page, whose fragment redraws the progress bar, the
  figures and the loss curves every second until the run ends;
- nothing attached: right after Start the tab goes to the Data page, which does not poll; the
  bench waits for the run's metrics.json.

The figure is the engine's own training throughput (samples per second over the training loop,
from the run's metrics.json), for the same data, settings and worker on both sides. The sides
alternate after one warm-up run; medians of the repeats.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import tempfile
import time
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make `bench` importable
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from playwright.sync_api import TimeoutError as PlaywrightTimeout

from bench.common import machine
from bench.memory import CHROMIUM_ARGS, go_to, streamlit_server, wait_idle
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


def train_once(page, side: str, epochs: int, root: Path, seen: set[Path], run: int) -> float:
    """The training samples/s of this session's run number `run`, started from the Train page."""
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
    return metrics["training"]["samples_per_second"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one repeat, fewer rows")
    parser.add_argument("--repeats", type=int, help="runs per side (default 3, quick 1)")
    parser.add_argument("--rows", type=int, help="rows of the CSV (default 60,000, quick 20,000)")
    parser.add_argument("--epochs", type=int, default=8)
    args = parser.parse_args()
    repeats = args.repeats or (1 if args.quick else 3)
    rows = args.rows or (20_000 if args.quick else 60_000)
    chromium = shutil.which("chromium")
    if chromium is None:
        raise SystemExit("Chromium is missing: apt-get install chromium")
    from playwright.sync_api import sync_playwright

    print(f"machine: {machine()}")
    results: dict[str, list[float]] = {side: [] for side in SIDES}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        csv = tmp / "live.csv"
        make_csv(csv, rows)
        server_tmp = tmp / "server"
        server_tmp.mkdir()
        saved_tmpdir = os.environ.get("TMPDIR")
        os.environ["TMPDIR"] = str(server_tmp)  # the server's run files, found by metrics.json
        try:
            with (
                streamlit_server(tmp / "server.log") as (_, url, _children),
                sync_playwright() as playwright,
            ):
                browser = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
                page = browser.new_page(viewport={"width": 1400, "height": 1000})
                page.goto(url)
                page.get_by_role("heading", name="Data").first.wait_for(timeout=60_000)
                page.locator("input[type=file]").set_input_files(str(csv))
                page.get_by_role("heading", name=csv.name).wait_for(timeout=120_000)
                wait_idle(page)
                seen: set[Path] = set()
                train_once(page, "attached", 1, server_tmp, seen, 1)  # warm-up: worker, imports
                for repeat in range(repeats):
                    for side in SIDES if repeat % 2 == 0 else SIDES[::-1]:
                        run = len(seen) + 1
                        speed = train_once(page, side, args.epochs, server_tmp, seen, run)
                        results[side].append(speed)
                browser.close()
        finally:
            if saved_tmpdir is None:
                os.environ.pop("TMPDIR", None)
            else:
                os.environ["TMPDIR"] = saved_tmpdir

    print(
        f"\n{rows:,} rows x 12 features, notes' model, {args.epochs} epochs, batch 32, median of "
        f"{repeats}\n"
    )
    print("| Train page | training samples/s (each run) | median |")
    print("| --- | --- | --- |")
    for side in SIDES:
        each = ", ".join(f"{value:,.0f}" for value in results[side])
        print(f"| {side} | {each} | {statistics.median(results[side]):,.0f} |")
    ratio = statistics.median(results["attached"]) / statistics.median(results["nothing attached"])
    print(f"\nattached / nothing attached: {ratio:.3f} (goal >= 0.95)")


if __name__ == "__main__":
    main()
