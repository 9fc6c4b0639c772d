"""No request body, however malformed, produces a server error.

Each write endpoint gets a fixed, seeded batch of junk: whole bodies of
random JSON, valid payloads with one field replaced by junk (which reaches
past the schema into the operations and the database), and raw bytes that
are not JSON at all. Every answer must be below 500, and every error must
come in the one envelope.
"""
from __future__ import annotations

import json
import random
from datetime import date

import pytest

from experts_service.core.auth import Role
from tests.api.helpers import API, ERROR_KEYS
from tests.conftest import TEST_PASSWORD, valid_id_number

SEED = 20261123
NASTY_SCALARS = [
    None, True, False, 0, -1, 1.5, -0.0, 1e308, 2**31, 2**63, -(2**63) - 1, 10**40,
    "", " ", "\x00", "a\x00b", "\ud800", "\udfff\ud800", "😀" * 50, "<script>alert(1)</script>", "' OR 1=1 --",
    "%", "_", "\\", "X" * 10_000, "１２３", "٣", "null", "true", "[]", "{}",
]
RAW_BODIES = [
    b"",
    b"null",
    b"[]",
    b'"text"',
    b"12",
    b"{",
    b'{"name": NaN}',
    b'{"years_in_field": Infinity}',
    b'{"name": "\xff\xfe\xfd"}',
    b"\xef\xbb\xbf{}",  # a UTF-8 byte-order mark before the JSON
    b"[" * 50_000 + b"]" * 50_000,  # nesting deep enough to exhaust a recursive parser
    b'{"a":' * 5_000 + b"1" + b"}" * 5_000,
    b'{"name": "a", "name": "b"}',
]


def _junk(rng: random.Random, depth: int = 0):
    roll = rng.random()
    if depth >= 4 or roll < 0.5:
        return rng.choice(NASTY_SCALARS)
    if roll < 0.75:
        return [_junk(rng, depth + 1) for _ in range(rng.randint(0, 4))]
    return {rng.choice(["name", "id", "", "kind", "title", "\x00", "__proto__", "😀"]): _junk(rng, depth + 1)
            for _ in range(rng.randint(0, 4))}


def _short(value) -> str:
    text = json.dumps(value, ensure_ascii=True)
    return text if len(text) <= 100 else text[:100] + "..."


def _json_bodies(rng: random.Random, valid: dict) -> list[tuple[str, object]]:
    """(what was spoilt, body) pairs: whole junk bodies, then one spoilt field at a time."""
    bodies = []
    for _ in range(15):
        junk = _junk(rng)
        bodies.append((f"body {_short(junk)}", junk))
    for field in valid:
        for _ in range(3):
            junk = _junk(rng)
            bodies.append((f"{field}={_short(junk)}", {**valid, field: junk}))
    return bodies


@pytest.fixture
def endpoints(factory):
    """(method, path, a valid body, the role allowed to call it) for every write endpoint.

    Each uses a role that passes the route gate, so the junk reaches the parser
    and the operation: talent_office where it may write, admin for the
    taxonomy and tiers (the talent office would be refused before parsing).
    """
    organisation = factory.organisation("某某大学")
    expert = factory.expert(name="孙丽")
    login = factory.user(Role.AUDITOR)
    return {
        "POST /experts": ("POST", "/experts", factory.expert_payload(
            name="周强", id_number=valid_id_number(birth=date(1977, 7, 7), sequence=3)), Role.TALENT_OFFICE),
        "PATCH /experts/<id>": ("PATCH", f"/experts/{expert.id}", {
            "bio": "简介", "keywords": ["城市更新"], "mobile": "13900001111", "tier_id": factory.tier_id("core"),
            "achievements": [{"kind": "award", "title": "奖项"}], "version": 1,
            "secondary_domain_ids": [factory.domain_id("城市治理")], "employer_id": organisation.id,
        }, Role.TALENT_OFFICE),
        "POST /experts/<id>/personal-data": ("POST", f"/experts/{expert.id}/personal-data", {}, Role.TALENT_OFFICE),
        "POST /organisations": ("POST", "/organisations", {
            "name": "某研究院", "type": "research_institute", "aliases": ["某院"], "parent_id": organisation.id,
            "contact_phone": "0571-1234567",
        }, Role.TALENT_OFFICE),
        "PATCH /organisations/<id>": ("PATCH", f"/organisations/{organisation.id}", {
            "name": "某某大学（新）", "aliases": ["某大"], "parent_id": None, "type": "university", "address": "某路",
        }, Role.TALENT_OFFICE),
        "POST /domains": ("POST", "/domains", {"code": "J1", "name": "新领域", "parent_id": factory.domain_id("城乡建设")},
                          Role.ADMIN),
        "POST /tiers": ("POST", "/tiers", {"code": "j1", "name": "新层次", "rank": 7, "is_senior": False}, Role.ADMIN),
        "POST /auth/token": ("POST", "/auth/token", {"username": login.username, "password": TEST_PASSWORD}, None),
    }


def _problem(response) -> str | None:
    """What is wrong with one answer, or None."""
    if response.status_code >= 500:
        return f"status {response.status_code}"
    if response.status_code < 400:
        return None
    try:
        body = response.json()
    except ValueError:
        return f"status {response.status_code} with a non-JSON body"
    if set(body) != {"error"} or set(body["error"]) != ERROR_KEYS or not isinstance(body["error"]["fields"], dict):
        return f"status {response.status_code} outside the error envelope: {str(body)[:200]}"
    return None


@pytest.mark.parametrize("endpoint", [
    "POST /experts", "PATCH /experts/<id>", "POST /experts/<id>/personal-data", "POST /organisations",
    "PATCH /organisations/<id>", "POST /domains", "POST /tiers", "POST /auth/token",
])
def test_junk_never_causes_a_server_error(http, sign_in, endpoints, endpoint):
    method, path, valid, role = endpoints[endpoint]
    auth = sign_in(role)[1] if role else {}
    rng = random.Random(f"{SEED}:{endpoint}")
    problems = []

    for spoilt, body in _json_bodies(rng, valid):
        # ensure_ascii keeps lone surrogates sendable as \\ud800 escapes.
        response = http.request(method, API + path, data=json.dumps(body, ensure_ascii=True),
                                headers={**auth, "Content-Type": "application/json"})
        if (problem := _problem(response)) is not None:
            problems.append(f"{problem} for {spoilt}")
    for raw in RAW_BODIES:
        response = http.request(method, API + path, data=raw, headers={**auth, "Content-Type": "application/json"})
        if (problem := _problem(response)) is not None:
            problems.append(f"{problem} for raw body {raw[:60]!r}{'...' if len(raw) > 60 else ''}")

    assert problems == [], f"{len(problems)} bad answers:\n" + "\n".join(problems)
