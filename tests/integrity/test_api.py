"""The integrity API over real HTTP (live server, bearer tokens): a multipart record with evidence, the
expert's appeal, the office's decision, and the sanctions recomputed; bad input in the one error envelope;
each role confined to what it may read."""
from __future__ import annotations

from datetime import date

import pytest
import sqlalchemy as sa

from experts_service.core.auth import Role
from experts_service.experts.models import Expert, ExpertStatus
from experts_service.extensions import db
from experts_service.integrity import operations
from experts_service.integrity.models import EventKind, IntegrityEvent
from tests.api.helpers import ApiSession, assert_error, fresh_session
from tests.conftest import api_token
from tests.consultation.helpers import pool_with_accounts
from tests.lifecycle.helpers import PDF, PNG, database_dump, set_today

API = "/api/v1"
# Signing in with a token touches these (last use); nothing else may change on a refusal.
UNTOUCHED = ("audit_entries", "api_tokens", "users")


@pytest.fixture
def http(live_server):
    session = ApiSession(live_server)
    yield session
    session.close()


@pytest.fixture
def pool(app, factory):
    set_today(app, date(2027, 3, 1))
    return pool_with_accounts(factory, size=2)


@pytest.fixture
def tokens(live_server):
    return lambda user: api_token(live_server, user.username)


def _record(http, auth, expert_id: int, files=None, **fields):
    """A multipart record: the fields as text parts, then the files (one PDF unless told)."""
    data = {"kind": "perfunctory_opinion", "occurred_on": "2027-02-20", "description": "意见仅一句“同意”。", **fields}
    files = files if files is not None else [("file", ("意见原件.pdf", PDF, "application/pdf"))]
    parts = [(name, (None, value)) for name, value in data.items()] + files
    return http.post(f"{API}/experts/{expert_id}/integrity-events", files=parts, headers=auth)


def test_record_appeal_and_uphold_through_the_api(http, pool, tokens):
    expert = pool.experts[0]
    office, own = tokens(pool.world.office), tokens(pool.user_of(expert.id))
    first = _record(http, office, expert.id, occurred_on="2027-01-30")
    assert first.status_code == 201, first.text
    response = _record(http, office, expert.id, kind="absent", occurred_on="2027-02-27", description="无故缺席。",
                       files=[("file", ("签到表.png", PNG, "image/png")), ("file", ("通知.pdf", PDF, "application/pdf"))])
    assert response.status_code == 201, response.text
    event = response.json()
    assert {k: event[k] for k in ("kind", "severity", "points", "source", "status", "appeal_until", "appeal_open")} == {
        "kind": "absent", "severity": "serious", "points": 15, "source": "manual", "status": "standing",
        "appeal_until": "2027-03-16", "appeal_open": True}
    assert [e["original_name"] for e in event["evidence"]] == ["签到表.png", "通知.pdf"] and event["appeal"] is None

    sanctions = http.get(f"{API}/experts/{expert.id}/sanctions", headers=own).json()
    assert [(s["kind"], s["status"]) for s in sanctions] == [("suspension", "in_force"), ("warning", "in_force")]
    assert set(sanctions[0]["event_ids"]) == {first.json()["id"], event["id"]}
    evidence = http.get(f"{API}/integrity-evidence/{event['evidence'][0]['id']}", headers=own)
    assert evidence.status_code == 200 and evidence.content == PNG and evidence.headers["Content-Type"] == "image/png"

    appeal = http.post(f"{API}/integrity-events/{event['id']}/appeal", json={"reason": "当日住院，附诊断证明。"},
                       headers=own)
    assert appeal.status_code == 201, appeal.text
    assert appeal.json()["status"] == "pending"
    again = http.post(f"{API}/integrity-events/{event['id']}/appeal", json={"reason": "再次申诉"}, headers=own)
    assert "每条记录只能申诉一次" in assert_error(again, 409, "conflict")["message"]
    queue = http.get(f"{API}/integrity-appeals", headers=office).json()
    assert [(a["id"], a["event"]["id"], a["event"]["expert_name"]) for a in queue] == [
        (appeal.json()["id"], event["id"], expert.name)]

    decided = http.post(f"{API}/integrity-appeals/{appeal.json()['id']}/decision",
                        json={"upheld": True, "reason": "诊断证明属实。"}, headers=office)
    assert decided.status_code == 200, decided.text
    assert decided.json()["status"] == "upheld" and decided.json()["event"]["status"] == "revoked"
    read = http.get(f"{API}/integrity-events/{event['id']}", headers=own).json()
    assert read["status"] == "revoked" and read["appeal"]["decision_reason"] == "诊断证明属实。"
    assert read["appeal_open"] is False
    sanctions = http.get(f"{API}/experts/{expert.id}/sanctions", headers=office).json()
    assert [(s["kind"], s["status"]) for s in sanctions] == [("suspension", "revoked"), ("warning", "in_force")]
    fresh_session()
    assert db.session.get(Expert, expert.id).status is ExpertStatus.ACTIVE
    assert http.get(f"{API}/integrity-appeals", headers=office).json() == []
    every = http.get(f"{API}/integrity-appeals", params={"status": "all"}, headers=office).json()
    assert [a["status"] for a in every] == ["upheld"]
    again = http.post(f"{API}/integrity-appeals/{appeal.json()['id']}/decision",
                      json={"upheld": False, "reason": "改判"}, headers=office)
    assert_error(again, 409, "conflict")


