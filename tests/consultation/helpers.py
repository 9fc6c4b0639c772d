"""A confirmed-ready panel: a department, a pool of independent experts with accounts, a recommended request."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import time, timedelta

from experts_service.core.auth import Role
from experts_service.core.clock import today
from experts_service.extensions import db
from tests.panels.helpers import World

# Enough experts for a 5-seat panel and its alternates; the first two are senior (tier mix).
POOL_SIZE = 9
NAMES = ("王建国", "李春梅", "张志强", "刘海燕", "陈晓东", "杨丽华", "赵文博", "黄雅琴", "周明辉", "吴静怡",
         "徐立新", "孙佳慧")
SENIOR = 2


@dataclass
class Panelled:
    world: World
    department_user: object
    experts: list = field(default_factory=list)
    users_by_expert: dict = field(default_factory=dict)

    def user_of(self, expert_id: int):
        return self.users_by_expert[expert_id]


def pool_with_accounts(factory, size: int = POOL_SIZE) -> Panelled:
    world = World(factory)
    panelled = Panelled(world, factory.user(Role.DEPARTMENT, organisation_id=world.department.id))
    for n in range(size):
        expert = world.expert(NAMES[n], employer=factory.organisation(f"江海大学第{n + 1}研究所"),
                              tier="core" if n < SENIOR else "general")
        panelled.experts.append(expert)
        panelled.users_by_expert[expert.id] = factory.user(Role.EXPERT, expert_id=expert.id)
    return panelled


def recommended_request(panelled: Panelled, days_ahead: int = 20, **overrides):
    world = panelled.world
    item = world.item()
    data = {"meeting_date": today() + timedelta(days=days_ahead)}
    data.update(overrides)
    request = world.request(item, **data)
    record = world.run(request)
    assert record.result["compliant"], record.result
    db.session.commit()
    return request, record


def seated_panel(panelled: Panelled, days_ahead: int = 10):
    """A confirmed 5-seat meeting (9:00-12:00) with every member accepted: (request, engagements)."""
    import sqlalchemy as sa

    from experts_service.consultation import operations
    from experts_service.consultation.models import Invitation
    from experts_service.panels.models import Engagement

    request, record = recommended_request(panelled, days_ahead=days_ahead, meeting_time=time(9),
                                          meeting_end_time=time(12))
    operations.confirm_panel(panelled.department_user, request, record.id)
    db.session.commit()
    for invitation in db.session.execute(sa.select(Invitation).where(
            Invitation.panel_request_id == request.id)).scalars().all():
        operations.accept(panelled.user_of(invitation.expert_id), invitation)
        db.session.commit()
    engagements = db.session.execute(sa.select(Engagement).where(
        Engagement.panel_request_id == request.id).order_by(Engagement.id)).scalars().all()
    return request, engagements
