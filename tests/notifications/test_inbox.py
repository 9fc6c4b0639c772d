"""我的消息: each user sees and marks only their own notifications, on the pages and in the API."""
from __future__ import annotations

import pytest
import sqlalchemy as sa

from experts_service.core.audit import AuditEntry
from experts_service.core.auth import Role
from experts_service.extensions import db
from experts_service.notifications.models import Notification
from experts_service.notifications.operations import notify
from tests.conftest import TEST_PASSWORD, csrf_token_from, login


def _signed_in(app, factory, role=Role.EXPERT):
    client = app.test_client()
    user = factory.user(role)
    assert login(client, user.username).status_code == 302
    return client, user


def _give(user, subject: str, link: str | None = "/taxonomy") -> Notification:
    [notification] = notify([user], "test.kind", subject, f"{subject}的正文", link=link)
    db.session.commit()
    return notification


def _bearer(client, user) -> dict:
    # Signing in for a token is done without the page session's cookie (which would need the CSRF token).
    response = client.application.test_client().post(
        "/api/v1/auth/token", json={"username": user.username, "password": TEST_PASSWORD})
    assert response.status_code == 201, response.get_data(as_text=True)
    return {"Authorization": f"Bearer {response.get_json()['token']}"}


def _read_at(notification_id: int):
    db.session.rollback()
    return db.session.get(Notification, notification_id).read_at


@pytest.fixture
def two_users(app, factory):
    mine_client, me = _signed_in(app, factory, Role.EXPERT)
    other_client, other = _signed_in(app, factory, Role.DEPARTMENT)
    older = _give(me, "较早的通知")
    newer = _give(me, "较新的通知")
    theirs = _give(other, "别人的通知")
    return {"client": mine_client, "me": me, "other": other, "other_client": other_client,
            "older": older.id, "newer": newer.id, "theirs": theirs.id}


def test_inbox_lists_own_notifications_newest_first_with_unread_marked(two_users):
    page = two_users["client"].get("/notifications").get_data(as_text=True)
    assert page.index("较新的通知") < page.index("较早的通知")
    assert "别人的通知" not in page
    assert page.count('class="inbox-item unread"') == 2
    assert 'id="unread-badge"' in page and ">2</span>" in page


def test_marking_one_read_and_following_its_link(two_users):
    client = two_users["client"]
    token = csrf_token_from(client.get("/notifications").get_data(as_text=True))
    response = client.post(f"/notifications/{two_users['older']}/read", data={"csrf_token": token})
    assert response.status_code == 302 and response.headers["Location"] == "/notifications"
    assert _read_at(two_users["older"]) is not None
    assert _read_at(two_users["newer"]) is None
    page = client.get("/notifications?unread=1").get_data(as_text=True)
    assert "较新的通知" in page and "较早的通知" not in page

    opened = client.post(f"/notifications/{two_users['newer']}/open", data={"csrf_token": token})
    assert opened.status_code == 302 and opened.headers["Location"] == "/taxonomy"
    assert _read_at(two_users["newer"]) is not None
    assert 'id="unread-badge"' not in client.get("/notifications").get_data(as_text=True)
    actions = db.session.execute(sa.select(AuditEntry.action).where(AuditEntry.actor_id == two_users["me"].id)
                                 .order_by(AuditEntry.seq)).scalars().all()
    assert actions.count("notification.read") == 2


def test_a_link_outside_the_service_is_not_followed(app, factory):
    client, user = _signed_in(app, factory)
    notification = _give(user, "可疑链接", link="//evil.example.com/phish")
    page = client.get("/notifications").get_data(as_text=True)
    assert "查看详情" not in page
    token = csrf_token_from(page)
    response = client.post(f"/notifications/{notification.id}/open", data={"csrf_token": token})
    assert response.status_code == 302 and response.headers["Location"] == "/notifications"


def test_mark_all_read(two_users):
    client = two_users["client"]
    token = csrf_token_from(client.get("/notifications").get_data(as_text=True))
    response = client.post("/notifications/read-all", data={"csrf_token": token}, follow_redirects=True)
    assert "已将 2 条消息标记为已读" in response.get_data(as_text=True)
    assert _read_at(two_users["older"]) and _read_at(two_users["newer"])
    assert _read_at(two_users["theirs"]) is None  # the other user's stays unread


