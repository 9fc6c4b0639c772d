"""The expert roster as an Excel workbook (.xlsx): the import template, reading
an uploaded roster, writing an export.

Pure file handling: no Flask, no database. Cells come out as text (or dates);
turning them into records is the import operation's job (roster_import.py).
"""
from __future__ import annotations

import io
import warnings
import zipfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time
from typing import BinaryIO

from openpyxl import Workbook, load_workbook
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.datavalidation import DataValidation

XLSX_MIMETYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
ROSTER_SHEET = "专家名册"
GUIDE_SHEET = "填写说明"
# The first data row; row numbers in every report are the ones Excel shows.
FIRST_DATA_ROW = 2
REQUIRED_MARK = "*"
TEXT_FORMAT = "@"
DATE_FORMAT = "yyyy-mm-dd"
YES, NO = "是", "否"
# Excel refuses an inline list validation longer than this.
MAX_INLINE_LIST_CHARS = 255
# How far down the template's drop-down lists reach.
TEMPLATE_VALIDATION_ROWS = 5000


@dataclass(frozen=True)
class Column:
    key: str
    header: str
    required: bool = False
    note: str = ""
    width: int = 14
    text: bool = False  # stored as text so Excel never turns 18 digits into a float
    is_date: bool = False


COLUMNS: tuple[Column, ...] = (
    Column("name", "姓名", True, "2–40 个汉字或字母", 10),
    Column("id_number", "身份证号", True, "18 位居民身份证号，末位可为 X", 22, text=True),
    Column("mobile", "手机", False, "11 位手机号", 14, text=True),
    Column("employer", "工作单位", True, "已登记的单位名称或别名（如 北大）", 24),
    Column("position", "职务"),
    Column("title_level", "职称级别", True, "正高、副高、中级、其他"),
    Column("title_name", "职称名称", False, "如 教授、研究员"),
    Column("years_in_field", "从业年限", True, "0–80 的整数", 10),
    Column("political_affiliation", "政治面貌", True, "见下方可选值"),
    Column("is_npc_deputy", "人大代表", False, "是 或 否，留空为否", 10),
    Column("is_cppcc_member", "政协委员", False, "是 或 否，留空为否", 10),
    Column("is_academician", "院士", False, "是 或 否，留空为否", 8),
    Column("primary_domain", "主领域", True, "二级领域名称，见下方可选值；重名时写作 一级/二级", 16),
    Column("secondary_domains", "其他领域", False, "多个用顿号或逗号分隔", 20),
    Column("keywords", "关键词", False, "多个用顿号或逗号分隔", 24),
    Column("bio", "个人简介", False, "不超过 5000 字", 30),
    Column("publications", "论著", False, "多项用分号或换行分隔", 24),
    Column("projects", "课题项目", False, "多项用分号或换行分隔", 24),
    Column("awards", "获奖", False, "多项用分号或换行分隔", 24),
    Column("tier", "专家层次", True, "见下方可选值", 12),
    Column("term_start", "聘期开始", True, "日期，如 2024-01-01", 12, is_date=True),
    Column("term_end", "聘期结束", True, "日期，不超过聘期年限，须晚于今天", 12, is_date=True),
    Column("certificate_no", "聘书编号", False, "留空则自动编号", 18, text=True),
)
COLUMNS_BY_KEY = {column.key: column for column in COLUMNS}
# What the export adds after the import columns: derived or state, ignored on import.
EXPORT_EXTRA_COLUMNS: tuple[Column, ...] = (
    Column("sex", "性别", width=6),
    Column("birth_date", "出生日期", width=12, is_date=True),
    Column("status", "状态", width=8),
)


class RosterFileError(ValueError):
    """The file as a whole cannot be read; carries a Chinese message for the user."""


@dataclass(frozen=True)
class RosterRow:
    number: int  # the Excel row number
    values: dict[str, str | date]  # column key -> stripped text or a date; blank cells are ""


