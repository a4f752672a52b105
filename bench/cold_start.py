"""Cold start: the studio's first page against an empty Streamlit app, in a real browser.

    python bench/cold_start.py [--quick] [--repeats 7]

Each measurement starts a fresh `streamlit run` on a free 127.0.0.1 port (the project's
.streamlit/config.toml applies to both sides) and opens it in a fresh context of Debian's
Chromium, driven by Playwright. Two times are taken:

- start to page: from launching the server process to the page drawn, its script run finished
  (Streamlit's status widget no longer says "Running") and its title visible;
- first visit: from the server answering its health check to the same moment. The studio's
  modules are imported during the first script run, so this is where their weight shows.

The empty app is `st.title("Empty")`. The sides alternate; medians of the repeats.
"""

from __future__ import annotations

import argparse
import contextlib
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make `bench` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import ROOT, machine
from bench.memory import CHROMIUM_ARGS, free_port, wait_idle, wait_until_healthy

SIDES = ("empty", "studio")
START_SECONDS = 60


@contextlib.contextmanager
def server(script: Path):
    """`streamlit run script` on 127.0.0.1; yields (url, launch time, health-check time)."""
    port = free_port()
    launched = time.perf_counter()
    command = [sys.executable, "-m", "streamlit", "run", str(script)]
    command += ["--server.address", "127.0.0.1", "--server.port", str(port)]
    process = subprocess.Popen(
        command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_healthy(process, url, START_SECONDS, poll=0.02)
        yield url, launched, time.perf_counter()
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def measure(browser, script: Path, title: str) -> dict:
    with server(script) as (url, launched, healthy):
        context = browser.new_context()
        try:
            page = context.new_page()
            page.goto(url)
            page.get_by_role("heading", name=title, exact=True).first.wait_for(timeout=60_000)
            wait_idle(page)
            drawn = time.perf_counter()
        finally:
            context.close()
    return {"start": drawn - launched, "visit": drawn - healthy}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="3 repeats")
    parser.add_argument("--repeats", type=int, help="runs per side (default 7, quick 3)")
    args = parser.parse_args()
    repeats = args.repeats or (3 if args.quick else 7)
    chromium = shutil.which("chromium")
    if chromium is None:
        raise SystemExit("Chromium is missing: apt-get install chromium")
    from playwright.sync_api import sync_playwright

    print(f"machine: {machine()}")
    results: dict[str, list[dict]] = {side: [] for side in SIDES}
    with tempfile.TemporaryDirectory() as tmp, sync_playwright() as playwright:
        empty = Path(tmp) / "empty.py"
        empty.write_text('import streamlit as st\n\nst.title("Empty")\n')
        scripts = {"empty": (empty, "Empty"), "studio": (ROOT / "app.py", "Data")}
        browser = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        try:
            measure(browser, empty, "Empty")  # the first server start warms the disk cache
            for repeat in range(repeats):
                for side in SIDES if repeat % 2 == 0 else SIDES[::-1]:
                    results[side].append(measure(browser, *scripts[side]))
        finally:
            browser.close()

    def med(side: str, key: str) -> float:
        return statistics.median(r[key] for r in results[side])

    print(f"\nmedian of {repeats}, seconds\n")
    print("| app | start to page drawn | first visit (server up to page drawn) |")
    print("| --- | --- | --- |")
    for side in SIDES:
        print(f"| {side} | {med(side, 'start'):.2f} | {med(side, 'visit'):.2f} |")
    print(
        f"\nstudio / empty: start to page {med('studio', 'start') / med('empty', 'start'):.2f}x "
        f"(goal <= 1.5x), first visit {med('studio', 'visit') / med('empty', 'visit'):.2f}x"
    )


if __name__ == "__main__":
    main()
