"""Decision items, panel requests, engagements, employment history and the
immutable record of every matcher run."""
from __future__ import annotations

import enum
from datetime import date, datetime, time

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.orm import Mapped, mapped_column, relationship

from experts_service.core.db import Base, TimestampMixin, enum_column, utcnow
from experts_service.panels import pool_version


class DecisionCategory(str, enum.Enum):
    MAJOR_ECONOMIC = "major_economic"
    LIVELIHOOD = "livelihood"
    PROFESSIONAL = "professional"
    SOCIAL_GOVERNANCE = "social_governance"
    PUBLIC_WELFARE = "public_welfare"

    @property
    def label(self) -> str:
        return {
            "major_economic": "重大经济", "livelihood": "民生", "professional": "专业性",
            "social_governance": "社会治理", "public_welfare": "公益",
        }[self.value]


class ConsultationMode(str, enum.Enum):
    MEETING = "meeting"
    WRITTEN = "written"
    COMMISSIONED = "commissioned"

    @property
    def label(self) -> str:
        return {"meeting": "论证会", "written": "书面咨询", "commissioned": "委托咨询论证"}[self.value]


class SelectionMethod(str, enum.Enum):
    RECOMMEND = "recommend"
    RANDOM_DRAW = "random_draw"

    @property
    def label(self) -> str:
        return {"recommend": "推荐", "random_draw": "随机抽取"}[self.value]


class PanelRequestStatus(str, enum.Enum):
    SUBMITTED = "submitted"
    RECOMMENDED = "recommended"
    # The department confirmed a recommended or drawn panel: invitations are out.
    CONFIRMED = "confirmed"
    # The consultation took place (meeting held, or the written deadline passed).
    COMPLETED = "completed"
    CANCELLED = "cancelled"

    @property
    def label(self) -> str:
        return {"submitted": "已提交", "recommended": "已产生人选", "confirmed": "已确认人选",
                "completed": "论证完成", "cancelled": "已取消"}[self.value]


class EngagementStatus(str, enum.Enum):
    ENGAGED = "engaged"
    COMPLETED = "completed"
    CANCELLED = "cancelled"

    @property
    def label(self) -> str:
        return {"engaged": "已确定参加", "completed": "已完成", "cancelled": "已取消"}[self.value]


# Engagements that count toward the yearly cap and rotation: a cancelled one never happened.
COUNTING_ENGAGEMENT_STATUSES = (EngagementStatus.ENGAGED, EngagementStatus.COMPLETED)


class RecommendationKind(str, enum.Enum):
    RECOMMEND = "recommend"
    RANDOM_DRAW = "random_draw"
    REPLACEMENT = "replacement"

    @property
    def label(self) -> str:
        return {"recommend": "推荐", "random_draw": "随机抽取", "replacement": "调整成员"}[self.value]


decision_item_domains = sa.Table(
    "decision_item_domains",
    Base.metadata,
    sa.Column("decision_item_id", sa.ForeignKey("decision_items.id"), primary_key=True),
    sa.Column("domain_id", sa.ForeignKey("domains.id"), primary_key=True),
)

decision_item_stakeholders = sa.Table(
    "decision_item_stakeholders",
    Base.metadata,
    sa.Column("decision_item_id", sa.ForeignKey("decision_items.id"), primary_key=True),
    sa.Column("organisation_id", sa.ForeignKey("organisations.id"), primary_key=True),
)

panel_request_domains = sa.Table(
    "panel_request_domains",
    Base.metadata,
    sa.Column("panel_request_id", sa.ForeignKey("panel_requests.id"), primary_key=True),
    sa.Column("domain_id", sa.ForeignKey("domains.id"), primary_key=True),
)


class DecisionItem(TimestampMixin, Base):
    """拟决策事项, filed by the requesting department."""

    __tablename__ = "decision_items"

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(sa.String(200))
    description: Mapped[str] = mapped_column(sa.Text, default="")
    category: Mapped[DecisionCategory] = mapped_column(enum_column(DecisionCategory, "decision_category"))
    keywords: Mapped[list] = mapped_column(sa.JSON, default=list)
    # The requesting department (承办单位); a government organisation.
    organisation_id: Mapped[int] = mapped_column(sa.ForeignKey("organisations.id"), index=True)
    planned_decision_date: Mapped[date | None]
    confidential: Mapped[bool] = mapped_column(default=False)
    created_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))

    organisation = relationship("Organisation", foreign_keys=[organisation_id])
    domains = relationship("Domain", secondary=decision_item_domains, order_by="Domain.sort_order")
    stakeholders = relationship("Organisation", secondary=decision_item_stakeholders, order_by="Organisation.id")
    created_by = relationship("User")
    panel_requests: Mapped[list[PanelRequest]] = relationship(back_populates="item", order_by="PanelRequest.id")

    __table_args__ = (sa.CheckConstraint("title <> ''", name="title_not_empty"),)

    @property
    def owner_organisation_id(self) -> int:
        return self.organisation_id


