"""Decision items, panel requests and matcher runs over real HTTP: scope,
invalid input (the error envelope, nothing written), runs and replacements."""
from __future__ import annotations

import json
import random
from datetime import timedelta

import pytest
import sqlalchemy as sa

from experts_service.core.auth import Role
from experts_service.core.clock import today
from experts_service.extensions import db
from experts_service.panels.models import AvoidEntry, DecisionItem, PanelRequest, Recommendation
from tests.api.helpers import API, assert_error, audit_actions_since, fresh_session, last_audit_seq
from tests.api.test_junk_input import RAW_BODIES, _json_bodies, _problem
from tests.panels.helpers import World


def panel_rows() -> dict[str, int]:
    fresh_session()
    return {model.__tablename__: db.session.scalar(sa.select(sa.func.count()).select_from(model))
            for model in (DecisionItem, PanelRequest, AvoidEntry, Recommendation)}


@pytest.fixture
def world(factory):
    return World(factory)


@pytest.fixture
def department(world, sign_in):
    return sign_in(Role.DEPARTMENT, organisation_id=world.department.id)[1]


@pytest.fixture
def office(sign_in):
    return sign_in(Role.TALENT_OFFICE)[1]


def future(days: int = 20) -> str:
    return (today() + timedelta(days=days)).isoformat()


def item_body(**overrides) -> dict:
    body = {"title": "老旧小区改造实施方案", "description": "涉及加装电梯、管网改造。", "category": "livelihood",
            "keywords": ["城市更新", "老旧小区"]}
    body.update(overrides)
    return body


def meeting_body(**overrides) -> dict:
    body = {"mode": "meeting", "seats": 5, "meeting_date": future(), "meeting_time": "09:30",
            "meeting_place": "市政府 301 会议室", "selection_method": "recommend"}
    body.update(overrides)
    return body


# ---------------------------------------------------------------- items and scope


def test_department_files_an_item_for_itself(http, world, department, factory):
    stakeholder = factory.organisation("江海城市建设投资集团有限公司", type_="enterprise")
    seq = last_audit_seq()
    body = item_body(domain_ids=[factory.domain_id("城乡规划")], stakeholder_ids=[stakeholder.id],
                     planned_decision_date=future(60), confidential=True)
    response = http.post(f"{API}/decision-items", json=body, headers=department)
    assert response.status_code == 201, response.text
    created = response.json()
    assert created["organisation"]["id"] == world.department.id
    assert [d["name"] for d in created["domains"]] == ["城乡规划"]
    assert [o["id"] for o in created["stakeholders"]] == [stakeholder.id]
    assert created["confidential"] is True and created["keywords"] == ["城市更新", "老旧小区"]
    assert audit_actions_since(seq) == ["item.create"]

    listed = http.get(f"{API}/decision-items", headers=department).json()
    assert [i["id"] for i in listed["items"]] == [created["id"]]
    patched = http.patch(f"{API}/decision-items/{created['id']}", json={"title": "老旧小区改造实施方案（修订）"},
                         headers=department)
    assert patched.status_code == 200 and patched.json()["title"].endswith("（修订）")
    assert_error(http.patch(f"{API}/decision-items/{created['id']}", json={"title": "老旧小区改造实施方案（修订）"},
                            headers=department), 422, "validation_error")


def test_department_sees_and_changes_only_its_own_items(http, world, department, factory):
    other = World(factory, department_name="市财政局", system="财政")
    theirs = other.item(title="财政预算绩效管理办法")
    mine = world.item()
    listed = http.get(f"{API}/decision-items", headers=department).json()
    assert [i["id"] for i in listed["items"]] == [mine.id]
    before = panel_rows()
    seq = last_audit_seq()
    assert_error(http.get(f"{API}/decision-items/{theirs.id}", headers=department), 403, "forbidden")
    assert_error(http.patch(f"{API}/decision-items/{theirs.id}", json={"title": "越权"}, headers=department),
                 403, "forbidden")
    assert_error(http.post(f"{API}/decision-items/{theirs.id}/panel-requests", json=meeting_body(),
                           headers=department), 403, "forbidden")
    # Filing an item in another department's name is refused too.
    assert_error(http.post(f"{API}/decision-items", json=item_body(organisation_id=other.department.id),
                           headers=department), 403, "forbidden")
    assert panel_rows() == before and audit_actions_since(seq) == []


def test_talent_office_and_auditor_see_every_item(http, world, office, sign_in, factory):
    World(factory, department_name="市财政局", system="财政").item(title="财政预算绩效管理办法")
    world.item()
    auditor = sign_in(Role.AUDITOR)[1]
    for auth in (office, auditor):
        assert http.get(f"{API}/decision-items", headers=auth).json()["meta"]["total"] == 2


