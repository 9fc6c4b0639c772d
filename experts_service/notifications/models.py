"""The inbox and the mail queue.

Every notification lands in the user's inbox in the transaction that
causes it; where the user has an e-mail address a MailMessage is queued in
the same transaction and sent only after the commit, retried until the
server takes it, and each attempt's error kept: a failed send is visible
and never lost, and a rollback sends nothing.
"""
from __future__ import annotations

import enum
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from experts_service.core.db import Base, enum_column, utcnow


class Notification(Base):
    __tablename__ = "notifications"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"))
    # What it is about, for filtering and for tests: "invitation.sent", "opinion.due", ...
    kind: Mapped[str] = mapped_column(sa.String(60))
    subject: Mapped[str] = mapped_column(sa.String(200))
    body: Mapped[str] = mapped_column(sa.Text, default="")
    # A path inside the service the message points to.
    link: Mapped[str | None] = mapped_column(sa.String(300))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    read_at: Mapped[datetime | None]

    user = relationship("User")
    mail: Mapped[MailMessage | None] = relationship(back_populates="notification", uselist=False)

    __table_args__ = (sa.Index("ix_notifications_user_unread", "user_id", "read_at"),)

    @property
    def owner_user_id(self) -> int:
        return self.user_id


class MailStatus(str, enum.Enum):
    QUEUED = "queued"
    SENT = "sent"
    # Retries used up; the talent office sees it and may queue it again.
    FAILED = "failed"

    @property
    def label(self) -> str:
        return {"queued": "待发送", "sent": "已发送", "failed": "发送失败"}[self.value]


class MailMessage(Base):
    __tablename__ = "mail_messages"

    id: Mapped[int] = mapped_column(primary_key=True)
    notification_id: Mapped[int] = mapped_column(sa.ForeignKey("notifications.id"), unique=True)
    to_address: Mapped[str] = mapped_column(sa.String(254))
    subject: Mapped[str] = mapped_column(sa.String(200))
    body: Mapped[str] = mapped_column(sa.Text)
    status: Mapped[MailStatus] = mapped_column(enum_column(MailStatus, "mail_status"), default=MailStatus.QUEUED)
    attempts: Mapped[int] = mapped_column(default=0)
    last_error: Mapped[str | None] = mapped_column(sa.String(500))
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Set by the sender that claims the message, so two senders never send it twice.
    claimed_until: Mapped[datetime | None]
    sent_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    notification: Mapped[Notification] = relationship(back_populates="mail")

    __table_args__ = (
        sa.Index("ix_mail_messages_due", "status", "next_attempt_at"),
        sa.CheckConstraint("(status = 'sent') = (sent_at IS NOT NULL)", name="sent_has_time"),
        sa.CheckConstraint("attempts >= 0", name="attempts_not_negative"),
    )
