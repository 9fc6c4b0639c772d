"""Expert records over real HTTP: create, list with filters, update, reveal."""
from __future__ import annotations

import json
import re
from datetime import date

import pytest
import sqlalchemy as sa

from experts_service.core.audit import AuditEntry
from experts_service.core.auth import Role
from experts_service.core.clock import today
from experts_service.experts.models import Expert, ExpertStatus
from experts_service.extensions import db
from tests.api.helpers import API, audit_actions_since, database_state, expert_row, fresh_session, last_audit_seq
from tests.conftest import valid_id_number

ID_NUMBER = valid_id_number(birth=date(1975, 6, 15), region="330102", sequence=123, male=False)
MOBILE = "13912345678"


@pytest.fixture
def talent_office(sign_in):
    return sign_in(Role.TALENT_OFFICE)


def _audit_entries(action: str) -> list[AuditEntry]:
    fresh_session()
    return list(db.session.scalars(sa.select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.seq)))


def test_create_expert(http, factory, talent_office):
    user, auth = talent_office
    payload = factory.expert_payload(name="张伟", id_number=ID_NUMBER, mobile=MOBILE, tier_id=factory.tier_id("core"))
    before = database_state()

    response = http.post(f"{API}/experts", json=payload, headers=auth)

    assert response.status_code == 201, response.text
    body = response.json()
    # Personal data leaves the server masked only, in no field and in no form.
    assert body["id_number_masked"] == f"{ID_NUMBER[:6]}********{ID_NUMBER[-4:]}"
    assert re.fullmatch(r"330102\*{8}\d{3}[\dX]", body["id_number_masked"])
    assert body["mobile_masked"] == "139****5678"
    assert ID_NUMBER not in response.text and MOBILE not in response.text
    assert "id_number" not in body and "mobile" not in body
    # Derived from the ID number, not sent by the client.
    assert body["sex"] == "female"
    assert body["birth_date"] == "1975-06-15"
    assert body["status"] == "active"
    assert body["name"] == "张伟"
    assert body["tier"]["id"] == payload["tier_id"]
    assert body["employer"]["id"] == payload["employer_id"]
    assert body["primary_domain"]["name"] == "城乡规划"
    assert [d["name"] for d in body["secondary_domains"]] == ["城市治理"]
    assert body["version"] == 1
    appointment = body["appointment"]
    start = date.fromisoformat(appointment["term_start"])
    assert re.fullmatch(rf"JCZX-{start.year}-\d{{5}}", appointment["certificate_no"])
    assert start == today()
    assert date.fromisoformat(appointment["term_end"]) == start.replace(year=start.year + 5)

    after = database_state()
    assert (after.experts, after.appointments) == (before.experts + 1, before.appointments + 1)
    stored = expert_row(body["id"])
    assert stored["id_number_enc"] != ID_NUMBER and ID_NUMBER not in stored["id_number_enc"]
    assert stored["mobile_enc"] and MOBILE not in stored["mobile_enc"]
    [entry] = _audit_entries("expert.create")
    assert entry.object_id == str(body["id"]) and entry.actor_id == user.id
    summary = json.dumps(entry.summary, ensure_ascii=False)
    assert ID_NUMBER not in summary and MOBILE not in summary
    assert entry.summary["certificate_no"] == appointment["certificate_no"]


def test_certificate_numbers_are_sequential(http, factory, talent_office):
    _, auth = talent_office
    numbers = []
    for name, sequence in (("张伟", 1), ("李娜", 2)):
        payload = factory.expert_payload(name=name, id_number=valid_id_number(sequence=sequence))
        response = http.post(f"{API}/experts", json=payload, headers=auth)
        assert response.status_code == 201, response.text
        numbers.append(response.json()["appointment"]["certificate_no"])
    first, second = (int(number.rsplit("-", 1)[1]) for number in numbers)
    assert second == first + 1


@pytest.fixture
def pool(factory):
    """Four experts spread over domains, tiers and years; 章维 and 张伟 share the pinyin zhangwei."""
    def make(name, primary, tier, years, secondary=()):
        return factory.expert(name=name, primary_domain_id=factory.domain_id(primary), tier_id=factory.tier_id(tier),
                              years_in_field=years, secondary_domain_ids=[factory.domain_id(d) for d in secondary]).id

    return {
        "张伟": make("张伟", "城乡规划", "general", 20),
        "王芳": make("王芳", "社会救助", "core", 35, secondary=["城市治理"]),
        "赵敏": make("赵敏", "城乡建设", "chief", 10),
        "章维": make("章维", "财政预算", "general", 5),
    }


def _names(http, auth, **params) -> list[str]:
    response = http.get(f"{API}/experts", params=params, headers=auth)
    assert response.status_code == 200, response.text
    return [item["name"] for item in response.json()["items"]]


@pytest.mark.parametrize(("q", "expected"), [
    ("张伟", ["张伟"]),
    ("王", ["王芳"]),
    ("zhangwei", ["章维", "张伟"]),
    ("ZhangWei", ["章维", "张伟"]),
    ("zhang wei", ["章维", "张伟"]),
    ("zw", ["章维", "张伟"]),
    ("wf", ["王芳"]),
    ("钱", []),
])
def test_list_searches_name_by_characters_pinyin_and_initials(http, talent_office, pool, q, expected):
    assert sorted(_names(http, talent_office[1], q=q)) == sorted(expected)


