"""A real SMTP server on loopback (aiosmtpd), stopped or started at will, and the app pointed at it."""
from __future__ import annotations

import asyncio
import socket
from email import message_from_bytes
from email.policy import default as default_policy

import pytest
import sqlalchemy as sa
from aiosmtpd.controller import Controller

from experts_service.extensions import db
from experts_service.notifications.models import MailMessage, Notification

SENDER = "专家库 <noreply@experts.example.cn>"


class RecordingHandler:
    """Keeps every message it accepts; refuses recipients listed in `refused` with a permanent 550 and
    those in `deferred` with a temporary 451 (an answer that counts as a failed attempt)."""

    def __init__(self):
        self.envelopes = []
        self.refused: set[str] = set()
        self.deferred: set[str] = set()
        self.delay_seconds = 0.0

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address in self.refused:
            return f"550 5.1.1 <{address}>: mailbox unavailable"
        if address in self.deferred:
            return f"451 4.2.1 <{address}>: mailbox busy, try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        if self.delay_seconds:
            await asyncio.sleep(self.delay_seconds)
        self.envelopes.append(envelope)
        return "250 OK"


class SmtpServer:
    """A port reserved on 127.0.0.1; nothing listens there until `start()`."""

    def __init__(self):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.handler = RecordingHandler()
        self.controller = None

    def start(self) -> None:
        self.controller = Controller(self.handler, hostname="127.0.0.1", port=self.port)
        self.controller.start()

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None

    @property
    def messages(self):
        """What arrived, parsed (headers decoded, the body as text)."""
        return [message_from_bytes(envelope.content, policy=default_policy)
                for envelope in self.handler.envelopes]

    @property
    def envelopes(self):
        return self.handler.envelopes


@pytest.fixture
def smtp_server():
    server = SmtpServer()
    yield server
    server.stop()


@pytest.fixture
def mail_app(app, smtp_server):
    """The app sending to the loopback server; the send-on-commit hook off unless a test turns it on."""
    app.config.update(SMTP_HOST="127.0.0.1", SMTP_PORT=smtp_server.port, SMTP_SENDER=SENDER,
                      SMTP_TIMEOUT_SECONDS=5, MAIL_SEND_ON_COMMIT=False)
    return app


def mail_rows() -> list[MailMessage]:
    """The mail queue as committed (the test's session starts afresh)."""
    db.session.rollback()
    db.session.expire_all()
    return list(db.session.execute(sa.select(MailMessage).order_by(MailMessage.id)).scalars())


def notification_rows() -> list[Notification]:
    db.session.rollback()
    return list(db.session.execute(sa.select(Notification).order_by(Notification.id)).scalars())
