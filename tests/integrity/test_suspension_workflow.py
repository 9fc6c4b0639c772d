"""Two serious events within twelve months suspend the expert for the policy's period; the matcher stops
offering them; `flask lifecycle run-daily` brings them back on the end date. An absence recorded by the
department and a perfunctory opinion recorded by the talent office are the two events."""
from __future__ import annotations

from datetime import date, timedelta

import sqlalchemy as sa

from experts_service.consultation import engagements as engagement_ops
from experts_service.core.clock import today
from experts_service.core.audit import AuditEntry
from experts_service.experts.models import Expert, ExpertStatus
from experts_service.extensions import db
from experts_service.integrity import operations
from experts_service.integrity.ladder import add_months
from experts_service.integrity.models import (
    EventKind,
    EventSource,
    IntegrityEvent,
    Sanction,
    SanctionKind,
    SanctionStatus,
    Severity,
)
from experts_service.notifications.models import Notification
from experts_service.policy import current_policy
from tests.consultation.helpers import pool_with_accounts, seated_panel
from tests.lifecycle.helpers import PDF, set_today


def _daily(runner) -> str:
    result = runner.invoke(args=["lifecycle", "run-daily"])
    assert result.exit_code == 0, result.output
    return result.output


def _offered(world, expert_id: int) -> bool:
    request = world.request(world.item(title="老旧小区改造实施方案"), meeting_date=today() + timedelta(days=30))
    record = world.run(request)
    offered = {c["expert_id"] for c in record.candidates}
    if expert_id not in offered:
        assert expert_id in record.filtered["experts"]["not_active"]
    return expert_id in offered


def test_two_serious_events_suspend_then_run_daily_reinstates_on_the_end_date(app, factory, runner):
    set_today(app, date(2027, 3, 1))
    panelled = pool_with_accounts(factory)
    world = panelled.world
    request, seated = seated_panel(panelled, days_ahead=10)
    absentee = seated[0]
    expert_id = absentee.expert_id
    meeting_day = request.meeting_date

    # 1. The department records the expert absent: a serious event from the workflow, a warning.
    set_today(app, meeting_day)
    engagement_ops.record_attendance(panelled.department_user, absentee, {"attendance": "absent"})
    db.session.commit()
    absence = db.session.execute(sa.select(IntegrityEvent).where(IntegrityEvent.expert_id == expert_id)).scalar_one()
    assert (absence.kind, absence.severity, absence.source) == (EventKind.ABSENT, Severity.SERIOUS,
                                                                EventSource.WORKFLOW)
    assert absence.points == current_policy().serious_event_points == 15
    assert absence.appeal_until == meeting_day + timedelta(days=15)
    sanctions = db.session.execute(sa.select(Sanction).where(Sanction.expert_id == expert_id)).scalars().all()
    assert [(s.kind, s.status) for s in sanctions] == [(SanctionKind.WARNING, SanctionStatus.IN_FORCE)]
    assert db.session.get(Expert, expert_id).status is ExpertStatus.ACTIVE
    assert _offered(world, expert_id)

    # 2. Four months later the office records a perfunctory opinion, with its evidence: suspension.
    second_day = date(2027, 7, 20)
    set_today(app, second_day)
    expert = db.session.get(Expert, expert_id)
    event = operations.record_event(world.office, expert, {
        "kind": "perfunctory_opinion", "occurred_on": second_day - timedelta(days=2),
        "description": "书面意见仅一句“同意”，未对风险作任何分析。"}, [("意见原件.pdf", PDF)])
    db.session.commit()
    suspension = db.session.execute(sa.select(Sanction).where(
        Sanction.expert_id == expert_id, Sanction.kind == SanctionKind.SUSPENSION)).scalar_one()
    months = current_policy().suspension_months
    assert months == 6
    assert (suspension.starts_on, suspension.ends_on) == (second_day, add_months(second_day, months))
    assert suspension.ends_on == date(2028, 1, 20)
    assert suspension.status is SanctionStatus.IN_FORCE
    assert {e.id for e in suspension.events} == {absence.id, event.id}
    # Explained: which events, and the rule.
    assert "较重失信 2 次" in suspension.explanation and "无故缺席" in suspension.explanation
    assert "敷衍应付出具意见" in suspension.explanation and "暂停资格 6 个月" in suspension.explanation
    assert db.session.get(Expert, expert_id).status is ExpertStatus.SUSPENDED
    told = db.session.execute(sa.select(Notification.subject).where(
        Notification.user_id == panelled.user_of(expert_id).id, Notification.kind == "integrity.sanction")
    ).scalars().all()
    assert "诚信处理：暂停资格，至 2028-01-20" in told

    # 3. The matcher no longer offers them.
    assert not _offered(world, expert_id)

    # 4. The day before the end date: still suspended. On the end date: back, and offered again.
    set_today(app, suspension.ends_on - timedelta(days=1))
    assert "期满恢复 0 人" in _daily(runner)
    assert db.session.get(Expert, expert_id).status is ExpertStatus.SUSPENDED
    set_today(app, suspension.ends_on)
    assert "期满恢复 1 人" in _daily(runner)
    db.session.expire_all()
    assert db.session.get(Expert, expert_id).status is ExpertStatus.ACTIVE
    assert db.session.get(Sanction, suspension.id).status is SanctionStatus.ENDED
    assert _offered(world, expert_id)
    # A second run that day changes nothing.
    assert "期满恢复 0 人" in _daily(runner)
    actions = db.session.execute(sa.select(AuditEntry.action).where(
        AuditEntry.object_type.in_(("expert", "sanction")))).scalars().all()
    assert actions.count("expert.reinstate") == 1 and "sanction.impose" in actions


