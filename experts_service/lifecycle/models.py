"""Applications (入库申请) and what hangs off them, and the records of a
pooled expert's life: renewals, profile change requests, exits, the status
history and the local working-day calendar."""
from __future__ import annotations

import enum
from datetime import date, datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from experts_service.core.db import Base, TimestampMixin, enum_column, utcnow


class Channel(str, enum.Enum):
    SELF = "self"
    ORGANISATION = "organisation"
    INVITATION = "invitation"

    @property
    def label(self) -> str:
        return {"self": "个人申报", "organisation": "单位推荐", "invitation": "定向邀请"}[self.value]


class Stage(str, enum.Enum):
    QUALIFICATION = "qualification"
    EXPERT_REVIEW = "expert_review"
    APPROVAL = "approval"
    PUBLIC_NOTICE = "public_notice"
    APPOINTED = "appointed"
    REJECTED = "rejected"
    WITHDRAWN = "withdrawn"

    @property
    def label(self) -> str:
        return STAGE_LABELS[self]

    @property
    def is_open(self) -> bool:
        return self in OPEN_STAGES


STAGE_LABELS = {
    Stage.QUALIFICATION: "资格初审", Stage.EXPERT_REVIEW: "专业评审", Stage.APPROVAL: "审定",
    Stage.PUBLIC_NOTICE: "公示", Stage.APPOINTED: "已聘任", Stage.REJECTED: "未通过", Stage.WITHDRAWN: "已撤回",
}
OPEN_STAGES = frozenset({Stage.QUALIFICATION, Stage.EXPERT_REVIEW, Stage.APPROVAL, Stage.PUBLIC_NOTICE})


class Application(TimestampMixin, Base):
    """One attempt to enter the pool. The person is the Expert row (status
    `applicant` ...); a re-application after an exit reuses that row."""

    __tablename__ = "applications"

    id: Mapped[int] = mapped_column(primary_key=True)
    expert_id: Mapped[int] = mapped_column(sa.ForeignKey("experts.id"), index=True)
    channel: Mapped[Channel] = mapped_column(enum_column(Channel, "application_channel"))
    stage: Mapped[Stage] = mapped_column(enum_column(Stage, "application_stage"), index=True)
    recommending_organisation_id: Mapped[int | None] = mapped_column(sa.ForeignKey("organisations.id"), index=True)
    submitted_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    statement: Mapped[str] = mapped_column(sa.Text, default="")
    # Qualification checks as run at submission: [{name, label, passed, reason, overridable}].
    checks: Mapped[list] = mapped_column(sa.JSON, default=list)
    override_reason: Mapped[str | None] = mapped_column(sa.String(500))
    overridden_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    overridden_at: Mapped[datetime | None]
    notice_starts_on: Mapped[date | None]
    notice_ends_on: Mapped[date | None]
    notice_closed_on: Mapped[date | None]
    outcome_reason: Mapped[str | None] = mapped_column(sa.String(500))
    closed_at: Mapped[datetime | None]
    policy_version: Mapped[int] = mapped_column(default=0)

    expert = relationship("Expert", lazy="joined")
    recommending_organisation = relationship("Organisation")
    documents: Mapped[list[ApplicationDocument]] = relationship(
        back_populates="application", order_by="ApplicationDocument.id")
    votes: Mapped[list[ReviewVote]] = relationship(back_populates="application", order_by="ReviewVote.id")
    objections: Mapped[list[Objection]] = relationship(back_populates="application", order_by="Objection.id")

    __table_args__ = (
        sa.CheckConstraint("channel <> 'organisation' OR recommending_organisation_id IS NOT NULL",
                           name="recommender_given"),
        sa.CheckConstraint("notice_ends_on IS NULL OR notice_ends_on >= notice_starts_on", name="notice_order"),
        # One application in progress per person.
        sa.Index(
            "uq_applications_one_open", "expert_id", unique=True,
            sqlite_where=sa.text("stage IN ('qualification', 'expert_review', 'approval', 'public_notice')"),
            postgresql_where=sa.text("stage IN ('qualification', 'expert_review', 'approval', 'public_notice')"),
        ),
    )

    @property
    def owner_expert_id(self) -> int:
        return self.expert_id

    @property
    def owner_organisation_id(self) -> int | None:
        return self.recommending_organisation_id

    @property
    def failed_checks(self) -> list[dict]:
        return [check for check in self.checks if not check["passed"]]

    @property
    def open_objections(self) -> list[Objection]:
        return [o for o in self.objections if o.status is ObjectionStatus.OPEN]


