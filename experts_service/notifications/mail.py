"""Sending the mail queue through the configured SMTP server, after the commit that queued it.

A sender first *claims* due messages with one conditional UPDATE (status
queued, due, not claimed or the claim run out) and commits the claim, so two
senders, in two processes or two threads, never hold the same message. It
then sends each claimed message and records the outcome in its own short
transaction, guarded by its claim: sent (with the time), or the attempt's
error and the next attempt after an exponential backoff, or, when the
attempts are used up, failed (the talent office sees it and may queue it
again). A crash between the server's "250 OK" and the record leaves a
message that is sent again once its claim runs out; its Message-ID is the
same every time, derived from the record's id, so receivers can tell.

Without SMTP_HOST nothing is sent: messages stay queued and visible.
Logs carry message ids and masked addresses, never bodies.
"""
from __future__ import annotations

import logging
import smtplib
import ssl
import threading
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.policy import SMTP as SMTP_POLICY
from email.utils import format_datetime, parseaddr

import sqlalchemy as sa
from flask import current_app
from sqlalchemy.orm import Session

from experts_service.core.db import utcnow
from experts_service.core.email_address import mask_email
from experts_service.notifications.models import MailMessage, MailStatus

log = logging.getLogger(__name__)

# Messages claimed by one UPDATE; the claim covers sending all of them.
CLAIM_BATCH = 10
# The socket waits one message may take, each bounded by SMTP_TIMEOUT_SECONDS:
# connect, EHLO, STARTTLS, EHLO again, AUTH, MAIL, RCPT, DATA, end of data.
SOCKET_WAITS_PER_MESSAGE = 9
# However many attempts failed, the next one is at most this far off.
BACKOFF_CAP = timedelta(hours=6)
# What is kept of an error: enough to tell the cause, never a body.
LAST_ERROR_LENGTH = 200
# SMTP reply codes from this one up are permanent: the same message will not be taken later.
PERMANENT_REPLY_CODE = 500