class PanelRequest(TimestampMixin, Base):
    """论证申请: how many experts, of what kind, when, chosen how."""

    __tablename__ = "panel_requests"

    id: Mapped[int] = mapped_column(primary_key=True)
    item_id: Mapped[int] = mapped_column(sa.ForeignKey("decision_items.id"), index=True)
    mode: Mapped[ConsultationMode] = mapped_column(enum_column(ConsultationMode, "consultation_mode"))
    seats: Mapped[int]
    # Tier mix: at least this many chief or core experts (Tier.is_senior).
    min_senior_members: Mapped[int]
    meeting_date: Mapped[date | None]
    meeting_time: Mapped[time | None]
    meeting_place: Mapped[str | None] = mapped_column(sa.String(200))
    # When the meeting ends: two meetings of one expert must not overlap. Unknown means the whole day.
    meeting_end_time: Mapped[time | None]
    # Written opinions (written and commissioned modes) are due by this day.
    deadline: Mapped[date | None]
    # 委托咨询论证: the institution that does the study; its staff cannot review it.
    institution_id: Mapped[int | None] = mapped_column(sa.ForeignKey("organisations.id"))
    selection_method: Mapped[SelectionMethod] = mapped_column(enum_column(SelectionMethod, "selection_method"))
    status: Mapped[PanelRequestStatus] = mapped_column(
        enum_column(PanelRequestStatus, "panel_request_status"), default=PanelRequestStatus.SUBMITTED
    )
    note: Mapped[str] = mapped_column(sa.Text, default="")
    created_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    # The record whose panel the department confirmed (issue 6), and when materials went to the panel.
    confirmed_recommendation_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("recommendations.id", use_alter=True, name="fk_panel_requests_confirmed_recommendation_id")
    )
    confirmed_at: Mapped[datetime | None]
    confirmed_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    materials_sent_at: Mapped[datetime | None]

    item: Mapped[DecisionItem] = relationship(back_populates="panel_requests")
    institution = relationship("Organisation", foreign_keys=[institution_id])
    required_domains = relationship("Domain", secondary=panel_request_domains, order_by="Domain.sort_order")
    avoid_entries: Mapped[list[AvoidEntry]] = relationship(
        back_populates="panel_request", cascade="all, delete-orphan", order_by="AvoidEntry.id"
    )
    recommendations: Mapped[list[Recommendation]] = relationship(
        back_populates="panel_request", order_by="Recommendation.id",
        foreign_keys="Recommendation.panel_request_id",
    )
    created_by = relationship("User", foreign_keys=[created_by_id])
    confirmed_by = relationship("User", foreign_keys=[confirmed_by_id])
    confirmed_recommendation = relationship("Recommendation", foreign_keys=[confirmed_recommendation_id],
                                            post_update=True)

    __table_args__ = (
        sa.CheckConstraint("seats >= 1", name="seats_positive"),
        sa.CheckConstraint("mode = 'meeting' OR meeting_end_time IS NULL", name="end_time_only_for_meeting"),
        sa.CheckConstraint("meeting_end_time IS NULL OR meeting_time IS NULL OR meeting_end_time > meeting_time",
                           name="meeting_ends_after_start"),
        sa.CheckConstraint("(confirmed_recommendation_id IS NULL) = (confirmed_at IS NULL)",
                           name="confirmed_has_time"),
        sa.CheckConstraint("min_senior_members >= 0 AND min_senior_members <= seats", name="senior_within_seats"),
        sa.CheckConstraint("(mode = 'meeting') = (meeting_date IS NOT NULL)", name="meeting_has_date"),
        sa.CheckConstraint("(mode = 'meeting') = (meeting_place IS NOT NULL)", name="meeting_has_place"),
        sa.CheckConstraint("mode = 'meeting' OR meeting_time IS NULL", name="time_only_for_meeting"),
        sa.CheckConstraint("(mode = 'meeting') = (deadline IS NULL)", name="written_has_deadline"),
        sa.CheckConstraint("(mode = 'commissioned') = (institution_id IS NOT NULL)",
                           name="commissioned_has_institution"),
    )

    @property
    def owner_organisation_id(self) -> int:
        return self.item.organisation_id

    @property
    def consultation_date(self) -> date:
        """The day the experts serve: the meeting, or the day written opinions are due."""
        return self.meeting_date if self.mode is ConsultationMode.MEETING else self.deadline

    @property
    def latest_recommendation(self) -> Recommendation | None:
        return self.recommendations[-1] if self.recommendations else None


