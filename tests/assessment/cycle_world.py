"""Four experts with accounts, appointed in 2027, none rated that year (so totals are integrity and
self-assessment scaled to 100, 30:10): 甲 will assess themself at 80 (95.00, 优秀), 乙 not at all (75.00,
合格), 丙 has a serious event (integrity 85: 63.75, 基本合格, a written reminder) and 丁 a grave one (veto:
不合格, dismissal). The service's clock stands at 2027-12-20."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from experts_service.core.auth import Role
from experts_service.extensions import db
from experts_service.integrity import operations as integrity
from tests.lifecycle.helpers import PDF, set_today
from tests.panels.helpers import World

YEAR = 2027
NAMES = ("甲", "乙", "丙", "丁")


@dataclass
class CycleWorld:
    world: World
    experts: dict
    users: dict

    @property
    def office(self):
        return self.world.office


def cycle_world(app, factory) -> CycleWorld:
    set_today(app, date(YEAR, 1, 4))
    world = World(factory)
    experts, users = {}, {}
    for n, name in enumerate(NAMES):
        expert = world.expert(f"专家{name}", employer=factory.organisation(f"第{n + 1}研究院"))
        experts[name] = expert
        users[name] = factory.user(Role.EXPERT, expert_id=expert.id)
    for name, kind, day in (("丙", "perfunctory_opinion", date(YEAR, 5, 30)),
                            ("丁", "accepted_benefits", date(YEAR, 11, 20))):
        set_today(app, day)
        integrity.record_event(world.office, experts[name], {
            "kind": kind, "occurred_on": day, "description": f"{day.isoformat()} 经核实的失信情形"},
            [("核查记录.pdf", PDF)])
        db.session.commit()
    set_today(app, date(YEAR, 12, 20))
    return CycleWorld(world, experts, users)
