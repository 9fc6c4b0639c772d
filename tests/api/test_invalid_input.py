"""Bad input gets a 4xx in the one error envelope, a stable code, the
offending field named, and writes nothing (no expert, no audit entry)."""
from __future__ import annotations

import json
from datetime import date

import pytest

from experts_service.core.auth import Role
from experts_service.core.idcard import check_digit
from tests.api.helpers import API, assert_error, database_state, expert_row, organisation_row
from tests.conftest import valid_id_number

UNKNOWN_ID = 987654
EXISTING_ID_NUMBER = valid_id_number(birth=date(1968, 3, 9), region="110105", sequence=7)
# Ids beyond the database's integer columns: PostgreSQL INTEGER ends at
# 2**31 - 1, SQLite at 2**63 - 1; JSON and URLs carry any size.
OUT_OF_RANGE_IDS = [2**31, 2**63, 10**30]


@pytest.fixture
def talent_office(sign_in):
    return sign_in(Role.TALENT_OFFICE)[1]


@pytest.fixture
def existing_expert(factory):
    return factory.expert(name="陈静", id_number=EXISTING_ID_NUMBER)


@pytest.fixture
def new_expert(factory, existing_expert):
    """A valid create payload (its employer already exists) for the cases to spoil one field of."""
    return factory.expert_payload(name="李明", id_number=valid_id_number(birth=date(1980, 1, 2), sequence=11))


def _with_check_digit(first17: str) -> str:
    return first17 + check_digit(first17)


def _wrong_check_digit(id_number: str) -> str:
    right = id_number[17]
    return id_number[:17] + ("0" if right != "0" else "1")


# (case id, change to a valid payload, fields expected in error.fields)
INVALID_CREATES = [
    ("bad-check-digit", lambda p: {"id_number": _wrong_check_digit(p["id_number"])}, {"id_number"}),
    ("impossible-birth-date", lambda p: {"id_number": _with_check_digit("33010219750230001")}, {"id_number"}),
    ("future-birth-date", lambda p: {"id_number": _with_check_digit("33010220990101001")}, {"id_number"}),
    ("id-number-too-short", lambda p: {"id_number": p["id_number"][:17]}, {"id_number"}),
    # The pool already holds this person: refused as a field error (422), not a 409.
    ("duplicate-id-number", lambda p: {"id_number": EXISTING_ID_NUMBER}, {"id_number"}),
    ("duplicate-id-number-with-spaces", lambda p: {"id_number": f"  {EXISTING_ID_NUMBER} "}, {"id_number"}),
    ("unknown-primary-domain", lambda p: {"primary_domain_id": UNKNOWN_ID}, {"primary_domain_id"}),
    ("unknown-secondary-domain", lambda p: {"secondary_domain_ids": [p["primary_domain_id"], UNKNOWN_ID]},
     {"secondary_domain_ids"}),
    ("unknown-employer", lambda p: {"employer_id": UNKNOWN_ID}, {"employer_id"}),
    ("unknown-tier", lambda p: {"tier_id": UNKNOWN_ID}, {"tier_id"}),
    ("years-as-words", lambda p: {"years_in_field": "twenty"}, {"years_in_field"}),
    ("years-as-numeric-string", lambda p: {"years_in_field": "20"}, {"years_in_field"}),
    ("years-out-of-range", lambda p: {"years_in_field": 81}, {"years_in_field"}),
    ("npc-flag-not-boolean", lambda p: {"is_npc_deputy": "maybe"}, {"is_npc_deputy"}),
    ("keywords-as-string", lambda p: {"keywords": "城市更新"}, {"keywords"}),
    ("name-41-chars", lambda p: {"name": "张" * 41}, {"name"}),
    ("name-with-digits", lambda p: {"name": "张伟2"}, {"name"}),
    ("bio-5001-chars", lambda p: {"bio": "研" * 5001}, {"bio"}),
    ("keyword-31-chars", lambda p: {"keywords": ["规" * 31]}, {"keywords"}),
    ("31-keywords", lambda p: {"keywords": [f"关键词{n}" for n in range(31)]}, {"keywords"}),
    ("duplicate-keywords", lambda p: {"keywords": ["城市更新", " 城市更新"]}, {"keywords"}),
    ("bad-mobile", lambda p: {"mobile": "12345"}, {"mobile"}),
    ("unknown-title-level", lambda p: {"title_level": "professor"}, {"title_level"}),
    ("achievement-of-unknown-kind", lambda p: {"achievements": [{"kind": "patent", "title": "某专利"}]},
     {"achievements"}),
    ("unknown-field", lambda p: {"foo": 1}, {"foo"}),
    ("name-null", lambda p: {"name": None}, {"name"}),
]


