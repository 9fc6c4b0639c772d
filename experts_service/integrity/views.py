"""Integrity pages: the expert's own records with their appeal forms, one record's detail, the talent
office's list of records, one expert's records with the form to record a new one, and the appeal queue.

Bad input re-renders the page with the messages beside the form it came from (422); a refusal by the
rules (409: already appealed, appeal window over, record no longer standing) comes back as a flash.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_login import current_user

from experts_service.core.auth import Role, can, requires
from experts_service.core.errors import ServiceError, ValidationFailed
from experts_service.core.forms import CsrfOnlyForm, load_or_errors, query_or_defaults
from experts_service.core.transaction import commit
from experts_service.experts.operations import get_expert
from experts_service.extensions import db
from experts_service.integrity import operations
from experts_service.integrity.models import (
    MANUAL_KINDS,
    AppealStatus,
    EventKind,
    EventSource,
    EventStatus,
)
from experts_service.integrity.schemas import (
    APPEAL_FILTERS,
    AppealDecisionSchema,
    AppealInputSchema,
    EventInputSchema,
    EventListQuerySchema,
    WithdrawInputSchema,
)
from experts_service.lifecycle import documents

blueprint = Blueprint("integrity", __name__)

EXPIRED = "页面已过期，请刷新后重试"
EVENT_FIELDS = ("kind", "occurred_on", "description", "panel_request_id")


def _errors_of(error: ValidationFailed) -> dict:
    return dict(error.fields) if error.fields else {"_schema": [error.page_message]}


def _loaded(schema, payload: dict) -> dict:
    data, errors = load_or_errors(schema, payload)
    if errors:
        raise ValidationFailed(fields=errors)
    return data


def _attempt(step, rerender, back: str, done: str):
    """Run one operation from a page form: field errors re-render, refusals flash, success flashes."""
    if not CsrfOnlyForm().validate_on_submit():
        flash(EXPIRED, "danger")
        return redirect(back)
    try:
        message = step() or done
        commit()
    except ValidationFailed as error:
        db.session.rollback()
        return rerender(_errors_of(error))
    except ServiceError as error:
        db.session.rollback()
        flash(error.page_message, "danger")
        return redirect(back)
    flash(message, "success")
    return redirect(back)


def _upload_limit_kb() -> int:
    return documents.MAX_DOCUMENT_BYTES // 1000


# ---------------------------------------------------------------- the expert's own records


@blueprint.get("/my/integrity")
@requires("integrity.appeal")
def mine():
    return _render_mine()


def _render_mine(errors: dict | None = None, values: dict | None = None, status: int = 200):
    """`errors`/`values`: the appeal form of one event, by event id."""
    expert = get_expert(current_user, current_user.expert_id, "integrity.read")
    return render_template("integrity/mine.html", expert=expert, events=operations.events_of(current_user, expert),
                           sanctions=operations.sanctions_of(current_user, expert), appeal_open=operations.appealable,
                           form=CsrfOnlyForm(), errors=errors or {}, values=values or {}), status


@blueprint.post("/integrity/events/<id:event_id>/appeal")
@requires("integrity.appeal")
def appeal(event_id: int):
    event = operations.get_event(current_user, event_id, "integrity.appeal")
    reason = request.form.get("reason", "")
    from_event = request.form.get("back") == "event"
    back = url_for("integrity.event", event_id=event.id) if from_event else url_for("integrity.mine")

    def rerender(errors: dict):
        if from_event:
            return _render_event(event, {"appeal": errors}, {"appeal_reason": reason}, 422)
        return _render_mine({event.id: errors}, {event.id: reason}, 422)

    def step():
        data = _loaded(AppealInputSchema(), {"reason": reason})
        operations.file_appeal(current_user, event, data["reason"])

    return _attempt(step, rerender, back, "申诉已提交，人才工作部门处理后将通知您")


# ---------------------------------------------------------------- one record


@dataclass(frozen=True)
class Step:
    at: datetime
    what: str
    detail: str = ""


def _history(event) -> list[Step]:
    """The record's course, from its own rows: recorded, evidence, appeal, decision, withdrawal."""
    by = f"（{event.recorded_by.display_name}）" if event.recorded_by else ""
    steps = [Step(event.created_at, f"{event.source.label}{by}", event.kind.label)]
    steps += [Step(item.uploaded_at, "上传证据材料", item.original_name) for item in event.evidence]
    for item in event.appeals:
        steps.append(Step(item.filed_at, "专家提出申诉", item.reason))
        if item.decided_at is not None:
            steps.append(Step(item.decided_at, item.status.label, item.decision_reason or ""))
    if event.status is EventStatus.WITHDRAWN:
        steps.append(Step(event.updated_at, event.status.label, event.status_reason or ""))
    return sorted(steps, key=lambda step: step.at)


