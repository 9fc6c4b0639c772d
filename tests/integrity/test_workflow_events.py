"""Events the workflow records by itself: silence past the answer deadline (a refusal, free the first time in a
year), an opinion signed after its deadline (late opinion), and what a decline with a reason does not do."""
from __future__ import annotations

from datetime import date, timedelta

import sqlalchemy as sa

from experts_service.consultation import engagements, operations
from experts_service.consultation.models import Invitation
from experts_service.core.clock import now
from experts_service.extensions import db
from experts_service.integrity.models import EventKind, IntegrityEvent, Sanction, SanctionKind, Severity
from experts_service.notifications.models import Notification
from tests.consultation.helpers import pool_with_accounts, recommended_request
from tests.lifecycle.helpers import set_today

OPINION = {"necessity": "确有必要。", "legality": "于法有据。", "feasibility": "基本可行。", "risks": "资金风险可控。",
           "suggestions": "分期实施。", "conclusion": "agree"}


def _events(expert_id: int) -> list[IntegrityEvent]:
    return list(db.session.execute(sa.select(IntegrityEvent).where(IntegrityEvent.expert_id == expert_id)
                                   .order_by(IntegrityEvent.occurred_on)).scalars())


def _invite_everyone(panelled, **request):
    request, record = recommended_request(panelled, **request)
    operations.confirm_panel(panelled.department_user, request, record.id)
    db.session.commit()
    return request, list(db.session.execute(sa.select(Invitation).where(
        Invitation.panel_request_id == request.id).order_by(Invitation.id)).scalars())


def _expire_all(app) -> None:
    app.config["CLOCK_NOW"] = now() + timedelta(hours=25)
    operations.expire_overdue()
    db.session.commit()


def test_silence_is_a_refusal_free_the_first_time_in_the_year_serious_the_second(app, factory):
    set_today(app, date(2027, 3, 1))
    # Five experts, five seats: every one of them is on both panels.
    panelled = pool_with_accounts(factory, size=5)
    _request, first = _invite_everyone(panelled)
    silent = first[0].expert_id
    for invitation in first[1:]:
        operations.accept(panelled.user_of(invitation.expert_id), invitation)
    db.session.commit()
    _expire_all(app)
    [refusal] = _events(silent)
    assert (refusal.kind, refusal.severity, refusal.points) == (EventKind.REFUSAL, Severity.NOTE, 0)
    assert "逾期未答复" in refusal.description and "视为拒绝" in refusal.description
    subjects = db.session.execute(sa.select(Notification.subject).where(
        Notification.user_id == panelled.user_of(silent).id, Notification.kind == "integrity.event")).scalars().all()
    assert subjects == ["新的诚信记录：无正当理由拒绝邀请（提醒，不扣分）"]

    set_today(app, date(2027, 6, 1))
    _request, second = _invite_everyone(panelled)
    mine = next(i for i in second if i.expert_id == silent)
    for invitation in second:
        if invitation is not mine:
            operations.decline(panelled.user_of(invitation.expert_id), invitation, "已有公务安排")
    db.session.commit()
    _expire_all(app)
    refusals = _events(silent)
    assert [(e.severity, e.points) for e in refusals] == [(Severity.NOTE, 0), (Severity.SERIOUS, 15)]
    assert [s.kind for s in db.session.execute(sa.select(Sanction).where(
        Sanction.expert_id == silent)).scalars()] == [SanctionKind.WARNING]
    # A decline with a reason is no event.
    for invitation in second:
        if invitation is not mine:
            assert _events(invitation.expert_id) == []


def test_an_opinion_signed_after_the_deadline_is_a_late_opinion_one_signed_on_the_day_is_not(app, factory):
    set_today(app, date(2027, 3, 1))
    panelled = pool_with_accounts(factory, size=3)
    deadline = date(2027, 3, 20)
    request, invitations = _invite_everyone(panelled, mode="written", seats=3, meeting_date=None,
                                            meeting_place=None, deadline=deadline)
    for invitation in invitations:
        operations.accept(panelled.user_of(invitation.expert_id), invitation)
    db.session.commit()
    seated = [db.session.get(Invitation, i.id).engagement for i in invitations]
    set_today(app, deadline)
    engagements.save_opinion(panelled.user_of(seated[0].expert_id), seated[0], OPINION, submit=True)
    db.session.commit()
    set_today(app, deadline + timedelta(days=3))
    engagements.save_opinion(panelled.user_of(seated[1].expert_id), seated[1], OPINION, submit=True)
    db.session.commit()
    assert _events(seated[0].expert_id) == []
    [late] = _events(seated[1].expert_id)
    assert (late.kind, late.severity, late.points, late.occurred_on) == (
        EventKind.LATE_OPINION, Severity.MINOR, 5, deadline + timedelta(days=3))
    assert late.panel_request_id == request.id
    assert "应于 2027-03-20 前提交" in late.description


def test_a_record_by_hand_names_only_a_panel_the_expert_was_invited_to(app, factory):
    import pytest

    from experts_service.core.errors import ValidationFailed
    from experts_service.integrity import operations as integrity
    from tests.lifecycle.helpers import PDF

    set_today(app, date(2027, 3, 1))
    panelled = pool_with_accounts(factory, size=5)
    request, invitations = _invite_everyone(panelled)
    outsider = panelled.world.expert("局外人", employer=factory.organisation("局外单位"))
    data = {"kind": "perfunctory_opinion", "occurred_on": date(2027, 3, 1), "description": "经核实。",
            "panel_request_id": request.id}
    with pytest.raises(ValidationFailed) as refused:
        integrity.record_event(panelled.world.office, outsider, data, [("说明.pdf", PDF)])
    assert refused.value.fields == {"panel_request_id": ["该专家未受邀参加此论证"]}
    db.session.rollback()
    member = db.session.get(type(outsider), invitations[0].expert_id)
    event = integrity.record_event(panelled.world.office, member, data, [("说明.pdf", PDF)])
    assert event.panel_request_id == request.id
