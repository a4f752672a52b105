"""Excel workbooks and Parquet files come in through `read_table` as a CSV of the same table
does, and hostile ones are refused, in one line, from what they declare."""

from __future__ import annotations

import datetime as dt
import io
import json
import re
import struct
import subprocess
import sys
import textwrap
import zipfile

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from nncore.data.columns import profile_columns
from nncore.data.ingest import read_table
from nncore.errors import DataError
from nncore.rules import TableLimits
from nncore.run.pipeline import as_frame
from nncore.run.workspace import Workspace
from tests.core.clirun import cli
from tests.workbooks import xlsx

ROWS = [
    ["size", "colour", "sold", "price"],
    [1.5, "red", dt.date(2024, 1, 5), 10],
    [None, "blue", dt.date(2024, 2, 29), 12],
    [3, None, None, 9],
    [4.25, "NA", dt.datetime(2024, 3, 5, 10, 30), 11],
]
SAME_AS_CSV = (
    b"size,colour,sold,price\n1.5,red,2024-01-05,10\n,blue,2024-02-29,12\n3,,,9\n"
    b"4.25,NA,2024-03-05 10:30:00,11\n"
)
NOTES = [["note", "n"], ["first", 1], ["second", 2]]
LIMITS = TableLimits(max_bytes=25 * 2**20, max_cells=10_000_000, max_columns=5_000)


def parquet(table: pa.Table, **options) -> bytes:
    out = io.BytesIO()
    pq.write_table(table, out, **options)
    return out.getvalue()


def test_a_sheet_reads_as_the_csv_of_it_would():
    frame, how = read_table(xlsx({"Sales": ROWS}), "book.xlsx")
    csv, _ = read_table(SAME_AS_CSV, "book.csv")
    pd.testing.assert_frame_equal(frame, csv)
    assert how == "read sheet 'Sales', first row as header"
    assert frame["price"].dtype == np.int64 and frame["size"].dtype == np.float64
    assert frame["size"].isna().tolist() == [False, True, False, False]
    assert frame["colour"].isna().tolist() == [False, False, True, True]  # blank and "NA"
    assert frame["sold"].tolist()[:2] == ["2024-01-05", "2024-02-29"]
    kinds = {p.name: p.kind for p in profile_columns(frame)}
    assert kinds["sold"] == "datetime"


def test_the_first_sheet_is_read_unless_another_is_named():
    book = xlsx({"Sales": ROWS, "Notes": NOTES})
    frame, how = read_table(book, "book.xlsx")
    assert list(frame.columns) == ROWS[0]
    assert "of 2 ('Sales', 'Notes')" in how
    frame, how = read_table(book, "book.xlsx:Notes")
    assert frame["note"].tolist() == ["first", "second"] and frame["n"].tolist() == [1, 2]
    assert how.startswith("read sheet 'Notes'")
    with pytest.raises(DataError, match=r"no sheet named 'Totals'; its sheets are 'Sales', 'N"):
        read_table(book, "book.xlsx:Totals")


def test_a_parquet_file_reads_as_the_csv_of_it_would():
    table = pa.table(
        {
            "size": pa.array([1.5, None, 3.0, 4.25]),
            "colour": pa.array(["red", "blue", None, None]).dictionary_encode(),
            "sold": pa.array(
                [dt.datetime(2024, 1, 5), dt.datetime(2024, 2, 29), None, dt.datetime(2024, 3, 5)],
                pa.timestamp("us"),
            ),
            "price": pa.array([10, 12, 9, 11], pa.int32()),
        }
    )
    frame, how = read_table(parquet(table, row_group_size=2), "sales.parquet")
    csv, _ = read_table(SAME_AS_CSV.replace(b" 10:30:00", b""), "sales.csv")
    pd.testing.assert_frame_equal(frame, csv)
    assert how == "read as Parquet (2 row groups)"


@pytest.mark.parametrize(
    ("data", "name", "message"),
    [
        (xlsx({"S": ROWS}), "book.xlsm", "macro-enabled workbook"),
        (xlsx({"S": ROWS}, extra={"xl/vbaProject.bin": b"\0" * 64}), "book.xlsx", "VBA project"),
        (
            xlsx({"S": ROWS}, extra={"xl/externalLinks/externalLink1.xml": "<externalLink/>"}),
            "book.xlsx",
            "links to other workbooks",
        ),
        (xlsx({"S": ROWS}, dimension="A1:D1000000000"), "book.xlsx", "declares 1,000,000,000 rows"),
        (xlsx({"S": ROWS}, dimension="A1:ZZZZ2"), "book.xlsx", "declares 475,254 columns"),
        (b"PK\x03\x04" + bytes(200), "book.xlsx", "no zip archive"),
        (b"not parquet at all", "data.parquet", "could not be read as Parquet"),
        (
            parquet(pa.table({"point": pa.array([{"x": 1, "y": 2}])})),
            "nested.parquet",
            r"nested columns \(point",
        ),
        (parquet(pa.table({"tags": pa.array([[1, 2], [3]])})), "lists.parquet", "nested"),
    ],
    ids=["xlsm", "vba", "links", "billion-rows", "wide", "no-zip", "no-parquet", "struct", "list"],
)
def test_hostile_files_are_refused_with_the_reason(data, name, message):
    with pytest.raises(DataError, match=message) as refused:
        read_table(data, name, LIMITS)
    assert "\n" not in str(refused.value)


