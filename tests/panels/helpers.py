"""Building decision items, panel requests and a small pool for the matcher tests."""
from __future__ import annotations

import itertools
from datetime import date, timedelta

import sqlalchemy as sa

from experts_service.core.auth import Role
from experts_service.core.clock import today
from experts_service.experts.models import ConflictDeclaration, ConflictKind, Expert, UnavailablePeriod
from experts_service.extensions import db
from experts_service.panels import operations
from experts_service.panels.models import EmploymentRecord, Engagement, EngagementStatus
from tests.conftest import valid_id_number

_serial = itertools.count(1)


def unique_id_number() -> str:
    """Distinct ID numbers for large pools (the shared factory's sequence repeats after 500)."""
    n = next(_serial)
    birth = date(1966, 1, 1) + timedelta(days=n % 6000)  # ages 40-60: inside the intake age limit
    return valid_id_number(birth=birth, sequence=n % 500, region=f"{330100 + n // 3000 % 99:06d}")


class World:
    """A requesting department, a talent office actor and helpers around the operations."""

    def __init__(self, factory, department=None, department_name: str = "市发展和改革委员会", system: str = "发展改革"):
        self.factory = factory
        self.department = department or factory.organisation(department_name, type_="government", system=system)
        self.office = factory.user(Role.TALENT_OFFICE)

    def expert(self, name: str = "张伟", *, employer=None, primary: str = "城乡规划", secondary=(),
               tier: str = "general", political: str = "cpc", **extra) -> Expert:
        employer_id = employer.id if employer is not None else self.factory.organisation().id
        return self.factory.expert(
            name=name, employer_id=employer_id, id_number=unique_id_number(),
            primary_domain_id=self.factory.domain_id(primary),
            secondary_domain_ids=[self.factory.domain_id(d) for d in secondary],
            tier_id=self.factory.tier_id(tier), political_affiliation=political, **extra)

    def item(self, actor=None, **overrides):
        data = {"title": "城市更新条例（草案）", "description": "老旧小区改造与城市更新的实施办法。",
                "category": "major_economic", "domain_ids": [], "keywords": ["城市更新"],
                "organisation_id": self.department.id, "stakeholder_ids": [], "planned_decision_date": None,
                "confidential": False}
        data.update(overrides)
        item = operations.create_item(actor or self.office, data)
        db.session.commit()
        return item

    def request(self, item, actor=None, **overrides):
        data = {"mode": "meeting", "seats": 5, "required_domain_ids": [], "meeting_date": today() + timedelta(days=20),
                "meeting_time": None, "meeting_place": "市政府 301 会议室", "deadline": None, "institution_id": None,
                "selection_method": "recommend", "avoid": [], "note": ""}
        data.update(overrides)
        request = operations.create_panel_request(actor or self.office, item, data)
        db.session.commit()
        return request

    def run(self, request, method: str = "recommend", relevance=None):
        record = operations.run_recommendation(self.office, request, method, relevance=relevance or no_text)
        db.session.commit()
        return record


def no_text(query_text, *, keywords=(), domains=(), candidate_ids=None, limit=1000):
    return {}


def engage(expert, organisation, day: date, status: EngagementStatus = EngagementStatus.COMPLETED, times: int = 1):
    for _ in range(times):
        db.session.add(Engagement(expert_id=expert.id, organisation_id=organisation.id, engaged_on=day, status=status))
    db.session.commit()


def unavailable(expert, start: date, end: date):
    db.session.add(UnavailablePeriod(expert_id=expert.id, starts_on=start, ends_on=end, reason="出差"))
    db.session.commit()


def formerly_employed(expert, organisation, ended_on: date | None, started_on: date = date(2000, 1, 1)):
    db.session.add(EmploymentRecord(expert_id=expert.id, organisation_id=organisation.id, started_on=started_on,
                                    ended_on=ended_on))
    db.session.commit()


def declare_organisation_conflict(expert, organisation):
    db.session.add(ConflictDeclaration(expert_id=expert.id, kind=ConflictKind.ORGANISATION,
                                       organisation_id=organisation.id, relationship_note="曾承担其委托课题"))
    db.session.commit()


def declare_relatives(expert, relative):
    db.session.add(ConflictDeclaration(expert_id=expert.id, kind=ConflictKind.PERSON, person_name=relative.name,
                                       related_expert_id=relative.id, relationship_note="配偶"))
    db.session.commit()


def panel_of(record) -> list[int]:
    return list(record.result["panel"])


def count_rows(model) -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(model))
