"""Sign-in through the pages: passwords, lockout, CSRF, redirects, cookies."""
import pytest
import sqlalchemy as sa

from experts_service.accounts.models import User
from experts_service.core.audit import AuditEntry
from experts_service.extensions import db
from tests.conftest import TEST_PASSWORD, csrf_token_from, login


def _login_page_token(client) -> str:
    return csrf_token_from(client.get("/login").get_data(as_text=True))


def test_login_and_logout(client, factory):
    user = factory.user("talent_office")
    response = login(client, user.username)
    assert response.status_code == 302
    assert client.get("/experts").status_code == 200
    token = csrf_token_from(client.get("/experts").get_data(as_text=True))
    assert client.post("/logout", data={"csrf_token": token}).status_code == 302
    assert client.get("/experts").status_code == 302  # back to the login page


def test_password_is_stored_as_argon2id(factory):
    user = factory.user("auditor")
    assert user.password_hash.startswith("$argon2id$")
    assert TEST_PASSWORD not in user.password_hash


def test_wrong_password_is_refused_with_a_generic_message(client, factory):
    user = factory.user("auditor")
    response = login(client, user.username, "Wrong-pass-2026")
    assert response.status_code == 401
    assert "用户名或密码错误" in response.get_data(as_text=True)
    unknown = login(client, "nobody-here", "Wrong-pass-2026")
    assert "用户名或密码错误" in unknown.get_data(as_text=True)


def test_lockout_after_repeated_failures(app, client, factory):
    user = factory.user("auditor")
    limit = app.config["LOGIN_MAX_FAILURES"]
    for _ in range(limit):
        login(client, user.username, "Wrong-pass-2026")
    locked = login(client, user.username)  # the right password, too late
    assert locked.status_code == 401
    assert "锁定" in locked.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(User, user.id).locked_until is not None
    actions = db.session.execute(
        sa.select(AuditEntry.action).where(AuditEntry.object_type == "user", AuditEntry.object_id == str(user.id))
    ).scalars().all()
    assert "auth.locked" in actions and "auth.login_refused_locked" in actions


def test_login_form_requires_csrf_token(client, factory):
    user = factory.user("auditor")
    response = client.post("/login", data={"username": user.username, "password": TEST_PASSWORD})
    assert response.status_code == 400
    assert client.get("/admin/audit").status_code == 302  # not signed in


@pytest.mark.parametrize("target, expected", [
    ("/admin/audit", "/admin/audit"),
    ("https://evil.example/phish", "/"),
    ("//evil.example/phish", "/"),
    ("/\\evil.example", "/"),
    ("javascript:alert(1)", "/"),
])
def test_next_redirect_only_to_own_paths(client, factory, target, expected):
    user = factory.user("auditor")
    token = _login_page_token(client)
    response = client.post("/login", query_string={"next": target},
                           data={"username": user.username, "password": TEST_PASSWORD, "csrf_token": token})
    assert response.status_code == 302
    assert response.headers["Location"] == expected


def test_session_cookie_flags(client, factory):
    user = factory.user("auditor")
    response = login(client, user.username)
    cookie = next(value for key, value in response.headers.items() if key == "Set-Cookie" and value.startswith("session="))
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie


def test_production_sets_secure_cookies(monkeypatch, tmp_path):
    from experts_service.config import ConfigError, build_config

    monkeypatch.setenv("EXPERTS_ENV", "production")
    monkeypatch.delenv("SECRET_KEY", raising=False)
    with pytest.raises(ConfigError):
        build_config(str(tmp_path))
    monkeypatch.setenv("SECRET_KEY", "x" * 40)
    monkeypatch.setenv("PII_ENCRYPTION_KEYS", "zmG8cTHTl6I-dG4d_yCXcKVn8u5i9Gye3nfCPT3uERk=")
    monkeypatch.setenv("PII_HASH_KEY", "y" * 40)
    config = build_config(str(tmp_path))
    assert config["SESSION_COOKIE_SECURE"] and config["REMEMBER_COOKIE_SECURE"]
    assert not (tmp_path / "secrets.json").exists()


def test_deactivation_ends_open_sessions(client, factory):
    from experts_service.accounts.operations import set_active

    admin = factory.user("admin")
    user = factory.user("auditor")
    login(client, user.username)
    assert client.get("/admin/audit").status_code == 200
    set_active(admin, db.session.get(User, user.id), False)
    db.session.commit()
    assert client.get("/admin/audit").status_code == 302


def test_security_headers(client):
    response = client.get("/login")
    assert "default-src 'self'" in response.headers["Content-Security-Policy"]
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_change_own_password(client, factory):
    user = factory.user("auditor")
    login(client, user.username)
    token = csrf_token_from(client.get("/account/password").get_data(as_text=True))
    bad = client.post("/account/password", data={"csrf_token": token, "current_password": "Wrong-pass-2026",
                                                  "new_password": "short", "confirmation": "other"})
    assert bad.status_code == 422
    text = bad.get_data(as_text=True)
    assert "当前密码不正确" in text and "两次输入的新密码不一致" in text
    new_password = "New-pass-2026-x"
    ok = client.post("/account/password", data={"csrf_token": token, "current_password": TEST_PASSWORD,
                                                 "new_password": new_password, "confirmation": new_password})
    assert ok.status_code == 302
    assert client.get("/admin/audit").status_code == 200  # this session continues
    other_device = client.application.test_client()
    assert login(other_device, user.username, TEST_PASSWORD).status_code == 401
    assert login(other_device, user.username, new_password).status_code == 302
    actions = db.session.execute(sa.select(AuditEntry.action).where(AuditEntry.object_id == str(user.id))).scalars().all()
    assert "user.password_changed" in actions


def test_password_change_ends_other_sessions(app, factory):
    user = factory.user("auditor")
    first, second = app.test_client(), app.test_client()
    login(first, user.username)
    login(second, user.username)
    token = csrf_token_from(first.get("/account/password").get_data(as_text=True))
    new_password = "New-pass-2026-y"
    first.post("/account/password", data={"csrf_token": token, "current_password": TEST_PASSWORD,
                                          "new_password": new_password, "confirmation": new_password})
    assert first.get("/admin/audit").status_code == 200
    assert second.get("/admin/audit").status_code == 302
