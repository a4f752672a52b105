"""The Data page reads an uploaded Excel workbook, offers its sheets, and reads the one picked."""

from pathlib import Path

from streamlit.testing.v1 import AppTest

from tests.core.test_excel_parquet import NOTES, ROWS
from tests.workbooks import xlsx
from ui import Keys

APP = str(Path(__file__).resolve().parents[2] / "app.py")
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def test_a_workbook_upload_reads_its_first_sheet_and_the_sheet_picked():
    at = AppTest.from_file(APP, default_timeout=30)
    at.run()
    at.file_uploader(key="upload").set_value(
        ("book.xlsx", xlsx({"Sales": ROWS, "Notes": NOTES}), XLSX)
    ).run()
    assert not at.exception and not at.error
    assert at.selectbox(key="sheet").options == ["Sales", "Notes"]
    assert list(at.session_state[Keys.DATASET].columns) == ROWS[0]
    assert at.session_state[Keys.DATASET_NAME] == "book.xlsx:Sales"
    at.selectbox(key="sheet").select("Notes").run()
    assert not at.exception and not at.error
    assert at.session_state[Keys.DATASET]["note"].tolist() == ["first", "second"]
    assert at.session_state[Keys.DATASET_NAME] == "book.xlsx:Notes"


def test_a_macro_workbook_is_refused_with_the_reason():
    at = AppTest.from_file(APP, default_timeout=30)
    at.run()
    at.file_uploader(key="upload").set_value(("book.xlsm", xlsx({"S": ROWS}), XLSX)).run()
    assert not at.exception
    assert "macro-enabled workbook" in at.error[0].value
    assert at.session_state[Keys.DATASET] is None