class ApplicationDocument(Base):
    """A supporting file; the bytes live under instance/, named by a random key."""

    __tablename__ = "application_documents"

    id: Mapped[int] = mapped_column(primary_key=True)
    application_id: Mapped[int] = mapped_column(sa.ForeignKey("applications.id"), index=True)
    expert_id: Mapped[int] = mapped_column(sa.ForeignKey("experts.id"), index=True)
    original_name: Mapped[str] = mapped_column(sa.String(200))
    stored_name: Mapped[str] = mapped_column(sa.String(64), unique=True)
    content_type: Mapped[str] = mapped_column(sa.String(60))
    size_bytes: Mapped[int]
    sha256: Mapped[str] = mapped_column(sa.String(64))
    uploaded_at: Mapped[datetime] = mapped_column(default=utcnow)
    uploaded_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))

    application: Mapped[Application] = relationship(back_populates="documents")

    __table_args__ = (sa.CheckConstraint("size_bytes > 0", name="not_empty"),)

    @property
    def owner_expert_id(self) -> int:
        return self.expert_id


class ReviewGroupMember(Base):
    """A member of the standing review group (评审组) of one domain."""

    __tablename__ = "review_group_members"

    id: Mapped[int] = mapped_column(primary_key=True)
    domain_id: Mapped[int] = mapped_column(sa.ForeignKey("domains.id"), index=True)
    expert_id: Mapped[int] = mapped_column(sa.ForeignKey("experts.id"), index=True)
    added_at: Mapped[datetime] = mapped_column(default=utcnow)

    expert = relationship("Expert")
    domain = relationship("Domain")

    __table_args__ = (sa.UniqueConstraint("domain_id", "expert_id", name="uq_review_group_members_member"),)


class Vote(str, enum.Enum):
    APPROVE = "approve"
    REJECT = "reject"

    @property
    def label(self) -> str:
        return {"approve": "同意", "reject": "不同意"}[self.value]


class ReviewVote(Base):
    __tablename__ = "review_votes"

    id: Mapped[int] = mapped_column(primary_key=True)
    application_id: Mapped[int] = mapped_column(sa.ForeignKey("applications.id"), index=True)
    reviewer_id: Mapped[int] = mapped_column(sa.ForeignKey("experts.id"), index=True)
    vote: Mapped[Vote] = mapped_column(enum_column(Vote, "review_vote"))
    comment: Mapped[str] = mapped_column(sa.Text)
    cast_at: Mapped[datetime] = mapped_column(default=utcnow)

    application: Mapped[Application] = relationship(back_populates="votes")
    reviewer = relationship("Expert")

    __table_args__ = (sa.UniqueConstraint("application_id", "reviewer_id", name="uq_review_votes_one_each"),)


class ObjectionStatus(str, enum.Enum):
    OPEN = "open"
    UPHELD = "upheld"
    DISMISSED = "dismissed"

    @property
    def label(self) -> str:
        return {"open": "待处理", "upheld": "异议成立", "dismissed": "异议不成立"}[self.value]


class Objection(Base):
    """An objection lodged during the public notice; the contact is personal data."""

    __tablename__ = "objections"

    id: Mapped[int] = mapped_column(primary_key=True)
    application_id: Mapped[int] = mapped_column(sa.ForeignKey("applications.id"), index=True)
    objector_name: Mapped[str] = mapped_column(sa.String(40))
    contact_enc: Mapped[str] = mapped_column(sa.Text)
    contact_masked: Mapped[str] = mapped_column(sa.String(60))
    content: Mapped[str] = mapped_column(sa.Text)
    lodged_at: Mapped[datetime] = mapped_column(default=utcnow)
    status: Mapped[ObjectionStatus] = mapped_column(enum_column(ObjectionStatus, "objection_status"))
    resolution: Mapped[str | None] = mapped_column(sa.String(500))
    resolved_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    resolved_at: Mapped[datetime | None]

    application: Mapped[Application] = relationship(back_populates="objections")


class RenewalStatus(str, enum.Enum):
    OPEN = "open"
    RENEWED = "renewed"
    NOT_RENEWED = "not_renewed"

    @property
    def label(self) -> str:
        return {"open": "待评审", "renewed": "已续聘", "not_renewed": "不再续聘"}[self.value]


