"""Nothing lost, in a real browser: the address (?w=<token>) is the key to a workspace kept on
disk. A reload on any page shows what it showed; a reload during a training re-attaches to it; a
second tab with the address sees the same runs, a browser without it sees none; a server killed
with SIGKILL and started again lists the run it was training as interrupted, and usable.

Every wait is for a state the page (or the workspace's folder) reaches, bounded by a timeout.
"""

import re
import signal
import time
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pytest
from playwright.sync_api import expect
from test_studio import (
    MAX_EPOCHS,
    chart_grows_beyond,
    go_to,
    load_sample,
    start_training,
    wait_idle,
)

pytestmark = pytest.mark.browser
WAIT_SECONDS = 120  # generous bounds for states a slow machine reaches late


def token(page) -> str:
    """The workspace key in the page's address."""
    page.wait_for_url(re.compile(r"[?&]w="))
    return parse_qs(urlparse(page.url).query)["w"][0]


def reload(page) -> None:
    page.reload()
    wait_idle(page)


def wait_for_file(folder: Path, pattern: str) -> Path:
    """The first file under `folder` matching `pattern`, once one exists."""
    deadline = time.monotonic() + WAIT_SECONDS
    while time.monotonic() < deadline:
        if found := next(folder.rglob(pattern), None):
            return found
        time.sleep(0.2)
    pytest.fail(f"no {pattern} under {folder} within {WAIT_SECONDS} s")


def test_a_reload_on_every_page_shows_what_it_showed(page):
    load_sample(page, "Wine")
    go_to(page, "Model")
    units = page.get_by_role("spinbutton", name="Layer 1 units", exact=True)
    units.fill("24")
    units.press("Enter")
    wait_idle(page)
    start_training(page, epochs=3, early_stopping=False)
    page.get_by_text(re.compile(r"run 1: ")).first.wait_for(timeout=WAIT_SECONDS * 1000)
    expect(page.get_by_role("button", name=re.compile("Start training"))).to_be_enabled(
        timeout=WAIT_SECONDS * 1000
    )
    address = page.url
    reload(page)
    assert page.url == address  # the key stays in the address
    expect(page.get_by_role("spinbutton", name="Epochs", exact=True)).to_have_value("3")
    page.get_by_text(re.compile(r"run 1: ")).first.wait_for()
    shown_on = {
        "Data": lambda: page.get_by_role("heading", name="Wine").first,
        # The runs table is drawn on a canvas: its cells are in the page, never "visible".
        "Runs": lambda: page.locator("[role=gridcell]").filter(has_text="run 1").first,
        "Evaluate": lambda: page.get_by_text(re.compile(r"run 1: 3 epochs")).first,
        "Predict": lambda: page.get_by_role("button", name=re.compile(r"model\.keras")).first,
    }
    for title, shown in shown_on.items():
        state = "attached" if title == "Runs" else "visible"
        go_to(page, title)
        shown().wait_for(state=state)
        reload(page)
        page.get_by_role("heading", name=title, exact=True).first.wait_for()
        shown().wait_for(state=state)
    go_to(page, "Model")
    reload(page)
    expect(page.get_by_role("spinbutton", name="Layer 1 units", exact=True)).to_have_value("24")
    go_to(page, "Tune")
    rates = page.get_by_role("spinbutton", name="How many rates", exact=True)
    rates.fill("3")
    rates.press("Enter")
    wait_idle(page)
    reload(page)
    expect(page.get_by_role("spinbutton", name="How many rates", exact=True)).to_have_value("3")
    assert not page.get_by_text("Traceback").count()


def test_a_reload_during_a_training_reattaches_and_its_chart_keeps_growing(page, browser, server):
    load_sample(page, "Breast cancer")
    start_training(page, epochs=MAX_EPOCHS, early_stopping=False)
    training = re.compile(rf"run 1: epoch \d+ of {MAX_EPOCHS}")
    page.get_by_text(training).wait_for(timeout=WAIT_SECONDS * 1000)
    before = chart_grows_beyond(page, 1)
    reload(page)
    # The same training, its chart from the first epoch on, still growing.
    page.get_by_text(training).wait_for()
    again = chart_grows_beyond(page, before - 1)
    chart_grows_beyond(page, again)

    second = browser.new_context().new_page()
    stranger = browser.new_context().new_page()
    try:
        # A second tab with the address sees the same run, training.
        second.set_default_timeout(60_000)
        second.goto(page.url)
        go_to(second, "Runs")
        # The runs table is drawn on a canvas; its cells are in the page, though not "visible".
        cells = second.locator("[role=gridcell]")
        cells.filter(has_text="run 1").first.wait_for(state="attached")
        cells.filter(has_text="running").first.wait_for(state="attached")
        # A browser without the address is in a workspace of its own, with no runs.
        stranger.set_default_timeout(60_000)
        stranger.goto(server)
        go_to(stranger, "Runs")
        stranger.get_by_text(re.compile("Train a model first")).wait_for()
        assert token(stranger) != token(page)
    finally:
        second.context.close()
        stranger.context.close()
    go_to(page, "Train")
    page.get_by_role("button", name=re.compile("Stop")).click()
    page.get_by_text(re.compile(r"run 1: Stopped")).wait_for(timeout=WAIT_SECONDS * 1000)


def test_after_sigkill_and_a_restart_the_run_is_interrupted_and_usable(
    browser, own_server, tmp_path
):
    env = {"NNSTUDIO_HOME": str(tmp_path / "home"), "NNSTUDIO_CHECKPOINT_SECONDS": "1"}
    with own_server(tmp_path / "first.log", **env) as (process, url):
        tab = browser.new_context().new_page()
        tab.set_default_timeout(60_000)
        tab.goto(url)
        load_sample(tab, "Breast cancer")
        start_training(tab, epochs=MAX_EPOCHS, early_stopping=False)
        chart_grows_beyond(tab, 2, timeout=WAIT_SECONDS * 1000)
        key = token(tab)
        wait_for_file(tmp_path / "home" / "workspaces" / key / "runs", "checkpoint.npz")
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=WAIT_SECONDS)
        tab.context.close()

    with own_server(tmp_path / "second.log", **env) as (process, url):
        tab = browser.new_context().new_page()
        tab.set_default_timeout(60_000)
        try:
            tab.goto(f"{url}/?w={key}")
            go_to(tab, "Runs")
            cells = tab.locator("[role=gridcell]")
            cells.filter(has_text="interrupted").first.wait_for(state="attached")
            go_to(tab, "Evaluate")
            # Its best weights saved before the kill, made a whole run and scored.
            tab.get_by_text(re.compile(r"interrupted after epoch \d+")).first.wait_for(
                timeout=WAIT_SECONDS * 1000
            )
            go_to(tab, "Predict")
            tab.get_by_role("button", name=re.compile(r"model\.keras")).first.wait_for()
            assert not tab.get_by_text("Traceback").count()
        finally:
            tab.context.close()
