"""Notification records for the API role matrix: a notification of the signed-in user (so OWN scope is
satisfied for every role), a failed mail message to re-queue and a user whose address the admin sets."""
from __future__ import annotations

import sqlalchemy as sa

from experts_service.accounts.models import User
from experts_service.core.auth import Role
from experts_service.extensions import db
from experts_service.notifications.models import MailStatus
from experts_service.notifications.operations import notify


def notification_subjects(factory, username: str) -> dict:
    user = db.session.execute(sa.select(User).where(User.username == username)).scalar_one()
    [notification] = notify([user], "matrix.test", "矩阵测试消息", "矩阵测试正文")
    addressee = factory.user(Role.EXPERT, email="matrix.expert@example.cn")
    [mailed] = notify([addressee], "matrix.test", "矩阵测试邮件", "矩阵测试正文")
    mailed.mail.status = MailStatus.FAILED
    mailed.mail.attempts = 5
    mailed.mail.last_error = "ConnectionRefusedError: Connection refused"
    db.session.commit()
    return {"notification": notification.id, "mail_message": mailed.mail.id, "user": addressee.id}
