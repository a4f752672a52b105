"""Read the CSV files analysts really have, or refuse them with a message a person can act on.

`read_csv` takes the uploaded bytes and returns a DataFrame: numbers as int64/float64, everything
else as text, missing values as NaN. It copes with the usual encodings (UTF-8 with or without BOM,
Excel's UTF-16 "Unicode text", Windows-1252, Latin-1), separators (comma, semicolon, tab, pipe),
decimal commas, thousands separators and quoted fields that span lines. `sniff` tells what was
detected, so the UI can say "read as UTF-16, separator tab, decimal ','".

How it stays fast on big files: the dialect is sniffed on a bounded prefix (64 KiB), the text is
decoded once, and pyarrow parses the file, its own number parser taking the columns that
held only plain numbers in the sample and every other column read as text. Text columns are then
typed with vectorised Arrow casts (in threads): decimal commas, thousands separators, spaces around
numbers, missing-value tokens. When pyarrow cannot parse the file (one column, rows shorter than the
header, an odd number of quotes) pandas' C engine reads it as text instead; both share the typing,
so a file gives the same frame whichever parser read it.
"""

from __future__ import annotations

import codecs
import csv
import io
import os
import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv

from nncore.errors import DataError
from nncore.rules import TABLE_CELLS, TABLE_COLUMNS, UPLOAD_BYTES

__all__ = ["NA_TOKENS", "SEPARATORS", "CsvDialect", "read_csv", "read_with_dialect", "sniff"]

#: Cell values read as missing (after trimming surrounding spaces): pandas' defaults plus "?".
NA_TOKENS: frozenset[str] = frozenset(
    {"", "?", "NA", "N/A", "n/a", "na", "NULL", "null", "Null", "NaN", "nan", "-NaN", "-nan"}
    | {"None", "none", "<NA>", "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "1.#IND"}
    | {"1.#QNAN"}
)

#: The separators that are detected, in the order preferred when two fit equally well.
SEPARATORS: tuple[str, ...] = ("\t", ";", "|", ",")

_SNIFF_CHARS = 64 * 1024  # the sample the dialect is sniffed on ...
_SNIFF_MAX = 16 * 1024 * 1024  # ... grown up to this while it holds fewer than two whole records
_SNIFF_RECORDS = 500
_THREADED_CELLS = 200_000  # type columns in threads above this many cells

_ENCODING_NAMES = {
    "utf-8": "UTF-8",
    "utf-8-sig": "UTF-8 (with BOM)",
    "utf-16": "UTF-16",
    "utf-16-le": "UTF-16 LE",
    "utf-16-be": "UTF-16 BE",
    "utf-32": "UTF-32",
    "cp1252": "Windows-1252",
    "latin-1": "Latin-1",
}
_CHAR_NAMES = {"\t": "tab", " ": "space", ",": "','", ";": "';'", "|": "'|'"}

_EXCEL = (
    "This looks like an Excel workbook, not a CSV. "
    "In Excel use File → Save As → CSV UTF-8, then upload that file."
)
_SAVE_AS_CSV = (
    "Open it in the program that made it, save or export it as CSV, then upload that file."
)
_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", _EXCEL),
    (
        b"\x1f\x8b",
        "This file is compressed with gzip (.gz), not plain text. Decompress it first, "
        "then upload the CSV file inside.",
    ),
    (
        b"BZh",
        "This file is compressed with bzip2 (.bz2), not plain text. Decompress it first, "
        "then upload the CSV file inside.",
    ),
    (
        b"\xfd7zXZ\x00",
        "This file is compressed with xz, not plain text. Decompress it first, "
        "then upload the CSV file inside.",
    ),
    (
        b"7z\xbc\xaf\x27\x1c",
        "This file is a 7-Zip archive, not plain text. Extract it first, "
        "then upload the CSV file inside.",
    ),
    (
        b"Rar!",
        "This file is a RAR archive, not plain text. Extract it first, then upload the CSV "
        "file inside.",
    ),
    (b"%PDF", "This file is a PDF document, binary data and not text. " + _SAVE_AS_CSV),
    (b"\x89PNG", "This file is a PNG image, binary data and not text. Upload a CSV file instead."),
    (
        b"\xff\xd8\xff",
        "This file is a JPEG image, binary data and not text. Upload a CSV file instead.",
    ),
    (b"GIF8", "This file is a GIF image, binary data and not text. Upload a CSV file instead."),
    (b"PAR1", "This file is a Parquet file, binary data and not text. " + _SAVE_AS_CSV),
    (
        b"SQLite format 3\x00",
        "This file is an SQLite database, binary data and not text. "
        "Export the table you need as CSV, then upload that file.",
    ),
)