@dataclass(frozen=True)
class MailSettings:
    host: str | None
    port: int
    sender: str | None
    username: str | None
    password: str | None
    starttls: bool
    timeout: int
    max_attempts: int
    retry_seconds: int

    @classmethod
    def from_config(cls, config) -> MailSettings:
        return cls(
            host=config["SMTP_HOST"], port=config["SMTP_PORT"], sender=config["SMTP_SENDER"],
            username=config["SMTP_USERNAME"], password=config["SMTP_PASSWORD"], starttls=config["SMTP_STARTTLS"],
            timeout=config["SMTP_TIMEOUT_SECONDS"], max_attempts=config["MAIL_MAX_ATTEMPTS"],
            retry_seconds=config["MAIL_RETRY_SECONDS"],
        )

    @property
    def enabled(self) -> bool:
        return bool(self.host)

    @property
    def sender_address(self) -> str:
        return parseaddr(self.sender or "")[1]

    def lease(self, messages: int) -> timedelta:
        """How long a claim on `messages` messages holds: the longest their sending can take."""
        return timedelta(seconds=self.timeout * SOCKET_WAITS_PER_MESSAGE * max(messages, 1))

    def backoff(self, attempts: int) -> timedelta:
        """The wait after the `attempts`-th failed attempt: base, 2 x base, 4 x base ..., capped."""
        if self.retry_seconds == 0:
            return timedelta(0)
        doublings = max(attempts - 1, 0)
        # Past the cap, doubling further only risks an overflow.
        limit = int(BACKOFF_CAP.total_seconds() // self.retry_seconds).bit_length()
        return min(timedelta(seconds=self.retry_seconds * 2 ** min(doublings, limit)), BACKOFF_CAP)


@dataclass(frozen=True)
class Claimed:
    """One claimed message, read by the claiming UPDATE; `claimed_until` is the claim's token."""

    id: int
    to_address: str
    subject: str
    body: str
    attempts: int
    claimed_until: datetime


@dataclass
class DrainReport:
    sent: int = 0
    retrying: int = 0  # failed this time, queued for a later attempt
    failed: int = 0  # failed for good: attempts used up, or refused permanently
    lost_claims: int = 0  # outcomes not recorded: another sender took the message over
    disabled: bool = False
    unreachable: bool = False  # the server could not be reached: the drain stopped there
    still_queued: int = 0
    sent_ids: list[int] = field(default_factory=list)

    def add(self, other: DrainReport) -> None:
        self.sent += other.sent
        self.retrying += other.retrying
        self.failed += other.failed
        self.lost_claims += other.lost_claims
        self.unreachable = self.unreachable or other.unreachable
        self.sent_ids.extend(other.sent_ids)


class _Unreachable(Exception):
    """The server could not be reached or refused the session; the rest of the batch shares the error."""

    def __init__(self, error: str):
        super().__init__(error)
        self.error = error


def _session() -> Session:
    # A plain session of its own: never the request's (this also runs after its commit).
    from experts_service.extensions import db

    return Session(bind=db.engine, expire_on_commit=False)


def _due(now: datetime, due_before: datetime, ids=None):
    condition = sa.and_(
        MailMessage.status == MailStatus.QUEUED,
        MailMessage.next_attempt_at <= due_before,
        sa.or_(MailMessage.claimed_until.is_(None), MailMessage.claimed_until < now),
    )
    if ids is not None:
        condition = sa.and_(condition, MailMessage.id.in_(list(ids)))
    return condition


def claim(session: Session, settings: MailSettings, now: datetime, due_before: datetime | None = None,
          ids=None, limit: int = CLAIM_BATCH) -> list[Claimed]:
    """Claim up to `limit` due messages (of `ids`, if given) and commit the claim.

    The UPDATE's WHERE repeats the due condition, so a message is claimed by
    one sender only. PostgreSQL: the candidates are locked first with
    SELECT ... FOR UPDATE SKIP LOCKED (a second sender takes other rows
    meanwhile; inside the UPDATE as a subquery, a rescan would go past the
    LIMIT). SQLite: one UPDATE with the candidates as a subquery, which takes
    the database's write lock before it reads anything. The attempt is
    counted here, so a sender that dies mid-send still uses one up.
    """
    due = _due(now, due_before or now, ids)
    candidates = sa.select(MailMessage.id).where(due).order_by(MailMessage.next_attempt_at, MailMessage.id).limit(limit)
    token = now + settings.lease(limit)
    try:
        if session.get_bind().dialect.name == "postgresql":
            chosen = list(session.execute(candidates.with_for_update(skip_locked=True)).scalars())
            target = MailMessage.id.in_(chosen)
        else:
            target = MailMessage.id.in_(candidates.scalar_subquery())
        statement = (
            sa.update(MailMessage)
            .where(target, due)
            .values(claimed_until=token, attempts=MailMessage.attempts + 1)
            .returning(MailMessage.id, MailMessage.to_address, MailMessage.subject, MailMessage.body,
                       MailMessage.attempts)
            .execution_options(synchronize_session=False)
        )
        rows = session.execute(statement).all()
        session.commit()
    except BaseException:
        session.rollback()
        raise
    return sorted((Claimed(row.id, row.to_address, row.subject, row.body, row.attempts, token) for row in rows),
                  key=lambda claimed: claimed.id)


def message_id(mail_id: int, sender_address: str) -> str:
    """The same Message-ID on every attempt, so a receiver can drop a repeat."""
    domain = sender_address.rpartition("@")[2] or "localhost"
    return f"<mail-{mail_id}.experts-service@{domain}>"


def build_message(claimed: Claimed, settings: MailSettings, now: datetime) -> EmailMessage:
    message = EmailMessage(policy=SMTP_POLICY)
    message["From"] = settings.sender
    message["To"] = claimed.to_address
    # A header holds one line.
    message["Subject"] = " ".join(claimed.subject.split())
    message["Date"] = format_datetime(now)
    message["Message-ID"] = message_id(claimed.id, settings.sender_address)
    message.set_content(claimed.body, charset="utf-8", cte="base64")
    return message


def _short(text: str, address: str) -> str:
    text = " ".join(str(text).split())
    if address:
        text = text.replace(address, mask_email(address))
    return text[:LAST_ERROR_LENGTH]


def _reply_text(reply) -> str:
    return reply.decode("utf-8", "replace") if isinstance(reply, bytes) else str(reply)


def describe(error: BaseException, address: str = "") -> str:
    """A short cause for the record and the log: the exception's kind and the server's reply, address masked."""
    name = type(error).__name__
    if isinstance(error, smtplib.SMTPRecipientsRefused):
        replies = "; ".join(f"{code} {_reply_text(reply)}" for code, reply in error.recipients.values())
        return _short(f"{name}: {replies}", address)
    if isinstance(error, smtplib.SMTPResponseException):
        return _short(f"{name}: {error.smtp_code} {_reply_text(error.smtp_error)}", address)
    if isinstance(error, OSError) and error.strerror:
        return _short(f"{name}: {error.strerror}", address)
    return _short(f"{name}: {error}" if str(error) else name, address)


def _is_permanent(error: BaseException) -> bool:
    if isinstance(error, smtplib.SMTPRecipientsRefused):
        return all(code >= PERMANENT_REPLY_CODE for code, _ in error.recipients.values())
    return False


def _connect(settings: MailSettings) -> smtplib.SMTP:
    try:
        smtp = smtplib.SMTP(settings.host, settings.port, timeout=settings.timeout)
    except (OSError, smtplib.SMTPException) as error:
        raise _Unreachable(describe(error)) from error
    try:
        if settings.starttls:
            smtp.starttls(context=ssl.create_default_context())
        if settings.username:
            smtp.login(settings.username, settings.password)
    except (OSError, smtplib.SMTPException) as error:
        smtp.close()
        raise _Unreachable(describe(error)) from error
    return smtp


def _finish(session: Session, claimed: Claimed, values: dict) -> bool:
    """Record one outcome, if the claim is still this sender's."""
    statement = (
        sa.update(MailMessage)
        .where(MailMessage.id == claimed.id, MailMessage.claimed_until == claimed.claimed_until)
        .values(claimed_until=None, **values)
        .execution_options(synchronize_session=False)
    )
    try:
        result = session.execute(statement)
        session.commit()
    except BaseException:
        session.rollback()
        raise
    if result.rowcount != 1:
        log.warning("mail %s: claim lost before its outcome was recorded", claimed.id)
        return False
    return True


def _record_sent(session: Session, claimed: Claimed, now: datetime, report: DrainReport) -> None:
    if _finish(session, claimed, {"status": MailStatus.SENT, "sent_at": now}):
        report.sent += 1
        report.sent_ids.append(claimed.id)
    else:
        report.lost_claims += 1
    log.info("mail %s sent to %s", claimed.id, mask_email(claimed.to_address))


def _record_failure(session: Session, settings: MailSettings, claimed: Claimed, error: str, now: datetime,
                    report: DrainReport, permanent: bool = False, server_away: bool = False) -> None:
    # A server that cannot be reached says nothing about the message: it waits (backing off) however
    # long the outage lasts, and goes once the server is back.
    final = permanent or (claimed.attempts >= settings.max_attempts and not server_away)
    values = {"last_error": error}
    if final:
        values["status"] = MailStatus.FAILED
    else:
        values["next_attempt_at"] = now + settings.backoff(claimed.attempts)
    if not _finish(session, claimed, values):
        report.lost_claims += 1
    elif final:
        report.failed += 1
    else:
        report.retrying += 1
    log.warning("mail %s to %s: attempt %s failed%s: %s", claimed.id, mask_email(claimed.to_address),
                claimed.attempts, " for good" if final else "", error)


def send_claimed(session: Session, settings: MailSettings, batch: list[Claimed], clock=utcnow) -> DrainReport:
    """Send claimed messages over one connection; every outcome is recorded before the next message."""
    report = DrainReport()
    smtp = None
    try:
        for index, claimed in enumerate(batch):
            if smtp is None:
                try:
                    smtp = _connect(settings)
                except _Unreachable as unreachable:
                    for rest in batch[index:]:
                        _record_failure(session, settings, rest, unreachable.error, clock(), report,
                                        server_away=True)
                    report.unreachable = True
                    return report
            try:
                smtp.send_message(build_message(claimed, settings, clock()), from_addr=settings.sender_address,
                                  to_addrs=[claimed.to_address])
            except (smtplib.SMTPRecipientsRefused, smtplib.SMTPSenderRefused, smtplib.SMTPDataError) as error:
                # The server answered; the connection stays usable unless it closed it (421).
                _record_failure(session, settings, claimed, describe(error, claimed.to_address), clock(), report,
                                permanent=_is_permanent(error))
                if smtp.sock is None:
                    smtp.close()
                    smtp = None
            except (OSError, smtplib.SMTPException) as error:
                _record_failure(session, settings, claimed, describe(error, claimed.to_address), clock(), report)
                smtp.close()
                smtp = None
            except Exception as error:  # noqa: BLE001 - a message that cannot be built is a failed attempt
                _record_failure(session, settings, claimed, describe(error, claimed.to_address), clock(), report)
            else:
                _record_sent(session, claimed, clock(), report)
    finally:
        if smtp is not None:
            try:
                smtp.quit()
            except (OSError, smtplib.SMTPException):
                smtp.close()
    return report


def queued_count(session: Session) -> int:
    return session.execute(
        sa.select(sa.func.count(MailMessage.id)).where(MailMessage.status == MailStatus.QUEUED)
    ).scalar_one()


def drain(app=None, now: datetime | None = None, ids=None) -> DrainReport:
    """Send every message due when the drain starts (or only `ids`); each is tried at most once per drain.

    `now` pins the clock for the whole drain (tests step past a backoff with it).
    """
    app = app or current_app
    settings = MailSettings.from_config(app.config)
    clock = (lambda: now) if now is not None else utcnow
    session = _session()
    report = DrainReport()
    try:
        if not settings.enabled:
            report.disabled = True
            report.still_queued = queued_count(session)
            return report
        started = clock()
        chosen = None if ids is None else sorted(set(ids))
        while True:
            if chosen is None:
                batch = claim(session, settings, clock(), due_before=started)
            elif chosen:
                batch, chosen = claim(session, settings, clock(), due_before=started,
                                      ids=chosen[:CLAIM_BATCH]), chosen[CLAIM_BATCH:]
            else:
                break
            if not batch and chosen is None:
                break
            report.add(send_claimed(session, settings, batch, clock))
            if report.unreachable:
                break  # the rest waits for the next drain instead of each timing out now
        report.still_queued = queued_count(session)
        return report
    finally:
        session.close()


def send_quietly(app, ids) -> None:
    """Right after a commit: try the mail it queued. Failures are in the records; nothing reaches the request."""
    try:
        with app.app_context():
            drain(app, ids=ids)
    except Exception:  # noqa: BLE001 - logged; the messages stay queued for the next drain
        log.exception("sending mail after commit failed; the next drain retries")


# One sending thread per process: a slow or hung SMTP server delays mail, never a web request.
_sender = ThreadPoolExecutor(max_workers=1, thread_name_prefix="mail-after-commit")
_sends: list[Future] = []
_sends_lock = threading.Lock()


def send_in_background(app, ids) -> Future:
    future = _sender.submit(send_quietly, app, ids)
    with _sends_lock:
        _sends[:] = [f for f in _sends if not f.done()] + [future]
    return future


def wait_for_sends(timeout: float = 30) -> None:
    """Until the mail handed to the sending thread so far has been tried (tests; an orderly shutdown)."""
    with _sends_lock:
        pending = list(_sends)
    wait(pending, timeout=timeout)


def send_after_commit(session, mail_id: int) -> None:
    """Have a message changed outside the ORM's flush (a bulk UPDATE) tried after the commit too."""
    session.info.setdefault("mail_queued_ids", set()).add(mail_id)


_installed = False


def install() -> None:
    """Note the mail each transaction queues; after its commit, send it (MAIL_SEND_ON_COMMIT)."""
    global _installed
    if _installed:
        return
    from flask_sqlalchemy.session import Session as FlaskSession

    @sa.event.listens_for(FlaskSession, "before_flush")
    def _collect(session, _context, _instances) -> None:
        touched = [obj for obj in (*session.new, *session.dirty) if isinstance(obj, MailMessage)]
        if touched:
            session.info.setdefault("mail_pending", []).extend(touched)

    @sa.event.listens_for(FlaskSession, "after_flush_postexec")
    def _note(session, _context) -> None:
        pending = session.info.pop("mail_pending", [])
        ids = {obj.id for obj in pending if obj.id is not None and obj.status is MailStatus.QUEUED}
        if ids:
            session.info.setdefault("mail_queued_ids", set()).update(ids)

    @sa.event.listens_for(FlaskSession, "after_commit")
    def _send_after_commit(session) -> None:
        if session.in_nested_transaction():
            return  # a savepoint released: the outer transaction has not committed yet
        ids = session.info.pop("mail_queued_ids", None)
        if not ids:
            return
        config = current_app.config
        if config["MAIL_SEND_ON_COMMIT"] and config["SMTP_HOST"]:
            send_in_background(current_app._get_current_object(), ids)

    @sa.event.listens_for(FlaskSession, "after_rollback")
    def _forget(session) -> None:
        if session.in_nested_transaction():
            return  # a savepoint rolled back; what the outer transaction queued still stands
        session.info.pop("mail_pending", None)
        session.info.pop("mail_queued_ids", None)

    _installed = True
