"""Pooled experts: every exit reason and its ban, tier changes, confirmed profile changes with history."""
from __future__ import annotations

from datetime import date

import pytest
import sqlalchemy as sa

from experts_service.core.errors import NothingChanged, ValidationFailed
from experts_service.experts.models import ExpertStatus
from experts_service.extensions import db
from experts_service.lifecycle import operations
from experts_service.lifecycle.models import ChangeStatus, ExitReason, StatusChange
from experts_service.lifecycle.schemas import ApplicationInputSchema
from experts_service.panels.models import EmploymentRecord
from tests.conftest import valid_id_number
from tests.lifecycle.helpers import set_today

# reason -> (ban until, permanent): DOMAIN.md bans only integrity exits, for good for illegal conduct.
BANS = {
    ExitReason.RESIGNATION: (None, False), ExitReason.TERM_END: (None, False), ExitReason.AGE_LIMIT: (None, False),
    ExitReason.ASSESSMENT_FAILED: (None, False), ExitReason.INTEGRITY: (date(2031, 11, 2), False),
    ExitReason.ILLEGAL_CONDUCT: (None, True), ExitReason.STANDING_CONFLICT: (None, False),
    ExitReason.HEALTH: (None, False), ExitReason.DEATH: (None, False),
}


@pytest.mark.parametrize("reason", list(ExitReason), ids=[r.value for r in ExitReason])
def test_every_exit_reason_archives_and_bans_as_the_rules_say(app, factory, reason):
    set_today(app, date(2026, 11, 2))
    office = factory.user("talent_office")
    id_number = valid_id_number(birth=date(1970, 3, 3), sequence=401)
    expert = factory.expert(id_number=id_number)
    record = operations.exit_expert(office, expert, reason, "查实的事实")
    db.session.commit()
    assert (record.ban_until, record.permanent_ban) == BANS[reason]
    assert expert.status is ExpertStatus.EXITED and expert.current_appointment is None and expert.appointments
    payload = factory.expert_payload(id_number=id_number, channel="invitation")
    payload.pop("tier_id")
    application = operations.submit_application(office, ApplicationInputSchema().load(payload))
    checks = {c["name"]: c["passed"] for c in application.checks}
    assert application.expert_id == expert.id
    assert checks["no_reapply_ban"] is (BANS[reason][0] is None)
    assert checks["no_permanent_ban"] is (not BANS[reason][1])


def test_integrity_exit_needs_the_facts_in_writing(app, factory):
    office = factory.user("talent_office")
    expert = factory.expert()
    with pytest.raises(ValidationFailed):
        operations.exit_expert(office, expert, ExitReason.INTEGRITY, " ")
    assert expert.status is ExpertStatus.ACTIVE


def test_tier_changes_with_reason_and_history(app, factory):
    office = factory.user("talent_office")
    expert = factory.expert(tier_id=factory.tier_id("general"))
    operations.change_tier(office, expert, factory.tier_id("core"), "年度考核优秀且参与论证 12 次")
    db.session.commit()
    assert expert.tier.code == "core" and expert.current_appointment.tier.code == "core"
    with pytest.raises(NothingChanged):
        operations.change_tier(office, expert, factory.tier_id("core"), "重复")
    operations.change_tier(office, expert, factory.tier_id("general"), "连续两年基本合格")
    db.session.commit()
    changes = db.session.execute(sa.select(StatusChange).where(StatusChange.expert_id == expert.id,
                                                               StatusChange.action == "change_tier")).scalars().all()
    assert [c.details["direction"] for c in changes] == ["promotion", "demotion"]


def test_employer_change_waits_for_confirmation_and_keeps_the_former_employer(app, factory):
    set_today(app, date(2026, 11, 2))
    office = factory.user("talent_office")
    expert = factory.expert(title_name="教授")
    user = factory.user("expert", expert_id=expert.id)
    old_employer, new_employer = expert.employer_id, factory.organisation("新单位研究院").id
    request = operations.request_profile_change(user, expert, {"employer_id": new_employer, "title_name": "研究员",
                                                               "note": "工作调动"})
    db.session.commit()
    assert expert.employer_id == old_employer and request.previous == {"employer_id": old_employer,
                                                                       "title_name": "教授"}
    with pytest.raises(ValidationFailed):
        operations.decide_change(office, request.id, False, "")
    operations.decide_change(office, request.id, True)
    db.session.commit()
    assert (expert.employer_id, expert.title_name, request.status) == (new_employer, "研究员", ChangeStatus.CONFIRMED)
    former = db.session.execute(sa.select(EmploymentRecord).where(EmploymentRecord.expert_id == expert.id)).scalar_one()
    assert (former.organisation_id, former.ended_on) == (old_employer, date(2026, 11, 2))
