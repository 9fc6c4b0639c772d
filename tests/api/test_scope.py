"""OWN scope over the API: departments reach their organisation subtree only,
experts their own record only, and within it only the fields they may edit."""
from __future__ import annotations

import pytest

from experts_service.core.auth import Role
from tests.api.helpers import API, assert_error, audit_actions_since, expert_row, last_audit_seq, organisation_row


@pytest.fixture
def department(factory, sign_in):
    """A department user of a bureau that has a subordinate unit, and another department's bureau."""
    bureau = factory.organisation("市发展和改革委员会", type_="government")
    subordinate = factory.organisation("市发展改革研究中心", type_="public_institution", parent_id=bureau.id)
    other_bureau = factory.organisation("市财政局", type_="government", system="财政", contact_name="原联系人")
    _, auth = sign_in(Role.DEPARTMENT, organisation_id=bureau.id)
    return {"auth": auth, "own": bureau.id, "child": subordinate.id, "other": other_bureau.id}


@pytest.mark.parametrize("which", ["own", "child"])
def test_department_reads_and_edits_contacts_of_its_subtree(http, department, which):
    organisation_id = department[which]
    url = f"{API}/organisations/{organisation_id}"

    read = http.get(url, headers=department["auth"])
    assert read.status_code == 200, read.text
    assert read.json()["id"] == organisation_id

    contact = {"contact_name": "赵联络", "contact_phone": "0571-87654321", "address": "解放路 1 号"}
    edit = http.patch(url, json=contact, headers=department["auth"])
    assert edit.status_code == 200, edit.text
    assert {key: edit.json()[key] for key in contact} == contact
    stored = organisation_row(organisation_id)
    assert {key: stored[key] for key in contact} == contact


def test_department_cannot_read_or_edit_another_departments_organisation(http, department):
    url = f"{API}/organisations/{department['other']}"
    before = organisation_row(department["other"])
    seq = last_audit_seq()

    assert_error(http.get(url, headers=department["auth"]), 403, "forbidden")
    assert_error(http.patch(url, json={"contact_name": "越权修改"}, headers=department["auth"]), 403, "forbidden")

    assert organisation_row(department["other"]) == before
    assert audit_actions_since(seq) == []


@pytest.mark.parametrize("change", [{"name": "市发展和改革委员会（新）"}, {"parent_id": None},
                                    {"name": "改名", "contact_name": "混入的联系字段"}],
                         ids=["name", "parent_id", "name-with-contact"])
def test_department_cannot_change_non_contact_fields_of_its_own_organisation(http, department, change):
    url = f"{API}/organisations/{department['own']}"
    before = organisation_row(department["own"])
    seq = last_audit_seq()

    error = assert_error(http.patch(url, json=change, headers=department["auth"]), 403, "forbidden")

    # The refusal names the forbidden fields, not the allowed contact field sent along.
    assert set(error["fields"]) == set(change) - {"contact_name"}
    assert organisation_row(department["own"]) == before
    assert audit_actions_since(seq) == []


@pytest.fixture
def expert_user(factory, sign_in):
    """An expert signed in as themselves, and another expert in the pool."""
    own = factory.expert(name="王芳")
    other = factory.expert(name="刘洋")
    _, auth = sign_in(Role.EXPERT, expert_id=own.id)
    return {"auth": auth, "own": own.id, "other": other.id}


def test_expert_reads_and_edits_own_profile(http, expert_user):
    url = f"{API}/experts/{expert_user['own']}"
    read = http.get(url, headers=expert_user["auth"])
    assert read.status_code == 200, read.text
    version = read.json()["version"]

    change = {
        "bio": "从事区域经济研究二十年。",
        "keywords": ["区域经济", "产业政策"],
        "mobile": "13800001111",
        "achievements": [{"kind": "award", "title": "省社科优秀成果一等奖"}],
    }
    edit = http.patch(url, json={**change, "version": version}, headers=expert_user["auth"])

    assert edit.status_code == 200, edit.text
    body = edit.json()
    assert body["bio"] == change["bio"]
    assert body["keywords"] == change["keywords"]
    assert body["achievements"] == change["achievements"]
    assert body["mobile_masked"] == "138****1111"
    assert body["version"] == version + 1
    stored = expert_row(expert_user["own"])
    assert stored["bio"] == change["bio"]
    assert stored["keywords"] == change["keywords"]
    assert stored["mobile_masked"] == "138****1111"


def test_expert_cannot_touch_another_experts_record(http, expert_user):
    url = f"{API}/experts/{expert_user['other']}"
    before = expert_row(expert_user["other"])
    seq = last_audit_seq()

    assert_error(http.get(url, headers=expert_user["auth"]), 403, "forbidden")
    assert_error(http.patch(url, json={"bio": "越权修改"}, headers=expert_user["auth"]), 403, "forbidden")
    assert_error(http.post(f"{url}/personal-data", headers=expert_user["auth"]), 403, "forbidden")

    assert expert_row(expert_user["other"]) == before
    # In particular no expert.pii_viewed entry: the other expert's ID number was not shown.
    assert audit_actions_since(seq) == []


@pytest.mark.parametrize("field", ["employer_id", "tier_id"])
def test_expert_cannot_change_fields_kept_for_the_talent_office(http, factory, expert_user, field):
    url = f"{API}/experts/{expert_user['own']}"
    replacement = {"employer_id": factory.organisation("另一所大学").id, "tier_id": factory.tier_id("chief")}[field]
    before = expert_row(expert_user["own"])
    seq = last_audit_seq()

    response = http.patch(url, json={field: replacement, "bio": "顺带修改简介"}, headers=expert_user["auth"])

    assert_error(response, 403, "forbidden", fields={field})
    assert expert_row(expert_user["own"]) == before
    assert audit_actions_since(seq) == []
