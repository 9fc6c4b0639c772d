"""After the invitations: attendance, the experts' signed written opinions, the department's
adoption feedback and ratings (DOMAIN.md, consultation workflow steps 7-9)."""
from __future__ import annotations

import hashlib
import json
from datetime import date, timedelta
from typing import Any

import sqlalchemy as sa

from experts_service.core import audit
from experts_service.core.auth import authorize
from experts_service.core.clock import now, today
from experts_service.core.errors import AuditedRefusal, Conflict, NotFound, ValidationFailed
from experts_service.consultation.operations import lock_expert, lock_panel_request
from experts_service.consultation.models import (
    OPINION_SECTIONS,
    AdoptionDecision,
    AdoptionFeedback,
    Attendance,
    AttendanceRecord,
    EngagementRating,
    Opinion,
    OpinionConclusion,
)
from experts_service.extensions import db
from experts_service.lifecycle.workdays import add_working_days
from experts_service.panels.models import (
    ConsultationMode,
    Engagement,
    EngagementStatus,
    PanelRequest,
    PanelRequestStatus,
)
from experts_service.policy import RATING_PARTS, current_policy

OPINION_TEXT_MAX = 20000
NOTE_MAX = 500
SERVING_STATUSES = (PanelRequestStatus.CONFIRMED, PanelRequestStatus.COMPLETED)


def get_engagement(actor, engagement_id: int, permission: str) -> Engagement:
    engagement = db.session.get(Engagement, engagement_id)
    if engagement is None or engagement.panel_request_id is None:
        raise NotFound("参与记录不存在")
    authorize(actor, permission, engagement)
    return engagement


def request_of(engagement: Engagement) -> PanelRequest:
    return db.session.get(PanelRequest, engagement.panel_request_id)


def _serving(engagement: Engagement) -> PanelRequest:
    """The request, locked: first writes (attendance, opinion, rating) and the completion check that
    follows them are decided one at a time per panel."""
    lock_panel_request(engagement.panel_request_id)
    request = request_of(engagement)
    db.session.refresh(request)
    if engagement.status is EngagementStatus.CANCELLED or request.status not in SERVING_STATUSES:
        raise Conflict(f"申请状态为“{request.status.label}”，不能办理")
    return request


# ---------------------------------------------------------------- attendance


def record_attendance(actor, engagement: Engagement, data: dict[str, Any]) -> AttendanceRecord:
    """On time, late (minutes) or absent, on or after the meeting day; a correction is audited with the old value."""
    authorize(actor, "attendance.record", engagement)
    request = _serving(engagement)
    lock_expert(engagement.expert_id)  # before the audit entry: integrity records follow (lock order)
    if request.mode is not ConsultationMode.MEETING:
        raise ValidationFailed("书面咨询不记录出席情况", fields={"attendance": ["非论证会"]})
    if today() < request.meeting_date:
        raise ValidationFailed("会议尚未举行，不能记录出席情况", fields={"attendance": ["会议日期未到"]})
    attendance = Attendance(data["attendance"])
    minutes = data.get("minutes_late")
    errors = {}
    if attendance is Attendance.LATE and not minutes:
        errors["minutes_late"] = ["迟到须填写迟到分钟数"]
    if attendance is not Attendance.LATE and minutes:
        errors["minutes_late"] = ["只有迟到填写分钟数"]
    if errors:
        raise ValidationFailed(fields=errors)
    existing = db.session.execute(
        sa.select(AttendanceRecord).where(AttendanceRecord.engagement_id == engagement.id)
    ).scalar_one_or_none()
    before = None if existing is None else {"attendance": existing.attendance.value,
                                            "minutes_late": existing.minutes_late}
    record = existing or AttendanceRecord(engagement_id=engagement.id)
    record.attendance = attendance
    record.minutes_late = minutes if attendance is Attendance.LATE else None
    record.note = data.get("note") or ""
    record.recorded_by_id = getattr(actor, "id", None)
    db.session.add(record)
    db.session.flush()
    audit.record(actor, "attendance.record", "engagement", engagement.id, panel_request_id=request.id,
                 expert_id=engagement.expert_id, attendance=attendance.value, minutes_late=record.minutes_late,
                 before=before)
    from experts_service.integrity.operations import attendance_recorded

    attendance_recorded(record, request)
    complete_if_done(actor, request)
    return record


