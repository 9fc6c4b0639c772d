"""Confirming a panel and its invitations: sent in time, answered by the expert only, a decline or silence
pulling the next alternate that keeps every rule, no more experts than seats, no overlapping bookings."""
from __future__ import annotations

from datetime import time, timedelta

import pytest
import sqlalchemy as sa

from experts_service.consultation import operations
from experts_service.consultation.models import Invitation, InvitationStatus
from experts_service.core.audit import AuditEntry
from experts_service.core.clock import now, today
from experts_service.core.errors import Conflict, Forbidden, ValidationFailed
from experts_service.extensions import db
from experts_service.notifications.models import Notification
from experts_service.panels.models import Engagement, PanelRequestStatus, Recommendation, RecommendationKind
from experts_service.panels.operations import RuleViolation, replace_member
from tests.consultation.helpers import SENIOR, pool_with_accounts, recommended_request


@pytest.fixture
def panelled(factory):
    return pool_with_accounts(factory)


def invitations_of(request) -> list[Invitation]:
    return list(db.session.execute(
        sa.select(Invitation).where(Invitation.panel_request_id == request.id).order_by(Invitation.id)).scalars())


def actions(action: str) -> list[AuditEntry]:
    return list(db.session.execute(sa.select(AuditEntry).where(AuditEntry.action == action)).scalars())


def confirm(panelled, request, record):
    confirmation = operations.confirm_panel(panelled.department_user, request, record.id)
    db.session.commit()
    return confirmation


def test_confirming_invites_every_member_and_tells_them(panelled):
    request, record = recommended_request(panelled)
    confirmation = confirm(panelled, request, record)
    assert request.status is PanelRequestStatus.CONFIRMED
    assert [i.expert_id for i in invitations_of(request)] == record.result["panel"]
    for invitation in invitations_of(request):
        assert invitation.status is InvitationStatus.PENDING
        assert invitation.respond_by == invitation.sent_at + timedelta(hours=24)
        inbox = db.session.execute(sa.select(Notification).where(
            Notification.user_id == panelled.user_of(invitation.expert_id).id)).scalars().all()
        assert [n.kind for n in inbox] == ["invitation.sent"]
    # No materials yet, 20 days ahead: nothing to warn about.
    assert confirmation.warnings == []
    assert actions("panel.confirm")[0].summary["invited"] == record.result["panel"]


def test_invitations_too_close_to_the_meeting_are_refused_and_nothing_is_written(panelled):
    request, record = recommended_request(panelled, days_ahead=1)
    with pytest.raises(ValidationFailed) as refused:
        operations.confirm_panel(panelled.department_user, request, record.id)
    assert refused.value.fields["rules"] == ["invitation_min_days"]
    assert "2 天" in refused.value.message
    db.session.rollback()
    assert invitations_of(request) == []
    assert request.status is PanelRequestStatus.RECOMMENDED


def test_materials_later_than_the_preferred_lead_time_give_a_warning(panelled):
    request, record = recommended_request(panelled, days_ahead=4)
    confirmation = confirm(panelled, request, record)
    assert len(confirmation.warnings) == 1 and "7 天" in confirmation.warnings[0]
    assert len(invitations_of(request)) == request.seats


def test_only_the_latest_compliant_record_of_the_request_can_be_confirmed(panelled):
    request, first = recommended_request(panelled)
    second = panelled.world.run(request)
    with pytest.raises(ValidationFailed):
        operations.confirm_panel(panelled.department_user, request, first.id)
    db.session.rollback()
    confirm(panelled, request, second)
    with pytest.raises(Conflict):
        operations.confirm_panel(panelled.department_user, request, second.id)
    db.session.rollback()
    # Once confirmed, the talent office cannot re-run or reshuffle the panel behind the invitations.
    with pytest.raises(Conflict):
        panelled.world.run(request)
    db.session.rollback()
    with pytest.raises(Conflict):
        replace_member(panelled.world.office, second, {"remove_expert_id": second.result["panel"][0],
                                                       "add_expert_id": None, "reason": "调整"})


def test_accepting_books_the_expert_and_counts_toward_the_cap(panelled):
    request, record = recommended_request(panelled)
    confirm(panelled, request, record)
    invitation = invitations_of(request)[0]
    operations.accept(panelled.user_of(invitation.expert_id), invitation)
    db.session.commit()
    assert invitation.status is InvitationStatus.ACCEPTED
    engagement = db.session.get(Engagement, invitation.engagement_id)
    assert (engagement.expert_id, engagement.engaged_on, engagement.organisation_id) == (
        invitation.expert_id, request.meeting_date, request.item.organisation_id)
    with pytest.raises(Conflict):
        operations.accept(panelled.user_of(invitation.expert_id), invitation)


def test_only_the_invited_expert_answers(panelled, factory):
    request, record = recommended_request(panelled)
    confirm(panelled, request, record)
    first, second = invitations_of(request)[:2]
    with pytest.raises(Forbidden):
        operations.accept(panelled.user_of(second.expert_id), first)
    with pytest.raises(Forbidden):
        operations.decline(panelled.department_user, first, "不便参加")
    with pytest.raises(Forbidden):
        operations.accept(panelled.world.office, first)
    db.session.rollback()
    assert first.status is InvitationStatus.PENDING


