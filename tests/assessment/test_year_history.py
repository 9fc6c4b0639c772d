"""A year of engagement history for 33 experts, graded and approved, every number computed by hand.

Weights 60/30/10 (DOMAIN.md). The ratings part is the mean of the year's ratings, rounded to two
decimals; no rating in the year scales integrity and self-assessment up to 100 (30:10); a missing
self-assessment counts 0. Expected totals below were worked out on paper, not by the code under test.
"""
from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
import sqlalchemy as sa

from experts_service.assessment import operations as assessment
from experts_service.assessment.models import Grade, Outcome
from experts_service.consultation.models import EngagementRating
from experts_service.core.auth import Role
from experts_service.core.errors import Conflict
from experts_service.experts.models import Expert, ExpertStatus
from experts_service.extensions import db
from experts_service.integrity import operations as integrity
from experts_service.integrity.models import IntegrityEvent, SanctionKind, SanctionStatus
from experts_service.lifecycle.models import ExitReason, ExpertExit
from experts_service.notifications.models import Notification
from experts_service.panels.models import Engagement, EngagementStatus
from tests.lifecycle.helpers import PDF, set_today
from tests.panels.helpers import World

YEAR = 2025
PART_MAXIMA = (30, 25, 15, 15, 15)

# name: (ratings in 2025, self-assessment or None, events [(kind, day)], expected total, grade, outcome)
CASES = {
    "甲优秀": ([95, 93, 97], 90, [], "96.00", Grade.EXCELLENT, Outcome.NONE),
    "乙晋级": ([92] * 10, 95, [], "94.70", Grade.EXCELLENT, Outcome.PROMOTION_ELIGIBLE),
    # One rating of 89 among ten: excellent, but not every rating reaches 90.
    "丙差一分": ([92] * 9 + [89], 95, [], "94.52", Grade.EXCELLENT, Outcome.NONE),
    "丁迟到": ([80, 84], 80, [("late", date(2025, 3, 12))], "85.70", Grade.PASS, Outcome.NONE),
    # Veto, dismissed in May once the appeal time ran out: graded, nothing more to do.
    "戊泄密": ([98], None, [("leaked_material", date(2025, 5, 10))], "88.80", Grade.FAIL, Outcome.ALREADY_EXITED),
    # Veto late in December: still suspended at approval; an adjustment upwards cannot lift a veto.
    "己收礼": ([96, 94], 90, [("accepted_benefits", date(2025, 12, 30))], "96.00", Grade.FAIL, Outcome.DISMISSAL),
    # Two absences (suspension), the second revoked on appeal: 85 for integrity, suspension gone.
    "庚申诉": ([92, 92], 95, [("absent", date(2025, 3, 3)), ("absent", date(2025, 4, 7))], "90.20",
            Grade.EXCELLENT, Outcome.NONE),
    "辛提醒": ([62, 66], 70, [("late", date(2025, 2, 1)), ("late", date(2025, 6, 1))], "72.40", Grade.BASIC,
            Outcome.REMINDER),
    "壬连续": ([60, 64], 70, [], "74.20", Grade.BASIC, Outcome.REMINDER),
    "癸不合格": ([40], None, [("absent", date(2025, 9, 9))], "49.50", Grade.FAIL, Outcome.DISMISSAL),
    "子未参与": ([], 80, [], "95.00", Grade.EXCELLENT, Outcome.NONE),
    "丑未自评": ([], None, [], "75.00", Grade.PASS, Outcome.NONE),
    # 89.80 computed; the office adjusts to 90 with a reason.
    "寅调整": ([88], 70, [], "89.80", Grade.EXCELLENT, Outcome.NONE),
    # Three minors in twelve months: one serious-equivalent (a warning), 15 points.
    "卯三次迟到": ([90], 90, [("late", date(2025, 1, 20)), ("late", date(2025, 4, 20)), ("late", date(2025, 8, 20))],
              "88.50", Grade.PASS, Outcome.NONE),
    # The first refusal of the year costs nothing, the second is serious.
    "辰拒绝": ([85, 86], 80, [("refusal", date(2025, 2, 14)), ("refusal", date(2025, 10, 14))], "84.80", Grade.PASS,
            Outcome.NONE),
    "巳四舍五入": ([87, 88, 88], 77, [], "90.30", Grade.EXCELLENT, Outcome.NONE),
    # Suspended from December into next year, still assessed.
    "午暂停中": ([78], 75, [("absent", date(2025, 11, 3)), ("perfunctory_opinion", date(2025, 12, 1))], "75.30",
             Grade.PASS, Outcome.NONE),
    "未九十": ([90], 90, [("late", date(2025, 5, 5)), ("late", date(2025, 7, 5))], "90.00", Grade.EXCELLENT,
            Outcome.NONE),
    "申六十": ([55], 15, [("absent", date(2025, 6, 6))], "60.00", Grade.BASIC, Outcome.REMINDER),
    "普一": ([100], 100, [], "100.00", Grade.EXCELLENT, Outcome.NONE),
    "普二": ([70], 60, [], "78.00", Grade.PASS, Outcome.NONE),
    "普三": ([75, 76], 70, [], "82.30", Grade.PASS, Outcome.NONE),
    "普四": ([81], 85, [], "87.10", Grade.PASS, Outcome.NONE),
    "普五": ([83, 91], 88, [], "91.00", Grade.EXCELLENT, Outcome.NONE),
    "普六": ([58], 50, [], "69.80", Grade.BASIC, Outcome.REMINDER),
    "普七": ([99, 97, 98], 0, [], "88.80", Grade.PASS, Outcome.NONE),
    "普八": ([73], None, [], "73.80", Grade.BASIC, Outcome.REMINDER),
    "普九": ([88, 89], 92, [], "92.30", Grade.EXCELLENT, Outcome.NONE),
    "普十": ([66, 67, 68], 80, [], "78.20", Grade.PASS, Outcome.NONE),
    "普十一": ([93], 100, [], "95.80", Grade.EXCELLENT, Outcome.NONE),
    "普十二": ([77], 77, [], "83.90", Grade.PASS, Outcome.NONE),
    "普十三": ([], 40, [], "85.00", Grade.PASS, Outcome.NONE),
    "普十四": ([30], 50, [], "53.00", Grade.FAIL, Outcome.DISMISSAL),
}
EXPECTED_INTEGRITY = {"丁迟到": 95, "庚申诉": 85, "辛提醒": 90, "癸不合格": 85, "卯三次迟到": 85, "辰拒绝": 85,
                      "午暂停中": 70, "未九十": 90, "申六十": 85, "戊泄密": 100, "己收礼": 100}


