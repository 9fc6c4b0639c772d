"""facts.gather reads columns with one query per kind of fact; these tests hold
it to the plain ORM reading it replaced (entities, relationships, one
aggregate per count), value for value and type for type, on a pool that has
every kind of fact."""
from __future__ import annotations

import dataclasses
from collections import defaultdict
from datetime import date, timedelta

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import selectinload

from experts_service.core.clock import today
from experts_service.experts.models import (
    ConflictDeclaration,
    ConflictKind,
    Expert,
    ExpertStatus,
    PoliticalAffiliation,
    UnavailablePeriod,
    expert_secondary_domains,
)
from experts_service.extensions import db
from experts_service.panels import facts
from experts_service.panels.matcher import Employment, Profile
from experts_service.panels.models import COUNTING_ENGAGEMENT_STATUSES, EmploymentRecord, Engagement, EngagementStatus
from experts_service.policy import current_policy
from experts_service.reference.models import OrganisationType
from tests.panels.helpers import (
    World,
    declare_organisation_conflict,
    declare_relatives,
    engage,
    formerly_employed,
    unavailable,
)


def orm_profiles(day: date, roots: dict[int, int], department_root: int, department_system: str | None,
                 cooling_since: date, lookback_since: date, expert_ids: list[int] | None = None) -> list[Profile]:
    """The reading facts.py did before it selected columns: the oracle."""
    def scoped(statement, column):
        return statement if expert_ids is None else statement.where(column.in_(expert_ids))

    unavailable_periods = defaultdict(list)
    for expert_id, start, end in db.session.execute(scoped(
            sa.select(UnavailablePeriod.expert_id, UnavailablePeriod.starts_on, UnavailablePeriod.ends_on)
            .where(UnavailablePeriod.starts_on <= day, UnavailablePeriod.ends_on >= day)
            .order_by(UnavailablePeriod.id), UnavailablePeriod.expert_id)):
        unavailable_periods[expert_id].append((start, end))
    counting = Engagement.status.in_(COUNTING_ENGAGEMENT_STATUSES)
    in_year = dict(db.session.execute(scoped(
        sa.select(Engagement.expert_id, sa.func.count())
        .where(counting, Engagement.engaged_on >= date(day.year, 1, 1), Engagement.engaged_on <= date(day.year, 12, 31))
        .group_by(Engagement.expert_id), Engagement.expert_id)).all())
    lookback, same_department = defaultdict(int), defaultdict(int)
    for expert_id, organisation_id, n in db.session.execute(scoped(
            sa.select(Engagement.expert_id, Engagement.organisation_id, sa.func.count())
            .where(counting, Engagement.engaged_on >= lookback_since, Engagement.engaged_on <= day)
            .group_by(Engagement.expert_id, Engagement.organisation_id), Engagement.expert_id)):
        lookback[expert_id] += n
        if roots.get(organisation_id) == department_root:
            same_department[expert_id] += n
    past = defaultdict(list)
    for expert_id, organisation_id, ended_on in db.session.execute(scoped(
            sa.select(EmploymentRecord.expert_id, EmploymentRecord.organisation_id, EmploymentRecord.ended_on)
            .where(sa.or_(EmploymentRecord.ended_on.is_(None), EmploymentRecord.ended_on >= cooling_since))
            .order_by(EmploymentRecord.id), EmploymentRecord.expert_id)):
        past[expert_id].append(Employment(roots[organisation_id], ended_on))
    conflicts, relatives = defaultdict(set), defaultdict(set)
    for declaration in db.session.execute(sa.select(ConflictDeclaration)).scalars():
        if declaration.kind is ConflictKind.ORGANISATION and declaration.organisation_id is not None:
            conflicts[declaration.expert_id].add(roots[declaration.organisation_id])
        elif declaration.kind is ConflictKind.PERSON and declaration.related_expert_id is not None:
            relatives[declaration.expert_id].add(declaration.related_expert_id)
            relatives[declaration.related_expert_id].add(declaration.expert_id)
    statement = sa.select(Expert).options(selectinload(Expert.secondary_domains)).order_by(Expert.id)
    if expert_ids is not None:
        statement = statement.where(Expert.id.in_(expert_ids))
    profiles = []
    for expert in db.session.execute(statement).scalars():
        employer = expert.employer
        profiles.append(Profile(
            expert_id=expert.id, name=expert.name, status=expert.status.value, employer_id=employer.id,
            employer_root_id=roots[employer.id], employer_name=employer.name,
            same_system_government=(employer.type is OrganisationType.GOVERNMENT and department_system is not None
                                    and employer.system == department_system),
            primary_domain_id=expert.primary_domain_id,
            secondary_domain_ids=frozenset(d.id for d in expert.secondary_domains if d.id != expert.primary_domain_id),
            tier_rank=expert.tier.rank if expert.tier else None, tier_name=expert.tier.name if expert.tier else "",
            senior=bool(expert.tier and expert.tier.is_senior),
            representative=(expert.political_affiliation is not PoliticalAffiliation.CPC
                            or expert.is_npc_deputy or expert.is_cppcc_member),
            unavailable=tuple(unavailable_periods.get(expert.id, ())),
            engagements_in_year=in_year.get(expert.id, 0), engagements_in_lookback=lookback.get(expert.id, 0),
            same_department_in_lookback=same_department.get(expert.id, 0),
            past_employments=tuple(past.get(expert.id, ())),
            conflict_organisation_root_ids=frozenset(conflicts.get(expert.id, ())),
            relative_ids=frozenset(relatives.get(expert.id, ())),
        ))
    return profiles


