"""Mail settings fail fast on values the sender cannot use; users' addresses are checked on the admin
pages and in the user API, for every role (experts' accounts too), and audited only masked."""
from __future__ import annotations

import pytest
import sqlalchemy as sa

from experts_service.accounts.models import User
from experts_service.config import ConfigError, build_config
from experts_service.core.audit import AuditEntry
from experts_service.core.auth import Role
from experts_service.core.email_address import is_email_address, mask_email
from experts_service.extensions import db
from tests.conftest import TEST_KEYS, TEST_PASSWORD, csrf_token_from, login

MAIL_ENV = ("SMTP_HOST", "SMTP_PORT", "SMTP_SENDER", "SMTP_USERNAME", "SMTP_PASSWORD", "SMTP_STARTTLS",
            "SMTP_TIMEOUT_SECONDS", "MAIL_MAX_ATTEMPTS", "MAIL_RETRY_SECONDS", "MAIL_SEND_ON_COMMIT", "EXPERTS_ENV",
            "PUBLIC_BASE_URL")


@pytest.fixture
def environment(monkeypatch, tmp_path):
    for name in MAIL_ENV:
        monkeypatch.delenv(name, raising=False)

    def build(overrides=None, **env):
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        return build_config(str(tmp_path), {**TEST_KEYS, **(overrides or {})})

    return build


def test_defaults(environment):
    config = environment()
    assert config["SMTP_HOST"] is None and config["SMTP_PORT"] == 25 and config["SMTP_STARTTLS"] is False
    assert (config["MAIL_MAX_ATTEMPTS"], config["MAIL_RETRY_SECONDS"]) == (5, 60)
    assert config["MAIL_SEND_ON_COMMIT"] is True
    assert environment({"EXPERTS_ENV": "testing"})["MAIL_SEND_ON_COMMIT"] is False
    assert environment(EXPERTS_ENV="testing")["MAIL_SEND_ON_COMMIT"] is False


def test_a_working_configuration(environment):
    config = environment(SMTP_HOST="smtp.example.cn", SMTP_PORT="587", SMTP_SENDER="专家库 <noreply@example.cn>",
                         SMTP_USERNAME="noreply", SMTP_PASSWORD="secret", SMTP_STARTTLS="true",
                         MAIL_MAX_ATTEMPTS="3", MAIL_RETRY_SECONDS="0", MAIL_SEND_ON_COMMIT="off")
    assert (config["SMTP_PORT"], config["SMTP_STARTTLS"], config["MAIL_RETRY_SECONDS"]) == (587, True, 0)
    assert config["MAIL_SEND_ON_COMMIT"] is False


@pytest.mark.parametrize("env, overrides, message", [
    ({"SMTP_PORT": "abc"}, {}, "SMTP_PORT must be an integer"),
    ({"SMTP_PORT": "70000"}, {}, "SMTP_PORT must be an integer in 1-65535"),
    ({"SMTP_PORT": "0"}, {}, "SMTP_PORT must be >= 1"),
    ({"SMTP_STARTTLS": "maybe"}, {}, "SMTP_STARTTLS must be a boolean"),
    ({"MAIL_MAX_ATTEMPTS": "0"}, {}, "MAIL_MAX_ATTEMPTS must be >= 1"),
    ({"MAIL_RETRY_SECONDS": "-1"}, {}, "MAIL_RETRY_SECONDS must be >= 0"),
    ({"SMTP_TIMEOUT_SECONDS": "0"}, {}, "SMTP_TIMEOUT_SECONDS must be >= 1"),
    ({"SMTP_HOST": "smtp.example.cn"}, {}, "SMTP_SENDER is required"),
    ({"SMTP_HOST": "smtp.example.cn", "SMTP_SENDER": "not an address"}, {}, "SMTP_SENDER must be an e-mail"),
    ({"SMTP_HOST": "smtp.example.cn", "SMTP_SENDER": "a@example.cn", "SMTP_USERNAME": "a"}, {},
     "SMTP_USERNAME and SMTP_PASSWORD must be set together"),
    ({"SMTP_HOST": "smtp.example.cn", "SMTP_SENDER": "a@example.cn", "SMTP_USERNAME": "a", "SMTP_PASSWORD": "b",
      "EXPERTS_ENV": "production"}, {}, "only over STARTTLS"),
    ({}, {"SMTP_PORT": "25"}, "SMTP_PORT must be an integer"),
    ({}, {"MAIL_SEND_ON_COMMIT": "yes"}, "MAIL_SEND_ON_COMMIT must be a boolean"),
    ({}, {"SMTP_HOST": "smtp example"}, "SMTP_HOST must be a host name"),
    ({"PUBLIC_BASE_URL": "experts.example.cn"}, {}, "PUBLIC_BASE_URL must be"),
    ({"PUBLIC_BASE_URL": "https://experts.example.cn/"}, {}, "PUBLIC_BASE_URL must be"),
])
def test_bad_values_fail_fast(environment, env, overrides, message):
    with pytest.raises(ConfigError, match=message):
        environment(overrides, **env)


@pytest.mark.parametrize("address, valid", [
    ("zhang.wei@example.cn", True), ("a+tag@mail.gov.cn", True), ("plain", False), ("a@b", False),
    ("a@@example.cn", False), (".a@example.cn", False), ("a..b@example.cn", False), ("张伟@example.cn", False),
    ("a b@example.cn", False), ("a@-example.cn", False), ("x" * 65 + "@example.cn", False),
    ("a@" + "b" * 250 + ".cn", False),
])
def test_address_format(address, valid):
    assert is_email_address(address) is valid


