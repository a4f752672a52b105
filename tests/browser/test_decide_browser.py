"""Decisions for a binary classifier in a real browser: the calibration curve, gain and lift and
the expected cost are drawn with their tables, a temperature is fitted in a worker, and a
threshold picked by costs is kept with the run.

Every wait is for a state the page reaches, bounded by a Playwright timeout.
"""

import re

import pytest
from test_studio import go_to, load_sample, start_training, wait_idle

pytestmark = pytest.mark.browser


def test_evaluate_calibrates_and_keeps_a_threshold_chosen_by_costs(page):
    load_sample(page, "Breast cancer")
    go_to(page, "Model")
    start_training(page, epochs=5, early_stopping=False)
    page.get_by_role("link", name=re.compile("See how well it does")).wait_for(timeout=180_000)
    go_to(page, "Evaluate")
    for heading in (
        "How far the probabilities can be trusted",
        "How fast the ranking finds malignant",
        "A threshold from what errors cost",
    ):
        page.get_by_role("heading", name=heading).wait_for()
    for title in ("Calibration curve", "Finding the malignant rows", "Expected cost per row"):
        page.locator(".js-plotly-plot", has_text=title).wait_for()

    page.get_by_role("button", name="Calibrate with a temperature").click()
    page.get_by_text(re.compile("Scaled by the temperature|left as they are")).wait_for(
        timeout=180_000
    )
    wait_idle(page)

    cost = page.get_by_role("spinbutton", name=re.compile("Cost of a false negative"))
    cost.fill("20")
    cost.press("Enter")
    wait_idle(page)
    keep = page.get_by_role("button", name=re.compile(r"^push_pin\s*Keep 0\.\d+$|^Keep 0\.\d+$"))
    chosen = re.search(r"0\.\d+", keep.inner_text()).group()
    if keep.is_enabled():
        keep.click()
        wait_idle(page)
    page.get_by_text(re.compile(rf"run 1 keeps {re.escape(chosen)}:")).wait_for()
    assert not page.get_by_text("Traceback").count()
