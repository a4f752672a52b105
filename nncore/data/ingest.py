"""The one way a table comes in: the Data page's upload, the Predict page's rows to predict and
the command line's `--data` all read their bytes here, under the same limits, with the same
refusals. The file's name says its kind: `.xlsx` (one sheet of it: "book.xlsx:Sheet 2" names the
sheet, a colon being the one character no Excel sheet name holds), `.parquet`, else CSV."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from nncore.errors import DataError
from nncore.rules import UPLOAD_BYTES, TableLimits

if TYPE_CHECKING:
    import pandas as pd

_WORKBOOK_NAME = re.compile(r"(?P<file>.*\.xls[xmb]|.*\.xltm)(?::(?P<sheet>[^:]+))?", re.I)


def is_workbook(name: str) -> bool:
    return _WORKBOOK_NAME.fullmatch(name) is not None


def with_sheet(name: str, sheet: str | None) -> str:
    """The name `read_table` reads as the sheet `sheet` of the workbook `name`."""
    return f"{name}:{sheet}" if sheet else name


def sheet_of(name: str) -> str:
    """The sheet the name `name` reads ("" for a file of one table): what, besides the bytes,
    tells one stored table from another."""
    workbook = _WORKBOOK_NAME.fullmatch(name)
    return (workbook["sheet"] or "") if workbook else ""


def read_table(
    data: bytes, name: str = "", limits: TableLimits | None = None
) -> tuple[pd.DataFrame, str]:
    """The table `data` as a DataFrame, and how it was read in words ("read as UTF-8, separator
    ',', decimal '.'"; "read sheet 'Sales' of 2 ('Sales', 'Notes'), first row as header").
    Raises DataError, in one line, for a file that is no readable table or that is over a limit
    of `limits` (default: the settings in force, `TableLimits.from_env`); `name`, the file's
    name, says its kind and stands in those refusals."""
    # Imported here: the pages import this module's names on a first visit, before pandas.
    from nncore.data.csvio import _size, read_with_dialect

    limits = limits or TableLimits.from_env()
    workbook = _WORKBOOK_NAME.fullmatch(name)
    kind = "workbook" if workbook else "parquet" if name.lower().endswith(".parquet") else "csv"
    if kind != "csv" and limits.max_bytes is not None and len(data) > limits.max_bytes:
        raise DataError(
            f"{name} is {_size(len(data))}, more than the limit of {_size(limits.max_bytes)}. "
            f"Upload a smaller file ({UPLOAD_BYTES.advice()})."
        )
    if workbook:
        from nncore.data.excel import read_workbook

        return read_workbook(data, workbook["file"], limits, workbook["sheet"])
    if kind == "parquet":
        from nncore.data.parquet import read_parquet

        return read_parquet(data, name, limits)
    frame, dialect = read_with_dialect(
        data, limits.max_bytes, limits.max_cells, limits.max_columns, name
    )
    return frame, dialect.describe()
