"""The talent office's dashboard: each figure against a hand count of a small pool, over real HTTP."""
import io

import pytest
from openpyxl import load_workbook

from experts_service.reports.excel import COVER_SHEET
from tests.page_helpers import page_of
from tests.reports.helpers import assert_workbook_matches_page, build_pool, pin_clock, table_headers, table_rows


@pytest.fixture
def pool(app, factory):
    pin_clock(app)
    return build_pool(factory)


def test_dashboard_counts_the_pool_by_hand(client, login_as, pool):
    login_as("talent_office")
    response = client.get("/dashboard")
    assert response.status_code == 200
    page = page_of(response)
    assert table_rows(page, "summary") == [
        ["在库专家（人，含暂停资格）", "4"], ["其中暂停资格（人）", "1"],
        # 甲一 twice, 乙二 twice (July is fixed already), 戊五 once (exited since); cancelled and 2024 not counted.
        ["2025 年参与论证（人次）", "5"], ["2025 年参与论证的专家（人）", "3"],
    ]
    assert table_headers(page, "domain_tier") == ["领域", "首席专家", "核心专家", "库员专家", "合计"]
    rows = {row[0]: row[1:] for row in table_rows(page, "domain_tier")}
    assert rows["城乡建设"] == ["1", "1", "0", "2"]
    assert rows["社会管理"] == ["0", "0", "2", "2"]
    assert rows["财税金融"] == ["0", "0", "0", "0"]  # 戊五 exited
    assert rows["合计"] == ["1", "1", "2", "4"]
    assert len(rows) == 11  # ten first-level domains and the total
    assert table_rows(page, "ages") == [
        ["40 岁以下", "1", "25.0%"], ["40–49 岁", "1", "25.0%"],  # 乙二 turns 50 tomorrow
        ["50–59 岁", "1", "25.0%"], ["60 岁及以上", "1", "25.0%"], ["合计", "4", "100.0%"]]
    assert table_rows(page, "employer_types") == [
        ["党政机关", "1", "25.0%"], ["事业单位", "0", "0.0%"], ["高等院校", "2", "50.0%"], ["科研院所", "0", "0.0%"],
        ["企业", "1", "25.0%"], ["社会组织", "0", "0.0%"], ["合计", "4", "100.0%"]]
    assert table_rows(page, "political") == [
        ["中共党员", "1", "25.0%"], ["民主党派成员", "1", "25.0%"], ["无党派人士", "1", "25.0%"],
        ["群众", "1", "25.0%"], ["非中共人士小计", "3", "75.0%"], ["合计", "4", "100.0%"]]
    assert table_rows(page, "representation") == [
        ["人大代表", "2", "50.0%"], ["政协委员", "2", "50.0%"], ["人大代表或政协委员", "3", "75.0%"]]
    months = table_rows(page, "engagements")
    assert months[0] == ["1月", "1"] and months[1] == ["2月", "1"] and months[2] == ["3月", "2"]
    assert months[6] == ["7月", "1"] and months[-1] == ["合计", "5"]
    assert [row[1] for row in months[3:6] + months[7:12]] == ["0"] * 8
    assert table_rows(page, "pending") == [
        ["逾期未评价的论证参与", "1"], ["待续聘评审", "1"], ["待处理的诚信申诉", "1"]]


def test_dashboard_cards_link_to_the_pending_work(client, login_as, pool):
    login_as("talent_office")
    page = page_of(client.get("/dashboard"))
    figures = {card.get("data-figure"): card.find("strong").clean_text
               for card in page.by_id("dashboard-figures").find_all("div", cls="report-card")}
    assert figures == {"pool": "4", "engagements": "5", "overdue_ratings": "1", "due_renewals": "1",
                       "open_appeals": "1"}
    links = {a.get("data-link"): a.get("href") for a in page.by_id("dashboard-figures").find_all("a")}
    assert links["due_renewals"] == "/lifecycle/renewals"
    assert links["overdue_ratings"].startswith("/todo")
    # The appeals page belongs to the integrity pages; linked once it exists, a plain count until then.
    from flask import current_app

    assert ("open_appeals" in links) == ("integrity.appeals" in current_app.view_functions)


def test_dashboard_charts_are_inline_svg_with_the_numbers(client, login_as, pool):
    login_as("talent_office")
    page = page_of(client.get("/dashboard"))
    svgs = {svg.get("data-chart"): svg for svg in page.find_all("svg")}
    assert set(svgs) == {"pool-domain-tier", "ages", "employer-types", "political", "representation",
                         "engagements-month", "pending"}
    for key, svg in svgs.items():
        assert svg.get("role") == "img" and svg.get("aria-label"), key
        assert svg.find("title") is not None and svg.find("desc") is not None, key
        assert svg.find_all("rect", cls="chart-bar"), key
    # The months chart: one bar per month with engagements.
    bars = svgs["engagements-month"].find_all("rect", cls="chart-bar")
    assert [(bar.get("data-category"), bar.get("data-value")) for bar in bars] == [
        ("1月", "1"), ("2月", "1"), ("3月", "2"), ("7月", "1")]
    # Stacked by tier: 城乡建设 has a chief and a core bar.
    stacked = [(bar.get("data-category"), bar.get("data-series"))
               for bar in svgs["pool-domain-tier"].find_all("rect", cls="chart-bar")]
    assert stacked == [("社会管理", "库员专家"), ("城乡建设", "首席专家"), ("城乡建设", "核心专家")]


def test_dashboard_workbook_holds_the_numbers_of_the_page(client, login_as, pool):
    login_as("talent_office")
    page = page_of(client.get("/dashboard"))
    response = client.get("/dashboard.xlsx")
    assert response.status_code == 200
    assert response.mimetype == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    disposition = response.headers["Content-Disposition"]
    assert disposition.startswith('attachment; filename="experts-dashboard-2025-06-15.xlsx"')
    assert "filename*=UTF-8''%E4%B8%93%E5%AE%B6%E5%BA%93%E5%B7%A5%E4%BD%9C%E5%8F%B0_2025-06-15.xlsx" in disposition
    workbook = load_workbook(io.BytesIO(response.data))
    assert workbook.sheetnames[0] == COVER_SHEET
    assert assert_workbook_matches_page(page, workbook) == len(workbook.sheetnames) - 1 == 8
    # Numbers stay numbers.
    assert workbook["年龄结构"]["C3"].value == 0.25 and workbook["年龄结构"]["B3"].value == 1


def test_empty_pool_shows_zeros_and_empty_charts(client, login_as, app):
    pin_clock(app)
    login_as("talent_office")
    response = client.get("/dashboard")
    assert response.status_code == 200
    page = page_of(response)
    assert table_rows(page, "ages")[-1] == ["合计", "0", "—"]
    for svg in page.find_all("svg"):
        assert svg.get("data-bars") == "0" and "暂无数据" in svg.clean_text
    workbook = load_workbook(io.BytesIO(client.get("/dashboard.xlsx").data))
    assert_workbook_matches_page(page, workbook)


@pytest.mark.parametrize("role", ["department", "expert", "auditor", "admin"])
def test_only_the_talent_office_opens_the_dashboard(client, login_as, role):
    login_as(role)
    for path in ("/dashboard", "/dashboard.xlsx"):
        response = client.get(path)
        assert response.status_code == 403, path
        assert "无权" in response.get_data(as_text=True)


def test_anonymous_visitor_is_sent_to_sign_in(client):
    response = client.get("/dashboard")
    assert response.status_code == 302 and response.headers["Location"].startswith("/login")
