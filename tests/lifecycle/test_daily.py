"""flask lifecycle run-daily: renewals open, terms end, ages run out, notices close; twice changes nothing."""
from __future__ import annotations

from datetime import date, timedelta

import sqlalchemy as sa

from experts_service.core.auth import Role
from experts_service.experts.models import Expert, ExpertStatus
from experts_service.extensions import db
from experts_service.lifecycle import operations
from experts_service.lifecycle.models import (
    ExitReason,
    ExpertExit,
    RenewalReview,
    RenewalStatus,
)
from experts_service.panels import facts, matcher
from experts_service.policy import current_policy
from tests.conftest import valid_id_number
from tests.lifecycle.helpers import (
    Intake,
    database_dump,
    last_seq,
    pooled_expert,
    set_today,
)
from tests.panels.helpers import World

START = date(2026, 12, 1)
TERM_END = date(2031, 12, 1)


def daily(runner) -> str:
    result = runner.invoke(args=["lifecycle", "run-daily"])
    assert result.exit_code == 0, result.output
    return result.output


def test_term_end_exits_the_expert_and_archives_the_record(app, factory, runner):
    set_today(app, START)
    expert = pooled_expert(factory, app, term_start=START)
    assert expert.current_appointment.term_end == TERM_END
    set_today(app, TERM_END - timedelta(days=1))
    assert "聘期届满退出 0 人" in daily(runner)
    set_today(app, TERM_END)
    assert "聘期届满退出 1 人" in daily(runner)
    db.session.expire_all()
    expert = db.session.get(Expert, expert.id)
    assert expert.status is ExpertStatus.EXITED and expert.current_appointment is None
    assert len(expert.appointments) == 1  # kept, no longer current
    exit_record = db.session.execute(sa.select(ExpertExit).where(ExpertExit.expert_id == expert.id)).scalar_one()
    assert (exit_record.reason, exit_record.exited_on, exit_record.ban_until) == (ExitReason.TERM_END, TERM_END, None)


def test_renewal_window_queue_and_decisions(app, factory, runner):
    set_today(app, START)
    kept = pooled_expert(factory, app, term_start=START, name="续聘者")
    dropped = pooled_expert(factory, app, term_start=START, name="不续聘者")
    office = factory.user(Role.TALENT_OFFICE)
    set_today(app, TERM_END - timedelta(days=61))
    assert "开启续聘评审 0 件" in daily(runner)
    set_today(app, TERM_END - timedelta(days=60))
    assert "开启续聘评审 2 件" in daily(runner)
    queue = {review.expert_id: review for review in operations.renewal_queue(office)}
    assert set(queue) == {kept.id, dropped.id} and queue[kept.id].due_on == TERM_END
    operations.decide_renewal(office, queue[kept.id].id, True, "履职良好", factory.tier_id("core"))
    operations.decide_renewal(office, queue[dropped.id].id, False, "本人年度考核基本合格两次")
    db.session.commit()
    assert operations.renewal_queue(office) == []
    set_today(app, TERM_END)
    assert "聘期届满退出 1 人" in daily(runner)
    db.session.expire_all()
    kept, dropped = db.session.get(Expert, kept.id), db.session.get(Expert, dropped.id)
    assert kept.status is ExpertStatus.ACTIVE and kept.tier.code == "core"
    assert (kept.current_appointment.term_start, kept.current_appointment.term_end) == (TERM_END, date(2036, 12, 1))
    assert dropped.status is ExpertStatus.EXITED


def test_undecided_renewal_exits_at_term_end(app, factory, runner):
    set_today(app, START)
    expert = pooled_expert(factory, app, term_start=START)
    set_today(app, TERM_END - timedelta(days=30))
    daily(runner)
    set_today(app, TERM_END)
    daily(runner)
    review = db.session.execute(sa.select(RenewalReview).where(RenewalReview.expert_id == expert.id)).scalar_one()
    assert review.status is RenewalStatus.NOT_RENEWED and "已退出" in review.reason


