"""One error vocabulary for operations, the JSON API and the pages.

Operations raise ServiceError subclasses; the API renders them as
{"error": {"code", "message", "fields"}} and the pages as a Chinese message.
"""
from __future__ import annotations

import logging

from flask import Flask, jsonify, render_template, request
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException

log = logging.getLogger(__name__)


class ServiceError(Exception):
    status = 400
    code = "bad_request"
    default_message = "请求无效"

    def __init__(self, message: str | None = None, fields: dict | None = None):
        super().__init__(message or self.default_message)
        self.message = message or self.default_message
        self.fields = fields or {}

    @property
    def page_message(self) -> str:
        """For a flash: the generic message says little, a field's message says what to do."""
        if self.message == self.default_message:
            for key, messages in self.fields.items():
                if key != "rules" and messages:
                    return str(messages[0])
        return self.message


class ValidationFailed(ServiceError):
    status = 422
    code = "validation_error"
    default_message = "输入有误，请检查标出的字段"


class NothingChanged(ValidationFailed):
    """An update whose values equal what is stored; pages say so, the API answers 422."""

    default_message = "没有任何改动"

    def __init__(self, message: str | None = None, fields: dict | None = None):
        super().__init__(message, fields or {"_schema": [self.default_message]})


class NotAuthenticated(ServiceError):
    status = 401
    code = "unauthenticated"
    default_message = "请先登录"


class Forbidden(ServiceError):
    status = 403
    code = "forbidden"
    default_message = "无权执行此操作"


class UnsupportedMediaType(ServiceError):
    status = 415
    code = "unsupported_media_type"
    default_message = "请以 JSON 格式提交（Content-Type: application/json）"


class NotFound(ServiceError):
    status = 404
    code = "not_found"
    default_message = "记录不存在"


class Conflict(ServiceError):
    status = 409
    code = "conflict"
    default_message = "与现有记录冲突"


class AuditedRefusal(Conflict):
    """A refused attempt the audit log must show although its transaction rolls back (a change to a
    signed record). The request boundary rolls back, then writes the entry and commits it
    (`audit.record_refusal`)."""

    def __init__(self, message: str, *, action: str, obj_type: str, obj_id, fields: dict | None = None,
                 **summary):
        super().__init__(message, fields)
        self.action, self.obj_type, self.obj_id, self.summary = action, obj_type, obj_id, summary


# Messages for HTTP errors raised by Flask/Werkzeug/webargs themselves.
_HTTP_CODES = {
    400: ("bad_request", "请求无效"),
    401: ("unauthenticated", "请先登录"),
    403: ("forbidden", "无权执行此操作"),
    404: ("not_found", "页面或记录不存在"),
    405: ("method_not_allowed", "不支持该请求方法"),
    409: ("conflict", "与现有记录冲突"),
    413: ("payload_too_large", "提交的内容过大"),
    415: ("unsupported_media_type", "请以 JSON 格式提交"),
    422: ("validation_error", "输入有误，请检查标出的字段"),
    429: ("too_many_requests", "请求过于频繁，请稍后再试"),
    500: ("internal_error", "服务器内部错误，请联系系统管理员"),
}


def is_api_request() -> bool:
    return request.path.startswith("/api/")


def error_body(code: str, message: str, fields: dict | None = None) -> dict:
    return {"error": {"code": code, "message": message, "fields": fields or {}}}


def _render(status: int, code: str, message: str, fields: dict | None = None):
    if is_api_request():
        return jsonify(error_body(code, message, fields)), status
    return render_template("error.html", status=status, message=message), status


def _flatten_webargs_messages(messages) -> dict:
    """webargs nests errors by location ({"json": {...}}); the API shows fields only."""
    if not isinstance(messages, dict):
        return {"_schema": messages}
    flat: dict = {}
    for location, errors in messages.items():
        if location in {"json", "query", "form", "files", "path", "headers"} and isinstance(errors, dict):
            flat.update(errors)
        else:
            flat[location] = errors
    return flat


def register_errors(app: Flask) -> None:
    @app.errorhandler(ServiceError)
    def handle_service_error(error: ServiceError):
        if isinstance(error, AuditedRefusal):
            from flask_login import current_user

            from experts_service.core.audit import record_refusal

            record_refusal(current_user if current_user.is_authenticated else None, error)
        return _render(error.status, error.code, error.message, error.fields)

    @app.errorhandler(CSRFError)
    def handle_csrf(error: CSRFError):
        return _render(400, "csrf_failed", "页面已过期或来源不可信，请刷新后重试")

    @app.errorhandler(HTTPException)
    def handle_http(error: HTTPException):
        status = error.code or 500
        code, message = _HTTP_CODES.get(status, ("http_error", error.name))
        fields = None
        data = getattr(error, "data", None) or {}
        messages = data.get("messages")
        if messages == {"json": ["Invalid JSON body."]}:
            return _render(400, "malformed_json", "请求体不是有效的 JSON")
        if messages is not None:
            fields = _flatten_webargs_messages(messages)
            if fields.get("_schema") == ["Invalid input type."]:
                fields["_schema"] = ["请求体须为 JSON 对象"]
        return _render(status, code, message, fields)

    @app.errorhandler(Exception)
    def handle_unexpected(error: Exception):
        # Log the type and where, never the request body (it may hold personal data).
        log.exception("unhandled error on %s %s", request.method, request.path)
        from experts_service.extensions import db

        db.session.rollback()  # the error page itself reads the database (navigation)
        return _render(500, *_HTTP_CODES[500])
