"""Reads the database into the plain data `matcher` works on.

A handful of set-based queries (no per-expert queries), so a run over the
whole pool stays cheap as the pool grows.
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date

import sqlalchemy as sa
from sqlalchemy.orm import selectinload

from experts_service.experts.models import (
    ConflictDeclaration,
    ConflictKind,
    Expert,
    PoliticalAffiliation,
    UnavailablePeriod,
)
from experts_service.extensions import db
from experts_service.panels.matcher import DomainTarget, Employment, FilterContext, Profile, RankContext
from experts_service.panels.models import COUNTING_ENGAGEMENT_STATUSES, EmploymentRecord, Engagement, PanelRequest
from experts_service.reference.models import Domain, Organisation, OrganisationType, Tier


def years_before(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year - years)
    except ValueError:  # 29 February
        return day.replace(year=day.year - years, day=28)


def months_before(day: date, months: int) -> date:
    index = day.year * 12 + day.month - 1 - months
    year, month = divmod(index, 12)
    month += 1
    for candidate_day in range(day.day, 0, -1):  # 31 March minus one month is 28/29 February
        try:
            return date(year, month, candidate_day)
        except ValueError:
            continue
    raise AssertionError("unreachable")


def organisation_roots() -> dict[int, int]:
    """Every organisation id -> the id of the top of its tree (a college -> its university)."""
    parents = dict(db.session.execute(sa.select(Organisation.id, Organisation.parent_id)).all())
    roots: dict[int, int] = {}
    for start in parents:
        path = []
        node = start
        while node not in roots and parents.get(node) is not None and node not in path:
            path.append(node)
            node = parents[node]
        root = roots.get(node, node)
        for visited in (*path, node):
            roots[visited] = root
    return roots


def domain_matches(domain: Domain, children: dict[int, list[int]]) -> frozenset[int]:
    """A first-level domain is matched by itself and its children; a second-level one by itself."""
    return frozenset({domain.id, *children.get(domain.id, [])})


@dataclass(frozen=True)
class MatchData:
    filter_context: FilterContext
    rank_context: RankContext
    profiles: list[Profile]
    department_id: int
    department_root_id: int
    department_system: str | None
    conflict_organisation_ids: list[int]
    lookback_since: date
    consultation_date: date


def gather(request: PanelRequest, policy) -> MatchData:
    """Everything the matcher needs for one panel request under `policy`."""
    item = request.item
    day = request.consultation_date
    roots = organisation_roots()
    department = item.organisation
    department_root = roots[department.id]
    conflict_ids = [department.id, *(o.id for o in item.stakeholders)]
    if request.institution_id is not None:
        # The commissioned institution's own staff cannot review its study.
        conflict_ids.append(request.institution_id)
    conflict_roots = frozenset(roots[i] for i in conflict_ids)
    cooling_since = years_before(day, policy.employment_cooling_years)
    lookback_since = months_before(day, policy.rotation_lookback_months)

    filter_context = FilterContext(
        consultation_date=day,
        conflict_root_ids=conflict_roots,
        avoid_ids=frozenset(entry.expert_id for entry in request.avoid_entries),
        yearly_cap=policy.yearly_engagement_cap,
        cooling_since=cooling_since,
    )

    domains = db.session.execute(sa.select(Domain)).scalars().all()
    names = {d.id: d.name for d in domains}
    children: dict[int, list[int]] = defaultdict(list)
    for d in domains:
        if d.parent_id is not None:
            children[d.parent_id].append(d.id)
    targets: dict[int, DomainTarget] = {}
    for d in request.required_domains:
        targets[d.id] = DomainTarget(d.id, d.name, domain_matches(d, children), required=True)
    for d in item.domains:
        targets.setdefault(d.id, DomainTarget(d.id, d.name, domain_matches(d, children), required=False))
    ranks = db.session.execute(sa.select(Tier.rank)).scalars().all() or [1]
    rank_context = RankContext(tuple(targets.values()), min(ranks), max(ranks), names)

    profiles = _profiles(day, roots, department_root, department.system, cooling_since, lookback_since)
    return MatchData(filter_context, rank_context, profiles, department.id, department_root, department.system,
                     conflict_ids, lookback_since, day)


def _profiles(day: date, roots: dict[int, int], department_root: int, department_system: str | None,
              cooling_since: date, lookback_since: date, expert_ids: list[int] | None = None) -> list[Profile]:
    def scoped(statement, column):
        return statement if expert_ids is None else statement.where(column.in_(expert_ids))

    unavailable: dict[int, list[tuple[date, date]]] = defaultdict(list)
    for expert_id, start, end in db.session.execute(scoped(
        sa.select(UnavailablePeriod.expert_id, UnavailablePeriod.starts_on, UnavailablePeriod.ends_on)
        .where(UnavailablePeriod.starts_on <= day, UnavailablePeriod.ends_on >= day),
        UnavailablePeriod.expert_id,
    )):
        unavailable[expert_id].append((start, end))

    counting = Engagement.status.in_(COUNTING_ENGAGEMENT_STATUSES)
    in_year = dict(db.session.execute(scoped(
        sa.select(Engagement.expert_id, sa.func.count())
        .where(counting, Engagement.engaged_on >= date(day.year, 1, 1), Engagement.engaged_on <= date(day.year, 12, 31))
        .group_by(Engagement.expert_id),
        Engagement.expert_id,
    )).all())
    lookback: dict[int, int] = defaultdict(int)
    same_department: dict[int, int] = defaultdict(int)
    for expert_id, organisation_id, n in db.session.execute(scoped(
        sa.select(Engagement.expert_id, Engagement.organisation_id, sa.func.count())
        .where(counting, Engagement.engaged_on >= lookback_since, Engagement.engaged_on <= day)
        .group_by(Engagement.expert_id, Engagement.organisation_id),
        Engagement.expert_id,
    )):
        lookback[expert_id] += n
        if roots.get(organisation_id) == department_root:
            same_department[expert_id] += n

    past: dict[int, list[Employment]] = defaultdict(list)
    for expert_id, organisation_id, ended_on in db.session.execute(scoped(
        sa.select(EmploymentRecord.expert_id, EmploymentRecord.organisation_id, EmploymentRecord.ended_on)
        .where(sa.or_(EmploymentRecord.ended_on.is_(None), EmploymentRecord.ended_on >= cooling_since)),
        EmploymentRecord.expert_id,
    )):
        past[expert_id].append(Employment(roots[organisation_id], ended_on))

    conflicts: dict[int, set[int]] = defaultdict(set)
    relatives: dict[int, set[int]] = defaultdict(set)
    for expert_id, kind, organisation_id, related_id in db.session.execute(
        sa.select(ConflictDeclaration.expert_id, ConflictDeclaration.kind, ConflictDeclaration.organisation_id,
                  ConflictDeclaration.related_expert_id)
    ):
        if kind is ConflictKind.ORGANISATION and organisation_id is not None:
            conflicts[expert_id].add(roots[organisation_id])
        elif kind is ConflictKind.PERSON and related_id is not None:
            # Declared by either of the two, it binds both.
            relatives[expert_id].add(related_id)
            relatives[related_id].add(expert_id)

    statement = sa.select(Expert).options(selectinload(Expert.secondary_domains)).order_by(Expert.id)
    if expert_ids is not None:
        statement = statement.where(Expert.id.in_(expert_ids))
    profiles = []
    for expert in db.session.execute(statement).scalars():
        employer = expert.employer
        profiles.append(Profile(
            expert_id=expert.id,
            name=expert.name,
            status=expert.status.value,
            employer_id=employer.id,
            employer_root_id=roots[employer.id],
            employer_name=employer.name,
            same_system_government=(employer.type is OrganisationType.GOVERNMENT and department_system is not None
                                    and employer.system == department_system),
            primary_domain_id=expert.primary_domain_id,
            secondary_domain_ids=frozenset(d.id for d in expert.secondary_domains if d.id != expert.primary_domain_id),
            tier_rank=expert.tier.rank if expert.tier else None,
            tier_name=expert.tier.name if expert.tier else "",
            senior=bool(expert.tier and expert.tier.is_senior),
            representative=(expert.political_affiliation is not PoliticalAffiliation.CPC
                            or expert.is_npc_deputy or expert.is_cppcc_member),
            unavailable=tuple(unavailable.get(expert.id, ())),
            engagements_in_year=in_year.get(expert.id, 0),
            engagements_in_lookback=lookback.get(expert.id, 0),
            same_department_in_lookback=same_department.get(expert.id, 0),
            past_employments=tuple(past.get(expert.id, ())),
            conflict_organisation_root_ids=frozenset(conflicts.get(expert.id, ())),
            relative_ids=frozenset(relatives.get(expert.id, ())),
        ))
    return profiles


def current_profiles(data: MatchData, expert_ids: list[int]) -> list[Profile]:
    """Fresh profiles of a few experts under the same request context (for re-checking a replacement)."""
    roots = organisation_roots()
    return _profiles(data.consultation_date, roots, data.department_root_id, data.department_system,
                     data.filter_context.cooling_since, data.lookback_since, expert_ids)
