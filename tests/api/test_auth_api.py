"""Signing in to the API: bearer tokens, lockout, and CSRF for cookie sessions."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
import sqlalchemy as sa

from experts_service.accounts.models import ApiToken, User
from experts_service.core.auth import Role
from experts_service.extensions import db
from tests.api.helpers import API, assert_error, audit_actions_since, database_state, expert_row, fresh_session, \
    last_audit_seq
from tests.conftest import TEST_PASSWORD, csrf_token_from


def _token(http, username: str, password: str = TEST_PASSWORD):
    return http.post(f"{API}/auth/token", json={"username": username, "password": password})


def _tokens_of(user_id: int) -> list[ApiToken]:
    fresh_session()
    return list(db.session.scalars(sa.select(ApiToken).where(ApiToken.user_id == user_id)))


def test_token_sign_in(app, http, factory):
    user = factory.user(Role.AUDITOR)
    seq = last_audit_seq()

    response = _token(http, user.username)

    assert response.status_code == 201, response.text
    body = response.json()
    assert set(body) == {"token", "expires_at"}
    expires_at = datetime.fromisoformat(body["expires_at"])
    expected = datetime.now(timezone.utc) + timedelta(hours=app.config["API_TOKEN_HOURS"])
    assert abs(expires_at - expected) < timedelta(minutes=1)
    [row] = _tokens_of(user.id)
    assert row.token_hash != body["token"] and body["token"] not in row.token_hash  # only a hash is stored
    assert audit_actions_since(seq) == ["auth.login", "auth.token_issued"]

    me = http.get(f"{API}/auth/me", headers={"Authorization": f"Bearer {body['token']}"})
    assert me.status_code == 200, me.text
    assert me.json() == {"id": user.id, "username": user.username, "display_name": user.display_name,
                         "role": "auditor", "organisation_id": None, "expert_id": None,
                         "email": None}


def test_me_of_department_and_expert_users_names_their_scope(http, factory, sign_in):
    organisation = factory.organisation(type_="government")
    department, department_auth = sign_in(Role.DEPARTMENT, organisation_id=organisation.id)
    assert http.get(f"{API}/auth/me", headers=department_auth).json()["organisation_id"] == organisation.id
    expert = factory.expert()
    _, expert_auth = sign_in(Role.EXPERT, expert_id=expert.id)
    assert http.get(f"{API}/auth/me", headers=expert_auth).json()["expert_id"] == expert.id


def test_wrong_password_and_unknown_user_get_the_same_answer(http, factory):
    """The same message for both, so the API does not tell which usernames exist."""
    user = factory.user(Role.AUDITOR)
    before = database_state()

    wrong_password = assert_error(_token(http, user.username, "Wrong-pass-2026"), 401, "unauthenticated", fields=set())
    unknown_user = assert_error(_token(http, "nobody-here", TEST_PASSWORD), 401, "unauthenticated", fields=set())

    assert wrong_password["message"] == unknown_user["message"]
    after = database_state()
    assert after.tokens == before.tokens
    # Failures are kept (failure count and audit trail) although the sign-in is refused.
    assert after.audit_entries == before.audit_entries + 2
    fresh_session()
    assert db.session.get(User, user.id).failed_logins == 1


def test_token_request_needs_both_fields(http):
    response = http.post(f"{API}/auth/token", json={"username": "someone"})
    assert_error(response, 422, "validation_error", fields={"password"})


def test_lockout_after_repeated_failures(app, http, factory):
    user = factory.user(Role.TALENT_OFFICE)
    max_failures = app.config["LOGIN_MAX_FAILURES"]

    for attempt in range(1, max_failures + 1):
        error = assert_error(_token(http, user.username, f"Wrong-pass-{attempt}"), 401, "unauthenticated")
    assert "锁定" in error["message"], "the attempt that locks the account says so"

    # Now even the right password is refused, with a message about the lock.
    locked = assert_error(_token(http, user.username), 401, "unauthenticated", fields=set())
    assert "锁定" in locked["message"]
    assert _tokens_of(user.id) == []
    fresh_session()
    stored = db.session.get(User, user.id)
    lock_minutes = app.config["LOGIN_LOCKOUT_MINUTES"]
    assert stored.locked_until is not None
    assert timedelta(0) < stored.locked_until - datetime.now(timezone.utc) <= timedelta(minutes=lock_minutes)


def test_failures_below_the_limit_do_not_lock(app, http, factory):
    user = factory.user(Role.TALENT_OFFICE)
    for attempt in range(app.config["LOGIN_MAX_FAILURES"] - 1):
        assert_error(_token(http, user.username, f"Wrong-pass-{attempt}"), 401, "unauthenticated")
    assert _token(http, user.username).status_code == 201
    fresh_session()
    assert db.session.get(User, user.id).failed_logins == 0  # a success resets the count


@pytest.mark.parametrize("header", [
    "Bearer not-a-real-token",
    "Bearer ",
    "Bearer",
    "Basic dXNlcjpwYXNz",
    "bearer\tgarbage",
    "Token abc",
])
def test_garbage_authorization_header_is_refused(http, header):
    assert_error(http.get(f"{API}/auth/me", headers={"Authorization": header}), 401, "unauthenticated", fields=set())


def test_garbage_token_cannot_write(http, factory):
    before = database_state()
    response = http.post(f"{API}/organisations", json={"name": "某大学", "type": "university"},
                         headers={"Authorization": "Bearer not-a-real-token"})
    assert_error(response, 401, "unauthenticated", fields=set())
    assert database_state() == before


def test_expired_token_is_refused(http, factory, sign_in):
    user, auth = sign_in(Role.TALENT_OFFICE)
    assert http.get(f"{API}/auth/me", headers=auth).status_code == 200
    [row] = _tokens_of(user.id)
    row.expires_at = datetime.now(timezone.utc) - timedelta(seconds=1)
    db.session.commit()

    assert_error(http.get(f"{API}/auth/me", headers=auth), 401, "unauthenticated", fields=set())
    assert_error(http.get(f"{API}/experts", headers=auth), 401, "unauthenticated", fields=set())


def test_revoked_token_is_refused(http, sign_in):
    user, auth = sign_in(Role.TALENT_OFFICE)
    seq = last_audit_seq()

    response = http.delete(f"{API}/auth/token", headers=auth)

    assert response.status_code == 204, response.text
    assert audit_actions_since(seq) == ["auth.token_revoked"]
    [row] = _tokens_of(user.id)
    assert row.revoked_at is not None
    assert_error(http.get(f"{API}/auth/me", headers=auth), 401, "unauthenticated", fields=set())


def test_token_of_deactivated_user_is_refused(http, sign_in):
    user, auth = sign_in(Role.TALENT_OFFICE)
    fresh_session()
    db.session.get(User, user.id).active = False
    db.session.commit()
    assert_error(http.get(f"{API}/auth/me", headers=auth), 401, "unauthenticated", fields=set())


class TestCookieSession:
    """A browser signed in through the login page may call the API; writes need the CSRF token."""

    @pytest.fixture
    def browser(self, http, factory):
        """`http` signed in through the real login form as talent_office, and an expert to edit."""
        user = factory.user(Role.TALENT_OFFICE)
        expert = factory.expert(name="张伟")
        page = http.get("/login")
        assert page.status_code == 200
        response = http.post("/login", data={"username": user.username, "password": TEST_PASSWORD,
                                              "csrf_token": csrf_token_from(page.text)}, allow_redirects=False)
        assert response.status_code == 302, response.text[:500]
        assert http.cookies, "the login set no session cookie"
        return expert

    def test_reads_need_no_csrf_token(self, http, browser):
        response = http.get(f"{API}/experts/{browser.id}")
        assert response.status_code == 200, response.text
        assert http.get(f"{API}/auth/me").json()["role"] == "talent_office"

    def test_write_without_csrf_token_is_refused(self, http, browser):
        before = expert_row(browser.id)
        response = http.patch(f"{API}/experts/{browser.id}", json={"bio": "跨站伪造的修改"})
        assert_error(response, 400, "csrf_failed", fields=set())
        assert expert_row(browser.id) == before

    def test_write_with_a_wrong_csrf_token_is_refused(self, http, browser):
        before = expert_row(browser.id)
        response = http.patch(f"{API}/experts/{browser.id}", json={"bio": "伪造"}, headers={"X-CSRFToken": "forged"})
        assert_error(response, 400, "csrf_failed", fields=set())
        assert expert_row(browser.id) == before

    def test_write_with_csrf_token_from_a_page_succeeds(self, http, browser):
        page = http.get(f"/experts/{browser.id}")
        assert page.status_code == 200
        token = csrf_token_from(page.text)

        response = http.patch(f"{API}/experts/{browser.id}", json={"bio": "通过页面会话修改"},
                              headers={"X-CSRFToken": token})

        assert response.status_code == 200, response.text
        assert expert_row(browser.id)["bio"] == "通过页面会话修改"

    def test_bearer_token_overrides_the_cookie(self, http, browser, sign_in):
        """With a bearer token the request is the token's user, and no CSRF token is needed (no ambient credential)."""
        _, auditor_auth = sign_in(Role.AUDITOR)
        assert http.get(f"{API}/auth/me", headers=auditor_auth).json()["role"] == "auditor"
        response = http.patch(f"{API}/experts/{browser.id}", json={"bio": "审计员不能改"}, headers=auditor_auth)
        assert_error(response, 403, "forbidden", fields=set())