@pytest.mark.parametrize(("change", "fields"), [pytest.param(c, f, id=i) for i, c, f in INVALID_CREATES])
def test_invalid_expert_is_refused_and_nothing_written(http, talent_office, new_expert, change, fields):
    payload = {**new_expert, **change(new_expert)}
    before = database_state()

    response = http.post(f"{API}/experts", json=payload, headers=talent_office)

    assert_error(response, 422, "validation_error", fields=fields)
    assert database_state() == before


def test_missing_required_fields_are_each_named(http, talent_office):
    before = database_state()
    response = http.post(f"{API}/experts", json={"name": "李明"}, headers=talent_office)
    assert_error(response, 422, "validation_error", fields={
        "id_number", "employer_id", "title_level", "years_in_field", "political_affiliation",
        "primary_domain_id", "tier_id",
    })
    assert database_state() == before


def test_duplicate_id_number_on_update_is_refused(http, talent_office, existing_expert, factory):
    other = factory.expert(name="李明")
    before = expert_row(other.id)

    response = http.patch(f"{API}/experts/{other.id}", json={"id_number": EXISTING_ID_NUMBER}, headers=talent_office)

    assert_error(response, 422, "validation_error", fields={"id_number"})
    assert expert_row(other.id) == before


def test_id_number_in_full_width_digits_is_not_a_second_identity(http, talent_office, factory):
    """A person already in the pool, typed again with full-width digits (as Chinese IMEs produce),
    must not become a second expert: the duplicate check has to see the same number."""
    for sequence in range(500):  # the bypass needs an ID whose check character is X
        id_number = valid_id_number(birth=date(1970, 1, 1), sequence=sequence)
        if id_number.endswith("X"):
            break
    factory.expert(name="陈静", id_number=id_number)
    full_width = id_number[0] + id_number[1:17].translate(str.maketrans("0123456789", "０１２３４５６７８９")) + "X"
    before = database_state()

    response = http.post(f"{API}/experts", json=factory.expert_payload(name="陈静", id_number=full_width),
                         headers=talent_office)

    assert_error(response, 422, "validation_error", fields={"id_number"})
    assert database_state().experts == before.experts


@pytest.mark.parametrize("text", ["城市\x00更新", "\ud800"], ids=["nul", "lone-surrogate"])
def test_unstorable_characters_in_text_are_a_field_error(http, talent_office, new_expert, text):
    """NUL cannot be stored by PostgreSQL and a lone surrogate cannot be encoded as UTF-8 at all."""
    before = database_state()
    response = http.post(f"{API}/experts", json={**new_expert, "bio": text}, headers=talent_office)
    assert_error(response, 422, "validation_error", fields={"bio"})
    assert database_state() == before


@pytest.mark.parametrize("text", ["北京\x00大学", "\udfff大学"], ids=["nul", "lone-surrogate"])
def test_unstorable_characters_in_organisation_name_are_a_field_error(http, talent_office, text):
    before = database_state()
    response = http.post(f"{API}/organisations", json={"name": text, "type": "university"}, headers=talent_office)
    assert_error(response, 422, "validation_error", fields={"name"})
    assert database_state() == before


def test_nul_in_search_text_is_a_field_error(http, talent_office, existing_expert):
    response = http.get(f"{API}/experts", params={"q": "陈\x00"}, headers=talent_office)
    assert_error(response, 422, "validation_error", fields={"q"})


def _describe(response) -> str:
    """Status and error code, short enough to list several in one assertion message."""
    try:
        code = response.json().get("error", {}).get("code")
    except ValueError:
        code = "non-JSON body"
    return f"{response.status_code} {code}"


