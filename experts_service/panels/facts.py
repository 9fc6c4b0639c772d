"""Reads the database into the plain data `matcher` works on.

A recommendation reads the whole pool, so this is one set-based query per
kind of fact (no per-expert queries) that selects columns, not ORM entities:
at 100,000 experts, making and populating ORM objects was nine tenths of
the time (bench/facts.py measures it on SQLite and PostgreSQL).
"""
from __future__ import annotations

import dataclasses
import gc
from collections import defaultdict
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date

import sqlalchemy as sa

from experts_service.experts.models import (
    ConflictDeclaration,
    ConflictKind,
    Expert,
    PoliticalAffiliation,
    UnavailablePeriod,
    expert_secondary_domains,
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


@dataclass(frozen=True)
class _Organisations:
    """The organisation table as the matcher sees it: each id's root, and the employer facts of a profile."""

    roots: dict[int, int]
    names: dict[int, str]
    types: dict[int, OrganisationType]
    systems: dict[int, str | None]


def _tree_roots(parents: dict[int, int | None]) -> dict[int, int]:
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


def organisation_roots() -> dict[int, int]:
    """Every organisation id -> the id of the top of its tree (a college -> its university)."""
    organisations = Organisation.__table__.c
    parents = dict(db.session.execute(sa.select(organisations.id, organisations.parent_id)).all())
    return _tree_roots(parents)


def _organisations() -> _Organisations:
    """One read of the organisation table (a few thousand rows) for the roots and the employers."""
    organisations = Organisation.__table__.c
    parents, names, types, systems = {}, {}, {}, {}
    for organisation_id, parent_id, name, type_, system in db.session.execute(sa.select(
        organisations.id, organisations.parent_id, organisations.name, organisations.type, organisations.system,
    )).all():
        parents[organisation_id] = parent_id
        names[organisation_id] = name
        types[organisation_id] = type_
        systems[organisation_id] = system
    return _Organisations(_tree_roots(parents), names, types, systems)


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
    organisations = _organisations()
    roots = organisations.roots
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

    profiles = _profiles(day, organisations, department_root, department.system, cooling_since, lookback_since)
    return MatchData(filter_context, rank_context, profiles, department.id, department_root, department.system,
                     conflict_ids, lookback_since, day)


class _OccasionalFacts:
    """The facts few experts have, kept together so that most experts cost one lookup, not four."""

    __slots__ = ("periods", "jobs", "conflict_roots", "relatives")

    def __init__(self) -> None:
        self.periods: list[tuple[date, date]] = []
        self.jobs: list[Employment] = []
        self.conflict_roots: set[int] = set()
        self.relatives: set[int] = set()

    def frozen(self) -> tuple:
        return tuple(self.periods), tuple(self.jobs), frozenset(self.conflict_roots), frozenset(self.relatives)


@contextmanager
def _cyclic_collector_paused():
    """No cyclic garbage collection while a pool's profiles are built.

    Nothing built here forms a cycle, yet the allocations trigger full
    collections that walk the whole, growing heap: at 100,000 experts
    they cost as much as the reading itself. Reference counting still frees
    everything; the collector resumes afterwards (unless it was already off,
    or another thread turned it off and will turn it back on).
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _profiles(day: date, organisations: _Organisations, department_root: int, department_system: str | None,
              cooling_since: date, lookback_since: date, expert_ids: list[int] | None = None) -> list[Profile]:
    with _cyclic_collector_paused():
        return _read_profiles(day, organisations, department_root, department_system, cooling_since,
                              lookback_since, expert_ids)


def _read_profiles(day: date, organisations: _Organisations, department_root: int, department_system: str | None,
                   cooling_since: date, lookback_since: date, expert_ids: list[int] | None) -> list[Profile]:
    """One query per kind of fact, columns only (no ORM entities), then one Profile per expert in id order."""
    roots = organisations.roots

    def scoped(statement, column):
        return statement if expert_ids is None else statement.where(column.in_(expert_ids))

    occasional: dict[int, _OccasionalFacts] = defaultdict(_OccasionalFacts)
    periods = UnavailablePeriod.__table__.c
    for expert_id, start, end in db.session.execute(scoped(
        sa.select(periods.expert_id, periods.starts_on, periods.ends_on)
        .where(periods.starts_on <= day, periods.ends_on >= day).order_by(periods.id),
        periods.expert_id,
    )).all():
        occasional[expert_id].periods.append((start, end))

    jobs = EmploymentRecord.__table__.c
    for expert_id, organisation_id, ended_on in db.session.execute(scoped(
        sa.select(jobs.expert_id, jobs.organisation_id, jobs.ended_on)
        .where(sa.or_(jobs.ended_on.is_(None), jobs.ended_on >= cooling_since)).order_by(jobs.id),
        jobs.expert_id,
    )).all():
        occasional[expert_id].jobs.append(Employment(roots[organisation_id], ended_on))

    declarations = ConflictDeclaration.__table__.c
    statement = sa.select(declarations.expert_id, sa.type_coerce(declarations.kind, sa.String),
                          declarations.organisation_id, declarations.related_expert_id)
    if expert_ids is not None:
        # A person conflict binds both of the two, whoever declared it.
        statement = statement.where(sa.or_(declarations.expert_id.in_(expert_ids),
                                           declarations.related_expert_id.in_(expert_ids)))
    for expert_id, kind, organisation_id, related_id in db.session.execute(statement).all():
        if kind == ConflictKind.ORGANISATION.value and organisation_id is not None:
            occasional[expert_id].conflict_roots.add(roots[organisation_id])
        elif kind == ConflictKind.PERSON.value and related_id is not None:
            occasional[expert_id].relatives.add(related_id)
            occasional[related_id].relatives.add(expert_id)

    engagements = _engagement_counts(day, lookback_since, department_root, roots, scoped)

    # The primary domain is taken out per expert below: joining experts for it costs more than it saves.
    secondary = expert_secondary_domains.c
    secondary_ids: dict[int, list[int]] = defaultdict(list)
    for expert_id, domain_id in db.session.execute(scoped(
        sa.select(secondary.expert_id, secondary.domain_id), secondary.expert_id,
    )).all():
        secondary_ids[expert_id].append(domain_id)

    # Per organisation and per tier once, not per expert.
    employers = {
        organisation_id: (root, organisations.names[organisation_id],
                          organisations.types[organisation_id] is OrganisationType.GOVERNMENT
                          and department_system is not None
                          and organisations.systems[organisation_id] == department_system)
        for organisation_id, root in roots.items()
    }
    tiers = Tier.__table__.c
    tier_facts = {tier_id: (rank, name, bool(is_senior)) for tier_id, rank, name, is_senior
                  in db.session.execute(sa.select(tiers.id, tiers.rank, tiers.name, tiers.is_senior))}
    no_tier = (None, "", False)
    no_engagements = (0, 0, 0)
    empty: frozenset[int] = frozenset()
    nothing_occasional = ((), (), empty, empty)
    cpc = PoliticalAffiliation.CPC.value

    experts = Expert.__table__.c
    rows = db.session.execute(scoped(
        # Enum columns as their stored strings: Profile keeps the value, so no enum per row.
        sa.select(experts.id, experts.name, sa.type_coerce(experts.status, sa.String), experts.employer_id,
                  experts.primary_domain_id, experts.tier_id, sa.type_coerce(experts.political_affiliation, sa.String),
                  experts.is_npc_deputy, experts.is_cppcc_member).order_by(experts.id),
        experts.id,
    )).all()
    profile = _profile_constructor()
    profiles = []
    append = profiles.append
    for expert_id, name, status, employer_id, primary_domain_id, tier_id, affiliation, npc, cppcc in rows:
        employer_root_id, employer_name, same_system = employers[employer_id]
        tier_rank, tier_name, senior = tier_facts.get(tier_id, no_tier)
        in_year, in_lookback, same_department = engagements.get(expert_id, no_engagements)
        domains = secondary_ids.get(expert_id)
        if domains is None:
            secondary_domain_ids = empty
        else:
            secondary_domain_ids = frozenset(domains)
            if primary_domain_id in secondary_domain_ids:
                secondary_domain_ids = secondary_domain_ids - {primary_domain_id}
        facts_of_few = occasional.get(expert_id)
        periods_now, jobs_now, conflict_roots, relatives = (
            nothing_occasional if facts_of_few is None else facts_of_few.frozen())
        append(profile(
            expert_id, name, status, employer_id, employer_root_id, employer_name, same_system, primary_domain_id,
            secondary_domain_ids, tier_rank, tier_name, senior, affiliation != cpc or npc or cppcc,
            periods_now, in_year, in_lookback, same_department, jobs_now, conflict_roots, relatives,
        ))
    return profiles


def _engagement_counts(day: date, lookback_since: date, department_root: int, roots: dict[int, int],
                       scoped) -> dict[int, tuple[int, int, int]]:
    """expert id -> (engagements in the calendar year, in the lookback window, of those with the department's tree).

    One pass over the engagements of both windows, counted in the database.
    """
    engagements = Engagement.__table__.c
    in_year = sa.and_(engagements.engaged_on >= date(day.year, 1, 1), engagements.engaged_on <= date(day.year, 12, 31))
    in_lookback = sa.and_(engagements.engaged_on >= lookback_since, engagements.engaged_on <= day)
    department_tree = sorted(organisation_id for organisation_id, root in roots.items() if root == department_root)

    def tally(condition):
        return sa.func.sum(sa.case((condition, 1), else_=0))

    statement = (
        sa.select(engagements.expert_id, tally(in_year), tally(in_lookback),
                  tally(sa.and_(in_lookback, engagements.organisation_id.in_(department_tree))))
        .where(engagements.status.in_(COUNTING_ENGAGEMENT_STATUSES), sa.or_(in_year, in_lookback))
        .group_by(engagements.expert_id)
    )
    return {expert_id: (year, lookback, same) for expert_id, year, lookback, same
            in db.session.execute(scoped(statement, engagements.expert_id)).all()}


# The Profile fields in their declared order, as _profiles passes them.
_PROFILE_FIELDS = (
    "expert_id", "name", "status", "employer_id", "employer_root_id", "employer_name", "same_system_government",
    "primary_domain_id", "secondary_domain_ids", "tier_rank", "tier_name", "senior", "representative",
    "unavailable", "engagements_in_year", "engagements_in_lookback", "same_department_in_lookback",
    "past_employments", "conflict_organisation_root_ids", "relative_ids",
)


def _profile_constructor():
    """Profile(*values), or an equivalent that fills the instance in one step.

    A frozen dataclass's __init__ sets each of the 20 fields through
    object.__setattr__: about 4 µs a profile, 0.4 s of a 100,000-expert pool.
    Setting the instance __dict__ at once gives the same object (fields,
    equality, hash, repr) in a quarter of the time. Only while Profile is a
    plain dataclass with exactly these fields (no __post_init__, no slots);
    otherwise the real constructor.
    """
    plain = (tuple(f.name for f in dataclasses.fields(Profile)) == _PROFILE_FIELDS
             and not hasattr(Profile, "__post_init__") and "__slots__" not in vars(Profile))
    if not plain:
        return lambda *values: Profile(**dict(zip(_PROFILE_FIELDS, values)))
    return _filled_profile


def _filled_profile(expert_id, name, status, employer_id, employer_root_id, employer_name, same_system_government,
                    primary_domain_id, secondary_domain_ids, tier_rank, tier_name, senior, representative,
                    unavailable, engagements_in_year, engagements_in_lookback, same_department_in_lookback,
                    past_employments, conflict_organisation_root_ids, relative_ids) -> Profile:
    profile = _new_instance(Profile)
    _set_attribute(profile, "__dict__", {
        "expert_id": expert_id, "name": name, "status": status, "employer_id": employer_id,
        "employer_root_id": employer_root_id, "employer_name": employer_name,
        "same_system_government": same_system_government, "primary_domain_id": primary_domain_id,
        "secondary_domain_ids": secondary_domain_ids, "tier_rank": tier_rank, "tier_name": tier_name,
        "senior": senior, "representative": representative, "unavailable": unavailable,
        "engagements_in_year": engagements_in_year, "engagements_in_lookback": engagements_in_lookback,
        "same_department_in_lookback": same_department_in_lookback, "past_employments": past_employments,
        "conflict_organisation_root_ids": conflict_organisation_root_ids, "relative_ids": relative_ids,
    })
    return profile


_new_instance = object.__new__
_set_attribute = object.__setattr__


def current_profiles(data: MatchData, expert_ids: list[int]) -> list[Profile]:
    """Fresh profiles of a few experts under the same request context (for re-checking a replacement)."""
    return _profiles(data.consultation_date, _organisations(), data.department_root_id, data.department_system,
                     data.filter_context.cooling_since, data.lookback_since, list(expert_ids))
