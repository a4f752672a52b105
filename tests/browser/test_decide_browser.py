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

    cheapest = re.compile(r"The cheapest threshold on the \d+ validation rows is (0\.\d+)")
    before = cheapest.search(page.inner_text("body")).group(1)
    cost = page.get_by_role("spinbutton", name=re.compile("Cost of a false negative"))
    cost.fill("20")
    cost.press("Enter")
    # A false negative now costs 20 times more: wait for the page drawn with that cost (a
    # lower cheapest threshold), then for its Keep button, which names the same threshold.
    page.wait_for_function(
        """(before) => {
          const found = document.body.innerText.match(
            /The cheapest threshold on the \\d+ validation rows is (0\\.\\d+)/);
          return found && found[1] !== before;
        }""",
        arg=before,
    )
    wait_idle(page)
    chosen = cheapest.search(page.inner_text("body")).group(1)
    keep = page.get_by_role("button", name=re.compile(rf"Keep {re.escape(chosen)}$"))
    if keep.is_enabled():
        keep.click()
        wait_idle(page)
    page.get_by_text(re.compile(rf"run 1 keeps {re.escape(chosen)}:")).wait_for()
    assert not page.get_by_text("Traceback").count()