@pytest.mark.parametrize("body, fields", [
    (item_body(category="tax"), {"category"}),
    (item_body(domain_ids=[999999]), {"domain_ids"}),
    (item_body(stakeholder_ids=[999999]), {"stakeholder_ids"}),
    (item_body(title=""), {"title"}),
    (item_body(keywords=["a", "a"]), {"keywords"}),
    ({**item_body(), "extra": 1}, {"extra"}),
], ids=["category", "unknown-domain", "unknown-stakeholder", "empty-title", "duplicate-keywords", "unknown-field"])
def test_invalid_item_is_refused_and_nothing_written(http, world, department, body, fields):
    before, seq = panel_rows(), last_audit_seq()
    assert_error(http.post(f"{API}/decision-items", json=body, headers=department), 422, "validation_error", fields)
    assert panel_rows() == before and audit_actions_since(seq) == []


def test_talent_office_must_name_a_government_department(http, office, factory):
    university = factory.organisation("江海大学")
    assert_error(http.post(f"{API}/decision-items", json=item_body(), headers=office), 422, "validation_error",
                 {"organisation_id"})
    error = assert_error(http.post(f"{API}/decision-items", json=item_body(organisation_id=university.id),
                                   headers=office), 422, "validation_error", {"organisation_id"})
    assert "党政机关" in error["fields"]["organisation_id"][0]


# ---------------------------------------------------------------- panel requests


def test_panel_request_with_avoid_list(http, world, department):
    item = world.item()
    experts = [world.expert(name) for name in ("赵一", "钱二")]
    body = meeting_body(required_domain_ids=[world.factory.domain_id("城乡建设")],
                        avoid=[{"expert_id": experts[0].id, "reason": "曾参与方案起草"}])
    response = http.post(f"{API}/decision-items/{item.id}/panel-requests", json=body, headers=department)
    assert response.status_code == 201, response.text
    created = response.json()
    # The tier mix defaults to the policy's minimum.
    assert created["min_senior_members"] == 1
    assert created["avoid"] == [{"expert_id": experts[0].id, "reason": "曾参与方案起草"}]
    assert created["meeting_time"] == "09:30" and created["status"] == "submitted"
    got = http.get(f"{API}/panel-requests/{created['id']}", headers=department).json()
    assert got["id"] == created["id"]
    listed = http.get(f"{API}/decision-items/{item.id}/panel-requests", headers=department).json()
    assert [r["id"] for r in listed] == [created["id"]]


@pytest.mark.parametrize("change, fields", [
    ({"seats": 4}, {"seats"}),  # a meeting needs an odd number
    ({"seats": 3}, {"seats"}),  # ... and at least 5
    ({"meeting_date": None}, {"meeting_date"}),
    ({"meeting_place": None}, {"meeting_place"}),
    ({"deadline": future()}, {"deadline"}),
    ({"mode": "written", "seats": 2, "meeting_date": None, "meeting_time": None, "meeting_place": None,
      "deadline": future()}, {"seats"}),
    ({"mode": "written", "seats": 3}, {"deadline", "meeting_date", "meeting_time", "meeting_place"}),
    ({"mode": "commissioned", "seats": 3, "meeting_date": None, "meeting_time": None, "meeting_place": None,
      "deadline": future()}, {"institution_id"}),
    ({"institution_id": 1}, {"institution_id"}),
    ({"mode": "online"}, {"mode"}),
    ({"seats": 0}, {"seats"}),
    ({"seats": "5"}, {"seats"}),
    ({"meeting_date": (today() - timedelta(days=1)).isoformat()}, {"meeting_date"}),
    ({"meeting_time": "25:00"}, {"meeting_time"}),
    ({"min_senior_members": 6}, {"min_senior_members"}),
    ({"required_domain_ids": [999999]}, {"required_domain_ids"}),
    ({"selection_method": "lottery"}, {"selection_method"}),
], ids=["even-meeting", "small-meeting", "no-date", "no-place", "deadline-on-meeting", "small-written",
        "written-with-meeting-fields", "commissioned-without-institution", "institution-on-meeting", "bad-mode",
        "zero-seats", "seats-as-text", "past-date", "bad-time", "senior-over-seats", "unknown-domain", "bad-method"])
def test_invalid_panel_request_is_refused_and_nothing_written(http, world, department, change, fields):
    item = world.item()
    before, seq = panel_rows(), last_audit_seq()
    response = http.post(f"{API}/decision-items/{item.id}/panel-requests", json=meeting_body(**change),
                         headers=department)
    assert_error(response, 422, "validation_error", fields)
    assert panel_rows() == before and audit_actions_since(seq) == []


