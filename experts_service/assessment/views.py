"""Annual assessment pages: the cycles, one year's results with the office's actions (compute, adjust,
审定 with a confirmation step), one result's explanation, and the expert's own self-assessment and results.

Bad input re-renders the form with field messages (422); a refusal by the rules (a frozen cycle, appeals
still waiting) comes back as a flash.
"""
from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user

from experts_service.assessment import operations
from experts_service.assessment.models import GRADE_ORDER, CycleStatus, Outcome
from experts_service.assessment.schemas import (
    FIRST_YEAR,
    LAST_YEAR,
    AdjustmentInputSchema,
    ApprovalInputSchema,
    CycleOpenSchema,
    SelfAssessmentInputSchema,
)
from experts_service.core.auth import Role, can, requires
from experts_service.core.clock import today
from experts_service.core.errors import ServiceError, ValidationFailed
from experts_service.core.forms import CsrfOnlyForm, load_or_errors, optional_int
from experts_service.core.transaction import commit
from experts_service.extensions import db

blueprint = Blueprint("assessment", __name__)

EXPIRED = "页面已过期，请刷新后重试"
# The outcomes listed after approval, in the order the page shows them.
LISTED_OUTCOMES = (Outcome.DISMISSAL, Outcome.REMINDER, Outcome.PROMOTION_ELIGIBLE)


def _errors_of(error: ValidationFailed) -> dict:
    return dict(error.fields) if error.fields else {"_schema": [error.page_message]}


def _cycle(year: int):
    # Any digits match <int:year>; a number no column can hold names no cycle (and must not reach the query).
    if not FIRST_YEAR <= year <= LAST_YEAR:
        abort(404)
    return operations.get_cycle(current_user, year)


def _expert_goes_to_own_page():
    return redirect(url_for("assessment.mine"))


# ---------------------------------------------------------------- cycles


@blueprint.get("/assessment")
@requires("assessment.read")
def cycles():
    if current_user.role is Role.EXPERT:
        return _expert_goes_to_own_page()
    return _render_cycles()


def _render_cycles(values: dict | None = None, errors: dict | None = None, status: int = 200):
    return render_template("assessment/cycles.html", cycles=operations.cycles(current_user), form=CsrfOnlyForm(),
                           can_manage=can(current_user, "assessment.manage"), this_year=today().year,
                           values=values or {}, errors=errors or {}), status


@blueprint.post("/assessment")
@requires("assessment.manage")
def open_cycle():
    raw = request.form.get("year", "").strip()
    values = {"year": raw}
    if not CsrfOnlyForm().validate_on_submit():
        return _render_cycles(values, {"_schema": [EXPIRED]}, 400)
    data, errors = load_or_errors(CycleOpenSchema(), {"year": optional_int(raw)} if raw else {})
    if errors:
        return _render_cycles(values, errors, 422)
    try:
        cycle = operations.open_cycle(current_user, data["year"])
        commit()
    except ValidationFailed as error:
        db.session.rollback()
        return _render_cycles(values, _errors_of(error), 422)
    except ServiceError as error:
        db.session.rollback()
        flash(error.page_message, "danger")
        return redirect(url_for("assessment.cycles"))
    flash(f"{cycle.year} 年度考核已开启：{len(cycle.results)} 位专家纳入考核（试算结果），已通知专家提交自评",
          "success")
    return redirect(url_for("assessment.cycle", year=cycle.year))


def _render_cycle(cycle, values: dict | None = None, errors: dict | None = None, status: int = 200):
    results = operations.results_of(current_user, cycle)
    return render_template(
        "assessment/cycle.html", cycle=cycle, results=results, form=CsrfOnlyForm(), values=values or {},
        errors=errors or {}, open=cycle.status is CycleStatus.OPEN, grades=GRADE_ORDER,
        can_manage=can(current_user, "assessment.manage") and cycle.status is CycleStatus.OPEN,
        listed=[(outcome, [r for r in results if r.outcome is outcome]) for outcome in LISTED_OUTCOMES],
    ), status


@blueprint.get("/assessment/<int:year>")
@requires("assessment.read")
def cycle(year: int):
    if current_user.role is Role.EXPERT:
        return _expert_goes_to_own_page()
    return _render_cycle(_cycle(year))


def _back_to(cycle_year: int) -> str:
    return url_for("assessment.cycle", year=cycle_year)


@blueprint.post("/assessment/<int:year>/compute")
@requires("assessment.manage")
def compute(year: int):
    cycle = _cycle(year)
    if not CsrfOnlyForm().validate_on_submit():
        flash(EXPIRED, "danger")
        return redirect(_back_to(year))
    try:
        results = operations.compute(current_user, cycle)
        commit()
    except ServiceError as error:
        db.session.rollback()
        flash(error.page_message, "danger")
        return redirect(_back_to(year))
    flash(f"已按当前记录重新计算 {len(results)} 位专家的考核结果", "success")
    return redirect(_back_to(year))


