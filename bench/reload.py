"""Reload during a training: how long until the Train page shows the live chart again.

    python bench/reload.py [--quick] [--repeats 15] [--rows 20000]

One `streamlit run app.py` on a free 127.0.0.1 port, one tab of Debian's Chromium driven by
Playwright. The tab uploads a seeded CSV (the train_speed data) and starts a 10,000-epoch
training of the notes' model, early stopping off. Once the chart shows a few epochs, the tab
reloads the page again and again; each figure is the time from the reload to the training's
loss chart drawn again with data (its curve's points in the page), in the same workspace, through
the `?w=` address. The training goes on meanwhile; a Stop ends it.
"""

from __future__ import annotations

import argparse
import re
import shutil
import statistics
import tempfile
import time
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make `bench` importable
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import machine
from bench.memory import CHROMIUM_ARGS, streamlit_server
from bench.server_exit import start_training
from bench.train_speed import make_csv

# Epochs drawn in the page's first chart, the training's loss (0 before it has data).
CHART_EPOCHS = """() => {
  const plot = document.querySelector('.js-plotly-plot');
  return plot && plot.data && plot.data[0] && plot.data[0].x ? plot.data[0].x.length : 0;
}"""
# Charts in the page drawn with data (the curves, then the network's insides).
CHARTS_DRAWN = """() => [...document.querySelectorAll('.js-plotly-plot')]
  .filter((plot) => plot.data && plot.data.length).length"""


def reload_seconds(csv: Path, tmp: Path, repeats: int) -> list[tuple[float, float, float, int]]:
    """For each reload: the seconds to the page's title, to the loss chart drawn with data, to
    every chart drawn, and the epochs the loss chart showed."""
    from playwright.sync_api import sync_playwright

    figures = []
    with (
        streamlit_server(tmp / "server.log", tmpdir=tmp) as (_, url, _children),
        sync_playwright() as playwright,
    ):
        browser = playwright.chromium.launch(
            executable_path=shutil.which("chromium"), args=CHROMIUM_ARGS
        )
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.set_default_timeout(120_000)
        page.goto(url)
        start_training(page, csv)
        page.wait_for_function(f"() => ({CHART_EPOCHS})() > 2", timeout=300_000)
        # The network's insides are measured every few epochs: wait for their charts too.
        page.get_by_text("Inside the network").wait_for()
        page.wait_for_function(f"() => ({CHARTS_DRAWN})() >= 5", timeout=300_000)
        charts = page.evaluate(CHARTS_DRAWN)
        for _ in range(repeats):
            started = time.perf_counter()
            page.reload()
            page.get_by_role("heading", name="Train").first.wait_for()
            titled = time.perf_counter() - started
            page.wait_for_function(f"() => ({CHART_EPOCHS})() > 0", polling=20)
            charted = time.perf_counter() - started
            epochs = page.evaluate(CHART_EPOCHS)
            page.wait_for_function(f"() => ({CHARTS_DRAWN})() >= {charts}", polling=20)
            figures.append((titled, charted, time.perf_counter() - started, epochs))
        page.get_by_role("button", name=re.compile("Stop")).click()
        browser.close()
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="three reloads, fewer rows")
    parser.add_argument("--repeats", type=int, help="reloads (default 15, quick 3)")
    parser.add_argument("--rows", type=int, help="rows of the CSV (default 20,000, quick 5,000)")
    args = parser.parse_args()
    repeats = args.repeats or (3 if args.quick else 15)
    rows = args.rows or (5_000 if args.quick else 20_000)
    if shutil.which("chromium") is None:
        raise SystemExit("Chromium is missing: apt-get install chromium")

    print(f"machine: {machine()}\n")
    with tempfile.TemporaryDirectory() as root:
        csv = Path(root) / "reload.csv"
        make_csv(csv, rows)
        figures = reload_seconds(csv, Path(root), repeats)
    print(f"### Reload during a training → live chart again ({rows:,} rows, notes' model)\n")
    print(
        "| reload | page title after | loss chart drawn again after | all charts after | epochs |"
    )
    print("| --- | --- | --- | --- | --- |")
    for i, (titled, charted, everything, epochs) in enumerate(figures, start=1):
        print(f"| {i} | {titled:.2f} s | {charted:.2f} s | {everything:.2f} s | {epochs} |")
    seconds = [charted for _, charted, _, _ in figures]
    print(
        f"\nloss chart: median {statistics.median(seconds):.2f} s, max {max(seconds):.2f} s over "
        f"{repeats} reloads; all charts: median "
        f"{statistics.median(f[2] for f in figures):.2f} s"
    )


if __name__ == "__main__":
    main()