def test_a_parquet_row_group_too_big_to_unpack_is_refused_from_its_metadata():
    text = pa.table({"text": [f"{i:05}" * 4_000 for i in range(100)]})  # 100 cells, 2 MB
    small = TableLimits(max_bytes=None, max_cells=1_000, max_columns=None)
    with pytest.raises(DataError, match="row group of 2.0 MB unpacked"):
        read_table(parquet(text, compression="zstd"), "long.parquet", small)
    with pytest.raises(DataError, match="holds 2,000 rows × 1 columns"):
        read_table(parquet(pa.table({"n": list(range(2_000))})), "many.parquet", small)


def zip_bomb(path, unpacked: int, *, force_zip64: bool = True) -> None:
    """A workbook whose one sheet unpacks to `unpacked` bytes of XML, written in slices so the
    test itself never holds it."""
    good = zipfile.ZipFile(io.BytesIO(xlsx({"S": ROWS})))
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as book:
        for member in good.infolist():
            if member.filename != "xl/worksheets/sheet1.xml":
                book.writestr(member, good.read(member))
        with book.open("xl/worksheets/sheet1.xml", "w", force_zip64=force_zip64) as sheet:
            chunk = b"<row/>" * (1 << 20)
            for _ in range(unpacked // len(chunk)):
                sheet.write(chunk)


def test_a_zip_bomb_is_refused_before_it_is_unpacked_in_bounded_memory(tmp_path):
    bomb = tmp_path / "bomb.xlsx"
    zip_bomb(bomb, 2 * 2**30)
    assert bomb.stat().st_size < 5 * 2**20
    # In a fresh process, so its peak memory is the read's alone.
    probe = textwrap.dedent(f"""
        import json, resource, sys
        from nncore.data.ingest import read_table
        from nncore.errors import DataError
        import pandas, pyarrow, python_calamine
        data = open({str(bomb)!r}, "rb").read()
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        try:
            read_table(data, "bomb.xlsx")
            message = None
        except DataError as error:
            message = str(error)
        after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        json.dump({{"message": message, "grew_kib": after - before}}, sys.stdout)
    """)
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=300, check=True
    )
    result = json.loads(done.stdout)
    assert "the mark of a zip bomb" in result["message"]
    assert result["grew_kib"] < 32 * 1024  # 32 MiB at most for a 2 GiB bomb


def test_a_part_unpacking_past_its_declared_size_is_refused_at_that_size(tmp_path):
    bomb = tmp_path / "liar.xlsx"
    zip_bomb(bomb, 64 * 2**20, force_zip64=False)
    data = bytearray(bomb.read_bytes())
    sheet = zipfile.ZipFile(bomb).getinfo("xl/worksheets/sheet1.xml")
    # The uncompressed size, in the part's local header and in the central directory, says the
    # part is as small as its packed bytes, below every ratio and size check.
    struct.pack_into("<I", data, sheet.header_offset + 22, sheet.compress_size)
    for entry in re.finditer(rb"PK\x01\x02", data):  # central directory entries
        if data[entry.start() + 46 :].startswith(sheet.filename.encode()):
            struct.pack_into("<I", data, entry.start() + 24, sheet.compress_size)
    assert zipfile.ZipFile(io.BytesIO(data)).getinfo(sheet.filename).file_size < 2**20
    with pytest.raises(DataError, match="does not unpack to the size it declares"):
        read_table(bytes(data), "liar.xlsx", LIMITS)


def test_a_workbook_unpacking_past_what_the_cell_limit_needs_is_refused(tmp_path):
    bomb = tmp_path / "big.xlsx"
    zip_bomb(bomb, 80 * 2**20)
    few = TableLimits(max_bytes=None, max_cells=1_000, max_columns=None)
    with pytest.raises(DataError, match="zip bomb|would unpack to"):
        read_table(bomb.read_bytes(), "big.xlsx", few)


def test_a_workspace_keeps_each_sheet_as_its_own_table_and_reads_it_back(tmp_path):
    book = xlsx({"Sales": ROWS, "Notes": NOTES})
    workspace = Workspace.at(tmp_path / "ws", create=True)
    sales = workspace.add_table(book, "book.xlsx:Sales")
    notes = workspace.add_table(book, "book.xlsx:Notes")
    assert sales.info.id != notes.info.id
    assert workspace.load_table(notes.info.id).frame["note"].tolist() == ["first", "second"]
    # A job reads the stored bytes from their path: the name kept beside them says the sheet.
    pd.testing.assert_frame_equal(as_frame(workspace.table_path(sales.info.id)), sales.frame)
    stored = workspace.add_table(parquet(pa.table({"a": [1, 2]})), "a.parquet")
    assert as_frame(workspace.table_path(stored.info.id))["a"].tolist() == [1, 2]


def test_the_command_line_names_a_sheet_and_refuses_an_unknown_one(tmp_path):
    book = tmp_path / "book.xlsx"
    book.write_bytes(xlsx({"Sales": ROWS, "Notes": NOTES}))
    done = cli("train", "--data", book, "--sheet", "Totals", "--target", "n", "--out", tmp_path)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "no sheet named 'Totals'; its sheets are 'Sales', 'Notes'" in done.stderr
    # Without --sheet the first sheet is read: "n" is a column of Notes, not of Sales.
    done = cli("train", "--data", book, "--target", "n", "--out", tmp_path / "o", "--epochs", "1")
    assert done.returncode == 2
    assert "'n' is not in this data, whose columns are 'size', 'colour'" in done.stderr