def test_avoid_list_is_limited_by_the_policy(http, world, department):
    item = world.item()
    experts = [world.expert(name) for name in ("赵一", "钱二", "孙三", "李四")]
    before, seq = panel_rows(), last_audit_seq()
    avoid = [{"expert_id": e.id, "reason": "利益相关"} for e in experts]
    error = assert_error(http.post(f"{API}/decision-items/{item.id}/panel-requests", json=meeting_body(avoid=avoid),
                                   headers=department), 422, "validation_error", {"avoid"})
    assert "最多 3 人" in error["fields"]["avoid"][0]
    for bad in ([{"expert_id": 999999, "reason": "x"}], [{"expert_id": experts[0].id, "reason": ""}],
                [{"expert_id": experts[0].id, "reason": "x"}] * 2):
        assert_error(http.post(f"{API}/decision-items/{item.id}/panel-requests", json=meeting_body(avoid=bad),
                               headers=department), 422, "validation_error", {"avoid"})
    assert panel_rows() == before and audit_actions_since(seq) == []


def test_commissioned_request_names_an_institution(http, world, department, factory):
    institution = factory.organisation("江海华信工程咨询有限公司", type_="enterprise")
    item = world.item()
    body = {"mode": "commissioned", "seats": 3, "deadline": future(), "institution_id": institution.id,
            "selection_method": "recommend"}
    response = http.post(f"{API}/decision-items/{item.id}/panel-requests", json=body, headers=department)
    assert response.status_code == 201, response.text
    assert response.json()["institution"]["id"] == institution.id


# ---------------------------------------------------------------- runs and replacements


@pytest.fixture
def pool(world):
    """Seven experts at seven employers, one core expert, one non-CPC."""
    experts = [world.expert(name, tier="core" if name == "赵一" else "general",
                            political="non_party" if name == "李四" else "cpc")
               for name in ("赵一", "钱二", "孙三", "李四", "周五", "吴六", "郑七")]
    return experts


def test_talent_office_runs_a_recommendation(http, world, office, department, pool):
    request = world.request(world.item())
    seq = last_audit_seq()
    response = http.post(f"{API}/panel-requests/{request.id}/recommendations", json={"method": "recommend"},
                         headers=office)
    assert response.status_code == 201, response.text
    record = response.json()
    assert record["kind"] == "recommend" and record["compliant"] is True
    assert len(record["result"]["panel"]) == 5
    assert record["policy_version"] == 1 and record["inputs"]["weights"]["text"] > 0
    assert record["filtered"]["qualified"] == 7
    assert {c["expert_id"] for c in record["candidates"]} == {e.id for e in pool}
    assert audit_actions_since(seq) == ["recommendation.create"]
    # The record reads back the same, and the request lists it.
    again = http.get(f"{API}/recommendations/{record['id']}", headers=office).json()
    assert again["result"] == record["result"] and again["candidates"] == record["candidates"]
    listed = http.get(f"{API}/panel-requests/{request.id}/recommendations", headers=office).json()
    assert [r["id"] for r in listed] == [record["id"]]
    # The department sees its panel and the composition report, not the ranked pool.
    seen = http.get(f"{API}/recommendations/{record['id']}", headers=department).json()
    assert set(seen) >= {"panel", "report", "failures", "compliant", "filtered_counts"}
    assert "candidates" not in seen and "inputs" not in seen
    assert [m["expert_id"] for m in seen["panel"]] == record["result"]["panel"]


def test_a_method_other_than_the_requested_one_is_refused(http, world, office, pool):
    request = world.request(world.item())
    before = panel_rows()
    assert_error(http.post(f"{API}/panel-requests/{request.id}/recommendations", json={"method": "random_draw"},
                           headers=office), 422, "validation_error", {"method"})
    assert panel_rows() == before


def test_a_draw_needs_a_pool_of_three_times_the_seats(http, world, office, pool):
    request = world.request(world.item(), selection_method="random_draw")
    before, seq = panel_rows(), last_audit_seq()
    error = assert_error(http.post(f"{API}/panel-requests/{request.id}/recommendations",
                                   json={"method": "random_draw"}, headers=office), 422, "validation_error")
    assert "15" in error["message"] and error["fields"]["rules"] == ["draw_pool"]
    assert panel_rows() == before and audit_actions_since(seq) == []


