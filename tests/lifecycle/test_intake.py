"""Intake: checks by name, override in writing, review votes and conflicts, notice in working days."""
from __future__ import annotations

from datetime import date

import pytest

from experts_service.core.errors import Forbidden, ValidationFailed
from experts_service.experts.models import (
    ConflictDeclaration,
    ConflictKind,
    ExpertStatus,
)
from experts_service.extensions import db
from experts_service.lifecycle import operations
from experts_service.lifecycle.models import Stage
from experts_service.lifecycle.operations import ReviewerConflict
from experts_service.lifecycle.states import IllegalTransition
from tests.conftest import valid_id_number
from tests.lifecycle.helpers import Intake, set_today


@pytest.fixture
def intake(factory, app):
    set_today(app, date(2026, 11, 2))
    return Intake(factory, app)


def test_checks_are_reported_by_name_with_reasons(intake):
    application = intake.submit(id_number=valid_id_number(birth=date(1955, 3, 1)), title_level="intermediate",
                                years_in_field=5)
    checks = {c["name"]: c for c in application.checks}
    assert set(checks) == {"id_number", "age", "title_or_years", "no_permanent_ban", "no_reapply_ban"}
    assert not checks["age"]["passed"] and checks["age"]["reason"] == "71 岁，超过一般申请人上限 65 岁"
    assert not checks["title_or_years"]["passed"] and "从业满 8 年" in checks["title_or_years"]["reason"]
    assert checks["no_reapply_ban"]["passed"] and checks["id_number"]["passed"]
    assert application.expert.status is ExpertStatus.APPLICANT


def test_academician_limit_and_written_override(intake):
    academician = intake.submit(id_number=valid_id_number(birth=date(1958, 1, 1)), is_academician=True)
    assert all(c["passed"] for c in academician.checks)  # 68 years old, academician limit 70
    older = intake.submit(id_number=valid_id_number(birth=date(1958, 1, 2)), name="赵敏")
    with pytest.raises(IllegalTransition, match="年龄：68 岁，超过一般申请人上限 65 岁"):
        operations.qualify(intake.office, older)
    db.session.rollback()
    with pytest.raises(ValidationFailed):
        operations.override_checks(intake.office, older, "  ")
    operations.override_checks(intake.office, older, "市委人才办认定的特殊人才（文件第 3 号）")
    db.session.commit()
    operations.qualify(intake.office, older)
    db.session.commit()
    assert older.stage is Stage.EXPERT_REVIEW and older.expert.status is ExpertStatus.UNDER_REVIEW


def test_duplicate_id_number_is_refused_and_reapplication_reuses_the_record(intake, factory):
    pooled = factory.expert(id_number=valid_id_number(birth=date(1970, 1, 1), sequence=7))
    with pytest.raises(ValidationFailed) as error:
        intake.submit(id_number=valid_id_number(birth=date(1970, 1, 1), sequence=7))
    assert error.value.fields == {"id_number": ["该身份证号已在专家库中或有在办的申请"]}
    db.session.rollback()
    operations.exit_expert(intake.office, pooled, operations.ExitReason.INTEGRITY, "隐瞒利益冲突")
    db.session.commit()
    again = intake.submit(id_number=valid_id_number(birth=date(1970, 1, 1), sequence=7))
    assert again.expert_id == pooled.id
    assert {c["name"]: c["passed"] for c in again.checks}["no_reapply_ban"] is False
    assert "2031-11-02 前不得再申请" in {c["name"]: c for c in again.checks}["no_reapply_ban"]["reason"]
    with pytest.raises(ValidationFailed):
        operations.override_checks(intake.office, again, "试图绕过禁止期")  # bans cannot be overridden


def test_reviewer_with_a_conflict_cannot_vote(intake):
    application = intake.submit()
    intake.step(application, "qualify")
    expert, user = intake.reviewers[0]
    db.session.add(ConflictDeclaration(expert_id=expert.id, kind=ConflictKind.PERSON, person_name="王芳",
                                       relationship_note="博士导师"))
    db.session.commit()
    with pytest.raises(ReviewerConflict, match="已申报与申请人存在利益关系"):
        operations.cast_vote(user, application, "approve", "同意")
    db.session.rollback()
    outsider = intake.factory.user("expert")
    with pytest.raises(Forbidden):
        operations.cast_vote(outsider, application, "approve", "同意")


def test_same_employer_reviewer_must_stand_aside(intake, factory):
    expert, user = intake.reviewers[1]
    application = intake.submit(employer_id=expert.employer_id)
    intake.step(application, "qualify")
    with pytest.raises(ReviewerConflict, match="同一单位"):
        operations.cast_vote(user, application, "approve", "同意")


def test_review_needs_quorum_and_majority(intake):
    application = intake.submit()
    intake.step(application, "qualify")
    intake.votes(application, "approve", "reject")
    with pytest.raises(IllegalTransition, match="有效票 2 票，少于 3 票"):
        operations.conclude_review(intake.office, application)
    db.session.rollback()
    operations.cast_vote(intake.reviewers[2][1], application, "reject", "研究方向与本领域关联不足")
    db.session.commit()
    intake.step(application, "conclude_review")
    assert application.stage is Stage.REJECTED and application.expert.status is ExpertStatus.REJECTED
    assert application.outcome_reason == "专业评审未通过（同意 1 票 / 有效 3 票）"


def test_notice_counts_working_days_across_national_day_and_local_days_off(intake, factory, app):
    set_today(app, date(2026, 9, 29))
    application = intake.submit()
    intake.to_notice(application)
    # 9-29, 9-30, then the 10-1..10-8 holiday, 10-9 (a make-up Friday? no: a normal Friday) ...
    assert application.notice_starts_on == date(2026, 9, 29)
    import chinese_calendar

    expected, day, count = None, date(2026, 9, 29), 0
    from datetime import timedelta

    while count < 5:
        if chinese_calendar.is_workday(day):
            count += 1
            expected = day
        day += timedelta(days=1)
    assert application.notice_ends_on == expected and expected > date(2026, 10, 8)
    admin = factory.user("admin")
    operations.set_calendar_override(admin, {"day": date(2026, 9, 30), "is_workday": False, "note": "本市防汛停工"})
    db.session.commit()
    second = intake.submit(name="刘洋")
    intake.to_notice(second)
    assert second.notice_ends_on > application.notice_ends_on
