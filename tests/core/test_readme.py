"""The README's five lines for using a downloaded model run as printed, in a fresh process, on a
model the engine has just exported."""

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
HEADING = "### Using a downloaded model from plain Python, in five lines"


def snippet() -> str:
    """The first Python block under the heading."""
    text = (ROOT / "README.md").read_text()
    assert HEADING in text, "the README lost its section on using a downloaded model"
    block = re.search(r"```python\n(.*?)```", text.split(HEADING, 1)[1], re.DOTALL)
    assert block, "no python block under the heading"
    return block.group(1)


def test_the_snippet_is_five_lines():
    assert len([line for line in snippet().splitlines() if line.strip()]) == 5


def test_the_snippet_predicts_with_a_model_the_engine_exported(trained_runs, tmp_path):
    frame, result = trained_runs["regression"]
    # The folder layout the snippet names: the run's downloaded files and a CSV of new rows.
    shutil.copytree(result.out_dir, tmp_path / "runs" / "first")
    new_rows = frame.drop(columns="price").tail(7)
    new_rows.to_csv(tmp_path / "new_houses.csv", index=False)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "2"}
    done = subprocess.run(
        [sys.executable, "-c", snippet()],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    lines = done.stdout.strip().splitlines()
    assert "predicted price" in lines[0]
    values = [float(line.split()[-1]) for line in lines[1:]]
    assert len(values) == len(new_rows)
    # Prices near the training targets' range, not raw network outputs near 0.
    low, high = frame["price"].min(), frame["price"].max()
    spread = high - low
    assert all(low - spread <= v <= high + spread for v in values)


def test_the_limits_table_names_every_limit_with_its_default_and_setting():
    from nncore.rules import LIMITS

    section = (ROOT / "README.md").read_text().split("## Server settings", 1)[1].split("\n## ")[0]
    rows = {
        cells[0]: cells[1:]
        for line in section.splitlines()
        if line.startswith("| ")
        for cells in [[cell.strip() for cell in line.strip("|").split("|")]]
    }
    for limit in LIMITS:
        assert limit.name in rows, f"the README's limits table lacks {limit.name!r}"
        default, setting, _ = rows[limit.name]
        assert default == limit.shown(), limit.name
        if limit.name == "upload":  # Streamlit's own limit, set in its config file
            assert setting.startswith("`server.maxUploadSize`")
            config = (ROOT / ".streamlit" / "config.toml").read_text()
            assert f"\nmaxUploadSize = {limit.default}\n" in config
        else:
            assert setting == (f"`{limit.setting}`" if limit.setting else "fixed"), limit.name