# Control characters that do not belong in a text file (tab, newlines, form feed and the DOS
# end-of-file mark are fine). A file with many of them is binary data.
_CONTROL = re.compile("[\x00-\x08\x0e-\x19\x1b-\x1f\x7f-\x9f]")
_CONTROL_SHARE = 0.05
_NON_SPACE = re.compile(rb"\S")

# Number shapes, used to tell a decimal comma from a thousands separator.
_DEC_COMMA = re.compile(r"[+-]?(\d+(,\d*)?|,\d+)([eE][+-]?\d+)?")
_DEC_COMMA_SURE = re.compile(r"[+-]?(\d{4,}|0)?,\d+|[+-]?\d{1,3},(\d{1,2}|\d{4,})")
_DEC_COMMA_MAYBE = re.compile(r"[+-]?\d{1,3},\d{3}")
_DEC_DOT = re.compile(r"[+-]?\d*\.\d+")
_GROUPED = {  # decimal mark -> a number written with the other mark grouping thousands
    ".": re.compile(r"[+-]?(\d{1,3}(,\d{3})+|\d+)(\.\d+)?"),
    ",": re.compile(r"[+-]?(\d{1,3}(\.\d{3})+|\d+)(,\d+)?"),
}
_GROUPS_SEEN = {
    ".": re.compile(r"[+-]?\d{1,3}(,\d{3})+(\.\d+)?"),
    ",": re.compile(r"[+-]?\d{1,3}(\.\d{3})+(,\d+)?"),
}
_PLAIN_NUMBER = {  # decimal mark -> a number pyarrow parses by itself
    ".": re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?"),
    ",": re.compile(r"[+-]?(\d+,?\d*|,\d+)([eE][+-]?\d+)?"),
}
_LOOKS_NUMERIC = re.compile(r"[+-]?(\d+([.,]\d*)?|[.,]\d+)([eE][+-]?\d+)?")

# Characters that are not read as separators but that, seen the same number of times on every
# line of a one-column file, show that the file is split by them.
_OTHER_SEPARATORS = (":", "^", "~", "#", "!", "¦", "\x1f", " ")


@dataclass(frozen=True, slots=True)
class CsvDialect:
    """How a CSV file is written: its text encoding, separator and number format.

    `encoding` is a Python codec name that decodes the file's bytes as they are (BOM included);
    `thousands` is the thousands separator seen in the sniffed sample, or None.
    """

    encoding: str
    separator: str
    decimal: str = "."
    thousands: str | None = None

    def describe(self) -> str:
        """Plain words for the UI, e.g. "read as UTF-16, separator tab, decimal ','"."""
        encoding = _ENCODING_NAMES.get(self.encoding, self.encoding)
        separator = _CHAR_NAMES.get(self.separator, repr(self.separator))
        text = f"read as {encoding}, separator {separator}, decimal {self.decimal!r}"
        if self.thousands:
            text += f", thousands {self.thousands!r}"
        return text


def sniff(data: bytes) -> CsvDialect:
    """Detect the encoding, separator and number format of CSV bytes.

    Raises DataError for what `read_csv` would refuse before parsing: workbooks, binary data,
    empty files, and one-column files whose lines are clearly split by some character.
    """
    return _Prepared.of(data).dialect


def read_csv(
    data: bytes,
    *,
    max_bytes: int | None = None,
    max_cells: int | None = None,
    max_columns: int | None = None,
    name: str = "",
) -> pd.DataFrame:
    """Read CSV bytes into a DataFrame: numeric columns numeric, text columns as strings.

    Header names are stripped of surrounding spaces; blank ones become "Unnamed: <position>" (as
    pandas names a written-out index) and repeated ones "name (2)", "name (3)". Cells holding one of
    NA_TOKENS, or nothing, are missing. Rows shorter than the header are padded with missing values.
    Raises DataError, with what was found and what to do, for anything that is not a readable table,
    and for more than `max_bytes` bytes, `max_columns` columns or `max_cells` rows × columns (the
    limits of `nncore.rules`; `name` is the file's name for those refusals).
    """
    return read_with_dialect(data, max_bytes, max_cells, max_columns, name)[0]


