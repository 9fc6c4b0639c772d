"""Validation and serialisation for decision items, panel requests and
recommendations (no database access here; rules that need the policy or
other records are checked in operations)."""
from __future__ import annotations

import marshmallow as ma
from marshmallow import fields, validate

from experts_service.core.schemas import Id, OneOf, PageMetaSchema, PageQuerySchema, StrictSchema, Text
from experts_service.panels.models import ConsultationMode, DecisionCategory, SelectionMethod

MAX_KEYWORDS = 20
MAX_ITEM_DOMAINS = 10
MAX_STAKEHOLDERS = 20
# Hard ceiling of any panel (the policy's own bounds stop at this size too).
MAX_SEATS = 99
# Ceiling of the avoid list the schema accepts; the policy's (smaller) limit is checked in operations.
MAX_AVOID_ENTRIES = 20


def _unique(values: list, message: str) -> None:
    if len(set(values)) != len(values):
        raise ma.ValidationError(message)


class DecisionItemInputSchema(StrictSchema):
    title = Text(200, required=True)
    description = Text(10000, load_default="")
    category = fields.String(required=True, validate=OneOf(c.value for c in DecisionCategory))
    domain_ids = fields.List(Id(), load_default=list, validate=[
        validate.Length(max=MAX_ITEM_DOMAINS, error=f"领域最多 {MAX_ITEM_DOMAINS} 个"),
        lambda v: _unique(v, "领域有重复"),
    ])
    keywords = fields.List(Text(30, required=True), load_default=list, validate=[
        validate.Length(max=MAX_KEYWORDS, error=f"关键词最多 {MAX_KEYWORDS} 个"),
        lambda v: _unique(v, "关键词有重复"),
    ])
    # The requesting department; a department user may leave it out (their own).
    organisation_id = Id()
    stakeholder_ids = fields.List(Id(), load_default=list, validate=[
        validate.Length(max=MAX_STAKEHOLDERS, error=f"利害关系单位最多 {MAX_STAKEHOLDERS} 个"),
        lambda v: _unique(v, "利害关系单位有重复"),
    ])
    planned_decision_date = fields.Date(allow_none=True, load_default=None)
    confidential = fields.Boolean(load_default=False)

    @ma.pre_load
    def tidy_keywords(self, data, **kwargs):
        if isinstance(data, dict) and isinstance(data.get("keywords"), list):
            data = {**data, "keywords": [k.strip() if isinstance(k, str) else k for k in data["keywords"]]}
        return data


class DecisionItemUpdateSchema(DecisionItemInputSchema):
    """The same fields but the requesting department (fixed: it decides who may see the item); partial."""

    class Meta:
        exclude = ("organisation_id",)


class AvoidEntrySchema(StrictSchema):
    expert_id = Id(required=True)
    reason = Text(200, required=True)


class PanelRequestInputSchema(StrictSchema):
    mode = fields.String(required=True, validate=OneOf(m.value for m in ConsultationMode))
    seats = fields.Integer(required=True, strict=True,
                           validate=validate.Range(1, MAX_SEATS, error=f"人数须在 1–{MAX_SEATS} 之间"))
    # Default: the policy's minimum of chief or core experts.
    min_senior_members = fields.Integer(strict=True, validate=validate.Range(0, MAX_SEATS, error="人数无效"))
    required_domain_ids = fields.List(Id(), load_default=list, validate=[
        validate.Length(max=MAX_ITEM_DOMAINS, error=f"领域最多 {MAX_ITEM_DOMAINS} 个"),
        lambda v: _unique(v, "领域有重复"),
    ])
    meeting_date = fields.Date(allow_none=True, load_default=None)
    meeting_time = fields.Time(allow_none=True, load_default=None, format="%H:%M",
                               error_messages={"invalid": "时间格式应为 HH:MM"})
    meeting_end_time = fields.Time(allow_none=True, load_default=None, format="%H:%M",
                                   error_messages={"invalid": "时间格式应为 HH:MM"})
    meeting_place = Text(200, allow_none=True, load_default=None)
    deadline = fields.Date(allow_none=True, load_default=None)
    institution_id = Id(allow_none=True, load_default=None)
    selection_method = fields.String(required=True, validate=OneOf(s.value for s in SelectionMethod))
    avoid = fields.List(fields.Nested(AvoidEntrySchema), load_default=list, validate=validate.Length(
        max=MAX_AVOID_ENTRIES, error=f"回避专家最多 {MAX_AVOID_ENTRIES} 人"))
    note = Text(2000, load_default="")

    @ma.validates_schema
    def mode_fields(self, data, **kwargs):
        """Which date/place fields go with which mode (the numbers are checked against the policy later)."""
        mode = data.get("mode")
        errors: dict[str, list[str]] = {}
        if mode == ConsultationMode.MEETING.value:
            if not data.get("meeting_date"):
                errors["meeting_date"] = ["论证会须填写会议日期"]
            if not data.get("meeting_place"):
                errors["meeting_place"] = ["论证会须填写会议地点"]
            if data.get("deadline"):
                errors["deadline"] = ["论证会不填写书面意见截止日期"]
            start, end = data.get("meeting_time"), data.get("meeting_end_time")
            if end and start and end <= start:
                errors["meeting_end_time"] = ["结束时间须晚于开始时间"]
        elif mode in (ConsultationMode.WRITTEN.value, ConsultationMode.COMMISSIONED.value):
            if not data.get("deadline"):
                errors["deadline"] = ["须填写书面意见截止日期"]
            for key in ("meeting_date", "meeting_time", "meeting_end_time", "meeting_place"):
                if data.get(key):
                    errors[key] = ["只有论证会填写会议时间和地点"]
        if mode == ConsultationMode.COMMISSIONED.value:
            if not data.get("institution_id"):
                errors["institution_id"] = ["委托咨询论证须指定受托机构"]
        elif data.get("institution_id"):
            errors["institution_id"] = ["只有委托咨询论证指定受托机构"]
        avoided = [entry["expert_id"] for entry in data.get("avoid", [])]
        if len(set(avoided)) != len(avoided):
            errors["avoid"] = ["回避专家有重复"]
        if errors:
            raise ma.ValidationError(errors)


