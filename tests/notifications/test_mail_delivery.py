"""The mail queue against a real SMTP server on loopback: delivered once after the commit, retried with
backoff while the server is away, failed for good after the last attempt (visible, re-queued on request),
nothing sent for a rolled-back transaction, and two senders at once never deliver a message twice."""
from __future__ import annotations

import logging
import threading
from datetime import timedelta

import pytest
import sqlalchemy as sa

from experts_service.core.audit import AuditEntry
from experts_service.core.auth import Role
from experts_service.core.db import utcnow
from experts_service.extensions import db
from experts_service.notifications import mail
from experts_service.notifications.models import MailStatus
from experts_service.notifications.operations import notify
from tests.conftest import csrf_token_from, login
from tests.notifications.conftest import SENDER, mail_rows, notification_rows

ADDRESS = "wang.fang@example.cn"
SUBJECT = "论证邀请：城市更新条例"
BODY = "您好，请于十二月二十日前答复是否参加论证会。"


def _notify(factory, address: str = ADDRESS, commit: bool = True, **user_fields):
    user = factory.user(Role.EXPERT, email=address, **user_fields)
    [notification] = notify([user], "invitation.sent", SUBJECT, BODY, link="/invitations/1")
    if commit:
        db.session.commit()
        mail.wait_for_sends()  # the after-commit attempt runs on the sending thread
    return user, notification


def _cli(app, *args):
    result = app.test_cli_runner().invoke(args=["notifications", *args])
    return result


def _signed_in_office(app, factory):
    client = app.test_client()
    office = factory.user(Role.TALENT_OFFICE)
    assert login(client, office.username).status_code == 302
    return client, office


# ---------------------------------------------------------------- (a) server away, then back


def test_failed_attempt_is_recorded_and_visible_then_delivered_once_when_the_server_is_back(
        mail_app, smtp_server, factory):
    mail_app.config.update(MAIL_SEND_ON_COMMIT=True, MAIL_RETRY_SECONDS=0)
    # The server is not running: the attempt right after the commit fails.
    _notify(factory)
    [row] = mail_rows()
    assert row.status is MailStatus.QUEUED and row.attempts == 1 and row.sent_at is None
    assert row.claimed_until is None
    assert "ConnectionRefused" in row.last_error
    assert ADDRESS not in row.last_error and BODY not in row.last_error

    # Visible on the queue page and in the API, address masked.
    client, _ = _signed_in_office(mail_app, factory)
    page = client.get("/mail-queue").get_data(as_text=True)
    assert f'data-mail-id="{row.id}"' in page and "ConnectionRefused" in page and "w***@example.cn" in page
    assert ADDRESS not in page
    listed = client.get("/api/v1/mail-messages").get_json()["items"]
    assert [(m["id"], m["status"], m["attempts"], m["to_address"]) for m in listed] == \
        [(row.id, "queued", 1, "w***@example.cn")]
    assert "ConnectionRefused" in listed[0]["last_error"]

    smtp_server.start()
    result = _cli(mail_app, "send")
    assert result.exit_code == 0, result.output
    assert "已发送 1 封" in result.output
    assert len(smtp_server.envelopes) == 1
    [row] = mail_rows()
    assert row.status is MailStatus.SENT and row.sent_at is not None and row.attempts == 2
    assert row.claimed_until is None

    again = _cli(mail_app, "send")
    assert again.exit_code == 0 and "已发送 0 封" in again.output
    assert len(smtp_server.envelopes) == 1


def test_the_message_is_utf8_with_a_message_id_derived_from_its_record(mail_app, smtp_server, factory):
    smtp_server.start()
    _notify(factory)
    report = mail.drain(mail_app)
    assert report.sent == 1
    [row] = mail_rows()
    [received] = smtp_server.messages
    assert smtp_server.envelopes[0].rcpt_tos == [ADDRESS]
    assert smtp_server.envelopes[0].mail_from == "noreply@experts.example.cn"
    assert received["Subject"] == SUBJECT
    assert received["From"] == SENDER
    assert received["Message-ID"] == mail.message_id(row.id, "noreply@experts.example.cn")
    assert received.get_content_charset() == "utf-8"
    body = received.get_content()
    assert BODY in body and "/invitations/1" in body