def complete_if_done(actor, request: PanelRequest) -> bool:
    """The request is complete once no invitation waits for an answer and every seated member has
    been dealt with: attendance recorded (meetings) and an opinion submitted unless absent."""
    from experts_service.consultation.models import Invitation, InvitationStatus

    if request.status is not PanelRequestStatus.CONFIRMED:
        return False
    invitations = db.session.execute(sa.select(Invitation).where(Invitation.panel_request_id == request.id)
                                     ).scalars().all()
    if any(i.status is InvitationStatus.PENDING for i in invitations):
        return False
    seated = [i.engagement for i in invitations if i.status is InvitationStatus.ACCEPTED]
    if not seated:
        return False
    for engagement in seated:
        attendance = attendance_of(engagement)
        if request.mode is ConsultationMode.MEETING and attendance is None:
            return False
        absent = attendance is not None and attendance.attendance is Attendance.ABSENT
        opinion = opinion_of(engagement)
        if not absent and (opinion is None or not opinion.submitted):
            return False
    request.status = PanelRequestStatus.COMPLETED
    db.session.flush()
    audit.record(actor, "panel_request.complete", "panel_request", request.id, members=len(seated))
    return True


def attendance_of(engagement: Engagement) -> AttendanceRecord | None:
    return db.session.execute(
        sa.select(AttendanceRecord).where(AttendanceRecord.engagement_id == engagement.id)
    ).scalar_one_or_none()


# ---------------------------------------------------------------- opinions


def signed_content(opinion: Opinion) -> dict[str, Any]:
    """What the signature covers: who, on which panel, every part of the opinion, and when."""
    return {
        "opinion_id": opinion.id, "engagement_id": opinion.engagement_id,
        "panel_request_id": opinion.panel_request_id, "expert_id": opinion.expert_id,
        **{key: getattr(opinion, key) for key, _ in OPINION_SECTIONS},
        "conclusion": opinion.conclusion.value if opinion.conclusion else None,
        "dissent": opinion.dissent,
        "submitted_at": opinion.submitted_at.isoformat() if opinion.submitted_at else None,
    }


