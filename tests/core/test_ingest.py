"""The one way a table comes in: `read_table` under the limits of `nncore.rules`, and the
command line's `--data`, which reads through it (the pages' doors: test_data_page.py and
test_predict_page.py)."""

import json
import os
import subprocess
import sys

import pandas as pd
import pytest

from nncore.config import DataSpec
from nncore.data.ingest import read_table
from nncore.data.plan import plan_columns
from nncore.data.prepare import prepare
from nncore.errors import DataError
from nncore.rules import TableLimits
from tests.limits import OVER, SETTING_OF, SETTINGS, STARTS

SMALL = TableLimits(max_bytes=2000, max_cells=300, max_columns=8)  # SETTINGS, spelled out


def refusal(kind: str, limits: TableLimits | None = SMALL) -> str:
    with pytest.raises(DataError) as refused:
        read_table(OVER[kind], "big.csv", limits)
    return str(refused.value)


@pytest.mark.parametrize("kind", list(OVER))
def test_a_table_over_a_limit_is_refused_in_one_line_naming_the_limit_and_its_setting(kind):
    message = refusal(kind)
    assert message.startswith(STARTS[kind])
    assert "\n" not in message
    assert f"on your own machine, set {SETTING_OF[kind]} to raise this limit" in message


@pytest.mark.parametrize("kind", list(OVER))
def test_the_settings_set_the_limits_and_raising_one_lets_its_table_in(kind, monkeypatch):
    for setting, value in SETTINGS.items():
        monkeypatch.setenv(setting, value)
    assert refusal(kind, limits=None) == refusal(kind)  # the default: the settings in force
    monkeypatch.setenv(SETTING_OF[kind], str(10**9))
    frame, how = read_table(OVER[kind], "big.csv")
    assert len(frame) >= 1 and how == "read as UTF-8, separator ',', decimal '.'"


def test_an_unreadable_setting_keeps_the_default(monkeypatch):
    monkeypatch.setenv("NNSTUDIO_MAX_COLUMNS", "many")
    monkeypatch.setenv("NNSTUDIO_MAX_CELLS", "-5")
    limits = TableLimits.from_env()
    assert (limits.max_columns, limits.max_cells) == (5_000, 10_000_000)


def test_too_many_columns_are_refused_from_the_header_before_the_rows_are_parsed():
    # Rows the parser refuses: past the column limit, the header alone decides.
    header = ",".join(f"c{i}" for i in range(12))
    broken = f'{header}\n1,2,"open quote\n3,4\n'.encode()
    with pytest.raises(DataError, match="has 12 columns, more than the 8"):
        read_table(broken, "wide.csv", SMALL)
    with pytest.raises(DataError, match="never closed"):
        read_table(broken, "wide.csv", TableLimits(None, None, 12))


def test_a_table_within_every_limit_reads_as_it_is():
    frame, _ = read_table(b"a,b\n1,x\n2,y\n", "ok.csv", SMALL)
    assert frame.to_dict("list") == {"a": [1, 2], "b": ["x", "y"]}


# --- the command line ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def schema_file(tmp_path_factory):
    """A schema.json as training writes it (the model is never reached: the data is refused)."""
    frame = pd.DataFrame({"a": range(40), "b": [0.5 * i for i in range(40)], "y": [0, 1] * 20})
    spec = DataSpec(target="y")
    schema = prepare(frame, plan_columns(frame, spec), spec, seed=0).schema
    path = tmp_path_factory.mktemp("schema") / "schema.json"
    path.write_text(json.dumps(schema.to_dict()))
    return path


@pytest.mark.parametrize("command", ["train", "predict"])
@pytest.mark.parametrize("kind", list(OVER))
def test_the_command_line_refuses_a_table_over_a_limit_with_the_same_line(
    kind, command, schema_file, tmp_path
):
    data = tmp_path / "big.csv"
    data.write_bytes(OVER[kind])
    options = {
        "train": ["--target", "a", "--out", tmp_path / "run"],
        "predict": ["--model", schema_file.with_name("model.keras"), "--out", tmp_path / "p.csv"],
    }[command]
    done = subprocess.run(
        [sys.executable, "-m", "nncore", command, "--data", data, *map(str, options)],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **SETTINGS},
    )
    assert done.returncode == 2
    assert done.stderr == f"error: {refusal(kind)}\n"
    assert not (tmp_path / "run").exists() and not (tmp_path / "p.csv").exists()


@pytest.mark.skipif(not os.path.exists("/proc/self/clear_refs"), reason="Linux /proc measures")
def test_a_very_wide_table_is_refused_at_the_default_limit_without_reading_its_rows():
    # 22 rows × 50,000 columns, 20 MB: profiled as a table it took 24 s and 400 MB more.
    cell = "-0.12345678901234"
    header = ",".join(f"column{i}" for i in range(50_000))
    data = (header + "\n" + (",".join([cell] * 50_000) + "\n") * 22).encode()
    assert 19e6 < len(data) < 21e6

    def memory() -> dict[str, int]:
        with open("/proc/self/status") as lines:
            status = dict(line.split(":", 1) for line in lines)
        return {key: int(status[key].split()[0]) * 1024 for key in ("VmRSS", "VmHWM")}

    with open("/proc/self/clear_refs", "w") as reset:
        reset.write("5")  # the peak so far := the RSS now
    before = memory()["VmRSS"]
    with pytest.raises(DataError) as refused:
        read_table(data, "wide.csv")
    growth = memory()["VmHWM"] - before
    assert str(refused.value).startswith(
        "wide.csv has 50,000 columns, more than the 5,000 this studio takes."
    )
    # The sniffed first records as Python strings (about 48 MB), nothing like the 400 MB of
    # the parsed and profiled table.
    assert growth < 5 * len(data), growth
