"""Validation and serialisation for panel confirmation and invitations."""
from __future__ import annotations

import marshmallow as ma
from marshmallow import fields, validate

from experts_service.consultation.engagements import NOTE_MAX, OPINION_TEXT_MAX, signature_holds
from experts_service.consultation.models import AdoptionDecision, Attendance, OpinionConclusion
from experts_service.consultation.operations import DECLINE_REASON_MAX
from experts_service.core.schemas import Id, OneOf, StrictSchema, Text

# A meeting lasts a day at most.
MAX_MINUTES_LATE = 24 * 60


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


class AttendanceInputSchema(StrictSchema):
    attendance = fields.String(required=True, validate=OneOf(a.value for a in Attendance))
    minutes_late = fields.Integer(strict=True, allow_none=True, load_default=None,
                                  validate=validate.Range(1, MAX_MINUTES_LATE, error="迟到分钟数无效"))
    note = Text(NOTE_MAX, load_default="")


class AttendanceOutSchema(ma.Schema):
    engagement_id = fields.Integer()
    attendance = fields.Function(lambda r: r.attendance.value)
    attendance_label = fields.Function(lambda r: r.attendance.label)
    minutes_late = fields.Integer(allow_none=True)
    note = fields.String()
    updated_at = fields.DateTime()


class OpinionInputSchema(StrictSchema):
    necessity = Text(OPINION_TEXT_MAX)
    legality = Text(OPINION_TEXT_MAX)
    feasibility = Text(OPINION_TEXT_MAX)
    risks = Text(OPINION_TEXT_MAX)
    suggestions = Text(OPINION_TEXT_MAX)
    conclusion = fields.String(allow_none=True, validate=OneOf(c.value for c in OpinionConclusion))
    dissent = Text(OPINION_TEXT_MAX)


class OpinionOutSchema(ma.Schema):
    id = fields.Integer()
    engagement_id = fields.Integer()
    panel_request_id = fields.Integer()
    expert_id = fields.Integer()
    expert_name = fields.Function(lambda o: o.expert.name)
    necessity = fields.String()
    legality = fields.String()
    feasibility = fields.String()
    risks = fields.String()
    suggestions = fields.String()
    conclusion = fields.Function(lambda o: o.conclusion.value if o.conclusion else None)
    dissent = fields.String()
    submitted_at = fields.DateTime(allow_none=True)
    content_hash = fields.String(allow_none=True)
    signature_holds = fields.Function(lambda o: signature_holds(o) if o.submitted else None)


class AdoptionInputSchema(StrictSchema):
    decision = fields.String(required=True, validate=OneOf(d.value for d in AdoptionDecision))
    reason = Text(OPINION_TEXT_MAX, load_default="")


class AdoptionOutSchema(ma.Schema):
    opinion_id = fields.Integer()
    decision = fields.Function(lambda a: a.decision.value)
    decision_label = fields.Function(lambda a: a.decision.label)
    reason = fields.String()
    published_at = fields.DateTime(allow_none=True)


class RatingInputSchema(StrictSchema):
    quality = fields.Integer(strict=True, required=True)
    professionalism = fields.Integer(strict=True, required=True)
    punctuality = fields.Integer(strict=True, required=True)
    discipline = fields.Integer(strict=True, required=True)
    confidentiality = fields.Integer(strict=True, required=True)
    comment = Text(NOTE_MAX, load_default="")


class RatingOutSchema(ma.Schema):
    engagement_id = fields.Integer()
    quality = fields.Integer()
    professionalism = fields.Integer()
    punctuality = fields.Integer()
    discipline = fields.Integer()
    confidentiality = fields.Integer()
    total = fields.Integer()
    comment = fields.String()
    due_on = fields.Date()
    created_at = fields.DateTime()


class EngagementRefSchema(ma.Schema):
    id = fields.Integer()
    expert_id = fields.Integer()
    panel_request_id = fields.Integer()
    engaged_on = fields.Date()


class PublicFeedbackSchema(ma.Schema):
    """What anyone may read: the item, the decision and reason; not the expert's identity or text."""

    item_title = fields.Function(lambda a: a.opinion.panel_request.item.title)
    department = fields.Function(lambda a: a.opinion.panel_request.item.organisation.name)
    conclusion = fields.Function(lambda a: a.opinion.conclusion.label)
    decision = fields.Function(lambda a: a.decision.label)
    reason = fields.String()
    published_at = fields.DateTime()
