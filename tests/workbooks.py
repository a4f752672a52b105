"""Build .xlsx workbooks byte by byte, as Excel lays them out (no spreadsheet library needed,
and hostile ones are as easy to make as good ones)."""

from __future__ import annotations

import datetime as dt
import io
import zipfile
from xml.sax.saxutils import escape

MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
RELS = "http://schemas.openxmlformats.org/package/2006/relationships"
DOC_RELS = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
_EPOCH = dt.datetime(1899, 12, 30)  # Excel's day 0 (as its 1900 date system counts)
# Style 1 is a date format, as Excel marks a cell holding a date.
_STYLES = (
    f'<styleSheet xmlns="{MAIN}"><fonts count="1"><font/></fonts><fills count="1"><fill/></fills>'
    '<borders count="1"><border/></borders><cellStyleXfs count="1"><xf/></cellStyleXfs>'
    '<cellXfs count="2"><xf numFmtId="0"/><xf numFmtId="14" applyNumberFormat="1"/></cellXfs>'
    "</styleSheet>"
)


def column_letters(index: int) -> str:
    letters, index = "", index + 1
    while index:
        index, rest = divmod(index - 1, 26)
        letters = chr(65 + rest) + letters
    return letters


def _cell(ref: str, value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, dt.date):
        when = value if isinstance(value, dt.datetime) else dt.datetime(*value.timetuple()[:3])
        return f'<c r="{ref}" s="1"><v>{(when - _EPOCH).total_seconds() / 86400}</v></c>'
    if isinstance(value, bool):
        return f'<c r="{ref}" t="b"><v>{int(value)}</v></c>'
    if isinstance(value, int | float):
        return f'<c r="{ref}"><v>{value}</v></c>'
    return f'<c r="{ref}" t="inlineStr"><is><t>{escape(str(value))}</t></is></c>'


def sheet_xml(rows: list[list[object]], dimension: str | None = None) -> str:
    width = max(len(row) for row in rows)
    dimension = dimension or f"A1:{column_letters(width - 1)}{len(rows)}"
    body = "".join(
        f'<row r="{r + 1}">'
        + "".join(_cell(f"{column_letters(c)}{r + 1}", v) for c, v in enumerate(row))
        + "</row>"
        for r, row in enumerate(rows)
    )
    return (
        f'<worksheet xmlns="{MAIN}"><dimension ref="{dimension}"/>'
        f"<sheetData>{body}</sheetData></worksheet>"
    )


def xlsx(
    sheets: dict[str, list[list[object]]],
    dimension: str | None = None,
    extra: dict[str, bytes | str] | None = None,
) -> bytes:
    """A workbook of `sheets` (name -> rows, the first the header); `dimension` overrides the
    range every sheet declares; `extra` adds parts (path -> content)."""
    out = io.BytesIO()
    names = list(sheets)
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as book:
        book.writestr(
            "_rels/.rels",
            f'<Relationships xmlns="{RELS}"><Relationship Id="rId1" '
            f'Type="{DOC_RELS}/officeDocument" Target="xl/workbook.xml"/></Relationships>',
        )
        book.writestr(
            "xl/workbook.xml",
            f'<workbook xmlns="{MAIN}" xmlns:r="{DOC_RELS}"><sheets>'
            + "".join(
                f'<sheet name="{escape(n)}" sheetId="{i + 1}" r:id="rId{i + 1}"/>'
                for i, n in enumerate(names)
            )
            + "</sheets></workbook>",
        )
        book.writestr(
            "xl/_rels/workbook.xml.rels",
            f'<Relationships xmlns="{RELS}">'
            + "".join(
                f'<Relationship Id="rId{i + 1}" Type="{DOC_RELS}/worksheet" '
                f'Target="worksheets/sheet{i + 1}.xml"/>'
                for i in range(len(names))
            )
            + f'<Relationship Id="rId{len(names) + 1}" Type="{DOC_RELS}/styles" '
            'Target="styles.xml"/></Relationships>',
        )
        book.writestr("xl/styles.xml", _STYLES)
        for i, name in enumerate(names):
            book.writestr(f"xl/worksheets/sheet{i + 1}.xml", sheet_xml(sheets[name], dimension))
        for path, content in (extra or {}).items():
            book.writestr(path, content)
    return out.getvalue()