def test_a_retry_waits_for_its_backoff(mail_app, smtp_server, factory):
    mail_app.config.update(MAIL_RETRY_SECONDS=60)
    _notify(factory)
    first = mail.drain(mail_app)
    assert (first.sent, first.retrying, first.unreachable) == (0, 1, True)
    [row] = mail_rows()
    wait = row.next_attempt_at - utcnow()
    assert timedelta(seconds=50) < wait <= timedelta(seconds=60)

    smtp_server.start()
    assert mail.drain(mail_app).sent == 0  # not due yet
    assert smtp_server.envelopes == []
    # The second failure doubles the wait.
    smtp_server.stop()
    later = utcnow() + timedelta(seconds=61)
    assert mail.drain(mail_app, now=later).retrying == 1
    [row] = mail_rows()
    assert row.attempts == 2 and row.next_attempt_at == later + timedelta(seconds=120)
    smtp_server.start()
    assert mail.drain(mail_app, now=later + timedelta(seconds=121)).sent == 1
    assert len(smtp_server.envelopes) == 1


# ---------------------------------------------------------------- (b) rollback


def test_a_rolled_back_notification_sends_nothing_and_leaves_nothing(mail_app, smtp_server, factory):
    smtp_server.start()
    mail_app.config.update(MAIL_SEND_ON_COMMIT=True)
    user = factory.user(Role.EXPERT, email=ADDRESS)
    notify([user], "invitation.sent", SUBJECT, BODY)
    db.session.rollback()
    # A later commit in the same session must not send what the rollback discarded.
    factory.organisation()
    assert mail.drain(mail_app).sent == 0
    assert smtp_server.envelopes == []
    assert mail_rows() == [] and notification_rows() == []


# ---------------------------------------------------------------- (c) two senders at once


