from __future__ import annotations

import enum
import unicodedata

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from experts_service.core.db import Base, TimestampMixin, enum_column


class OrganisationType(str, enum.Enum):
    GOVERNMENT = "government"
    PUBLIC_INSTITUTION = "public_institution"
    UNIVERSITY = "university"
    RESEARCH_INSTITUTE = "research_institute"
    ENTERPRISE = "enterprise"
    SOCIAL_ORGANISATION = "social_organisation"

    @property
    def label(self) -> str:
        return ORGANISATION_TYPE_LABELS[self]


ORGANISATION_TYPE_LABELS = {
    OrganisationType.GOVERNMENT: "党政机关",
    OrganisationType.PUBLIC_INSTITUTION: "事业单位",
    OrganisationType.UNIVERSITY: "高等院校",
    OrganisationType.RESEARCH_INSTITUTE: "科研院所",
    OrganisationType.ENTERPRISE: "企业",
    OrganisationType.SOCIAL_ORGANISATION: "社会组织",
}


def normalise_org_name(name: str) -> str:
    """Full-width to half-width, no spaces: aliases match however they are typed."""
    return "".join(unicodedata.normalize("NFKC", name).split()).lower()


class Organisation(TimestampMixin, Base):
    __tablename__ = "organisations"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(200))
    name_key: Mapped[str] = mapped_column(sa.String(200), unique=True)
    type: Mapped[OrganisationType] = mapped_column(enum_column(OrganisationType, "organisation_type"))
    # 系统/sector of a government body (e.g. 发展改革, 财政); conflicts of the
    # "same system" kind compare this value.
    system: Mapped[str | None] = mapped_column(sa.String(60))
    parent_id: Mapped[int | None] = mapped_column(sa.ForeignKey("organisations.id"), index=True)
    contact_name: Mapped[str | None] = mapped_column(sa.String(60))
    contact_phone: Mapped[str | None] = mapped_column(sa.String(40))
    address: Mapped[str | None] = mapped_column(sa.String(200))
    is_active: Mapped[bool] = mapped_column(default=True)

    parent: Mapped[Organisation | None] = relationship(remote_side=[id], back_populates="children")
    children: Mapped[list[Organisation]] = relationship(back_populates="parent")
    aliases: Mapped[list[OrganisationAlias]] = relationship(
        back_populates="organisation", cascade="all, delete-orphan", order_by="OrganisationAlias.id"
    )

    __table_args__ = (
        sa.CheckConstraint("parent_id IS NULL OR parent_id <> id", name="not_own_parent"),
        sa.CheckConstraint("type = 'government' OR system IS NULL", name="system_only_for_government"),
    )

    @property
    def owner_organisation_id(self) -> int:
        return self.id


class OrganisationAlias(Base):
    __tablename__ = "organisation_aliases"

    id: Mapped[int] = mapped_column(primary_key=True)
    organisation_id: Mapped[int] = mapped_column(sa.ForeignKey("organisations.id"), index=True)
    alias: Mapped[str] = mapped_column(sa.String(200))
    alias_key: Mapped[str] = mapped_column(sa.String(200), unique=True)

    organisation: Mapped[Organisation] = relationship(back_populates="aliases")


class Domain(Base):
    """Two-level taxonomy: level 1 has no parent, level 2 has a level-1 parent."""

    __tablename__ = "domains"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(sa.String(20), unique=True)
    name: Mapped[str] = mapped_column(sa.String(40))
    parent_id: Mapped[int | None] = mapped_column(sa.ForeignKey("domains.id"), index=True)
    sort_order: Mapped[int] = mapped_column(default=0)
    is_active: Mapped[bool] = mapped_column(default=True)

    parent: Mapped[Domain | None] = relationship(remote_side=[id], back_populates="children")
    children: Mapped[list[Domain]] = relationship(back_populates="parent", order_by="Domain.sort_order")

    __table_args__ = (sa.UniqueConstraint("parent_id", "name", name="uq_domains_parent_name"),)

    @property
    def level(self) -> int:
        return 1 if self.parent_id is None else 2

    @property
    def full_name(self) -> str:
        return self.name if self.parent is None else f"{self.parent.name}/{self.name}"


class Tier(Base):
    """Ordered tiers; rank 1 is the highest. `is_senior` counts toward the tier mix."""

    __tablename__ = "tiers"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(sa.String(20), unique=True)
    name: Mapped[str] = mapped_column(sa.String(20), unique=True)
    rank: Mapped[int] = mapped_column(unique=True)
    is_senior: Mapped[bool] = mapped_column(default=False)

    __table_args__ = (sa.CheckConstraint("rank >= 1", name="rank_positive"),)
