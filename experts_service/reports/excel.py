"""A report as an Excel workbook: a cover sheet, then one sheet per section holding the section's table.

Built from the same Section structures as the page. Numbers stay numbers (counts as integers, scores
and means with two decimals, shares as percentages), so the office can go on calculating with them.
"""
from __future__ import annotations

import io
import re
from collections.abc import Iterable, Sequence
from decimal import Decimal
from fractions import Fraction
from urllib.parse import quote

from openpyxl import Workbook
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter

from experts_service.reports.tables import Cell, Section, display

COVER_SHEET = "说明"
# Where each section sheet puts its title, its header row and its first data row.
TITLE_ROW, HEADER_ROW, FIRST_DATA_ROW = 1, 2, 3
SCORE_FORMAT, PERCENT_FORMAT, COUNT_FORMAT = "0.00", "0.0%", "0"
# Excel's own limits on sheet names.
SHEET_NAME_MAX = 31
SHEET_NAME_FORBIDDEN = re.compile(r"[\[\]:*?/\\]")
MIN_WIDTH, MAX_WIDTH = 8, 48

_BOLD = Font(bold=True)
_TITLE = Font(bold=True, size=13)
_HEADER_FILL = PatternFill("solid", fgColor="EEEEEE")
_TOTAL_FILL = PatternFill("solid", fgColor="F7F8FA")


def sheet_names(sections: Sequence[Section]) -> dict[str, str]:
    """Section key -> its sheet's name: Excel-safe, unique."""
    names: dict[str, str] = {}
    used = {COVER_SHEET}
    for section in sections:
        base = SHEET_NAME_FORBIDDEN.sub("", section.title)[:SHEET_NAME_MAX] or section.key[:SHEET_NAME_MAX]
        name, n = base, 2
        while name in used:
            suffix = f"({n})"
            name, n = base[:SHEET_NAME_MAX - len(suffix)] + suffix, n + 1
        used.add(name)
        names[section.key] = name
    return names


def workbook_bytes(title: str, about: Iterable[tuple[str, str]], sections: Sequence[Section]) -> bytes:
    workbook = Workbook()
    cover = workbook.active
    cover.title = COVER_SHEET
    cover.cell(row=1, column=1, value=title).font = _TITLE
    for row, (label, value) in enumerate(about, start=3):
        cover.cell(row=row, column=1, value=label).font = _BOLD
        cover.cell(row=row, column=2, value=value)
    cover.column_dimensions["A"].width = 16
    cover.column_dimensions["B"].width = 60
    names = sheet_names(sections)
    for section in sections:
        _section_sheet(workbook.create_sheet(names[section.key]), section)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def _section_sheet(sheet, section: Section) -> None:
    table = section.table
    sheet.cell(row=TITLE_ROW, column=1, value=section.title).font = _TITLE
    for column, header in enumerate(table.headers, start=1):
        cell = sheet.cell(row=HEADER_ROW, column=column, value=header)
        cell.font, cell.fill = _BOLD, _HEADER_FILL
        cell.alignment = Alignment(wrap_text=True, vertical="center")
    row = FIRST_DATA_ROW
    for values in table.rows:
        _write_row(sheet, row, values)
        row += 1
    for values in table.totals:
        _write_row(sheet, row, values, total=True)
        row += 1
    if not table.rows:
        sheet.cell(row=row, column=1, value=section.empty)
        row += 1
    if section.note:
        sheet.cell(row=row + 1, column=1, value=section.note)
    sheet.freeze_panes = sheet.cell(row=FIRST_DATA_ROW, column=1)
    for column, header in enumerate(table.headers, start=1):
        texts = [header, *(display(values[column - 1]) for values in (*table.rows, *table.totals))]
        width = max(_text_width(text) for text in texts) + 2
        sheet.column_dimensions[get_column_letter(column)].width = max(MIN_WIDTH, min(MAX_WIDTH, width))


def _write_row(sheet, row: int, values: Sequence[Cell], total: bool = False) -> None:
    for column, value in enumerate(values, start=1):
        cell = sheet.cell(row=row, column=column)
        if isinstance(value, Fraction):
            cell.value, cell.number_format = float(value), PERCENT_FORMAT
        elif isinstance(value, Decimal):
            cell.value, cell.number_format = float(value), SCORE_FORMAT
        elif isinstance(value, int) and not isinstance(value, bool):
            cell.value, cell.number_format = value, COUNT_FORMAT
        else:
            cell.value = value
        if total:
            cell.font, cell.fill = _BOLD, _TOTAL_FILL


def _text_width(text: str) -> int:
    # A CJK character is about two Latin characters wide in Excel's units.
    return sum(2 if ord(ch) > 0x2E7F else 1 for ch in text)


def content_disposition(filename: str, ascii_fallback: str) -> str:
    """An attachment with its Chinese name (RFC 5987 filename*) and an ASCII name for old clients."""
    return f"attachment; filename=\"{ascii_fallback}\"; filename*=UTF-8''{quote(filename, safe='')}"
