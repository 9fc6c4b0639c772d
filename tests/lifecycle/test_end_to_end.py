"""Two applications over real HTTP: one through every stage to an active,
searchable expert, one to rejection in the professional review."""
from __future__ import annotations

from datetime import date, timedelta

import requests
import sqlalchemy as sa

from experts_service.core import audit
from experts_service.core.auth import Role
from experts_service.experts.models import Expert, ExpertStatus
from experts_service.extensions import db
from experts_service.lifecycle.models import ApplicationDocument, StatusChange
from experts_service.search_bridge import text_relevance
from tests.api.helpers import API, assert_error, fresh_session
from tests.conftest import api_token, valid_id_number
from tests.lifecycle.helpers import PDF, Intake, set_today


def _tokens(live_server, *users):
    return [api_token(live_server, user.username) for user in users]


def test_application_to_active_searchable_expert(app, http, factory, live_server):
    set_today(app, date(2026, 11, 2))
    intake = Intake(factory, app)
    department = factory.user(Role.DEPARTMENT)
    office, dept, *reviewers = _tokens(live_server, intake.office, department,
                                       *[user for _, user in intake.reviewers])
    payload = intake.payload(channel="organisation", name="陈思远", keywords=["海绵城市", "韧性规划"],
                             bio="长期研究海绵城市建设与城市韧性规划。", statement="推荐其参与城市更新论证。",
                             id_number=valid_id_number(birth=date(1978, 4, 9), sequence=321))

    # 单位推荐: the department recommends for its own organisation (taken from the account).
    response = http.post(f"{API}/applications", json=payload, headers=dept)
    assert response.status_code == 201, response.text
    body = response.json()
    application_id, expert_id = body["id"], body["expert"]["id"]
    assert (body["stage"], body["expert"]["status"], body["channel"]) == ("qualification", "applicant", "organisation")
    assert body["recommending_organisation"]["id"] == department.organisation_id
    assert all(check["passed"] for check in body["checks"]) and len(body["checks"]) == 5
    assert payload["id_number"] not in response.text

    uploaded = http.post(f"{API}/applications/{application_id}/documents", headers=dept,
                         files={"file": ("职称证书.pdf", PDF, "application/pdf")})
    assert uploaded.status_code == 201, uploaded.text
    document_id = uploaded.json()["id"]

    def decide(action, **extra):
        answer = http.post(f"{API}/applications/{application_id}/decisions", json={"action": action, **extra},
                           headers=office)
        assert answer.status_code == 200, answer.text
        return answer.json()

    assert decide("qualify", reason="资格条件符合")["expert"]["status"] == "under_review"
    for auth, vote in zip(reviewers, ("approve", "approve", "reject"), strict=True):
        cast = http.post(f"{API}/applications/{application_id}/votes", json={"vote": vote, "comment": "意见"},
                         headers=auth)
        assert cast.status_code == 201, cast.text
    again = http.post(f"{API}/applications/{application_id}/votes", json={"vote": "approve", "comment": "再投"},
                      headers=reviewers[0])
    assert_error(again, 409, "conflict")
    assert decide("conclude_review")["stage"] == "approval"
    noticed = decide("approve", reason="审定通过")
    assert noticed["stage"] == "public_notice" and noticed["expert"]["status"] == "public_notice"
    ends_on = date.fromisoformat(noticed["notice_ends_on"])
    assert noticed["notice_starts_on"] == "2026-11-02" and ends_on == date(2026, 11, 6)

    # 公示: anyone sees it and may object, without signing in.
    public = requests.get(f"{live_server}{API}/notices", timeout=10)
    assert [n["name"] for n in public.json()] == ["陈思远"] and "id_number" not in public.text
    objection = requests.post(f"{live_server}{API}/notices/{application_id}/objections", timeout=10,
                              json={"name": "李群众", "contact": "13800001111", "content": "其论文存在署名争议。"})
    assert objection.status_code == 201, objection.text

    too_early = http.post(f"{API}/applications/{application_id}/decisions",
                          json={"action": "appoint", "tier_id": factory.tier_id("core")}, headers=office)
    assert_error(too_early, 409, "illegal_transition")
    assert "期满后方可聘任" in too_early.json()["error"]["message"]
    set_today(app, ends_on + timedelta(days=1))
    unresolved = http.post(f"{API}/applications/{application_id}/decisions",
                           json={"action": "appoint", "tier_id": factory.tier_id("core")}, headers=office)
    assert_error(unresolved, 409, "illegal_transition")
    assert "1 件公示异议未处理" in unresolved.json()["error"]["message"]
    detail = http.get(f"{API}/applications/{application_id}", headers=office).json()
    assert detail["objections"][0]["contact_masked"] == "138****1111" and "13800001111" not in str(detail)
    resolved = http.post(f"{API}/objections/{detail['objections'][0]['id']}/resolution", headers=office,
                         json={"outcome": "dismissed", "resolution": "经核实署名无争议"})
    assert resolved.status_code == 200, resolved.text

    appointed = decide("appoint", tier_id=factory.tier_id("core"), reason="聘为核心专家")
    assert appointed["stage"] == "appointed" and appointed["expert"]["status"] == "active"

    expert = http.get(f"{API}/experts/{expert_id}", headers=office).json()
    assert expert["status"] == "active" and expert["tier"]["name"] == "核心专家"
    assert expert["appointment"]["term_start"] == (ends_on + timedelta(days=1)).isoformat()
    assert expert["appointment"]["term_end"] == (ends_on + timedelta(days=1)).replace(year=2031).isoformat()
    assert expert["appointment"]["certificate_no"].startswith("JCZX-2026-")

    fresh_session()
    hits = text_relevance("海绵城市 韧性规划")
    assert expert_id in hits and next(iter(hits)) == expert_id
    history = [(c.action, c.to_status) for c in db.session.execute(
        sa.select(StatusChange).where(StatusChange.expert_id == expert_id).order_by(StatusChange.id)).scalars()]
    assert history == [("submit", "applicant"), ("qualify", "under_review"), ("conclude_review", "under_review"),
                       ("approve", "public_notice"), ("appoint", "active")]
    assert db.session.get(ApplicationDocument, document_id).expert_id == expert_id
    assert audit.verify().ok


