"""Putting notifications in inboxes (and the mail queue) inside the caller's transaction;
reading and marking one's own inbox; watching and re-queuing the mail queue."""
from __future__ import annotations

from collections.abc import Iterable

import sqlalchemy as sa
from sqlalchemy.orm import selectinload

from experts_service.accounts.models import User
from experts_service.core import audit
from experts_service.core.auth import authorize
from experts_service.core.db import utcnow
from experts_service.core.email_address import mask_email
from experts_service.core.errors import Conflict, NotFound
from experts_service.core.paging import Page
from experts_service.core.schemas import DEFAULT_PAGE_SIZE
from experts_service.extensions import db
from experts_service.notifications.mail import send_after_commit
from experts_service.notifications.models import MailMessage, MailStatus, Notification


SUBJECT_MAX = Notification.__table__.c.subject.type.length
# What a mail about a confidential item says: mail leaves the system, its contents stay inside.
CONFIDENTIAL_MAIL_SUBJECT = "您有一条新的站内消息"
CONFIDENTIAL_MAIL_BODY = "该消息涉及涉密事项，内容不通过邮件发送，请登录系统查看。"


def fit_subject(subject: str) -> str:
    """A subject within its column (an item title may fill the column by itself)."""
    return subject if len(subject) <= SUBJECT_MAX else subject[:SUBJECT_MAX - 1] + "…"


def notify(users: Iterable[User], kind: str, subject: str, body: str = "", link: str | None = None,
           *, confidential: bool = False) -> list[Notification]:
    """One inbox entry per active user, and a queued mail for each with an address; flushed, not committed.

    The mail is sent after the commit (notifications.mail), so a rollback sends nothing. For a
    confidential matter the mail only says that there is a message; the inbox holds the rest.
    """
    subject = fit_subject(subject)
    made = []
    for user in dict.fromkeys(users):
        if user is None or not user.active:
            continue
        notification = Notification(user_id=user.id, kind=kind, subject=subject, body=body, link=link)
        db.session.add(notification)
        if user.email:
            notification.mail = (
                MailMessage(to_address=user.email, subject=CONFIDENTIAL_MAIL_SUBJECT,
                            body=_mail_body(CONFIDENTIAL_MAIL_BODY, link)) if confidential
                else MailMessage(to_address=user.email, subject=subject, body=_mail_body(body, link)))
        made.append(notification)
    db.session.flush()
    return made


ADDRESS_CLEARED = "收件人的邮箱已被清除，未发送"


def readdress_unsent_mail(user: User, email: str | None) -> int:
    """The user's mail not yet sent (nor being sent) follows a changed address; with the address cleared it
    is marked failed, visibly, rather than sent to an address the user no longer has. Returns the count."""
    now = utcnow()
    mine = sa.select(Notification.id).where(Notification.user_id == user.id).scalar_subquery()
    values = ({"to_address": email} if email
              else {"status": MailStatus.FAILED, "last_error": ADDRESS_CLEARED, "claimed_until": None})
    return db.session.execute(
        sa.update(MailMessage)
        .where(MailMessage.notification_id.in_(mine),
               MailMessage.status.in_((MailStatus.QUEUED, MailStatus.FAILED)),
               sa.or_(MailMessage.claimed_until.is_(None), MailMessage.claimed_until <= now))
        .values(**values)
        .execution_options(synchronize_session=False)
    ).rowcount


def _mail_body(body: str, link: str | None) -> str:
    """The body and where to look, absolute when PUBLIC_BASE_URL is set (a mail client cannot open a path)."""
    from flask import current_app

    if not link:
        return body
    base = current_app.config.get("PUBLIC_BASE_URL") or ""
    return f"{body}\n\n详情请登录系统查看：{base}{link}"


def users_of_expert(expert_id: int) -> list[User]:
    return list(db.session.execute(sa.select(User).where(User.expert_id == expert_id)).scalars())


def users_of_organisation(organisation_id: int) -> list[User]:
    """The department accounts of an organisation (who files and follows its items)."""
    from experts_service.core.auth import Role

    return list(db.session.execute(
        sa.select(User).where(User.organisation_id == organisation_id, User.role == Role.DEPARTMENT)
        .order_by(User.id)
    ).scalars())


def users_with_role(role) -> list[User]:
    return list(db.session.execute(sa.select(User).where(User.role == role).order_by(User.id)).scalars())


# ---------------------------------------------------------------- the inbox

def _own_notifications(actor, unread: bool = False):
    statement = sa.select(Notification).where(Notification.user_id == actor.id)
    return statement.where(Notification.read_at.is_(None)) if unread else statement


def list_notifications(actor, unread: bool = False, page: int = 1, per_page: int = DEFAULT_PAGE_SIZE) -> Page:
    """The actor's own notifications, newest first."""
    authorize(actor, "notification.read")
    statement = _own_notifications(actor, unread)
    total = db.session.execute(sa.select(sa.func.count()).select_from(statement.subquery())).scalar_one()
    items = db.session.execute(
        statement.order_by(Notification.created_at.desc(), Notification.id.desc())
        .limit(per_page).offset((page - 1) * per_page)
    ).scalars().all()
    return Page(items=list(items), page=page, per_page=per_page, total=total)


def unread_count(actor) -> int:
    if actor is None or not getattr(actor, "is_authenticated", False):
        return 0
    return db.session.execute(
        sa.select(sa.func.count(Notification.id)).where(Notification.user_id == actor.id,
                                                        Notification.read_at.is_(None))
    ).scalar_one()


