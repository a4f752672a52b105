"""The studio in a real browser: first visit, the whole flow on a sample, Stop."""

import re
import time
from pathlib import Path

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.browser
# The README shows this screenshot, taken anew by every run of this test.
SCREENSHOT = Path(__file__).resolve().parents[2] / "docs" / "train-live.png"


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


def chart_epochs(page) -> int:
    """Epochs drawn in the first training chart (0 before it has data)."""
    return page.evaluate(
        "() => { const plot = document.querySelector('.js-plotly-plot');"
        " return plot && plot.data && plot.data[0] && plot.data[0].x ? plot.data[0].x.length : 0 }"
    )


def load_sample(page, title: str) -> None:
    page.get_by_role("button", name=title).click()
    page.get_by_role("heading", name=title).wait_for()
    wait_idle(page)


def start_training(page, epochs: int, early_stopping: bool) -> None:
    go_to(page, "Train")
    epochs_box = page.get_by_role("spinbutton", name="Epochs", exact=True)
    epochs_box.fill(str(epochs))
    epochs_box.press("Enter")
    wait_idle(page)
    if not early_stopping:
        page.get_by_text("Early stopping", exact=True).click()
        wait_idle(page)
    page.get_by_role("button", name=re.compile("Start training")).click()


def test_first_visit_lands_on_data_with_samples_one_click_away(page):
    page.get_by_role("heading", name="Data").first.wait_for()
    for title in ("Iris flowers", "Wine", "Breast cancer", "Diabetes"):
        page.get_by_role("button", name=title).wait_for()  # visible, or the test fails
    for title in ("Data", "Model", "Train", "Evaluate", "Predict"):
        page.get_by_role("link", name=title, exact=True).first.wait_for()
    assert not page.get_by_text("Traceback").count()


def test_whole_flow_on_a_sample_with_live_chart_and_download(page, tmp_path):
    load_sample(page, "Breast cancer")
    go_to(page, "Model")
    start_training(page, epochs=400, early_stopping=False)

    # The live chart is redrawn while training: its epoch count grows at least twice.
    seen = []
    deadline = time.monotonic() + 240
    while len(set(seen)) < 3 and time.monotonic() < deadline:
        count = chart_epochs(page)
        if count and (not seen or count != seen[-1]):
            seen.append(count)
        time.sleep(0.3)
    assert len(set(seen)) >= 3, f"chart epochs seen: {seen}"
    assert seen == sorted(seen)
    page.get_by_role("heading", name=re.compile("Training: run")).scroll_into_view_if_needed()
    time.sleep(1.5)
    page.screenshot(path=str(SCREENSHOT), full_page=False)

    page.get_by_text(re.compile(r"run 1: (Finished 400 epochs|Early stopping after)")).wait_for(
        timeout=240_000
    )
    go_to(page, "Evaluate")
    page.locator(".js-plotly-plot").nth(1).wait_for()  # scores and curves are drawn
    go_to(page, "Predict")
    with page.expect_download() as download_info:
        page.get_by_role("button", name=re.compile(r"model\.keras")).click()
    target = tmp_path / "model.keras"
    download_info.value.save_as(target)
    assert target.stat().st_size > 1000
    assert target.read_bytes()[:2] == b"PK"  # a .keras file is a zip archive
    assert not page.get_by_text("Traceback").count()


def test_stop_ends_training_and_keeps_the_model(page):
    load_sample(page, "Diabetes")
    start_training(page, epochs=5000, early_stopping=False)
    page.get_by_text(re.compile(r"epoch \d+ of 5000")).wait_for(timeout=120_000)
    page.wait_for_function(
        "() => { const p = document.querySelector('.js-plotly-plot');"
        " return p && p.data && p.data[0] && p.data[0].x && p.data[0].x.length >= 2 }",
        timeout=120_000,
    )
    page.get_by_role("button", name=re.compile("Stop")).click()
    page.get_by_text(re.compile("Stopped on request")).wait_for(timeout=30_000)
    # The page reruns once the job has ended, which enables Start again.
    expect(page.get_by_role("button", name=re.compile("Start training"))).to_be_enabled(
        timeout=30_000
    )
    assert not page.get_by_text("Traceback").count()


def test_two_tabs_never_see_each_others_data(browser, server):
    first, second = (browser.new_context().new_page() for _ in range(2))
    try:
        for tab in (first, second):
            tab.set_default_timeout(60_000)
            tab.goto(server)
        load_sample(first, "Wine")
        second.get_by_role("button", name="Wine").wait_for()
        second.reload()
        second.get_by_role("button", name="Iris flowers").wait_for()
        wait_idle(second)
        assert not second.get_by_role("heading", name="Wine").count()
        go_to(second, "Train")
        second.get_by_text("Load a CSV or pick a sample first.").wait_for()
    finally:
        first.context.close()
        second.context.close()
