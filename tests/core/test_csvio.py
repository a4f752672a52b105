"""read_csv and sniff on CSV bytes made in the tests: encodings, dialects, refusals, fuzz."""

import codecs
import csv
import gzip
import io
import zipfile

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nncore.data import csvio
from nncore.data.csvio import NA_TOKENS, CsvDialect, read_csv, sniff
from nncore.errors import DataError

TABLE = "name\tprice\tqty\ncafé\t3.5\t1\nZürich\t4\t2\n"


def expected_table() -> pd.DataFrame:
    return pd.DataFrame({"name": ["café", "Zürich"], "price": [3.5, 4.0], "qty": [1, 2]})


def assert_same(frame: pd.DataFrame, expected: pd.DataFrame) -> None:
    pd.testing.assert_frame_equal(frame, expected, check_dtype=False)
    for column in expected.columns:  # numbers numeric, text as strings
        if pd.api.types.is_numeric_dtype(expected[column]):
            assert frame[column].dtype == expected[column].dtype, column
        else:
            assert pd.api.types.is_string_dtype(frame[column]), column


def by_every_path(data: bytes) -> list[pd.DataFrame]:
    """The frame read by pyarrow (numbers inferred, all text) and by pandas' C engine."""
    prepared = csvio._Prepared.of(data)
    frames = []
    for parse in (
        csvio._parse_with_arrow,
        lambda p: csvio._parse_with_arrow(p, infer=False),
        csvio._parse_with_pandas,
    ):
        columns = parse(prepared)
        assert columns is not None
        frames.append(csvio._frame(prepared, columns))
    return frames


# --- encodings ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "encoding"),
    [
        (TABLE.encode("utf-8"), "utf-8"),
        (codecs.BOM_UTF8 + TABLE.encode("utf-8"), "utf-8-sig"),
        (codecs.BOM_UTF16_LE + TABLE.encode("utf-16-le"), "utf-16"),  # Excel "Unicode text"
        (codecs.BOM_UTF16_BE + TABLE.encode("utf-16-be"), "utf-16"),
        (TABLE.encode("utf-16-le"), "utf-16-le"),
        (TABLE.encode("utf-16-be"), "utf-16-be"),
        (TABLE.encode("utf-32"), "utf-32"),
        (TABLE.encode("cp1252"), "cp1252"),
    ],
    ids=["utf8", "utf8-bom", "utf16le-bom", "utf16be-bom", "utf16le", "utf16be", "utf32", "cp1252"],
)
def test_reads_every_encoding(data: bytes, encoding: str) -> None:
    assert sniff(data) == CsvDialect(encoding, "\t")
    assert_same(read_csv(data), expected_table())


def test_windows_1252_characters_are_decoded() -> None:
    data = "item;price\nbrötchen;€ 2\n“quoted”;—\n".encode("cp1252")
    frame = read_csv(data)
    assert sniff(data).encoding == "cp1252"
    assert frame["item"].tolist() == ["brötchen", "“quoted”"]
    assert frame["price"].tolist() == ["€ 2", "—"]


def test_latin1_takes_what_cp1252_cannot_decode() -> None:
    data = b"name,city\nJos\xe9,M\x81nchen\n"  # 0x81 is undefined in cp1252
    assert sniff(data).encoding == "latin-1"
    assert read_csv(data)["name"].tolist() == ["José"]


def test_describe_says_how_the_file_was_read() -> None:
    data = codecs.BOM_UTF16_LE + "a\tb\n1,5\t2\n".encode("utf-16-le")
    assert sniff(data).describe() == "read as UTF-16, separator tab, decimal ','"
    assert CsvDialect("utf-8", ",", ".", ",").describe() == (
        "read as UTF-8, separator ',', decimal '.', thousands ','"
    )


# --- separators and numbers ---------------------------------------------------------------------


@pytest.mark.parametrize("separator", [",", ";", "\t", "|"])
def test_detects_every_separator(separator: str) -> None:
    rows = [["id", "label", "score"], ["1", "a b", "0.5"], ["2", "c", "1.25"], ["3", "d", ""]]
    data = "\n".join(separator.join(row) for row in rows).encode()
    frame = read_csv(data)
    assert sniff(data).separator == separator
    expected = pd.DataFrame(
        {"id": [1, 2, 3], "label": ["a b", "c", "d"], "score": [0.5, 1.25, None]}
    )
    assert_same(frame, expected)


