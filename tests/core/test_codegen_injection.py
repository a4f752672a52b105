"""The generated script with hostile names: a data file name, column names and class labels that
try to end a string, a docstring or a comment compile to literals, and the script runs without
doing what they say. A hostile monitored value never reaches the script: the spec refuses it."""

import ast
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from nncore.artifacts.codegen import _describe, _literal, render, script_name
from nncore.config import DataSpec, Experiment, LayerSpec, TrainSpec
from nncore.data.plan import plan_columns
from nncore.data.prepare import prepare
from nncore.errors import ConfigError

PWN = 'open("PWNED", "w")'
DATA_NAME = f'q3"""+str({PWN})+"""x.csv'
WINDOWS = r"C:\Users\ana\new.csv"
NUMBER = f'size"""\n{PWN}\n"""'  # three quotes and newlines, as a column name
TEXT = f"# kind\n{PWN}  # \\"
TARGET = f"label'''+str({PWN})+'''"
CLASSES = [f'yes"); {PWN}; ("', "no\\"]
MONITOR = f'val_loss", mode=str({PWN}), x="'


def hostile_frame(n: int = 60) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    size = rng.normal(0, 1, n)
    return pd.DataFrame(
        {
            NUMBER: size,
            TEXT: rng.choice(["a", '"""', "c\\"], n),
            TARGET: np.where(size + rng.normal(0, 0.3, n) > 0, CLASSES[0], CLASSES[1]),
        }
    )


def hostile_script(frame: pd.DataFrame, data_name: str) -> tuple[str, Experiment]:
    experiment = Experiment(
        data=DataSpec(target=TARGET),
        layers=(LayerSpec(4, "relu"),),
        training=TrainSpec(epochs=2, batch_size=16, reduce_lr_on_plateau=True),
        seed=3,
    )
    plan = plan_columns(frame, experiment.data)
    schema = prepare(frame, plan, experiment.data, experiment.seed).schema
    assert {c.role for c in schema.columns} == {"numeric", "categorical"}
    return render(experiment, schema, data_name), experiment


def data_default(script: str) -> str:
    """The file the script reads when given none: the literal after DATA's `else`."""
    for node in ast.parse(script).body:
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", "") == "DATA":
            return ast.literal_eval(node.value.orelse)
    raise AssertionError("no DATA in the script")


def constants(script: str) -> dict:
    """The script's module-level NAME = literal assignments, as values."""
    found = {}
    for node in ast.parse(script).body:
        if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name):
            try:
                found[node.targets[0].id] = ast.literal_eval(node.value)
            except ValueError:
                continue
    return found


def test_hostile_names_become_literals_with_their_exact_value():
    frame = hostile_frame()
    script, _ = hostile_script(frame, DATA_NAME)
    compile(script, "hostile.py", "exec")
    values = constants(script)
    assert values["TARGET"] == TARGET
    assert values["NUMERIC"] == [NUMBER] and values["CATEGORICAL"] == [TEXT]
    assert sorted(values["CLASSES"]) == sorted(CLASSES)
    # The data name, default of DATA and in the docstring: a literal there too.
    assert data_default(script) == DATA_NAME
    tree = ast.parse(script)
    assert f'"{DATA_NAME}"' in ast.get_docstring(tree)  # quoted, and whole
    # No statement or call a name smuggled in: the script itself never calls open().
    called = {getattr(n.func, "id", "") for n in ast.walk(tree) if isinstance(n, ast.Call)}
    assert "open" not in called and "str" not in called


def test_a_hostile_monitored_value_is_refused_before_any_script_is_written():
    with pytest.raises(ConfigError, match="training.monitor"):
        TrainSpec(monitor=MONITOR)


def test_a_windows_path_compiles_and_is_the_default_data():
    script, _ = hostile_script(hostile_frame(), WINDOWS)
    compile(script, "windows.py", "exec")
    assert data_default(script) == WINDOWS
    assert f'"{WINDOWS}"' in ast.get_docstring(ast.parse(script))


def test_the_hostile_script_runs_on_its_data_and_creates_nothing(tmp_path):
    frame = hostile_frame()
    script, _ = hostile_script(frame, DATA_NAME)
    (tmp_path / DATA_NAME).write_text(frame.to_csv(index=False))
    path = tmp_path / script_name(prepare_schema(frame))
    path.write_text(script)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["TF_CPP_MIN_LOG_LEVEL"] = "2"
    done = subprocess.run(
        [sys.executable, path.name],  # no argument: the script's own DATA default
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "validation:" in done.stdout
    assert not (tmp_path / "PWNED").exists()
    assert not Path("PWNED").exists()


def prepare_schema(frame: pd.DataFrame):
    data = DataSpec(target=TARGET)
    return prepare(frame, plan_columns(frame, data), data, 3).schema


@given(st.text())
def test_any_text_is_a_literal_of_itself(text):
    assert ast.literal_eval(_literal(text)) == text
    assert ast.literal_eval(_describe(text)) == text
    compile(f"# {_describe(text)}\nx = 1\n", "comment.py", "exec")
    docstring = f'"""It reads {_describe(text)}, then stops."""\n'
    assert ast.parse(docstring).body[0].value.value == f'It reads "{text}", then stops.'
