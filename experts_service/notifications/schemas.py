"""Validation and serialisation for the inbox and the mail queue (no database access here)."""
from __future__ import annotations

import marshmallow as ma
from marshmallow import fields, validate

from experts_service.core.email_address import mask_email
from experts_service.core.schemas import DEFAULT_PAGE_SIZE, MAX_PAGE, MAX_PAGE_SIZE, OneOf, PageMetaSchema, StrictSchema
from experts_service.notifications.models import MailStatus
from experts_service.notifications.operations import ALL_STATUSES


class _PageQuery(StrictSchema):
    page = fields.Integer(load_default=1, validate=validate.Range(min=1, max=MAX_PAGE, error="页码超出范围"))
    per_page = fields.Integer(
        load_default=DEFAULT_PAGE_SIZE,
        validate=validate.Range(min=1, max=MAX_PAGE_SIZE, error=f"每页条数须在 1–{MAX_PAGE_SIZE} 之间"),
    )


class NotificationQuerySchema(_PageQuery):
    unread = fields.Boolean(load_default=False)


class NotificationOutSchema(ma.Schema):
    id = fields.Integer()
    kind = fields.String()
    subject = fields.String()
    body = fields.String()
    link = fields.String(allow_none=True)
    created_at = fields.DateTime()
    read_at = fields.DateTime(allow_none=True)
    read = fields.Function(lambda notification: notification.read_at is not None)


class NotificationPageSchema(ma.Schema):
    items = fields.List(fields.Nested(NotificationOutSchema))
    meta = fields.Nested(PageMetaSchema)
    unread = fields.Integer(metadata={"description": "the caller's unread notifications, on every page"})


class MarkedSchema(ma.Schema):
    marked = fields.Integer(metadata={"description": "how many notifications were marked read"})


class MailQuerySchema(_PageQuery):
    status = fields.String(
        validate=OneOf([*(s.value for s in MailStatus), ALL_STATUSES]),
        metadata={"description": "queued, failed, sent or all; by default queued and failed"},
    )


class MailOutSchema(ma.Schema):
    id = fields.Integer()
    notification_id = fields.Integer()
    user_id = fields.Function(lambda message: message.notification.user_id)
    to_address = fields.Function(lambda message: mask_email(message.to_address),
                                 metadata={"description": "masked"})
    subject = fields.String()
    status = fields.Function(lambda message: message.status.value)
    attempts = fields.Integer()
    last_error = fields.String(allow_none=True)
    next_attempt_at = fields.DateTime()
    sending = fields.Function(lambda message: message.claimed_until is not None,
                              metadata={"description": "a sender holds the message right now"})
    sent_at = fields.DateTime(allow_none=True)
    created_at = fields.DateTime()


class MailPageSchema(ma.Schema):
    items = fields.List(fields.Nested(MailOutSchema))
    meta = fields.Nested(PageMetaSchema)