def test_separator_is_found_despite_commas_in_text() -> None:
    data = b"name;city;amount\nSmith, J;Paris, FR;1,5\nDoe, A;Rome;2\nLee;Oslo, NO;3,25\n"
    assert sniff(data) == CsvDialect("utf-8", ";", ",")
    assert read_csv(data)["amount"].tolist() == [1.5, 2.0, 3.25]


def test_decimal_comma_in_semicolon_file() -> None:
    data = b"x;y;z\n1,5;-0,25;7\n2,0;3;8\n"
    frame = read_csv(data)
    assert sniff(data).decimal == ","
    assert frame["x"].tolist() == [1.5, 2.0]
    assert frame["y"].tolist() == [-0.25, 3.0]
    assert frame["z"].dtype == np.int64


def test_decimal_comma_with_thousands_dots() -> None:
    data = b"amount\tn\n1.234,5\t1.000\n12,75\t20\n"
    assert sniff(data) == CsvDialect("utf-8", "\t", ",", ".")
    frame = read_csv(data)
    assert frame["amount"].tolist() == [1234.5, 12.75]
    assert frame["n"].tolist() == [1000, 20]


def test_quoted_thousands_in_comma_file() -> None:
    data = b'item,amount,count\nA,"1,234.5","1,000"\nB,12.5,7\nC,"-2,000,000.25",12\n'
    assert sniff(data) == CsvDialect("utf-8", ",", ".", ",")
    frame = read_csv(data)
    assert frame["amount"].tolist() == [1234.5, 12.5, -2000000.25]
    assert frame["count"].tolist() == [1000, 7, 12]


def test_quoted_decimal_commas_in_comma_file() -> None:
    data = b'x,code,n\n"1,2","A1,B2",1\n"3,45","C3",2\n'
    assert sniff(data).decimal == ","
    frame = read_csv(data)
    assert frame["x"].tolist() == [1.2, 3.45]
    assert frame["code"].tolist() == ["A1,B2", "C3"]


def test_numbers_with_surrounding_spaces_are_numbers() -> None:
    frame = read_csv(b"a, b, c\n 1, 2.5 , x\n3 ,  NA , y\n")
    assert list(frame.columns) == ["a", "b", "c"]
    assert frame["a"].tolist() == [1, 3]
    assert frame["b"].tolist()[0] == 2.5 and np.isnan(frame["b"].tolist()[1])


def test_a_genuine_single_column_is_read() -> None:
    frame = read_csv(b'city\nParis\nNew York\n"Washington, D.C."\n')
    assert frame["city"].tolist() == ["Paris", "New York", "Washington, D.C."]
    assert read_csv(b"price\n1.5\n2\n")["price"].tolist() == [1.5, 2.0]


# --- quoting, missing values, header names -----------------------------------------------------


def test_quoted_newlines_are_part_of_the_value() -> None:
    data = b'id,note,n\n1,"two\nlines",5\n2,"windows\r\nline",6\n3,"say ""hi""",7\n'
    frame = read_csv(data)
    assert frame["note"].tolist() == ["two\nlines", "windows\r\nline", 'say "hi"']
    assert frame["n"].tolist() == [5, 6, 7]


@pytest.mark.parametrize("token", sorted(NA_TOKENS))
def test_missing_tokens_are_nan(token: str) -> None:
    frame = read_csv(f"a,b\n1,{token}\n2,3.5\n3, {token} \n".encode())
    assert frame["b"].dtype == np.float64
    assert frame["b"].isna().tolist() == [True, False, True]


def test_missing_tokens_in_text_columns() -> None:
    frame = read_csv(b'a,b\nx,?\ny,"N/A"\n,null\nz,w\n')
    assert frame["a"].isna().tolist() == [False, False, True, False]
    assert frame["b"].isna().tolist() == [True, True, True, False]
    assert pd.api.types.is_string_dtype(frame["b"])


def test_integers_with_missing_values_become_floats() -> None:
    frame = read_csv(b"a,b\n1,1\n,2\n")
    assert frame["a"].dtype == np.float64
    assert frame["b"].dtype == np.int64


