"""The Excel roster: import (dry run, import, strict) through the operation, the
command line and the pages; the template; the export.

Workbooks are made here with openpyxl at test time; nothing binary is committed.
"""
from __future__ import annotations

import io
import json
from dataclasses import dataclass
from datetime import date, datetime, timedelta

import openpyxl
import pytest
import sqlalchemy as sa

from experts_service import search_bridge
from experts_service.core.audit import AuditEntry
from experts_service.core.clock import today
from experts_service.core.crypto import keyed_hash
from experts_service.core.idcard import check_digit
from experts_service.core.outbox import SearchOutbox
from experts_service.experts.models import Appointment, Expert, ExpertStatus
from experts_service.experts.roster_excel import COLUMNS, RosterFileError, read_roster
from experts_service.experts.roster_import import import_roster
from experts_service.extensions import db
from tests.conftest import csrf_token_from, valid_id_number
from tests.page_helpers import expert_rows, form_data, page_of

HEADERS = [column.header for column in COLUMNS]
SURNAMES = "张王李赵刘陈杨黄周吴徐孙马朱胡郭何林高罗"
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰涛明超秀霞平刚"
EMPLOYERS = ("江南大学", "江大", "市规划设计研究院", "市发展和改革委员会")
DOMAINS = ("城乡规划", "城市治理", "数字经济", "社会保障", "环境资源/生态保护", "公共卫生")
TIERS = ("首席专家", "核心专家", "库员专家", "库员专家")
TITLES = ("正高", "副高", "正高", "中级")
AFFILIATIONS = ("中共党员", "群众", "九三学社社员", "无党派人士", "民盟盟员")
UNIQUE_BIO = "长期研究滨海湿地修复与蓝碳核算"
ROWS = 1000
# Every 27th row from the 11th is made bad: 37 rows, each with exactly one fault.
BAD_POSITIONS = tuple(range(10, ROWS, 27))


def add_years(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year + years)
    except ValueError:
        return day.replace(year=day.year + years, day=28)


