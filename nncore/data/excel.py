"""Read an Excel workbook (.xlsx) as a table, or refuse it before it costs memory or time.

A workbook is a zip of XML files, so what it declares is checked before anything is unpacked:
the sizes its members say they unpack to (a zip bomb declares gigabytes from a few kilobytes),
macros (a .xlsm, or a VBA project inside), links to other files, and the size the chosen sheet
declares in its dimension tag (rows × columns against the cell limit). Only then does
python-calamine (Rust, no formula evaluation, no external fetches) read the sheet's values.

The first row is the header; the values come out as a CSV export of the sheet would read:
numbers as int64/float64, dates as ISO text (which the profile recognises as dates, as in a
CSV), everything else as text, empty cells missing.
"""

from __future__ import annotations

import datetime as dt
import io
import re
import xml.etree.ElementTree as ET
import zipfile
import zlib
from dataclasses import dataclass
from itertools import zip_longest
from posixpath import join, normpath

import numpy as np
import pandas as pd

from nncore.data.csvio import NA_TOKENS, _column_names, _size
from nncore.errors import DataError
from nncore.rules import TABLE_CELLS, TableLimits

__all__ = ["read_workbook", "sheet_names"]

MACRO_EXTENSIONS = (".xlsm", ".xltm", ".xlsb")

# A member that unpacks to more than this many times its packed size is a zip bomb's signature:
# real sheet XML packs 5-20 to one, rarely past 50.
_MAX_RATIO = 200
_RATIO_FROM = 1 << 20  # small members (styles, a tiny sheet) may be very repetitive
# Unpacked XML per cell the cell limit allows: a cell of sheet XML with its shared string is well
# under this, so a workbook within the cell limit is within this too.
_BYTES_PER_CELL = 100
_DIMENSION = re.compile(rb'<(?:\w+:)?dimension\s+ref="([A-Z]*)(\d*)(?::([A-Z]*)(\d*))?"')
_SHARED_STRINGS = "xl/sharedStrings.xml"
_NS = {
    "m": "http://schemas.openxmlformats.org/spreadsheetml/2006/main",
    "r": "http://schemas.openxmlformats.org/officeDocument/2006/relationships",
    "p": "http://schemas.openxmlformats.org/package/2006/relationships",
}
_MACROS = (
    "{it} is a macro-enabled workbook: it holds a VBA project, and this studio does not open "
    "files with macros. In Excel use File → Save As → Excel Workbook (.xlsx), then upload that."
)


@dataclass(frozen=True, slots=True)
class _Book:
    archive: zipfile.ZipFile
    sheets: dict[str, str]  # sheet name -> its XML member, in the workbook's order


def sheet_names(data: bytes, name: str = "") -> list[str]:
    """The workbook's sheets in order; DataError for a workbook `read_workbook` would refuse
    from its declarations alone."""
    return list(_open(data, name, TableLimits.from_env()).sheets)


def read_workbook(
    data: bytes, name: str, limits: TableLimits, sheet: str | None = None
) -> tuple[pd.DataFrame, str]:
    """The sheet `sheet` (default: the first) of the .xlsx `data`, first row as header, and how
    it was read in words. Raises DataError, in one line, for a hostile or unreadable workbook and
    for a sheet over `limits`."""
    it = name or "The workbook"
    book = _open(data, name, limits)
    if sheet is None:
        sheet = next(iter(book.sheets))
    elif sheet not in book.sheets:
        raise DataError(
            f"{it} has no sheet named {sheet!r}; its sheets are {_listing(book.sheets)}. "
            "Choose one of those."
        )
    _check_dimension(book.archive, book.sheets[sheet], it, sheet, limits)
    _check_declared_sizes(book.archive, (book.sheets[sheet], _SHARED_STRINGS), it)
    from python_calamine import CalamineError, CalamineWorkbook

    try:
        rows = CalamineWorkbook.from_filelike(io.BytesIO(data)).get_sheet_by_name(sheet)
        values = rows.to_python(skip_empty_area=True)
    except (CalamineError, ValueError, OSError) as error:
        raise DataError(
            f"{it} could not be read as an Excel workbook ({str(error).strip() or 'damaged'}). "
            "Open it in Excel, save it again as .xlsx, then upload it."
        ) from None
    frame = _frame(values, it, sheet, limits)
    how = f"read sheet {sheet!r}"
    if len(book.sheets) > 1:
        how += f" of {len(book.sheets)} ({_listing(book.sheets)})"
    return frame, how + ", first row as header"