def read_with_dialect(
    data: bytes,
    max_bytes: int | None = None,
    max_cells: int | None = None,
    max_columns: int | None = None,
    name: str = "",
) -> tuple[pd.DataFrame, CsvDialect]:
    """`read_csv`, and the dialect it read the file with (sniffed once for both)."""
    it = name or "The file"
    if max_bytes is not None and len(data) > max_bytes:
        raise DataError(
            f"{it} is {_size(len(data))}, more than the limit of {_size(max_bytes)}. "
            "Upload a smaller file, for example fewer rows or only the columns you need "
            f"({UPLOAD_BYTES.advice()})."
        )
    prepared = _Prepared.of(data)
    width = len(prepared.header)
    it = name or "The table"
    if max_columns is not None and width > max_columns:
        # Counted on the header, before the parse, so a very wide table costs little.
        raise DataError(
            f"{it} has {width:,} columns, more than the {max_columns:,} this studio takes. "
            f"Upload only the columns you need ({TABLE_COLUMNS.advice()})."
        )
    if max_cells is not None:
        # Parsing needs several times the table's final size, so a table far over the limit is
        # refused from its line count before it is parsed. Quoted line breaks make that count
        # too high, hence the margin; the exact check follows the parse.
        lines = _count_byte(prepared.payload, b"\n") - prepared.payload.endswith(b"\n")
        if lines * width > 1.25 * max_cells:
            _refuse_cells(it, lines, width, max_cells, about=True)
    columns = _parse_with_arrow(prepared)
    # Arrow's allocator keeps what the parser freed (about as much again as the table) until
    # asked; handing it back here keeps the peak of a big upload near twice the DataFrame.
    pa.default_memory_pool().release_unused()
    if columns is None:
        columns = _parse_with_pandas(prepared)
    frame = _frame(prepared, columns)
    pa.default_memory_pool().release_unused()
    if max_cells is not None and frame.size > max_cells:
        _refuse_cells(it, *frame.shape, max_cells)
    return frame, prepared.dialect


def _refuse_cells(it: str, rows: int, columns: int, max_cells: int, *, about: bool = False) -> None:
    raise DataError(
        f"{it} has {'about ' if about else ''}{rows:,} rows × {columns:,} columns = "
        f"{rows * columns:,} cells, more than the {max_cells:,} this studio takes. Upload a "
        f"sample of the rows, or only the columns you need ({TABLE_CELLS.advice()})."
    )


def _frame(prepared: _Prepared, columns: list[pa.ChunkedArray]) -> pd.DataFrame:
    """The DataFrame of the parsed columns: named, typed, refused when it has no rows."""
    rows = len(columns[0]) if columns else 0
    if rows == 0:
        raise DataError(
            f"The file has a header row ({_preview(prepared.header)}) but no data rows below it. "
            "Check that the whole table was exported, then upload the file again."
        )
    header = prepared.header
    if len(header) != len(columns):  # the sample and the parser disagree on the header record
        header = (header + [""] * len(columns))[: len(columns)]
    decimal = prepared.dialect.decimal

    def typed(i: int) -> np.ndarray | pd.Series:
        values, columns[i] = columns[i], None  # each parsed column is freed once typed
        return _typed(values, decimal)

    if rows * len(columns) >= _THREADED_CELLS:
        with ThreadPoolExecutor(max_workers=min(len(columns), os.cpu_count() or 1)) as pool:
            typed_columns = list(pool.map(typed, range(len(columns))))
    else:
        typed_columns = [typed(i) for i in range(len(columns))]
    # copy=False: one block per column, not a consolidated copy of every numeric column.
    named = dict(zip(_column_names(header), typed_columns, strict=True))
    return pd.DataFrame(named, copy=False)