def test_header_names_are_stripped_and_made_unique() -> None:
    frame = read_csv(b" a , a,, b ,a,Unnamed: 2\n1,2,3,4,5,6\n")
    assert list(frame.columns) == ["a", "a (2)", "Unnamed: 2", "b", "a (3)", "Unnamed: 2 (2)"]


def test_pandas_index_written_out_survives_as_unnamed_0() -> None:
    original = pd.DataFrame({"x": [1.5, 2.5], "y": ["u", "v"]}, index=[10, 20])
    frame = read_csv(original.to_csv().encode())
    assert list(frame.columns) == ["Unnamed: 0", "x", "y"]
    assert frame["Unnamed: 0"].tolist() == [10, 20]
    assert frame["x"].tolist() == [1.5, 2.5]


def test_short_rows_are_padded_with_missing_values() -> None:
    frame = read_csv(b"a,b,c\n1,2\n3,4,5\n6\n")
    assert frame["b"].tolist()[:2] == [2.0, 4.0]
    assert frame["c"].isna().tolist() == [True, False, True]


@pytest.mark.parametrize(
    "data", [b"\n\na,b\n\n1,2\n\n3,4\n\n", b"a,b\n1,2\n  \n3,4\n", b"a\n1\n \n2\n"]
)
def test_blank_lines_are_skipped(data: bytes) -> None:
    assert len(read_csv(data)) == 2


# --- refusals ----------------------------------------------------------------------------------


def xlsx_bytes() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as book:
        book.writestr("[Content_Types].xml", "<Types/>")
        book.writestr("xl/workbook.xml", "<workbook/>")
    return buffer.getvalue()


def zip_bytes() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("data.csv", "a,b\n1,2\n")
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("data", "words"),
    [
        (xlsx_bytes(), ["Excel workbook", "Save As", "CSV UTF-8"]),
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(600), ["Excel workbook", "CSV UTF-8"]),
        (zip_bytes(), ["zip archive", "not text", "Unzip"]),
        (gzip.compress(b"a,b\n1,2\n"), ["gzip", "not plain text", "Decompress"]),
        (b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj", ["PDF", "not text"]),
        (b"\x89PNG\r\n\x1a\n" + bytes(40), ["PNG image", "not text"]),
    ],
    ids=["xlsx", "xls", "zip", "gzip", "pdf", "png"],
)
def test_refuses_workbooks_archives_and_binary_formats(data: bytes, words: list[str]) -> None:
    with pytest.raises(DataError) as caught:
        read_csv(data)
    for word in words:
        assert word in str(caught.value)
    with pytest.raises(DataError):
        sniff(data)


def test_refuses_nul_bytes_not_explained_by_utf16() -> None:
    with pytest.raises(DataError, match=r"binary data \(a NUL byte at byte 7\), not text"):
        read_csv(b"a,b\n1,\x00\x00\x00\x00\x00\x00\xff\x00\x00\x012\n")


def test_refuses_text_full_of_control_characters() -> None:
    with pytest.raises(DataError, match="binary data.*control characters"):
        read_csv(bytes(range(1, 32)) * 20)


def test_refuses_damaged_utf16() -> None:
    with pytest.raises(DataError, match="UTF-16 text but is damaged"):
        read_csv(codecs.BOM_UTF16_LE + "a,b\n1,2\n".encode("utf-16-le") + b"\x00\xd8")


@pytest.mark.parametrize(
    "data", [b"", b"   \n\r\n\t", codecs.BOM_UTF8, codecs.BOM_UTF16_LE + " \n".encode("utf-16-le")]
)
def test_refuses_an_empty_file(data: bytes) -> None:
    with pytest.raises(DataError, match="The file is empty"):
        read_csv(data)


@pytest.mark.parametrize("data", [b"a,b,c\n", b"a,b,c", b"a;b\n\n\n"])
def test_refuses_a_header_without_data(data: bytes) -> None:
    with pytest.raises(DataError, match=r"has a header row \(a, b.*\) but no data rows"):
        read_csv(data)