def test_another_users_notification_cannot_be_marked_on_the_page(two_users):
    client = two_users["client"]
    token = csrf_token_from(client.get("/notifications").get_data(as_text=True))
    response = client.post(f"/notifications/{two_users['theirs']}/read", data={"csrf_token": token},
                           follow_redirects=True)
    assert "无权" in response.get_data(as_text=True)
    assert _read_at(two_users["theirs"]) is None
    missing = client.post("/notifications/999999/read", data={"csrf_token": token}, follow_redirects=True)
    assert "消息不存在" in missing.get_data(as_text=True)


def test_marking_needs_the_csrf_token(two_users):
    response = two_users["client"].post(f"/notifications/{two_users['older']}/read", follow_redirects=True)
    assert "页面已过期" in response.get_data(as_text=True)
    assert _read_at(two_users["older"]) is None


def test_api_lists_own_notifications_paged_and_filtered(two_users):
    client = two_users["client"]
    auth = _bearer(client, two_users["me"])
    body = client.get("/api/v1/notifications?per_page=1", headers=auth).get_json()
    assert body["meta"] == {"page": 1, "per_page": 1, "total": 2, "pages": 2}
    assert [item["id"] for item in body["items"]] == [two_users["newer"]] and body["unread"] == 2
    assert body["items"][0]["read"] is False and body["items"][0]["link"] == "/taxonomy"

    marked = client.post(f"/api/v1/notifications/{two_users['newer']}/read", headers=auth)
    assert marked.status_code == 200 and marked.get_json()["read"] is True
    unread = client.get("/api/v1/notifications?unread=true", headers=auth).get_json()
    assert [item["id"] for item in unread["items"]] == [two_users["older"]] and unread["unread"] == 1

    assert client.post("/api/v1/notifications/read-all", headers=auth).get_json() == {"marked": 1}
    assert client.post("/api/v1/notifications/read-all", headers=auth).get_json() == {"marked": 0}


def test_api_refuses_another_users_notification(two_users):
    client = two_users["client"]
    auth = _bearer(client, two_users["me"])
    refused = client.post(f"/api/v1/notifications/{two_users['theirs']}/read", headers=auth)
    assert refused.status_code == 403 and refused.get_json()["error"]["code"] == "forbidden"
    assert _read_at(two_users["theirs"]) is None
    assert client.post("/api/v1/notifications/999999/read", headers=auth).status_code == 404
    listed = client.get("/api/v1/notifications", headers=auth).get_json()
    assert two_users["theirs"] not in [item["id"] for item in listed["items"]]


@pytest.mark.parametrize("query", ["page=0", "per_page=1000", "unread=maybe"])
def test_api_bad_query_is_a_field_error(two_users, query):
    client = two_users["client"]
    response = client.get(f"/api/v1/notifications?{query}", headers=_bearer(client, two_users["me"]))
    assert response.status_code == 422
    assert response.get_json()["error"]["fields"]


def test_bad_page_filter_falls_back_with_a_warning(two_users):
    page = two_users["client"].get("/notifications?page=abc").get_data(as_text=True)
    assert "筛选条件无效" in page and "较新的通知" in page


@pytest.mark.parametrize("role", list(Role))
def test_every_role_has_an_inbox(app, factory, role):
    client, user = _signed_in(app, factory, role)
    _give(user, "欢迎使用")
    page = client.get("/notifications")
    assert page.status_code == 200 and "欢迎使用" in page.get_data(as_text=True)


@pytest.mark.parametrize("role, status", [(Role.ADMIN, 200), (Role.TALENT_OFFICE, 200), (Role.DEPARTMENT, 403),
                                          (Role.EXPERT, 403), (Role.AUDITOR, 403)])
def test_only_the_office_and_the_administrator_see_the_mail_queue(app, factory, role, status):
    client, user = _signed_in(app, factory, role)
    assert client.get("/mail-queue").status_code == status
    assert client.get("/api/v1/mail-messages", headers=_bearer(client, user)).status_code == status