@pytest.mark.parametrize("field", ["employer_id", "primary_domain_id", "tier_id"])
def test_out_of_range_reference_id_is_an_unknown_reference(http, talent_office, new_expert, field):
    before = database_state()
    answers = {huge: http.post(f"{API}/experts", json={**new_expert, field: huge}, headers=talent_office)
               for huge in OUT_OF_RANGE_IDS}
    wrong = {huge: _describe(r) for huge, r in answers.items()
             if r.status_code != 422 or set(r.json()["error"]["fields"]) != {field}}
    assert wrong == {}, "expected 422 naming the field, as for any unknown id"
    assert database_state() == before


@pytest.mark.parametrize("path", ["/experts/{}", "/organisations/{}"])
def test_out_of_range_id_in_path_is_not_found(http, talent_office, path):
    answers = {huge: http.get(API + path.format(huge), headers=talent_office) for huge in OUT_OF_RANGE_IDS}
    wrong = {huge: _describe(r) for huge, r in answers.items() if r.status_code != 404}
    assert wrong == {}, "expected 404 not_found, as for any unknown id"
    for response in answers.values():
        assert_error(response, 404, "not_found", fields=set())


@pytest.mark.parametrize("parameter", ["domain_id", "tier_id"])
def test_out_of_range_filter_id_is_a_field_error(http, talent_office, existing_expert, parameter):
    """An id no column can hold is invalid input, like page=0: 422 naming the filter."""
    for huge in OUT_OF_RANGE_IDS:
        response = http.get(f"{API}/experts", params={parameter: huge}, headers=talent_office)
        assert_error(response, 422, "validation_error", fields={parameter})


class TestRequestBody:
    def test_malformed_json(self, http, talent_office):
        before = database_state()
        response = http.post(f"{API}/experts", data='{"name": ',
                             headers={**talent_office, "Content-Type": "application/json"})
        assert_error(response, 400, "malformed_json", fields=set())
        assert database_state() == before

    def test_invalid_utf8_is_malformed_json(self, http, talent_office):
        response = http.post(f"{API}/experts", data=b'{"name": "\xff\xfe"}',
                             headers={**talent_office, "Content-Type": "application/json"})
        assert_error(response, 400, "malformed_json", fields=set())

    @pytest.mark.parametrize("body", [[{"name": "李明"}], "李明", 42, None], ids=["array", "string", "number", "null"])
    def test_json_that_is_not_an_object(self, http, talent_office, body):
        before = database_state()
        response = http.post(f"{API}/experts", data=json.dumps(body),
                             headers={**talent_office, "Content-Type": "application/json"})
        assert_error(response, 422, "validation_error", fields={"_schema"})
        assert database_state() == before

    @pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded"])
    def test_non_json_content_type_on_create(self, http, talent_office, new_expert, content_type):
        """A complete payload sent with the wrong media type must be named as such (415), not
        answered with "name is required" for fields the client did send."""
        before = database_state()
        response = http.post(f"{API}/experts", data=json.dumps(new_expert),
                             headers={**talent_office, "Content-Type": content_type})
        assert_error(response, 415, "unsupported_media_type")
        assert database_state() == before

    def test_non_json_content_type_on_update(self, http, talent_office, existing_expert):
        before = expert_row(existing_expert.id)
        response = http.patch(f"{API}/experts/{existing_expert.id}", data=json.dumps({"bio": "新简介"}),
                              headers={**talent_office, "Content-Type": "text/plain"})
        assert_error(response, 415, "unsupported_media_type")
        assert expert_row(existing_expert.id) == before

    def test_body_over_max_content_length(self, app, http, talent_office):
        limit = app.config["MAX_CONTENT_LENGTH"]
        body = b'{"bio": "' + b"a" * limit + b'"}'
        before = database_state()
        response = http.post(f"{API}/experts", data=body, headers={**talent_office, "Content-Type": "application/json"})
        assert_error(response, 413, "payload_too_large", fields=set())
        assert database_state() == before


BAD_LIST_QUERIES = [
    ({"per_page": 1000}, "per_page"),
    ({"per_page": 0}, "per_page"),
    ({"per_page": "abc"}, "per_page"),
    ({"page": 0}, "page"),
    ({"page": -1}, "page"),
    ({"sort": "bogus"}, "sort"),
    ({"status": "bogus"}, "status"),
    ({"title_level": "bogus"}, "title_level"),
    ({"q": "张" * 41}, "q"),
]


