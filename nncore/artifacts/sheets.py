"""Tables written for a person to open in a spreadsheet program, safe to open.

Excel and LibreOffice run a CSV cell that starts with `=`, `+`, `-` or `@` as a formula
(`=HYPERLINK(...)` makes a link, `+cmd|' /C calc'!A0` starts a program on old setups), and a tab
or carriage return in front does not stop them. Column names, class labels and input cells all
come from the user's data, so every such header and text cell gets a leading `'`, as OWASP
advises ("CSV Injection"): the program then shows the text as text.

Numbers are left alone: a number column stays numbers (`-1.5` is written as `-1.5`), and so is
a text cell that is a plain number (`-1.5`, `+3`, `2e-5`), which no program runs as a formula
and which would otherwise change from a number into text. (An infinite number is written
`-inf`, which a spreadsheet reads as an unknown name and shows as an error: nothing runs.) A
cell that already starts with `'` is left as it is, so neutralising twice changes nothing.

`to_csv` writes such a table with CRLF line ends (as RFC 4180 has them): the writer quotes a
field holding a line end character, so with CRLF a carriage return inside a cell is quoted too.
With pandas' "\n" it is not, and a spreadsheet splits `x\r=1+1` into a row starting `=1+1`.
"""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
_PLAIN_NUMBER = r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?"


def to_csv(frame: pd.DataFrame, path: str | Path | None = None) -> str | None:
    """`frame` as CSV, safe to open in a spreadsheet, written to `path` or returned."""
    return for_spreadsheet(frame).to_csv(path, index=False, lineterminator="\r\n")


def for_spreadsheet(frame: pd.DataFrame) -> pd.DataFrame:
    """`frame` with every header and text cell a spreadsheet would run as a formula prefixed by
    `'`; number, date and boolean columns as they were. A new frame; `frame` is not changed."""
    out = frame.copy(deep=False)  # the columns left as they are are shared, not copied
    for position in range(frame.shape[1]):
        cells = _cells(frame.iloc[:, position])
        if cells is not None:
            out.isetitem(position, cells)
    out.columns = [_header(name) for name in frame.columns]
    return out


def _header(name: object) -> object:
    risky = (
        isinstance(name, str)
        and name.startswith(FORMULA_STARTS)
        and not re.fullmatch(_PLAIN_NUMBER, name)
    )
    return "'" + name if risky else name


def _cells(values: pd.Series) -> pd.Series | None:
    """The column with its risky text cells prefixed; None when none is."""
    if isinstance(values.dtype, pd.CategoricalDtype):
        values = values.astype(object)
    elif not (pd.api.types.is_object_dtype(values) or pd.api.types.is_string_dtype(values)):
        return None  # numbers, dates, booleans: nothing a program runs
    risky = _risky(values)
    if not risky.any():
        return None
    return values.where(~risky, "'" + values.where(risky, "").astype(object))


def _risky(values: pd.Series) -> pd.Series:
    """True for the text cells a spreadsheet would run; False for other cells and non-text."""
    try:
        text = values.str
    except AttributeError:  # an object column without any text in it
        return pd.Series(False, index=values.index)
    starts = text.startswith(FORMULA_STARTS, na=False).astype(bool)
    if not starts.any():
        return starts
    return starts & ~text.fullmatch(_PLAIN_NUMBER, na=False).astype(bool)