def typed(value):
    """A value with the type of every part in it: equal only if the types are equal too (True is not 1)."""
    if dataclasses.is_dataclass(value):
        return (type(value).__name__, tuple(typed(getattr(value, f.name)) for f in dataclasses.fields(value)))
    if isinstance(value, (tuple, list)):
        return (type(value).__name__, tuple(typed(v) for v in value))
    if isinstance(value, frozenset):
        return (type(value).__name__, frozenset(typed(v) for v in value))
    return (type(value).__name__, value)


@pytest.fixture
def pool(factory):
    """A request and a pool with every kind of fact gather reads; the consultation day is in 20 days."""
    world = World(factory)
    day = today() + timedelta(days=20)
    university = factory.organisation("江海大学")
    college = factory.organisation("江海大学经济学院", parent_id=university.id)
    subordinate = factory.organisation("市价格监测中心", type_="public_institution", parent_id=world.department.id)
    same_system = factory.organisation("江城区发展和改革局", type_="government", system="发展改革")
    other_department = factory.organisation("市财政局", type_="government", system="财政")

    plain = world.expert("普通专家")
    senior = world.expert("首席专家", tier="chief", secondary=("城市治理", "住房保障"), political="jiusan")
    deputy = world.expert("人大代表", tier="core", employer=college, is_npc_deputy=True)
    member = world.expert("政协委员", employer=same_system, is_cppcc_member=True)
    official = world.expert("财政干部", employer=other_department)
    insider = world.expert("下属单位职工", employer=subordinate)
    applicant = world.expert("申请人")
    applicant.status, applicant.tier_id = ExpertStatus.APPLICANT, None
    suspended = world.expert("暂停者")
    suspended.status = ExpertStatus.SUSPENDED
    db.session.commit()
    # A secondary domain that is also the primary one counts only as the primary.
    db.session.execute(sa.insert(expert_secondary_domains).values(expert_id=plain.id,
                                                                  domain_id=plain.primary_domain_id))
    db.session.commit()

    unavailable(plain, day - timedelta(days=1), day + timedelta(days=1))
    unavailable(plain, day, day)  # two periods on the day: both, in the order entered
    unavailable(senior, day + timedelta(days=1), day + timedelta(days=3))  # not on the day
    engage(plain, world.department, day.replace(month=1, day=1), times=2)
    engage(plain, subordinate, day - timedelta(days=30))
    engage(plain, other_department, day - timedelta(days=30), times=3)
    engage(senior, other_department, day - timedelta(days=300), status=EngagementStatus.CANCELLED, times=4)
    engage(senior, world.department, date(day.year - 1, 12, 31))
    engage(deputy, world.department, day + timedelta(days=5))  # later this year: the cap counts it
    engage(member, other_department, day.replace(year=day.year - 2), times=2)  # before both windows
    formerly_employed(official, world.department, ended_on=day - timedelta(days=400))
    formerly_employed(official, university, ended_on=None)
    formerly_employed(official, other_department, ended_on=day.replace(year=day.year - 5))  # cooled off
    formerly_employed(insider, college, ended_on=day - timedelta(days=10))
    declare_organisation_conflict(deputy, college)
    declare_organisation_conflict(deputy, other_department)
    declare_relatives(member, plain)
    declare_relatives(applicant, plain)

    item = world.item(stakeholder_ids=[university.id], domain_ids=[factory.domain_id("城乡规划")])
    request = world.request(item, meeting_date=day, required_domain_ids=[factory.domain_id("住房保障")],
                            avoid=[{"expert_id": suspended.id, "reason": "参与过起草"}])
    return request


def test_gather_reads_what_the_orm_reading_did(pool):
    data = facts.gather(pool, current_policy())
    expected = orm_profiles(data.consultation_date, facts.organisation_roots(), data.department_root_id,
                            data.department_system, data.filter_context.cooling_since, data.lookback_since)
    assert len(data.profiles) == 8
    assert typed(data.profiles) == typed(expected)
    # The pool has each kind of fact, so the comparison above looked at each.
    by_name = {p.name: p for p in data.profiles}
    plain = by_name["普通专家"]
    assert len(plain.unavailable) == 2 and plain.secondary_domain_ids == frozenset()
    day = data.consultation_date
    # Two on 1 January and four 30 days before the day (this year unless the day is in January).
    assert plain.engagements_in_year == 2 + (4 if (day - timedelta(days=30)).year == day.year else 0)
    assert (plain.engagements_in_lookback, plain.same_department_in_lookback) == (6, 3)
    assert len(plain.relative_ids) == 2
    deputy = by_name["人大代表"]
    assert deputy.engagements_in_year == int((day + timedelta(days=5)).year == day.year)
    assert deputy.engagements_in_lookback == 0 and len(deputy.conflict_organisation_root_ids) == 2
    assert len(by_name["财政干部"].past_employments) == 2
    assert by_name["政协委员"].same_system_government and by_name["政协委员"].representative
    assert by_name["申请人"].tier_rank is None and by_name["首席专家"].senior


def test_current_profiles_are_those_of_gather(pool):
    data = facts.gather(pool, current_policy())
    chosen = [data.profiles[5].expert_id, data.profiles[0].expert_id, data.profiles[3].expert_id]
    fresh = facts.current_profiles(data, chosen)
    assert typed(fresh) == typed([p for p in data.profiles if p.expert_id in chosen])


def test_a_filled_profile_is_the_profile_its_constructor_makes(pool):
    data = facts.gather(pool, current_policy())
    for profile in data.profiles:
        values = [getattr(profile, name) for name in facts._PROFILE_FIELDS]
        built = Profile(*values)
        assert typed(facts._filled_profile(*values)) == typed(built)
        assert facts._filled_profile(*values) == built and hash(facts._filled_profile(*values)) == hash(built)
        assert repr(facts._filled_profile(*values)) == repr(built)