def get_notification(actor, notification_id: int, permission: str = "notification.read") -> Notification:
    notification = db.session.get(Notification, notification_id)
    if notification is None:
        raise NotFound("消息不存在")
    authorize(actor, permission, notification)
    return notification


def mark_read(actor, notification: Notification) -> bool:
    """Mark one of the actor's notifications read; False when it already was."""
    authorize(actor, "notification.update", notification)
    if notification.read_at is not None:
        return False
    notification.read_at = utcnow()
    audit.record(actor, "notification.read", "notification", notification.id, kind=notification.kind)
    db.session.flush()
    return True


def mark_all_read(actor) -> int:
    """Mark every unread notification of the actor read; how many were."""
    authorize(actor, "notification.update")
    unread = db.session.execute(_own_notifications(actor, unread=True).with_only_columns(Notification.id)).scalars()
    ids = list(unread)
    if not ids:
        return 0
    db.session.execute(
        sa.update(Notification).where(Notification.id.in_(ids), Notification.read_at.is_(None))
        .values(read_at=utcnow()).execution_options(synchronize_session="fetch")
    )
    audit.record(actor, "notification.read_all", "user", actor.id, count=len(ids))
    db.session.flush()
    return len(ids)


def safe_link(link: str | None) -> str | None:
    """The notification's link if it is a path inside the service; anything else is not followed."""
    if not link or not link.startswith("/") or link.startswith("//") or "\\" in link:
        return None
    if any(ch.isspace() or ord(ch) < ord(" ") for ch in link):
        return None
    return link


# ---------------------------------------------------------------- the mail queue

# What the queue shows unless asked for one status.
PENDING_STATUSES = (MailStatus.QUEUED, MailStatus.FAILED)
ALL_STATUSES = "all"


def list_mail(actor, status: str | None = None, page: int = 1, per_page: int = DEFAULT_PAGE_SIZE) -> Page:
    """The mail queue: queued and failed messages (or one status, or all), failed first, newest first."""
    authorize(actor, "mail.read")
    statement = sa.select(MailMessage).options(selectinload(MailMessage.notification).selectinload(Notification.user))
    if status is None:
        statement = statement.where(MailMessage.status.in_(PENDING_STATUSES))
    elif status != ALL_STATUSES:
        statement = statement.where(MailMessage.status == MailStatus(status))
    total = db.session.execute(
        sa.select(sa.func.count()).select_from(statement.with_only_columns(MailMessage.id).subquery())
    ).scalar_one()
    failed_first = sa.case((MailMessage.status == MailStatus.FAILED, 0), else_=1)
    items = db.session.execute(
        statement.order_by(failed_first, MailMessage.id.desc()).limit(per_page).offset((page - 1) * per_page)
    ).scalars().all()
    return Page(items=list(items), page=page, per_page=per_page, total=total)


def mail_counts(actor) -> dict[str, int]:
    authorize(actor, "mail.read")
    rows = db.session.execute(sa.select(MailMessage.status, sa.func.count(MailMessage.id)).group_by(MailMessage.status))
    counts = {status.value: 0 for status in MailStatus}
    counts.update({status.value: number for status, number in rows})
    return counts


def get_mail(actor, message_id: int, permission: str = "mail.read") -> MailMessage:
    if actor is not None:
        authorize(actor, permission)
    message = db.session.get(MailMessage, message_id)
    if message is None:
        raise NotFound(f"邮件 {message_id} 不存在")
    return message


def requeue_mail(actor, message: MailMessage) -> MailMessage:
    """Queue a message again (重新发送): a failed one with a fresh set of attempts, a queued one due now.

    `actor` None is the command line. Audited; the address only masked.
    """
    if actor is not None:
        authorize(actor, "mail.retry")
    now = utcnow()
    if message.status is MailStatus.SENT:
        raise Conflict("该邮件已发送，不能重新发送")
    if not message.notification.user.email:
        raise Conflict("收件人未设置邮箱，不能重新发送")
    previous_status, previous_attempts = message.status, message.attempts
    # One conditional UPDATE: a sender may claim the message between a read and a write here.
    requeued = db.session.execute(
        sa.update(MailMessage)
        .where(MailMessage.id == message.id, MailMessage.status != MailStatus.SENT,
               sa.or_(MailMessage.claimed_until.is_(None), MailMessage.claimed_until <= now))
        .values(status=MailStatus.QUEUED, next_attempt_at=now, claimed_until=None,
                attempts=0 if message.status is MailStatus.FAILED else MailMessage.attempts)
        .execution_options(synchronize_session=False)
    ).rowcount
    if requeued != 1:
        db.session.refresh(message)
        raise Conflict("该邮件已发送，不能重新发送" if message.status is MailStatus.SENT
                       else "该邮件正在发送中，请稍后刷新查看结果")
    db.session.refresh(message)
    send_after_commit(db.session, message.id)
    audit.record(actor, "mail.requeue", "mail_message", message.id, previous_status=previous_status.value,
                 previous_attempts=previous_attempts, to=mask_email(message.to_address))
    db.session.flush()
    return message


def requeue_failed(actor) -> list[MailMessage]:
    """Queue every failed message again."""
    if actor is not None:
        authorize(actor, "mail.retry")
    failed = db.session.execute(
        sa.select(MailMessage).where(MailMessage.status == MailStatus.FAILED).order_by(MailMessage.id)
    ).scalars().all()
    return [requeue_mail(actor, message) for message in failed]