class RenewalReview(Base):
    """Opened before a term ends; at most one per appointment."""

    __tablename__ = "renewal_reviews"

    id: Mapped[int] = mapped_column(primary_key=True)
    expert_id: Mapped[int] = mapped_column(sa.ForeignKey("experts.id"), index=True)
    appointment_id: Mapped[int] = mapped_column(sa.ForeignKey("appointments.id"), unique=True)
    opened_on: Mapped[date]
    due_on: Mapped[date]
    status: Mapped[RenewalStatus] = mapped_column(enum_column(RenewalStatus, "renewal_status"), index=True)
    reason: Mapped[str | None] = mapped_column(sa.String(500))
    decided_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    decided_at: Mapped[datetime | None]
    new_appointment_id: Mapped[int | None] = mapped_column(sa.ForeignKey("appointments.id"))

    expert = relationship("Expert")
    appointment = relationship("Appointment", foreign_keys=[appointment_id])


class ChangeStatus(str, enum.Enum):
    PENDING = "pending"
    CONFIRMED = "confirmed"
    DECLINED = "declined"

    @property
    def label(self) -> str:
        return {"pending": "待确认", "confirmed": "已确认", "declined": "未予确认"}[self.value]


class ProfileChangeRequest(Base):
    """An expert's change to employer, title or domains, waiting for the talent office."""

    __tablename__ = "profile_change_requests"

    id: Mapped[int] = mapped_column(primary_key=True)
    expert_id: Mapped[int] = mapped_column(sa.ForeignKey("experts.id"), index=True)
    requested: Mapped[dict] = mapped_column(sa.JSON)
    previous: Mapped[dict] = mapped_column(sa.JSON)
    note: Mapped[str] = mapped_column(sa.String(500), default="")
    status: Mapped[ChangeStatus] = mapped_column(enum_column(ChangeStatus, "change_status"), index=True)
    requested_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    requested_at: Mapped[datetime] = mapped_column(default=utcnow)
    decided_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    decided_at: Mapped[datetime | None]
    decision_reason: Mapped[str | None] = mapped_column(sa.String(500))

    expert = relationship("Expert")

    @property
    def owner_expert_id(self) -> int:
        return self.expert_id


class ExitReason(str, enum.Enum):
    RESIGNATION = "resignation"
    TERM_END = "term_end"
    AGE_LIMIT = "age_limit"
    ASSESSMENT_FAILED = "assessment_failed"
    INTEGRITY = "integrity"
    ILLEGAL_CONDUCT = "illegal_conduct"
    STANDING_CONFLICT = "standing_conflict"
    HEALTH = "health"
    DEATH = "death"

    @property
    def label(self) -> str:
        return EXIT_REASON_LABELS[self]


EXIT_REASON_LABELS = {
    ExitReason.RESIGNATION: "本人辞聘", ExitReason.TERM_END: "聘期届满未续聘", ExitReason.AGE_LIMIT: "达到年龄上限",
    ExitReason.ASSESSMENT_FAILED: "年度考核不合格", ExitReason.INTEGRITY: "严重失信",
    ExitReason.ILLEGAL_CONDUCT: "违法违纪", ExitReason.STANDING_CONFLICT: "工作变动形成长期利益冲突",
    ExitReason.HEALTH: "健康原因", ExitReason.DEATH: "身故",
}


class ExpertExit(Base):
    __tablename__ = "expert_exits"

    id: Mapped[int] = mapped_column(primary_key=True)
    expert_id: Mapped[int] = mapped_column(sa.ForeignKey("experts.id"), index=True)
    reason: Mapped[ExitReason] = mapped_column(enum_column(ExitReason, "exit_reason"))
    note: Mapped[str] = mapped_column(sa.String(500), default="")
    exited_on: Mapped[date]
    ban_until: Mapped[date | None]
    permanent_ban: Mapped[bool] = mapped_column(default=False)
    recorded_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class StatusChange(Base):
    """The expert's history: every lifecycle step with its actor and reason."""

    __tablename__ = "expert_status_changes"

    id: Mapped[int] = mapped_column(primary_key=True)
    expert_id: Mapped[int] = mapped_column(sa.ForeignKey("experts.id"), index=True)
    action: Mapped[str] = mapped_column(sa.String(40))
    from_status: Mapped[str | None] = mapped_column(sa.String(20))
    to_status: Mapped[str] = mapped_column(sa.String(20))
    reason: Mapped[str] = mapped_column(sa.String(500), default="")
    details: Mapped[dict] = mapped_column(sa.JSON, default=dict)
    actor_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class CalendarOverride(Base):
    """A local day off (or an extra working day) the national calendar does not know."""

    __tablename__ = "calendar_overrides"

    id: Mapped[int] = mapped_column(primary_key=True)
    day: Mapped[date] = mapped_column(unique=True)
    is_workday: Mapped[bool]
    note: Mapped[str] = mapped_column(sa.String(200))
    created_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
