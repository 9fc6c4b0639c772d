"""Validation and serialisation of expert records (no database access here)."""
from __future__ import annotations

import re

import marshmallow as ma
from marshmallow import fields, validate

from experts_service.core.idcard import InvalidIdNumber, parse_id_number
from experts_service.core.schemas import Id, OneOf, PageMetaSchema, PageQuerySchema, StrictSchema, Text
from experts_service.experts.models import AchievementKind, ExpertStatus, PoliticalAffiliation, TitleLevel

MOBILE_PATTERN = re.compile(r"^1[3-9]\d{9}$")
NAME_PATTERN = re.compile(r"^[\u3400-\u9fffA-Za-z·• ]{2,40}$")
MAX_KEYWORDS = 30
MAX_SECONDARY_DOMAINS = 10
MAX_ACHIEVEMENTS = 100

# Fields an expert may change on their own record; the rest go through the
# talent office (employer, title, domains affect matching and conflicts).
EXPERT_SELF_EDITABLE = frozenset({"mobile", "bio", "keywords", "achievements"})


def validate_id_number(value: str) -> None:
    try:
        parse_id_number(value)
    except InvalidIdNumber as exc:
        raise ma.ValidationError(str(exc)) from None


def validate_mobile(value: str) -> None:
    if value and not MOBILE_PATTERN.match(value):
        raise ma.ValidationError("手机号应为 11 位数字，以 1 开头")


def validate_name(value: str) -> None:
    if not NAME_PATTERN.match(value):
        raise ma.ValidationError("姓名为 2–40 个汉字或字母")


def validate_keyword_list(values: list[str]) -> None:
    if len(values) > MAX_KEYWORDS:
        raise ma.ValidationError(f"关键词最多 {MAX_KEYWORDS} 个")
    if len({value.strip() for value in values}) != len(values):
        raise ma.ValidationError("关键词有重复")


class AchievementSchema(StrictSchema):
    kind = fields.String(required=True, validate=OneOf(k.value for k in AchievementKind))
    title = Text(300, required=True)


class ExpertInputSchema(StrictSchema):
    """Fields for create (all required ones) and update (partial=True)."""

    name = fields.String(required=True, validate=validate_name)
    id_number = fields.String(required=True, validate=validate_id_number, load_only=True)
    mobile = fields.String(allow_none=True, validate=validate_mobile, load_only=True)
    employer_id = Id(required=True)
    position = Text(100, allow_none=True)
    title_level = fields.String(required=True, validate=OneOf(t.value for t in TitleLevel))
    title_name = Text(60, allow_none=True)
    years_in_field = fields.Integer(required=True, strict=True, validate=validate.Range(0, 80, error="从业年限须在 0–80 之间"))
    political_affiliation = fields.String(required=True, validate=OneOf(p.value for p in PoliticalAffiliation))
    is_npc_deputy = fields.Boolean(load_default=False)
    is_cppcc_member = fields.Boolean(load_default=False)
    is_academician = fields.Boolean(load_default=False)
    primary_domain_id = Id(required=True)
    secondary_domain_ids = fields.List(
        Id(),
        load_default=list,
        validate=validate.Length(max=MAX_SECONDARY_DOMAINS, error=f"次要领域最多 {MAX_SECONDARY_DOMAINS} 个"),
    )
    keywords = fields.List(Text(30, required=True), load_default=list, validate=validate_keyword_list)
    bio = Text(5000, load_default="")
    achievements = fields.List(
        fields.Nested(AchievementSchema),
        load_default=list,
        validate=validate.Length(max=MAX_ACHIEVEMENTS, error=f"成果最多 {MAX_ACHIEVEMENTS} 项"),
    )
    tier_id = Id(required=True)
    # Optimistic concurrency for updates: the version the client last saw.
    version = Id(load_only=True)

    @ma.pre_load
    def normalise(self, data, **kwargs):
        if isinstance(data, dict):
            data = dict(data)
            if isinstance(data.get("id_number"), str):
                data["id_number"] = data["id_number"].strip().upper()
            if isinstance(data.get("keywords"), list):
                data["keywords"] = [k.strip() if isinstance(k, str) else k for k in data["keywords"]]
            if data.get("mobile") == "":
                data["mobile"] = None
        return data


