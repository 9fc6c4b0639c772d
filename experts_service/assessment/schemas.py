"""Validation and serialisation for the annual assessment (no database access here)."""
from __future__ import annotations

import marshmallow as ma
from marshmallow import fields, validate

from experts_service.assessment.operations import MAX_REASON, MAX_SUMMARY
from experts_service.core.schemas import StrictSchema, Text
from experts_service.integrity.schemas import Required

# The years a cycle can have (the table's check); a path outside them names no cycle.
FIRST_YEAR, LAST_YEAR = 2000, 2100
SCORE_MESSAGE = "自评分须为 0—100 的整数"
TOTAL_MESSAGE = "调整后得分须为 0—100 的数"


class CycleOpenSchema(StrictSchema):
    year = fields.Integer(strict=True, required=True,
                          validate=validate.Range(FIRST_YEAR, LAST_YEAR, error=f"年度须在 {FIRST_YEAR}—{LAST_YEAR} 之间"),
                          error_messages={"required": "请填写年度", "null": "请填写年度", "invalid": "年度须为整数"},
                          metadata={"description": "考核年度（自然年），不晚于今年"})


class SelfAssessmentInputSchema(StrictSchema):
    score = fields.Integer(strict=True, required=True, validate=validate.Range(0, 100, error=SCORE_MESSAGE),
                           error_messages={"invalid": SCORE_MESSAGE, "required": "请填写自评分", "null": SCORE_MESSAGE})
    summary = Required(MAX_SUMMARY, "年度工作小结", metadata={"description": "年度工作小结"})


class AdjustmentInputSchema(StrictSchema):
    total = fields.Decimal(required=True, allow_none=True,
                           validate=validate.Range(0, 100, error=TOTAL_MESSAGE),
                           error_messages={"invalid": TOTAL_MESSAGE, "special": TOTAL_MESSAGE,
                                           "required": "请填写调整后得分（取消调整时为 null）"},
                           metadata={"description": "调整后的综合得分（0—100）；null 取消调整，恢复计算得分"})
    reason = Required(MAX_REASON, "调整理由", "请写明调整理由", metadata={"description": "调整（或取消调整）的理由"})


class ApprovalInputSchema(StrictSchema):
    note = Text(MAX_REASON, load_default="", metadata={"description": "审定意见"})


# ---------------------------------------------------------------- output


def _number(attribute: str | None = None, **kwargs) -> fields.Float:
    return fields.Float(attribute=attribute, allow_none=True, **kwargs)


class ResultOutSchema(ma.Schema):
    id = fields.Integer()
    year = fields.Function(lambda r: r.cycle.year)
    expert_id = fields.Integer()
    expert_name = fields.Function(lambda r: r.expert.name)
    domain = fields.Function(lambda r: r.domain.name if r.domain else None)
    tier = fields.Function(lambda r: r.tier.name if r.tier else None)
    engagements = fields.Integer(metadata={"description": "本年度参与论证次数"})
    ratings_count = fields.Integer()
    rating_score = _number(metadata={"description": "部门评价平均分（无评价为 null）"})
    integrity_score = _number(metadata={"description": "诚信得分（100 减扣分）"})
    self_score = _number(metadata={"description": "自评分（未提交为 null）"})
    computed_total = _number()
    adjusted_total = _number(metadata={"description": "人才工作部门调整后的得分（未调整为 null）"})
    adjust_reason = fields.String(allow_none=True)
    final_total = _number()
    veto = fields.Boolean(metadata={"description": "有严重失信记录，一票否决"})
    grade = fields.Function(lambda r: r.grade.value)
    grade_label = fields.Function(lambda r: r.grade.label)
    outcome = fields.Function(lambda r: r.outcome.value)
    outcome_label = fields.Function(lambda r: r.outcome.label)
    explanation = fields.List(fields.String(), metadata={"description": "每个分数的来由（中文说明）"})
    event_ids = fields.List(fields.Integer())


class CycleOutSchema(ma.Schema):
    year = fields.Integer()
    status = fields.Function(lambda c: c.status.value)
    status_label = fields.Function(lambda c: c.status.label)
    policy_version = fields.Integer()
    opened_at = fields.DateTime()
    computed_at = fields.DateTime(allow_none=True)
    approved_at = fields.DateTime(allow_none=True)
    approval_note = fields.String(allow_none=True)


class CycleDetailSchema(CycleOutSchema):
    results = fields.List(fields.Nested(ResultOutSchema), metadata={"description": "专家本人只见自己的结果"})


class SelfAssessmentOutSchema(ma.Schema):
    year = fields.Function(lambda s: s.cycle.year)
    expert_id = fields.Integer()
    score = fields.Integer()
    summary = fields.String()
    updated_at = fields.DateTime()


class SelfAssessmentReceiptSchema(ma.Schema):
    self_assessment = fields.Nested(SelfAssessmentOutSchema)
    result = fields.Nested(ResultOutSchema, allow_none=True, metadata={"description": "按自评重新试算的结果"})


class ApprovalOutSchema(ma.Schema):
    cycle = fields.Nested(CycleOutSchema)
    dismissed = fields.List(fields.Nested(ResultOutSchema))
    reminded = fields.List(fields.Nested(ResultOutSchema))
    promotable = fields.List(fields.Nested(ResultOutSchema))
