"""Pages: the talent office's dashboard, the statistics index and the annual assessment report, each
with its Excel workbook. Every figure comes from one query function whose result both formats share."""
from __future__ import annotations

from flask import Blueprint, Response, current_app, render_template, url_for
from flask_login import current_user

from experts_service.core.auth import can, requires
from experts_service.experts.roster_excel import XLSX_MIMETYPE
from experts_service.reports import charts, excel
from experts_service.reports.assessment_report import assessment_report, list_cycles
from experts_service.reports.dashboard import dashboard as dashboard_data
from experts_service.reports.tables import display, is_number

blueprint = Blueprint("reports", __name__)

# Where the dashboard's pending work is handled; a page that does not exist (yet) shows a plain count.
PENDING_LINKS = {
    "overdue_ratings": ("todo.index", {"_anchor": "todo-ratings_overdue"}),
    "due_renewals": ("lifecycle.renewals", {}),
    "open_appeals": ("integrity.appeals", {}),
}


def _link(endpoint: str, **values) -> str | None:
    if endpoint not in current_app.view_functions:
        return None
    return url_for(endpoint, **values)


def _render(template: str, report, **context):
    return render_template(template, report=report, sheets=excel.sheet_names(report.sections), chart_svg=charts.render,
                           cell=display, is_number=is_number, **context)


def _workbook(report) -> Response:
    content = excel.workbook_bytes(report.title, report.about(), report.sections)
    return Response(content, mimetype=XLSX_MIMETYPE,
                    headers={"Content-Disposition": excel.content_disposition(report.filename,
                                                                              report.ascii_filename)})


@blueprint.get("/dashboard")
@requires("dashboard.read")
def dashboard():
    report = dashboard_data(current_user)
    links = {key: _link(endpoint, **values) for key, (endpoint, values) in PENDING_LINKS.items()}
    return _render("reports/dashboard.html", report, links=links,
                   reports_link=_link("reports.index") if can(current_user, "statistics.read") else None)


@blueprint.get("/dashboard.xlsx")
@requires("dashboard.read")
def dashboard_xlsx():
    return _workbook(dashboard_data(current_user))


@blueprint.get("/reports")
@requires("statistics.read")
def index():
    return render_template("reports/index.html", cycles=list_cycles(current_user),
                           dashboard_link=_link("reports.dashboard") if can(current_user, "dashboard.read") else None)


@blueprint.get("/reports/assessment/<int:year>")
@requires("statistics.read")
def assessment(year: int):
    return _render("reports/assessment.html", assessment_report(current_user, year))


@blueprint.get("/reports/assessment/<int:year>.xlsx")
@requires("statistics.read")
def assessment_xlsx(year: int):
    return _workbook(assessment_report(current_user, year))
