"""Integrity events (诚信记录), their evidence and appeals, and the sanctions
the ladder of DOMAIN.md derives from them (warnings, suspensions, dismissals)."""
from __future__ import annotations

import enum
from datetime import date, datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from experts_service.core.db import Base, TimestampMixin, enum_column, utcnow


class EventKind(str, enum.Enum):
    LATE = "late"
    LATE_OPINION = "late_opinion"
    ABSENT = "absent"
    REFUSAL = "refusal"
    PERFUNCTORY_OPINION = "perfunctory_opinion"
    CONCEALED_CONFLICT = "concealed_conflict"
    LEAKED_MATERIAL = "leaked_material"
    ACCEPTED_BENEFITS = "accepted_benefits"
    FALSIFIED_MATERIALS = "falsified_materials"

    @property
    def label(self) -> str:
        return EVENT_KIND_LABELS[self]


EVENT_KIND_LABELS = {
    EventKind.LATE: "论证会迟到", EventKind.LATE_OPINION: "逾期提交书面意见", EventKind.ABSENT: "无故缺席",
    EventKind.REFUSAL: "无正当理由拒绝邀请", EventKind.PERFUNCTORY_OPINION: "敷衍应付出具意见",
    EventKind.CONCEALED_CONFLICT: "隐瞒利益冲突", EventKind.LEAKED_MATERIAL: "泄露保密材料",
    EventKind.ACCEPTED_BENEFITS: "收受利益", EventKind.FALSIFIED_MATERIALS: "提供虚假材料",
}


class Severity(str, enum.Enum):
    # A first refusal in a calendar year is recorded but costs nothing (DOMAIN.md: serious "after the first").
    NOTE = "note"
    MINOR = "minor"
    SERIOUS = "serious"
    GRAVE = "grave"

    @property
    def label(self) -> str:
        return {"note": "提醒", "minor": "一般失信", "serious": "较重失信", "grave": "严重失信"}[self.value]


# The severity each kind carries; a refusal's depends on the refusals before it in the year.
KIND_SEVERITY = {
    EventKind.LATE: Severity.MINOR, EventKind.LATE_OPINION: Severity.MINOR, EventKind.ABSENT: Severity.SERIOUS,
    EventKind.REFUSAL: Severity.SERIOUS, EventKind.PERFUNCTORY_OPINION: Severity.SERIOUS,
    EventKind.CONCEALED_CONFLICT: Severity.GRAVE, EventKind.LEAKED_MATERIAL: Severity.GRAVE,
    EventKind.ACCEPTED_BENEFITS: Severity.GRAVE, EventKind.FALSIFIED_MATERIALS: Severity.GRAVE,
}
# What the workflow records by itself; the rest the talent office records with evidence.
WORKFLOW_KINDS = frozenset({EventKind.LATE, EventKind.LATE_OPINION, EventKind.ABSENT, EventKind.REFUSAL})
MANUAL_KINDS = tuple(kind for kind in EventKind if kind is not EventKind.LATE_OPINION)


class EventSource(str, enum.Enum):
    WORKFLOW = "workflow"
    MANUAL = "manual"

    @property
    def label(self) -> str:
        return {"workflow": "系统自动记录", "manual": "人才工作部门登记"}[self.value]


class EventStatus(str, enum.Enum):
    STANDING = "standing"
    # An upheld appeal: the event no longer counts anywhere.
    REVOKED = "revoked"
    # The workflow record behind it was corrected (attendance changed, ...), or the office took back
    # a record it entered by mistake; status_reason says which.
    WITHDRAWN = "withdrawn"

    @property
    def label(self) -> str:
        return {"standing": "有效", "revoked": "申诉成立已撤销", "withdrawn": "已撤回"}[self.value]


class IntegrityEvent(TimestampMixin, Base):
    __tablename__ = "integrity_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    expert_id: Mapped[int] = mapped_column(sa.ForeignKey("experts.id"), index=True)
    kind: Mapped[EventKind] = mapped_column(enum_column(EventKind, "integrity_event_kind"))
    # Derived by the recomputation (integrity.ladder), never typed in: severity and points follow the rules.
    severity: Mapped[Severity] = mapped_column(enum_column(Severity, "integrity_severity"))
    points: Mapped[int]
    source: Mapped[EventSource] = mapped_column(enum_column(EventSource, "integrity_event_source"))
    # For workflow events, the record it came from and the kind ("attendance:12:late"): one event each.
    source_key: Mapped[str | None] = mapped_column(sa.String(60), unique=True)
    panel_request_id: Mapped[int | None] = mapped_column(sa.ForeignKey("panel_requests.id"), index=True)
    occurred_on: Mapped[date] = mapped_column(index=True)
    description: Mapped[str] = mapped_column(sa.Text)
    status: Mapped[EventStatus] = mapped_column(
        enum_column(EventStatus, "integrity_event_status"), default=EventStatus.STANDING, index=True)
    status_reason: Mapped[str | None] = mapped_column(sa.String(500))
    appeal_until: Mapped[date]
    recorded_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))

    expert = relationship("Expert")
    panel_request = relationship("PanelRequest")
    recorded_by = relationship("User")
    evidence: Mapped[list[IntegrityEvidence]] = relationship(back_populates="event", order_by="IntegrityEvidence.id")
    appeals: Mapped[list[IntegrityAppeal]] = relationship(back_populates="event", order_by="IntegrityAppeal.id")

    __table_args__ = (
        sa.CheckConstraint("points >= 0", name="points_not_negative"),
        sa.CheckConstraint("(source = 'workflow') = (source_key IS NOT NULL)", name="workflow_has_source"),
        sa.CheckConstraint("description <> ''", name="described"),
        sa.CheckConstraint("status = 'standing' OR status_reason IS NOT NULL", name="status_explained"),
    )

    @property
    def owner_expert_id(self) -> int:
        return self.expert_id

    @property
    def pending_appeal(self) -> IntegrityAppeal | None:
        return next((a for a in self.appeals if a.status is AppealStatus.PENDING), None)


