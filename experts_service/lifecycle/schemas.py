"""Validation and serialisation for the lifecycle (no database access here)."""
from __future__ import annotations

import re

import marshmallow as ma
from marshmallow import fields, validate

from experts_service.core.schemas import Id, OneOf, PageMetaSchema, StrictSchema, Text
from experts_service.experts.models import ConflictKind, TitleLevel
from experts_service.experts.schemas import ExpertInputSchema, RefSchema, validate_name
from experts_service.lifecycle.models import (
    ChangeStatus,
    Channel,
    ExitReason,
    ObjectionStatus,
    RenewalStatus,
    Stage,
    Vote,
)
from experts_service.lifecycle.operations import APPLICATION_DECISIONS, CONFIRMED_FIELDS

CONTACT_PATTERN = re.compile(r"^(1[3-9]\d{9}|0\d{2,3}-?\d{7,8}|[^@\s]{1,64}@[^@\s]+\.[^@\s]{2,})$")
REASON_MAX = 500


def validate_contact(value: str) -> None:
    if not CONTACT_PATTERN.match(value):
        raise ma.ValidationError("请填写手机号、固定电话（区号-号码）或电子邮箱")


class ApplicationInputSchema(ExpertInputSchema):
    """The applicant's record (as an expert's, without tier) and the channel."""

    class Meta:
        exclude = ("tier_id", "version")

    channel = fields.String(required=True, validate=OneOf(c.value for c in Channel))
    recommending_organisation_id = Id(allow_none=True)
    statement = Text(2000, load_default="")


class PublicApplicationSchema(ApplicationInputSchema):
    """个人申报 by the applicant on the public page: the channel is fixed."""

    class Meta:
        exclude = ("tier_id", "version", "channel", "recommending_organisation_id")


class CheckSchema(ma.Schema):
    name = fields.String()
    label = fields.String()
    passed = fields.Boolean()
    reason = fields.String()
    overridable = fields.Boolean()
    overridden = fields.Boolean()


class DocumentOutSchema(ma.Schema):
    id = fields.Integer()
    original_name = fields.String()
    content_type = fields.String()
    size_bytes = fields.Integer()
    sha256 = fields.String()
    uploaded_at = fields.DateTime()


class VoteOutSchema(ma.Schema):
    reviewer = fields.Nested(RefSchema)
    vote = fields.Function(lambda v: v.vote.value)
    comment = fields.String()
    cast_at = fields.DateTime()


class ObjectionOutSchema(ma.Schema):
    id = fields.Integer()
    objector_name = fields.String()
    contact_masked = fields.String()
    content = fields.String()
    lodged_at = fields.DateTime()
    status = fields.Function(lambda o: o.status.value)
    resolution = fields.String(allow_none=True)


class ApplicantSchema(ma.Schema):
    id = fields.Integer()
    name = fields.String()
    status = fields.Function(lambda e: e.status.value)
    id_number_masked = fields.String()
    employer = fields.Nested(RefSchema)
    primary_domain = fields.Nested(RefSchema)
    title_level = fields.Function(lambda e: e.title_level.value)
    years_in_field = fields.Integer()


class ApplicationOutSchema(ma.Schema):
    id = fields.Integer()
    expert = fields.Nested(ApplicantSchema)
    channel = fields.Function(lambda a: a.channel.value)
    stage = fields.Function(lambda a: a.stage.value)
    recommending_organisation = fields.Nested(RefSchema, allow_none=True)
    statement = fields.String()
    checks = fields.List(fields.Nested(CheckSchema))
    override_reason = fields.String(allow_none=True)
    notice_starts_on = fields.Date(allow_none=True)
    notice_ends_on = fields.Date(allow_none=True)
    notice_closed_on = fields.Date(allow_none=True)
    outcome_reason = fields.String(allow_none=True)
    documents = fields.List(fields.Nested(DocumentOutSchema))
    votes = fields.List(fields.Nested(VoteOutSchema))
    objections = fields.List(fields.Nested(ObjectionOutSchema))
    created_at = fields.DateTime()
    closed_at = fields.DateTime(allow_none=True)


class ApplicationListQuerySchema(StrictSchema):
    stage = fields.String(validate=OneOf(s.value for s in Stage))
    page = fields.Integer(load_default=1, validate=validate.Range(min=1, max=100_000, error="页码超出范围"))
    per_page = fields.Integer(load_default=20, validate=validate.Range(min=1, max=100, error="每页条数须在 1–100 之间"))


class ApplicationPageSchema(ma.Schema):
    items = fields.List(fields.Nested(ApplicationOutSchema))
    meta = fields.Nested(PageMetaSchema)


class DecisionSchema(StrictSchema):
    action = fields.String(required=True, validate=OneOf(APPLICATION_DECISIONS))
    reason = Text(REASON_MAX, load_default="")
    tier_id = Id(allow_none=True)


class OverrideSchema(StrictSchema):
    reason = Text(REASON_MAX, required=True)


class VoteInputSchema(StrictSchema):
    vote = fields.String(required=True, validate=OneOf(v.value for v in Vote))
    comment = Text(2000, required=True)


class ObjectionInputSchema(StrictSchema):
    name = fields.String(required=True, validate=validate_name)
    contact = fields.String(required=True, validate=validate_contact, load_only=True)
    content = Text(2000, required=True)


class ObjectionResolutionSchema(StrictSchema):
    outcome = fields.String(required=True, validate=OneOf([ObjectionStatus.UPHELD.value,
                                                           ObjectionStatus.DISMISSED.value]))
    resolution = Text(REASON_MAX, required=True)