def test_refuses_a_row_longer_than_the_header_naming_the_line() -> None:
    data = b'a,b,c,d\n1,2,3,4\n\n5,"two\nlines",6,7\n8,9,10,11\n\n12,13,14,15,16\n17,18,19,20\n'
    with pytest.raises(DataError) as caught:
        read_csv(data)
    message = str(caught.value)
    assert message.startswith("Line 8 has 5 fields but the header has 4.")
    assert "','" in message


def test_refuses_a_long_row_in_a_semicolon_file() -> None:
    with pytest.raises(DataError, match=r"Line 3 has 3 fields but the header has 2\..*';'"):
        read_csv(b"a;b\n1;2\n3;4;5\n")


def test_refuses_an_unclosed_quote_naming_the_line() -> None:
    with pytest.raises(DataError, match=r"double quote \(\"\) opened on line 3 is never closed"):
        read_csv(b'a,b\n1,2\n3,"four\n5,6\n')


@pytest.mark.parametrize(
    ("data", "seen"),
    [
        (b"a:b:c\n1:2:3\n4:5:6\n", "':' (2 per line)"),
        (b"x y z\n1 2 3\n4 5 6\n", "spaces (2 per line)"),
        (b"a^b\n1^2\n", "'^' (1 per line)"),
    ],
)
def test_refuses_a_single_column_split_by_another_character(data: bytes, seen: str) -> None:
    with pytest.raises(DataError) as caught:
        read_csv(data)
    assert f"split by {seen}" in str(caught.value)
    assert "single column" in str(caught.value)


def test_refuses_rows_split_by_a_separator_the_header_lacks() -> None:
    with pytest.raises(DataError, match="Most rows contain ';', but the header line has none"):
        read_csv(b"Sales report 2024\nregion;amount\nnorth;1\nsouth;2\n")


def test_refuses_a_file_over_the_size_limit() -> None:
    data = b"a,b\n" + b"1,2\n" * 1000
    with pytest.raises(DataError, match=r"The file is 4.0 kB, more than the limit of 1.0 kB\."):
        read_csv(data, max_bytes=1000)
    assert len(read_csv(data, max_bytes=len(data))) == 1000


def test_refuses_a_table_over_the_cell_limit_before_parsing_it_when_far_over() -> None:
    data = b"a,b,c\n" + b"1,2,3\n" * 1000  # 3,000 cells
    with pytest.raises(DataError, match=r"about 1,000 rows × 3 columns = 3,000 cells, more than"):
        read_csv(data, max_cells=2000)
    assert read_csv(data, max_cells=3000).shape == (1000, 3)


def test_refuses_a_table_just_over_the_cell_limit_exactly_after_parsing() -> None:
    # Quoted line breaks make the line count overstate the rows; the exact count decides.
    data = b"a,b\n" + b'"x\ny",1\n' * 10 + b"z,2\n" * 90  # 100 rows on 110 lines
    assert read_csv(data, max_cells=200).shape == (100, 2)
    with pytest.raises(DataError, match=r"has 100 rows × 2 columns = 200 cells, more than the 199"):
        read_csv(data, max_cells=199)
    with pytest.raises(DataError, match="NNSTUDIO_MAX_CELLS"):
        read_csv(data, max_cells=199)


# --- the pyarrow and C paths agree ---------------------------------------------------------------

SAME_BY_EVERY_PATH = {
    "plain": b"a,b,c,d\n1,2.5,x,\n3,NA,y,\n-4,1e3,,\n",
    "quotes": b'a,b,c\n1,"x\ny",3\n"2","he said ""no""",4\n3,"",5\n',
    "thousands": b'a,b\n"1,234.5",1\n"7",2\n',
    "decimal comma": b"a;b;c\n1,5;x;1.234,5\n2;NA;3\n",
    "decimal comma, then dots": b"a;b\n1,5;1\n2;2\n" + b"3,5;3\n" * 9000 + b"1.234;4\n2.5;5\n",
    "na tokens": b"a,b,c\n?,n/a,null\nNaN,2, 3 \n4,None,5\n",
    "index": b",x,y\n0,1.5,u\n1,2.5,v\n",
    "spaces": b"a , b\n 1 ,  x\n2, y \n",
    "unicode": "ä,ö\nü,1\nß,2\n".encode(),
    "crlf": b"a,b\r\n1,2\r\n3,4\r\n",
    "cr": b"a,b\r1,x\r3,y\r",
    "hex and signs": b"a,b\n0x1F,+1\n7,-2\n",
    "huge ints": b"a,b\n99999999999999999999,1\n1,2\n",
    "all missing": b"a,b\n,1\nNA,2\n",
    "dates": b"d,t\n2020-01-01,12:30\n2021-02-03,13:45:00\n",
    "booleans": b"a,b\ntrue,1\nFalse,0\n",
}


