"""What happens around a panel once the talent office has produced it:
invitations and answers, attendance, signed opinions, adoption feedback and
the department's ratings (DOMAIN.md, consultation workflow steps 6-9)."""
from __future__ import annotations

import enum
from datetime import date, datetime

import sqlalchemy as sa
from sqlalchemy import DDL, event
from sqlalchemy.orm import Mapped, mapped_column, relationship

from experts_service.core.db import Base, TimestampMixin, enum_column, utcnow


class InvitationStatus(str, enum.Enum):
    PENDING = "pending"
    ACCEPTED = "accepted"
    DECLINED = "declined"
    # No answer by the deadline: counts as a decline (DOMAIN.md step 6).
    EXPIRED = "expired"
    # The department or the talent office took the invitation back (panel changed, request cancelled).
    WITHDRAWN = "withdrawn"

    @property
    def label(self) -> str:
        return {"pending": "待答复", "accepted": "已接受", "declined": "已谢绝", "expired": "逾期未答复",
                "withdrawn": "已撤回"}[self.value]


class OfPanelMember:
    """A record of one expert on one panel (`panel_request`, `expert_id`): the requesting department
    and the expert own it."""

    @property
    def owner_organisation_id(self) -> int:
        return self.panel_request.item.organisation_id

    @property
    def owner_expert_id(self) -> int:
        return self.expert_id


class Invitation(OfPanelMember, TimestampMixin, Base):
    """One expert invited onto one panel, with their answer."""

    __tablename__ = "invitations"

    id: Mapped[int] = mapped_column(primary_key=True)
    panel_request_id: Mapped[int] = mapped_column(sa.ForeignKey("panel_requests.id"), index=True)
    expert_id: Mapped[int] = mapped_column(sa.ForeignKey("experts.id"), index=True)
    # The recommendation record whose panel named the expert (a replacement's record for a stand-in).
    recommendation_id: Mapped[int] = mapped_column(sa.ForeignKey("recommendations.id"))
    status: Mapped[InvitationStatus] = mapped_column(
        enum_column(InvitationStatus, "invitation_status"), default=InvitationStatus.PENDING
    )
    sent_at: Mapped[datetime] = mapped_column(default=utcnow)
    respond_by: Mapped[datetime]
    responded_at: Mapped[datetime | None]
    decline_reason: Mapped[str | None] = mapped_column(sa.String(500))
    # The declined or expired invitation this one fills.
    replaces_id: Mapped[int | None] = mapped_column(sa.ForeignKey("invitations.id"))
    engagement_id: Mapped[int | None] = mapped_column(sa.ForeignKey("engagements.id"), unique=True)
    sent_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))

    panel_request = relationship("PanelRequest")
    expert = relationship("Expert")
    recommendation = relationship("Recommendation")
    engagement = relationship("Engagement")
    replaces: Mapped[Invitation | None] = relationship(remote_side=[id])

    __table_args__ = (
        # An expert holds at most one open or accepted seat on a panel.
        sa.Index("uq_invitations_live_seat", "panel_request_id", "expert_id", unique=True,
                 sqlite_where=sa.text("status IN ('pending', 'accepted')"),
                 postgresql_where=sa.text("status IN ('pending', 'accepted')")),
        sa.CheckConstraint("status <> 'declined' OR (decline_reason IS NOT NULL AND decline_reason <> '')",
                           name="decline_has_reason"),
        sa.CheckConstraint("(status = 'accepted') = (engagement_id IS NOT NULL)", name="accepted_has_engagement"),
        sa.CheckConstraint("status = 'pending' OR responded_at IS NOT NULL", name="answered_has_time"),
        sa.CheckConstraint("respond_by >= sent_at", name="deadline_after_sending"),
    )


class Attendance(str, enum.Enum):
    ON_TIME = "on_time"
    LATE = "late"
    ABSENT = "absent"

    @property
    def label(self) -> str:
        return {"on_time": "准时", "late": "迟到", "absent": "缺席"}[self.value]


class AttendanceRecord(TimestampMixin, Base):
    """How an engaged expert attended the meeting; the integrity records (issue 7) read these."""

    __tablename__ = "attendance_records"

    id: Mapped[int] = mapped_column(primary_key=True)
    engagement_id: Mapped[int] = mapped_column(sa.ForeignKey("engagements.id"), unique=True)
    attendance: Mapped[Attendance] = mapped_column(enum_column(Attendance, "attendance"))
    minutes_late: Mapped[int | None]
    note: Mapped[str] = mapped_column(sa.String(500), default="")
    recorded_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))

    engagement = relationship("Engagement")

    __table_args__ = (
        sa.CheckConstraint("(attendance = 'late') = (minutes_late IS NOT NULL)", name="late_has_minutes"),
        sa.CheckConstraint("minutes_late IS NULL OR minutes_late > 0", name="minutes_late_positive"),
    )


