"""Pages of the consultation workflow: the department confirms the panel and
watches it fill, records attendance, feeds back on opinions and rates; the
expert answers invitations and writes the signed opinion; anyone reads the
published adoption feedback."""
from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user

from experts_service.consultation import engagements as records
from experts_service.consultation import operations
from experts_service.consultation.models import (
    OPINION_SECTIONS,
    AdoptionDecision,
    Attendance,
    InvitationStatus,
    OpinionConclusion,
)
from experts_service.consultation.schemas import (
    AdoptionInputSchema,
    AttendanceInputSchema,
    DeclineInputSchema,
    OpinionInputSchema,
    RatingInputSchema,
)
from experts_service.core.audit import record_refusal
from experts_service.core.auth import can, requires
from experts_service.core.errors import AuditedRefusal, ServiceError
from experts_service.core.forms import CsrfOnlyForm, load_or_errors, optional_int
from experts_service.core.transaction import commit
from experts_service.extensions import db
from experts_service.panels.models import ConsultationMode, PanelRequestStatus
from experts_service.panels.operations import get_panel_request
from experts_service.policy import RATING_PARTS, current_policy

blueprint = Blueprint("consultation", __name__)

RATING_LABELS = {"quality": "意见质量", "professionalism": "专业水平", "punctuality": "守时",
                 "discipline": "纪律", "confidentiality": "保密"}


def _refused(error: ServiceError) -> str:
    """The message to show, after the failed transaction is rolled back (the page re-renders from the
    database); a refused change to a signed record is audited although nothing is written."""
    if isinstance(error, AuditedRefusal):
        record_refusal(current_user, error)
    else:
        db.session.rollback()
    return error.page_message


def _checked_form() -> None:
    if not CsrfOnlyForm().validate_on_submit():
        abort(400)


def _first_error(errors: dict) -> str:
    for messages in errors.values():
        if isinstance(messages, dict):
            return _first_error(messages)
        if messages:
            return str(messages[0])
    return "输入有误"


def _back_to_request(request_id: int, anchor: str = "panel-members"):
    return redirect(url_for("panels.panel_request", request_id=request_id, _anchor=anchor))


# ---------------------------------------------------------------- the panel on the request page


def panel_context(actor, panel_request) -> dict:
    """What templates/consultation/_panel.html needs, by what the actor may do."""
    policy = current_policy()
    latest = panel_request.recommendations[-1] if panel_request.recommendations else None
    day_reached = operations.days_before(panel_request) <= 0
    context = {
        "can_confirm": (panel_request.status is PanelRequestStatus.RECOMMENDED and latest is not None
                        and bool(latest.compliant) and can(actor, "panel.confirm", panel_request)),
        "latest_record": latest,
        "materials_warnings": [],
        "seats": None,
        "members": [],
        "meeting": panel_request.mode is ConsultationMode.MEETING,
        # Attendance and ratings are taken from the consultation day on: no forms before it.
        "can_attend": day_reached and can(actor, "attendance.record", panel_request),
        "can_rate": day_reached and can(actor, "rating.record", panel_request),
        "can_read_opinions": can(actor, "opinion.read", panel_request),
        "attendance_choices": list(Attendance),
        "rating_parts": [(part, RATING_LABELS[part], getattr(policy, f"rating_max_{part}")) for part in RATING_PARTS],
        "statuses": InvitationStatus,
    }
    if panel_request.confirmed_recommendation_id is None or not can(actor, "invitation.read_panel", panel_request):
        return context
    summary = operations.seat_summary(panel_request)
    context["seats"] = summary
    if panel_request.materials_sent_at is not None or operations.days_before(panel_request) > 0:
        # Once the day has come, "send the materials soon" is no longer advice anyone can follow.
        context["materials_warnings"] = operations.materials_warnings(panel_request, policy)
    for invitation in summary["invitations"]:
        if invitation.engagement is None:
            continue
        engagement = invitation.engagement
        opinion = records.opinion_of(engagement)
        context["members"].append({
            "invitation": invitation, "engagement": engagement, "expert": invitation.expert,
            "attendance": records.attendance_of(engagement),
            "opinion": opinion if opinion is not None and opinion.submitted else None,
            "rating": records.rating_of(engagement),
            "rating_due": records.rating_due_on(engagement, policy),
        })
    return context


@blueprint.post("/panel-requests/<id:request_id>/confirm")
@requires("panel.confirm")
def confirm(request_id: int):
    _checked_form()
    panel_request = get_panel_request(current_user, request_id, "panel.confirm")
    recommendation_id = optional_int(request.form.get("recommendation_id"))
    if not isinstance(recommendation_id, int):
        flash("请选择要确认的推荐记录", "danger")
        return _back_to_request(panel_request.id, "panel-confirm")
    try:
        confirmation = operations.confirm_panel(current_user, panel_request, recommendation_id)
        commit()
    except ServiceError as error:
        flash(_refused(error), "danger")
        return _back_to_request(panel_request.id, "panel-confirm")
    flash(f"已确认专家组，向 {len(confirmation.invitations)} 位专家发出邀请", "success")
    for warning in confirmation.warnings:
        flash(warning, "warning")
    return _back_to_request(panel_request.id)


