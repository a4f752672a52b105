"""What an upload over the cell limit costs the server, measured in fresh processes: the
Predict page's batch upload is refused like the Data page's and its peak memory stays near the
Data page's."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.pages.test_predict_page import houses, train
from tests.pages.workspaces import APP, new_bench

# 6.2 M rows of "1,2": 24.8 MB (under the byte limit), 12.4 M cells (over the 10 M cell limit,
# but within the margin the line count leaves for quoted line breaks, so the table is parsed
# and refused on its exact size: the costliest refusal a file under the byte limit can get).
ROWS = 6_200_000
REFUSAL = (
    f"big.csv has {ROWS:,} rows × 2 columns = {2 * ROWS:,} cells, more than the "
    "10,000,000 this studio takes."
)

UPLOAD = """
import json, sys
from pathlib import Path
from streamlit.testing.v1 import AppTest
from ui import TOKEN_PARAM, Keys

def status():
    fields = dict(line.split(":", 1) for line in Path("/proc/self/status").read_text().splitlines())
    return {key: int(fields[key].split()[0]) * 1024 for key in ("VmRSS", "VmHWM")}

door, app = sys.argv[1], sys.argv[2]
at = AppTest.from_file(app, default_timeout=120)
if door == "predict":  # the workspace of a finished run, whose id follows
    at.query_params[TOKEN_PARAM] = sys.argv[3]
at.run()
if door == "predict":
    at.session_state[Keys.WORKBENCH].choose(sys.argv[4])
    at.switch_page("pages/predict.py").run()
uploader = at.file_uploader(key="predict_upload" if door == "predict" else "upload")
data = b"x,y\\n" + b"1,2\\n" * ROWS
Path("/proc/self/clear_refs").write_text("5")  # the peak so far := the RSS now
before = status()["VmRSS"]
uploader.set_value(("big.csv", data, "text/csv")).run()
assert not at.exception, at.exception
print(json.dumps({"errors": [e.value for e in at.error], "growth": status()["VmHWM"] - before}))
"""


def peak_growth(door: str, *args: str) -> tuple[list[str], int]:
    """The errors the page shows for the upload and how far it raised the process's peak RSS."""
    done = subprocess.run(
        [sys.executable, "-c", f"ROWS = {ROWS}\n" + UPLOAD, door, APP, *args],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=Path(APP).parent,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    found = json.loads(done.stdout.strip().splitlines()[-1])
    return found["errors"], found["growth"]


@pytest.mark.skipif(not Path("/proc/self/clear_refs").exists(), reason="Linux /proc measures")
def test_a_predict_upload_over_the_cell_limit_is_refused_and_costs_what_the_data_pages_does():
    bench = new_bench()
    run = train(bench, houses(), "sold")

    data_errors, data_growth = peak_growth("data")
    predict_errors, predict_growth = peak_growth("predict", bench.workspace.token, run.id)

    assert any(error.startswith(REFUSAL) for error in data_errors), data_errors
    assert any(error.startswith(REFUSAL) for error in predict_errors), predict_errors
    # Both doors parse and drop the table, keeping nothing: the Predict page used to keep it,
    # send it to a worker and show it (+460 MB).
    assert predict_growth <= 1.5 * data_growth + 32 * 2**20, (predict_growth, data_growth)
