"""Every rule default of docs/DOMAIN.md, in one place.

The policy is versioned: each admin change writes a new PolicyVersion row
(and an audit entry), so a recommendation or assessment can name the exact
rules it ran under. Code reads rules only through `current_policy()`.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from fractions import Fraction
from typing import Any

import sqlalchemy as sa
from flask import g, has_app_context
from sqlalchemy.orm import Mapped, mapped_column

from experts_service.core import audit
from experts_service.core.db import Base, utcnow
from experts_service.core.errors import ValidationFailed
from experts_service.extensions import db


@dataclass(frozen=True)
class Rule:
    key: str
    group: str
    label: str
    default: Any
    minimum: Any = None
    maximum: Any = None
    unit: str = ""

    @property
    def kind(self) -> type:
        return type(self.default)

    def parse(self, raw: Any) -> Any:
        """Coerce and bound-check one value; raises ValueError with a Chinese message."""
        kind = self.kind
        try:
            if kind is bool:
                if isinstance(raw, bool):
                    value = raw
                elif str(raw).lower() in {"true", "1", "on", "yes"}:
                    value = True
                elif str(raw).lower() in {"false", "0", "off", "no", ""}:
                    value = False
                else:
                    raise ValueError
            elif kind is int:
                if isinstance(raw, bool) or (isinstance(raw, float) and not raw.is_integer()):
                    raise ValueError
                value = int(str(raw).strip()) if not isinstance(raw, int) else raw
            elif kind is str:
                value = str(raw).strip()
                Fraction(value)  # string rules are fractions such as "1/3"
            else:
                raise ValueError
        except (ValueError, ZeroDivisionError, TypeError):
            raise ValueError("格式不正确") from None
        comparable = Fraction(value) if kind is str else value
        if self.minimum is not None and comparable < Fraction(self.minimum):
            raise ValueError(f"不能小于 {self.minimum}")
        if self.maximum is not None and comparable > Fraction(self.maximum):
            raise ValueError(f"不能大于 {self.maximum}")
        return value


RULES: tuple[Rule, ...] = (
    # Intake (入库)
    Rule("max_age_at_application", "intake", "申请时年龄上限", 65, 18, 100, "岁"),
    Rule("max_age_academician", "intake", "院士等特殊人才年龄上限", 70, 18, 100, "岁"),
    Rule("min_title_level", "intake", "最低职称（1=正高，2=副高，3=中级）", 2, 1, 4),
    Rule("min_years_in_field_without_title", "intake", "未达职称要求时最少从业年限", 8, 0, 50, "年"),
    Rule("public_notice_working_days", "intake", "公示期", 5, 1, 30, "个工作日"),
    Rule("term_years", "intake", "聘期", 5, 1, 10, "年"),
    Rule("renewal_window_days", "intake", "聘期届满前开启续聘评审", 60, 1, 365, "天"),
    Rule("reapply_ban_years_integrity", "intake", "诚信原因退出后再申请禁止期", 5, 0, 50, "年"),
    # Not numbers of DOMAIN.md: the review group's quorum and majority, set by the office.
    Rule("review_min_votes", "intake", "专业评审最少有效票数", 3, 1, 99, "票"),
    Rule("review_pass_share", "intake", "专业评审通过须同意票超过有效票的比例", "1/2", 0, 1),
    # Panels (论证)
    Rule("meeting_min_seats", "panels", "论证会最少人数（须为奇数）", 5, 1, 99, "人"),
    Rule("meeting_seats_must_be_odd", "panels", "论证会人数须为奇数", True),
    Rule("written_min_seats", "panels", "书面咨询最少人数", 3, 1, 99, "人"),
    Rule("commissioned_min_reviewers", "panels", "委托咨询论证最少评审专家", 3, 1, 99, "人"),
    Rule("yearly_engagement_cap", "panels", "每年参与论证次数上限", 10, 1, 365, "次"),
    Rule("employment_cooling_years", "panels", "原工作单位回避期", 3, 0, 20, "年"),
    Rule("avoid_list_max", "panels", "申请回避专家上限", 3, 0, 20, "人"),
    Rule("max_experts_per_employer", "panels", "同一单位专家上限", 1, 1, 99, "人"),
    Rule("max_same_system_share", "panels", "与申请部门同系统的政府人员占比上限", "1/3", 0, 1),
    Rule("min_senior_tier_members", "panels", "首席或核心专家最少人数", 1, 0, 99, "人"),
    Rule("draw_pool_multiplier", "panels", "随机抽取候选池倍数", 3, 1, 20, "倍"),
    Rule("rotation_lookback_months", "panels", "轮换回溯期", 12, 1, 60, "个月"),
    Rule("invitation_min_days", "panels", "邀请最晚于会前", 2, 0, 60, "天"),
    Rule("materials_preferred_days", "panels", "材料宜于会前送达", 7, 0, 60, "天"),
    Rule("rating_window_working_days", "panels", "评价时限", 2, 1, 30, "个工作日"),
    # Missing ratings are chased (DOMAIN.md step 9); how often, and when the talent office hears of it.
    Rule("rating_chase_interval_days", "panels", "逾期评价催办间隔（按日历天计，同一论证在间隔内只催办一次）", 2, 1, 30, "天"),
    Rule("rating_escalation_days", "panels", "评价逾期超过此数报人才工作部门（按工作日计）", 5, 1, 30, "个工作日"),
    # DOMAIN.md names the response window but not its length; the office sets it.
    Rule("invitation_response_hours", "panels", "邀请答复期限", 24, 1, 720, "小时"),
    # The five parts of a rating (DOMAIN.md step 9): their maxima, which sum to 100.
    Rule("rating_max_quality", "panels", "评价：意见质量满分", 30, 0, 100, "分"),
    Rule("rating_max_professionalism", "panels", "评价：专业水平满分", 25, 0, 100, "分"),
    Rule("rating_max_punctuality", "panels", "评价：守时满分", 15, 0, 100, "分"),
    Rule("rating_max_discipline", "panels", "评价：纪律满分", 15, 0, 100, "分"),
    Rule("rating_max_confidentiality", "panels", "评价：保密满分", 15, 0, 100, "分"),
    # Integrity (诚信)
    Rule("appeal_window_days", "integrity", "申诉期", 15, 1, 90, "天"),
    Rule("minor_event_points", "integrity", "一般失信扣分", 5, 0, 100, "分"),
    Rule("serious_event_points", "integrity", "较重失信扣分", 15, 0, 100, "分"),
    Rule("minors_per_serious", "integrity", "折算为一次较重失信的一般失信次数", 3, 1, 20, "次"),
    Rule("integrity_window_months", "integrity", "失信累计期", 12, 1, 60, "个月"),
    Rule("serious_events_for_suspension", "integrity", "暂停资格所需较重失信次数", 2, 1, 20, "次"),
    Rule("suspension_months", "integrity", "暂停期", 6, 1, 60, "个月"),
    Rule("repeat_suspension_months", "integrity", "再次暂停期", 12, 1, 120, "个月"),
    # Annual assessment (年度考核)
    Rule("weight_ratings_percent", "assessment", "部门评价权重", 60, 0, 100, "%"),
    Rule("weight_integrity_percent", "assessment", "诚信得分权重", 30, 0, 100, "%"),
    Rule("weight_self_percent", "assessment", "自评权重", 10, 0, 100, "%"),
    Rule("grade_excellent_min", "assessment", "优秀分数线", 90, 0, 100, "分"),
    Rule("grade_pass_min", "assessment", "合格分数线", 75, 0, 100, "分"),
    Rule("grade_basic_min", "assessment", "基本合格分数线", 60, 0, 100, "分"),
    Rule("promotion_min_engagements", "assessment", "晋级所需两年内参与次数", 10, 0, 100, "次"),
    Rule("promotion_min_rating", "assessment", "晋级所需每次评价最低分", 90, 0, 100, "分"),
)
RULES_BY_KEY = {rule.key: rule for rule in RULES}
# The parts a department rates each engaged expert on, in the order forms show them.
RATING_PARTS = ("quality", "professionalism", "punctuality", "discipline", "confidentiality")
GROUP_LABELS = {"intake": "入库与聘任", "panels": "论证与组成", "integrity": "诚信", "assessment": "年度考核"}


def defaults() -> dict[str, Any]:
    return {rule.key: rule.default for rule in RULES}


def check_consistency(values: dict[str, Any]) -> dict[str, list[str]]:
    """Rules that only make sense together."""
    errors: dict[str, list[str]] = {}
    weights = values["weight_ratings_percent"] + values["weight_integrity_percent"] + values["weight_self_percent"]
    if weights != 100:
        errors["weight_self_percent"] = [f"三项权重之和须为 100，当前为 {weights}"]
    if not values["grade_excellent_min"] > values["grade_pass_min"] > values["grade_basic_min"]:
        errors["grade_pass_min"] = ["分数线须满足 优秀 > 合格 > 基本合格"]
    rating_points = sum(values[f"rating_max_{part}"] for part in RATING_PARTS)
    if rating_points != 100:
        errors["rating_max_quality"] = [f"五项评价满分之和须为 100，当前为 {rating_points}"]
    if values["max_age_academician"] < values["max_age_at_application"]:
        errors["max_age_academician"] = ["特殊人才年龄上限不能低于一般年龄上限"]
    if values["meeting_seats_must_be_odd"] and values["meeting_min_seats"] % 2 == 0:
        errors["meeting_min_seats"] = ["论证会人数须为奇数时，最少人数也须为奇数"]
    return errors


class PolicyVersion(Base):
    __tablename__ = "policy_versions"

    id: Mapped[int] = mapped_column(primary_key=True)
    version: Mapped[int] = mapped_column(unique=True)
    values: Mapped[dict] = mapped_column(sa.JSON)
    reason: Mapped[str] = mapped_column(sa.String(500))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))


class Policy:
    """Read-only view of one policy version; attribute access by rule key."""

    def __init__(self, version: int, values: dict[str, Any]):
        merged = defaults()
        merged.update({key: value for key, value in values.items() if key in RULES_BY_KEY})
        self._values = merged
        self.version = version

    def __getattr__(self, key: str) -> Any:
        try:
            return self._values[key]
        except KeyError:
            raise AttributeError(key) from None

    def as_dict(self) -> dict[str, Any]:
        return dict(self._values)

    def fraction(self, key: str) -> Fraction:
        return Fraction(self._values[key])


def current_policy() -> Policy:
    if has_app_context() and "policy" in g:
        return g.policy
    row = db.session.execute(sa.select(PolicyVersion).order_by(PolicyVersion.version.desc()).limit(1)).scalar()
    policy = Policy(row.version, row.values) if row else Policy(0, {})
    if has_app_context():
        g.policy = policy
    return policy


def seed_policy() -> bool:
    """Write version 1 with the DOMAIN.md defaults if no version exists."""
    if db.session.execute(sa.select(PolicyVersion.id).limit(1)).first():
        return False
    db.session.add(PolicyVersion(version=1, values=defaults(), reason="DOMAIN.md 默认值"))
    audit.record(None, "policy.seed", "policy", 1, version=1)
    return True


def update_policy(actor, changes: dict[str, Any], reason: str) -> Policy:
    """Validate and store a new version; the caller has checked `policy.update`."""
    from experts_service.core.auth import authorize

    authorize(actor, "policy.update")
    errors: dict[str, list[str]] = {}
    if not reason or not reason.strip():
        errors["reason"] = ["请填写修改原因"]
    elif len(reason) > 500:
        errors["reason"] = ["修改原因不超过 500 字"]
    current = current_policy()
    values = current.as_dict()
    for key, raw in changes.items():
        rule = RULES_BY_KEY.get(key)
        if rule is None:
            errors[key] = ["未知的规则项"]
            continue
        try:
            values[key] = rule.parse(raw)
        except ValueError as exc:
            errors[key] = [str(exc)]
    if not errors:
        errors = check_consistency(values)
    if errors:
        raise ValidationFailed(fields=errors)
    before = current.as_dict()
    changed = {key: [before[key], values[key]] for key in values if before[key] != values[key]}
    if not changed:
        raise ValidationFailed("没有任何改动", fields={"_schema": ["没有任何改动"]})
    version = current.version + 1
    db.session.add(PolicyVersion(version=version, values=values, reason=reason.strip(), created_by_id=actor.id))
    audit.record(actor, "policy.update", "policy", version, changes=changed, reason=reason.strip())
    g.pop("policy", None)
    return current_policy()
