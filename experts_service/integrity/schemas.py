"""Validation and serialisation for integrity records, appeals and sanctions (no database access here)."""
from __future__ import annotations

import marshmallow as ma
from flask_smorest.fields import Upload
from marshmallow import fields, validate
from werkzeug.datastructures import FileStorage

from experts_service.core.schemas import Id, OneOf, PageMetaSchema, PageQuerySchema, StrictSchema
from experts_service.integrity.models import (
    MANUAL_KINDS,
    AppealStatus,
    EventKind,
    EventStatus,
)
from experts_service.integrity.operations import MAX_DESCRIPTION, MAX_REASON, appealable
from experts_service.lifecycle.schemas import DocumentOutSchema

WITHDRAW_REASON_MAX = 500


def Required(limit: int, label: str, missing: str | None = None, **kwargs) -> fields.String:
    """Text that must be given (blank counts as missing), in the operations' own words."""
    missing = missing or f"请填写{label}"
    return fields.String(required=True, validate=[validate.Length(min=1, error=missing),
                                                  validate.Length(max=limit, error=f"{label}不超过 {limit} 字")],
                         error_messages={"required": missing, "null": missing}, **kwargs)


APPEAL_FILTERS = (*(s.value for s in AppealStatus), "all")


# ---------------------------------------------------------------- input


class EventInputSchema(StrictSchema):
    """The form fields of a manual record (multipart; the evidence files come as `file`)."""

    kind = fields.String(required=True, validate=validate.OneOf([k.value for k in MANUAL_KINDS],
                                                                error="请选择失信情形"),
                         error_messages={"required": "请选择失信情形", "null": "请选择失信情形"},
                         metadata={"description": "失信情形：" + "、".join(f"{k.value}（{k.label}）"
                                                                     for k in MANUAL_KINDS)})
    occurred_on = fields.Date(required=True, error_messages={"required": "请填写发生日期", "null": "请填写发生日期"},
                              metadata={"description": "发生日期，YYYY-MM-DD，不晚于今天"})
    description = Required(MAX_DESCRIPTION, "事实描述", "请写明事实")
    # Form text: not strict, so "12" from a multipart body loads.
    panel_request_id = Id(strict=False, allow_none=True, load_default=None,
                          metadata={"description": "相关论证申请编号（可选）"})


class UploadedFile(Upload):
    """A file part of a multipart body; a text part of the same name is refused, not passed on."""

    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, FileStorage):
            raise ma.ValidationError("请以文件形式上传")
        return value


class RecordEventSchema(EventInputSchema):
    """The whole multipart body of a manual record: the fields and the evidence files."""

    file = fields.List(UploadedFile(), required=True,
                       validate=validate.Length(min=1, error="请上传至少一份证据材料"),
                       metadata={"description": "证据材料（PDF、JPG 或 PNG，可多份，字段名均为 file）"})


class EvidenceUploadSchema(StrictSchema):
    file = UploadedFile(required=True, metadata={"description": "证据材料（PDF、JPG 或 PNG）"})


class WithdrawInputSchema(StrictSchema):
    reason = Required(WITHDRAW_REASON_MAX, "撤回原因")


class AppealInputSchema(StrictSchema):
    reason = Required(MAX_REASON, "申诉理由")


class AppealDecisionSchema(StrictSchema):
    upheld = fields.Boolean(required=True, error_messages={"required": "请选择申诉是否成立", "null": "请选择申诉是否成立"},
                            metadata={"description": "true：申诉成立（撤销记录）；false：申诉不成立"})
    reason = Required(MAX_REASON, "处理意见", metadata={"description": "处理意见"})


class EventListQuerySchema(PageQuerySchema):
    status = fields.String(validate=OneOf(s.value for s in EventStatus))
    kind = fields.String(validate=OneOf(k.value for k in EventKind))


class AppealListQuerySchema(StrictSchema):
    status = fields.String(load_default="pending", validate=OneOf(APPEAL_FILTERS),
                           metadata={"description": "pending（默认）、upheld、rejected 或 all"})


# ---------------------------------------------------------------- output


class EvidenceOutSchema(DocumentOutSchema):
    """The same stored-file fields as an application's supporting document."""


class AppealOutSchema(ma.Schema):
    id = fields.Integer()
    event_id = fields.Integer()
    reason = fields.String()
    status = fields.Function(lambda a: a.status.value)
    status_label = fields.Function(lambda a: a.status.label)
    filed_at = fields.DateTime()
    decision_reason = fields.String(allow_none=True)
    decided_at = fields.DateTime(allow_none=True)


class EventOutSchema(ma.Schema):
    id = fields.Integer()
    expert_id = fields.Integer()
    expert_name = fields.Function(lambda e: e.expert.name)
    kind = fields.Function(lambda e: e.kind.value)
    kind_label = fields.Function(lambda e: e.kind.label)
    severity = fields.Function(lambda e: e.severity.value)
    severity_label = fields.Function(lambda e: e.severity.label)
    points = fields.Integer(metadata={"description": "扣分"})
    source = fields.Function(lambda e: e.source.value)
    source_label = fields.Function(lambda e: e.source.label)
    panel_request_id = fields.Integer(allow_none=True)
    occurred_on = fields.Date()
    description = fields.String()
    status = fields.Function(lambda e: e.status.value)
    status_label = fields.Function(lambda e: e.status.label)
    status_reason = fields.String(allow_none=True)
    appeal_until = fields.Date(metadata={"description": "申诉期限（含当日）"})
    appeal_open = fields.Function(appealable, metadata={"description": "现在是否仍可申诉"})
    recorded_at = fields.DateTime(attribute="created_at")
    evidence = fields.List(fields.Nested(EvidenceOutSchema))
    appeal = fields.Function(lambda e: AppealOutSchema().dump(e.appeals[0]) if e.appeals else None,
                             metadata={"description": "申诉（每条记录至多一次）"})


class EventPageSchema(ma.Schema):
    items = fields.List(fields.Nested(EventOutSchema))
    meta = fields.Nested(PageMetaSchema)


class EventRefSchema(ma.Schema):
    id = fields.Integer()
    expert_id = fields.Integer()
    expert_name = fields.Function(lambda e: e.expert.name)
    kind = fields.Function(lambda e: e.kind.value)
    kind_label = fields.Function(lambda e: e.kind.label)
    severity_label = fields.Function(lambda e: e.severity.label)
    points = fields.Integer()
    occurred_on = fields.Date()
    status = fields.Function(lambda e: e.status.value)


class AppealQueueSchema(AppealOutSchema):
    event = fields.Nested(EventRefSchema)


class SanctionOutSchema(ma.Schema):
    id = fields.Integer()
    expert_id = fields.Integer()
    kind = fields.Function(lambda s: s.kind.value)
    kind_label = fields.Function(lambda s: s.kind.label)
    status = fields.Function(lambda s: s.status.value)
    status_label = fields.Function(lambda s: s.status.label)
    starts_on = fields.Date()
    ends_on = fields.Date(allow_none=True)
    explanation = fields.String()
    status_reason = fields.String(allow_none=True)
    manual = fields.Boolean(attribute="is_manual", metadata={"description": "人才工作部门直接暂停（非诚信记录推导）"})
    event_ids = fields.Function(lambda s: [e.id for e in s.events])