# --- decoding and sniffing -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Prepared:
    """The file as UTF-8 bytes without BOM, its dialect and its header, ready to parse."""

    payload: bytes
    dialect: CsvDialect
    header: list[str]
    plain_numbers: frozenset[int]  # columns that hold only plain numbers in the sample

    @classmethod
    def of(cls, data: bytes) -> _Prepared:
        _refuse_known_formats(data)
        payload, encoding = _to_utf8(data)
        if _NON_SPACE.search(payload) is None:
            raise DataError(
                "The file is empty: it holds no text"
                + (" at all." if not data else ", only blank space.")
                + " Upload a CSV file with a header row and at least one data row."
            )
        sample, complete = _sample(payload)
        if _control_share(sample) > _CONTROL_SHARE:
            raise DataError(
                "This file holds binary data (many control characters), not text. "
                "Upload a CSV text file: in a spreadsheet program use Save As → CSV."
            )
        separator = _sniff_separator(sample, complete)
        if separator is None:
            _refuse_hidden_separator(sample, complete)
            separator = ","
        records = _records(sample, separator, complete)
        if not records:
            raise DataError(
                f"The header row (the file's first record) could not be found in the first "
                f"{_size(len(sample.encode()))} of the file: it is longer than that, or one of its "
                "names is very long or opens a quote that is never closed. Put the column names, "
                "short and without line breaks, on the first line, then upload the file again."
            )
        decimal, thousands = _sniff_numbers(records[1:], separator)
        dialect = CsvDialect(encoding, separator, decimal, thousands)
        return cls(payload, dialect, records[0], _plain_number_columns(records, decimal))


def _refuse_known_formats(data: bytes) -> None:
    """Refuse workbooks, archives, images and other binary formats by their first bytes."""
    if data.startswith((b"PK\x03\x04", b"PK\x05\x06", b"PK\x07\x08")):
        if b"xl/" in data:
            raise DataError(_EXCEL)
        if b"opendocument.spreadsheet" in data[:200]:
            raise DataError(
                "This looks like an OpenDocument spreadsheet (.ods), not a CSV. In LibreOffice "
                "use File → Save As → Text CSV, then upload that file."
            )
        raise DataError(
            "This file is a zip archive, binary data and not text. Unzip it, then upload the CSV "
            "file inside."
        )
    for magic, message in _MAGIC:
        if data.startswith(magic):
            raise DataError(message)


def _to_utf8(data: bytes) -> tuple[bytes, str]:
    """The text as UTF-8 bytes without BOM, and the codec name that decodes the original."""
    for bom, codec in ((codecs.BOM_UTF32_LE, "utf-32"), (codecs.BOM_UTF32_BE, "utf-32")):
        if data.startswith(bom):
            return _transcode(data, codec), codec
    if data.startswith(codecs.BOM_UTF8):
        payload = data[len(codecs.BOM_UTF8) :]
        if b"\x00" in payload:
            _refuse_nul(payload)
        if not _is_utf8(payload):
            raise DataError(
                "The file starts with a UTF-8 mark but holds characters that are not UTF-8. "
                "Save it again as CSV UTF-8, then upload that file."
            )
        return payload, "utf-8-sig"
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return _transcode(data, "utf-16"), "utf-16"
    if b"\x00" in data:
        codec = _utf16_without_bom(data)
        if codec is None:
            _refuse_nul(data)
        return _transcode(data, codec), codec
    if data.isascii() or _is_utf8(data):
        return data, "utf-8"
    for codec in ("cp1252", "latin-1"):  # latin-1 decodes any bytes
        try:
            return data.decode(codec).encode("utf-8"), codec
        except UnicodeDecodeError:
            continue
    raise AssertionError("latin-1 decodes any bytes")  # pragma: no cover


def _utf16_without_bom(data: bytes) -> str | None:
    """The UTF-16 codec whose layout the NUL bytes follow (ASCII 'a' is b"a\\x00" in LE)."""
    head = data[:4096]
    pairs = len(head) // 2
    if pairs == 0:
        return None
    even, odd = head[0 : 2 * pairs : 2].count(0), head[1 : 2 * pairs : 2].count(0)
    if odd >= 0.1 * pairs and even <= 0.02 * pairs:
        return "utf-16-le"
    if even >= 0.1 * pairs and odd <= 0.02 * pairs:
        return "utf-16-be"
    return None


