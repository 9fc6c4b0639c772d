"""催评: overdue ratings are chased once per panel and interval, and reach the talent office when long overdue."""
from __future__ import annotations

from datetime import datetime, time, timedelta, timezone

import pytest
import sqlalchemy as sa

from experts_service.consultation import engagements as records
from experts_service.consultation import todo
from experts_service.core.audit import AuditEntry
from experts_service.core.auth import Role
from experts_service.core.clock import display_zone
from experts_service.experts.models import Expert
from experts_service.extensions import db
from experts_service.lifecycle.workdays import add_working_days
from experts_service.notifications.models import MailMessage, Notification
from experts_service.policy import current_policy, update_policy
from tests.consultation.helpers import pool_with_accounts, seated_panel

GOOD_RATING = {"quality": 28, "professionalism": 22, "punctuality": 15, "discipline": 14, "confidentiality": 15}


def set_clock(app, day, hour: int = 9) -> None:
    app.config["CLOCK_NOW"] = datetime.combine(day, time(hour), tzinfo=display_zone()).astimezone(timezone.utc)


@pytest.fixture
def served(factory, app):
    """A confirmed 5-seat meeting of the department, every member accepted; the department user has an address."""
    panelled = pool_with_accounts(factory)
    panelled.department_user.email = "pingjia@fgw.example.cn"
    db.session.commit()
    request, engagements = seated_panel(panelled)
    due = records.rating_due_on(engagements[0])
    yield panelled, request, engagements, due
    app.config.pop("CLOCK_NOW", None)


def chase(day=None) -> list[todo.ChaseOutcome]:
    """The command's work, in this test's session: one department at a time, committed after each."""
    outcomes = []
    for organisation_id, refs in sorted(todo.overdue_by_department(day).items()):
        outcomes.append(todo.chase_department(organisation_id, refs, day))
        db.session.commit()
    return outcomes


def inbox(user, kind: str) -> list[Notification]:
    return list(db.session.execute(sa.select(Notification).where(
        Notification.user_id == user.id, Notification.kind == kind).order_by(Notification.id)).scalars())


def name_of(engagement) -> str:
    return db.session.get(Expert, engagement.expert_id).name


def chase_audits() -> list[AuditEntry]:
    return list(db.session.execute(sa.select(AuditEntry).where(AuditEntry.action == "rating.chase")
                                   .order_by(AuditEntry.seq)).scalars())


def escalation_day(due):
    """The first day the talent office hears: more than the rule's working days after the due day."""
    return add_working_days(due + timedelta(days=1), current_policy().rating_escalation_days)[1] + timedelta(days=1)


def test_the_rules_are_in_the_policy_with_their_defaults(app):
    policy = current_policy()
    assert policy.rating_chase_interval_days == 2 and policy.rating_escalation_days == 5


def test_an_overdue_rating_is_chased_once_in_app_and_by_mail(served, app):
    panelled, request, engagements, due = served
    department = panelled.department_user
    set_clock(app, due)  # the last day of the window: not overdue yet
    assert chase() == [] and inbox(department, todo.CHASE_KIND) == []
    set_clock(app, due + timedelta(days=1))
    [outcome] = chase()
    assert outcome.chased == [request.id] and outcome.recipients == 1
    [message] = inbox(department, todo.CHASE_KIND)
    assert message.link == f"/panel-requests/{request.id}#panel-members"
    assert request.item.title in message.subject
    assert all(name_of(e) in message.body for e in engagements) and f"{due:%Y-%m-%d}" in message.body
    mail = db.session.execute(sa.select(MailMessage).where(MailMessage.notification_id == message.id)).scalar_one()
    assert mail.to_address == department.email
    [entry] = chase_audits()
    assert entry.object_type == "organisation" and entry.object_id == str(request.item.organisation_id)
    assert entry.summary["chased"] == [request.id]
    assert sorted(entry.summary["engagements"]) == sorted(e.id for e in engagements)


def test_within_the_interval_there_is_no_second_chase_and_after_it_there_is(served, app):
    panelled, request, engagements, due = served
    department = panelled.department_user
    first = due + timedelta(days=1)
    set_clock(app, first, hour=8)
    chase()
    set_clock(app, first, hour=20)  # the same day again
    [again] = chase()
    assert again.chased == [] and again.recently_chased == [request.id]
    set_clock(app, first + timedelta(days=1), hour=7)  # the next day: still inside the 2-day interval
    chase()
    assert len(inbox(department, todo.CHASE_KIND)) == 1
    assert len(chase_audits()) == 1  # a run that told nobody is not a chase
    # Counted in local calendar days: a job a few hours earlier on day 3 still chases.
    set_clock(app, first + timedelta(days=2), hour=6)
    [later] = chase()
    assert later.chased == [request.id]
    assert len(inbox(department, todo.CHASE_KIND)) == 2


def test_the_interval_is_the_policys(served, app):
    panelled, request, engagements, due = served
    admin = panelled.world.factory.user(Role.ADMIN)
    update_policy(admin, {"rating_chase_interval_days": 1}, "每日催办")
    db.session.commit()
    set_clock(app, due + timedelta(days=1))
    chase()
    set_clock(app, due + timedelta(days=2))
    chase()
    assert len(inbox(panelled.department_user, todo.CHASE_KIND)) == 2


