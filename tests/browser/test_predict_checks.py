"""Predict in a real browser: a regression model's intervals, each row's checks and the drift
view, for a file and for the one-row form."""

import re

import pytest
from playwright.sync_api import expect
from test_studio import go_to, load_sample, start_training, wait_idle

from nncore.data.samples import load_sample as sample_frame

pytestmark = pytest.mark.browser


def test_intervals_checks_and_drift_of_a_regression_model(page, tmp_path):
    load_sample(page, "Diabetes")
    go_to(page, "Model")
    start_training(page, epochs=5, early_stopping=True)
    page.get_by_text(re.compile(r"run 1: (Finished \d+ epochs|Early stopping after)")).wait_for(
        timeout=300_000
    )
    go_to(page, "Predict")
    expect(page.get_by_text("Prediction interval coverage")).to_be_visible()

    rows = sample_frame("diabetes").drop(columns="progression").head(60)
    rows["bmi"] += 15  # far heavier than the training rows
    rows.to_csv(tmp_path / "heavy.csv", index=False)
    uploader = page.get_by_test_id("stFileUploader").locator("input[type=file]").first
    uploader.set_input_files(str(tmp_path / "heavy.csv"))
    page.get_by_text("60 rows of heavy.csv").wait_for(timeout=120_000)
    wait_idle(page)
    expect(page.get_by_text(re.compile(r"\d+ rows flagged in the checks column"))).to_be_visible()
    expect(
        page.get_by_text(re.compile(r"columns moved away from the training rows \(bmi"))
    ).to_be_visible()
    expect(page.get_by_text("Do the new rows look like the training rows?")).to_be_visible()

    page.get_by_role("button", name="Predict", exact=True).click()
    expect(page.get_by_text(re.compile(r"^90% prediction interval: "))).to_be_visible(
        timeout=120_000
    )
    assert not page.get_by_text("Traceback").count()
