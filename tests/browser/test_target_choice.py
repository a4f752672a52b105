"""No silent target, in a real browser: an uploaded table whose last column is not the target
states no task until the user picks one; the page suggests, the user picks, the task follows.

Every wait is for a state the page reaches, bounded by a Playwright timeout.
"""

import re

import pytest
from test_studio import go_to, wait_idle

pytestmark = pytest.mark.browser
# As in the analyst's report: the last column is a year whose three whole-number values auto
# would call classes; the target, species, sits in the middle.
ROWS = 60
FLOWERS = "petal,species,year\n" + "".join(
    f"{1 + (i % 3) * 2 + (i % 7) / 10},{('setosa', 'versicolor', 'virginica')[i % 3]},"
    f"{2019 + i % 3 if i % 2 else 2021 - i % 3}\n"
    for i in range(ROWS)
)
STATED = re.compile(r"^(Task|Classes):")


def choose_target(page, column: str) -> None:
    page.get_by_label("Target column").click()
    page.get_by_role("option", name=column, exact=True).click()


def test_an_upload_states_no_task_until_its_target_is_picked(page, tmp_path):
    csv = tmp_path / "flowers.csv"
    csv.write_text(FLOWERS)
    page.get_by_role("heading", name="Data").first.wait_for()
    main = page.get_by_test_id("stMainBlockContainer")
    main.locator("input[type=file]").set_input_files(str(csv))
    page.get_by_role("heading", name="flowers.csv").wait_for()
    page.get_by_placeholder("Choose the column to predict").wait_for()
    page.get_by_text("Likely targets:").wait_for()
    page.get_by_text("species: its name says 'species'").wait_for()
    wait_idle(page)
    assert not page.get_by_text(STATED).count()

    go_to(page, "Train")
    page.get_by_text("Choose a target on the Data step first").wait_for()
    assert not page.get_by_role("button", name=re.compile("Start training")).count()

    go_to(page, "Data")
    page.get_by_text("Likely targets:").wait_for()
    wait_idle(page)
    assert not page.get_by_text(STATED).count()
    choose_target(page, "species")
    task = page.locator("p", has_text=re.compile(r"^Task: multiclass: 3 distinct text values"))
    task.wait_for()
    page.get_by_text("Classes: setosa, versicolor, virginica").wait_for()
    wait_idle(page)
    assert not page.get_by_text("Likely targets:").count()
    assert not page.get_by_text(re.compile(r"^Classes: 2019")).count()

    # The choice is the workspace's: a reload shows it again, and the later steps run.
    page.wait_for_url(re.compile(r"[?&]w="))
    page.reload()
    task.wait_for()
    wait_idle(page)
    go_to(page, "Train")
    page.get_by_role("button", name=re.compile("Start training")).wait_for()
    assert not page.get_by_text("Traceback").count()