@pytest.mark.parametrize("name", SAME_BY_EVERY_PATH)
def test_pyarrow_and_c_engine_give_the_same_frame(name: str) -> None:
    inferred, all_text, c_engine = by_every_path(SAME_BY_EVERY_PATH[name])
    pd.testing.assert_frame_equal(inferred, c_engine)
    pd.testing.assert_frame_equal(all_text, c_engine)


def test_dates_and_booleans_stay_text() -> None:
    frame = read_csv(SAME_BY_EVERY_PATH["dates"] + b"2022-03-04,14:00\n")
    assert frame["d"].tolist()[0] == "2020-01-01"
    assert frame["t"].tolist()[:2] == ["12:30", "13:45:00"]
    assert read_csv(SAME_BY_EVERY_PATH["booleans"])["a"].tolist() == ["true", "False"]


@pytest.mark.parametrize(("separator", "decimal"), [(",", "."), (";", ",")])
def test_a_type_change_far_down_a_big_file_is_read(separator: str, decimal: str) -> None:
    rows = 150_000  # past pyarrow's first block, and enough cells to type in threads
    a, b, c = [f"1{decimal}25"] * rows, [""] * rows, ["2020"] * rows
    a[-1], b[-1], c[-1] = "1.234" if decimal == "," else "x", "late", "2020-01-01"
    table = pd.DataFrame({"a": a, "b": b, "c": c, "n": range(rows)})
    data = table.to_csv(index=False, sep=separator).encode()
    assert sniff(data).decimal == decimal
    frame = read_csv(data)
    if decimal == ",":  # the last value has a thousands dot
        assert frame["a"].dtype == np.float64 and frame["a"].iloc[-1] == 1234
    else:
        assert frame["a"].iloc[0] == "1.25" and frame["a"].iloc[-1] == "x"
    assert frame["b"].iloc[-1] == "late" and frame["b"].isna().sum() == rows - 1
    assert frame["c"].iloc[-1] == "2020-01-01"
    assert frame["n"].dtype == np.int64 and frame["n"].iloc[-1] == rows - 1


def test_numbers_are_parsed_by_pyarrow_when_the_sample_shows_plain_numbers() -> None:
    prepared = csvio._Prepared.of(b"a,b,c\n1,x,2.5\n2,y,\n")
    assert prepared.plain_numbers == {0, 2}
    columns = csvio._parse_with_arrow(prepared)
    assert [str(column.type) for column in columns] == ["int64", "large_string", "double"]


cell = st.one_of(
    st.integers(-(10**6), 10**6).map(str),
    st.floats(allow_nan=False, allow_infinity=False, width=32).map(repr),
    st.sampled_from(sorted(NA_TOKENS) + [" 1 ", "1,234.5", "1.234,5", "1,5", "0x1F", "true"]),
    st.text(st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), max_size=8),
    st.text(alphabet=',;\t"\n\r ab', max_size=6),
)
tables = st.integers(1, 4).flatmap(
    lambda width: st.lists(st.lists(cell, min_size=width, max_size=width), min_size=1, max_size=8)
)


@settings(max_examples=60, deadline=None)
@given(tables, st.sampled_from([",", ";", "\t"]))
def test_fuzz_every_path_agrees_on_well_formed_tables(rows: list[list[str]], sep: str) -> None:
    header = [f"c{i}" for i in range(len(rows[0]))]
    text = io.StringIO()
    csv.writer(text, delimiter=sep, lineterminator="\r\n").writerows([header, *rows])
    try:
        prepared = csvio._Prepared.of(text.getvalue().encode())
    except DataError:
        return
    if prepared.dialect.separator != sep or (columns := csvio._parse_with_arrow(prepared)) is None:
        return  # cells full of ';' may look like the separator; short rows are pandas' job
    try:
        c_engine = csvio._frame(prepared, csvio._parse_with_pandas(prepared))
    except DataError:
        return
    pd.testing.assert_frame_equal(csvio._frame(prepared, columns), c_engine)
    all_text = csvio._frame(prepared, csvio._parse_with_arrow(prepared, infer=False))
    pd.testing.assert_frame_equal(all_text, c_engine)