class OpinionConclusion(str, enum.Enum):
    AGREE = "agree"
    AGREE_WITH_CHANGES = "agree_with_changes"
    DISAGREE = "disagree"

    @property
    def label(self) -> str:
        return {"agree": "同意", "agree_with_changes": "修改后同意", "disagree": "不同意"}[self.value]


# The parts of a written opinion (DOMAIN.md step 7), in the order the form and the report show them.
OPINION_SECTIONS = (
    ("necessity", "必要性"),
    ("legality", "合法性"),
    ("feasibility", "可行性"),
    ("risks", "风险"),
    ("suggestions", "建议"),
)


class Opinion(OfPanelMember, TimestampMixin, Base):
    """An expert's written opinion on the item; signed and immutable once submitted."""

    __tablename__ = "opinions"

    id: Mapped[int] = mapped_column(primary_key=True)
    engagement_id: Mapped[int] = mapped_column(sa.ForeignKey("engagements.id"), unique=True)
    panel_request_id: Mapped[int] = mapped_column(sa.ForeignKey("panel_requests.id"), index=True)
    expert_id: Mapped[int] = mapped_column(sa.ForeignKey("experts.id"), index=True)
    necessity: Mapped[str] = mapped_column(sa.Text, default="")
    legality: Mapped[str] = mapped_column(sa.Text, default="")
    feasibility: Mapped[str] = mapped_column(sa.Text, default="")
    risks: Mapped[str] = mapped_column(sa.Text, default="")
    suggestions: Mapped[str] = mapped_column(sa.Text, default="")
    conclusion: Mapped[OpinionConclusion | None] = mapped_column(enum_column(OpinionConclusion, "opinion_conclusion"))
    # 保留意见: kept apart, never merged into the panel's common view.
    dissent: Mapped[str] = mapped_column(sa.Text, default="")
    submitted_at: Mapped[datetime | None]
    # sha256 of the signed content (see consultation.signing); set with submitted_at.
    content_hash: Mapped[str | None] = mapped_column(sa.String(64))

    engagement = relationship("Engagement")
    panel_request = relationship("PanelRequest")
    expert = relationship("Expert")
    adoption: Mapped[AdoptionFeedback | None] = relationship(back_populates="opinion", uselist=False)

    __table_args__ = (
        sa.CheckConstraint("(submitted_at IS NULL) = (content_hash IS NULL)", name="signed_when_submitted"),
        sa.CheckConstraint("submitted_at IS NULL OR conclusion IS NOT NULL", name="submitted_has_conclusion"),
    )

    @property
    def submitted(self) -> bool:
        return self.submitted_at is not None


class AdoptionDecision(str, enum.Enum):
    ADOPTED = "adopted"
    PARTLY_ADOPTED = "partly_adopted"
    NOT_ADOPTED = "not_adopted"

    @property
    def label(self) -> str:
        return {"adopted": "采纳", "partly_adopted": "部分采纳", "not_adopted": "未采纳"}[self.value]


class AdoptionFeedback(TimestampMixin, Base):
    """What the department did with one opinion (DOMAIN.md step 8)."""

    __tablename__ = "adoption_feedback"

    id: Mapped[int] = mapped_column(primary_key=True)
    opinion_id: Mapped[int] = mapped_column(sa.ForeignKey("opinions.id"), unique=True)
    decision: Mapped[AdoptionDecision] = mapped_column(enum_column(AdoptionDecision, "adoption_decision"))
    reason: Mapped[str] = mapped_column(sa.Text, default="")
    recorded_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    # Shown on the public page; never set for a confidential item.
    published_at: Mapped[datetime | None]

    opinion: Mapped[Opinion] = relationship(back_populates="adoption")

    __table_args__ = (
        sa.CheckConstraint("decision = 'adopted' OR reason <> ''", name="reason_unless_adopted"),
    )

    @property
    def owner_organisation_id(self) -> int:
        return self.opinion.owner_organisation_id


