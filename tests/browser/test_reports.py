"""The dashboard and the assessment report in headless Chromium: the server-drawn charts are there,
visible and hold bars; the workbook downloads; a department user is refused both pages."""
from __future__ import annotations

import pytest

from experts_service.core.auth import Role
from tests.reports.helpers import build_assessment, build_pool, pin_clock

pytestmark = pytest.mark.browser

DASHBOARD_CHARTS = ("pool-domain-tier", "ages", "employer-types", "political", "representation",
                    "engagements-month", "pending")
REPORT_CHARTS = ("assessment-grades", "assessment-domains-grades", "assessment-domains-scores",
                 "assessment-tiers-grades", "assessment-tiers-scores", "assessment-workload", "assessment-adoption")


@pytest.fixture
def data(app, factory):
    pin_clock(app)
    pool = build_pool(factory)
    build_assessment(factory, pool)
    return pool


def assert_charts_drawn(page, keys) -> None:
    for key in keys:
        chart = page.locator(f"svg#chart-{key}")
        assert chart.count() == 1, key
        chart.scroll_into_view_if_needed()
        assert chart.is_visible(), key
        box = chart.bounding_box()
        assert box and box["width"] > 100 and box["height"] > 50, (key, box)
        bars = chart.locator("rect.chart-bar")
        assert bars.count() >= 1, key
        bar_box = bars.first.bounding_box()
        assert bar_box and bar_box["width"] > 0 and bar_box["height"] > 0, (key, bar_box)
        assert chart.get_attribute("aria-label"), key
        # The same numbers are in a table beside it.
        section = page.locator(f"section.report-section:has(svg#chart-{key})")
        assert section.locator("table tbody tr").count() >= 1, key


def test_talent_office_sees_the_dashboard_and_the_report_with_charts(data, factory, as_user):
    office = factory.user(Role.TALENT_OFFICE)
    page = as_user(office.username)

    page.click("#main-nav a:text-is('工作台')")
    page.wait_for_url("**/dashboard")
    assert page.locator("h1").inner_text() == "专家库工作台"
    assert page.locator("[data-figure=pool] strong").inner_text() == "4"
    assert_charts_drawn(page, DASHBOARD_CHARTS)
    with page.expect_download() as download:
        page.click("#dashboard-xlsx")
    assert download.value.suggested_filename == "专家库工作台_2025-06-15.xlsx"

    page.click("#main-nav a:text-is('统计报表')")
    page.wait_for_url("**/reports")
    page.click("#cycles-table a:text-is('2024 年度')")
    page.wait_for_url("**/reports/assessment/2024")
    assert page.locator("#not-approved-banner").inner_text() == "考核结果尚未审定，以下为试算结果"
    assert page.locator("#main-nav a.active").inner_text() == "统计报表"
    assert_charts_drawn(page, REPORT_CHARTS)
    with page.expect_download() as download:
        page.click("#assessment-xlsx")
    assert download.value.suggested_filename == "2024年度专家考核统计.xlsx"
    # Nothing on the pages was refused by the content security policy (no inline script or style).
    assert page.evaluate("document.querySelectorAll('svg [style], svg script, svg style').length") == 0


def test_department_user_is_refused_both_pages(data, factory, as_user):
    department = factory.user(Role.DEPARTMENT, organisation_id=data.departments["development"].id)
    page = as_user(department.username)
    labels = [text.strip() for text in page.locator("#main-nav a").all_inner_texts()]
    assert "工作台" not in labels and "统计报表" not in labels
    for path in ("/dashboard", "/reports/assessment/2024"):
        response = page.goto(path)
        assert response.status == 403, path
        assert "无权" in page.inner_text("#error-page")
        assert page.locator("svg.chart").count() == 0