def test_age_limit_exits_with_the_academician_exception(app, factory, runner):
    set_today(app, date(2025, 12, 1))
    young = pooled_expert(factory, app, id_number=valid_id_number(birth=date(1961, 12, 2)), name="未超龄")
    old = pooled_expert(factory, app, id_number=valid_id_number(birth=date(1960, 12, 1)), name="超龄者")
    academician = pooled_expert(factory, app, id_number=valid_id_number(birth=date(1956, 12, 2)), name="院士",
                                is_academician=True)
    # Two years on: 超龄者 is 67; 未超龄 turns 66 and 院士 71 only on 2027-12-02.
    set_today(app, date(2027, 12, 1))
    assert "超龄退出 1 人" in daily(runner)
    db.session.expire_all()
    statuses = {e.name: e.status for e in db.session.execute(sa.select(Expert)).scalars()}
    assert statuses["超龄者"] is ExpertStatus.EXITED
    assert statuses["未超龄"] is ExpertStatus.ACTIVE and statuses["院士"] is ExpertStatus.ACTIVE
    set_today(app, date(2027, 12, 2))
    assert "超龄退出 2 人" in daily(runner)
    db.session.expire_all()
    assert {db.session.get(Expert, e.id).status for e in (young, academician, old)} == {ExpertStatus.EXITED}


def test_notice_closes_after_its_last_working_day(app, factory, runner):
    set_today(app, date(2026, 11, 2))
    intake = Intake(factory, app)
    application = intake.submit()
    intake.to_notice(application)
    set_today(app, application.notice_ends_on)
    assert "关闭公示 0 件" in daily(runner)
    set_today(app, application.notice_ends_on + timedelta(days=1))
    assert "关闭公示 1 件" in daily(runner)
    db.session.refresh(application)
    assert application.notice_closed_on == application.notice_ends_on + timedelta(days=1)


def test_run_daily_twice_on_the_same_day_changes_nothing_the_second_time(app, factory, runner):
    set_today(app, START)
    for name in ("甲", "乙"):
        pooled_expert(factory, app, term_start=START, name=f"专家{name}")
    pooled_expert(factory, app, term_start=date(2026, 1, 10), name="专家丙")
    pooled_expert(factory, app, id_number=valid_id_number(birth=date(1961, 1, 1)), name="专家丁")
    intake = Intake(factory, app)
    application = intake.submit()
    intake.to_notice(application)
    set_today(app, date(2031, 1, 9))  # 丙's renewal window, 丁's age, the notice long over
    first = daily(runner)
    assert "今日没有需要处理的事项" not in first
    before, seq = database_dump(exclude=()), last_seq()
    second = daily(runner)
    assert "关闭公示 0 件，开启续聘评审 0 件，聘期届满退出 0 人，超龄退出 0 人" in second
    assert "今日没有需要处理的事项" in second
    assert database_dump(exclude=()) == before and last_seq() == seq


def test_exited_and_suspended_experts_never_match(app, factory):
    world = World(factory)
    stays = world.expert("留任")
    leaves = world.expert("退出者")
    paused = world.expert("暂停者")
    operations.exit_expert(world.office, leaves, ExitReason.HEALTH)
    operations.suspend(world.office, paused, "接受调查")
    db.session.commit()
    request = world.request(world.item(), mode="written", seats=3, meeting_date=None, meeting_place=None,
                            deadline=date.today() + timedelta(days=30), min_senior_members=0)
    data = facts.gather(request, current_policy())
    outcome = matcher.apply_filters(data.profiles, data.filter_context)
    qualified = {p.expert_id for p in outcome.qualified}
    assert stays.id in qualified and leaves.id not in qualified and paused.id not in qualified
    assert {leaves.id, paused.id} <= set(outcome.dropped["not_active"])