def _parts(total: int) -> dict[str, int]:
    """Split a total over the five rating parts within their maxima."""
    parts, left = [], total
    for maximum in PART_MAXIMA:
        parts.append(min(maximum, left))
        left -= parts[-1]
    return dict(zip(("quality", "professionalism", "punctuality", "discipline", "confidentiality"), parts))


def _engage(expert_id: int, department_id: int, ratings: list[int], year: int) -> None:
    for n, total in enumerate(ratings):
        day = date(year, 1 + n % 12, 10 + n // 12)
        engagement = Engagement(expert_id=expert_id, organisation_id=department_id, engaged_on=day,
                                status=EngagementStatus.COMPLETED)
        db.session.add(engagement)
        db.session.flush()
        db.session.add(EngagementRating(engagement_id=engagement.id, total=total, due_on=day, **_parts(total)))
    db.session.commit()


def _record(app, office, expert_id: int, kind: str, day: date):
    set_today(app, day)
    event = integrity.record_event(office, db.session.get(Expert, expert_id), {
        "kind": kind, "occurred_on": day, "description": f"{day.isoformat()} 经核实的失信情形"}, [("核查记录.pdf", PDF)])
    db.session.commit()
    return event


def _snapshot(cycle) -> dict[str, tuple]:
    db.session.expire_all()
    return {r.expert.name: (r.computed_total, r.adjusted_total, r.integrity_score, r.rating_score, r.self_score,
                            r.grade, r.outcome, tuple(r.explanation)) for r in cycle.results}


@pytest.fixture
def year_world(app, factory):
    set_today(app, date(2025, 1, 2))
    world = World(factory)
    experts, users = {}, {}
    for n, name in enumerate(CASES):
        expert = world.expert(name, employer=factory.organisation(f"第{n + 1}研究院"))
        experts[name] = expert.id
        users[name] = factory.user(Role.EXPERT, expert_id=expert.id)
    for name, (ratings, _self, _events, *_rest) in CASES.items():
        _engage(experts[name], world.department.id, ratings, YEAR)
    # Promotion looks two years back: nothing in 2024 (all appointed in 2025).
    for name, (_ratings, _self, events, *_rest) in CASES.items():
        for kind, day in events:
            event = _record(app, world.office, experts[name], kind, day)
            if name == "庚申诉" and day == date(2025, 4, 7):
                assert db.session.get(Expert, experts[name]).status is ExpertStatus.SUSPENDED
                set_today(app, date(2025, 4, 10))
                appeal = integrity.file_appeal(users[name], event, "当日持单位出具的公务派遣函请假，已提前报备。")
                db.session.commit()
                set_today(app, date(2025, 4, 15))
                integrity.decide_appeal(world.office, appeal, True, "经核实，专家已按规定请假，缺席有正当理由。")
                db.session.commit()
            if name == "戊泄密":
                integrity.run_daily(date(2025, 5, 26))  # the appeal time (15 days) is over: dismissed
                db.session.commit()
    return world, experts, users


def test_a_year_graded_and_approved_as_computed_by_hand(app, factory, year_world, runner):
    world, experts, users = year_world
    # The upheld appeal left no trace in effect: event revoked, suspension revoked, expert active again.
    geng = experts["庚申诉"]
    assert db.session.get(Expert, geng).status is ExpertStatus.ACTIVE
    assert [(s.kind, s.status) for s in integrity.sanctions_of_expert(geng)] == [
        (SanctionKind.WARNING, SanctionStatus.IN_FORCE), (SanctionKind.SUSPENSION, SanctionStatus.REVOKED)]
    assert db.session.get(Expert, experts["戊泄密"]).status is ExpertStatus.EXITED
    assert db.session.get(Expert, experts["己收礼"]).status is ExpertStatus.SUSPENDED
    assert db.session.get(Expert, experts["午暂停中"]).status is ExpertStatus.SUSPENDED
    # Appointed after the year: not assessed.
    set_today(app, date(2026, 1, 3))
    late_comer = world.expert("酉新聘", employer=factory.organisation("新聘单位"))

    set_today(app, date(2026, 1, 5))
    result = runner.invoke(args=["assessment", "open", str(YEAR)])
    assert result.exit_code == 0, result.output
    assert "共 33 人" in result.output
    assert runner.invoke(args=["assessment", "open", str(YEAR)]).exit_code == 1  # once per year
    cycle = assessment.get_cycle(world.office, YEAR)
    for name, (_ratings, own, *_rest) in CASES.items():
        if own is not None:
            assessment.submit_self_assessment(users[name], cycle, {"score": own, "summary": "全年参与论证情况小结。"})
            db.session.commit()
    results = {r.expert.name: r for r in cycle.results}
    assert late_comer.id not in {r.expert_id for r in cycle.results}
    yin = results["寅调整"]
    assert yin.computed_total == Decimal("89.80") and yin.grade is Grade.PASS
    assessment.adjust(world.office, yin, "90", "承担市重大课题论证，意见被全文采纳，酌情上调。")
    assessment.adjust(world.office, results["己收礼"], "95", "试图上调否决项")
    db.session.commit()

    # Computing again before approval gives the same numbers.
    before = _snapshot(cycle)
    assert runner.invoke(args=["assessment", "compute", str(YEAR)]).exit_code == 0
    assert _snapshot(cycle) == before

    for name, (_ratings, _own, _events, total, grade, outcome) in CASES.items():
        got = results[name]
        assert (got.computed_total, got.grade, got.outcome) == (Decimal(total), grade, outcome), name
        assert got.integrity_score == Decimal(EXPECTED_INTEGRITY.get(name, 100)), name
    assert results["寅调整"].final_total == Decimal("90.00")
    assert results["己收礼"].veto and results["己收礼"].final_total == Decimal("95.00")
    assert any("一票否决" in line for line in results["己收礼"].explanation)
    assert results["子未参与"].rating_score is None and results["子未参与"].engagements == 0
    assert results["巳四舍五入"].rating_score == Decimal("87.67")

    # Not while an appeal window of the year is open: 己收礼's runs to 14 January.
    with pytest.raises(Conflict, match="最迟于 2026-01-14 届满"):
        assessment.approve(world.office, cycle)
    db.session.rollback()
    set_today(app, date(2026, 1, 15))
    approval = assessment.approve(world.office, cycle, "经人才工作领导小组审议通过。")
    db.session.commit()
    assert sorted(r.expert.name for r in approval.dismissed) == ["己收礼", "普十四", "癸不合格"]
    assert sorted(r.expert.name for r in approval.promotable) == ["乙晋级"]
    assert sorted(r.expert.name for r in approval.reminded) == ["壬连续", "普八", "普六", "申六十", "辛提醒"]
    exits = {db.session.get(Expert, e.expert_id).name: e for e in db.session.execute(sa.select(ExpertExit)).scalars()}
    assert exits["癸不合格"].reason is ExitReason.ASSESSMENT_FAILED and exits["癸不合格"].ban_until is None
    assert exits["己收礼"].reason is ExitReason.INTEGRITY and exits["己收礼"].ban_until == date(2031, 1, 15)
    assert exits["戊泄密"].reason is ExitReason.INTEGRITY
    # Every assessed expert still in the pool was told, with the grade.
    told = db.session.execute(sa.select(Notification.subject).where(
        Notification.user_id == users["辛提醒"].id, Notification.kind == "assessment.reminder")).scalars().all()
    assert told == ["2025 年度考核结果：基本合格（72.40 分）"]
    assert db.session.execute(sa.select(sa.func.count()).select_from(Notification).where(
        Notification.kind.like("assessment.%"), Notification.kind != "assessment.open",
        Notification.kind != "assessment.promotable")).scalar_one() == 32

    # Frozen: nothing recomputes, adjusts or takes a self-assessment any more.
    after = _snapshot(cycle)
    with pytest.raises(Conflict):
        assessment.compute(world.office, cycle)
    with pytest.raises(Conflict):
        assessment.adjust(world.office, results["普二"], "99", "审定后调整")
    with pytest.raises(Conflict):
        assessment.submit_self_assessment(users["普二"], cycle, {"score": 100, "summary": "补交"})
    db.session.rollback()
    assert runner.invoke(args=["assessment", "compute", str(YEAR)]).exit_code == 1
    # A later upheld appeal does not move an approved result.
    event = db.session.execute(sa.select(IntegrityEvent).where(IntegrityEvent.expert_id == experts["丁迟到"])
                               ).scalar_one()
    assert event.appeal_until < date(2026, 1, 15)
    assert _snapshot(cycle) == after

    # The next year: 壬 is 基本合格 again (two in a row: dismissed); 辛, not engaged, is not.
    _engage(experts["壬连续"], world.department.id, [62], 2026)
    set_today(app, date(2027, 1, 5))
    following = assessment.open_cycle(world.office, 2026)
    assessment.submit_self_assessment(users["壬连续"], following, {"score": 60, "summary": "小结"})
    db.session.commit()
    second = {r.expert.name: r for r in following.results}
    assert (second["壬连续"].computed_total, second["壬连续"].grade, second["壬连续"].outcome) == (
        Decimal("73.20"), Grade.BASIC, Outcome.DISMISSAL)
    assert any("连续两年基本合格" in line for line in second["壬连续"].explanation)
    assert (second["辛提醒"].computed_total, second["辛提醒"].outcome) == (Decimal("75.00"), Outcome.NONE)
    assert second["己收礼"].outcome is Outcome.ALREADY_EXITED  # left in January 2026: graded, not acted on
    assert "戊泄密" not in second  # left in 2025
    assessment.approve(world.office, following)
    db.session.commit()
    assert db.session.get(Expert, experts["壬连续"]).status is ExpertStatus.EXITED


def test_approval_waits_until_every_record_of_the_year_is_final(app, factory):
    set_today(app, date(2025, 1, 2))
    world = World(factory)
    expert = world.expert("待申诉")
    user = factory.user(Role.EXPERT, expert_id=expert.id)
    event = _record(app, world.office, expert.id, "late", date(2025, 12, 20))
    set_today(app, date(2026, 1, 2))
    cycle = assessment.open_cycle(world.office, YEAR)
    db.session.commit()
    with pytest.raises(Conflict, match="尚有 1 条 2025 年度诚信记录在申诉期内或申诉未处理（申诉期最迟于 2026-01-04 届满）"):
        assessment.approve(world.office, cycle)
    db.session.rollback()
    integrity.file_appeal(user, event, "当日交通管制，已提前电话告知会务组。")
    db.session.commit()
    set_today(app, date(2026, 1, 10))  # the window is over, the appeal still waits
    with pytest.raises(Conflict, match="尚有 1 条"):
        assessment.approve(world.office, cycle)
    db.session.rollback()
    appeal = event.appeals[0]
    integrity.decide_appeal(world.office, appeal, True, "情况属实。")
    db.session.commit()
    result = cycle.results[0]
    assert result.integrity_score == Decimal(100)  # the open cycle followed the upheld appeal
    assessment.approve(world.office, cycle)
    db.session.commit()
    assert cycle.status.value == "approved"