@pytest.mark.parametrize(("params", "field"), [
    pytest.param(params, field, id="&".join(f"{k}={v}" for k, v in params.items())[:30])
    for params, field in BAD_LIST_QUERIES
])
def test_bad_list_query(http, talent_office, params, field):
    response = http.get(f"{API}/experts", params=params, headers=talent_office)
    assert_error(response, 422, "validation_error", fields={field})


def test_bad_organisation_list_query(http, talent_office):
    response = http.get(f"{API}/organisations", params={"type": "bogus"}, headers=talent_office)
    assert_error(response, 422, "validation_error", fields={"type"})


class TestUpdate:
    def test_stale_version_is_a_conflict(self, http, talent_office, existing_expert):
        url = f"{API}/experts/{existing_expert.id}"
        version = http.get(url, headers=talent_office).json()["version"]
        first = http.patch(url, json={"bio": "第一次修改", "version": version}, headers=talent_office)
        assert first.status_code == 200, first.text
        before = expert_row(existing_expert.id)

        # A second client still holding the old version must not overwrite the first edit.
        response = http.patch(url, json={"bio": "基于旧版本的修改", "version": version}, headers=talent_office)

        assert_error(response, 409, "conflict", fields={"version"})
        assert expert_row(existing_expert.id) == before
        assert before["bio"] == "第一次修改"

    @pytest.mark.parametrize("body", [{}, "version-only"], ids=["empty", "version-only"])
    def test_nothing_to_change(self, http, talent_office, existing_expert, body):
        url = f"{API}/experts/{existing_expert.id}"
        if body == "version-only":
            body = {"version": http.get(url, headers=talent_office).json()["version"]}
        before = database_state()
        response = http.patch(url, json=body, headers=talent_office)
        assert_error(response, 422, "validation_error", fields={"_schema"})
        assert database_state() == before

    def test_invalid_update_changes_nothing(self, http, talent_office, existing_expert):
        """One bad field spoils the whole change: the valid fields sent with it are not written either."""
        before = expert_row(existing_expert.id)
        response = http.patch(f"{API}/experts/{existing_expert.id}",
                              json={"bio": "合法的简介", "tier_id": UNKNOWN_ID}, headers=talent_office)
        assert_error(response, 422, "validation_error", fields={"tier_id"})
        assert expert_row(existing_expert.id) == before

    def test_organisation_update_with_itself_as_parent(self, http, talent_office, factory):
        organisation = factory.organisation("某大学")
        before = organisation_row(organisation.id)
        response = http.patch(f"{API}/organisations/{organisation.id}", json={"parent_id": organisation.id},
                              headers=talent_office)
        assert_error(response, 422, "validation_error", fields={"parent_id"})
        assert organisation_row(organisation.id) == before


class TestNotFoundAndMethod:
    @pytest.mark.parametrize(("method", "path", "body"), [
        ("GET", "/experts/{}", None),
        ("PATCH", "/experts/{}", {"bio": "新简介"}),
        ("POST", "/experts/{}/personal-data", None),
        ("GET", "/organisations/{}", None),
        ("PATCH", "/organisations/{}", {"contact_name": "王联络"}),
    ])
    def test_unknown_id(self, http, talent_office, method, path, body):
        before = database_state()
        response = http.request(method, API + path.format(UNKNOWN_ID), json=body, headers=talent_office)
        assert_error(response, 404, "not_found", fields=set())
        assert database_state() == before

    def test_unknown_api_path(self, http, talent_office):
        assert_error(http.get(f"{API}/no-such-thing", headers=talent_office), 404, "not_found", fields=set())

    @pytest.mark.parametrize(("method", "path"), [
        ("DELETE", "/experts/{}"),
        ("PUT", "/experts/{}"),
        ("DELETE", "/experts"),
        ("GET", "/experts/{}/personal-data"),
        ("DELETE", "/organisations/{}"),
        ("PATCH", "/domains"),
        ("GET", "/auth/token"),
    ])
    def test_wrong_method(self, http, talent_office, existing_expert, method, path):
        before = database_state()
        response = http.request(method, API + path.format(existing_expert.id), headers=talent_office)
        assert_error(response, 405, "method_not_allowed", fields=set())
        assert database_state() == before