def good_row(i: int) -> dict:
    """Row i (0-based) of the roster: every kind of cell the importer accepts."""
    birth = date(1966, 1, 1) + timedelta(days=i * 9)
    start = today() - timedelta(days=100 + i % 700)
    row = {
        "姓名": SURNAMES[i % 20] + GIVEN[(i // 20) % 20] + ("" if i % 3 else GIVEN[(i * 7) % 20]),
        "身份证号": valid_id_number(birth, sequence=i % 500, male=i % 2 == 0),
        "手机": f"139{i:08d}" if i % 5 else None,
        "工作单位": EMPLOYERS[i % 4],
        "职务": "教授" if i % 2 else "",
        "职称级别": TITLES[i % 4],
        "职称名称": "研究员",
        # Excel often stores numbers as floats.
        "从业年限": float(5 + i % 30) if i % 2 else 5 + i % 30,
        "政治面貌": AFFILIATIONS[i % 5],
        "人大代表": "是" if i % 17 == 0 else "否",
        "政协委员": "是" if i % 19 == 0 else None,
        "院士": None,
        "主领域": DOMAINS[i % 6],
        "其他领域": "城市治理、交通运输" if i % 4 == 0 else None,
        "关键词": "国土空间规划、城市更新" if i % 2 else "数字政府",
        "个人简介": UNIQUE_BIO if i == 3 else "从事相关领域研究。",
        "论著": "城市更新的理论与实践；规划评估方法" if i % 3 == 0 else None,
        "课题项目": None,
        "获奖": "省科技进步奖" if i % 10 == 0 else None,
        "专家层次": TIERS[i % 4],
        # Dates as Excel date cells, ISO text and Chinese text.
        "聘期开始": (datetime.combine(start, datetime.min.time()) if i % 3 == 0
                 else start.isoformat() if i % 3 == 1 else f"{start.year}年{start.month}月{start.day}日"),
        "聘期结束": add_years(start, 5) - timedelta(days=i % 2),
        "聘书编号": f"ZJ-2021-{i:04d}" if i % 50 == 0 else None,
    }
    return row


def wrong_check_digit(id_number: str) -> str:
    right = check_digit(id_number[:17])
    return id_number[:17] + next(c for c in "0123456789X" if c != right)


@dataclass
class Roster:
    rows: list[dict]
    expected: dict[int, str]  # Excel row number -> the one reason reported for it
    in_database: list[str]  # ID numbers already in the pool before the import


FAULTS = (
    *["check_digit"] * 8, *["unknown_domain"] * 8, *["duplicate_in_file"] * 5, *["duplicate_in_pool"] * 2,
    "missing_name", "missing_name", "missing_employer", "missing_employer", "missing_tier", "missing_tier",
    "missing_start", "impossible_date", "impossible_date", "impossible_date", "text_date", "text_date",
    "end_before_start", "end_before_start",
)


def build_roster(factory) -> Roster:
    """1,000 rows, 37 of them bad in the five ways the issue names."""
    assert len(FAULTS) == len(BAD_POSITIONS) == 37
    factory.organisation("江南大学", aliases=["江大"])
    factory.organisation("市规划设计研究院", type_="public_institution")
    factory.organisation("市发展和改革委员会", type_="government", system="发展改革")
    rows = [good_row(i) for i in range(ROWS)]
    expected: dict[int, str] = {}
    in_database: list[str] = []
    for position, fault in zip(BAD_POSITIONS, FAULTS):
        row, number = rows[position], position + 2
        if fault == "check_digit":
            row["身份证号"] = wrong_check_digit(row["身份证号"])
            expected[number] = "身份证号：身份证号校验码错误"
        elif fault == "unknown_domain":
            row["主领域"] = "量子玄学"
            expected[number] = "主领域：未知领域“量子玄学”"
        elif fault == "duplicate_in_file":
            row["身份证号"] = rows[position - 1]["身份证号"]
            expected[number] = f"身份证号：与第 {number - 1} 行的身份证号重复"
        elif fault == "duplicate_in_pool":
            in_database.append(row["身份证号"])
            expected[number] = "身份证号：该身份证号已在专家库中"
        elif fault.startswith("missing_"):
            column = {"missing_name": "姓名", "missing_employer": "工作单位", "missing_tier": "专家层次",
                      "missing_start": "聘期开始"}[fault]
            row[column] = None
            expected[number] = f"{column}：此项为必填"
        elif fault == "impossible_date":
            row["聘期开始"] = "2024-02-30"
            expected[number] = "聘期开始：日期格式应为 YYYY-MM-DD"
        elif fault == "text_date":
            row["聘期结束"] = "五年后"
            expected[number] = "聘期结束：日期格式应为 YYYY-MM-DD"
        elif fault == "end_before_start":
            row["聘期开始"], row["聘期结束"] = today() - timedelta(days=10), today() - timedelta(days=400)
            expected[number] = "聘期结束：聘期结束日期须晚于开始日期"
    for id_number in in_database:
        factory.expert(id_number=id_number, name="已在库")
    return Roster(rows, expected, in_database)


def workbook_bytes(rows: list[dict], headers: list[str] = HEADERS) -> bytes:
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.append([f"{h}*" if h in ("姓名", "身份证号") else h for h in headers])  # the template's marks are optional
    for row in rows:
        sheet.append([row.get(header) for header in headers])
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def read(content: bytes, app):
    return read_roster(content, max_rows=app.config["ROSTER_MAX_ROWS"],
                       max_unpacked_bytes=app.config["ROSTER_MAX_UNPACKED_BYTES"])


def counts() -> dict[str, int]:
    return {model.__name__: db.session.scalar(sa.select(sa.func.count()).select_from(model))
            for model in (Expert, Appointment, AuditEntry, SearchOutbox)}


def reported(report) -> dict[int, list[str]]:
    return {problem.row: list(problem.reasons) for problem in report.problems}


@pytest.fixture
def roster(factory) -> Roster:
    return build_roster(factory)


@pytest.fixture
def talent_office_user(factory):
    return factory.user("talent_office")


# ---------------------------------------------------------------- the 1,000-row roster


def test_dry_run_reports_each_of_the_37_bad_rows_by_number_and_reason_and_writes_nothing(app, roster,
                                                                                         talent_office_user):
    rows = read(workbook_bytes(roster.rows), app)
    before = counts()
    report = import_roster(talent_office_user, rows, dry_run=True, strict=False)
    assert (report.total, report.valid, report.importable) == (1000, 963, 963)
    assert reported(report) == {number: [reason] for number, reason in roster.expected.items()}
    db.session.commit()
    assert counts() == before


def test_import_loads_the_963_good_rows_as_appointed_searchable_experts(app, roster, talent_office_user):
    content = workbook_bytes(roster.rows)
    before = counts()
    report = import_roster(talent_office_user, read(content, app), dry_run=False, strict=False)
    db.session.commit()
    assert report.imported == 963
    assert reported(report) == {number: [reason] for number, reason in roster.expected.items()}
    after = counts()
    assert after["Expert"] - before["Expert"] == 963
    assert after["Appointment"] - before["Appointment"] == 963

    bad = {number - 2 for number in roster.expected}
    stored = {e.id_number_hash: e for e in db.session.execute(sa.select(Expert)).scalars()}
    for i, row in enumerate(roster.rows):
        if i in bad:
            continue
        expert = stored[keyed_hash(row["身份证号"])]
        appointment = expert.current_appointment
        assert expert.status is ExpertStatus.ACTIVE
        assert expert.name == row["姓名"] and expert.tier.name == row["专家层次"]
        assert expert.employer.name == ("江南大学" if row["工作单位"] == "江大" else row["工作单位"])
        assert expert.years_in_field == int(row["从业年限"])
        assert appointment.tier_id == expert.tier_id
        assert appointment.term_start == today() - timedelta(days=100 + i % 700)
        assert appointment.term_end == row["聘期结束"]
        if row["聘书编号"]:
            assert appointment.certificate_no == row["聘书编号"]
    # Spot checks of list columns.
    third = stored[keyed_hash(roster.rows[3]["身份证号"])]
    assert [a["title"] for a in third.achievements] == ["城市更新的理论与实践", "规划评估方法"]
    assert third.keywords == ["国土空间规划", "城市更新"]
    assert stored[keyed_hash(roster.rows[4]["身份证号"])].primary_domain.full_name == "环境资源/生态保护"

    # One audit entry for the import: counts and row numbers, no personal data.
    entries = db.session.execute(sa.select(AuditEntry).where(AuditEntry.action == "expert.import")).scalars().all()
    assert len(entries) == 1
    summary = entries[0].summary
    assert (summary["rows"], summary["imported"], summary["rejected"]) == (1000, 963, 37)
    assert summary["rejected_rows"] == sorted(roster.expected)
    logged = json.dumps([e.summary for e in db.session.execute(sa.select(AuditEntry)).scalars()], ensure_ascii=False)
    for row in roster.rows[:50]:
        assert row["身份证号"] not in logged
        assert not row["手机"] or row["手机"] not in logged

    # Searchable through the outbox like any expert created on the form.
    assert third.id in search_bridge.text_relevance("滨海湿地修复")


def test_strict_mode_imports_none_and_writes_nothing(app, roster, talent_office_user):
    before = counts()
    report = import_roster(talent_office_user, read(workbook_bytes(roster.rows), app), dry_run=False, strict=True)
    db.session.commit()
    assert report.refused and report.imported == 0 and report.importable == 0
    assert sorted(reported(report)) == sorted(roster.expected)
    assert counts() == before


def test_strict_mode_imports_a_clean_file_whole(app, factory, talent_office_user):
    factory.organisation("江南大学", aliases=["江大"])
    factory.organisation("市规划设计研究院", type_="public_institution")
    factory.organisation("市发展和改革委员会", type_="government", system="发展改革")
    report = import_roster(talent_office_user, read(workbook_bytes([good_row(i) for i in range(20)]), app),
                           dry_run=False, strict=True)
    db.session.commit()
    assert (report.imported, report.problems) == (20, [])


# ---------------------------------------------------------------- command line


def test_command_line_dry_run_strict_and_import(app, roster, runner, tmp_path):
    path = tmp_path / "名册.xlsx"
    path.write_bytes(workbook_bytes(roster.rows))
    before = counts()

    dry = runner.invoke(args=["experts", "import", str(path), "--dry-run"])
    assert dry.exit_code == 1  # rows were refused
    assert "共 1000 行：有效 963 行，错误 37 行。" in dry.output
    assert "试运行：可导入 963 行" in dry.output
    first_bad = min(roster.expected)
    assert f"第 {first_bad} 行：{roster.expected[first_bad]}" in dry.stderr
    # Row numbers and reasons only: no names or ID numbers on the terminal (cron logs).
    assert roster.rows[first_bad - 2]["身份证号"] not in dry.output
    assert roster.rows[first_bad - 2]["姓名"] not in dry.output

    strict = runner.invoke(args=["experts", "import", str(path), "--strict"])
    assert strict.exit_code == 1 and "严格模式：存在错误行，未导入任何记录" in strict.output
    db.session.expire_all()
    assert counts() == before

    loaded = runner.invoke(args=["experts", "import", str(path)])
    assert loaded.exit_code == 1 and "已导入 963 名专家" in loaded.output
    db.session.expire_all()
    assert counts()["Expert"] == before["Expert"] + 963

    # Importing the same file again finds every good row already in the pool.
    again = runner.invoke(args=["experts", "import", str(path), "--dry-run"])
    assert "有效 0 行，错误 1000 行" in again.output


def test_command_line_refuses_a_corrupt_file_cleanly(app, runner, tmp_path):
    path = tmp_path / "坏文件.xlsx"
    path.write_bytes(b"PK\x03\x04 this is no workbook")
    result = runner.invoke(args=["experts", "import", str(path)])
    assert result.exit_code == 1
    assert "不是有效的 Excel 文件" in result.stderr or "已损坏" in result.stderr
    assert result.exception is None or isinstance(result.exception, SystemExit)


# ---------------------------------------------------------------- reading files


def truncated_workbook() -> bytes:
    content = workbook_bytes([good_row(0)])
    return content[: len(content) // 2]


def zip_without_workbook() -> bytes:
    import zipfile

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("hello.txt", "不是工作簿")
    return buffer.getvalue()


def workbook_with_broken_sheet() -> bytes:
    import zipfile

    source = zipfile.ZipFile(io.BytesIO(workbook_bytes([good_row(0)])))
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for info in source.infolist():
            data = source.read(info.filename)
            if info.filename.startswith("xl/worksheets/"):
                data = data[: len(data) // 2]  # XML cut off mid-way
            archive.writestr(info, data)
    return buffer.getvalue()


@pytest.mark.parametrize("content, message", [
    (b"", "不是有效的 Excel 文件"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 100, "不是有效的 Excel 文件"),  # an old .xls
    ("姓名,身份证号\n张伟,1\n".encode(), "不是有效的 Excel 文件"),  # a CSV renamed
    (zip_without_workbook(), "不是有效的 Excel 文件"),
    (truncated_workbook(), "不是有效的 Excel 文件"),
    (workbook_with_broken_sheet(), "已损坏"),
    (workbook_bytes([], headers=["姓名", "备注"]), "缺少必填列：身份证号、工作单位"),
    (workbook_bytes([]), "没有可导入的数据行"),
    (workbook_bytes([good_row(0)], headers=[*HEADERS, "姓名"]), "表头有重复的列：姓名"),
], ids=["empty", "xls", "csv", "zip", "truncated", "broken-xml", "headers", "no-rows", "repeated-header"])
def test_bad_files_are_refused_with_a_reason(app, content, message):
    with pytest.raises(RosterFileError) as caught:
        read(content, app)
    assert message in str(caught.value)


def test_limits_on_rows_and_unpacked_size(app):
    content = workbook_bytes([good_row(i) for i in range(6)])
    assert len(read_roster(content, max_rows=6, max_unpacked_bytes=10**7)) == 6
    with pytest.raises(RosterFileError, match="数据超过 5 行"):
        read_roster(content, max_rows=5, max_unpacked_bytes=10**7)
    with pytest.raises(RosterFileError, match="解压后过大"):
        read_roster(content, max_rows=6, max_unpacked_bytes=2000)


def test_blank_rows_are_skipped_and_numbers_stay_those_excel_shows(app):
    content = workbook_bytes([good_row(0), {}, {}, good_row(1)])
    assert [row.number for row in read(content, app)] == [2, 5]



# ---------------------------------------------------------------- pages


def small_roster(factory, rows: int = 40) -> tuple[list[dict], dict[int, str]]:
    """A few bad rows among good ones, for the page tests."""
    factory.organisation("江南大学", aliases=["江大"])
    factory.organisation("市规划设计研究院", type_="public_institution")
    factory.organisation("市发展和改革委员会", type_="government", system="发展改革")
    data = [good_row(i) for i in range(rows)]
    data[5]["身份证号"] = wrong_check_digit(data[5]["身份证号"])
    data[9]["主领域"] = "量子玄学"
    data[20]["身份证号"] = data[2]["身份证号"]
    return data, {7: "身份证号：身份证号校验码错误", 11: "主领域：未知领域“量子玄学”",
                  22: "身份证号：与第 4 行的身份证号重复"}


def upload(client, content: bytes, filename: str = "名册.xlsx", strict: bool = False):
    page = client.get("/experts/roster")
    assert page.status_code == 200
    data = {"csrf_token": csrf_token_from(page.get_data(as_text=True)),
            "file": (io.BytesIO(content), filename)}
    if strict:
        data["strict"] = "on"
    return client.post("/experts/roster/check", data=data, content_type="multipart/form-data")


def problems_shown(response) -> dict[int, list[str]]:
    table = page_of(response).by_id("roster-problems")
    if table is None:
        return {}
    return {int(tr.get("data-row")): [li.clean_text for li in tr.find_all("li")]
            for tr in table.find("tbody").find_all("tr")}


def staged_files(app) -> list:
    from pathlib import Path

    return list((Path(app.instance_path) / "roster-uploads").glob("*.enc"))


def test_page_upload_dry_run_then_confirm_import(app, client, factory, login_as):
    login_as("talent_office")
    rows, expected = small_roster(factory)
    before = counts()

    checked = upload(client, workbook_bytes(rows))
    assert checked.status_code == 200, checked.get_data(as_text=True)[:500]
    assert problems_shown(checked) == {row: [reason] for row, reason in expected.items()}
    report = page_of(checked).by_id("roster-report")
    assert (report.get("data-total"), report.get("data-valid"), report.get("data-dry-run")) == ("40", "37", "true")
    db.session.expire_all()
    assert counts() == before  # the dry run wrote nothing
    # The staged upload is encrypted at rest: no ID number in the file on disk.
    [staged] = staged_files(app)
    assert rows[0]["身份证号"].encode() not in staged.read_bytes()

    confirm = page_of(checked).by_id("roster-confirm-form")
    assert "确认导入 37 名专家" in confirm.clean_text
    done = client.post(confirm.get("action"), data=form_data(confirm))
    assert done.status_code == 200
    result = page_of(done).by_id("roster-report")
    assert (result.get("data-imported"), result.get("data-dry-run")) == ("37", "false")
    assert "已导入 37 名专家" in page_of(done).by_id("roster-summary").clean_text
    assert problems_shown(done) == {row: [reason] for row, reason in expected.items()}
    db.session.expire_all()
    assert counts()["Expert"] == before["Expert"] + 37
    assert staged_files(app) == []

    # The same confirmation again imports nothing twice.
    again = client.post(confirm.get("action"), data=form_data(confirm))
    assert again.status_code == 400 and "已失效" in page_of(again).by_id("roster-file-error").clean_text
    db.session.expire_all()
    assert counts()["Expert"] == before["Expert"] + 37
    # The new experts are on the list page.
    listed = client.get("/experts", query_string={"per_page": 100})
    assert f"共 {37} 名专家" in page_of(listed).by_id("experts-total").clean_text


def test_page_strict_dry_run_offers_no_import(app, client, factory, login_as):
    login_as("talent_office")
    rows, expected = small_roster(factory)
    checked = upload(client, workbook_bytes(rows), strict=True)
    assert checked.status_code == 200
    assert sorted(problems_shown(checked)) == sorted(expected)
    page = page_of(checked)
    assert page.by_id("roster-confirm-form") is None
    assert "严格模式" in page.by_id("roster-refused").clean_text
    assert page.by_id("roster-strict").has("checked")
    assert staged_files(app) == []


def test_page_strict_import_of_a_clean_file(app, client, factory, login_as):
    login_as("talent_office")
    rows, _ = small_roster(factory)
    checked = upload(client, workbook_bytes(rows[:5]), strict=True)
    confirm = page_of(checked).by_id("roster-confirm-form")
    assert form_data(confirm)["strict"] == ["on"]
    done = client.post(confirm.get("action"), data=form_data(confirm))
    assert page_of(done).by_id("roster-report").get("data-imported") == "5"


@pytest.mark.parametrize("content, filename, status, message", [
    (b"\xd0\xcf\x11\xe0 old excel", "名册.xls", 422, "仅支持 .xlsx 格式"),
    (b"PK\x03\x04 garbage", "名册.xlsx", 422, "不是有效的 Excel 文件"),
    (b"", "名册.xlsx", 422, "不是有效的 Excel 文件"),
    (workbook_with_broken_sheet(), "名册.xlsx", 422, "已损坏"),
    (workbook_bytes([], headers=["姓名"]), "名册.XLSX", 422, "缺少必填列"),
], ids=["xls", "garbage", "empty", "broken-xml", "headers"])
def test_page_refuses_bad_files_with_a_message_never_a_500(app, client, login_as, content, filename, status,
                                                            message):
    login_as("talent_office")
    response = upload(client, content, filename)
    assert response.status_code == status
    assert message in page_of(response).by_id("roster-file-error").clean_text
    assert staged_files(app) == []


@pytest.mark.parametrize("size, status", [(20_000, 422), (200_000, 413)], ids=["over-limit", "over-request-limit"])
def test_page_refuses_a_file_over_the_size_limit(app, client, login_as, size, status):
    """Over ROSTER_MAX_BYTES the file is refused; far over it, the request is cut off before it is read."""
    import os

    login_as("talent_office")
    app.config["ROSTER_MAX_BYTES"] = 4096
    response = upload(client, os.urandom(size))
    assert response.status_code == status
    assert "上限" in page_of(response).by_id("roster-file-error").clean_text
    assert staged_files(app) == []


def test_page_needs_a_file_and_a_csrf_token(app, client, login_as):
    login_as("talent_office")
    response = upload(client, b"", filename="")
    assert response.status_code == 422 and "请选择" in page_of(response).by_id("roster-file-error").clean_text
    forged = client.post("/experts/roster/check", data={"file": (io.BytesIO(workbook_bytes([good_row(0)])), "a.xlsx")},
                         content_type="multipart/form-data")
    assert forged.status_code == 400 and staged_files(app) == []


def test_template_download_reads_back_as_the_import_columns(app, client, login_as):
    login_as("talent_office")
    response = client.get("/experts/roster/template")
    assert response.status_code == 200
    assert response.mimetype == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    assert "attachment" in response.headers["Content-Disposition"]
    workbook = openpyxl.load_workbook(io.BytesIO(response.data))
    sheet = workbook["专家名册"]
    headers = [cell.value for cell in sheet[1]]
    assert [h.rstrip("*") for h in headers] == HEADERS
    assert "身份证号*" in headers and "手机" in headers
    guide = "\n".join(str(c.value) for row in workbook["填写说明"].iter_rows() for c in row if c.value)
    assert "首席专家、核心专家、库员专家" in guide and "城乡建设/城乡规划" in guide
    # Filled in and uploaded, the template is read by the importer.
    sheet.append([good_row(0).get(h) for h in HEADERS])
    buffer = io.BytesIO()
    workbook.save(buffer)
    assert [row.number for row in read(buffer.getvalue(), app)] == [2]


# ---------------------------------------------------------------- export


def exported(response) -> list[dict]:
    assert response.status_code == 200, response.get_data(as_text=True)[:300]
    sheet = openpyxl.load_workbook(io.BytesIO(response.data), read_only=True).worksheets[0]
    rows = list(sheet.iter_rows(values_only=True))
    return [dict(zip(rows[0], row)) for row in rows[1:]]


@pytest.fixture
def pool(factory):
    employer = factory.organisation("江南大学", aliases=["江大"]).id
    return [factory.expert(name=name, employer_id=employer, tier_id=factory.tier_id(tier))
            for name, tier in (("张伟", "chief"), ("李娜", "core"), ("王芳", "general"))]


def post_export(client, **fields):
    token = csrf_token_from(client.get("/experts/roster").get_data(as_text=True))
    return client.post("/experts/roster/export", data={"csrf_token": token, **fields})


def test_export_holds_what_the_pages_show_with_masked_personal_data(app, client, login_as, pool):
    login_as("talent_office")
    rows = exported(post_export(client))
    listed = expert_rows(page_of(client.get("/experts")))
    assert [row["姓名"] for row in rows] == [name for _, name in listed]
    for (expert_id, _), row in zip(listed, rows):
        detail = page_of(client.get(f"/experts/{expert_id}"))
        terms = detail.by_id("expert-basic").find_all()
        basic = {dt.clean_text: dd.clean_text for dt, dd in zip(terms[::2], terms[1::2])}
        assert row["身份证号"] == detail.by_id("pii-id-number").clean_text
        assert row["手机"] == detail.by_id("pii-mobile").clean_text
        assert "*" in row["身份证号"] and "*" in row["手机"]
        assert (basic["出生日期"], basic["性别"], basic["政治面貌"]) == (
            row["出生日期"].date().isoformat(), row["性别"], row["政治面貌"])
        expert = db.session.get(Expert, expert_id)
        appointment = expert.current_appointment
        assert (row["工作单位"], row["专家层次"], row["主领域"], row["状态"]) == (
            "江南大学", expert.tier.name, expert.primary_domain.full_name, "在库")
        assert (row["聘期开始"].date(), row["聘期结束"].date(), row["聘书编号"]) == (
            appointment.term_start, appointment.term_end, appointment.certificate_no)
        assert row["关键词"] == "国土空间规划、城市更新" and row["论著"] == "城市更新的理论与实践"
    entry = db.session.execute(sa.select(AuditEntry).where(AuditEntry.action == "expert.export")).scalar_one()
    assert (entry.summary["count"], entry.summary["full_pii"]) == (3, False)


@pytest.mark.parametrize("role", ["talent_office", "auditor"])
def test_full_personal_data_only_on_request_and_audited(app, client, login_as, pool, role):
    login_as(role)
    rows = exported(post_export(client, full_pii="on"))
    by_name = {row["姓名"]: row for row in rows}
    from experts_service.core.crypto import decrypt_pii

    for expert in pool:
        assert by_name[expert.name]["身份证号"] == decrypt_pii(expert.id_number_enc)
        assert by_name[expert.name]["手机"] == decrypt_pii(expert.mobile_enc)
    entry = db.session.execute(sa.select(AuditEntry).where(AuditEntry.action == "expert.export")).scalar_one()
    assert entry.summary["full_pii"] is True
    assert decrypt_pii(pool[0].id_number_enc) not in json.dumps(entry.summary, ensure_ascii=False)


def test_export_from_the_list_keeps_its_filters(app, client, login_as, pool):
    login_as("talent_office")
    page = page_of(client.get("/experts", query_string={"q": "zw"}))
    form = page.by_id("list-export-form")
    rows = exported(client.post(form.get("action"), data=form_data(form)))
    assert [row["姓名"] for row in rows] == ["张伟"]


def test_an_exported_roster_reads_back_as_a_roster(app, client, login_as, pool):
    """The export has the import's columns: with full data every row passes but for being in the pool already."""
    login_as("talent_office")
    content = post_export(client, full_pii="on").data
    # Read back into the same pool, every row is already there.
    report = import_roster(None, read(content, app), dry_run=True, strict=False)
    assert report.total == len(report.problems) == 3
    assert {problem.reasons for problem in report.problems} == {("身份证号：该身份证号已在专家库中", "聘书编号：聘书编号已被使用")}


@pytest.mark.parametrize("role", ["department", "expert", "admin"])
def test_other_roles_can_neither_import_nor_export(app, client, login_as, role):
    login_as(role)
    assert client.get("/experts/roster").status_code == 403
    assert client.get("/experts/roster/template").status_code == 403
    token = csrf_token_from(client.get("/taxonomy").get_data(as_text=True))
    assert client.post("/experts/roster/export", data={"csrf_token": token}).status_code == 403
    response = client.post("/experts/roster/check", data={"csrf_token": token, "file": (
        io.BytesIO(workbook_bytes([good_row(0)])), "a.xlsx")}, content_type="multipart/form-data")
    assert response.status_code == 403


def test_odd_cells_are_reported_never_raised(app, factory, talent_office_user):
    """Whatever a spreadsheet holds, a row is refused with a reason, not an exception."""
    factory.organisation("江南大学", aliases=["江大"])
    rows = [good_row(i) for i in range(0, 32, 4)]  # every 4th: 江南大学 or its alias
    rows[0]["聘期开始"], rows[0]["聘期结束"] = "9998-01-01", "9999-12-31"  # would overflow adding a term
    rows[1]["身份证号"] = 3.30102197506150e17  # typed as a number, Excel keeps 15 digits
    rows[2]["姓名"] = "张伟2"
    rows[3]["个人简介"] = "长" * 6000
    rows[4]["人大代表"] = "也许"
    rows[5]["职称级别"] = "教授"
    rows[6]["从业年限"] = "二十"
    rows[7]["手机"] = datetime(2024, 1, 1)
    report = import_roster(talent_office_user, read(workbook_bytes(rows), app), dry_run=True, strict=False)
    shown = reported(report)
    assert shown == {
        2: ["聘期开始：聘期开始日期不能晚于今天"],
        3: ["身份证号：身份证号校验码错误"],
        4: ["姓名：姓名为 2–40 个汉字或字母"],
        5: ["个人简介：长度须在 0–5000 字之间"],
        6: ["人大代表：“也许”无效，须为 是、否 之一"],
        7: ["职称级别：“教授”无效，须为 正高、副高、中级、其他 之一"],
        8: ["从业年限：须为整数"],
        9: ["手机：手机号应为 11 位数字，以 1 开头"],
    }


# ---------------------------------------------------------------- API


def bearer(client, user) -> dict[str, str]:
    from tests.conftest import TEST_PASSWORD

    response = client.post("/api/v1/auth/token", json={"username": user.username, "password": TEST_PASSWORD})
    assert response.status_code == 201
    return {"Authorization": f"Bearer {response.get_json()['token']}"}


def api_upload(client, headers, content: bytes, **options):
    data = {"file": (io.BytesIO(content), "名册.xlsx"), **{key: str(value).lower() for key, value in options.items()}}
    return client.post("/api/v1/experts/roster/imports", data=data, headers=headers,
                       content_type="multipart/form-data")


def test_api_dry_run_by_default_then_import(app, client, factory, talent_office_user):
    headers = bearer(client, talent_office_user)
    rows, expected = small_roster(factory)
    before = counts()
    checked = api_upload(client, headers, workbook_bytes(rows))
    assert checked.status_code == 200, checked.get_data(as_text=True)
    body = checked.get_json()
    assert (body["dry_run"], body["total"], body["valid"], body["importable"], body["imported"]) == (True, 40, 37, 37, 0)
    assert {p["row"]: p["reasons"] for p in body["problems"]} == {row: [reason] for row, reason in expected.items()}
    db.session.expire_all()
    assert counts() == before  # a dry run writes nothing

    strict = api_upload(client, headers, workbook_bytes(rows), dry_run=False, strict=True).get_json()
    assert (strict["refused"], strict["imported"]) == (True, 0)
    db.session.expire_all()
    assert counts()["Expert"] == before["Expert"]

    done = api_upload(client, headers, workbook_bytes(rows), dry_run=False).get_json()
    assert (done["dry_run"], done["imported"], len(done["problems"])) == (False, 37, 3)
    db.session.expire_all()
    assert counts()["Expert"] == before["Expert"] + 37


def test_api_refuses_a_corrupt_file_with_the_error_envelope(app, client, talent_office_user):
    response = api_upload(client, bearer(client, talent_office_user), b"PK\x03\x04 not a workbook")
    assert response.status_code == 422
    error = response.get_json()["error"]
    assert error["code"] == "validation_error" and "不是有效的 Excel 文件" in error["fields"]["file"][0]


def test_api_template_and_export(app, client, pool, factory):
    auditor = factory.user("auditor")
    headers = bearer(client, auditor)
    assert client.get("/api/v1/experts/roster/template", headers=headers).status_code == 403
    masked = exported(client.post("/api/v1/experts/roster/export", json={"tier_id": factory.tier_id("chief")},
                                  headers=headers))
    assert [(row["姓名"], row["身份证号"]) for row in masked] == [("张伟", pool[0].id_number_masked)]
    full = exported(client.post("/api/v1/experts/roster/export", json={"full_pii": True}, headers=headers))
    from experts_service.core.crypto import decrypt_pii

    assert {row["身份证号"] for row in full} == {decrypt_pii(e.id_number_enc) for e in pool}