class ExpertUpdateSchema(ExpertInputSchema):
    """The same fields, loaded with partial=True (a distinct name for OpenAPI)."""


class RefSchema(ma.Schema):
    id = fields.Integer()
    name = fields.String()


class AppointmentOutSchema(ma.Schema):
    certificate_no = fields.String()
    term_start = fields.Date()
    term_end = fields.Date()


class ExpertOutSchema(ma.Schema):
    id = fields.Integer()
    name = fields.String()
    sex = fields.Function(lambda e: e.sex.value)
    birth_date = fields.Date()
    id_number_masked = fields.String()
    mobile_masked = fields.String(allow_none=True)
    employer = fields.Nested(RefSchema)
    position = fields.String(allow_none=True)
    title_level = fields.Function(lambda e: e.title_level.value)
    title_name = fields.String(allow_none=True)
    years_in_field = fields.Integer()
    political_affiliation = fields.Function(lambda e: e.political_affiliation.value)
    is_npc_deputy = fields.Boolean()
    is_cppcc_member = fields.Boolean()
    is_academician = fields.Boolean()
    primary_domain = fields.Nested(RefSchema)
    secondary_domains = fields.List(fields.Nested(RefSchema))
    keywords = fields.List(fields.String())
    bio = fields.String()
    achievements = fields.List(fields.Dict())
    tier = fields.Nested(RefSchema, allow_none=True)
    status = fields.Function(lambda e: e.status.value)
    appointment = fields.Function(
        lambda e: AppointmentOutSchema().dump(e.current_appointment) if e.current_appointment else None
    )
    version = fields.Integer(attribute="version_id")
    created_at = fields.DateTime()
    updated_at = fields.DateTime()


class ExpertPageSchema(ma.Schema):
    items = fields.List(fields.Nested(ExpertOutSchema))
    meta = fields.Nested(PageMetaSchema)


SORT_CHOICES = ("name", "-name", "tier", "-tier", "years", "-years", "updated", "-updated")


class ExpertListQuerySchema(PageQuerySchema):
    q = Text(40)
    domain_id = Id(strict=False)
    tier_id = Id(strict=False)
    status = fields.String(validate=OneOf(s.value for s in ExpertStatus))
    title_level = fields.String(validate=OneOf(t.value for t in TitleLevel))
    sort = fields.String(load_default="name", validate=OneOf(SORT_CHOICES))


class PiiOutSchema(ma.Schema):
    id_number = fields.String()
    mobile = fields.String(allow_none=True)


class RosterRowSchema(ExpertInputSchema):
    """One row of a roster import: the create form's fields plus the current term."""

    term_start = fields.Date(required=True)
    term_end = fields.Date(required=True)
    certificate_no = Text(40, allow_none=True)


class RosterImportOptionsSchema(StrictSchema):
    """Form fields sent with a roster upload (multipart)."""

    dry_run = fields.Boolean(load_default=True, metadata={"description": "只检查不导入（默认）；false 时导入有效行"})
    strict = fields.Boolean(load_default=False, metadata={"description": "有任何错误行则全部不导入"})


class RosterProblemSchema(ma.Schema):
    row = fields.Integer(metadata={"description": "Excel 中的行号"})
    name = fields.String()
    reasons = fields.List(fields.String())


class RosterReportSchema(ma.Schema):
    total = fields.Integer()
    valid = fields.Integer()
    importable = fields.Integer()
    imported = fields.Integer()
    refused = fields.Boolean(metadata={"description": "严格模式下因错误行而全部未导入"})
    dry_run = fields.Boolean()
    strict = fields.Boolean()
    problems = fields.List(fields.Nested(RosterProblemSchema))


class RosterExportSchema(ExpertListQuerySchema):
    """The list's filters (every page is exported) and whether to include full personal data."""

    full_pii = fields.Boolean(load_default=False)
