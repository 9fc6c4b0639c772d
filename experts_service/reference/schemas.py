from __future__ import annotations

import re

import marshmallow as ma
from marshmallow import fields, validate

from experts_service.core.schemas import Id, OneOf, PageMetaSchema, PageQuerySchema, StrictSchema, Text
from experts_service.reference.models import OrganisationType

PHONE_PATTERN = re.compile(r"^[0-9+\-() ]{5,40}$")
MAX_ALIASES = 20


def validate_phone(value: str | None) -> None:
    if value and not PHONE_PATTERN.match(value):
        raise ma.ValidationError("电话号码只能包含数字和 + - ( ) 空格")


class OrganisationInputSchema(StrictSchema):
    name = Text(200, required=True)
    type = fields.String(required=True, validate=OneOf(t.value for t in OrganisationType))
    system = Text(60, allow_none=True)
    parent_id = Id(allow_none=True)
    aliases = fields.List(Text(200, required=True), load_default=list,
                          validate=validate.Length(max=MAX_ALIASES, error=f"别名最多 {MAX_ALIASES} 个"))
    contact_name = Text(60, allow_none=True)
    contact_phone = fields.String(allow_none=True, validate=validate_phone)
    address = Text(200, allow_none=True)


class OrganisationUpdateSchema(OrganisationInputSchema):
    """The same fields, loaded with partial=True (a distinct name for OpenAPI)."""


# What a department may change on its own organisation record.
ORGANISATION_SELF_EDITABLE = frozenset({"contact_name", "contact_phone", "address"})


class OrganisationRefSchema(ma.Schema):
    id = fields.Integer()
    name = fields.String()
    type = fields.Function(lambda o: o.type.value)
    system = fields.String(allow_none=True)
    parent_id = fields.Integer(allow_none=True)


class OrganisationOutSchema(OrganisationRefSchema):
    aliases = fields.Function(lambda o: [a.alias for a in o.aliases])
    contact_name = fields.String(allow_none=True)
    contact_phone = fields.String(allow_none=True)
    address = fields.String(allow_none=True)
    is_active = fields.Boolean()
    updated_at = fields.DateTime()


class OrganisationPageSchema(ma.Schema):
    items = fields.List(fields.Nested(OrganisationRefSchema))
    meta = fields.Nested(PageMetaSchema)


class OrganisationListQuerySchema(PageQuerySchema):
    q = Text(60)
    type = fields.String(validate=OneOf(t.value for t in OrganisationType))


class DomainSchema(ma.Schema):
    id = fields.Integer()
    code = fields.String()
    name = fields.String()
    parent_id = fields.Integer(allow_none=True)
    level = fields.Integer()
    is_active = fields.Boolean()


class DomainInputSchema(StrictSchema):
    code = fields.String(required=True, validate=validate.Regexp(r"^[A-Za-z0-9-]{1,20}$", error="编码为 1–20 位字母、数字或 -"))
    name = Text(40, required=True)
    parent_id = Id(allow_none=True)


class TierSchema(ma.Schema):
    id = fields.Integer()
    code = fields.String()
    name = fields.String()
    rank = fields.Integer()
    is_senior = fields.Boolean()


class TierInputSchema(StrictSchema):
    code = fields.String(required=True, validate=validate.Regexp(r"^[A-Za-z0-9_-]{1,20}$", error="编码为 1–20 位字母、数字、_ 或 -"))
    name = Text(20, required=True)
    rank = fields.Integer(required=True, strict=True, validate=validate.Range(min=1, max=99, error="排序须在 1–99 之间"))
    is_senior = fields.Boolean(load_default=False)
