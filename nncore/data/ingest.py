"""The one way a table comes in: the Data page's upload, the Predict page's rows to predict and
the command line's `--data` all read their bytes here, under the same limits, with the same
refusals."""

from __future__ import annotations

from typing import TYPE_CHECKING

from nncore.data.csvio import read_with_dialect
from nncore.rules import TableLimits

if TYPE_CHECKING:
    import pandas as pd


def read_table(
    data: bytes, name: str = "", limits: TableLimits | None = None
) -> tuple[pd.DataFrame, str]:
    """The CSV `data` as a DataFrame, and how it was read in words ("read as UTF-8, separator
    ',', decimal '.'"). Raises DataError, in one line, for a file that is no readable table or
    that is over a limit of `limits` (default: the settings in force, `TableLimits.from_env`);
    `name`, the file's name, stands in those refusals."""
    limits = limits or TableLimits.from_env()
    frame, dialect = read_with_dialect(
        data, limits.max_bytes, limits.max_cells, limits.max_columns, name
    )
    return frame, dialect.describe()