def content_hash(opinion: Opinion) -> str:
    canonical = json.dumps(signed_content(opinion), sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def signature_holds(opinion: Opinion) -> bool:
    return opinion.content_hash is not None and opinion.content_hash == content_hash(opinion)


def opinion_of(engagement: Engagement) -> Opinion | None:
    return db.session.execute(sa.select(Opinion).where(Opinion.engagement_id == engagement.id)).scalar_one_or_none()


def _refuse_signed(actor, opinion: Opinion, attempted: str) -> None:
    raise AuditedRefusal(
        f"意见已于 {opinion.submitted_at:%Y-%m-%d %H:%M} 提交并签名，不能修改",
        action="opinion.change_refused", obj_type="opinion", obj_id=opinion.id, attempted=attempted,
        content_hash=opinion.content_hash, fields={"opinion": ["已签名，不可修改"]},
    )


def save_opinion(actor, engagement: Engagement, data: dict[str, Any], *, submit: bool = False) -> Opinion:
    """The expert's draft, or its submission: signed (content hash and time) and immutable from then on."""
    authorize(actor, "opinion.write", engagement)
    request = _serving(engagement)
    lock_expert(engagement.expert_id)  # before the audit entry: a late opinion is an integrity record
    opinion = opinion_of(engagement)
    if opinion is not None and opinion.submitted:
        _refuse_signed(actor, opinion, "submit" if submit else "edit")
    record = attendance_of(engagement)
    if record is not None and record.attendance is Attendance.ABSENT:
        raise Conflict("您被记录为缺席本次论证会，不能提交意见")
    if opinion is None:
        opinion = Opinion(engagement_id=engagement.id, panel_request_id=request.id, expert_id=engagement.expert_id,
                          dissent="", **{key: "" for key, _ in OPINION_SECTIONS})
        db.session.add(opinion)
    for key, _label in OPINION_SECTIONS:
        if key in data:
            setattr(opinion, key, data[key] or "")
    if "dissent" in data:
        opinion.dissent = data["dissent"] or ""
    if "conclusion" in data:
        opinion.conclusion = OpinionConclusion(data["conclusion"]) if data["conclusion"] else None
    if submit:
        missing = {key: [f"请填写{label}"] for key, label in OPINION_SECTIONS if not getattr(opinion, key).strip()}
        if opinion.conclusion is None:
            missing["conclusion"] = ["请选择结论"]
        if missing:
            raise ValidationFailed("提交前请填写全部栏目", fields=missing)
        db.session.flush()  # the id is part of what is signed
        opinion.submitted_at = now()
        opinion.content_hash = content_hash(opinion)
    db.session.flush()
    audit.record(actor, "opinion.submit" if submit else "opinion.save_draft", "opinion", opinion.id,
                 panel_request_id=request.id, engagement_id=engagement.id,
                 conclusion=opinion.conclusion.value if opinion.conclusion else None,
                 content_hash=opinion.content_hash)
    if submit:
        from experts_service.integrity.operations import opinion_submitted

        opinion_submitted(opinion, request)
        complete_if_done(actor, request)
    return opinion


def get_opinion(actor, opinion_id: int) -> Opinion:
    opinion = db.session.get(Opinion, opinion_id)
    if opinion is None:
        raise NotFound("意见不存在")
    authorize(actor, "opinion.read", opinion)
    if not opinion.submitted and getattr(actor, "expert_id", None) != opinion.expert_id:
        raise NotFound("意见不存在")  # a draft is the expert's own until submitted
    return opinion


def delete_opinion(actor, opinion: Opinion) -> None:
    """A draft may be discarded by its expert; a signed opinion never."""
    authorize(actor, "opinion.write", opinion)
    if opinion.submitted:
        _refuse_signed(actor, opinion, "delete")
    audit.record(actor, "opinion.discard_draft", "opinion", opinion.id, panel_request_id=opinion.panel_request_id)
    db.session.delete(opinion)
    db.session.flush()


def submitted_opinions(request: PanelRequest) -> list[Opinion]:
    return list(db.session.execute(
        sa.select(Opinion).where(Opinion.panel_request_id == request.id, Opinion.submitted_at.is_not(None))
        .order_by(Opinion.submitted_at, Opinion.id)
    ).scalars())


# ---------------------------------------------------------------- adoption feedback


def record_adoption(actor, opinion: Opinion, data: dict[str, Any]) -> AdoptionFeedback:
    """采纳 / 部分采纳 / 未采纳 with a reason; published for non-confidential items. A change is audited."""
    authorize(actor, "adoption.record", opinion)
    lock_panel_request(opinion.panel_request_id)
    db.session.refresh(opinion)
    if not opinion.submitted:
        raise Conflict("意见尚未提交，不能反馈采纳情况")
    decision = AdoptionDecision(data["decision"])
    reason = (data.get("reason") or "").strip()
    if decision is not AdoptionDecision.ADOPTED and not reason:
        raise ValidationFailed(fields={"reason": ["部分采纳或未采纳须说明理由"]})
    feedback = opinion.adoption
    before = None if feedback is None else {"decision": feedback.decision.value, "reason": feedback.reason}
    if feedback is None:
        feedback = AdoptionFeedback(opinion=opinion)
        db.session.add(feedback)
    feedback.decision, feedback.reason = decision, reason
    feedback.recorded_by_id = getattr(actor, "id", None)
    confidential = opinion.panel_request.item.confidential
    feedback.published_at = None if confidential else (feedback.published_at or now())
    db.session.flush()
    audit.record(actor, "adoption.record", "opinion", opinion.id, panel_request_id=opinion.panel_request_id,
                 decision=decision.value, published=feedback.published_at is not None, before=before)
    return feedback


def published_feedback() -> list[AdoptionFeedback]:
    """The public page: feedback of non-confidential items only (the flag is read again, not trusted)."""
    from experts_service.panels.models import DecisionItem

    return list(db.session.execute(
        sa.select(AdoptionFeedback).join(Opinion, AdoptionFeedback.opinion_id == Opinion.id)
        .join(PanelRequest, Opinion.panel_request_id == PanelRequest.id)
        .join(DecisionItem, PanelRequest.item_id == DecisionItem.id)
        .where(AdoptionFeedback.published_at.is_not(None), DecisionItem.confidential.is_(False))
        .order_by(AdoptionFeedback.published_at.desc(), AdoptionFeedback.id.desc())
    ).scalars())


# ---------------------------------------------------------------- ratings


def rating_due_on(engagement: Engagement, policy=None) -> date:
    """The last working day of the rating window, counted from the day after the consultation."""
    policy = policy or current_policy()
    _first, due = add_working_days(engagement.engaged_on + timedelta(days=1), policy.rating_window_working_days)
    return due


def rate(actor, engagement: Engagement, data: dict[str, Any]) -> EngagementRating:
    """The department's rating of one engaged expert: each part within its maximum, 100 in all; given once."""
    authorize(actor, "rating.record", engagement)
    request = _serving(engagement)
    if today() < engagement.engaged_on:
        raise ValidationFailed("论证尚未进行，不能评价", fields={"_schema": ["日期未到"]})
    if rating_of(engagement) is not None:
        raise Conflict("该专家本次论证已评价")
    policy = current_policy()
    errors = {}
    for part in RATING_PARTS:
        maximum = getattr(policy, f"rating_max_{part}")
        value = data.get(part)
        if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= maximum:
            errors[part] = [f"须为 0–{maximum} 的整数"]
    if errors:
        raise ValidationFailed(fields=errors)
    due = rating_due_on(engagement, policy)
    rating = EngagementRating(
        engagement_id=engagement.id, **{part: data[part] for part in RATING_PARTS},
        total=sum(data[part] for part in RATING_PARTS), comment=(data.get("comment") or "").strip(), due_on=due,
        rated_by_id=getattr(actor, "id", None),
    )
    db.session.add(rating)
    db.session.flush()
    audit.record(actor, "rating.record", "engagement", engagement.id, panel_request_id=request.id,
                 expert_id=engagement.expert_id, total=rating.total, late=today() > due)
    return rating


def rating_of(engagement: Engagement) -> EngagementRating | None:
    return db.session.execute(
        sa.select(EngagementRating).where(EngagementRating.engagement_id == engagement.id)
    ).scalar_one_or_none()


def own_organisation_scope(actor) -> list[int] | None:
    """The organisations whose engagements a department user rates (its subtree); None: all."""
    from experts_service.core.auth import Role
    from experts_service.core.auth_scope import organisation_subtree_ids

    if actor.role is Role.DEPARTMENT:
        return sorted(organisation_subtree_ids(actor.organisation_id))
    return None


def overdue_ratings(organisation_ids: list[int] | None = None, day: date | None = None) -> list[Engagement]:
    """Engagements of a panel whose rating window has passed without a rating (the department's to-do list)."""
    day = day or today()
    query = (sa.select(Engagement)
             .join(PanelRequest, Engagement.panel_request_id == PanelRequest.id)
             .outerjoin(EngagementRating, EngagementRating.engagement_id == Engagement.id)
             .where(EngagementRating.id.is_(None), Engagement.status != EngagementStatus.CANCELLED,
                    Engagement.engaged_on < day, PanelRequest.status.in_(SERVING_STATUSES))
             .order_by(Engagement.engaged_on, Engagement.id))
    if organisation_ids is not None:
        query = query.where(Engagement.organisation_id.in_(organisation_ids))
    policy = current_policy()
    return [e for e in db.session.execute(query).scalars() if rating_due_on(e, policy) < day]