class EngagementRating(TimestampMixin, Base):
    """The department's rating of one engaged expert: 100 points over the five parts of DOMAIN.md step 9."""

    __tablename__ = "engagement_ratings"

    id: Mapped[int] = mapped_column(primary_key=True)
    engagement_id: Mapped[int] = mapped_column(sa.ForeignKey("engagements.id"), unique=True)
    quality: Mapped[int]
    professionalism: Mapped[int]
    punctuality: Mapped[int]
    discipline: Mapped[int]
    confidentiality: Mapped[int]
    total: Mapped[int]
    comment: Mapped[str] = mapped_column(sa.Text, default="")
    # The last working day the rating was due (policy.rating_window_working_days after the engagement).
    due_on: Mapped[date]
    rated_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))

    engagement = relationship("Engagement")

    __table_args__ = (
        sa.CheckConstraint("total = quality + professionalism + punctuality + discipline + confidentiality",
                           name="total_is_sum"),
        sa.CheckConstraint("quality >= 0 AND professionalism >= 0 AND punctuality >= 0 AND discipline >= 0 "
                           "AND confidentiality >= 0 AND total <= 100", name="points_in_range"),
    )


class PanelMaterial(Base):
    """A document the department sends the panel (背景材料); kept as uploaded, with its hash."""

    __tablename__ = "panel_materials"

    id: Mapped[int] = mapped_column(primary_key=True)
    panel_request_id: Mapped[int] = mapped_column(sa.ForeignKey("panel_requests.id"), index=True)
    filename: Mapped[str] = mapped_column(sa.String(200))
    content_type: Mapped[str] = mapped_column(sa.String(100))
    size: Mapped[int]
    sha256: Mapped[str] = mapped_column(sa.String(64))
    content: Mapped[bytes] = mapped_column(sa.LargeBinary, deferred=True)
    uploaded_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    uploaded_at: Mapped[datetime] = mapped_column(default=utcnow)

    panel_request = relationship("PanelRequest")

    __table_args__ = (sa.CheckConstraint("size > 0", name="not_empty"),)

    @property
    def owner_organisation_id(self) -> int:
        return self.panel_request.item.organisation_id


class OpinionImmutable(Exception):
    """A submitted opinion was about to change."""


@event.listens_for(Opinion, "before_update")
def _refuse_change_after_submission(mapper, connection, target: Opinion) -> None:
    state = sa.inspect(target)
    if not any(state.attrs[column.key].history.has_changes() for column in mapper.column_attrs):
        return  # only a relationship moved (its feedback was added): the row is not written
    # The stored row decides: a submitted opinion never changes, whatever the session holds.
    stored = connection.execute(
        sa.select(Opinion.submitted_at).where(Opinion.id == target.id)
    ).scalar_one_or_none()
    if stored is not None:
        raise OpinionImmutable(f"opinion {target.id} is signed and cannot change")


@event.listens_for(Opinion, "before_delete")
def _refuse_delete_after_submission(_mapper, connection, target: Opinion) -> None:
    stored = connection.execute(
        sa.select(Opinion.submitted_at).where(Opinion.id == target.id)
    ).scalar_one_or_none()
    if stored is not None:
        raise OpinionImmutable(f"opinion {target.id} is signed and cannot be deleted")


# The database refuses it too, so a bulk statement or another client cannot change a signed opinion.
OPINION_GUARD_SQLITE = [
    "CREATE TRIGGER opinions_signed_no_update BEFORE UPDATE ON opinions WHEN OLD.submitted_at IS NOT NULL "
    "BEGIN SELECT RAISE(ABORT, 'a submitted opinion is signed and cannot change'); END",
    "CREATE TRIGGER opinions_signed_no_delete BEFORE DELETE ON opinions WHEN OLD.submitted_at IS NOT NULL "
    "BEGIN SELECT RAISE(ABORT, 'a submitted opinion is signed and cannot change'); END",
]
OPINION_GUARD_POSTGRES = [
    "CREATE OR REPLACE FUNCTION opinions_signed_immutable() RETURNS trigger AS $$ "
    "BEGIN IF OLD.submitted_at IS NOT NULL THEN "
    "RAISE EXCEPTION 'a submitted opinion is signed and cannot change'; END IF; "
    "IF TG_OP = 'DELETE' THEN RETURN OLD; END IF; RETURN NEW; END; $$ LANGUAGE plpgsql",
    "CREATE TRIGGER opinions_signed_no_change BEFORE UPDATE OR DELETE ON opinions "
    "FOR EACH ROW EXECUTE FUNCTION opinions_signed_immutable()",
]
for _statement in OPINION_GUARD_SQLITE:
    event.listen(Opinion.__table__, "after_create", DDL(_statement).execute_if(dialect="sqlite"))
for _statement in OPINION_GUARD_POSTGRES:
    event.listen(Opinion.__table__, "after_create", DDL(_statement).execute_if(dialect="postgresql"))
