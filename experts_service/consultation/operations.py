"""Confirming a panel and running its invitations (DOMAIN.md, consultation workflow step 6).

The department confirms the panel of a compliant recommendation (or draw);
each member is invited at once, no later than the policy's minimum before
the consultation day. An expert accepts (which books them: an Engagement,
counted by the yearly cap and rotation) or declines with a reason; no
answer by the deadline counts as a decline. Each decline pulls the next
alternate that keeps every rule (panels.operations.make_replacement, a new
immutable record) and invites them, so the department watches the panel
fill up.

Seats and bookings are decided under a lock on the panel request row (and,
on PostgreSQL, the expert's row), so concurrent answers can neither put more
experts on a panel than its seats nor book one expert onto two meetings that
overlap.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

import sqlalchemy as sa

from experts_service.core import audit
from experts_service.core.auth import Role, authorize
from experts_service.core.clock import display_zone, now, today
from experts_service.core.errors import Conflict, NotFound, ValidationFailed
from experts_service.consultation.models import Invitation, InvitationStatus
from experts_service.experts.models import Expert
from experts_service.extensions import db
from experts_service.notifications.operations import (
    notify,
    users_of_expert,
    users_of_organisation,
    users_with_role,
)
from experts_service.panels.models import (
    ConsultationMode,
    Engagement,
    EngagementStatus,
    PanelRequest,
    PanelRequestStatus,
    Recommendation,
)
from experts_service.panels.operations import RuleViolation, make_replacement
from experts_service.policy import current_policy

DECLINE_REASON_MAX = 500


# ---------------------------------------------------------------- locks


def lock_panel_request(request_id: int) -> None:
    """Serialise every seat decision of one panel until the transaction ends.

    PostgreSQL: a row lock. SQLite: a write to the row, which takes the
    database's single write lock (SQLite opens its transaction at the first
    write, so nothing read before can be stale).
    """
    if db.session.get_bind().dialect.name == "postgresql":
        db.session.execute(sa.select(PanelRequest.id).where(PanelRequest.id == request_id).with_for_update())
    else:
        db.session.execute(sa.text("UPDATE panel_requests SET id = id WHERE id = :id"), {"id": request_id})


def lock_expert(expert_id: int) -> None:
    """Serialise bookings of one expert across panels (SQLite's write lock already does)."""
    if db.session.get_bind().dialect.name == "postgresql":
        db.session.execute(sa.select(Expert.id).where(Expert.id == expert_id).with_for_update())


# ---------------------------------------------------------------- times


def consultation_starts(request: PanelRequest) -> datetime:
    """When the experts serve: the meeting's start, or the start of the written deadline's day (local time)."""
    day = request.consultation_date
    start = request.meeting_time if request.mode is ConsultationMode.MEETING and request.meeting_time else time(0)
    return datetime.combine(day, start, tzinfo=display_zone())


def _meeting_span(request: PanelRequest) -> tuple[datetime, datetime] | None:
    """The meeting's time on its day; a meeting without times takes the whole day. None for written modes."""
    if request.mode is not ConsultationMode.MEETING:
        return None
    zone = display_zone()
    day = request.meeting_date
    start = datetime.combine(day, request.meeting_time or time(0), tzinfo=zone)
    if request.meeting_end_time is not None:
        end = datetime.combine(day, request.meeting_end_time, tzinfo=zone)
    else:
        end = datetime.combine(day + timedelta(days=1), time(0), tzinfo=zone)
    return start, end


def overlaps(first: PanelRequest, second: PanelRequest) -> bool:
    a, b = _meeting_span(first), _meeting_span(second)
    return a is not None and b is not None and a[0] < b[1] and b[0] < a[1]


def _respond_by(request: PanelRequest, sent_at: datetime, policy) -> datetime:
    """The response window, but never past the consultation's start (nor before the sending)."""
    window = sent_at + timedelta(hours=policy.invitation_response_hours)
    return max(sent_at, min(window, consultation_starts(request)))


def days_before(request: PanelRequest, day: date | None = None) -> int:
    return (request.consultation_date - (day or today())).days


# ---------------------------------------------------------------- confirmation


@dataclass(frozen=True)
class Confirmation:
    request: PanelRequest
    invitations: list[Invitation]
    warnings: list[str]


def current_record(request: PanelRequest) -> Recommendation | None:
    """The record whose panel stands now: the confirmed one, or the latest replacement made from it."""
    if request.confirmed_recommendation_id is None:
        return None
    return request.recommendations[-1]


def _check_invitation_time(request: PanelRequest, policy) -> None:
    left = days_before(request)
    if left < policy.invitation_min_days:
        raise ValidationFailed(
            f"邀请须不晚于{_day_word(request)}前 {policy.invitation_min_days} 天发出，当前距{_day_word(request)}仅 "
            f"{max(left, 0)} 天；请调整{_day_word(request)}日期后再确认",
            fields={"rules": ["invitation_min_days"]},
        )


def _day_word(request: PanelRequest) -> str:
    return "会议" if request.mode is ConsultationMode.MEETING else "截止日"


def materials_warnings(request: PanelRequest, policy) -> list[str]:
    """DOMAIN.md: materials at least the preferred lead time before, where possible (a warning, not a refusal)."""
    lead = policy.materials_preferred_days
    if request.materials_sent_at is None:
        left = days_before(request)
        if left < lead:
            return [f"材料宜于{_day_word(request)}前 {lead} 天送达，当前距{_day_word(request)}仅 {max(left, 0)} 天，"
                    f"请尽快发送材料"]
        return []
    sent_day = request.materials_sent_at.astimezone(display_zone()).date()
    if days_before(request, sent_day) < lead:
        return [f"材料于{_day_word(request)}前 {max(days_before(request, sent_day), 0)} 天送达，"
                f"晚于建议的 {lead} 天"]
    return []


def confirm_panel(actor, request: PanelRequest, recommendation_id: int) -> Confirmation:
    """The department accepts the panel of one record; every member is invited."""
    authorize(actor, "panel.confirm", request)
    lock_panel_request(request.id)
    db.session.refresh(request)
    if request.status is not PanelRequestStatus.RECOMMENDED:
        raise Conflict(f"申请状态为“{request.status.label}”，不能确认专家组",
                       fields={"recommendation_id": ["当前状态不能确认"]})
    record = db.session.get(Recommendation, recommendation_id)
    if record is None or record.panel_request_id != request.id:
        raise ValidationFailed(fields={"recommendation_id": ["不是本申请的推荐记录"]})
    if record.id != request.recommendations[-1].id:
        raise ValidationFailed("只能确认最新的推荐记录", fields={"recommendation_id": ["已有更新的推荐记录"]})
    if record.result is None or not record.result.get("compliant"):
        raise RuleViolation("该记录的专家组不符合组成规则，不能确认；请重新推荐或调整",
                            fields={"recommendation_id": ["专家组不合规"], "rules": ["not_compliant"]})
    policy = current_policy()
    _check_invitation_time(request, policy)
    sent_at = now()
    request.status = PanelRequestStatus.CONFIRMED
    request.confirmed_recommendation_id = record.id
    request.confirmed_at = sent_at
    request.confirmed_by_id = getattr(actor, "id", None)
    invitations = [_invite(actor, request, record, expert_id, sent_at, policy) for expert_id in record.result["panel"]]
    warnings = materials_warnings(request, policy)
    db.session.flush()
    audit.record(actor, "panel.confirm", "panel_request", request.id, recommendation_id=record.id,
                 invited=[i.expert_id for i in invitations], warnings=warnings)
    return Confirmation(request, invitations, warnings)


def _invite(actor, request: PanelRequest, record: Recommendation, expert_id: int, sent_at: datetime, policy,
            replaces: Invitation | None = None) -> Invitation:
    invitation = Invitation(
        panel_request_id=request.id, expert_id=expert_id, recommendation_id=record.id, sent_at=sent_at,
        respond_by=_respond_by(request, sent_at, policy), replaces=replaces, sent_by_id=getattr(actor, "id", None),
    )
    db.session.add(invitation)
    db.session.flush()
    audit.record(actor, "invitation.send", "invitation", invitation.id, panel_request_id=request.id,
                 expert_id=expert_id, respond_by=invitation.respond_by.isoformat(),
                 replaces=replaces.id if replaces else None)
    item = request.item
    when = when_text(request)
    notify(users_of_expert(expert_id), "invitation.sent", f"论证邀请：{item.title}",
           f"{item.organisation.name}邀请您参加{request.mode.label}（{when}）。请于 "
           f"{invitation.respond_by.astimezone(display_zone()):%Y-%m-%d %H:%M} 前答复。"
           + ("论证材料已发送，可在邀请页面查看。" if request.materials_sent_at else ""),
           link=f"/my/invitations/{invitation.id}", confidential=item.confidential)
    return invitation


def when_text(request: PanelRequest) -> str:
    if request.mode is ConsultationMode.MEETING:
        start = f" {request.meeting_time:%H:%M}" if request.meeting_time else ""
        end = f"-{request.meeting_end_time:%H:%M}" if request.meeting_end_time else ""
        return f"{request.meeting_date:%Y-%m-%d}{start}{end}，{request.meeting_place}"
    return f"意见截止 {request.deadline:%Y-%m-%d}"


# ---------------------------------------------------------------- answers


def get_invitation(actor, invitation_id: int, permission: str = "invitation.read") -> Invitation:
    invitation = db.session.get(Invitation, invitation_id)
    if invitation is None:
        raise NotFound("邀请不存在")
    authorize(actor, permission, invitation)
    return invitation


def my_invitations(actor) -> list[Invitation]:
    authorize(actor, "invitation.answer")
    return list(db.session.execute(
        sa.select(Invitation).where(Invitation.expert_id == actor.expert_id).order_by(Invitation.id.desc())
    ).scalars())


def _open_for_answer(invitation: Invitation, at: datetime) -> None:
    if invitation.status is not InvitationStatus.PENDING:
        raise Conflict(f"该邀请已{invitation.status.label}，不能再答复", fields={"status": [invitation.status.label]})
    if at > invitation.respond_by:
        raise Conflict("答复期限已过，视为谢绝", fields={"status": ["已逾期"]})


def accept(actor, invitation: Invitation) -> Invitation:
    """The expert takes the seat: refused if the panel is full or the expert is booked elsewhere at that time."""
    authorize(actor, "invitation.answer", invitation)
    request = invitation.panel_request
    lock_panel_request(request.id)
    lock_expert(invitation.expert_id)
    db.session.refresh(invitation)
    db.session.refresh(request)
    answered_at = now()
    _open_for_answer(invitation, answered_at)
    if request.status is not PanelRequestStatus.CONFIRMED:
        raise Conflict(f"申请状态为“{request.status.label}”，不能接受邀请")
    taken = db.session.execute(
        sa.select(sa.func.count()).select_from(Invitation)
        .where(Invitation.panel_request_id == request.id, Invitation.status == InvitationStatus.ACCEPTED)
    ).scalar_one()
    if taken >= request.seats:
        raise Conflict("专家组名额已满", fields={"rules": ["seats"]})
    clash = _booking_clash(invitation.expert_id, request)
    if clash is not None:
        raise Conflict(f"您在同一时间已接受其他论证会（{clash.item.title}，{when_text(clash)}）",
                       fields={"rules": ["overlapping_meeting"]})
    engagement = Engagement(expert_id=invitation.expert_id, panel_request_id=request.id,
                            organisation_id=request.item.organisation_id, engaged_on=request.consultation_date,
                            status=EngagementStatus.ENGAGED)
    db.session.add(engagement)
    db.session.flush()
    invitation.status = InvitationStatus.ACCEPTED
    invitation.responded_at = answered_at
    invitation.engagement_id = engagement.id
    db.session.flush()
    audit.record(actor, "invitation.accept", "invitation", invitation.id, panel_request_id=request.id,
                 expert_id=invitation.expert_id, engagement_id=engagement.id)
    _tell_department(request, "invitation.accepted", f"专家已接受邀请：{request.item.title}",
                     f"{invitation.expert.name}已接受邀请（{taken + 1}/{request.seats}）。")
    return invitation


def _booking_clash(expert_id: int, request: PanelRequest) -> PanelRequest | None:
    """Another panel the expert has accepted whose meeting overlaps this one's."""
    if request.mode is not ConsultationMode.MEETING:
        return None
    others = db.session.execute(
        sa.select(PanelRequest).join(Invitation, Invitation.panel_request_id == PanelRequest.id)
        .where(Invitation.expert_id == expert_id, Invitation.status == InvitationStatus.ACCEPTED,
               PanelRequest.id != request.id, PanelRequest.meeting_date == request.meeting_date,
               PanelRequest.status != PanelRequestStatus.CANCELLED)
    ).scalars()
    return next((other for other in others if overlaps(other, request)), None)


def decline(actor, invitation: Invitation, reason: str) -> Invitation:
    """The expert declines with a reason; the next suitable alternate is invited."""
    authorize(actor, "invitation.answer", invitation)
    reason = (reason or "").strip()
    if not reason:
        raise ValidationFailed(fields={"reason": ["请填写谢绝原因"]})
    if len(reason) > DECLINE_REASON_MAX:
        raise ValidationFailed(fields={"reason": [f"谢绝原因不超过 {DECLINE_REASON_MAX} 字"]})
    request = invitation.panel_request
    lock_panel_request(request.id)
    db.session.refresh(invitation)
    answered_at = now()
    _open_for_answer(invitation, answered_at)
    invitation.status = InvitationStatus.DECLINED
    invitation.responded_at = answered_at
    invitation.decline_reason = reason
    db.session.flush()
    audit.record(actor, "invitation.decline", "invitation", invitation.id, panel_request_id=request.id,
                 expert_id=invitation.expert_id, reason=reason)
    _fill_seat(invitation, f"专家谢绝：{reason}")
    return invitation


def overdue_invitation_ids(at: datetime | None = None) -> list[int]:
    at = at or now()
    return list(db.session.execute(
        sa.select(Invitation.id).where(Invitation.status == InvitationStatus.PENDING, Invitation.respond_by < at)
        .order_by(Invitation.id)
    ).scalars())


def expire(invitation_id: int, at: datetime | None = None) -> Invitation | None:
    """One pending invitation past its deadline counts as a decline and pulls the next alternate.

    The cron job commits after each (`flask consultation expire-invitations`): the panel's lock
    is then taken before the audit log's, in the same order as an expert's answer.
    """
    at = at or now()
    invitation = db.session.get(Invitation, invitation_id)
    if invitation is None:
        return None
    lock_panel_request(invitation.panel_request_id)
    lock_expert(invitation.expert_id)  # before the audit entry: silence is an integrity record
    db.session.refresh(invitation)
    if invitation.status is not InvitationStatus.PENDING or invitation.respond_by >= at:
        return None  # answered meanwhile
    invitation.status = InvitationStatus.EXPIRED
    invitation.responded_at = at
    db.session.flush()
    audit.record(None, "invitation.expire", "invitation", invitation.id, panel_request_id=invitation.panel_request_id,
                 expert_id=invitation.expert_id, respond_by=invitation.respond_by.isoformat())
    from experts_service.integrity.operations import invitation_expired

    invitation_expired(invitation)
    _fill_seat(invitation, "逾期未答复，视为谢绝")
    return invitation


def expire_overdue(at: datetime | None = None) -> list[Invitation]:
    """Every overdue invitation, in one transaction (tests and small runs)."""
    at = at or now()
    return [done for done in (expire(i, at) for i in overdue_invitation_ids(at)) if done is not None]


def _fill_seat(left: Invitation, why: str) -> Invitation | None:
    """Pull the next alternate that keeps every rule and invite them; tell the department either way."""
    request = left.panel_request
    record = current_record(request)
    policy = current_policy()
    if request.status is not PanelRequestStatus.CONFIRMED or record is None:
        return None
    if days_before(request) < policy.invitation_min_days:
        _tell_office(request, f"无法递补：距{_day_word(request)}不足 {policy.invitation_min_days} 天",
                     f"{left.expert.name}{why}；已来不及向递补专家发出邀请，请与承办部门协商。")
        return None
    try:
        replacement = make_replacement(None, record, {"remove_expert_id": left.expert_id, "add_expert_id": None,
                                                      "reason": why})
    except (RuleViolation, ValidationFailed) as refused:
        audit.record(None, "invitation.no_alternate", "invitation", left.id, panel_request_id=request.id,
                     message=refused.message, fields=refused.fields)
        _tell_office(request, f"无可递补专家：{request.item.title}",
                     f"{left.expert.name}{why}；{refused.message}。请重新安排。")
        _tell_department(request, "panel.seat_open", f"专家组缺额：{request.item.title}",
                         f"{left.expert.name}{why}，暂无符合全部规则的递补专家，人才工作部门将另行安排。")
        return None
    added = replacement.result["replacement"]["added"]
    invitation = _invite(None, request, replacement, added, now(), policy, replaces=left)
    _tell_department(request, "panel.replaced", f"专家递补：{request.item.title}",
                     f"{left.expert.name}{why}；已按规则递补并邀请{invitation.expert.name}。")
    return invitation


def _tell_department(request: PanelRequest, kind: str, subject: str, body: str) -> None:
    notify(users_of_organisation(request.item.organisation_id), kind, subject, body,
           link=f"/panel-requests/{request.id}", confidential=request.item.confidential)


def _tell_office(request: PanelRequest, subject: str, body: str) -> None:
    notify(users_with_role(Role.TALENT_OFFICE), "panel.attention", subject, body, link=f"/panel-requests/{request.id}",
           confidential=request.item.confidential)


# ---------------------------------------------------------------- the panel as it fills


def seat_summary(request: PanelRequest) -> dict[str, Any]:
    """Seats, accepted, waiting and open, for the department's view."""
    invitations = db.session.execute(
        sa.select(Invitation).where(Invitation.panel_request_id == request.id).order_by(Invitation.id)
    ).scalars().all()
    accepted = [i for i in invitations if i.status is InvitationStatus.ACCEPTED]
    pending = [i for i in invitations if i.status is InvitationStatus.PENDING]
    return {
        "seats": request.seats,
        "accepted": len(accepted),
        "pending": len(pending),
        "open": max(request.seats - len(accepted) - len(pending), 0),
        "full": len(accepted) >= request.seats,
        "invitations": invitations,
    }