def test_application_to_rejection(app, http, factory, live_server):
    set_today(app, date(2026, 11, 2))
    intake = Intake(factory, app)
    office, *reviewers = _tokens(live_server, intake.office, *[user for _, user in intake.reviewers])
    payload = intake.payload(channel="self", name="周不过", title_level="intermediate", years_in_field=9)
    created = http.post(f"{API}/applications", json=payload, headers=office)
    assert created.status_code == 201, created.text
    application_id, expert_id = created.json()["id"], created.json()["expert"]["id"]
    for action in ("qualify",):
        assert http.post(f"{API}/applications/{application_id}/decisions", json={"action": action},
                         headers=office).status_code == 200
    for auth, vote in zip(reviewers, ("reject", "reject", "approve"), strict=True):
        assert http.post(f"{API}/applications/{application_id}/votes", json={"vote": vote, "comment": "意见"},
                         headers=auth).status_code == 201
    concluded = http.post(f"{API}/applications/{application_id}/decisions", json={"action": "conclude_review"},
                          headers=office)
    assert concluded.status_code == 200, concluded.text
    body = concluded.json()
    assert (body["stage"], body["expert"]["status"]) == ("rejected", "rejected")
    assert body["outcome_reason"] == "专业评审未通过（同意 1 票 / 有效 3 票）"
    fresh_session()
    assert db.session.get(Expert, expert_id).status is ExpertStatus.REJECTED
    # Closed: nothing more happens to it, and the rejected person never reaches the public notice.
    late = http.post(f"{API}/applications/{application_id}/decisions", json={"action": "approve"}, headers=office)
    assert_error(late, 409, "illegal_transition")
    assert requests.get(f"{live_server}{API}/notices", timeout=10).json() == []