class PublicNoticeSchema(ma.Schema):
    """What the public sees: no ID number, no contact, no documents."""

    id = fields.Integer()
    name = fields.Function(lambda a: a.expert.name)
    employer = fields.Function(lambda a: a.expert.employer.name)
    title = fields.Function(lambda a: a.expert.title_name or a.expert.title_level.label)
    domain = fields.Function(lambda a: a.expert.primary_domain.name)
    notice_starts_on = fields.Date()
    notice_ends_on = fields.Date()


class ExpertActionSchema(StrictSchema):
    action = fields.String(required=True, validate=OneOf(["suspend", "reinstate", "exit"]))
    reason = Text(REASON_MAX, load_default="")
    exit_reason = fields.String(validate=OneOf(r.value for r in ExitReason if r is not ExitReason.RESIGNATION))
    until = fields.Date(allow_none=True)

    @ma.validates_schema
    def exit_needs_reason(self, data, **kwargs):
        if data["action"] == "exit" and not data.get("exit_reason"):
            raise ma.ValidationError("退出须选择原因", "exit_reason")


class ResignationSchema(StrictSchema):
    reason = Text(REASON_MAX, required=True)


class TierChangeSchema(StrictSchema):
    tier_id = Id(required=True)
    reason = Text(REASON_MAX, required=True)


class StatusChangeOutSchema(ma.Schema):
    action = fields.String()
    from_status = fields.String(allow_none=True)
    to_status = fields.String()
    reason = fields.String()
    details = fields.Dict()
    created_at = fields.DateTime()


class ExpertStateSchema(ma.Schema):
    id = fields.Integer()
    status = fields.Function(lambda e: e.status.value)
    tier = fields.Nested(RefSchema, allow_none=True)


class RenewalOutSchema(ma.Schema):
    id = fields.Integer()
    expert = fields.Nested(RefSchema)
    opened_on = fields.Date()
    due_on = fields.Date()
    status = fields.Function(lambda r: r.status.value)
    reason = fields.String(allow_none=True)


class RenewalQuerySchema(StrictSchema):
    status = fields.String(load_default="open", validate=OneOf(s.value for s in RenewalStatus))


class RenewalDecisionSchema(StrictSchema):
    renew = fields.Boolean(required=True)
    reason = Text(REASON_MAX, required=True)
    tier_id = Id(allow_none=True)


class PeriodInputSchema(StrictSchema):
    starts_on = fields.Date(required=True)
    ends_on = fields.Date(required=True)
    reason = Text(200, allow_none=True)


class PeriodOutSchema(ma.Schema):
    id = fields.Integer()
    starts_on = fields.Date()
    ends_on = fields.Date()
    reason = fields.String(allow_none=True)


class ConflictInputSchema(StrictSchema):
    kind = fields.String(required=True, validate=OneOf(k.value for k in ConflictKind))
    organisation_id = Id(allow_none=True)
    person_name = fields.String(allow_none=True, validate=validate_name)
    related_expert_id = Id(allow_none=True)
    relationship_note = Text(200, required=True)


class ConflictOutSchema(ma.Schema):
    id = fields.Integer()
    kind = fields.Function(lambda d: d.kind.value)
    organisation = fields.Nested(RefSchema, allow_none=True)
    person_name = fields.String(allow_none=True)
    relationship_note = fields.String()


class ChangeRequestInputSchema(StrictSchema):
    employer_id = Id()
    position = Text(100, allow_none=True)
    title_level = fields.String(validate=OneOf(t.value for t in TitleLevel))
    title_name = Text(60, allow_none=True)
    years_in_field = fields.Integer(strict=True, validate=validate.Range(0, 80, error="从业年限须在 0–80 之间"))
    primary_domain_id = Id()
    secondary_domain_ids = fields.List(Id(), validate=validate.Length(max=10, error="次要领域最多 10 个"))
    note = Text(REASON_MAX, load_default="")

    @ma.validates_schema
    def something_requested(self, data, **kwargs):
        if not set(data) & set(CONFIRMED_FIELDS):
            raise ma.ValidationError("请至少填写一项变更")


class ChangeRequestOutSchema(ma.Schema):
    id = fields.Integer()
    expert = fields.Nested(RefSchema)
    requested = fields.Dict()
    previous = fields.Dict()
    note = fields.String()
    status = fields.Function(lambda r: r.status.value)
    requested_at = fields.DateTime()
    decision_reason = fields.String(allow_none=True)


class ChangeQuerySchema(StrictSchema):
    status = fields.String(load_default="pending", validate=OneOf(s.value for s in ChangeStatus))


class ChangeDecisionSchema(StrictSchema):
    confirm = fields.Boolean(required=True)
    reason = Text(REASON_MAX, load_default="")


class ReviewerInputSchema(StrictSchema):
    expert_id = Id(required=True)


class CalendarInputSchema(StrictSchema):
    day = fields.Date(required=True)
    is_workday = fields.Boolean(required=True)
    note = Text(200, required=True)


class CalendarOutSchema(ma.Schema):
    id = fields.Integer()
    day = fields.Date()
    is_workday = fields.Boolean()
    note = fields.String()


class DailyReportSchema(ma.Schema):
    notices_closed = fields.Integer()
    renewals_opened = fields.Integer()
    term_exits = fields.Integer()
    age_exits = fields.Integer()