def test_two_senders_draining_at_once_deliver_each_message_once(mail_app, smtp_server, factory):
    messages = 3 * mail.CLAIM_BATCH
    users = [factory.user(Role.TALENT_OFFICE, email=f"user{n}@example.cn") for n in range(messages)]
    notify(users, "panel.attention", SUBJECT, BODY)
    db.session.commit()
    smtp_server.handler.delay_seconds = 0.01  # slow enough that both senders are busy at once
    smtp_server.start()

    start = threading.Barrier(2)
    reports, errors = [], []

    def sender():
        try:
            with mail_app.app_context():
                start.wait()
                reports.append(mail.drain(mail_app))
        except Exception as error:  # noqa: BLE001 - reported to the test thread
            errors.append(error)

    threads = [threading.Thread(target=sender) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == [] and len(reports) == 2
    ids_a, ids_b = (set(report.sent_ids) for report in reports)
    assert ids_a.isdisjoint(ids_b)
    assert len(ids_a | ids_b) == messages
    assert all(report.sent for report in reports), [report.sent for report in reports]
    received = [message["Message-ID"] for message in smtp_server.messages]
    assert len(received) == messages and len(set(received)) == messages
    assert {row.status for row in mail_rows()} == {MailStatus.SENT}
    assert {row.attempts for row in mail_rows()} == {1}


def test_a_claim_takes_one_batch_in_due_order(mail_app, factory):
    users = [factory.user(Role.TALENT_OFFICE, email=f"user{n}@example.cn") for n in range(mail.CLAIM_BATCH + 3)]
    notify(users, "panel.attention", SUBJECT, BODY)
    db.session.commit()
    settings = mail.MailSettings.from_config(mail_app.config)
    session = mail._session()
    try:
        first = mail.claim(session, settings, utcnow())
        second = mail.claim(session, settings, utcnow())
    finally:
        session.close()
    assert len(first) == mail.CLAIM_BATCH and len(second) == 3
    assert max(c.id for c in first) < min(c.id for c in second)


def test_a_claim_holds_a_message_against_a_second_sender(mail_app, factory):
    _notify(factory)
    settings = mail.MailSettings.from_config(mail_app.config)
    now = utcnow()
    first, second = mail._session(), mail._session()
    try:
        claimed = mail.claim(first, settings, now)
        assert [c.to_address for c in claimed] == [ADDRESS]
        assert mail.claim(second, settings, now) == []
        # A claim whose holder died runs out; then another sender may take the message.
        expired = now + settings.lease(mail.CLAIM_BATCH) + timedelta(seconds=1)
        retaken = mail.claim(second, settings, expired)
        assert [c.id for c in retaken] == [claimed[0].id]
        # The first holder's outcome is no longer recorded: the claim is not its own.
        report = mail.DrainReport()
        mail._record_sent(first, claimed[0], now, report)
        assert report.lost_claims == 1 and report.sent == 0
    finally:
        first.close()
        second.close()
    [row] = mail_rows()
    assert row.status is MailStatus.QUEUED and row.attempts == 2


# ---------------------------------------------------------------- (d) attempts used up


def test_max_attempts_fail_visibly_and_a_requeue_is_audited_and_delivers_once(mail_app, smtp_server, factory):
    mail_app.config.update(MAIL_MAX_ATTEMPTS=2, MAIL_RETRY_SECONDS=0)
    smtp_server.handler.deferred.add(ADDRESS)
    smtp_server.start()
    _notify(factory)
    assert mail.drain(mail_app).retrying == 1
    assert mail.drain(mail_app).failed == 1
    [row] = mail_rows()
    assert (row.status, row.attempts) == (MailStatus.FAILED, 2) and "451" in row.last_error
    # A failed message is not tried again by itself.
    smtp_server.handler.deferred.clear()
    assert mail.drain(mail_app).sent == 0 and smtp_server.envelopes == []

    client, office = _signed_in_office(mail_app, factory)
    page = client.get("/mail-queue?status=failed").get_data(as_text=True)
    assert f'data-mail-id="{row.id}" data-status="failed"' in page and "重新发送" in page
    api = client.get("/api/v1/mail-messages?status=failed").get_json()["items"]
    assert [(m["id"], m["status"], m["attempts"]) for m in api] == [(row.id, "failed", 2)]

    token = csrf_token_from(page)
    response = client.post(f"/mail-queue/{row.id}/retry", data={"csrf_token": token})
    assert response.status_code == 302
    [row] = mail_rows()
    assert (row.status, row.attempts) == (MailStatus.QUEUED, 0)
    entry = db.session.execute(sa.select(AuditEntry).where(AuditEntry.action == "mail.requeue")).scalar_one()
    assert entry.actor_id == office.id and entry.object_id == str(row.id)
    assert entry.summary["previous_status"] == "failed" and entry.summary["to"] == "w***@example.cn"

    assert _cli(mail_app, "send").exit_code == 0
    assert len(smtp_server.envelopes) == 1
    assert mail_rows()[0].status is MailStatus.SENT
    # A sent message is not sent again: the page says so, the API answers 409.
    response = client.post(f"/mail-queue/{row.id}/retry", data={"csrf_token": token}, follow_redirects=True)
    assert "已发送，不能重新发送" in response.get_data(as_text=True)
    refused = client.post(f"/api/v1/mail-messages/{row.id}/retry", headers={"X-CSRFToken": token})
    assert refused.status_code == 409 and refused.get_json()["error"]["code"] == "conflict"
    assert len(smtp_server.envelopes) == 1


def test_cli_retry_requeues_failed_mail(mail_app, smtp_server, factory):
    mail_app.config.update(MAIL_MAX_ATTEMPTS=1)
    smtp_server.handler.deferred.update({ADDRESS, "li.na@example.cn"})
    smtp_server.start()
    _notify(factory)
    _notify(factory, address="li.na@example.cn")
    assert mail.drain(mail_app).failed == 2
    first, second = (row.id for row in mail_rows())

    one = _cli(mail_app, "retry", str(first))
    assert one.exit_code == 0 and f"已重新加入发送队列 1 封：{first}" in one.output
    rest = _cli(mail_app, "retry", "--failed")
    assert rest.exit_code == 0 and f"已重新加入发送队列 1 封：{second}" in rest.output
    assert {row.status for row in mail_rows()} == {MailStatus.QUEUED}
    assert db.session.execute(sa.select(sa.func.count()).select_from(AuditEntry)
                              .where(AuditEntry.action == "mail.requeue")).scalar_one() == 2
    missing = _cli(mail_app, "retry", "999999")
    assert missing.exit_code == 1 and "邮件 999999 不存在" in missing.output
    assert _cli(mail_app, "retry").exit_code == 2

    smtp_server.handler.deferred.clear()
    assert "已发送 2 封" in _cli(mail_app, "send").output
    assert len(smtp_server.envelopes) == 2


def test_a_permanently_refused_recipient_fails_at_once_without_the_address_in_the_record(
        mail_app, smtp_server, factory, caplog):
    smtp_server.handler.refused.add(ADDRESS)
    smtp_server.start()
    _notify(factory)
    _notify(factory, address="li.na@example.cn")
    with caplog.at_level(logging.INFO, logger="experts_service.notifications.mail"):
        report = mail.drain(mail_app)
    assert (report.sent, report.failed) == (1, 1)
    refused, delivered = mail_rows()
    assert refused.status is MailStatus.FAILED and refused.attempts == 1
    assert "550" in refused.last_error and "w***@example.cn" in refused.last_error
    assert ADDRESS not in refused.last_error
    assert delivered.status is MailStatus.SENT
    logged = caplog.text
    assert ADDRESS not in logged and "li.na@example.cn" not in logged and BODY not in logged
    assert "w***@example.cn" in logged


# ---------------------------------------------------------------- (f) sent on commit


def test_the_commit_hook_delivers_right_after_the_commit(mail_app, smtp_server, factory):
    smtp_server.start()
    mail_app.config.update(MAIL_SEND_ON_COMMIT=True)
    _, notification = _notify(factory, commit=False)
    assert smtp_server.envelopes == []  # nothing before the commit
    db.session.commit()
    mail.wait_for_sends()
    assert len(smtp_server.envelopes) == 1
    [row] = mail_rows()
    assert row.notification_id == notification.id and row.status is MailStatus.SENT
    # The queue catches up on nothing more.
    assert mail.drain(mail_app).sent == 0 and len(smtp_server.envelopes) == 1


def test_without_the_hook_mail_waits_for_the_drain(mail_app, smtp_server, factory):
    smtp_server.start()
    _notify(factory)
    assert smtp_server.envelopes == []
    assert mail_rows()[0].status is MailStatus.QUEUED
    assert mail.drain(mail_app).sent == 1


def test_a_requeue_through_the_api_is_sent_on_its_commit(mail_app, smtp_server, factory):
    mail_app.config.update(MAIL_MAX_ATTEMPTS=1)
    smtp_server.handler.deferred.add(ADDRESS)
    smtp_server.start()
    _notify(factory)
    assert mail.drain(mail_app).failed == 1
    smtp_server.handler.deferred.clear()
    mail_app.config.update(MAIL_SEND_ON_COMMIT=True)
    client, _ = _signed_in_office(mail_app, factory)
    token = csrf_token_from(client.get("/mail-queue").get_data(as_text=True))
    message_id = mail_rows()[0].id
    assert client.post(f"/api/v1/mail-messages/{message_id}/retry", headers={"X-CSRFToken": token}).status_code == 200
    mail.wait_for_sends()
    assert len(smtp_server.envelopes) == 1 and mail_rows()[0].status is MailStatus.SENT


# ---------------------------------------------------------------- mail switched off


def test_without_smtp_host_mail_stays_queued_and_visible(app, factory):
    assert app.config["SMTP_HOST"] is None
    app.config.update(MAIL_SEND_ON_COMMIT=True)
    _notify(factory)
    report = mail.drain(app)
    assert report.disabled and report.still_queued == 1
    result = _cli(app, "send")
    assert result.exit_code == 0 and "未配置邮件服务器" in result.output and "待发送 1 封" in result.output
    [row] = mail_rows()
    assert (row.status, row.attempts, row.last_error) == (MailStatus.QUEUED, 0, None)
    client, _ = _signed_in_office(app, factory)
    page = client.get("/mail-queue").get_data(as_text=True)
    assert 'id="mail-disabled"' in page and f'data-mail-id="{row.id}"' in page


def test_a_user_without_an_address_gets_the_inbox_entry_only(mail_app, smtp_server, factory):
    user = factory.user(Role.DEPARTMENT)
    notify([user], "panel.confirmed", SUBJECT, BODY)
    db.session.commit()
    assert [n.user_id for n in notification_rows()] == [user.id]
    assert mail_rows() == []


@pytest.mark.parametrize("attempts, expected_seconds", [(1, 60), (2, 120), (3, 240), (30, 6 * 3600)])
def test_backoff_doubles_up_to_its_cap(mail_app, attempts, expected_seconds):
    settings = mail.MailSettings.from_config({**mail_app.config, "MAIL_RETRY_SECONDS": 60})
    assert settings.backoff(attempts) == timedelta(seconds=expected_seconds)


def test_an_outage_longer_than_every_attempt_loses_nothing(mail_app, smtp_server, factory):
    """Attempts that never reached a server do not use the message up: it goes once the server is back."""
    mail_app.config.update(MAIL_MAX_ATTEMPTS=2, MAIL_RETRY_SECONDS=0)
    _notify(factory)
    for _ in range(4):
        assert mail.drain(mail_app).unreachable
    away = _cli(mail_app, "send")
    assert away.exit_code == 1 and "无法连接" in away.output
    [row] = mail_rows()
    assert row.status is MailStatus.QUEUED and row.attempts == 5
    smtp_server.start()
    assert mail.drain(mail_app).sent == 1
    assert len(smtp_server.envelopes) == 1 and mail_rows()[0].status is MailStatus.SENT


def test_a_hung_server_does_not_hold_up_the_commit(mail_app, factory):
    """The attempt after the commit runs on the sending thread: the request's commit returns at once."""
    import socket
    import time as clock

    with socket.socket() as silent:  # accepts the connection, never greets
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        mail_app.config.update(MAIL_SEND_ON_COMMIT=True, SMTP_PORT=silent.getsockname()[1], SMTP_TIMEOUT_SECONDS=2)
        user = factory.user(Role.EXPERT, email=ADDRESS)
        notify([user], "invitation.sent", SUBJECT, BODY)
        started = clock.monotonic()
        db.session.commit()
        assert clock.monotonic() - started < 1
        mail.wait_for_sends()
    [row] = mail_rows()
    assert row.status is MailStatus.QUEUED and row.sent_at is None


def test_a_subject_longer_than_its_column_is_shortened_not_refused(mail_app, factory):
    """An item title may fill the column alone; with a prefix the subject is cut, marked with an ellipsis."""
    user = factory.user(Role.EXPERT, email=ADDRESS)
    [notification] = notify([user], "invitation.sent", "论证邀请：" + "长" * 200, BODY)
    db.session.commit()
    assert len(notification.subject) == 200 and notification.subject.endswith("…")
    assert mail_rows()[0].subject == notification.subject


def test_mail_about_a_confidential_matter_says_only_that_there_is_a_message(mail_app, smtp_server, factory):
    user = factory.user(Role.EXPERT, email=ADDRESS)
    [notification] = notify([user], "invitation.sent", SUBJECT, BODY, link="/my/invitations/1", confidential=True)
    db.session.commit()
    smtp_server.start()
    assert mail.drain(mail_app).sent == 1
    [received] = smtp_server.messages
    assert SUBJECT not in received["Subject"] and BODY not in received.get_content()
    assert "/my/invitations/1" in received.get_content()
    assert (notification.subject, notification.body) == (SUBJECT, BODY)  # the inbox keeps it all


def test_unsent_mail_follows_a_changed_address_and_stops_when_it_is_cleared(mail_app, smtp_server, factory):
    from experts_service.accounts.operations import set_email
    from experts_service.core.errors import Conflict
    from experts_service.notifications.operations import ADDRESS_CLEARED, get_mail, requeue_mail

    admin = factory.user(Role.ADMIN)
    user, _ = _notify(factory)
    set_email(admin, user, "li.na@example.cn")
    db.session.commit()
    smtp_server.start()
    assert mail.drain(mail_app).sent == 1
    assert smtp_server.envelopes[0].rcpt_tos == ["li.na@example.cn"], "not the address the user gave up"
    entry = db.session.execute(sa.select(AuditEntry).where(AuditEntry.action == "user.email_changed")
                               ).scalar_one()
    assert entry.summary["unsent_mail"] == 1

    notify([user], "invitation.sent", SUBJECT, BODY)
    db.session.commit()
    set_email(admin, user, "")
    db.session.commit()
    [_, cleared] = mail_rows()
    assert (cleared.status, cleared.last_error) == (MailStatus.FAILED, ADDRESS_CLEARED)
    with pytest.raises(Conflict):
        requeue_mail(admin, get_mail(admin, cleared.id))
    db.session.rollback()
    assert mail.drain(mail_app).sent == 0 and len(smtp_server.envelopes) == 1


def test_links_in_mail_are_absolute_with_a_public_base_url(mail_app, smtp_server, factory):
    mail_app.config.update(PUBLIC_BASE_URL="https://experts.example.gov.cn")
    _notify(factory)
    smtp_server.start()
    assert mail.drain(mail_app).sent == 1
    assert "https://experts.example.gov.cn/invitations/1" in smtp_server.messages[0].get_content()
