"""How reports group experts: by first-level domain (the pool is organised 分领域) and by tier."""
from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa

from experts_service.extensions import db
from experts_service.reference.models import Domain, Tier

NO_TIER = "未定层次"


@dataclass(frozen=True)
class Group:
    id: int | None
    name: str


def domain_groups() -> tuple[list[Group], dict[int, int]]:
    """First-level domains in taxonomy order, and each domain id mapped to its first-level domain id."""
    domains = db.session.execute(sa.select(Domain).order_by(Domain.sort_order, Domain.id)).scalars().all()
    top = [Group(d.id, d.name) for d in domains if d.parent_id is None]
    parent_of = {d.id: d.parent_id for d in domains}

    def root(domain_id: int) -> int:
        while parent_of.get(domain_id) is not None:
            domain_id = parent_of[domain_id]
        return domain_id

    return top, {d.id: root(d.id) for d in domains}


def tier_groups() -> list[Group]:
    """Tiers from the highest rank down."""
    tiers = db.session.execute(sa.select(Tier).order_by(Tier.rank)).scalars().all()
    return [Group(t.id, t.name) for t in tiers]
