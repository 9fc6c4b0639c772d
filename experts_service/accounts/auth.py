"""Wires Flask-Login: session users, bearer tokens for the API, API CSRF."""
from __future__ import annotations

from urllib.parse import urljoin, urlsplit

from flask import Flask, g, request
from flask_login import AnonymousUserMixin

from experts_service.core.errors import NotAuthenticated, UnsupportedMediaType
from experts_service.extensions import csrf, db, login_manager

SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}
BODY_METHODS = {"POST", "PUT", "PATCH"}


class Anonymous(AnonymousUserMixin):
    role = None
    organisation_id = None
    expert_id = None


def configure_login(app: Flask) -> None:
    from experts_service.accounts.models import User

    login_manager.login_view = "accounts.login"
    login_manager.login_message = "请先登录"
    login_manager.login_message_category = "warning"
    login_manager.session_protection = "strong"
    login_manager.anonymous_user = Anonymous

    @login_manager.user_loader
    def load_user(session_id: str):
        user_id, _, version = session_id.partition(":")
        if not user_id.isdigit() or not version.isdigit():
            return None
        user = db.session.get(User, int(user_id))
        if user is None or user.session_version != int(version) or not user.active:
            return None
        return user

    @login_manager.unauthorized_handler
    def unauthorized():
        if request.path.startswith("/api/"):
            raise NotAuthenticated()
        from flask import flash, redirect, url_for

        flash("请先登录", "warning")
        return redirect(url_for("accounts.login", next=request.full_path if request.query_string else request.path))

    @app.before_request
    def authenticate_api_request():
        if not request.path.startswith("/api/"):
            return None
        if request.method in BODY_METHODS and request.content_length and not request.is_json:
            from experts_service.core.routing import UPLOAD_ENDPOINTS

            if not (request.mimetype == "multipart/form-data" and request.endpoint in UPLOAD_ENDPOINTS):
                raise UnsupportedMediaType()
        header = request.headers.get("Authorization", "")
        if header:
            from experts_service.accounts.operations import user_for_token

            scheme, _, token = header.partition(" ")
            user = user_for_token(token.strip()) if scheme.lower() == "bearer" and token.strip() else None
            if user is None:
                raise NotAuthenticated("令牌无效或已过期")
            # A bearer token wins over any session cookie sent along.
            g._login_user = user
            return None
        if request.method not in SAFE_METHODS and request.cookies.get(app.config.get("SESSION_COOKIE_NAME", "session")):
            # Cookie-authenticated API writes need the CSRF token (X-CSRFToken header).
            csrf.protect()
        return None


def is_safe_redirect(target: str | None) -> bool:
    """Only same-host, path-only redirects; rejects //evil, scheme tricks and backslashes."""
    if not target or "\\" in target or any(ord(ch) < 32 for ch in target):
        return False
    if not target.startswith("/") or target.startswith("//"):
        return False
    host = urlsplit(request.host_url)
    resolved = urlsplit(urljoin(request.host_url, target))
    return resolved.scheme in {"http", "https"} and resolved.netloc == host.netloc