def _transcode(data: bytes, codec: str) -> bytes:
    try:
        text = data.decode(codec)
    except UnicodeDecodeError:
        raise DataError(
            f"The file looks like {_ENCODING_NAMES.get(codec, codec)} text but is damaged: some "
            "of its bytes are not valid characters. Save it again as CSV UTF-8, then upload that "
            "file."
        ) from None
    if "\x00" in text:
        raise DataError(
            "This file holds binary data (NUL characters), not text. Upload a CSV text file: in a "
            "spreadsheet program use Save As → CSV."
        )
    return text.removeprefix("\ufeff").encode("utf-8")


def _refuse_nul(data: bytes) -> None:
    raise DataError(
        f"This file holds binary data (a NUL byte at byte {data.index(0) + 1:,}), not text. "
        "Upload a CSV text file: in a spreadsheet program use Save As → CSV."
    )


def _is_utf8(data: bytes) -> bool:
    """Whether all of `data` is valid UTF-8, checked in slices so no big string is built."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    view = memoryview(data)
    step = 1 << 22
    try:
        for start in range(0, len(data), step):
            decoder.decode(view[start : start + step])
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return False
    return True


def _sample(payload: bytes) -> tuple[str, bool]:
    """The text at the start of the file, grown until it holds at least two whole records.

    Returns the text and whether it is the whole file.
    """
    size = _SNIFF_CHARS
    while True:
        complete = size >= len(payload)
        decoder = codecs.getincrementaldecoder("utf-8")()
        sample = decoder.decode(payload[:size], final=complete)
        if complete or size >= _SNIFF_MAX or len(_records(sample, ",", complete=False)) >= 2:
            return sample, complete
        size *= 4


def _control_share(sample: str) -> float:
    return len(_CONTROL.findall(sample)) / max(len(sample), 1)


def _records(sample: str, separator: str, complete: bool) -> list[list[str]]:
    """The non-blank records of `sample` split by `separator`, respecting double quotes.

    When the sample is only the start of the file, its last record may be cut and is dropped.
    """
    reader = csv.reader(io.StringIO(sample, newline=""), delimiter=separator, strict=False)
    records: list[list[str]] = []
    try:
        for record in reader:
            if len(record) > 1 or (record and record[0].strip()):
                records.append(record)
                if len(records) > _SNIFF_RECORDS:
                    return records[:_SNIFF_RECORDS]
    except csv.Error:
        # A field longer than csv's limit: the records before it ended before it, so they are
        # whole; dropping the last of them would drop a header followed by a huge first row.
        return records
    return records if complete else records[:-1]


def _sniff_separator(sample: str, complete: bool) -> str | None:
    """The candidate that splits the header into most columns and the rows most like it."""
    best, best_score = None, (0.0, 0)
    for separator in SEPARATORS:
        if separator not in sample:
            continue
        counts = [len(record) for record in _records(sample, separator, complete)]
        if not counts or counts[0] < 2:
            continue
        rows = counts[1:] or counts
        score = (sum(count == counts[0] for count in rows) / len(rows), counts[0])
        if score > best_score:
            best, best_score = separator, score
    return best


def _refuse_hidden_separator(sample: str, complete: bool) -> None:
    """In a one-column file, refuse if its lines are evidently split by some character."""
    for separator in SEPARATORS + _OTHER_SEPARATORS:
        if separator not in sample:
            continue
        records = _records(sample, separator, complete)
        if len(records) < 2:
            continue
        counts = [len(record) - 1 for record in records]  # outside quotes
        name = _char_name(separator)
        if separator in SEPARATORS:  # the header has none (else it would be the separator)
            if sum(count > 0 for count in counts[1:]) * 2 >= len(counts) - 1:
                raise DataError(
                    f"Most rows contain {name}, but the header line has none, so the values "
                    "cannot be lined up with column names. Put the column names on the first "
                    f"line, separated by {name} like the rows (delete any title or note lines "
                    "above them), then upload the file again."
                )
            continue
        if len(set(counts)) != 1 or counts[0] == 0:
            continue
        if separator == " " and not any(
            _LOOKS_NUMERIC.fullmatch(field) for record in records[1:] for field in record
        ):
            continue  # words separated by spaces are text, not columns
        raise DataError(
            f"Every line is split by {name} ({counts[0]} per line), which this app does not read "
            "as a separator, so the file would be one single column. Save it as CSV with commas "
            "or semicolons between the values, then upload that file."
        )


def _char_name(char: str) -> str:
    return {"\t": "tabs", " ": "spaces", "\x1f": "the unit separator"}.get(char, repr(char))


def _plain_number_columns(records: list[list[str]], decimal: str) -> frozenset[int]:
    """Positions of the columns whose sample values are all plain numbers ("-1.5e3") or NA."""
    pattern = _PLAIN_NUMBER[decimal]
    width = len(records[0])
    plain = set(range(width))
    seen: set[int] = set()
    for row in records[1:]:
        for i, value in enumerate(row[:width]):
            if i not in plain or value in NA_TOKENS:
                continue
            if pattern.fullmatch(value):
                seen.add(i)
            else:
                plain.discard(i)
    return frozenset(plain & seen)


def _sniff_numbers(rows: list[list[str]], separator: str) -> tuple[str, str | None]:
    """The decimal mark and the thousands separator the numbers in `rows` are written with."""
    comma = dot = 0
    fields = [field.strip() for row in rows for field in row]
    for field in fields:
        if _DEC_COMMA_SURE.fullmatch(field) or _GROUPS_SEEN[","].fullmatch(field):
            comma += "," in field
        elif _DEC_COMMA_MAYBE.fullmatch(field):
            comma += separator != ","  # "1,234" in a comma-separated file is a thousand
        elif _DEC_DOT.fullmatch(field) or _GROUPS_SEEN["."].fullmatch(field):
            dot += "." in field
    decimal = "," if comma > dot else "."
    thousands = "," if decimal == "." else "."
    if not any(thousands in f and _GROUPS_SEEN[decimal].fullmatch(f) for f in fields):
        return decimal, None
    return decimal, thousands


# --- parsing ----------------------------------------------------------------------------------


def _count_byte(data: bytes, byte: bytes) -> int:
    """How often `byte` occurs in `data`: `bytes.count`, four to five times faster where it
    occurs often (a quote around every text value), counted in slices of a few megabytes so
    the comparison never needs memory the size of the file."""
    view = np.frombuffer(data, np.uint8)
    code, size = byte[0], 1 << 22
    return sum(int(np.count_nonzero(view[i : i + size] == code)) for i in range(0, len(view), size))


def _parse_with_arrow(prepared: _Prepared, *, infer: bool = True) -> list[pa.ChunkedArray] | None:
    """The data columns parsed by pyarrow; None when pyarrow cannot parse the file.

    With `infer`, the columns that held only plain numbers in the sample are left to pyarrow's own
    (fast) number parsing; if that fails further down the file, or pyarrow reads a column as
    anything but a number or text, the file is read again with every column as text.
    """
    payload, width = prepared.payload, len(prepared.header)
    if width == 1:
        return None  # pandas skips lines of blank space, which pyarrow takes for a value
    has_quotes = b'"' in payload
    if has_quotes and _count_byte(payload, b'"') % 2:
        return None  # an unclosed quote, or quotes inside values: pandas says which
    parse_options = pa_csv.ParseOptions(
        delimiter=prepared.dialect.separator,
        quote_char='"',
        double_quote=True,
        escape_char=False,
        newlines_in_values=has_quotes,
        ignore_empty_lines=True,
    )
    if infer and prepared.plain_numbers:
        text_names = {
            name for i, name in enumerate(prepared.header) if i not in prepared.plain_numbers
        }
        read_options = pa_csv.ReadOptions()
        column_types = dict.fromkeys(text_names, pa.large_string())
    else:  # the header is read as row 0, so every column is text
        read_options = pa_csv.ReadOptions(autogenerate_column_names=True)
        column_types = {f"f{i}": pa.large_string() for i in range(width)}
    convert_options = pa_csv.ConvertOptions(
        column_types=column_types,
        null_values=sorted(NA_TOKENS),
        strings_can_be_null=True,
        quoted_strings_can_be_null=True,
        true_values=[],
        false_values=[],
        decimal_point=prepared.dialect.decimal,
        check_utf8=False,  # validated when decoded
    )
    try:
        table = pa_csv.read_csv(
            pa.BufferReader(payload),  # reads the bytes in place, where BytesIO copies them
            read_options=read_options,
            parse_options=parse_options,
            convert_options=convert_options,
        )
    except pa.ArrowException as error:
        if read_options.autogenerate_column_names or "conversion error" not in str(error):
            return None
        return _parse_with_arrow(prepared, infer=False)
    if table.num_columns != width:
        return None
    if read_options.autogenerate_column_names:
        return [column.slice(1) for column in table.columns]
    if not all(_arrow_read(column.type) for column in table.columns):
        return _parse_with_arrow(prepared, infer=False)
    return table.columns


def _arrow_read(type_: pa.DataType) -> bool:
    """Whether a column type read by pyarrow is one that `_typed` takes as it is."""
    text = pa.types.is_string(type_) or pa.types.is_large_string(type_)
    return text or type_ in (pa.int64(), pa.float64(), pa.null())


def _parse_with_pandas(prepared: _Prepared) -> list[pa.ChunkedArray]:
    """The data columns as text, parsed by pandas' C engine; raises DataError on bad rows."""
    separator = prepared.dialect.separator
    try:
        frame = pd.read_csv(
            io.BytesIO(prepared.payload),
            sep=separator,
            header=None,
            dtype=str,
            keep_default_na=False,
            na_values=sorted(NA_TOKENS),
            quotechar='"',
            doublequote=True,
            skip_blank_lines=True,
            encoding="utf-8",
            engine="c",
        )
    except pd.errors.EmptyDataError:
        return []
    except pd.errors.ParserError as error:
        raise _explain(error, prepared) from None
    return [_arrow_text(frame[column].iloc[1:]) for column in frame.columns]


