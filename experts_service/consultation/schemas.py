"""Validation and serialisation for panel confirmation and invitations."""
from __future__ import annotations

import marshmallow as ma
from marshmallow import fields

from experts_service.consultation.operations import DECLINE_REASON_MAX
from experts_service.core.schemas import Id, StrictSchema, Text


class ConfirmationInputSchema(StrictSchema):
    recommendation_id = Id(required=True)


class DeclineInputSchema(StrictSchema):
    reason = Text(DECLINE_REASON_MAX, required=True, min_length=1)


class InvitationOutSchema(ma.Schema):
    id = fields.Integer()
    panel_request_id = fields.Integer()
    expert_id = fields.Integer()
    expert_name = fields.Function(lambda i: i.expert.name)
    recommendation_id = fields.Integer()
    status = fields.Function(lambda i: i.status.value)
    status_label = fields.Function(lambda i: i.status.label)
    sent_at = fields.DateTime()
    respond_by = fields.DateTime()
    responded_at = fields.DateTime(allow_none=True)
    decline_reason = fields.String(allow_none=True)
    replaces_id = fields.Integer(allow_none=True)
    engagement_id = fields.Integer(allow_none=True)


class SeatSummarySchema(ma.Schema):
    panel_request_id = fields.Integer()
    status = fields.String()
    seats = fields.Integer()
    accepted = fields.Integer()
    pending = fields.Integer()
    open = fields.Integer()
    full = fields.Boolean()
    invitations = fields.List(fields.Nested(InvitationOutSchema))


class ConfirmationOutSchema(SeatSummarySchema):
    warnings = fields.List(fields.String())
