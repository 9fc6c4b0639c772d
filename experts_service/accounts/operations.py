"""Authentication, lockout, user administration and API tokens."""
from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import timedelta

import sqlalchemy as sa
from flask import current_app

from experts_service.accounts.models import ApiToken, User
from experts_service.accounts.passwords import hash_password, needs_rehash, password_problems, verify_password
from experts_service.core import audit
from experts_service.core.auth import Role, authorize
from experts_service.core.db import utcnow
from experts_service.core.email_address import EMAIL_MAX_LENGTH, is_email_address, mask_email
from experts_service.core.schemas import is_valid_id
from experts_service.core.errors import Conflict, NotFound, NothingChanged, ValidationFailed
from experts_service.extensions import db

USERNAME_PATTERN = re.compile(r"^[A-Za-z0-9_.-]{3,60}$")


@dataclass(frozen=True)
class LoginOutcome:
    user: User | None
    message: str | None = None

    @property
    def ok(self) -> bool:
        return self.user is not None


def authenticate(username: str, password: str) -> LoginOutcome:
    """Check a password, applying lockout. Writes audit entries; caller commits."""
    user = db.session.execute(sa.select(User).where(User.username == username.strip())).scalar()
    now = utcnow()
    generic = "用户名或密码错误"
    if user is None:
        verify_password(None, password)
        audit.record(None, "auth.login_failed", "user", None, username=username.strip()[:60], reason="unknown_user")
        return LoginOutcome(None, generic)
    if user.is_locked(now):
        audit.record(None, "auth.login_refused_locked", "user", user.id, username=user.username)
        minutes = max(1, int((user.locked_until - now).total_seconds() // 60) + 1)
        return LoginOutcome(None, f"连续登录失败次数过多，账户已锁定，请 {minutes} 分钟后再试")
    if not verify_password(user.password_hash, password):
        user.failed_logins += 1
        summary = {"username": user.username, "failed_logins": user.failed_logins}
        if user.failed_logins >= current_app.config["LOGIN_MAX_FAILURES"]:
            user.locked_until = now + timedelta(minutes=current_app.config["LOGIN_LOCKOUT_MINUTES"])
            user.failed_logins = 0
            audit.record(None, "auth.locked", "user", user.id, **summary)
            return LoginOutcome(None, "连续登录失败次数过多，账户已锁定，请稍后再试")
        audit.record(None, "auth.login_failed", "user", user.id, **summary)
        return LoginOutcome(None, generic)
    if not user.active:
        audit.record(None, "auth.login_refused_inactive", "user", user.id, username=user.username)
        return LoginOutcome(None, "账户已停用，请联系系统管理员")
    user.failed_logins = 0
    user.locked_until = None
    user.last_login_at = now
    if needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
    audit.record(user, "auth.login", "user", user.id)
    return LoginOutcome(user)


def create_user(
    actor,
    *,
    username: str,
    password: str,
    display_name: str,
    role: Role,
    organisation_id: int | None = None,
    expert_id: int | None = None,
    email: str | None = None,
) -> User:
    """Create a login. `actor` None is the CLI (flask init / demo)."""
    if actor is not None:
        authorize(actor, "user.manage")
    errors: dict[str, list[str]] = {}
    email, email_errors = clean_email(email)
    if email_errors:
        errors["email"] = email_errors
    if not USERNAME_PATTERN.match(username or ""):
        errors["username"] = ["用户名为 3–60 位字母、数字或 _ . -"]
    problems = password_problems(password or "")
    if problems:
        errors["password"] = problems
    if not (display_name or "").strip():
        errors["display_name"] = ["请填写姓名"]
    if role is Role.DEPARTMENT and organisation_id is None:
        errors["organisation_id"] = ["部门用户须指定所属单位"]
    if role is not Role.DEPARTMENT and organisation_id is not None:
        errors["organisation_id"] = ["只有部门用户归属单位"]
    if role is Role.EXPERT and expert_id is None:
        errors["expert_id"] = ["专家用户须关联专家记录"]
    if role is not Role.EXPERT and expert_id is not None:
        errors["expert_id"] = ["只有专家用户关联专家记录"]
    if not errors:
        _check_links(role, organisation_id, expert_id, errors)
    if errors:
        raise ValidationFailed(fields=errors)
    if db.session.execute(sa.select(User.id).where(User.username == username)).first():
        raise Conflict("用户名已存在", fields={"username": ["用户名已存在"]})
    user = User(
        username=username,
        display_name=display_name.strip(),
        password_hash=hash_password(password),
        role=role,
        organisation_id=organisation_id,
        expert_id=expert_id,
        email=email,
    )
    db.session.add(user)
    db.session.flush()
    masked = {"email": mask_email(email)} if email else {}
    audit.record(actor, "user.create", "user", user.id, username=username, role=role.value,
                 organisation_id=organisation_id, expert_id=expert_id, **masked)
    return user


def clean_email(raw) -> tuple[str | None, list[str]]:
    """An optional address, trimmed: (the address or None, messages). The domain is compared lower-case."""
    if raw is None:
        return None, []
    if not isinstance(raw, str):
        return None, ["邮箱须为文本"]
    value = raw.strip()
    if not value:
        return None, []
    if len(value) > EMAIL_MAX_LENGTH:
        return None, [f"邮箱不能超过 {EMAIL_MAX_LENGTH} 个字符"]
    if not is_email_address(value):
        return None, ["邮箱格式不正确（例如 zhang.wei@example.cn；仅支持英文字母、数字和常用符号）"]
    local, _, domain = value.rpartition("@")
    return f"{local}@{domain.lower()}", []


def set_email(actor, user: User, raw) -> User:
    """Set or clear (empty) a user's address for mailed notifications; the administrator's task."""
    authorize(actor, "user.manage")
    email, errors = clean_email(raw)
    if errors:
        raise ValidationFailed(fields={"email": errors})
    if email == user.email:
        raise NothingChanged()
    previous = user.email
    user.email = email
    from experts_service.notifications.operations import readdress_unsent_mail

    readdressed = readdress_unsent_mail(user, email)
    audit.record(actor, "user.email_changed", "user", user.id, username=user.username,
                 previous=mask_email(previous) or None, email=mask_email(email) or None,
                 unsent_mail=readdressed)
    db.session.flush()
    return user


def _check_links(role: Role, organisation_id, expert_id, errors: dict[str, list[str]]) -> None:
    from experts_service.experts.models import Expert
    from experts_service.reference.models import Organisation

    if role is Role.DEPARTMENT:
        if not is_valid_id(organisation_id) or db.session.get(Organisation, organisation_id) is None:
            errors["organisation_id"] = ["单位不存在"]
    if role is Role.EXPERT:
        if not is_valid_id(expert_id) or db.session.get(Expert, expert_id) is None:
            errors["expert_id"] = ["专家记录不存在"]
        elif db.session.execute(sa.select(User.id).where(User.expert_id == expert_id)).first():
            errors["expert_id"] = ["该专家已有登录账户"]


def get_user(user_id: int) -> User:
    user = db.session.get(User, user_id)
    if user is None:
        raise NotFound("用户不存在")
    return user


def unlock_user(actor, user: User) -> None:
    authorize(actor, "user.manage")
    user.locked_until = None
    user.failed_logins = 0
    audit.record(actor, "user.unlock", "user", user.id, username=user.username)


def set_active(actor, user: User, active: bool) -> None:
    authorize(actor, "user.manage")
    if user.id == actor.id and not active:
        raise ValidationFailed("不能停用自己的账户")
    user.active = active
    user.session_version += 1  # ends the user's open sessions
    audit.record(actor, "user.activate" if active else "user.deactivate", "user", user.id, username=user.username)


def change_password(user: User, current_password: str, new_password: str, confirmation: str) -> None:
    """The user's own password; ends every other session and API token of the user."""
    errors: dict[str, list[str]] = {}
    if not verify_password(user.password_hash, current_password or ""):
        errors["current_password"] = ["当前密码不正确"]
    problems = password_problems(new_password or "")
    if problems:
        errors["new_password"] = problems
    elif new_password == current_password:
        errors["new_password"] = ["新密码不能与当前密码相同"]
    if new_password != confirmation:
        errors["confirmation"] = ["两次输入的新密码不一致"]
    if errors:
        raise ValidationFailed(fields=errors)
    user.password_hash = hash_password(new_password)
    user.session_version += 1
    now = utcnow()
    for token in db.session.execute(
        sa.select(ApiToken).where(ApiToken.user_id == user.id, ApiToken.revoked_at.is_(None))
    ).scalars():
        token.revoked_at = now
    audit.record(user, "user.password_changed", "user", user.id)


def _token_digest(token: str) -> str:
    return hashlib.sha256(token.encode("ascii", "replace")).hexdigest()


def issue_token(user: User) -> tuple[str, ApiToken]:
    token = secrets.token_urlsafe(32)
    row = ApiToken(
        user_id=user.id,
        token_hash=_token_digest(token),
        expires_at=utcnow() + timedelta(hours=current_app.config["API_TOKEN_HOURS"]),
    )
    db.session.add(row)
    db.session.flush()
    audit.record(user, "auth.token_issued", "api_token", row.id)
    return token, row


def user_for_token(token: str) -> User | None:
    row = db.session.execute(sa.select(ApiToken).where(ApiToken.token_hash == _token_digest(token))).scalar()
    if row is None or row.revoked_at is not None or row.expires_at <= utcnow() or not row.user.active:
        return None
    return row.user


def revoke_token(user: User, token: str) -> bool:
    row = db.session.execute(sa.select(ApiToken).where(ApiToken.token_hash == _token_digest(token))).scalar()
    if row is None or row.user_id != user.id or row.revoked_at is not None:
        return False
    row.revoked_at = utcnow()
    audit.record(user, "auth.token_revoked", "api_token", row.id)
    return True