def _listing(sheets: dict[str, str]) -> str:
    return ", ".join(repr(s) for s in sheets)


def _open(data: bytes, name: str, limits: TableLimits) -> _Book:
    it = name or "The workbook"
    if name.lower().endswith(MACRO_EXTENSIONS):
        raise DataError(_MACROS.format(it=it))
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        members = archive.infolist()
    except (zipfile.BadZipFile, ValueError, EOFError):
        raise DataError(
            f"{it} is not an Excel .xlsx workbook (it is no zip archive). Open it in Excel and "
            "save it as .xlsx, or export it as CSV, then upload it."
        ) from None
    names = {m.filename for m in members}
    if any(n.lower().endswith("vbaproject.bin") for n in names):
        raise DataError(_MACROS.format(it=it))
    if any(n.startswith("xl/externalLinks/") for n in names):
        raise DataError(
            f"{it} links to other workbooks (external links), which this studio does not follow. "
            "In Excel use Data → Edit Links → Break Link, save, then upload it again."
        )
    cells = limits.max_cells or TABLE_CELLS.default
    budget = max(cells * _BYTES_PER_CELL, 64 << 20)
    unpacked = sum(m.file_size for m in members)
    for member in members:
        ratio = member.file_size / max(member.compress_size, 1)
        if member.file_size > _RATIO_FROM and ratio > _MAX_RATIO:
            raise DataError(
                f"{it} is refused: its part {member.filename} would unpack {ratio:,.0f} times "
                f"larger ({_size(member.file_size)}), the mark of a zip bomb. Upload the data "
                "as a plain .xlsx or CSV saved by a spreadsheet program."
            )
    if unpacked > budget:
        raise DataError(
            f"{it} would unpack to {_size(unpacked)}, more than the {_size(budget)} a table "
            "within the cell limit needs. Upload fewer rows or columns, or only the sheet you need."
        )
    if "xl/workbook.xml" not in names:
        raise DataError(
            f"{it} is a zip archive but no Excel workbook (no xl/workbook.xml). Open it in Excel "
            "and save it as .xlsx, then upload it."
        )
    return _Book(archive, _sheets(archive, it))


def _sheets(archive: zipfile.ZipFile, it: str) -> dict[str, str]:
    try:
        workbook = ET.fromstring(archive.read("xl/workbook.xml"))
        rels = ET.fromstring(archive.read("xl/_rels/workbook.xml.rels"))
    except (KeyError, ET.ParseError):
        raise DataError(
            f"{it} is a damaged workbook (its list of sheets cannot be read). Open it in Excel, "
            "save it again as .xlsx, then upload it."
        ) from None
    targets = {r.get("Id"): r.get("Target", "") for r in rels.findall("p:Relationship", _NS)}
    sheets: dict[str, str] = {}
    for node in workbook.findall("m:sheets/m:sheet", _NS):
        target = targets.get(node.get(f"{{{_NS['r']}}}id"), "")
        path = target.lstrip("/") if target.startswith("/") else normpath(join("xl", target))
        sheets[node.get("name", "")] = path
    if not sheets:
        raise DataError(f"{it} has no sheets. Upload a workbook with the table on a sheet.")
    return sheets