class RunRecommendationSchema(StrictSchema):
    method = fields.String(required=True, validate=OneOf(s.value for s in SelectionMethod))


class ReplacementInputSchema(StrictSchema):
    remove_expert_id = Id(required=True)
    # Default: the first alternate that can replace the member keeping every rule.
    add_expert_id = Id(allow_none=True, load_default=None)
    reason = Text(500, required=True)


class ItemListQuerySchema(PageQuerySchema):
    q = Text(60)
    category = fields.String(validate=OneOf(c.value for c in DecisionCategory))


# ---------------------------------------------------------------- output


class NamedRefSchema(ma.Schema):
    id = fields.Integer()
    name = fields.String()


class DecisionItemOutSchema(ma.Schema):
    id = fields.Integer()
    title = fields.String()
    description = fields.String()
    category = fields.Function(lambda i: i.category.value)
    domains = fields.List(fields.Nested(NamedRefSchema))
    keywords = fields.List(fields.String())
    organisation = fields.Nested(NamedRefSchema)
    stakeholders = fields.List(fields.Nested(NamedRefSchema))
    planned_decision_date = fields.Date(allow_none=True)
    confidential = fields.Boolean()
    created_at = fields.DateTime()
    updated_at = fields.DateTime()


class DecisionItemPageSchema(ma.Schema):
    items = fields.List(fields.Nested(DecisionItemOutSchema))
    meta = fields.Nested(PageMetaSchema)


class AvoidEntryOutSchema(ma.Schema):
    expert_id = fields.Integer()
    reason = fields.String()


class PanelRequestOutSchema(ma.Schema):
    id = fields.Integer()
    item_id = fields.Integer()
    mode = fields.Function(lambda r: r.mode.value)
    seats = fields.Integer()
    min_senior_members = fields.Integer()
    required_domains = fields.List(fields.Nested(NamedRefSchema))
    meeting_date = fields.Date(allow_none=True)
    meeting_time = fields.Time(allow_none=True, format="%H:%M")
    meeting_end_time = fields.Time(allow_none=True, format="%H:%M")
    meeting_place = fields.String(allow_none=True)
    deadline = fields.Date(allow_none=True)
    institution = fields.Nested(NamedRefSchema, allow_none=True)
    selection_method = fields.Function(lambda r: r.selection_method.value)
    avoid = fields.List(fields.Nested(AvoidEntryOutSchema), attribute="avoid_entries")
    status = fields.Function(lambda r: r.status.value)
    note = fields.String()
    recommendation_ids = fields.Function(lambda r: [rec.id for rec in r.recommendations])
    confirmed_recommendation_id = fields.Integer(allow_none=True)
    confirmed_at = fields.DateTime(allow_none=True)
    materials_sent_at = fields.DateTime(allow_none=True)
    created_at = fields.DateTime()


class RecommendationOutSchema(ma.Schema):
    """The whole record (talent office and auditors); departments get `DepartmentRecommendationSchema`."""

    id = fields.Integer()
    panel_request_id = fields.Integer()
    parent_id = fields.Integer(allow_none=True)
    kind = fields.Function(lambda r: r.kind.value)
    created_by = fields.Integer(attribute="created_by_id", allow_none=True)
    created_at = fields.DateTime()
    policy_version = fields.Integer()
    algorithm_version = fields.String()
    compliant = fields.Boolean(allow_none=True)
    inputs = fields.Dict()
    candidates = fields.List(fields.Dict())
    filtered = fields.Dict()
    result = fields.Dict(allow_none=True)
    seed_hash = fields.String(allow_none=True)
    seed = fields.String(allow_none=True)
    pool = fields.List(fields.Integer(), allow_none=True)
    revealed_at = fields.DateTime(allow_none=True)


class DepartmentRecommendationSchema(ma.Schema):
    """What the requesting department sees: the panel and whether it meets the rules, not the ranked pool."""

    id = fields.Integer()
    panel_request_id = fields.Integer()
    parent_id = fields.Integer(allow_none=True)
    kind = fields.String()
    created_at = fields.DateTime()
    policy_version = fields.Integer()
    compliant = fields.Boolean(allow_none=True)
    panel = fields.List(fields.Dict())
    report = fields.List(fields.Dict())
    failures = fields.List(fields.Dict())
    filtered_counts = fields.Dict()
    seed_hash = fields.String(allow_none=True)
    seed = fields.String(allow_none=True)


class RecommendationRefSchema(ma.Schema):
    id = fields.Integer()
    kind = fields.Function(lambda r: r.kind.value)
    parent_id = fields.Integer(allow_none=True)
    compliant = fields.Boolean(allow_none=True)
    created_at = fields.DateTime()
