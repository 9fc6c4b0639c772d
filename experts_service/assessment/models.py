"""The annual assessment (年度考核): one cycle per calendar year, each expert's
self-assessment, and the computed (and possibly adjusted) result."""
from __future__ import annotations

import enum
from datetime import datetime
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from experts_service.core.db import Base, TimestampMixin, enum_column, utcnow

SCORE = sa.Numeric(5, 2)


class CycleStatus(str, enum.Enum):
    OPEN = "open"
    # Approved: outcomes applied, nothing changes any more.
    APPROVED = "approved"

    @property
    def label(self) -> str:
        return {"open": "考核中", "approved": "已审定"}[self.value]


class Grade(str, enum.Enum):
    EXCELLENT = "excellent"
    PASS = "pass"
    BASIC = "basic"
    FAIL = "fail"

    @property
    def label(self) -> str:
        return GRADE_LABELS[self]


GRADE_LABELS = {Grade.EXCELLENT: "优秀", Grade.PASS: "合格", Grade.BASIC: "基本合格", Grade.FAIL: "不合格"}
GRADE_ORDER = (Grade.EXCELLENT, Grade.PASS, Grade.BASIC, Grade.FAIL)


class Outcome(str, enum.Enum):
    NONE = "none"
    REMINDER = "reminder"
    DISMISSAL = "dismissal"
    PROMOTION_ELIGIBLE = "promotion_eligible"
    # Left the pool before approval; the grade is recorded, nothing more is done.
    ALREADY_EXITED = "already_exited"

    @property
    def label(self) -> str:
        return {"none": "无", "reminder": "书面提醒", "dismissal": "解聘并退出", "promotion_eligible": "可晋升一个层次",
                "already_exited": "已退出专家库"}[self.value]


class AssessmentCycle(Base):
    __tablename__ = "assessment_cycles"

    id: Mapped[int] = mapped_column(primary_key=True)
    year: Mapped[int] = mapped_column(unique=True)
    status: Mapped[CycleStatus] = mapped_column(enum_column(CycleStatus, "assessment_cycle_status"))
    # The rules the scores were computed under (policy.PolicyVersion.version).
    policy_version: Mapped[int] = mapped_column(default=0)
    opened_at: Mapped[datetime] = mapped_column(default=utcnow)
    opened_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    computed_at: Mapped[datetime | None]
    approved_at: Mapped[datetime | None]
    approved_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    approval_note: Mapped[str | None] = mapped_column(sa.String(1000))

    results: Mapped[list[AssessmentResult]] = relationship(back_populates="cycle", order_by="AssessmentResult.id")

    __table_args__ = (
        sa.CheckConstraint("year >= 2000 AND year <= 2100", name="year_range"),
        sa.CheckConstraint("(status = 'approved') = (approved_at IS NOT NULL)", name="approved_has_time"),
    )


class SelfAssessment(TimestampMixin, Base):
    __tablename__ = "self_assessments"

    id: Mapped[int] = mapped_column(primary_key=True)
    cycle_id: Mapped[int] = mapped_column(sa.ForeignKey("assessment_cycles.id"), index=True)
    expert_id: Mapped[int] = mapped_column(sa.ForeignKey("experts.id"), index=True)
    score: Mapped[int]
    summary: Mapped[str] = mapped_column(sa.Text)
    submitted_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))

    cycle = relationship("AssessmentCycle")
    expert = relationship("Expert")

    __table_args__ = (
        sa.UniqueConstraint("cycle_id", "expert_id", name="uq_self_assessments_one_each"),
        sa.CheckConstraint("score >= 0 AND score <= 100", name="score_range"),
        sa.CheckConstraint("summary <> ''", name="summary_given"),
    )

    @property
    def owner_expert_id(self) -> int:
        return self.expert_id


class AssessmentResult(TimestampMixin, Base):
    """One expert's result in one cycle: every input the score came from is kept beside it."""

    __tablename__ = "assessment_results"

    id: Mapped[int] = mapped_column(primary_key=True)
    cycle_id: Mapped[int] = mapped_column(sa.ForeignKey("assessment_cycles.id"), index=True)
    expert_id: Mapped[int] = mapped_column(sa.ForeignKey("experts.id"), index=True)
    # Snapshot at computation, so reports read the year as it was graded.
    domain_id: Mapped[int] = mapped_column(sa.ForeignKey("domains.id"))
    tier_id: Mapped[int | None] = mapped_column(sa.ForeignKey("tiers.id"))
    engagements: Mapped[int]
    ratings_count: Mapped[int]
    rating_score: Mapped[Decimal | None] = mapped_column(SCORE)
    integrity_score: Mapped[Decimal] = mapped_column(SCORE)
    self_score: Mapped[Decimal | None] = mapped_column(SCORE)
    computed_total: Mapped[Decimal] = mapped_column(SCORE)
    adjusted_total: Mapped[Decimal | None] = mapped_column(SCORE)
    adjust_reason: Mapped[str | None] = mapped_column(sa.String(1000))
    adjusted_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    veto: Mapped[bool] = mapped_column(default=False)
    grade: Mapped[Grade] = mapped_column(enum_column(Grade, "assessment_grade"))
    outcome: Mapped[Outcome] = mapped_column(enum_column(Outcome, "assessment_outcome"))
    # How each number came about, in words: shown to the office and to the expert.
    explanation: Mapped[list] = mapped_column(sa.JSON, default=list)
    # Event ids behind the integrity score and veto, for the audit trail.
    event_ids: Mapped[list] = mapped_column(sa.JSON, default=list)

    cycle: Mapped[AssessmentCycle] = relationship(back_populates="results")
    expert = relationship("Expert")
    domain = relationship("Domain")
    tier = relationship("Tier")

    __table_args__ = (
        sa.UniqueConstraint("cycle_id", "expert_id", name="uq_assessment_results_one_each"),
        sa.CheckConstraint("(adjusted_total IS NULL) = (adjust_reason IS NULL)", name="adjustment_has_reason"),
        sa.CheckConstraint("computed_total >= 0 AND computed_total <= 100", name="total_range"),
        sa.CheckConstraint("adjusted_total IS NULL OR (adjusted_total >= 0 AND adjusted_total <= 100)",
                           name="adjusted_range"),
    )

    @property
    def owner_expert_id(self) -> int:
        return self.expert_id

    @property
    def final_total(self) -> Decimal:
        return self.adjusted_total if self.adjusted_total is not None else self.computed_total