def _header_key(raw) -> str | None:
    text = "".join(str(raw or "").split()).rstrip(REQUIRED_MARK)
    for column in COLUMNS:
        if text == column.header:
            return column.key
    return None


def _cell_value(value) -> str | date:
    """A cell as text, or a date for date cells (Excel stores dates as numbers)."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, bool):
        return YES if value else NO
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, time):
        return value.isoformat()
    return str(value).strip()


def check_container(data: bytes, max_unpacked_bytes: int) -> None:
    """Refuse what is not an .xlsx, and zip bombs, before openpyxl parses anything."""
    if not zipfile.is_zipfile(io.BytesIO(data)):
        raise RosterFileError("文件不是有效的 Excel 文件，请上传 .xlsx 格式（Excel 2007 及以上，旧版 .xls 请另存为 .xlsx）")
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            unpacked = sum(info.file_size for info in archive.infolist())
            names = set(archive.namelist())
    except (zipfile.BadZipFile, OSError, ValueError):
        raise RosterFileError("文件已损坏，无法读取") from None
    if "xl/workbook.xml" not in names:
        raise RosterFileError("文件不是有效的 Excel 文件，请上传 .xlsx 格式")
    if unpacked > max_unpacked_bytes:
        raise RosterFileError("文件解压后过大，请删除无关的工作表或分批导入")


def read_roster(data: bytes, *, max_rows: int, max_unpacked_bytes: int) -> list[RosterRow]:
    """Rows of the first worksheet, matched to COLUMNS by the header row.

    Raises RosterFileError for anything wrong with the file as a whole; row
    problems are left to the import, which reports them by row number.
    """
    check_container(data, max_unpacked_bytes)
    try:
        with warnings.catch_warnings():
            # openpyxl warns about features it drops (styles, extensions); the data is unaffected.
            warnings.simplefilter("ignore")
            workbook = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
            try:
                return _rows_of(workbook.worksheets[0], max_rows)
            finally:
                workbook.close()
    except RosterFileError:
        raise
    except Exception:  # noqa: BLE001 - a corrupt file fails in many ways inside openpyxl; none may become a 500
        raise RosterFileError("文件已损坏或不是有效的 Excel 工作簿，无法读取") from None


def _rows_of(sheet, max_rows: int) -> list[RosterRow]:
    # Some writers record a wrong sheet size; read what is really there.
    sheet.reset_dimensions()
    cells = sheet.iter_rows(values_only=True)
    header = next(cells, None)
    if header is None:
        raise RosterFileError("工作表为空：第 1 行应为表头，请使用导入模板")
    keys = [_header_key(value) for value in header]
    present = {key for key in keys if key}
    missing = [column.header for column in COLUMNS if column.required and column.key not in present]
    if missing:
        raise RosterFileError(f"第 1 行表头缺少必填列：{'、'.join(missing)}（请使用导入模板）")
    repeated = sorted({COLUMNS_BY_KEY[key].header for key in present if keys.count(key) > 1})
    if repeated:
        raise RosterFileError(f"表头有重复的列：{'、'.join(repeated)}")
    rows: list[RosterRow] = []
    for number, raw in enumerate(cells, start=FIRST_DATA_ROW):
        values = {column.key: "" for column in COLUMNS}
        for key, value in zip(keys, raw):
            if key:
                values[key] = _cell_value(value)
        if all(value == "" for value in values.values()):
            continue  # blank rows between or after the data are not errors
        if len(rows) >= max_rows:
            raise RosterFileError(f"数据超过 {max_rows} 行，请分批导入")
        rows.append(RosterRow(number, values))
    if not rows:
        raise RosterFileError("没有可导入的数据行")
    return rows


# ---------------------------------------------------------------- writing

_HEADER_FONT = Font(bold=True)
_REQUIRED_FILL = PatternFill("solid", fgColor="FDE9D9")
_HEADER_FILL = PatternFill("solid", fgColor="EEEEEE")


def _header_row(sheet, columns: Sequence[Column], mark_required: bool) -> None:
    for index, column in enumerate(columns, start=1):
        cell = sheet.cell(row=1, column=index, value=column.header + (REQUIRED_MARK if mark_required and column.required else ""))
        cell.font = _HEADER_FONT
        cell.fill = _REQUIRED_FILL if mark_required and column.required else _HEADER_FILL
        sheet.column_dimensions[get_column_letter(index)].width = column.width
    sheet.freeze_panes = "A2"


def _inline_list(values: Sequence[str], letter: str, sheet) -> None:
    formula = '"' + ",".join(values) + '"'
    if len(formula) > MAX_INLINE_LIST_CHARS:
        return  # too long for a drop-down; the guide sheet lists the values
    validation = DataValidation(type="list", formula1=formula, allow_blank=True,
                                error="请从下拉列表中选择", errorTitle="取值无效")
    validation.add(f"{letter}{FIRST_DATA_ROW}:{letter}{TEMPLATE_VALIDATION_ROWS}")
    sheet.add_data_validation(validation)


def template_workbook(choices: dict[str, Sequence[str]]) -> bytes:
    """The import template: the roster sheet with drop-downs, and a guide sheet.

    `choices` maps column keys to their allowed values (from the database).
    """
    workbook = Workbook()
    sheet = workbook.active
    sheet.title = ROSTER_SHEET
    _header_row(sheet, COLUMNS, mark_required=True)
    for index, column in enumerate(COLUMNS, start=1):
        letter = get_column_letter(index)
        if column.text or column.is_date:
            sheet.column_dimensions[letter].number_format = DATE_FORMAT if column.is_date else TEXT_FORMAT
        if column.key in choices:
            _inline_list(choices[column.key], letter, sheet)
    guide = workbook.create_sheet(GUIDE_SHEET)
    guide.append(["列名", "是否必填", "填写要求"])
    for column in COLUMNS:
        guide.append([column.header, "必填" if column.required else "选填", column.note])
    guide.append([])
    guide.append(["可选值"])
    for key, values in choices.items():
        guide.append([COLUMNS_BY_KEY[key].header, "", "、".join(values)])
    guide.append([])
    guide.append(["说明", "", "第 1 行为表头，请勿修改；数据从第 2 行开始；空行将被跳过。带 * 的列为必填。"])
    for cell in guide[1]:
        cell.font = _HEADER_FONT
    guide.column_dimensions["A"].width = 14
    guide.column_dimensions["B"].width = 10
    guide.column_dimensions["C"].width = 80
    for row in guide.iter_rows(min_col=3, max_col=3):
        row[0].alignment = Alignment(wrap_text=True, vertical="top")
    return _save(workbook)


def write_roster(rows: Iterable[dict[str, str | date | None]]) -> bytes:
    """An export: the import columns (so a roster can be re-imported) then derived ones.

    Write-only mode keeps memory flat however large the pool is.
    """
    columns = (*COLUMNS, *EXPORT_EXTRA_COLUMNS)
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet(ROSTER_SHEET)
    for index, column in enumerate(columns, start=1):
        sheet.column_dimensions[get_column_letter(index)].width = column.width
    sheet.freeze_panes = "A2"
    sheet.append([column.header for column in columns])
    for row in rows:
        sheet.append([row.get(column.key) for column in columns])
    return _save(workbook)


def _save(workbook: Workbook) -> bytes:
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def open_roster_stream(stream: BinaryIO, max_bytes: int) -> bytes:
    """Read an upload up to `max_bytes` (+1 to tell "too large" from "exactly at the limit")."""
    data = stream.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise RosterFileError(f"文件超过 {max_bytes // (1024 * 1024) or 1} MB 上限，请分批导入")
    return data
