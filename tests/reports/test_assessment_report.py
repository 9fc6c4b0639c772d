"""The annual assessment report: each table against a hand count of five results and seven opinions."""
import io

import pytest
from openpyxl import load_workbook

from experts_service.assessment.models import CycleStatus
from experts_service.reports.assessment_report import NOT_APPROVED
from tests.page_helpers import page_of
from tests.reports.helpers import (
    assert_workbook_matches_page,
    build_assessment,
    build_pool,
    pin_clock,
    table_headers,
    table_rows,
)


@pytest.fixture
def pool(app, factory):
    pin_clock(app)
    return build_pool(factory)


@pytest.fixture
def cycle(factory, pool):
    return build_assessment(factory, pool)


def test_report_numbers_by_hand(client, login_as, cycle):
    login_as("talent_office")
    response = client.get("/reports/assessment/2024")
    assert response.status_code == 200
    page = page_of(response)
    assert page.by_id("not-approved-banner").clean_text == NOT_APPROVED == "考核结果尚未审定，以下为试算结果"
    assert table_rows(page, "summary") == [
        ["考核状态", "考核中"], ["参加考核专家（人）", "5"],
        ["平均总分", "72.80"],  # (80 + 91 + 76 adjusted + 55 + 62) / 5
        ["有部门评价的专家（人）", "3"], ["部门评价平均分", "70.83"],  # (92.5 + 70 + 50) / 3
        ["一票否决（人）", "1"], ["经调整总分（人）", "1"], ["全年未参与论证（人）", "2"],
        ["人均参与论证（次）", "2.80"], ["最多参与论证（次）", "10"]]
    assert table_rows(page, "grades") == [
        ["优秀", "1", "20.0%"], ["合格", "2", "40.0%"], ["基本合格", "1", "20.0%"], ["不合格", "1", "20.0%"],
        ["合计", "5", "100.0%"]]
    assert table_headers(page, "domains") == ["领域", "优秀", "合格", "基本合格", "不合格", "合计", "平均总分",
                                              "部门评价平均分"]
    assert table_rows(page, "domains") == [
        ["社会管理", "0", "1", "0", "1", "2", "65.50", "60.00"],
        ["城乡建设", "1", "1", "0", "0", "2", "85.50", "92.50"],
        ["财税金融", "0", "0", "1", "0", "1", "62.00", "—"],
        ["合计", "1", "2", "1", "1", "5", "72.80", "70.83"]]
    assert table_rows(page, "tiers") == [
        ["首席专家", "0", "1", "0", "0", "1", "80.00", "—"],
        ["核心专家", "1", "0", "0", "0", "1", "91.00", "92.50"],
        ["库员专家", "0", "1", "0", "1", "2", "65.50", "60.00"],
        ["未定层次", "0", "0", "1", "0", "1", "62.00", "—"],
        ["合计", "1", "2", "1", "1", "5", "72.80", "70.83"]]
    assert table_rows(page, "never_engaged") == [
        ["甲一", "城乡建设/城乡规划", "首席专家", "80.00", "合格"],
        ["戊五", "财税金融/财政预算", "未定层次", "62.00", "基本合格"]]
    assert table_rows(page, "workload") == [
        ["0 次", "2", "40.0%"], ["1 次", "1", "20.0%"], ["2 次", "0", "0.0%"], ["3–5 次", "1", "20.0%"],
        ["6–9 次", "0", "0.0%"], ["10 次及以上", "1", "20.0%"], ["合计", "5", "100.0%"]]
    assert table_headers(page, "adoption") == ["承办部门", "提交意见（份）", "采纳", "部分采纳", "未采纳", "尚未反馈",
                                               "采纳率", "部分采纳率", "未采纳率"]
    # The opinion signed at 00:30 on 1 January (Shanghai) counts for 2024, the one a year later does not;
    # the draft is not an opinion yet.
    assert table_rows(page, "adoption") == [
        ["市发展和改革委员会", "3", "1", "1", "0", "1", "33.3%", "33.3%", "0.0%"],
        ["市财政局", "2", "1", "0", "1", "0", "50.0%", "0.0%", "50.0%"],
        ["合计", "5", "2", "1", "1", "1", "40.0%", "20.0%", "20.0%"]]


def test_report_charts(client, login_as, cycle):
    login_as("auditor")
    page = page_of(client.get("/reports/assessment/2024"))
    svgs = {svg.get("data-chart"): svg for svg in page.find_all("svg")}
    assert set(svgs) == {"assessment-grades", "assessment-domains-grades", "assessment-domains-scores",
                         "assessment-tiers-grades", "assessment-tiers-scores", "assessment-workload",
                         "assessment-adoption"}
    grades = svgs["assessment-grades"].find_all("rect", cls="chart-bar")
    assert [(bar.get("data-category"), bar.get("data-value")) for bar in grades] == [
        ("优秀", "1"), ("合格", "2"), ("基本合格", "1"), ("不合格", "1")]
    # Each grade keeps its colour: four bars, four fills.
    assert len({bar.get("fill") for bar in grades}) == 4
    scores = svgs["assessment-domains-scores"].find_all("rect", cls="chart-bar")
    # 财税金融 has no rating: one bar fewer.
    assert [(bar.get("data-category"), bar.get("data-series"), bar.get("data-value")) for bar in scores][-1] == (
        "财税金融", "平均总分", "62.00")
    assert len(scores) == 5


