"""Why this prediction and how the output moves, in a real browser: the one-row waterfall on
Predict and the partial-dependence charts on Evaluate, each drawn once its worker job is done.

Every wait is for a state the page reaches (a chart's title), bounded by a Playwright timeout.
"""

import re

import pytest
from playwright.sync_api import expect
from test_studio import go_to, load_sample, start_training, wait_idle

pytestmark = pytest.mark.browser


def test_a_trained_sample_explains_a_row_and_draws_its_curves(page):
    load_sample(page, "Iris flowers")
    start_training(page, epochs=5, early_stopping=False)
    expect(page.get_by_role("button", name=re.compile("Start training"))).to_be_enabled(
        timeout=120_000
    )
    wait_idle(page)

    go_to(page, "Predict")
    page.get_by_role("button", name=re.compile(r"Predict$")).click()
    page.get_by_text("Why this prediction").wait_for(timeout=120_000)
    page.get_by_text("base value", exact=True).first.wait_for()

    go_to(page, "Evaluate")
    page.get_by_role("button", name=re.compile("Draw the curves")).click()
    page.get_by_text(re.compile(r" and .+ together")).first.wait_for(timeout=120_000)
    assert not page.get_by_text("Traceback").count()
