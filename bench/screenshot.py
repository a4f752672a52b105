"""The README's screenshot, taken anew: the Train page drawing live curves on a sample.

    python -m bench.screenshot [--out docs/train-live.png]

Serves the app on a free 127.0.0.1 port, opens it in Debian's Chromium, picks the breast cancer
sample and trains the notes' network without early stopping, so the validation loss climbs away
from the training loss after its best epoch. Once the curves hold enough epochs to show that, and
while the run still trains, it shoots the page; then it stops the run. No test does this: tests
never write into tracked files.
"""

from __future__ import annotations

import argparse
import re
import shutil
import sys
import tempfile
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make `bench` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import ROOT
from bench.memory import CHROMIUM_ARGS, go_to, streamlit_server, wait_idle

EPOCHS = 1000
SHOWN_EPOCHS = 300  # enough for the best epoch and the overfitting after it to show
WAIT_MS = 600_000  # a loaded machine trains slowly; the wait is for a state, bounded by this


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.screenshot", description=__doc__)
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "train-live.png")
    args = parser.parse_args()
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        raise SystemExit("Chromium is missing: apt-get install chromium")
    from playwright.sync_api import sync_playwright

    with (
        tempfile.TemporaryDirectory() as tmp,
        streamlit_server(Path(tmp) / "server.log") as (_process, url, _children),
        sync_playwright() as playwright,
    ):
        browser = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.set_default_timeout(60_000)
        page.goto(url)
        page.get_by_role("button", name="Breast cancer").click()
        page.get_by_role("heading", name="Breast cancer").wait_for()
        wait_idle(page)
        go_to(page, "Train")
        epochs = page.get_by_role("spinbutton", name="Epochs", exact=True)
        epochs.fill(str(EPOCHS))
        epochs.press("Enter")
        wait_idle(page)
        page.get_by_text("Early stopping", exact=True).click()
        wait_idle(page)
        page.get_by_role("button", name=re.compile("Start training")).click()

        page.wait_for_function(
            "shown => { const plot = document.querySelector('.js-plotly-plot');"
            " return !!(plot && plot.data && plot.data[0] && plot.data[0].x"
            " && plot.data[0].x.length >= shown) }",
            arg=SHOWN_EPOCHS,
            timeout=WAIT_MS,
        )
        page.get_by_role("heading", name=re.compile("Training: run")).scroll_into_view_if_needed()
        training = page.get_by_text(re.compile(rf"run 1: epoch \d+ of {EPOCHS}"))
        if not training.is_visible():
            raise SystemExit(
                f"The training ended before its curves held {SHOWN_EPOCHS} epochs; "
                f"raise EPOCHS in {Path(__file__).name} and run it again."
            )
        page.screenshot(path=str(args.out), full_page=False)
        page.get_by_role("button", name=re.compile("Stop")).click()
        page.get_by_text(re.compile("Stopped on request")).wait_for()
        browser.close()
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
