"""The studio in a real browser: first visit, the whole flow on a sample with Stop, two tabs.

Every wait is for a state the page reaches (a text, a chart's length, a button enabled), bounded
by a Playwright timeout; none counts redraws or seconds, so a fast or a slow machine passes alike.
"""

import re

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.browser
# The Train page's largest number of epochs: a training this long ends only by Stop during a test.
MAX_EPOCHS = 10_000
# Epochs drawn in the page's first chart, the training's loss (0 before it has data).
CHART_EPOCHS = """() => {
  const plot = document.querySelector('.js-plotly-plot');
  return plot && plot.data && plot.data[0] && plot.data[0].x ? plot.data[0].x.length : 0;
}"""


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


def chart_grows_beyond(page, epochs: int, timeout: float = 120_000) -> int:
    """Wait until the training chart shows more than `epochs` epochs; how many it shows."""
    page.wait_for_function(f"epochs => ({CHART_EPOCHS})() > epochs", arg=epochs, timeout=timeout)
    return page.evaluate(CHART_EPOCHS)


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


def test_whole_flow_on_a_sample_with_live_chart_stop_and_download(page, tmp_path):
    load_sample(page, "Breast cancer")
    go_to(page, "Model")
    start_training(page, epochs=MAX_EPOCHS, early_stopping=False)
    training = page.get_by_text(re.compile(rf"run 1: epoch \d+ of {MAX_EPOCHS}"))
    training.wait_for(timeout=120_000)

    # Live: the chart shows some epochs, then more, while the run still trains.
    first = chart_grows_beyond(page, 0)
    grown = chart_grows_beyond(page, first)
    assert training.is_visible(), "the training ended before Stop was pressed"

    page.get_by_role("button", name=re.compile("Stop")).click()
    stopped = page.get_by_text(re.compile(r"run 1: Stopped on request (during|after) epoch \d+"))
    stopped.wait_for(timeout=60_000)
    # The page reruns once the job has ended, which enables Start again.
    expect(page.get_by_role("button", name=re.compile("Start training"))).to_be_enabled(
        timeout=60_000
    )
    wait_idle(page)
    assert (
        page.evaluate(CHART_EPOCHS) >= grown
    )  # the curves of the kept run, up to where it stopped

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