class AvoidEntry(Base):
    """An expert the department asks to avoid for this request, with its reason."""

    __tablename__ = "panel_request_avoid_entries"

    id: Mapped[int] = mapped_column(primary_key=True)
    panel_request_id: Mapped[int] = mapped_column(sa.ForeignKey("panel_requests.id"), index=True)
    expert_id: Mapped[int] = mapped_column(sa.ForeignKey("experts.id"))
    reason: Mapped[str] = mapped_column(sa.String(200))

    panel_request: Mapped[PanelRequest] = relationship(back_populates="avoid_entries")
    expert = relationship("Expert")

    __table_args__ = (
        sa.UniqueConstraint("panel_request_id", "expert_id", name="uq_panel_request_avoid_entries_expert"),
        sa.CheckConstraint("reason <> ''", name="reason_given"),
    )


class Engagement(Base):
    """One expert serving one department on one day: the yearly cap and rotation count these.

    Issue 6 creates them from accepted invitations.
    """

    __tablename__ = "engagements"

    id: Mapped[int] = mapped_column(primary_key=True)
    expert_id: Mapped[int] = mapped_column(sa.ForeignKey("experts.id"))
    panel_request_id: Mapped[int | None] = mapped_column(sa.ForeignKey("panel_requests.id"), index=True)
    # The department served (the requesting department of the item).
    organisation_id: Mapped[int] = mapped_column(sa.ForeignKey("organisations.id"), index=True)
    engaged_on: Mapped[date]
    status: Mapped[EngagementStatus] = mapped_column(
        enum_column(EngagementStatus, "engagement_status"), default=EngagementStatus.ENGAGED
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    expert = relationship("Expert", viewonly=True)

    __table_args__ = (sa.Index("ix_engagements_expert_day", "expert_id", "engaged_on"),)

    @property
    def owner_organisation_id(self) -> int:
        return self.organisation_id

    @property
    def owner_expert_id(self) -> int:
        return self.expert_id


class EmploymentRecord(Base):
    """An employer other than the current one: a former job, or a second post still held (ended_on NULL)."""

    __tablename__ = "employment_records"

    id: Mapped[int] = mapped_column(primary_key=True)
    expert_id: Mapped[int] = mapped_column(sa.ForeignKey("experts.id"), index=True)
    organisation_id: Mapped[int] = mapped_column(sa.ForeignKey("organisations.id"), index=True)
    started_on: Mapped[date]
    ended_on: Mapped[date | None]
    note: Mapped[str | None] = mapped_column(sa.String(200))

    organisation = relationship("Organisation")

    __table_args__ = (sa.CheckConstraint("ended_on IS NULL OR ended_on >= started_on", name="period_order"),)


class Recommendation(Base):
    """One matcher run, immutable once written.

    A draw is written in two steps inside one transaction: first the
    commitment (seed hash and frozen pool), then the reveal (seed and
    result). The ORM refuses every other change; adjustments make a new
    record that names its parent.
    """

    __tablename__ = "recommendations"

    id: Mapped[int] = mapped_column(primary_key=True)
    panel_request_id: Mapped[int] = mapped_column(sa.ForeignKey("panel_requests.id"), index=True)
    parent_id: Mapped[int | None] = mapped_column(sa.ForeignKey("recommendations.id"), index=True)
    kind: Mapped[RecommendationKind] = mapped_column(enum_column(RecommendationKind, "recommendation_kind"))
    created_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    policy_version: Mapped[int]
    algorithm_version: Mapped[str] = mapped_column(sa.String(40))
    # The request and item as used, the policy values and ranking weights.
    inputs: Mapped[dict] = mapped_column(sa.JSON)
    # Ranked qualified candidates with score parts, explanations and composition facts.
    candidates: Mapped[list] = mapped_column(sa.JSON)
    # Experts dropped by the hard filters: counts and ids per reason.
    filtered: Mapped[dict] = mapped_column(sa.JSON)
    # Panel, alternates and composition report; NULL only between a draw's commit and reveal.
    result: Mapped[dict | None] = mapped_column(sa.JSON)
    # Random draws: the commitment (sha256 of the seed), the seed once revealed, the frozen pool.
    seed_hash: Mapped[str | None] = mapped_column(sa.String(64))
    seed: Mapped[str | None] = mapped_column(sa.String(64))
    pool: Mapped[list | None] = mapped_column(sa.JSON)
    revealed_at: Mapped[datetime | None]

    panel_request: Mapped[PanelRequest] = relationship(back_populates="recommendations",
                                                       foreign_keys=[panel_request_id])
    parent: Mapped[Recommendation | None] = relationship(remote_side=[id])
    created_by = relationship("User")

    __table_args__ = (
        sa.CheckConstraint("(kind = 'random_draw') = (seed_hash IS NOT NULL)", name="draw_has_commitment"),
        sa.CheckConstraint("(kind = 'random_draw') = (pool IS NOT NULL)", name="draw_has_pool"),
        sa.CheckConstraint("kind = 'random_draw' OR seed IS NULL", name="seed_only_for_draw"),
        sa.CheckConstraint("(seed IS NULL) = (revealed_at IS NULL)", name="revealed_with_seed"),
        # A result exists unless a draw is between its commitment and its reveal.
        sa.CheckConstraint("result IS NOT NULL OR (kind = 'random_draw' AND seed IS NULL)", name="result_present"),
        sa.CheckConstraint("(kind = 'replacement') = (parent_id IS NOT NULL)", name="replacement_has_parent"),
        # One draw per request, even for two talent-office users pressing the button at once:
        # re-drawing until a liked panel appears is what the commitment guards against.
        sa.Index("uq_recommendations_one_draw", "panel_request_id", unique=True,
                 sqlite_where=sa.text("kind = 'random_draw'"), postgresql_where=sa.text("kind = 'random_draw'")),
    )

    @property
    def owner_organisation_id(self) -> int:
        return self.panel_request.item.organisation_id

    @property
    def compliant(self) -> bool | None:
        return None if self.result is None else bool(self.result.get("compliant"))


class RecordImmutable(Exception):
    """A stored Recommendation was about to change."""


# The only change a stored record may undergo: a draw's reveal.
_REVEAL_ATTRIBUTES = frozenset({"seed", "result", "revealed_at"})


@event.listens_for(Recommendation, "before_update")
def _refuse_update(_mapper, connection, target: Recommendation) -> None:
    state = sa.inspect(target)
    changed = {attr.key for attr in state.attrs if attr.history.has_changes()}
    if not changed:
        return
    is_reveal = (
        changed <= _REVEAL_ATTRIBUTES
        and "seed" in changed
        and target.kind is RecommendationKind.RANDOM_DRAW
        and target.seed is not None
        # The stored row, not the session's idea of it: only an unrevealed draw may be revealed.
        and connection.execute(
            sa.select(Recommendation.seed).where(Recommendation.id == target.id)
        ).scalar_one_or_none() is None
    )
    if not is_reveal:
        raise RecordImmutable(f"recommendation {target.id} is immutable (tried to change {sorted(changed)})")


@event.listens_for(Recommendation, "before_delete")
def _refuse_delete(_mapper, _connection, target: Recommendation) -> None:
    raise RecordImmutable(f"recommendation {target.id} cannot be deleted")


def _refuse_bulk_change(orm_execute_state) -> None:
    """ORM-enabled UPDATE/DELETE statements bypass the mapper events; refuse them too."""
    if not (orm_execute_state.is_update or orm_execute_state.is_delete):
        return
    mapper = orm_execute_state.bind_mapper
    if mapper is not None and mapper.class_ is Recommendation:
        raise RecordImmutable("recommendations are immutable")


def _record_former_employer(session, _context, _instances) -> None:
    """A change of employer keeps the old one as employment history.

    The cooling-off rule ("employed within the last N years") needs former
    employers; recording them here means no code path that changes an
    employer can forget it.
    """
    from experts_service.core.clock import today
    from experts_service.experts.models import Expert

    for obj in list(session.dirty):
        if not isinstance(obj, Expert) or obj.id is None:
            continue
        state = sa.inspect(obj)
        before = None
        column = state.attrs.employer_id.history
        if column.deleted and column.added:
            before = column.deleted[0]
        else:
            relation = state.attrs.employer.history
            if relation.deleted and relation.added and relation.deleted[0] is not None:
                before = relation.deleted[0].id
        after = obj.employer.id if obj.employer is not None else obj.employer_id
        if before is None or before == after:
            continue
        ended = today()
        started = obj.created_at.date() if obj.created_at else ended
        session.add(EmploymentRecord(expert_id=obj.id, organisation_id=before, started_on=min(started, ended),
                                     ended_on=ended, note="工作单位变更时自动记录"))


def _install() -> None:
    """Hooks on the app's session class, installed when the models are imported."""
    from flask_sqlalchemy.session import Session as FlaskSession

    event.listen(FlaskSession, "do_orm_execute", _refuse_bulk_change)
    event.listen(FlaskSession, "before_flush", _record_former_employer)
    pool_version.install(FlaskSession)


_install()