def test_bad_input_answers_in_the_error_envelope_and_writes_nothing(http, pool, tokens):
    expert = pool.experts[0]
    office, own = tokens(pool.world.office), tokens(pool.user_of(expert.id))
    before = database_dump(UNTOUCHED)
    assert_error(_record(http, office, expert.id, files=[]), 422, "validation_error", {"file"})
    error = assert_error(_record(http, office, expert.id, kind="late_opinion", occurred_on="2027-02-30",
                                 panel_request_id="abc"), 422, "validation_error",
                         {"kind", "occurred_on", "panel_request_id"})
    assert error["fields"]["kind"] == ["请选择失信情形"]
    assert error["fields"]["occurred_on"] == ["日期格式应为 YYYY-MM-DD"]
    error = assert_error(_record(http, office, expert.id, description="   "), 422, "validation_error", {"description"})
    assert error["fields"]["description"] == ["请写明事实"]
    assert_error(_record(http, office, expert.id, occurred_on="2027-03-02"), 422, "validation_error", {"occurred_on"})
    executable = [("file", ("证据.pdf", b"MZ\x90\x00", "application/pdf"))]
    error = assert_error(_record(http, office, expert.id, files=executable), 422, "validation_error", {"file"})
    assert error["fields"]["file"] == ["仅接受 PDF、JPG 或 PNG 文件"]
    # A text part named file is not a file.
    response = http.post(f"{API}/experts/{expert.id}/integrity-events", headers=office,
                         files={"kind": (None, "absent"), "occurred_on": (None, "2027-02-20"),
                                "description": (None, "缺席"), "file": (None, "not a file")})
    assert assert_error(response, 422, "validation_error", {"file"})["fields"]["file"] == {"0": ["请以文件形式上传"]}
    unknown = _record(http, office, expert.id, surprise="x")
    assert_error(unknown, 422, "validation_error", {"surprise"})
    assert_error(_record(http, office, 999_999), 404, "not_found")
    # Not multipart at all.
    form = http.post(f"{API}/experts/{expert.id}/integrity-events", data={"kind": "absent"}, headers=office)
    assert_error(form, 415, "unsupported_media_type")
    json_body = http.post(f"{API}/experts/{expert.id}/integrity-events", json={"kind": "absent"}, headers=office)
    assert_error(json_body, 422, "validation_error")
    assert database_dump(UNTOUCHED) == before

    event = operations.record_event(pool.world.office, expert, {"kind": "late", "occurred_on": date(2027, 2, 1),
                                                                "description": "迟到"}, [("a.pdf", PDF)])
    db.session.commit()
    before = database_dump(UNTOUCHED)
    error = assert_error(http.post(f"{API}/integrity-events/{event.id}/appeal", json={"reason": " "}, headers=own),
                         422, "validation_error", {"reason"})
    assert error["fields"]["reason"] == ["请填写申诉理由"]
    assert_error(http.post(f"{API}/integrity-events/{event.id}/appeal", json={"reason": "x" * 1001}, headers=own),
                 422, "validation_error", {"reason"})
    assert_error(http.post(f"{API}/integrity-events/{event.id}/withdrawal", json={}, headers=office),
                 422, "validation_error", {"reason"})
    assert_error(http.post(f"{API}/integrity-events/{event.id}/evidence", headers=office,
                           files={"file": ("x.png", PDF, "image/png")}), 422, "validation_error", {"file"})
    assert_error(http.get(f"{API}/integrity-events", params={"status": "gone"}, headers=office), 422,
                 "validation_error", {"status"})
    assert_error(http.get(f"{API}/integrity-appeals", params={"status": "gone"}, headers=office), 422,
                 "validation_error", {"status"})
    assert database_dump(UNTOUCHED) == before


