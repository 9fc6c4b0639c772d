"""A confirmed-ready panel: a department, a pool of independent experts with accounts, a recommended request."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

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
