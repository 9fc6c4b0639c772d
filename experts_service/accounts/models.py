from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from flask_login import UserMixin
from sqlalchemy.orm import Mapped, mapped_column, relationship

from experts_service.core.auth import Role
from experts_service.core.db import Base, TimestampMixin, enum_column, utcnow


class User(UserMixin, TimestampMixin, Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(sa.String(60), unique=True)
    display_name: Mapped[str] = mapped_column(sa.String(60))
    password_hash: Mapped[str] = mapped_column(sa.String(200))
    role: Mapped[Role] = mapped_column(enum_column(Role, "user_role"))
    organisation_id: Mapped[int | None] = mapped_column(sa.ForeignKey("organisations.id"), index=True)
    expert_id: Mapped[int | None] = mapped_column(sa.ForeignKey("experts.id"), unique=True)
    # Where notifications are mailed (optional: the inbox always has them).
    email: Mapped[str | None] = mapped_column(sa.String(254))
    active: Mapped[bool] = mapped_column(default=True)
    failed_logins: Mapped[int] = mapped_column(default=0)
    locked_until: Mapped[datetime | None] = mapped_column()
    last_login_at: Mapped[datetime | None] = mapped_column()
    # Bumped on password change or deactivation; part of the session id, so
    # old sessions stop working at once.
    session_version: Mapped[int] = mapped_column(default=1)

    organisation = relationship("Organisation")
    expert = relationship("Expert", foreign_keys=[expert_id])

    __table_args__ = (
        sa.CheckConstraint(
            "(role = 'department') = (organisation_id IS NOT NULL)", name="department_has_organisation"
        ),
        sa.CheckConstraint("(role = 'expert') = (expert_id IS NOT NULL)", name="expert_has_record"),
        sa.CheckConstraint("failed_logins >= 0", name="failed_logins_non_negative"),
    )

    @property
    def is_active(self) -> bool:  # Flask-Login
        return self.active

    def get_id(self) -> str:
        return f"{self.id}:{self.session_version}"

    def is_locked(self, now: datetime | None = None) -> bool:
        return self.locked_until is not None and self.locked_until > (now or utcnow())


class ApiToken(Base):
    """Bearer tokens for API clients; only a hash is stored."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"), index=True)
    token_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column()
    revoked_at: Mapped[datetime | None] = mapped_column()

    user: Mapped[User] = relationship()