def test_a_decline_needs_a_reason_and_pulls_the_next_alternate_keeping_every_rule(panelled):
    request, record = recommended_request(panelled)
    confirm(panelled, request, record)
    leaving = invitations_of(request)[0]
    with pytest.raises(ValidationFailed):
        operations.decline(panelled.user_of(leaving.expert_id), leaving, "  ")
    db.session.rollback()
    operations.decline(panelled.user_of(leaving.expert_id), leaving, "当日另有教学任务")
    db.session.commit()
    assert leaving.status is InvitationStatus.DECLINED and leaving.decline_reason == "当日另有教学任务"
    replacement = db.session.execute(sa.select(Recommendation).where(
        Recommendation.panel_request_id == request.id, Recommendation.kind == RecommendationKind.REPLACEMENT)
    ).scalar_one()
    added = replacement.result["replacement"]["added"]
    assert replacement.result["compliant"] and leaving.expert_id not in replacement.result["panel"]
    assert added == record.result["alternates"][0]["expert_id"] or added in [
        a["expert_id"] for a in record.result["alternates"]]
    stand_in = invitations_of(request)[-1]
    assert (stand_in.expert_id, stand_in.replaces_id, stand_in.recommendation_id) == (
        added, leaving.id, replacement.id)
    department_inbox = db.session.execute(sa.select(Notification.kind).where(
        Notification.user_id == panelled.department_user.id)).scalars().all()
    assert "panel.replaced" in department_inbox


def test_two_declines_replace_two_and_the_panel_fills_up(panelled):
    request, record = recommended_request(panelled)
    confirm(panelled, request, record)
    seniors = {e.id for e in panelled.experts[:SENIOR]}
    # Two general members (declining both seniors would leave no alternate meeting the tier mix).
    for leaving in [i for i in invitations_of(request) if i.expert_id not in seniors][:2]:
        operations.decline(panelled.user_of(leaving.expert_id), leaving, "身体原因")
        db.session.commit()
    live = [i for i in invitations_of(request) if i.status is InvitationStatus.PENDING]
    assert len(live) == request.seats
    for invitation in live:
        operations.accept(panelled.user_of(invitation.expert_id), invitation)
        db.session.commit()
    summary = operations.seat_summary(request)
    assert (summary["accepted"], summary["pending"], summary["open"], summary["full"]) == (5, 0, 0, True)
    # The panel that stands keeps every rule: the latest record says so, and names exactly the accepted.
    latest = operations.current_record(request)
    assert latest.result["compliant"]
    assert sorted(latest.result["panel"]) == sorted(i.expert_id for i in live)


def test_no_answer_by_the_deadline_counts_as_a_decline(panelled, app):
    request, record = recommended_request(panelled)
    confirm(panelled, request, record)
    silent = invitations_of(request)[0]
    assert operations.expire_overdue(now() + timedelta(hours=23)) == []
    app.config["CLOCK_NOW"] = now() + timedelta(hours=25)
    try:
        with pytest.raises(Conflict):
            operations.accept(panelled.user_of(silent.expert_id), silent)
        db.session.rollback()
        expired = operations.expire_overdue()
        db.session.commit()
    finally:
        app.config.pop("CLOCK_NOW")
    assert len(expired) == request.seats
    assert silent.status is InvitationStatus.EXPIRED
    stand_ins = [i for i in invitations_of(request) if i.replaces_id is not None]
    assert stand_ins and {i.replaces_id for i in stand_ins} <= {i.id for i in expired}
    assert all(i.status is InvitationStatus.PENDING for i in stand_ins)
    assert len(actions("invitation.expire")) == request.seats


def test_when_no_alternate_keeps_the_rules_the_seat_stays_open_and_the_office_is_told(factory):
    panelled = pool_with_accounts(factory, size=5)
    request, record = recommended_request(panelled)
    confirm(panelled, request, record)
    leaving = invitations_of(request)[0]
    operations.decline(panelled.user_of(leaving.expert_id), leaving, "出国访问")
    db.session.commit()
    assert len(invitations_of(request)) == request.seats
    summary = operations.seat_summary(request)
    assert summary["open"] == 1
    office_inbox = db.session.execute(sa.select(Notification.subject).where(
        Notification.user_id == panelled.world.office.id)).scalars().all()
    assert any("无可递补" in subject for subject in office_inbox)
    assert len(actions("invitation.no_alternate")) == 1


def test_one_expert_is_never_booked_onto_two_overlapping_meetings(panelled):
    # All three panels are made before anyone accepts, so the same pool ranks the same way for each.
    slots = {"morning": (time(9), time(12)), "overlapping": (time(11), time(13)), "afternoon": (time(12), time(14))}
    made = {name: recommended_request(panelled, meeting_time=start, meeting_end_time=end)
            for name, (start, end) in slots.items()}
    for request, record in made.values():
        confirm(panelled, request, record)
    shared = set.intersection(*(set(record.result["panel"]) for _, record in made.values()))
    expert_id = min(shared)
    user = panelled.user_of(expert_id)

    def invitation(name):
        return next(i for i in invitations_of(made[name][0]) if i.expert_id == expert_id)

    operations.accept(user, invitation("morning"))
    db.session.commit()
    with pytest.raises(Conflict) as refused:
        operations.accept(user, invitation("overlapping"))
    assert refused.value.fields["rules"] == ["overlapping_meeting"]
    db.session.rollback()
    assert invitation("overlapping").status is InvitationStatus.PENDING
    # Back to back is not an overlap.
    operations.accept(user, invitation("afternoon"))
    db.session.commit()
    assert invitation("afternoon").status is InvitationStatus.ACCEPTED


def test_a_non_compliant_record_cannot_be_confirmed(factory):
    panelled = pool_with_accounts(factory, size=3)
    world = panelled.world
    item = world.item()
    request = world.request(item, meeting_date=today() + timedelta(days=20))
    record = world.run(request)
    assert not record.result["compliant"]
    with pytest.raises(RuleViolation):
        operations.confirm_panel(panelled.department_user, request, record.id)