def _check_dimension(
    archive: zipfile.ZipFile, member: str, it: str, sheet: str, limits: TableLimits
) -> None:
    """Refuse a sheet from the size its dimension tag declares, read from the first bytes of its
    XML (where Excel writes it), before the sheet is parsed."""
    if limits.max_cells is None and limits.max_columns is None:
        return
    try:
        with archive.open(member) as xml:
            head = xml.read(4096)
    except KeyError:
        raise DataError(f"{it} is damaged: sheet {sheet!r} is missing from it.") from None
    found = _DIMENSION.search(head)
    if found is None or not found[3]:
        return  # no declared range: the cells are counted once read
    rows = int(found[4] or 0) - int(found[2] or 1) + 1
    columns = _column_number(found[3]) - _column_number(found[1] or b"A") + 1
    if limits.max_columns is not None and columns > limits.max_columns:
        raise DataError(
            f"Sheet {sheet!r} of {it} declares {columns:,} columns, more than the "
            f"{limits.max_columns:,} this studio takes. Keep only the columns you need."
        )
    if limits.max_cells is not None and rows * columns > limits.max_cells:
        raise DataError(
            f"Sheet {sheet!r} of {it} declares {rows:,} rows × {columns:,} columns, more than "
            f"the {limits.max_cells:,} cells this studio takes. Upload fewer rows or columns."
        )


def _check_declared_sizes(archive: zipfile.ZipFile, members: tuple[str, ...], it: str) -> None:
    """Refuse a part that unpacks to more than its declared size, a zip bomb's way past the
    check of declared sizes. Python's zipfile stops at the declared size and then checks the
    part's checksum, so this costs the declared bytes alone; python-calamine would unpack the
    whole part before it noticed (seconds per gigabyte)."""
    names = set(archive.namelist())
    for member in members:
        if member not in names:
            continue
        try:
            with archive.open(member) as part:
                while part.read(1 << 20):
                    pass
        except (zipfile.BadZipFile, zlib.error, EOFError):
            raise DataError(
                f"{it} is refused: its part {member} does not unpack to the size it declares, "
                "a zip bomb's trick or a damaged file. Save it again from a spreadsheet program, "
                "then upload it."
            ) from None


def _column_number(letters: bytes) -> int:
    number = 0
    for letter in letters:
        number = number * 26 + letter - 64
    return number


def _frame(values: list[list], it: str, sheet: str, limits: TableLimits) -> pd.DataFrame:
    if not values or not any(str(v).strip() for v in values[0]):
        raise DataError(
            f"Sheet {sheet!r} of {it} is empty or its first row is blank. Put the column "
            "names in the first row, or choose the sheet that holds the table."
        )
    header, body = values[0], values[1:]
    width = len(header)
    if limits.max_columns is not None and width > limits.max_columns:
        raise DataError(
            f"Sheet {sheet!r} of {it} has {width:,} columns, more than the "
            f"{limits.max_columns:,} this studio takes. Keep only the columns you need."
        )
    if limits.max_cells is not None and len(body) * width > limits.max_cells:
        raise DataError(
            f"Sheet {sheet!r} of {it} has {len(body):,} rows × {width:,} columns, more than "
            f"the {limits.max_cells:,} cells this studio takes. Upload fewer rows or columns."
        )
    names = _column_names([_text(v) for v in header])
    # Transposed in C; calamine's rows are as wide as the header (zip_longest pads if not).
    transposed = list(zip_longest(*body)) if body else [()] * width
    columns = {n: _column(values) for n, values in zip(names, transposed, strict=False)}
    return pd.DataFrame(columns, index=pd.RangeIndex(len(body)))


def _text(value: object) -> str:
    if isinstance(value, dt.datetime):
        return value.isoformat(sep=" ").removesuffix(" 00:00:00")
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _column(values: tuple) -> np.ndarray | pd.Series:
    """One sheet column as a CSV of it would read: int64 (no missing values), float64 or text."""
    series = pd.Series(values, dtype=object)
    kinds = series.map(type)
    text = kinds.eq(str)
    missing = series.isna() | (text & series.where(text, "").str.strip().isin(NA_TOKENS))
    if missing.all():
        return np.full(len(series), np.nan)
    present = series.where(~missing)
    if (kinds.isin([int, float]) | missing).all():  # bools are no numbers: type(True) is bool
        numbers = present.astype(float).to_numpy()
        if not missing.any() and (numbers == np.round(numbers)).all():
            return numbers.astype(np.int64)
        return numbers
    return pd.Series(present.map(_text, na_action="ignore"), dtype="str")
