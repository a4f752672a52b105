"""A first visit draws the Data page without pandas, numpy or pyarrow: importing them took
longer than the rest of that page together (BENCHMARKS.md, Cold start)."""

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
HEAVY = ("pandas", "numpy", "pyarrow", "sklearn", "tensorflow")
# In a fresh interpreter, as a server process starts: which heavy modules has each step loaded?
SCRIPT = f"""
import json, sys
from streamlit.testing.v1 import AppTest

def loaded():
    return [name for name in {HEAVY!r} if name in sys.modules]

at = AppTest.from_file("app.py", default_timeout=60)
at.run()
first = loaded()
problems = [str(e.value) for e in at.exception]
at.button(key="sample_iris").click().run()
print(json.dumps({{"first": first, "sample": loaded(), "problems": problems}}))
"""


def test_the_first_page_draws_without_the_heavy_imports():
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        timeout=180,
    )
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    assert seen["problems"] == []
    assert seen["first"] == []
    # The check sees imports: a table on the page brings pandas, numpy and pyarrow in.
    assert {"pandas", "numpy", "pyarrow"} <= set(seen["sample"])
    assert "tensorflow" not in seen["sample"]