class IntegrityEvidence(Base):
    """A file backing a manual event; the bytes live under instance/documents/ (lifecycle.documents)."""

    __tablename__ = "integrity_evidence"

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[int] = mapped_column(sa.ForeignKey("integrity_events.id"), index=True)
    original_name: Mapped[str] = mapped_column(sa.String(200))
    stored_name: Mapped[str] = mapped_column(sa.String(64), unique=True)
    content_type: Mapped[str] = mapped_column(sa.String(60))
    size_bytes: Mapped[int]
    sha256: Mapped[str] = mapped_column(sa.String(64))
    uploaded_at: Mapped[datetime] = mapped_column(default=utcnow)
    uploaded_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))

    event: Mapped[IntegrityEvent] = relationship(back_populates="evidence")

    __table_args__ = (sa.CheckConstraint("size_bytes > 0", name="not_empty"),)

    @property
    def owner_expert_id(self) -> int:
        return self.event.expert_id


class AppealStatus(str, enum.Enum):
    PENDING = "pending"
    UPHELD = "upheld"
    REJECTED = "rejected"

    @property
    def label(self) -> str:
        return {"pending": "待处理", "upheld": "申诉成立", "rejected": "申诉不成立"}[self.value]


class IntegrityAppeal(Base):
    __tablename__ = "integrity_appeals"

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[int] = mapped_column(sa.ForeignKey("integrity_events.id"), index=True)
    reason: Mapped[str] = mapped_column(sa.Text)
    status: Mapped[AppealStatus] = mapped_column(
        enum_column(AppealStatus, "integrity_appeal_status"), default=AppealStatus.PENDING, index=True)
    filed_at: Mapped[datetime] = mapped_column(default=utcnow)
    filed_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    decision_reason: Mapped[str | None] = mapped_column(sa.String(1000))
    decided_at: Mapped[datetime | None]
    decided_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))

    event: Mapped[IntegrityEvent] = relationship(back_populates="appeals")

    __table_args__ = (
        sa.CheckConstraint("reason <> ''", name="reason_given"),
        sa.CheckConstraint("(status = 'pending') = (decided_at IS NULL)", name="decided_has_time"),
        # One appeal per event (a rejected one is final).
        sa.UniqueConstraint("event_id", name="uq_integrity_appeals_event_id"),
    )

    @property
    def owner_expert_id(self) -> int:
        return self.event.expert_id


class SanctionKind(str, enum.Enum):
    WARNING = "warning"
    SUSPENSION = "suspension"
    DISMISSAL = "dismissal"

    @property
    def label(self) -> str:
        return {"warning": "书面警告", "suspension": "暂停资格", "dismissal": "解聘并退出"}[self.value]


class SanctionStatus(str, enum.Enum):
    # A dismissal waits out the appeal window (the expert is suspended meanwhile).
    PENDING = "pending"
    IN_FORCE = "in_force"
    # A suspension whose end date came: the expert was reinstated.
    ENDED = "ended"
    # The events behind it no longer stand (upheld appeal, corrected record).
    REVOKED = "revoked"
    # A dismissal carried out: the expert exited.
    EXECUTED = "executed"

    @property
    def label(self) -> str:
        return {"pending": "待生效", "in_force": "执行中", "ended": "已期满", "revoked": "已撤销",
                "executed": "已执行"}[self.value]


sanction_events = sa.Table(
    "sanction_events",
    Base.metadata,
    sa.Column("sanction_id", sa.ForeignKey("sanctions.id"), primary_key=True),
    sa.Column("event_id", sa.ForeignKey("integrity_events.id"), primary_key=True),
)


class Sanction(TimestampMixin, Base):
    """One step of the ladder, with the events that triggered it. Manual suspensions with an end date
    (lifecycle.suspend) are kept here too, so the daily run brings every suspended expert back on time."""

    __tablename__ = "sanctions"

    id: Mapped[int] = mapped_column(primary_key=True)
    expert_id: Mapped[int] = mapped_column(sa.ForeignKey("experts.id"), index=True)
    kind: Mapped[SanctionKind] = mapped_column(enum_column(SanctionKind, "sanction_kind"))
    status: Mapped[SanctionStatus] = mapped_column(enum_column(SanctionStatus, "sanction_status"), index=True)
    # The ladder's identity of this step ("suspension:3,8"): a recomputation keeps what it finds again.
    ladder_key: Mapped[str | None] = mapped_column(sa.String(200))
    starts_on: Mapped[date]
    ends_on: Mapped[date | None]
    explanation: Mapped[str] = mapped_column(sa.Text)
    status_reason: Mapped[str | None] = mapped_column(sa.String(500))
    created_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))

    expert = relationship("Expert")
    events: Mapped[list[IntegrityEvent]] = relationship(secondary=sanction_events, order_by="IntegrityEvent.id")

    __table_args__ = (
        sa.CheckConstraint("kind <> 'suspension' OR ends_on IS NOT NULL", name="suspension_has_end"),
        sa.CheckConstraint("ends_on IS NULL OR ends_on > starts_on", name="ends_after_start"),
        sa.Index("ix_sanctions_expert_key", "expert_id", "ladder_key"),
    )

    @property
    def owner_expert_id(self) -> int:
        return self.expert_id

    @property
    def is_manual(self) -> bool:
        return self.ladder_key is None