def test_masking():
    assert mask_email("zhang.wei@example.cn") == "z***@example.cn"
    assert mask_email(None) == "" and mask_email("nonsense") == "***"


# ---------------------------------------------------------------- users' addresses


def _admin_client(app, factory):
    client = app.test_client()
    admin = factory.user(Role.ADMIN)
    assert login(client, admin.username).status_code == 302
    return client, admin


def _stored_email(user_id: int):
    db.session.rollback()
    return db.session.get(User, user_id).email


def test_admin_creates_an_expert_account_with_an_address(app, factory):
    client, _ = _admin_client(app, factory)
    expert = factory.expert()
    token = csrf_token_from(client.get("/admin/users/new").get_data(as_text=True))
    response = client.post("/admin/users/new", data={
        "csrf_token": token, "username": "expert.mail", "display_name": "王芳", "password": TEST_PASSWORD,
        "role": "expert", "expert_id": str(expert.id), "email": " Wang.Fang@Example.CN "})
    assert response.status_code == 302
    user = db.session.execute(sa.select(User).where(User.username == "expert.mail")).scalar_one()
    assert user.email == "Wang.Fang@example.cn"
    entry = db.session.execute(sa.select(AuditEntry).where(AuditEntry.action == "user.create",
                                                           AuditEntry.object_id == str(user.id))).scalar_one()
    assert entry.summary["email"] == "W***@example.cn"
    assert "Wang.Fang@example.cn" in client.get("/admin/users").get_data(as_text=True)


@pytest.mark.parametrize("email, message", [("not-an-address", "邮箱格式不正确"),
                                            ("a" * 250 + "@example.cn", "邮箱不能超过 254 个字符")])
def test_admin_form_refuses_a_bad_address(app, factory, email, message):
    client, _ = _admin_client(app, factory)
    token = csrf_token_from(client.get("/admin/users/new").get_data(as_text=True))
    response = client.post("/admin/users/new", data={
        "csrf_token": token, "username": "bad.mail", "display_name": "李娜", "password": TEST_PASSWORD,
        "role": "talent_office", "email": email})
    assert response.status_code == 422
    assert message in response.get_data(as_text=True)
    assert db.session.execute(sa.select(User).where(User.username == "bad.mail")).scalar() is None


def test_admin_edits_and_clears_an_address(app, factory):
    client, _ = _admin_client(app, factory)
    user = factory.user(Role.EXPERT)
    page = client.get(f"/admin/users/{user.id}/edit").get_data(as_text=True)
    token = csrf_token_from(page)
    bad = client.post(f"/admin/users/{user.id}/edit", data={"csrf_token": token, "email": "wrong@"})
    assert bad.status_code == 422 and "邮箱格式不正确" in bad.get_data(as_text=True)
    assert _stored_email(user.id) is None
    good = client.post(f"/admin/users/{user.id}/edit", data={"csrf_token": token, "email": "li.na@example.cn"})
    assert good.status_code == 302 and _stored_email(user.id) == "li.na@example.cn"
    same = client.post(f"/admin/users/{user.id}/edit", data={"csrf_token": token, "email": "li.na@example.cn"},
                       follow_redirects=True)
    assert "没有任何改动" in same.get_data(as_text=True)
    cleared = client.post(f"/admin/users/{user.id}/edit", data={"csrf_token": token, "email": ""})
    assert cleared.status_code == 302 and _stored_email(user.id) is None
    summaries = db.session.execute(sa.select(AuditEntry.summary).where(AuditEntry.action == "user.email_changed")
                                   .order_by(AuditEntry.seq)).scalars().all()
    assert [(s["previous"], s["email"]) for s in summaries] == [(None, "l***@example.cn"), ("l***@example.cn", None)]


def test_user_api_sets_an_address_and_refuses_bad_ones(app, factory):
    client, admin = _admin_client(app, factory)
    token = app.test_client().post("/api/v1/auth/token", json={"username": admin.username, "password": TEST_PASSWORD})
    auth = {"Authorization": f"Bearer {token.get_json()['token']}"}
    user = factory.user(Role.DEPARTMENT)
    ok = client.patch(f"/api/v1/users/{user.id}", json={"email": "dept@example.gov.cn"}, headers=auth)
    assert ok.status_code == 200 and ok.get_json()["email"] == "dept@example.gov.cn"
    assert client.get(f"/api/v1/users/{user.id}", headers=auth).get_json()["email"] == "dept@example.gov.cn"
    for body in ({"email": "nope"}, {"email": "a" * 255}, {"email": 5}, {}, {"email": "a@example.cn", "x": 1}):
        refused = client.patch(f"/api/v1/users/{user.id}", json=body, headers=auth)
        assert refused.status_code == 422, body
        assert refused.get_json()["error"]["fields"], body
    assert _stored_email(user.id) == "dept@example.gov.cn"
    assert client.patch(f"/api/v1/users/{user.id}", json={"email": None}, headers=auth).get_json()["email"] is None
    assert client.patch("/api/v1/users/999999", json={"email": None}, headers=auth).status_code == 404
    me = client.get("/api/v1/auth/me", headers=auth).get_json()
    assert "email" in me