def test_a_rated_engagement_is_not_chased(served, app):
    panelled, request, engagements, due = served
    set_clock(app, due)
    for engagement in engagements[:-1]:
        records.rate(panelled.department_user, engagement, dict(GOOD_RATING))
    db.session.commit()
    set_clock(app, due + timedelta(days=1))
    chase()
    [message] = inbox(panelled.department_user, todo.CHASE_KIND)
    assert "以下 1 位专家" in message.body and name_of(engagements[-1]) in message.body
    assert not any(name_of(e) in message.body for e in engagements[:-1])
    records.rate(panelled.department_user, engagements[-1], dict(GOOD_RATING))
    db.session.commit()
    set_clock(app, due + timedelta(days=10))
    assert chase() == []
    assert len(inbox(panelled.department_user, todo.CHASE_KIND)) == 1


def test_only_the_requesting_department_is_told(served, app, factory):
    panelled, request, engagements, due = served
    other = factory.user(Role.DEPARTMENT)  # another organisation's department
    colleague = factory.user(Role.DEPARTMENT, organisation_id=request.item.organisation_id)
    set_clock(app, due + timedelta(days=1))
    chase()
    assert inbox(other, todo.CHASE_KIND) == []
    assert len(inbox(colleague, todo.CHASE_KIND)) == 1
    assert inbox(panelled.world.office, todo.CHASE_KIND) == []
    told = db.session.execute(sa.select(Notification.user_id).where(Notification.kind == todo.CHASE_KIND)).scalars()
    assert sorted(told) == sorted([panelled.department_user.id, colleague.id])


def test_the_talent_office_is_told_once_when_long_overdue(served, app):
    panelled, request, engagements, due = served
    office = panelled.world.office
    escalate_on = escalation_day(due)
    set_clock(app, escalate_on - timedelta(days=1))
    chase()
    assert inbox(office, todo.ESCALATION_KIND) == []
    set_clock(app, escalate_on)
    [outcome] = chase()
    assert outcome.escalated == [request.id]
    [message] = inbox(office, todo.ESCALATION_KIND)
    assert message.link == todo.chase_link(request.id)
    assert request.item.organisation.name in message.body and "个工作日" in message.subject
    assert chase_audits()[-1].summary["escalated"] == [request.id]
    set_clock(app, escalate_on + timedelta(days=10))
    chase()
    assert len(inbox(office, todo.ESCALATION_KIND)) == 1  # once; the department is still chased
    assert len(inbox(panelled.department_user, todo.CHASE_KIND)) >= 2


def test_working_days_are_read_once_and_agree_with_the_one_call_version(served):
    panelled, request, engagements, due = served
    policy = current_policy()
    days = [request.meeting_date + timedelta(days=n) for n in range(0, 40, 3)]
    calendar = todo.WorkingCalendar.around(days, policy.rating_window_working_days, policy.rating_escalation_days)
    for day in days:
        expected = add_working_days(day + timedelta(days=1), policy.rating_window_working_days)[1]
        assert calendar.rating_due_on(day, policy) == expected
        assert calendar.escalation_after(day, policy) == add_working_days(
            day + timedelta(days=1), policy.rating_escalation_days)[1]


def test_the_command_commits_each_department_and_prints_the_counts(served, app, runner):
    panelled, request, engagements, due = served
    set_clock(app, due + timedelta(days=1))
    result = runner.invoke(args=["consultation", "chase-ratings"])
    assert result.exit_code == 0, result.output
    assert "逾期未评价 5 人次，涉及 1 个部门" in result.output
    assert "已催办 1 个部门的 1 次论证（通知 1 个账户）" in result.output
    assert "报人才工作部门 0 次论证" in result.output
    db.session.rollback()
    assert len(inbox(panelled.department_user, todo.CHASE_KIND)) == 1
    again = runner.invoke(args=["consultation", "chase-ratings"])
    assert again.exit_code == 0, again.output
    assert "已催办 0 个部门的 0 次论证" in again.output and "本次跳过 1 次论证" in again.output
    db.session.rollback()
    assert len(inbox(panelled.department_user, todo.CHASE_KIND)) == 1


def test_the_command_with_nothing_overdue(runner):
    result = runner.invoke(args=["consultation", "chase-ratings"])
    assert result.exit_code == 0, result.output
    assert "逾期未评价 0 人次，涉及 0 个部门" in result.output


def test_a_rating_given_after_the_list_was_read_is_not_chased(served, app):
    panelled, request, engagements, due = served
    set_clock(app, due + timedelta(days=1))
    [(organisation_id, refs)] = todo.overdue_by_department().items()
    for engagement in engagements:
        records.rate(panelled.department_user, engagement, dict(GOOD_RATING))
    db.session.commit()
    outcome = todo.chase_department(organisation_id, refs)
    db.session.commit()
    assert outcome.overdue == 0 and outcome.chased == []
    assert inbox(panelled.department_user, todo.CHASE_KIND) == [] and chase_audits() == []