def test_replacing_a_member(http, world, office, pool):
    request = world.request(world.item())
    record = world.run(request)
    panel = record.result["panel"]
    alternates = [a["expert_id"] for a in record.result["alternates"]]
    seq = last_audit_seq()
    response = http.post(f"{API}/recommendations/{record.id}/replacements",
                         json={"remove_expert_id": panel[1], "add_expert_id": alternates[0], "reason": "出国访问"},
                         headers=office)
    assert response.status_code == 201, response.text
    new = response.json()
    assert new["kind"] == "replacement" and new["parent_id"] == record.id
    assert new["result"]["panel"] == [*panel[:1], alternates[0], *panel[2:]]
    assert new["result"]["excluded"] == [panel[1]] and new["compliant"] is True
    assert audit_actions_since(seq) == ["recommendation.replace"]
    # The parent record is untouched.
    fresh_session()
    assert db.session.get(Recommendation, record.id).result["panel"] == panel


def test_a_replacement_that_breaks_a_rule_is_refused_naming_it(http, world, office, factory):
    shared = factory.organisation("江海大学")
    college = factory.organisation("江海大学经济学院", parent_id=shared.id)
    experts = [world.expert(name, employer=shared if name == "赵一" else None, tier="core" if name == "钱二" else "general")
               for name in ("赵一", "钱二", "孙三", "李四", "周五")]
    same_university = world.expert("吴六", employer=college)
    request = world.request(world.item())
    record = world.run(request)
    assert record.result["compliant"] and experts[0].id in record.result["panel"]
    before, seq = panel_rows(), last_audit_seq()
    # The college belongs to the university already on the panel: one employer.
    error = assert_error(http.post(f"{API}/recommendations/{record.id}/replacements",
                                   json={"remove_expert_id": experts[2].id, "add_expert_id": same_university.id,
                                         "reason": "调整"}, headers=office), 422, "validation_error")
    assert error["fields"]["rules"] == ["employer"]
    # Removing the only core expert for a general one breaks the tier mix.
    error = assert_error(http.post(f"{API}/recommendations/{record.id}/replacements",
                                   json={"remove_expert_id": experts[1].id, "add_expert_id": same_university.id,
                                         "reason": "调整"}, headers=office), 422, "validation_error")
    assert "senior" in error["fields"]["rules"]
    assert_error(http.post(f"{API}/recommendations/{record.id}/replacements",
                           json={"remove_expert_id": same_university.id, "reason": "调整"}, headers=office),
                 422, "validation_error", {"remove_expert_id"})
    assert panel_rows() == before and audit_actions_since(seq) == []


# ---------------------------------------------------------------- junk


@pytest.fixture
def panel_endpoints(world, pool):
    item = world.item()
    request = world.request(item)
    record = world.run(request)
    return {
        "POST /decision-items": ("POST", "/decision-items", item_body(organisation_id=world.department.id)),
        "PATCH /decision-items/<id>": ("PATCH", f"/decision-items/{item.id}", item_body(
            domain_ids=[world.factory.domain_id("城乡规划")], planned_decision_date=future(), confidential=True)),
        "POST /decision-items/<id>/panel-requests": ("POST", f"/decision-items/{item.id}/panel-requests", meeting_body(
            avoid=[{"expert_id": pool[0].id, "reason": "利益相关"}], required_domain_ids=[world.factory.domain_id("城乡规划")],
            min_senior_members=1, note="备注")),
        "POST /panel-requests/<id>/recommendations": ("POST", f"/panel-requests/{request.id}/recommendations",
                                                     {"method": "recommend"}),
        "POST /recommendations/<id>/replacements": ("POST", f"/recommendations/{record.id}/replacements", {
            "remove_expert_id": record.result["panel"][0], "add_expert_id": None, "reason": "出差"}),
    }


@pytest.mark.parametrize("endpoint", ["POST /decision-items", "PATCH /decision-items/<id>",
                                      "POST /decision-items/<id>/panel-requests",
                                      "POST /panel-requests/<id>/recommendations",
                                      "POST /recommendations/<id>/replacements"])
def test_junk_never_causes_a_server_error(http, office, panel_endpoints, endpoint):
    method, path, valid = panel_endpoints[endpoint]
    rng = random.Random(f"panels:{endpoint}")
    problems = []
    for spoilt, body in _json_bodies(rng, valid):
        response = http.request(method, API + path, data=json.dumps(body, ensure_ascii=True),
                                headers={**office, "Content-Type": "application/json"})
        if (problem := _problem(response)) is not None:
            problems.append(f"{problem} for {spoilt}")
    for raw in RAW_BODIES:
        response = http.request(method, API + path, data=raw, headers={**office, "Content-Type": "application/json"})
        if (problem := _problem(response)) is not None:
            problems.append(f"{problem} for raw body {raw[:60]!r}")
    assert problems == []