def _render_event(event, errors: dict | None = None, values: dict | None = None, status: int = 200):
    """`errors`: by form ("appeal", "evidence", "withdraw", "decide")."""
    sanctions = [s for s in operations.sanctions_of(current_user, event.expert) if event in s.events]
    pending = event.pending_appeal
    return render_template(
        "integrity/event.html", event=event, sanctions=sanctions, history=_history(event), form=CsrfOnlyForm(),
        errors=errors or {}, values=values or {},
        can_appeal=can(current_user, "integrity.appeal", event) and operations.appealable(event),
        can_add_evidence=can(current_user, "integrity.record", event) and event.status is EventStatus.STANDING,
        can_withdraw=(can(current_user, "integrity.record", event) and event.status is EventStatus.STANDING
                      and event.source is EventSource.MANUAL),
        decide_appeal=pending if pending is not None and can(current_user, "integrity.decide", pending) else None,
        can_see_request=event.panel_request_id is not None and can(current_user, "panel_request.read"),
        accepted=documents.ACCEPTED_LABEL, max_kb=_upload_limit_kb(),
    ), status


@blueprint.get("/integrity/events/<id:event_id>")
@requires("integrity.read")
def event(event_id: int):
    return _render_event(operations.get_event(current_user, event_id))


@blueprint.get("/integrity/evidence/<id:evidence_id>")
@requires("integrity.read")
def evidence(evidence_id: int):
    return documents.send(operations.get_evidence(current_user, evidence_id))


@blueprint.post("/integrity/events/<id:event_id>/evidence")
@requires("integrity.record")
def add_evidence(event_id: int):
    event = operations.get_event(current_user, event_id, "integrity.record")

    def step():
        upload = request.files.get("file")
        item = operations.add_evidence(current_user, event, upload.filename if upload else None,
                                       upload.read() if upload else b"")
        return f"已补充证据材料《{item.original_name}》"

    return _attempt(step, lambda errors: _render_event(event, {"evidence": errors}, {}, 422),
                    url_for("integrity.event", event_id=event.id), "")


@blueprint.post("/integrity/events/<id:event_id>/withdraw")
@requires("integrity.record")
def withdraw(event_id: int):
    event = operations.get_event(current_user, event_id, "integrity.record")
    reason = request.form.get("reason", "")

    def step():
        data = _loaded(WithdrawInputSchema(), {"reason": reason})
        operations.withdraw_event(current_user, event, data["reason"])

    return _attempt(step, lambda errors: _render_event(event, {"withdraw": errors}, {"withdraw_reason": reason}, 422),
                    url_for("integrity.event", event_id=event.id), "记录已撤回，相关诚信处理已重新计算")


# ---------------------------------------------------------------- the office's lists


@blueprint.get("/integrity/events")
@requires("integrity.read")
def events():
    if current_user.role is Role.EXPERT:
        return redirect(url_for("integrity.mine"))
    query, errors = query_or_defaults(EventListQuerySchema())
    if errors:
        flash("筛选条件无效，已显示全部记录", "warning")
    page = operations.list_events(current_user, **query)
    pending = len(operations.list_appeals(current_user)) if can(current_user, "integrity.decide") else None
    return render_template("integrity/events.html", page=page, query=query, statuses=list(EventStatus),
                           kinds=list(EventKind), pending_appeals=pending)