def test_withdrawal_is_for_manual_records_and_evidence_for_standing_ones(http, pool, tokens):
    expert = pool.experts[0]
    office = tokens(pool.world.office)
    workflow = operations.sync_workflow_event(expert, "attendance:999", EventKind.LATE, occurred_on=date(2027, 2, 1),
                                              description="迟到 20 分钟")
    db.session.commit()
    response = http.post(f"{API}/integrity-events/{workflow.id}/withdrawal", json={"reason": "误记"}, headers=office)
    assert "不能直接撤回" in assert_error(response, 409, "conflict")["message"]
    manual = _record(http, office, expert.id).json()
    added = http.post(f"{API}/integrity-events/{manual['id']}/evidence", headers=office,
                      files={"file": ("补充.png", PNG, "image/png")})
    assert added.status_code == 201 and added.json()["content_type"] == "image/png"
    withdrawn = http.post(f"{API}/integrity-events/{manual['id']}/withdrawal", json={"reason": "登记错误"},
                          headers=office)
    assert withdrawn.status_code == 200 and withdrawn.json()["status"] == "withdrawn"
    assert len(withdrawn.json()["evidence"]) == 2
    late = http.post(f"{API}/integrity-events/{manual['id']}/evidence", headers=office,
                     files={"file": ("再补充.pdf", PDF, "application/pdf")})
    assert_error(late, 409, "conflict")
    listed = http.get(f"{API}/integrity-events", params={"status": "withdrawn"}, headers=office).json()
    assert [e["id"] for e in listed["items"]] == [manual["id"]] and listed["meta"]["total"] == 1


def test_each_role_reads_only_what_it_may(http, pool, tokens, factory):
    mine, theirs = pool.experts
    office = tokens(pool.world.office)
    own_event = _record(http, office, mine.id).json()
    their_event = _record(http, office, theirs.id).json()
    own = tokens(pool.user_of(mine.id))

    listed = http.get(f"{API}/integrity-events", headers=own).json()
    assert [e["id"] for e in listed["items"]] == [own_event["id"]]
    for path in (f"/integrity-events/{their_event['id']}", f"/experts/{theirs.id}/integrity-events",
                 f"/experts/{theirs.id}/sanctions", f"/integrity-evidence/{their_event['evidence'][0]['id']}"):
        assert_error(http.get(API + path, headers=own), 403, "forbidden")
    assert_error(http.post(f"{API}/integrity-events/{their_event['id']}/appeal", json={"reason": "冒名"},
                           headers=own), 403, "forbidden")
    assert [e["id"] for e in http.get(f"{API}/experts/{mine.id}/integrity-events", headers=own).json()] == [
        own_event["id"]]

    department = tokens(pool.department_user)
    for path in ("/integrity-events", f"/integrity-events/{own_event['id']}", f"/experts/{mine.id}/sanctions"):
        assert_error(http.get(API + path, headers=department), 403, "forbidden")
    auditor = tokens(factory.user(Role.AUDITOR))
    assert http.get(f"{API}/integrity-events", headers=auditor).json()["meta"]["total"] == 2
    assert_error(http.get(f"{API}/integrity-appeals", headers=auditor), 403, "forbidden")
    assert_error(http.get(f"{API}/integrity-events/999999", headers=auditor), 404, "not_found")
    fresh_session()
    assert db.session.execute(sa.select(sa.func.count()).select_from(IntegrityEvent)).scalar_one() == 2


JUNK = [None, [], "text", 12, {"reason": None}, {"reason": ["a"]}, {"reason": {"x": 1}}, {"reason": "\x00"},
        {"upheld": "maybe", "reason": "x"}, {"upheld": None, "reason": 5}, {"total": [], "reason": "x"},
        {"total": "1e999", "reason": "x"}, {"total": -0.0001, "reason": "x"}, {"score": 2**63, "summary": "x"},
        {"score": None, "summary": None}, {"year": 10**40}, {"year": None}, {"note": 7}, {"": 1}]


def test_junk_bodies_never_reach_a_server_error(http, pool, tokens):
    from experts_service.assessment import operations as assessment

    expert = pool.experts[0]
    office, own = tokens(pool.world.office), tokens(pool.user_of(expert.id))
    event = _record(http, office, expert.id).json()
    appealed = _record(http, office, expert.id, kind="late", description="迟到").json()
    appeal = http.post(f"{API}/integrity-events/{appealed['id']}/appeal", json={"reason": "申诉"}, headers=own).json()
    cycle = assessment.open_cycle(pool.world.office, 2027)
    db.session.commit()
    result_id = next(r.id for r in cycle.results if r.expert_id == expert.id)
    targets = [("POST", f"/integrity-events/{event['id']}/withdrawal", office),
               ("POST", f"/integrity-events/{event['id']}/appeal", own),
               ("POST", f"/integrity-appeals/{appeal['id']}/decision", office),
               ("POST", "/assessment-cycles", office),
               ("PUT", "/assessment-cycles/2027/self-assessment", own),
               ("POST", f"/assessment-results/{result_id}/adjustment", office),
               ("POST", "/assessment-cycles/2027/approval", office)]
    for method, path, auth in targets:
        for body in JUNK:
            response = http.request(method, API + path, json=body, headers=auth)
            assert response.status_code < 500, (path, body, response.text[:300])
            if response.status_code >= 400:
                assert set(response.json()["error"]) == {"code", "message", "fields"}, (path, body)
        raw = http.request(method, API + path, data=b"{not json", headers={**auth, "Content-Type": "application/json"})
        assert raw.status_code == 400, (path, raw.text[:200])
