from __future__ import annotations

import enum
from datetime import date, datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from experts_service.core.db import Base, TimestampMixin, enum_column, utcnow


class ExpertStatus(str, enum.Enum):
    APPLICANT = "applicant"
    UNDER_REVIEW = "under_review"
    PUBLIC_NOTICE = "public_notice"
    ACTIVE = "active"
    SUSPENDED = "suspended"
    EXITED = "exited"
    REJECTED = "rejected"
    WITHDRAWN = "withdrawn"

    @property
    def label(self) -> str:
        return {
            "applicant": "申请中", "under_review": "评审中", "public_notice": "公示中", "active": "在库",
            "suspended": "暂停", "exited": "已退出", "rejected": "未通过", "withdrawn": "已撤回",
        }[self.value]


class Sex(str, enum.Enum):
    MALE = "male"
    FEMALE = "female"

    @property
    def label(self) -> str:
        return "男" if self is Sex.MALE else "女"


class TitleLevel(str, enum.Enum):
    """Professional title level; `rank` 1 is highest (compared with the policy)."""

    SENIOR = "senior"
    ASSOCIATE = "associate"
    INTERMEDIATE = "intermediate"
    OTHER = "other"

    @property
    def label(self) -> str:
        return {"senior": "正高", "associate": "副高", "intermediate": "中级", "other": "其他"}[self.value]

    @property
    def rank(self) -> int:
        return list(TitleLevel).index(self) + 1


class PoliticalAffiliation(str, enum.Enum):
    CPC = "cpc"
    RCCK = "rcck"
    CDL = "cdl"
    CNDCA = "cndca"
    CAPD = "capd"
    CPWDP = "cpwdp"
    CZGP = "czgp"
    JIUSAN = "jiusan"
    TDSL = "tdsl"
    NON_PARTY = "non_party"
    MASSES = "masses"

    @property
    def label(self) -> str:
        return POLITICAL_LABELS[self]

    @property
    def is_cpc(self) -> bool:
        return self is PoliticalAffiliation.CPC


POLITICAL_LABELS = {
    PoliticalAffiliation.CPC: "中共党员",
    PoliticalAffiliation.RCCK: "民革党员",
    PoliticalAffiliation.CDL: "民盟盟员",
    PoliticalAffiliation.CNDCA: "民建会员",
    PoliticalAffiliation.CAPD: "民进会员",
    PoliticalAffiliation.CPWDP: "农工党党员",
    PoliticalAffiliation.CZGP: "致公党党员",
    PoliticalAffiliation.JIUSAN: "九三学社社员",
    PoliticalAffiliation.TDSL: "台盟盟员",
    PoliticalAffiliation.NON_PARTY: "无党派人士",
    PoliticalAffiliation.MASSES: "群众",
}


class AchievementKind(str, enum.Enum):
    PUBLICATION = "publication"
    PROJECT = "project"
    AWARD = "award"

    @property
    def label(self) -> str:
        return {"publication": "论著", "project": "课题项目", "award": "获奖"}[self.value]


expert_secondary_domains = sa.Table(
    "expert_secondary_domains",
    Base.metadata,
    sa.Column("expert_id", sa.ForeignKey("experts.id"), primary_key=True),
    sa.Column("domain_id", sa.ForeignKey("domains.id"), primary_key=True),
)


