"""Putting notifications in inboxes (and the mail queue) inside the caller's transaction."""
from __future__ import annotations

from collections.abc import Iterable

import sqlalchemy as sa

from experts_service.accounts.models import User
from experts_service.extensions import db
from experts_service.notifications.models import MailMessage, Notification


def notify(users: Iterable[User], kind: str, subject: str, body: str = "", link: str | None = None
           ) -> list[Notification]:
    """One inbox entry per active user, and a queued mail for each with an address; flushed, not committed.

    The mail is sent after the commit (notifications.mail), so a rollback sends nothing.
    """
    made = []
    for user in dict.fromkeys(users):
        if user is None or not user.active:
            continue
        notification = Notification(user_id=user.id, kind=kind, subject=subject, body=body, link=link)
        db.session.add(notification)
        if user.email:
            notification.mail = MailMessage(to_address=user.email, subject=subject, body=_mail_body(body, link))
        made.append(notification)
    db.session.flush()
    return made


def _mail_body(body: str, link: str | None) -> str:
    return f"{body}\n\n详情请登录系统查看：{link}" if link else body


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
