"""Read a Parquet file as a table, or refuse it from its metadata before reading any data.

A Parquet file says in its footer how many rows and bytes each row group holds and what its
columns are, so a file over the limits, a row group that would have to be unpacked whole into
more memory than a table may take, or a nested column (a struct, a list, a map: no table cell
holds those) is refused before a row is read. The columns then come out as a CSV of them would
read: numbers as int64 (no missing values) or float64, dates and times as ISO text, booleans and
everything else as text.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from nncore.data.csvio import _column_names, _size
from nncore.errors import DataError
from nncore.rules import TABLE_CELLS, TableLimits

__all__ = ["read_parquet"]

# Unpacked bytes per cell the cell limit allows for one row group (a text cell of a few dozen
# characters stays well under it).
_BYTES_PER_CELL = 100


def read_parquet(data: bytes, name: str, limits: TableLimits) -> tuple[pd.DataFrame, str]:
    """The Parquet `data` as a DataFrame, and how it was read in words. Raises DataError, in one
    line, for a file that is no Parquet, is nested or is over `limits`."""
    it = name or "The Parquet file"
    try:
        file = pq.ParquetFile(pa.BufferReader(data))
    except (pa.ArrowException, OSError) as error:
        raise DataError(
            f"{it} could not be read as Parquet ({str(error).strip()}). Write it again with "
            "pandas' to_parquet or pyarrow, or upload a CSV."
        ) from None
    meta, schema = file.metadata, file.schema_arrow
    nested = [f.name for f in schema if pa.types.is_nested(f.type)]
    if nested:
        raise DataError(
            f"{it} has nested columns ({', '.join(nested[:5])}: structs, lists or maps), which "
            "no table cell holds. Flatten them into plain columns, then upload it again."
        )
    width, rows = meta.num_columns, meta.num_rows
    if limits.max_columns is not None and width > limits.max_columns:
        raise DataError(
            f"{it} has {width:,} columns, more than the {limits.max_columns:,} this studio "
            "takes. Keep only the columns you need."
        )
    cells = limits.max_cells or TABLE_CELLS.default
    if limits.max_cells is not None and rows * width > limits.max_cells:
        raise DataError(
            f"{it} holds {rows:,} rows × {width:,} columns, more than the "
            f"{limits.max_cells:,} cells this studio takes. Upload fewer rows or columns."
        )
    for i in range(meta.num_row_groups):
        group = meta.row_group(i)
        if group.total_byte_size > cells * _BYTES_PER_CELL:
            raise DataError(
                f"{it} has a row group of {_size(group.total_byte_size)} unpacked "
                f"({group.num_rows:,} rows), more than a table may take in memory. Write it "
                "again with smaller row groups (row_group_size), then upload it."
            )
    try:
        table = file.read()
    except (pa.ArrowException, OSError) as error:
        raise DataError(
            f"{it} is damaged ({str(error).strip()}). Write it again, then upload it."
        ) from None
    names = _column_names([str(n) for n in table.column_names])
    frame = pd.DataFrame(
        {n: _column(c, it) for n, c in zip(names, table.columns, strict=True)},
        index=pd.RangeIndex(table.num_rows),
    )
    return frame, f"read as Parquet ({meta.num_row_groups} row groups)"


def _column(values: pa.ChunkedArray, it: str) -> np.ndarray | pd.Series:
    type_ = values.type
    if pa.types.is_dictionary(type_):
        values = values.cast(type_.value_type)
        type_ = values.type
    if values.null_count == len(values):
        return np.full(len(values), np.nan)
    if pa.types.is_integer(type_) and values.null_count == 0:
        return values.cast(pa.int64()).to_numpy()
    if pa.types.is_integer(type_) or pa.types.is_floating(type_) or pa.types.is_decimal(type_):
        return values.cast(pa.float64()).to_numpy(zero_copy_only=False).copy()
    if pa.types.is_timestamp(type_) or pa.types.is_date(type_) or pa.types.is_time(type_):
        values = pc.strftime(values, "%Y-%m-%d") if _dates_only(values) else values
    elif pa.types.is_binary(type_) or pa.types.is_large_binary(type_):
        raise DataError(
            f"{it} has a column of raw bytes, which no table cell holds as text. Drop or "
            "decode it, then upload the file again."
        )
    text = values.cast(pa.large_string()).to_pandas()
    return text.astype("str").where(text.notna(), np.nan)


def _dates_only(values: pa.ChunkedArray) -> bool:
    """Whether a timestamp column holds dates alone (midnight), best written without a time."""
    if not pa.types.is_timestamp(values.type):
        return False
    return bool(pc.all(pc.equal(pc.cast(values, pa.date32()).cast(values.type), values)).as_py())