@blueprint.post("/engagements/<id:engagement_id>/attendance")
@requires("attendance.record")
def attendance(engagement_id: int):
    _checked_form()
    engagement = records.get_engagement(current_user, engagement_id, "attendance.record")
    payload = {"attendance": request.form.get("attendance", ""),
               "minutes_late": optional_int(request.form.get("minutes_late")),
               "note": request.form.get("note", "")}
    data, errors = load_or_errors(AttendanceInputSchema(), payload)
    if errors:
        flash(f"{engagement.expert.name}：{_first_error(errors)}", "danger")
        return _back_to_request(engagement.panel_request_id)
    try:
        record = records.record_attendance(current_user, engagement, data)
        commit()
    except ServiceError as error:
        flash(f"{engagement.expert.name}：{_refused(error)}", "danger")
        return _back_to_request(engagement.panel_request_id)
    flash(f"已记录{engagement.expert.name}的出席情况：{record.attendance.label}", "success")
    return _back_to_request(engagement.panel_request_id)


@blueprint.post("/engagements/<id:engagement_id>/rating")
@requires("rating.record")
def rating(engagement_id: int):
    _checked_form()
    engagement = records.get_engagement(current_user, engagement_id, "rating.record")
    payload = {part: optional_int(request.form.get(part)) for part in RATING_PARTS}
    payload["comment"] = request.form.get("comment", "")
    data, errors = load_or_errors(RatingInputSchema(), payload)
    if errors:
        flash(f"{engagement.expert.name}：各项评分须填写整数", "danger")
        return _back_to_request(engagement.panel_request_id)
    try:
        given = records.rate(current_user, engagement, data)
        commit()
    except ServiceError as error:
        parts = "；".join(f"{RATING_LABELS.get(k, k)}{v[0]}" for k, v in error.fields.items() if k in RATING_LABELS)
        flash(f"{engagement.expert.name}：{parts or _refused(error)}", "danger")
        return _back_to_request(engagement.panel_request_id)
    flash(f"已评价{engagement.expert.name}：{given.total} 分", "success")
    return _back_to_request(engagement.panel_request_id)


# ---------------------------------------------------------------- opinions and adoption


def _render_opinion(opinion, errors: dict | None = None, values: dict | None = None, status: int = 200):
    return render_template(
        "consultation/opinion.html", opinion=opinion, sections=OPINION_SECTIONS, form=CsrfOnlyForm(),
        signature_holds=records.signature_holds(opinion), decisions=list(AdoptionDecision),
        can_adopt=can(current_user, "adoption.record", opinion), errors=errors or {}, values=values or {},
        public=not opinion.panel_request.item.confidential,
    ), status


@blueprint.get("/opinions/<id:opinion_id>")
@requires("opinion.read")
def opinion(opinion_id: int):
    record = records.get_opinion(current_user, opinion_id)
    if not record.submitted:
        return redirect(url_for("consultation.write_opinion", engagement_id=record.engagement_id))
    return _render_opinion(record)


@blueprint.post("/opinions/<id:opinion_id>/adoption")
@requires("adoption.record")
def adoption(opinion_id: int):
    record = records.get_opinion(current_user, opinion_id)
    values = request.form.to_dict()
    if not CsrfOnlyForm().validate_on_submit():
        return _render_opinion(record, {"_schema": ["页面已过期，请重新提交"]}, values, 400)
    data, errors = load_or_errors(AdoptionInputSchema(), {"decision": values.get("decision", ""),
                                                          "reason": values.get("reason", "")})
    if errors:
        return _render_opinion(record, errors, values, 422)
    try:
        feedback = records.record_adoption(current_user, record, data)
        commit()
    except ServiceError as error:
        return _render_opinion(record, {"_schema": [_refused(error)], **error.fields}, values, error.status)
    flash(f"已反馈采纳情况：{feedback.decision.label}" + ("，已公开" if feedback.published_at else ""), "success")
    return redirect(url_for("consultation.opinion", opinion_id=record.id))


def _render_opinion_form(engagement, opinion, errors: dict | None = None, values: dict | None = None,
                         status: int = 200):
    if values is None and opinion is not None:
        values = {key: getattr(opinion, key) for key, _ in OPINION_SECTIONS}
        values["dissent"] = opinion.dissent
        values["conclusion"] = opinion.conclusion.value if opinion.conclusion else ""
    panel_request = records.request_of(engagement)
    return render_template(
        "consultation/opinion_form.html", engagement=engagement, opinion=opinion, req=panel_request,
        sections=OPINION_SECTIONS, conclusions=list(OpinionConclusion), form=CsrfOnlyForm(),
        errors=errors or {}, values=values or {},
        signature_holds=records.signature_holds(opinion) if opinion is not None and opinion.submitted else None,
    ), status


