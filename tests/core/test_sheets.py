"""Tables written for a spreadsheet: no header or text cell starts a formula (a leading ' on
those that would), numbers stay numbers; through `for_spreadsheet` and `python -m nncore
predict` on a model trained on hostile labels, column names and cells."""

import csv
import io
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from clirun import cli
from hypothesis import given
from hypothesis import strategies as st

from nncore.artifacts.sheets import FORMULA_STARTS, for_spreadsheet, to_csv

LINK = '=HYPERLINK("http://evil.invalid","click")'
COMMAND = "+cmd|' /C calc'!A0"
SUM = "=1+1"
PLAIN_NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")


def hostile_frame(n: int = 240) -> pd.DataFrame:
    """Classes by `=size` (numbers, -1.5 among them), the middle one the most common; a text
    column `@note` of formulas, a text number and plain words."""
    size = np.round(np.linspace(-3, 3, n), 2)
    size[::10] = -1.5
    label = np.where(size < -1.5, LINK, np.where(size < 1.5, SUM, COMMAND))
    notes = np.resize([SUM, "-1.5", "plain", "@SUM(A1:A2)"], n)
    return pd.DataFrame({"=size": size, "@note": notes, "label": label})


def unsafe(fields: list[str]) -> list[str]:
    """Fields of a CSV a spreadsheet would run as formulas."""
    return [f for f in fields if f.startswith(FORMULA_STARTS) and not PLAIN_NUMBER.fullmatch(f)]


def csv_fields(text: str) -> list[str]:
    return [field for row in csv.reader(io.StringIO(text, newline="")) for field in row]


def test_headers_and_text_cells_are_prefixed_and_numbers_kept():
    frame = pd.DataFrame(
        {
            "=size": [-1.5, 2.0, -3.25],
            "@note": [SUM, "-1.5", "\tTAB"],
            "mixed": [COMMAND, 7, None],
            "kind": pd.Categorical([LINK, "ok", LINK]),
            "-2": ["a", "b", "c"],  # a header that is a plain number stays one
        }
    )
    out = for_spreadsheet(frame)
    assert list(out.columns) == ["'=size", "'@note", "mixed", "kind", "-2"]
    assert out["'=size"].dtype == np.float64 and out["'=size"].tolist() == [-1.5, 2.0, -3.25]
    assert out["'@note"].tolist() == ["'" + SUM, "-1.5", "'\tTAB"]
    assert out["mixed"].tolist()[:2] == ["'" + COMMAND, 7] and pd.isna(out["mixed"][2])
    assert out["kind"].tolist() == ["'" + LINK, "ok", "'" + LINK]
    assert list(frame.columns)[0] == "=size" and frame["@note"][0] == SUM  # not changed
    assert not unsafe(csv_fields(to_csv(frame)))
    # A carriage return inside a cell is quoted: a spreadsheet would start a row there.
    assert to_csv(pd.DataFrame({"a": ["ok\r=1+1"]})) == 'a\r\n"ok\r=1+1"\r\n'


CELLS = st.one_of(
    st.text(max_size=8),
    st.sampled_from([SUM, LINK, COMMAND, "-1.5", "+3", "-x", "@", "'=1", "\r=1", "1e5", "-"]),
    st.none(),
)


@given(
    st.lists(
        st.tuples(CELLS, CELLS, st.floats(allow_nan=False, allow_infinity=False)),
        min_size=1,
        max_size=20,
    ),
    st.lists(CELLS.filter(lambda c: c is not None), min_size=3, max_size=3, unique=True),
)
def test_no_cell_starts_a_formula_and_numbers_are_untouched(rows, names):
    frame = pd.DataFrame(rows, columns=names)
    out = for_spreadsheet(frame)
    assert out[out.columns[2]].tolist() == frame[names[2]].tolist()  # numbers as they were
    cells = zip(
        [*frame.columns, *frame.iloc[:, :2].to_numpy().ravel()],
        [*out.columns, *out.iloc[:, :2].to_numpy().ravel()],
        strict=True,
    )
    for before, after in cells:
        if not isinstance(before, str):
            assert pd.isna(after) if pd.isna(before) else after == before
        elif before.startswith(FORMULA_STARTS) and not PLAIN_NUMBER.fullmatch(before):
            assert after == "'" + before
        else:
            assert after == before
    assert not unsafe(csv_fields(to_csv(frame)))
    # Twice is once: a prefixed cell starts with ', which is safe.
    again = for_spreadsheet(out)
    assert list(again.columns) == list(out.columns) and again.equals(out)


def test_a_million_rows_are_neutralised_at_once():
    n = 1_000_000
    frame = pd.DataFrame(
        {"x": np.linspace(-1, 1, n), "t": np.resize([SUM, "plain", "-1.5", "@x"], n)}
    )
    frame["t"] = frame["t"].astype("str")
    out = for_spreadsheet(frame)
    assert out["t"].value_counts().to_dict() == {
        "'" + SUM: n // 4,
        "plain": n // 4,
        "-1.5": n // 4,
        "'@x": n // 4,
    }
    assert out["x"].equals(frame["x"])


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("hostile")
    data = root / "hostile.csv"
    hostile_frame().to_csv(data, index=False)
    done = cli(
        "train",
        "--data",
        data,
        "--target",
        "label",
        "--out",
        root / "run",
        "--layers",
        "16:relu",
        "--epochs",
        "60",
        "--learning-rate",
        "0.02",
        "--no-early-stopping",
        "--quiet",
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return root


def test_the_command_line_predictions_are_safe_to_open(trained):
    out = trained / "predictions.csv"
    done = cli(
        "predict",
        "--model",
        trained / "run" / "model.keras",
        "--data",
        trained / "hostile.csv",
        "--out",
        out,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    text = out.read_text()
    assert not unsafe(csv_fields(text))
    table = pd.read_csv(out)
    predicted = table["predicted label"]
    assert set(predicted) <= {"'" + LINK, "'" + SUM, "'" + COMMAND}
    assert "'" + SUM in set(predicted)  # the commonest class: '=1+1 comes back, prefixed
    # The headers name the classes after "probability ", so no header starts a formula.
    probabilities = [c for c in table.columns if c.startswith("probability ")]
    assert set(probabilities) == {f"probability {c}" for c in (LINK, SUM, COMMAND)}
    assert list(table.columns) == ["predicted label", *probabilities, "checks"]
    assert np.allclose(table[probabilities].sum(axis=1), 1, atol=1e-5)  # numbers still numbers