def test_approved_cycle_has_no_banner(client, login_as, factory, pool):
    build_assessment(factory, pool, status=CycleStatus.APPROVED)
    login_as("talent_office")
    page = page_of(client.get("/reports/assessment/2024"))
    assert page.by_id("not-approved-banner") is None
    assert table_rows(page, "summary")[0] == ["考核状态", "已审定"]
    workbook = load_workbook(io.BytesIO(client.get("/reports/assessment/2024.xlsx").data))
    assert NOT_APPROVED not in [cell.value for row in workbook["说明"].iter_rows() for cell in row]


def test_report_workbook_holds_the_numbers_of_the_page(client, login_as, cycle):
    login_as("auditor")
    page = page_of(client.get("/reports/assessment/2024"))
    response = client.get("/reports/assessment/2024.xlsx")
    assert response.status_code == 200
    assert response.mimetype == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    disposition = response.headers["Content-Disposition"]
    assert disposition.startswith('attachment; filename="assessment-report-2024.xlsx"; filename*=UTF-8\'\'2024')
    assert "%E5%B9%B4%E5%BA%A6" in disposition  # 年度
    workbook = load_workbook(io.BytesIO(response.data))
    assert assert_workbook_matches_page(page, workbook) == len(workbook.sheetnames) - 1 == 7
    cover = {row[0].value: row[1].value for row in workbook["说明"].iter_rows(min_row=3) if row[0].value}
    assert cover["考核年度"] == "2024" and cover["说明"] == NOT_APPROVED
    assert workbook["分领域结果"]["G3"].value == 65.5 and workbook["分领域结果"]["G3"].number_format == "0.00"


def test_cycle_without_results_is_an_empty_report(client, login_as, app):
    from experts_service.assessment.models import AssessmentCycle
    from experts_service.extensions import db

    pin_clock(app)
    db.session.add(AssessmentCycle(year=2025, status=CycleStatus.OPEN))
    db.session.commit()
    login_as("talent_office")
    response = client.get("/reports/assessment/2025")
    assert response.status_code == 200
    page = page_of(response)
    assert page.by_id("no-results") is not None
    assert table_rows(page, "grades")[-1] == ["合计", "0", "—"]
    assert table_rows(page, "never_engaged") == []
    assert_workbook_matches_page(page, load_workbook(io.BytesIO(client.get("/reports/assessment/2025.xlsx").data)))


def test_index_lists_the_cycles(client, login_as, cycle):
    login_as("auditor")
    page = page_of(client.get("/reports"))
    rows = page.by_id("cycles-table").find("tbody").find_all("tr")
    assert [(row.get("data-year"), row.find_all("td")[1].clean_text) for row in rows] == [("2024", "5")]
    assert page.find("a", href="/reports/assessment/2024") is not None


@pytest.mark.parametrize("path", ["/reports/assessment/2023", "/reports/assessment/2023.xlsx",
                                  "/reports/assessment/0", "/reports/assessment/1",
                                  "/reports/assessment/99999999999999999999999999",
                                  "/reports/assessment/9999.xlsx", "/reports/assessment/abc",
                                  "/reports/assessment/-5", "/reports/assessment/2024.5"])
def test_bad_year_is_a_404_with_a_chinese_message(client, login_as, cycle, path):
    login_as("talent_office")
    response = client.get(path)
    assert response.status_code == 404
    text = response.get_data(as_text=True)
    assert "不存在" in text or "尚未开展" in text or "年份无效" in text


def test_missing_year_names_the_year(client, login_as, cycle):
    login_as("talent_office")
    page = page_of(client.get("/reports/assessment/2023"))
    assert page.by_id("error-page").find("h1").clean_text == "2023 年度尚未开展专家考核，没有考核统计"


@pytest.mark.parametrize("role", ["department", "expert", "admin"])
@pytest.mark.parametrize("path", ["/reports", "/reports/assessment/2024", "/reports/assessment/2024.xlsx",
                                  "/reports/assessment/2023"])
def test_report_is_refused_to_other_roles(client, login_as, cycle, role, path):
    login_as(role)
    response = client.get(path)
    assert response.status_code == 403
    assert "无权" in response.get_data(as_text=True)


def test_report_reads_a_cycle_computed_by_the_assessment(client, login_as, factory, pool):
    """Through the assessment's own operations: the report counts what compute() graded."""
    from collections import Counter

    from experts_service.assessment import operations
    from experts_service.assessment.models import GRADE_ORDER
    from experts_service.extensions import db

    office = factory.user("talent_office")
    cycle = operations.open_cycle(office, 2025)
    db.session.commit()
    results = list(cycle.results)
    assert results  # the pool was appointed this year
    login_as("auditor")
    response = client.get("/reports/assessment/2025")
    assert response.status_code == 200
    page = page_of(response)
    assert page.by_id("not-approved-banner") is not None
    assert table_rows(page, "summary")[1] == ["参加考核专家（人）", str(len(results))]
    grades = Counter(r.grade for r in results)
    assert [row[1] for row in table_rows(page, "grades")] == [str(grades[g]) for g in GRADE_ORDER] + [
        str(len(results))]
    assert_workbook_matches_page(page, load_workbook(io.BytesIO(client.get("/reports/assessment/2025.xlsx").data)))