def _opinion_payload(form) -> dict:
    payload = {key: form.get(key, "") for key, _ in OPINION_SECTIONS}
    payload["dissent"] = form.get("dissent", "")
    payload["conclusion"] = form.get("conclusion") or None
    return payload


@blueprint.route("/engagements/<id:engagement_id>/opinion", methods=["GET", "POST"])
@requires("opinion.write")
def write_opinion(engagement_id: int):
    engagement = records.get_engagement(current_user, engagement_id, "opinion.write")
    existing = records.opinion_of(engagement)
    if request.method == "GET":
        return _render_opinion_form(engagement, existing)
    values = request.form.to_dict()
    if not CsrfOnlyForm().validate_on_submit():
        return _render_opinion_form(engagement, existing, {"_schema": ["页面已过期，请重新提交"]}, values, 400)
    submit = request.form.get("action") == "submit"
    data, errors = load_or_errors(OpinionInputSchema(), _opinion_payload(request.form))
    if errors and existing is not None and existing.submitted:
        data = {}  # whatever was sent, a change to a signed opinion is refused (and audited) below
    elif errors:
        return _render_opinion_form(engagement, existing, errors, values, 422)
    try:
        saved = records.save_opinion(current_user, engagement, data, submit=submit)
        commit()
    except ServiceError as error:
        message = _refused(error)
        # After a refusal the stored opinion is what the page shows (a signed one stays as signed).
        current = records.opinion_of(engagement)
        return _render_opinion_form(engagement, current, {"_schema": [message], **error.fields},
                                    None if current is not None and current.submitted else values, error.status)
    if submit:
        flash(f"意见已提交并签名（内容哈希 {saved.content_hash[:16]}…）", "success")
    else:
        flash("草稿已保存", "success")
    return redirect(url_for("consultation.write_opinion", engagement_id=engagement.id))


# ---------------------------------------------------------------- the expert's invitations


@blueprint.get("/my/invitations")
@requires("invitation.answer")
def my_invitations():
    return render_template("consultation/my_invitations.html", invitations=operations.my_invitations(current_user),
                           statuses=InvitationStatus)


def _render_invitation(invitation, errors: dict | None = None, values: dict | None = None, status: int = 200):
    engagement = invitation.engagement
    opinion = records.opinion_of(engagement) if engagement is not None else None
    return render_template(
        "consultation/invitation.html", invitation=invitation, req=invitation.panel_request, form=CsrfOnlyForm(),
        statuses=InvitationStatus, errors=errors or {}, values=values or {}, opinion=opinion,
        when=operations.when_text(invitation.panel_request),
    ), status


@blueprint.get("/my/invitations/<id:invitation_id>")
@requires("invitation.answer")
def invitation(invitation_id: int):
    return _render_invitation(operations.get_invitation(current_user, invitation_id, "invitation.answer"))


@blueprint.post("/my/invitations/<id:invitation_id>/accept")
@requires("invitation.answer")
def accept(invitation_id: int):
    record = operations.get_invitation(current_user, invitation_id, "invitation.answer")
    if not CsrfOnlyForm().validate_on_submit():
        return _render_invitation(record, {"_schema": ["页面已过期，请重新提交"]}, status=400)
    try:
        operations.accept(current_user, record)
        commit()
    except ServiceError as error:
        return _render_invitation(record, {"_schema": [_refused(error)]}, status=error.status)
    flash("已接受邀请", "success")
    return redirect(url_for("consultation.invitation", invitation_id=record.id))


@blueprint.post("/my/invitations/<id:invitation_id>/decline")
@requires("invitation.answer")
def decline(invitation_id: int):
    record = operations.get_invitation(current_user, invitation_id, "invitation.answer")
    values = request.form.to_dict()
    if not CsrfOnlyForm().validate_on_submit():
        return _render_invitation(record, {"_schema": ["页面已过期，请重新提交"]}, values, 400)
    data, errors = load_or_errors(DeclineInputSchema(), {"reason": values.get("reason", "").strip()})
    if errors:
        return _render_invitation(record, {"reason": ["请填写谢绝理由"]}, values, 422)
    try:
        operations.decline(current_user, record, data["reason"])
        commit()
    except ServiceError as error:
        return _render_invitation(record, {"_schema": [_refused(error)]}, values, error.status)
    flash("已谢绝邀请", "success")
    return redirect(url_for("consultation.invitation", invitation_id=record.id))


# ---------------------------------------------------------------- public


@blueprint.get("/public/adoption-feedback")
def public_feedback():
    """Open to anyone: adoption of opinions on non-confidential items, without the experts' names or texts."""
    return render_template("consultation/public_feedback.html", feedback=records.published_feedback())