def _arrow_text(column: pd.Series) -> pa.ChunkedArray:
    array = pa.array(column, type=pa.large_string(), from_pandas=True)
    return array if isinstance(array, pa.ChunkedArray) else pa.chunked_array([array])


def _explain(error: pd.errors.ParserError, prepared: _Prepared) -> DataError:
    """A DataError that names the line pandas stumbled on, counted as lines of the file."""
    message = str(error)
    separator = prepared.dialect.separator
    width = len(prepared.header)
    starts = _record_starts(prepared.payload.decode("utf-8"), separator)
    if (found := re.search(r"Expected (\d+) fields in line (\d+), saw (\d+)", message)) is not None:
        line, fields = int(found[2]), int(found[3])
        width = int(found[1])
        for start, count in starts[1:]:
            if count > width:
                line, fields = start, count
                break
        name = _CHAR_NAMES.get(separator, repr(separator))
        return DataError(
            f"Line {line} has {fields} fields but the header has {width}. Look on that line for "
            f"an extra {name} or a value containing {name} that is not in double quotes, fix it, "
            "then upload the file again."
        )
    if "EOF inside string" in message:
        line = starts[-1][0] if starts else 1
        return DataError(
            f'A double quote (") opened on line {line} is never closed, so the rest of the file '
            "would become one value. Close or remove that quote, then upload the file again."
        )
    return DataError(
        f"The file could not be read as CSV with separator "
        f"{_CHAR_NAMES.get(separator, repr(separator))} ({message.strip()}). Check that it is a "
        "plain CSV export, then upload it again."
    )


