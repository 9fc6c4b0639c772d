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


# ---------------------------------------------------------------- the to-do list (consultation.todo)


class TodoItemSchema(ma.Schema):
    """One entry of the signed-in user's to-do list; `link` is the page where it is done."""

    kind = fields.String(metadata={"description": "panel_to_confirm, seats_open, attendance_to_record, "
                                                  "adoption_to_record, rating_to_give, invitation_to_answer, "
                                                  "opinion_to_write, request_to_recommend, vacancy_to_fill, "
                                                  "ratings_overdue"})
    section = fields.Function(lambda e: e.section.label, metadata={"description": "the section's heading"})
    panel_request_id = fields.Integer()
    item_title = fields.String()
    department = fields.String(metadata={"description": "the requesting department"})
    text = fields.String(metadata={"description": "what to do, in Chinese"})
    due_on = fields.Date(allow_none=True, metadata={"description": "the day it is due (ratings: the window's end)"})
    due_at = fields.DateTime(allow_none=True, metadata={"description": "invitations: answer by this time"})
    overdue = fields.Boolean()
    expert_name = fields.String(allow_none=True)
    count = fields.Integer(allow_none=True, metadata={"description": "open seats, experts concerned or seats asked"})
    engagement_id = fields.Integer(allow_none=True)
    invitation_id = fields.Integer(allow_none=True)
    opinion_id = fields.Integer(allow_none=True)
    link = fields.String(metadata={"description": "path of the page where it is done"})


class TodoListSchema(ma.Schema):
    role = fields.String()
    count = fields.Integer(metadata={"description": "number of entries (the navigation badge)"})
    overdue = fields.Integer(metadata={"description": "of which overdue"})
    items = fields.List(fields.Nested(TodoItemSchema),
                        metadata={"description": "section by section, overdue first within each"})


# ---------------------------------------------------------------- the panel report (consultation.report)


class ReportItemSchema(ma.Schema):
    id = fields.Integer()
    title = fields.String()
    department = fields.String()
    category = fields.String()
    category_label = fields.String()
    description = fields.String()
    confidential = fields.Boolean()


class ReportRequestSchema(ma.Schema):
    id = fields.Integer()
    status = fields.String()
    status_label = fields.String()
    mode = fields.String()
    mode_label = fields.String()
    meeting_date = fields.Date(allow_none=True)
    meeting_time = fields.Time(allow_none=True)
    meeting_end_time = fields.Time(allow_none=True)
    meeting_place = fields.String(allow_none=True)
    deadline = fields.Date(allow_none=True)
    schedule = fields.String(metadata={"description": "时间地点或书面意见截止日，供阅读"})
    seats = fields.Integer()
    min_senior_members = fields.Integer()
    institution = fields.String(allow_none=True)
    selection_method = fields.String()
    selection_method_label = fields.String()
    confirmed_at = fields.DateTime(allow_none=True)
    materials_sent_at = fields.DateTime(allow_none=True)


class ReportMemberSchema(ma.Schema):
    expert_id = fields.Integer()
    engagement_id = fields.Integer()
    name = fields.String()
    employer = fields.String()
    tier = fields.String()
    domain = fields.String()
    origin = fields.String(allow_none=True, metadata={"description": "recommended / drawn / replacement / adjusted"})
    origin_label = fields.String()
    attendance = fields.String(allow_none=True, metadata={"description": "on_time / late / absent；未记录或书面咨询为 null"})
    attendance_label = fields.String()
    minutes_late = fields.Integer(allow_none=True)
    attendance_note = fields.String()
    opinion_id = fields.Integer(allow_none=True)


class ReportSectionSchema(ma.Schema):
    key = fields.String()
    label = fields.String()
    text = fields.String()


class ReportAdoptionSchema(ma.Schema):
    decision = fields.String()
    decision_label = fields.String()
    reason = fields.String()
    published_at = fields.DateTime(allow_none=True)


class ReportOpinionSchema(ma.Schema):
    id = fields.Integer()
    number = fields.Integer()
    expert_id = fields.Integer()
    expert_name = fields.String()
    sections = fields.List(fields.Nested(ReportSectionSchema))
    conclusion = fields.String()
    conclusion_label = fields.String()
    dissent = fields.String(metadata={"description": "保留意见"})
    submitted_at = fields.DateTime()
    content_hash = fields.String(metadata={"description": "签名内容的 SHA-256"})
    signature_holds = fields.Boolean()
    adoption = fields.Nested(ReportAdoptionSchema, allow_none=True)


class ReportDissentSchema(ma.Schema):
    opinion_id = fields.Integer()
    number = fields.Integer()
    expert_name = fields.String()
    conclusion = fields.String()
    conclusion_label = fields.String()
    text = fields.String()
    content_hash = fields.String()


class ReportCountSchema(ma.Schema):
    key = fields.String()
    label = fields.String()
    count = fields.Integer()


class ReportSummarySchema(ma.Schema):
    members = fields.Integer()
    submitted = fields.Integer()
    missing = fields.List(fields.String(), metadata={"description": "出席（或书面咨询）而未提交意见的专家"})
    conclusions = fields.List(fields.Nested(ReportCountSchema))
    adoption = fields.List(fields.Nested(ReportCountSchema))
    signatures_hold = fields.Boolean()


class PanelReportSchema(ma.Schema):
    """论证报告: every submitted opinion in full with its signature; dissent listed entry by entry."""

    item = fields.Nested(ReportItemSchema)
    request = fields.Nested(ReportRequestSchema)
    members = fields.List(fields.Nested(ReportMemberSchema))
    opinions = fields.List(fields.Nested(ReportOpinionSchema))
    dissents = fields.List(fields.Nested(ReportDissentSchema))
    summary = fields.Nested(ReportSummarySchema)
    generated_at = fields.DateTime()


# ---------------------------------------------------------------- background materials (consultation.materials)


def _material_sent(material) -> bool:
    from experts_service.consultation.materials import is_sent

    return is_sent(material)


class MaterialOutSchema(ma.Schema):
    id = fields.Integer()
    panel_request_id = fields.Integer()
    filename = fields.String()
    content_type = fields.String()
    size = fields.Integer()
    sha256 = fields.String()
    uploaded_at = fields.DateTime()
    sent = fields.Function(lambda m: _material_sent(m), metadata={"description": "已随“发送材料”送达专家"})


class MaterialSendingSchema(ma.Schema):
    panel_request_id = fields.Function(lambda s: s.request.id)
    materials_sent_at = fields.DateTime(attribute="sent_at")
    first = fields.Boolean(metadata={"description": "首次发送（否则为补充材料）"})
    materials = fields.List(fields.Nested(MaterialOutSchema), metadata={"description": "本次发送的材料"})
    notified_expert_ids = fields.List(fields.Integer())
    warnings = fields.List(fields.String(), metadata={"description": "晚于建议的送达时间等提示"})
