"""The assessment API over real HTTP: open, self-assess, adjust, compute, approve; a frozen cycle answers
409 to every change; bad numbers 422 in the one envelope; an expert reads only their own result."""
from __future__ import annotations

import pytest

from experts_service.core.auth import Role
from experts_service.extensions import db
from experts_service.integrity.models import IntegrityEvent
from tests.api.helpers import ApiSession, assert_error
from tests.assessment.cycle_world import YEAR, cycle_world
from tests.conftest import api_token
from tests.integrity.subjects import pending_appeal
from tests.lifecycle.helpers import database_dump

API = "/api/v1"
UNTOUCHED = ("audit_entries", "api_tokens", "users")


@pytest.fixture
def http(live_server):
    session = ApiSession(live_server)
    yield session
    session.close()


@pytest.fixture
def year(app, factory):
    return cycle_world(app, factory)


@pytest.fixture
def tokens(live_server):
    return lambda user: api_token(live_server, user.username)


def _by_name(results: list[dict]) -> dict[str, dict]:
    return {r["expert_name"]: r for r in results}


def test_a_year_through_the_api(http, year, tokens):
    office, jia = tokens(year.office), tokens(year.users["甲"])
    assert_error(http.post(f"{API}/assessment-cycles", json={"year": YEAR + 1}, headers=office), 422,
                 "validation_error", {"year"})
    assert_error(http.post(f"{API}/assessment-cycles", json={"year": "2027"}, headers=office), 422,
                 "validation_error", {"year"})
    opened = http.post(f"{API}/assessment-cycles", json={"year": YEAR}, headers=office)
    assert opened.status_code == 201, opened.text
    body = opened.json()
    assert body["status"] == "open" and len(body["results"]) == 4
    results = _by_name(body["results"])
    assert (results["专家丙"]["computed_total"], results["专家丙"]["grade"], results["专家丙"]["outcome"]) == (
        63.75, "basic", "reminder")
    assert results["专家丁"]["veto"] is True and results["专家丁"]["grade"] == "fail"
    assert "诚信得分：100 − 15 = 85" in " ".join(results["专家丙"]["explanation"])
    assert_error(http.post(f"{API}/assessment-cycles", json={"year": YEAR}, headers=office), 409, "conflict")

    # The expert's view: their own result only.
    own = http.get(f"{API}/assessment-cycles/{YEAR}", headers=jia).json()
    assert [r["expert_name"] for r in own["results"]] == ["专家甲"]
    other_id = results["专家乙"]["id"]
    assert_error(http.get(f"{API}/assessment-results/{other_id}", headers=jia), 403, "forbidden")
    before = database_dump(UNTOUCHED)
    for body, fields in (({"score": 101, "summary": "小结"}, {"score"}), ({"score": "80", "summary": "小结"}, {"score"}),
                         ({"score": 80.5, "summary": "小结"}, {"score"}), ({"score": 80, "summary": "  "}, {"summary"}),
                         ({"score": True, "summary": "小结"}, {"score"}), ({"summary": "小结"}, {"score"})):
        assert_error(http.put(f"{API}/assessment-cycles/{YEAR}/self-assessment", json=body, headers=jia), 422,
                     "validation_error", fields)
    assert database_dump(UNTOUCHED) == before
    saved = http.put(f"{API}/assessment-cycles/{YEAR}/self-assessment", json={"score": 80, "summary": "全年按时履职"},
                     headers=jia)
    assert saved.status_code == 200, saved.text
    assert saved.json()["self_assessment"]["score"] == 80
    assert (saved.json()["result"]["final_total"], saved.json()["result"]["grade"]) == (95.0, "excellent")
    assert [r["year"] for r in http.get(f"{API}/assessment-results/mine", headers=jia).json()] == [YEAR]

    # Adjust 乙 (bad numbers first), clear it again.
    adjust = f"{API}/assessment-results/{other_id}/adjustment"
    for body, fields in (({"total": 101, "reason": "理由"}, {"total"}), ({"total": "abc", "reason": "理由"}, {"total"}),
                         ({"total": "NaN", "reason": "理由"}, {"total"}), ({"total": 80, "reason": ""}, {"reason"}),
                         ({"reason": "理由"}, {"total"})):
        assert_error(http.post(adjust, json=body, headers=office), 422, "validation_error", fields)
    adjusted = http.post(adjust, json={"total": 90.005, "reason": "承担专项课题"}, headers=office).json()
    assert (adjusted["adjusted_total"], adjusted["final_total"], adjusted["grade"]) == (90.01, 90.01, "excellent")
    cleared = http.post(adjust, json={"total": None, "reason": "按计算得分"}, headers=office).json()
    assert cleared["adjusted_total"] is None and cleared["grade"] == "pass"
    assert http.post(f"{API}/assessment-cycles/{YEAR}/computation", headers=office).status_code == 200

    approval = http.post(f"{API}/assessment-cycles/{YEAR}/approval", json={"note": "审定"}, headers=office)
    assert approval.status_code == 200, approval.text
    approved = approval.json()
    assert approved["cycle"]["status"] == "approved"
    assert [r["expert_name"] for r in approved["dismissed"]] == ["专家丁"]
    assert [r["expert_name"] for r in approved["reminded"]] == ["专家丙"]
    assert approved["promotable"] == []

    # Frozen: 409 for every change, and nothing written.
    before = database_dump(UNTOUCHED)
    for method, path, body, auth in (
            ("POST", adjust, {"total": 60, "reason": "审定后"}, office),
            ("POST", f"{API}/assessment-cycles/{YEAR}/computation", None, office),
            ("POST", f"{API}/assessment-cycles/{YEAR}/approval", {"note": "再审定"}, office),
            ("PUT", f"{API}/assessment-cycles/{YEAR}/self-assessment", {"score": 90, "summary": "改"}, jia)):
        response = http.request(method, path, json=body, headers=auth)
        assert_error(response, 409, "conflict")
    assert database_dump(UNTOUCHED) == before
    cycles = http.get(f"{API}/assessment-cycles", headers=office).json()
    assert [(c["year"], c["status"]) for c in cycles] == [(YEAR, "approved")]


def test_approval_waits_for_pending_appeals_and_unknown_years_are_404(http, year, tokens, factory):
    office = tokens(year.office)
    assert http.post(f"{API}/assessment-cycles", json={"year": YEAR}, headers=office).status_code == 201
    event = db.session.execute(db.select(IntegrityEvent).where(
        IntegrityEvent.expert_id == year.experts["丙"].id)).scalar_one()
    pending_appeal(event)
    db.session.commit()
    response = http.post(f"{API}/assessment-cycles/{YEAR}/approval", json={}, headers=office)
    assert_error(response, 409, "conflict")
    for path in (f"/assessment-cycles/{YEAR - 1}", "/assessment-results/999999",
                 "/assessment-cycles/99999999999999999999"):
        assert_error(http.get(API + path, headers=office), 404, "not_found")
    assert_error(http.post(f"{API}/assessment-cycles/{YEAR - 1}/computation", headers=office), 404, "not_found")
    department = tokens(factory.user(Role.DEPARTMENT))
    assert_error(http.get(f"{API}/assessment-cycles", headers=department), 403, "forbidden")
    auditor = tokens(factory.user(Role.AUDITOR))
    assert len(http.get(f"{API}/assessment-cycles/{YEAR}", headers=auditor).json()["results"]) == 4
    assert_error(http.post(f"{API}/assessment-cycles/{YEAR}/computation", headers=auditor), 403, "forbidden")