def _record_starts(text: str, separator: str) -> list[tuple[int, int]]:
    """(first line, number of fields) of each non-blank record; lines are counted from 1."""
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=separator, strict=False)
    starts: list[tuple[int, int]] = []
    line = 0
    try:
        for record in reader:
            if len(record) > 1 or (record and record[0].strip()):
                starts.append((line + 1, len(record)))
            line = reader.line_num
    except csv.Error:
        pass
    return starts


# --- typing -----------------------------------------------------------------------------------

_NA_VALUE_SET = pa.array(sorted(NA_TOKENS), type=pa.large_string())


def _typed(values: pa.ChunkedArray, decimal: str) -> np.ndarray | pd.Series:
    """A parsed column as int64 (no missing values), float64 or, when not numeric, text."""
    rows = len(values)
    if values.null_count == rows:
        return np.full(rows, np.nan)
    numbers = values if _is_number(values.type) else _numbers(values, decimal)
    if numbers is None and _plainly_text(values, decimal):
        return _text(values)
    if numbers is None:  # try again without surrounding spaces, which also hide NA tokens
        trimmed = pc.utf8_trim_whitespace(values)
        missing = pc.is_in(trimmed, value_set=_NA_VALUE_SET.cast(trimmed.type))
        if pc.any(missing).as_py():
            values = pc.if_else(missing, pa.scalar(None, values.type), values)
            trimmed = pc.if_else(missing, pa.scalar(None, trimmed.type), trimmed)
            if values.null_count == rows:
                return np.full(rows, np.nan)
        numbers = _numbers(trimmed, decimal)
    if numbers is None:
        return _text(values)
    if pa.types.is_integer(numbers.type) and numbers.null_count == 0:
        return _writable(numbers.to_numpy())
    return _writable(pc.cast(numbers, pa.float64()).to_numpy())


