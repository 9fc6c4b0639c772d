"""Every illegal step is refused with a clear Chinese message and the stable
code `illegal_transition`, and leaves nothing but the refusal in the audit log."""
from __future__ import annotations

from datetime import date, timedelta

import pytest
import requests
import sqlalchemy as sa

from experts_service.core.audit import AuditEntry
from experts_service.core.auth import Role
from experts_service.extensions import db
from experts_service.lifecycle import operations
from experts_service.lifecycle.models import ExitReason
from tests.api.helpers import API, assert_error
from tests.conftest import api_token, valid_id_number
from tests.lifecycle.helpers import (
    Intake,
    audit_actions_after,
    database_dump,
    last_seq,
    set_today,
)


@pytest.fixture
def world(app, factory, live_server):
    set_today(app, date(2026, 11, 2))
    intake = Intake(factory, app)
    office = api_token(live_server, intake.office.username)
    fresh = intake.submit(name="初审中")
    reviewing = intake.submit(name="评审中")
    intake.step(reviewing, "qualify")
    noticed = intake.to_notice(intake.submit(name="公示中"))
    too_old = intake.submit(name="超龄者", id_number=valid_id_number(birth=date(1950, 1, 1)))
    appointed = intake.appoint(intake.to_notice(intake.submit(name="已聘任")))
    set_today(app, date(2026, 11, 2))
    exited = factory.expert(name="已退出")
    operations.exit_expert(intake.office, exited, ExitReason.HEALTH)
    suspended = factory.expert(name="已暂停")
    operations.suspend(intake.office, suspended, "接受调查")
    active = factory.expert(name="在库")
    db.session.commit()
    exited_user = factory.user(Role.EXPERT, expert_id=exited.id)
    return {
        "office": office, "intake": intake, "fresh": fresh.id, "reviewing": reviewing.id, "noticed": noticed.id,
        "too_old": too_old.id, "appointed": appointed.id, "exited": exited.id, "suspended": suspended.id,
        "active": active.id, "exited_user": api_token(live_server, exited_user.username),
        "reviewer": api_token(live_server, intake.reviewers[0][1].username),
    }


def _decision(action, key, **extra):
    return lambda w, f: ("POST", f"/applications/{w[key]}/decisions", {"action": action, **extra}, w["office"])


def _status(action, key, **extra):
    return lambda w, f: ("POST", f"/experts/{w[key]}/status", {"action": action, "reason": "测试", **extra},
                         w["office"])


ILLEGAL = {
    # name: (request builder, words the message must hold)
    "appoint without public notice": (
        lambda w, f: ("POST", f"/applications/{w['fresh']}/decisions",
                      {"action": "appoint", "tier_id": f.tier_id("core")}, w["office"]),
        "不能聘任：申请当前处于「资格初审」阶段，须先经审定并完成公示"),
    "appoint before the notice ends": (
        lambda w, f: ("POST", f"/applications/{w['noticed']}/decisions",
                      {"action": "appoint", "tier_id": f.tier_id("core")}, w["office"]),
        "期满后方可聘任"),
    "approve skipping the review": (_decision("approve", "fresh"), "不能审定通过并公示：申请当前处于「资格初审」阶段"),
    "conclude a review not started": (_decision("conclude_review", "fresh"), "须先通过资格初审并进入专业评审"),
    "qualify twice": (_decision("qualify", "reviewing"), "不能资格初审通过：申请当前处于「专业评审」阶段"),
    "qualify with a failed check": (_decision("qualify", "too_old"), "资格审查未通过，不能进入专业评审"),
    "reject an appointed application": (_decision("reject", "appointed", reason="复查"), "不能不予通过：申请当前处于「已聘任」阶段"),
    "withdraw an appointed application": (_decision("withdraw", "appointed", reason="本人申请"), "不能撤回申请"),
    "override outside 资格初审": (
        lambda w, f: ("POST", f"/applications/{w['reviewing']}/override", {"reason": "特殊人才"}, w["office"]),
        "仅在资格初审阶段可人工认定"),
    "vote before the review": (
        lambda w, f: ("POST", f"/applications/{w['fresh']}/votes", {"vote": "approve", "comment": "同意"},
                      w["reviewer"]),
        "仅在专业评审阶段可投票"),
    "reinstate an exited expert": (_status("reinstate", "exited"), "不能恢复资格：专家当前状态为「已退出」，仅被暂停的专家可恢复，已退出的专家须重新申请"),
    "reinstate an active expert": (_status("reinstate", "active"), "专家当前状态为「在库」"),
    "suspend twice": (_status("suspend", "suspended"), "不能暂停资格：专家当前状态为「暂停」"),
    "exit twice": (_status("exit", "exited", exit_reason="health"), "不能退出专家库：专家当前状态为「已退出」"),
    "suspend an applicant": (
        lambda w, f: ("POST", f"/experts/{w['intake_expert']}/status", {"action": "suspend", "reason": "x"},
                      w["office"]), "不能暂停资格：专家当前状态为「申请中」"),
    "change the tier of an exited expert": (
        lambda w, f: ("POST", f"/experts/{w['exited']}/tier", {"tier_id": f.tier_id("core"), "reason": "晋级"},
                      w["office"]), "不能调整层次"),
    "resign after exit": (
        lambda w, f: ("POST", f"/experts/{w['exited']}/resignation", {"reason": "辞聘"}, w["exited_user"]),
        "不能辞聘：专家当前状态为「已退出」"),
}


@pytest.mark.parametrize("case", list(ILLEGAL), ids=list(ILLEGAL))
def test_illegal_transition_is_refused_and_only_the_refusal_is_audited(case, world, factory, http):
    build, words = ILLEGAL[case]
    from experts_service.lifecycle.models import Application

    world["intake_expert"] = db.session.get(Application, world["fresh"]).expert_id
    method, path, body, auth = build(world, factory)
    before, seq = database_dump(), last_seq()

    response = http.request(method, f"{API}{path}", json=body, headers=auth)

    error = assert_error(response, 409, "illegal_transition", fields=set())
    assert words in error["message"], error["message"]
    assert database_dump() == before, "a refused step changed data"
    assert audit_actions_after(seq) == ["lifecycle.refused"]
    entry = db.session.execute(sa.select(AuditEntry).where(AuditEntry.seq == seq + 1)).scalar_one()
    assert entry.summary["message"] == error["message"] and entry.actor_id is not None


def test_objection_after_the_notice_is_refused(world, app, http):
    from experts_service.lifecycle.models import Application

    application = db.session.get(Application, world["noticed"])
    set_today(app, application.notice_ends_on + timedelta(days=1))
    before, seq = database_dump(), last_seq()
    response = requests.post(f"{http.base_url}{API}/notices/{world['noticed']}/objections", timeout=10,
                             json={"name": "李群众", "contact": "13800001111", "content": "异议"})
    # Once over, the notice is no longer public: the same answer as a notice that never was.
    assert_error(response, 404, "not_found")
    assert database_dump() == before and audit_actions_after(seq) == []
    with pytest.raises(operations.states.IllegalTransition, match="公示期已结束"):
        operations.lodge_objection(application, {"name": "李群众", "contact": "13800001111", "content": "异议"})