def _render_expert(expert, values: dict | None = None, errors: dict | None = None, status: int = 200):
    return render_template(
        "integrity/expert.html", expert=expert, events=operations.events_of(current_user, expert),
        sanctions=operations.sanctions_of(current_user, expert), form=CsrfOnlyForm(), values=values or {},
        errors=errors or {}, kinds=MANUAL_KINDS, can_record=can(current_user, "integrity.record", expert),
        accepted=documents.ACCEPTED_LABEL, max_kb=_upload_limit_kb(),
    ), status


@blueprint.get("/experts/<id:expert_id>/integrity")
@requires("integrity.read")
def expert(expert_id: int):
    if current_user.role is Role.EXPERT and expert_id == current_user.expert_id:
        return redirect(url_for("integrity.mine"))
    return _render_expert(get_expert(current_user, expert_id, "integrity.read"))


@blueprint.post("/experts/<id:expert_id>/integrity")
@requires("integrity.record")
def record(expert_id: int):
    expert = get_expert(current_user, expert_id, "integrity.record")
    values = {key: request.form.get(key, "") for key in EVENT_FIELDS}
    if not CsrfOnlyForm().validate_on_submit():
        return _render_expert(expert, values, {"_schema": [EXPIRED]}, 400)
    # Blank fields are missing ones (a required message), not malformed ones.
    data, errors = load_or_errors(EventInputSchema(), {k: v for k, v in values.items() if v.strip()})
    if errors:
        return _render_expert(expert, values, errors, 422)
    files = [(upload.filename, upload.read()) for upload in request.files.getlist("file") if upload.filename]
    try:
        event = operations.record_event(current_user, expert, data, files)
        commit()
    except ServiceError as error:
        db.session.rollback()
        found = _errors_of(error) if isinstance(error, ValidationFailed) else {"_schema": [error.page_message]}
        return _render_expert(expert, values, found, error.status)
    costs = f"扣 {event.points} 分" if event.points else "不扣分"
    flash(f"已登记诚信记录：{event.kind.label}（{event.severity.label}，{costs}），已通知专家", "success")
    return redirect(url_for("integrity.event", event_id=event.id))


@blueprint.get("/integrity/appeals")
@requires("integrity.decide")
def appeals():
    return _render_appeals()


def _render_appeals(errors: dict | None = None, values: dict | None = None, status: int = 200):
    """`errors`/`values`: the decision form of one appeal, by appeal id."""
    shown = request.args.get("status", "pending")
    shown = shown if shown in APPEAL_FILTERS else "pending"
    rows = operations.list_appeals(current_user, None if shown == "all" else shown)
    return render_template("integrity/appeals.html", appeals=rows, shown=shown, statuses=list(AppealStatus),
                           form=CsrfOnlyForm(), errors=errors or {}, values=values or {}), status


@blueprint.post("/integrity/appeals/<id:appeal_id>/decide")
@requires("integrity.decide")
def decide(appeal_id: int):
    appeal = operations.get_appeal(current_user, appeal_id)
    outcome, reason = request.form.get("outcome", ""), request.form.get("reason", "")
    from_event = request.form.get("back") == "event"
    back = url_for("integrity.event", event_id=appeal.event_id) if from_event else url_for("integrity.appeals")
    entered = {"outcome": outcome, "reason": reason}

    def rerender(errors: dict):
        if from_event:
            return _render_event(appeal.event, {"decide": errors}, {"decide": entered}, 422)
        return _render_appeals({appeal.id: errors}, {appeal.id: entered}, 422)

    def step():
        payload = {"reason": reason}
        if outcome in ("upheld", "rejected"):
            payload["upheld"] = outcome == "upheld"
        data, errors = load_or_errors(AppealDecisionSchema(), payload)
        if "upheld" in errors:
            errors["upheld"] = ["请选择申诉是否成立"]
        if errors:
            raise ValidationFailed(fields=errors)
        operations.decide_appeal(current_user, appeal, data["upheld"], data["reason"])
        return ("申诉成立：该记录已撤销，相关诚信处理已重新计算" if data["upheld"]
                else "申诉不成立：记录维持，已通知专家")

    return _attempt(step, rerender, back, "")