@blueprint.post("/assessment/<int:year>/approve")
@requires("assessment.manage")
def approve(year: int):
    """Two steps: the first post shows what approval will do; the second (confirmed=yes) approves."""
    cycle = _cycle(year)
    note = request.form.get("note", "")
    if not CsrfOnlyForm().validate_on_submit():
        return _render_cycle(cycle, {"note": note}, {"_schema": [EXPIRED]}, 400)
    data, errors = load_or_errors(ApprovalInputSchema(), {"note": note})
    if errors:
        return _render_cycle(cycle, {"note": note}, {"approve": errors}, 422)
    if request.form.get("confirmed") != "yes" and cycle.status is CycleStatus.OPEN:
        results = operations.results_of(current_user, cycle)
        return render_template("assessment/approve.html", cycle=cycle, note=data["note"], form=CsrfOnlyForm(),
                               listed=[(o, [r for r in results if r.outcome is o]) for o in LISTED_OUTCOMES],
                               total=len(results))
    try:
        approval = operations.approve(current_user, cycle, data["note"])
        commit()
    except ValidationFailed as error:
        db.session.rollback()
        return _render_cycle(cycle, {"note": note}, {"approve": _errors_of(error)}, 422)
    except ServiceError as error:
        db.session.rollback()
        flash(error.page_message, "danger")
        return redirect(_back_to(year))
    flash(f"{year} 年度考核已审定：解聘 {len(approval.dismissed)} 人，书面提醒 {len(approval.reminded)} 人，"
          f"符合晋升条件 {len(approval.promotable)} 人；已通知每位专家", "success")
    return redirect(_back_to(year))


# ---------------------------------------------------------------- one result


def _result_in(year: int, result_id: int, permission: str = "assessment.read"):
    result = operations.get_result(current_user, result_id, permission)
    if result.cycle.year != year:
        abort(404)
    return result


def _render_result(result, values: dict | None = None, errors: dict | None = None, status: int = 200):
    return render_template(
        "assessment/result.html", result=result, cycle=result.cycle, form=CsrfOnlyForm(), values=values or {},
        errors=errors or {},
        can_manage=can(current_user, "assessment.manage") and result.cycle.status is CycleStatus.OPEN,
        staff=current_user.role is not Role.EXPERT,
    ), status


@blueprint.get("/assessment/<int:year>/results/<id:result_id>")
@requires("assessment.read")
def result(year: int, result_id: int):
    return _render_result(_result_in(year, result_id))


@blueprint.post("/assessment/<int:year>/results/<id:result_id>/adjust")
@requires("assessment.manage")
def adjust(year: int, result_id: int):
    record = _result_in(year, result_id, "assessment.manage")
    back = url_for("assessment.result", year=year, result_id=record.id)
    clearing = request.form.get("action") == "clear"
    values = {"total": request.form.get("total", "").strip(), "reason": request.form.get("reason", "")}
    if not CsrfOnlyForm().validate_on_submit():
        flash(EXPIRED, "danger")
        return redirect(back)
    payload = {"reason": values["reason"]}
    if clearing:
        payload["total"] = None
    elif values["total"]:
        payload["total"] = values["total"]
    data, errors = load_or_errors(AdjustmentInputSchema(), payload)
    if "total" in errors and not values["total"] and not clearing:
        errors["total"] = ["请填写调整后得分（0—100）"]
    if errors:
        return _render_result(record, values, errors, 422)
    try:
        operations.adjust(current_user, record, data["total"], data["reason"])
        commit()
    except ValidationFailed as error:
        db.session.rollback()
        return _render_result(record, values, _errors_of(error), 422)
    except ServiceError as error:
        db.session.rollback()
        flash(error.page_message, "danger")
        return redirect(back)
    flash("已取消调整，恢复计算得分" if clearing else f"已调整为 {record.final_total} 分（{record.grade.label}）",
          "success")
    return redirect(back)


# ---------------------------------------------------------------- the expert's own


def _render_mine(values: dict | None = None, errors: dict | None = None, status: int = 200):
    current = next((c for c in operations.cycles(current_user) if c.status is CycleStatus.OPEN), None)
    own = operations.self_assessment_of(current, current_user.expert_id) if current else None
    provisional = operations.results_of(current_user, current) if current else []
    past = [r for r in operations.own_results(current_user) if r.cycle.status is CycleStatus.APPROVED]
    if values is None:
        values = {"score": str(own.score), "summary": own.summary} if own else {}
    return render_template("assessment/mine.html", current=current, own=own,
                           provisional=provisional[0] if provisional else None, past=past, form=CsrfOnlyForm(),
                           values=values, errors=errors or {}), status


@blueprint.get("/my/assessment")
@requires("assessment.self_assess")
def mine():
    return _render_mine()


@blueprint.post("/my/assessment")
@requires("assessment.self_assess")
def submit_self_assessment():
    values = {"score": request.form.get("score", "").strip(), "summary": request.form.get("summary", "")}
    year = optional_int(request.form.get("year"))
    if not CsrfOnlyForm().validate_on_submit():
        return _render_mine(values, {"_schema": [EXPIRED]}, 400)
    if not isinstance(year, int):
        flash("当前没有进行中的年度考核", "warning")
        return redirect(url_for("assessment.mine"))
    # The year the form was shown for: approval in between is refused, never applied to another year.
    cycle = _cycle(year)
    payload = {"summary": values["summary"]}
    if values["score"]:
        payload["score"] = optional_int(values["score"])
    data, errors = load_or_errors(SelfAssessmentInputSchema(), payload)
    if errors:
        return _render_mine(values, errors, 422)
    try:
        operations.submit_self_assessment(current_user, cycle, data)
        commit()
    except ValidationFailed as error:
        db.session.rollback()
        return _render_mine(values, _errors_of(error), 422)
    except ServiceError as error:
        db.session.rollback()
        flash(error.page_message, "danger")
        return redirect(url_for("assessment.mine"))
    flash(f"{year} 年度自评已保存，审定前可修改", "success")
    return redirect(url_for("assessment.mine"))