class Expert(TimestampMixin, Base):
    __tablename__ = "experts"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(40), index=True)
    # Space-separated full pinyin and initials for every reading of the name
    # (zhangwei zw), so the list search finds 张伟 by any of them.
    name_search_key: Mapped[str] = mapped_column(sa.String(400))
    name_sort_key: Mapped[str] = mapped_column(sa.String(200), index=True)
    # Personal data: ciphertext, a keyed hash for uniqueness, a masked copy to show.
    id_number_enc: Mapped[str] = mapped_column(sa.Text)
    id_number_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    id_number_masked: Mapped[str] = mapped_column(sa.String(18))
    mobile_enc: Mapped[str | None] = mapped_column(sa.Text)
    mobile_masked: Mapped[str | None] = mapped_column(sa.String(20))
    birth_date: Mapped[date]
    sex: Mapped[Sex] = mapped_column(enum_column(Sex, "sex"))
    employer_id: Mapped[int] = mapped_column(sa.ForeignKey("organisations.id"), index=True)
    position: Mapped[str | None] = mapped_column(sa.String(100))
    title_level: Mapped[TitleLevel] = mapped_column(enum_column(TitleLevel, "title_level"))
    title_name: Mapped[str | None] = mapped_column(sa.String(60))
    years_in_field: Mapped[int]
    political_affiliation: Mapped[PoliticalAffiliation] = mapped_column(
        enum_column(PoliticalAffiliation, "political_affiliation")
    )
    is_npc_deputy: Mapped[bool] = mapped_column(default=False)
    is_cppcc_member: Mapped[bool] = mapped_column(default=False)
    is_academician: Mapped[bool] = mapped_column(default=False)
    primary_domain_id: Mapped[int] = mapped_column(sa.ForeignKey("domains.id"), index=True)
    keywords: Mapped[list] = mapped_column(sa.JSON, default=list)
    bio: Mapped[str] = mapped_column(sa.Text, default="")
    achievements: Mapped[list] = mapped_column(sa.JSON, default=list)
    tier_id: Mapped[int | None] = mapped_column(sa.ForeignKey("tiers.id"), index=True)
    status: Mapped[ExpertStatus] = mapped_column(enum_column(ExpertStatus, "expert_status"), index=True)
    version_id: Mapped[int] = mapped_column(default=1)

    employer = relationship("Organisation", lazy="joined")
    primary_domain = relationship("Domain", lazy="joined")
    secondary_domains = relationship("Domain", secondary=expert_secondary_domains, order_by="Domain.sort_order")
    tier = relationship("Tier", lazy="joined")
    appointments: Mapped[list[Appointment]] = relationship(back_populates="expert", order_by="Appointment.term_start")
    unavailable_periods: Mapped[list[UnavailablePeriod]] = relationship(
        back_populates="expert", order_by="UnavailablePeriod.starts_on"
    )
    conflict_declarations: Mapped[list[ConflictDeclaration]] = relationship(
        back_populates="expert", foreign_keys="ConflictDeclaration.expert_id"
    )

    __mapper_args__ = {"version_id_col": version_id}
    __table_args__ = (
        sa.CheckConstraint("years_in_field >= 0 AND years_in_field <= 80", name="years_in_field_range"),
        sa.CheckConstraint(
            "status NOT IN ('active', 'suspended') OR tier_id IS NOT NULL", name="appointed_has_tier"
        ),
    )

    @property
    def owner_expert_id(self) -> int:
        return self.id

    @property
    def current_appointment(self) -> Appointment | None:
        return next((a for a in self.appointments if a.is_current), None)

    @property
    def all_domains(self) -> list:
        return [self.primary_domain, *[d for d in self.secondary_domains if d.id != self.primary_domain_id]]

    def age_on(self, day: date) -> int:
        born = self.birth_date
        return day.year - born.year - ((day.month, day.day) < (born.month, born.day))


class Appointment(Base):
    """One term of appointment (聘任). At most one is current per expert."""

    __tablename__ = "appointments"

    id: Mapped[int] = mapped_column(primary_key=True)
    expert_id: Mapped[int] = mapped_column(sa.ForeignKey("experts.id"), index=True)
    tier_id: Mapped[int] = mapped_column(sa.ForeignKey("tiers.id"))
    certificate_no: Mapped[str] = mapped_column(sa.String(40), unique=True)
    term_start: Mapped[date]
    term_end: Mapped[date]
    is_current: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    expert: Mapped[Expert] = relationship(back_populates="appointments")
    tier = relationship("Tier")

    __table_args__ = (
        sa.CheckConstraint("term_end > term_start", name="term_order"),
        sa.Index(
            "uq_appointments_one_current",
            "expert_id",
            unique=True,
            sqlite_where=sa.text("is_current"),
            postgresql_where=sa.text("is_current"),
        ),
    )


class UnavailablePeriod(Base):
    __tablename__ = "unavailable_periods"

    id: Mapped[int] = mapped_column(primary_key=True)
    expert_id: Mapped[int] = mapped_column(sa.ForeignKey("experts.id"), index=True)
    starts_on: Mapped[date]
    ends_on: Mapped[date]
    reason: Mapped[str | None] = mapped_column(sa.String(200))

    expert: Mapped[Expert] = relationship(back_populates="unavailable_periods")

    __table_args__ = (sa.CheckConstraint("ends_on >= starts_on", name="period_order"),)


class ConflictKind(str, enum.Enum):
    ORGANISATION = "organisation"
    PERSON = "person"

    @property
    def label(self) -> str:
        return {"organisation": "单位", "person": "个人"}[self.value]


class ConflictDeclaration(Base):
    """A declared conflict with an organisation or a person (relationship given)."""

    __tablename__ = "conflict_declarations"

    id: Mapped[int] = mapped_column(primary_key=True)
    expert_id: Mapped[int] = mapped_column(sa.ForeignKey("experts.id"), index=True)
    kind: Mapped[ConflictKind] = mapped_column(enum_column(ConflictKind, "conflict_kind"))
    organisation_id: Mapped[int | None] = mapped_column(sa.ForeignKey("organisations.id"))
    person_name: Mapped[str | None] = mapped_column(sa.String(40))
    related_expert_id: Mapped[int | None] = mapped_column(sa.ForeignKey("experts.id"))
    relationship_note: Mapped[str] = mapped_column(sa.String(200))

    expert: Mapped[Expert] = relationship(back_populates="conflict_declarations", foreign_keys=[expert_id])
    organisation = relationship("Organisation")

    __table_args__ = (
        sa.CheckConstraint(
            "(kind = 'organisation' AND organisation_id IS NOT NULL) "
            "OR (kind = 'person' AND person_name IS NOT NULL)",
            name="target_given",
        ),
    )