def test_a_further_serious_event_after_the_suspension_brings_the_longer_one(app, factory):
    set_today(app, date(2027, 1, 10))
    panelled = pool_with_accounts(factory, size=1)
    world, expert = panelled.world, panelled.experts[0]

    def serious(day: date, text: str) -> None:
        set_today(app, day)
        operations.record_event(world.office, db.session.get(Expert, expert.id), {
            "kind": "perfunctory_opinion", "occurred_on": day, "description": text}, [("材料.pdf", PDF)])
        db.session.commit()

    serious(date(2027, 1, 10), "第一次")
    serious(date(2027, 2, 10), "第二次")
    first = db.session.execute(sa.select(Sanction).where(Sanction.kind == SanctionKind.SUSPENSION)).scalar_one()
    assert (first.starts_on, first.ends_on) == (date(2027, 2, 10), date(2027, 8, 10))
    operations.run_daily(date(2027, 8, 10))
    db.session.commit()
    assert db.session.get(Expert, expert.id).status is ExpertStatus.ACTIVE
    # Eleven months after that suspension ended: one more serious event is enough, for twelve months.
    serious(date(2028, 7, 1), "第三次")
    repeat = db.session.execute(sa.select(Sanction).where(
        Sanction.kind == SanctionKind.SUSPENSION, Sanction.id != first.id)).scalar_one()
    assert current_policy().repeat_suspension_months == 12
    assert (repeat.starts_on, repeat.ends_on) == (date(2028, 7, 1), date(2029, 7, 1))
    assert "前次暂停（2027-02-10 至 2027-08-10）" in repeat.explanation
    assert db.session.get(Expert, expert.id).status is ExpertStatus.SUSPENDED


def test_a_correction_of_the_attendance_withdraws_the_event_and_its_sanction(app, factory):
    set_today(app, date(2027, 3, 1))
    panelled = pool_with_accounts(factory)
    request, seated = seated_panel(panelled, days_ahead=10)
    set_today(app, request.meeting_date)
    engagement_ops.record_attendance(panelled.department_user, seated[1], {"attendance": "late", "minutes_late": 20})
    db.session.commit()
    late = db.session.execute(sa.select(IntegrityEvent)).scalar_one()
    assert (late.kind, late.severity, late.points) == (EventKind.LATE, Severity.MINOR, 5)
    # Late becomes absent: the late event is withdrawn, an absence recorded, with its own appeal window.
    set_today(app, request.meeting_date + timedelta(days=4))
    engagement_ops.record_attendance(panelled.department_user, seated[1], {"attendance": "absent"})
    db.session.commit()
    late, absent = db.session.execute(sa.select(IntegrityEvent).order_by(IntegrityEvent.id)).scalars().all()
    assert late.status.value == "withdrawn"
    assert (absent.kind, absent.severity, absent.points) == (EventKind.ABSENT, Severity.SERIOUS, 15)
    assert absent.appeal_until == request.meeting_date + timedelta(days=4 + 15)
    assert [s.kind for s in db.session.execute(sa.select(Sanction)).scalars()] == [SanctionKind.WARNING]
    told = db.session.execute(sa.select(Notification.subject).where(
        Notification.user_id == panelled.user_of(seated[1].expert_id).id, Notification.kind == "integrity.event")
    ).scalars().all()
    assert told == ["新的诚信记录：论证会迟到（一般失信，扣 5 分）", "新的诚信记录：无故缺席（较重失信，扣 15 分）"]
    engagement_ops.record_attendance(panelled.department_user, seated[1], {"attendance": "on_time"})
    db.session.commit()
    assert {e.status.value for e in db.session.execute(sa.select(IntegrityEvent)).scalars()} == {"withdrawn"}
    assert [s.status for s in db.session.execute(sa.select(Sanction)).scalars()] == [SanctionStatus.REVOKED]