def _plainly_text(values: pa.ChunkedArray, decimal: str) -> bool:
    """Whether the first value that is, trimmed, no missing-value token is no number either.

    Then no reading of the whole column can make it numbers, and the passes that trim every
    value and look for missing-value tokens can be skipped (a tenth of a second for a million
    rows of four text columns): a value that no conversion in `_numbers` takes alone fails
    whichever conversion the column as a whole would get.
    """
    for value in pc.utf8_trim_whitespace(values.slice(0, 100).drop_null()).to_pylist():
        if value not in NA_TOKENS:
            return _numbers(pa.chunked_array([[value]], values.type), decimal) is None
    return False


def _writable(array: np.ndarray) -> np.ndarray:
    """Arrow hands out a single chunk without copying, read-only; the frame owns its data."""
    return array if array.flags.writeable else array.copy()


def _is_number(type_: pa.DataType) -> bool:
    return pa.types.is_integer(type_) or pa.types.is_floating(type_)


def _numbers(values: pa.ChunkedArray, decimal: str) -> pa.ChunkedArray | None:
    """`values` as numbers written with `decimal` as decimal mark, or None if some are not."""
    as_int = _cast(values, pa.int64())  # (Arrow, like its CSV reader, reads "0x1F" as 31)
    if as_int is not None:
        return as_int
    if decimal == ".":
        as_float = _cast(values, pa.float64())
        if as_float is not None:
            return as_float
    elif not _any_contains(values, ".") or _all_match(values, _DEC_COMMA):
        as_float = _cast(pc.replace_substring(values, ",", "."), pa.float64())
        if as_float is not None:
            return as_float
    if _all_match(values, _GROUPED[decimal]):
        plain = pc.replace_substring(values, "," if decimal == "." else ".", "")
        if decimal == ",":
            plain = pc.replace_substring(plain, ",", ".")
        as_int = _cast(plain, pa.int64())
        return as_int if as_int is not None else _cast(plain, pa.float64())
    if decimal == ",":  # a column written with '.' in a file that uses ','
        return _cast(values, pa.float64())
    return None


def _cast(values: pa.ChunkedArray, to: pa.DataType) -> pa.ChunkedArray | None:
    try:
        return pc.cast(values, to)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return None


def _any_contains(values: pa.ChunkedArray, text: str) -> bool:
    return bool(pc.any(pc.match_substring(values, text)).as_py())


def _all_match(values: pa.ChunkedArray, pattern: re.Pattern[str]) -> bool:
    """Whether every present value matches `pattern` whole; a cheap look at a few values first."""
    head = values.slice(0, 100).drop_null().to_pylist()
    if not all(pattern.fullmatch(value) for value in head):
        return False
    matches = pc.match_substring_regex(values, f"^(?:{pattern.pattern})$")
    return bool(pc.all(matches).as_py())


def _text(values: pa.ChunkedArray) -> pd.Series:
    text = values.to_pandas()
    if text.dtype == object:  # pandas < 3 has no string dtype by default: None -> NaN
        text = text.fillna(np.nan)
    return text


# --- names and messages -----------------------------------------------------------------------


def _column_names(header: list[str]) -> list[str]:
    """Header names stripped; blanks named "Unnamed: <i>" like pandas, repeats "name (2)"."""
    stripped = [name.strip().strip("\ufeff").strip() for name in header]
    names = [name or f"Unnamed: {i}" for i, name in enumerate(stripped)]
    seen: set[str] = set()
    unique: list[str] = []
    for name in names:
        candidate, copy = name, 1
        while candidate in seen:
            copy += 1
            candidate = f"{name} ({copy})"
        seen.add(candidate)
        unique.append(candidate)
    return unique


def _preview(header: list[str], limit: int = 5) -> str:
    names = [name.strip() or "(blank)" for name in header[:limit]]
    return ", ".join(names) + (", …" if len(header) > limit else "")


def _size(n: int) -> str:
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{n} bytes"
