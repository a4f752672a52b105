"""Experiment and schema files a hostile visitor wrote: each refused in one short line, through
the engine's readers and the command line, never a crash."""

import json
import subprocess
import sys

import pytest
from hypothesis import given
from hypothesis import strategies as st

from nncore.artifacts.predict import load_schema
from nncore.config import Experiment
from nncore.data.schema import Schema
from nncore.errors import ConfigError, DataError
from nncore.safejson import Bounds, loads, quote

SHORT = 300  # characters: a message one reads in a glance, whatever the file held

HOSTILE = {
    "deep": ("[" * 450_000, "450,000 levels deep"),
    "long-integer": ('{"schema_version": 1, "seed": ' + "7" * 5_000 + "}", "5,000 digits"),
    "long-text": (
        json.dumps({"schema_version": 1, "compile": {"optimizer": "A" * 900_000}}),
        "900,000 characters",
    ),
    "long-key": (json.dumps({"B" * 50_000: 1}), "50,000 characters"),
    "unclosed-strings": ('"' + '\\"' * 400_000, "not valid JSON"),
    "not-utf8": (b'{"target": "\xff"}', "not text"),
    "deep-objects": ('{"a":' * 100 + "1" + "}" * 100, "100 levels deep"),
}


@pytest.mark.parametrize(("text", "words"), HOSTILE.values(), ids=HOSTILE.keys())
def test_a_hostile_experiment_file_is_refused_in_one_short_line(text, words):
    with pytest.raises(ConfigError) as refused:
        Experiment.from_json(text)
    message = str(refused.value)
    assert words in message
    assert message.startswith("The experiment file ")
    assert message.endswith("Save it again from the studio or fix the JSON by hand.")
    assert len(message) < SHORT and "\n" not in message


@pytest.mark.parametrize(("text", "words"), HOSTILE.values(), ids=HOSTILE.keys())
def test_a_hostile_schema_file_is_refused_in_one_short_line(tmp_path, text, words):
    path = tmp_path / "schema.json"
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    if words == "50,000 characters":  # a schema may hold long categories; not that long
        path.write_text(json.dumps({"B" * 200_000: 1}))
        words = "200,000 characters"
    with pytest.raises(DataError) as refused:
        load_schema(path)
    message = str(refused.value)
    assert words in message and message.startswith("schema.json ")
    assert len(message) < SHORT and "\n" not in message


def test_a_schema_that_is_json_but_not_a_schema_says_so_briefly():
    for raw in ([1, 2], {"version": "V" * 50_000}, {"version": 1, "columns": [{"x" * 900: 1}]}):
        with pytest.raises(DataError) as refused:
            Schema.from_json(json.dumps(raw))
        assert len(str(refused.value)) < SHORT


def test_the_studio_s_own_files_read_back(tmp_path):
    experiment = Experiment(seed=2**31 - 1)
    assert Experiment.from_json(experiment.to_json()) == experiment
    assert Experiment.from_json(experiment.to_json().encode("utf-16")) == experiment


def test_the_command_line_refuses_a_deep_experiment_file_without_a_traceback(tmp_path):
    config = tmp_path / "deep.json"
    config.write_text("[" * 450_000)
    data = tmp_path / "data.csv"
    data.write_text("x,y\n1,2\n3,4\n")
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "nncore",
            "train",
            "--data",
            data,
            "--config",
            config,
            "--out",
            tmp_path,
        ],
        capture_output=True,
        text=True,
    )
    assert done.returncode != 0
    assert "Traceback" not in done.stderr
    assert "450,000 levels deep" in done.stderr and len(done.stderr) < SHORT + 50


@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
        lambda inner: st.lists(inner) | st.dictionaries(st.text(), inner),
        max_leaves=20,
    )
)
def test_any_json_within_the_bounds_reads_as_json_does(value):
    text = json.dumps(value)
    bounds = Bounds(depth=1_000, digits=1_000, text=10_000)
    assert loads(text, what="It", advice="", error=ConfigError, bounds=bounds) == json.loads(text)


@given(st.text(max_size=200) | st.integers() | st.lists(st.integers()))
def test_a_quoted_value_is_short(value):
    shown = quote(value)
    assert len(shown) <= 80 + 3
    assert shown == repr(value) or shown.endswith("…")


WITHIN_BOUNDS_BUT_LONG = {
    "unknown-fields": {"schema_version": 1, **{f"{i:04d}" + "C" * 900: 1 for i in range(1000)}},
    "long-optimizer": {"schema_version": 1, "compile": {"optimizer": "A" * 999}},
    "long-role-column": {"schema_version": 1, "data": {"roles": [["D" * 999, "banana"]]}},
    "long-target-type": {"schema_version": 1, "data": {"target": ["E" * 999]}},
}


@pytest.mark.parametrize("raw", WITHIN_BOUNDS_BUT_LONG.values(), ids=WITHIN_BOUNDS_BUT_LONG.keys())
def test_a_readable_file_with_long_wrong_values_is_refused_quoting_little(raw):
    with pytest.raises(ConfigError) as refused:
        Experiment.from_json(json.dumps(raw))
    message = str(refused.value)
    assert len(message) < 2 * SHORT and "\n" not in message, message[:400]