def test_list_filters(http, factory, talent_office, pool):
    auth = talent_office[1]
    # A first-level domain matches experts of its own and of its children's domains.
    assert sorted(_names(http, auth, domain_id=factory.domain_id("城乡建设"))) == ["张伟", "赵敏"]
    # Secondary domains count too.
    assert sorted(_names(http, auth, domain_id=factory.domain_id("社会管理"))) == ["王芳"]
    assert _names(http, auth, domain_id=factory.domain_id("城市治理")) == ["王芳"]
    assert sorted(_names(http, auth, tier_id=factory.tier_id("general"))) == ["张伟", "章维"]
    assert _names(http, auth, tier_id=factory.tier_id("chief")) == ["赵敏"]


def test_list_filters_by_status(http, talent_office, pool):
    auth = talent_office[1]
    # No lifecycle operation exists yet to suspend an expert, so set it in the database.
    fresh_session()
    db.session.get(Expert, pool["赵敏"]).status = ExpertStatus.SUSPENDED
    db.session.commit()

    assert sorted(_names(http, auth, status="active")) == ["张伟", "王芳", "章维"]
    assert _names(http, auth, status="suspended") == ["赵敏"]
    assert _names(http, auth, status="exited") == []


def test_list_sorts_and_pages(http, talent_office, pool):
    auth = talent_office[1]
    assert _names(http, auth, sort="-years") == ["王芳", "张伟", "赵敏", "章维"]
    assert _names(http, auth, sort="years") == ["章维", "赵敏", "张伟", "王芳"]
    assert _names(http, auth, sort="-tier")[-1] == "赵敏"

    response = http.get(f"{API}/experts", params={"sort": "-years", "per_page": 3, "page": 2}, headers=auth)
    assert response.status_code == 200, response.text
    page = response.json()
    assert [item["name"] for item in page["items"]] == ["章维"]
    assert page["meta"] == {"page": 2, "per_page": 3, "total": 4, "pages": 2}

    beyond = http.get(f"{API}/experts", params={"per_page": 3, "page": 5}, headers=auth).json()
    assert beyond["items"] == [] and beyond["meta"]["total"] == 4


def test_list_shows_no_personal_data(http, factory, talent_office):
    factory.expert(name="张伟", id_number=ID_NUMBER, mobile=MOBILE)
    response = http.get(f"{API}/experts", headers=talent_office[1])
    assert response.status_code == 200
    assert ID_NUMBER not in response.text and MOBILE not in response.text
    assert response.json()["items"][0]["id_number_masked"].startswith("330102********")


def test_update_with_current_version(http, factory, talent_office):
    user, auth = talent_office
    expert = factory.expert(name="张伟")
    url = f"{API}/experts/{expert.id}"
    version = http.get(url, headers=auth).json()["version"]
    seq = last_audit_seq()

    response = http.patch(url, json={"bio": "新的简介。", "years_in_field": 21, "tier_id": factory.tier_id("core"),
                                     "version": version}, headers=auth)

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["version"] == version + 1
    assert (body["bio"], body["years_in_field"], body["tier"]["id"]) == ("新的简介。", 21, factory.tier_id("core"))
    stored = expert_row(expert.id)
    assert (stored["version_id"], stored["bio"], stored["years_in_field"]) == (version + 1, "新的简介。", 21)
    # The appointment carries the tier too, so a tier change moves the current term with it.
    assert stored["appointments"][0][0] == factory.tier_id("core")
    assert audit_actions_since(seq) == ["expert.update"]


def test_update_without_version_still_bumps_it(http, factory, talent_office):
    expert = factory.expert(name="张伟")
    response = http.patch(f"{API}/experts/{expert.id}", json={"bio": "不带版本号的修改"}, headers=talent_office[1])
    assert response.status_code == 200, response.text
    assert response.json()["version"] == 2
    assert expert_row(expert.id)["version_id"] == 2


def test_update_of_id_number_rederives_birth_date_and_sex(http, factory, talent_office):
    expert = factory.expert(name="张伟")
    new_id = valid_id_number(birth=date(1981, 12, 31), region="110105", sequence=42, male=False)
    response = http.patch(f"{API}/experts/{expert.id}", json={"id_number": new_id}, headers=talent_office[1])
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["birth_date"], body["sex"]) == ("1981-12-31", "female")
    assert body["id_number_masked"] == f"110105********{new_id[-4:]}"
    assert new_id not in response.text


@pytest.mark.parametrize("role", [Role.TALENT_OFFICE, Role.AUDITOR, Role.EXPERT])
def test_personal_data_is_shown_and_audited(http, factory, sign_in, role):
    expert = factory.expert(name="张伟", id_number=ID_NUMBER, mobile=MOBILE)
    user, auth = sign_in(role, **({"expert_id": expert.id} if role is Role.EXPERT else {}))
    seq = last_audit_seq()

    response = http.post(f"{API}/experts/{expert.id}/personal-data", headers=auth)

    assert response.status_code == 200, response.text
    assert response.json() == {"id_number": ID_NUMBER, "mobile": MOBILE}
    assert audit_actions_since(seq) == ["expert.pii_viewed"]
    entry = _audit_entries("expert.pii_viewed")[-1]
    assert (entry.actor_id, entry.object_type, entry.object_id) == (user.id, "expert", str(expert.id))
    assert ID_NUMBER not in json.dumps(entry.summary, ensure_ascii=False)


def test_personal_data_without_mobile(http, factory, talent_office):
    expert = factory.expert(name="张伟", id_number=ID_NUMBER, mobile=None)
    response = http.post(f"{API}/experts/{expert.id}/personal-data", headers=talent_office[1])
    assert response.status_code == 200, response.text
    assert response.json() == {"id_number": ID_NUMBER, "mobile": None}