# --- fuzz: a DataFrame or a DataError, nothing else ---------------------------------------------


def read_or_refuse(data: bytes) -> None:
    try:
        frame = read_csv(data, max_bytes=1 << 20)
    except DataError as error:
        assert str(error) and "Traceback" not in str(error)
        return
    assert isinstance(frame, pd.DataFrame) and len(frame) > 0


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=400))
def test_fuzz_arbitrary_bytes(data: bytes) -> None:
    read_or_refuse(data)


@settings(max_examples=200, deadline=None)
@given(
    st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=200),
    st.sampled_from(
        ["utf-8", "utf-8-sig", "utf-16", "utf-16-le", "utf-16-be", "cp1252", "latin-1"]
    ),
)
def test_fuzz_arbitrary_text_in_several_encodings(text: str, encoding: str) -> None:
    read_or_refuse(text.encode(encoding, errors="ignore"))


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet='a1.,;\t|"\n\r -?', max_size=120))
def test_fuzz_csv_like_text(text: str) -> None:
    read_or_refuse(text.encode())


def test_the_frame_it_returns_can_be_edited_in_place():
    # Arrow hands out a single chunk's numbers without copying them, read-only.
    frame = read_csv(b"a,b,c\n1,2.5,x\n3,4.5,y\n")
    frame.loc[0, "a"] = 7
    frame["b"] += 1
    frame.iloc[1, 2] = "z"
    assert frame.to_dict("list") == {"a": [7, 3], "b": [3.5, 5.5], "c": ["x", "z"]}


@given(st.binary(max_size=2000), st.sampled_from([b'"', b"\n", b"\x00", b"\xff"]))
def test_byte_counts_equal_bytes_count(data, byte):
    assert csvio._count_byte(data, byte) == data.count(byte)


def test_byte_counts_add_up_across_slices():
    data = np.random.default_rng(0).choice(np.frombuffer(b'a,"\n', np.uint8), 9_500_000).tobytes()
    assert csvio._count_byte(data, b'"') == data.count(b'"')
    assert csvio._count_byte(data, b"\n") == data.count(b"\n")


CELLS = ["12", " 3.5 ", "-7", "1,234", "1.234,5", "2,5", "0x1F", "1e5", " NA ", "?", "", "n/a"]
CELLS += ["abc", " x ", "12 apples", "1.2.3", "inf", "- 4"]


@given(st.lists(st.sampled_from(CELLS), min_size=1, max_size=30), st.sampled_from([".", ","]))
def test_a_column_taken_for_text_at_a_glance_is_no_numbers_read_whole(cells, decimal):
    values = pa.chunked_array([pa.array(cells, pa.large_string())])
    if csvio._plainly_text(values, decimal):
        trimmed = pc.utf8_trim_whitespace(values)
        present = pc.filter(trimmed, pc.invert(pc.is_in(trimmed, value_set=csvio._NA_VALUE_SET)))
        assert csvio._numbers(present, decimal) is None


def test_a_first_row_longer_than_the_sniffed_sample_keeps_the_header():
    # The sample the format is sniffed on ends inside the huge first cell; the header before it
    # is whole and must stay the header, not become "Unnamed" columns.
    huge = "x" * (csvio._SNIFF_MAX + 4 * 2**20)
    data = f'a,b\n"{huge}",1\n'.encode() + b"1,2\n" * 5
    frame = read_csv(data)
    assert list(frame.columns) == ["a", "b"]
    assert frame.shape == (6, 2)
    assert len(frame.loc[0, "a"]) == len(huge)
    assert frame["b"].tolist() == [1] + [2] * 5


def test_a_header_longer_than_the_sniffed_sample_is_refused_saying_why():
    data = ",".join(f"column {i:08d}" for i in range(csvio._SNIFF_MAX // 16)).encode()
    with pytest.raises(DataError, match=r"header row .* could not be found in the first 16\.8 MB"):
        read_csv(data + b"\n" + b"1," * 10 + b"\n")
